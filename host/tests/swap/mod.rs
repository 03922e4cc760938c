//! Shared by the hot swap tests: an operator per test that follows the plugin sources of the
//! test's namespace, and the `Probe` objects of the `swap-probe` test plugin.

#![allow(dead_code)] // each test binary uses a different part

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use hotloop::controller::Settings;
use hotloop::plugins::{DEFAULT_PLUGIN_SELECTOR, Registry, RegistryEvent, follow_config_maps};
use hotloop::runtime::{Runtime, RuntimeConfig};
use hotloop_testenv::{ClusterOptions, SharedCluster, TestNamespace, eventually};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::events::Reporter;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub static CLUSTER: SharedCluster = SharedCluster::new(|| {
    ClusterOptions::new().crd_yaml(include_str!("../../../plugins/swap-probe/deploy/crd.yaml"))
});

/// One operator at a time: every operator's controller watches probes in all namespaces.
pub static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub fn probes() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("test.hotloop.dev", "v1", "Probe"),
        "probes",
    )
}

pub fn probe_api(namespace: &TestNamespace<'_>) -> Api<DynamicObject> {
    Api::namespaced_with(namespace.client(), namespace.name(), &probes())
}

/// An operator for one test, with the registry's reports.
pub struct Operator {
    pub registry: Arc<Registry>,
    pub reports: mpsc::UnboundedReceiver<RegistryEvent>,
    following: Option<JoinHandle<()>>,
}

impl Drop for Operator {
    fn drop(&mut self) {
        if let Some(following) = self.following.take() {
            following.abort();
        }
    }
}

impl Operator {
    /// An operator that keeps its drain records in `namespace` (resuming the ones there) and
    /// follows the plugin ConfigMaps of `namespace`, when `config_maps`.
    pub async fn start(namespace: &TestNamespace<'_>, config_maps: bool) -> Self {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn".into()),
            )
            .try_init();
        let client = namespace.client();
        // Components are compiled in a child process, as `hotloop run` compiles them.
        let mut config = RuntimeConfig::default();
        config.compiler = config.child_compiler(env!("CARGO_BIN_EXE_hotloop").into());
        let engine = Runtime::new(config).expect("the runtime");
        let settings = Settings { backoff_base: Duration::from_millis(100), ..Settings::default() };
        let reporter = Reporter { controller: "hotloop".into(), instance: Some("e2e".into()) };
        let metrics = Arc::new(hotloop::observe::Metrics::new());
        let (tell, reports) = mpsc::unbounded_channel();
        let registry =
            Registry::new(engine, client.clone(), settings, reporter, metrics, Some(tell));
        registry.resume_draining(namespace.name()).await.expect("the drain records");
        let following = config_maps.then(|| {
            follow_config_maps(registry.clone(), client, namespace.name(), DEFAULT_PLUGIN_SELECTOR)
        });
        Operator { registry, reports, following }
    }

    /// Stops following the sources and every controller, as a host that shuts down.
    pub async fn stop(mut self) {
        if let Some(following) = self.following.take() {
            following.abort();
        }
        self.registry.stop_all(Duration::from_secs(10)).await;
    }

    /// Waits for the first report that `matches`, skipping others.
    pub async fn report(
        &mut self,
        what: &str,
        matches: impl Fn(&RegistryEvent) -> bool,
    ) -> RegistryEvent {
        let wait = async {
            while let Some(report) = self.reports.recv().await {
                if matches(&report) {
                    return report;
                }
            }
            panic!("the registry stopped reporting before {what}");
        };
        tokio::time::timeout(hotloop_testenv::EVENTUALLY_TIMEOUT, wait)
            .await
            .unwrap_or_else(|_| panic!("no registry report: {what}"))
    }
}

/// Creates or replaces the plugin ConfigMap `name` holding `bytes` under `swap-probe.wasm`.
pub async fn put_plugin(
    namespace: &TestNamespace<'_>,
    name: &str,
    bytes: Vec<u8>,
    annotations: BTreeMap<String, String>,
) {
    let api: Api<ConfigMap> = namespace.api();
    let config_map = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(BTreeMap::from([("hotloop.dev/plugin".into(), "true".into())])),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        binary_data: Some(BTreeMap::from([("swap-probe.wasm".into(), ByteString(bytes))])),
        ..ConfigMap::default()
    };
    let params = PatchParams::apply("e2e-test").force();
    api.patch(name, &params, &Patch::Apply(&config_map)).await.expect("apply the plugin ConfigMap");
}

pub async fn delete_config_map(namespace: &TestNamespace<'_>, name: &str) {
    let api: Api<ConfigMap> = namespace.api();
    api.delete(name, &DeleteParams::default()).await.expect("delete the plugin ConfigMap");
}

pub fn probe_name(i: usize) -> String {
    format!("probe-{i:03}")
}

/// Creates probes `0..n` with `spec.value` = their index.
pub async fn create_probes(api: &Api<DynamicObject>, n: usize) {
    for i in 0..n {
        let object: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "test.hotloop.dev/v1", "kind": "Probe",
            "metadata": { "name": probe_name(i) },
            "spec": { "value": i },
        }))
        .expect("a probe");
        api.create(&PostParams::default(), &object).await.expect("create a probe");
    }
}

