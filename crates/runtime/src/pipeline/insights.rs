//! Insights: a published post's numbers fetched back from its platform (PLATFORMS.md §9), on
//! the post's schedule (`[insights] schedule`, counted from publishing) or on request. Each
//! fetch appends a row to the post's series; a missing insights permission is written on the
//! account for a person to see ("reconnect with …"), a metric the platform no longer knows is
//! logged once per process and skipped. The calls only read, so a replayed job at worst adds
//! one more row to a series.

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use pressroom_connector::{
    AccountRef, Connector, ConnectorError, MetricsAnswer, MetricsCtx, MetricsQuery, MetricsReport,
};
use pressroom_core::{AccountState, JobKind, PostId, PostState, WorkspaceId};
use pressroom_store::entity::{account, post};
use pressroom_store::repo::insights::{NewFetch, Outcome};
use pressroom_store::repo::{accounts, insights, posts};
use pressroom_store::{ClaimedJob, NewJob, Queue};
use serde::Deserialize;
use tracing::{info, warn};

use super::publish::credentials::credentials;
use super::{JobError, Pipeline, complete};

#[derive(Deserialize)]
struct Payload {
    post_id: PostId,
}

/// What one fetch of a set of posts recorded.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Fetched {
    /// Posts with numbers.
    pub measured: usize,
    /// Posts the platform had nothing for yet.
    pub not_yet: usize,
    /// Posts no longer on the platform.
    pub gone: usize,
    /// Why the account's numbers cannot be read, when they cannot.
    pub unavailable: Option<String>,
    /// Why nothing was asked (no metrics API, a disconnected account).
    pub skipped: Option<String>,
    /// Accounts whose fetch failed, with the reason (`insights fetch` goes on with the others).
    pub failed: Vec<String>,
}

impl Fetched {
    fn add(&mut self, other: Fetched) {
        self.measured += other.measured;
        self.not_yet += other.not_yet;
        self.gone += other.gone;
        self.unavailable = other.unavailable.or(self.unavailable.take());
        self.skipped = other.skipped.or(self.skipped.take());
        self.failed.extend(other.failed);
    }
}

/// Enqueues the post's scheduled fetches (one job per offset of `schedule`, counted from now,
/// the moment it is recorded as published) inside the transaction that records it. Nothing
/// for platforms without a metrics API.
pub(super) async fn schedule(
    p: &Pipeline,
    tx: &pressroom_store::Tx,
    post: &post::Model,
) -> Result<(), JobError> {
    let measurable = p
        .connectors
        .get(post.platform.as_str())
        .is_some_and(|c| c.metrics_batch() > 0);
    if !measurable {
        return Ok(());
    }
    for (i, delay) in p.insights_schedule.iter().enumerate() {
        let job = fetch_job(
            &post.workspace_id,
            &post.id,
            format!("insights:{}:{i}", post.id),
        )
        .delayed_by(*delay);
        p.queue.enqueue(tx, job).await?;
    }
    Ok(())
}

/// An insights job for one post: scheduled (`unique` names its slot) or on request.
pub fn fetch_job(workspace_id: &WorkspaceId, post_id: &PostId, unique: String) -> NewJob {
    NewJob::new(
        workspace_id,
        JobKind::Insights,
        serde_json::json!({ "post_id": post_id }),
    )
    .unique(unique)
    .max_attempts(5)
}

/// Enqueues a fetch of the post now (`POST /v1/posts/{id}/metrics/fetch`). Requests within
/// the same minute are one job (a retrying client or an impatient person cannot spend the
/// account's rate budget). Returns whether it was new.
pub async fn request_fetch(
    queue: &Queue,
    tx: &pressroom_store::Tx,
    workspace_id: &WorkspaceId,
    post_id: &PostId,
    at_ms: i64,
) -> Result<bool, pressroom_store::StoreError> {
    let job = fetch_job(
        workspace_id,
        post_id,
        format!("insights:{post_id}:now:{at_ms}"),
    );
    queue.enqueue(tx, job).await
}

