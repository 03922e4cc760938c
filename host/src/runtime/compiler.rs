//! Where plugin components are compiled: in this process, or in a child process.
//!
//! Compiling a component with cranelift takes some 20 MiB of memory for a plugin of 200 KB,
//! and the allocator keeps most of it after the compile is done: a host that compiles in its
//! own process carries that for the rest of its life, and again at each new version. A child
//! process (`hotloop compile-component`, the same binary with the same engine settings)
//! compiles instead and writes the precompiled artifact; the host loads the artifact, which
//! costs a fraction of a millisecond and next to no memory. A compiler that crashes takes only
//! the child down.
//!
//! # Caveats
//! Loading an artifact skips validation. The child writes it into a directory this process
//! created for it alone, and it is loaded from there only.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wasmtime::Engine;
use wasmtime::component::Component;

use super::error::LoadError;

/// The hidden subcommand of the `hotloop` binary that compiles one component.
pub const COMPILE_SUBCOMMAND: &str = "compile-component";

/// How long a child may take to compile one component before it is killed.
const CHILD_DEADLINE: Duration = Duration::from_secs(120);

/// Where components are compiled. The default compiles in this process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Compiler {
    /// In this process.
    #[default]
    InProcess,
    /// In a child process: this program, run as `PROGRAM compile-component [ENGINE ARGS]
    /// INPUT OUTPUT`. When it cannot be started, or its artifact does not load here, the
    /// component is compiled in this process instead, with a warning. When it crashes, is
    /// killed (as by the kernel's out-of-memory killer) or runs past its deadline, the version
    /// is rejected: compiling it here could take this process down the same way.
    Child {
        program: PathBuf,
        /// The arguments that give the child the same engine settings as this process.
        engine_args: Vec<String>,
        /// Where the child's input and artifact are written: a directory this process may
        /// write to (its cache directory, in a container whose root is read-only), or the
        /// system's temporary directory when `None`.
        work_dir: Option<PathBuf>,
    },
}

impl Compiler {
    /// Compiles `bytes` with `engine`.
    pub(super) fn compile(&self, engine: &Engine, bytes: &[u8]) -> Result<Component, LoadError> {
        match self {
            Compiler::InProcess => compile_here(engine, bytes),
            Compiler::Child { program, engine_args, work_dir } => {
                match compile_in_child(engine, program, engine_args, work_dir.as_deref(), bytes) {
                    Ok(component) => Ok(component),
                    Err(ChildError::Rejected(message)) => Err(LoadError::Compile(message)),
                    Err(ChildError::Failed(why)) => {
                        Err(LoadError::Compile(format!("the compiler process {why}")))
                    }
                    Err(ChildError::Unusable(why)) => {
                        tracing::warn!(program = %program.display(), %why, "the compiler process failed; compiling in this process");
                        compile_here(engine, bytes)
                    }
                }
            }
        }
    }
}

fn compile_here(engine: &Engine, bytes: &[u8]) -> Result<Component, LoadError> {
    Component::new(engine, bytes).map_err(|error| LoadError::Compile(format!("{error:#}")))
}

/// What went wrong in the child.
enum ChildError {
    /// The child compiled and the component is bad: its message.
    Rejected(String),
    /// The child crashed, was killed or ran past its deadline on this component: how.
    Failed(String),
    /// The child could not be used (could not start, or its artifact does not load): why.
    Unusable(String),
}

fn compile_in_child(
    engine: &Engine,
    program: &Path,
    engine_args: &[String],
    work_dir: Option<&Path>,
    bytes: &[u8],
) -> Result<Component, ChildError> {
    let mut builder = tempfile::Builder::new();
    builder.prefix("hotloop-compile-");
    let work = match work_dir {
        Some(dir) => builder.tempdir_in(dir),
        None => builder.tempdir(),
    }
    .map_err(|error| ChildError::Unusable(format!("no directory for the compile: {error}")))?;
    let input = work.path().join("plugin.wasm");
    let output = work.path().join("plugin.cwasm");
    std::fs::write(&input, bytes)
        .map_err(|error| ChildError::Unusable(format!("cannot write the component: {error}")))?;
    let mut child = Command::new(program)
        .arg(COMPILE_SUBCOMMAND)
        .args(engine_args)
        .arg(&input)
        .arg(&output)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| ChildError::Unusable(format!("cannot start it: {error}")))?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > CHILD_DEADLINE => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ChildError::Failed(format!(
                    "was stopped after {CHILD_DEADLINE:?} without finishing"
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(error) => return Err(ChildError::Unusable(format!("cannot wait for it: {error}"))),
        }
    };
    let mut message = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut stderr, &mut message);
    }
    let message = message.trim().trim_start_matches("error: ").to_owned();
    match status.code() {
        Some(0) => {}
        Some(REJECTED_EXIT) => return Err(ChildError::Rejected(message)),
        _ if message.is_empty() => return Err(ChildError::Failed(format!("ended with {status}"))),
        _ => return Err(ChildError::Failed(format!("ended with {status}: {message}"))),
    }
    // SAFETY: the artifact was written by this program's own compiler, into a directory this
    // process created for it alone, a moment ago; its engine settings are checked on load.
    #[allow(unsafe_code)] // loading precompiled code is unsafe by nature; see above
    let loaded = unsafe { Component::deserialize_file(engine, &output) };
    loaded.map_err(|error| ChildError::Unusable(format!("its artifact does not load: {error:#}")))
}

/// The exit status of `compile-component` when the component itself is bad.
pub const REJECTED_EXIT: i32 = 3;

/// What `hotloop compile-component` does: compiles `input` with `engine` and writes the
/// precompiled artifact to `output`.
///
/// # Errors
/// [`CompileError::Read`] or [`CompileError::Write`] for files, [`CompileError::Rejected`]
/// when the bytes do not compile.
pub fn compile_file(engine: &Engine, input: &Path, output: &Path) -> Result<(), CompileError> {
    let bytes = std::fs::read(input)
        .map_err(|source| CompileError::Read { path: input.to_owned(), source })?;
    let artifact = engine
        .precompile_component(&bytes)
        .map_err(|error| CompileError::Rejected(format!("{error:#}")))?;
    std::fs::write(output, artifact)
        .map_err(|source| CompileError::Write { path: output.to_owned(), source })
}

/// Why `compile-component` did not write an artifact.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Rejected(String),
}
