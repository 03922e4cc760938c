//! The calls a plugin makes into the host, as a trait any backend implements: the real
//! cluster, or the fixtures of `hotloop simulate`.

use serde::Serialize;

/// An object, or a kind within a namespace, that a host call addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectRef {
    pub group: String,
    pub version: String,
    pub kind: String,
    /// `None`: the reconciled object's namespace for namespaced kinds.
    pub namespace: Option<String>,
    pub name: String,
}

/// Why a host call did not do what was asked. Returned to the plugin, never a trap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("denied: {0}")]
    Denied(String),
    #[error("the budget of host calls for this call is spent")]
    BudgetExhausted,
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("unavailable: {0}")]
    Unavailable(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EventType {
    Normal,
    Warning,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// The host functions a plugin imports, bound to one call for one object.
///
/// Implementations are called from the thread that runs the sandboxed call, never from an
/// async task, so they may block (with their own timeouts).
pub trait HostCalls: Send {
    /// Reads one object; `Ok(None)` when it does not exist.
    fn get(&mut self, target: &ObjectRef) -> Result<Option<String>, HostError>;
    /// Lists objects of a kind in a namespace matching a label selector.
    fn list(&mut self, target: &ObjectRef, selector: &str) -> Result<Vec<String>, HostError>;
    /// Applies a child object (JSON) and returns it as stored.
    fn apply(&mut self, object: &str) -> Result<String, HostError>;
    /// Deletes a child; `Ok(false)` when it was already gone.
    fn delete(&mut self, target: &ObjectRef) -> Result<bool, HostError>;
    /// Records an Event on the reconciled object.
    fn event(&mut self, event_type: EventType, reason: &str, message: &str);
    /// Writes a log line about the reconciled object.
    fn log(&mut self, level: LogLevel, message: &str, fields: &[(String, String)]);
}
