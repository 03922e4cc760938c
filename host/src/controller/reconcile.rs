//! One reconcile of one object: the top of the loop, written once.
//!
//! # Expected flow
//! Deletion first: while the host's finalizer is on a deleted object, the clean-up of its
//! current state runs, and the finalizer comes off only when the clean-up says it is done.
//! Otherwise the finalizer is added (when the plugin needs one) before any handler runs, the
//! current state's handler runs in the sandbox, the status is written when it changed, Events
//! are recorded, and the result decides when the object is looked at again. A transition runs
//! the next state at once, in the same reconcile, on the object as the status write returned it.
//!
//! # Guarantees
//! One object is never reconciled twice at once (the kube runtime's applier). The finalizer is
//! only removed after clean-up reported done, also across restarts: state lives in
//! `status.phase`, nowhere else. Every write carries the resourceVersion it was based on.
//!
//! # Errors
//! Only failures to talk to the API server are errors; they are retried with the object's
//! backoff. Plugin failures are results: written to the object, never errors here.

use std::sync::Arc;
use std::time::Duration;

use kube::Resource;
use kube::api::{Api, DynamicObject};
use kube::runtime::controller::Action;
use tracing::Instrument;

use super::decide::{self, Inputs, Requeue};
use super::removal;
use super::shared::{Mode, Serving, Shared};
use super::writes::{self, WriteError};
use crate::contract::{Call, CallStats, Context, FinalizeResult};
use crate::host_api::{Checked, ClusterBackend, LogContext, Parent};

/// Transitions run back to back in one reconcile before the object goes back to the queue.
const MAX_STEPS: usize = 16;

/// Why a reconcile could not finish: the API server failed; retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("the object cannot be handed to the plugin")]
    Object(#[source] serde_json::Error),
}

pub(super) enum Step {
    /// The object moved to another state: run it now.
    Continue(Box<DynamicObject>),
    Done(Action),
}

fn key_of(object: &DynamicObject) -> String {
    match &object.metadata.namespace {
        Some(namespace) => format!("{namespace}/{}", object.metadata.name.as_deref().unwrap_or("")),
        None => object.metadata.name.clone().unwrap_or_default(),
    }
}

/// Reconciles `object` with the plugin version serving now.
pub(super) async fn reconcile(
    object: Arc<DynamicObject>,
    shared: Arc<Shared>,
) -> Result<Action, ReconcileError> {
    let plugin = shared.serving.load().manifest.name.clone();
    let mut stopping = shared.stopping.clone();
    let Some(_worker) = shared.workers.turn(&shared.metrics, &plugin, &mut stopping).await else {
        // The controller stops; the object is looked at again by whoever runs next.
        return Ok(Action::await_change());
    };
    // The version that serves when the work starts is the one that does it, to the end.
    let serving = shared.serving.load_full();
    let Some(mut object) = latest(&shared, &serving, &object) else {
        return Ok(Action::await_change()); // gone while it waited
    };
    let mut trigger = trigger_of(&object);
    for _ in 0..MAX_STEPS {
        match step(&shared, &serving, object, trigger).await? {
            Step::Continue(next) => {
                object = *next;
                trigger = "transitioned";
            }
            Step::Done(action) => return Ok(action),
        }
    }
    Ok(Action::requeue(Duration::ZERO))
}

/// The object as the watch cache holds it now: it may have changed while it waited for a
/// worker. `None` when it is gone.
fn latest(shared: &Shared, serving: &Serving, queued: &DynamicObject) -> Option<DynamicObject> {
    let name = queued.metadata.name.as_deref().unwrap_or_default();
    let namespace = queued.metadata.namespace.as_deref();
    match shared.caches.get(&serving.manifest.reconciles, namespace, name) {
        Ok(found) => found.map(|object| (*object).clone()),
        // No cache of the kind (a host bug): work on the object as it was queued.
        Err(_) => Some(queued.clone()),
    }
}

/// Why the object is being looked at, as far as the object itself tells.
fn trigger_of(object: &DynamicObject) -> &'static str {
    let status = object.data.get("status");
    let observed = status.and_then(|s| s.get("observedGeneration")).and_then(|g| g.as_i64());
    match (status, observed) {
        (None, _) => "created",
        (Some(_), observed) if observed != object.metadata.generation => "changed",
        _ => "requeued",
    }
}

fn api_for(shared: &Shared, object: &DynamicObject) -> Api<DynamicObject> {
    match &object.metadata.namespace {
        Some(namespace) => Api::namespaced_with(shared.client.clone(), namespace, &shared.resource),
        None => Api::all_with(shared.client.clone(), &shared.resource),
    }
}

