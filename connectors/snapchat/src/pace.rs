//! Keeps each access token under Snap's request rate (about 10 a second per token,
//! PLATFORMS.md §5.5), so that a busy account's calls wait their turn here instead of drawing
//! 429s, each of which costs the post Snap's short backoff and a trip through the queue.
//!
//! Per process: with N instances sharing accounts, give each about 1/N of the rate
//! (`requests_per_second_per_token`).

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// The longest a call waits here, counting the calls already waiting on the same token. A
/// token further behind answers "rate limited" with the wait instead, so the job goes back to
/// the queue rather than holding a worker slot while the token's backlog drains: a busy
/// account holds about `rate x MAX_WAIT` worker slots, not all of them.
pub const MAX_WAIT: Duration = Duration::from_millis(250);

/// Tokens remembered before the idle ones are forgotten (tokens rotate hourly).
const KEEP_TOKENS: usize = 10_000;

/// One bucket per access token: `per_second` calls a second, one at a time (no burst, so two
/// instances at half the rate each stay under the platform's bucket together).
pub struct Pacer {
    limiter: Option<DefaultKeyedRateLimiter<u64>>,
    clock: DefaultClock,
    max_wait: Duration,
    /// The time between two calls on one token.
    interval: Duration,
    /// Calls waiting here, per token.
    waiting: Mutex<HashMap<u64, u32>>,
}

impl std::fmt::Debug for Pacer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pacer")
            .field("on", &self.limiter.is_some())
            .finish()
    }
}

impl Pacer {
    /// `per_second` 0 switches pacing off.
    pub fn new(per_second: u32) -> Self {
        let limiter = NonZeroU32::new(per_second)
            .map(|rate| RateLimiter::keyed(Quota::per_second(rate).allow_burst(NonZeroU32::MIN)));
        Self {
            limiter,
            clock: DefaultClock::default(),
            max_wait: MAX_WAIT,
            interval: Duration::from_secs(1) / per_second.max(1),
            waiting: Mutex::new(HashMap::new()),
        }
    }

    #[cfg(test)]
    fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// Waits for the token's next turn; `Err(wait)` when that, behind the calls already
    /// waiting on the token, is more than [`MAX_WAIT`] away.
    pub async fn admit(&self, token: &str) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        // The token itself is not kept: a hash tells the buckets apart.
        let mut hasher = DefaultHasher::new();
        token.hash(&mut hasher);
        let key = hasher.finish();
        if limiter.len() > KEEP_TOKENS {
            limiter.retain_recent();
        }
        loop {
            match limiter.check_key(&key) {
                Ok(()) => return Ok(()),
                Err(not_until) => {
                    let next = not_until.wait_time_from(self.clock.now());
                    let ahead = self.waiters(key, 0);
                    let wait = next + self.interval * ahead;
                    if wait > self.max_wait {
                        return Err(wait);
                    }
                    self.waiters(key, 1);
                    tokio::time::sleep(wait).await;
                    self.waiters(key, -1);
                }
            }
        }
    }

    /// Changes the token's count of waiting calls by `delta` and answers it as it was.
    fn waiters(&self, key: u64, delta: i32) -> u32 {
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        let n = waiting.entry(key).or_insert(0);
        let before = *n;
        *n = n.saturating_add_signed(delta);
        if *n == 0 {
            waiting.remove(&key);
        }
        before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_on_one_token_are_spaced_and_other_tokens_are_not_held_up() {
        let pacer = Pacer::new(20).with_max_wait(Duration::from_secs(1));
        let started = std::time::Instant::now();
        for _ in 0..5 {
            pacer.admit("token-a").await.expect("within the wait");
        }
        // One call every 50 ms: the fifth goes out no sooner than 200 ms after the first.
        assert!(started.elapsed() >= Duration::from_millis(190));
        let other = std::time::Instant::now();
        pacer.admit("token-b").await.expect("a fresh token");
        assert!(other.elapsed() < Duration::from_millis(40));
    }

    #[tokio::test]
    async fn a_token_far_behind_is_told_how_long_to_wait() {
        let pacer = Pacer::new(2).with_max_wait(Duration::from_millis(100));
        pacer.admit("t").await.expect("first call");
        let wait = pacer
            .admit("t")
            .await
            .expect_err("the next slot is 500 ms away");
        assert!(wait > Duration::from_millis(400) && wait <= Duration::from_millis(500));
    }

    #[tokio::test]
    async fn calls_waiting_on_a_token_count_against_the_wait() {
        // 10 a second: one call now, then one every 100 ms. With 250 ms allowed, the calls
        // behind two waiting ones are told to come back instead of waiting too.
        let pacer = std::sync::Arc::new(Pacer::new(10));
        pacer.admit("t").await.expect("first call");
        let calls: Vec<_> = (0..6)
            .map(|_| {
                let pacer = pacer.clone();
                tokio::spawn(async move { pacer.admit("t").await })
            })
            .collect();
        let mut admitted = 0;
        let mut deferred = Vec::new();
        for call in calls {
            match call.await.expect("joins") {
                Ok(()) => admitted += 1,
                Err(wait) => deferred.push(wait),
            }
        }
        assert!((1..=3).contains(&admitted), "{admitted} waited their turn");
        assert!(deferred.iter().all(|w| *w > Duration::from_millis(250)));
    }

    #[tokio::test]
    async fn zero_switches_pacing_off() {
        let pacer = Pacer::new(0);
        for _ in 0..100 {
            pacer.admit("t").await.expect("never held");
        }
    }
}
