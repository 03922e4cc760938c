//! The registry: one controller per plugin, started, swapped and stopped as plugin versions
//! come and go.
//!
//! # Guarantees
//! A version is compiled off the async runtime and its manifest validated before it serves
//! anything; a version that fails either is rejected (log, Warning Event on its ConfigMap)
//! and the version already serving keeps serving. The same bytes again change nothing, and
//! the same broken bytes are not tried again. A plugin whose kind is not installed is reported
//! and retried every `kind_retry`, while the other plugins run on. A removed plugin's
//! controller drains (see [`super::removal`]) instead of leaving finalizers behind.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tokio::sync::{Mutex, mpsc};

use super::limits;
use super::records::Records;
use super::sources::{Candidate, Origin};
use crate::controller::{ControllerHandle, Mode, Serving, Settings, StartError};
use crate::observe::Metrics;
use crate::runtime::{Limits, Runtime, digest_of};

/// What happened to an offered plugin version; for logs, metrics and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryEvent {
    Started {
        plugin: String,
        digest: String,
    },
    Swapped {
        plugin: String,
        from: String,
        to: String,
    },
    Rejected {
        origin: String,
        reason: String,
    },
    KindMissing {
        plugin: String,
        kind: String,
    },
    /// The plugin's source went away; its controller drains or releases.
    Removed {
        plugin: String,
        release: bool,
    },
    /// No object carries a removed plugin's finalizer any more; its controller stopped.
    Drained {
        plugin: String,
    },
}

pub(super) struct Entry {
    pub(super) handle: ControllerHandle,
    pub(super) origin: Origin,
    /// The bytes and annotations of the version serving, for its drain record.
    pub(super) source: Source,
    /// Tells this controller from an earlier one of the same plugin.
    pub(super) id: u64,
    /// The drain record written for this controller, if any.
    pub(super) record: Option<String>,
}

/// What a plugin version was made from, and the limits it runs under.
#[derive(Clone)]
pub(super) struct Source {
    pub(super) bytes: Arc<Vec<u8>>,
    pub(super) annotations: BTreeMap<String, String>,
    pub(super) limits: Limits,
}

/// The controllers of the registry.
#[derive(Default)]
pub(super) struct Controllers {
    /// Serving, by plugin name.
    pub(super) active: HashMap<String, Entry>,
    /// Removed (or moved to another kind), while objects still carry their finalizer.
    pub(super) draining: Vec<Entry>,
    /// The digest and annotations last rejected from each origin.
    rejected: HashMap<Origin, (String, BTreeMap<String, String>)>,
    next_id: u64,
}

impl Controllers {
    pub(super) fn entry(
        &mut self,
        handle: ControllerHandle,
        origin: Origin,
        source: Source,
    ) -> Entry {
        self.next_id += 1;
        Entry { handle, origin, source, id: self.next_id, record: None }
    }
}

/// The action of an Event about a plugin version: `verb` and the first 12 hex digits of the
/// version's digest, such as `Swap:3fa1c2d4e5f6`.
pub(super) fn action(verb: &str, digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    format!("{verb}:{}", hex.chars().take(12).collect::<String>())
}