async fn step(
    shared: &Shared,
    serving: &Serving,
    object: DynamicObject,
    trigger: &'static str,
) -> Result<Step, ReconcileError> {
    let manifest = &serving.manifest;
    let state = decide::current_state(object.data.get("status"), manifest).to_owned();
    let span = tracing::info_span!(
        "reconcile",
        kind = %manifest.reconciles.kind,
        object = %key_of(&object),
        state = %state,
        plugin = %manifest.name,
        digest = %serving.identity.digest,
        trigger,
    );
    run_step(shared, serving, object, state, trigger).instrument(span).await
}

async fn run_step(
    shared: &Shared,
    serving: &Serving,
    mut object: DynamicObject,
    state: String,
    trigger: &'static str,
) -> Result<Step, ReconcileError> {
    let manifest = &serving.manifest;
    let api = api_for(shared, &object);
    let finalizer = manifest.finalizer_name();
    let finalizers = object.metadata.finalizers.clone().unwrap_or_default();
    let has_finalizer = finalizers.contains(&finalizer);
    let now = super::now_rfc3339();

    let mode = **shared.mode.load();
    if mode != Mode::Serving {
        return removal::step(shared, serving, &api, object, &state, &now, trigger, mode).await;
    }
    if object.metadata.deletion_timestamp.is_some() {
        if !has_finalizer {
            return Ok(Step::Done(Action::await_change()));
        }
        return finalize(shared, serving, &api, object, &state, &now, trigger).await;
    }
    if manifest.finalizer && !has_finalizer {
        let mut with_ours = finalizers;
        with_ours.push(finalizer);
        shared.metrics.api_request(&manifest.name, "patch_finalizers");
        object = match writes::finalizers(&api, &object, with_ours).await {
            Ok(updated) => updated,
            Err(WriteError::Conflict) => return Ok(conflict(shared, "adding the finalizer")),
            Err(error) => return Err(error.into()),
        };
        tracing::debug!("finalizer added");
    }
    let inputs = inputs(serving, &object, &now);
    if manifest.state(&state).is_none() {
        let decision = decide::unknown_state(inputs, &state);
        tracing::warn!(phase = %state, "the object's phase is not a state of the plugin");
        return settle(shared, serving, &api, object, decision).await;
    }
    let call = call_for(shared, serving, &object, &state, &now, trigger)?;
    let reconciled = serving.handler.reconcile(call).await;
    let stats = &reconciled.stats;
    let result = crate::observe::reconcile_result(&reconciled.result.outcome);
    record_call(shared, &manifest.name, &state, result, stats);
    let decision = decide::after_reconcile(inputs, &state, &reconciled.result);
    tracing::info!(
        result = reconciled.result.outcome.type_name(),
        next = %decision.state,
        fuel = stats.fuel,
        host_calls = stats.host_calls,
        micros = u64::try_from(stats.elapsed.as_micros()).unwrap_or(u64::MAX),
        "reconciled"
    );
    settle(shared, serving, &api, object, decision).await
}

/// Writes a decision's status (when it changed) and Events, and turns its requeue into the
/// next step.
async fn settle(
    shared: &Shared,
    serving: &Serving,
    api: &Api<DynamicObject>,
    object: DynamicObject,
    decision: decide::Decision,
) -> Result<Step, ReconcileError> {
    let key = key_of(&object);
    let reference = object.object_ref(&shared.resource);
    let changed = object.data.get("status") != Some(&decision.status);
    let plugin = &serving.manifest.name;
    let object = if changed {
        shared.metrics.api_request(plugin, "patch_status");
        match writes::status(api, &object, &decision.status, &serving.field_manager()).await {
            Ok(updated) => updated,
            Err(WriteError::Conflict) => return Ok(conflict(shared, "writing the status")),
            Err(error) => return Err(error.into()),
        }
    } else {
        object
    };
    if changed || decision.failure.is_none() {
        for _ in &decision.events {
            shared.metrics.api_request(plugin, "event");
        }
        writes::events(&shared.recorder, &reference, &decision.events).await;
    }
    if decision.failure.is_none() {
        shared.backoff.succeeded(&key);
    }
    Ok(match decision.requeue {
        Requeue::Now => Step::Continue(Box::new(object)),
        Requeue::After { after } => Step::Done(Action::requeue(after)),
        Requeue::OnChange => Step::Done(Action::await_change()),
        Requeue::Backoff => Step::Done(Action::requeue(shared.backoff.failed(&key))),
    })
}

