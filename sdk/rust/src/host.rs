//! Calls into the host: read cached objects, apply and delete children, Events and logs.
//!
//! Every call is checked by the host against the plugin's manifest: reading needs the kind
//! among the reconciled, owned or read kinds; apply and delete need it among the owned kinds.
//! Each call counts against the per-call budget of host calls.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Kind;
#[cfg(target_arch = "wasm32")]
use crate::bindings::hotloop::plugin::host as imports;
use crate::bindings::hotloop::plugin::types as wit;
#[cfg(not(target_arch = "wasm32"))]
use crate::native as imports;

/// Why a host call did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// The manifest does not allow this call; nothing reached the API server.
    Denied(String),
    /// This call's budget of host calls is spent.
    BudgetExhausted,
    /// The request was malformed.
    Invalid(String),
    /// Someone else changed the object first.
    Conflict(String),
    /// The API server or cache could not answer; trying again later may help.
    Unavailable(String),
}

impl HostError {
    /// The CamelCase reason a failure built from this error carries.
    pub fn reason(&self) -> &'static str {
        match self {
            HostError::Denied(_) => "HostCallDenied",
            HostError::BudgetExhausted => "HostCallBudgetExhausted",
            HostError::Invalid(_) => "InvalidHostCall",
            HostError::Conflict(_) => "Conflict",
            HostError::Unavailable(_) => "HostUnavailable",
        }
    }
}

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostError::Denied(why) => write!(f, "host call denied: {why}"),
            HostError::BudgetExhausted => f.write_str("host call budget of this call is spent"),
            HostError::Invalid(why) => write!(f, "invalid host call: {why}"),
            HostError::Conflict(why) => write!(f, "conflict: {why}"),
            HostError::Unavailable(why) => write!(f, "host unavailable: {why}"),
        }
    }
}

impl std::error::Error for HostError {}

impl From<wit::HostError> for HostError {
    fn from(error: wit::HostError) -> Self {
        match error {
            wit::HostError::Denied(why) => HostError::Denied(why),
            wit::HostError::BudgetExhausted => HostError::BudgetExhausted,
            wit::HostError::Invalid(why) => HostError::Invalid(why),
            wit::HostError::Conflict(why) => HostError::Conflict(why),
            wit::HostError::Unavailable(why) => HostError::Unavailable(why),
        }
    }
}

fn target(kind: &Kind, namespace: Option<&str>, name: &str) -> wit::ObjectRef {
    wit::ObjectRef {
        group: kind.group.to_owned(),
        version: kind.version.to_owned(),
        kind: kind.kind.to_owned(),
        namespace: namespace.map(str::to_owned),
        name: name.to_owned(),
    }
}

fn parse<T: DeserializeOwned>(json: &str) -> Result<T, HostError> {
    serde_json::from_str(json).map_err(|error| HostError::Invalid(error.to_string()))
}

/// Reads one object from the host's cache. `namespace: None` means the reconciled object's
/// namespace for namespaced kinds.
pub fn get<T: DeserializeOwned>(
    kind: &Kind,
    namespace: Option<&str>,
    name: &str,
) -> Result<Option<T>, HostError> {
    match imports::get(&target(kind, namespace, name))? {
        Some(json) => parse(&json).map(Some),
        None => Ok(None),
    }
}

/// Lists objects from the host's cache; `selector` is a label selector such as `app=web`,
/// empty for all.
pub fn list<T: DeserializeOwned>(
    kind: &Kind,
    namespace: Option<&str>,
    selector: &str,
) -> Result<Vec<T>, HostError> {
    imports::list(&target(kind, namespace, ""), selector)?.iter().map(|json| parse(json)).collect()
}

/// Creates or updates a child by server-side apply. The object needs `apiVersion`, `kind` and
/// `metadata.name`; the host sets its namespace, owner reference and field manager. Returns
/// the object as stored.
pub fn apply<T: Serialize>(object: &T) -> Result<serde_json::Value, HostError> {
    let json =
        serde_json::to_string(object).map_err(|error| HostError::Invalid(error.to_string()))?;
    parse(&imports::apply(&json)?)
}

/// Deletes a child. `Ok(false)` when it was already gone.
pub fn delete(kind: &Kind, namespace: Option<&str>, name: &str) -> Result<bool, HostError> {
    Ok(imports::delete(&target(kind, namespace, name))?)
}

/// The type of an Event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

/// Records a Kubernetes Event on the reconciled object.
pub fn event(event_type: EventType, reason: &str, message: &str) {
    let event_type = match event_type {
        EventType::Normal => wit::EventType::Normal,
        EventType::Warning => wit::EventType::Warning,
    };
    imports::event(event_type, reason, message);
}

fn log(level: wit::LogLevel, message: &str, fields: &[(&str, &str)]) {
    let fields: Vec<(String, String)> =
        fields.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect();
    imports::log(level, message, &fields);
}

/// Logs at debug level; the host adds the object, state and plugin.
pub fn debug(message: &str, fields: &[(&str, &str)]) {
    log(wit::LogLevel::Debug, message, fields);
}

/// Logs at info level; the host adds the object, state and plugin.
pub fn info(message: &str, fields: &[(&str, &str)]) {
    log(wit::LogLevel::Info, message, fields);
}

/// Logs at warn level; the host adds the object, state and plugin.
pub fn warn(message: &str, fields: &[(&str, &str)]) {
    log(wit::LogLevel::Warn, message, fields);
}

/// Logs at error level; the host adds the object, state and plugin.
pub fn error(message: &str, fields: &[(&str, &str)]) {
    log(wit::LogLevel::Error, message, fields);
}
