//! A loaded plugin version and its sandboxed calls.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::Store;

use super::call::CallState;
use super::convert;
use super::engine::{EPOCH_TICK, Runtime};
use super::error::{LoadError, SandboxFailure};
use super::exports::{Exports, FoundExports};
use super::limits::Limits;
use crate::contract::{
    Call, CallStats, Context, EventType, FinalizeResult, Finalized, Handler, HandlerFuture,
    HostCalls, HostError, LogLevel, Manifest, ObjectRef, ReconcileResult, Reconciled, ResultError,
};

/// One version of a plugin, compiled and pre-instantiated, with its manifest and limits.
///
/// Cheap to clone. Each call runs in a fresh instance: nothing a call leaves behind in the
/// guest's memory reaches the next one.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<PluginInner>,
}

struct PluginInner {
    runtime: Runtime,
    digest: String,
    manifest: Manifest,
    limits: Limits,
    exports: Exports,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.inner.manifest.name)
            .field("version", &self.inner.manifest.version)
            .field("digest", &self.inner.digest)
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

/// Host functions for the manifest call, which must not reach the host.
struct NoHostCalls;

impl HostCalls for NoHostCalls {
    fn get(&mut self, _: &ObjectRef) -> Result<Option<String>, HostError> {
        Err(HostError::Denied("no host calls while the manifest is read".into()))
    }
    fn list(&mut self, _: &ObjectRef, _: &str) -> Result<Vec<String>, HostError> {
        Err(HostError::Denied("no host calls while the manifest is read".into()))
    }
    fn apply(&mut self, _: &str) -> Result<String, HostError> {
        Err(HostError::Denied("no host calls while the manifest is read".into()))
    }
    fn delete(&mut self, _: &ObjectRef) -> Result<bool, HostError> {
        Err(HostError::Denied("no host calls while the manifest is read".into()))
    }
    fn event(&mut self, _: EventType, _: &str, _: &str) {}
    fn log(&mut self, _: LogLevel, _: &str, _: &[(String, String)]) {}
}

impl Plugin {
    pub(super) fn new(
        runtime: Runtime,
        digest: String,
        found: FoundExports,
        limits: Limits,
    ) -> Result<Self, LoadError> {
        // The manifest call runs under the default budget, not the plugin's per-call limits:
        // those are for reconcile and finalize, and a plugin given very little fuel must still
        // load, so that its calls fail visibly instead of the version being rejected.
        let manifest_limits = Limits { memory_bytes: limits.memory_bytes, ..Limits::default() };
        let (read, _) = sandboxed(&runtime, &manifest_limits, Box::new(NoHostCalls), |store| {
            found.read_manifest(store)
        });
        let (exports, manifest) = read.map_err(LoadError::ManifestCall)?;
        let manifest = convert::manifest(manifest);
        manifest.validate()?;
        Ok(Plugin { inner: Arc::new(PluginInner { runtime, digest, manifest, limits, exports }) })
    }

    /// `sha256:<hex>` of the plugin's bytes.
    pub fn digest(&self) -> &str {
        &self.inner.digest
    }

    pub fn manifest(&self) -> &Manifest {
        &self.inner.manifest
    }

    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// The same compiled plugin under other limits.
    pub fn with_limits(&self, limits: Limits) -> Plugin {
        let inner = &self.inner;
        Plugin {
            inner: Arc::new(PluginInner {
                runtime: inner.runtime.clone(),
                digest: inner.digest.clone(),
                manifest: inner.manifest.clone(),
                limits,
                exports: inner.exports.clone(),
            }),
        }
    }

    /// Accepts what a call returned: within the output limit, convertible and valid.
    fn accept<W, R>(
        &self,
        outcome: Result<W, SandboxFailure>,
        size: impl FnOnce(&W) -> usize,
        check: impl FnOnce(W) -> Result<R, ResultError>,
    ) -> Result<R, SandboxFailure> {
        let returned = outcome?;
        let (size, limit) = (size(&returned), self.inner.limits.output_bytes);
        if size > limit {
            return Err(SandboxFailure::OutputTooLarge { size, limit });
        }
        check(returned).map_err(SandboxFailure::InvalidResult)
    }

