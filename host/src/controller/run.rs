//! Starting and stopping the controller of one plugin.
//!
//! The controller watches the kind the plugin reconciles, the kinds it owns (only objects
//! labelled as its children, mapped back to their owner) and the kinds it reads (cached for
//! its `get` and `list` calls). Kinds are found through API discovery: none is compiled in.
//! `managedFields` are dropped from every cached object: plugins do not need them and they
//! are often the larger half of an object.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::controller::{Action, Config, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::store::Writer;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::backoff::Backoff;
use super::reconcile::{ReconcileError, reconcile};
use super::shared::{Mode, Serving, Settings, Shared};
use super::workers::Workers;
use crate::contract::KindRef;
use crate::host_api::{CHILD_LABEL, Caches};
use crate::observe::Metrics;

/// Why a controller could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("kind {kind} is not served by the API server; install its CustomResourceDefinition")]
    KindNotInstalled {
        kind: String,
        #[source]
        source: kube::Error,
    },
}

/// A running controller. Dropping it does not stop it: call [`ControllerHandle::stop`].
pub struct ControllerHandle {
    shared: Arc<Shared>,
    reload: mpsc::Sender<()>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for ControllerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllerHandle")
            .field("serving", &self.shared.serving.load().identity)
            .finish_non_exhaustive()
    }
}

async fn resolve(client: &Client, kind: &KindRef) -> Result<ApiResource, StartError> {
    let gvk = GroupVersionKind::gvk(&kind.group, &kind.version, &kind.kind);
    kube::discovery::pinned_kind(client, &gvk)
        .await
        .map(|(resource, _)| resource)
        .map_err(|source| StartError::KindNotInstalled { kind: kind.to_string(), source })
}

fn strip_managed_fields(object: &mut DynamicObject) {
    object.managed_fields_mut().clear();
}

