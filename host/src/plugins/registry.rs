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

use super::install::Arrival;
use super::limits;
use super::records::Records;
use super::sources::{Candidate, Origin};
use crate::controller::{ControllerHandle, Serving, Settings};
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

/// Keeps one controller per plugin name. How a loaded version takes its place is in
/// [`super::install`]; how a removed one leaves, in [`super::removal`].
pub struct Registry {
    pub(super) runtime: Runtime,
    pub(super) client: Client,
    pub(super) settings: Settings,
    pub(super) reporter: Reporter,
    recorder: Recorder,
    pub(super) kind_retry: Duration,
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
        self.install(Arrival { serving, origin, source, about }).await;
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
