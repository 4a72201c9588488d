//! Announcing post events to the workspace's outbound webhooks. Called inside the transaction
//! that moves the post, so the state change and its deliveries commit together: no event is
//! lost to a crash after the commit, and none is sent for a change that rolled back.

use pressroom_core::{JobKind, PostEvent, PostState, WorkspaceId};
use pressroom_store::entity::post;
use pressroom_store::repo::webhook_endpoints;
use pressroom_store::{ClaimedJob, NewJob, StoreError, Tx};
use serde_json::json;
use tracing::debug;

use super::Pipeline;

/// What the post became, beyond its stored row (which the same transaction is changing).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Outcome<'a> {
    pub remote_id: Option<&'a str>,
    pub url: Option<&'a str>,
    pub reason: Option<&'a str>,
}

/// Enqueues one `notify` job per enabled endpoint of the post's workspace that subscribed to
/// the event `state` announces. The event id comes from the publish job, which settles its
/// post once, so a replayed job cannot announce the same event twice (the unique key makes the
/// insert a no-op); a later retry of the post is a new job and a new event.
pub(super) async fn announce(
    p: &Pipeline,
    conn: &Tx,
    job: &ClaimedJob,
    post: &post::Model,
    state: PostState,
    now_ms: i64,
    outcome: Outcome<'_>,
) -> Result<usize, StoreError> {
    let Some(event) = PostEvent::for_state(state) else {
        return Ok(0);
    };
    let event_id = format!("evt_{}", job.id.replace('-', ""));
    let body = body(post, event, state, now_ms, outcome);
    let enqueued = fan_out(p, conn, &post.workspace_id, event, &event_id, &body).await?;
    debug!(post = %post.id, event = event.as_str(), endpoints = enqueued, "webhooks: event queued");
    Ok(enqueued)
}

/// Enqueues a run event (`run.awaiting_review`, `run.approved`, ...) with `data`; `event_id`
/// names the occurrence, so announcing it again is a no-op.
pub(super) async fn announce_run(
    p: &Pipeline,
    conn: &Tx,
    workspace_id: &WorkspaceId,
    event: PostEvent,
    event_id: &str,
    now_ms: i64,
    data: serde_json::Value,
) -> Result<usize, StoreError> {
    let timestamp = timestamp(now_ms);
    let body = json!({ "type": event.as_str(), "timestamp": timestamp, "data": data });
    let enqueued = fan_out(p, conn, workspace_id, event, event_id, &body).await?;
    debug!(
        event = event.as_str(),
        endpoints = enqueued,
        "webhooks: run event queued"
    );
    Ok(enqueued)
}

/// One `notify` job per enabled endpoint of the workspace subscribed to `event`.
async fn fan_out(
    p: &Pipeline,
    conn: &Tx,
    workspace_id: &WorkspaceId,
    event: PostEvent,
    event_id: &str,
    body: &serde_json::Value,
) -> Result<usize, StoreError> {
    let endpoints = webhook_endpoints::subscribed(conn, workspace_id, event).await?;
    let mut enqueued = 0;
    for endpoint in &endpoints {
        let payload = json!({
            "endpoint_id": endpoint.id,
            "event_id": event_id,
            "body": body,
        });
        let job = NewJob::new(workspace_id, JobKind::Notify, payload)
            .unique(format!("notify:{}:{event_id}", endpoint.id))
            .max_attempts(p.outbound_config.max_attempts);
        if p.queue.enqueue(conn, job).await? {
            enqueued += 1;
        }
    }
    Ok(enqueued)
}

/// An event's `timestamp`: RFC 3339 with milliseconds, UTC.
fn timestamp(now_ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(now_ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// The Standard Webhooks payload shape: `type`, `timestamp`, `data`.
fn body(
    post: &post::Model,
    event: PostEvent,
    state: PostState,
    now_ms: i64,
    outcome: Outcome<'_>,
) -> serde_json::Value {
    let timestamp = timestamp(now_ms);
    json!({
        "type": event.as_str(),
        "timestamp": timestamp,
        "data": {
            "workspace_id": post.workspace_id,
            "post_id": post.id,
            "run_id": post.run_id,
            "account_id": post.account_id,
            "platform": post.platform,
            "preset": post.preset,
            "state": state.as_str(),
            "remote_id": outcome.remote_id.or(post.remote_id.as_deref()),
            "url": outcome.url.or(post.url.as_deref()),
            "error": outcome.reason,
        },
    })
}
