use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use kube::Resource;
use kube::api::{Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;

use crate::CLUSTER;
use crate::kinds::{Widget, widget};

/// How long the watch may stay silent before the test gives up on it.
const WATCH_DEADLINE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_watch_sees_an_update() {
    let namespace = CLUSTER.namespace().await.expect("a test namespace");
    let widgets = namespace.api::<Widget>();
    let created = widgets.create(&PostParams::default(), &widget("w", 1)).await.expect("create");
    let version = created.meta().resource_version.clone().expect("a resourceVersion");
    let params = WatchParams::default().fields("metadata.name=w");
    let mut events = widgets.watch(&params, &version).await.expect("watch").boxed();

    let resize = json!({"spec": {"size": 2}});
    widgets.patch("w", &PatchParams::default(), &Patch::Merge(&resize)).await.expect("update");

    let seen = tokio::time::timeout(WATCH_DEADLINE, async {
        while let Some(event) = events.try_next().await.expect("the watch stream") {
            match event {
                WatchEvent::Modified(widget) => return widget,
                WatchEvent::Error(status) => panic!("the watch failed: {status:?}"),
                _ => {}
            }
        }
        panic!("the watch ended without an update");
    })
    .await
    .expect("the watch saw no update within the deadline");

    assert_eq!(seen.spec.size, 2);
    assert_eq!(seen.meta().generation, Some(2), "a spec change bumps the generation");
}
