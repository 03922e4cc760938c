//! `hotloop package`: a ConfigMap that installs a plugin.

use std::path::PathBuf;

use base64::Engine as _;
use serde_json::json;

use super::support::load_plugin;
use crate::runtime::Limits;

/// The API server refuses ConfigMaps whose data exceeds 1 MiB.
const CONFIG_MAP_LIMIT: usize = 1024 * 1024;

#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// The plugin component (`.wasm`).
    plugin: PathBuf,
    /// Namespace the operator reads plugin ConfigMaps from.
    #[arg(long, default_value = "hotloop-system")]
    namespace: String,
}

pub(super) fn run(args: &Args) -> anyhow::Result<()> {
    let (plugin, size) = load_plugin(&args.plugin, Limits::default())?;
    if size > CONFIG_MAP_LIMIT {
        anyhow::bail!(
            "plugin {} has {size} bytes but a ConfigMap holds at most {CONFIG_MAP_LIMIT}: build it \
             with `--profile plugin` (opt-level \"s\", LTO, strip)",
            args.plugin.display()
        );
    }
    let bytes = std::fs::read(&args.plugin)?;
    let manifest = plugin.manifest();
    let config_map = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": format!("hotloop-plugin-{}", manifest.name),
            "namespace": args.namespace,
            "labels": { "hotloop.dev/plugin": "true" },
            "annotations": {
                "hotloop.dev/plugin-version": manifest.version,
                "hotloop.dev/digest": plugin.digest(),
            },
        },
        "binaryData": {
            format!("{}.wasm", manifest.name): base64::engine::general_purpose::STANDARD.encode(&bytes),
        },
    });
    super::support::print_out(&serde_yaml_ng::to_string(&config_map)?)?;
    Ok(())
}
