//! Where the etcd, kube-apiserver and kube-controller-manager binaries are.

use std::path::PathBuf;
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
        match std::env::var_os(BIN_DIR_VAR) {
            Some(dir) => Binaries::in_dir(PathBuf::from(dir)),
            None => Binaries::in_dir(run_build_script()?),
        }
    }

    /// The binaries in `dir`, all three of which must be there.
    fn in_dir(dir: PathBuf) -> Result<Self, Error> {
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
    crate::repository().join("scripts/build-control-plane")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_without_the_binaries_names_the_missing_one_and_what_to_do() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("etcd"), "").expect("a fake etcd");

        let error = Binaries::in_dir(dir.path().to_path_buf()).expect_err("binaries are missing");

        let message = error.to_string();
        assert!(
            matches!(error, Error::MissingBinary { binary: "kube-apiserver", .. }),
            "{message}"
        );
        assert!(message.contains("scripts/build-control-plane"), "{message}");
        assert!(message.contains(BIN_DIR_VAR), "{message}");
    }

    #[test]
    fn the_build_script_is_found_from_this_crate() {
        assert!(build_script().is_file(), "{} is missing", build_script().display());
    }
}
