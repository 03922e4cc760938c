//! The capability rules of host calls, enforced in front of any backend.
//!
//! | call | allowed for | scope |
//! |---|---|---|
//! | get, list | the reconciled kind, owned kinds and read kinds | any namespace (default: the object's) |
//! | apply | owned kinds | the object's namespace; the host sets the owner reference and the `hotloop.dev/plugin` label |
//! | delete | owned kinds | the object's namespace; only children this object controls |
//! | event, log | always | the reconciled object |

use std::sync::Arc;

use serde_json::Value;

use super::Parent;
use crate::contract::{EventType, HostCalls, HostError, KindRef, LogLevel, Manifest, ObjectRef};

/// The label every child carries: the name of the plugin that applied it. The operator
/// watches owned kinds through it, so its cache holds only the plugins' children.
pub const CHILD_LABEL: &str = "hotloop.dev/plugin";

/// What a backend does once a call has passed the capability checks. Kinds arrive resolved
/// to their declaration; namespaces are settled.
pub trait Backend: Send {
    fn get(
        &mut self,
        kind: &KindRef,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>, HostError>;
    fn list(
        &mut self,
        kind: &KindRef,
        namespace: Option<&str>,
        selector: &str,
    ) -> Result<Vec<Value>, HostError>;
    /// Reads an object past the cache, for what the cache may not hold yet (a child applied
    /// a moment ago). A backend without a cache answers as [`Backend::get`] does.
    fn get_fresh(
        &mut self,
        kind: &KindRef,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>, HostError> {
        self.get(kind, namespace, name)
    }
    /// Applies `object`, which already carries its namespace and owner reference.
    fn apply(&mut self, kind: &KindRef, object: Value) -> Result<Value, HostError>;
    /// Deletes the object, if it is still the one with `uid`.
    fn delete(
        &mut self,
        kind: &KindRef,
        namespace: Option<&str>,
        name: &str,
        uid: Option<&str>,
    ) -> Result<bool, HostError>;
    fn event(&mut self, parent: &Parent, event_type: EventType, reason: &str, message: &str);
    fn log(&mut self, parent: &Parent, level: LogLevel, message: &str, fields: &[(String, String)]);
}

/// Host calls for one object, checked against the plugin's manifest.
pub struct Checked<B> {
    manifest: Arc<Manifest>,
    parent: Parent,
    backend: B,
}

impl<B> std::fmt::Debug for Checked<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checked")
            .field("plugin", &self.manifest.name)
            .field("parent", &self.parent)
            .finish_non_exhaustive()
    }
}

impl<B: Backend> Checked<B> {
    pub fn new(manifest: Arc<Manifest>, parent: Parent, backend: B) -> Self {
        Checked { manifest, parent, backend }
    }

    /// The backend the calls went to.
    pub fn into_backend(self) -> B {
        self.backend
    }

    /// The declared kind a call names, for reading or for owning.
    fn kind(
        &self,
        group: &str,
        version: &str,
        kind: &str,
        owning: bool,
    ) -> Result<KindRef, HostError> {
        let found = if owning {
            self.manifest.owned(group, version, kind)
        } else {
            self.manifest.declared(group, version, kind)
        };
        let what = if owning { "owns" } else { "reconciles, owns or reads" };
        found.cloned().ok_or_else(|| {
            let api_version =
                if group.is_empty() { version.to_owned() } else { format!("{group}/{version}") };
            HostError::Denied(format!(
                "plugin {} does not declare {kind}.{api_version} among the kinds it {what}",
                self.manifest.name
            ))
        })
    }

    /// The namespace a call addresses: the object's by default, none for cluster-scoped kinds.
    fn namespace(&self, kind: &KindRef, asked: Option<&str>) -> Result<Option<String>, HostError> {
        match (kind.namespaced, asked) {
            (false, None) => Ok(None),
            (false, Some(namespace)) => Err(HostError::Invalid(format!(
                "{} is cluster-scoped but namespace {namespace:?} was given",
                kind.kind
            ))),
            (true, Some(namespace)) => Ok(Some(namespace.to_owned())),
            (true, None) => self.parent.namespace.clone().map(Some).ok_or_else(|| {
                HostError::Invalid(format!(
                    "{} is namespaced and the reconciled object has no namespace: name one",
                    kind.kind
                ))
            }),
        }
    }

    /// The namespace children must live in.
    fn child_namespace(
        &self,
        kind: &KindRef,
        asked: Option<&str>,
    ) -> Result<Option<String>, HostError> {
        let namespace = self.namespace(kind, asked)?;
        if namespace.is_some() && namespace != self.parent.namespace {
            return Err(HostError::Denied(format!(
                "children live in the reconciled object's namespace {:?}, not {:?}",
                self.parent.namespace.as_deref().unwrap_or(""),
                namespace.as_deref().unwrap_or("")
            )));
        }
        if namespace.is_none() && self.parent.namespace.is_some() {
            return Err(HostError::Denied(format!(
                "a namespaced object cannot own cluster-scoped {}",
                kind.kind
            )));
        }
        Ok(namespace)
    }

