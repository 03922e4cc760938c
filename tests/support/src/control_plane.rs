//! A local control plane: etcd, kube-apiserver and kube-controller-manager on loopback.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::PostParams;
use kube::{Api, Client};

use crate::args::{self, Ports};
use crate::binaries::Binaries;
use crate::process::Process;
use crate::run_dir::RunDir;
use crate::{ClusterOptions, Component, Error, crds, kubeconfig, pki, ports, wait};

/// A running local control plane.
///
/// # Guarantees
/// - Every component runs in its own process group, and [`ControlPlane::stop`] (called on drop,
///   also while a test panics) ends each group: `SIGTERM`, then `SIGKILL` after 5 seconds.
/// - If this process dies without stopping it, even by `SIGKILL`, the kernel kills the
///   components (parent-death signal).
/// - Its working directory, under the system's temporary directory, is removed when it stops,
///   except the logs after [`ControlPlane::keep_logs`].
///
/// # Caveats
/// Nothing runs pods: there is no scheduler and no kubelet. Only the garbage collector and the
/// namespace controller of the controller manager run.
#[derive(Debug)]
pub struct ControlPlane {
    processes: Mutex<Vec<Process>>,
    process_ids: Vec<(Component, u32)>,
    run_dir: RunDir,
    kubeconfig: PathBuf,
    config: kube::Config,
    version: String,
    startup_time: Duration,
}

impl ControlPlane {
    /// Starts etcd, then kube-apiserver, installs the CRDs of `options`, then starts
    /// kube-controller-manager, and returns once its garbage collector works. Builds the
    /// binaries first when needed (see [`crate::BIN_DIR_VAR`]). Prints the startup time.
    ///
    /// # Errors
    /// Any step that fails or takes longer than the startup timeout; the error names the
    /// component and its log, which is kept.
    pub async fn start(options: &ClusterOptions) -> Result<Self, Error> {
        let started = Instant::now();
        let crds = options.crds()?;
        let timeout = options.timeout();
        let binaries = tokio::task::spawn_blocking(Binaries::locate)
            .await
            .unwrap_or_else(|join_error| std::panic::resume_unwind(join_error.into_panic()))?;
        let run_dir = RunDir::create()?;
        // Until the start succeeds, a failure keeps the logs that its error names.
        run_dir.keep_logs();
        let [etcd_client, etcd_peer, apiserver, controller_manager] =
            ports::free_loopback_ports().map_err(Error::Ports)?;
        let ports = Ports { etcd_client, etcd_peer, apiserver, controller_manager };
        let pki = pki::write(&run_dir.sub("pki"))?;
        let kubeconfig = run_dir.path().join("kubeconfig");

        let start = |component: Component, args: Vec<String>| {
            Process::start(component, &binaries.path(component), &args, run_dir.log(component))
        };
        let mut etcd = start(Component::Etcd, args::etcd(ports, &run_dir.sub("etcd")))?;
        wait::until(&mut etcd, "healthy", timeout, || wait::etcd_health(ports.etcd_client)).await?;

        let apiserver_args = args::kube_apiserver(ports, &pki, &run_dir.sub("apiserver-certs"));
        let mut apiserver = start(Component::KubeApiserver, apiserver_args)?;
        kubeconfig::write(&kubeconfig, ports.apiserver, &pki)?;
        let config = kubeconfig::load(&kubeconfig).await?;
        let client = Client::try_from(config.clone()).map_err(Error::Client)?;
        wait::until(&mut apiserver, "ready", timeout, || readyz(&client)).await?;
        wait::until(&mut apiserver, "serving the default namespace", timeout, || {
            default_namespace(&client)
        })
        .await?;
        crds::install(&client, &crds, timeout).await?;

        let kcm_args = args::kube_controller_manager(
            ports,
            &kubeconfig,
            &run_dir.sub("controller-manager-certs"),
        );
        let mut controller_manager = start(Component::KubeControllerManager, kcm_args)?;
        let probe = create_garbage_collector_probe(&client).await?;
        wait::until(&mut controller_manager, "collecting garbage", timeout, || {
            is_gone(&client, &probe)
        })
        .await?;

        let version = client.apiserver_version().await.map(|info| info.git_version);
        let processes = vec![etcd, apiserver, controller_manager];
        let process_ids = processes.iter().map(|p| (p.component(), p.id())).collect();
        let plane = ControlPlane {
            processes: Mutex::new(processes),
            process_ids,
            run_dir,
            kubeconfig,
            config,
            version: version.unwrap_or_else(|_| "(unknown version)".to_string()),
            startup_time: started.elapsed(),
        };
        plane.run_dir.discard_logs();
        plane.announce();
        Ok(plane)
    }