#[allow(clippy::too_many_arguments)] // the parts of one deletion step
pub(super) async fn finalize(
    shared: &Shared,
    serving: &Serving,
    api: &Api<DynamicObject>,
    object: DynamicObject,
    state: &str,
    now: &str,
    trigger: &'static str,
) -> Result<Step, ReconcileError> {
    let manifest = &serving.manifest;
    let inputs = inputs(serving, &object, now);
    let Some(declared) = manifest.state(state) else {
        // Without a known state there is no clean-up to run; the finalizer stays until a
        // person fixes the phase or releases the object.
        let decision = decide::unknown_state(inputs, state);
        return settle(shared, serving, api, object, decision).await;
    };
    let result = if declared.finalizes {
        let call = call_for(shared, serving, &object, state, now, trigger)?;
        let finalized = serving.handler.finalize(call).await;
        let result = crate::observe::finalize_result(&finalized.result.outcome);
        record_call(shared, &manifest.name, state, result, &finalized.stats);
        finalized.result
    } else {
        FinalizeResult {
            outcome: crate::contract::FinalizeOutcome::Done,
            status: None,
            conditions: vec![],
            note: Some("the state has no clean-up".into()),
        }
    };
    let decision = decide::after_finalize(inputs, state, &result);
    tracing::info!(released = decision.release_finalizer, "finalize ran");
    if decision.release_finalizer {
        return release_finalizer(shared, serving, api, &object, &decision.events).await;
    }
    let as_reconcile = decide::Decision {
        state: state.to_owned(),
        status: decision.status,
        events: decision.events,
        requeue: decision.requeue,
        failure: decision.failure,
    };
    settle(shared, serving, api, object, as_reconcile).await
}

/// Takes the host's finalizer off `object`, leaving every other finalizer as it is, and then
/// records `events`: an Event that says the clean-up is done is only sent once it is, so a
/// host that stops in between runs the clean-up again rather than announcing it twice.
pub(super) async fn release_finalizer(
    shared: &Shared,
    serving: &Serving,
    api: &Api<DynamicObject>,
    object: &DynamicObject,
    events: &[decide::EventNote],
) -> Result<Step, ReconcileError> {
    let finalizer = serving.manifest.finalizer_name();
    let rest: Vec<String> = object
        .metadata
        .finalizers
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|f| *f != finalizer)
        .collect();
    shared.metrics.api_request(&serving.manifest.name, "patch_finalizers");
    match writes::finalizers(api, object, rest).await {
        Ok(_) => {
            let reference = object.object_ref(&shared.resource);
            writes::events(&shared.recorder, &reference, events).await;
            Ok(Step::Done(Action::await_change()))
        }
        Err(WriteError::Conflict) => Ok(conflict(shared, "removing the finalizer")),
        Err(error) => Err(error.into()),
    }
}

fn record_call(shared: &Shared, plugin: &str, state: &str, result: &str, stats: &CallStats) {
    shared.metrics.reconcile(plugin, state, result, stats.elapsed, stats.fuel);
    if let Some(kind) = stats.sandbox_failure {
        shared.metrics.sandbox_failure(plugin, kind);
    }
}

fn conflict(shared: &Shared, what: &str) -> Step {
    tracing::debug!("{what} conflicted with a newer version of the object; retrying");
    Step::Done(Action::requeue(shared.settings.conflict_retry))
}

fn inputs<'a>(serving: &'a Serving, object: &'a DynamicObject, now: &'a str) -> Inputs<'a> {
    Inputs {
        status: object.data.get("status"),
        generation: object.metadata.generation.unwrap_or(0),
        manifest: &serving.manifest,
        plugin: &serving.identity,
        now,
    }
}

fn call_for(
    shared: &Shared,
    serving: &Serving,
    object: &DynamicObject,
    state: &str,
    now: &str,
    trigger: &'static str,
) -> Result<Call, ReconcileError> {
    let json = serde_json::to_value(object).map_err(ReconcileError::Object)?;
    let parent = Parent::from_object(&json)
        .map_err(|e| ReconcileError::Object(serde::ser::Error::custom(e.to_string())))?;
    let key = key_of(object);
    let backend = ClusterBackend::new(
        shared.client.clone(),
        shared.caches.clone(),
        tokio::runtime::Handle::current(),
        serving.field_manager(),
        shared.recorder.clone(),
        object.object_ref(&shared.resource),
        shared.settings.host_call_timeout,
        shared.metrics.clone(),
        LogContext {
            kind: serving.manifest.reconciles.kind.clone(),
            object: key.clone(),
            state: state.to_owned(),
            plugin: serving.manifest.name.clone(),
            digest: serving.identity.digest.clone(),
        },
    );
    let attempt = shared.backoff.attempt(&key);
    Ok(Call {
        state: state.to_owned(),
        object: json.to_string(),
        context: Context {
            now: now.to_owned(),
            trigger: if attempt > 0 { "retry".into() } else { trigger.into() },
            attempt,
            plugin_digest: serving.identity.digest.clone(),
        },
        host: Box::new(Checked::new(serving.manifest.clone(), parent, backend)),
    })
}
