//! The approval gate's decisions: approve (with the chosen candidate and caption edits),
//! reject, reject and regenerate. One path for the API, the review-link page and the CLI.
//!
//! A decision is one transaction: the review moves from `pending` (compare-and-set, so the
//! first decision stands), the run's image becomes the chosen candidate, the decision is
//! audited, and a `review` job is queued that carries it out (cuts the chosen candidate, moves
//! the posts on or cancels them, announces the event). Nothing waits in memory: a daemon
//! killed right after the commit finishes the work after a restart.

use std::collections::BTreeMap;

use pressroom_core::campaign::{CampaignSpec, OnExpiry};
use pressroom_core::{AssetId, JobKind, ReviewId, ReviewState, RunId, WorkspaceId};
use pressroom_store::entity::review;
use pressroom_store::repo::{audit, campaigns, reviews, runs};
use pressroom_store::{NewJob, Queue, Store, StoreError, Tx};
use serde::{Deserialize, Serialize};

use crate::campaigns::stored_spec;

/// Who decided.
#[derive(Clone, Debug)]
pub enum Decider {
    /// A signed-in person.
    Person { email: String },
    /// An API key (only when the campaign names no approvers).
    Key { id: String },
    /// A review link; the name the reviewer typed, if any.
    Link { id: String, name: Option<String> },
    /// Someone at the daemon's command line (only when the campaign names no approvers).
    Operator,
}

impl Decider {
    /// As stored in `decided_by` and the audit log.
    pub fn label(&self) -> String {
        match self {
            Self::Person { email } => format!("user:{email}"),
            Self::Key { id } => format!("key:{id}"),
            Self::Link {
                id,
                name: Some(name),
            } => format!("link:{id} ({name})"),
            Self::Link { id, name: None } => format!("link:{id}"),
            Self::Operator => "cli".to_owned(),
        }
    }
}

/// What was decided, as stored with the review.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The chosen candidate (0-based), when something is to be published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_id: Option<AssetId>,
    /// Caption edits by target key (`ACCOUNT:PRESET`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub captions: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Set when nobody decided in time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_expiry: Option<OnExpiry>,
}

impl Decision {
    /// The stored decision of a review, if decided.
    pub fn of(row: &review::Model) -> Option<Decision> {
        row.decision
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
    }
}

/// Whether a run's posts may publish, wait, or never will.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gate {
    /// No review: publish as soon as rendered.
    Open,
    /// Waiting for a decision.
    Waiting,
    /// Approved (or expired with `on_expiry = "publish"`): publish with these caption edits.
    Approved(BTreeMap<String, String>),
    /// Rejected or expired and discarded: the posts are cancelled with this reason.
    Closed(String),
}

impl Gate {
    pub fn of(review: Option<&review::Model>) -> Gate {
        let Some(review) = review else {
            return Gate::Open;
        };
        let decision = Decision::of(review).unwrap_or_default();
        match review.state {
            ReviewState::Pending => Gate::Waiting,
            ReviewState::Approved => Gate::Approved(decision.captions),
            ReviewState::Expired if decision.candidate.is_some() => {
                Gate::Approved(decision.captions)
            }
            ReviewState::Expired => Gate::Closed("the review expired undecided".into()),
            ReviewState::Rejected => Gate::Closed(match decision.reason {
                Some(reason) if !reason.is_empty() => format!("rejected in review: {reason}"),
                _ => "rejected in review".into(),
            }),
        }
    }
}

/// The key a target's caption edit is given under.
pub fn target_key(account: &str, preset: &str) -> String {
    format!("{account}:{preset}")
}

