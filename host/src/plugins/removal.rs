//! Removing a plugin without leaving finalizers stuck.
//!
//! When a plugin's source goes away (its ConfigMap or its key is deleted, its file removed),
//! its controller stops reconciling but keeps running until no object of its kind carries the
//! host's finalizer: deleted objects still get the clean-up of the last version, so they can
//! be deleted at any time. Objects that are not being deleted keep their finalizer (their
//! external resources may still exist) and are left as they are.
//!
//! The annotation `hotloop.dev/on-removal: release` on the plugin's ConfigMap, set before the
//! removal, asks instead to take the finalizer off every object at once, without clean-up
//! (a Warning Event on each object says so). `finalize`, the default, is the behaviour above.
//!
//! Draining survives a restart of the host: once [`Registry::resume_draining`] was called
//! (`hotloop run` does), the last version's bytes are kept in a drain record (see
//! [`super::records`]) until no object carries the finalizer, and a host that starts drains
//! with every record it finds. Without records (a registry used on its own, or a record the
//! API server refused), draining lasts as long as the process.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::EventType;

use super::limits;
use super::records::{Record, RecordError, Records};
use super::registry::{Controllers, Entry, Registry, RegistryEvent, Source, action};
use super::sources::Origin;
use crate::controller::{ControllerHandle, Mode, Serving};

/// How long the watch cache may say that objects carry a removed plugin's finalizer before
/// the API server is asked.
const DRAIN_LIST_EVERY: std::time::Duration = std::time::Duration::from_secs(15);

/// The annotation that says what happens to objects when the plugin is removed.
pub const ON_REMOVAL_ANNOTATION: &str = "hotloop.dev/on-removal";

/// What happens to the objects of a removed plugin that still carry its finalizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnRemoval {
    /// Deleted objects get the clean-up of the last version; the default.
    #[default]
    Finalize,
    /// The finalizer comes off every object, without clean-up.
    Release,
}

/// The value of [`ON_REMOVAL_ANNOTATION`] is neither `finalize` nor `release`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("annotation {ON_REMOVAL_ANNOTATION} is {0:?}; it takes `finalize` or `release`")]
pub struct OnRemovalError(pub String);

impl OnRemoval {
    /// What the annotations ask for.
    ///
    /// # Errors
    /// When the annotation has another value; callers fall back to the safe default.
    pub fn from_annotations(
        annotations: &BTreeMap<String, String>,
    ) -> Result<Self, OnRemovalError> {
        match annotations.get(ON_REMOVAL_ANNOTATION).map(|v| v.trim()) {
            None | Some("finalize") => Ok(OnRemoval::Finalize),
            Some("release") => Ok(OnRemoval::Release),
            Some(other) => Err(OnRemovalError(other.to_owned())),
        }
    }
}

impl Registry {
    /// The plugin that came from `origin` is gone: its controller stops reconciling and
    /// drains (see the module's documentation). Nothing happens when no serving plugin came
    /// from `origin`.
    pub async fn remove(
        self: &Arc<Self>,
        origin: &Origin,
        on_removal: OnRemoval,
        about: Option<ObjectReference>,
    ) {
        let mode = match on_removal {
            OnRemoval::Finalize => Mode::Draining,
            OnRemoval::Release => Mode::Releasing,
        };
        let (name, version, waiting) = {
            let mut controllers = self.controllers.lock().await;
            let found = controllers.active.iter().find(|(_, e)| e.origin == *origin);
            let Some(name) = found.map(|(name, _)| name.clone()) else {
                tracing::debug!(origin = %origin, "a plugin source went away that serves nothing");
                return;
            };
            let Some(entry) = controllers.active.remove(&name) else { return };
            let version = entry.handle.serving().identity.clone();
            let waiting = entry.handle.carrying_finalizer();
            self.drain(&mut controllers, entry, mode);
            let active = controllers.active.len();
            self.metrics.plugins_active(i64::try_from(active).unwrap_or(i64::MAX));
            (name, version, waiting)
        };
        self.metrics.plugin_removed(&name);
        let note = match on_removal {
            OnRemoval::Finalize => format!(
                "plugin {name} was removed ({origin}); {waiting} objects still carry its finalizer: deleted ones get the clean-up of {} ({}); set {ON_REMOVAL_ANNOTATION}: release before removing to let go without clean-up",
                version.version, version.digest
            ),
            OnRemoval::Release => format!(
                "plugin {name} was removed ({origin}); releasing the finalizer of {waiting} objects without clean-up"
            ),
        };
        tracing::warn!(plugin = %name, origin = %origin, objects = waiting, mode = ?mode, "plugin removed; its controller drains");
        let action = action("Remove", &version.digest);
        self.event(about.as_ref(), EventType::Normal, "PluginRemoved", action, note).await;
        self.tell(RegistryEvent::Removed {
            plugin: name,
            release: on_removal == OnRemoval::Release,
        });
    }

