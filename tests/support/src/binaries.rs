//! Where the etcd, kube-apiserver and kube-controller-manager binaries are.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{Component, Error};

/// Names a directory holding the three binaries; when set, nothing is built.
pub const BIN_DIR_VAR: &str = "HOTLOOP_CONTROL_PLANE_BIN";

/// A directory holding all three binaries.
#[derive(Debug, Clone)]
pub(crate) struct Binaries {
    dir: PathBuf,
}

impl Binaries {
    /// Finds the binaries: in `$HOTLOOP_CONTROL_PLANE_BIN` when it is set, otherwise wherever
    /// `scripts/build-control-plane` puts them, building them first when they are missing.
    /// The script's progress goes straight to this process's stderr, past any test capture.
    pub(crate) fn locate() -> Result<Self, Error> {
        let dir = match std::env::var_os(BIN_DIR_VAR) {
            Some(dir) => PathBuf::from(dir),
            None => run_build_script()?,
        };
        let binaries = Binaries { dir };
        for component in Component::ALL {
            if !binaries.path(component).is_file() {
                return Err(Error::MissingBinary {
                    binary: component.binary_name(),
                    dir: binaries.dir,
                });
            }
        }
        Ok(binaries)
    }

    /// The binary of `component`.
    pub(crate) fn path(&self, component: Component) -> PathBuf {
        self.dir.join(component.binary_name())
    }
}

/// The build script of this repository.
pub(crate) fn build_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/build-control-plane")
}

fn run_build_script() -> Result<PathBuf, Error> {
    let script = build_script();
    if !script.is_file() {
        return Err(Error::NoBuildScript(script));
    }
    let output = Command::new(&script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|source| Error::RunBuildScript { script: script.clone(), source })?;
    if !output.status.success() {
        return Err(Error::BuildFailed { script, status: output.status });
    }
    // The script prints the directory as its last line.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let dir = stdout.lines().last().unwrap_or_default().trim();
    Ok(PathBuf::from(dir))
}
