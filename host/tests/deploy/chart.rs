//! Rendering the chart, picking objects out of what it renders, and applying them to the
//! API server with server-side dry run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::Scope;
use serde::Deserialize as _;
use serde_json::Value;

use super::common;

const FIELD_MANAGER: &str = "hotloop-deploy-test";
const RELEASE: &str = "hotloop";

pub(crate) fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("host/ sits in the repository")
}

/// The helm binary, built (or found up to date) by scripts/build-helm once per test binary.
pub(crate) fn helm() -> &'static Path {
    static HELM: OnceLock<PathBuf> = OnceLock::new();
    HELM.get_or_init(|| {
        let output = Command::new(repo().join("scripts/build-helm"))
            .stderr(Stdio::inherit())
            .output()
            .expect("scripts/build-helm runs");
        assert!(output.status.success(), "scripts/build-helm failed");
        let stdout = String::from_utf8(output.stdout).expect("a directory name");
        let dir = stdout.lines().last().expect("build-helm prints its bin directory last");
        Path::new(dir).join("helm")
    })
}

/// `helm template` of the chart in `namespace` with extra helm arguments (`--set ...`):
/// its output, or its error message.
pub(crate) fn helm_template(namespace: &str, values: &[&str]) -> Result<String, String> {
    let output = Command::new(helm())
        .args(["template", RELEASE, "deploy/helm/hotloop", "--namespace", namespace])
        .args(values)
        .current_dir(repo())
        .output()
        .expect("helm runs");
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("helm writes UTF-8");
    if output.status.success() { Ok(text(output.stdout)) } else { Err(text(output.stderr)) }
}

/// Every object in a multi-document YAML stream; empty documents are skipped.
pub(crate) fn parse(yaml: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|document| Value::deserialize(document).expect("each document is YAML"))
        .filter(|object| !object.is_null())
        .collect()
}

pub(crate) fn render(namespace: &str, values: &[&str]) -> Vec<Value> {
    let yaml = helm_template(namespace, values)
        .unwrap_or_else(|error| panic!("helm template {values:?} failed: {error}"));
    parse(&yaml)
}

pub(crate) fn kinds(objects: &[Value]) -> BTreeSet<String> {
    objects.iter().map(|o| o["kind"].as_str().expect("a kind").to_owned()).collect()
}

pub(crate) fn only<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let mut found = objects.iter().filter(|o| o["kind"] == kind);
    let object = found.next().unwrap_or_else(|| panic!("no {kind} rendered"));
    assert!(found.next().is_none(), "more than one {kind} rendered");
    object
}

pub(crate) fn named<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} rendered"))
}

pub(crate) fn container(objects: &[Value]) -> &Value {
    &only(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
}

pub(crate) fn args(objects: &[Value]) -> Vec<String> {
    let args = container(objects)["args"].as_array().expect("the container has args");
    args.iter().map(|a| a.as_str().expect("each arg is a string").to_owned()).collect()
}

pub(crate) fn has_arg(objects: &[Value], arg: &str) -> bool {
    args(objects).iter().any(|a| a == arg)
}

/// The value the chart passes for `--flag`, as in `--flag=value`.
pub(crate) fn flag_value(objects: &[Value], flag: &str) -> Option<String> {
    let prefix = format!("{flag}=");
    args(objects).iter().find_map(|a| a.strip_prefix(&prefix).map(str::to_owned))
}

/// Server-side applies `object` in dry-run mode through an API found by discovery.
pub(crate) async fn dry_run_apply(client: &kube::Client, object: &Value) -> Result<(), String> {
    let meta: DynamicObject = serde_json::from_value(object.clone()).map_err(|e| e.to_string())?;
    let types = meta.types.as_ref().ok_or("no apiVersion or kind")?;
    let gvk = GroupVersionKind::try_from(types).map_err(|e| e.to_string())?;
    let (resource, capabilities) =
        kube::discovery::pinned_kind(client, &gvk).await.map_err(|e| e.to_string())?;
    let api: Api<DynamicObject> = match capabilities.scope {
        Scope::Namespaced => {
            // The plain manifests are applied as they are: no namespace means a broken file.
            let namespace = meta.metadata.namespace.as_deref().ok_or("no metadata.namespace")?;
            Api::namespaced_with(client.clone(), namespace, &resource)
        }
        Scope::Cluster => Api::all_with(client.clone(), &resource),
    };
    let name = meta.metadata.name.as_deref().ok_or("no metadata.name")?;
    let params = PatchParams::apply(FIELD_MANAGER).dry_run();
    api.patch(name, &params, &Patch::Apply(object)).await.map(drop).map_err(|e| e.to_string())
}

/// Applies every object with server-side dry run and fails the test naming each rejection.
pub(crate) async fn assert_accepted(client: &kube::Client, objects: &[Value]) {
    let mut rejected = Vec::new();
    for object in objects {
        if let Err(error) = dry_run_apply(client, object).await {
            let kind = &object["kind"];
            let name = &object["metadata"]["name"];
            rejected.push(format!("{kind} {name}: {error}"));
        }
    }
    assert!(rejected.is_empty(), "the API server rejected:\n{}", rejected.join("\n"));
}

/// Every rule of every Role and ClusterRole, with the kind of the object it is in.
pub(crate) fn rules(objects: &[Value]) -> Vec<(&str, &Value)> {
    objects
        .iter()
        .filter(|o| o["kind"] == "Role" || o["kind"] == "ClusterRole")
        .flat_map(|o| {
            let kind = o["kind"].as_str().expect("a kind");
            o["rules"].as_array().into_iter().flatten().map(move |rule| (kind, rule))
        })
        .collect()
}

pub(crate) fn strings(value: &Value) -> Vec<&str> {
    value.as_array().into_iter().flatten().filter_map(Value::as_str).collect()
}

/// The output of the `hotloop` binary built with these tests.
pub(crate) fn hotloop(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hotloop")).args(args).output().expect("hotloop runs")
}

/// The rules `hotloop rbac` prints for the example plugin.
pub(crate) fn example_plugin_rules() -> Value {
    let plugin = common::plugin("static_site");
    let output = hotloop(&["rbac", plugin.to_str().expect("a UTF-8 path")]);
    assert!(output.status.success(), "hotloop rbac: {}", String::from_utf8_lossy(&output.stderr));
    let objects = parse(std::str::from_utf8(&output.stdout).expect("YAML is UTF-8"));
    only(&objects, "ClusterRole")["rules"].clone()
}