/// Keeps one controller per plugin name.
pub struct Registry {
    pub(super) runtime: Runtime,
    pub(super) client: Client,
    pub(super) settings: Settings,
    pub(super) reporter: Reporter,
    recorder: Recorder,
    kind_retry: Duration,
    pub(super) drain_poll: Duration,
    pub(super) controllers: Mutex<Controllers>,
    pub(super) metrics: Arc<Metrics>,
    notify: Option<mpsc::UnboundedSender<RegistryEvent>>,
    /// Where drain records are kept, once [`Registry::resume_draining`] said so.
    pub(super) records: std::sync::OnceLock<Records>,
    /// Set by [`Registry::stop_all`]: controllers leave, their drain records stay.
    pub(super) stopping: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl Registry {
    pub fn new(
        runtime: Runtime,
        client: Client,
        settings: Settings,
        reporter: Reporter,
        metrics: Arc<Metrics>,
        notify: Option<mpsc::UnboundedSender<RegistryEvent>>,
    ) -> Arc<Self> {
        Arc::new(Registry {
            recorder: Recorder::new(client.clone(), reporter.clone()),
            runtime,
            client,
            settings,
            reporter,
            kind_retry: Duration::from_secs(10),
            drain_poll: Duration::from_secs(1),
            controllers: Mutex::new(Controllers::default()),
            metrics,
            notify,
            records: std::sync::OnceLock::new(),
            stopping: std::sync::atomic::AtomicBool::new(false),
        })
    }

    pub(super) fn tell(&self, event: RegistryEvent) {
        if let Some(notify) = &self.notify {
            let _receiver_gone = notify.send(event);
        }
    }

    /// Records an Event on a plugin's source. `action` says what was done to which version
    /// (see [`action`]): repeats of one reason and action are counted in one Event, so a new
    /// version is an Event of its own.
    pub(super) async fn event(
        &self,
        about: Option<&ObjectReference>,
        type_: EventType,
        reason: &str,
        action: String,
        note: String,
    ) {
        let Some(reference) = about else { return };
        let event =
            Event { type_, reason: reason.into(), note: Some(note), action, secondary: None };
        if let Err(error) = self.recorder.publish(&event, reference).await {
            tracing::warn!(%error, reason, "could not record an event on the plugin's source");
        }
    }

    async fn reject(
        &self,
        origin: &Origin,
        (digest, annotations): (String, BTreeMap<String, String>),
        about: Option<&ObjectReference>,
        reason: String,
    ) {
        tracing::warn!(origin = %origin, %digest, %reason, "plugin version rejected; the version serving before keeps serving");
        let action = action("Reject", &digest);
        {
            let mut controllers = self.controllers.lock().await;
            controllers.rejected.insert(origin.clone(), (digest, annotations));
            let serving = controllers.active.iter().find(|(_, e)| e.origin == *origin);
            if let Some((name, _)) = serving {
                self.metrics.plugin_swap(name, "rejected");
            }
        }
        self.metrics.plugin_load(&origin.to_string(), "rejected");
        self.event(about, EventType::Warning, "PluginRejected", action, reason.clone()).await;
        self.tell(RegistryEvent::Rejected { origin: origin.to_string(), reason });
    }

    /// Offers a plugin version: starts its controller, swaps it in, or rejects it.
    /// `about` is the ConfigMap it came from, for Events.
    pub async fn offer(self: &Arc<Self>, candidate: Candidate, about: Option<ObjectReference>) {
        let origin = candidate.origin.clone();
        let digest = digest_of(&candidate.bytes);
        let asked = limits::from_annotations(&candidate.annotations, self.runtime.default_limits());
        {
            let controllers = self.controllers.lock().await;
            let serving = controllers.active.values().any(|e| {
                e.origin == origin
                    && e.handle.serving().identity.digest == digest
                    && asked.as_ref().ok() == Some(&e.source.limits)
            });
            let tried = (digest.clone(), candidate.annotations.clone());
            if serving || controllers.rejected.get(&origin) == Some(&tried) {
                tracing::debug!(origin = %origin, %digest, "same plugin version and limits again; nothing to do");
                return;
            }
        }
        let rejected = (digest.clone(), candidate.annotations.clone());
        let limits = match asked {
            Ok(limits) => limits,
            Err(error) => {
                let reason = format!("{origin}: {error}");
                return self.reject(&origin, rejected, about.as_ref(), reason).await;
            }
        };
        let runtime = self.runtime.clone();
        let source =
            Source { bytes: Arc::new(candidate.bytes), annotations: candidate.annotations, limits };
        let bytes = source.bytes.clone();
        let loaded = tokio::task::spawn_blocking(move || runtime.load(&bytes, limits)).await;
        let plugin = match loaded {
            Ok(Ok(plugin)) => plugin,
            Ok(Err(error)) => {
                let reason = format!("{origin}: {:#}", anyhow::Error::from(error));
                return self.reject(&origin, rejected, about.as_ref(), reason).await;
            }
            Err(error) => {
                let reason = format!("{origin}: {error}");
                return self.reject(&origin, rejected, about.as_ref(), reason).await;
            }
        };
        self.controllers.lock().await.rejected.remove(&origin);
        let serving = Serving::new(Arc::new(plugin));
        self.install(serving, origin, source, about).await;
    }

    async fn install(
        self: &Arc<Self>,
        serving: Serving,
        origin: Origin,
        source: Source,
        about: Option<ObjectReference>,
    ) {
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
                let same_bytes = before.identity.digest == serving.identity.digest;
                let same_limits = entry.source.limits == source.limits;
                entry.origin = origin;
                entry.source = source;
                if same_bytes && same_limits {
                    return;
                }
                let note = if same_bytes {
                    format!(
                        "plugin {name} {} ({}) runs under new limits: {}",
                        serving.identity.version, serving.identity.digest, entry.source.limits
                    )
                } else {
                    format!(
                        "plugin {name} swapped from {} ({}) to {} ({})",
                        before.identity.version,
                        before.identity.digest,
                        serving.identity.version,
                        serving.identity.digest
                    )
                };
                if same_bytes {
                    tracing::info!(plugin = %name, digest = %serving.identity.digest, limits = %entry.source.limits, "plugin runs under new limits");
                } else {
                    tracing::info!(plugin = %name, from = %before.identity.digest, to = %serving.identity.digest, limits = %entry.source.limits, "plugin swapped");
                }
                let verb = if same_bytes { "Limits" } else { "Swap" };
                let action = action(verb, &serving.identity.digest);
                let swapped = RegistryEvent::Swapped {
                    plugin: name.clone(),
                    from: before.identity.digest.clone(),
                    to: serving.identity.digest.clone(),
                };
                entry.handle.swap(serving);
                self.metrics.plugin_swap(&name, "swapped");
                drop(controllers);
                self.event(about.as_ref(), EventType::Normal, "PluginSwapped", action, note).await;
                self.tell(swapped);
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
                return self.start(serving, origin, source, about).await;
            }
        }
        drop(controllers);
        self.start(serving, origin, source, about).await;
    }

    /// Starts a controller; boxed because a missing kind schedules this again.
    fn start(
        self: &Arc<Self>,
        serving: Serving,
        origin: Origin,
        source: Source,
        about: Option<ObjectReference>,
    ) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
        let registry = self.clone();
        Box::pin(async move { registry.start_now(serving, origin, source, about).await })
    }

    async fn start_now(
        self: &Arc<Self>,
        serving: Serving,
        origin: Origin,
        source: Source,
        about: Option<ObjectReference>,
    ) {
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
                    registry.start(serving, origin, source, about).await;
                });
            }
        }
    }

    /// Names and digests of the plugins serving now.
    pub async fn serving(&self) -> Vec<(String, String)> {
        let controllers = self.controllers.lock().await;
        controllers
            .active
            .iter()
            .map(|(name, e)| (name.clone(), e.handle.serving().identity.digest.clone()))
            .collect()
    }

    /// Stops every controller, draining ones too, letting reconciles in flight finish
    /// within `grace`.
    pub async fn stop_all(&self, grace: Duration) {
        self.stopping.store(true, std::sync::atomic::Ordering::Release);
        let entries: Vec<Entry> = {
            let mut controllers = self.controllers.lock().await;
            let mut entries: Vec<Entry> = controllers.active.drain().map(|(_, e)| e).collect();
            entries.append(&mut controllers.draining);
            entries
        };
        futures::future::join_all(entries.into_iter().map(|e| e.handle.stop(grace))).await;
    }
}
