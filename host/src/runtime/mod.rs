//! The WebAssembly runtime: one shared engine, compiled-component cache, and sandboxed calls.
//!
//! Every call runs in a fresh instance from a pre-instantiated component, on the pooling
//! allocator, under the [`Limits`] of its plugin: fuel, a wall-clock deadline, a memory cap,
//! a budget of host calls and a cap on the size of the result. A guest reaches nothing but
//! the host functions of the contract and a WASI without capabilities.
//!
//! This module knows nothing of Kubernetes: host functions come in through
//! [`crate::contract::HostCalls`], and plugins go out as [`crate::contract::Handler`]s.

mod bindings;
mod cache;
mod call;
mod compiler;
mod convert;
mod engine;
mod error;
mod exports;
mod limits;
mod plugin;

pub use cache::Origin;
pub use compiler::{COMPILE_SUBCOMMAND, CompileError, Compiler, REJECTED_EXIT, compile_stream};
pub use engine::{Runtime, RuntimeConfig, RuntimeError, compile_engine, digest_of};
pub use error::{LoadError, SandboxFailure};
pub use limits::Limits;
pub use plugin::Plugin;