pub(super) async fn handle(p: &Pipeline, job: &ClaimedJob) -> Result<(), JobError> {
    let Payload { post_id } = job.payload()?;
    let ws = &job.workspace_id;
    let post = posts::get(p.store.conn(), ws, &post_id).await?;
    if post.state != PostState::Published || post.remote_id.is_none() {
        return complete(p, job).await;
    }
    let account = accounts::get(p.store.conn(), ws, &post.account_id).await?;
    let batch = p
        .connectors
        .get(account.platform.as_str())
        .map_or(0, |c| c.metrics_batch());
    let companions = companions(p, &post, batch).await?;
    let mut measured = vec![post.clone()];
    measured.extend(companions.iter().map(|(_, post)| post.clone()));
    let fetched = match measure(p, &account, &measured).await {
        Ok(fetched) => fetched,
        Err(e) => {
            // The companions went as this one did: deferred alike, or each to its own retry.
            let why = e.to_string();
            let conn = p.store.conn();
            for (companion, _) in &companions {
                match &e {
                    JobError::Defer { delay, reason } => {
                        p.queue.defer(conn, companion, *delay, reason).await?;
                    }
                    _ => {
                        let delay = p.retry.delay(companion.attempt as u32, None);
                        p.queue.retry(conn, companion, delay, &why).await?;
                    }
                }
            }
            return Err(e);
        }
    };
    if let Some(why) = &fetched.skipped {
        info!(post = %post.id, platform = %post.platform, %why, "insights: not fetched");
    }
    for (companion, _) in &companions {
        complete(p, companion).await?;
    }
    complete(p, job).await
}

/// The account's other posts whose scheduled fetches are due (or within a minute of it), with
/// their jobs claimed,
/// to measure in the same platform call (up to `batch` posts in all): fetches of posts
/// published together come due together, and TikTok's video query takes 20 ids.
async fn companions(
    p: &Pipeline,
    post: &post::Model,
    batch: usize,
) -> Result<Vec<(ClaimedJob, post::Model)>, JobError> {
    let (Some(slots), true) = (p.insights_schedule.iter().max(), batch > 1) else {
        return Ok(Vec::new());
    };
    let now = p.store.now_ms().await?;
    let window = slots.as_millis() as i64 + 86_400_000;
    let recent = insights::recent_of_account(
        p.store.conn(),
        &post.workspace_id,
        &post.account_id,
        now - window,
        RECENT_POSTS,
    )
    .await?;
    let keys: Vec<String> = recent
        .iter()
        .filter(|r| r.id != post.id)
        .flat_map(|r| (0..p.insights_schedule.len()).map(move |i| format!("insights:{}:{i}", r.id)))
        .collect();
    let mut claimed = Vec::new();
    for chunk in keys.chunks(500) {
        let room = (batch - 1).saturating_sub(claimed.len());
        if room == 0 {
            break;
        }
        let owner = format!("insights-companion-{}", post.id);
        claimed.extend(
            p.queue
                .claim_keys(chunk, &owner, p.lease, room as u32, COMPANION_AHEAD)
                .await?,
        );
    }
    let mut out = Vec::with_capacity(claimed.len());
    for job in claimed {
        let found = job
            .payload::<Payload>()
            .ok()
            .and_then(|payload| recent.iter().find(|r| r.id == payload.post_id).cloned());
        match found {
            Some(companion) => out.push((job, companion)),
            // Cannot happen (the keys name the posts); never leave a claimed job behind.
            None => complete(p, &job).await?,
        }
    }
    // Two jobs of one post (slots that came due together) are one measurement.
    let mut seen = std::collections::HashSet::from([post.id.clone()]);
    let mut unique = Vec::with_capacity(out.len());
    for (job, companion) in out {
        if seen.insert(companion.id.clone()) {
            unique.push((job, companion));
        } else {
            complete(p, &job).await?;
        }
    }
    Ok(unique)
}

/// How early a companion's fetch may run: fetches of posts published within the same minute
/// or so share one call. Far below the gaps of a real schedule (hours), so a post's own next
/// fetch is not taken early.
const COMPANION_AHEAD: Duration = Duration::from_secs(60);

/// Most recent posts of an account looked at for companions.
const RECENT_POSTS: u64 = 500;

