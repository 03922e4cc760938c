use std::collections::BTreeMap;

use hotloop_testenv::eventually;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::CLUSTER;
use crate::finalizers::gone;
use crate::kinds::{Widget, widget};

#[tokio::test]
async fn a_child_is_garbage_collected_after_its_owner_is_deleted_in_the_background() {
    let namespace = CLUSTER.namespace().await.expect("a test namespace");
    let widgets = namespace.api::<Widget>();
    let config_maps = namespace.api::<ConfigMap>();
    let owner = widgets.create(&PostParams::default(), &widget("owner", 1)).await.expect("owner");
    config_maps.create(&PostParams::default(), &child_of(&owner, None)).await.expect("child");

    widgets.delete("owner", &DeleteParams::background()).await.expect("delete the owner");

    eventually("the owner is gone", || async { gone(&widgets, "owner").await }).await;
    eventually("the garbage collector deleted the child", || async {
        gone(&config_maps, "child").await
    })
    .await;
}

#[tokio::test]
async fn a_foreground_deletion_removes_the_owner_only_after_its_child() {
    let namespace = CLUSTER.namespace().await.expect("a test namespace");
    let widgets = namespace.api::<Widget>();
    let config_maps = namespace.api::<ConfigMap>();
    let owner = widgets.create(&PostParams::default(), &widget("owner", 1)).await.expect("owner");
    // The child's own finalizer keeps it, and so its owner, until the test lets go.
    let child = child_of(&owner, Some("testenv.hotloop.dev/hold"));
    config_maps.create(&PostParams::default(), &child).await.expect("child");

    widgets.delete("owner", &DeleteParams::foreground()).await.expect("delete the owner");

    eventually("the garbage collector asked to delete the child", || async {
        let child = config_maps.get("child").await.map_err(|e| e.to_string())?;
        child
            .metadata
            .deletion_timestamp
            .map(drop)
            .ok_or("the child is not being deleted".to_string())
    })
    .await;
    let waiting = widgets.get("owner").await.expect("the owner waits for its child");
    let finalizers = waiting.meta().finalizers.clone().unwrap_or_default();
    assert!(finalizers.contains(&"foregroundDeletion".to_string()), "{finalizers:?}");

    let release = json!({"metadata": {"finalizers": null}});
    config_maps
        .patch("child", &PatchParams::default(), &Patch::Merge(&release))
        .await
        .expect("release");
    eventually("the child is gone", || async { gone(&config_maps, "child").await }).await;
    eventually("the owner is gone after its child", || async { gone(&widgets, "owner").await })
        .await;
}

/// A ConfigMap `child` owned by `owner` (as its controller, blocking the owner's deletion).
fn child_of(owner: &Widget, finalizer: Option<&str>) -> ConfigMap {
    let reference = OwnerReference {
        controller: Some(true),
        block_owner_deletion: Some(true),
        ..owner.controller_owner_ref(&()).expect("a created widget has a name and uid")
    };
    ConfigMap {
        metadata: ObjectMeta {
            name: Some("child".into()),
            owner_references: Some(vec![reference]),
            finalizers: finalizer.map(|f| vec![f.to_string()]),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([("made-by".into(), "a-test".into())])),
        ..ConfigMap::default()
    }
}
