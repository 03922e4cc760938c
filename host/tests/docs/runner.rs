//! Running the pages: each page's commands in order in one bash session, with what the page
//! needs from outside (extra `PATH` entries, values the tests set), each command under a
//! timeout, and `console` output compared with what the page shows.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use hotloop_testenv::EXTERNAL_KUBECONFIG_VAR;

use crate::markdown::{self, Command, Disposition};
use crate::session::{Session, shell_quote};
use crate::{commands_of, repo};

/// What a page's run needs from outside: extra `PATH` entries and the values of the
/// variables the docs mark `# [set by the tests: ...]`.
#[derive(Default)]
pub(crate) struct Setting {
    pub(crate) path: Vec<PathBuf>,
    pub(crate) values: BTreeMap<String, String>,
}

/// The directory a build script prints as its last line.
pub(crate) fn built_dir(script: &str) -> PathBuf {
    let output = Process::new(repo().join(script))
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|error| panic!("{script} runs: {error}"));
    assert!(output.status.success(), "{script} failed");
    let stdout = String::from_utf8(output.stdout).expect("a directory name");
    PathBuf::from(stdout.lines().last().expect("the script prints its directory last").trim())
}

/// The cargo target directory this test binary was built in.
pub(crate) fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.ancestors().nth(3).expect("test binary inside a cargo target directory").to_path_buf()
}

/// The environment of a page's session: this process's, less the variables that would change
/// what the documented commands do, with `PATH` and `CARGO_TARGET_DIR` set.
pub(crate) fn environment(setting: &Setting) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = std::env::vars().collect();
    for variable in [
        "KUBECONFIG",
        EXTERNAL_KUBECONFIG_VAR,
        "HOTLOOP_NAMESPACE",
        "HOTLOOP_PLUGIN_SELECTOR",
        "POD_NAME",
        "RUST_LOG",
    ] {
        env.remove(variable);
    }
    // Nothing on an offline page may reach a cluster.
    env.insert("KUBECONFIG".into(), "/nonexistent/kubeconfig".into());
    let hotloop = Path::new(env!("CARGO_BIN_EXE_hotloop")).parent().expect("a bin directory");
    let mut path: Vec<String> = std::iter::once(hotloop.to_path_buf())
        .chain(setting.path.iter().cloned())
        .map(|p| p.display().to_string())
        .collect();
    path.push(env.get("PATH").cloned().unwrap_or_default());
    env.insert("PATH".into(), path.join(":"));
    env.insert("CARGO_TARGET_DIR".into(), target_dir().display().to_string());
    env
}

/// How long one command may take: builds may compile for minutes on a cold machine.
pub(crate) fn timeout_for(command: &str) -> Duration {
    if command.contains("cargo ") || command.contains("scripts/build") {
        Duration::from_secs(900)
    } else {
        Duration::from_secs(180)
    }
}

/// The assignment a `# [set by the tests]` command makes, with the test's value.
pub(crate) fn supplied(
    command: &Command,
    values: &BTreeMap<String, String>,
) -> Result<String, String> {
    let text = command.text.trim();
    let (export, rest) = match text.strip_prefix("export ") {
        Some(rest) => ("export ", rest),
        None => ("", text),
    };
    let name = rest.split('=').next().unwrap_or_default();
    if name.is_empty()
        || !rest.contains('=')
        || !name.chars().all(|c| c.is_alphanumeric() || c == '_')
    {
        return Err(format!("{}: `{text}` is not an assignment", command.place()));
    }
    let value = values
        .get(name)
        .ok_or_else(|| format!("{}: the tests supply no value for {name}", command.place()))?;
    Ok(format!("{export}{name}={}", shell_quote(value)))
}

