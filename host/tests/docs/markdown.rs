//! The command blocks of a Markdown page: fenced blocks tagged `sh` or `console`, split into
//! commands, the output a `console` block shows for each, and the markers that say who runs
//! a command when this test does not.
//!
//! - In an `sh` block every line that is not blank and not a comment is a command; a line
//!   ending in `\` continues on the next.
//! - In a `console` block a line starting with `$ ` is a command and the lines after it, up to
//!   the next command, are its output. In shown output `…` stands for any text within a line,
//!   and a line holding only `…` for any number of lines.
//! - A marker is a comment line `# [...]` in a block; it applies to every command after it in
//!   the same block. See [`Disposition`].

use std::path::{Path, PathBuf};

/// Who runs a command, as its marker says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// No marker: this test runs it and checks its exit status (and its output, if shown).
    Run,
    /// `# [run by PATH]`: the script or CI entry point at PATH runs it; this test checks that
    /// PATH really holds the command.
    RunBy(String),
    /// `# [not run by the tests: REASON]`: listed with its reason.
    NotRun(String),
    /// `# [set by the tests: REASON]`: a variable assignment whose value the test supplies.
    SetByTests(String),
}

/// One command of a page, where it is, and who runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub file: PathBuf,
    /// 1-based line of the command's first line in the file.
    pub line: usize,
    /// The command as a shell reads it (continuation lines joined with their newlines).
    pub text: String,
    /// The output a `console` block shows, one entry per line; `None` in `sh` blocks.
    pub expected: Option<Vec<String>>,
    pub disposition: Disposition,
}

impl Command {
    /// `file:line`, for messages.
    pub fn place(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }
}

/// A marker line that is not one of the known forms, or a block that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

fn marker(line: &str) -> Option<Result<Disposition, String>> {
    let inner = line.trim().strip_prefix("# [")?.strip_suffix(']')?;
    let parsed = if let Some(path) = inner.strip_prefix("run by ") {
        Ok(Disposition::RunBy(path.trim().to_owned()))
    } else if let Some(reason) = inner.strip_prefix("not run by the tests: ") {
        Ok(Disposition::NotRun(reason.trim().to_owned()))
    } else if let Some(reason) = inner.strip_prefix("set by the tests: ") {
        Ok(Disposition::SetByTests(reason.trim().to_owned()))
    } else {
        Err(format!("unknown marker {line:?}"))
    };
    Some(parsed)
}

/// Every command of the `sh` and `console` blocks of `text`, the Markdown of `file`.
///
/// # Errors
/// An unknown marker, an unclosed block, or a `console` block with output before any command.
pub fn commands(file: &Path, text: &str) -> Result<Vec<Command>, ParseError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut commands = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        let Some(fence) = fence_of(line) else {
            index += 1;
            continue;
        };
        let info = line.trim_start()[fence.len()..].trim();
        let tag = info.split_whitespace().next().unwrap_or("");
        let start = index + 1;
        let end = (start..lines.len())
            .find(|&i| lines[i].trim_start().starts_with(&fence) && lines[i].trim() == fence)
            .ok_or_else(|| {
                ParseError(format!("{}:{}: the block is never closed", file.display(), index + 1))
            })?;
        let body: Vec<(usize, &str)> = (start..end).map(|i| (i + 1, lines[i])).collect();
        match tag {
            "sh" => commands.extend(sh_block(file, &body)?),
            "console" => commands.extend(console_block(file, &body)?),
            _ => {}
        }
        index = end + 1;
    }
    Ok(commands)
}

/// The fence (three or more backticks) that opens a block on `line`, if it does.
fn fence_of(line: &str) -> Option<String> {
    let trimmed = line.trim_start();
    let ticks = trimmed.chars().take_while(|c| *c == '`').count();
    (ticks >= 3).then(|| "`".repeat(ticks))
}

