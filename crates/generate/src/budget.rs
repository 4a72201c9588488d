//! Compute budgets for on-demand generation, in pixel-steps (width × height × steps, summed
//! over the images of a request): a cap per request, and a cap per workspace per UTC day.
//!
//! The daily count lives in memory, not in the database: it sheds load rather than bills, so
//! a restart that forgets it grants at most one extra day's budget, and keeping it here needs
//! no schema change or write per request. One daemon serves a database, so one count is
//! authoritative.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Deserialize;

const DAY_MS: i64 = 86_400_000;

/// The limits (`images.*` in the config). Zero turns a limit off.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetConfig {
    /// Most pixel-steps one request may ask for (n × width × height × steps).
    pub max_pixel_steps_per_request: u64,
    /// Pixel-steps each workspace may spend per UTC day.
    pub daily_pixel_steps_per_workspace: u64,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            // Four 512² images at 100 steps, or one 1024² image at 100 steps.
            max_pixel_steps_per_request: 4 * 512 * 512 * 100,
            // About 600 images of 512² at 30 steps.
            daily_pixel_steps_per_workspace: 5_000_000_000,
        }
    }
}

/// Why a request was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BudgetError {
    #[error(
        "the request costs {cost} pixel-steps (n × width × height × steps), over the limit {limit} (images.max_pixel_steps_per_request)"
    )]
    RequestTooLarge { cost: u64, limit: u64 },
    #[error(
        "the workspace's daily budget of {limit} pixel-steps (images.daily_pixel_steps_per_workspace) is spent ({spent} used, this request needs {cost})"
    )]
    DailyBudgetSpent {
        cost: u64,
        spent: u64,
        limit: u64,
        /// Milliseconds until the budget renews (00:00 UTC).
        renews_in_ms: i64,
    },
}

/// The cost of `n` images of `width` × `height` at `steps` (saturating: a huge request is
/// simply over any limit).
pub fn pixel_steps(n: u32, width: u32, height: u32, steps: u32) -> u64 {
    [n, width, height, steps]
        .iter()
        .fold(1u64, |acc, &x| acc.saturating_mul(u64::from(x)))
}

/// The limits plus each workspace's spending today.
#[derive(Debug, Default)]
pub struct Budget {
    config: BudgetConfig,
    /// workspace → (UTC day number, pixel-steps spent that day).
    spent: Mutex<HashMap<String, (i64, u64)>>,
}

impl Budget {
    pub fn new(config: BudgetConfig) -> Self {
        Self {
            config,
            spent: Mutex::default(),
        }
    }

    pub fn config(&self) -> BudgetConfig {
        self.config
    }

    /// Checks the per-request cap, then charges `cost` to the workspace's day (at `now_ms`,
    /// Unix milliseconds) if it fits. Refund with [`Budget::refund`] when no work was done.
    pub fn charge(&self, workspace: &str, cost: u64, now_ms: i64) -> Result<(), BudgetError> {
        let max = self.config.max_pixel_steps_per_request;
        if max > 0 && cost > max {
            return Err(BudgetError::RequestTooLarge { cost, limit: max });
        }
        let limit = self.config.daily_pixel_steps_per_workspace;
        if limit == 0 {
            return Ok(());
        }
        let day = now_ms.div_euclid(DAY_MS);
        let mut map = self
            .spent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Yesterday's counts are of no further use.
        map.retain(|_, (d, _)| *d == day);
        let spent = map.entry(workspace.to_string()).or_insert((day, 0));
        if spent.1.saturating_add(cost) > limit {
            return Err(BudgetError::DailyBudgetSpent {
                cost,
                spent: spent.1,
                limit,
                renews_in_ms: (day + 1) * DAY_MS - now_ms,
            });
        }
        spent.1 += cost;
        Ok(())
    }

    /// Gives back a charge made at `now_ms` whose work did not happen (the same day only).
    pub fn refund(&self, workspace: &str, cost: u64, now_ms: i64) {
        let day = now_ms.div_euclid(DAY_MS);
        let mut map = self
            .spent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((d, spent)) = map.get_mut(workspace)
            && *d == day
        {
            *spent = spent.saturating_sub(cost);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(per_request: u64, daily: u64) -> Budget {
        Budget::new(BudgetConfig {
            max_pixel_steps_per_request: per_request,
            daily_pixel_steps_per_workspace: daily,
        })
    }

    #[test]
    fn the_issue_request_is_over_the_default_cap() {
        let cost = pixel_steps(4, 4096, 4096, 150);
        let err = Budget::new(BudgetConfig::default())
            .charge("ws", cost, 0)
            .expect_err("4096², 150 steps, n=4");
        assert!(matches!(err, BudgetError::RequestTooLarge { .. }));
        assert!(
            err.to_string()
                .contains("images.max_pixel_steps_per_request")
        );
        assert_eq!(
            pixel_steps(u32::MAX, u32::MAX, u32::MAX, u32::MAX),
            u64::MAX
        );
    }

    #[test]
    fn a_workspace_spends_its_day_then_waits_for_midnight() {
        let b = budget(0, 100);
        let noon = 10 * DAY_MS + DAY_MS / 2;
        b.charge("a", 60, noon).expect("first");
        let err = b.charge("a", 60, noon).expect_err("over the day");
        assert_eq!(
            err,
            BudgetError::DailyBudgetSpent {
                cost: 60,
                spent: 60,
                limit: 100,
                renews_in_ms: DAY_MS / 2
            }
        );
        b.charge("b", 60, noon)
            .expect("other workspaces have their own budget");
        b.refund("a", 60, noon);
        b.charge("a", 100, noon).expect("refunded");
        b.charge("a", 100, 11 * DAY_MS).expect("a new day");
    }
}