    /// Puts `entry` in `mode` among the draining controllers, and stops it once no object
    /// carries its finalizer. When drain records are kept, the last version's bytes are
    /// written to one first, so that a restarted host drains on (see [`super::records`]).
    ///
    /// The watch cache is looked at every `drain_poll`, once it has synced: reading a local
    /// cache that often costs nothing next to the API calls it saves, and a cache that has
    /// not synced yet would claim that no object carries the finalizer.
    pub(super) fn drain(self: &Arc<Self>, controllers: &mut Controllers, entry: Entry, mode: Mode) {
        entry.handle.set_mode(mode);
        let id = entry.id;
        let serving = entry.handle.serving();
        let name = serving.manifest.name.clone();
        let on_removal =
            if mode == Mode::Releasing { OnRemoval::Release } else { OnRemoval::Finalize };
        let record = match (&entry.record, self.records.get()) {
            (None, Some(_)) => Some(Record::new(
                &name,
                &serving.identity.digest,
                entry.source.bytes.to_vec(),
                entry.source.annotations.clone(),
                on_removal,
            )),
            _ => None,
        };
        let mut entry = entry;
        if let Some(record) = &record {
            entry.record = Some(record.name.clone());
        }
        let reconciles = serving.manifest.reconciles.to_string();
        controllers.draining.push(entry);
        let registry = self.clone();
        tokio::spawn(async move {
            if let (Some(record), Some(records)) = (record, registry.records.get()) {
                registry.keep_record(records, &record, &reconciles).await;
                // Taken back into service while the record was being written: it is not
                // needed. (Stopping with the rest keeps it, for the next start.)
                let draining =
                    registry.controllers.lock().await.draining.iter().any(|e| e.id == id);
                if !draining && !registry.stopping.load(std::sync::atomic::Ordering::Acquire) {
                    registry.forget_record(Some(record.name));
                    return;
                }
            }
            let synced = {
                let controllers = registry.controllers.lock().await;
                let found = controllers.draining.iter().find(|e| e.id == id);
                found.map(|e| e.handle.synced())
            };
            tracing::debug!(plugin = %name, "waiting for the draining controller's cache");
            match synced {
                Some(synced) => synced.await,
                None => return, // taken back into service, or stopped with the rest
            }
            let mut last_listed = tokio::time::Instant::now();
            loop {
                let (carrying, listing) = {
                    let controllers = registry.controllers.lock().await;
                    let Some(entry) = controllers.draining.iter().find(|e| e.id == id) else {
                        return; // taken back into service, or stopped with the rest
                    };
                    let carrying = entry.handle.carrying_finalizer();
                    // Once the cache has said so for a while, the API server is asked too, so
                    // that a watch that fell behind cannot keep a drained controller running.
                    let listing = (carrying > 0 && last_listed.elapsed() >= DRAIN_LIST_EVERY)
                        .then(|| entry.handle.carrying_finalizer_listed());
                    (carrying, listing)
                };
                tracing::debug!(plugin = %name, carrying, "objects still carrying the finalizer");
                if carrying > 0 && !none_listed(&name, carrying, listing, &mut last_listed).await {
                    tokio::time::sleep(registry.drain_poll).await;
                    continue;
                }
                let mut controllers = registry.controllers.lock().await;
                let Some(index) = controllers.draining.iter().position(|e| e.id == id) else {
                    return; // taken back into service, or stopped with the rest
                };
                let mut entry = controllers.draining.remove(index);
                drop(controllers);
                entry.handle.stop(std::time::Duration::from_secs(30)).await;
                registry.forget_record(entry.record.take());
                tracing::info!(plugin = %name, "no object carries the removed plugin's finalizer; its controller stopped");
                registry.tell(RegistryEvent::Drained { plugin: name });
                return;
            }
        });
    }

    /// Writes `record`; when that fails, says on the record's namespace that draining ends
    /// with this process.
    async fn keep_record(&self, records: &Records, record: &Record, reconciles: &str) {
        match records.write(record).await {
            Ok(()) => {
                tracing::info!(plugin = %record.plugin, record = %record.name, "drain record written; draining survives a restart");
            }
            Err(error) => {
                let message = format!(
                    "plugin {} was removed while objects of {reconciles} carry its finalizer, and its drain record could not be written ({error}): their clean-up runs only as long as this host process; if it restarts first, install the plugin again",
                    record.plugin
                );
                tracing::warn!(plugin = %record.plugin, error = %anyhow::Error::from(error), "drain record not written; draining ends with this process");
                let about = ObjectReference {
                    api_version: Some("v1".into()),
                    kind: Some("ConfigMap".into()),
                    namespace: Some(records.namespace().to_owned()),
                    name: Some(record.name.clone()),
                    ..ObjectReference::default()
                };
                let action = action("KeepDrainRecord", &record.digest);
                self.event(Some(&about), EventType::Warning, "DrainRecordFailed", action, message)
                    .await;
            }
        }
    }

