//! Where the repository's files are, found when the program runs.
//!
//! A path fixed at compile time is not enough: every checkout of the repository shares one
//! cargo target directory (`~/.cache/hotloop/target`), and cargo does not rebuild this crate
//! for a second checkout whose sources it has already compiled, so a compiled-in path could
//! name the other checkout, or one that no longer exists.

use std::path::{Path, PathBuf};

/// Overrides where the repository is looked for.
pub const REPOSITORY_VAR: &str = "HOTLOOP_REPOSITORY";

/// A file that only the root of this repository has.
const MARKER: &str = "scripts/build-control-plane";

/// The root of the repository: from [`REPOSITORY_VAR`], else the nearest directory holding
/// `scripts/build-control-plane` above the package cargo runs (`CARGO_MANIFEST_DIR`, set by
/// `cargo test` and `cargo run`) or above the working directory, else the checkout this crate
/// was compiled in.
pub fn repository() -> PathBuf {
    if let Some(dir) = std::env::var_os(REPOSITORY_VAR) {
        return PathBuf::from(dir);
    }
    let starts =
        [std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from), std::env::current_dir().ok()];
    starts
        .into_iter()
        .flatten()
        .find_map(|start| root_above(&start))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

fn root_above(start: &Path) -> Option<PathBuf> {
    start.ancestors().find(|dir| dir.join(MARKER).is_file()).map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_is_found_from_a_directory_below_it() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap();
        let found = root_above(&root.join("host/src")).unwrap();
        assert_eq!(found.canonicalize().unwrap(), root);
    }

    #[test]
    fn no_root_is_found_outside_a_checkout() {
        assert_eq!(root_above(Path::new("/")), None);
    }
}
