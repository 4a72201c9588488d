//! Review: the durable half of the approval gate. `deadline` expires a review nobody decided
//! in time (per the campaign's `on_expiry`); `carry_out` acts on a decision — cuts the chosen
//! candidate for every preset and moves the posts on (the render jobs do both), or cancels
//! the posts — and announces it to the outbound webhooks; `email` mails each approver a
//! review link of their own. All are safe to replay (a replayed `email` may mail twice).

use pressroom_core::campaign::OnExpiry;
use pressroom_core::{PostEvent, PostState, ReviewId, ReviewState, RunState};
use pressroom_store::repo::{campaigns, posts, reviews, runs};
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
    if step == "email" {
        return email_approvers(p, job, &review, &spec).await;
    }
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
                // A deleted campaign publishes nothing, whatever was decided before.
                Gate::Approved(_) if campaign.deleted_at.is_some() => {}
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
                    // A run whose every image the safety checker withheld has no posts and
                    // no image: it ends here, failed with the reason, instead of queued.
                    let run = runs::get(&tx, ws, &review.run_id).await?;
                    if run.state == RunState::Queued {
                        runs::set_failed(&p.store, &tx, now, ws, &review.run_id, &reason).await?;
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

/// Mails a review link to each approver: the campaign's named approvers, else the workspace's
/// members who may decide. Links are stored (hashed) before any mail leaves; a retry after a
/// failed send mints new ones.
async fn email_approvers(
    p: &Pipeline,
    job: &ClaimedJob,
    review: &pressroom_store::entity::review::Model,
    spec: &pressroom_core::campaign::CampaignSpec,
) -> Result<(), JobError> {
    let Some(mailer) = p.mailer.clone() else {
        return super::complete(p, job).await;
    };
    if review.state != ReviewState::Pending {
        return super::complete(p, job).await;
    }
    let ws = &review.workspace_id;
    let named = spec
        .approval
        .as_ref()
        .map(|a| a.approvers.clone())
        .unwrap_or_default();
    let recipients: Vec<String> = if named.is_empty() {
        pressroom_store::repo::people::members(&p.store, ws)
            .await?
            .into_iter()
            .filter(|m| m.role != "viewer")
            .map(|m| m.email)
            .collect()
    } else {
        named
    };
    if recipients.is_empty() {
        info!(review = %review.id, "review: no approver to mail");
        return super::complete(p, job).await;
    }
    let now = p.store.now_ms().await?;
    let mut links = Vec::new();
    let tx = p.store.begin().await?;
    for to in &recipients {
        let (token, hash) = pressroom_crypto::password::new_token();
        reviews::insert_link(
            &p.store,
            &tx,
            now,
            reviews::NewLink {
                workspace_id: ws,
                review_id: &review.id,
                token_hash: &hash,
                created_by: &format!("email:{to}"),
                expires_at: review.deadline_at.max(now + 3_600_000),
            },
        )
        .await?;
        links.push((to.clone(), token));
    }
    tx.commit().await?;
    let deadline = chrono::DateTime::from_timestamp_millis(review.deadline_at)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    let after = match spec.approval.as_ref().map(|a| a.on_expiry) {
        Some(OnExpiry::Publish) => "published as first proposed",
        _ => "discarded",
    };
    let withheld = reviews::flags(review)?.len();
    let candidates = reviews::candidates(review)?.len();
    let safety = match (withheld, candidates) {
        (0, _) => String::new(),
        (n, 0) => format!(
            "The image safety checker withheld {n} image(s) of this round, so there is \
             nothing to approve: ask for new images, or reject.\n\n"
        ),
        (n, _) => {
            format!("The image safety checker withheld {n} more image(s); they are not shown.\n\n")
        }
    };
    for (to, token) in links {
        use secrecy::ExposeSecret;
        let url = format!("{}/review/{}", p.public_base, token.expose_secret());
        let body = format!(
            "A post of the campaign \"{}\" is waiting for your approval.\n\n{safety}\
             Review it here (no account needed; the link is yours alone):\n{url}\n\n\
             Decide before {deadline}; after that it is {after}.\n",
            spec.name,
        );
        let subject = format!("Approval needed: {}", spec.name);
        if let Err(e) = mailer.send(&to, &subject, &body).await {
            return Err(JobError::retry(format!("mailing {to}: {e}")));
        }
    }
    info!(review = %review.id, recipients = recipients.len(), "review: approvers mailed");
    super::complete(p, job).await
}
