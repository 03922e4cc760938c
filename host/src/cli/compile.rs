//! `hotloop compile-component`: the child process that compiles one plugin component for a
//! host (see `runtime::Compiler`), from its standard input to its standard output. Hidden from
//! `--help`: people have no use for it.

use std::process::ExitCode;

use crate::runtime::{CompileError, REJECTED_EXIT, RuntimeConfig, compile_engine, compile_stream};

#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// The host's `max_concurrent_calls`: the engine must be set up as the host's is.
    #[arg(long)]
    max_concurrent_calls: u32,
    /// The host's `max_memory_bytes`.
    #[arg(long)]
    max_memory_bytes: usize,
}

/// Reads the component on standard input and writes the artifact on standard output. Exit
/// status 0 when the artifact is written, [`REJECTED_EXIT`] when the component does not
/// compile, 1 for anything else; the reason goes to standard error.
pub(super) fn run(args: &Args) -> ExitCode {
    let config = RuntimeConfig {
        max_concurrent_calls: args.max_concurrent_calls,
        max_memory_bytes: args.max_memory_bytes,
        ..RuntimeConfig::default()
    };
    let engine = match compile_engine(&config) {
        Ok(engine) => engine,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    match compile_stream(&engine, std::io::stdin().lock(), std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error @ CompileError::Rejected(_)) => {
            eprintln!("error: {error}");
            ExitCode::from(u8::try_from(REJECTED_EXIT).unwrap_or(1))
        }
        Err(error) => {
            eprintln!("error: {:#}", anyhow::Error::from(error));
            ExitCode::FAILURE
        }
    }
}
