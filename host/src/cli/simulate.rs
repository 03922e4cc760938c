//! `hotloop simulate`: one reconcile or finalize, offline, with the operator's own decisions.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use super::Output;
use super::support::{load_plugin, now_rfc3339};
use crate::contract::{CallStats, Context, FinalizeResult, Manifest};
use crate::controller::decide::{self, Inputs, PluginIdentity};
use crate::host_api::{Fixtures, Parent};
use crate::runtime::{Limits, Plugin};

#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// The plugin component (`.wasm`).
    plugin: PathBuf,
    /// The object to reconcile, as YAML or JSON. With `metadata.deletionTimestamp` set, its
    /// clean-up runs instead.
    #[arg(long)]
    object: PathBuf,
    /// The state to run; default: the object's `status.phase`, or the initial state.
    #[arg(long)]
    state: Option<String>,
    /// A directory of YAML or JSON objects that answer the plugin's get and list calls.
    #[arg(long)]
    fixtures: Option<PathBuf>,
    /// How to print the result.
    #[arg(long, value_enum, default_value_t)]
    output: Output,
    /// Fuel budget of the call.
    #[arg(long, default_value_t = Limits::default().fuel)]
    fuel: u64,
    /// Wall-time deadline of the call, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    deadline_ms: u64,
    /// Memory limit of the call, in MiB.
    #[arg(long, default_value_t = 64)]
    memory_mib: usize,
    /// Budget of host calls of the call.
    #[arg(long, default_value_t = Limits::default().host_calls)]
    host_calls: u32,
}

impl Args {
    fn limits(&self) -> Limits {
        Limits {
            fuel: self.fuel,
            deadline: Duration::from_millis(self.deadline_ms),
            memory_bytes: self.memory_mib << 20,
            host_calls: self.host_calls,
            ..Limits::default()
        }
    }
}

fn read_object(path: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read object file {}", path.display()))?;
    let object: Value = serde_yaml_ng::from_str(&text).map_err(|error| {
        anyhow::anyhow!("object file {} is not valid YAML or JSON: {error}", path.display())
    })?;
    if !object.is_object() {
        bail!("object file {} does not hold one object", path.display());
    }
    Ok(object)
}

fn check_kind(object: &Value, parent: &Parent, manifest: &Manifest) -> anyhow::Result<()> {
    let wanted = &manifest.reconciles;
    if parent.api_version != wanted.api_version() || parent.kind != wanted.kind {
        bail!(
            "the object is a {} {} but plugin {} reconciles {wanted}",
            parent.kind,
            parent.api_version,
            manifest.name
        );
    }
    if wanted.namespaced && object["metadata"]["namespace"].as_str().is_none() {
        bail!("{} is namespaced: give the object a metadata.namespace", wanted.kind);
    }
    Ok(())
}

