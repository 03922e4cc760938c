//! The operator against a real control plane: the example plugin's whole life, the sandbox
//! failures of the misbehaving plugin beside it, and bad input on objects.

mod common;

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use hotloop::controller::Settings;
use hotloop::plugins::{Candidate, Origin, Registry};
use hotloop::runtime::{Runtime, RuntimeConfig};
use hotloop_testenv::{ClusterOptions, SharedCluster, TestNamespace, eventually};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::events::Reporter;
use serde_json::{Value, json};

static CLUSTER: SharedCluster = SharedCluster::new(|| {
    ClusterOptions::new()
        .crd_yaml(include_str!("../../plugins/static-site/deploy/crd.yaml"))
        .crd_yaml(include_str!("../../plugins/misbehave/deploy/crd.yaml"))
});

fn sites() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.hotloop.dev", "v1", "StaticSite"),
        "staticsites",
    )
}

fn misbehaviors() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("test.hotloop.dev", "v1", "Misbehavior"),
        "misbehaviors",
    )
}

/// Tight limits for the misbehaving plugin, so that each misdeed fails fast.
fn tight_limits() -> BTreeMap<String, String> {
    [
        ("hotloop.dev/fuel", "400000000"),
        ("hotloop.dev/deadline-ms", "1000"),
        ("hotloop.dev/memory-mib", "32"),
        ("hotloop.dev/host-calls", "10"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Starts the operator once for this test binary, on a runtime of its own (each test has its
/// own runtime, which ends with the test), with the example and the misbehaving plugin.
async fn operator() {
    static STARTED: OnceLock<()> = OnceLock::new();
    let cluster = CLUSTER.get().await.expect("the cluster");
    // The client is made on the operator's runtime: a client's background worker lives on
    // the runtime that created it.
    let config = cluster.config().clone();
    STARTED.get_or_init(|| {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn".into()),
            )
            .try_init();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let client = kube::Client::try_from(config).expect("a client");
                let engine = Runtime::new(RuntimeConfig::default()).unwrap();
                let settings =
                    Settings { backoff_base: Duration::from_millis(100), ..Settings::default() };
                let reporter =
                    Reporter { controller: "hotloop".into(), instance: Some("e2e".into()) };
                let metrics = std::sync::Arc::new(hotloop::observe::Metrics::new());
                let registry = Registry::new(engine, client, settings, reporter, metrics, None);
                for (name, annotations) in
                    [("static-site", BTreeMap::new()), ("misbehave", tight_limits())]
                {
                    let path = common::plugin(name);
                    let bytes = std::fs::read(&path).unwrap();
                    registry
                        .offer(Candidate { origin: Origin::File(path), bytes, annotations }, None)
                        .await;
                }
                assert_eq!(registry.serving().await.len(), 2, "both plugins serve");
                ready_tx.send(()).unwrap();
                std::future::pending::<()>().await;
            });
        });
        ready_rx.recv().expect("the operator started");
    });
}

fn site(name: &str, content: &str) -> Value {
    json!({
        "apiVersion": "example.hotloop.dev/v1", "kind": "StaticSite",
        "metadata": { "name": name },
        "spec": { "domain": format!("{name}.example.com"), "content": content, "protected": true },
    })
}

async fn create(api: &Api<DynamicObject>, object: Value) -> DynamicObject {
    let object: DynamicObject = serde_json::from_value(object).unwrap();
    api.create(&PostParams::default(), &object).await.expect("create")
}

fn condition<'a>(object: &'a DynamicObject, type_: &str) -> Option<&'a Value> {
    object.data["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == type_)
}

async fn wait_for(
    api: &Api<DynamicObject>,
    name: &str,
    what: &str,
    check: impl Fn(&DynamicObject) -> bool,
) -> DynamicObject {
    eventually(what, || async {
        match api.get(name).await {
            Ok(object) if check(&object) => Ok(object),
            Ok(object) => Err(format!("status {}", object.data["status"])),
            Err(error) => Err(error.to_string()),
        }
    })
    .await
}

async fn warning_with_reason(namespace: &TestNamespace<'_>, object: &str, reason: &str) -> Event {
    let events: Api<Event> = Api::namespaced(namespace.client(), namespace.name());
    eventually(&format!("a Warning Event {reason} on {object}"), || async {
        let list = events.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
        let reasons: Vec<String> = list.items.iter().filter_map(|e| e.reason.clone()).collect();
        list.items
            .into_iter()
            .find(|e| {
                e.type_.as_deref() == Some("Warning")
                    && e.reason.as_deref() == Some(reason)
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(object)
            })
            .ok_or(format!("reasons seen: {reasons:?}"))
    })
    .await
}

