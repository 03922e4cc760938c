//! What a plugin call returns, and the checks the host makes before acting on it.

use std::time::Duration;

use serde::Serialize;

use super::Manifest;

/// Why the host makes a call, and what it knows that the plugin cannot look up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Context {
    /// RFC 3339, UTC.
    pub now: String,
    pub trigger: String,
    pub attempt: u32,
    pub plugin_digest: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl ConditionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

/// A condition as a plugin returns it; the host adds the timestamps and generation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: ConditionStatus,
    pub reason: String,
    pub message: String,
}

/// A failed call, whether the plugin reported it or the sandbox stopped the plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// CamelCase, shown as the `Ready` condition's reason and the Warning Event's reason.
    pub reason: String,
    pub message: String,
    pub retryable: bool,
}

/// What happens next for a reconciled object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Outcome {
    Transition {
        to: String,
    },
    Requeue {
        #[serde(rename = "afterMs")]
        after_ms: u64,
    },
    Settled,
    Fail(Failure),
}

/// The result of a reconcile call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReconcileResult {
    pub outcome: Outcome,
    /// The plugin's own status fields; `None` keeps the ones the object has.
    pub status: Option<serde_json::Map<String, serde_json::Value>>,
    pub conditions: Vec<Condition>,
    pub note: Option<String>,
}

/// What happens next for an object being deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum FinalizeOutcome {
    Done,
    Requeue {
        #[serde(rename = "afterMs")]
        after_ms: u64,
    },
    Fail(Failure),
}

/// The result of a finalize call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FinalizeResult {
    pub outcome: FinalizeOutcome,
    pub status: Option<serde_json::Map<String, serde_json::Value>>,
    pub conditions: Vec<Condition>,
    pub note: Option<String>,
}

impl ReconcileResult {
    /// A result that only reports a failure.
    pub fn failed(failure: Failure) -> Self {
        ReconcileResult {
            outcome: Outcome::Fail(failure),
            status: None,
            conditions: Vec::new(),
            note: None,
        }
    }
}

impl FinalizeResult {
    /// A result that only reports a failure.
    pub fn failed(failure: Failure) -> Self {
        FinalizeResult {
            outcome: FinalizeOutcome::Fail(failure),
            status: None,
            conditions: Vec::new(),
            note: None,
        }
    }
}

impl Outcome {
    /// The `type` name used in JSON output and metrics.
    pub fn type_name(&self) -> &'static str {
        match self {
            Outcome::Transition { .. } => "transition",
            Outcome::Requeue { .. } => "requeue",
            Outcome::Settled => "settled",
            Outcome::Fail(_) => "fail",
        }
    }

    /// The requeue delay, if this outcome asks for one.
    pub fn requeue_after(&self) -> Option<Duration> {
        match self {
            Outcome::Requeue { after_ms } => Some(Duration::from_millis(*after_ms)),
            _ => None,
        }
    }
}

/// Fields of `status` the host writes itself; a plugin's status may not set them.
pub const HOST_STATUS_FIELDS: [&str; 4] = ["phase", "observedGeneration", "conditions", "plugin"];

/// Condition types the host owns.
pub const HOST_CONDITION_TYPES: [&str; 3] = ["Ready", "Reconciling", "Stalled"];

/// Why a plugin's result cannot be acted on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResultError {
    #[error("the plugin moved to state {0:?}, which its manifest does not declare")]
    UnknownState(String),
    #[error("the plugin moved from {from:?} to {to:?}, a transition its manifest does not allow")]
    TransitionNotAllowed { from: String, to: String },
    #[error("status field {0:?} is written by the host; rename the plugin's field")]
    ReservedStatusField(String),
    #[error("condition type {0:?} is owned by the host; use a type of the plugin's own")]
    ReservedConditionType(String),
    #[error("condition type {0:?} is not a CamelCase name")]
    InvalidConditionType(String),
    #[error("condition type {0:?} is returned more than once")]
    DuplicateCondition(String),
    #[error("the status the plugin returned is not a JSON object: {0}")]
    StatusNotObject(String),
}

