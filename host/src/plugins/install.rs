//! How a loaded plugin version takes its place in the registry: it takes back its own
//! draining controller, swaps into its running controller when it reconciles, owns and reads
//! the same kinds, restarts the controller when those kinds change, or starts a new one. A
//! plugin whose kind is not installed yet is started again every `kind_retry`.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::EventType;

use super::registry::{Entry, Registry, RegistryEvent, Source, action};
use super::sources::Origin;
use crate::controller::{ControllerHandle, Mode, Serving, StartError};

impl Registry {
    /// Puts a loaded and validated version in its place, in the order the module's
    /// documentation gives.
    pub(super) async fn install(self: &Arc<Self>, arrival: Arrival) {
        let Arrival { serving, origin, source, about } = arrival;
        let name = serving.manifest.name.clone();
        let mut controllers = self.controllers.lock().await;
        // A plugin that comes back while its controller drains takes that controller back.
        if !controllers.active.contains_key(&name) {
            let back = controllers.draining.iter().position(|e| {
                let before = e.handle.serving();
                before.manifest.name == name
                    && before.manifest.reconciles == serving.manifest.reconciles
            });
            if let Some(index) = back {
                let mut entry = controllers.draining.remove(index);
                entry.handle.set_mode(Mode::Serving);
                tracing::info!(plugin = %name, "plugin is back; its draining controller serves again");
                self.forget_record(entry.record.take());
                controllers.active.insert(name.clone(), entry);
            }
        }
        // Another plugin that came from the same place is replaced: it drains.
        let replaced: Vec<String> = controllers
            .active
            .iter()
            .filter(|(other, e)| **other != name && e.origin == origin)
            .map(|(other, _)| other.clone())
            .collect();
        for other in replaced {
            if let Some(entry) = controllers.active.remove(&other) {
                self.drain(&mut controllers, entry, Mode::Draining);
            }
        }
        if let Some(entry) = controllers.active.get_mut(&name) {
            let before = entry.handle.serving();
            let same_kinds = before.manifest.reconciles == serving.manifest.reconciles
                && before.manifest.owns == serving.manifest.owns
                && before.manifest.reads == serving.manifest.reads;
            if same_kinds {
                let swapped = self.swap_in_place(entry, serving, origin, source);
                drop(controllers);
                if let Some(Swapped { note, action, event }) = swapped {
                    self.event(about.as_ref(), EventType::Normal, "PluginSwapped", action, note)
                        .await;
                    self.tell(event);
                }
                return;
            }
            if let Some(old) = controllers.active.remove(&name) {
                if old.handle.serving().manifest.reconciles == serving.manifest.reconciles {
                    // Same kind, other owned or read kinds: the new controller takes over
                    // the objects, finalizers included; the old one stops.
                    drop(controllers);
                    old.handle.stop(Duration::from_secs(30)).await;
                } else {
                    // Another kind: the old kind's objects still need their clean-up.
                    tracing::info!(plugin = %name, from = %old.handle.serving().manifest.reconciles, to = %serving.manifest.reconciles, "plugin now reconciles another kind; the old kind's controller drains");
                    self.drain(&mut controllers, old, Mode::Draining);
                    drop(controllers);
                }
                self.metrics.plugin_swap(&name, "restarted");
                return self.start(Arrival { serving, origin, source, about }).await;
            }
        }
        drop(controllers);
        self.start(Arrival { serving, origin, source, about }).await;
    }

