//! `hotloop run`: the operator.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use kube::runtime::events::Reporter;
use tokio::sync::{mpsc, watch};

use super::leader::{Election, ElectionArgs};
use crate::controller::Settings;
use crate::observe::{Metrics, Readiness, serve};
use crate::plugins::{
    DEFAULT_PLUGIN_SELECTOR, Registry, RegistryEvent, follow_config_maps, follow_dir,
};
use crate::runtime::{Limits, Runtime, RuntimeConfig};

/// How long the plugins directory must be quiet before it is read again after a change.
const DIR_DEBOUNCE: Duration = Duration::from_millis(150);

/// `hotloop run`'s settings on their own, with their defaults: how `hotloop dev` runs it.
#[derive(Debug, clap::Parser)]
pub(super) struct RunOnly {
    #[command(flatten)]
    pub(super) args: Args,
}

#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// Also load every `.wasm` file in this directory, and follow its changes.
    #[arg(long)]
    plugins_dir: Option<PathBuf>,
    /// Namespace of the plugin ConfigMaps.
    #[arg(long, env = "HOTLOOP_NAMESPACE", default_value = "hotloop-system")]
    namespace: String,
    /// Label selector of the plugin ConfigMaps in that namespace.
    #[arg(long, env = "HOTLOOP_PLUGIN_SELECTOR", default_value = DEFAULT_PLUGIN_SELECTOR)]
    plugin_selector: String,
    /// Do not read plugins from ConfigMaps.
    #[arg(long)]
    without_config_maps: bool,
    /// Objects each plugin reconciles at the same time.
    #[arg(long, default_value_t = 4)]
    concurrency: u16,
    /// First delay after a failure, in milliseconds; doubles with each failure in a row.
    #[arg(long, default_value_t = 200)]
    backoff_base_ms: u64,
    /// Longest delay after failures, in milliseconds.
    #[arg(long, default_value_t = 300_000)]
    backoff_cap_ms: u64,
    /// How long reconciles in flight may take to finish on shutdown, in seconds.
    #[arg(long, default_value_t = 30)]
    shutdown_grace_s: u64,
    /// Keep compiled plugins here across restarts.
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Address of the HTTP server for `/metrics`, `/healthz` and `/readyz`.
    #[arg(long, default_value = "127.0.0.1:9090")]
    metrics_addr: std::net::SocketAddr,
    /// Name of this instance in Events and in the Lease [default: the HOSTNAME variable, which
    /// Kubernetes sets to the Pod's name].
    #[arg(long, env = "POD_NAME")]
    instance: Option<String>,
    #[command(flatten)]
    limits: DefaultLimits,
    #[command(flatten)]
    election: ElectionArgs,
}

/// The sandbox limits of plugins whose ConfigMap sets none (see `hotloop.dev/*` annotations).
#[derive(Debug, clap::Args)]
struct DefaultLimits {
    /// Fuel per call (about 10^7 units per millisecond of CPU).
    #[arg(long, default_value_t = Limits::default().fuel)]
    default_fuel: u64,
    /// Wall time per call, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    default_deadline_ms: u64,
    /// Linear memory per call, in MiB.
    #[arg(long, default_value_t = 64)]
    default_memory_mib: usize,
    /// Host calls per call.
    #[arg(long, default_value_t = Limits::default().host_calls)]
    default_host_calls: u32,
    /// Size of a call's result, in KiB.
    #[arg(long, default_value_t = 256)]
    default_output_kib: usize,
}

impl DefaultLimits {
    fn limits(&self) -> Limits {
        Limits {
            fuel: self.default_fuel,
            deadline: Duration::from_millis(self.default_deadline_ms),
            memory_bytes: self.default_memory_mib.saturating_mul(1 << 20),
            host_calls: self.default_host_calls,
            output_bytes: self.default_output_kib.saturating_mul(1 << 10),
        }
    }
}

