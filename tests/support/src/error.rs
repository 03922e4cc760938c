//! What can go wrong while finding, starting or using a control plane.

use std::fmt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use crate::Component;

/// Every failure of this crate, one variant per step that can fail.
///
/// `Debug` prints the message and its causes, so that `expect` in a test shows what happened
/// in words rather than as a tree of structs.
#[derive(thiserror::Error)]
pub enum Error {
    /// `HOTLOOP_CONTROL_PLANE_BIN` or the build script named a directory without a binary.
    #[error(
        "{binary} is missing from {dir}; run scripts/build-control-plane, or point \
         HOTLOOP_CONTROL_PLANE_BIN at a directory holding etcd, kube-apiserver and \
         kube-controller-manager"
    )]
    MissingBinary {
        /// The binary that was looked for.
        binary: &'static str,
        /// The directory it was looked for in.
        dir: PathBuf,
    },

    /// The build script is not where this crate expects it (it was moved, or the crate is used
    /// outside the repository).
    #[error(
        "the build script {0} does not exist; set HOTLOOP_CONTROL_PLANE_BIN to a directory \
         holding etcd, kube-apiserver and kube-controller-manager"
    )]
    NoBuildScript(PathBuf),

    /// The build script could not be started.
    #[error("could not run {script}")]
    RunBuildScript {
        /// The script.
        script: PathBuf,
        /// Why it could not be started.
        source: std::io::Error,
    },

    /// The build script ran and failed; its own output (on stderr) says why.
    #[error("{script} failed ({status}); its output above says why, or run it by hand")]
    BuildFailed {
        /// The script.
        script: PathBuf,
        /// How it ended.
        status: ExitStatus,
    },

    /// A file or directory of the control plane's working directory could not be written.
    #[error("could not write {path}")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },

    /// Certificates or keys could not be generated.
    #[error("could not generate the control plane's certificates and keys")]
    Certificates(#[from] rcgen::Error),

    /// No free loopback port could be reserved.
    #[error("could not find free ports on 127.0.0.1")]
    Ports(#[source] std::io::Error),

    /// A component's process could not be started.
    #[error("could not start {component} from {binary}")]
    Spawn {
        /// The component.
        component: Component,
        /// The binary that was run.
        binary: PathBuf,
        /// Why it could not be started.
        source: std::io::Error,
    },

    /// A component exited while the control plane was starting.
    #[error("{component} exited ({status}) while starting; the end of its log {log}:\n{tail}")]
    ExitedEarly {
        /// The component.
        component: Component,
        /// How it ended.
        status: ExitStatus,
        /// Its log file.
        log: PathBuf,
        /// The last lines of its log.
        tail: String,
    },

    /// A component did not become ready in time.
    #[error(
        "{component} was not {what} after {waited:?} (last seen: {last_seen}); see its log {log}, \
         or raise the startup timeout on a slow machine"
    )]
    NotReady {
        /// The component.
        component: Component,
        /// What was waited for, e.g. "ready" or "collecting garbage".
        what: &'static str,
        /// How long it was waited for.
        waited: Duration,
        /// The last observation, e.g. an HTTP status or an error message.
        last_seen: String,
        /// Its log file.
        log: PathBuf,
    },

    /// The kubeconfig could not be read or turned into a client configuration.
    #[error("could not load the kubeconfig {path}")]
    Kubeconfig {
        /// The kubeconfig file.
        path: PathBuf,
        /// Why.
        source: kube::config::KubeconfigError,
    },

    /// A client could not be built from the configuration (call it inside a tokio runtime).
    #[error("could not build a Kubernetes client; build it inside a tokio runtime")]
    Client(#[source] kube::Error),

    /// A CustomResourceDefinition given in the options could not be read.
    #[error("CRD number {index} of the options is not a CustomResourceDefinition: {reason}")]
    InvalidCrd {
        /// Its position in the options, counting from 1 (a multi-document YAML counts each document).
        index: usize,
        /// What was wrong.
        reason: String,
    },

    /// A CustomResourceDefinition was rejected by the API server.
    #[error("the API server rejected the CRD {name}")]
    ApplyCrd {
        /// The CRD's name.
        name: String,
        /// The API server's answer.
        source: kube::Error,
    },

    /// A CustomResourceDefinition was accepted but did not become Established.
    #[error("the CRD {name} was not Established after {waited:?} (last seen: {last_seen})")]
    CrdNotEstablished {
        /// The CRD's name.
        name: String,
        /// How long it was waited for.
        waited: Duration,
        /// Its last conditions, or the last error.
        last_seen: String,
    },

    /// A request to the cluster failed while preparing it (namespace, probe object).
    #[error("could not {action}")]
    Request {
        /// What was being done, e.g. "create the namespace t-1".
        action: String,
        /// The API server's answer.
        source: kube::Error,
    },

    /// The shared cluster of this test binary failed to start; every test gets this error.
    #[error("the shared cluster of this test binary failed to start")]
    SharedStartFailed(#[source] Arc<Error>),
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")?;
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            write!(f, "\n  caused by: {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}
