//! The plugin crates `hotloop dev` builds and runs: finding them, and building one.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::Context as _;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// A plugin crate with what it takes to try it: the CRD of its kind and sample objects.
#[derive(Debug, Clone)]
pub(super) struct DevPlugin {
    /// The crate's directory name, such as `static-site`.
    pub(super) name: String,
    pub(super) dir: PathBuf,
    /// `deploy/crd.yaml`.
    pub(super) crd: PathBuf,
    /// `deploy/sample*.yaml`, sorted.
    pub(super) samples: Vec<PathBuf>,
}

impl DevPlugin {
    /// The crate in `dir`, when it has a `Cargo.toml`, a `deploy/crd.yaml` and at least one
    /// `deploy/sample*.yaml`: the shape of an example plugin.
    fn at(dir: &Path) -> Option<Self> {
        let name = dir.file_name()?.to_str()?.to_owned();
        let crd = dir.join("deploy/crd.yaml");
        if !dir.join("Cargo.toml").is_file() || !crd.is_file() {
            return None;
        }
        let mut samples: Vec<PathBuf> = std::fs::read_dir(dir.join("deploy"))
            .ok()?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| {
                let file = path.file_name().and_then(|f| f.to_str()).unwrap_or_default();
                file.starts_with("sample") && (file.ends_with(".yaml") || file.ends_with(".yml"))
            })
            .collect();
        samples.sort();
        (!samples.is_empty()).then_some(DevPlugin { name, dir: dir.to_owned(), crd, samples })
    }
}

/// The example plugins under `root`, or the ones named in `only`.
///
/// # Errors
/// When `root` cannot be read, a named plugin is not an example plugin, or there is none.
pub(super) fn find(root: &Path, only: &[String]) -> anyhow::Result<Vec<DevPlugin>> {
    let mut found: Vec<DevPlugin> = std::fs::read_dir(root)
        .with_context(|| format!("cannot read the plugins directory {}", root.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter_map(|dir| DevPlugin::at(&dir))
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    for name in only {
        anyhow::ensure!(
            found.iter().any(|p| p.name == *name),
            "{} has no example plugin {name:?}: it needs Cargo.toml, deploy/crd.yaml and deploy/sample*.yaml",
            root.display()
        );
    }
    if !only.is_empty() {
        found.retain(|p| only.contains(&p.name));
    }
    anyhow::ensure!(
        !found.is_empty(),
        "no example plugin in {}: a plugin crate there needs deploy/crd.yaml and deploy/sample*.yaml",
        root.display()
    );
    Ok(found)
}

/// Why a build did not give a component.
#[derive(Debug, thiserror::Error)]
pub(super) enum BuildError {
    #[error("cannot run cargo")]
    Spawn(#[source] std::io::Error),
    /// The compiler's error lines, as cargo reported them.
    #[error("cargo could not build {plugin}:\n{errors}")]
    Failed { plugin: String, errors: String },
    #[error("cargo built {plugin} but named no .wasm file")]
    NoComponent { plugin: String },
}

/// Builds `plugin` as a component with `cargo build --profile plugin --target wasm32-wasip2`
/// and returns the path of the `.wasm` file. The crate's workspace must define the `plugin`
/// profile, as this repository's does. The build is stopped when the future is dropped.
pub(super) async fn build(plugin: &DevPlugin) -> Result<PathBuf, BuildError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut child = Command::new(cargo)
        .args(["build", "--profile", "plugin", "--target", "wasm32-wasip2"])
        .args(["--message-format", "json-diagnostic-short"])
        .arg("--manifest-path")
        .arg(plugin.dir.join("Cargo.toml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(BuildError::Spawn)?;
    let stdout = child.stdout.take().ok_or_else(|| {
        BuildError::Spawn(std::io::Error::other("cargo's standard output is missing"))
    })?;
    let mut lines = BufReader::new(stdout).lines();
    let (mut component, mut errors) = (None, Vec::new());
    while let Ok(Some(line)) = lines.next_line().await {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        match message["reason"].as_str() {
            Some("compiler-artifact") => {
                let wasm = message["filenames"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|f| f.as_str())
                    .find(|f| f.ends_with(".wasm"));
                if let Some(wasm) = wasm {
                    component = Some(PathBuf::from(wasm));
                }
            }
            Some("compiler-message") if message["message"]["level"] == "error" => {
                if let Some(rendered) = message["message"]["rendered"].as_str() {
                    errors.push(rendered.trim_end().to_owned());
                }
            }
            _ => {}
        }
    }
    let status = child.wait().await.map_err(BuildError::Spawn)?;
    if !status.success() {
        let errors = if errors.is_empty() {
            format!("cargo exited with {status}")
        } else {
            errors.join("\n")
        };
        return Err(BuildError::Failed { plugin: plugin.name.clone(), errors });
    }
    component.ok_or_else(|| BuildError::NoComponent { plugin: plugin.name.clone() })
}

/// Puts the component at `built` into `dir` as `<plugin>.wasm`, by writing a hidden file and
/// renaming it, so that the directory's follower never reads half a file.
pub(super) fn install(built: &Path, plugin: &str, dir: &Path) -> std::io::Result<PathBuf> {
    let target = dir.join(format!("{plugin}.wasm"));
    let partial = dir.join(format!(".{plugin}.wasm.partial"));
    std::fs::copy(built, &partial)?;
    std::fs::rename(&partial, &target)?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crate_dir(root: &Path, name: &str, samples: &[&str]) {
        let dir = root.join(name);
        std::fs::create_dir_all(dir.join("deploy")).unwrap();
        std::fs::write(dir.join("Cargo.toml"), "").unwrap();
        std::fs::write(dir.join("deploy/crd.yaml"), "").unwrap();
        for sample in samples {
            std::fs::write(dir.join("deploy").join(sample), "").unwrap();
        }
    }

    #[test]
    fn only_crates_with_a_crd_and_samples_are_example_plugins() {
        let root = tempfile::tempdir().unwrap();
        crate_dir(root.path(), "site", &["sample.yaml", "sample-2.yaml", "notes.yaml"]);
        crate_dir(root.path(), "misbehave", &[]);
        let found = find(root.path(), &[]).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name, "site");
        let samples: Vec<_> =
            found[0].samples.iter().map(|p| p.file_name().unwrap().to_owned()).collect();
        assert_eq!(samples, ["sample-2.yaml", "sample.yaml"]);
    }

    #[test]
    fn naming_a_crate_that_is_not_an_example_plugin_says_what_it_lacks() {
        let root = tempfile::tempdir().unwrap();
        crate_dir(root.path(), "site", &["sample.yaml"]);
        crate_dir(root.path(), "misbehave", &[]);
        let error = find(root.path(), &["misbehave".into()]).unwrap_err().to_string();
        assert!(
            error.contains("\"misbehave\"") && error.contains("deploy/sample*.yaml"),
            "{error}"
        );
    }

    #[test]
    fn installing_replaces_the_component_in_one_rename() {
        let dir = tempfile::tempdir().unwrap();
        let built = dir.path().join("built.wasm");
        std::fs::write(&built, b"v1").unwrap();
        let installed = install(&built, "site", dir.path()).unwrap();
        std::fs::write(&built, b"v2").unwrap();
        install(&built, "site", dir.path()).unwrap();
        assert_eq!(std::fs::read(&installed).unwrap(), b"v2");
        assert!(!dir.path().join(".site.wasm.partial").exists());
    }
}
