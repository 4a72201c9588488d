//! Outbound webhooks end to end: endpoints created through the API, posts published (or not)
//! by the real publish pipeline with the sandbox connector, deliveries made by the real
//! workers to receivers on loopback — and every signature checked here with a separate
//! HMAC-SHA256, not with the code under test.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use connector_sandbox::{FailureKind, Phase, SandboxConfig, SandboxConnector, ScriptedFailure};
use pressroom_api::Role;
use pressroom_connector::Registry;
use pressroom_core::{JobKind, JobState, PostId, RetryPolicy, WorkspaceId};
use pressroom_runtime::{OutboundConfig, Pipeline, WorkerConfig, run_workers};
use pressroom_store::NewJob;
use pressroom_store::repo::{accounts, posts};
use pressroom_store::testing::sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::harness::{TestApp, World};

on_both_backends!(
    endpoints_are_created_listed_and_deleted,
    a_published_post_reaches_its_endpoint_correctly_signed,
    a_failing_receiver_is_retried_until_it_accepts,
    gone_disables_the_endpoint,
    a_workspace_never_hears_another_workspaces_events,
    a_review_decision_is_announced_as_a_run_event,
);

const WAIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// The API.

async fn endpoints_are_created_listed_and_deleted(app: TestApp) -> anyhow::Result<()> {
    let w = app.world("wh-crud").await?;
    let admin = w.key(Role::Admin);
    let (status, created) = post_json(
        &app,
        admin,
        json!({ "url": "https://hooks.example.com/in", "description": "CRM" }),
    )
    .await?;
    anyhow::ensure!(status == 201, "create: {status} {created}");
    let secret = created["secret"].as_str().unwrap_or_default();
    anyhow::ensure!(secret.starts_with("whsec_"), "secret: {created}");
    anyhow::ensure!(
        created["events"]
            == json!([
                "post.published",
                "post.failed",
                "post.needs_reconnect",
                "run.awaiting_review",
                "run.approved",
                "run.rejected",
                "run.expired"
            ]),
        "every event by default: {created}"
    );
    anyhow::ensure!(created["enabled"] == json!(true), "{created}");
    let id = created["id"].as_str().unwrap_or_default().to_string();

    let list = get_json(&app, admin, "/v1/webhook-endpoints").await?;
    let listed = list["data"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["id"] == json!(id)))
        .ok_or_else(|| anyhow::anyhow!("created endpoint not listed: {list}"))?;
    anyhow::ensure!(
        listed.get("secret").is_none(),
        "the secret is shown once: {listed}"
    );
    anyhow::ensure!(listed["description"] == json!("CRM"), "{listed}");

    // Every bad input answers 400 naming the field.
    let bad = [
        (json!({ "url": "ftp://hooks.example.com" }), "url"),
        (json!({ "url": "not a url" }), "url"),
        (json!({ "url": "https://u:p@hooks.example.com" }), "url"),
        (json!({ "description": "no url" }), "url"),
        (
            json!({ "url": "https://hooks.example.com", "events": ["post.nope"] }),
            "events",
        ),
        (
            json!({ "url": "https://hooks.example.com", "events": [] }),
            "events",
        ),
        (
            json!({ "url": "https://hooks.example.com", "description": "x".repeat(501) }),
            "description",
        ),
        (
            json!({ "url": "https://hooks.example.com", "secret": "mine" }),
            "secret",
        ),
    ];
    for (body, field) in bad {
        let (status, problem) = post_json(&app, admin, body.clone()).await?;
        let detail = problem["detail"].as_str().unwrap_or_default();
        anyhow::ensure!(
            status == 400 && detail.contains(field),
            "{body} should be refused naming {field}: {status} {problem}"
        );
    }

    let del = |key: &str, id: &str| {
        app.http
            .delete(app.url(&format!("/v1/webhook-endpoints/{id}")))
            .bearer_auth(key.to_string())
            .send()
    };
    let other = app.world("wh-crud-other").await?;
    let status = del(other.key(Role::Owner), &id).await?.status();
    anyhow::ensure!(status == 404, "another workspace's endpoint: {status}");
    let status = del(admin, &id).await?.status();
    anyhow::ensure!(status == 204, "delete: {status}");
    let status = del(admin, &id).await?.status();
    anyhow::ensure!(status == 404, "deleted twice: {status}");
    let list = get_json(&app, admin, "/v1/webhook-endpoints").await?;
    anyhow::ensure!(
        !list.to_string().contains(&id),
        "deleted endpoint still listed: {list}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Deliveries.

async fn a_published_post_reaches_its_endpoint_correctly_signed(
    app: TestApp,
) -> anyhow::Result<()> {
    let w = app.world("wh-sign").await?;
    let all = Receiver::start(&[]).await?;
    let failed_only = Receiver::start(&[]).await?;
    let secret = create_endpoint(&app, &w, &all.url, None).await?;
    create_endpoint(&app, &w, &failed_only.url, Some(&["post.failed"])).await?;
    let workers = Workers::start(&app, Vec::new())?;
    publish(&app, &workers, &w, &w.post_id).await?;

    let got = all.wait_for(1).await?;
    let d = &got[0];
    verify_signature(&secret, d)?;
    anyhow::ensure!(
        d.header("content-type") == "application/json",
        "content type: {:?}",
        d.headers
    );
    let body: Value = serde_json::from_slice(&d.body)?;
    anyhow::ensure!(body["type"] == json!("post.published"), "{body}");
    anyhow::ensure!(body["data"]["post_id"] == json!(w.post_id), "{body}");
    anyhow::ensure!(body["data"]["workspace_id"] == json!(w.ws_id), "{body}");
    anyhow::ensure!(body["data"]["state"] == json!("published"), "{body}");
    anyhow::ensure!(body["data"]["remote_id"].is_string(), "{body}");
    anyhow::ensure!(body["timestamp"].is_string(), "{body}");

    // A wrong secret or an altered body does not verify: the check above means something.
    let mut altered = d.clone();
    altered.body.push(b' ');
    anyhow::ensure!(verify_signature(&secret, &altered).is_err());
    let other_secret = format!("whsec_{}", STANDARD.encode([7u8; 32]));
    anyhow::ensure!(verify_signature(&other_secret, d).is_err());

    wait_jobs(&app, &w.ws_id, JobState::Completed, 1).await?;
    workers.stop().await;
    anyhow::ensure!(
        failed_only.count() == 0,
        "an endpoint subscribed to post.failed heard post.published"
    );
    anyhow::ensure!(all.count() == 1, "delivered {} times", all.count());
    Ok(())
}

async fn a_failing_receiver_is_retried_until_it_accepts(app: TestApp) -> anyhow::Result<()> {
    let w = app.world("wh-retry").await?;
    let flaky = Receiver::start(&[500, 503]).await?;
    let secret = create_endpoint(&app, &w, &flaky.url, None).await?;
    // The platform refuses the post: the event is post.failed, with the reason.
    let rejected = ScriptedFailure {
        phase: Phase::Commit,
        kind: FailureKind::Rejected,
        times: 1,
        retry_after_secs: 0,
    };
    let workers = Workers::start(&app, vec![rejected])?;
    publish(&app, &workers, &w, &w.post_id).await?;

    let got = flaky.wait_for(3).await?;
    wait_jobs(&app, &w.ws_id, JobState::Completed, 1).await?;
    workers.stop().await;
    anyhow::ensure!(got.len() == 3, "{} deliveries", got.len());
    for d in &got {
        verify_signature(&secret, d)?;
    }
    let id = got[0].header("webhook-id");
    anyhow::ensure!(
        got.iter()
            .all(|d| d.header("webhook-id") == id && d.body == got[0].body),
        "a retry is the same message (same webhook-id and body)"
    );
    let body: Value = serde_json::from_slice(&got[2].body)?;
    anyhow::ensure!(body["type"] == json!("post.failed"), "{body}");
    anyhow::ensure!(body["data"]["error"].is_string(), "{body}");
    let done = notify_jobs(&app, &w.ws_id, JobState::Completed).await?;
    anyhow::ensure!(
        done.len() == 1 && done[0].attempt == 3,
        "one job, delivered on its third attempt: {done:?}"
    );
    Ok(())
}

async fn gone_disables_the_endpoint(app: TestApp) -> anyhow::Result<()> {
    let w = app.world("wh-gone").await?;
    let gone = Receiver::start(&[410]).await?;
    create_endpoint(&app, &w, &gone.url, None).await?;
    let workers = Workers::start(&app, Vec::new())?;
    publish(&app, &workers, &w, &w.post_id).await?;
    gone.wait_for(1).await?;
    wait_jobs(&app, &w.ws_id, JobState::Completed, 1).await?;

    let list = get_json(&app, w.key(Role::Admin), "/v1/webhook-endpoints").await?;
    let row = list["data"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["url"] == json!(gone.url)))
        .ok_or_else(|| anyhow::anyhow!("endpoint missing: {list}"))?;
    anyhow::ensure!(row["enabled"] == json!(false), "{row}");
    anyhow::ensure!(
        row["disabled_reason"]
            .as_str()
            .is_some_and(|r| r.contains("410")),
        "{row}"
    );

    // A later event is not even queued for the disabled endpoint.
    let second = extra_post(&app, &w, "facebook-feed").await?;
    publish(&app, &workers, &w, &second).await?;
    wait_post(&app, &w, &second, "published").await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    workers.stop().await;
    let mut all = 0;
    for state in [
        JobState::Available,
        JobState::Running,
        JobState::Completed,
        JobState::Dead,
    ] {
        all += notify_jobs(&app, &w.ws_id, state).await?.len();
    }
    anyhow::ensure!(
        all == 1,
        "{all} notify jobs; the disabled endpoint got another"
    );
    anyhow::ensure!(gone.count() == 1, "delivered {} times", gone.count());
    Ok(())
}

