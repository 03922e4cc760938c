//! The working directory of one control plane: etcd's data, certificates, kubeconfig, logs.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::{Component, Error};

/// A directory under the system's temporary directory, removed by [`RunDir::clean_up`];
/// its `logs/` stay when [`RunDir::keep_logs`] was called.
#[derive(Debug)]
pub(crate) struct RunDir {
    path: PathBuf,
    keep_logs: AtomicBool,
}

impl RunDir {
    /// Creates a fresh directory with its `logs/`, `pki/` and `etcd/` subdirectories.
    pub(crate) fn create() -> Result<Self, Error> {
        let temp = std::env::temp_dir();
        let dir = tempfile::Builder::new()
            .prefix("hotloop-testenv-")
            .tempdir_in(&temp)
            .map_err(|source| Error::Write { path: temp, source })?;
        let run_dir = RunDir { path: dir.keep(), keep_logs: AtomicBool::new(false) };
        for sub in ["logs", "pki", "etcd", "apiserver-certs", "controller-manager-certs"] {
            let path = run_dir.path.join(sub);
            fs::create_dir(&path).map_err(|source| Error::Write { path, source })?;
        }
        Ok(run_dir)
    }

    /// The directory itself.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// A subdirectory created by [`RunDir::create`].
    pub(crate) fn sub(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The log file of `component`.
    pub(crate) fn log(&self, component: Component) -> PathBuf {
        self.path.join("logs").join(format!("{}.log", component.binary_name()))
    }

    /// Keeps the logs when the directory is cleaned up.
    pub(crate) fn keep_logs(&self) {
        self.keep_logs.store(true, Ordering::SeqCst);
    }

    /// Removes the logs with the rest when the directory is cleaned up (the default).
    pub(crate) fn discard_logs(&self) {
        self.keep_logs.store(false, Ordering::SeqCst);
    }

    /// Whether the logs will be kept.
    pub(crate) fn keeps_logs(&self) -> bool {
        self.keep_logs.load(Ordering::SeqCst)
    }

    /// Removes the directory, or everything in it but `logs/` when they are kept.
    /// Call it only after every component stopped. Failures are ignored: it is a temp dir.
    pub(crate) fn clean_up(&self) {
        if !self.keeps_logs() {
            let _ = fs::remove_dir_all(&self.path);
            return;
        }
        let Ok(entries) = fs::read_dir(&self.path) else { return };
        for entry in entries.flatten() {
            if entry.file_name() != "logs" {
                let _ = fs::remove_dir_all(entry.path()).or_else(|_| fs::remove_file(entry.path()));
            }
        }
    }
}
