//! Following the plugin sources: every version that appears is offered to the registry, and
//! every plugin whose source disappears is removed from it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::{Client, Resource};
use notify_debouncer_full::notify::RecursiveMode;
use tokio::task::JoinHandle;

use super::file_changes;
use super::registry::Registry;
use super::removal::OnRemoval;
use super::sources::{ConfigMapChange, Origin, read_dir, watch_config_maps};

/// Follows the plugin ConfigMaps of `namespace` that `selector` picks, through the API, until
/// the task is aborted.
pub fn follow_config_maps(
    registry: Arc<Registry>,
    client: Client,
    namespace: &str,
    selector: &str,
) -> JoinHandle<()> {
    let mut changes = watch_config_maps(client, namespace, selector);
    tokio::spawn(async move {
        // The `.wasm` keys each ConfigMap held when last seen, by namespace/name.
        let mut keys: HashMap<(String, String), BTreeSet<String>> = HashMap::new();
        while let Some(change) = changes.recv().await {
            match change {
                ConfigMapChange::Applied { config_map, plugins } => {
                    let reference = ConfigMap::object_ref(&config_map, &());
                    let id = (
                        config_map.metadata.namespace.clone().unwrap_or_default(),
                        config_map.metadata.name.clone().unwrap_or_default(),
                    );
                    let now: BTreeSet<String> = plugins.iter().filter_map(key_of).collect();
                    let before = keys.insert(id.clone(), now.clone()).unwrap_or_default();
                    for candidate in plugins {
                        registry.offer(candidate, Some(reference.clone())).await;
                    }
                    let annotations = config_map.metadata.annotations.clone().unwrap_or_default();
                    for key in before.difference(&now) {
                        let origin = Origin::ConfigMap {
                            namespace: id.0.clone(),
                            name: id.1.clone(),
                            key: key.clone(),
                        };
                        let on_removal = on_removal(&annotations, &origin);
                        registry.remove(&origin, on_removal, Some(reference.clone())).await;
                    }
                }
                ConfigMapChange::Deleted { config_map } => {
                    let reference = ConfigMap::object_ref(&config_map, &());
                    let namespace = config_map.metadata.namespace.clone().unwrap_or_default();
                    let name = config_map.metadata.name.clone().unwrap_or_default();
                    let annotations = config_map.metadata.annotations.clone().unwrap_or_default();
                    let before =
                        keys.remove(&(namespace.clone(), name.clone())).unwrap_or_default();
                    for key in before {
                        let origin = Origin::ConfigMap {
                            namespace: namespace.clone(),
                            name: name.clone(),
                            key,
                        };
                        let on_removal = on_removal(&annotations, &origin);
                        registry.remove(&origin, on_removal, Some(reference.clone())).await;
                    }
                }
            }
        }
    })
}

fn key_of(candidate: &super::Candidate) -> Option<String> {
    match &candidate.origin {
        Origin::ConfigMap { key, .. } => Some(key.clone()),
        Origin::File(_) | Origin::Record { .. } => None,
    }
}

/// The removal the annotations ask for; a value that means nothing keeps the clean-up.
fn on_removal(annotations: &BTreeMap<String, String>, origin: &Origin) -> OnRemoval {
    OnRemoval::from_annotations(annotations).unwrap_or_else(|error| {
        tracing::warn!(origin = %origin, %error, "running the clean-up of removed objects, the default");
        OnRemoval::Finalize
    })
}

/// Follows a plugins directory; stops when dropped.
pub type DirFollower = file_changes::Following;

/// Offers every plugin in `dir` now, then again whenever the directory changes, after
/// `debounce` without further change; a plugin whose file is gone is removed.
///
/// The whole directory is read again after each change rather than acting on the events
/// themselves: an editor or a build that writes a temporary file and renames it into place
/// produces a burst of events on several names, and reading the directory once it is quiet
/// sees only the result. Files whose name starts with a dot, or that do not end in `.wasm`,
/// are not plugins. A file caught half-written is rejected like any broken version (the
/// version serving keeps serving) and offered again when its writing ends.
///
/// # Errors
/// When the directory cannot be read or watched.
pub async fn follow_dir(
    registry: Arc<Registry>,
    dir: &Path,
    debounce: Duration,
) -> anyhow::Result<DirFollower> {
    use anyhow::Context as _;
    let paths = [(dir.to_path_buf(), RecursiveMode::NonRecursive)];
    let dir = dir.to_path_buf();
    // Watching starts before the first reading, so that no change falls between the two.
    let (start, started) = tokio::sync::oneshot::channel();
    let following = file_changes::follow(&paths, debounce, {
        let (registry, dir) = (registry.clone(), dir.clone());
        move |mut changes| async move {
            let Ok(mut known) = started.await else { return };
            while changes.next().await {
                match offer_dir(&registry, &dir, &known).await {
                    Ok(now) => known = now,
                    Err(error) => {
                        tracing::warn!(dir = %dir.display(), %error, "cannot read the plugins directory; keeping what serves");
                    }
                }
            }
        }
    })?;
    let known = offer_dir(&registry, &dir, &BTreeSet::new())
        .await
        .with_context(|| format!("cannot read plugins directory {}", dir.display()))?;
    tracing::info!(dir = %dir.display(), plugins = known.len(), "following the plugins directory");
    let _task_gone = start.send(known);
    Ok(following)
}

/// Offers what `dir` holds and removes what it held before but no longer does.
async fn offer_dir(
    registry: &Arc<Registry>,
    dir: &Path,
    before: &BTreeSet<PathBuf>,
) -> std::io::Result<BTreeSet<PathBuf>> {
    let found = read_dir(dir)?;
    let now: BTreeSet<PathBuf> = found
        .iter()
        .filter_map(|c| match &c.origin {
            Origin::File(path) => Some(path.clone()),
            Origin::ConfigMap { .. } | Origin::Record { .. } => None,
        })
        .collect();
    for candidate in found {
        registry.offer(candidate, None).await;
    }
    for gone in before.difference(&now) {
        registry.remove(&Origin::File(gone.clone()), OnRemoval::Finalize, None).await;
    }
    Ok(now)
}