impl ResultError {
    /// The CamelCase reason shown on the object.
    pub fn reason(&self) -> &'static str {
        match self {
            ResultError::UnknownState(_) => "UnknownState",
            ResultError::TransitionNotAllowed { .. } => "TransitionNotAllowed",
            ResultError::ReservedStatusField(_)
            | ResultError::ReservedConditionType(_)
            | ResultError::InvalidConditionType(_)
            | ResultError::DuplicateCondition(_)
            | ResultError::StatusNotObject(_) => "InvalidResult",
        }
    }
}

fn check_parts(
    status: Option<&serde_json::Map<String, serde_json::Value>>,
    conditions: &[Condition],
) -> Result<(), ResultError> {
    if let Some(field) =
        status.and_then(|s| HOST_STATUS_FIELDS.iter().find(|field| s.contains_key(**field)))
    {
        return Err(ResultError::ReservedStatusField((*field).to_owned()));
    }
    let mut seen = std::collections::BTreeSet::new();
    for condition in conditions {
        let name = condition.type_.as_str();
        if HOST_CONDITION_TYPES.contains(&name) {
            return Err(ResultError::ReservedConditionType(name.to_owned()));
        }
        let camel = name.starts_with(|c: char| c.is_ascii_uppercase())
            && name.len() <= 316
            && name.chars().all(|c| c.is_ascii_alphanumeric());
        if !camel {
            return Err(ResultError::InvalidConditionType(name.to_owned()));
        }
        if !seen.insert(name) {
            return Err(ResultError::DuplicateCondition(name.to_owned()));
        }
    }
    Ok(())
}

impl ReconcileResult {
    /// Checks the result against the manifest, for an object that was in state `from`.
    ///
    /// # Errors
    /// A move to an undeclared state or along a transition the manifest does not allow,
    /// a status field or condition type the host owns, or a malformed condition.
    pub fn check(&self, manifest: &Manifest, from: &str) -> Result<(), ResultError> {
        if let Outcome::Transition { to } = &self.outcome {
            if manifest.state(to).is_none() {
                return Err(ResultError::UnknownState(to.clone()));
            }
            if !manifest.allows(from, to) {
                return Err(ResultError::TransitionNotAllowed {
                    from: from.to_owned(),
                    to: to.clone(),
                });
            }
        }
        check_parts(self.status.as_ref(), &self.conditions)
    }
}

impl FinalizeResult {
    /// Checks the status fields and conditions of a finalize result.
    ///
    /// # Errors
    /// A status field or condition type the host owns, or a malformed condition.
    pub fn check(&self) -> Result<(), ResultError> {
        check_parts(self.status.as_ref(), &self.conditions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::manifest::tests::sample;

    fn moving_to(state: &str) -> ReconcileResult {
        ReconcileResult {
            outcome: Outcome::Transition { to: state.into() },
            status: None,
            conditions: vec![],
            note: None,
        }
    }

    #[test]
    fn a_declared_allowed_transition_passes() {
        assert_eq!(moving_to("Ready").check(&sample(), "Pending"), Ok(()));
    }

    #[test]
    fn a_move_to_an_undeclared_state_is_an_unknown_state() {
        let error = moving_to("Nowhere").check(&sample(), "Pending").unwrap_err();
        assert_eq!(error, ResultError::UnknownState("Nowhere".into()));
        assert_eq!(error.reason(), "UnknownState");
    }

    #[test]
    fn a_move_the_manifest_does_not_allow_is_rejected() {
        let error = moving_to("Pending").check(&sample(), "Ready").unwrap_err();
        assert_eq!(error.reason(), "TransitionNotAllowed");
    }

    #[test]
    fn a_plugin_cannot_write_the_phase_or_own_the_ready_condition() {
        let mut result = moving_to("Ready");
        result.status = Some(serde_json::json!({"phase": "Ready"}).as_object().unwrap().clone());
        assert_eq!(
            result.check(&sample(), "Pending"),
            Err(ResultError::ReservedStatusField("phase".into()))
        );
        let mut result = moving_to("Ready");
        result.conditions.push(Condition {
            type_: "Ready".into(),
            status: ConditionStatus::True,
            reason: "Done".into(),
            message: String::new(),
        });
        assert_eq!(
            result.check(&sample(), "Pending"),
            Err(ResultError::ReservedConditionType("Ready".into()))
        );
    }
}
