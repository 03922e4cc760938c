//! What a plugin declares about itself, and the checks that make a manifest loadable.

use std::collections::BTreeSet;

use serde::Serialize;

/// A kind of the Kubernetes API.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KindRef {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub namespaced: bool,
}

impl KindRef {
    /// `group/version`, or `version` for the core group, as in an object's `apiVersion`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether this is the kind `group`/`version`/`kind` names.
    pub fn is(&self, group: &str, version: &str, kind: &str) -> bool {
        self.group == group && self.version == version && self.kind == kind
    }
}

impl std::fmt::Display for KindRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.kind, self.api_version())
    }
}

/// What a state means to people and to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StateKind {
    InProgress,
    SettledReady,
    SettledFailed,
}

/// One state of the state machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateDecl {
    pub name: String,
    pub kind: StateKind,
    /// Whether the state has clean-up to run on deletion.
    pub finalizes: bool,
}

/// An allowed move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    pub from: String,
    pub to: String,
}

/// Everything the host needs to know about a plugin before calling it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub reconciles: KindRef,
    pub owns: Vec<KindRef>,
    pub reads: Vec<KindRef>,
    pub states: Vec<StateDecl>,
    pub transitions: Vec<Transition>,
    pub initial_state: String,
    pub finalizer: bool,
}

/// Why a manifest cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error(
        "plugin name {0:?} is not valid: use 1 to 63 lower-case letters, digits and '-', \
         starting with a letter"
    )]
    InvalidName(String),
    #[error("the manifest declares no reconciled kind: set its group, version, kind and plural")]
    NoReconciledKind,
    #[error("kind {0} has an empty version, kind or plural name")]
    IncompleteKind(String),
    #[error("the manifest declares no states")]
    NoStates,
    #[error("state {0:?} is declared more than once")]
    DuplicateState(String),
    #[error("state name {0:?} is not valid: use 1 to 63 letters, digits, '-' or '_'")]
    InvalidStateName(String),
    #[error("initial state {0:?} is not among the declared states")]
    UnknownInitialState(String),
    #[error("transition {from:?} -> {to:?} names a state that is not declared")]
    UnknownTransitionState { from: String, to: String },
    #[error("states {0:?} have clean-up handlers but the manifest asks for no finalizer")]
    FinalizeWithoutFinalizer(Vec<String>),
}

fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn is_state_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl Manifest {
    /// Checks that the host can run this plugin: a valid name, a complete reconciled kind,
    /// unique valid states, an initial state and transitions among them.
    ///
    /// # Errors
    /// The first problem found, naming the value that is wrong.
    pub fn validate(&self) -> Result<(), ManifestError> {
        if !is_dns_label(&self.name) {
            return Err(ManifestError::InvalidName(self.name.clone()));
        }
        if self.reconciles.kind.is_empty() && self.reconciles.plural.is_empty() {
            return Err(ManifestError::NoReconciledKind);
        }
        for kind in std::iter::once(&self.reconciles).chain(&self.owns).chain(&self.reads) {
            if kind.version.is_empty() || kind.kind.is_empty() || kind.plural.is_empty() {
                return Err(ManifestError::IncompleteKind(kind.to_string()));
            }
        }
        if self.states.is_empty() {
            return Err(ManifestError::NoStates);
        }
        let mut seen = BTreeSet::new();
        for state in &self.states {
            if !is_state_name(&state.name) {
                return Err(ManifestError::InvalidStateName(state.name.clone()));
            }
            if !seen.insert(state.name.as_str()) {
                return Err(ManifestError::DuplicateState(state.name.clone()));
            }
        }
        if !seen.contains(self.initial_state.as_str()) {
            return Err(ManifestError::UnknownInitialState(self.initial_state.clone()));
        }
        for transition in &self.transitions {
            if !seen.contains(transition.from.as_str()) || !seen.contains(transition.to.as_str()) {
                return Err(ManifestError::UnknownTransitionState {
                    from: transition.from.clone(),
                    to: transition.to.clone(),
                });
            }
        }
        let finalizing: Vec<String> =
            self.states.iter().filter(|s| s.finalizes).map(|s| s.name.clone()).collect();
        if !self.finalizer && !finalizing.is_empty() {
            return Err(ManifestError::FinalizeWithoutFinalizer(finalizing));
        }
        Ok(())
    }

    /// The declared state called `name`.
    pub fn state(&self, name: &str) -> Option<&StateDecl> {
        self.states.iter().find(|state| state.name == name)
    }

    /// Whether the state machine may move from `from` to `to`. Staying is always allowed.
    pub fn allows(&self, from: &str, to: &str) -> bool {
        from == to || self.transitions.iter().any(|t| t.from == from && t.to == to)
    }

    /// The finalizer the host keeps on objects for this plugin.
    pub fn finalizer_name(&self) -> String {
        format!("hotloop.dev/{}", self.name)
    }

    /// Whether the plugin may read objects of this kind.
    pub fn may_read(&self, group: &str, version: &str, kind: &str) -> bool {
        self.reconciles.is(group, version, kind)
            || self.may_own(group, version, kind)
            || self.reads.iter().any(|k| k.is(group, version, kind))
    }

    /// The owned kind `group`/`version`/`kind`, if the plugin owns it.
    pub fn owned(&self, group: &str, version: &str, kind: &str) -> Option<&KindRef> {
        self.owns.iter().find(|k| k.is(group, version, kind))
    }

    /// Whether the plugin may create, change and delete objects of this kind.
    pub fn may_own(&self, group: &str, version: &str, kind: &str) -> bool {
        self.owned(group, version, kind).is_some()
    }

    /// The declared kind (reconciled, owned or read) `group`/`version`/`kind`.
    pub fn declared(&self, group: &str, version: &str, kind: &str) -> Option<&KindRef> {
        std::iter::once(&self.reconciles)
            .chain(&self.owns)
            .chain(&self.reads)
            .find(|k| k.is(group, version, kind))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn kind(kind: &str, plural: &str) -> KindRef {
        KindRef {
            group: "example.hotloop.dev".into(),
            version: "v1".into(),
            kind: kind.into(),
            plural: plural.into(),
            namespaced: true,
        }
    }

    fn state(name: &str, kind: StateKind) -> StateDecl {
        StateDecl { name: name.into(), kind, finalizes: false }
    }

    pub(crate) fn sample() -> Manifest {
        Manifest {
            name: "static-site".into(),
            version: "1.0.0".into(),
            reconciles: kind("StaticSite", "staticsites"),
            owns: vec![KindRef {
                group: String::new(),
                version: "v1".into(),
                kind: "ConfigMap".into(),
                plural: "configmaps".into(),
                namespaced: true,
            }],
            reads: vec![],
            states: vec![
                state("Pending", StateKind::InProgress),
                state("Ready", StateKind::SettledReady),
                state("Invalid", StateKind::SettledFailed),
            ],
            transitions: vec![
                Transition { from: "Pending".into(), to: "Ready".into() },
                Transition { from: "Pending".into(), to: "Invalid".into() },
            ],
            initial_state: "Pending".into(),
            finalizer: true,
        }
    }

    #[test]
    fn a_complete_manifest_is_valid() {
        assert_eq!(sample().validate(), Ok(()));
    }

    #[test]
    fn an_initial_state_that_is_not_declared_is_named_in_the_error() {
        let manifest = Manifest { initial_state: "Missing".into(), ..sample() };
        assert_eq!(manifest.validate(), Err(ManifestError::UnknownInitialState("Missing".into())));
    }

    #[test]
    fn a_state_declared_twice_is_rejected() {
        let mut manifest = sample();
        manifest.states.push(state("Ready", StateKind::SettledReady));
        assert_eq!(manifest.validate(), Err(ManifestError::DuplicateState("Ready".into())));
    }

    #[test]
    fn a_transition_to_an_undeclared_state_is_rejected() {
        let mut manifest = sample();
        manifest.transitions.push(Transition { from: "Ready".into(), to: "Gone".into() });
        assert!(matches!(
            manifest.validate(),
            Err(ManifestError::UnknownTransitionState { to, .. }) if to == "Gone"
        ));
    }

    #[test]
    fn plugin_names_must_be_dns_labels() {
        let manifest = Manifest { name: "Static_Site".into(), ..sample() };
        assert!(matches!(manifest.validate(), Err(ManifestError::InvalidName(_))));
    }

    #[test]
    fn staying_in_a_state_is_always_allowed_but_other_moves_need_a_transition() {
        let manifest = sample();
        assert!(manifest.allows("Ready", "Ready"));
        assert!(manifest.allows("Pending", "Ready"));
        assert!(!manifest.allows("Ready", "Pending"));
    }

    #[test]
    fn reading_needs_a_declared_kind_and_owning_an_owned_one() {
        let manifest = sample();
        assert!(manifest.may_read("", "v1", "ConfigMap"));
        assert!(manifest.may_read("example.hotloop.dev", "v1", "StaticSite"));
        assert!(!manifest.may_read("", "v1", "Secret"));
        assert!(!manifest.may_own("example.hotloop.dev", "v1", "StaticSite"));
    }
}
