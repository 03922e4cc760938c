//! Which commands of the docs the tests run: every command is run by the page runner, or
//! marked as run by a script that holds it, or marked as not run with a reason.

use std::io::Write as _;

use crate::markdown::Disposition;
use crate::{commands_of, pages, repo};

/// Collapses whitespace and line continuations, for comparing a command with a script.
fn normalized(text: &str) -> String {
    text.replace("\\\n", " ").split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether the script at `path` runs `command`: it holds the command on a line of its own
/// (or as the last part of a line), or a script it `exec`s does.
fn script_runs(path: &str, command: &str) -> Result<bool, String> {
    let file = repo().join(path);
    let text = std::fs::read_to_string(&file)
        .map_err(|error| format!("{path} cannot be read: {error}"))?;
    let wanted = normalized(command);
    let holds = text.replace("\\\n", " ").lines().any(|line| {
        let line = normalized(line);
        !line.starts_with('#') && (line == wanted || line.ends_with(&format!(" {wanted}")))
    });
    if holds {
        return Ok(true);
    }
    for line in text.lines() {
        if let Some(target) = line.trim().strip_prefix("exec ") {
            let target = target.split_whitespace().next().unwrap_or_default();
            if repo().join(target).is_file() && target != path && script_runs(target, command)? {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Checks every marker of every page; returns the problems found, and prints the commands
/// that are not run with their reasons.
pub fn coverage_problems() -> Vec<String> {
    let mut problems = Vec::new();
    let mut not_run = Vec::new();
    for page in pages() {
        let commands = commands_of(&page);
        for command in &commands {
            match &command.disposition {
                Disposition::Run | Disposition::SetByTests(_) => {}
                Disposition::RunBy(path) => match script_runs(path, &command.text) {
                    Ok(true) => {}
                    Ok(false) => problems.push(format!(
                        "{}: marked as run by {path}, which does not run `{}`",
                        command.place(),
                        command.text
                    )),
                    Err(error) => problems.push(format!("{}: {error}", command.place())),
                },
                Disposition::NotRun(reason) => {
                    if reason.is_empty() {
                        problems
                            .push(format!("{}: a command not run needs a reason", command.place()));
                    }
                    not_run.push(format!("  {}: `{}` ({reason})", command.place(), command.text));
                }
            }
        }
    }
    let mut report = format!("docs: {} commands are not run by the tests:\n", not_run.len());
    for line in &not_run {
        report.push_str(line);
        report.push('\n');
    }
    // Straight to the file descriptor, past the test harness's capture: the list belongs in
    // every test log.
    let _ = std::io::stderr().write_all(report.as_bytes());
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_runs_a_command_it_holds_or_execs() {
        assert_eq!(script_runs(".ci/run", "scripts/test"), Ok(true));
        assert_eq!(
            script_runs(".ci/run", "cargo fmt --all -- --check"),
            Ok(true),
            "found through `exec scripts/test`"
        );
        assert_eq!(script_runs("scripts/test", "cargo build --release"), Ok(false));
        assert!(script_runs("scripts/no-such-script", "true").is_err());
    }
}
