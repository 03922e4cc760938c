//! `bad-manifest`: a test plugin whose manifest names an initial state it does not declare.
//! The host must refuse to load it with an error that says so.

use hotloop_sdk::prelude::*;

#[derive(Debug)]
pub struct BadManifest;

impl Plugin for BadManifest {
    type Spec = serde_json::Value;
    type Status = serde_json::Value;

    fn define() -> Definition<Self> {
        Definition::new("bad-manifest", env!("CARGO_PKG_VERSION"))
            .reconciles(Kind::namespaced("test.hotloop.dev", "v1", "Broken", "brokens"))
            .state("Start", StateKind::InProgress, |_, _| Ok(Reconcile::settled()))
            .initial("Missing")
    }
}

hotloop_sdk::export!(BadManifest);
