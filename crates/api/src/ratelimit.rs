//! Token buckets per API key and per client address (OWASP API4: unrestricted resource
//! consumption). In memory, per instance: with N instances a key gets up to N times the rate,
//! which is an accepted bound.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Requests per second and burst per API key.
#[derive(Clone, Copy, Debug)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: f64,
}

impl RateLimit {
    /// Routes without an API key, per client address: health checks and scrapes, CMS
    /// webhooks, platforms fetching media links.
    pub const PER_IP: RateLimit = RateLimit {
        per_second: 20.0,
        burst: 100.0,
    };
    /// Failed authentications per client address: a few typos pass, a key-guessing flood
    /// does not.
    /// Failed sign-ins to one account: five, then one a minute (an online guesser gets
    /// about 1,440 tries a day, whatever addresses it comes from).
    pub const SIGN_IN_FAILURES: RateLimit = RateLimit {
        per_second: 1.0 / 60.0,
        burst: 5.0,
    };
    pub const AUTH_FAILURES: RateLimit = RateLimit {
        per_second: 1.0,
        burst: 10.0,
    };
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            per_second: 50.0,
            burst: 100.0,
        }
    }
}

/// Hard bound on the buckets held at once.
const MAX_BUCKETS: usize = 100_000;

/// The bucket key of a client address. An IPv6 client usually holds a whole /64, so the
/// bucket is the /64; an IPv4-mapped address is its IPv4 address.
pub(crate) fn ip_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

#[derive(Debug)]
pub(crate) struct Limiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Limiter {
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key`, or says how long until one is available.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        self.take(key, 1.0)
    }

    /// Says whether `key` has a token left, without taking it.
    pub fn peek(&self, key: &str) -> Result<(), Duration> {
        self.take(key, 0.0)
    }

    fn take(&self, key: &str, cost: f64) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Bound memory: forget full buckets when the map grows (revoked or idle keys).
        if buckets.len() > 10_000 {
            let (rate, burst) = (self.limit.per_second, self.limit.burst);
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < burst
            });
            // Still too many (a flood from many addresses): start over rather than grow.
            if buckets.len() > MAX_BUCKETS {
                buckets.clear();
            }
        }
        let (tokens, at) = buckets
            .entry(key.to_string())
            .or_insert((self.limit.burst, now));
        let refill = now.duration_since(*at).as_secs_f64() * self.limit.per_second;
        *tokens = (*tokens + refill).min(self.limit.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= cost;
            Ok(())
        } else {
            let missing = 1.0 - *tokens;
            Err(Duration::from_secs_f64(
                missing / self.limit.per_second.max(0.001),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refusal_with_a_wait() {
        let l = Limiter::new(RateLimit {
            per_second: 1.0,
            burst: 3.0,
        });
        for _ in 0..3 {
            assert!(l.check("k").is_ok());
        }
        let wait = l.check("k").expect_err("over the burst");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1));
        assert!(l.check("other").is_ok(), "buckets are per key");
    }

    #[test]
    fn peek_takes_nothing() {
        let l = Limiter::new(RateLimit {
            per_second: 0.001,
            burst: 1.0,
        });
        assert!(l.peek("k").is_ok());
        assert!(l.peek("k").is_ok());
        assert!(l.check("k").is_ok());
        assert!(l.peek("k").is_err());
    }

    #[test]
    fn ipv6_clients_share_their_slash_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(ip_key(a), ip_key(b));
        assert_ne!(ip_key(a), ip_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("ip");
        assert_eq!(ip_key(mapped), "192.0.2.7");
    }
}
