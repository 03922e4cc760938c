//! The cost of a sandboxed call, next to the same plugin code compiled natively, and the cost
//! of loading a plugin: compiling it, or loading its cached artifact.
//!
//! The baseline is the example plugin compiled natively, behind the operator benchmark's
//! native handler (`native/`): the same host calls, and its result converted to what the
//! operator receives from any handler. A second native line calls only the SDK's entry point,
//! without the host calls' set-up and the result's conversion.
//!
//! Run: `scripts/bench-sandbox` (builds the plugins, then `cargo bench --bench sandbox`).

#[allow(dead_code)] // the operator bench uses the handler itself; this one only its calls
mod native;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use hotloop::contract::{Call, Context, Outcome};
use hotloop::host_api::{Fixtures, Parent};
use hotloop::runtime::{Limits, Runtime, RuntimeConfig};
use hotloop_sdk::bindings::Guest;
use hotloop_sdk::bindings::hotloop::plugin::types as wit;
use serde_json::{Value, json};

/// A StaticSite of about 2 KB, shaped like what the API server serves.
fn object() -> Value {
    let object = json!({
        "apiVersion": "example.hotloop.dev/v1",
        "kind": "StaticSite",
        "metadata": {
            "name": "bench", "namespace": "default", "uid": "6c3f0a8e-8f8e-4a55-9e7a-1b2c3d4e5f60",
            "generation": 4, "resourceVersion": "123456", "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": { "app.kubernetes.io/name": "bench", "app.kubernetes.io/part-of": "hotloop" },
            "annotations": { "kubectl.kubernetes.io/last-applied-configuration": "x".repeat(400) },
            "managedFields": [{ "manager": "kubectl", "operation": "Apply", "apiVersion": "example.hotloop.dev/v1",
                "time": "2026-01-01T00:00:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": { "f:spec": { "f:domain": {}, "f:content": {}, "f:protected": {} } } }],
        },
        "spec": { "domain": "bench.example.com", "content": "<p>hotloop</p>".repeat(60), "protected": false },
        "status": { "phase": "Pending", "observedGeneration": 3 },
    });
    assert!((1800..2600).contains(&object.to_string().len()), "object should be about 2 KB");
    object
}

fn plugin_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")));
    target.join("wasm32-wasip2/plugin/static_site.wasm")
}

fn context() -> Context {
    Context {
        now: "2026-01-01T00:00:00Z".into(),
        trigger: "changed".into(),
        attempt: 0,
        plugin_digest: "sha256:bench".into(),
    }
}

fn calls(c: &mut Criterion) {
    let bytes = std::fs::read(plugin_path()).expect("run scripts/build-plugins first");
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let plugin = runtime.load(&bytes, Limits::default()).unwrap();
    let manifest = Arc::new(plugin.manifest().clone());
    let object = object();
    let json = object.to_string();
    let parent = Parent::from_object(&object).unwrap();
    let fixtures = Fixtures::default();
    let context = context();

    let first = plugin.reconcile_blocking(
        "Pending",
        &json,
        &context,
        fixtures.host_calls(manifest.clone(), parent.clone()),
    );
    assert_eq!(first.result.outcome, Outcome::Transition { to: "Publishing".into() });

    let mut group = c.benchmark_group("reconcile-call");
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("wasm-fresh-instance", |b| {
        b.iter(|| {
            let host = fixtures.host_calls(manifest.clone(), parent.clone());
            plugin.reconcile_blocking("Pending", &json, &context, host)
        })
    });
    group.bench_function("native-handler-same-plugin-code", |b| {
        b.iter(|| {
            native::reconcile_here(Call {
                state: "Pending".to_owned(),
                object: json.clone(),
                context: context.clone(),
                host: fixtures.host_calls(manifest.clone(), parent.clone()),
            })
        })
    });
    let wit_context = wit::Context {
        now: context.now.clone(),
        trigger: context.trigger.clone(),
        attempt: 0,
        plugin_digest: context.plugin_digest.clone(),
    };
    group.bench_function("native-sdk-entry-only", |b| {
        b.iter(|| {
            <hotloop_sdk::Exports<static_site::StaticSite> as Guest>::reconcile(
                "Pending".to_owned(),
                json.clone(),
                wit_context.clone(),
            )
        })
    });
    group.finish();
}

fn loading(c: &mut Criterion) {
    let bytes = std::fs::read(plugin_path()).expect("run scripts/build-plugins first");
    let mut group = c.benchmark_group("load");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("compile", |b| {
        b.iter(|| {
            let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
            runtime.load(&bytes, Limits::default()).unwrap()
        })
    });
    let dir = tempfile::tempdir().unwrap();
    let config =
        RuntimeConfig { cache_dir: Some(dir.path().to_path_buf()), ..RuntimeConfig::default() };
    Runtime::new(config.clone()).unwrap().load(&bytes, Limits::default()).unwrap();
    let runtime = Runtime::new(config).unwrap();
    group.bench_function("cached-artifact-from-disk", |b| {
        b.iter_batched(
            || {
                // A new runtime each time, so that the in-memory cache is empty.
                Runtime::new(RuntimeConfig {
                    cache_dir: Some(dir.path().to_path_buf()),
                    ..RuntimeConfig::default()
                })
                .unwrap()
            },
            |fresh| fresh.load(&bytes, Limits::default()).unwrap(),
            criterion::BatchSize::PerIteration,
        )
    });
    group.bench_function("cached-in-memory", |b| {
        b.iter(|| runtime.load(&bytes, Limits::default()).unwrap())
    });
    group.finish();
}

criterion_group!(benches, calls, loading);
criterion_main!(benches);
