//! The documentation cannot rot: every command in `docs/*.md`, `README.md` and
//! `sdk/rust/README.md` is run here, or carries a marker saying who runs it instead (checked
//! here) or why it is not run (listed here); and the reference tables of the docs are compared
//! with the code they describe.
//!
//! # How commands are found and run
//! Fenced blocks tagged `sh` or `console` hold commands (see `docs/markdown.rs`). The commands
//! of one page run in order in one bash session from the repository root (see
//! `docs/runner.rs` and `docs/session.rs`), with on `PATH`: the `hotloop` binary built with
//! these tests, and for the operator guide kubectl (built by `scripts/build-control-plane`
//! from the same Kubernetes release as the control plane) and helm (`scripts/build-helm`).
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
#[path = "docs/coverage.rs"]
mod coverage;
#[path = "docs/links.rs"]
mod links;
#[path = "docs/markdown.rs"]
mod markdown;
#[path = "docs/reference.rs"]
mod reference;
#[path = "docs/runner.rs"]
mod runner;
#[path = "docs/session.rs"]
mod session;
#[path = "docs/wit_reference.rs"]
mod wit_reference;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command as Process;

use hotloop_testenv::{ClusterOptions, EXTERNAL_KUBECONFIG_VAR, SharedCluster};
use markdown::{Command, Disposition};
use runner::{Setting, built_dir, run_page_or_panic};

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

#[test]
fn every_command_in_the_docs_is_run_here_or_marked_with_who_runs_it() {
    let problems = coverage::coverage_problems();
    assert!(problems.is_empty(), "commands with a false marker:\n{}", problems.join("\n"));
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
