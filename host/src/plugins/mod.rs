//! Where plugins come from, and the registry that keeps one controller per plugin.
//!
//! Plugins are read from ConfigMaps labelled `hotloop.dev/plugin: "true"` in the operator's
//! namespace (every `binaryData` key ending in `.wasm`; limits from annotations, see
//! [`limits`]) and from a directory of `.wasm` files. A plugin version is its sha256 digest:
//! the same bytes again change nothing.

pub mod limits;
mod registry;
mod sources;

pub use registry::{Registry, RegistryEvent};
pub use sources::{Candidate, ConfigMapChange, Origin, PLUGIN_LABEL, read_dir, watch_config_maps};
