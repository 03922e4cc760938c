//! The operator at scale, on the local control plane: N StaticSites (default 1,000), each
//! walking three transitions to Ready, driven by the plugin's component or by the same plugin
//! code compiled natively, behind the same controller. One handler per process, so that each
//! run's peak RSS is its own.
//!
//! Run: `scripts/bench-operator` (both handlers, one after the other).

mod native;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use hotloop::contract::Handler;
use hotloop::controller::{ControllerHandle, Serving, Settings};
use hotloop::observe::Metrics;
use hotloop::runtime::{Limits, Runtime, RuntimeConfig};
use hotloop_testenv::{Cluster, ClusterOptions};
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::events::Reporter;
use serde_json::json;

fn argument(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// Sums every sample of a counter family in an OpenMetrics text.
fn counter_sum(text: &str, family: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(family) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let handler_name = argument("--handler").unwrap_or_else(|| "wasm".into());
    let objects: usize = argument("--objects").and_then(|n| n.parse().ok()).unwrap_or(1000);
    let options =
        ClusterOptions::new().crd_yaml(include_str!("../../plugins/static-site/deploy/crd.yaml"));
    let cluster = Cluster::start(&options).await.expect("the local control plane");
    let client = cluster.client().expect("a client");
    let namespace = cluster.namespace().await.expect("a namespace");

    let handler: Arc<dyn Handler> = match handler_name.as_str() {
        "native" => Arc::new(native::NativeStaticSite::new()),
        _ => {
            let target = std::env::var("CARGO_TARGET_DIR")
                .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").into());
            let bytes = std::fs::read(format!("{target}/wasm32-wasip2/plugin/static_site.wasm"))
                .expect("run scripts/build-plugins first");
            let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
            Arc::new(runtime.load(&bytes, Limits::default()).unwrap())
        }
    };
    let metrics = Arc::new(Metrics::new());
    let reporter = Reporter { controller: "hotloop".into(), instance: Some("bench".into()) };
    let settings = Settings { concurrency: 8, ..Settings::default() };
    let controller = ControllerHandle::start(
        client.clone(),
        Serving::new(handler),
        settings,
        reporter,
        metrics.clone(),
    )
    .await
    .expect("the controller starts");

    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.hotloop.dev", "v1", "StaticSite"),
        "staticsites",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace.name(), &resource);
    let started = Instant::now();
    futures::stream::iter(0..objects)
        .for_each_concurrent(16, |i| {
            let api = api.clone();
            async move {
                let site: DynamicObject = serde_json::from_value(json!({
                    "apiVersion": "example.hotloop.dev/v1", "kind": "StaticSite",
                    "metadata": { "name": format!("site-{i:05}") },
                    "spec": { "domain": format!("site-{i}.example.com"), "content": "<p>benchmark</p>" },
                }))
                .unwrap();
                api.create(&PostParams::default(), &site).await.expect("create");
            }
        })
        .await;
    let created = started.elapsed();
    loop {
        let list = api.list(&ListParams::default()).await.expect("list");
        let ready = list.items.iter().filter(|o| o.data["status"]["phase"] == "Ready").count();
        if ready == objects {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "only {ready} of {objects} Ready after 15 minutes"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let wall = started.elapsed();
    let text = metrics.encode();
    let reconciles = counter_sum(&text, "hotloop_reconciles_total");
    let requests = counter_sum(&text, "hotloop_api_requests_total");
    println!(
        "handler={handler_name} objects={objects} wall_s={:.2} created_s={:.2} reconciles={reconciles} reconciles_per_s={:.0} api_requests_per_reconcile={:.2} peak_rss_mib={:.1}",
        wall.as_secs_f64(),
        created.as_secs_f64(),
        reconciles / wall.as_secs_f64(),
        requests / reconciles.max(1.0),
        peak_rss_mib(),
    );
    controller.stop(Duration::from_secs(10)).await;
}
