//! Fires: the only code that creates runs. Every path — cron tick, one-shot date, API call,
//! webhook, CLI — inserts `runs(campaign_id, fire_key)` with `ON CONFLICT DO NOTHING` and
//! enqueues the run's generate job in the same transaction, only when the row was inserted.

use std::time::Duration;

use chrono::{DateTime, Utc};
use pressroom_core::campaign::{CampaignSpec, parse_campaign};
use pressroom_core::schedule::{FireDecision, Schedule, fire_key, plan_fires};
use pressroom_core::{JobKind, RunId, WorkspaceId};
use pressroom_store::entity::campaign;
use pressroom_store::repo::{campaigns, runs};
use pressroom_store::{NewJob, Queue, Store, Tx};
use tracing::{info, warn};

use crate::Clock;

/// What one tick did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FireReport {
    /// Runs created and enqueued.
    pub fired: Vec<RunId>,
    /// Occurrences recorded as missed by the misfire policy.
    pub missed: usize,
}

/// At most this many occurrences are considered per campaign per tick (a minutely cron after
/// a week of downtime is ~10k: the cursor moves on and the next tick continues).
const MAX_OCCURRENCES_PER_TICK: usize = 1000;

/// Loads a stored campaign's spec. A campaign is parsed once, when it is saved: the typed
/// spec stored beside its source is read back here. A row whose spec an older version stored
/// in another shape is parsed again from its TOML source, which stays the truth.
pub fn stored_spec(row: &campaign::Model) -> anyhow::Result<CampaignSpec> {
    if let Ok(spec) = serde_json::from_str::<CampaignSpec>(&row.spec) {
        return Ok(spec);
    }
    let file = row
        .source_file
        .clone()
        .unwrap_or_else(|| format!("campaign {}", row.name));
    parse_campaign(&row.source, &file).map_err(|issues| {
        let list: Vec<String> = issues.iter().map(|i| i.to_string()).collect();
        anyhow::anyhow!(
            "stored campaign {} no longer parses: {}",
            row.name,
            list.join("; ")
        )
    })
}

/// One scheduler tick over every enabled campaign. `grace` is how late an occurrence may be
/// and still count as on time (a little more than the tick interval).
pub async fn fire_due(
    store: &Store,
    queue: &Queue,
    clock: &dyn Clock,
    grace: Duration,
) -> anyhow::Result<FireReport> {
    let now = clock.now().await?;
    let mut report = FireReport::default();
    for row in campaigns::list_enabled(store).await? {
        match fire_campaign(store, queue, &row, now, grace).await {
            Ok(r) => {
                report.fired.extend(r.fired);
                report.missed += r.missed;
            }
            // One broken campaign must not stop the others from firing.
            Err(e) => {
                warn!(campaign = %row.name, error = %e, "scheduler: campaign skipped this tick")
            }
        }
    }
    Ok(report)
}

async fn fire_campaign(
    store: &Store,
    queue: &Queue,
    row: &campaign::Model,
    now: DateTime<Utc>,
    grace: Duration,
) -> anyhow::Result<FireReport> {
    let spec = stored_spec(row)?;
    let schedule = Schedule::from_spec(&spec.schedule)?;
    let cursor = DateTime::from_timestamp_millis(row.schedule_checked_at)
        .ok_or_else(|| anyhow::anyhow!("bad cursor {}", row.schedule_checked_at))?;
    // A campaign that needs approval fires `lead_time` ahead of each occurrence, so there is
    // time to review; its run keeps the occurrence as `fire_at`, when it publishes.
    let lead = chrono::Duration::from_std(spec.lead_time())?;
    let horizon = now
        .checked_add_signed(lead)
        .ok_or_else(|| anyhow::anyhow!("lead time {lead} is out of range"))?;
    let occurrences = schedule.occurrences(cursor, horizon, MAX_OCCURRENCES_PER_TICK);
    // When the cap cut the list, continue from the last occurrence seen next time.
    let checked_through = if occurrences.len() == MAX_OCCURRENCES_PER_TICK {
        occurrences.last().copied().unwrap_or(horizon)
    } else {
        horizon
    };
    // Occurrences still ahead fire now (their lead time has begun); those already past go
    // through the misfire policy, as without a lead time.
    let (ahead, past): (Vec<_>, Vec<_>) = occurrences.iter().partition(|o| **o > now);
    let mut plan = plan_fires(&past, now, grace, &spec.schedule.misfire);
    plan.extend(ahead.into_iter().map(|o| (o, FireDecision::Fire)));
    let mut report = FireReport::default();
    let now_ms = store.now_ms().await?;
    let tx = store.begin().await?;
    for (at, decision) in plan {
        let key = fire_key(at);
        let state = match decision {
            FireDecision::Fire => pressroom_core::RunState::Queued,
            FireDecision::Missed => pressroom_core::RunState::Missed,
        };
        let trigger = match spec.schedule.trigger {
            pressroom_core::campaign::Trigger::At { .. } => "once",
            _ => "cron",
        };
        let variables = serde_json::json!({});
        let inserted = runs::insert_fire(
            store,
            &tx,
            now_ms,
            runs::NewRun {
                workspace_id: &row.workspace_id,
                campaign_id: &row.id,
                fire_key: &key,
                fire_at_ms: at.timestamp_millis(),
                trigger,
                state,
                variables: &variables,
            },
        )
        .await?;
        let Some(run_id) = inserted else { continue };
        match decision {
            FireDecision::Fire => {
                enqueue_generate(queue, &tx, &row.workspace_id, &run_id).await?;
                info!(campaign = %row.name, run = %run_id, fire_key = %key, "scheduler: fired");
                report.fired.push(run_id);
            }
            FireDecision::Missed => {
                info!(campaign = %row.name, fire_key = %key, "scheduler: missed (misfire policy)");
                report.missed += 1;
            }
        }
    }
    campaigns::advance_cursor(
        store,
        &tx,
        &row.workspace_id,
        &row.id,
        checked_through.timestamp_millis(),
    )
    .await?;
    tx.commit().await?;
    Ok(report)
}

async fn enqueue_generate(
    queue: &Queue,
    conn: &Tx,
    workspace_id: &WorkspaceId,
    run_id: &RunId,
) -> anyhow::Result<()> {
    queue
        .enqueue(
            conn,
            NewJob::new(
                workspace_id,
                JobKind::Generate,
                serde_json::json!({ "run_id": run_id }),
            )
            .unique(format!("generate:{run_id}"))
            .max_attempts(5),
        )
        .await?;
    Ok(())
}

/// Fires a campaign now (API, webhook, CLI). `fire_key` dedupes: a webhook's delivery id
/// or an idempotency key makes a retried request fire once. Returns the run id, or `None`
/// when that key already fired.
pub async fn trigger_now(
    store: &Store,
    queue: &Queue,
    row: &campaign::Model,
    trigger: &str,
    fire_key: &str,
    variables: &serde_json::Value,
) -> anyhow::Result<Option<RunId>> {
    stored_spec(row)?;
    let now_ms = store.now_ms().await?;
    let tx = store.begin().await?;
    let inserted = runs::insert_fire(
        store,
        &tx,
        now_ms,
        runs::NewRun {
            workspace_id: &row.workspace_id,
            campaign_id: &row.id,
            fire_key,
            fire_at_ms: now_ms,
            trigger,
            state: pressroom_core::RunState::Queued,
            variables,
        },
    )
    .await?;
    if let Some(run_id) = &inserted {
        enqueue_generate(queue, &tx, &row.workspace_id, run_id).await?;
    }
    tx.commit().await?;
    Ok(inserted)
}
