//! Per-object exponential backoff after failures, reset by success.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Delays after consecutive failures: `base`, `2 * base`, `4 * base`, ... up to `cap`.
#[derive(Debug)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    failures: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Self {
        Backoff { base, cap, failures: Mutex::new(HashMap::new()) }
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Failures in a row so far for `object`.
    pub fn attempt(&self, object: &str) -> u32 {
        self.failures().get(object).copied().unwrap_or(0)
    }

    /// Counts a failure of `object` and returns how long to wait before the next try.
    pub fn failed(&self, object: &str) -> Duration {
        let mut failures = self.failures();
        let count = failures.entry(object.to_owned()).or_insert(0);
        let delay = self.base.saturating_mul(2_u32.saturating_pow((*count).min(31)));
        *count = count.saturating_add(1);
        delay.min(self.cap)
    }

    /// Forgets the failures of `object` after a success.
    pub fn succeeded(&self, object: &str) {
        self.failures().remove(object);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_reset_on_success() {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let delays: Vec<u128> = (0..6).map(|_| backoff.failed("a").as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(backoff.attempt("a"), 6);
        assert_eq!(backoff.failed("b"), Duration::from_millis(100), "objects back off alone");
        backoff.succeeded("a");
        assert_eq!(backoff.attempt("a"), 0);
        assert_eq!(backoff.failed("a"), Duration::from_millis(100));
    }
}
