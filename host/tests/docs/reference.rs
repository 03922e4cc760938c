//! The reference parts of the docs against what they describe: the flags of `hotloop run`,
//! the metrics, the reasons on Events and conditions, annotations and labels, and the modules
//! of the host (the WIT's reference: `wit_reference.rs`). Each function returns the
//! differences it found.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every `--flag` of a `--help` text with its `[default: ...]` (empty when it has none) and
/// its `[env: NAME=]`.
fn flags(help: &str) -> Vec<(String, String, Option<String>)> {
    let mut flags: Vec<(String, String, Option<String>)> = Vec::new();
    for line in help.lines().map(str::trim_start) {
        if let Some(rest) = line.strip_prefix("--") {
            let name = rest.split([' ', '=']).next().unwrap_or_default();
            if name != "help" {
                flags.push((format!("--{name}"), String::new(), None));
            }
            continue;
        }
        let Some(last) = flags.last_mut() else { continue };
        if let Some(start) = line.find("[default: ") {
            let value = &line[start + "[default: ".len()..];
            last.1 = value.split(']').next().unwrap_or_default().to_owned();
        }
        if let Some(start) = line.find("[env: ") {
            let value = &line[start + "[env: ".len()..];
            last.2 = Some(value.split('=').next().unwrap_or_default().to_owned());
        }
    }
    flags
}

/// Differences between `hotloop run --help` and the flag table of the operator guide: each
/// flag needs a row `` | `--flag` | `default` | ``, each row a flag, each environment
/// variable a mention.
pub fn flag_problems(help: &str, guide: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let flags = flags(help);
    for (flag, default, env) in &flags {
        let shown = match default.as_str() {
            "" => "none".to_owned(),
            words if words.contains(' ') => words.to_owned(),
            value => format!("`{value}`"),
        };
        let row = format!("| `{flag}` | {shown} |");
        if !guide.contains(&row) {
            problems.push(format!("the operator guide lacks the row {row}"));
        }
        if let Some(env) = env
            && !guide.contains(&format!("`{env}`"))
        {
            problems.push(format!("the operator guide does not name `{env}` (for {flag})"));
        }
    }
    for line in guide.lines() {
        if let Some(rest) = line.strip_prefix("| `--") {
            let name = format!("--{}", rest.split('`').next().unwrap_or_default());
            if !flags.iter().any(|(flag, _, _)| *flag == name) {
                problems.push(format!(
                    "the operator guide has a row for {name}, which hotloop run lacks"
                ));
            }
        }
    }
    problems
}

/// The metric names the host exports, from the `# TYPE` lines of an encoding with one of
/// everything recorded (counters as their `_total` samples).
pub fn exported_metrics() -> BTreeSet<String> {
    use hotloop::observe::Metrics;
    let metrics = Metrics::new();
    metrics.reconcile("p", "S", "settled", std::time::Duration::from_millis(1), 1);
    metrics.sandbox_failure("p", "OutOfFuel");
    metrics.queue_depth("p", 1);
    metrics.api_request("p", "apply");
    metrics.plugin_load("p", "loaded");
    metrics.plugin_swap("p", "swapped");
    metrics.plugins_active(1);
    metrics.leader(true);
    metrics
        .encode()
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .map(|rest| {
            let mut words = rest.split_whitespace();
            let name = words.next().unwrap_or_default();
            match words.next() {
                Some("counter") => format!("{name}_total"),
                _ => name.to_owned(),
            }
        })
        .collect()
}

/// Every metric must have a row in the operator guide, and every metric row a metric.
pub fn metric_problems(guide: &str) -> Vec<String> {
    let exported = exported_metrics();
    let mut problems = Vec::new();
    for name in &exported {
        if !guide.contains(&format!("| `{name}` |")) {
            problems.push(format!("the operator guide has no row for the metric {name}"));
        }
    }
    for line in guide.lines() {
        if let Some(rest) = line.strip_prefix("| `hotloop_") {
            let name = format!("hotloop_{}", rest.split('`').next().unwrap_or_default());
            if !exported.contains(&name) {
                problems.push(format!(
                    "the operator guide has a row for {name}, which the host does not export"
                ));
            }
        }
    }
    problems
}

/// The files whose CamelCase string literals are reasons, actions, condition types or
/// statuses that reach objects: the controller, the plugin registry, the sandbox's failures,
/// the result checks, and the SDK's own failures.
const REASON_SOURCES: [&str; 8] = [
    "host/src/controller",
    "host/src/plugins",
    "host/src/runtime/error.rs",
    "host/src/runtime/plugin.rs",
    "host/src/contract/result.rs",
    "sdk/rust/src/host.rs",
    "sdk/rust/src/result.rs",
    "sdk/rust/src/exports.rs",
];

