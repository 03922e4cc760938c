//! Conversions between the generated bindings and the contract's plain values.

use super::bindings::wit;
use crate::contract::{
    Condition, ConditionStatus, Context, EventType, Failure, FinalizeOutcome, FinalizeResult,
    HostError, KindRef, LogLevel, Manifest, ObjectRef, Outcome, ReconcileResult, ResultError,
    StateDecl, StateKind, Transition,
};

fn kind_ref(kind: wit::KindRef) -> KindRef {
    KindRef {
        group: kind.group,
        version: kind.version,
        kind: kind.kind,
        plural: kind.plural,
        namespaced: kind.namespaced,
    }
}

pub(super) fn manifest(manifest: wit::Manifest) -> Manifest {
    Manifest {
        name: manifest.name,
        version: manifest.version,
        reconciles: kind_ref(manifest.reconciles),
        owns: manifest.owns.into_iter().map(kind_ref).collect(),
        reads: manifest.reads.into_iter().map(kind_ref).collect(),
        states: manifest
            .states
            .into_iter()
            .map(|state| StateDecl {
                name: state.name,
                kind: match state.kind {
                    wit::StateKind::InProgress => StateKind::InProgress,
                    wit::StateKind::SettledReady => StateKind::SettledReady,
                    wit::StateKind::SettledFailed => StateKind::SettledFailed,
                },
                finalizes: state.finalizes,
            })
            .collect(),
        transitions: manifest
            .transitions
            .into_iter()
            .map(|t| Transition { from: t.from, to: t.to })
            .collect(),
        initial_state: manifest.initial_state,
        finalizer: manifest.finalizer,
    }
}

pub(super) fn context(context: &Context) -> wit::Context {
    wit::Context {
        now: context.now.clone(),
        trigger: context.trigger.clone(),
        attempt: context.attempt,
        plugin_digest: context.plugin_digest.clone(),
    }
}

fn failure(failure: wit::Failure) -> Failure {
    Failure { reason: failure.reason, message: failure.message, retryable: failure.retryable }
}

fn conditions(conditions: Vec<wit::Condition>) -> Vec<Condition> {
    conditions
        .into_iter()
        .map(|condition| Condition {
            type_: condition.type_,
            status: match condition.status {
                wit::ConditionStatus::True => ConditionStatus::True,
                wit::ConditionStatus::False => ConditionStatus::False,
                wit::ConditionStatus::Unknown => ConditionStatus::Unknown,
            },
            reason: condition.reason,
            message: condition.message,
        })
        .collect()
}

type StatusFields = Option<serde_json::Map<String, serde_json::Value>>;

fn status(status: Option<String>) -> Result<StatusFields, ResultError> {
    let Some(json) = status else { return Ok(None) };
    match serde_json::from_str::<serde_json::Value>(&json) {
        Ok(serde_json::Value::Object(fields)) => Ok(Some(fields)),
        Ok(other) => Err(ResultError::StatusNotObject(format!("got {}", json_type(&other)))),
        Err(error) => Err(ResultError::StatusNotObject(error.to_string())),
    }
}

fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Bytes of plugin-provided text in a result, for the output limit.
fn output_size(
    status: &Option<String>,
    conditions: &[wit::Condition],
    note: &Option<String>,
) -> usize {
    let conditions: usize =
        conditions.iter().map(|c| c.type_.len() + c.reason.len() + c.message.len()).sum();
    status.as_ref().map_or(0, String::len) + note.as_ref().map_or(0, String::len) + conditions
}

pub(super) fn reconcile_output_size(result: &wit::ReconcileResult) -> usize {
    let outcome = match &result.outcome {
        wit::Outcome::Transition(state) => state.len(),
        wit::Outcome::Fail(f) => f.reason.len() + f.message.len(),
        wit::Outcome::Requeue(_) | wit::Outcome::Settled => 0,
    };
    outcome + output_size(&result.status, &result.conditions, &result.note)
}

pub(super) fn finalize_output_size(result: &wit::FinalizeResult) -> usize {
    let outcome = match &result.outcome {
        wit::FinalizeOutcome::Fail(f) => f.reason.len() + f.message.len(),
        wit::FinalizeOutcome::Done | wit::FinalizeOutcome::Requeue(_) => 0,
    };
    outcome + output_size(&result.status, &result.conditions, &result.note)
}

pub(super) fn reconcile_result(
    result: wit::ReconcileResult,
) -> Result<ReconcileResult, ResultError> {
    Ok(ReconcileResult {
        outcome: match result.outcome {
            wit::Outcome::Transition(to) => Outcome::Transition { to },
            wit::Outcome::Requeue(after_ms) => Outcome::Requeue { after_ms },
            wit::Outcome::Settled => Outcome::Settled,
            wit::Outcome::Fail(f) => Outcome::Fail(failure(f)),
        },
        status: status(result.status)?,
        conditions: conditions(result.conditions),
        note: result.note,
    })
}

pub(super) fn finalize_result(result: wit::FinalizeResult) -> Result<FinalizeResult, ResultError> {
    Ok(FinalizeResult {
        outcome: match result.outcome {
            wit::FinalizeOutcome::Done => FinalizeOutcome::Done,
            wit::FinalizeOutcome::Requeue(after_ms) => FinalizeOutcome::Requeue { after_ms },
            wit::FinalizeOutcome::Fail(f) => FinalizeOutcome::Fail(failure(f)),
        },
        status: status(result.status)?,
        conditions: conditions(result.conditions),
        note: result.note,
    })
}

pub(super) fn object_ref(target: wit::ObjectRef) -> ObjectRef {
    ObjectRef {
        group: target.group,
        version: target.version,
        kind: target.kind,
        namespace: target.namespace,
        name: target.name,
    }
}

pub(super) fn host_error(error: HostError) -> wit::HostError {
    match error {
        HostError::Denied(why) => wit::HostError::Denied(why),
        HostError::BudgetExhausted => wit::HostError::BudgetExhausted,
        HostError::Invalid(why) => wit::HostError::Invalid(why),
        HostError::Conflict(why) => wit::HostError::Conflict(why),
        HostError::Unavailable(why) => wit::HostError::Unavailable(why),
    }
}

pub(super) fn event_type(event_type: wit::EventType) -> EventType {
    match event_type {
        wit::EventType::Normal => EventType::Normal,
        wit::EventType::Warning => EventType::Warning,
    }
}

pub(super) fn log_level(level: wit::LogLevel) -> LogLevel {
    match level {
        wit::LogLevel::Trace => LogLevel::Trace,
        wit::LogLevel::Debug => LogLevel::Debug,
        wit::LogLevel::Info => LogLevel::Info,
        wit::LogLevel::Warn => LogLevel::Warn,
        wit::LogLevel::Error => LogLevel::Error,
    }
}
