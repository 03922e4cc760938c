//! Removing a plugin leaves no finalizer stuck, and the plugins directory hot swaps too;
//! against a real control plane.

mod common;
mod swap;

use std::collections::BTreeMap;
use std::time::Duration;

use hotloop::plugins::{ON_REMOVAL_ANNOTATION, RegistryEvent, follow_dir};
use hotloop_testenv::eventually;
use kube::api::{DeleteParams, ListParams};
use swap::*;

#[tokio::test]
async fn removing_the_plugin_while_probes_are_deleted_leaves_no_finalizer_stuck() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let namespace = CLUSTER.namespace().await.expect("a namespace");
    let mut operator = Operator::start(&namespace, true).await;
    let api = probe_api(&namespace);
    let v1 = std::fs::read(common::swap_probe("v1")).expect("v1");
    put_plugin(&namespace, "probe-plugin", v1, BTreeMap::new()).await;
    create_probes(&api, 20).await;
    all_settled_by(&api, 20, "v1").await;

    // Half the probes are being deleted when the plugin goes away.
    for i in 0..10 {
        api.delete(&probe_name(i), &DeleteParams::default()).await.expect("delete a probe");
    }
    delete_config_map(&namespace, "probe-plugin").await;
    let removed =
        operator.report("the removal", |r| matches!(r, RegistryEvent::Removed { .. })).await;
    assert_eq!(removed, RegistryEvent::Removed { plugin: "swap-probe".into(), release: false });
    assert!(operator.registry.serving().await.is_empty(), "nothing serves after the removal");
    eventually("the deleted probes are gone", || async {
        let left = api.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
        if left.items.len() == 10 {
            Ok(())
        } else {
            Err(format!("{} probes left", left.items.len()))
        }
    })
    .await;

    // The others are no longer reconciled, but keep their finalizer and can still be deleted.
    set_value(&api, &probe_name(15), 99).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let unchanged = api.get(&probe_name(15)).await.expect("probe 15");
    assert_eq!(status(&unchanged)["echo"], 15, "a removed plugin reconciles nothing");
    assert_eq!(finalizers(&unchanged), vec!["hotloop.dev/swap-probe".to_owned()]);
    for i in 10..20 {
        api.delete(&probe_name(i), &DeleteParams::default()).await.expect("delete a probe");
    }
    all_gone(&api).await;
    operator.report("the controller drained", |r| matches!(r, RegistryEvent::Drained { .. })).await;
    let finalized = events_by_object(&namespace, "Finalized").await;
    for i in 0..20 {
        assert_eq!(finalized.get(&probe_name(i)), Some(&1), "probe {i} ran its clean-up once");
    }
    let note = config_map_event(&namespace, "probe-plugin", "PluginRemoved").await;
    assert!(note.contains("swap-probe") && note.contains(ON_REMOVAL_ANNOTATION), "{note}");
    no_drain_records(&namespace).await;
}

#[tokio::test]
async fn a_removed_plugin_drains_on_after_the_host_restarts() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let namespace = CLUSTER.namespace().await.expect("a namespace");
    let mut first = Operator::start(&namespace, true).await;
    let api = probe_api(&namespace);
    let v1 = std::fs::read(common::swap_probe("v1")).expect("v1");
    put_plugin(&namespace, "probe-plugin", v1, BTreeMap::new()).await;
    create_probes(&api, 5).await;
    all_settled_by(&api, 5, "v1").await;

    delete_config_map(&namespace, "probe-plugin").await;
    first.report("the removal", |r| matches!(r, RegistryEvent::Removed { .. })).await;
    eventually("the removed version is kept in a drain record", || async {
        let records = drain_records(&namespace).await;
        if records.len() == 1 { Ok(()) } else { Err(records) }
    })
    .await;
    first.stop().await;

    // A new host, with no ConfigMap of the plugin left, finds the record and drains on.
    let mut second = Operator::start(&namespace, true).await;
    for i in 0..5 {
        api.delete(&probe_name(i), &DeleteParams::default()).await.expect("delete a probe");
    }
    all_gone(&api).await;
    second.report("the controller drained", |r| matches!(r, RegistryEvent::Drained { .. })).await;
    let finalized = events_by_object(&namespace, "Finalized").await;
    for i in 0..5 {
        assert_eq!(finalized.get(&probe_name(i)), Some(&1), "probe {i} ran its clean-up once");
    }
    no_drain_records(&namespace).await;
}

