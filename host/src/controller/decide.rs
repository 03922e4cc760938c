//! What the host does with a handler's result: the status to write, the Events to record and
//! when to look at the object again.
//!
//! One place for these decisions, used by the operator and by `hotloop simulate` alike, so
//! that a simulation shows exactly what the operator would write.

use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::contract::{
    Condition, ConditionStatus, EventType, Failure, FinalizeOutcome, FinalizeResult, Manifest,
    Outcome, ReconcileResult, StateKind,
};

/// The plugin version that writes a status, shown as `status.plugin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginIdentity {
    pub name: String,
    pub version: String,
    pub digest: String,
}

/// When to look at an object again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Requeue {
    /// At once: the object moved to another state.
    Now,
    /// After the delay the plugin asked for.
    After {
        #[serde(rename = "afterMs", serialize_with = "millis")]
        after: Duration,
    },
    /// On the next change of the object or its children.
    OnChange,
    /// After the object's exponential backoff delay.
    Backoff,
}

fn millis<S: serde::Serializer>(after: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u128(after.as_millis())
}

/// An Event the host records on the object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventNote {
    #[serde(rename = "type")]
    pub type_: EventType,
    pub reason: String,
    /// What was done, machine-readable. Repeats of one reason and action on one object are
    /// counted in a single Event; a state change names its two states here, so that each
    /// kind of move is an Event of its own.
    pub action: String,
    pub message: String,
}

/// What follows a reconcile call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// The object's state after the call.
    pub state: String,
    /// The complete `status` to write.
    pub status: Value,
    pub events: Vec<EventNote>,
    pub requeue: Requeue,
    pub failure: Option<Failure>,
}

/// What follows a finalize call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FinalizeDecision {
    /// Whether the host's finalizer comes off the object.
    pub release_finalizer: bool,
    /// The complete `status` to write while the finalizer stays.
    pub status: Value,
    pub events: Vec<EventNote>,
    pub requeue: Requeue,
    pub failure: Option<Failure>,
}

/// The inputs every decision shares.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The object's current `status`, if any.
    pub status: Option<&'a Value>,
    pub generation: i64,
    pub manifest: &'a Manifest,
    pub plugin: &'a PluginIdentity,
    /// RFC 3339 time of the decision, for condition timestamps.
    pub now: &'a str,
}

/// The state an object is in: its `status.phase`, or the plugin's initial state.
pub fn current_state<'a>(status: Option<&'a Value>, manifest: &'a Manifest) -> &'a str {
    status
        .and_then(|status| status.get("phase"))
        .and_then(Value::as_str)
        .filter(|phase| !phase.is_empty())
        .unwrap_or(&manifest.initial_state)
}

/// Decides what follows a reconcile of an object that was in state `from`.
pub fn after_reconcile(inputs: Inputs<'_>, from: &str, result: &ReconcileResult) -> Decision {
    let failure = match &result.outcome {
        Outcome::Fail(failure) => Some(failure.clone()),
        _ => None,
    };
    let (state, requeue) = match &result.outcome {
        Outcome::Transition { to } if to != from => (to.clone(), Requeue::Now),
        Outcome::Transition { .. } | Outcome::Settled => (from.to_owned(), Requeue::OnChange),
        Outcome::Requeue { after_ms } => {
            (from.to_owned(), Requeue::After { after: Duration::from_millis(*after_ms) })
        }
        Outcome::Fail(failure) if failure.retryable => (from.to_owned(), Requeue::Backoff),
        Outcome::Fail(_) => (from.to_owned(), Requeue::OnChange),
    };
    let kind = inputs.manifest.state(&state).map_or(StateKind::InProgress, |s| s.kind);
    let host_conditions = host_conditions(&state, kind, failure.as_ref(), result.note.as_deref());
    // A failed call keeps the plugin's fields and conditions as they were.
    let (fields, plugin_conditions) = match failure {
        Some(_) => (None, &[][..]),
        None => (result.status.as_ref(), &result.conditions[..]),
    };
    let status = build_status(inputs, &state, fields, &host_conditions, plugin_conditions);
    let mut events = Vec::new();
    if state != from {
        events.push(EventNote {
            type_: EventType::Normal,
            reason: "StateChanged".into(),
            action: format!("{from}->{state}"),
            message: with_note(format!("{from} -> {state}"), result.note.as_deref()),
        });
    } else if let Some(failure) = &failure {
        events.push(warning(failure));
    } else if let Some(note) = &result.note {
        events.push(EventNote {
            type_: EventType::Normal,
            reason: "Reconciled".into(),
            action: "Reconcile".into(),
            message: format!("{state}: {note}"),
        });
    }
    Decision { state, status, events, requeue, failure }
}