fn marker_at(file: &Path, number: usize, line: &str) -> Result<Option<Disposition>, ParseError> {
    match marker(line) {
        None => Ok(None),
        Some(Ok(disposition)) => Ok(Some(disposition)),
        Some(Err(message)) => Err(ParseError(format!("{}:{number}: {message}", file.display()))),
    }
}

fn sh_block(file: &Path, body: &[(usize, &str)]) -> Result<Vec<Command>, ParseError> {
    let mut disposition = Disposition::Run;
    let mut commands = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for &(number, line) in body {
        if let Some((first, mut text)) = current.take() {
            text.push('\n');
            text.push_str(line);
            if line.ends_with('\\') {
                current = Some((first, text));
            } else {
                commands.push(command(file, first, text, None, &disposition));
            }
            continue;
        }
        if let Some(found) = marker_at(file, number, line)? {
            disposition = found;
            continue;
        }
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if line.ends_with('\\') {
            current = Some((number, line.to_owned()));
        } else {
            commands.push(command(file, number, line.to_owned(), None, &disposition));
        }
    }
    if let Some((first, _)) = current {
        return Err(ParseError(format!(
            "{}:{first}: the command's last line ends in `\\`",
            file.display()
        )));
    }
    Ok(commands)
}

fn console_block(file: &Path, body: &[(usize, &str)]) -> Result<Vec<Command>, ParseError> {
    let mut disposition = Disposition::Run;
    let mut commands: Vec<Command> = Vec::new();
    let mut continuing = false;
    for &(number, line) in body {
        if continuing {
            let last = commands.last_mut().expect("a command is being continued");
            last.text.push('\n');
            last.text.push_str(line);
            continuing = line.ends_with('\\');
            continue;
        }
        if let Some(text) = line.strip_prefix("$ ") {
            commands.push(command(file, number, text.to_owned(), Some(Vec::new()), &disposition));
            continuing = text.ends_with('\\');
            continue;
        }
        match commands.last_mut() {
            Some(last) => last.expected.get_or_insert_with(Vec::new).push(line.to_owned()),
            None => match marker_at(file, number, line)? {
                Some(found) => disposition = found,
                None if line.trim().is_empty() => {}
                None => {
                    return Err(ParseError(format!(
                        "{}:{number}: output before the first `$ ` command",
                        file.display()
                    )));
                }
            },
        }
    }
    Ok(commands)
}

fn command(
    file: &Path,
    line: usize,
    text: String,
    expected: Option<Vec<String>>,
    disposition: &Disposition,
) -> Command {
    Command { file: file.to_path_buf(), line, text, expected, disposition: disposition.clone() }
}

/// The lines of `markdown` outside its fenced code blocks (the fences themselves left out).
pub fn lines_outside_code(markdown: &str) -> impl Iterator<Item = &str> {
    let mut in_code = false;
    markdown.lines().filter(move |line| {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            return false;
        }
        !in_code
    })
}

/// Whether `output` is what `expected` shows: line by line, trailing blanks ignored, `…`
/// matching any text within a line and a line of only `…` any number of lines.
pub fn output_matches(expected: &[String], output: &str) -> bool {
    let trim = |lines: Vec<String>| {
        let mut lines: Vec<String> = lines.into_iter().map(|l| l.trim_end().to_owned()).collect();
        while lines.last().is_some_and(String::is_empty) {
            lines.pop();
        }
        lines
    };
    let expected = trim(expected.to_vec());
    let actual = trim(output.lines().map(str::to_owned).collect());
    lines_match(&expected, &actual)
}

fn lines_match(expected: &[String], actual: &[String]) -> bool {
    // memo[i][j]: expected[i..] matches actual[j..].
    let mut memo = vec![vec![false; actual.len() + 1]; expected.len() + 1];
    memo[expected.len()][actual.len()] = true;
    for i in (0..expected.len()).rev() {
        for j in (0..=actual.len()).rev() {
            memo[i][j] = if expected[i] == "…" {
                memo[i + 1][j] || (j < actual.len() && memo[i][j + 1])
            } else {
                j < actual.len() && line_matches(&expected[i], &actual[j]) && memo[i + 1][j + 1]
            };
        }
    }
    memo[0][0]
}