    /// Runs the handler of `state` on the calling thread, in a fresh sandboxed instance.
    pub fn reconcile_blocking(
        &self,
        state: &str,
        object: &str,
        context: &Context,
        host: Box<dyn HostCalls>,
    ) -> Reconciled {
        let inner = &*self.inner;
        let context = convert::context(context);
        let (outcome, stats) = sandboxed(&inner.runtime, &inner.limits, host, |store| {
            inner.exports.reconcile(store, state, object, &context)
        });
        let result = self.accept(outcome, convert::reconcile_output_size, |result| {
            let result = convert::reconcile_result(result)?;
            result.check(&inner.manifest, state)?;
            Ok(result)
        });
        match result {
            Ok(result) => Reconciled { result, stats },
            Err(failure) => Reconciled {
                result: ReconcileResult::failed(failure.to_failure()),
                stats: CallStats { sandbox_failure: Some(failure.reason()), ..stats },
            },
        }
    }

    /// Runs the clean-up of `state` on the calling thread, in a fresh sandboxed instance.
    pub fn finalize_blocking(
        &self,
        state: &str,
        object: &str,
        context: &Context,
        host: Box<dyn HostCalls>,
    ) -> Finalized {
        let inner = &*self.inner;
        let context = convert::context(context);
        let (outcome, stats) = sandboxed(&inner.runtime, &inner.limits, host, |store| {
            inner.exports.finalize(store, state, object, &context)
        });
        let result = self.accept(outcome, convert::finalize_output_size, |result| {
            let result = convert::finalize_result(result)?;
            result.check()?;
            Ok(result)
        });
        match result {
            Ok(result) => Finalized { result, stats },
            Err(failure) => Finalized {
                result: FinalizeResult::failed(failure.to_failure()),
                stats: CallStats { sandbox_failure: Some(failure.reason()), ..stats },
            },
        }
    }
}

/// Runs `call`, which instantiates the plugin in the store it is given, under every limit, and
/// says what it cost.
fn sandboxed<R>(
    runtime: &Runtime,
    limits: &Limits,
    host: Box<dyn HostCalls>,
    call: impl FnOnce(&mut Store<CallState>) -> wasmtime::Result<R>,
) -> (Result<R, SandboxFailure>, CallStats) {
    let started = Instant::now();
    let engine = &runtime.inner.engine;
    let mut store =
        Store::new(engine, CallState::new(host, limits.host_calls, limits.memory_bytes));
    store.limiter(|state| &mut state.limiter);
    let ticks = limits.deadline.as_nanos().div_ceil(EPOCH_TICK.as_nanos()).max(1);
    store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
    let outcome = store.set_fuel(limits.fuel).and_then(|()| call(&mut store));
    let fuel = limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0));
    let state = store.data();
    let stats = CallStats {
        fuel,
        host_calls: state.host_calls,
        elapsed: started.elapsed(),
        sandbox_failure: None,
    };
    let outcome = match outcome {
        _ if state.budget_exceeded => {
            Err(SandboxFailure::HostCallBudgetExhausted { limit: limits.host_calls })
        }
        Ok(value) => Ok(value),
        Err(error) => Err(classify(&error, state, limits)),
    };
    let stats =
        CallStats { sandbox_failure: outcome.as_ref().err().map(SandboxFailure::reason), ..stats };
    (outcome, stats)
}

