//! The contract's reference page against the WIT itself: every interface, world, type and
//! function with a heading of its own, and the same fields, cases, members and parameters on
//! both sides. `wit_problems` returns the differences it found.

use std::collections::BTreeSet;

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
    for line in crate::markdown::lines_outside_code(markdown) {
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
        if let (Some(section), Some(row)) = (sections.last_mut(), line.strip_prefix("| `"))
            && let Some(end) = row.find('`')
        {
            section.rows.insert(row[..end].to_owned());
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
}
