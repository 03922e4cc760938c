//! A cluster to test against: a local control plane, or an existing cluster.

use std::io::Write;
use std::path::{Path, PathBuf};

use kube::Client;

use crate::{ClusterOptions, ControlPlane, Error, TestNamespace, crds, kubeconfig};

/// Names the kubeconfig of an existing cluster to test against instead of a local control
/// plane. Its current context is used. The plain `KUBECONFIG` is deliberately not used: it
/// often points at a cluster that matters, and tests create and delete namespaces.
pub const EXTERNAL_KUBECONFIG_VAR: &str = "HOTLOOP_E2E_KUBECONFIG";

/// Where tests run: a local control plane started by this crate, or an existing cluster.
#[derive(Debug)]
pub enum Cluster {
    /// A control plane started by this crate, stopped when dropped.
    Local(ControlPlane),
    /// An existing cluster reached through a kubeconfig.
    External(ExternalCluster),
}

/// An existing cluster reached through a kubeconfig; nothing of it is stopped.
#[derive(Debug)]
pub struct ExternalCluster {
    kubeconfig: PathBuf,
    config: kube::Config,
}

impl Cluster {
    /// Connects to the cluster named by [`EXTERNAL_KUBECONFIG_VAR`] when it is set, otherwise
    /// starts a local control plane; either way the CRDs of `options` are installed.
    pub async fn start(options: &ClusterOptions) -> Result<Cluster, Error> {
        match std::env::var_os(EXTERNAL_KUBECONFIG_VAR) {
            Some(path) => Cluster::connect(Path::new(&path), options).await,
            None => ControlPlane::start(options).await.map(Cluster::Local),
        }
    }

    /// Uses the existing cluster of the kubeconfig at `path` (its current context) and
    /// installs the CRDs of `options` there.
    pub async fn connect(path: &Path, options: &ClusterOptions) -> Result<Cluster, Error> {
        let crds = options.crds()?;
        let config = kubeconfig::load(path).await?;
        let client = Client::try_from(config.clone()).map_err(Error::Client)?;
        crds::install(&client, &crds, options.timeout()).await?;
        let line = format!(
            "hotloop-testenv: using the existing cluster at {} (kubeconfig {})\n",
            config.cluster_url,
            path.display()
        );
        let _ = std::io::stderr().write_all(line.as_bytes());
        Ok(Cluster::External(ExternalCluster { kubeconfig: path.to_path_buf(), config }))
    }

    /// The client configuration.
    pub fn config(&self) -> &kube::Config {
        match self {
            Cluster::Local(plane) => plane.config(),
            Cluster::External(external) => &external.config,
        }
    }

    /// A new client. It lives on the tokio runtime it is built in, so build one per runtime.
    pub fn client(&self) -> Result<Client, Error> {
        Client::try_from(self.config().clone()).map_err(Error::Client)
    }

    /// The kubeconfig file.
    pub fn kubeconfig(&self) -> &Path {
        match self {
            Cluster::Local(plane) => plane.kubeconfig(),
            Cluster::External(external) => &external.kubeconfig,
        }
    }

    /// The local control plane, unless this is an existing cluster.
    pub fn control_plane(&self) -> Option<&ControlPlane> {
        match self {
            Cluster::Local(plane) => Some(plane),
            Cluster::External(_) => None,
        }
    }

    /// Creates a fresh namespace for the calling test, named after it.
    pub async fn namespace(&self) -> Result<TestNamespace<'_>, Error> {
        TestNamespace::create(self).await
    }

    /// Tells where to look after the test using `namespace` failed, and keeps the logs.
    pub(crate) fn report_failure(&self, namespace: &str) {
        let mut report = format!("hotloop-testenv: a test failed in namespace {namespace}");
        match self {
            Cluster::Local(plane) => {
                plane.keep_logs();
                report.push_str("; ");
                report.push_str(&plane.log_report());
            }
            Cluster::External(external) => {
                report.push_str(&format!(
                    "; the namespace is left in the cluster at {} for inspection",
                    external.config.cluster_url
                ));
            }
        }
        report.push('\n');
        let _ = std::io::stderr().write_all(report.as_bytes());
    }
}
