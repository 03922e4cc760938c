//! Plugin bytes from a directory and from ConfigMaps.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::mpsc;

/// The label that marks a ConfigMap as holding plugins.
pub const PLUGIN_LABEL: &str = "hotloop.dev/plugin";

/// The label selector of plugin ConfigMaps unless `hotloop run --plugin-selector` says
/// otherwise.
pub const DEFAULT_PLUGIN_SELECTOR: &str = "hotloop.dev/plugin=true";

/// Where a plugin's bytes were found.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Origin {
    File(PathBuf),
    ConfigMap {
        namespace: String,
        name: String,
        key: String,
    },
    /// A drain record: a removed plugin, kept only for the clean-up of its objects.
    Record {
        name: String,
    },
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File(path) => write!(f, "file {}", path.display()),
            Origin::ConfigMap { namespace, name, key } => {
                write!(f, "ConfigMap {namespace}/{name} key {key}")
            }
            Origin::Record { name } => write!(f, "drain record {name}"),
        }
    }
}

/// Plugin bytes found somewhere, with the annotations that set their limits.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub origin: Origin,
    pub bytes: Vec<u8>,
    pub annotations: BTreeMap<String, String>,
}

/// Whether `path` names a plugin: a file ending in `.wasm` whose name does not start with a
/// dot (editors and copy tools write their temporary files under such names).
fn is_plugin_file(path: &Path) -> bool {
    let visible =
        path.file_name().and_then(|name| name.to_str()).is_some_and(|name| !name.starts_with('.'));
    visible && path.extension().is_some_and(|ext| ext == "wasm") && path.is_file()
}

/// Every `.wasm` file directly inside `dir` (see [`is_plugin_file`]).
///
/// # Errors
/// When the directory cannot be read. Unreadable files are logged and skipped.
pub fn read_dir(dir: &Path) -> std::io::Result<Vec<Candidate>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| is_plugin_file(path))
        .collect();
    paths.sort();
    Ok(paths
        .into_iter()
        .filter_map(|path| match std::fs::read(&path) {
            Ok(bytes) => Some(Candidate { origin: Origin::File(path), bytes, annotations: BTreeMap::new() }),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "cannot read plugin file; skipping it");
                None
            }
        })
        .collect())
}

fn candidates(config_map: &ConfigMap) -> Vec<Candidate> {
    let namespace = config_map.metadata.namespace.clone().unwrap_or_default();
    let name = config_map.metadata.name.clone().unwrap_or_default();
    let annotations = config_map.metadata.annotations.clone().unwrap_or_default();
    config_map
        .binary_data
        .iter()
        .flatten()
        .filter(|(key, _)| key.ends_with(".wasm"))
        .map(|(key, bytes)| Candidate {
            origin: Origin::ConfigMap {
                namespace: namespace.clone(),
                name: name.clone(),
                key: key.clone(),
            },
            bytes: bytes.0.clone(),
            annotations: annotations.clone(),
        })
        .collect()
}

/// A change of the plugin ConfigMaps.
#[derive(Debug)]
pub enum ConfigMapChange {
    /// The ConfigMap was created or changed: its current plugins.
    Applied { config_map: Box<ConfigMap>, plugins: Vec<Candidate> },
    /// The ConfigMap is gone; its last known state.
    Deleted { config_map: Box<ConfigMap> },
}

/// Watches the ConfigMaps of `namespace` that `selector` (a label selector) picks, through
/// the API (no volume mount, no kubelet delay), and sends each change. Runs until the receiver
/// is dropped.
pub fn watch_config_maps(
    client: Client,
    namespace: &str,
    selector: &str,
) -> mpsc::Receiver<ConfigMapChange> {
    let api: Api<ConfigMap> = Api::namespaced(client, namespace);
    let config = watcher::Config::default().labels(selector);
    let (sender, receiver) = mpsc::channel(16);
    tokio::spawn(async move {
        let mut events = std::pin::pin!(watcher(api, config).default_backoff());
        while let Some(event) = events.next().await {
            let changes = match event {
                Ok(watcher::Event::Apply(cm) | watcher::Event::InitApply(cm)) => {
                    let plugins = candidates(&cm);
                    vec![ConfigMapChange::Applied { config_map: Box::new(cm), plugins }]
                }
                Ok(watcher::Event::Delete(cm)) => {
                    vec![ConfigMapChange::Deleted { config_map: Box::new(cm) }]
                }
                Ok(watcher::Event::Init | watcher::Event::InitDone) => vec![],
                Err(error) => {
                    tracing::warn!(%error, "watching plugin ConfigMaps failed; retrying");
                    vec![]
                }
            };
            for change in changes {
                if sender.send(change).await.is_err() {
                    return;
                }
            }
        }
    });
    receiver
}
