//! Where plugins come from, and the registry that keeps one controller per plugin.
//!
//! Plugins are read from ConfigMaps labelled `hotloop.dev/plugin: "true"` in the operator's
//! namespace (every `binaryData` key ending in `.wasm`; limits from annotations, see
//! [`limits`]) and from a directory of `.wasm` files. A plugin version is its sha256 digest:
//! the same bytes again change nothing.
//! Both sources hot swap: ConfigMaps through an API watch, the directory through file
//! notifications ([`follow_config_maps`], [`follow_dir`]); a removed plugin drains (see
//! [`OnRemoval`]).

pub mod file_changes;
mod follow;
mod install;
pub mod limits;
mod records;
mod registry;
mod removal;
mod sources;

pub use follow::{DirFollower, follow_config_maps, follow_dir};
pub use records::{RECORD_LABEL, Record, RecordError, Records};
pub use registry::{Registry, RegistryEvent};
pub use removal::{ON_REMOVAL_ANNOTATION, OnRemoval, OnRemovalError};
pub use sources::{
    Candidate, ConfigMapChange, DEFAULT_PLUGIN_SELECTOR, Origin, PLUGIN_LABEL, read_dir,
    watch_config_maps,
};
