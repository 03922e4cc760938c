//! The controller: one per plugin, reconciling the kind the plugin declares.
//!
//! Nothing here names wasmtime: plugins arrive as [`crate::contract::Handler`]s.

pub mod decide;