/// Decides what follows the clean-up of an object being deleted in state `state`.
pub fn after_finalize(
    inputs: Inputs<'_>,
    state: &str,
    result: &FinalizeResult,
) -> FinalizeDecision {
    let (release, requeue, failure) = match &result.outcome {
        FinalizeOutcome::Done => (true, Requeue::OnChange, None),
        FinalizeOutcome::Requeue { after_ms } => {
            (false, Requeue::After { after: Duration::from_millis(*after_ms) }, None)
        }
        // Clean-up is retried even when the plugin calls it permanent: releasing the object
        // without it could leak what the finalizer protects.
        FinalizeOutcome::Fail(failure) => (false, Requeue::Backoff, Some(failure.clone())),
    };
    let reason = match &failure {
        Some(failure) => failure.reason.clone(),
        None => "Finalizing".into(),
    };
    let message = match &failure {
        Some(failure) => failure.message.clone(),
        None => with_note(format!("cleaning up state {state}"), result.note.as_deref()),
    };
    let host_conditions = [
        host_condition("Ready", ConditionStatus::False, &reason, &message),
        host_condition("Reconciling", ConditionStatus::True, "Finalizing", &message),
        host_condition(
            "Stalled",
            if failure.is_some() { ConditionStatus::True } else { ConditionStatus::False },
            &reason,
            &message,
        ),
    ];
    let (fields, plugin_conditions) = match failure {
        Some(_) => (None, &[][..]),
        None => (result.status.as_ref(), &result.conditions[..]),
    };
    let status = build_status(inputs, state, fields, &host_conditions, plugin_conditions);
    let events = match (&failure, release) {
        (Some(failure), _) => vec![warning(failure)],
        (None, true) => vec![EventNote {
            type_: EventType::Normal,
            reason: "Finalized".into(),
            action: "Finalize".into(),
            message: with_note(
                format!("clean-up of state {state} is done"),
                result.note.as_deref(),
            ),
        }],
        (None, false) => Vec::new(),
    };
    FinalizeDecision { release_finalizer: release, status, events, requeue, failure }
}

/// Decides what happens to an object whose `status.phase` names a state the plugin does not
/// have: it is left in place, and told so, until a person or a new plugin version fixes it.
pub fn unknown_state(inputs: Inputs<'_>, phase: &str) -> Decision {
    let declared: Vec<&str> = inputs.manifest.states.iter().map(|s| s.name.as_str()).collect();
    let failure = Failure {
        reason: "UnknownState".into(),
        message: format!(
            "status.phase {phase:?} is not a state of plugin {} {}; it has {}. Set status.phase \
             to one of them, or delete the object",
            inputs.manifest.name,
            inputs.manifest.version,
            declared.join(", ")
        ),
        retryable: false,
    };
    let host_conditions = host_conditions(phase, StateKind::SettledFailed, Some(&failure), None);
    let status = build_status(inputs, phase, None, &host_conditions, &[]);
    Decision {
        state: phase.to_owned(),
        status,
        events: vec![warning(&failure)],
        requeue: Requeue::OnChange,
        failure: Some(failure),
    }
}

