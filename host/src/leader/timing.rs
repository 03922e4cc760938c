//! Lease duration, renew deadline and retry period, checked against each other.

use std::time::Duration;

/// How long a renewal holds, how soon the leader must have renewed, and how often requests are
/// retried; whole seconds, as the Lease counts them. See the module doc for what each means.
///
/// Defaults: 15 s, 10 s and 2 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTiming {
    duration_s: u64,
    renew_deadline_s: u64,
    retry_period_s: u64,
}

/// Timing settings that cannot work together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimingError {
    /// The leader would renew only after a standby may already have taken over.
    #[error(
        "the renew deadline ({renew_deadline_s} s) must be shorter than the lease duration \
         ({duration_s} s)"
    )]
    DeadlineNotBeforeExpiry { renew_deadline_s: u64, duration_s: u64 },
    /// A renewal attempt would have no time left to finish before the deadline.
    #[error(
        "the retry period ({retry_period_s} s) must be at least 1 s and shorter than the renew \
         deadline ({renew_deadline_s} s)"
    )]
    RetryNotBeforeDeadline { retry_period_s: u64, renew_deadline_s: u64 },
}

impl Default for LeaseTiming {
    fn default() -> Self {
        LeaseTiming { duration_s: 15, renew_deadline_s: 10, retry_period_s: 2 }
    }
}

impl LeaseTiming {
    /// Checks that `retry_period_s < renew_deadline_s < duration_s` and that the retry period
    /// is at least one second.
    ///
    /// # Errors
    /// A [`TimingError`] naming the pair that is out of order.
    pub fn new(
        duration_s: u64,
        renew_deadline_s: u64,
        retry_period_s: u64,
    ) -> Result<Self, TimingError> {
        if renew_deadline_s >= duration_s {
            return Err(TimingError::DeadlineNotBeforeExpiry { renew_deadline_s, duration_s });
        }
        if retry_period_s == 0 || retry_period_s >= renew_deadline_s {
            return Err(TimingError::RetryNotBeforeDeadline { retry_period_s, renew_deadline_s });
        }
        Ok(LeaseTiming { duration_s, renew_deadline_s, retry_period_s })
    }

    /// How long one renewal holds the Lease.
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.duration_s)
    }

    /// Sets when the leader renews: `renew_deadline - retry_period` after the last renewal.
    pub fn renew_deadline(&self) -> Duration {
        Duration::from_secs(self.renew_deadline_s)
    }

    /// The wait between attempts, and the longest a single request about the Lease may take.
    pub fn retry_period(&self) -> Duration {
        Duration::from_secs(self.retry_period_s)
    }

    /// The crate's "grace": how long before expiry the leader renews. Renewing at
    /// `renew_deadline - retry_period` after the last renewal leaves one request's time before
    /// the deadline, and always lies between 1 s and `duration - 1` s.
    pub(super) fn grace_seconds(&self) -> u64 {
        self.duration_s - self.renew_deadline_s + self.retry_period_s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_renew_eight_seconds_after_the_last_renewal() {
        let timing = LeaseTiming::default();
        assert_eq!(LeaseTiming::new(15, 10, 2), Ok(timing));
        assert_eq!(timing.duration().as_secs() - timing.grace_seconds(), 8);
    }

    #[test]
    fn a_renew_deadline_at_or_past_expiry_is_refused() {
        let refused = LeaseTiming::new(10, 10, 2).unwrap_err();
        assert_eq!(
            refused,
            TimingError::DeadlineNotBeforeExpiry { renew_deadline_s: 10, duration_s: 10 }
        );
        assert!(refused.to_string().contains("renew deadline (10 s)"), "{refused}");
    }

    #[test]
    fn a_retry_period_of_zero_or_past_the_deadline_is_refused() {
        for retry in [0, 5, 6] {
            assert_eq!(
                LeaseTiming::new(10, 5, retry),
                Err(TimingError::RetryNotBeforeDeadline {
                    retry_period_s: retry,
                    renew_deadline_s: 5
                })
            );
        }
    }

    #[test]
    fn grace_stays_within_what_the_lease_crate_accepts() {
        for (duration, deadline, retry) in [(3, 2, 1), (15, 10, 2), (60, 59, 58), (60, 2, 1)] {
            let grace = LeaseTiming::new(duration, deadline, retry).unwrap().grace_seconds();
            assert!(grace >= 1 && grace < duration, "{duration}/{deadline}/{retry}: {grace}");
        }
    }
}