pub(super) fn run(args: &Args) -> anyhow::Result<()> {
    let (plugin, _) = load_plugin(&args.plugin, args.limits())?;
    let object = read_object(&args.object)?;
    let parent = Parent::from_object(&object).with_context(|| {
        format!("object file {} is not a Kubernetes object", args.object.display())
    })?;
    let manifest = Arc::new(plugin.manifest().clone());
    check_kind(&object, &parent, &manifest)?;
    let fixtures = match &args.fixtures {
        Some(dir) => Fixtures::new(Fixtures::load_dir(dir)?),
        None => Fixtures::default(),
    };
    let report = simulate(&plugin, &manifest, &object, parent, args.state.as_deref(), &fixtures);
    match args.output {
        Output::Json => {
            super::support::print_out(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
        }
        Output::Text => super::support::print_out(&text(&report))?,
    }
    Ok(())
}

/// Runs the call and builds the report, as the operator would decide.
fn simulate(
    plugin: &Plugin,
    manifest: &Arc<Manifest>,
    object: &Value,
    parent: Parent,
    state: Option<&str>,
    fixtures: &Fixtures,
) -> Value {
    let identity = PluginIdentity {
        name: manifest.name.clone(),
        version: manifest.version.clone(),
        digest: plugin.digest().to_owned(),
    };
    let now = now_rfc3339();
    let inputs = Inputs {
        status: object.get("status"),
        generation: object["metadata"]["generation"].as_i64().unwrap_or(0),
        manifest,
        plugin: &identity,
        now: &now,
    };
    let from = state.unwrap_or_else(|| decide::current_state(inputs.status, manifest)).to_owned();
    let context = Context {
        now: now.clone(),
        trigger: "simulated".into(),
        attempt: 0,
        plugin_digest: plugin.digest().to_owned(),
    };
    let json = object.to_string();
    let deleting = object["metadata"]["deletionTimestamp"].is_string();
    let mut report = json!({
        "plugin": identity,
        "call": if deleting { "finalize" } else { "reconcile" },
        "from": from,
    });
    let stats = match (manifest.state(&from), deleting) {
        (None, _) => {
            let decision = decide::unknown_state(inputs, &from);
            report["result"] = json!({"type": "fail", "reason": "UnknownState",
                "message": decision.failure.as_ref().map(|f| f.message.clone())});
            fill(&mut report, &decision.state, decision.status, decision.events, decision.requeue);
            CallStats::default()
        }
        (Some(declared), true) => {
            let finalized = if declared.finalizes {
                let host = fixtures.host_calls(manifest.clone(), parent);
                plugin.finalize_blocking(&from, &json, &context, host)
            } else {
                // The operator releases objects in states without clean-up without a call.
                crate::contract::Finalized {
                    result: FinalizeResult {
                        outcome: crate::contract::FinalizeOutcome::Done,
                        status: None,
                        conditions: vec![],
                        note: Some("the state has no clean-up".into()),
                    },
                    stats: CallStats::default(),
                }
            };
            let decision = decide::after_finalize(inputs, &from, &finalized.result);
            report["result"] = result_json(&finalized.result.outcome);
            report["finalizerReleased"] = json!(decision.release_finalizer);
            fill(&mut report, &from, decision.status, decision.events, decision.requeue);
            finalized.stats
        }
        (Some(_), false) => {
            let host = fixtures.host_calls(manifest.clone(), parent);
            let reconciled = plugin.reconcile_blocking(&from, &json, &context, host);
            let decision = decide::after_reconcile(inputs, &from, &reconciled.result);
            report["result"] = result_json(&reconciled.result.outcome);
            fill(&mut report, &decision.state, decision.status, decision.events, decision.requeue);
            reconciled.stats
        }
    };
    let recording = fixtures.recording();
    if let Some(events) = report["events"].as_array_mut() {
        events.extend(recording.events.iter().map(|e| json!(e)));
    }
    report["hostCalls"] = json!(recording.calls);
    report["applied"] = json!(recording.applied);
    report["deleted"] = json!(recording.deleted);
    report["logs"] = json!(recording.logs);
    report["fuel"] = json!(stats.fuel);
    report["micros"] = json!(u64::try_from(stats.elapsed.as_micros()).unwrap_or(u64::MAX));
    report
}

fn result_json<T: serde::Serialize>(outcome: &T) -> Value {
    // Failures serialize flat: {"type": "fail", "reason": ..., "message": ..., "retryable": ...}.
    json!(outcome)
}

fn fill(
    report: &mut Value,
    to: &str,
    status: Value,
    events: Vec<decide::EventNote>,
    requeue: decide::Requeue,
) {
    report["to"] = json!(to);
    report["status"] = status;
    report["events"] = json!(events);
    report["requeue"] = json!(requeue);
}

fn text(report: &Value) -> String {
    let result = &report["result"];
    let mut out = format!(
        "{} {} in state {}: {}",
        report["plugin"]["name"].as_str().unwrap_or_default(),
        report["call"].as_str().unwrap_or_default(),
        report["from"].as_str().unwrap_or_default(),
        result["type"].as_str().unwrap_or_default(),
    );
    if let Some(reason) = result["reason"].as_str() {
        out += &format!(" ({reason}: {})", result["message"].as_str().unwrap_or_default());
    }
    out += &format!("\n  next state  {}\n", report["to"].as_str().unwrap_or_default());
    for event in report["events"].as_array().into_iter().flatten() {
        out += &format!(
            "  event       {} {}: {}\n",
            event["type"].as_str().unwrap_or_default(),
            event["reason"].as_str().unwrap_or_default(),
            event["message"].as_str().unwrap_or_default()
        );
    }
    for call in report["hostCalls"].as_array().into_iter().flatten() {
        out += &format!(
            "  host call   {} {} -> {}\n",
            call["call"].as_str().unwrap_or_default(),
            call["target"].as_str().unwrap_or_default(),
            call["outcome"].as_str().unwrap_or_default()
        );
    }
    out += &format!("  fuel        {}\n  time        {} µs\n", report["fuel"], report["micros"]);
    out += &format!(
        "  status\n{}\n",
        serde_json::to_string_pretty(&report["status"]).unwrap_or_default()
    );
    out
}
