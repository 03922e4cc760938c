//! `swap-probe`: a test plugin built in two versions, to watch a hot swap happen.
//!
//! Each `Probe` walks `Pending -> Ready` and, in `Ready`, echoes `spec.value` into its status
//! together with the version that computed it. Version 1 echoes the value; version 2 (built
//! with the `v2` feature) echoes twice the value. Deleting a probe runs a clean-up that is
//! done at once. The manifests of both versions are the same, so a swap between them keeps
//! the controller and only changes the code.

use hotloop_sdk::prelude::*;

/// The reconciled kind.
pub const PROBE: Kind = Kind::namespaced("test.hotloop.dev", "v1", "Probe", "probes");

/// Which version this build is.
pub const VARIANT: &str = if cfg!(feature = "v2") { "v2" } else { "v1" };

#[derive(Debug, Default, Deserialize)]
pub struct Spec {
    #[serde(default)]
    pub value: i64,
}

#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// What this version makes of `spec.value`.
    #[serde(default)]
    pub echo: i64,
    /// The version that computed `echo`.
    #[serde(default)]
    pub variant: String,
    /// The generation `echo` was computed from.
    #[serde(default)]
    pub from_generation: i64,
}

type Probe = Object<Spec, Status>;

#[derive(Debug)]
pub struct SwapProbe;

impl Plugin for SwapProbe {
    type Spec = Spec;
    type Status = Status;

    fn define() -> Definition<Self> {
        let version = if cfg!(feature = "v2") { "2.0.0" } else { "1.0.0" };
        Definition::new("swap-probe", version)
            .reconciles(PROBE)
            .state("Pending", StateKind::InProgress, pending)
            .state("Ready", StateKind::SettledReady, ready)
            .finalize("Ready", release)
            .transition("Pending", "Ready")
    }
}

hotloop_sdk::export!(SwapProbe);

fn echo(value: i64) -> i64 {
    if cfg!(feature = "v2") { value.saturating_mul(2) } else { value }
}

fn status_of(probe: &Probe) -> Status {
    Status {
        echo: echo(probe.spec.value),
        variant: VARIANT.to_owned(),
        from_generation: probe.metadata.generation,
    }
}

fn pending(probe: &Probe, _: &Context) -> Outcome<Reconcile<Status>> {
    Ok(Reconcile::transition("Ready").status(status_of(probe)))
}

fn ready(probe: &Probe, _: &Context) -> Outcome<Reconcile<Status>> {
    Ok(Reconcile::settled().status(status_of(probe)))
}

fn release(_: &Probe, _: &Context) -> Outcome<Finalize<Status>> {
    Ok(Finalize::done().note(format!("released by {VARIANT}")))
}
