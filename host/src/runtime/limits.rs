//! The limits every sandboxed call runs under.

use std::time::Duration;

/// Per-plugin sandbox limits. Every call into a plugin runs under all of them.
///
/// | limit | default | what happens when it is reached |
/// |---|---|---|
/// | `fuel` | 1,000,000,000 units (roughly 100 ms of CPU) | the call stops: `OutOfFuel` |
/// | `deadline` | 1 s of wall time | the call stops: `DeadlineExceeded` |
/// | `memory_bytes` | 64 MiB of linear memory | growth fails, the call stops: `MemoryLimitExceeded` |
/// | `host_calls` | 64 host calls per call | the next host call gets `budget-exhausted`, the call fails: `HostCallBudgetExhausted` |
/// | `output_bytes` | 256 KiB of returned status, conditions and note | the result is discarded: `OutputTooLarge` |
///
/// A guest's stack is bounded by the engine (512 KiB of native stack); overflowing it stops
/// the call as a trap. Time the plugin spends waiting in a host call counts against the
/// deadline only when the host call returns: host calls carry their own timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub fuel: u64,
    pub deadline: Duration,
    pub memory_bytes: usize,
    pub host_calls: u32,
    pub output_bytes: usize,
}

impl std::fmt::Display for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "fuel {}, deadline {} ms, memory {} MiB, {} host calls, output {} KiB",
            self.fuel,
            self.deadline.as_millis(),
            self.memory_bytes >> 20,
            self.host_calls,
            self.output_bytes >> 10
        )
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 1_000_000_000,
            deadline: Duration::from_secs(1),
            memory_bytes: 64 << 20,
            host_calls: 64,
            output_bytes: 256 << 10,
        }
    }
}
