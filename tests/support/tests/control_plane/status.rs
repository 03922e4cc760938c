use hotloop_testenv::FIELD_MANAGER;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::{Api, Resource};
use serde_json::json;

use crate::CLUSTER;
use crate::kinds::{Widget, WidgetStatus, widget};

#[tokio::test]
async fn a_custom_resource_has_its_status_patched_through_the_status_subresource() {
    let namespace = CLUSTER.namespace().await.expect("a test namespace");
    let widgets = namespace.api::<Widget>();
    let created = widgets.create(&PostParams::default(), &widget("w", 3)).await.expect("create");
    assert_eq!(created.status, None, "a new widget has no status");

    let status = json!({"status": {"phase": "Ready", "observedGeneration": 1}});
    let patched = widgets
        .patch_status("w", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("patch the status");

    let expected = WidgetStatus { phase: Some("Ready".into()), observed_generation: Some(1) };
    assert_eq!(patched.status, Some(expected));
    assert_eq!(patched.meta().generation, Some(1), "a status write leaves the generation alone");
    assert_ne!(patched.meta().resource_version, created.meta().resource_version);
}

#[tokio::test]
async fn a_status_sent_with_the_main_resource_is_ignored() {
    let namespace = CLUSTER.namespace().await.expect("a test namespace");
    let widgets = namespace.api::<Widget>();
    let mut with_status = widget("w", 1);
    with_status.status = Some(WidgetStatus { phase: Some("Forged".into()), ..Default::default() });

    let created = widgets.create(&PostParams::default(), &with_status).await.expect("create");

    assert_eq!(created.status, None, "the main resource must not accept a status");
}

#[tokio::test]
async fn a_crd_given_as_yaml_is_served_with_its_status_subresource() {
    let namespace = CLUSTER.namespace().await.expect("a test namespace");
    let gvk = GroupVersionKind::gvk("testenv.hotloop.dev", "v1", "Gadget");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "gadgets");
    let gadgets: Api<DynamicObject> =
        Api::namespaced_with(namespace.client(), namespace.name(), &resource);
    let gadget = json!({
        "apiVersion": "testenv.hotloop.dev/v1",
        "kind": "Gadget",
        "metadata": {"name": "g"},
        "spec": {"colour": "green"},
    });
    let params = PatchParams::apply(FIELD_MANAGER);
    gadgets.patch("g", &params, &Patch::Apply(&gadget)).await.expect("apply a gadget");

    let status = json!({"status": {"lit": true}});
    let patched = gadgets
        .patch_status("g", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("patch the gadget's status");

    assert_eq!(patched.data["spec"]["colour"], "green");
    assert_eq!(patched.data["status"]["lit"], true);
}
