//! Hot swap through a ConfigMap, against a real control plane: 200 probes under continuous
//! change while version 2 replaces version 1, then a broken version 3 that is rejected.

mod common;
mod swap;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use hotloop::plugins::RegistryEvent;
use kube::api::{DeleteParams, DynamicObject};
use kube::runtime::watcher;
use swap::*;
use tokio::sync::Mutex;

const PROBES: usize = 200;

/// Every status a probe was seen with: (from generation, variant).
type Seen = Arc<Mutex<HashMap<String, Vec<(i64, String)>>>>;

fn record_statuses(api: kube::Api<DynamicObject>) -> (Seen, tokio::task::JoinHandle<()>) {
    let seen: Seen = Arc::default();
    let recording = seen.clone();
    let task = tokio::spawn(async move {
        let mut events = std::pin::pin!(watcher(api, watcher::Config::default()));
        while let Some(event) = events.next().await {
            let Ok(watcher::Event::Apply(probe) | watcher::Event::InitApply(probe)) = event else {
                continue;
            };
            let status = status(&probe);
            let (Some(from), Some(variant)) =
                (status["fromGeneration"].as_i64(), status["variant"].as_str())
            else {
                continue;
            };
            let name = probe.metadata.name.clone().unwrap_or_default();
            recording.lock().await.entry(name).or_default().push((from, variant.to_owned()));
        }
    });
    (seen, task)
}

#[tokio::test]
async fn version_2_takes_over_200_changing_probes_and_a_broken_version_3_is_rejected() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let namespace = CLUSTER.namespace().await.expect("a namespace");
    let mut operator = Operator::start(&namespace, true).await;
    let api = probe_api(&namespace);
    let v1 = std::fs::read(common::swap_probe("v1")).expect("v1");
    let v2 = std::fs::read(common::swap_probe("v2")).expect("v2");

    put_plugin(&namespace, "probe-plugin", v1, BTreeMap::new()).await;
    let started =
        operator.report("v1 started", |r| matches!(r, RegistryEvent::Started { .. })).await;
    let RegistryEvent::Started { digest: v1_digest, .. } = started else { unreachable!() };
    create_probes(&api, PROBES).await;
    all_settled_by(&api, PROBES, "v1").await;
    let (seen, recording) = record_statuses(api.clone());

    // Change every probe, over and over, while the swap happens.
    let changing = Arc::new(AtomicBool::new(true));
    let changes: Arc<Mutex<Vec<(String, i64, Instant)>>> = Arc::default();
    let changer = {
        let (api, changing, changes) = (api.clone(), changing.clone(), changes.clone());
        tokio::spawn(async move {
            let mut round = 1_i64;
            while changing.load(Ordering::Relaxed) {
                for i in 0..PROBES {
                    let name = probe_name(i);
                    let generation = set_value(&api, &name, round * 1000 + i as i64).await;
                    changes.lock().await.push((name, generation, Instant::now()));
                }
                round += 1;
            }
            round
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    put_plugin(&namespace, "probe-plugin", v2, BTreeMap::new()).await;
    let swapped =
        operator.report("the swap to v2", |r| matches!(r, RegistryEvent::Swapped { .. })).await;
    let swapped_at = Instant::now();
    let RegistryEvent::Swapped { from, to: v2_digest, .. } = swapped else { unreachable!() };
    assert_eq!(from, v1_digest);
    tokio::time::sleep(Duration::from_secs(4)).await;
    changing.store(false, Ordering::Relaxed);
    let rounds = changer.await.expect("the changer");
    assert!(rounds >= 2, "every probe changed after the swap (rounds: {rounds})");
    all_settled_by(&api, PROBES, "v2").await;
    recording.abort();

    // Every status computed from a spec written after the swap was computed by version 2.
    let changes = changes.lock().await;
    let seen = seen.lock().await;
    for i in 0..PROBES {
        let name = probe_name(i);
        let first_after = changes
            .iter()
            .filter(|(n, _, at)| *n == name && *at > swapped_at)
            .map(|(_, generation, _)| *generation)
            .min()
            .unwrap_or_else(|| panic!("{name} was changed after the swap"));
        let statuses = seen.get(&name).map(Vec::as_slice).unwrap_or_default();
        let stale: Vec<_> =
            statuses.iter().filter(|(from, v)| *from >= first_after && v != "v2").collect();
        assert!(stale.is_empty(), "{name}: statuses after the swap by another version: {stale:?}");
        assert!(statuses.iter().any(|(_, v)| v == "v2"), "{name} was reconciled by v2");
    }
    let note = config_map_event(&namespace, "probe-plugin", "PluginSwapped").await;
    assert!(note.contains(&v2_digest) && note.contains("2.0.0"), "{note}");
    let warnings = probe_warnings(&namespace).await;
    assert!(warnings.is_empty(), "no reconcile failed: {warnings:?}");

    // A broken version 3 is rejected; version 2 keeps serving.
    put_plugin(&namespace, "probe-plugin", b"\0asm but not a component".to_vec(), BTreeMap::new())
        .await;
    let note = config_map_event(&namespace, "probe-plugin", "PluginRejected").await;
    assert!(note.contains("swap-probe.wasm"), "the rejection names the key: {note}");
    assert_eq!(
        operator.registry.serving().await,
        vec![("swap-probe".to_owned(), v2_digest.clone())]
    );
    set_value(&api, &probe_name(7), 21).await;
    all_settled_by(&api, PROBES, "v2").await;

    // Deleting every probe finalizes each exactly once.
    for i in 0..PROBES {
        api.delete(&probe_name(i), &DeleteParams::default()).await.expect("delete a probe");
    }
    all_gone(&api).await;
    let finalized = events_by_object(&namespace, "Finalized").await;
    for i in 0..PROBES {
        let name = probe_name(i);
        assert_eq!(finalized.get(&name), Some(&1), "{name} is finalized exactly once");
    }
}
