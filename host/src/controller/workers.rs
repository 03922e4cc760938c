//! The workers of one controller: at most `concurrency` reconciles run at once, and the ones
//! that wait for a worker are the controller's queue, counted in `hotloop_queue_depth`.
//!
//! The kube runtime's own concurrency limit would hold waiting objects where nothing can count
//! them, so the controller lets the runtime start every reconcile that is due and makes each
//! one wait here for a worker. The runtime still never runs one object twice at once: an object
//! that changes while it waits here is queued again behind the reconcile that waits.

use std::sync::atomic::{AtomicI64, Ordering};

use tokio::sync::{Semaphore, SemaphorePermit, watch};

use crate::observe::Metrics;

/// Worker slots and the count of reconciles waiting for one.
#[derive(Debug)]
pub(super) struct Workers {
    slots: Semaphore,
    waiting: AtomicI64,
}

/// Counts one waiting reconcile for as long as it lives, also when the wait is cancelled.
struct Waiting<'a> {
    workers: &'a Workers,
    metrics: &'a Metrics,
    plugin: &'a str,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let now = self.workers.waiting.fetch_sub(1, Ordering::AcqRel) - 1;
        self.metrics.queue_depth(self.plugin, now);
    }
}

impl Workers {
    /// `concurrency` workers; at least one.
    pub(super) fn new(concurrency: u16) -> Self {
        Workers {
            slots: Semaphore::new(usize::from(concurrency.max(1))),
            waiting: AtomicI64::new(0),
        }
    }

    /// How many reconciles wait for a worker now.
    #[cfg(test)]
    fn waiting(&self) -> i64 {
        self.waiting.load(Ordering::Acquire)
    }

    /// Waits for a free worker. `None` when the controller began to stop first: a reconcile
    /// that has not started yet is not started any more.
    pub(super) async fn turn<'a>(
        &'a self,
        metrics: &Metrics,
        plugin: &str,
        stopping: &mut watch::Receiver<bool>,
    ) -> Option<SemaphorePermit<'a>> {
        if *stopping.borrow() {
            return None;
        }
        let now = self.waiting.fetch_add(1, Ordering::AcqRel) + 1;
        metrics.queue_depth(plugin, now);
        let _counted = Waiting { workers: self, metrics, plugin };
        tokio::select! {
            permit = self.slots.acquire() => permit.ok(),
            _ = stopping.wait_for(|stop| *stop) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn depth(metrics: &Metrics) -> String {
        metrics
            .encode()
            .lines()
            .find(|line| line.starts_with("hotloop_queue_depth{"))
            .unwrap_or_default()
            .to_owned()
    }

    #[tokio::test]
    async fn reconciles_beyond_the_workers_wait_and_are_counted_as_the_queue() {
        let workers = Arc::new(Workers::new(1));
        let metrics = Arc::new(Metrics::new());
        let (_stop, stopping) = watch::channel(false);
        let first = workers.turn(&metrics, "site", &mut stopping.clone()).await;
        assert!(first.is_some());
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let (workers, metrics, mut stopping) =
                    (workers.clone(), metrics.clone(), stopping.clone());
                tokio::spawn(async move {
                    workers.turn(&metrics, "site", &mut stopping).await.is_some()
                })
            })
            .collect();
        while workers.waiting() < 3 {
            tokio::task::yield_now().await;
        }
        assert_eq!(depth(&metrics), r#"hotloop_queue_depth{plugin="site"} 3"#);
        drop(first);
        for waiter in waiters {
            assert!(waiter.await.unwrap(), "each waiter gets its turn");
        }
        assert_eq!(workers.waiting(), 0);
        assert_eq!(depth(&metrics), r#"hotloop_queue_depth{plugin="site"} 0"#);
    }

    #[tokio::test]
    async fn a_stopping_controller_starts_no_waiting_reconcile() {
        let workers = Arc::new(Workers::new(1));
        let metrics = Arc::new(Metrics::new());
        let (stop, stopping) = watch::channel(false);
        let busy = workers.turn(&metrics, "site", &mut stopping.clone()).await;
        let waiter = {
            let (workers, metrics, mut stopping) =
                (workers.clone(), metrics.clone(), stopping.clone());
            tokio::spawn(
                async move { workers.turn(&metrics, "site", &mut stopping).await.is_some() },
            )
        };
        while workers.waiting() < 1 {
            tokio::task::yield_now().await;
        }
        stop.send(true).unwrap();
        assert!(!waiter.await.unwrap(), "the waiting reconcile is not started");
        assert!(workers.turn(&metrics, "site", &mut stopping.clone()).await.is_none());
        assert_eq!(workers.waiting(), 0);
        drop(busy);
    }
}
