//! Write Hotloop reconcile plugins in plain Rust.
//!
//! A plugin reconciles one Kubernetes kind as a state machine: one function per state, and
//! optionally one clean-up function per state for objects being deleted. The Hotloop host does
//! everything else — watches, the finalizer, status and conditions, Events, retries and logs —
//! and runs the plugin in a sandbox.
//!
//! ```ignore
//! use hotloop_sdk::prelude::*;
//!
//! struct Greeter;
//!
//! impl Plugin for Greeter {
//!     type Spec = serde_json::Value;
//!     type Status = serde_json::Value;
//!
//!     fn define() -> Definition<Self> {
//!         Definition::new("greeter", "1.0.0")
//!             .reconciles(Kind::namespaced("example.dev", "v1", "Greeting", "greetings"))
//!             .state("Pending", StateKind::InProgress, |_, _| Ok(Reconcile::transition("Done")))
//!             .state("Done", StateKind::SettledReady, |_, _| Ok(Reconcile::settled()))
//!             .transition("Pending", "Done")
//!     }
//! }
//!
//! hotloop_sdk::export!(Greeter);
//! ```
//!
//! `sdk/rust/README.md` walks through a complete plugin.
//!
//! Inside a component the crate also supplies the C library's standard output and error
//! (standard error goes to the host, for panic messages) and, with the default `allocator`
//! feature, the global allocator: both keep the fresh instance of every call cheap. See the
//! README's "Inside the component".

#[cfg(any(all(target_arch = "wasm32", feature = "allocator"), test))]
mod allocator;
mod definition;
mod exports;
pub mod host;
#[cfg(not(target_arch = "wasm32"))]
pub mod native;
mod object;
mod result;
#[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
mod stdio;

pub use definition::{Definition, FinalizeHandler, Kind, Plugin, ReconcileHandler, StateKind};
#[doc(hidden)]
pub use exports::Exports;
pub use host::HostError;
pub use object::{Context, Metadata, Object};
pub use result::{
    Condition, ConditionStatus, Failure, Finalize, FinalizeNext, Next, Outcome, Reconcile,
};

/// Everything a plugin usually needs, in one import.
pub mod prelude {
    pub use crate::host::{self, EventType};
    pub use crate::{
        Condition, ConditionStatus, Context, Definition, Failure, Finalize, Kind, Object, Outcome,
        Plugin, Reconcile, StateKind,
    };
    pub use serde::{Deserialize, Serialize};
}

/// Bindings generated from the WIT contract in `wit/`. Plugin authors never need them.
#[doc(hidden)]
#[allow(unsafe_code, missing_debug_implementations, unused_qualifications)] // generated code
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "hotloop:plugin/plugin",
        pub_export_macro: true,
        export_macro_name: "export_plugin_component",
        default_bindings_module: "hotloop_sdk::bindings",
    });
}

/// Exports a [`Plugin`] as the component's implementation of the contract.
///
/// Call it once, at the top level of the plugin crate.
#[macro_export]
macro_rules! export {
    ($plugin:ty) => {
        type __HotloopExports = $crate::Exports<$plugin>;
        $crate::bindings::export_plugin_component!(__HotloopExports with_types_in $crate::bindings);
    };
}
