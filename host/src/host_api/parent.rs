//! The reconciled object, as host calls are scoped to it.

use serde_json::{Value, json};

/// The object a call is about: children are created in its namespace and owned by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parent {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub uid: String,
}

/// Why an object cannot be reconciled at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParentError {
    #[error("the object has no {0}")]
    Missing(&'static str),
}

impl Parent {
    /// Reads the identity of an object as the API server serves it.
    ///
    /// # Errors
    /// When `apiVersion`, `kind` or `metadata.name` is missing.
    pub fn from_object(object: &Value) -> Result<Parent, ParentError> {
        let text = |value: &Value| value.as_str().map(str::to_owned);
        let metadata = &object["metadata"];
        Ok(Parent {
            api_version: text(&object["apiVersion"]).ok_or(ParentError::Missing("apiVersion"))?,
            kind: text(&object["kind"]).ok_or(ParentError::Missing("kind"))?,
            namespace: text(&metadata["namespace"]),
            name: text(&metadata["name"]).ok_or(ParentError::Missing("metadata.name"))?,
            uid: text(&metadata["uid"]).unwrap_or_default(),
        })
    }

    /// The owner reference a child of this object carries.
    pub fn owner_reference(&self) -> Value {
        json!({
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": true,
            "blockOwnerDeletion": true,
        })
    }

    /// Whether `child` names this object as its controller.
    pub fn controls(&self, child: &Value) -> bool {
        child["metadata"]["ownerReferences"].as_array().is_some_and(|owners| {
            owners.iter().any(|o| o["uid"] == self.uid.as_str() && o["controller"] == true)
        })
    }

    /// `namespace/name`, or `name` for cluster-scoped objects.
    pub fn key(&self) -> String {
        match &self.namespace {
            Some(namespace) => format!("{namespace}/{}", self.name),
            None => self.name.clone(),
        }
    }
}