/// Whether one line matches a pattern in which `…` stands for any text.
pub fn line_matches(pattern: &str, line: &str) -> bool {
    let parts: Vec<&str> = pattern.split('…').collect();
    if parts.len() == 1 {
        return pattern == line;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !line.starts_with(first) || line.len() < first.len() + last.len() || !line.ends_with(last) {
        return false;
    }
    let mut rest = &line[first.len()..line.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<Command> {
        commands(Path::new("page.md"), text).expect("the page parses")
    }

    #[test]
    fn sh_blocks_give_one_command_per_line_and_join_continuations() {
        let page = "text\n\n```sh\n# a comment\nscripts/build-plugins\nhotloop inspect a.wasm \\\n  --output json\n```\n";
        let found = parse(page);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].text, "scripts/build-plugins");
        assert_eq!(found[0].line, 5);
        assert_eq!(found[1].text, "hotloop inspect a.wasm \\\n  --output json");
        assert_eq!(found[1].disposition, Disposition::Run);
    }

    #[test]
    fn a_marker_applies_to_the_commands_after_it_in_its_block() {
        let page = "```sh\nfirst\n# [not run by the tests: needs Docker]\ndocker build .\ndocker push x\n```\n```sh\nlater\n```\n";
        let found = parse(page);
        let dispositions: Vec<_> = found.iter().map(|c| c.disposition.clone()).collect();
        let docker = Disposition::NotRun("needs Docker".into());
        assert_eq!(dispositions, [Disposition::Run, docker.clone(), docker, Disposition::Run]);
    }

    #[test]
    fn console_blocks_pair_each_command_with_its_output() {
        let page = "```console\n# [run by scripts/test]\n$ echo a\na\n$ true\n```\n";
        let found = parse(page);
        assert_eq!(found[0].expected, Some(vec!["a".to_owned()]));
        assert_eq!(found[1].expected, Some(vec![]));
        assert_eq!(found[1].disposition, Disposition::RunBy("scripts/test".into()));
    }

    #[test]
    fn other_blocks_are_not_commands() {
        assert!(
            parse("```text\nhotloop inspect PLUGIN.wasm\n```\n```yaml\na: b\n```\n").is_empty()
        );
    }

    #[test]
    fn an_unknown_marker_is_an_error_naming_its_line() {
        let error = commands(Path::new("p.md"), "```sh\n# [run somewhere]\nx\n```\n").unwrap_err();
        assert!(error.0.contains("p.md:2"), "{error:?}");
    }

    #[test]
    fn an_ellipsis_matches_any_text_within_a_line() {
        assert!(line_matches("digest sha256:…", "digest sha256:abc"));
        assert!(line_matches("… bytes", "208884 bytes"));
        assert!(line_matches("a…c…e", "abcde"));
        assert!(!line_matches("a…c", "abd"));
        assert!(!line_matches("ab…ba", "aba"), "the two ends may not overlap");
    }

    #[test]
    fn a_line_of_only_an_ellipsis_matches_any_number_of_lines() {
        let expected: Vec<String> = ["first", "…", "last"].map(String::from).into();
        assert!(output_matches(&expected, "first\nlast\n"));
        assert!(output_matches(&expected, "first\n1\n2\nlast\n"));
        assert!(!output_matches(&expected, "first\n1\n"));
        assert!(!output_matches(&expected, "other\nlast\n"));
    }

    #[test]
    fn output_must_match_in_full_apart_from_trailing_blanks() {
        let expected: Vec<String> = vec!["ok".into()];
        assert!(output_matches(&expected, "ok  \n\n"));
        assert!(!output_matches(&expected, "ok\nmore\n"));
        assert!(output_matches(&[], ""));
        assert!(!output_matches(&[], "unexpected\n"));
    }
}
