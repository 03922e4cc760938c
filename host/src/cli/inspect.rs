//! `hotloop inspect`: what a plugin declares.

use std::path::PathBuf;

use serde_json::json;

use super::Output;
use super::support::load_plugin;
use crate::contract::{Manifest, StateKind};
use crate::runtime::Limits;

#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// The plugin component (`.wasm`).
    plugin: PathBuf,
    /// How to print the result.
    #[arg(long, value_enum, default_value_t)]
    output: Output,
    /// Print the state machine as a Mermaid state diagram instead.
    #[arg(long, conflicts_with = "output")]
    graph: bool,
}

pub(super) fn run(args: &Args) -> anyhow::Result<()> {
    let (plugin, size) = load_plugin(&args.plugin, Limits::default())?;
    let manifest = plugin.manifest();
    if args.graph {
        super::support::print_out(&super::graph::mermaid(manifest))?;
        return Ok(());
    }
    match args.output {
        Output::Json => {
            let mut value = serde_json::to_value(manifest)?;
            value["digest"] = json!(plugin.digest());
            value["sizeBytes"] = json!(size);
            value["stateDetails"] = value["states"].take();
            value["states"] = json!(manifest.states.iter().map(|s| &s.name).collect::<Vec<_>>());
            super::support::print_out(&format!("{}\n", serde_json::to_string_pretty(&value)?))?;
        }
        Output::Text => super::support::print_out(&summary(manifest, plugin.digest(), size))?,
    }
    Ok(())
}

fn kind_word(kind: StateKind) -> &'static str {
    match kind {
        StateKind::InProgress => "in progress",
        StateKind::SettledReady => "settled, ready",
        StateKind::SettledFailed => "settled, failed",
    }
}

fn summary(manifest: &Manifest, digest: &str, size: usize) -> String {
    let mut text = format!(
        "{} {}\n  digest      {digest}\n  size        {size} bytes\n  reconciles  {}\n",
        manifest.name, manifest.version, manifest.reconciles
    );
    for (label, kinds) in [("owns", &manifest.owns), ("reads", &manifest.reads)] {
        if !kinds.is_empty() {
            let names: Vec<String> = kinds.iter().map(ToString::to_string).collect();
            text += &format!("  {label:<11} {}\n", names.join(", "));
        }
    }
    let finalizer = if manifest.finalizer { manifest.finalizer_name() } else { "none".into() };
    text += &format!("  finalizer   {finalizer}\n  states\n");
    for state in &manifest.states {
        let initial = if state.name == manifest.initial_state { ", initial" } else { "" };
        let cleanup = if state.finalizes { ", has clean-up" } else { "" };
        let next: Vec<&str> = manifest
            .transitions
            .iter()
            .filter(|t| t.from == state.name)
            .map(|t| t.to.as_str())
            .collect();
        let next = if next.is_empty() { String::new() } else { format!(" -> {}", next.join(", ")) };
        text +=
            &format!("    {} ({}{initial}{cleanup}){next}\n", state.name, kind_word(state.kind));
    }
    text
}
