//! The state of one sandboxed call: the host functions the guest reaches, the budget of host
//! calls, the memory limiter and a minimal, capability-free WASI.

use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

use super::bindings::{hotloop, wit};
use super::convert;
use crate::contract::{HostCalls, HostError};

/// How much of a guest's standard error is kept: enough for a panic message.
const STDERR_BYTES: usize = 4096;

/// Store data of one call.
pub(super) struct CallState {
    host: Box<dyn HostCalls>,
    budget: u32,
    pub(super) host_calls: u32,
    /// Set when the guest asked for a host call past its budget.
    pub(super) budget_exceeded: bool,
    pub(super) limiter: MemoryLimiter,
    /// Built the first time the guest touches WASI: most calls never do.
    wasi: Option<WasiCtx>,
    table: ResourceTable,
    stderr: Option<MemoryOutputPipe>,
}

impl CallState {
    pub(super) fn new(
        host: Box<dyn HostCalls>,
        host_call_budget: u32,
        memory_bytes: usize,
    ) -> Self {
        CallState {
            host,
            budget: host_call_budget,
            host_calls: 0,
            budget_exceeded: false,
            limiter: MemoryLimiter { limit: memory_bytes, denied: false },
            wasi: None,
            table: ResourceTable::new(),
            stderr: None,
        }
    }

    /// What the guest wrote to standard error, lossily decoded.
    pub(super) fn stderr(&self) -> String {
        self.stderr
            .as_ref()
            .map(|pipe| String::from_utf8_lossy(&pipe.contents()).into_owned())
            .unwrap_or_default()
    }

    /// Counts a host call. The first call past the budget gets `budget-exhausted`; any later
    /// one traps, so a guest that ignores the error cannot spin on the host.
    fn spend(&mut self) -> wasmtime::Result<Result<(), wit::HostError>> {
        if self.host_calls >= self.budget {
            if self.budget_exceeded {
                wasmtime::bail!("host call after the budget of {} was spent", self.budget);
            }
            self.budget_exceeded = true;
            return Ok(Err(convert::host_error(HostError::BudgetExhausted)));
        }
        self.host_calls += 1;
        Ok(Ok(()))
    }
}

/// Bounds linear memory growth, and remembers when it refused one so that the failure that
/// follows (usually an allocation failure and abort inside the guest) is reported as what it is.
pub(super) struct MemoryLimiter {
    limit: usize,
    pub(super) denied: bool,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.denied = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// A clock stopped at the Unix epoch: plugins get time only through their call's context.
struct StoppedClock;

impl HostWallClock for StoppedClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for StoppedClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// WASI without capabilities: no files, no environment, no arguments, no network, stopped
/// clocks; standard error is kept (bounded) for panic messages.
fn sandboxed_wasi(stderr: MemoryOutputPipe) -> WasiCtx {
    WasiCtx::builder()
        .stderr(stderr)
        .wall_clock(StoppedClock)
        .monotonic_clock(StoppedClock)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build()
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let stderr = self.stderr.get_or_insert_with(|| MemoryOutputPipe::new(STDERR_BYTES));
        let ctx = self.wasi.get_or_insert_with(|| sandboxed_wasi(stderr.clone()));
        WasiCtxView { ctx, table: &mut self.table }
    }
}

impl hotloop::plugin::types::Host for CallState {}

type HostResult<T> = wasmtime::Result<Result<T, wit::HostError>>;

impl hotloop::plugin::host::Host for CallState {
    fn get(&mut self, target: wit::ObjectRef) -> HostResult<Option<String>> {
        if let Err(spent) = self.spend()? {
            return Ok(Err(spent));
        }
        Ok(self.host.get(&convert::object_ref(target)).map_err(convert::host_error))
    }

    fn list(&mut self, target: wit::ObjectRef, selector: String) -> HostResult<Vec<String>> {
        if let Err(spent) = self.spend()? {
            return Ok(Err(spent));
        }
        Ok(self.host.list(&convert::object_ref(target), &selector).map_err(convert::host_error))
    }

    fn apply(&mut self, object: String) -> HostResult<String> {
        if let Err(spent) = self.spend()? {
            return Ok(Err(spent));
        }
        Ok(self.host.apply(&object).map_err(convert::host_error))
    }

    fn delete(&mut self, target: wit::ObjectRef) -> HostResult<bool> {
        if let Err(spent) = self.spend()? {
            return Ok(Err(spent));
        }
        Ok(self.host.delete(&convert::object_ref(target)).map_err(convert::host_error))
    }

    fn event(
        &mut self,
        event_type: wit::EventType,
        reason: String,
        message: String,
    ) -> wasmtime::Result<()> {
        if self.spend()?.is_ok() {
            self.host.event(convert::event_type(event_type), &reason, &message);
        }
        Ok(())
    }

    fn log(
        &mut self,
        level: wit::LogLevel,
        message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        if self.spend()?.is_ok() {
            self.host.log(convert::log_level(level), &message, &fields);
        }
        Ok(())
    }
}
