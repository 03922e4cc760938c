//! The controller: one per plugin, reconciling the kind the plugin declares.
//!
//! Nothing here names wasmtime: plugins arrive as [`crate::contract::Handler`]s.

mod backoff;
pub mod decide;
mod reconcile;
mod removal;
mod run;
mod shared;
mod workers;
mod writes;

pub use backoff::Backoff;
pub use reconcile::ReconcileError;
pub use run::{ControllerHandle, StartError};
pub use shared::{Mode, Serving, Settings};
pub use writes::WriteError;

/// The current time as Kubernetes writes it: RFC 3339, UTC, whole seconds.
pub fn now_rfc3339() -> String {
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now).format(&Rfc3339).unwrap_or_default()
}
