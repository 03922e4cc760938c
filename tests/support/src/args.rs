//! The command lines of the three components.
//!
//! Everything listens on 127.0.0.1 only. Choices that differ from a production cluster, and why:
//! - etcd skips fsync: its data is thrown away with the test run, and fsync is most of its cost.
//! - The API server authenticates a static admin token (in `system:masters`) and authorizes
//!   with RBAC. Anonymous requests stay possible for `/readyz` and friends, as in a real cluster.
//! - The ServiceAccount admission plugin is off: no token controller runs to create tokens for
//!   service accounts, so pods would never be admitted otherwise.
//! - The endpoint reconciler is off: there is no second API server, and no node to reach this
//!   one through the `kubernetes` Service.
//! - The controller manager runs only the garbage collector and the namespace controller, with
//!   leader election off.

use std::path::Path;

use crate::pki::Pki;

/// The ports the components listen on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ports {
    pub(crate) etcd_client: u16,
    pub(crate) etcd_peer: u16,
    pub(crate) apiserver: u16,
    pub(crate) controller_manager: u16,
}

/// etcd, storing its data in `data_dir`.
pub(crate) fn etcd(ports: Ports, data_dir: &Path) -> Vec<String> {
    let client = format!("http://127.0.0.1:{}", ports.etcd_client);
    let peer = format!("http://127.0.0.1:{}", ports.etcd_peer);
    vec![
        "--name=hotloop-testenv".into(),
        format!("--data-dir={}", data_dir.display()),
        format!("--listen-client-urls={client}"),
        format!("--advertise-client-urls={client}"),
        format!("--listen-peer-urls={peer}"),
        format!("--initial-advertise-peer-urls={peer}"),
        format!("--initial-cluster=hotloop-testenv={peer}"),
        "--unsafe-no-fsync=true".into(),
        "--log-level=warn".into(),
    ]
}

/// kube-apiserver, storing in the etcd of `ports` and writing what it generates to `cert_dir`.
pub(crate) fn kube_apiserver(ports: Ports, pki: &Pki, cert_dir: &Path) -> Vec<String> {
    vec![
        format!("--etcd-servers=http://127.0.0.1:{}", ports.etcd_client),
        "--bind-address=127.0.0.1".into(),
        "--advertise-address=127.0.0.1".into(),
        format!("--secure-port={}", ports.apiserver),
        format!("--cert-dir={}", cert_dir.display()),
        format!("--tls-cert-file={}", pki.serving_cert.display()),
        format!("--tls-private-key-file={}", pki.serving_key.display()),
        format!("--token-auth-file={}", pki.token_file.display()),
        "--authorization-mode=RBAC".into(),
        "--service-account-issuer=https://kubernetes.default.svc".into(),
        format!("--service-account-key-file={}", pki.service_account_public_key.display()),
        format!("--service-account-signing-key-file={}", pki.service_account_key.display()),
        "--service-cluster-ip-range=10.0.0.0/24".into(),
        "--disable-admission-plugins=ServiceAccount".into(),
        "--endpoint-reconciler-type=none".into(),
        "--allow-privileged=true".into(),
        "--profiling=false".into(),
    ]
}

/// kube-controller-manager, talking to the API server through `kubeconfig`.
pub(crate) fn kube_controller_manager(
    ports: Ports,
    kubeconfig: &Path,
    cert_dir: &Path,
) -> Vec<String> {
    vec![
        format!("--kubeconfig={}", kubeconfig.display()),
        "--controllers=garbage-collector-controller,namespace-controller".into(),
        "--leader-elect=false".into(),
        "--bind-address=127.0.0.1".into(),
        format!("--secure-port={}", ports.controller_manager),
        format!("--cert-dir={}", cert_dir.display()),
        "--profiling=false".into(),
    ]
}
