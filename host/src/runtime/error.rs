//! Every way loading or calling a plugin can fail.

use std::time::Duration;

use crate::contract::{Failure, ManifestError, ResultError};

/// Why a plugin's bytes could not be turned into a runnable plugin.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("the file is not a WebAssembly component (it starts with {0})")]
    NotWasm(String),
    #[error(
        "this is a core WebAssembly module, not a component: build the plugin with \
         `--target wasm32-wasip2`"
    )]
    CoreModule,
    #[error("the component could not be compiled: {0}")]
    Compile(String),
    #[error(
        "the component does not implement hotloop:plugin@0.1: {0}; rebuild it against this \
         host's contract"
    )]
    WrongWorld(String),
    #[error("reading the plugin's manifest failed: {0}")]
    ManifestCall(SandboxFailure),
    #[error("the plugin's manifest is not valid")]
    InvalidManifest(#[from] ManifestError),
    #[error("the artifact cache directory {path} is not usable: {message}")]
    CacheDir { path: String, message: String },
}

/// Why the sandbox stopped a call, or refused its result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxFailure {
    #[error("the plugin used up its fuel budget of {budget} units")]
    OutOfFuel { budget: u64 },
    #[error("the plugin ran past its deadline of {deadline:?}")]
    DeadlineExceeded { deadline: Duration },
    #[error("the plugin tried to grow its memory past {limit} bytes")]
    MemoryLimitExceeded { limit: usize },
    #[error("the plugin panicked: {message}")]
    Panic { message: String },
    #[error("the plugin trapped: {message}")]
    Trap { message: String },
    #[error("the plugin returned {size} bytes, more than the limit of {limit}")]
    OutputTooLarge { size: usize, limit: usize },
    #[error("{0}")]
    InvalidResult(ResultError),
    #[error("the plugin made more than {limit} host calls in one call")]
    HostCallBudgetExhausted { limit: u32 },
}

impl SandboxFailure {
    /// The CamelCase reason shown on the object's condition and Event, and used in metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            SandboxFailure::OutOfFuel { .. } => "OutOfFuel",
            SandboxFailure::DeadlineExceeded { .. } => "DeadlineExceeded",
            SandboxFailure::MemoryLimitExceeded { .. } => "MemoryLimitExceeded",
            SandboxFailure::Panic { .. } => "GuestPanic",
            SandboxFailure::Trap { .. } => "GuestTrap",
            SandboxFailure::OutputTooLarge { .. } => "OutputTooLarge",
            SandboxFailure::InvalidResult(error) => error.reason(),
            SandboxFailure::HostCallBudgetExhausted { .. } => "HostCallBudgetExhausted",
        }
    }

    /// The failure as the controller reports it. Sandbox failures are retried with backoff:
    /// a new plugin version or changed inputs may make the next call succeed.
    pub fn to_failure(&self) -> Failure {
        Failure { reason: self.reason().to_owned(), message: self.to_string(), retryable: true }
    }
}
