//! The controller's own writes: status through the status subresource, the finalizer, and
//! Events. Each write carries the object's resourceVersion, so a write based on an outdated
//! read conflicts instead of overwriting someone else's change.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::events::{Event, EventType as KubeEventType, Recorder};
use serde_json::{Value, json};

use super::decide::EventNote;
use crate::contract::EventType;

/// Why a write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("the object changed since it was read")]
    Conflict,
    #[error("writing the {what} failed")]
    Api {
        what: &'static str,
        #[source]
        source: kube::Error,
    },
}

fn classify(what: &'static str, error: kube::Error) -> WriteError {
    match &error {
        kube::Error::Api(status) if status.code == 409 => WriteError::Conflict,
        _ => WriteError::Api { what, source: error },
    }
}

/// Writes the whole `status` by server-side apply under `field_manager`.
pub async fn status(
    api: &Api<DynamicObject>,
    object: &DynamicObject,
    status: &Value,
    field_manager: &str,
) -> Result<DynamicObject, WriteError> {
    let types = object.types.clone().unwrap_or_default();
    let name = object.metadata.name.clone().unwrap_or_default();
    let patch = json!({
        "apiVersion": types.api_version,
        "kind": types.kind,
        "metadata": { "name": name, "resourceVersion": object.metadata.resource_version },
        "status": status,
    });
    let params = PatchParams::apply(field_manager).force();
    api.patch_status(&name, &params, &Patch::Apply(&patch)).await.map_err(|e| classify("status", e))
}

/// Sets `metadata.finalizers` to `finalizers`, if the object did not change meanwhile.
pub async fn finalizers(
    api: &Api<DynamicObject>,
    object: &DynamicObject,
    finalizers: Vec<String>,
) -> Result<DynamicObject, WriteError> {
    let name = object.metadata.name.clone().unwrap_or_default();
    let patch = json!({
        "metadata": { "finalizers": finalizers, "resourceVersion": object.metadata.resource_version },
    });
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| classify("finalizers", e))
}

/// Records Events on the object; the recorder aggregates repeats into series. A failed
/// Event is logged, never retried: Events are a courtesy, not state.
pub async fn events(recorder: &Recorder, reference: &ObjectReference, notes: &[EventNote]) {
    for note in notes {
        let event = Event {
            type_: match note.type_ {
                EventType::Normal => KubeEventType::Normal,
                EventType::Warning => KubeEventType::Warning,
            },
            reason: note.reason.clone(),
            note: Some(note.message.clone()),
            action: note.action.clone(),
            secondary: None,
        };
        if let Err(error) = recorder.publish(&event, reference).await {
            tracing::warn!(%error, reason = %note.reason, "could not record an event");
        }
    }
}