#[tokio::test]
async fn a_static_site_walks_its_states_to_ready_follows_spec_changes_and_is_cleaned_up_on_delete()
{
    operator().await;
    let namespace = CLUSTER.namespace().await.expect("a namespace");
    let api: Api<DynamicObject> =
        Api::namespaced_with(namespace.client(), namespace.name(), &sites());
    create(&api, site("hello", "<h1>one</h1>")).await;

    let ready = wait_for(&api, "hello", "the site is Ready", |o| {
        o.data["status"]["phase"] == "Ready"
            && condition(o, "Ready").is_some_and(|c| c["status"] == "True")
    })
    .await;
    assert!(
        ready
            .metadata
            .finalizers
            .clone()
            .unwrap_or_default()
            .contains(&"hotloop.dev/static-site".to_owned())
    );
    assert_eq!(ready.data["status"]["observedGeneration"], 1);
    assert!(ready.data["status"]["plugin"]["digest"].as_str().unwrap().starts_with("sha256:"));
    let config_maps: Api<ConfigMap> = Api::namespaced(namespace.client(), namespace.name());
    let content = config_maps.get("hello-content").await.expect("the content ConfigMap");
    let owner = &content.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.controller, owner.block_owner_deletion),
        ("StaticSite", Some(true), Some(true))
    );
    assert_eq!(content.data.as_ref().unwrap()["index.html"], "<h1>one</h1>");

    let change = json!({ "spec": { "content": "<h1>two</h1>" } });
    api.patch("hello", &PatchParams::default(), &Patch::Merge(&change)).await.expect("spec change");
    wait_for(&api, "hello", "the changed spec is published", |o| {
        o.data["status"]["observedGeneration"] == 2 && o.data["status"]["phase"] == "Ready"
    })
    .await;
    eventually("the new content is in the ConfigMap", || async {
        let content = config_maps.get("hello-content").await.map_err(|e| e.to_string())?;
        let page = content.data.unwrap_or_default().get("index.html").cloned().unwrap_or_default();
        if page == "<h1>two</h1>" { Ok(()) } else { Err(page) }
    })
    .await;

    api.delete("hello", &DeleteParams::default()).await.expect("delete");
    eventually("the site is gone", || async {
        match api.get_opt("hello").await {
            Ok(None) => Ok(()),
            Ok(Some(o)) => Err(format!("finalizers {:?}", o.metadata.finalizers)),
            Err(e) => Err(e.to_string()),
        }
    })
    .await;
    eventually("the children are gone", || async {
        let left = config_maps.get_opt("hello-content").await.map_err(|e| e.to_string())?;
        if left.is_none() { Ok(()) } else { Err("content ConfigMap still there".to_owned()) }
    })
    .await;
}

#[tokio::test]
async fn every_misdeed_gets_its_reason_and_a_warning_while_the_example_still_reaches_ready() {
    operator().await;
    let namespace = CLUSTER.namespace().await.expect("a namespace");
    let bad: Api<DynamicObject> =
        Api::namespaced_with(namespace.client(), namespace.name(), &misbehaviors());
    let expected = [
        ("loop", "OutOfFuel"),
        ("hog", "MemoryLimitExceeded"),
        ("panic", "GuestPanic"),
        ("recursion", "GuestTrap"),
        ("oversized", "OutputTooLarge"),
        ("unknown-state", "UnknownState"),
        ("forbidden-transition", "TransitionNotAllowed"),
        ("flood", "HostCallBudgetExhausted"),
        ("undeclared-read", "HostCallDenied"),
    ];
    for (mode, _) in expected {
        create(
            &bad,
            json!({
                "apiVersion": "test.hotloop.dev/v1", "kind": "Misbehavior",
                "metadata": { "name": mode }, "spec": { "mode": mode },
            }),
        )
        .await;
    }
    let sites: Api<DynamicObject> =
        Api::namespaced_with(namespace.client(), namespace.name(), &sites());
    create(&sites, site("beside", "<p>fine</p>")).await;

    for (mode, reason) in expected {
        let failed = wait_for(&bad, mode, &format!("{mode} fails with {reason}"), |o| {
            condition(o, "Ready").is_some_and(|c| c["reason"] == reason && c["status"] == "False")
        })
        .await;
        assert_eq!(failed.data["status"]["phase"], "Start", "{mode} stays in its state");
        warning_with_reason(&namespace, mode, reason).await;
    }
    wait_for(&sites, "beside", "the example reaches Ready", |o| {
        o.data["status"]["phase"] == "Ready"
    })
    .await;
    let behaving = json!({ "apiVersion": "test.hotloop.dev/v1", "kind": "Misbehavior", "metadata": { "name": "behave" }, "spec": { "mode": "behave" } });
    create(&bad, behaving).await;
    wait_for(&bad, "behave", "a well-behaved object settles", |o| {
        o.data["status"]["phase"] == "Done"
    })
    .await;
}

#[tokio::test]
async fn an_object_whose_phase_names_an_unknown_state_is_told_so_and_the_host_runs_on() {
    operator().await;
    let namespace = CLUSTER.namespace().await.expect("a namespace");
    let api: Api<DynamicObject> =
        Api::namespaced_with(namespace.client(), namespace.name(), &sites());
    create(&api, site("lost", "<p>x</p>")).await;
    wait_for(&api, "lost", "the site is Ready", |o| o.data["status"]["phase"] == "Ready").await;

    let broken = json!({ "status": { "phase": "Exploded" } });
    api.patch_status("lost", &PatchParams::default(), &Patch::Merge(&broken))
        .await
        .expect("status patch");
    let told = wait_for(&api, "lost", "the unknown state is reported", |o| {
        condition(o, "Ready").is_some_and(|c| c["reason"] == "UnknownState")
    })
    .await;
    assert!(condition(&told, "Ready").unwrap()["message"].as_str().unwrap().contains("Exploded"));
    warning_with_reason(&namespace, "lost", "UnknownState").await;

    create(&api, site("after", "<p>y</p>")).await;
    wait_for(&api, "after", "another site still reaches Ready", |o| {
        o.data["status"]["phase"] == "Ready"
    })
    .await;
}
