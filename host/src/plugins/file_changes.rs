//! Being told when files change: the plugins directory, and the sources `hotloop dev`
//! rebuilds from.
//!
//! Only changes count: a file created, written, removed or renamed. Reading a file is not a
//! change, although the kernel reports it too (inotify's open and close events): reading the
//! plugins directory after a change would otherwise be the next change, for ever.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use notify_debouncer_full::notify::{EventKind, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Watches files until dropped.
pub struct FileChanges {
    _debouncer: Debouncer<RecommendedWatcher, RecommendedCache>,
}

impl std::fmt::Debug for FileChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileChanges").finish_non_exhaustive()
    }
}

/// Whether an event of this kind changes what a file holds or where it is.
fn is_change(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) | EventKind::Any
    )
}

/// Watches `paths` (a directory, recursively or not, or a file) and sends `()` once the files
/// have been quiet for `quiet` after one or more changes.
///
/// # Errors
/// When a path cannot be watched; the error names it.
pub fn watch(
    paths: &[(PathBuf, RecursiveMode)],
    quiet: Duration,
) -> anyhow::Result<(FileChanges, mpsc::UnboundedReceiver<()>)> {
    use anyhow::Context as _;
    let (changed, changes) = mpsc::unbounded_channel();
    let mut debouncer =
        new_debouncer(quiet, None, move |result: DebounceEventResult| match result {
            Ok(events) => {
                if events.iter().any(|event| is_change(&event.kind)) {
                    let _watcher_gone = changed.send(());
                }
            }
            Err(errors) => {
                for error in errors {
                    tracing::warn!(%error, "watching files failed");
                }
            }
        })
        .context("cannot start watching files")?;
    for (path, mode) in paths {
        debouncer.watch(path, *mode).with_context(|| format!("cannot watch {}", path.display()))?;
    }
    Ok((FileChanges { _debouncer: debouncer }, changes))
}

/// A task that acts on file changes, with the watch that feeds it; both end when this is
/// dropped.
pub struct Following {
    _watching: FileChanges,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Following {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Following").finish_non_exhaustive()
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The changes a [`Following`] task acts on, a burst at a time.
#[derive(Debug)]
pub struct Bursts(mpsc::UnboundedReceiver<()>);

impl Bursts {
    /// Waits for the next change and takes with it those reported while the task was busy,
    /// so that changes made during one action cause one more action, not one each. `false`
    /// once the watch has ended.
    pub async fn next(&mut self) -> bool {
        if self.0.recv().await.is_none() {
            return false;
        }
        while self.0.try_recv().is_ok() {}
        true
    }
}

/// Watches `paths` as [`watch`] does and runs the task `act` makes of the changes.
///
/// # Errors
/// When a path cannot be watched; the error names it.
pub fn follow<F, Fut>(
    paths: &[(PathBuf, RecursiveMode)],
    quiet: Duration,
    act: F,
) -> anyhow::Result<Following>
where
    F: FnOnce(Bursts) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (watching, changes) = watch(paths, quiet)?;
    let task = tokio::spawn(act(Bursts(changes)));
    Ok(Following { _watching: watching, task })
}

#[cfg(test)]
mod tests {
    use notify_debouncer_full::notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind};

    use super::*;

    #[test]
    fn reading_a_file_is_not_a_change_and_writing_one_is() {
        assert!(!is_change(&EventKind::Access(AccessKind::Open(AccessMode::Read))));
        assert!(!is_change(&EventKind::Access(AccessKind::Close(AccessMode::Read))));
        assert!(is_change(&EventKind::Create(CreateKind::File)));
        assert!(is_change(&EventKind::Modify(ModifyKind::Any)));
    }

    #[tokio::test]
    async fn a_write_is_reported_once_the_directory_is_quiet_and_a_read_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plugin.wasm");
        std::fs::write(&file, b"v1").unwrap();
        let paths = [(dir.path().to_path_buf(), RecursiveMode::NonRecursive)];
        let (_watching, mut changes) = watch(&paths, Duration::from_millis(50)).unwrap();
        std::fs::write(&file, b"v2").unwrap();
        let reported = tokio::time::timeout(Duration::from_secs(10), changes.recv()).await;
        assert_eq!(reported.unwrap(), Some(()));
        // Whatever else the write caused has been reported by now.
        tokio::time::sleep(Duration::from_millis(300)).await;
        while changes.try_recv().is_ok() {}
        let _ = std::fs::read(&file).unwrap();
        let after_read = tokio::time::timeout(Duration::from_millis(500), changes.recv()).await;
        assert!(after_read.is_err(), "reading the file was reported as a change");
    }
}
