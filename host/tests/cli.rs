//! `hotloop inspect`, `simulate` and `package`, run as a user runs them.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn hotloop(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hotloop")).args(args).output().expect("hotloop runs")
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn json_of(output: &Output) -> Value {
    assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON object")
}

fn example(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/static-site/deploy").join(file)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    file
}

/// The one error line of a failed command; no panic, no backtrace.
fn error_line(output: &Output) -> String {
    assert!(!output.status.success(), "the command should fail");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn inspect_prints_the_manifest_and_digest_as_json() {
    let plugin = common::plugin("static-site");
    let report = json_of(&hotloop(&["inspect", path(&plugin), "--output", "json"]));
    assert_eq!(report["name"], "static-site");
    assert!(report["digest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(report["reconciles"]["kind"], "StaticSite");
    assert_eq!(report["reconciles"]["group"], "example.hotloop.dev");
    assert_eq!(report["initialState"], "Pending");
    let states: Vec<&str> =
        report["states"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert_eq!(states, ["Pending", "Publishing", "Verifying", "Ready", "Invalid"]);
}

#[test]
fn simulate_runs_the_initial_state_and_shows_the_status_the_host_would_write() {
    let plugin = common::plugin("static-site");
    let sample = example("sample.yaml");
    let report = json_of(&hotloop(&[
        "simulate",
        path(&plugin),
        "--object",
        path(&sample),
        "--output",
        "json",
    ]));
    assert_eq!(report["from"], "Pending");
    assert_eq!(report["result"]["type"], "transition");
    assert_eq!(report["to"], "Publishing");
    assert_eq!(report["status"]["phase"], "Publishing");
    assert_eq!(report["status"]["observedGeneration"], 1);
    assert_eq!(report["events"][0]["message"], "Pending -> Publishing");
    assert!(report["fuel"].as_u64().unwrap() > 0);
    assert!(report["micros"].as_u64().is_some());
}

#[test]
fn simulate_publishing_applies_owned_children_into_the_fixture_cluster() {
    let plugin = common::plugin("static-site");
    let sample = example("sample.yaml");
    let report = json_of(&hotloop(&[
        "simulate",
        path(&plugin),
        "--object",
        path(&sample),
        "--state",
        "Publishing",
        "--output",
        "json",
    ]));
    assert_eq!(report["to"], "Verifying");
    let applied = report["applied"].as_array().unwrap();
    assert_eq!(applied.len(), 2, "content ConfigMap and credentials Secret");
    assert_eq!(applied[0]["metadata"]["namespace"], "default");
    assert_eq!(applied[0]["metadata"]["ownerReferences"][0]["kind"], "StaticSite");
    assert_eq!(report["status"]["url"], "https://hello.example.com/");
    assert_eq!(report["hostCalls"].as_array().unwrap().len(), 2);
}

#[test]
fn simulate_of_an_object_being_deleted_runs_the_clean_up_of_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let sample = std::fs::read_to_string(example("sample.yaml")).unwrap();
    let deleting = sample.replace(
        "  generation: 1\n",
        "  generation: 1\n  deletionTimestamp: \"2026-01-01T00:00:00Z\"\n",
    ) + "status:\n  phase: Ready\n";
    let object = write(dir.path(), "site.yaml", &deleting);
    let fixtures = dir.path().join("fixtures");
    std::fs::create_dir(&fixtures).unwrap();
    write(
        &fixtures,
        "content.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hello-content\n  namespace: default\n  ownerReferences:\n  - {kind: StaticSite, uid: 0b9c3c6e-2f1e-4a8e-9d55-5c1a7e0c2f11, controller: true}\n",
    );
    let plugin = common::plugin("static-site");
    let report = json_of(&hotloop(&[
        "simulate",
        path(&plugin),
        "--object",
        path(&object),
        "--fixtures",
        path(&fixtures),
        "--output",
        "json",
    ]));
    assert_eq!(report["call"], "finalize");
    assert_eq!(report["from"], "Ready");
    assert_eq!(report["result"]["type"], "done");
    assert_eq!(report["finalizerReleased"], true);
    assert_eq!(report["deleted"][0], "ConfigMap default/hello-content");
}

#[test]
fn a_plugin_failing_in_the_sandbox_is_a_result_not_a_cli_error() {
    let dir = tempfile::tempdir().unwrap();
    let object = write(
        dir.path(),
        "m.yaml",
        "apiVersion: test.hotloop.dev/v1\nkind: Misbehavior\nmetadata: {name: spin, namespace: default}\nspec: {mode: loop}\n",
    );
    let plugin = common::plugin("misbehave");
    let report = json_of(&hotloop(&[
        "simulate",
        path(&plugin),
        "--object",
        path(&object),
        "--fuel",
        "20000000",
        "--output",
        "json",
    ]));
    assert_eq!(report["result"]["type"], "fail");
    assert_eq!(report["result"]["reason"], "OutOfFuel");
    assert_eq!(report["to"], "Start");
    assert_eq!(report["events"][0]["type"], "Warning");
}

#[test]
fn an_object_in_a_state_the_plugin_lacks_gets_a_clear_failure() {
    let plugin = common::plugin("static-site");
    let sample = example("sample.yaml");
    let report = json_of(&hotloop(&[
        "simulate",
        path(&plugin),
        "--object",
        path(&sample),
        "--state",
        "Exploded",
        "--output",
        "json",
    ]));
    assert_eq!(report["result"]["reason"], "UnknownState");
    assert!(report["result"]["message"].as_str().unwrap().contains("Exploded"));
}

#[test]
fn package_prints_a_labelled_config_map_with_the_component() {
    let plugin = common::plugin("static-site");
    let output = hotloop(&["package", path(&plugin), "--namespace", "ops"]);
    assert!(output.status.success());
    let manifest: Value = serde_yaml_ng::from_slice(&output.stdout).unwrap();
    assert_eq!(manifest["kind"], "ConfigMap");
    assert_eq!(manifest["metadata"]["namespace"], "ops");
    assert_eq!(manifest["metadata"]["labels"]["hotloop.dev/plugin"], "true");
    let encoded = manifest["binaryData"]["static-site.wasm"].as_str().unwrap();
    assert!(encoded.len() > 1000);
}

#[test]
fn bad_input_gives_one_error_line_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let not_wasm = write(dir.path(), "plugin.wasm", "definitely not wasm");
    assert!(
        error_line(&hotloop(&["inspect", path(&not_wasm)])).contains("not a WebAssembly component")
    );
    let bad_manifest = common::plugin("bad-manifest");
    assert!(
        error_line(&hotloop(&["inspect", path(&bad_manifest)]))
            .contains("initial state \"Missing\"")
    );
    let plugin = common::plugin("static-site");
    let broken = write(dir.path(), "broken.yaml", "metadata: [unclosed");
    let line = error_line(&hotloop(&["simulate", path(&plugin), "--object", path(&broken)]));
    assert!(line.contains("not valid YAML"), "{line}");
    let wrong_kind = write(
        dir.path(),
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: d}\n",
    );
    let line = error_line(&hotloop(&["simulate", path(&plugin), "--object", path(&wrong_kind)]));
    assert!(line.contains("reconciles StaticSite"), "{line}");
}

#[test]
fn a_reader_that_stops_early_ends_the_output_quietly() {
    let plugin = common::plugin("static-site");
    let sample = example("sample.yaml");
    let commands: [Vec<&str>; 3] = [
        vec!["inspect", path(&plugin), "--output", "json"],
        vec!["simulate", path(&plugin), "--object", path(&sample)],
        vec!["package", path(&plugin), "--namespace", "default"],
    ];
    for args in commands {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hotloop"))
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("hotloop runs");
        // Closed before the command has loaded the plugin, so before it writes anything: as
        // `| head -0` would.
        drop(child.stdout.take());
        let output = child.wait_with_output().expect("hotloop ends");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?} printed: {stderr}");
    }
}
