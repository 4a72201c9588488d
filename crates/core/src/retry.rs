//! Retry timing: exponential backoff with full jitter and a cap (Vector's choice: it spreads
//! retries so a platform outage does not turn into a synchronized stampede), and a
//! platform-named `retry_after` always wins as the lower bound.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// How often and how fast a job is retried.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; after the last the job is dead.
    pub max_attempts: u32,
    /// Backoff base: the ceiling of the first retry's random delay.
    #[serde(with = "millis")]
    pub base: Duration,
    /// The ceiling no delay exceeds (a platform's retry-after may).
    #[serde(with = "millis")]
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base: Duration::from_secs(2),
            cap: Duration::from_secs(600),
        }
    }
}

impl RetryPolicy {
    /// The ceiling for the delay after `attempt` failures (1-based): `min(cap, base * 2^(n-1))`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        self.base.saturating_mul(1u32 << exp).min(self.cap)
    }

    /// Full jitter: uniform in `[0, ceiling]`, but never less than the platform's retry-after.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        self.delay_with(attempt, retry_after, &mut rand::rng())
    }

    /// `delay` with a caller-chosen random source, for reproducible tests.
    pub fn delay_with(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        rng: &mut impl Rng,
    ) -> Duration {
        let ceiling = self.ceiling(attempt).as_millis() as u64;
        let jittered = Duration::from_millis(rng.random_range(0..=ceiling));
        match retry_after {
            Some(wait) => jittered.max(wait),
            None => jittered,
        }
    }

    /// Whether another attempt is allowed after `attempts` have been made.
    pub fn exhausted(&self, attempts: u32) -> bool {
        attempts >= self.max_attempts
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
        }
    }

    #[test]
    fn ceilings_double_then_cap() {
        let p = policy();
        let secs: Vec<u64> = (1..=8).map(|n| p.ceiling(n).as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 16, 32, 60, 60]);
    }

    #[test]
    fn exhausted_after_max_attempts() {
        let p = policy();
        assert!(!p.exhausted(4));
        assert!(p.exhausted(5));
    }

    proptest! {
        #[test]
        fn delay_stays_within_full_jitter_bounds(attempt in 1u32..40, seed: u64) {
            let p = policy();
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let d = p.delay_with(attempt, None, &mut rng);
            prop_assert!(d <= p.ceiling(attempt));
        }

        #[test]
        fn retry_after_is_a_lower_bound(attempt in 1u32..40, wait_ms in 0u64..3_600_000, seed: u64) {
            let p = policy();
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let wait = Duration::from_millis(wait_ms);
            prop_assert!(p.delay_with(attempt, Some(wait), &mut rng) >= wait);
        }
    }
}
