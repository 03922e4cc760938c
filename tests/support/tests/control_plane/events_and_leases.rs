use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::{Resource, ResourceExt};

use crate::CLUSTER;
use crate::kinds::{Widget, widget};

#[tokio::test]
async fn an_event_about_a_custom_resource_can_be_recorded_and_read_back() {
    let namespace = CLUSTER.namespace().await.expect("a test namespace");
    let widget = namespace
        .api::<Widget>()
        .create(&PostParams::default(), &widget("w", 1))
        .await
        .expect("create a widget");
    let event = Event {
        metadata: ObjectMeta { generate_name: Some("w-".into()), ..ObjectMeta::default() },
        event_time: Some(MicroTime(Timestamp::now())),
        regarding: Some(widget.object_ref(&())),
        reporting_controller: Some("testenv.hotloop.dev/proofs".into()),
        reporting_instance: Some("proofs-1".into()),
        action: Some("Provision".into()),
        reason: Some("StateChanged".into()),
        type_: Some("Normal".into()),
        note: Some("Pending -> Provisioning".into()),
        ..Event::default()
    };
    let events = namespace.api::<Event>();

    let created = events.create(&PostParams::default(), &event).await.expect("create the event");

    let read = events.get(&created.name_any()).await.expect("read the event back");
    let regarding = read.regarding.expect("the event names its object");
    assert_eq!(regarding.kind.as_deref(), Some("Widget"));
    assert_eq!(regarding.uid, widget.meta().uid);
    assert_eq!(read.note.as_deref(), Some("Pending -> Provisioning"));
}

#[tokio::test]
async fn a_lease_can_be_created_and_a_stale_renewal_is_refused() {
    let namespace = CLUSTER.namespace().await.expect("a test namespace");
    let leases = namespace.api::<Lease>();
    let lease = Lease {
        metadata: ObjectMeta { name: Some("leader".into()), ..ObjectMeta::default() },
        spec: Some(LeaseSpec {
            holder_identity: Some("replica-a".into()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(Timestamp::now())),
            ..LeaseSpec::default()
        }),
    };
    let created = leases.create(&PostParams::default(), &lease).await.expect("create the lease");

    let mut renewal = created.clone();
    renewal.spec.get_or_insert_default().renew_time = Some(MicroTime(Timestamp::now()));
    leases.replace("leader", &PostParams::default(), &renewal).await.expect("renew");

    let mut stale = created;
    stale.spec.get_or_insert_default().holder_identity = Some("replica-b".into());
    let refused = leases.replace("leader", &PostParams::default(), &stale).await;
    let error = refused.expect_err("a write based on an old resourceVersion must conflict");
    assert!(matches!(error, kube::Error::Api(ref status) if status.code == 409), "{error:?}");
}
