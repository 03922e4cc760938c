//! The example plugin compiled natively behind the same [`Handler`] trait as its component:
//! the baseline of the operator benchmark. Host calls go through the same capability checks
//! and cluster backend; only the sandbox is missing.

use hotloop::contract::{
    Call, CallStats, Condition, ConditionStatus, EventType, Failure, FinalizeOutcome,
    FinalizeResult, Finalized, Handler, HandlerFuture, HostCalls, HostError, KindRef, LogLevel,
    Manifest, ObjectRef, Outcome, ReconcileResult, Reconciled, StateDecl, StateKind, Transition,
};
use hotloop_sdk::bindings::Guest;
use hotloop_sdk::bindings::hotloop::plugin::types as wit;
use hotloop_sdk::native::{NativeHost, with_host};

type Plugin = hotloop_sdk::Exports<static_site::StaticSite>;

/// `static-site`, natively.
pub struct NativeStaticSite {
    manifest: Manifest,
}

impl NativeStaticSite {
    pub fn new() -> Self {
        NativeStaticSite { manifest: manifest(Plugin::manifest()) }
    }
}

fn kind(kind: wit::KindRef) -> KindRef {
    KindRef {
        group: kind.group,
        version: kind.version,
        kind: kind.kind,
        plural: kind.plural,
        namespaced: kind.namespaced,
    }
}

fn manifest(m: wit::Manifest) -> Manifest {
    Manifest {
        name: m.name,
        version: m.version,
        reconciles: kind(m.reconciles),
        owns: m.owns.into_iter().map(kind).collect(),
        reads: m.reads.into_iter().map(kind).collect(),
        states: m
            .states
            .into_iter()
            .map(|s| StateDecl {
                name: s.name,
                kind: match s.kind {
                    wit::StateKind::InProgress => StateKind::InProgress,
                    wit::StateKind::SettledReady => StateKind::SettledReady,
                    wit::StateKind::SettledFailed => StateKind::SettledFailed,
                },
                finalizes: s.finalizes,
            })
            .collect(),
        transitions: m
            .transitions
            .into_iter()
            .map(|t| Transition { from: t.from, to: t.to })
            .collect(),
        initial_state: m.initial_state,
        finalizer: m.finalizer,
    }
}

fn failure(f: wit::Failure) -> Failure {
    Failure { reason: f.reason, message: f.message, retryable: f.retryable }
}

fn conditions(list: Vec<wit::Condition>) -> Vec<Condition> {
    list.into_iter()
        .map(|c| Condition {
            type_: c.type_,
            status: match c.status {
                wit::ConditionStatus::True => ConditionStatus::True,
                wit::ConditionStatus::False => ConditionStatus::False,
                wit::ConditionStatus::Unknown => ConditionStatus::Unknown,
            },
            reason: c.reason,
            message: c.message,
        })
        .collect()
}

fn status(json: Option<String>) -> Option<serde_json::Map<String, serde_json::Value>> {
    match serde_json::from_str(&json?) {
        Ok(serde_json::Value::Object(fields)) => Some(fields),
        _ => None,
    }
}

/// The host's calls, offered to the natively compiled plugin.
struct Adapter(Box<dyn HostCalls>);

fn target(t: &wit::ObjectRef) -> ObjectRef {
    ObjectRef {
        group: t.group.clone(),
        version: t.version.clone(),
        kind: t.kind.clone(),
        namespace: t.namespace.clone(),
        name: t.name.clone(),
    }
}

fn error(e: HostError) -> wit::HostError {
    match e {
        HostError::Denied(w) => wit::HostError::Denied(w),
        HostError::BudgetExhausted => wit::HostError::BudgetExhausted,
        HostError::Invalid(w) => wit::HostError::Invalid(w),
        HostError::Conflict(w) => wit::HostError::Conflict(w),
        HostError::Unavailable(w) => wit::HostError::Unavailable(w),
    }
}

impl NativeHost for Adapter {
    fn get(&mut self, t: &wit::ObjectRef) -> Result<Option<String>, wit::HostError> {
        self.0.get(&target(t)).map_err(error)
    }
    fn list(&mut self, t: &wit::ObjectRef, selector: &str) -> Result<Vec<String>, wit::HostError> {
        self.0.list(&target(t), selector).map_err(error)
    }
    fn apply(&mut self, object: &str) -> Result<String, wit::HostError> {
        self.0.apply(object).map_err(error)
    }
    fn delete(&mut self, t: &wit::ObjectRef) -> Result<bool, wit::HostError> {
        self.0.delete(&target(t)).map_err(error)
    }
    fn event(&mut self, event_type: wit::EventType, reason: &str, message: &str) {
        let event_type = match event_type {
            wit::EventType::Normal => EventType::Normal,
            wit::EventType::Warning => EventType::Warning,
        };
        self.0.event(event_type, reason, message);
    }
    fn log(&mut self, _level: wit::LogLevel, message: &str, fields: &[(String, String)]) {
        self.0.log(LogLevel::Info, message, fields);
    }
}

fn context(call: &Call) -> wit::Context {
    wit::Context {
        now: call.context.now.clone(),
        trigger: call.context.trigger.clone(),
        attempt: call.context.attempt,
        plugin_digest: call.context.plugin_digest.clone(),
    }
}

/// One reconcile on the calling thread: the plugin's code with `call`'s host, and its result
/// converted to the contract's, as the operator receives it from any handler.
pub fn reconcile_here(call: Call) -> Reconciled {
    let started = std::time::Instant::now();
    let ctx = context(&call);
    let result =
        with_host(Box::new(Adapter(call.host)), || Plugin::reconcile(call.state, call.object, ctx));
    let outcome = match result.outcome {
        wit::Outcome::Transition(to) => Outcome::Transition { to },
        wit::Outcome::Requeue(after_ms) => Outcome::Requeue { after_ms },
        wit::Outcome::Settled => Outcome::Settled,
        wit::Outcome::Fail(f) => Outcome::Fail(failure(f)),
    };
    let result = ReconcileResult {
        outcome,
        status: status(result.status),
        conditions: conditions(result.conditions),
        note: result.note,
    };
    Reconciled { result, stats: CallStats { elapsed: started.elapsed(), ..CallStats::default() } }
}

/// One clean-up on the calling thread, like [`reconcile_here`].
pub fn finalize_here(call: Call) -> Finalized {
    let ctx = context(&call);
    let result =
        with_host(Box::new(Adapter(call.host)), || Plugin::finalize(call.state, call.object, ctx));
    let outcome = match result.outcome {
        wit::FinalizeOutcome::Done => FinalizeOutcome::Done,
        wit::FinalizeOutcome::Requeue(after_ms) => FinalizeOutcome::Requeue { after_ms },
        wit::FinalizeOutcome::Fail(f) => FinalizeOutcome::Fail(failure(f)),
    };
    let result = FinalizeResult {
        outcome,
        status: status(result.status),
        conditions: conditions(result.conditions),
        note: result.note,
    };
    Finalized { result, stats: CallStats::default() }
}

impl Handler for NativeStaticSite {
    fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn digest(&self) -> &str {
        "native:static-site"
    }

    fn reconcile(&self, call: Call) -> HandlerFuture<'_, Reconciled> {
        Box::pin(async move {
            tokio::task::spawn_blocking(move || reconcile_here(call))
                .await
                .expect("the native call's thread")
        })
    }

    fn finalize(&self, call: Call) -> HandlerFuture<'_, Finalized> {
        Box::pin(async move {
            tokio::task::spawn_blocking(move || finalize_here(call))
                .await
                .expect("the native call's thread")
        })
    }
}