impl Pipeline {
    /// Fetches the numbers of `posts` (published posts of the workspace) now, batched per
    /// account within each platform's limit; for `pressroom insights fetch`.
    pub async fn fetch_insights(
        &self,
        workspace_id: &WorkspaceId,
        posts: &[post::Model],
    ) -> Result<Fetched, JobError> {
        let mut by_account: std::collections::BTreeMap<_, Vec<post::Model>> = Default::default();
        for post in posts.iter().filter(|p| {
            p.workspace_id == *workspace_id
                && p.state == PostState::Published
                && p.remote_id.is_some()
        }) {
            by_account
                .entry(post.account_id.clone())
                .or_default()
                .push(post.clone());
        }
        let mut total = Fetched::default();
        for (account_id, posts) in by_account {
            let account = accounts::get(self.store.conn(), workspace_id, &account_id).await?;
            // One account's refusal or rate limit does not keep the others from being measured.
            match measure(self, &account, &posts).await {
                Ok(fetched) => total.add(fetched),
                Err(e) => total.failed.push(format!("{}: {e}", account.name)),
            }
        }
        Ok(total)
    }
}

/// Fetches and records the numbers of `posts`, all of `account`, in batches of the
/// connector's size.
async fn measure(
    p: &Pipeline,
    account: &account::Model,
    posts: &[post::Model],
) -> Result<Fetched, JobError> {
    let Some(connector) = p.connectors.get(account.platform.as_str()) else {
        return Ok(skipped(format!(
            "no {} connector in this build",
            account.platform
        )));
    };
    let batch = connector.metrics_batch();
    if batch == 0 {
        return Ok(skipped(format!("{} has no metrics API", account.platform)));
    }
    if account.state == AccountState::Disconnected {
        return Ok(skipped(format!(
            "the account {} is disconnected; reconnect it",
            account.name
        )));
    }
    let mut total = Fetched::default();
    for chunk in posts.chunks(batch) {
        let queries = queries(p, account, chunk).await?;
        let report = ask(p, connector.as_ref(), account, &queries).await?;
        total.add(record(p, account, chunk, &queries, report).await?);
    }
    Ok(total)
}

fn skipped(why: String) -> Fetched {
    Fetched {
        skipped: Some(why),
        ..Default::default()
    }
}

/// What the connector needs to find each post's numbers.
async fn queries(
    p: &Pipeline,
    account: &account::Model,
    posts: &[post::Model],
) -> Result<Vec<MetricsQuery>, JobError> {
    let ws = &account.workspace_id;
    let mut out = Vec::with_capacity(posts.len());
    for post in posts {
        let checkpoint = posts::latest_attempt(p.store.conn(), ws, &post.id)
            .await?
            .and_then(|a| a.checkpoint)
            .and_then(|c| serde_json::from_str(&c).ok());
        let published_ms = post.published_at.unwrap_or(post.updated_at);
        out.push(MetricsQuery {
            remote_id: post.remote_id.clone().unwrap_or_default(),
            metrics_id: insights::metrics_id(p.store.conn(), ws, &post.id).await?,
            format: post.format,
            published_at: chrono::DateTime::from_timestamp_millis(published_ms)
                .unwrap_or_else(chrono::Utc::now),
            checkpoint,
        });
    }
    Ok(out)
}

/// One `fetch_metrics` call, with one refresh of an expired token.
async fn ask(
    p: &Pipeline,
    connector: &dyn Connector,
    account: &account::Model,
    queries: &[MetricsQuery],
) -> Result<MetricsReport, JobError> {
    let mut refreshed = false;
    loop {
        let creds = credentials(p, connector, account, refreshed)
            .await
            .map_err(|e| JobError::retry(format!("the account's credentials: {e}")))?;
        let ctx = MetricsCtx {
            account: AccountRef {
                id: account.id.to_string(),
                workspace_id: account.workspace_id.to_string(),
                external_id: account.external_id.clone(),
            },
            credentials: creds,
        };
        let result = connector.fetch_metrics(&ctx, queries).await;
        crate::metrics::insights_fetch(account.platform.as_str(), outcome_label(&result));
        match result {
            Ok(report) => return Ok(report),
            Err(ConnectorError::AuthExpired) if !refreshed => refreshed = true,
            Err(ConnectorError::RateLimited { retry_after }) => {
                return Err(JobError::Defer {
                    reason: "the platform is rate limiting metrics reads".into(),
                    delay: retry_after.unwrap_or(Duration::from_secs(60)),
                });
            }
            Err(e @ (ConnectorError::Rejected(_) | ConnectorError::Disconnected(_))) => {
                return Err(JobError::Permanent(format!("metrics: {e}")));
            }
            Err(e) => return Err(JobError::retry(format!("metrics: {e}"))),
        }
    }
}

