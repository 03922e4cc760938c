//! Whether the host is ready to serve, as `/readyz` reports it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// What this instance does in its group of replicas, shown in the body of `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum Role {
    /// It runs without leader election and reconciles: body `ok`.
    #[default]
    Alone,
    /// It holds the lease and reconciles: body `ok: leader`.
    Leader,
    /// It waits for the lease and reconciles nothing: body `ok: standby`.
    Standby,
}

/// A shared switch saying whether the host is ready: clones share one value.
///
/// It starts not ready. The process marks itself ready once it follows its plugin sources (or,
/// under leader election, once it stands by), and not ready again when it begins to shut
/// down, so that traffic and leadership move elsewhere first. Ready does not mean that every
/// plugin's watch cache has synced: plugins come and go while the process runs.
///
/// A standby is ready too: it is healthy and can take over at any moment. Answering 503 there
/// would stall every rolling update, whose new Pods start as standbys; the body tells the two
/// apart instead (see [`Role`]).
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    ready: Arc<AtomicBool>,
    role: Arc<AtomicU8>,
}

impl Readiness {
    /// A switch that is not ready yet.
    pub fn new() -> Self {
        Readiness::default()
    }

    /// Marks the host ready or not ready; every clone sees the change at once.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    /// Whether the host is ready now.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Records whether this instance leads, stands by, or runs alone.
    pub fn set_role(&self, role: Role) {
        self.role.store(role as u8, Ordering::Release);
    }

    /// What this instance does now.
    pub fn role(&self) -> Role {
        match self.role.load(Ordering::Acquire) {
            1 => Role::Leader,
            2 => Role::Standby,
            _ => Role::Alone,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_starts_off_and_clones_share_it() {
        let readiness = Readiness::new();
        let seen_by_server = readiness.clone();
        assert!(!seen_by_server.is_ready());
        readiness.set_ready(true);
        assert!(seen_by_server.is_ready());
        readiness.set_ready(false);
        assert!(!seen_by_server.is_ready());
    }

    #[test]
    fn the_role_starts_alone_and_clones_share_it() {
        let readiness = Readiness::new();
        let seen_by_server = readiness.clone();
        assert_eq!(seen_by_server.role(), Role::Alone);
        for role in [Role::Standby, Role::Leader, Role::Alone] {
            readiness.set_role(role);
            assert_eq!(seen_by_server.role(), role);
        }
    }
}
