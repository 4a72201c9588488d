//! Random failures for soak and end-to-end runs, one contract for every fake: each API call
//! (token endpoints excluded) may fail with the platform's 5xx, its rate-limit answer, or have
//! its answer lost. What a failure does on the platform's side is the fake's to decide, the way
//! the real platform does it (a Graph code 2 on a create sometimes creates the post anyway;
//! a lost answer always means the call was carried out and the answer never arrived).

use rand::{Rng, SeedableRng};

/// How often each failure happens, and the seed that makes a run replayable.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChaosRates {
    /// The platform's 5xx / service error.
    pub server_error: f64,
    /// The platform's throttle answer (429, its error code, its headers).
    pub rate_limit: f64,
    /// The call is carried out, then its answer is held past the connector's request timeout.
    pub lost_answer: f64,
    pub seed: u64,
}

impl ChaosRates {
    /// The rates issue #20 asks every connector to survive: 10 % 5xx, 5 % 429, 10 % lost.
    pub fn soak(seed: u64) -> Self {
        Self {
            server_error: 0.10,
            rate_limit: 0.05,
            lost_answer: 0.10,
            seed,
        }
    }

    /// No failures.
    pub fn off() -> Self {
        Self {
            server_error: 0.0,
            rate_limit: 0.0,
            lost_answer: 0.0,
            seed: 0,
        }
    }
}

/// What one call draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChaosRoll {
    ServerError,
    RateLimited,
    /// Carry the call out, then answer only after the connector has given up waiting.
    LoseAnswer,
}

/// How many failures of each kind were injected so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChaosCounts {
    pub server_errors: usize,
    pub rate_limits: usize,
    pub lost_answers: usize,
}

/// The seeded dice a fake keeps in its state.
pub struct Chaos {
    rates: ChaosRates,
    rng: rand::rngs::StdRng,
    counts: ChaosCounts,
}

impl Chaos {
    /// Chaos at these rates, or `None` (chaos off) when every rate is zero.
    pub fn new(rates: ChaosRates) -> Option<Self> {
        (rates.server_error > 0.0 || rates.rate_limit > 0.0 || rates.lost_answer > 0.0).then(|| {
            Self {
                rates,
                rng: rand::rngs::StdRng::seed_from_u64(rates.seed),
                counts: ChaosCounts::default(),
            }
        })
    }

    /// Draws for one call; `None` lets it through untouched.
    pub fn roll(&mut self) -> Option<ChaosRoll> {
        let x: f64 = self.rng.random();
        let r = self.rates;
        if x < r.server_error {
            self.counts.server_errors += 1;
            Some(ChaosRoll::ServerError)
        } else if x < r.server_error + r.rate_limit {
            self.counts.rate_limits += 1;
            Some(ChaosRoll::RateLimited)
        } else if x < r.server_error + r.rate_limit + r.lost_answer {
            self.counts.lost_answers += 1;
            Some(ChaosRoll::LoseAnswer)
        } else {
            None
        }
    }

    /// A second, independent draw with probability `p` (e.g. "this 5xx created the post
    /// anyway"), from the same seeded stream.
    pub fn chance(&mut self, p: f64) -> bool {
        self.rng.random::<f64>() < p
    }

    pub fn counts(&self) -> ChaosCounts {
        self.counts
    }
}

/// `counts` of an optional chaos (zero when off).
pub fn counts_of(chaos: Option<&Chaos>) -> ChaosCounts {
    chaos.map(Chaos::counts).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_is_none_and_rates_are_honoured() {
        assert!(Chaos::new(ChaosRates::off()).is_none());
        let Some(mut c) = Chaos::new(ChaosRates::soak(7)) else {
            panic!("soak rates are on");
        };
        for _ in 0..10_000 {
            c.roll();
        }
        let n = c.counts();
        // 10 % / 5 % / 10 % of 10,000 within a generous band.
        assert!((800..1200).contains(&n.server_errors), "{n:?}");
        assert!((350..650).contains(&n.rate_limits), "{n:?}");
        assert!((800..1200).contains(&n.lost_answers), "{n:?}");
    }

    #[test]
    fn the_same_seed_replays_the_same_run() {
        let draw = |seed| {
            let mut c = Chaos::new(ChaosRates::soak(seed)).expect("on");
            (0..200).map(|_| c.roll()).collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
    }
}
