//! What a controller does after its plugin was removed.
//!
//! Objects that carry the host's finalizer must still be deletable when the plugin that put it
//! there is gone; otherwise they hang in deletion for ever. So a removed plugin's controller
//! keeps running in one of two modes until no object of its kind carries the finalizer:
//!
//! - [`Mode::Draining`] (the default): nothing is reconciled any more, but a deleted object
//!   still gets the clean-up of its state from the last version, and its finalizer comes off
//!   when the clean-up is done.
//! - [`Mode::Releasing`] (asked for by the plugin's source): the finalizer comes off every
//!   object at once, without clean-up, with a Warning Event that says so.

use kube::api::{Api, DynamicObject};
use kube::runtime::controller::Action;

use super::decide::EventNote;
use super::reconcile::{ReconcileError, Step, finalize, release_finalizer};
use super::shared::{Mode, Serving, Shared};
use crate::contract::EventType;

#[allow(clippy::too_many_arguments)] // the parts of one step
pub(super) async fn step(
    shared: &Shared,
    serving: &Serving,
    api: &Api<DynamicObject>,
    object: DynamicObject,
    state: &str,
    now: &str,
    trigger: &'static str,
    mode: Mode,
) -> Result<Step, ReconcileError> {
    let finalizer = serving.manifest.finalizer_name();
    let has_finalizer =
        object.metadata.finalizers.as_ref().is_some_and(|all| all.contains(&finalizer));
    if !has_finalizer {
        return Ok(Step::Done(Action::await_change()));
    }
    match mode {
        Mode::Serving | Mode::Draining => {
            if object.metadata.deletion_timestamp.is_none() {
                tracing::debug!(
                    "the plugin was removed; the object is left as it is until it is deleted"
                );
                return Ok(Step::Done(Action::await_change()));
            }
            tracing::info!("the plugin was removed; running the clean-up of its last version");
            finalize(shared, serving, api, object, state, now, trigger).await
        }
        Mode::Releasing => {
            let note = EventNote {
                type_: EventType::Warning,
                reason: "FinalizerReleased".into(),
                action: "Release".into(),
                message: format!(
                    "plugin {} was removed and asked to release its objects: finalizer {finalizer} removed without clean-up in state {state}",
                    serving.manifest.name
                ),
            };
            tracing::warn!("the plugin was removed; releasing the finalizer without clean-up");
            release_finalizer(shared, serving, api, &object, &[note]).await
        }
    }
}
