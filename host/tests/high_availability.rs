//! Two replicas of `hotloop run --leader-elect` against a real control plane: one reconciles,
//! the other stands by; the leader is killed while objects move, twice, and every object
//! still reaches its final state, with no clean-up announced twice.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hotloop_testenv::{ClusterOptions, SharedCluster, TestNamespace, eventually};
use k8s_openapi::ByteString;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;

static CLUSTER: SharedCluster = SharedCluster::new(|| {
    ClusterOptions::new().crd_yaml(include_str!("../../plugins/static-site/deploy/crd.yaml"))
});

const LEASE: &str = "hotloop-ha";
const SITES: usize = 20;

fn sites() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.hotloop.dev", "v1", "StaticSite"),
        "staticsites",
    )
}

/// One replica: `hotloop run --leader-elect` as a process of its own, killed when dropped.
struct Replica {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Replica {
    fn start(name: &'static str, namespace: &TestNamespace<'_>, logs: &Path) -> Self {
        let log = logs.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("a log file");
        let child = Command::new(env!("CARGO_BIN_EXE_hotloop"))
            .args(["run", "--namespace", namespace.name(), "--instance", name])
            .args(["--metrics-addr", "127.0.0.1:0", "--backoff-base-ms", "100"])
            .args(["--leader-elect", "--lease-name", LEASE])
            .args(["--lease-duration-s", "4", "--renew-deadline-s", "3", "--retry-period-s", "1"])
            .env("KUBECONFIG", namespace.cluster().kubeconfig())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("hotloop run starts");
        Replica { name, child, log }
    }

    /// Kills the process at once, as a node failure would: no shutdown, no lease release.
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The instance holding the Lease, from its `holderIdentity` (`<instance>_<pid>_<start>`).
async fn leader(namespace: &TestNamespace<'_>) -> Option<String> {
    let leases: Api<Lease> = namespace.api();
    let lease = leases.get_opt(LEASE).await.ok()??;
    let holder = lease.spec?.holder_identity?;
    holder.split('_').next().filter(|name| !name.is_empty()).map(str::to_owned)
}

async fn wait_for_leader(namespace: &TestNamespace<'_>, not: Option<&str>) -> String {
    eventually("a replica leads", || async {
        match leader(namespace).await {
            Some(name) if Some(name.as_str()) != not => Ok(name),
            other => Err(format!("holder: {other:?}")),
        }
    })
    .await
}

async fn put_plugin(namespace: &TestNamespace<'_>) {
    let api: Api<ConfigMap> = namespace.api();
    let config_map = ConfigMap {
        metadata: ObjectMeta {
            name: Some("static-site".into()),
            labels: Some(BTreeMap::from([("hotloop.dev/plugin".into(), "true".into())])),
            ..ObjectMeta::default()
        },
        binary_data: Some(BTreeMap::from([(
            "static-site.wasm".into(),
            ByteString(common::plugin_bytes("static_site")),
        )])),
        ..ConfigMap::default()
    };
    api.create(&PostParams::default(), &config_map).await.expect("the plugin ConfigMap");
}

async fn create_site(api: &Api<DynamicObject>, i: usize) {
    let site: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "example.hotloop.dev/v1", "kind": "StaticSite",
        "metadata": { "name": format!("site-{i:02}") },
        "spec": { "domain": format!("site-{i}.example.com"), "content": "<p>ha</p>" },
    }))
    .expect("a StaticSite");
    api.create(&PostParams::default(), &site).await.expect("create a site");
}

/// Events of the namespace by reporting instance and by (object, reason).
async fn events(
    namespace: &TestNamespace<'_>,
) -> (HashMap<String, usize>, HashMap<(String, String), i32>) {
    let api: Api<Event> = namespace.api();
    let list = api.list(&ListParams::default()).await.expect("list events");
    let (mut by_instance, mut by_object) = (HashMap::new(), HashMap::new());
    for event in list.items {
        let instance = event.reporting_instance.clone().unwrap_or_default();
        *by_instance.entry(instance).or_insert(0) += 1;
        let object = event.regarding.and_then(|r| r.name).unwrap_or_default();
        let times = event.series.map_or(1, |s| s.count.max(1));
        *by_object.entry((object, event.reason.unwrap_or_default())).or_insert(0) += times;
    }
    (by_instance, by_object)
}

