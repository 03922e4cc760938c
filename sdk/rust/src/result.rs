//! What a handler returns: the next step, the plugin's status fields and conditions.

use std::time::Duration;

use crate::host::HostError;

/// A handler's return type: `Err` fails the state's work, so `?` works on host calls and on
/// anything that converts into a [`Failure`].
pub type Outcome<T> = Result<T, Failure>;

/// The state's work failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// CamelCase reason, shown on the `Ready` condition and the Warning Event.
    pub reason: String,
    pub message: String,
    /// Whether trying again later may help; retryable failures back off exponentially.
    pub retryable: bool,
}

impl Failure {
    /// A failure that waits for the object to change before it is tried again.
    pub fn permanent(reason: impl Into<String>, message: impl Into<String>) -> Self {
        Failure { reason: reason.into(), message: message.into(), retryable: false }
    }

    /// A failure the host retries with exponential backoff.
    pub fn retryable(reason: impl Into<String>, message: impl Into<String>) -> Self {
        Failure { reason: reason.into(), message: message.into(), retryable: true }
    }
}

impl From<HostError> for Failure {
    fn from(error: HostError) -> Self {
        let retryable = matches!(error, HostError::Conflict(_) | HostError::Unavailable(_));
        Failure { reason: error.reason().to_owned(), message: error.to_string(), retryable }
    }
}

impl From<serde_json::Error> for Failure {
    fn from(error: serde_json::Error) -> Self {
        Failure::permanent("InvalidData", error.to_string())
    }
}

/// Status of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

/// A condition owned by the plugin. The host fills in `lastTransitionTime` and
/// `observedGeneration`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub type_: String,
    pub status: ConditionStatus,
    pub reason: String,
    pub message: String,
}

impl Condition {
    /// A condition of `type_` with the given status.
    pub fn new(type_: impl Into<String>, status: ConditionStatus) -> Self {
        Condition { type_: type_.into(), status, reason: String::new(), message: String::new() }
    }

    /// A `True` condition with its reason and message.
    pub fn is_true(type_: &str, reason: &str, message: impl Into<String>) -> Self {
        Condition::new(type_, ConditionStatus::True).because(reason, message)
    }

    /// A `False` condition with its reason and message.
    pub fn is_false(type_: &str, reason: &str, message: impl Into<String>) -> Self {
        Condition::new(type_, ConditionStatus::False).because(reason, message)
    }

    /// Sets the reason (CamelCase) and message.
    pub fn because(mut self, reason: &str, message: impl Into<String>) -> Self {
        self.reason = reason.to_owned();
        self.message = message.into();
        self
    }
}

/// What comes next for a reconciled object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Transition(String),
    Requeue(Duration),
    Settled,
}

/// The result of a state handler.
#[derive(Debug, Clone, PartialEq)]
pub struct Reconcile<S> {
    pub next: Next,
    /// New plugin status fields; `None` keeps the ones the object has.
    pub status: Option<S>,
    pub conditions: Vec<Condition>,
    /// A sentence added to the Event the host emits for this result.
    pub note: Option<String>,
}

impl<S> Reconcile<S> {
    fn with_next(next: Next) -> Self {
        Reconcile { next, status: None, conditions: Vec::new(), note: None }
    }

    /// Move to `state`; its handler runs at once.
    pub fn transition(state: &str) -> Self {
        Self::with_next(Next::Transition(state.to_owned()))
    }

    /// Stay in this state and look again after `after`.
    pub fn requeue(after: Duration) -> Self {
        Self::with_next(Next::Requeue(after))
    }

    /// Stay and wait for the next change of the object or its children.
    pub fn settled() -> Self {
        Self::with_next(Next::Settled)
    }

    /// Writes these plugin status fields.
    pub fn status(mut self, status: S) -> Self {
        self.status = Some(status);
        self
    }

    /// Adds a plugin condition.
    pub fn condition(mut self, condition: Condition) -> Self {
        self.conditions.push(condition);
        self
    }

    /// Adds a sentence to the Event for this result.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// What comes next for an object being deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinalizeNext {
    Done,
    Requeue(Duration),
}

/// The result of a clean-up handler.
#[derive(Debug, Clone, PartialEq)]
pub struct Finalize<S> {
    pub next: FinalizeNext,
    pub status: Option<S>,
    pub conditions: Vec<Condition>,
    pub note: Option<String>,
}

impl<S> Finalize<S> {
    /// Clean-up is complete; the host releases its finalizer.
    pub fn done() -> Self {
        Finalize { next: FinalizeNext::Done, status: None, conditions: Vec::new(), note: None }
    }

    /// Clean-up is under way; call again after `after`.
    pub fn requeue(after: Duration) -> Self {
        Finalize {
            next: FinalizeNext::Requeue(after),
            status: None,
            conditions: Vec::new(),
            note: None,
        }
    }

    /// Writes these plugin status fields.
    pub fn status(mut self, status: S) -> Self {
        self.status = Some(status);
        self
    }

    /// Adds a plugin condition.
    pub fn condition(mut self, condition: Condition) -> Self {
        self.conditions.push(condition);
        self
    }

    /// Adds a sentence to the Event for this result.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_errors_that_may_pass_become_retryable_failures() {
        let conflict: Failure = HostError::Conflict("changed".into()).into();
        let denied: Failure = HostError::Denied("Secret is not declared".into()).into();
        assert!(conflict.retryable);
        assert_eq!(conflict.reason, "Conflict");
        assert!(!denied.retryable);
        assert_eq!(denied.reason, "HostCallDenied");
    }

    #[test]
    fn builders_keep_every_part_of_the_result() {
        let result: Reconcile<u8> = Reconcile::transition("Ready")
            .status(7)
            .condition(Condition::is_true("Published", "Applied", "config map written"))
            .note("all set");
        assert_eq!(result.next, Next::Transition("Ready".into()));
        assert_eq!(result.status, Some(7));
        assert_eq!(result.conditions[0].status, ConditionStatus::True);
        assert_eq!(result.note.as_deref(), Some("all set"));
    }
}
