//! Whether the host is ready to serve, as `/readyz` reports it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A shared switch saying whether the host is ready: clones share one value.
///
/// It starts not ready. The process marks itself ready once its controllers have synced their
/// caches, and not ready again when it begins to shut down, so that traffic and leadership
/// move elsewhere first.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    ready: Arc<AtomicBool>,
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
}