/// Why a decision was refused; nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    #[error("review {0} not found")]
    NotFound(String),
    #[error("the review was already decided: it is {0}")]
    Decided(ReviewState),
    #[error("the candidates are still being generated; try again shortly")]
    NotReady,
    #[error(
        "nothing to approve: the image safety checker withheld this round's images; \
         reject, or reject and make new images"
    )]
    AllFlagged,
    #[error(
        "round: new candidates replaced the ones you saw (round {seen}, now {now}); look again"
    )]
    Stale { seen: i32, now: i32 },
    #[error("candidate: {index} is not one of the {count} candidates (0-based)")]
    NoSuchCandidate { index: u32, count: usize },
    #[error("captions: `{0}` is not a target of this campaign (expected ACCOUNT:PRESET)")]
    NoSuchTarget(String),
    #[error("captions: `{key}` is {len} characters; at most {max}")]
    CaptionTooLong { key: String, len: usize, max: usize },
    #[error("reason: at most {max} characters")]
    ReasonTooLong { max: usize },
    #[error("this campaign names its approvers; {0} is not one of them")]
    NotAnApprover(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Longest caption edit accepted (the strictest platform check runs at publish).
pub const MAX_CAPTION_CHARS: usize = 10_000;
/// Longest rejection reason kept.
pub const MAX_REASON_CHARS: usize = 2_000;

/// Whether `decider` may decide reviews of `spec`: when the campaign names approvers, only
/// those people and review links (a link is minted by an editor for its holder) may.
pub fn may_decide(spec: &CampaignSpec, decider: &Decider) -> Result<(), DecideError> {
    let approvers = spec
        .approval
        .as_ref()
        .map(|a| a.approvers.as_slice())
        .unwrap_or_default();
    if approvers.is_empty() {
        return Ok(());
    }
    match decider {
        Decider::Link { .. } => Ok(()),
        Decider::Person { email } if approvers.contains(&email.to_lowercase()) => Ok(()),
        other => Err(DecideError::NotAnApprover(other.label())),
    }
}

/// The review and its run's campaign spec, for a decision. Read before the decision's
/// transaction (on a connection of their own): the decision itself is a compare-and-set, so a
/// review that changed in between is refused there.
async fn load(
    store: &Store,
    ws: &WorkspaceId,
    id: &ReviewId,
    seen_round: Option<i32>,
) -> Result<(review::Model, CampaignSpec), DecideError> {
    let row = match reviews::get(store.conn(), ws, id).await {
        Ok(row) => row,
        Err(StoreError::NotFound { .. }) => return Err(DecideError::NotFound(id.to_string())),
        Err(e) => return Err(e.into()),
    };
    let campaign = campaigns::get(store, ws, &row.campaign_id).await?;
    let spec = stored_spec(&campaign).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    if row.state != ReviewState::Pending {
        return Err(DecideError::Decided(row.state));
    }
    if let Some(seen) = seen_round
        && seen != row.round
    {
        return Err(DecideError::Stale {
            seen,
            now: row.round,
        });
    }
    Ok((row, spec))
}

/// Approves a pending review with candidate `candidate` and optional caption edits.
/// `seen_round` is the round of candidates the reviewer looked at, when known: a decision
/// about candidates that were since replaced is refused.
#[allow(clippy::too_many_arguments)]
pub async fn approve(
    store: &Store,
    queue: &Queue,
    ws: &WorkspaceId,
    id: &ReviewId,
    decider: &Decider,
    candidate: u32,
    captions: BTreeMap<String, String>,
    seen_round: Option<i32>,
) -> Result<review::Model, DecideError> {
    let (row, spec) = load(store, ws, id, seen_round).await?;
    may_decide(&spec, decider)?;
    let candidates = reviews::candidates(&row)?;
    if candidates.is_empty() {
        return Err(if reviews::round_ready(&row)? {
            DecideError::AllFlagged
        } else {
            DecideError::NotReady
        });
    }
    let asset =
        candidates
            .get(candidate as usize)
            .cloned()
            .ok_or(DecideError::NoSuchCandidate {
                index: candidate,
                count: candidates.len(),
            })?;
    for (key, text) in &captions {
        let known = spec
            .targets
            .iter()
            .any(|t| &target_key(&t.account, &t.preset) == key);
        if !known {
            return Err(DecideError::NoSuchTarget(key.clone()));
        }
        let len = text.chars().count();
        if len > MAX_CAPTION_CHARS {
            return Err(DecideError::CaptionTooLong {
                key: key.clone(),
                len,
                max: MAX_CAPTION_CHARS,
            });
        }
    }
    let decision = Decision {
        candidate: Some(candidate),
        asset_id: Some(asset.clone()),
        captions,
        ..Default::default()
    };
    let now = store.now_ms().await?;
    let tx = store.begin().await?;
    let decided = decide(
        store,
        queue,
        &tx,
        now,
        &row,
        ReviewState::Approved,
        &decision,
        &decider.label(),
    )
    .await?;
    if !decided {
        // Someone decided (or asked for new candidates) since it was read: theirs stands.
        return Err(lost(store, tx, ws, id, row.round).await);
    }
    // In the decision's transaction: a render job that sees the review approved sees the
    // chosen image too.
    runs::set_asset(store, &tx, now, ws, &row.run_id, &asset).await?;
    tx.commit().await?;
    Ok(reviews::get(store.conn(), ws, id).await?)
}

/// A decision that lost its compare-and-set: rolls its transaction back and says why (the
/// review was decided, is regenerating, or moved past the round `seen` that was read).
async fn lost(store: &Store, tx: Tx, ws: &WorkspaceId, id: &ReviewId, seen: i32) -> DecideError {
    if let Err(e) = tx.rollback().await {
        return e.into();
    }
    match reviews::get(store.conn(), ws, id).await {
        Ok(r) if r.state != ReviewState::Pending => DecideError::Decided(r.state),
        Ok(r) if !reviews::round_ready(&r).unwrap_or(false) => DecideError::NotReady,
        Ok(r) => DecideError::Stale { seen, now: r.round },
        Err(e) => e.into(),
    }
}

/// Rejects a pending review. With `regenerate`, the review stays pending and new candidates
/// (new seeds) are generated for it instead.
#[allow(clippy::too_many_arguments)]
pub async fn reject(
    store: &Store,
    queue: &Queue,
    ws: &WorkspaceId,
    id: &ReviewId,
    decider: &Decider,
    reason: &str,
    regenerate: bool,
    seen_round: Option<i32>,
) -> Result<review::Model, DecideError> {
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(DecideError::ReasonTooLong {
            max: MAX_REASON_CHARS,
        });
    }
    let (row, spec) = load(store, ws, id, seen_round).await?;
    may_decide(&spec, decider)?;
    if regenerate && !reviews::round_ready(&row)? {
        // Already regenerating: a second request must not skip a round.
        return Err(DecideError::NotReady);
    }
    let now = store.now_ms().await?;
    let tx = store.begin().await?;
    if regenerate {
        let Some(round) = reviews::next_round(store, &tx, now, ws, id, row.round).await? else {
            return Err(lost(store, tx, ws, id, row.round).await);
        };
        enqueue_generate(queue, &tx, ws, &row.run_id, round).await?;
        audit::record(
            &tx,
            now,
            ws,
            &decider.label(),
            "review.regenerate",
            id.as_ref(),
            serde_json::json!({ "reason": reason, "round": round }),
        )
        .await?;
    } else {
        let decision = Decision {
            reason: Some(reason.to_owned()),
            ..Default::default()
        };
        let decided = decide(
            store,
            queue,
            &tx,
            now,
            &row,
            ReviewState::Rejected,
            &decision,
            &decider.label(),
        )
        .await?;
        if !decided {
            return Err(lost(store, tx, ws, id, row.round).await);
        }
    }
    tx.commit().await?;
    Ok(reviews::get(store.conn(), ws, id).await?)
}

