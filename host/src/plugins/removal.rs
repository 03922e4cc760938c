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
//! Draining lives as long as the operator process: a restart in the middle no longer has the
//! removed plugin's bytes, and objects left with its finalizer then wait until the plugin is
//! installed again (or the finalizer is removed by hand).

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::EventType;

use super::registry::{Controllers, Entry, Registry, RegistryEvent};
use super::sources::Origin;
use crate::controller::Mode;

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
        self.event(about.as_ref(), EventType::Normal, "PluginRemoved", note).await;
        self.tell(RegistryEvent::Removed {
            plugin: name,
            release: on_removal == OnRemoval::Release,
        });
    }

    /// Puts `entry` in `mode` among the draining controllers, and stops it once no object
    /// carries its finalizer. The watch cache is looked at every `drain_poll`: reading a
    /// local cache that often costs nothing next to the API calls it saves.
    pub(super) fn drain(self: &Arc<Self>, controllers: &mut Controllers, entry: Entry, mode: Mode) {
        entry.handle.set_mode(mode);
        let id = entry.id;
        let name = entry.handle.serving().manifest.name.clone();
        controllers.draining.push(entry);
        let registry = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(registry.drain_poll).await;
                let mut controllers = registry.controllers.lock().await;
                let Some(index) = controllers.draining.iter().position(|e| e.id == id) else {
                    return; // taken back into service, or stopped with the rest
                };
                if controllers.draining[index].handle.carrying_finalizer() > 0 {
                    continue;
                }
                let entry = controllers.draining.remove(index);
                drop(controllers);
                entry.handle.stop(std::time::Duration::from_secs(30)).await;
                tracing::info!(plugin = %name, "no object carries the removed plugin's finalizer; its controller stopped");
                registry.tell(RegistryEvent::Drained { plugin: name });
                return;
            }
        });
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
