//! Proof that the local control plane is a real one: every behaviour an operator depends on,
//! exercised against one cluster shared by this test binary, a namespace per test.

mod events_and_leases;
mod finalizers;
mod garbage_collection;
mod kinds;
mod namespaces;
mod status;
mod watch;

use hotloop_testenv::{ClusterOptions, SharedCluster};
use kube::CustomResourceExt;

/// The cluster of this binary, with the test kinds installed before the garbage collector starts.
static CLUSTER: SharedCluster = SharedCluster::new(|| {
    ClusterOptions::new().crd(kinds::Widget::crd()).crd_yaml(kinds::GADGET_CRD)
});

#[tokio::test]
async fn the_api_server_is_the_kubernetes_release_the_rust_side_is_built_for() {
    let cluster = CLUSTER.get().await.expect("the cluster");
    let client = cluster.client().expect("a client");

    let version = client.apiserver_version().await.expect("the server's version");

    // k8s-openapi is built with the `v1_36` feature; the API server must match it.
    assert_eq!((version.major.as_str(), version.minor.as_str()), ("1", "36"), "{version:?}");
}

#[tokio::test]
async fn the_cluster_is_reachable_through_its_kubeconfig_like_an_existing_one() {
    let cluster = CLUSTER.get().await.expect("the cluster");
    let options = ClusterOptions::new().crd(kinds::Widget::crd());

    let through_kubeconfig = hotloop_testenv::Cluster::connect(cluster.kubeconfig(), &options)
        .await
        .expect("connect through the kubeconfig");

    let namespace = through_kubeconfig.namespace().await.expect("a namespace");
    let widgets = namespace.api::<kinds::Widget>();
    widgets.create(&Default::default(), &kinds::widget("w", 1)).await.expect("create a widget");
}
