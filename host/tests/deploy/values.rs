//! The chart's values against the host: every flag the chart passes is one `hotloop run`
//! accepts, the chart's defaults are the host's, and the value tables list every value.

use serde_json::Value;

use super::chart::{args, flag_value, hotloop, render, repo};

/// Every flag the chart can pass, in one render.
fn every_flag() -> Vec<Value> {
    render("hotloop-system", &["--set", "replicas=2"])
}

#[test]
fn hotloop_run_accepts_every_flag_the_chart_passes() {
    let chart_args = args(&every_flag());
    // clap checks every argument and value before it acts on --help, so this fails on an
    // unknown flag or a malformed value without needing a cluster.
    let mut with_help: Vec<&str> = chart_args.iter().map(String::as_str).collect();
    with_help.push("--help");
    let output = hotloop(&with_help);
    assert!(
        output.status.success(),
        "hotloop refuses the chart's arguments {chart_args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The `[default: ...]` that `hotloop run --help` shows for each flag.
fn host_defaults() -> Vec<(String, String)> {
    let output = hotloop(&["run", "--help"]);
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).expect("help is UTF-8");
    let mut defaults = Vec::new();
    let mut flag = None;
    for line in help.lines().map(str::trim_start) {
        if let Some(rest) = line.strip_prefix("--") {
            flag = rest.split([' ', '=']).next().map(|name| format!("--{name}"));
        }
        if let (Some(flag), Some(start)) = (&flag, line.find("[default: ")) {
            let value = &line[start + "[default: ".len()..];
            let value = value.split(']').next().expect("a closing bracket");
            defaults.push((flag.clone(), value.to_owned()));
        }
    }
    defaults
}

#[test]
fn the_chart_defaults_are_the_defaults_of_the_host() {
    let objects = every_flag();
    let defaults = host_defaults();
    // Left out on purpose: --metrics-addr (a Pod must listen on every address, not loopback)
    // and --lease-namespace (the chart names it; the host derives it from --namespace).
    for flag in [
        "--log-format",
        "--namespace",
        "--plugin-selector",
        "--concurrency",
        "--backoff-base-ms",
        "--backoff-cap-ms",
        "--shutdown-grace-s",
        "--default-fuel",
        "--default-deadline-ms",
        "--default-memory-mib",
        "--default-host-calls",
        "--default-output-kib",
        "--lease-name",
        "--lease-duration-s",
        "--renew-deadline-s",
        "--retry-period-s",
    ] {
        let host = defaults.iter().find(|(f, _)| f == flag).map(|(_, value)| value.as_str());
        let chart = flag_value(&objects, flag);
        assert!(host.is_some(), "hotloop run --help shows no default for {flag}");
        assert_eq!(chart.as_deref(), host, "the chart and the host disagree on {flag}");
    }
}

/// Every value of values.yaml as a dotted path with its default. Maps whose keys are not
/// plain names (labels, annotations) are one value, as they are in the tables.
fn leaf_values(prefix: &str, node: &Value, out: &mut Vec<(String, Value)>) {
    let plain = |key: &String| key.chars().all(|c| c.is_ascii_alphanumeric());
    match node {
        Value::Object(map) if !map.is_empty() && map.keys().all(plain) => {
            for (key, value) in map {
                let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                leaf_values(&path, value, out);
            }
        }
        _ => out.push((prefix.to_owned(), node.clone())),
    }
}

/// A default as the tables show it: scalars bare, an empty string as `""`, the rest as JSON.
fn shown(value: &Value) -> String {
    match value {
        Value::String(text) if text.is_empty() => "\"\"".to_owned(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[test]
fn the_value_tables_list_every_value_with_its_default() {
    let values = std::fs::read_to_string(repo().join("deploy/helm/hotloop/values.yaml"))
        .expect("values.yaml");
    let values: Value = serde_yaml_ng::from_str(&values).expect("values.yaml is YAML");
    let mut leaves = Vec::new();
    leaf_values("", &values, &mut leaves);
    for readme in ["deploy/README.md", "deploy/helm/hotloop/README.md"] {
        let text = std::fs::read_to_string(repo().join(readme)).expect("the README");
        let section =
            text.split("\n## Values\n").nth(1).and_then(|rest| rest.split("\n## ").next());
        let section = section.unwrap_or_else(|| panic!("{readme} has no \"## Values\" section"));
        let rows = section.lines().filter(|line| line.starts_with("| `")).count();
        assert_eq!(
            rows,
            leaves.len(),
            "{readme} has {rows} value rows for {} values",
            leaves.len()
        );
        for (path, default) in &leaves {
            let row = format!("| `{path}` | `{}` |", shown(default));
            assert!(section.contains(&row), "{readme} lacks the row {row}");
        }
    }
}
