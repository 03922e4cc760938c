//! The operator stopped and started again: objects resume from `status.phase`, and an object
//! deleted while no operator ran keeps its finalizer until the clean-up has run.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hotloop::controller::Settings;
use hotloop::observe::Metrics;
use hotloop::plugins::{Candidate, Origin, Registry};
use hotloop::runtime::{Runtime, RuntimeConfig};
use hotloop_testenv::{ClusterOptions, SharedCluster, eventually};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::events::Reporter;
use serde_json::json;

static CLUSTER: SharedCluster = SharedCluster::new(|| {
    ClusterOptions::new().crd_yaml(include_str!("../../plugins/static-site/deploy/crd.yaml"))
});

/// An operator with the example plugin on a runtime of its own, until stopped.
struct Operator {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Operator {
    fn start(config: kube::Config) -> Operator {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let client = kube::Client::try_from(config).unwrap();
                let engine = Runtime::new(RuntimeConfig::default()).unwrap();
                let reporter =
                    Reporter { controller: "hotloop".into(), instance: Some("restart".into()) };
                let registry = Registry::new(
                    engine,
                    client,
                    Settings::default(),
                    reporter,
                    Arc::new(Metrics::new()),
                    None,
                );
                let path = common::plugin("static-site");
                let bytes = std::fs::read(&path).unwrap();
                let candidate =
                    Candidate { origin: Origin::File(path), bytes, annotations: BTreeMap::new() };
                registry.offer(candidate, None).await;
                ready_tx.send(()).unwrap();
                let _ = stopped.await;
                registry.stop_all(Duration::from_secs(10)).await;
            });
        });
        ready_rx.recv().expect("the operator started");
        Operator { stop, thread }
    }

    fn stop(self) {
        let _ = self.stop.send(());
        self.thread.join().expect("the operator stopped cleanly");
    }
}

fn sites() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.hotloop.dev", "v1", "StaticSite"),
        "staticsites",
    )
}

async fn phase_and_generation(
    api: &Api<DynamicObject>,
    name: &str,
) -> Result<(String, i64), String> {
    let site = api.get(name).await.map_err(|e| e.to_string())?;
    let status = &site.data["status"];
    Ok((
        status["phase"].as_str().unwrap_or("").to_owned(),
        status["observedGeneration"].as_i64().unwrap_or(0),
    ))
}

#[tokio::test]
async fn after_a_restart_objects_resume_from_their_phase_and_deletions_wait_for_clean_up() {
    let cluster = CLUSTER.get().await.expect("the cluster");
    let namespace = CLUSTER.namespace().await.expect("a namespace");
    let api: Api<DynamicObject> =
        Api::namespaced_with(namespace.client(), namespace.name(), &sites());
    let config_maps: Api<ConfigMap> = Api::namespaced(namespace.client(), namespace.name());
    let site = |name: &str| -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "example.hotloop.dev/v1", "kind": "StaticSite", "metadata": { "name": name },
            "spec": { "domain": format!("{name}.example.com"), "content": "<p>v1</p>" },
        }))
        .unwrap()
    };

    let first = Operator::start(cluster.config().clone());
    for name in ["kept", "removed"] {
        api.create(&PostParams::default(), &site(name)).await.expect("create");
    }
    for name in ["kept", "removed"] {
        eventually(&format!("{name} is Ready"), || async {
            match phase_and_generation(&api, name).await? {
                (phase, 1) if phase == "Ready" => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    }
    first.stop();

    // While no operator runs: the spec of one changes, the other is deleted.
    let change = json!({ "spec": { "content": "<p>v2</p>" } });
    api.patch("kept", &PatchParams::default(), &Patch::Merge(&change)).await.expect("spec change");
    api.delete("removed", &DeleteParams::default()).await.expect("delete");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let held = api.get("removed").await.expect("the finalizer holds the deleted site");
    assert!(held.metadata.deletion_timestamp.is_some());
    assert_eq!(phase_and_generation(&api, "kept").await.unwrap(), ("Ready".to_owned(), 1));

    let second = Operator::start(cluster.config().clone());
    eventually("the changed site is published again from its Ready phase", || async {
        match phase_and_generation(&api, "kept").await? {
            (phase, 2) if phase == "Ready" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    eventually("the deleted site is cleaned up and released", || async {
        let site = api.get_opt("removed").await.map_err(|e| e.to_string())?;
        let content = config_maps.get_opt("removed-content").await.map_err(|e| e.to_string())?;
        match (site, content) {
            (None, None) => Ok(()),
            (site, content) => {
                Err(format!("site left: {}, content left: {}", site.is_some(), content.is_some()))
            }
        }
    })
    .await;
    second.stop();
}
