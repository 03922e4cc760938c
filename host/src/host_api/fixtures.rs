//! An in-memory cluster for `hotloop simulate`: objects read from fixture files answer get
//! and list; apply and delete change only this memory; every call is recorded.

use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::Value;

use super::{Backend, Parent};
use crate::contract::{EventType, HostCalls, HostError, KindRef, LogLevel, ObjectRef};
use crate::controller::decide::EventNote;

/// Why fixture files could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("cannot read fixtures from {path}: {message}")]
    Read { path: String, message: String },
    #[error("fixture file {path} is not valid YAML or JSON: {message}")]
    Parse { path: String, message: String },
}

/// One host call as the plugin made it, and what came of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recorded {
    pub call: &'static str,
    pub target: String,
    pub outcome: String,
}

/// A log line a plugin wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    pub level: LogLevel,
    pub message: String,
    pub fields: Vec<(String, String)>,
}

/// Everything a simulated call did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Recording {
    pub calls: Vec<Recorded>,
    pub events: Vec<EventNote>,
    pub logs: Vec<LogLine>,
    pub applied: Vec<Value>,
    pub deleted: Vec<String>,
}

type Shared<T> = Arc<Mutex<T>>;

fn lock<T>(shared: &Shared<T>) -> std::sync::MutexGuard<'_, T> {
    shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The in-memory cluster and the record of what a call did to it.
#[derive(Debug, Clone, Default)]
pub struct Fixtures {
    objects: Shared<Vec<Value>>,
    recording: Shared<Recording>,
}

fn api_version(kind: &KindRef) -> String {
    kind.api_version()
}

fn is(object: &Value, kind: &KindRef, namespace: Option<&str>) -> bool {
    object["apiVersion"] == api_version(kind).as_str()
        && object["kind"] == kind.kind.as_str()
        && object["metadata"]["namespace"].as_str() == namespace
}

fn name_of(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or_default()
}

impl Fixtures {
    /// A cluster holding `objects`.
    pub fn new(objects: Vec<Value>) -> Self {
        Fixtures { objects: Arc::new(Mutex::new(objects)), recording: Shared::default() }
    }

    /// Reads every `.yaml`, `.yml` and `.json` file in `dir`: single objects, several YAML
    /// documents, or `kind: List`.
    ///
    /// # Errors
    /// When the directory or a file cannot be read or parsed.
    pub fn load_dir(dir: &Path) -> Result<Vec<Value>, FixtureError> {
        let read_error =
            |message: String| FixtureError::Read { path: dir.display().to_string(), message };
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .map_err(|error| read_error(error.to_string()))?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| {
                matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"))
            })
            .collect();
        paths.sort();
        let mut objects = Vec::new();
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|error| FixtureError::Read {
                path: path.display().to_string(),
                message: error.to_string(),
            })?;
            for document in serde_yaml_ng::Deserializer::from_str(&text) {
                let value: Value = serde::Deserialize::deserialize(document).map_err(|error| {
                    FixtureError::Parse {
                        path: path.display().to_string(),
                        message: error.to_string(),
                    }
                })?;
                match value {
                    Value::Null => {}
                    Value::Object(ref fields) if fields.get("kind") == Some(&"List".into()) => {
                        objects.extend(fields["items"].as_array().cloned().unwrap_or_default());
                    }
                    object => objects.push(object),
                }
            }
        }
        Ok(objects)
    }

    /// What calls so far did.
    pub fn recording(&self) -> Recording {
        lock(&self.recording).clone()
    }

    /// Host calls for `parent` that record every call and answer from this cluster, behind
    /// the capability checks of `manifest`.
    pub fn host_calls(
        &self,
        manifest: Arc<crate::contract::Manifest>,
        parent: Parent,
    ) -> Box<dyn HostCalls> {
        let checked = super::Checked::new(manifest, parent, self.clone());
        Box::new(Recorder { inner: checked, recording: self.recording.clone() })
    }
}

