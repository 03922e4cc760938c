//! The kubeconfig of a local control plane, and loading any kubeconfig into a client config.

use std::fs;
use std::path::Path;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::Error;
use crate::pki::{ADMIN_USER, Pki};

/// The name of the cluster, user and context in the written kubeconfig.
pub const CONTEXT: &str = "hotloop-testenv";

/// Writes a kubeconfig for the admin identity of the API server on `port` to `path`.
/// It names the CA certificate by path, so it is valid while the control plane runs.
pub(crate) fn write(path: &Path, port: u16, pki: &Pki) -> Result<(), Error> {
    let text = format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {CONTEXT}
  cluster:
    server: https://127.0.0.1:{port}
    certificate-authority: {ca}
users:
- name: {ADMIN_USER}
  user:
    token: {token}
contexts:
- name: {CONTEXT}
  context:
    cluster: {CONTEXT}
    user: {ADMIN_USER}
current-context: {CONTEXT}
",
        ca = pki.ca_cert.display(),
        token = pki.admin_token,
    );
    fs::write(path, text).map_err(|source| Error::Write { path: path.to_path_buf(), source })
}

/// Reads the kubeconfig at `path` into a client configuration for its current context.
pub(crate) async fn load(path: &Path) -> Result<kube::Config, Error> {
    let error = |source| Error::Kubeconfig { path: path.to_path_buf(), source };
    let kubeconfig = Kubeconfig::read_from(path).map_err(error)?;
    kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(error)
}
