//! Compiling in a child process (`hotloop compile-component`), as `hotloop run` does: the
//! plugin loads and runs as if compiled here, the child needs no directory it can write to, a
//! broken component is rejected with the compiler's reason, a compiler that crashes rejects
//! the version, and a compiler that cannot start falls back to compiling here.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

use hotloop::contract::{Context, Outcome};
use hotloop::host_api::{Fixtures, Parent};
use hotloop::runtime::{
    COMPILE_SUBCOMMAND, Compiler, Limits, LoadError, Origin, Runtime, RuntimeConfig,
};
use serde_json::json;

fn runtime_compiling_with(program: PathBuf, cache_dir: Option<PathBuf>) -> Runtime {
    let mut config = RuntimeConfig { cache_dir, ..RuntimeConfig::default() };
    config.compiler = config.child_compiler(program);
    Runtime::new(config).expect("the runtime")
}

fn hotloop() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hotloop"))
}

#[test]
fn a_plugin_compiled_in_a_child_loads_and_runs() {
    let cache = tempfile::tempdir().expect("a cache directory");
    let runtime = runtime_compiling_with(hotloop(), Some(cache.path().to_path_buf()));
    let bytes = common::plugin_bytes("static_site");
    let (plugin, origin) =
        runtime.load_reporting_origin(&bytes, Limits::default()).expect("the plugin loads");
    assert_eq!(origin, Origin::Compiled);
    assert_eq!(plugin.manifest().name, "static-site");

    let object = json!({
        "apiVersion": "example.hotloop.dev/v1", "kind": "StaticSite",
        "metadata": { "name": "hello", "namespace": "default", "uid": "u-1", "generation": 1 },
        "spec": { "domain": "hello.example.com", "content": "<p>hi</p>" },
    });
    let parent = Parent::from_object(&object).expect("a parent");
    let host = Fixtures::default().host_calls(Arc::new(plugin.manifest().clone()), parent);
    let context = Context {
        now: "2026-01-01T00:00:00Z".into(),
        trigger: "created".into(),
        attempt: 0,
        plugin_digest: plugin.digest().to_owned(),
    };
    let reconciled = plugin.reconcile_blocking("Pending", &object.to_string(), &context, host);
    assert!(matches!(reconciled.result.outcome, Outcome::Transition { .. }), "{reconciled:?}");

    // The artifact the child wrote is kept: a new runtime loads it from disk.
    let again = runtime_compiling_with(hotloop(), Some(cache.path().to_path_buf()));
    let (_, origin) = again.load_reporting_origin(&bytes, Limits::default()).expect("reloads");
    assert_eq!(origin, Origin::Disk);
}

#[test]
fn the_compiler_process_needs_no_directory_it_can_write_to() {
    // As in the chart's container with the plugin cache turned off: a read-only root and no
    // temporary directory. The component comes in on standard input, the artifact goes out
    // on standard output.
    let Compiler::Child { program, engine_args } =
        RuntimeConfig::default().child_compiler(hotloop())
    else {
        unreachable!("a child compiler")
    };
    let mut child = Command::new(program)
        .arg(COMPILE_SUBCOMMAND)
        .args(&engine_args)
        .env("TMPDIR", "/nonexistent")
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the compiler starts");
    let bytes = common::plugin_bytes("static_site");
    child.stdin.take().expect("its input").write_all(&bytes).expect("the component is sent");
    let output = child.wait_with_output().expect("the compiler ends");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.stdout.starts_with(b"\x7fELF"), "the artifact is a compiled object");
    assert!(output.stdout.len() > bytes.len(), "the artifact holds the compiled code");
}

#[test]
fn a_component_the_child_cannot_compile_is_rejected_with_its_reason() {
    let runtime = runtime_compiling_with(hotloop(), None);
    // A component header followed by a section that is not one.
    let broken = b"\0asm\x0d\x00\x01\x00\xff\xff\xff".to_vec();
    match runtime.load(&broken, Limits::default()) {
        Err(LoadError::Compile(reason)) => assert!(!reason.is_empty(), "a reason is given"),
        other => panic!("a broken component must be rejected, got {other:?}"),
    }
}

#[test]
fn a_compiler_that_cannot_start_falls_back_to_compiling_here() {
    let runtime = runtime_compiling_with(PathBuf::from("/nonexistent/hotloop"), None);
    let plugin = runtime
        .load(&common::plugin_bytes("static_site"), Limits::default())
        .expect("the plugin loads all the same");
    assert_eq!(plugin.manifest().name, "static-site");
}

#[test]
fn a_compiler_that_fails_rejects_the_version_instead_of_compiling_here() {
    // `false` starts, ignores its arguments and exits 1, as a compiler that crashed.
    let runtime = runtime_compiling_with(PathBuf::from("/bin/false"), None);
    match runtime.load(&common::plugin_bytes("static_site"), Limits::default()) {
        Err(LoadError::Compile(reason)) => {
            assert!(
                reason.starts_with("the compiler process ended with exit status: 1"),
                "{reason}"
            );
        }
        other => panic!("a failed compile must reject the version, got {other:?}"),
    }
}