    /// Gives a running controller a new version, or the same version new limits; `None` when
    /// neither changed. Returns what to report once the registry's lock is released.
    fn swap_in_place(
        &self,
        entry: &mut Entry,
        serving: Serving,
        origin: Origin,
        source: Source,
    ) -> Option<Swapped> {
        let before = entry.handle.serving();
        let name = serving.manifest.name.clone();
        let same_bytes = before.identity.digest == serving.identity.digest;
        let same_limits = entry.source.limits == source.limits;
        entry.origin = origin;
        entry.source = source;
        if same_bytes && same_limits {
            return None;
        }
        let (new, old) = (&serving.identity, &before.identity);
        let limits = &entry.source.limits;
        let note = if same_bytes {
            tracing::info!(plugin = %name, digest = %new.digest, %limits, "plugin runs under new limits");
            format!(
                "plugin {name} {} ({}) runs under new limits: {limits}",
                new.version, new.digest
            )
        } else {
            tracing::info!(plugin = %name, from = %old.digest, to = %new.digest, %limits, "plugin swapped");
            format!(
                "plugin {name} swapped from {} ({}) to {} ({})",
                old.version, old.digest, new.version, new.digest
            )
        };
        let action = action(if same_bytes { "Limits" } else { "Swap" }, &new.digest);
        let event = RegistryEvent::Swapped {
            plugin: name.clone(),
            from: old.digest.clone(),
            to: new.digest.clone(),
        };
        entry.handle.swap(serving);
        self.metrics.plugin_swap(&name, "swapped");
        Some(Swapped { note, action, event })
    }

    /// Starts a controller; boxed because a missing kind schedules this again.
    fn start(
        self: &Arc<Self>,
        arrival: Arrival,
    ) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
        let registry = self.clone();
        Box::pin(async move { registry.start_now(arrival).await })
    }

    async fn start_now(self: &Arc<Self>, arrival: Arrival) {
        let Arrival { serving, origin, source, about } = arrival;
        let name = serving.manifest.name.clone();
        let digest = serving.identity.digest.clone();
        let started = ControllerHandle::start(
            self.client.clone(),
            serving.clone(),
            self.settings.clone(),
            self.reporter.clone(),
            self.metrics.clone(),
        )
        .await;
        match started {
            Ok(handle) => {
                let active = {
                    let mut controllers = self.controllers.lock().await;
                    let entry = controllers.entry(handle, origin, source);
                    if let Some(earlier) = controllers.active.insert(name.clone(), entry) {
                        // Two versions started at once; the later one serves.
                        tokio::spawn(earlier.handle.stop(Duration::from_secs(30)));
                    }
                    controllers.active.len()
                };
                self.metrics.plugin_load(&name, "loaded");
                self.metrics.plugins_active(i64::try_from(active).unwrap_or(i64::MAX));
                let note = format!(
                    "plugin {name} {} ({digest}) is reconciling {}",
                    serving.identity.version, serving.manifest.reconciles
                );
                let action = action("Load", &digest);
                self.event(about.as_ref(), EventType::Normal, "PluginLoaded", action, note).await;
                self.tell(RegistryEvent::Started { plugin: name, digest });
            }
            Err(StartError::KindNotInstalled { kind, source: error }) => {
                tracing::warn!(plugin = %name, %kind, %error, retry = ?self.kind_retry, "the plugin's kind is not installed; retrying");
                let note = format!(
                    "plugin {name}: kind {kind} is not installed; install its CustomResourceDefinition. Retrying every {:?}",
                    self.kind_retry
                );
                self.metrics.plugin_load(&name, "kind_missing");
                let action = action("WaitForKind", &serving.identity.digest);
                self.event(about.as_ref(), EventType::Warning, "KindNotInstalled", action, note)
                    .await;
                self.tell(RegistryEvent::KindMissing { plugin: name, kind });
                let registry = self.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(registry.kind_retry).await;
                    registry.start(Arrival { serving, origin, source, about }).await;
                });
            }
        }
    }
}

/// A loaded and validated version on its way into the registry.
pub(super) struct Arrival {
    pub(super) serving: Serving,
    pub(super) origin: Origin,
    /// Its bytes, annotations and limits.
    pub(super) source: Source,
    /// The ConfigMap it came from, for Events.
    pub(super) about: Option<ObjectReference>,
}

/// What a swap in place reports: the Event's note and action, and the registry event.
struct Swapped {
    note: String,
    action: String,
    event: RegistryEvent,
}
