//! Hotloop: a Kubernetes operator host whose reconcile logic lives in WebAssembly components.
//!
//! | module | what lives there |
//! |---|---|
//! | [`cli`] | the `hotloop` command line |
//! | [`contract`] | the plugin contract as plain values, and the `Handler` and `HostCalls` traits |
//! | [`controller`] | per-plugin controllers, and the decisions that turn results into status and Events |
//! | [`host_api`] | the functions a plugin imports, checked against its manifest |
//! | [`leader`] | leader election on a Lease, so that one of several replicas reconciles |
//! | [`observe`] | Prometheus metrics, and the `/metrics`, `/healthz` and `/readyz` endpoints |
//! | [`plugins`] | plugin sources (ConfigMaps, a directory) and the registry of controllers |
//! | [`runtime`] | wasmtime: the engine, sandbox limits, artifact cache and calls; no Kubernetes |

pub mod cli;
pub mod contract;
pub mod controller;
pub mod host_api;
pub mod leader;
pub mod observe;
pub mod plugins;
pub mod runtime;
