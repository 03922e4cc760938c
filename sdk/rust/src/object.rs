//! The reconciled object as a plugin sees it.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::bindings::hotloop::plugin::types as wit;

/// The reconciled object with its typed `spec` and the plugin's typed `status` fields.
#[derive(Debug, Clone, Deserialize)]
#[serde(bound = "Spec: DeserializeOwned + Default, Status: DeserializeOwned + Default")]
pub struct Object<Spec, Status> {
    /// `apiVersion` of the object.
    #[serde(rename = "apiVersion", default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    pub metadata: Metadata,
    #[serde(default)]
    pub spec: Spec,
    /// The plugin's status fields as last written; `Default` before the first write.
    #[serde(default)]
    pub status: Status,
}

/// The parts of `metadata` a plugin usually needs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub uid: String,
    /// Increases with every change of `spec`.
    #[serde(default)]
    pub generation: i64,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Set once the object is being deleted.
    #[serde(default)]
    pub deletion_timestamp: Option<String>,
}

/// What the host tells a plugin about this call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The time the call started, RFC 3339 in UTC. The plugin has no clock of its own.
    pub now: String,
    /// Why the object is looked at, as far as the host can tell: `created` (no status yet),
    /// `changed` (its generation is newer than `status.observedGeneration`), `transitioned`
    /// (the reconcile before moved it to this state), `retry` (the call before failed),
    /// `simulated` (`hotloop simulate`), or `requeued` for anything else (a requeue asked
    /// for, a child's change, a new plugin version).
    pub trigger: String,
    /// Failed calls in a row before this one; 0 after a success.
    pub attempt: u32,
    /// Digest of the running plugin version, `sha256:<hex>`.
    pub plugin_digest: String,
}

impl From<wit::Context> for Context {
    fn from(context: wit::Context) -> Self {
        Context {
            now: context.now,
            trigger: context.trigger,
            attempt: context.attempt,
            plugin_digest: context.plugin_digest,
        }
    }
}
