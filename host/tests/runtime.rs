//! The sandbox holds: every misbehaving plugin fails its call with the right failure kind,
//! and the next call on the same engine succeeds.

mod common;

use std::sync::Arc;
use std::time::Duration;

use hotloop::contract::{Context, Outcome, Reconciled};
use hotloop::host_api::{Fixtures, Parent};
use hotloop::runtime::{Limits, LoadError, Origin, Plugin, Runtime, RuntimeConfig};
use serde_json::{Value, json};

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig::default()).expect("engine")
}

fn misbehave(runtime: &Runtime, limits: Limits) -> Plugin {
    runtime.load(&common::plugin_bytes("misbehave"), limits).expect("misbehave loads")
}

fn object(mode: &str) -> Value {
    json!({
        "apiVersion": "test.hotloop.dev/v1",
        "kind": "Misbehavior",
        "metadata": { "name": format!("m-{mode}"), "namespace": "default", "uid": "u-1", "generation": 1 },
        "spec": { "mode": mode },
    })
}

fn context() -> Context {
    Context {
        now: "2026-01-01T00:00:00Z".into(),
        trigger: "created".into(),
        attempt: 0,
        plugin_digest: "sha256:test".into(),
    }
}

fn reconcile(plugin: &Plugin, mode: &str) -> Reconciled {
    let object = object(mode);
    let parent = Parent::from_object(&object).unwrap();
    let host = Fixtures::default().host_calls(Arc::new(plugin.manifest().clone()), parent);
    plugin.reconcile_blocking("Start", &object.to_string(), &context(), host)
}

/// Runs `mode`, expects it to fail with `reason`, then expects a well-behaved call on the
/// same engine to succeed.
fn fails_then_recovers(mode: &str, limits: Limits, reason: &str) -> Reconciled {
    let runtime = runtime();
    let plugin = misbehave(&runtime, limits);
    let failed = reconcile(&plugin, mode);
    match &failed.result.outcome {
        Outcome::Fail(failure) => assert_eq!(failure.reason, reason, "{failure:?}"),
        other => panic!("mode {mode} should fail with {reason}, got {other:?}"),
    }
    let next = reconcile(&misbehave(&runtime, Limits::default()), "behave");
    assert_eq!(next.result.outcome, Outcome::Transition { to: "Done".into() });
    failed
}

#[test]
fn a_well_behaved_call_moves_on_and_reports_its_cost() {
    let runtime = runtime();
    let done = reconcile(&misbehave(&runtime, Limits::default()), "behave");
    assert_eq!(done.result.outcome, Outcome::Transition { to: "Done".into() });
    assert!(done.stats.fuel > 0);
    assert_eq!(done.stats.sandbox_failure, None);
}

#[test]
fn a_small_pool_serves_many_more_calls_than_it_has_slots() {
    // Freed slots go back to the pool in batches; a pool that runs short takes its waiting
    // batch back at once, in a row of calls as with calls at the same time.
    let config = RuntimeConfig { max_concurrent_calls: 8, ..RuntimeConfig::default() };
    let runtime = Runtime::new(config).unwrap();
    let plugin = misbehave(&runtime, Limits::default());
    let behaves = || {
        let done = reconcile(&plugin, "behave");
        assert_eq!(done.result.outcome, Outcome::Transition { to: "Done".into() });
    };
    (0..40).for_each(|_| behaves());
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| (0..10).for_each(|_| behaves()));
        }
    });
}

#[test]
fn an_endless_loop_runs_out_of_fuel() {
    let limits =
        Limits { fuel: 50_000_000, deadline: Duration::from_secs(30), ..Limits::default() };
    let failed = fails_then_recovers("loop", limits, "OutOfFuel");
    assert_eq!(failed.stats.sandbox_failure, Some("OutOfFuel"));
    assert!(failed.stats.fuel >= 50_000_000 - 1);
}

#[test]
fn an_endless_loop_with_ample_fuel_is_stopped_at_its_deadline() {
    let limits =
        Limits { fuel: u64::MAX / 2, deadline: Duration::from_millis(50), ..Limits::default() };
    fails_then_recovers("loop", limits, "DeadlineExceeded");
}

