//! The one trait the controller uses to run a plugin's logic.
//!
//! The WebAssembly runtime implements it for sandboxed components; a native Rust handler
//! implements it for benchmarks. The controller cannot tell them apart.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::Serialize;

use super::{Context, FinalizeResult, HostCalls, Manifest, ReconcileResult};

/// One call into a handler.
pub struct Call {
    /// The object's current state.
    pub state: String,
    /// The object as JSON.
    pub object: String,
    pub context: Context,
    /// The host functions, bound to this object.
    pub host: Box<dyn HostCalls>,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("state", &self.state)
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

/// What a call cost.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallStats {
    /// Fuel consumed; 0 for handlers that do not meter fuel.
    pub fuel: u64,
    pub host_calls: u32,
    #[serde(skip)]
    pub elapsed: Duration,
    /// Set when the sandbox stopped the call: the failure kind's reason, such as `OutOfFuel`.
    pub sandbox_failure: Option<&'static str>,
}

/// A reconcile call's result and cost.
#[derive(Debug, Clone)]
pub struct Reconciled {
    pub result: ReconcileResult,
    pub stats: CallStats,
}

/// A finalize call's result and cost.
#[derive(Debug, Clone)]
pub struct Finalized {
    pub result: FinalizeResult,
    pub stats: CallStats,
}

/// The future a handler call returns.
pub type HandlerFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A plugin's logic, as the controller sees it.
///
/// # Guarantees
/// A call always completes with a result: failures of any kind (the plugin's own, a sandbox
/// limit, a broken result) come back as a `fail` outcome with a reason, never as a panic.
/// Results have been checked against the manifest.
///
/// # Assumptions
/// Handlers are idempotent: the same state may run again after a conflict, a restart or a
/// reload. Calls never block the async runtime's worker threads.
pub trait Handler: Send + Sync {
    fn manifest(&self) -> &Manifest;
    /// `sha256:<hex>` of the plugin's bytes, or a fixed name for native handlers.
    fn digest(&self) -> &str;
    /// Runs the handler of `call.state`.
    fn reconcile(&self, call: Call) -> HandlerFuture<'_, Reconciled>;
    /// Runs the clean-up of `call.state` for an object being deleted.
    fn finalize(&self, call: Call) -> HandlerFuture<'_, Finalized>;
}
