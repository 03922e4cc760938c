//! Applying an example plugin's sample objects, as `kubectl apply --server-side` would.

use std::path::Path;

use anyhow::Context as _;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

/// The field manager of what `hotloop dev` applies.
const FIELD_MANAGER: &str = "hotloop-dev";

/// The objects of a YAML file (documents separated by `---`), without the fields the API
/// server sets (uid, resourceVersion, generation, creationTimestamp, managedFields, status).
pub(super) fn read(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut objects = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(&text) {
        let value: Value = serde::Deserialize::deserialize(document)
            .with_context(|| format!("{} is not valid YAML", path.display()))?;
        if value.is_null() {
            continue;
        }
        objects.push(strip_server_fields(value));
    }
    Ok(objects)
}

fn strip_server_fields(mut object: Value) -> Value {
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in ["uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"]
        {
            metadata.remove(field);
        }
    }
    if let Some(object) = object.as_object_mut() {
        object.remove("status");
    }
    object
}

/// Applies `object` (server-side apply), finding its kind through discovery.
pub(super) async fn apply(client: &kube::Client, object: &Value) -> anyhow::Result<String> {
    let api_version = object["apiVersion"].as_str().context("a sample has no apiVersion")?;
    let kind = object["kind"].as_str().context("a sample has no kind")?;
    let name = object["metadata"]["name"].as_str().context("a sample has no metadata.name")?;
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (resource, capabilities) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .with_context(|| format!("kind {kind} ({api_version}) is not served"))?;
    let api: Api<DynamicObject> = match capabilities.scope {
        kube::discovery::Scope::Namespaced => {
            let namespace = object["metadata"]["namespace"].as_str().unwrap_or("default");
            Api::namespaced_with(client.clone(), namespace, &resource)
        }
        kube::discovery::Scope::Cluster => Api::all_with(client.clone(), &resource),
    };
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(name, &params, &Patch::Apply(object))
        .await
        .with_context(|| format!("cannot apply {kind} {name}"))?;
    Ok(format!("{kind} {name}"))
}

/// The kind a CRD file defines, at its storage version, as the watch of `show` needs it.
pub(super) fn crd_resource(crd: &Path) -> anyhow::Result<ApiResource> {
    let objects = read(crd)?;
    let crd = objects.first().with_context(|| format!("{} holds no CRD", crd.display()))?;
    let spec = &crd["spec"];
    let group = spec["group"].as_str().context("the CRD has no spec.group")?;
    let kind = spec["names"]["kind"].as_str().context("the CRD has no spec.names.kind")?;
    let plural = spec["names"]["plural"].as_str().context("the CRD has no spec.names.plural")?;
    let versions = spec["versions"].as_array().context("the CRD has no spec.versions")?;
    let version = versions
        .iter()
        .find(|v| v["storage"] == true)
        .or_else(|| versions.first())
        .and_then(|v| v["name"].as_str())
        .context("the CRD has no version")?;
    Ok(ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_lose_the_fields_the_api_server_sets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sample.yaml");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  uid: x\n  generation: 3\n\
             status:\n  phase: Ready\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
        )
        .unwrap();
        let objects = read(&path).unwrap();
        assert_eq!(objects.len(), 2);
        assert_eq!(objects[0]["metadata"], serde_json::json!({ "name": "a" }));
        assert!(objects[0].get("status").is_none());
    }

    #[test]
    fn the_example_crd_names_its_storage_version() {
        let crd =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/static-site/deploy/crd.yaml");
        let resource = crd_resource(&crd).unwrap();
        assert_eq!(
            (resource.group.as_str(), resource.version.as_str(), resource.kind.as_str()),
            ("example.hotloop.dev", "v1", "StaticSite")
        );
        assert_eq!(resource.plural, "staticsites");
    }
}
