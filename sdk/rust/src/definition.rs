//! What a plugin declares: its kinds, states, transitions and handlers.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::object::{Context, Object};
use crate::result::{Finalize, Outcome, Reconcile};

/// A reconcile plugin. Implement it on a unit struct and hand that to [`crate::export!`].
pub trait Plugin: Sized + 'static {
    /// The typed `spec` of the reconciled kind.
    type Spec: DeserializeOwned + Default;
    /// The plugin's own `status` fields. Unknown fields (the host's among them) are ignored
    /// when reading; the host's field names are reserved when writing.
    type Status: DeserializeOwned + Serialize + Default;

    /// Declares the plugin. Called for every call into the plugin, so keep it cheap.
    fn define() -> Definition<Self>;
}

/// The handler of one state: reads the object, does the state's work, says what comes next.
pub type ReconcileHandler<P> = fn(
    &Object<<P as Plugin>::Spec, <P as Plugin>::Status>,
    &Context,
) -> Outcome<Reconcile<<P as Plugin>::Status>>;

/// The clean-up of one state, for an object being deleted.
pub type FinalizeHandler<P> = fn(
    &Object<<P as Plugin>::Spec, <P as Plugin>::Status>,
    &Context,
) -> Outcome<Finalize<<P as Plugin>::Status>>;

/// A kind of the Kubernetes API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// API group; empty for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// Lower-case plural resource name.
    pub plural: &'static str,
    pub namespaced: bool,
}

impl Kind {
    /// Core `v1` ConfigMap.
    pub const CONFIG_MAP: Kind = Kind::namespaced("", "v1", "ConfigMap", "configmaps");
    /// Core `v1` Secret.
    pub const SECRET: Kind = Kind::namespaced("", "v1", "Secret", "secrets");

    /// A kind whose objects live in a namespace.
    pub const fn namespaced(
        group: &'static str,
        version: &'static str,
        kind: &'static str,
        plural: &'static str,
    ) -> Kind {
        Kind { group, version, kind, plural, namespaced: true }
    }

    /// A kind whose objects have no namespace.
    pub const fn cluster(
        group: &'static str,
        version: &'static str,
        kind: &'static str,
        plural: &'static str,
    ) -> Kind {
        Kind { group, version, kind, plural, namespaced: false }
    }

    /// `group/version`, or `version` for the core group, as in an object's `apiVersion`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// What a state means to people and to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateKind {
    /// Work is under way; the host looks again until the object moves on.
    InProgress,
    /// Done and healthy: `Ready` is `True`.
    SettledReady,
    /// Done and broken: `Ready` is `False`.
    SettledFailed,
}

pub(crate) struct State<P: Plugin> {
    pub(crate) kind: StateKind,
    pub(crate) reconcile: ReconcileHandler<P>,
    pub(crate) finalize: Option<FinalizeHandler<P>>,
}

/// A plugin's declaration: the manifest the host reads, and the handler of every state.
///
/// The first state declared is the initial one unless [`Definition::initial`] says otherwise.
/// The host keeps a finalizer on objects when any state has a clean-up handler.
pub struct Definition<P: Plugin> {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) reconciles: Option<Kind>,
    pub(crate) owns: Vec<Kind>,
    pub(crate) reads: Vec<Kind>,
    pub(crate) order: Vec<String>,
    pub(crate) states: BTreeMap<String, State<P>>,
    pub(crate) transitions: Vec<(String, String)>,
    pub(crate) initial: Option<String>,
}

impl<P: Plugin> std::fmt::Debug for Definition<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Definition")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("states", &self.order)
            .finish_non_exhaustive()
    }
}

impl<P: Plugin> Definition<P> {
    /// Starts a declaration. `name` names the finalizer and field manager: lower-case letters,
    /// digits and `-`.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Definition {
            name: name.into(),
            version: version.into(),
            reconciles: None,
            owns: Vec::new(),
            reads: Vec::new(),
            order: Vec::new(),
            states: BTreeMap::new(),
            transitions: Vec::new(),
            initial: None,
        }
    }

    /// The kind this plugin reconciles.
    pub fn reconciles(mut self, kind: Kind) -> Self {
        self.reconciles = Some(kind);
        self
    }

    /// A kind the plugin creates and deletes as children of the reconciled object.
    pub fn owns(mut self, kind: Kind) -> Self {
        self.owns.push(kind);
        self
    }

    /// A kind the plugin only reads.
    pub fn reads(mut self, kind: Kind) -> Self {
        self.reads.push(kind);
        self
    }

    /// A state and its handler. Declaring the same name twice is reported by the host when
    /// it loads the plugin.
    pub fn state(mut self, name: &str, kind: StateKind, handler: ReconcileHandler<P>) -> Self {
        self.order.push(name.to_owned());
        self.states.insert(name.to_owned(), State { kind, reconcile: handler, finalize: None });
        self
    }

    /// The clean-up handler of an already declared state.
    ///
    /// # Panics
    /// When `state` was not declared before: a mistake in the plugin's own code, which the
    /// host reports as a failed load.
    pub fn finalize(mut self, state: &str, handler: FinalizeHandler<P>) -> Self {
        match self.states.get_mut(state) {
            Some(declared) => declared.finalize = Some(handler),
            None => panic!("finalize handler for undeclared state {state:?}"),
        }
        self
    }

    /// An allowed move from one state to another.
    pub fn transition(mut self, from: &str, to: &str) -> Self {
        self.transitions.push((from.to_owned(), to.to_owned()));
        self
    }

    /// The state of an object that has none yet.
    pub fn initial(mut self, state: &str) -> Self {
        self.initial = Some(state.to_owned());
        self
    }

    pub(crate) fn needs_finalizer(&self) -> bool {
        self.states.values().any(|state| state.finalize.is_some())
    }

    pub(crate) fn initial_state(&self) -> String {
        self.initial.clone().or_else(|| self.order.first().cloned()).unwrap_or_default()
    }
}