    fn prepare_child(&self, json: &str) -> Result<(KindRef, Value), HostError> {
        let mut object: Value = serde_json::from_str(json)
            .map_err(|error| HostError::Invalid(format!("the object is not JSON: {error}")))?;
        let text = |value: &Value, field: &str| {
            value
                .as_str()
                .map(str::to_owned)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| HostError::Invalid(format!("the object has no {field}")))
        };
        let api_version = text(&object["apiVersion"], "apiVersion")?;
        let kind_name = text(&object["kind"], "kind")?;
        text(&object["metadata"]["name"], "metadata.name")?;
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", &api_version));
        let kind = self.kind(group, version, &kind_name, true)?;
        let asked = object["metadata"]["namespace"].as_str().map(str::to_owned);
        let namespace = self.child_namespace(&kind, asked.as_deref())?;
        let metadata = object["metadata"]
            .as_object_mut()
            .ok_or_else(|| HostError::Invalid("metadata is not an object".into()))?;
        if let Some(namespace) = namespace {
            metadata.insert("namespace".into(), Value::String(namespace));
        }
        let labels = metadata.entry("labels").or_insert_with(|| Value::Object(Default::default()));
        let Some(labels) = labels.as_object_mut() else {
            return Err(HostError::Invalid("metadata.labels is not an object".into()));
        };
        labels.insert(CHILD_LABEL.into(), Value::String(self.manifest.name.clone()));
        let mut owners: Vec<Value> = metadata
            .get("ownerReferences")
            .and_then(Value::as_array)
            .map(|owners| owners.iter().filter(|o| o["controller"] != true).cloned().collect())
            .unwrap_or_default();
        owners.push(self.parent.owner_reference());
        metadata.insert("ownerReferences".into(), Value::Array(owners));
        Ok((kind, object))
    }
}

fn to_json(value: &Value) -> String {
    value.to_string()
}

impl<B: Backend> Checked<B> {
    fn checked_get(&mut self, target: &ObjectRef) -> Result<Option<String>, HostError> {
        let kind = self.kind(&target.group, &target.version, &target.kind, false)?;
        let namespace = self.namespace(&kind, target.namespace.as_deref())?;
        Ok(self.backend.get(&kind, namespace.as_deref(), &target.name)?.as_ref().map(to_json))
    }

    fn checked_list(
        &mut self,
        target: &ObjectRef,
        selector: &str,
    ) -> Result<Vec<String>, HostError> {
        let kind = self.kind(&target.group, &target.version, &target.kind, false)?;
        let namespace = self.namespace(&kind, target.namespace.as_deref())?;
        Ok(self.backend.list(&kind, namespace.as_deref(), selector)?.iter().map(to_json).collect())
    }

    fn checked_apply(&mut self, object: &str) -> Result<String, HostError> {
        let (kind, object) = self.prepare_child(object)?;
        self.backend.apply(&kind, object).map(|stored| to_json(&stored))
    }

    fn checked_delete(&mut self, target: &ObjectRef) -> Result<bool, HostError> {
        let kind = self.kind(&target.group, &target.version, &target.kind, true)?;
        let namespace = self.child_namespace(&kind, target.namespace.as_deref())?;
        let namespace = namespace.as_deref();
        let cached = self.backend.get(&kind, namespace, &target.name)?;
        // Not in the cache: perhaps applied a moment ago, before its watch event arrived.
        let found = match cached {
            Some(child) => Some(child),
            None => self.backend.get_fresh(&kind, namespace, &target.name)?,
        };
        match found {
            None => Ok(false),
            Some(child) if !self.parent.controls(&child) => Err(HostError::Denied(format!(
                "{} {} is not a child of {}; only children this object controls can be deleted",
                kind.kind,
                target.name,
                self.parent.key()
            ))),
            // The uid makes sure the object deleted is the child that was checked.
            Some(child) => {
                let uid = child["metadata"]["uid"].as_str();
                self.backend.delete(&kind, namespace, &target.name, uid)
            }
        }
    }
}

/// Logs a denied call: the plugin sees the error, the operator sees why.
fn logged<T>(call: &str, result: Result<T, HostError>) -> Result<T, HostError> {
    if let Err(HostError::Denied(why)) = &result {
        tracing::warn!(call, reason = %why, "host call denied");
    }
    result
}

impl<B: Backend> HostCalls for Checked<B> {
    fn get(&mut self, target: &ObjectRef) -> Result<Option<String>, HostError> {
        logged("get", self.checked_get(target))
    }

    fn list(&mut self, target: &ObjectRef, selector: &str) -> Result<Vec<String>, HostError> {
        logged("list", self.checked_list(target, selector))
    }

    fn apply(&mut self, object: &str) -> Result<String, HostError> {
        logged("apply", self.checked_apply(object))
    }

    fn delete(&mut self, target: &ObjectRef) -> Result<bool, HostError> {
        logged("delete", self.checked_delete(target))
    }

    fn event(&mut self, event_type: EventType, reason: &str, message: &str) {
        self.backend.event(&self.parent, event_type, reason, message);
    }

    fn log(&mut self, level: LogLevel, message: &str, fields: &[(String, String)]) {
        self.backend.log(&self.parent, level, message, fields);
    }
}

#[cfg(test)]
#[path = "capabilities_tests.rs"]
mod tests;
