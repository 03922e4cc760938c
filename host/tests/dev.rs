//! `hotloop dev` end to end: it builds a plugin crate, starts its own local control plane,
//! runs the operator, applies the sample and shows it reach Ready; an edit of the plugin's
//! source is rebuilt and swapped in while it runs, also once its standard output's reader has
//! gone away; Ctrl-C leaves no process behind.
//!
//! The plugin is a crate of the test's own, in a temporary directory, so that editing it
//! touches nothing in the repository.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long one step may take: a first build of the plugin's dependencies for wasm, or the
/// control plane's start, on a busy 2-core machine.
const STEP: Duration = Duration::from_secs(600);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().expect("the repository")
}

const PLUGIN: &str = r#"
use hotloop_sdk::prelude::*;

#[derive(Debug, Default, Deserialize)]
pub struct Spec {
    #[serde(default)]
    pub value: i64,
}

#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Status {
    #[serde(default)]
    pub echo: i64,
}

pub struct DevProbe;

impl Plugin for DevProbe {
    type Spec = Spec;
    type Status = Status;

    fn define() -> Definition<Self> {
        Definition::new("dev-probe", "1.0.0")
            .reconciles(Kind::namespaced("test.hotloop.dev", "v1", "Probe", "probes"))
            .state("Pending", StateKind::InProgress, |_, _| Ok(Reconcile::transition("Ready")))
            .state("Ready", StateKind::SettledReady, |probe: &Object<Spec, Status>, _| {
                Ok(Reconcile::settled().status(Status { echo: probe.spec.value }))
            })
            .transition("Pending", "Ready")
    }
}

hotloop_sdk::export!(DevProbe);
"#;

/// A plugin crate of its own workspace, with the `plugin` profile `hotloop dev` builds with,
/// the CRD of its kind and a sample.
fn plugin_crate(root: &Path) -> PathBuf {
    let dir = root.join("dev-probe");
    std::fs::create_dir_all(dir.join("src")).expect("src");
    std::fs::create_dir_all(dir.join("deploy")).expect("deploy");
    let sdk = repo().join("sdk/rust");
    let manifest = format!(
        "[package]\nname = \"dev-probe\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
         [lib]\ncrate-type = [\"cdylib\"]\n\n\
         [dependencies]\nhotloop-sdk = {{ path = {sdk:?} }}\nserde = {{ version = \"1\", features = [\"derive\"] }}\n\n\
         [workspace]\n\n\
         [profile.plugin]\ninherits = \"release\"\nopt-level = \"s\"\nstrip = true\npanic = \"abort\"\n"
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).expect("Cargo.toml");
    // The workspace's lock file: the same versions, already downloaded.
    std::fs::copy(repo().join("Cargo.lock"), dir.join("Cargo.lock")).expect("Cargo.lock");
    std::fs::write(dir.join("src/lib.rs"), PLUGIN).expect("lib.rs");
    std::fs::copy(repo().join("plugins/swap-probe/deploy/crd.yaml"), dir.join("deploy/crd.yaml"))
        .expect("crd.yaml");
    std::fs::write(
        dir.join("deploy/sample.yaml"),
        "apiVersion: test.hotloop.dev/v1\nkind: Probe\nmetadata:\n  name: sample\n  namespace: default\nspec:\n  value: 21\n",
    )
    .expect("sample.yaml");
    dir
}

/// `hotloop dev`, killed with its process group if the test fails before it stops it.
struct Dev {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    /// Once set, the reader of standard output closes it after the next line, as `| head`
    /// does.
    stop_reading_stdout: Arc<AtomicBool>,
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Dev {
    fn start(root: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hotloop"))
            .args(["dev", "--metrics-addr", "127.0.0.1:0", "--plugins-root"])
            .arg(root)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("hotloop dev starts");
        let (send, lines) = mpsc::channel();
        let stop_reading_stdout = Arc::new(AtomicBool::new(false));
        let stdout_stops = Some(stop_reading_stdout.clone());
        for (output, stops) in [
            (
                Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
                stdout_stops,
            ),
            (Box::new(child.stderr.take().expect("stderr")), None),
        ] {
            let send = send.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(output).lines().map_while(Result::ok) {
                    if send.send(line).is_err() {
                        return;
                    }
                    if stops.as_ref().is_some_and(|stop| stop.load(Ordering::SeqCst)) {
                        return;
                    }
                }
            });
        }
        Dev { child, lines, seen: Vec::new(), stop_reading_stdout }
    }

    /// Waits for a line that `matches`, and returns it.
    fn line(&mut self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + STEP;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if matches(&line) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "hotloop dev never printed {what}; it printed:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }
}

/// Processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(needle) {
                found.push(cmdline);
            }
        }
    }
    found
}