#[tokio::test]
async fn a_plugin_installed_again_takes_over_from_its_drain_record() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let namespace = CLUSTER.namespace().await.expect("a namespace");
    let mut operator = Operator::start(&namespace, true).await;
    let api = probe_api(&namespace);
    let v1 = std::fs::read(common::swap_probe("v1")).expect("v1");
    put_plugin(&namespace, "probe-plugin", v1.clone(), BTreeMap::new()).await;
    create_probes(&api, 3).await;
    all_settled_by(&api, 3, "v1").await;
    delete_config_map(&namespace, "probe-plugin").await;
    operator.report("the removal", |r| matches!(r, RegistryEvent::Removed { .. })).await;
    eventually("a drain record is written", || async {
        let records = drain_records(&namespace).await;
        if records.len() == 1 { Ok(()) } else { Err(records) }
    })
    .await;

    put_plugin(&namespace, "probe-plugin", v1, BTreeMap::new()).await;
    no_drain_records(&namespace).await;
    set_value(&api, &probe_name(1), 41).await;
    all_settled_by(&api, 3, "v1").await;
    assert_eq!(operator.registry.serving().await.len(), 1, "the plugin serves again");
    // Probes left behind would keep other tests' draining controllers waiting.
    for i in 0..3 {
        api.delete(&probe_name(i), &DeleteParams::default()).await.expect("delete a probe");
    }
    all_gone(&api).await;
}

#[tokio::test]
async fn a_plugin_removed_with_release_lets_go_of_its_probes_without_clean_up() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let namespace = CLUSTER.namespace().await.expect("a namespace");
    let mut operator = Operator::start(&namespace, true).await;
    let api = probe_api(&namespace);
    let v1 = std::fs::read(common::swap_probe("v1")).expect("v1");
    let release = BTreeMap::from([(ON_REMOVAL_ANNOTATION.to_owned(), "release".to_owned())]);
    put_plugin(&namespace, "probe-plugin", v1, release).await;
    create_probes(&api, 5).await;
    all_settled_by(&api, 5, "v1").await;

    delete_config_map(&namespace, "probe-plugin").await;
    let removed =
        operator.report("the removal", |r| matches!(r, RegistryEvent::Removed { .. })).await;
    assert_eq!(removed, RegistryEvent::Removed { plugin: "swap-probe".into(), release: true });
    operator.report("the controller drained", |r| matches!(r, RegistryEvent::Drained { .. })).await;
    let left = api.list(&ListParams::default()).await.expect("list probes");
    assert_eq!(left.items.len(), 5, "releasing deletes nothing");
    assert!(left.items.iter().all(|p| finalizers(p).is_empty()), "every finalizer is released");
    let released = events_by_object(&namespace, "FinalizerReleased").await;
    assert_eq!(released.len(), 5, "a Warning Event on each released probe: {released:?}");
    for i in 0..5 {
        api.delete(&probe_name(i), &DeleteParams::default()).await.expect("delete a probe");
    }
    all_gone(&api).await;
    assert!(events_by_object(&namespace, "Finalized").await.is_empty(), "no clean-up ran");
}

#[tokio::test]
async fn the_plugins_directory_swaps_on_a_rename_into_place_and_removes_on_delete() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let namespace = CLUSTER.namespace().await.expect("a namespace");
    let mut operator = Operator::start(&namespace, false).await;
    let api = probe_api(&namespace);
    let dir = tempfile::tempdir().expect("a plugins directory");
    let installed = dir.path().join("swap-probe.wasm");
    std::fs::copy(common::swap_probe("v1"), &installed).expect("install v1");
    let _following = follow_dir(operator.registry.clone(), dir.path(), Duration::from_millis(150))
        .await
        .expect("follow the directory");
    operator.report("v1 started", |r| matches!(r, RegistryEvent::Started { .. })).await;
    create_probes(&api, 10).await;
    all_settled_by(&api, 10, "v1").await;

    // An editor's way of saving: a hidden temporary file, renamed over the plugin.
    let temporary = dir.path().join(".swap-probe.wasm.partial");
    std::fs::copy(common::swap_probe("v2"), &temporary).expect("write v2 beside");
    std::fs::rename(&temporary, &installed).expect("rename into place");
    operator.report("the swap to v2", |r| matches!(r, RegistryEvent::Swapped { .. })).await;
    all_settled_by(&api, 10, "v2").await;

    std::fs::remove_file(&installed).expect("remove the plugin");
    operator.report("the removal", |r| matches!(r, RegistryEvent::Removed { .. })).await;
    for i in 0..10 {
        api.delete(&probe_name(i), &DeleteParams::default()).await.expect("delete a probe");
    }
    all_gone(&api).await;
    let warnings = probe_warnings(&namespace).await;
    assert!(warnings.is_empty(), "no reconcile failed: {warnings:?}");
}

