use hotloop_testenv::eventually;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Resource};
use serde_json::json;

use crate::CLUSTER;
use crate::kinds::{Widget, widget};

const FINALIZER: &str = "testenv.hotloop.dev/cleanup";

#[tokio::test]
async fn a_finalizer_holds_deletion_until_it_is_removed() {
    let namespace = CLUSTER.namespace().await.expect("a test namespace");
    let widgets = namespace.api::<Widget>();
    let mut held = widget("held", 1);
    held.meta_mut().finalizers = Some(vec![FINALIZER.to_string()]);
    widgets.create(&PostParams::default(), &held).await.expect("create");

    widgets.delete("held", &DeleteParams::default()).await.expect("delete");

    let terminating = widgets.get("held").await.expect("the widget is still there");
    assert!(terminating.meta().deletion_timestamp.is_some(), "it is marked for deletion");
    assert_eq!(terminating.meta().finalizers.as_deref(), Some(&[FINALIZER.to_string()][..]));

    let release = json!({"metadata": {"finalizers": null}});
    widgets.patch("held", &PatchParams::default(), &Patch::Merge(&release)).await.expect("release");

    eventually("the widget is gone once its finalizer is removed", || async {
        gone(&widgets, "held").await
    })
    .await;
}

#[tokio::test]
async fn a_finalizer_cannot_be_added_to_an_object_being_deleted() {
    let namespace = CLUSTER.namespace().await.expect("a test namespace");
    let widgets = namespace.api::<Widget>();
    let mut held = widget("held", 1);
    held.meta_mut().finalizers = Some(vec![FINALIZER.to_string()]);
    widgets.create(&PostParams::default(), &held).await.expect("create");
    widgets.delete("held", &DeleteParams::default()).await.expect("delete");

    let another = json!({"metadata": {"finalizers": [FINALIZER, "testenv.hotloop.dev/late"]}});
    let refused = widgets.patch("held", &PatchParams::default(), &Patch::Merge(&another)).await;

    let error = refused.expect_err("a new finalizer on a terminating object must be refused");
    assert!(matches!(error, kube::Error::Api(ref status) if status.code == 422), "{error:?}");
}

/// `Ok` once `name` no longer exists.
pub async fn gone<K>(api: &Api<K>, name: &str) -> Result<(), String>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.get_opt(name).await {
        Ok(None) => Ok(()),
        Ok(Some(_)) => Err(format!("{name} still exists")),
        Err(error) => Err(error.to_string()),
    }
}