#[test]
fn dev_runs_a_plugin_to_ready_swaps_in_an_edit_and_leaves_nothing_behind_on_ctrl_c() {
    let root = tempfile::tempdir().expect("a plugins root");
    let plugin = plugin_crate(root.path());
    let mut dev = Dev::start(root.path());

    let kubeconfig =
        dev.line("where the control plane's kubeconfig is", |l| l.contains("export KUBECONFIG="));
    let run_dir = kubeconfig
        .rsplit("export KUBECONFIG=")
        .next()
        .and_then(|path| Path::new(path.trim()).parent().map(Path::to_path_buf))
        .expect("the control plane's run directory");
    dev.line("the sample applied", |l| l.starts_with("applied Probe sample"));
    dev.line("the sample Ready by version 1.0.0", |l| {
        l.starts_with("Probe default/sample")
            && l.contains("-> Ready")
            && l.contains("by dev-probe 1.0.0")
    });

    // An edit of the source: a new version. It is rebuilt and swapped in.
    let source = plugin.join("src/lib.rs");
    let edited = PLUGIN.replace("\"1.0.0\"", "\"1.1.0\"");
    std::fs::write(&source, edited).expect("edit the plugin");
    dev.line("the rebuild", |l| l.starts_with("rebuilt dev-probe"));
    dev.line("the swap", |l| l.starts_with("plugin dev-probe swapped"));
    dev.line("the sample reconciled by version 1.1.0", |l| {
        l.starts_with("Probe default/sample") && l.contains("by dev-probe 1.1.0")
    });

    // A broken edit is reported and the running version keeps serving.
    std::fs::write(&source, "this is not Rust").expect("break the plugin");
    dev.line("the failed build", |l| l.contains("cargo could not build dev-probe"));
    dev.line("that 1.1.0 keeps serving", |l| {
        l.contains("running version of dev-probe keeps serving")
    });

    // Its standard output's reader goes away: it goes on, and its log file shows the next
    // edit swapped in.
    let log = dev.seen.iter().find_map(|l| l.rsplit_once("its log: ")).map(|(_, path)| path);
    let log = PathBuf::from(log.expect("hotloop dev printed where its log is").trim());
    let swaps =
        || std::fs::read_to_string(&log).unwrap_or_default().matches("plugin swapped").count();
    assert_eq!(swaps(), 1, "one swap so far, to 1.1.0");
    dev.stop_reading_stdout.store(true, Ordering::SeqCst);
    std::fs::write(&source, PLUGIN.replace("\"1.0.0\"", "\"1.2.0\"")).expect("mend the plugin");
    let deadline = Instant::now() + STEP;
    while swaps() < 2 {
        assert!(dev.child.try_wait().expect("wait for hotloop dev").is_none(), "hotloop dev ended");
        assert!(
            Instant::now() < deadline,
            "1.2.0 was never swapped in; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Ctrl-C stops everything.
    let pid = dev.child.id().to_string();
    let status = Command::new("kill").args(["-INT", &pid]).status().expect("kill runs");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(120);
    let exit = loop {
        if let Some(exit) = dev.child.try_wait().expect("wait for hotloop dev") {
            break exit;
        }
        assert!(Instant::now() < deadline, "hotloop dev did not stop on Ctrl-C");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(exit.success(), "hotloop dev exited with {exit}");
    let left = processes_mentioning(&run_dir.display().to_string());
    assert!(left.is_empty(), "processes left behind: {left:?}");
}