async fn all_ready(api: &Api<DynamicObject>) {
    eventually(&format!("all {SITES} sites are Ready"), || async {
        let list = api.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
        let ready = list.items.iter().filter(|s| s.data["status"]["phase"] == "Ready").count();
        if ready == SITES { Ok(()) } else { Err(format!("{ready} of {} Ready", list.items.len())) }
    })
    .await;
}

#[tokio::test]
async fn the_standby_takes_over_when_the_leader_dies_and_every_site_reaches_its_end() {
    let namespace = CLUSTER.namespace().await.expect("a namespace");
    let logs = tempfile::tempdir().expect("a log directory");
    put_plugin(&namespace).await;
    let mut replicas: HashMap<&'static str, Replica> = HashMap::new();
    for name in ["replica-a", "replica-b"] {
        replicas.insert(name, Replica::start(name, &namespace, logs.path()));
    }
    let first = wait_for_leader(&namespace, None).await;
    let api: Api<DynamicObject> =
        Api::namespaced_with(namespace.client(), namespace.name(), &sites());

    // Half the sites are created under the first leader; it dies while they move.
    for i in 0..SITES / 2 {
        create_site(&api, i).await;
    }
    eventually("the first leader has begun", || async {
        let (by_instance, _) = events(&namespace).await;
        if by_instance.contains_key(&first) { Ok(()) } else { Err(by_instance) }
    })
    .await;
    let (by_instance, _) = events(&namespace).await;
    let standby = if first == "replica-a" { "replica-b" } else { "replica-a" };
    assert!(!by_instance.contains_key(standby), "the standby reconciled nothing: {by_instance:?}");
    let killed = replicas.remove(first.as_str()).expect("the leader's process");
    killed.kill();
    for i in SITES / 2..SITES {
        create_site(&api, i).await;
    }
    let second = wait_for_leader(&namespace, Some(&first)).await;
    assert_eq!(second, standby);
    all_ready(&api).await;

    // The first comes back, as a standby; the second leader dies while sites are deleted.
    let back: &'static str = if first == "replica-a" { "replica-a" } else { "replica-b" };
    replicas.insert(back, Replica::start(back, &namespace, logs.path()));
    for i in 0..SITES / 2 {
        api.delete(&format!("site-{i:02}"), &DeleteParams::default()).await.expect("delete a site");
    }
    let killed = replicas.remove(second.as_str()).expect("the second leader's process");
    killed.kill();
    for i in SITES / 2..SITES {
        api.delete(&format!("site-{i:02}"), &DeleteParams::default()).await.expect("delete a site");
    }
    let third = wait_for_leader(&namespace, Some(&second)).await;
    assert_eq!(third, first);
    let left = eventually("every site is gone", || async {
        let list = api.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
        if list.items.is_empty() { Ok(()) } else { Err(format!("{} left", list.items.len())) }
    });
    tokio::time::timeout(Duration::from_secs(120), left).await.unwrap_or_else(|_| {
        let logs: Vec<String> =
            replicas.values().map(|r| format!("{}:\n{}", r.name, r.log())).collect();
        panic!("sites left behind; replica logs:\n{}", logs.join("\n"))
    });

    let (_, by_object) = events(&namespace).await;
    for i in 0..SITES {
        let site = format!("site-{i:02}");
        let finalized = by_object.get(&(site.clone(), "Finalized".into())).copied().unwrap_or(0);
        assert!(finalized <= 1, "{site}: clean-up announced {finalized} times");
    }
    let children: Api<ConfigMap> = namespace.api();
    eventually("the sites' children are collected", || async {
        let list =
            children.list(&ListParams::default().labels("hotloop.dev/plugin=static-site")).await;
        let left = list.map_err(|e| e.to_string())?.items.len();
        if left == 0 { Ok(()) } else { Err(format!("{left} children left")) }
    })
    .await;
}
