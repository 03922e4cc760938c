//! The documentation cannot rot: every command in `docs/*.md`, `README.md` and
//! `sdk/rust/README.md` is run here, or carries a marker saying who runs it instead (checked
//! here) or why it is not run (listed here); and the reference tables of the docs are compared
//! with the code they describe.
//!
//! # How commands are found and run
//! Fenced blocks tagged `sh` or `console` hold commands (see `docs/markdown.rs`). The commands
//! of one page run in order in one bash session from the repository root (see
//! `docs/session.rs`), with on `PATH`: the `hotloop` binary built with these tests, and for
//! the operator guide kubectl (built by `scripts/build-control-plane` from the same
//! Kubernetes release as the control plane) and helm (`scripts/build-helm`).
//! `CARGO_TARGET_DIR` is this test binary's target directory, so `scripts/build-plugins`
//! builds what the tests use. Each command must exit 0; a `console` block's output must match.
//!
//! Markers (a comment line in the block, applying to the commands after it):
//! - `# [run by PATH]`: PATH (a script, or `.ci/run`) must hold the command, directly or in a
//!   script it runs with `exec`.
//! - `# [not run by the tests: REASON]`: not run; listed on standard error with the reason.
//! - `# [set by the tests: REASON]`: an assignment `NAME=...` whose value the test supplies:
//!   `KUBECONFIG` (the local control plane's), `metrics` and `standby` (free loopback
//!   addresses).
//!
//! The operator guide runs against a local control plane of its own (`SharedCluster`); with
//! `HOTLOOP_E2E_KUBECONFIG` set it is skipped with a message, because its commands create
//! cluster-wide objects and fixed namespaces that do not belong in a shared cluster.
//!
//! `README.md` is checked like every other page: the commands without a marker are run (its
//! `scripts/build-plugins`, quick once the plugins are built), so none is left unmarked and
//! unrun.

mod common;
#[path = "docs/links.rs"]
mod links;
#[path = "docs/markdown.rs"]
mod markdown;
#[path = "docs/reference.rs"]
mod reference;
#[path = "docs/session.rs"]
mod session;
#[path = "docs/wit_reference.rs"]
mod wit_reference;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use hotloop_testenv::{ClusterOptions, EXTERNAL_KUBECONFIG_VAR, SharedCluster};
use markdown::{Command, Disposition};
use session::{Session, shell_quote};

static CLUSTER: SharedCluster = SharedCluster::new(ClusterOptions::new);

/// The pages whose commands are checked, relative to the repository root.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![PathBuf::from("README.md"), PathBuf::from("sdk/rust/README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .expect("docs/ exists")
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .map(|path| path.strip_prefix(repo()).expect("under the repository").to_path_buf())
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("host/ sits in the repository")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(repo().join(path))
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

/// The commands of `page`.
fn commands_of(page: &Path) -> Vec<Command> {
    let text = read(page);
    markdown::commands(page, &text).unwrap_or_else(|error| panic!("{}", error.0))
}

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
fn coverage_problems() -> Vec<String> {
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

#[test]
fn every_command_in_the_docs_is_run_here_or_marked_with_who_runs_it() {
    let problems = coverage_problems();
    assert!(problems.is_empty(), "commands with a false marker:\n{}", problems.join("\n"));
}

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

// ---------------------------------------------------------------------------------------
// Running the pages.

/// What a page's run needs from outside: extra `PATH` entries and the values of the
/// variables the docs mark `# [set by the tests: ...]`.
#[derive(Default)]
struct Setting {
    path: Vec<PathBuf>,
    values: BTreeMap<String, String>,
}

/// The directory a build script prints as its last line.
fn built_dir(script: &str) -> PathBuf {
    let output = Process::new(repo().join(script))
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|error| panic!("{script} runs: {error}"));
    assert!(output.status.success(), "{script} failed");
    let stdout = String::from_utf8(output.stdout).expect("a directory name");
    PathBuf::from(stdout.lines().last().expect("the script prints its directory last").trim())
}

/// The cargo target directory this test binary was built in.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.ancestors().nth(3).expect("test binary inside a cargo target directory").to_path_buf()
}

