//! Host-side bindings generated from `wit/plugin.wit`.
//!
//! Every import is trappable: the host stops a guest that keeps calling after its budget of
//! host calls is spent.

#![allow(missing_debug_implementations, unused_qualifications)] // generated code

wasmtime::component::bindgen!({
    path: "../wit",
    world: "hotloop:plugin/plugin",
    imports: { default: trappable },
});

pub use hotloop::plugin::types as wit;
