//! The `hotloop` command line: `inspect`, `simulate`, `package` and `rbac` work offline on a
//! plugin file; `run` is the operator; `dev` is the whole loop on one machine.

mod compile;
mod dev;
mod graph;
mod inspect;
mod leader;
mod package;
mod rbac;
mod run;
#[cfg(test)]
mod sample_manifest;
mod simulate;
mod support;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Kubernetes operator host whose reconcile logic lives in WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "hotloop", version, about)]
struct Cli {
    /// Log format on standard error.
    #[arg(long, global = true, value_enum, default_value_t)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Shows what a plugin declares: kind, states, transitions, digest.
    Inspect(inspect::Args),
    /// Runs one reconcile (or finalize) of an object offline, exactly as the operator would.
    Simulate(simulate::Args),
    /// Prints a ConfigMap that installs a plugin, ready for `kubectl apply --server-side -f -`.
    Package(package::Args),
    /// Prints the ClusterRole and binding the kinds a plugin declares need.
    Rbac(rbac::Args),
    /// Runs the operator: loads plugins and reconciles the kinds they declare.
    Run(run::Args),
    /// The dev loop: a local control plane, the example plugins built and run, their objects
    /// shown live, and a plugin rebuilt and swapped in when its source changes.
    Dev(dev::Args),
    /// Compiles one component for a running host, in a process of its own.
    #[command(name = "compile-component", hide = true)]
    CompileComponent(compile::Args),
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub(crate) enum LogFormat {
    #[default]
    Text,
    Json,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub(crate) enum Output {
    /// Readable text.
    #[default]
    Text,
    /// One JSON object.
    Json,
}

/// Runs the command line and turns any error into one line on standard error.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = if matches!(cli.command, Command::Run(_)) { "info" } else { "warn" };
    // `dev` prints on the terminal and logs to a file of its own.
    if !matches!(cli.command, Command::Dev(_)) {
        support::init_logging(default_level, cli.log_format);
    }
    let outcome = match cli.command {
        Command::Inspect(args) => inspect::run(&args),
        Command::Simulate(args) => simulate::run(&args),
        Command::Package(args) => package::run(&args),
        Command::Rbac(args) => rbac::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Dev(args) => dev::run(&args, cli.log_format),
        // A child of a host: it reports through its exit status, without logging.
        Command::CompileComponent(args) => return compile::run(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if support::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