/// Runs the commands of `page` in one session; returns what went wrong, if anything.
pub(crate) fn run_page(page: &Path, commands: &[Command], setting: &Setting) -> Result<(), String> {
    let mut session = Session::start(repo(), &environment(setting));
    let mut log = format!("docs: running {}\n", page.display());
    for command in commands {
        let text = match &command.disposition {
            Disposition::Run => command.text.clone(),
            Disposition::SetByTests(_) => supplied(command, &setting.values)?,
            Disposition::RunBy(_) | Disposition::NotRun(_) => continue,
        };
        let ran = session
            .run(&text, timeout_for(&text))
            .map_err(|error| format!("{}: `{}` {error}", command.place(), command.text))?;
        log.push_str(&format!("  {} ({:.1?}): {}\n", command.place(), ran.took, command.text));
        if ran.status != 0 {
            return Err(format!(
                "{log}{}: `{}` exited with {}; it wrote:\n{}{}",
                command.place(),
                command.text,
                ran.status,
                ran.output,
                session.shell_errors()
            ));
        }
        if let Some(expected) = &command.expected
            && !markdown::output_matches(expected, &ran.output)
        {
            return Err(format!(
                "{log}{}: `{}` wrote other output than the page shows.\nshown:\n{}\nwritten:\n{}",
                command.place(),
                command.text,
                expected.join("\n"),
                ran.output
            ));
        }
    }
    let _ = std::io::stderr().write_all(log.as_bytes());
    Ok(())
}

/// Pages run one at a time: two cargo builds or two operators at once on a small machine
/// only make each slower and their waits flakier.
pub(crate) fn one_page_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static PAGES: Mutex<()> = Mutex::new(());
    PAGES.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn run_page_or_panic(page: &str, setting: &Setting) {
    let _turn = one_page_at_a_time();
    let page = Path::new(page);
    let commands = commands_of(page);
    assert!(
        commands.iter().any(|c| c.disposition == Disposition::Run),
        "{} has no command to run",
        page.display()
    );
    if let Err(problem) = run_page(page, &commands, setting) {
        panic!("{problem}");
    }
}

/// The runner itself must fail on a broken command.
#[cfg(test)]
mod tests {
    use super::*;

    fn page_with(text: &str) -> Vec<Command> {
        markdown::commands(Path::new("broken.md"), text).expect("the page parses")
    }

    #[test]
    fn a_command_that_fails_fails_its_page() {
        let commands = page_with("```sh\ntrue\nfalse\necho never\n```\n");
        let error = run_page(Path::new("broken.md"), &commands, &Setting::default()).unwrap_err();
        assert!(error.contains("broken.md:3: `false` exited with 1"), "{error}");
    }

    #[test]
    fn a_pipe_whose_first_part_fails_fails_its_page() {
        let commands = page_with("```sh\nhotloop inspect /nonexistent.wasm | cat\n```\n");
        let error = run_page(Path::new("broken.md"), &commands, &Setting::default()).unwrap_err();
        assert!(error.contains("cannot read plugin /nonexistent.wasm"), "{error}");
    }

    #[test]
    fn output_other_than_shown_fails_its_page() {
        let commands = page_with("```console\n$ echo hello\nhallo\n```\n");
        let error = run_page(Path::new("broken.md"), &commands, &Setting::default()).unwrap_err();
        assert!(error.contains("other output than the page shows"), "{error}");
    }

    #[test]
    fn variables_the_working_directory_and_jobs_carry_over_between_commands() {
        let commands = page_with(
            "```sh\nname=docs\ncd host\nsleep 30 &\n```\n```console\n$ echo \"$name $(basename \"$PWD\")\"\ndocs host\n$ kill %1 && wait %1 || echo \"stopped: $?\"\nstopped: 143\n```\n",
        );
        run_page(Path::new("carry.md"), &commands, &Setting::default()).expect("the page runs");
    }

    #[test]
    fn a_value_the_tests_set_replaces_the_one_the_page_shows() {
        let commands = page_with(
            "```sh\n# [set by the tests: a value of their own]\nexport KUBECONFIG=$HOME/.kube/config\n```\n```console\n$ echo \"$KUBECONFIG\"\n/from/the/test\n```\n",
        );
        let setting = Setting {
            path: vec![],
            values: [("KUBECONFIG".to_owned(), "/from/the/test".to_owned())].into(),
        };
        run_page(Path::new("set.md"), &commands, &setting).expect("the page runs");
        let unknown = page_with("```sh\n# [set by the tests: none]\nother=1\n```\n");
        let error = run_page(Path::new("set.md"), &unknown, &setting).unwrap_err();
        assert!(error.contains("supply no value for other"), "{error}");
    }
}
