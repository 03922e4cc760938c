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

/// The field that marks a `log` line as the guest's standard error. The Rust SDK sends
/// standard error this way (see `sdk/rust/src/stdio.rs`) so that a plugin needs no WASI, whose
/// imports make every fresh instance slower to create.
const STDERR_FIELD: (&str, &str) = ("hotloop.dev/stream", "stderr");

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
    /// Standard error written through WASI, by plugins built without the SDK's route.
    stderr: Option<MemoryOutputPipe>,
    /// Standard error sent as marked `log` lines, bounded by [`STDERR_BYTES`].
    stderr_lines: String,
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
            stderr_lines: String::new(),
        }
    }

    /// What the guest wrote to standard error, lossily decoded.
    pub(super) fn stderr(&self) -> String {
        let mut text = self
            .stderr
            .as_ref()
            .map(|pipe| String::from_utf8_lossy(&pipe.contents()).into_owned())
            .unwrap_or_default();
        text.push_str(&self.stderr_lines);
        text
    }

    /// Keeps standard error sent as a marked `log` line, up to [`STDERR_BYTES`] in all.
    /// Like standard error through WASI, it is not a host call of the plugin's budget.
    fn keep_stderr(&mut self, text: &str) {
        let room = STDERR_BYTES.saturating_sub(self.stderr_lines.len());
        let mut end = text.len().min(room);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        self.stderr_lines.push_str(&text[..end]);
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
        if let [(key, value)] = fields.as_slice()
            && (key.as_str(), value.as_str()) == STDERR_FIELD
        {
            self.keep_stderr(&message);
            return Ok(());
        }
        if self.spend()?.is_ok() {
            self.host.log(convert::log_level(level), &message, &fields);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::contract::{EventType, LogLevel, ObjectRef};
    use hotloop::plugin::host::Host as _;

    /// Host functions that remember the log lines they were given.
    struct LogRecorder(Arc<Mutex<Vec<String>>>);

    impl HostCalls for LogRecorder {
        fn get(&mut self, _: &ObjectRef) -> Result<Option<String>, HostError> {
            Ok(None)
        }
        fn list(&mut self, _: &ObjectRef, _: &str) -> Result<Vec<String>, HostError> {
            Ok(Vec::new())
        }
        fn apply(&mut self, object: &str) -> Result<String, HostError> {
            Ok(object.to_owned())
        }
        fn delete(&mut self, _: &ObjectRef) -> Result<bool, HostError> {
            Ok(false)
        }
        fn event(&mut self, _: EventType, _: &str, _: &str) {}
        fn log(&mut self, _: LogLevel, message: &str, _: &[(String, String)]) {
            self.0.lock().unwrap().push(message.to_owned());
        }
    }

    fn state(budget: u32) -> (CallState, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        (CallState::new(Box::new(LogRecorder(lines.clone())), budget, 1 << 20), lines)
    }

    fn stderr_field() -> Vec<(String, String)> {
        vec![(STDERR_FIELD.0.to_owned(), STDERR_FIELD.1.to_owned())]
    }

    #[test]
    fn standard_error_sent_as_a_marked_log_line_is_kept_and_is_no_host_call() {
        let (mut state, lines) = state(1);
        state.log(wit::LogLevel::Error, "thread panicked at ".into(), stderr_field()).unwrap();
        state.log(wit::LogLevel::Error, "src/lib.rs:1:1".into(), stderr_field()).unwrap();
        assert_eq!(state.stderr(), "thread panicked at src/lib.rs:1:1");
        assert_eq!(state.host_calls, 0);
        assert!(lines.lock().unwrap().is_empty(), "standard error is not forwarded as a log");
    }

    #[test]
    fn a_log_line_with_other_fields_is_an_ordinary_log_line() {
        let (mut state, lines) = state(1);
        let fields = vec![(STDERR_FIELD.0.to_owned(), "stdout".to_owned())];
        state.log(wit::LogLevel::Info, "hello".into(), fields).unwrap();
        assert_eq!(state.stderr(), "");
        assert_eq!(state.host_calls, 1);
        assert_eq!(*lines.lock().unwrap(), ["hello"]);
    }

    #[test]
    fn standard_error_is_kept_up_to_its_bound_on_a_character_boundary() {
        let (mut state, _) = state(1);
        let long = "é".repeat(STDERR_BYTES);
        state.log(wit::LogLevel::Error, long, stderr_field()).unwrap();
        state.log(wit::LogLevel::Error, "more".into(), stderr_field()).unwrap();
        assert_eq!(state.stderr().len(), STDERR_BYTES);
        assert!(state.stderr().chars().all(|c| c == 'é'));
    }
}
