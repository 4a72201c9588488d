//! What each post achieved, fetched back from its platform (PLATFORMS.md §9): one normalised
//! set of metrics for every platform, with the platform's own answer kept beside it.
//!
//! "Not measured" and "measured zero" are different facts: a metric the platform does not have,
//! or did not answer yet, is `None` (and left out of JSON), never `0`.

use chrono::{DateTime, Utc};
use pressroom_core::PostFormat;
use serde::{Deserialize, Serialize};

use crate::{AccountRef, Credentials};

/// The normalised metrics, named the same for every platform.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostMetrics {
    /// Times the post was shown (Meta's `views`/`post_media_view`, LinkedIn impressions,
    /// TikTok `view_count`, Snapchat `VIEWS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub views: Option<u64>,
    /// Distinct accounts that saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reach: Option<u64>,
    /// Likes or reactions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub likes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comments: Option<u64>,
    /// Shares, reshares, reposts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shares: Option<u64>,
    /// Saves (Instagram's `saved`, LinkedIn's `POST_SAVE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saves: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clicks: Option<u64>,
}

impl PostMetrics {
    /// The metric names, in the order reports show them.
    pub const NAMES: [&'static str; 7] = [
        "views", "reach", "likes", "comments", "shares", "saves", "clicks",
    ];

    /// The metric called `name` (one of [`Self::NAMES`]); `None` when unmeasured or unknown.
    pub fn get(&self, name: &str) -> Option<u64> {
        match name {
            "views" => self.views,
            "reach" => self.reach,
            "likes" => self.likes,
            "comments" => self.comments,
            "shares" => self.shares,
            "saves" => self.saves,
            "clicks" => self.clicks,
            _ => None,
        }
    }

    /// A mutable slot for `name`, for parsers that map platform names onto ours.
    pub fn slot(&mut self, name: &str) -> Option<&mut Option<u64>> {
        match name {
            "views" => Some(&mut self.views),
            "reach" => Some(&mut self.reach),
            "likes" => Some(&mut self.likes),
            "comments" => Some(&mut self.comments),
            "shares" => Some(&mut self.shares),
            "saves" => Some(&mut self.saves),
            "clicks" => Some(&mut self.clicks),
            _ => None,
        }
    }

    /// The measured metrics, in [`Self::NAMES`] order.
    pub fn measured(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Self::NAMES
            .into_iter()
            .filter_map(|n| self.get(n).map(|v| (n, v)))
    }

    /// True when no metric was measured.
    pub fn is_empty(&self) -> bool {
        self.measured().next().is_none()
    }
}

/// The account whose posts are measured, with its credentials.
#[derive(Clone, Debug)]
pub struct MetricsCtx {
    pub account: AccountRef,
    pub credentials: Credentials,
}

/// One post to measure.
#[derive(Clone, Debug)]
pub struct MetricsQuery {
    /// What `commit` (or reconcile) answered as the post's id.
    pub remote_id: String,
    /// The id the platform's metrics API knows the post by, when an earlier fetch resolved one
    /// (TikTok's public post id: its publish handle cannot be queried).
    pub metrics_id: Option<String>,
    pub format: PostFormat,
    pub published_at: DateTime<Utc>,
    /// The publish attempt's checkpoint (ids of containers, children, uploads).
    pub checkpoint: Option<serde_json::Value>,
}

impl MetricsQuery {
    /// Whether the post went out as a story: its format, or a checkpoint that says
    /// `"story": true` (posts stored before formats were recorded).
    pub fn is_story(&self) -> bool {
        self.format == PostFormat::Story
            || self
                .checkpoint
                .as_ref()
                .and_then(|c| c.get("story"))
                .and_then(serde_json::Value::as_bool)
                == Some(true)
    }

    /// "Nothing yet" for this post, keeping the metrics id an earlier fetch resolved.
    pub fn not_yet(&self, reason: impl Into<String>, raw: serde_json::Value) -> MetricsAnswer {
        MetricsAnswer::NotYet {
            reason: reason.into(),
            raw,
            metrics_id: self.metrics_id.clone(),
        }
    }
}

/// What the platform said about one post.
#[derive(Clone, Debug, PartialEq)]
pub enum MetricsAnswer {
    /// Numbers: the normalised set (a metric the platform lacks is `None`) and the raw answer.
    Measured {
        metrics: PostMetrics,
        raw: serde_json::Value,
        /// The id the metrics API knows the post by, when it was resolved by this fetch.
        metrics_id: Option<String>,
    },
    /// Nothing to report yet (empty data, an absent element, a processing delay, too few
    /// viewers): not zero, and not an error. `reason` says which.
    NotYet {
        reason: String,
        raw: serde_json::Value,
        metrics_id: Option<String>,
    },
    /// The platform no longer has the post (deleted there); its earlier numbers stay ours.
    Gone,
}

/// The answer to one [`crate::Connector::fetch_metrics`] call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricsReport {
    /// One answer per query, in the order asked.
    pub answers: Vec<MetricsAnswer>,
    /// Metric names the platform refused as unknown (Meta's #100 after a rename): skipped,
    /// logged once by the runtime, never fatal.
    pub unknown_metrics: Vec<String>,
    /// Set when the account may not read insights at all: what a person must do, e.g.
    /// "reconnect with the read_insights permission". The answers are then `NotYet`.
    pub unavailable: Option<String>,
}

impl MetricsReport {
    /// A report where the account lacks the permission: every query answered `NotYet`.
    pub fn unavailable(queries: &[MetricsQuery], why: impl Into<String>) -> Self {
        let why = why.into();
        Self {
            answers: queries
                .iter()
                .map(|q| MetricsAnswer::NotYet {
                    reason: why.clone(),
                    raw: serde_json::Value::Null,
                    metrics_id: q.metrics_id.clone(),
                })
                .collect(),
            unknown_metrics: Vec::new(),
            unavailable: Some(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmeasured_metrics_are_left_out_not_zero() {
        let m = PostMetrics {
            views: Some(10),
            likes: Some(0),
            ..Default::default()
        };
        let json = serde_json::to_value(&m).expect("valid");
        assert_eq!(json, serde_json::json!({"views": 10, "likes": 0}));
        assert_eq!(
            m.measured().collect::<Vec<_>>(),
            vec![("views", 10), ("likes", 0)]
        );
        assert!(PostMetrics::default().is_empty());
        let back: PostMetrics = serde_json::from_value(json).expect("valid");
        assert_eq!(back, m);
        for name in PostMetrics::NAMES {
            assert!(
                PostMetrics::default().clone().slot(name).is_some(),
                "{name}"
            );
        }
    }
}