    /// The client configuration for the admin identity (member of `system:masters`).
    pub fn config(&self) -> &kube::Config {
        &self.config
    }

    /// A new client for the admin identity. It lives on the tokio runtime it is built in, so
    /// build one per runtime (each `#[tokio::test]` has its own).
    pub fn client(&self) -> Result<Client, Error> {
        Client::try_from(self.config.clone()).map_err(Error::Client)
    }

    /// The kubeconfig file, for `kubectl --kubeconfig` or another process.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The log file of `component`.
    pub fn log(&self, component: Component) -> PathBuf {
        self.run_dir.log(component)
    }

    /// The process id of each component (each is also the id of its process group).
    pub fn process_ids(&self) -> &[(Component, u32)] {
        &self.process_ids
    }

    /// The version the API server reports, e.g. `v1.36.3`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// How long [`ControlPlane::start`] took, including finding or building the binaries.
    pub fn startup_time(&self) -> Duration {
        self.startup_time
    }

    /// Keeps the logs when the control plane stops, for a test that failed.
    pub fn keep_logs(&self) {
        self.run_dir.keep_logs();
    }

    /// Stops every component, the last started first, and cleans up the working directory.
    /// Calling it again does nothing.
    pub fn stop(&self) {
        let mut processes = self.processes.lock().unwrap_or_else(PoisonError::into_inner);
        if processes.is_empty() {
            return;
        }
        while let Some(mut process) = processes.pop() {
            process.stop();
        }
        self.run_dir.clean_up();
    }

    /// Says where each component's log is, on one line each.
    pub(crate) fn log_report(&self) -> String {
        let mut report = String::from("the control plane's logs are kept:");
        for component in Component::ALL {
            report.push_str(&format!("\n  {component}: {}", self.log(component).display()));
        }
        report
    }

    fn announce(&self) {
        let line = format!(
            "hotloop-testenv: Kubernetes {} control plane ready in {:.1?} at {}\n  \
             kubeconfig: {}\n  logs: {}\n",
            self.version,
            self.startup_time,
            self.config.cluster_url,
            self.kubeconfig.display(),
            self.run_dir.sub("logs").display(),
        );
        // Straight to stderr: the test harness captures only the print macros.
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        // A test namespace that saw the panic has reported already and kept the logs.
        if std::thread::panicking() && !self.run_dir.keeps_logs() {
            self.keep_logs();
            let report = format!("hotloop-testenv: a test failed; {}\n", self.log_report());
            let _ = std::io::stderr().write_all(report.as_bytes());
        }
        self.stop();
    }
}

async fn readyz(client: &Client) -> Result<(), String> {
    let request = http::Request::get("/readyz").body(Vec::new()).map_err(|e| e.to_string())?;
    client.request_text(request).await.map(drop).map_err(|error| error.to_string())
}

async fn default_namespace(client: &Client) -> Result<(), String> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces.get("default").await.map(drop).map_err(|error| error.to_string())
}

/// A ConfigMap whose owner never existed: the garbage collector deletes it once it runs.
async fn create_garbage_collector_probe(client: &Client) -> Result<String, Error> {
    let name = format!("hotloop-testenv-gc-probe-{}", pki::random_suffix());
    let probe = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                name: "hotloop-testenv-owner-that-never-existed".into(),
                uid: "00000000-0000-0000-0000-000000000000".into(),
                ..OwnerReference::default()
            }]),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    };
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    config_maps.create(&PostParams::default(), &probe).await.map_err(|source| Error::Request {
        action: format!("create the garbage collector probe default/{name}"),
        source,
    })?;
    Ok(name)
}

async fn is_gone(client: &Client, name: &str) -> Result<(), String> {
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    match config_maps.get_opt(name).await {
        Ok(None) => Ok(()),
        Ok(Some(_)) => Err(format!("default/{name} still exists")),
        Err(error) => Err(error.to_string()),
    }
}
