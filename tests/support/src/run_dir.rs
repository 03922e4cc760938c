//! The working directory of one control plane: etcd's data, certificates, kubeconfig, logs.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::process::is_alive;
use crate::{Component, Error};

/// The prefix of every run directory's name.
const PREFIX: &str = "hotloop-testenv-";

/// The file holding the id of the process that owns a run directory.
const OWNER_FILE: &str = "owner.pid";

/// How long the logs of a run whose process is gone are kept.
const ABANDONED_LOGS_KEPT_FOR: Duration = Duration::from_secs(24 * 60 * 60);

/// A directory under the system's temporary directory, removed by [`RunDir::clean_up`];
/// its `logs/` stay when [`RunDir::keep_logs`] was called.
#[derive(Debug)]
pub(crate) struct RunDir {
    path: PathBuf,
    keep_logs: AtomicBool,
}

impl RunDir {
    /// Creates a fresh directory with its `logs/`, `pki/` and `etcd/` subdirectories, after
    /// sweeping what runs whose process was killed left behind (see [`sweep_abandoned`]).
    pub(crate) fn create() -> Result<Self, Error> {
        let temp = std::env::temp_dir();
        sweep_abandoned(&temp);
        let dir = tempfile::Builder::new()
            .prefix(PREFIX)
            .tempdir_in(&temp)
            .map_err(|source| Error::Write { path: temp, source })?;
        let run_dir = RunDir { path: dir.keep(), keep_logs: AtomicBool::new(false) };
        // Private: etcd's data and the keys are nobody else's business (and etcd checks).
        let mut builder = fs::DirBuilder::new();
        builder.mode(0o700);
        for sub in ["logs", "pki", "etcd", "apiserver-certs", "controller-manager-certs"] {
            let path = run_dir.path.join(sub);
            builder.create(&path).map_err(|source| Error::Write { path, source })?;
        }
        let owner = run_dir.path.join(OWNER_FILE);
        fs::write(&owner, std::process::id().to_string())
            .map_err(|source| Error::Write { path: owner, source })?;
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

/// Cleans up after runs whose process died without stopping its control plane (killed by a
/// signal; the kernel killed the components then). Their etcd data and certificates are
/// removed at once and their logs after a day. Directories of live processes are left alone.
fn sweep_abandoned(temp: &Path) {
    let Ok(entries) = fs::read_dir(temp) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(PREFIX) {
            continue;
        }
        let path = entry.path();
        let owner = fs::read_to_string(path.join(OWNER_FILE)).ok();
        match owner.and_then(|pid| pid.trim().parse::<u32>().ok()) {
            Some(pid) if is_alive(pid) => {}
            Some(_) => {
                let abandoned = RunDir { path, keep_logs: AtomicBool::new(true) };
                abandoned.clean_up();
            }
            None => {
                let age = fs::metadata(&path).and_then(|m| m.modified()).ok();
                let age = age.and_then(|modified| modified.elapsed().ok());
                if age.is_some_and(|age| age > ABANDONED_LOGS_KEPT_FOR) {
                    let _ = fs::remove_dir_all(&path);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_of_a_run_whose_process_is_gone_is_swept_but_its_logs_stay() {
        let temp = tempfile::tempdir().expect("temp dir");
        let abandoned = temp.path().join(format!("{PREFIX}abandoned"));
        fs::create_dir_all(abandoned.join("etcd")).expect("etcd dir");
        fs::create_dir_all(abandoned.join("logs")).expect("logs dir");
        // Far above pid_max: no process has this id.
        fs::write(abandoned.join(OWNER_FILE), "99999999").expect("owner");

        sweep_abandoned(temp.path());

        assert!(!abandoned.join("etcd").exists());
        assert!(abandoned.join("logs").exists());
    }

    #[test]
    fn the_directory_of_a_live_run_is_left_alone() {
        let temp = tempfile::tempdir().expect("temp dir");
        let live = temp.path().join(format!("{PREFIX}live"));
        fs::create_dir_all(live.join("etcd")).expect("etcd dir");
        fs::write(live.join(OWNER_FILE), std::process::id().to_string()).expect("owner");

        sweep_abandoned(temp.path());

        assert!(live.join("etcd").exists());
    }
}
