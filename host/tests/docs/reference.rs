//! The reference parts of the docs against what they describe: the WIT, the flags of
//! `hotloop run`, the metrics, the reasons on Events and conditions, annotations and labels,
//! and the modules of the host. Each function returns the differences it found.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A named thing of the WIT and the names of what it holds (fields, cases, parameters, or an
/// interface's and the world's members).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitItem {
    /// `interface`, `world`, `record`, `enum`, `variant`, `func`.
    pub kind: &'static str,
    pub name: String,
    pub children: Vec<String>,
    /// The interface or world it is in; `None` for interfaces and worlds.
    pub parent: Option<String>,
}

fn strip_comment(line: &str) -> &str {
    match line.find("//") {
        Some(at) => &line[..at],
        None => line,
    }
}

fn ident(word: &str) -> String {
    word.trim().trim_start_matches('%').to_owned()
}

/// The names of the parameters in `func(a: t, b: u) -> ...`.
fn params(signature: &str) -> Vec<String> {
    let Some(open) = signature.find("func(") else { return Vec::new() };
    let inner = &signature[open + "func(".len()..];
    let mut depth = 0;
    let mut end = inner.len();
    for (i, c) in inner.char_indices() {
        match c {
            '(' | '<' => depth += 1,
            ')' if depth == 0 => {
                end = i;
                break;
            }
            ')' | '>' => depth -= 1,
            _ => {}
        }
    }
    let mut names = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    let inner = &inner[..end];
    for (i, c) in inner.char_indices().chain(std::iter::once((inner.len(), ','))) {
        match c {
            '<' | '(' => depth += 1,
            '>' | ')' => depth -= 1,
            ',' if depth == 0 => {
                if let Some((name, _)) = inner[start..i].split_once(':') {
                    names.push(ident(name));
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    names
}

/// Every item of a WIT file. Not a full parser: enough for the layout of `wit/plugin.wit`
/// (one declaration per line, functions on one line each).
pub fn wit_items(wit: &str) -> Vec<WitItem> {
    let mut items: Vec<WitItem> = Vec::new();
    // The interface or world being read, and the type being read inside it.
    let mut outer: Option<usize> = None;
    let mut inner: Option<usize> = None;
    for raw in wit.lines() {
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        match (words.first().copied(), inner, outer) {
            (Some("}"), Some(_), _) => inner = None,
            (Some("}"), None, Some(_)) => outer = None,
            (Some(kind @ ("interface" | "world")), None, None) => {
                items.push(WitItem {
                    kind: if kind == "interface" { "interface" } else { "world" },
                    name: ident(words[1].trim_end_matches('{')),
                    children: Vec::new(),
                    parent: None,
                });
                outer = Some(items.len() - 1);
            }
            (Some(kind @ ("record" | "enum" | "variant")), None, Some(o)) => {
                let name = ident(words[1].trim_end_matches('{'));
                items[o].children.push(name.clone());
                let kind = match kind {
                    "record" => "record",
                    "enum" => "enum",
                    _ => "variant",
                };
                let parent = Some(items[o].name.clone());
                items.push(WitItem { kind, name, children: Vec::new(), parent });
                inner = Some(items.len() - 1);
            }
            (Some(_), Some(i), _) => {
                let name = line.split([':', '(', ',']).next().unwrap_or_default();
                items[i].children.push(ident(name));
            }
            (Some("use" | "package"), None, _) => {}
            (Some("import"), None, Some(o)) => {
                let name = ident(line["import".len()..].trim().trim_end_matches(';'));
                items[o].children.push(name);
            }
            (Some(_), None, Some(o)) if line.contains(": func(") => {
                let line = line.strip_prefix("export ").unwrap_or(line);
                let name = ident(line.split(':').next().unwrap_or_default());
                items[o].children.push(name.clone());
                let parent = Some(items[o].name.clone());
                items.push(WitItem { kind: "func", name, children: params(line), parent });
            }
            _ => {}
        }
    }
    items
}

/// A heading of the reference, the backticked name it starts with, and the first-column
/// names of the table rows in its own part of the page (up to the next heading).
#[derive(Debug)]
struct Section {
    level: usize,
    name: String,
    rows: BTreeSet<String>,
    /// The `##` section it is in, for `###` headings.
    parent: Option<String>,
}

fn first_backticked(text: &str) -> Option<String> {
    let start = text.find('`')? + 1;
    let end = text[start..].find('`')? + start;
    Some(text[start..end].to_owned())
}

fn sections(markdown: &str) -> Vec<Section> {
    let mut sections: Vec<Section> = Vec::new();
    let mut parent: Option<String> = None;
    let mut in_code = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let level = line.chars().take_while(|c| *c == '#').count();
        if (2..=3).contains(&level) && line[level..].starts_with(' ') {
            let Some(name) = first_backticked(line) else {
                sections.push(Section {
                    level,
                    name: String::new(),
                    rows: BTreeSet::new(),
                    parent: None,
                });
                if level == 2 {
                    parent = None;
                }
                continue;
            };
            if level == 2 {
                parent = Some(name.clone());
            }
            let of = if level == 3 { parent.clone() } else { None };
            sections.push(Section { level, name, rows: BTreeSet::new(), parent: of });
            continue;
        }
        if let (Some(section), Some(row)) = (sections.last_mut(), line.strip_prefix("| `")) {
            if let Some(end) = row.find('`') {
                section.rows.insert(row[..end].to_owned());
            }
        }
    }
    sections
}

/// Differences between the WIT and its reference: an item without its own heading, a
/// heading for an item the WIT lacks, and members, fields, cases or parameters that one has
/// and the other does not.
pub fn wit_problems(wit: &str, reference: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(package) = wit.lines().find_map(|l| l.trim().strip_prefix("package ")) {
        let package = package.trim_end_matches(';');
        if !reference.contains(package) {
            problems.push(format!("the reference does not name the package {package}"));
        }
    }
    let items = wit_items(wit);
    let sections: Vec<Section> =
        sections(reference).into_iter().filter(|s| !s.name.is_empty()).collect();
    let find = |item: &WitItem| {
        sections.iter().find(|s| {
            s.name == item.name
                && match &item.parent {
                    None => s.level == 2,
                    Some(parent) => s.level == 3 && s.parent.as_deref() == Some(parent),
                }
        })
    };
    for item in &items {
        let place = match &item.parent {
            Some(parent) => format!("{} `{}` in `{parent}`", item.kind, item.name),
            None => format!("{} `{}`", item.kind, item.name),
        };
        let Some(section) = find(item) else {
            problems.push(format!("{place} has no heading of its own"));
            continue;
        };
        let wit_children: BTreeSet<String> = item.children.iter().cloned().collect();
        for missing in wit_children.difference(&section.rows) {
            problems.push(format!("{place}: `{missing}` is not in its table"));
        }
        for extra in section.rows.difference(&wit_children) {
            problems.push(format!("{place}: its table has `{extra}`, which the WIT does not"));
        }
    }
    for section in &sections {
        let known = items.iter().any(|item| {
            item.name == section.name
                && match (&item.parent, section.level) {
                    (None, 2) => true,
                    (Some(parent), 3) => section.parent.as_deref() == Some(parent),
                    _ => false,
                }
        });
        if !known {
            problems.push(format!("the heading `{}` names no item of the WIT", section.name));
        }
    }
    problems
}

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
    for file in rust_dirs(repo, &repo.join("host/src")) {
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

fn rust_dirs(repo: &Path, dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_dirs(repo, &path));
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

    const WIT: &str = "package a:b@1.0.0;\ninterface types {\n    /// doc\n    record r {\n        %type: string,\n        x: list<u8>,\n    }\n    enum e {\n        one,\n        %true,\n    }\n    variant v {\n        some(string),\n        none,\n    }\n}\ninterface host {\n    use types.{r};\n    get: func(target: r, sel: string) -> result<option<string>, e>;\n}\nworld w {\n    import host;\n    export run: func() -> r;\n}\n";

    #[test]
    fn items_fields_cases_and_parameters_are_read_from_the_wit() {
        let items = wit_items(WIT);
        let find = |name: &str| items.iter().find(|i| i.name == name).expect(name).clone();
        assert_eq!(find("types").children, ["r", "e", "v"]);
        assert_eq!(find("r").children, ["type", "x"]);
        assert_eq!(find("e").children, ["one", "true"]);
        assert_eq!(find("v").children, ["some", "none"]);
        assert_eq!(find("get").children, ["target", "sel"]);
        assert_eq!(find("w").children, ["host", "run"]);
        assert_eq!(find("run").parent.as_deref(), Some("w"));
    }

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