#[tokio::test]
async fn new_limits_on_the_same_bytes_take_effect_at_once() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let namespace = CLUSTER.namespace().await.expect("a namespace");
    let mut operator = Operator::start(&namespace, true).await;
    let api = probe_api(&namespace);
    let v1 = std::fs::read(common::swap_probe("v1")).expect("v1");
    put_plugin(&namespace, "probe-plugin", v1.clone(), BTreeMap::new()).await;
    operator.report("v1 started", |r| matches!(r, RegistryEvent::Started { .. })).await;
    create_probes(&api, 2).await;
    all_settled_by(&api, 2, "v1").await;

    // Far too little fuel: the same bytes, now failing every call.
    let starved = BTreeMap::from([("hotloop.dev/fuel".to_owned(), "1000".to_owned())]);
    put_plugin(&namespace, "probe-plugin", v1.clone(), starved).await;
    operator.report("the new limits", |r| matches!(r, RegistryEvent::Swapped { .. })).await;
    set_value(&api, &probe_name(0), 5).await;
    eventually("probe 0 runs out of fuel", || async {
        let warnings = probe_warnings(&namespace).await;
        let starved = warnings
            .iter()
            .any(|(object, reason)| *object == probe_name(0) && reason == "OutOfFuel");
        if starved { Ok(()) } else { Err(warnings) }
    })
    .await;

    // The limits of before: it settles again.
    put_plugin(&namespace, "probe-plugin", v1, BTreeMap::new()).await;
    all_settled_by(&api, 2, "v1").await;
    for i in 0..2 {
        api.delete(&probe_name(i), &DeleteParams::default()).await.expect("delete a probe");
    }
    all_gone(&api).await;
}

#[tokio::test]
async fn a_plugin_whose_kind_is_not_installed_is_reported_and_starts_once_it_is() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let _alone = ONE_AT_A_TIME.lock().await;
    let namespace = CLUSTER.namespace().await.expect("a namespace");
    let mut operator = Operator::start(&namespace, true).await;
    let misbehave = std::fs::read(common::plugin("misbehave")).expect("the misbehave plugin");
    put_plugin(&namespace, "misbehave-plugin", misbehave, BTreeMap::new()).await;
    let missing = operator
        .report("the missing kind", |r| matches!(r, RegistryEvent::KindMissing { .. }))
        .await;
    let RegistryEvent::KindMissing { plugin, kind } = missing else { unreachable!() };
    assert_eq!(plugin, "misbehave");
    assert!(kind.contains("Misbehavior"), "{kind}");
    let note = config_map_event(&namespace, "misbehave-plugin", "KindNotInstalled").await;
    assert!(note.contains("install its CustomResourceDefinition"), "{note}");

    // The other plugins run on meanwhile.
    let v1 = std::fs::read(common::swap_probe("v1")).expect("v1");
    put_plugin(&namespace, "probe-plugin", v1, BTreeMap::new()).await;
    create_probes(&probe_api(&namespace), 1).await;
    all_settled_by(&probe_api(&namespace), 1, "v1").await;

    // Once the kind is installed, the next retry starts the plugin's controller.
    let crd: CustomResourceDefinition =
        serde_yaml_ng::from_str(include_str!("../../plugins/misbehave/deploy/crd.yaml"))
            .expect("the misbehave CRD");
    let crds: kube::Api<CustomResourceDefinition> = kube::Api::all(namespace.client());
    crds.create(&Default::default(), &crd).await.expect("install the CRD");
    operator
        .report(
            "the misbehave controller",
            |r| matches!(r, RegistryEvent::Started { plugin, .. } if plugin == "misbehave"),
        )
        .await;
    api_cleanup(&namespace).await;
}

async fn api_cleanup(namespace: &hotloop_testenv::TestNamespace<'_>) {
    let api = probe_api(namespace);
    api.delete(&probe_name(0), &DeleteParams::default()).await.expect("delete the probe");
    all_gone(&api).await;
}
