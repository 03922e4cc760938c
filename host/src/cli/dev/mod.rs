//! `hotloop dev`: the whole loop on this machine, from a fresh clone, in one command.
//!
//! # Expected flow
//! 1. The `wasm32-wasip2` target is added when rustup lacks it.
//! 2. Every example plugin is built: a crate under the plugins root (`plugins/` of this
//!    repository by default) with `deploy/crd.yaml` and `deploy/sample*.yaml`.
//! 3. A local control plane starts on 127.0.0.1 (etcd, kube-apiserver and
//!    kube-controller-manager, built from source the first time; see `tests/README.md`),
//!    with the plugins' CRDs installed.
//! 4. The operator runs in this process, exactly as `hotloop run --plugins-dir` does, on a
//!    plugins directory of its own; its log goes to a file whose path is printed.
//! 5. The samples are applied, and every change of an object's state, `Ready` condition or
//!    plugin version is printed as it happens.
//! 6. Saving a plugin's source rebuilds it; the new component goes into the plugins directory
//!    and is swapped in. A build that fails is printed and the running version keeps serving.
//! 7. Ctrl-C (or SIGTERM) stops the operator, the builds and the control plane; no process is
//!    left behind, and the run directory is removed.

mod plugins;
mod rebuild;
mod samples;
mod show;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser as _;
use hotloop_testenv::{ClusterOptions, Component, ControlPlane};
use tokio::sync::mpsc;

use super::run;

#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// Directory of plugin crates [default: plugins/ of the repository hotloop was built from].
    #[arg(long)]
    plugins_root: Option<PathBuf>,
    /// Run only this example plugin (a directory name under the plugins root); repeatable.
    #[arg(long = "plugin", value_name = "NAME")]
    only: Vec<String>,
    /// Address of the operator's `/metrics`, `/healthz` and `/readyz`.
    #[arg(long, default_value = "127.0.0.1:9090")]
    metrics_addr: SocketAddr,
}

/// The plugins of the repository (see [`hotloop_testenv::repository`] for how it is found).
fn default_plugins_root() -> PathBuf {
    hotloop_testenv::repository().join("plugins")
}

fn step(what: &str) {
    eprintln!("==> {what}");
}

/// Prints one line of the live view on standard output. A reader that went away (`| head`)
/// does not stop `hotloop dev`: its lines are lost, the operator's log file keeps the events,
/// and Ctrl-C still stops everything.
pub(super) fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

pub(super) fn run(args: &Args, log_format: super::LogFormat) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // The control plane is started from this thread, which lives until the end: its processes
    // are tied to the thread that started them and die with it.
    runtime.block_on(develop(args, log_format))
}

/// A directory for one run, removed when dropped.
struct RunDir(PathBuf);

impl RunDir {
    fn create() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("hotloop-dev-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("plugins"))
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(RunDir(dir))
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn develop(args: &Args, log_format: super::LogFormat) -> anyhow::Result<()> {
    let stopping = run::stop_on_signal();
    let root = args.plugins_root.clone().unwrap_or_else(default_plugins_root);
    let found = plugins::find(&root, &args.only)?;
    let work = RunDir::create()?;
    let log = work.0.join("hotloop.log");
    super::support::init_logging_to_file("info", log_format, &log)?;

    step("WebAssembly target");
    ensure_wasm_target().await?;
    let mut built = Vec::new();
    for plugin in &found {
        step(&format!("building plugin {} (cargo build --profile plugin)", plugin.name));
        built.push(plugins::build(plugin).await?);
    }

    step("local control plane (built from source the first time: 10-20 minutes)");
    let mut options = ClusterOptions::new();
    for plugin in &found {
        let crd = std::fs::read_to_string(&plugin.crd)
            .with_context(|| format!("cannot read {}", plugin.crd.display()))?;
        options = options.crd_yaml(crd);
    }
    let plane =
        ControlPlane::start(&options).await.context("the local control plane did not start")?;
    eprintln!(
        "control plane ready in {:.1} s; to look around: export KUBECONFIG={}",
        plane.startup_time().as_secs_f64(),
        plane.kubeconfig().display()
    );
    for component in Component::ALL {
        eprintln!("    {component} log: {}", plane.log(component).display());
    }

    let plugins_dir = work.0.join("plugins");
    for (plugin, component) in found.iter().zip(&built) {
        plugins::install(component, &plugin.name, &plugins_dir).with_context(|| {
            format!("cannot install {} into {}", plugin.name, plugins_dir.display())
        })?;
    }
    let client = plane.client().context("a client of the local control plane")?;
    step(&format!("operator (hotloop run --plugins-dir); its log: {}", log.display()));
    let (notify, mut notices) = mpsc::unbounded_channel();
    let argv: Vec<std::ffi::OsString> = vec![
        "hotloop-run".into(),
        "--plugins-dir".into(),
        plugins_dir.clone().into(),
        "--without-config-maps".into(),
        "--metrics-addr".into(),
        args.metrics_addr.to_string().into(),
    ];
    let operator_args = run::RunOnly::try_parse_from(argv).context("the operator's settings")?;
    let operator = {
        let (client, stopping) = (client.clone(), stopping.clone());
        tokio::spawn(async move {
            run::operate(&operator_args.args, client, Some(notify), stopping).await
        })
    };
    let printing = tokio::spawn(async move {
        while let Some(notice) = notices.recv().await {
            if let Some(line) = show::plugin_event(&notice) {
                say(format_args!("{line}"));
            }
        }
    });

    let mut watching = Vec::new();
    for plugin in &found {
        let resource = samples::crd_resource(&plugin.crd)?;
        watching.push(tokio::spawn(show::objects(client.clone(), resource)));
    }
    for plugin in &found {
        for sample in &plugin.samples {
            for object in samples::read(sample)? {
                let applied = samples::apply(&client, &object).await?;
                say(format_args!("applied {applied} from {}", sample.display()));
            }
        }
    }
    let rebuilders = found
        .iter()
        .map(|plugin| rebuild::follow(plugin.clone(), plugins_dir.clone()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    say(format_args!(
        "running; edit a plugin's source under {} to rebuild and swap it; Ctrl-C stops everything",
        root.display()
    ));

    let outcome = operator.await;
    drop(rebuilders);
    printing.abort();
    for watch in watching {
        watch.abort();
    }
    step("stopping the control plane");
    drop(plane);
    match outcome {
        Ok(result) => result,
        Err(error) => Err(anyhow::anyhow!("the operator task failed: {error}")),
    }
}

/// Adds the `wasm32-wasip2` target through rustup when it is missing.
async fn ensure_wasm_target() -> anyhow::Result<()> {
    let installed = tokio::process::Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .await
        .context(
            "cannot run rustup; install Rust with rustup, or add the wasm32-wasip2 target yourself",
        )?;
    if String::from_utf8_lossy(&installed.stdout).lines().any(|t| t.trim() == "wasm32-wasip2") {
        return Ok(());
    }
    let status = tokio::process::Command::new("rustup")
        .args(["target", "add", "wasm32-wasip2"])
        .status()
        .await
        .context("cannot run rustup")?;
    anyhow::ensure!(status.success(), "rustup target add wasm32-wasip2 failed ({status})");
    Ok(())
}
