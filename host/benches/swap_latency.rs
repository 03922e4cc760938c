//! Hot swap latency on the local control plane: the time from a plugin ConfigMap update to
//! the first status written by the new version, over repeated swaps between two versions.
//!
//! The operator runs in this process and follows the ConfigMaps of the bench's namespace
//! through the API, as `hotloop run` does. Twenty `Probe`s are settled; each swap writes the
//! other version into the ConfigMap, and the clock stops when a watch sees the first probe
//! whose `status.plugin.digest` is the new version's. That span holds the API server's
//! ConfigMap watch, compiling the component, the swap, requeueing, a reconcile, the status
//! write and the watch event that reports it.
//!
//! Two series, each over `--swaps` swaps: `cached`, where the two versions alternate (from the
//! third swap on, the component comes from the in-memory artifact cache, as when a version is
//! rolled back), and `fresh`, where every swap brings bytes never seen before (a custom
//! section with the swap's number is appended to the component), so every swap compiles.
//!
//! Run: `scripts/bench-swap [SWAPS]` (default 40).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/swap/mod.rs"]
mod swap;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use hotloop::runtime::digest_of;
use kube::runtime::watcher;
use swap::*;

fn argument(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

/// `component` with a custom section named `hotloop-bench` holding `n`: other bytes, the same
/// code.
fn with_custom_section(component: &[u8], n: usize) -> Vec<u8> {
    fn leb128(mut value: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let name = b"hotloop-bench";
    let mut contents = Vec::new();
    leb128(name.len(), &mut contents);
    contents.extend_from_slice(name);
    contents.extend_from_slice(&n.to_le_bytes());
    let mut out = component.to_vec();
    out.push(0);
    leb128(contents.len(), &mut out);
    out.extend_from_slice(&contents);
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let swaps: usize = argument("--swaps").and_then(|n| n.parse().ok()).unwrap_or(40);
    let namespace = CLUSTER.namespace().await.expect("a namespace");
    let mut operator = Operator::start(&namespace, true).await;
    let api = probe_api(&namespace);
    let versions = [
        std::fs::read(common::swap_probe("v1")).expect("v1"),
        std::fs::read(common::swap_probe("v2")).expect("v2"),
    ];
    put_plugin(&namespace, "probe-plugin", versions[0].clone(), BTreeMap::new()).await;
    operator
        .report("v1 started", |r| matches!(r, hotloop::plugins::RegistryEvent::Started { .. }))
        .await;
    create_probes(&api, 20).await;
    all_settled_by(&api, 20, "v1").await;

    for series in ["cached", "fresh"] {
        let mut spans = Vec::with_capacity(swaps);
        for swap in 1..=swaps {
            let variant = swap % 2;
            let bytes = match series {
                "fresh" => with_custom_section(&versions[variant], swap),
                _ => versions[variant].clone(),
            };
            spans.push(time_swap(&namespace, &api, bytes).await);
            // Let every probe settle on the new version before the next swap.
            all_settled_by(&api, 20, if variant == 1 { "v2" } else { "v1" }).await;
        }
        report(series, swaps, &spans);
    }
}

/// Writes `bytes` into the plugin ConfigMap and returns the time until a probe's status shows
/// their digest.
async fn time_swap(
    namespace: &hotloop_testenv::TestNamespace<'_>,
    api: &kube::Api<kube::api::DynamicObject>,
    bytes: Vec<u8>,
) -> Duration {
    let digest = digest_of(&bytes);
    let mut events = std::pin::pin!(watcher(api.clone(), watcher::Config::default()));
    // The watch is running before the clock starts: wait for its first listing.
    while let Some(event) = events.next().await {
        if matches!(event, Ok(watcher::Event::InitDone)) {
            break;
        }
    }
    let started = Instant::now();
    put_plugin(namespace, "probe-plugin", bytes, BTreeMap::new()).await;
    while let Some(event) = events.next().await {
        let Ok(watcher::Event::Apply(probe)) = event else { continue };
        if status(&probe)["plugin"]["digest"] == digest.as_str() {
            break;
        }
    }
    started.elapsed()
}

fn report(series: &str, swaps: usize, spans: &[Duration]) {
    let mut sorted = spans.to_vec();
    sorted.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "series={series} swaps={swaps} first_ms={:.1} p50_ms={:.1} p99_ms={:.1} max_ms={:.1} min_ms={:.1}",
        ms(spans[0]),
        ms(percentile(&sorted, 50.0)),
        ms(percentile(&sorted, 99.0)),
        ms(sorted[sorted.len() - 1]),
        ms(sorted[0]),
    );
}