/// Expires a review still pending at its deadline (the `review` job calls it, in its
/// transaction). Returns whether it expired it; a review decided meanwhile is left alone.
pub async fn expire(
    store: &Store,
    queue: &Queue,
    tx: &Tx,
    now: i64,
    row: &review::Model,
    on_expiry: OnExpiry,
) -> Result<bool, StoreError> {
    let candidates = reviews::candidates(row)?;
    let decision = match (on_expiry, candidates.first()) {
        (OnExpiry::Publish, Some(first)) => Decision {
            candidate: Some(0),
            asset_id: Some(first.clone()),
            on_expiry: Some(on_expiry),
            ..Default::default()
        },
        // Nothing to publish yet (still regenerating): expiring discards.
        _ => Decision {
            on_expiry: Some(on_expiry),
            ..Default::default()
        },
    };
    let expired = decide(
        store,
        queue,
        tx,
        now,
        row,
        ReviewState::Expired,
        &decision,
        "expiry",
    )
    .await?;
    if expired && let Some(asset) = &decision.asset_id {
        runs::set_asset(store, tx, now, &row.workspace_id, &row.run_id, asset).await?;
    }
    Ok(expired)
}

/// The compare-and-set, its audit entry and the job that carries the decision out.
#[allow(clippy::too_many_arguments)]
async fn decide(
    store: &Store,
    queue: &Queue,
    tx: &Tx,
    now: i64,
    row: &review::Model,
    to: ReviewState,
    decision: &Decision,
    by: &str,
) -> Result<bool, StoreError> {
    let body = serde_json::to_value(decision)
        .map_err(|e| StoreError::Corrupt(format!("review decision: {e}")))?;
    let ws = &row.workspace_id;
    if !reviews::decide(store, tx, now, ws, &row.id, row.round, to, &body, by).await? {
        return Ok(false);
    }
    audit::record(
        tx,
        now,
        ws,
        by,
        &format!("review.{}", to.as_str()),
        row.id.as_ref(),
        body,
    )
    .await?;
    queue
        .enqueue(
            tx,
            NewJob::new(
                ws,
                JobKind::Review,
                serde_json::json!({ "review_id": row.id, "step": "carry_out" }),
            )
            .unique(format!("review:{}:carry_out", row.id)),
        )
        .await?;
    Ok(true)
}

/// Queues the generate job of a review's round (round 0 is the run's first generate job).
pub async fn enqueue_generate(
    queue: &Queue,
    tx: &Tx,
    ws: &WorkspaceId,
    run_id: &RunId,
    round: i32,
) -> Result<bool, StoreError> {
    queue
        .enqueue(
            tx,
            NewJob::new(
                ws,
                JobKind::Generate,
                serde_json::json!({ "run_id": run_id, "round": round }),
            )
            .unique(format!("generate:{run_id}:r{round}"))
            .max_attempts(5),
        )
        .await
}
