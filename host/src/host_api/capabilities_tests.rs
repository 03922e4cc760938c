use std::sync::Arc;

use serde_json::{Value, json};

use crate::contract::{HostError, KindRef, Manifest, ObjectRef, StateDecl, StateKind};
use crate::host_api::{Fixtures, Parent};

fn core(kind: &str, plural: &str) -> KindRef {
    KindRef {
        group: String::new(),
        version: "v1".into(),
        kind: kind.into(),
        plural: plural.into(),
        namespaced: true,
    }
}

fn manifest() -> Arc<Manifest> {
    Arc::new(Manifest {
        name: "static-site".into(),
        version: "1".into(),
        reconciles: KindRef {
            group: "example.hotloop.dev".into(),
            version: "v1".into(),
            kind: "StaticSite".into(),
            plural: "staticsites".into(),
            namespaced: true,
        },
        owns: vec![core("ConfigMap", "configmaps")],
        reads: vec![core("Service", "services")],
        states: vec![StateDecl {
            name: "Pending".into(),
            kind: StateKind::InProgress,
            finalizes: false,
        }],
        transitions: vec![],
        initial_state: "Pending".into(),
        finalizer: false,
    })
}

fn parent() -> Parent {
    Parent {
        api_version: "example.hotloop.dev/v1".into(),
        kind: "StaticSite".into(),
        namespace: Some("web".into()),
        name: "hello".into(),
        uid: "uid-1".into(),
    }
}

fn config_map(name: &str, namespace: &str, owner_uid: Option<&str>) -> Value {
    let mut object = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": name, "namespace": namespace },
    });
    if let Some(uid) = owner_uid {
        object["metadata"]["ownerReferences"] = json!([{ "uid": uid, "controller": true }]);
    }
    object
}

fn target(kind: &str, name: &str) -> ObjectRef {
    ObjectRef {
        group: String::new(),
        version: "v1".into(),
        kind: kind.into(),
        namespace: None,
        name: name.into(),
    }
}

#[test]
fn reading_an_undeclared_kind_is_denied_before_any_backend_sees_it() {
    let fixtures = Fixtures::new(vec![]);
    let mut calls = fixtures.host_calls(manifest(), parent());
    let error = calls.get(&target("Secret", "credentials")).unwrap_err();
    assert!(matches!(&error, HostError::Denied(why) if why.contains("Secret.v1")));
    assert_eq!(fixtures.recording().calls[0].outcome, format!("error: {error}"));
}

#[test]
fn reads_default_to_the_object_namespace() {
    let fixtures =
        Fixtures::new(vec![config_map("site", "web", None), config_map("site", "other", None)]);
    let mut calls = fixtures.host_calls(manifest(), parent());
    let found: Value =
        serde_json::from_str(&calls.get(&target("ConfigMap", "site")).unwrap().unwrap()).unwrap();
    assert_eq!(found["metadata"]["namespace"], "web");
}

#[test]
fn applied_children_get_the_object_namespace_and_a_controller_owner_reference() {
    let fixtures = Fixtures::new(vec![]);
    let mut calls = fixtures.host_calls(manifest(), parent());
    let stored =
        calls.apply(r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}"#).unwrap();
    let stored: Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(stored["metadata"]["namespace"], "web");
    let owner = &stored["metadata"]["ownerReferences"][0];
    assert_eq!(owner["uid"], "uid-1");
    assert_eq!(owner["controller"], true);
    assert_eq!(owner["blockOwnerDeletion"], true);
}

#[test]
fn children_cannot_be_applied_in_another_namespace_or_of_a_read_only_kind() {
    let fixtures = Fixtures::new(vec![]);
    let mut calls = fixtures.host_calls(manifest(), parent());
    let elsewhere = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"kube-system"}}"#;
    assert!(matches!(calls.apply(elsewhere), Err(HostError::Denied(_))));
    let service = r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"}}"#;
    assert!(matches!(calls.apply(service), Err(HostError::Denied(_))));
    assert!(matches!(calls.apply("not json"), Err(HostError::Invalid(_))));
    assert!(fixtures.recording().applied.is_empty());
}

#[test]
fn only_children_this_object_controls_can_be_deleted() {
    let fixtures = Fixtures::new(vec![
        config_map("mine", "web", Some("uid-1")),
        config_map("theirs", "web", Some("uid-2")),
    ]);
    let mut calls = fixtures.host_calls(manifest(), parent());
    assert_eq!(calls.delete(&target("ConfigMap", "mine")), Ok(true));
    assert_eq!(calls.delete(&target("ConfigMap", "mine")), Ok(false));
    assert!(matches!(calls.delete(&target("ConfigMap", "theirs")), Err(HostError::Denied(_))));
    assert_eq!(fixtures.recording().deleted, vec!["ConfigMap web/mine".to_owned()]);
}

/// A backend whose cache lags: it holds nothing yet, while the API server has `fresh`.
struct LaggingCache {
    fresh: Vec<Value>,
    deleted: Vec<(String, Option<String>)>,
}

impl crate::host_api::Backend for LaggingCache {
    fn get(&mut self, _: &KindRef, _: Option<&str>, _: &str) -> Result<Option<Value>, HostError> {
        Ok(None)
    }
    fn get_fresh(
        &mut self,
        _: &KindRef,
        _: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>, HostError> {
        Ok(self.fresh.iter().find(|o| o["metadata"]["name"] == name).cloned())
    }
    fn list(&mut self, _: &KindRef, _: Option<&str>, _: &str) -> Result<Vec<Value>, HostError> {
        Ok(vec![])
    }
    fn apply(&mut self, _: &KindRef, object: Value) -> Result<Value, HostError> {
        Ok(object)
    }
    fn delete(
        &mut self,
        _: &KindRef,
        _: Option<&str>,
        name: &str,
        uid: Option<&str>,
    ) -> Result<bool, HostError> {
        self.deleted.push((name.to_owned(), uid.map(str::to_owned)));
        Ok(true)
    }
    fn event(&mut self, _: &Parent, _: crate::contract::EventType, _: &str, _: &str) {}
    fn log(&mut self, _: &Parent, _: crate::contract::LogLevel, _: &str, _: &[(String, String)]) {}
}

#[test]
fn a_child_the_cache_does_not_hold_yet_is_checked_on_the_api_server_and_deleted_by_uid() {
    use crate::contract::HostCalls as _;
    let mut child = config_map("just-applied", "web", Some("uid-1"));
    child["metadata"]["uid"] = json!("child-uid");
    let stranger = config_map("not-mine", "web", Some("uid-2"));
    let backend = LaggingCache { fresh: vec![child, stranger], deleted: vec![] };
    let mut calls = crate::host_api::Checked::new(manifest(), parent(), backend);
    assert_eq!(calls.delete(&target("ConfigMap", "just-applied")), Ok(true));
    assert!(matches!(calls.delete(&target("ConfigMap", "not-mine")), Err(HostError::Denied(_))));
    assert_eq!(calls.delete(&target("ConfigMap", "never-made")), Ok(false));
    let deleted = calls.into_backend().deleted;
    assert_eq!(deleted, vec![("just-applied".to_owned(), Some("child-uid".to_owned()))]);
}