impl ControllerHandle {
    /// Resolves the plugin's kinds and starts reconciling.
    ///
    /// # Errors
    /// When a declared kind is not served by the API server.
    pub async fn start(
        client: Client,
        serving: Serving,
        settings: Settings,
        reporter: Reporter,
        metrics: Arc<Metrics>,
    ) -> Result<Self, StartError> {
        let manifest = serving.manifest.clone();
        let resource = resolve(&client, &manifest.reconciles).await?;
        let main_api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        let main_writer = Writer::new(resource.clone());
        let main_cache = main_writer.as_reader();
        // Our own signal of the first full list: kube's `Store::wait_until_ready` wakes only
        // the last of several waiters, and the controller itself is one of them.
        let (synced_tx, synced) = watch::channel(false);
        let main_stream = watcher(main_api, watcher::Config::default())
            .default_backoff()
            .modify(strip_managed_fields)
            .reflect(main_writer)
            .inspect(move |event| {
                if let Ok(watcher::Event::InitDone) = event {
                    let _ = synced_tx.send(true);
                }
            })
            .applied_objects();
        let mut controller =
            Controller::for_stream_with(main_stream, main_cache.clone(), resource.clone())
                // No limit here: the workers of `Shared` limit concurrency, where the objects
                // waiting for one can be counted (see `workers`).
                .with_config(Config::default().concurrency(0));
        let mut caches = vec![(manifest.reconciles.clone(), resource.clone(), main_cache)];
        let children =
            watcher::Config::default().labels(&format!("{CHILD_LABEL}={}", manifest.name));
        for kind in &manifest.owns {
            let owned = resolve(&client, kind).await?;
            let writer = Writer::new(owned.clone());
            caches.push((kind.clone(), owned.clone(), writer.as_reader()));
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &owned);
            let stream = watcher(api, children.clone())
                .default_backoff()
                .modify(strip_managed_fields)
                .reflect(writer)
                .touched_objects();
            controller = controller.owns_stream_with(stream, owned);
        }
        for kind in manifest.reads.iter().filter(|k| !manifest.owns.contains(k)) {
            let read = resolve(&client, kind).await?;
            let writer = Writer::new(read.clone());
            caches.push((kind.clone(), read.clone(), writer.as_reader()));
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &read);
            let stream = watcher(api, watcher::Config::default())
                .default_backoff()
                .modify(strip_managed_fields)
                .reflect(writer);
            tokio::spawn(stream.for_each(|_| futures::future::ready(())));
        }
        let (reload, reload_requests) = mpsc::channel::<()>(1);
        let (shutdown, mut shutdown_requested) = watch::channel(false);
        let shared = Arc::new(Shared {
            workers: Workers::new(settings.concurrency),
            synced,
            stopping: shutdown_requested.clone(),
            recorder: Recorder::new(client.clone(), reporter),
            client,
            resource,
            serving: ArcSwap::from_pointee(serving),
            mode: ArcSwap::from_pointee(Mode::Serving),
            caches: Caches::new(caches),
            backoff: Backoff::new(settings.backoff_base, settings.backoff_cap),
            settings,
            metrics,
        });
        let stopping = async move {
            let _changed = shutdown_requested.wait_for(|stop| *stop).await;
        };
        let running = controller
            .reconcile_all_on(tokio_stream_from(reload_requests))
            .graceful_shutdown_on(stopping)
            .run(reconcile, error_policy, shared.clone())
            .for_each(|outcome| async move {
                if let Err(error) = outcome {
                    tracing::debug!(%error, "controller event");
                }
            });
        let task = tokio::spawn(running);
        tracing::info!(plugin = %manifest.name, kind = %manifest.reconciles, "controller started");
        Ok(ControllerHandle { shared, reload, shutdown, task })
    }

    /// The plugin version serving now.
    pub fn serving(&self) -> Arc<Serving> {
        self.shared.serving.load_full()
    }

    /// Swaps in another version of the plugin and queues every object again. Reconciles in
    /// flight finish on the version they started with.
    pub fn swap(&self, serving: Serving) {
        self.shared.serving.store(Arc::new(serving));
        let _queued_already = self.reload.try_send(());
    }

    /// What the controller does now.
    pub fn mode(&self) -> Mode {
        **self.shared.mode.load()
    }

    /// Changes what the controller does (see [`Mode`]) and queues every object again.
    pub fn set_mode(&self, mode: Mode) {
        self.shared.mode.store(Arc::new(mode));
        let _queued_already = self.reload.try_send(());
    }

    /// Resolves once the watch cache of the reconciled kind holds the first full list.
    pub fn synced(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut synced = self.shared.synced.clone();
        async move {
            // An error means the controller stopped: nothing more will come.
            let _stopped = synced.wait_for(|listed| *listed).await;
        }
    }

    /// How many objects of the reconciled kind, as the watch cache holds them, carry the
    /// host's finalizer.
    pub fn carrying_finalizer(&self) -> usize {
        let serving = self.shared.serving.load();
        let finalizer = serving.manifest.finalizer_name();
        self.shared
            .caches
            .objects(&serving.manifest.reconciles)
            .iter()
            .filter(|o| carries(&o.metadata, &finalizer))
            .count()
    }

    /// How many objects of the reconciled kind carry the host's finalizer, as the API server
    /// lists them when the future runs (metadata only): the check of
    /// [`Self::carrying_finalizer`] against a watch cache that may be behind. The future does
    /// not borrow the handle.
    pub fn carrying_finalizer_listed(
        &self,
    ) -> impl Future<Output = Result<usize, kube::Error>> + Send + 'static {
        let finalizer = self.shared.serving.load().manifest.finalizer_name();
        let api: Api<DynamicObject> =
            Api::all_with(self.shared.client.clone(), &self.shared.resource);
        async move {
            let listed = api.list_metadata(&kube::api::ListParams::default()).await?;
            Ok(listed.items.iter().filter(|o| carries(&o.metadata, &finalizer)).count())
        }
    }

    /// Stops taking work and waits up to `grace` for reconciles in flight to finish.
    pub async fn stop(self, grace: Duration) {
        let _ = self.shutdown.send(true);
        let mut task = self.task;
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            tracing::warn!(
                ?grace,
                "reconciles still running after the grace period; stopping them"
            );
            task.abort();
        }
    }
}

/// Whether an object's metadata lists `finalizer`.
fn carries(metadata: &kube::api::ObjectMeta, finalizer: &str) -> bool {
    metadata.finalizers.as_ref().is_some_and(|f| f.iter().any(|name| name == finalizer))
}

fn tokio_stream_from(mut receiver: mpsc::Receiver<()>) -> impl futures::Stream<Item = ()> {
    futures::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}

fn error_policy(object: Arc<DynamicObject>, error: &ReconcileError, shared: Arc<Shared>) -> Action {
    let key = match object.namespace() {
        Some(namespace) => format!("{namespace}/{}", object.name_any()),
        None => object.name_any(),
    };
    let delay = shared.backoff.failed(&key);
    let serving = shared.serving.load();
    tracing::warn!(
        kind = %serving.manifest.reconciles.kind,
        object = %key,
        plugin = %serving.manifest.name,
        digest = %serving.identity.digest,
        error = %error,
        cause = ?std::error::Error::source(error).map(ToString::to_string),
        ?delay,
        "reconcile failed; retrying"
    );
    Action::requeue(delay)
}
