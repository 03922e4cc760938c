//! What `hotloop dev` prints: each object's state as it changes, and what happens to plugins.

use std::collections::HashMap;

use futures::StreamExt as _;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::runtime::watcher;
use serde_json::Value;

use crate::plugins::RegistryEvent;

/// What is shown of an object; a line is printed when it changes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    phase: String,
    ready: String,
    plugin: String,
}

impl Seen {
    fn of(object: &DynamicObject) -> Self {
        let status = &object.data["status"];
        let ready = status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "Ready")
            .map(|c| format!("{} ({})", text(&c["status"]), text(&c["reason"])))
            .unwrap_or_else(|| "-".into());
        let plugin = &status["plugin"];
        let digest = text(&plugin["digest"]);
        let short =
            digest.strip_prefix("sha256:").unwrap_or(&digest).chars().take(12).collect::<String>();
        let plugin = if plugin.is_null() {
            "-".into()
        } else {
            format!("{} {} ({short})", text(&plugin["name"]), text(&plugin["version"]))
        };
        Seen { phase: text(&status["phase"]), ready, plugin }
    }
}

fn text(value: &Value) -> String {
    value.as_str().map_or_else(|| "-".to_owned(), str::to_owned)
}

fn key(kind: &str, object: &DynamicObject) -> String {
    let name = object.metadata.name.as_deref().unwrap_or_default();
    match &object.metadata.namespace {
        Some(namespace) => format!("{kind} {namespace}/{name}"),
        None => format!("{kind} {name}"),
    }
}

/// The line for an object that changed from `before` to `now`.
fn line(key: &str, before: Option<&Seen>, now: &Seen) -> String {
    let phase = match before {
        Some(before) if before.phase != now.phase => format!("{} -> {}", before.phase, now.phase),
        _ => now.phase.clone(),
    };
    format!("{key}  phase={phase}  Ready={}  by {}", now.ready, now.plugin)
}

/// Prints a line for every object of `resource` whose phase, `Ready` condition or plugin
/// version changes, and one when it is deleted; runs until the task is aborted.
pub(super) async fn objects(client: kube::Client, resource: ApiResource) {
    let api: Api<DynamicObject> = Api::all_with(client, &resource);
    let mut seen: HashMap<String, Seen> = HashMap::new();
    let mut events = std::pin::pin!(watcher(api, watcher::Config::default()));
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Apply(object) | watcher::Event::InitApply(object)) => {
                let key = key(&resource.kind, &object);
                let now = Seen::of(&object);
                if seen.get(&key) != Some(&now) {
                    super::say(format_args!("{}", line(&key, seen.get(&key), &now)));
                    seen.insert(key, now);
                }
            }
            Ok(watcher::Event::Delete(object)) => {
                let key = key(&resource.kind, &object);
                seen.remove(&key);
                super::say(format_args!("{key}  deleted"));
            }
            Ok(watcher::Event::Init | watcher::Event::InitDone) => {}
            Err(error) => eprintln!("watching {} failed: {error}; retrying", resource.kind),
        }
    }
}

/// The line for what happened to a plugin version, if it is worth one.
pub(super) fn plugin_event(event: &RegistryEvent) -> Option<String> {
    let short = |digest: &str| {
        digest.strip_prefix("sha256:").unwrap_or(digest).chars().take(12).collect::<String>()
    };
    match event {
        RegistryEvent::Started { plugin, digest } => {
            Some(format!("plugin {plugin} started ({})", short(digest)))
        }
        RegistryEvent::Swapped { plugin, from, to } => {
            Some(format!("plugin {plugin} swapped: {} -> {}", short(from), short(to)))
        }
        RegistryEvent::Rejected { origin, reason } => Some(format!(
            "plugin from {origin} rejected; the version serving keeps serving: {reason}"
        )),
        RegistryEvent::KindMissing { plugin, kind } => {
            Some(format!("plugin {plugin}: kind {kind} is not installed yet"))
        }
        RegistryEvent::Removed { plugin, .. } => Some(format!("plugin {plugin} removed")),
        RegistryEvent::Drained { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn site(phase: &str, ready: &str, version: &str) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "example.hotloop.dev/v1", "kind": "StaticSite",
            "metadata": { "name": "hello", "namespace": "default" },
            "status": {
                "phase": phase,
                "conditions": [{ "type": "Ready", "status": ready, "reason": "Settled" }],
                "plugin": { "name": "static-site", "version": version, "digest": format!("sha256:{}", "ab".repeat(32)) },
            },
        }))
        .unwrap()
    }

    #[test]
    fn a_state_change_shows_where_it_came_from_and_who_made_it() {
        let before = Seen::of(&site("Pending", "False", "1.0.0"));
        let now = Seen::of(&site("Ready", "True", "1.0.0"));
        let key = key("StaticSite", &site("Ready", "True", "1.0.0"));
        assert_eq!(
            line(&key, Some(&before), &now),
            "StaticSite default/hello  phase=Pending -> Ready  Ready=True (Settled)  by static-site 1.0.0 (abababababab)"
        );
    }

    #[test]
    fn a_new_plugin_version_in_the_same_state_is_a_change_too() {
        let before = Seen::of(&site("Ready", "True", "1.0.0"));
        let now = Seen::of(&site("Ready", "True", "1.1.0"));
        assert_ne!(before, now);
        assert!(line("StaticSite default/hello", Some(&before), &now).contains("phase=Ready  "));
    }
}
