//! The contract's exports of one compiled plugin, found and type-checked once, when the plugin
//! is loaded, instead of on every call.
//!
//! The generated bindings look the exports up and check their types every time they
//! instantiate; with a fresh instance per call, that is a fixed cost of every call. Here the
//! manifest call, which every plugin gets first, goes through the generated bindings and so
//! checks all three exports of the component once; reconcile and finalize calls rely on it.

use wasmtime::Store;
use wasmtime::component::{ComponentExportIndex, InstancePre, TypedFunc};

use super::bindings::{self, wit};
use super::call::CallState;

/// The contract's exports in a component, found but not yet type-checked.
pub(super) struct FoundExports {
    pre: bindings::PluginPre<CallState>,
    reconcile: ComponentExportIndex,
    finalize: ComponentExportIndex,
}

/// The contract's exports of a component whose types have been checked.
#[derive(Clone)]
pub(super) struct Exports {
    pre: bindings::PluginPre<CallState>,
    reconcile: ComponentExportIndex,
    finalize: ComponentExportIndex,
}

impl FoundExports {
    /// Finds the contract's exports in a pre-instantiated component.
    ///
    /// # Errors
    /// When the component does not export the contract's functions.
    pub(super) fn new(pre: InstancePre<CallState>) -> wasmtime::Result<Self> {
        let component = pre.component();
        let index = |name: &str| {
            component
                .get_export_index(None, name)
                .ok_or_else(|| wasmtime::format_err!("the component exports no `{name}`"))
        };
        let (reconcile, finalize) = (index("reconcile")?, index("finalize")?);
        Ok(FoundExports { pre: bindings::PluginPre::new(pre)?, reconcile, finalize })
    }

    /// Calls `manifest` in a fresh instance. The generated bindings check the types of all
    /// three exports on the way, so the exports come back checked.
    ///
    /// # Errors
    /// When an export has another type than the contract's, or the call fails.
    pub(super) fn read_manifest(
        self,
        store: &mut Store<CallState>,
    ) -> wasmtime::Result<(Exports, wit::Manifest)> {
        let manifest = self.pre.instantiate(&mut *store)?.call_manifest(store)?;
        let FoundExports { pre, reconcile, finalize } = self;
        Ok((Exports { pre, reconcile, finalize }, manifest))
    }
}

impl Exports {
    /// Calls `reconcile` in a fresh instance.
    pub(super) fn reconcile(
        &self,
        store: &mut Store<CallState>,
        state: &str,
        object: &str,
        context: &wit::Context,
    ) -> wasmtime::Result<wit::ReconcileResult> {
        self.call(store, self.reconcile, "reconcile", (state, object, context))
    }

    /// Calls `finalize` in a fresh instance.
    pub(super) fn finalize(
        &self,
        store: &mut Store<CallState>,
        state: &str,
        object: &str,
        context: &wit::Context,
    ) -> wasmtime::Result<wit::FinalizeResult> {
        self.call(store, self.finalize, "finalize", (state, object, context))
    }

    /// Instantiates the component in `store` and calls its export `name` at `index`, whose
    /// contract type is `(state, object, context) -> R`.
    fn call<R>(
        &self,
        store: &mut Store<CallState>,
        index: ComponentExportIndex,
        name: &str,
        args: (&str, &str, &wit::Context),
    ) -> wasmtime::Result<R>
    where
        R: wasmtime::component::ComponentType + wasmtime::component::Lift + Send + Sync,
    {
        let instance = self.pre.instance_pre().instantiate(&mut *store)?;
        let func = instance
            .get_func(&mut *store, index)
            .ok_or_else(|| wasmtime::format_err!("the instance has no `{name}` export"))?;
        // SAFETY: an `Exports` exists only once `read_manifest` has checked, through the
        // generated bindings, that this component's `reconcile` and `finalize` have exactly
        // the contract's types, and the two callers above name each with its own result type.
        #[allow(unsafe_code)] // skips a type check that was already done; see above
        let func: TypedFunc<(&str, &str, &wit::Context), (R,)> =
            unsafe { TypedFunc::new_unchecked(func) };
        Ok(func.call(store, args)?.0)
    }
}