/// The environment of a page's session: this process's, less the variables that would change
/// what the documented commands do, with `PATH` and `CARGO_TARGET_DIR` set.
fn environment(setting: &Setting) -> BTreeMap<String, String> {
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
fn timeout_for(command: &str) -> Duration {
    if command.contains("cargo ") || command.contains("scripts/build") {
        Duration::from_secs(900)
    } else {
        Duration::from_secs(180)
    }
}

/// The assignment a `# [set by the tests]` command makes, with the test's value.
fn supplied(command: &Command, values: &BTreeMap<String, String>) -> Result<String, String> {
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
fn run_page(page: &Path, commands: &[Command], setting: &Setting) -> Result<(), String> {
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
fn one_page_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static PAGES: Mutex<()> = Mutex::new(());
    PAGES.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn run_page_or_panic(page: &str, setting: &Setting) {
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

#[test]
fn the_plugin_guide_runs_as_written() {
    run_page_or_panic("docs/plugin-guide.md", &Setting::default());
}

/// The guide draws the example's state machine as `hotloop inspect --graph` prints it.
#[test]
fn the_state_diagram_in_the_plugin_guide_is_what_inspect_draws() {
    let guide = read(Path::new("docs/plugin-guide.md"));
    let diagram = guide
        .split("```mermaid\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the plugin guide has a Mermaid block");
    let plugin = common::plugin("static-site");
    let output = Process::new(env!("CARGO_BIN_EXE_hotloop"))
        .args(["inspect", plugin.to_str().expect("a UTF-8 path"), "--graph"])
        .output()
        .expect("hotloop runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let drawn = String::from_utf8(output.stdout).expect("UTF-8");
    assert_eq!(diagram, drawn, "run `hotloop inspect --graph` on the example and paste its output");
}

#[test]
fn the_readme_commands_that_are_run_run() {
    run_page_or_panic("README.md", &Setting::default());
}

fn free_loopback_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_operator_guide_runs_as_written_against_a_local_control_plane() {
    if std::env::var_os(EXTERNAL_KUBECONFIG_VAR).is_some() {
        let note = format!(
            "docs: the operator guide is not run: {EXTERNAL_KUBECONFIG_VAR} names a shared \
             cluster, and its commands create cluster-wide objects and fixed namespaces\n"
        );
        let _ = std::io::stderr().write_all(note.as_bytes());
        return;
    }
    let cluster = CLUSTER.get().await.expect("the local control plane");
    let kubeconfig = cluster.kubeconfig().display().to_string();
    tokio::task::spawn_blocking(move || {
        let kubectl = built_dir("scripts/build-control-plane");
        assert!(
            kubectl.join("kubectl").is_file(),
            "{} has no kubectl: scripts/build-control-plane builds it",
            kubectl.display()
        );
        let setting = Setting {
            path: vec![kubectl, built_dir("scripts/build-helm")],
            values: [
                ("KUBECONFIG".to_owned(), kubeconfig),
                ("metrics".to_owned(), free_loopback_address()),
                ("standby".to_owned(), free_loopback_address()),
            ]
            .into(),
        };
        run_page_or_panic("docs/operator-guide.md", &setting);
    })
    .await
    .unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()));
}

#[test]
fn the_pages_without_commands_to_run_have_none() {
    for page in ["docs/architecture.md", "docs/wit-reference.md", "sdk/rust/README.md"] {
        let commands = commands_of(Path::new(page));
        let run: Vec<_> = commands.iter().filter(|c| c.disposition == Disposition::Run).collect();
        assert!(run.is_empty(), "{page} gained commands; give it a test that runs them: {run:?}");
    }
}

// ---------------------------------------------------------------------------------------
// The runner itself must fail on a broken command.

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

// ---------------------------------------------------------------------------------------
// The reference tables against the code.

#[test]
fn the_wit_reference_describes_every_item_of_the_wit_and_nothing_else() {
    let problems = wit_reference::wit_problems(
        &read(Path::new("wit/plugin.wit")),
        &read(Path::new("docs/wit-reference.md")),
    );
    assert!(
        problems.is_empty(),
        "docs/wit-reference.md and wit/plugin.wit differ:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_wit_check_notices_an_item_the_reference_lacks_or_keeps() {
    let wit = read(Path::new("wit/plugin.wit"));
    let docs = read(Path::new("docs/wit-reference.md"));
    let gained = wit
        .replace("    record kind-ref {\n", "    record kind-ref {\n        shortname: string,\n");
    let problems = wit_reference::wit_problems(&gained, &docs);
    assert!(problems.iter().any(|p| p.contains("shortname")), "{problems:?}");
    let lost = wit.replace("        budget-exhausted,\n", "");
    let problems = wit_reference::wit_problems(&lost, &docs);
    assert!(problems.iter().any(|p| p.contains("budget-exhausted")), "{problems:?}");
}

#[test]
fn the_operator_guide_lists_every_flag_of_hotloop_run_with_its_default() {
    let output = Process::new(env!("CARGO_BIN_EXE_hotloop")).args(["run", "--help"]).output();
    let output = output.expect("hotloop runs");
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).expect("help is UTF-8");
    let problems = reference::flag_problems(&help, &read(Path::new("docs/operator-guide.md")));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_operator_guide_lists_every_metric_the_host_exports() {
    let problems = reference::metric_problems(&read(Path::new("docs/operator-guide.md")));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_operator_guide_explains_every_event_and_condition_reason_the_host_writes() {
    let problems = reference::reason_problems(repo(), &read(Path::new("docs/operator-guide.md")));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_docs_name_every_annotation_and_label_the_host_reads_or_writes() {
    let docs: String = pages().iter().map(|page| read(page)).collect();
    let problems = reference::annotation_problems(repo(), &docs);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_architecture_page_links_every_module_of_the_host() {
    let problems = reference::module_problems(repo(), &read(Path::new("docs/architecture.md")));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_relative_link_in_the_docs_leads_somewhere() {
    let mut problems = Vec::new();
    for page in pages() {
        problems.extend(links::problems(repo(), &page, &read(&page)));
    }
    assert!(problems.is_empty(), "broken links:\n{}", problems.join("\n"));
}

#[test]
fn the_readme_links_the_four_pages() {
    let readme = read(Path::new("README.md"));
    let section =
        readme.split("\n## Documentation\n").nth(1).expect("README.md has a Documentation section");
    let section = section.split("\n## ").next().unwrap_or_default();
    for page in [
        "docs/plugin-guide.md",
        "docs/operator-guide.md",
        "docs/architecture.md",
        "docs/wit-reference.md",
    ] {
        assert!(
            section.contains(&format!("]({page})")),
            "the Documentation section does not link {page}"
        );
    }
}
