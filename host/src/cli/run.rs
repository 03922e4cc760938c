//! `hotloop run`: the operator.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Resource;
use kube::runtime::events::Reporter;

use crate::controller::Settings;
use crate::observe::{Metrics, Readiness, serve};
use crate::plugins::{ConfigMapChange, Registry, read_dir, watch_config_maps};
use crate::runtime::{Runtime, RuntimeConfig};

#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// Also load every `.wasm` file in this directory.
    #[arg(long)]
    plugins_dir: Option<PathBuf>,
    /// Namespace of the plugin ConfigMaps (labelled `hotloop.dev/plugin: "true"`).
    #[arg(long, env = "HOTLOOP_NAMESPACE", default_value = "hotloop-system")]
    namespace: String,
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
    /// Name of this instance in Events (defaults to the host name).
    #[arg(long, env = "POD_NAME")]
    instance: Option<String>,
}

pub(super) fn run(args: &Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(operate(args))
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

async fn operate(args: &Args) -> anyhow::Result<()> {
    let client = kube::Client::try_default()
        .await
        .context("cannot reach a Kubernetes API server; set KUBECONFIG or run in a cluster")?;
    let engine = Runtime::new(RuntimeConfig {
        cache_dir: args.cache_dir.clone(),
        ..RuntimeConfig::default()
    })?;
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
    let registry = Registry::new(engine, client.clone(), settings, reporter, metrics, None);
    if let Some(dir) = &args.plugins_dir {
        let found = read_dir(dir)
            .with_context(|| format!("cannot read plugins directory {}", dir.display()))?;
        tracing::info!(dir = %dir.display(), plugins = found.len(), "loading plugins from the directory");
        for candidate in found {
            registry.offer(candidate, None).await;
        }
    }
    let watching = (!args.without_config_maps).then(|| {
        let registry = registry.clone();
        let changes = watch_config_maps(client.clone(), &args.namespace);
        tokio::spawn(follow_config_maps(registry, changes))
    });
    readiness.set_ready(true);
    tracing::info!(namespace = %args.namespace, "hotloop is running");
    shutdown_signal().await;
    readiness.set_ready(false);
    tracing::info!(
        grace_s = args.shutdown_grace_s,
        "shutting down; letting reconciles in flight finish"
    );
    if let Some(watching) = watching {
        watching.abort();
    }
    registry.stop_all(Duration::from_secs(args.shutdown_grace_s)).await;
    let _ = stop_serving.send(());
    match server.await {
        Ok(Err(error)) => tracing::warn!(%error, "the metrics server failed"),
        Ok(Ok(())) | Err(_) => {}
    }
    Ok(())
}

async fn follow_config_maps(
    registry: Arc<Registry>,
    mut changes: tokio::sync::mpsc::Receiver<ConfigMapChange>,
) {
    while let Some(change) = changes.recv().await {
        match change {
            ConfigMapChange::Applied { config_map, plugins } => {
                let reference = ConfigMap::object_ref(&config_map, &());
                for candidate in plugins {
                    registry.offer(candidate, Some(reference.clone())).await;
                }
            }
            ConfigMapChange::Deleted { namespace, name } => {
                // Removal semantics (draining finalizers with the last version) are not
                // built yet: the controller keeps running the last version it had.
                tracing::warn!(%namespace, %name, "plugin ConfigMap deleted; its controller keeps running");
            }
        }
    }
}