/// Sets a probe's `spec.value`; returns the generation the change made.
pub async fn set_value(api: &Api<DynamicObject>, name: &str, value: i64) -> i64 {
    let change = json!({ "spec": { "value": value } });
    let changed = api
        .patch(name, &PatchParams::default(), &Patch::Merge(&change))
        .await
        .expect("change a probe");
    changed.metadata.generation.expect("a generation")
}

/// Whether `probe`'s status describes its current spec as computed by `variant`.
pub fn settled_by(probe: &DynamicObject, variant: &str) -> bool {
    let status = &probe.data["status"];
    let value = probe.data["spec"]["value"].as_i64().unwrap_or(0);
    let echo = if variant == "v2" { value * 2 } else { value };
    status["phase"] == "Ready"
        && status["variant"] == variant
        && status["echo"] == echo
        && status["fromGeneration"].as_i64() == probe.metadata.generation
}

/// Waits until every probe in the namespace is settled by `variant`; `n` are expected.
pub async fn all_settled_by(api: &Api<DynamicObject>, n: usize, variant: &str) {
    eventually(&format!("all {n} probes are settled by {variant}"), || async {
        let list = api.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
        let behind: Vec<String> = list
            .items
            .iter()
            .filter(|p| !settled_by(p, variant))
            .map(|p| format!("{}: {}", p.metadata.name.as_deref().unwrap_or(""), p.data["status"]))
            .take(3)
            .collect();
        if list.items.len() == n && behind.is_empty() {
            Ok(())
        } else {
            Err(format!("{} probes, behind: {behind:?}", list.items.len()))
        }
    })
    .await;
}

/// Waits until no probe is left in the namespace.
pub async fn all_gone(api: &Api<DynamicObject>) {
    eventually("every probe is gone", || async {
        let list = api.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
        if list.items.is_empty() {
            Ok(())
        } else {
            let left: Vec<_> = list
                .items
                .iter()
                .map(|p| (p.metadata.name.clone(), p.metadata.finalizers.clone()))
                .take(3)
                .collect();
            Err(format!("{} left, e.g. {left:?}", list.items.len()))
        }
    })
    .await;
}

/// The Events of the namespace with `reason`, counted per object they are about (a repeated
/// Event counts as often as it happened).
pub async fn events_by_object(namespace: &TestNamespace<'_>, reason: &str) -> HashMap<String, i32> {
    let api: Api<Event> = namespace.api();
    let list = api.list(&ListParams::default()).await.expect("list events");
    let mut counts = HashMap::new();
    for event in list.items.iter().filter(|e| e.reason.as_deref() == Some(reason)) {
        let object = event.regarding.as_ref().and_then(|r| r.name.clone()).unwrap_or_default();
        let times = event.series.as_ref().map_or(1, |s| s.count.max(1));
        *counts.entry(object).or_insert(0) += times;
    }
    counts
}

/// Waits for an Event with `reason` on the ConfigMap `name`, and returns its note.
pub async fn config_map_event(namespace: &TestNamespace<'_>, name: &str, reason: &str) -> String {
    let api: Api<Event> = namespace.api();
    eventually(&format!("an Event {reason} on ConfigMap {name}"), || async {
        let list = api.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
        let found = list.items.iter().find(|e| {
            e.reason.as_deref() == Some(reason)
                && e.regarding.as_ref().is_some_and(|r| {
                    r.kind.as_deref() == Some("ConfigMap") && r.name.as_deref() == Some(name)
                })
        });
        match found {
            Some(event) => Ok(event.note.clone().unwrap_or_default()),
            None => {
                let reasons: Vec<String> =
                    list.items.iter().filter_map(|e| e.reason.clone()).collect();
                Err(format!("reasons seen: {reasons:?}"))
            }
        }
    })
    .await
}

/// The names of the drain records in the namespace.
pub async fn drain_records(namespace: &TestNamespace<'_>) -> Vec<String> {
    let api: Api<ConfigMap> = namespace.api();
    let params = ListParams::default().labels(hotloop::plugins::RECORD_LABEL);
    let list = api.list(&params).await.expect("list drain records");
    list.items.into_iter().filter_map(|c| c.metadata.name).collect()
}

/// Waits until no drain record is left in the namespace.
pub async fn no_drain_records(namespace: &TestNamespace<'_>) {
    eventually("no drain record is left", || async {
        let left = drain_records(namespace).await;
        if left.is_empty() { Ok(()) } else { Err(format!("records left: {left:?}")) }
    })
    .await;
}

pub fn finalizers(probe: &DynamicObject) -> Vec<String> {
    probe.metadata.finalizers.clone().unwrap_or_default()
}

pub fn status(probe: &DynamicObject) -> &Value {
    &probe.data["status"]
}

/// Every Warning Event in the namespace about a probe, as (object, reason).
pub async fn probe_warnings(namespace: &TestNamespace<'_>) -> Vec<(String, String)> {
    let api: Api<Event> = namespace.api();
    let list = api.list(&ListParams::default()).await.expect("list events");
    list.items
        .into_iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .filter_map(|e| {
            let regarding = e.regarding?;
            (regarding.kind.as_deref() == Some("Probe"))
                .then(|| (regarding.name.unwrap_or_default(), e.reason.unwrap_or_default()))
        })
        .collect()
}
