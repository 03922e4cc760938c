//! Rebuilding an example plugin when its source changes, and handing the new component to the
//! operator's plugins directory, whose follower swaps it in.

use std::path::PathBuf;
use std::time::Duration;

use notify_debouncer_full::notify::RecursiveMode;

use super::plugins::{DevPlugin, build, install};
use crate::plugins::file_changes;

/// How long the sources must be quiet before a rebuild: an editor saving several files, or
/// writing one in steps, causes one build.
const QUIET: Duration = Duration::from_millis(300);

/// Rebuilds one plugin on every change of its sources; stops when dropped.
pub(super) type Rebuilder = file_changes::Following;

/// Follows `src/` and `Cargo.toml` of `plugin`; each change rebuilds it and installs the
/// component into `plugins_dir`. A failed build is printed and the running version keeps
/// serving. Changes made during a build cause one more build after it.
///
/// # Errors
/// When the sources cannot be watched.
pub(super) fn follow(plugin: DevPlugin, plugins_dir: PathBuf) -> anyhow::Result<Rebuilder> {
    let paths = [
        (plugin.dir.join("src"), RecursiveMode::Recursive),
        (plugin.dir.join("Cargo.toml"), RecursiveMode::NonRecursive),
    ];
    file_changes::follow(&paths, QUIET, move |mut changes| async move {
        while changes.next().await {
            super::say(format_args!("source of {} changed; rebuilding", plugin.name));
            match build(&plugin).await {
                Ok(built) => match install(&built, &plugin.name, &plugins_dir) {
                    Ok(installed) => {
                        let digest = std::fs::read(&installed)
                            .map(|bytes| crate::runtime::digest_of(&bytes))
                            .unwrap_or_default();
                        super::say(format_args!(
                            "rebuilt {} ({digest}); the operator swaps it in when it differs",
                            plugin.name
                        ));
                    }
                    Err(error) => super::say(format_args!(
                        "cannot install the rebuilt {}: {error}",
                        plugin.name
                    )),
                },
                Err(error) => {
                    super::say(format_args!("{error:#}"));
                    super::say(format_args!(
                        "the running version of {} keeps serving",
                        plugin.name
                    ));
                }
            }
        }
    })
}