/// Names the failure behind a stopped call, by root cause first: a refused memory growth
/// usually surfaces as the guest's own abort, not as a memory trap.
fn classify(error: &wasmtime::Error, state: &CallState, limits: &Limits) -> SandboxFailure {
    if state.limiter.denied {
        return SandboxFailure::MemoryLimitExceeded { limit: limits.memory_bytes };
    }
    let stderr = state.stderr();
    match error.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::OutOfFuel) => SandboxFailure::OutOfFuel { budget: limits.fuel },
        Some(wasmtime::Trap::Interrupt) => {
            SandboxFailure::DeadlineExceeded { deadline: limits.deadline }
        }
        _ => match panic_message(&stderr) {
            Some(message) => SandboxFailure::Panic { message },
            None => SandboxFailure::Trap { message: trap_message(error, &stderr) },
        },
    }
}

/// The message of a Rust panic as the guest printed it, without the location line's prefix
/// and the backtrace hint.
fn panic_message(stderr: &str) -> Option<String> {
    let start = stderr.find("panicked at ")?;
    let rest = &stderr[start + "panicked at ".len()..];
    let (location, message) = rest.split_once(":\n").unwrap_or((rest, ""));
    let message = message.split("\nnote:").next().unwrap_or(message).trim();
    Some(format!("{message} (at {location})"))
}

fn trap_message(error: &wasmtime::Error, stderr: &str) -> String {
    let trap = match error.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => error.root_cause().to_string(),
    };
    let stderr = stderr.trim();
    if stderr.is_empty() { trap } else { format!("{trap}; the plugin wrote: {stderr}") }
}

impl Handler for Plugin {
    fn manifest(&self) -> &Manifest {
        Plugin::manifest(self)
    }

    fn digest(&self) -> &str {
        Plugin::digest(self)
    }

    fn reconcile(&self, call: Call) -> HandlerFuture<'_, Reconciled> {
        self.on_call_thread(
            move |plugin| {
                plugin.reconcile_blocking(&call.state, &call.object, &call.context, call.host)
            },
            |failure| Reconciled {
                result: ReconcileResult::failed(failure),
                stats: CallStats::default(),
            },
        )
    }

    fn finalize(&self, call: Call) -> HandlerFuture<'_, Finalized> {
        self.on_call_thread(
            move |plugin| {
                plugin.finalize_blocking(&call.state, &call.object, &call.context, call.host)
            },
            |failure| Finalized {
                result: FinalizeResult::failed(failure),
                stats: CallStats::default(),
            },
        )
    }
}

impl Plugin {
    /// Runs `work` on a blocking thread once one of the runtime's call slots is free, so that
    /// sandboxed calls never hold up the async runtime's workers.
    fn on_call_thread<T: Send + 'static>(
        &self,
        work: impl FnOnce(Plugin) -> T + Send + 'static,
        failed: impl FnOnce(crate::contract::Failure) -> T + Send + 'static,
    ) -> HandlerFuture<'_, T> {
        let plugin = self.clone();
        Box::pin(async move {
            let permit = self.inner.runtime.inner.calls.clone().acquire_owned().await;
            let joined = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                work(plugin)
            })
            .await;
            joined.unwrap_or_else(|error| failed(host_bug(&error)))
        })
    }
}

/// A call thread that did not come back: a bug in the host, reported and retried.
fn host_bug(error: &tokio::task::JoinError) -> crate::contract::Failure {
    tracing::error!(%error, "a sandboxed call's thread failed; this is a host bug");
    crate::contract::Failure {
        reason: "HostError".into(),
        message: format!("the host failed while running the call: {error}"),
        retryable: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rust_panic_message_is_extracted_with_its_location() {
        let stderr = "\nthread '<unnamed>' panicked at src/lib.rs:52:20:\nmisbehave was asked to \
                      panic\nnote: run with `RUST_BACKTRACE=1` environment variable\n";
        assert_eq!(
            panic_message(stderr).as_deref(),
            Some("misbehave was asked to panic (at src/lib.rs:52:20)")
        );
    }

    #[test]
    fn output_without_a_panic_is_not_a_panic() {
        assert_eq!(panic_message("memory allocation of 1048576 bytes failed\n"), None);
    }
}