async fn a_workspace_never_hears_another_workspaces_events(app: TestApp) -> anyhow::Result<()> {
    let a = app.world("wh-iso-a").await?;
    let b = app.world("wh-iso-b").await?;
    let ra = Receiver::start(&[]).await?;
    let rb = Receiver::start(&[]).await?;
    let secret_a = create_endpoint(&app, &a, &ra.url, None).await?;
    let secret_b = create_endpoint(&app, &b, &rb.url, None).await?;
    let workers = Workers::start(&app, Vec::new())?;

    publish(&app, &workers, &a, &a.post_id).await?;
    let got_a = ra.wait_for(1).await?;
    verify_signature(&secret_a, &got_a[0])?;

    // B's account is disconnected: its post ends in needs_reconnect, announced to B only.
    let now = app.store.now_ms().await?;
    accounts::set_state(
        &app.store,
        app.store.conn(),
        now,
        &b.ws_id,
        &b.account_id,
        pressroom_core::AccountState::Disconnected,
        Some("token revoked"),
    )
    .await?;
    publish(&app, &workers, &b, &b.post_id).await?;
    let got_b = rb.wait_for(1).await?;
    verify_signature(&secret_b, &got_b[0])?;
    wait_jobs(&app, &b.ws_id, JobState::Completed, 1).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    workers.stop().await;

    let body_a: Value = serde_json::from_slice(&got_a[0].body)?;
    let body_b: Value = serde_json::from_slice(&got_b[0].body)?;
    anyhow::ensure!(body_a["data"]["workspace_id"] == json!(a.ws_id), "{body_a}");
    anyhow::ensure!(body_b["type"] == json!("post.needs_reconnect"), "{body_b}");
    anyhow::ensure!(body_b["data"]["workspace_id"] == json!(b.ws_id), "{body_b}");
    anyhow::ensure!(
        ra.count() == 1 && rb.count() == 1,
        "A heard {} and B heard {} events; each should hear only its own one",
        ra.count(),
        rb.count()
    );
    // B's secret does not verify A's delivery: each endpoint signs with its own secret.
    anyhow::ensure!(verify_signature(&secret_b, &got_a[0]).is_err());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Helpers.

async fn post_json(app: &TestApp, key: &str, body: Value) -> anyhow::Result<(u16, Value)> {
    let resp = app
        .http
        .post(app.url("/v1/webhook-endpoints"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await?;
    let status = resp.status().as_u16();
    Ok((status, resp.json().await.unwrap_or(Value::Null)))
}

/// Approving a review announces `run.approved` (signed, once) to the endpoints subscribed to
/// it, and not to one that listens for posts only.
async fn a_review_decision_is_announced_as_a_run_event(app: TestApp) -> anyhow::Result<()> {
    let w = app.world("wh-review").await?;
    let runs = Receiver::start(&[]).await?;
    let posts_only = Receiver::start(&[]).await?;
    let secret =
        create_endpoint(&app, &w, &runs.url, Some(&["run.approved", "run.rejected"])).await?;
    create_endpoint(&app, &w, &posts_only.url, Some(&["post.published"])).await?;
    let workers = Workers::start(&app, Vec::new())?;
    let resp = app
        .http
        .post(app.url(&format!("/v1/reviews/{}/approve", w.review_id)))
        .bearer_auth(w.key(Role::Approver))
        .json(&json!({ "candidate": 0 }))
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 200, "approve: {}", resp.status());

    let got = runs.wait_for(1).await?;
    verify_signature(&secret, &got[0])?;
    let body: Value = serde_json::from_slice(&got[0].body)?;
    anyhow::ensure!(body["type"] == json!("run.approved"), "{body}");
    anyhow::ensure!(body["data"]["review_id"] == json!(w.review_id), "{body}");
    anyhow::ensure!(body["data"]["run_id"] == json!(w.run_id), "{body}");
    anyhow::ensure!(body["data"]["state"] == json!("approved"), "{body}");
    anyhow::ensure!(body["data"]["decision"]["candidate"] == json!(0), "{body}");
    anyhow::ensure!(
        body["data"]["decided_by"]
            .as_str()
            .unwrap_or_default()
            .starts_with("key:"),
        "{body}"
    );
    wait_jobs(&app, &w.ws_id, JobState::Completed, 1).await?;
    workers.stop().await;
    anyhow::ensure!(runs.count() == 1, "delivered {} times", runs.count());
    anyhow::ensure!(posts_only.count() == 0, "a post endpoint heard a run event");
    Ok(())
}

async fn get_json(app: &TestApp, key: &str, path: &str) -> anyhow::Result<Value> {
    let resp = app.http.get(app.url(path)).bearer_auth(key).send().await?;
    anyhow::ensure!(resp.status() == 200, "GET {path}: {}", resp.status());
    Ok(resp.json().await?)
}

/// Creates an endpoint through the API and returns its secret.
async fn create_endpoint(
    app: &TestApp,
    w: &World,
    url: &str,
    events: Option<&[&str]>,
) -> anyhow::Result<String> {
    let mut body = json!({ "url": url });
    if let Some(events) = events {
        body["events"] = json!(events);
    }
    let (status, created) = post_json(app, w.key(Role::Admin), body).await?;
    anyhow::ensure!(status == 201, "create endpoint: {status} {created}");
    created["secret"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("no secret in {created}"))
}

/// Enqueues a publish job for a post, after giving the world's rendition a real file (the
/// fixture's empty one is not one the sandbox can stage).
async fn publish(
    app: &TestApp,
    workers: &Workers,
    w: &World,
    post_id: &PostId,
) -> anyhow::Result<()> {
    let key = format!("{}.jpg", w.rendition_id);
    std::fs::write(workers.dir.path().join(&key), b"not really a jpeg")?;
    let conn = app.store.conn();
    conn.execute_raw(Statement::from_sql_and_values(
        conn.get_database_backend(),
        "UPDATE renditions SET path = $1 WHERE id = $2",
        vec![key.into(), w.rendition_id.clone().into()],
    ))
    .await?;
    let job = NewJob::new(&w.ws_id, JobKind::Publish, json!({ "post_id": post_id }))
        .unique(format!("publish:{post_id}"));
    app.queue.enqueue(app.store.conn(), job).await?;
    Ok(())
}

/// Another post of the world's run, on another preset (same rendition).
async fn extra_post(app: &TestApp, w: &World, preset: &str) -> anyhow::Result<PostId> {
    let now = app.store.now_ms().await?;
    let post = posts::insert(
        &app.store,
        app.store.conn(),
        now,
        posts::NewPost {
            workspace_id: &w.ws_id,
            run_id: &w.run_id,
            account_id: &w.account_id,
            rendition_id: &w.rendition_id,
            platform: pressroom_core::Platform::Sandbox,
            preset,
            caption: "again",
            format: pressroom_core::PostFormat::Single,
            alt_texts: &[],
            rendition_ids: &[],
            first_comment: None,
            cover_index: None,
        },
    )
    .await?;
    Ok(post.id)
}

async fn wait_post(app: &TestApp, w: &World, post_id: &PostId, state: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let post = posts::get(app.store.conn(), &w.ws_id, post_id).await?;
        if post.state.as_str() == state {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < WAIT,
            "post {post_id} is {} after {WAIT:?}, expected {state}",
            post.state
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn notify_jobs(
    app: &TestApp,
    ws: &WorkspaceId,
    state: JobState,
) -> anyhow::Result<Vec<pressroom_store::queue::JobSummary>> {
    Ok(app
        .queue
        .list(state, Some(ws), 100)
        .await?
        .into_iter()
        .filter(|j| j.kind == JobKind::Notify.as_str())
        .collect())
}

async fn wait_jobs(
    app: &TestApp,
    ws: &WorkspaceId,
    state: JobState,
    n: usize,
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let jobs = notify_jobs(app, ws, state).await?;
        if jobs.len() >= n {
            return Ok(());
        }
        let dead = notify_jobs(app, ws, JobState::Dead).await?;
        anyhow::ensure!(dead.is_empty(), "notify jobs died: {dead:?}");
        anyhow::ensure!(
            started.elapsed() < WAIT,
            "{} notify jobs {} after {WAIT:?}, expected {n}",
            jobs.len(),
            state.as_str()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Standard Webhooks verification written out here, independent of pressroom-crypto:
/// `v1,base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))`, timestamp within five minutes.
fn verify_signature(secret: &str, d: &Delivery) -> anyhow::Result<()> {
    let key = STANDARD.decode(
        secret
            .strip_prefix("whsec_")
            .ok_or_else(|| anyhow::anyhow!("secret without whsec_"))?,
    )?;
    let (id, ts) = (d.header("webhook-id"), d.header("webhook-timestamp"));
    anyhow::ensure!(!id.is_empty(), "no webhook-id header");
    let ts_secs: i64 = ts.parse()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    anyhow::ensure!((now - ts_secs).abs() <= 300, "stale timestamp {ts}");
    let mut signed = format!("{id}.{ts}.").into_bytes();
    signed.extend_from_slice(&d.body);
    let expected = format!("v1,{}", STANDARD.encode(hmac_sha256(&key, &signed)));
    let header = d.header("webhook-signature");
    anyhow::ensure!(
        header.split(' ').any(|s| s == expected),
        "signature {header:?} does not match {expected:?}"
    );
    Ok(())
}

/// RFC 2104 HMAC over SHA-256.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// One request a receiver got.
#[derive(Clone, Debug)]
struct Delivery {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Delivery {
    fn header(&self, name: &str) -> String {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct Inbox {
    got: Mutex<Vec<Delivery>>,
    /// Statuses to answer, in order; 200 once they run out.
    answers: Mutex<VecDeque<u16>>,
}

/// A webhook receiver on a random loopback port.
struct Receiver {
    url: String,
    inbox: Arc<Inbox>,
    stop: CancellationToken,
}

impl Receiver {
    async fn start(answers: &[u16]) -> anyhow::Result<Self> {
        let inbox = Arc::new(Inbox {
            got: Mutex::default(),
            answers: Mutex::new(answers.iter().copied().collect()),
        });
        let router = axum::Router::new()
            .route("/hook", axum::routing::post(take))
            .with_state(inbox.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let stop = CancellationToken::new();
        tokio::spawn(
            axum::serve(listener, router)
                .with_graceful_shutdown(stop.clone().cancelled_owned())
                .into_future(),
        );
        Ok(Self { url, inbox, stop })
    }

    fn count(&self) -> usize {
        self.inbox.got.lock().map(|g| g.len()).unwrap_or(0)
    }

    async fn wait_for(&self, n: usize) -> anyhow::Result<Vec<Delivery>> {
        let started = Instant::now();
        loop {
            let got = self.inbox.got.lock().map(|g| g.clone()).unwrap_or_default();
            if got.len() >= n {
                return Ok(got);
            }
            anyhow::ensure!(
                started.elapsed() < WAIT,
                "{} of {n} deliveries after {WAIT:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn take(State(inbox): State<Arc<Inbox>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let headers = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    if let Ok(mut got) = inbox.got.lock() {
        got.push(Delivery {
            headers,
            body: body.to_vec(),
        });
    }
    let answer = inbox
        .answers
        .lock()
        .ok()
        .and_then(|mut a| a.pop_front())
        .unwrap_or(200);
    StatusCode::from_u16(answer).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The real worker loop on the real pipeline, running publish, notify and review jobs, with the
/// sandbox connector and short backoffs.
struct Workers {
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
    /// The sandbox outbox and the rendition files.
    dir: tempfile::TempDir,
}

impl Workers {
    fn start(app: &TestApp, failures: Vec<ScriptedFailure>) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut sandbox = SandboxConfig::new(dir.path().join("outbox"));
        sandbox.failures = failures;
        let retry = RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(100),
            cap: Duration::from_millis(300),
        };
        let pipeline = Pipeline::new(
            app.store.clone(),
            BTreeMap::new(),
            Registry::new().with(SandboxConnector::new(sandbox)?),
            Arc::new(pressroom_media::Presets::builtin().clone()),
            Arc::new(pressroom_store::LocalBlobs::new(dir.path().to_path_buf())),
            retry,
            // The daemon's workers and API share one keyring: the endpoint secrets the API
            // sealed are opened here.
            app.state
                .tokens
                .clone()
                .ok_or_else(|| anyhow::anyhow!("the test server has a token keyring"))?,
        )
        .with_outbound(OutboundConfig {
            timeout: Duration::from_secs(5),
            allow_private: true,
            max_attempts: 5,
        })?;
        let config = WorkerConfig {
            kinds: vec![JobKind::Publish, JobKind::Notify, JobKind::Review],
            concurrency: 2,
            poll: Duration::from_millis(25),
            ..WorkerConfig::default()
        };
        let stop = CancellationToken::new();
        let task = tokio::spawn(run_workers(Arc::new(pipeline), config, stop.clone()));
        Ok(Self {
            stop,
            task: Some(task),
            dir,
        })
    }

    async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

/// A test that failed half-way still stops its workers.
impl Drop for Workers {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
