//! A manifest for the CLI's unit tests: a namespaced kind that owns ConfigMaps and reads
//! Nodes, three states, a finalizer.

use crate::contract::{KindRef, Manifest, StateDecl, StateKind, Transition};

pub(super) fn kind(group: &str, kind: &str, plural: &str, namespaced: bool) -> KindRef {
    KindRef {
        group: group.into(),
        version: "v1".into(),
        kind: kind.into(),
        plural: plural.into(),
        namespaced,
    }
}

fn state(name: &str, kind: StateKind) -> StateDecl {
    StateDecl { name: name.into(), kind, finalizes: false }
}

pub(super) fn sample() -> Manifest {
    Manifest {
        name: "static-site".into(),
        version: "1.0.0".into(),
        reconciles: kind("example.hotloop.dev", "StaticSite", "staticsites", true),
        owns: vec![kind("", "ConfigMap", "configmaps", true)],
        reads: vec![kind("", "Node", "nodes", false)],
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