    /// Deletes the drain record `name`, in the background.
    pub(super) fn forget_record(&self, name: Option<String>) {
        let (Some(name), Some(records)) = (name, self.records.get().cloned()) else { return };
        tokio::spawn(async move {
            if let Err(error) = records.delete(&name).await {
                tracing::warn!(record = %name, error = %anyhow::Error::from(error), "cannot delete a drain record; it is tried again at the next start");
            }
        });
    }

    /// Keeps drain records in `namespace` from now on, and drains with every record found
    /// there: the clean-up of plugins removed before this host started.
    ///
    /// Call it once, before following the plugin sources: a plugin that comes back from its
    /// source then takes its draining controller back. A record whose plugin cannot be
    /// loaded or whose kind is gone is reported and left for the next start.
    ///
    /// # Errors
    /// When the records cannot be listed.
    pub async fn resume_draining(self: &Arc<Self>, namespace: &str) -> Result<usize, RecordError> {
        let records = self.records.get_or_init(|| Records::new(self.client.clone(), namespace));
        let found = records.list().await?;
        let mut resumed = 0;
        for record in found {
            if self.resume(record).await {
                resumed += 1;
            }
        }
        Ok(resumed)
    }

    /// Starts a draining controller for one record; `true` when it runs.
    async fn resume(self: &Arc<Self>, record: Record) -> bool {
        let limits = limits::from_annotations(&record.annotations, self.runtime.default_limits())
            .unwrap_or_else(|_| self.runtime.default_limits());
        let runtime = self.runtime.clone();
        let bytes = Arc::new(record.bytes.clone());
        let loading = bytes.clone();
        let loaded = tokio::task::spawn_blocking(move || runtime.load(&loading, limits)).await;
        let plugin = match loaded {
            Ok(Ok(plugin)) => plugin,
            Ok(Err(error)) => {
                tracing::error!(record = %record.name, error = %anyhow::Error::from(error), "a drain record's plugin does not load; its objects keep their finalizer");
                return false;
            }
            Err(error) => {
                tracing::error!(record = %record.name, %error, "loading a drain record's plugin failed");
                return false;
            }
        };
        let serving = Serving::new(Arc::new(plugin));
        let kind = serving.manifest.reconciles.to_string();
        let handle = match ControllerHandle::start(
            self.client.clone(),
            serving,
            self.settings.clone(),
            self.reporter.clone(),
            self.metrics.clone(),
        )
        .await
        {
            Ok(handle) => handle,
            Err(error) => {
                tracing::warn!(record = %record.name, %kind, error = %anyhow::Error::from(error), "a drain record's kind is not served; no object can carry its finalizer");
                return false;
            }
        };
        let mode = match record.on_removal() {
            OnRemoval::Finalize => Mode::Draining,
            OnRemoval::Release => Mode::Releasing,
        };
        tracing::info!(plugin = %record.plugin, digest = %record.digest, record = %record.name, ?mode, "draining a plugin removed before this host started");
        let source = Source { bytes, annotations: record.annotations.clone(), limits };
        let mut controllers = self.controllers.lock().await;
        let origin = Origin::Record { name: record.name.clone() };
        let mut entry = controllers.entry(handle, origin, source);
        entry.record = Some(record.name.clone());
        self.drain(&mut controllers, entry, mode);
        true
    }
}

/// Whether `listing`, when there is one, finds no object carrying the finalizer that the watch
/// cache still shows on `carrying` objects.
async fn none_listed(
    plugin: &str,
    carrying: usize,
    listing: Option<impl Future<Output = Result<usize, kube::Error>>>,
    last_listed: &mut tokio::time::Instant,
) -> bool {
    let Some(listing) = listing else { return false };
    *last_listed = tokio::time::Instant::now();
    match listing.await {
        Ok(0) => {
            tracing::warn!(
                plugin,
                cached = carrying,
                "the watch cache shows objects carrying the removed plugin's finalizer, the API server none; the drain ends"
            );
            true
        }
        Ok(listed) => {
            tracing::debug!(
                plugin,
                listed,
                "the API server lists objects still carrying the finalizer"
            );
            false
        }
        Err(error) => {
            tracing::debug!(plugin, %error, "cannot list the objects carrying the finalizer; the cache is trusted");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(value: Option<&str>) -> BTreeMap<String, String> {
        value.map(|v| (ON_REMOVAL_ANNOTATION.to_owned(), v.to_owned())).into_iter().collect()
    }

    #[test]
    fn finalize_is_the_default_and_release_must_be_asked_for() {
        assert_eq!(OnRemoval::from_annotations(&annotations(None)), Ok(OnRemoval::Finalize));
        assert_eq!(
            OnRemoval::from_annotations(&annotations(Some("finalize"))),
            Ok(OnRemoval::Finalize)
        );
        assert_eq!(
            OnRemoval::from_annotations(&annotations(Some(" release "))),
            Ok(OnRemoval::Release)
        );
        let error = OnRemoval::from_annotations(&annotations(Some("yes"))).unwrap_err();
        assert!(error.to_string().contains("\"yes\""), "{error}");
    }
}
