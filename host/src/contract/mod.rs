//! The plugin contract as plain Rust values, shared by every part of the host.
//!
//! These types mirror `wit/plugin.wit`. The runtime converts the WebAssembly bindings into
//! them; the controller, the host API and the CLI only ever see these. Nothing here knows of
//! wasmtime or of Kubernetes clients.

mod handler;
mod host_calls;
mod manifest;
mod result;

pub use handler::{Call, CallStats, Finalized, Handler, HandlerFuture, Reconciled};
pub use host_calls::{EventType, HostCalls, HostError, LogLevel, ObjectRef};
pub use manifest::{KindRef, Manifest, ManifestError, StateDecl, StateKind, Transition};
pub use result::{
    Condition, ConditionStatus, Context, Failure, FinalizeOutcome, FinalizeResult, Outcome,
    ReconcileResult, ResultError,
};
