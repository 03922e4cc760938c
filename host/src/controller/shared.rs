//! What every reconcile of one plugin's controller shares.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use kube::Client;
use kube::core::ApiResource;
use kube::runtime::events::Recorder;

use super::backoff::Backoff;
use super::decide::PluginIdentity;
use super::workers::Workers;
use crate::contract::{Handler, Manifest};
use crate::host_api::Caches;
use crate::observe::Metrics;

/// Settings of a plugin's controller.
///
/// | setting | default | meaning |
/// |---|---|---|
/// | `concurrency` | 4 | objects reconciled at the same time; one object never twice at once |
/// | `backoff_base` | 200 ms | first delay after a failure; doubles with each failure in a row |
/// | `backoff_cap` | 5 min | longest delay after failures |
/// | `host_call_timeout` | 10 s | how long one apply or delete may wait for the API server |
/// | `conflict_retry` | 200 ms | delay before retrying after a write conflicted |
#[derive(Debug, Clone)]
pub struct Settings {
    pub concurrency: u16,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    pub host_call_timeout: Duration,
    pub conflict_retry: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            concurrency: 4,
            backoff_base: Duration::from_millis(200),
            backoff_cap: Duration::from_secs(300),
            host_call_timeout: Duration::from_secs(10),
            conflict_retry: Duration::from_millis(200),
        }
    }
}

/// The plugin version a controller runs. Swapped atomically; a reconcile keeps the version
/// it started with until it ends.
#[derive(Clone)]
pub struct Serving {
    pub handler: Arc<dyn Handler>,
    pub manifest: Arc<Manifest>,
    pub identity: PluginIdentity,
}

impl std::fmt::Debug for Serving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serving").field("identity", &self.identity).finish_non_exhaustive()
    }
}

impl Serving {
    /// The version behind `handler`.
    pub fn new(handler: Arc<dyn Handler>) -> Self {
        let manifest = Arc::new(handler.manifest().clone());
        let identity = PluginIdentity {
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            digest: handler.digest().to_owned(),
        };
        Serving { handler, manifest, identity }
    }

    /// The field manager of this plugin's writes.
    pub fn field_manager(&self) -> String {
        format!("hotloop.dev/{}", self.manifest.name)
    }
}

/// What a controller does with the objects of its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The plugin is installed: objects are reconciled and, when deleted, finalized.
    Serving,
    /// The plugin was removed: nothing is reconciled any more, but deleted objects that carry
    /// the host's finalizer still get their clean-up, by the last version, until no object
    /// carries the finalizer.
    Draining,
    /// The plugin was removed and asked to let go: the finalizer comes off every object,
    /// without clean-up.
    Releasing,
}

/// State shared by the reconciles of one controller.
pub(super) struct Shared {
    pub(super) client: Client,
    pub(super) resource: ApiResource,
    pub(super) serving: ArcSwap<Serving>,
    pub(super) mode: ArcSwap<Mode>,
    pub(super) caches: Caches,
    pub(super) recorder: Recorder,
    pub(super) backoff: Backoff,
    pub(super) settings: Settings,
    pub(super) metrics: Arc<Metrics>,
    pub(super) workers: Workers,
    /// Becomes `true` once the watch cache of the reconciled kind holds its first full list.
    pub(super) synced: tokio::sync::watch::Receiver<bool>,
    /// Becomes `true` when the controller begins to stop.
    pub(super) stopping: tokio::sync::watch::Receiver<bool>,
}
