//! Drain records: what lets a removed plugin's clean-up survive a restart of the host.
//!
//! When a plugin is removed while objects still carry its finalizer, the host keeps the last
//! version's bytes in a ConfigMap of its own, `hotloop-draining-<plugin>-<digest prefix>` in
//! its namespace, labelled [`RECORD_LABEL`]` = <plugin>`. A host that starts (or a standby that
//! takes over) loads every record it finds and drains with it, so deleted objects still get
//! their clean-up and no finalizer is left stuck. The record is deleted once no object carries
//! the finalizer, or when the plugin is installed again.
//!
//! # Caveats
//! A ConfigMap holds at most 1 MiB: a plugin larger than that (possible from a plugins
//! directory, never from a ConfigMap) gets no record, and a Warning Event says that its
//! draining ends with the process.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams};
use kube::{Client, ResourceExt};

use super::removal::{ON_REMOVAL_ANNOTATION, OnRemoval};

/// The label on a drain record; its value is the plugin's name.
pub const RECORD_LABEL: &str = "hotloop.dev/draining-plugin";
/// The annotation holding the digest of the recorded bytes.
const DIGEST_ANNOTATION: &str = "hotloop.dev/digest";
/// The key of the plugin's bytes in a record.
const KEY: &str = "plugin.wasm";
const FIELD_MANAGER: &str = "hotloop.dev/registry";

/// Why a record could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot write drain record {namespace}/{name}")]
    Write {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("cannot delete drain record {namespace}/{name}")]
    Delete {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("cannot list drain records in namespace {namespace}")]
    List {
        namespace: String,
        #[source]
        source: kube::Error,
    },
}

/// A removed plugin version, as a record keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Name of the record's ConfigMap.
    pub name: String,
    pub plugin: String,
    pub digest: String,
    pub bytes: Vec<u8>,
    /// The annotations of the plugin's source (its limits) and the removal it asked for.
    pub annotations: BTreeMap<String, String>,
}

impl Record {
    /// A record of `plugin` at `digest` (`sha256:<hex>`) with its source's `annotations`.
    pub fn new(
        plugin: &str,
        digest: &str,
        bytes: Vec<u8>,
        mut annotations: BTreeMap<String, String>,
        on_removal: OnRemoval,
    ) -> Self {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        let short: String = hex.chars().take(12).collect();
        let value = match on_removal {
            OnRemoval::Finalize => "finalize",
            OnRemoval::Release => "release",
        };
        annotations.insert(ON_REMOVAL_ANNOTATION.to_owned(), value.to_owned());
        Record {
            name: format!("hotloop-draining-{plugin}-{short}"),
            plugin: plugin.to_owned(),
            digest: digest.to_owned(),
            bytes,
            annotations,
        }
    }

    /// What the record asks for: clean-up (the default) or release.
    pub fn on_removal(&self) -> OnRemoval {
        OnRemoval::from_annotations(&self.annotations).unwrap_or_default()
    }

    fn config_map(&self) -> ConfigMap {
        let mut annotations = self.annotations.clone();
        annotations.insert(DIGEST_ANNOTATION.to_owned(), self.digest.clone());
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                labels: Some(BTreeMap::from([(RECORD_LABEL.to_owned(), self.plugin.clone())])),
                annotations: Some(annotations),
                ..ObjectMeta::default()
            },
            binary_data: Some(BTreeMap::from([(KEY.to_owned(), ByteString(self.bytes.clone()))])),
            ..ConfigMap::default()
        }
    }

    fn from_config_map(config_map: ConfigMap) -> Option<Self> {
        let name = config_map.name_any();
        let plugin = config_map.labels().get(RECORD_LABEL)?.clone();
        let mut annotations = config_map.metadata.annotations.unwrap_or_default();
        let digest = annotations.remove(DIGEST_ANNOTATION)?;
        let bytes = config_map.binary_data?.remove(KEY)?.0;
        Some(Record { name, plugin, digest, bytes, annotations })
    }
}

/// The drain records of one namespace.
#[derive(Clone)]
pub struct Records {
    api: Api<ConfigMap>,
    namespace: String,
}

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Records").field("namespace", &self.namespace).finish_non_exhaustive()
    }
}

impl Records {
    pub fn new(client: Client, namespace: &str) -> Self {
        Records { api: Api::namespaced(client, namespace), namespace: namespace.to_owned() }
    }

    /// The namespace the records are kept in.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Writes `record` (server-side apply: writing it again changes nothing).
    ///
    /// # Errors
    /// When the API server refuses it, for instance because it is over 1 MiB.
    pub async fn write(&self, record: &Record) -> Result<(), RecordError> {
        let params = PatchParams::apply(FIELD_MANAGER).force();
        self.api
            .patch(&record.name, &params, &Patch::Apply(record.config_map()))
            .await
            .map(|_| ())
            .map_err(|source| RecordError::Write {
                namespace: self.namespace.clone(),
                name: record.name.clone(),
                source,
            })
    }

    /// Deletes the record `name`; one that is already gone is no error.
    ///
    /// # Errors
    /// When the API server refuses.
    pub async fn delete(&self, name: &str) -> Result<(), RecordError> {
        match self.api.delete(name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(source) => Err(RecordError::Delete {
                namespace: self.namespace.clone(),
                name: name.to_owned(),
                source,
            }),
        }
    }

    /// Every record in the namespace; ConfigMaps with the label but not the shape of a record
    /// are logged and left alone.
    ///
    /// # Errors
    /// When the records cannot be listed.
    pub async fn list(&self) -> Result<Vec<Record>, RecordError> {
        let params = ListParams::default().labels(RECORD_LABEL);
        let found = self
            .api
            .list(&params)
            .await
            .map_err(|source| RecordError::List { namespace: self.namespace.clone(), source })?;
        Ok(found
            .items
            .into_iter()
            .filter_map(|config_map| {
                let name = config_map.name_any();
                let record = Record::from_config_map(config_map);
                if record.is_none() {
                    tracing::warn!(namespace = %self.namespace, %name, "a ConfigMap labelled {RECORD_LABEL} is not a drain record; ignored");
                }
                record
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_names_its_plugin_and_version_and_reads_back_as_written() {
        let limits = BTreeMap::from([("hotloop.dev/fuel".to_owned(), "5000".to_owned())]);
        let digest = format!("sha256:{}", "ab".repeat(32));
        let record =
            Record::new("static-site", &digest, b"\0asm".to_vec(), limits, OnRemoval::Release);
        assert_eq!(record.name, "hotloop-draining-static-site-abababababab");
        assert_eq!(record.on_removal(), OnRemoval::Release);
        let read = Record::from_config_map(record.config_map()).expect("a record");
        assert_eq!(read, record);
        assert_eq!(read.annotations["hotloop.dev/fuel"], "5000", "the source's limits are kept");
    }

    #[test]
    fn a_config_map_without_the_bytes_is_not_a_record() {
        let digest = format!("sha256:{}", "cd".repeat(32));
        let record = Record::new("site", &digest, vec![1], BTreeMap::new(), OnRemoval::Finalize);
        let mut config_map = record.config_map();
        config_map.binary_data = None;
        assert_eq!(Record::from_config_map(config_map), None);
    }
}
