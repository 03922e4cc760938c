//! Where plugin components are compiled: in this process, or in a child process.
//!
//! Compiling a component with cranelift takes some 20 MiB of memory for a plugin of 200 KB,
//! and the allocator keeps most of it after the compile is done: a host that compiles in its
//! own process carries that for the rest of its life, and again at each new version. A child
//! process (`hotloop compile-component`, the same binary with the same engine settings)
//! compiles instead: it reads the component on its standard input and writes the precompiled
//! artifact on its standard output, so it needs no file system at all. The host loads the
//! artifact, which costs a fraction of a millisecond and next to no memory. A compiler that
//! crashes takes only the child down.
//!
//! # Caveats
//! Loading an artifact skips validation. The artifact is read from the pipe this process
//! opened to its own child, and from nowhere else.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
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
    /// In a child process: this program, run as `PROGRAM compile-component [ENGINE ARGS]`,
    /// the component on its standard input, the artifact on its standard output. When it
    /// cannot be started, or its artifact does not load here, the component is compiled in
    /// this process instead, with a warning. When it crashes, is killed (as by the kernel's
    /// out-of-memory killer) or runs past its deadline, the version is rejected: compiling it
    /// here could take this process down the same way.
    Child {
        program: PathBuf,
        /// The arguments that give the child the same engine settings as this process.
        engine_args: Vec<String>,
    },
}

impl Compiler {
    /// Compiles `bytes` with `engine`.
    pub(super) fn compile(&self, engine: &Engine, bytes: &[u8]) -> Result<Component, LoadError> {
        match self {
            Compiler::InProcess => compile_here(engine, bytes),
            Compiler::Child { program, engine_args } => {
                match compile_in_child(engine, program, engine_args, bytes) {
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
    bytes: &[u8],
) -> Result<Component, ChildError> {
    let mut child = Command::new(program)
        .arg(COMPILE_SUBCOMMAND)
        .args(engine_args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| ChildError::Unusable(format!("cannot start it: {error}")))?;
    let pipes = Pipes::open(&mut child, bytes).map_err(|error| {
        abandon(&mut child);
        ChildError::Unusable(format!("cannot talk to it: {error}"))
    })?;
    let status = wait_until_deadline(&mut child).inspect_err(|_| abandon(&mut child))?;
    let (artifact, message) = pipes.collect();
    let message = message.trim().trim_start_matches("error: ").to_owned();
    match status.code() {
        Some(0) => {}
        Some(REJECTED_EXIT) => return Err(ChildError::Rejected(message)),
        _ if message.is_empty() => return Err(ChildError::Failed(format!("ended with {status}"))),
        _ => return Err(ChildError::Failed(format!("ended with {status}: {message}"))),
    }
    let artifact = artifact
        .map_err(|error| ChildError::Unusable(format!("cannot read its artifact: {error}")))?;
    // SAFETY: the artifact was written by this program's own compiler, on the pipe this
    // process opened to it a moment ago; its engine settings are checked on load.
    #[allow(unsafe_code)] // loading precompiled code is unsafe by nature; see above
    let loaded = unsafe { Component::deserialize(engine, &artifact) };
    loaded.map_err(|error| ChildError::Unusable(format!("its artifact does not load: {error:#}")))
}

/// Ends a child this process gave up on, and reaps it.
fn abandon(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn wait_until_deadline(child: &mut Child) -> Result<std::process::ExitStatus, ChildError> {
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if started.elapsed() > CHILD_DEADLINE => {
                return Err(ChildError::Failed(format!(
                    "was stopped after {CHILD_DEADLINE:?} without finishing"
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(error) => return Err(ChildError::Unusable(format!("cannot wait for it: {error}"))),
        }
    }
}

/// The child's three pipes, each served by a thread of its own so that none of them can fill
/// up and stall the child while this process waits on another.
struct Pipes {
    input: JoinHandle<()>,
    artifact: JoinHandle<std::io::Result<Vec<u8>>>,
    message: JoinHandle<String>,
}

impl Pipes {
    fn open(child: &mut Child, bytes: &[u8]) -> std::io::Result<Pipes> {
        let missing = || std::io::Error::other("a pipe to the child is missing");
        let mut stdin = child.stdin.take().ok_or_else(missing)?;
        let mut stdout = child.stdout.take().ok_or_else(missing)?;
        let mut stderr = child.stderr.take().ok_or_else(missing)?;
        let bytes = bytes.to_vec();
        // A child that ends early closes its end: the write fails, and its exit status
        // says why.
        let input = spawn_named("hotloop-compile-in", move || {
            let _ = stdin.write_all(&bytes);
        })?;
        let artifact = spawn_named("hotloop-compile-out", move || {
            let mut artifact = Vec::new();
            stdout.read_to_end(&mut artifact).map(|_| artifact)
        })?;
        let message = spawn_named("hotloop-compile-err", move || {
            // Keeps the start of what the child says, and drains the rest so it never blocks.
            let mut message = Vec::new();
            let _ = (&mut stderr).take(64 << 10).read_to_end(&mut message);
            let _ = std::io::copy(&mut stderr, &mut std::io::sink());
            String::from_utf8_lossy(&message).into_owned()
        })?;
        Ok(Pipes { input, artifact, message })
    }

    /// The artifact and the child's standard error, once the child has ended.
    fn collect(self) -> (std::io::Result<Vec<u8>>, String) {
        let _ = self.input.join();
        let lost = || std::io::Error::other("the thread reading the child's output failed");
        let artifact = self.artifact.join().unwrap_or_else(|_| Err(lost()));
        let message = self.message.join().unwrap_or_default();
        (artifact, message)
    }
}

fn spawn_named<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<JoinHandle<T>> {
    std::thread::Builder::new().name(name.to_owned()).spawn(work)
}

/// The exit status of `compile-component` when the component itself is bad.
pub const REJECTED_EXIT: i32 = 3;

/// What `hotloop compile-component` does: compiles the component read from `input` with
/// `engine` and writes the precompiled artifact to `output`.
///
/// # Errors
/// [`CompileError::Read`] or [`CompileError::Write`] for the streams,
/// [`CompileError::Rejected`] when the bytes do not compile.
pub fn compile_stream(
    engine: &Engine,
    mut input: impl Read,
    mut output: impl Write,
) -> Result<(), CompileError> {
    let mut bytes = Vec::new();
    input.read_to_end(&mut bytes).map_err(CompileError::Read)?;
    let artifact = engine
        .precompile_component(&bytes)
        .map_err(|error| CompileError::Rejected(format!("{error:#}")))?;
    output.write_all(&artifact).and_then(|()| output.flush()).map_err(CompileError::Write)
}

/// Why `compile-component` did not write an artifact.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("cannot read the component from standard input")]
    Read(#[source] std::io::Error),
    #[error("cannot write the artifact to standard output")]
    Write(#[source] std::io::Error),
    #[error("{0}")]
    Rejected(String),
}