fn outcome_label(result: &Result<MetricsReport, ConnectorError>) -> &'static str {
    match result {
        Ok(r) if r.unavailable.is_some() => "unavailable",
        other => crate::metrics::outcome(other),
    }
}

/// Metric names already warned about in this process: a renamed metric is logged once.
static WARNED: LazyLock<Mutex<HashSet<(String, String)>>> = LazyLock::new(Mutex::default);

/// Writes one row per post and the account's insights problem, in one transaction.
async fn record(
    p: &Pipeline,
    account: &account::Model,
    posts: &[post::Model],
    queries: &[MetricsQuery],
    report: MetricsReport,
) -> Result<Fetched, JobError> {
    let platform = account.platform.as_str();
    for name in &report.unknown_metrics {
        let first = WARNED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((platform.to_owned(), name.clone()));
        if first {
            warn!(platform, metric = %name, "insights: the platform no longer knows this metric; skipped");
        }
    }
    if report.answers.len() != posts.len() {
        return Err(JobError::retry(format!(
            "metrics: {platform} answered {} posts for {} asked",
            report.answers.len(),
            posts.len()
        )));
    }
    let now = p.store.now_ms().await?;
    let tx = p.store.begin().await?;
    let mut fetched = Fetched {
        unavailable: report.unavailable.clone(),
        ..Default::default()
    };
    for ((post, query), answer) in posts.iter().zip(queries).zip(report.answers) {
        let (outcome, metrics, raw, note, metrics_id) = match answer {
            MetricsAnswer::Measured {
                metrics,
                raw,
                metrics_id,
            } => {
                fetched.measured += 1;
                let json = serde_json::to_value(&metrics).unwrap_or_default();
                (Outcome::Measured, json, Some(raw), None, metrics_id)
            }
            MetricsAnswer::NotYet {
                reason,
                raw,
                metrics_id,
            } => {
                fetched.not_yet += 1;
                let raw = (!raw.is_null()).then_some(raw);
                (
                    Outcome::NotYet,
                    serde_json::json!({}),
                    raw,
                    Some(reason),
                    metrics_id,
                )
            }
            MetricsAnswer::Gone => {
                fetched.gone += 1;
                let note = Some("the post is no longer on the platform".to_owned());
                (Outcome::Gone, serde_json::json!({}), None, note, None)
            }
        };
        let metrics_id = metrics_id.or_else(|| query.metrics_id.clone());
        insights::record(
            &p.store,
            &tx,
            now,
            NewFetch {
                workspace_id: &account.workspace_id,
                post_id: &post.id,
                platform: account.platform,
                outcome,
                metrics,
                raw,
                note: note.as_deref(),
                metrics_id: metrics_id.as_deref(),
            },
        )
        .await?;
    }
    // A problem is cleared only by numbers: an answer given without asking the platform (a
    // story past its window, an old post) proves nothing about the permission.
    let changed = match (&report.unavailable, fetched.measured) {
        (Some(why), _) => {
            accounts::set_insights_problem(
                &p.store,
                &tx,
                &account.workspace_id,
                &account.id,
                Some(why),
            )
            .await?
        }
        (None, 0) => false,
        (None, _) => {
            accounts::set_insights_problem(&p.store, &tx, &account.workspace_id, &account.id, None)
                .await?
        }
    };
    tx.commit().await?;
    if changed {
        match &report.unavailable {
            Some(why) => {
                warn!(account = %account.id, platform, %why, "insights: the account's numbers cannot be read")
            }
            None => {
                info!(account = %account.id, platform, "insights: the account's numbers can be read again")
            }
        }
    }
    info!(account = %account.id, platform, measured = fetched.measured, not_yet = fetched.not_yet, gone = fetched.gone, "insights: fetched");
    Ok(fetched)
}