fn rust_files(repo: &Path, source: &str) -> Vec<std::path::PathBuf> {
    let path = repo.join(source);
    if path.is_file() {
        return vec![path];
    }
    let mut files: Vec<_> = std::fs::read_dir(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|p| {
            p.extension().is_some_and(|ext| ext == "rs")
                && !p.file_name().is_some_and(|n| n.to_string_lossy().ends_with("_tests.rs"))
        })
        .collect();
    files.sort();
    files
}

/// The code of a file before its unit tests.
fn production_code(file: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.split("#[cfg(test)]").next().unwrap_or_default().to_owned()
}

/// CamelCase string literals (a whole literal of one word) of the reason sources, with the
/// file each was found in; names given to `debug_struct` are left out.
pub fn reason_literals(repo: &Path) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for source in REASON_SOURCES {
        for file in rust_files(repo, source) {
            let shown = file.strip_prefix(repo).unwrap_or(&file).display().to_string();
            for line in production_code(&file).lines() {
                if line.contains("debug_struct(") || line.trim_start().starts_with("//") {
                    continue;
                }
                for literal in line.split('"').skip(1).step_by(2) {
                    let camel = literal.starts_with(|c: char| c.is_ascii_uppercase())
                        && literal.len() > 1
                        && literal.chars().all(|c| c.is_ascii_alphanumeric());
                    if camel {
                        found.entry(literal.to_owned()).or_insert_with(|| shown.clone());
                    }
                }
            }
        }
    }
    found
}

/// Every reason literal must be explained in the operator guide's "Events and conditions"
/// section, and every reason in that section's tables must exist.
pub fn reason_problems(repo: &Path, guide: &str) -> Vec<String> {
    let literals = reason_literals(repo);
    let Some(section) = guide.split("\n## Events and conditions").nth(1) else {
        return vec!["the operator guide has no section \"## Events and conditions\"".into()];
    };
    let section = section.split("\n## ").next().unwrap_or_default();
    let mut problems = Vec::new();
    for (literal, file) in &literals {
        if !section.contains(&format!("`{literal}`")) {
            problems.push(format!(
                "`{literal}` ({file}) is not explained in the operator guide's Events and conditions"
            ));
        }
    }
    for line in section.lines() {
        let Some(first) = line.strip_prefix("| ").and_then(|rest| rest.split(" |").next()) else {
            continue;
        };
        for name in first.split('`').skip(1).step_by(2) {
            let camel = name.starts_with(|c: char| c.is_ascii_uppercase())
                && name.chars().all(|c| c.is_ascii_alphanumeric());
            if camel && !literals.contains_key(name) {
                problems
                    .push(format!("the operator guide explains `{name}`, which no source writes"));
            }
        }
    }
    problems
}

/// `hotloop.dev/...` names (annotations, labels, finalizer and field manager prefixes) in
/// the host's code must each be named somewhere in the docs.
pub fn annotation_problems(repo: &Path, docs: &str) -> Vec<String> {
    let mut names = BTreeSet::new();
    for file in rust_files_under(&repo.join("host/src")) {
        for literal in production_code(&file).split('"').skip(1).step_by(2) {
            if let Some(rest) = literal.strip_prefix("hotloop.dev/") {
                let plain =
                    !rest.is_empty() && rest.chars().all(|c| c.is_ascii_lowercase() || c == '-');
                if plain {
                    names.insert(literal.to_owned());
                }
            }
        }
    }
    names
        .into_iter()
        .filter(|name| !docs.contains(name.as_str()))
        .map(|name| format!("the docs do not name {name}, which the host uses"))
        .collect()
}

/// Every `.rs` file under `dir`, in order.
fn rust_files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files_under(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// Every module directory of `host/src` must be linked from the architecture page.
pub fn module_problems(repo: &Path, page: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(repo.join("host/src")).into_iter().flatten().flatten() {
        if !entry.path().is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if !page.contains(&format!("(../host/src/{name}/"))
            && !page.contains(&format!("(../host/src/{name})"))
        {
            problems.push(format!("docs/architecture.md does not link host/src/{name}/"));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_read_with_their_defaults_and_variables() {
        let help = "Options:\n      --namespace <NAMESPACE>\n          Namespace [env: HOTLOOP_NAMESPACE=] [default: hotloop-system]\n      --leader-elect\n          Lead\n  -h, --help\n          Print help\n";
        assert_eq!(
            flags(help),
            [
                ("--namespace".into(), "hotloop-system".into(), Some("HOTLOOP_NAMESPACE".into())),
                ("--leader-elect".into(), String::new(), None),
            ]
        );
    }

    #[test]
    fn every_family_of_the_host_is_found_in_an_encoding() {
        let names = exported_metrics();
        assert!(names.contains("hotloop_reconciles_total"), "{names:?}");
        assert!(names.contains("hotloop_reconcile_duration_seconds"), "{names:?}");
        assert!(names.contains("hotloop_leader"), "{names:?}");
    }
}
