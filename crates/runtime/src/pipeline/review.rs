//! Review: the durable half of the approval gate. `deadline` expires a review nobody decided
//! in time (per the campaign's `on_expiry`); `carry_out` acts on a decision — cuts the chosen
//! candidate for every preset and moves the posts on (the render jobs do both), or cancels
//! the posts — and announces it to the outbound webhooks. Both are safe to replay.

use pressroom_core::campaign::OnExpiry;
use pressroom_core::{PostEvent, PostState, ReviewId, ReviewState};
use pressroom_store::repo::{campaigns, posts, reviews};
use pressroom_store::{ClaimedJob, StoreError};
use serde::Deserialize;
use tracing::info;

use super::{JobError, Pipeline};
use crate::campaigns::stored_spec;
use crate::reviews::{Decision, Gate};

#[derive(Deserialize)]
struct Payload {
    review_id: ReviewId,
    step: String,
}

pub(super) async fn handle(p: &Pipeline, job: &ClaimedJob) -> Result<(), JobError> {
    let Payload { review_id, step } = job.payload()?;
    let ws = &job.workspace_id;
    let review = match reviews::get(p.store.conn(), ws, &review_id).await {
        Ok(review) => review,
        // Erased with its workspace's runs: nothing left to decide.
        Err(StoreError::NotFound { .. }) => return super::complete(p, job).await,
        Err(e) => return Err(e.into()),
    };
    let campaign = campaigns::get(&p.store, ws, &review.campaign_id).await?;
    let spec = stored_spec(&campaign).map_err(|e| JobError::Permanent(e.to_string()))?;
    let now = p.store.now_ms().await?;
    let tx = p.store.begin().await?;
    match step.as_str() {
        "deadline" => {
            if review.state == ReviewState::Pending {
                let on_expiry = spec
                    .approval
                    .as_ref()
                    .map_or(OnExpiry::Discard, |a| a.on_expiry);
                if crate::reviews::expire(&p.store, &p.queue, &tx, now, &review, on_expiry).await? {
                    info!(review = %review.id, run = %review.run_id, on_expiry = on_expiry.as_str(), "review: expired undecided");
                }
            }
        }
        "carry_out" => {
            match Gate::of(Some(&review)) {
                Gate::Approved(_) => {
                    super::generate::enqueue_renders(
                        p,
                        &tx,
                        ws,
                        &review.run_id,
                        &spec,
                        Some("decided"),
                    )
                    .await?;
                }
                Gate::Closed(reason) => {
                    for post in posts::of_run(&tx, ws, &review.run_id).await? {
                        posts::transition_post(
                            &p.store,
                            &tx,
                            now,
                            ws,
                            &post.id,
                            &[PostState::AwaitingReview],
                            PostState::Cancelled,
                            Some(&reason),
                        )
                        .await?;
                    }
                }
                Gate::Open | Gate::Waiting => {}
            }
            let event = match review.state {
                ReviewState::Approved => Some(PostEvent::RunApproved),
                ReviewState::Rejected => Some(PostEvent::RunRejected),
                ReviewState::Expired => Some(PostEvent::RunExpired),
                ReviewState::Pending => None,
            };
            if let Some(event) = event {
                let decision = Decision::of(&review).unwrap_or_default();
                let data = serde_json::json!({
                    "workspace_id": ws,
                    "review_id": review.id,
                    "run_id": review.run_id,
                    "campaign_id": review.campaign_id,
                    "campaign": spec.name,
                    "state": review.state.as_str(),
                    "decided_by": review.decided_by,
                    "decision": decision,
                });
                let event_id =
                    format!("evt_review_{}_decided", review.id.as_ref().replace('-', ""));
                super::events::announce_run(p, &tx, ws, event, &event_id, now, data).await?;
            }
            info!(review = %review.id, run = %review.run_id, state = review.state.as_str(), "review: decision carried out");
        }
        other => {
            return Err(JobError::Permanent(format!(
                "unknown review step {other:?}"
            )));
        }
    }
    p.queue.complete(&tx, job).await?;
    tx.commit().await?;
    Ok(())
}
