//! The operator at scale, on the local control plane: N StaticSites (default 1,000), each
//! walking three transitions to Ready, driven by the plugin's component and by the same plugin
//! code compiled natively, behind the same controller, one after the other in one run.
//!
//! The bench process is the driver: for each handler it starts a fresh control plane, starts
//! the operator as a child process of its own (this binary again, `--role operator`), creates
//! the objects, waits until every one is Ready, and reads the child's peak RSS from
//! `/proc/<pid>/status` and its metrics from its standard output. The driver's own listing and
//! creating stay out of the operator's memory figure.
//!
//! Run: `scripts/bench-operator [N]`.

mod native;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
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

/// What the operator child prints once its controller runs, and after its metrics.
const STARTED: &str = "operator started";
const END: &str = "# end of metrics";

fn argument(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn sites() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.hotloop.dev", "v1", "StaticSite"),
        "staticsites",
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let handlers = match argument("--handler") {
        Some(handler) => vec![handler],
        None => vec!["wasm".to_owned(), "native".to_owned()],
    };
    match argument("--role").as_deref() {
        Some("operator") => operator(&handlers[0]).await,
        _ => {
            let objects = argument("--objects").and_then(|n| n.parse().ok()).unwrap_or(1000);
            for handler in &handlers {
                drive(handler, objects).await;
            }
        }
    }
}

/// One measured run: a fresh control plane, the operator child, `objects` StaticSites.
async fn drive(handler: &str, objects: usize) {
    let options =
        ClusterOptions::new().crd_yaml(include_str!("../../plugins/static-site/deploy/crd.yaml"));
    let cluster = Cluster::start(&options).await.expect("the local control plane");
    let namespace = cluster.namespace().await.expect("a namespace");
    let mut child = Command::new(std::env::current_exe().expect("this binary"))
        .args(["--role", "operator", "--handler", handler])
        .env("KUBECONFIG", cluster.kubeconfig())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the operator");
    let mut output = BufReader::new(child.stdout.take().expect("its standard output"));
    wait_for_line(&mut output, STARTED);

    let api: Api<DynamicObject> =
        Api::namespaced_with(namespace.client(), namespace.name(), &sites());
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
                .expect("a StaticSite");
                api.create(&PostParams::default(), &site).await.expect("create");
            }
        })
        .await;
    let created = started.elapsed();
    wait_until_ready(&api, objects, started).await;
    let wall = started.elapsed();
    let peak_rss = peak_rss_mib(&child);
    let metrics = stop(&mut child, output);
    let reconciles = counter_sum(&metrics, "hotloop_reconciles_total");
    let requests = counter_sum(&metrics, "hotloop_api_requests_total");
    println!(
        "handler={handler} objects={objects} wall_s={:.2} created_s={:.2} reconciles={reconciles} reconciles_per_s={:.0} api_requests_per_reconcile={:.2} operator_peak_rss_mib={peak_rss:.1}",
        wall.as_secs_f64(),
        created.as_secs_f64(),
        reconciles / wall.as_secs_f64(),
        requests / reconciles.max(1.0),
    );
}

async fn wait_until_ready(api: &Api<DynamicObject>, objects: usize, started: Instant) {
    loop {
        let list = api.list(&ListParams::default()).await.expect("list");
        let ready = list.items.iter().filter(|o| o.data["status"]["phase"] == "Ready").count();
        if ready == objects {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "only {ready} of {objects} Ready after 15 minutes"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn wait_for_line(output: &mut impl BufRead, wanted: &str) {
    let mut line = String::new();
    loop {
        line.clear();
        let read = output.read_line(&mut line).expect("read the operator's output");
        assert!(read > 0, "the operator exited before printing {wanted:?}");
        if line.trim_end() == wanted {
            return;
        }
    }
}

/// Closes the child's standard input, which stops it, and returns the metrics it prints.
fn stop(child: &mut Child, mut output: BufReader<std::process::ChildStdout>) -> String {
    drop(child.stdin.take());
    let mut metrics = String::new();
    output.read_to_string(&mut metrics).expect("the operator's metrics");
    let status = child.wait().expect("the operator exits");
    assert!(status.success(), "the operator failed: {status}");
    assert!(metrics.contains(END), "the operator printed no metrics");
    metrics
}

/// The high-water mark of the child's resident memory.
fn peak_rss_mib(child: &Child) -> f64 {
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
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

/// The operator child: one controller with `handler`, until its standard input closes.
async fn operator(handler: &str) {
    let client = kube::Client::try_default().await.expect("a client from KUBECONFIG");
    let handler: Arc<dyn Handler> = match handler {
        "native" => Arc::new(native::NativeStaticSite::new()),
        _ => {
            let target = std::env::var("CARGO_TARGET_DIR")
                .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").into());
            let bytes = std::fs::read(format!("{target}/wasm32-wasip2/plugin/static_site.wasm"))
                .expect("run scripts/build-plugins first");
            // Compiled in a child process, as `hotloop run` does, so that the compiler's
            // memory is not part of the operator's peak.
            let mut config = RuntimeConfig::default();
            config.compiler = config.child_compiler(env!("CARGO_BIN_EXE_hotloop").into());
            let runtime = Runtime::new(config).expect("the runtime");
            Arc::new(runtime.load(&bytes, Limits::default()).expect("the plugin loads"))
        }
    };
    let metrics = Arc::new(Metrics::new());
    let reporter = Reporter { controller: "hotloop".into(), instance: Some("bench".into()) };
    let settings = Settings { concurrency: 8, ..Settings::default() };
    let controller =
        ControllerHandle::start(client, Serving::new(handler), settings, reporter, metrics.clone())
            .await
            .expect("the controller starts");
    println!("{STARTED}");
    let stdin_closed = tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
    });
    let _ = stdin_closed.await;
    controller.stop(Duration::from_secs(10)).await;
    let mut stdout = std::io::stdout().lock();
    let _ = write!(stdout, "{}\n{END}\n", metrics.encode());
}
