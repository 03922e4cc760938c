//! A real local Kubernetes control plane for Hotloop's tests and dev loop.
//!
//! It starts etcd, kube-apiserver and kube-controller-manager (garbage collector and namespace
//! controller only) on 127.0.0.1, built from the Go module in `tests/controlplane` by
//! `scripts/build-control-plane`, so that tests meet real resourceVersions, conflicts, status
//! subresources, finalizers, garbage collection and watches. Or, with
//! [`EXTERNAL_KUBECONFIG_VAR`] set, it hands out clients for an existing cluster instead.
//!
//! - [`SharedCluster`]: one cluster per test binary, a namespace per test.
//! - [`Cluster`] / [`ControlPlane`]: one owned cluster, stopped when dropped.
//!
//! Environment variables:
//! - [`BIN_DIR_VAR`] (`HOTLOOP_CONTROL_PLANE_BIN`): a directory holding the three binaries;
//!   otherwise `scripts/build-control-plane` finds or builds them.
//! - [`EXTERNAL_KUBECONFIG_VAR`] (`HOTLOOP_E2E_KUBECONFIG`): test against an existing cluster.
//! - `HOTLOOP_CACHE`: where the build script keeps binaries (default `~/.cache/hotloop`).

mod args;
mod binaries;
mod cluster;
mod component;
mod control_plane;
mod crds;
mod error;
mod eventually;
mod kubeconfig;
mod namespace;
mod options;
mod pki;
mod ports;
mod process;
mod repository;
mod run_dir;
mod shared;
mod wait;

pub use binaries::BIN_DIR_VAR;
pub use cluster::{Cluster, EXTERNAL_KUBECONFIG_VAR, ExternalCluster};
pub use component::Component;
pub use control_plane::ControlPlane;
pub use crds::FIELD_MANAGER;
pub use error::Error;
pub use eventually::{EVENTUALLY_TIMEOUT, eventually};
pub use kubeconfig::CONTEXT;
pub use namespace::{NAMESPACE_LABEL, TestNamespace};
pub use options::{ClusterOptions, DEFAULT_STARTUP_TIMEOUT};
pub use repository::{REPOSITORY_VAR, repository};
pub use shared::SharedCluster;