impl Backend for Fixtures {
    fn get(
        &mut self,
        kind: &KindRef,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>, HostError> {
        Ok(lock(&self.objects)
            .iter()
            .find(|o| is(o, kind, namespace) && name_of(o) == name)
            .cloned())
    }

    fn list(
        &mut self,
        kind: &KindRef,
        namespace: Option<&str>,
        selector: &str,
    ) -> Result<Vec<Value>, HostError> {
        let objects = lock(&self.objects);
        Ok(objects
            .iter()
            .filter(|o| {
                is(o, kind, namespace)
                    && super::selector::matches(selector, &o["metadata"]["labels"])
            })
            .cloned()
            .collect())
    }

    fn apply(&mut self, kind: &KindRef, object: Value) -> Result<Value, HostError> {
        let namespace = object["metadata"]["namespace"].as_str().map(str::to_owned);
        let mut objects = lock(&self.objects);
        objects.retain(|o| !(is(o, kind, namespace.as_deref()) && name_of(o) == name_of(&object)));
        objects.push(object.clone());
        lock(&self.recording).applied.push(object.clone());
        Ok(object)
    }

    fn delete(
        &mut self,
        kind: &KindRef,
        namespace: Option<&str>,
        name: &str,
        _uid: Option<&str>,
    ) -> Result<bool, HostError> {
        let mut objects = lock(&self.objects);
        let before = objects.len();
        objects.retain(|o| !(is(o, kind, namespace) && name_of(o) == name));
        let deleted = objects.len() < before;
        if deleted {
            let key = namespace.map_or_else(|| name.to_owned(), |ns| format!("{ns}/{name}"));
            lock(&self.recording).deleted.push(format!("{} {key}", kind.kind));
        }
        Ok(deleted)
    }

    fn event(&mut self, _parent: &Parent, event_type: EventType, reason: &str, message: &str) {
        lock(&self.recording).events.push(EventNote {
            type_: event_type,
            reason: reason.to_owned(),
            action: "Reconcile".into(),
            message: message.to_owned(),
        });
    }

    fn log(
        &mut self,
        _parent: &Parent,
        level: LogLevel,
        message: &str,
        fields: &[(String, String)],
    ) {
        lock(&self.recording).logs.push(LogLine {
            level,
            message: message.to_owned(),
            fields: fields.to_vec(),
        });
    }
}

/// Records every host call, denied or not, before passing it on.
struct Recorder<H> {
    inner: H,
    recording: Shared<Recording>,
}

fn describe(target: &ObjectRef) -> String {
    let namespace = target.namespace.as_deref().map(|ns| format!("{ns}/")).unwrap_or_default();
    format!("{} {namespace}{}", target.kind, target.name)
}

fn outcome<T>(result: &Result<T, HostError>, ok: impl FnOnce(&T) -> String) -> String {
    match result {
        Ok(value) => ok(value),
        Err(error) => format!("error: {error}"),
    }
}

impl<H: HostCalls> Recorder<H> {
    fn record(&self, call: &'static str, target: String, outcome: String) {
        lock(&self.recording).calls.push(Recorded { call, target, outcome });
    }
}

impl<H: HostCalls> HostCalls for Recorder<H> {
    fn get(&mut self, target: &ObjectRef) -> Result<Option<String>, HostError> {
        let result = self.inner.get(target);
        let found = outcome(&result, |o| if o.is_some() { "found" } else { "not found" }.into());
        self.record("get", describe(target), found);
        result
    }

    fn list(&mut self, target: &ObjectRef, selector: &str) -> Result<Vec<String>, HostError> {
        let result = self.inner.list(target, selector);
        self.record("list", describe(target), outcome(&result, |o| format!("{} objects", o.len())));
        result
    }

    fn apply(&mut self, object: &str) -> Result<String, HostError> {
        let result = self.inner.apply(object);
        let target = serde_json::from_str::<Value>(object)
            .map(|o| format!("{} {}", o["kind"].as_str().unwrap_or("?"), name_of(&o)))
            .unwrap_or_else(|_| "(not JSON)".into());
        self.record("apply", target, outcome(&result, |_| "applied".into()));
        result
    }

    fn delete(&mut self, target: &ObjectRef) -> Result<bool, HostError> {
        let result = self.inner.delete(target);
        let deleted = outcome(&result, |d| if *d { "deleted" } else { "already gone" }.into());
        self.record("delete", describe(target), deleted);
        result
    }

    fn event(&mut self, event_type: EventType, reason: &str, message: &str) {
        self.inner.event(event_type, reason, message);
        self.record("event", reason.to_owned(), "recorded".into());
    }

    fn log(&mut self, level: LogLevel, message: &str, fields: &[(String, String)]) {
        self.inner.log(level, message, fields);
        self.record("log", message.to_owned(), "written".into());
    }
}
