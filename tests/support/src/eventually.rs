//! Waiting in tests for something the cluster does asynchronously.

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

/// How long [`eventually`] waits before it gives up: long enough for the garbage collector and
/// the namespace controller on a busy 2-core machine, short enough to fail a stuck test.
pub const EVENTUALLY_TIMEOUT: Duration = Duration::from_secs(60);

/// Polls `check` every 100 ms until it returns `Ok`, and returns that value.
///
/// `check` returns `Err` with what it saw while the condition does not hold yet. This is an
/// assertion: a deadline, not a timing expectation. It never asserts how fast the cluster is.
///
/// # Panics
/// After [`EVENTUALLY_TIMEOUT`], naming `condition` and the last thing `check` saw.
pub async fn eventually<T, E, F, Fut>(condition: &str, mut check: F) -> T
where
    E: Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let started = Instant::now();
    loop {
        let last_seen = match check().await {
            Ok(value) => return value,
            Err(seen) => seen,
        };
        assert!(
            started.elapsed() < EVENTUALLY_TIMEOUT,
            "gave up after {EVENTUALLY_TIMEOUT:?} waiting until {condition}; last seen: {last_seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
