//! Relative links in the docs: the file must exist, and an `#anchor` into a Markdown file
//! must name one of its headings (as GitHub forms heading anchors).

use std::path::{Component, Path, PathBuf};

/// The anchor GitHub gives a heading: lower case, punctuation other than `-` and `_` dropped,
/// spaces turned into `-`.
pub fn anchor_of(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(markdown: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in crate::markdown::lines_outside_code(markdown) {
        if line.starts_with('#') {
            let anchor = anchor_of(line.trim_start_matches('#'));
            // Repeated headings get -1, -2, ... as GitHub numbers them.
            let repeats = found.iter().filter(|a: &&String| **a == anchor).count();
            let numbered = found.contains(&anchor);
            found.push(anchor.clone());
            if numbered {
                found.push(format!("{anchor}-{repeats}"));
            }
        }
    }
    found
}

/// The targets of the Markdown links `[text](target)` of `markdown`, outside code.
fn targets(markdown: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in crate::markdown::lines_outside_code(markdown) {
        // Inline code spans are not links.
        let prose: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = prose.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            found.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    found
}

fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The broken relative links of `page` (a path relative to `repo`) whose text is `markdown`.
pub fn problems(repo: &Path, page: &Path, markdown: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let dir = page.parent().unwrap_or(Path::new(""));
    for target in targets(markdown) {
        if target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        let (file, anchor) = match target.split_once('#') {
            Some((file, anchor)) => (file, Some(anchor)),
            None => (target.as_str(), None),
        };
        let resolved =
            if file.is_empty() { page.to_path_buf() } else { normalize(&dir.join(file)) };
        let full = repo.join(&resolved);
        if !full.exists() {
            problems.push(format!(
                "{}: {target}: {} does not exist",
                page.display(),
                resolved.display()
            ));
            continue;
        }
        if let Some(anchor) = anchor
            && full.extension().is_some_and(|ext| ext == "md")
        {
            let text = std::fs::read_to_string(&full).unwrap_or_default();
            if !anchors(&text).iter().any(|a| a == anchor) {
                problems.push(format!(
                    "{}: {target}: {} has no heading with the anchor #{anchor}",
                    page.display(),
                    resolved.display()
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_are_formed_as_github_forms_them() {
        assert_eq!(anchor_of(" Host calls: get, list"), "host-calls-get-list");
        assert_eq!(anchor_of(" `hotloop inspect`"), "hotloop-inspect");
        assert_eq!(anchor_of(" Events and conditions"), "events-and-conditions");
    }

    #[test]
    fn links_in_code_are_not_links() {
        let found = targets("see [a](a.md) and `[b](b.md)`\n```\n[c](c.md)\n```\n");
        assert_eq!(found, ["a.md"]);
    }
}
