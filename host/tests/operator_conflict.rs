//! A status write that conflicts with a change made meanwhile is retried, and neither the
//! change nor the new status is lost. A native handler behind the same controller makes the
//! conflict happen on purpose.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use hotloop::contract::{
    Call, CallStats, FinalizeResult, Finalized, Handler, HandlerFuture, KindRef, Manifest, Outcome,
    ReconcileResult, Reconciled, StateDecl, StateKind, Transition,
};
use hotloop::controller::{ControllerHandle, Serving, Settings};
use hotloop::observe::Metrics;
use hotloop_testenv::{ClusterOptions, SharedCluster, eventually};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::events::Reporter;
use serde_json::json;

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: tickets.test.hotloop.dev }
spec:
  group: test.hotloop.dev
  scope: Namespaced
  names: { kind: Ticket, plural: tickets, singular: ticket }
  versions:
    - name: v1
      served: true
      storage: true
      subresources: { status: {} }
      schema:
        openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true }
"#;

static CLUSTER: SharedCluster = SharedCluster::new(|| ClusterOptions::new().crd_yaml(CRD));

fn tickets() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("test.hotloop.dev", "v1", "Ticket"),
        "tickets",
    )
}

/// Moves `Open` to `Closed`; on its first call it also labels the object through the API, so
/// that the host's status write, based on the object it read before, conflicts.
struct MeddlingHandler {
    manifest: Manifest,
    api: Api<DynamicObject>,
    calls: Arc<AtomicU32>,
}

impl Handler for MeddlingHandler {
    fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn digest(&self) -> &str {
        "native:meddling"
    }

    fn reconcile(&self, call: Call) -> HandlerFuture<'_, Reconciled> {
        Box::pin(async move {
            let name = serde_json::from_str::<serde_json::Value>(&call.object).unwrap()["metadata"]
                ["name"]
                .as_str()
                .unwrap()
                .to_owned();
            if call.state == "Open" && self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
                let label = json!({ "metadata": { "labels": { "meddled": "yes" } } });
                self.api
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&label))
                    .await
                    .unwrap();
            }
            let outcome = match call.state.as_str() {
                "Open" => Outcome::Transition { to: "Closed".into() },
                _ => Outcome::Settled,
            };
            Reconciled {
                result: ReconcileResult { outcome, status: None, conditions: vec![], note: None },
                stats: CallStats::default(),
            }
        })
    }

    fn finalize(&self, _call: Call) -> HandlerFuture<'_, Finalized> {
        Box::pin(async {
            Finalized {
                result: FinalizeResult::failed(unreachable_failure()),
                stats: CallStats::default(),
            }
        })
    }
}

fn unreachable_failure() -> hotloop::contract::Failure {
    hotloop::contract::Failure {
        reason: "NoCleanUp".into(),
        message: "tickets have no clean-up".into(),
        retryable: false,
    }
}

fn manifest() -> Manifest {
    let state = |name: &str, kind| StateDecl { name: name.into(), kind, finalizes: false };
    Manifest {
        name: "tickets".into(),
        version: "1.0.0".into(),
        reconciles: KindRef {
            group: "test.hotloop.dev".into(),
            version: "v1".into(),
            kind: "Ticket".into(),
            plural: "tickets".into(),
            namespaced: true,
        },
        owns: vec![],
        reads: vec![],
        states: vec![
            state("Open", StateKind::InProgress),
            state("Closed", StateKind::SettledReady),
        ],
        transitions: vec![Transition { from: "Open".into(), to: "Closed".into() }],
        initial_state: "Open".into(),
        finalizer: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflicting_status_write_is_retried_and_nothing_is_lost() {
    CLUSTER.get().await.expect("the cluster");
    let namespace = CLUSTER.namespace().await.expect("a namespace");
    let client = namespace.client();
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace.name(), &tickets());
    let calls = Arc::new(AtomicU32::new(0));
    let handler = MeddlingHandler { manifest: manifest(), api: api.clone(), calls: calls.clone() };
    let reporter = Reporter { controller: "hotloop".into(), instance: Some("conflict".into()) };
    let controller = ControllerHandle::start(
        client,
        Serving::new(Arc::new(handler)),
        Settings::default(),
        reporter,
        Arc::new(Metrics::new()),
    )
    .await
    .expect("the controller starts");

    let ticket: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "test.hotloop.dev/v1", "kind": "Ticket", "metadata": { "name": "t-1" },
    }))
    .unwrap();
    api.create(&PostParams::default(), &ticket).await.expect("create");

    let closed = eventually("the ticket is Closed", || async {
        let ticket = api.get("t-1").await.map_err(|e| e.to_string())?;
        if ticket.data["status"]["phase"] == "Closed" {
            Ok(ticket)
        } else {
            Err(ticket.data["status"].to_string())
        }
    })
    .await;
    assert_eq!(
        closed.metadata.labels.unwrap_or_default().get("meddled").map(String::as_str),
        Some("yes")
    );
    assert!(calls.load(Ordering::SeqCst) >= 2, "the conflicted step ran again");
    controller.stop(std::time::Duration::from_secs(5)).await;
}
