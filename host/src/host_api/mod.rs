//! The functions a plugin imports, with the checks that keep each plugin to what its manifest
//! declares.
//!
//! [`Checked`] enforces the capability rules once for every backend: the cluster (the
//! operator) and the fixtures of `hotloop simulate`. A denied call returns a typed error to
//! the plugin and reaches no backend.

mod capabilities;
mod cluster;
mod fixtures;
mod parent;
mod selector;

pub use capabilities::{Backend, CHILD_LABEL, Checked};
pub use cluster::{Caches, ClusterBackend, LogContext};
pub use fixtures::{FixtureError, Fixtures, Recorded, Recording};
pub use parent::{Parent, ParentError};