pub(super) fn run(args: &Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let client = kube::Client::try_default()
            .await
            .context("cannot reach a Kubernetes API server; set KUBECONFIG or run in a cluster")?;
        operate(args, client, None, stop_on_signal()).await
    })
}

/// Becomes `true` on SIGTERM or Ctrl-C.
pub(super) fn stop_on_signal() -> watch::Receiver<bool> {
    let (stop, stopping) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    stopping
}

/// Resolves once `stopping` is `true` (or its sender is gone).
async fn stopped(mut stopping: watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = terminate => {},
    }
}

/// The operator, until `stopping` becomes `true`: what `hotloop run` and `hotloop dev` run.
/// `notify` receives what happens to plugin versions.
pub(super) async fn operate(
    args: &Args,
    client: kube::Client,
    notify: Option<mpsc::UnboundedSender<RegistryEvent>>,
    stopping: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut config = RuntimeConfig {
        cache_dir: args.cache_dir.clone(),
        default_limits: args.limits.limits(),
        ..RuntimeConfig::default()
    };
    // Compiling in a child keeps the compiler's memory out of this long-lived process.
    match std::env::current_exe() {
        Ok(program) => config.compiler = config.child_compiler(program),
        Err(error) => {
            tracing::warn!(%error, "cannot find this program; compiling plugins in this process")
        }
    }
    let engine = Runtime::new(config)?;
    let settings = Settings {
        concurrency: args.concurrency,
        backoff_base: Duration::from_millis(args.backoff_base_ms),
        backoff_cap: Duration::from_millis(args.backoff_cap_ms),
        ..Settings::default()
    };
    let instance = args.instance.clone().or_else(|| std::env::var("HOSTNAME").ok());
    let reporter = Reporter { controller: "hotloop".into(), instance };
    let metrics = Arc::new(Metrics::new());
    let readiness = Readiness::new();
    let listener = tokio::net::TcpListener::bind(args.metrics_addr)
        .await
        .with_context(|| format!("cannot listen on {} for metrics", args.metrics_addr))?;
    let (stop_serving, serving_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, metrics.clone(), readiness.clone(), async {
        let _ = serving_stopped.await;
    }));
    tracing::info!(addr = %args.metrics_addr, "serving /metrics, /healthz and /readyz");
    let leading = Election::start(
        &args.election,
        &args.namespace,
        &reporter,
        &metrics,
        &readiness,
        stopped(stopping.clone()),
    );
    let Some(mut election) = leading.await? else {
        let _ = stop_serving.send(());
        return Ok(());
    };
    let registry = Registry::new(engine, client.clone(), settings, reporter, metrics, notify);
    // Before the sources: a removed plugin that is still there takes its draining one back.
    let resumed = registry
        .resume_draining(&args.namespace)
        .await
        .context("cannot read the drain records of removed plugins")?;
    if resumed > 0 {
        tracing::info!(plugins = resumed, "draining plugins removed before this start");
    }
    let _following_dir = match &args.plugins_dir {
        Some(dir) => Some(follow_dir(registry.clone(), dir, DIR_DEBOUNCE).await?),
        None => None,
    };
    let watching = (!args.without_config_maps).then(|| {
        follow_config_maps(registry.clone(), client.clone(), &args.namespace, &args.plugin_selector)
    });
    readiness.set_ready(true);
    tracing::info!(namespace = %args.namespace, "hotloop is running");
    election.until(stopped(stopping)).await?;
    readiness.set_ready(false);
    tracing::info!(
        grace_s = args.shutdown_grace_s,
        "shutting down; letting reconciles in flight finish"
    );
    if let Some(watching) = watching {
        watching.abort();
    }
    registry.stop_all(Duration::from_secs(args.shutdown_grace_s)).await;
    election.step_down().await;
    let _ = stop_serving.send(());
    if let Ok(Err(error)) = server.await {
        tracing::warn!(%error, "the metrics server failed");
    }
    Ok(())
}
