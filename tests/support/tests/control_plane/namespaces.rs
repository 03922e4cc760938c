use hotloop_testenv::{NAMESPACE_LABEL, eventually};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::{DeleteParams, PostParams};

use crate::CLUSTER;
use crate::finalizers::gone;

#[tokio::test]
async fn each_test_gets_its_own_labelled_namespace_named_after_it() {
    let namespace = CLUSTER.namespace().await.expect("a test namespace");

    let namespaces: Api<Namespace> = Api::all(namespace.client());
    let created = namespaces.get(namespace.name()).await.expect("the namespace exists");

    assert!(namespace.name().starts_with("each-test-gets-its-own-labelled-namespace-named-"));
    let labels = created.metadata.labels.unwrap_or_default();
    assert_eq!(labels.get(NAMESPACE_LABEL).map(String::as_str), Some("true"));
}

#[tokio::test]
async fn a_deleted_namespace_is_emptied_and_removed() {
    let test_namespace = CLUSTER.namespace().await.expect("a test namespace");
    let client = test_namespace.client();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let name = format!("{}-doomed", test_namespace.name());
    let doomed = Namespace {
        metadata: ObjectMeta { name: Some(name.clone()), ..ObjectMeta::default() },
        ..Namespace::default()
    };
    namespaces.create(&PostParams::default(), &doomed).await.expect("create a namespace");
    let config_maps: Api<ConfigMap> = Api::namespaced(client, &name);
    let content = ConfigMap {
        metadata: ObjectMeta { name: Some("content".into()), ..ObjectMeta::default() },
        ..ConfigMap::default()
    };
    config_maps.create(&PostParams::default(), &content).await.expect("fill the namespace");

    namespaces.delete(&name, &DeleteParams::default()).await.expect("delete the namespace");

    eventually("the namespace controller removed the namespace", || async {
        gone(&namespaces, &name).await
    })
    .await;
}