#[test]
fn a_memory_hog_is_stopped_at_its_memory_limit() {
    let limits = Limits { memory_bytes: 16 << 20, ..Limits::default() };
    fails_then_recovers("hog", limits, "MemoryLimitExceeded");
}

#[test]
fn a_panic_is_reported_with_the_guest_message() {
    let failed = fails_then_recovers("panic", Limits::default(), "GuestPanic");
    let Outcome::Fail(failure) = failed.result.outcome else { unreachable!() };
    assert!(failure.message.contains("misbehave was asked to panic"), "{}", failure.message);
}

#[test]
fn endless_recursion_traps_on_stack_overflow() {
    let failed = fails_then_recovers("recursion", Limits::default(), "GuestTrap");
    let Outcome::Fail(failure) = failed.result.outcome else { unreachable!() };
    assert!(failure.message.contains("stack"), "{}", failure.message);
}

#[test]
fn an_oversized_result_is_refused() {
    fails_then_recovers("oversized", Limits::default(), "OutputTooLarge");
}

#[test]
fn a_move_to_an_undeclared_state_is_an_invalid_result() {
    fails_then_recovers("unknown-state", Limits::default(), "UnknownState");
}

#[test]
fn a_move_the_manifest_does_not_allow_is_an_invalid_result() {
    fails_then_recovers("forbidden-transition", Limits::default(), "TransitionNotAllowed");
}

#[test]
fn a_host_call_flood_is_cut_off_at_the_budget() {
    let limits = Limits { host_calls: 10, ..Limits::default() };
    let failed = fails_then_recovers("flood", limits, "HostCallBudgetExhausted");
    assert_eq!(failed.stats.host_calls, 10);
}

#[test]
fn reading_an_undeclared_kind_is_denied_and_fails_the_call_for_good() {
    let failed = fails_then_recovers("undeclared-read", Limits::default(), "HostCallDenied");
    let Outcome::Fail(failure) = failed.result.outcome else { unreachable!() };
    assert!(!failure.retryable);
    assert_eq!(failed.stats.sandbox_failure, None, "the plugin itself reported the failure");
}

#[test]
fn a_manifest_with_an_unknown_initial_state_is_refused_with_its_name() {
    let error =
        runtime().load(&common::plugin_bytes("bad-manifest"), Limits::default()).unwrap_err();
    assert!(matches!(error, LoadError::InvalidManifest(_)));
    let chain = format!("{:#}", anyhow::Error::from(error));
    assert!(chain.contains("initial state \"Missing\""), "{chain}");
}

#[test]
fn bytes_that_are_not_a_component_are_refused_with_what_they_are() {
    let runtime = runtime();
    let limits = Limits::default();
    assert!(matches!(runtime.load(b"apiVersion: v1", limits), Err(LoadError::NotWasm(_))));
    assert!(matches!(runtime.load(b"\0asm\x01\0\0\0", limits), Err(LoadError::CoreModule)));
    // An empty component compiles but implements nothing of the contract.
    assert!(matches!(runtime.load(b"\0asm\x0d\0\x01\0", limits), Err(LoadError::WrongWorld(_))));
}

#[test]
fn compiled_artifacts_are_reused_from_memory_and_from_the_cache_directory() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        RuntimeConfig { cache_dir: Some(dir.path().to_path_buf()), ..RuntimeConfig::default() };
    let bytes = common::plugin_bytes("static-site");
    let first = Runtime::new(config.clone()).unwrap();
    let (_, origin) = first.load_reporting_origin(&bytes, Limits::default()).unwrap();
    assert_eq!(origin, Origin::Compiled);
    let (_, origin) = first.load_reporting_origin(&bytes, Limits::default()).unwrap();
    assert_eq!(origin, Origin::Memory);
    let restarted = Runtime::new(config).unwrap();
    let (plugin, origin) = restarted.load_reporting_origin(&bytes, Limits::default()).unwrap();
    assert_eq!(origin, Origin::Disk);
    assert_eq!(plugin.manifest().name, "static-site");
}
