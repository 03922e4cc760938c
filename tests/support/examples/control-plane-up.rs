//! Starts a local control plane and keeps it running until Ctrl-C (or SIGTERM).
//!
//! Usage: `cargo run -p hotloop-testenv --example control-plane-up -- [CRD.yaml ...]`
//! (or `scripts/control-plane-up`). Prints the kubeconfig to use, for instance as
//! `HOTLOOP_E2E_KUBECONFIG` of a test run or for a `hotloop run` against it.

use std::path::PathBuf;

use anyhow::Context;
use hotloop_testenv::{ClusterOptions, Component, ControlPlane};
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut options = ClusterOptions::new();
    for path in std::env::args_os().skip(1).map(PathBuf::from) {
        let yaml = std::fs::read_to_string(&path)
            .with_context(|| format!("could not read the CRD file {}", path.display()))?;
        options = options.crd_yaml(yaml);
    }
    let plane = ControlPlane::start(&options).await?;
    println!("export KUBECONFIG={}", plane.kubeconfig().display());
    for component in Component::ALL {
        println!("# {component} log: {}", plane.log(component).display());
    }
    println!("# running; Ctrl-C stops it");
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    drop(plane);
    Ok(())
}