fn warning(failure: &Failure) -> EventNote {
    EventNote {
        type_: EventType::Warning,
        reason: failure.reason.clone(),
        action: "Reconcile".into(),
        message: failure.message.clone(),
    }
}

fn with_note(message: String, note: Option<&str>) -> String {
    match note {
        Some(note) if !note.is_empty() => format!("{message}: {note}"),
        _ => message,
    }
}

fn host_condition(type_: &str, status: ConditionStatus, reason: &str, message: &str) -> Condition {
    Condition { type_: type_.into(), status, reason: reason.into(), message: message.into() }
}

/// `Ready`, `Reconciling` and `Stalled`, from the state's kind and the call's failure.
fn host_conditions(
    state: &str,
    kind: StateKind,
    failure: Option<&Failure>,
    note: Option<&str>,
) -> [Condition; 3] {
    use ConditionStatus::{False, True};
    if let Some(failure) = failure {
        let reconciling = if failure.retryable { True } else { False };
        return [
            host_condition("Ready", False, &failure.reason, &failure.message),
            host_condition("Reconciling", reconciling, "Retrying", &failure.message),
            host_condition("Stalled", True, &failure.reason, &failure.message),
        ];
    }
    match kind {
        StateKind::InProgress => {
            let message = with_note(format!("state {state} is in progress"), note);
            [
                host_condition("Ready", False, "InProgress", &message),
                host_condition("Reconciling", True, "InProgress", &message),
                host_condition("Stalled", False, "InProgress", &message),
            ]
        }
        StateKind::SettledReady => {
            let message = with_note(format!("settled in state {state}"), note);
            [
                host_condition("Ready", True, "Settled", &message),
                host_condition("Reconciling", False, "Settled", &message),
                host_condition("Stalled", False, "Settled", &message),
            ]
        }
        StateKind::SettledFailed => {
            let message = with_note(format!("settled in failed state {state}"), note);
            [
                host_condition("Ready", False, "SettledFailed", &message),
                host_condition("Reconciling", False, "SettledFailed", &message),
                host_condition("Stalled", True, "SettledFailed", &message),
            ]
        }
    }
}

/// The whole status: the plugin's fields, then the host's, with conditions merged so that
/// `lastTransitionTime` moves only when a condition's status changes.
fn build_status(
    inputs: Inputs<'_>,
    state: &str,
    fields: Option<&Map<String, Value>>,
    host_conditions: &[Condition],
    plugin_conditions: &[Condition],
) -> Value {
    let previous = inputs.status.and_then(Value::as_object);
    let mut status = match fields {
        Some(fields) => fields.clone(),
        None => previous.cloned().unwrap_or_default(),
    };
    let previous_conditions: Vec<Value> = previous
        .and_then(|p| p.get("conditions"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut conditions = previous_conditions.clone();
    for condition in host_conditions.iter().chain(plugin_conditions) {
        let written = condition_value(condition, &previous_conditions, inputs);
        match conditions.iter_mut().find(|c| c["type"] == condition.type_.as_str()) {
            Some(slot) => *slot = written,
            None => conditions.push(written),
        }
    }
    status.insert("phase".into(), json!(state));
    status.insert("observedGeneration".into(), json!(inputs.generation));
    status.insert("conditions".into(), Value::Array(conditions));
    status.insert("plugin".into(), json!(inputs.plugin));
    Value::Object(status)
}

fn condition_value(condition: &Condition, previous: &[Value], inputs: Inputs<'_>) -> Value {
    let status = condition.status.as_str();
    let since = previous
        .iter()
        .find(|c| c["type"] == condition.type_.as_str() && c["status"] == status)
        .and_then(|c| c["lastTransitionTime"].as_str())
        .unwrap_or(inputs.now);
    json!({
        "type": condition.type_,
        "status": status,
        "reason": condition.reason,
        "message": condition.message,
        "lastTransitionTime": since,
        "observedGeneration": inputs.generation,
    })
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
