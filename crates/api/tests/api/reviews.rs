//! The approval gate end to end over the real worker pipeline: a campaign that needs approval
//! publishes nothing until a person (or a review link) approves; the chosen candidate and the
//! edited caption are exactly what goes out, once; rejection, regeneration and expiry; review
//! links without an account; and one workspace's approver never reaches another's reviews.

use std::sync::Arc;
use std::time::{Duration, Instant};

use connector_sandbox::{Outbox, SandboxConfig};
use pressroom_api::Role;
use pressroom_api::handlers::keys::mint_key;
use pressroom_core::{PostState, ReviewState, WorkspaceId};
use pressroom_generate::{GenerateError, GeneratedImage, GenerationRequest, Generator, ProgressFn};
use pressroom_store::entity::campaign;
use pressroom_store::repo::{assets, posts, reviews, runs};
use pressroom_store::testing::sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::harness::{RingCipher, TestApp, campaign_toml};
use crate::pipeline_fixture::{connect_sandbox, save_campaign, wait_published, with_workers};

/// An image whose colour comes from its seed, so each candidate is a different picture.
pub(crate) struct SeededGenerator;

#[async_trait::async_trait]
impl Generator for SeededGenerator {
    fn identity(&self) -> String {
        "seeded".into()
    }

    async fn generate(
        &self,
        req: GenerationRequest,
        _progress: Option<ProgressFn>,
    ) -> Result<GeneratedImage, GenerateError> {
        let shade = (req.seed % 251) as u8;
        let img = image::RgbImage::from_pixel(req.width, req.height, image::Rgb([shade, 90, 160]));
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|e| GenerateError::Image(e.to_string()))?;
        Ok(GeneratedImage {
            png,
            width: req.width,
            height: req.height,
            cache_hit: false,
            generation_key: format!("seeded-{}", req.seed),
        })
    }
}

pub(crate) struct Gated {
    pub(crate) ws: WorkspaceId,
    pub(crate) cipher: Arc<RingCipher>,
    pub(crate) campaign: campaign::Model,
    pub(crate) approver: String,
    pub(crate) editor: String,
}

/// A workspace with the sandbox connected and a campaign whose runs wait for approval.
pub(crate) async fn gated(app: &TestApp, slug: &str, approval: &str) -> anyhow::Result<Gated> {
    let ws = pressroom_store::repo::workspaces::ensure(&app.store, slug, slug).await?;
    let cipher = Arc::new(RingCipher(pressroom_crypto::Keyring::generate()));
    connect_sandbox(app, &cipher, &ws.id).await?;
    let source = format!(
        "{}\n[approval]\n{approval}\n",
        campaign_toml(slug, "launch")
    );
    let campaign = save_campaign(app, &ws.id, "launch", &source).await?;
    let key = |role| {
        let store = app.store.clone();
        let ws = ws.id.clone();
        async move {
            mint_key(&store, Some(&ws), role, "test", "test")
                .await
                .map(|k| k.key)
                .map_err(|e| anyhow::anyhow!("{e}"))
        }
    };
    Ok(Gated {
        approver: key(Role::Approver).await?,
        editor: key(Role::Editor).await?,
        ws: ws.id,
        cipher,
        campaign,
    })
}

/// Runs the real workers with the seeded generator for `g`'s workspace, publishing to a
/// sandbox outbox at `outbox`, while `until` runs.
async fn seeded_workers<F, Fut>(
    app: &TestApp,
    g: &Gated,
    outbox: std::path::PathBuf,
    until: F,
) -> anyhow::Result<()>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    with_workers(
        app,
        &g.cipher,
        Arc::new(SeededGenerator),
        SandboxConfig::new(outbox),
        until,
    )
    .await
}

/// Waits until the run's review is pending with candidates and every post awaits it.
async fn wait_for_review(
    app: &TestApp,
    ws: &WorkspaceId,
    run_id: &pressroom_core::RunId,
    round: i32,
) -> anyhow::Result<pressroom_store::entity::review::Model> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(review) = reviews::by_run(app.store.conn(), ws, run_id).await?
            && review.round == round
            && !reviews::candidates(&review)?.is_empty()
        {
            let waiting = posts::of_run(app.store.conn(), ws, run_id).await?;
            if !waiting.is_empty()
                && waiting.iter().all(|p| p.state == PostState::AwaitingReview)
                && waiting_renditions_follow(app, ws, run_id, &review).await?
            {
                return Ok(review);
            }
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no review of round {round} in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether the run's renditions are cut from the review's first candidate (the round's render
/// jobs are done).
async fn waiting_renditions_follow(
    app: &TestApp,
    ws: &WorkspaceId,
    run_id: &pressroom_core::RunId,
    review: &pressroom_store::entity::review::Model,
) -> anyhow::Result<bool> {
    let first = reviews::candidates(review)?.first().cloned();
    let cut = assets::renditions_of_run(app.store.conn(), ws, run_id).await?;
    Ok(!cut.is_empty() && cut.iter().all(|r| Some(&r.asset_id) == first.as_ref()))
}

pub(crate) async fn wait_review_state(
    app: &TestApp,
    ws: &WorkspaceId,
    run_id: &pressroom_core::RunId,
    state: ReviewState,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let review = reviews::by_run(app.store.conn(), ws, run_id).await?;
        if review.as_ref().is_some_and(|r| r.state == state) {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "review not {state} in 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until every post of the run is in `state`.
pub(crate) async fn wait_posts(
    app: &TestApp,
    ws: &WorkspaceId,
    run_id: &pressroom_core::RunId,
    state: PostState,
) -> anyhow::Result<Vec<pressroom_store::entity::post::Model>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let all = posts::of_run(app.store.conn(), ws, run_id).await?;
        if !all.is_empty() && all.iter().all(|p| p.state == state) {
            return Ok(all);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "posts not all {state} in 60 s: {:?}",
            all.iter().map(|p| p.state).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn call(
    app: &TestApp,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<(u16, Value)> {
    let mut req = app.http.request(method, app.url(path)).bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let text = resp.text().await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

pub(crate) async fn fire(
    app: &TestApp,
    g: &Gated,
    key: &str,
) -> anyhow::Result<pressroom_core::RunId> {
    app.fire(&g.campaign, key)
        .await?
        .ok_or_else(|| anyhow::anyhow!("run {key} was not created"))
}

pub async fn approving_a_candidate_publishes_exactly_it_with_the_edited_caption(
    app: TestApp,
) -> anyhow::Result<()> {
    let g = gated(&app, "gate", "candidates = 3").await?;
    let dir = tempfile::tempdir()?;
    let outbox_dir = dir.path().join("outbox");
    seeded_workers(&app, &g, outbox_dir.clone(), || async {
        let run_id = fire(&app, &g, "first").await?;
        let review = wait_for_review(&app, &g.ws, &run_id, 0).await?;
        // Let the workers idle a moment: nothing may go out while the review waits.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let outbox = Outbox::open(&outbox_dir)?;
        anyhow::ensure!(
            outbox.commits().await?.is_empty(),
            "published before approval"
        );

        let (status, list) = call(
            &app,
            &g.approver,
            reqwest::Method::GET,
            "/v1/reviews?state=pending",
            None,
        )
        .await?;
        anyhow::ensure!(status == 200, "list: {status} {list}");
        let listed = &list["data"][0];
        anyhow::ensure!(listed["id"] == json!(review.id), "{list}");
        anyhow::ensure!(listed["campaign"] == "launch" && listed["state"] == "pending");
        let candidates = listed["candidates"].as_array().cloned().unwrap_or_default();
        anyhow::ensure!(candidates.len() == 3, "three candidates: {listed}");
        let distinct: std::collections::BTreeSet<String> = candidates
            .iter()
            .map(|c| c["asset_id"].to_string())
            .collect();
        anyhow::ensure!(distinct.len() == 3, "three different images: {listed}");
        let target = &listed["targets"][0];
        anyhow::ensure!(target["key"] == "sandbox:instagram-square", "{target}");
        anyhow::ensure!(target["caption"] == "Back in stock: Linen Tote", "{target}");
        anyhow::ensure!(!target["renditions"].as_array().is_none_or(Vec::is_empty));
        anyhow::ensure!(listed["decision"].is_null());

        // A viewer key reads but cannot decide; a bad candidate or target is a 400.
        let path = format!("/v1/reviews/{}/approve", review.id);
        let (status, body) = call(
            &app,
            &g.approver,
            reqwest::Method::POST,
            &path,
            Some(json!({ "candidate": 3 })),
        )
        .await?;
        anyhow::ensure!(
            status == 400 && body["detail"].to_string().contains("candidate"),
            "{status} {body}"
        );
        let (status, body) = call(
            &app,
            &g.approver,
            reqwest::Method::POST,
            &path,
            Some(json!({ "candidate": 2, "captions": { "nowhere:instagram-square": "x" } })),
        )
        .await?;
        anyhow::ensure!(
            status == 400 && body["detail"].to_string().contains("captions"),
            "{status} {body}"
        );

        let edited = "Back in stock, in three colours: Linen Tote";
        let first_cut = assets::renditions_of_run(app.store.conn(), &g.ws, &run_id).await?[0]
            .path
            .clone();
        anyhow::ensure!(app.state.blobs.size(&first_cut).await.is_ok());
        let (status, body) = call(
            &app,
            &g.approver,
            reqwest::Method::POST,
            &path,
            Some(json!({ "candidate": 2, "captions": { "sandbox:instagram-square": edited } })),
        )
        .await?;
        anyhow::ensure!(
            status == 200 && body["state"] == "approved",
            "{status} {body}"
        );
        anyhow::ensure!(body["decision"]["candidate"] == 2, "{body}");
        // The first decision stands.
        let (status, _) = call(
            &app,
            &g.approver,
            reqwest::Method::POST,
            &path,
            Some(json!({})),
        )
        .await?;
        anyhow::ensure!(status == 409, "a second decision: {status}");

        wait_published(&app, &g.ws, 1).await?;
        let published = posts::of_run(app.store.conn(), &g.ws, &run_id).await?;
        anyhow::ensure!(published.len() == 1 && published[0].caption == edited);
        let rendition =
            assets::get_rendition(app.store.conn(), &g.ws, &published[0].rendition_id).await?;
        let chosen = reviews::candidates(&review)?[2].clone();
        anyhow::ensure!(
            rendition.asset_id == chosen,
            "the chosen candidate's cut went out"
        );
        let commits = outbox.commits().await?;
        anyhow::ensure!(commits.len() == 1, "published once: {commits:?}");
        anyhow::ensure!(commits[0].caption == edited, "{:?}", commits[0]);
        let run = runs::get(app.store.conn(), &g.ws, &run_id).await?;
        anyhow::ensure!(run.asset_id.as_ref() == Some(&chosen));
        anyhow::ensure!(
            app.state.blobs.size(&first_cut).await.is_err(),
            "the cut of the candidate not chosen is removed"
        );
        Ok(())
    })
    .await
}

pub async fn rejecting_publishes_nothing_and_regenerating_brings_new_candidates(
    app: TestApp,
) -> anyhow::Result<()> {
    let g = gated(&app, "rej", "candidates = 2").await?;
    let dir = tempfile::tempdir()?;
    let outbox_dir = dir.path().join("outbox");
    seeded_workers(&app, &g, outbox_dir.clone(), || async {
        let run_id = fire(&app, &g, "first").await?;
        let first = wait_for_review(&app, &g.ws, &run_id, 0).await?;
        let path = format!("/v1/reviews/{}/reject", first.id);
        let (status, body) = call(
            &app,
            &g.approver,
            reqwest::Method::POST,
            &path,
            Some(json!({ "reason": "too dark", "regenerate": true })),
        )
        .await?;
        anyhow::ensure!(
            status == 200 && body["state"] == "pending",
            "{status} {body}"
        );
        anyhow::ensure!(body["round"] == 1, "{body}");
        let second = wait_for_review(&app, &g.ws, &run_id, 1).await?;
        let old = reviews::candidates(&first)?;
        let new = reviews::candidates(&second)?;
        anyhow::ensure!(
            new.len() == 2 && new.iter().all(|a| !old.contains(a)),
            "new images"
        );

        let (status, body) = call(
            &app,
            &g.approver,
            reqwest::Method::POST,
            &path,
            Some(json!({ "reason": "off brand" })),
        )
        .await?;
        anyhow::ensure!(
            status == 200 && body["state"] == "rejected",
            "{status} {body}"
        );
        anyhow::ensure!(body["decision"]["reason"] == "off brand", "{body}");
        let cancelled = wait_posts(&app, &g.ws, &run_id, PostState::Cancelled).await?;
        anyhow::ensure!(
            cancelled[0].error.as_deref() == Some("rejected in review: off brand"),
            "{:?}",
            cancelled[0].error
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        anyhow::ensure!(Outbox::open(&outbox_dir)?.commits().await?.is_empty());
        Ok(())
    })
    .await
}

pub async fn an_expired_review_is_discarded_or_published_per_its_campaign(
    app: TestApp,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let discard = gated(&app, "exd", "expires_after = \"1s\"").await?;
    seeded_workers(&app, &discard, dir.path().join("outbox"), || async {
        let dropped = fire(&app, &discard, "d").await?;
        wait_review_state(&app, &discard.ws, &dropped, ReviewState::Expired).await?;
        let cancelled = wait_posts(&app, &discard.ws, &dropped, PostState::Cancelled).await?;
        anyhow::ensure!(cancelled[0].error.as_deref() == Some("the review expired undecided"));
        Ok(())
    })
    .await?;
    let publish = gated(
        &app,
        "exp",
        "expires_after = \"1s\"\non_expiry = \"publish\"",
    )
    .await?;
    seeded_workers(&app, &publish, dir.path().join("outbox"), || async {
        let kept = fire(&app, &publish, "p").await?;
        wait_review_state(&app, &publish.ws, &kept, ReviewState::Expired).await?;
        wait_published(&app, &publish.ws, 1).await?;
        let review = reviews::by_run(app.store.conn(), &publish.ws, &kept)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no review"))?;
        anyhow::ensure!(review.decided_by.as_deref() == Some("expiry"));
        Ok(())
    })
    .await
}

/// The page's CSRF token and cookie, read from a GET of the review page.
async fn page_csrf(app: &TestApp, url: &str) -> anyhow::Result<(String, String, String)> {
    let resp = app.http.get(url).send().await?;
    anyhow::ensure!(resp.status() == 200, "review page: {}", resp.status());
    let cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no CSRF cookie"))?;
    anyhow::ensure!(
        resp.headers()
            .get("referrer-policy")
            .and_then(|v| v.to_str().ok())
            == Some("no-referrer")
    );
    let html = resp.text().await?;
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no CSRF field in the page"))?;
    Ok((cookie, csrf, html))
}

pub async fn a_review_link_decides_once_without_an_account(app: TestApp) -> anyhow::Result<()> {
    let g = gated(&app, "link", "candidates = 2").await?;
    let dir = tempfile::tempdir()?;
    seeded_workers(&app, &g, dir.path().join("outbox"), || async {
            let run_id = fire(&app, &g, "first").await?;
            let review = wait_for_review(&app, &g.ws, &run_id, 0).await?;
            // Approvers may not mint links; editors may.
            let links = format!("/v1/runs/{run_id}/review-links");
            let (status, _) =
                call(&app, &g.approver, reqwest::Method::POST, &links, Some(json!({}))).await?;
            anyhow::ensure!(status == 403);
            let (status, created) =
                call(&app, &g.editor, reqwest::Method::POST, &links, Some(json!({}))).await?;
            anyhow::ensure!(status == 201, "{status} {created}");
            let url = created["url"].as_str().unwrap_or_default().to_string();
            let token = url.rsplit('/').next().unwrap_or_default().to_string();
            anyhow::ensure!(url.starts_with("/review/") && token.len() >= 40, "{url}");
            let stored: Vec<String> = app
                .store
                .conn()
                .query_all_raw(pressroom_store::testing::sea_orm::Statement::from_string(
                    app.store.conn().get_database_backend(),
                    "SELECT token_hash FROM review_links".to_string(),
                ))
                .await?
                .iter()
                .filter_map(|r| r.try_get::<String>("", "token_hash").ok())
                .collect();
            anyhow::ensure!(!stored.iter().any(|h| h.contains(&token)), "token stored in plain text");

            let page_url = app.url(&url);
            let (cookie, csrf, html) = page_csrf(&app, &page_url).await?;
            anyhow::ensure!(html.contains("Candidate 2") && html.contains("Back in stock"));
            let image = app.http.get(app.url(&format!("{url}/candidates/1"))).send().await?;
            anyhow::ensure!(image.status() == 200);
            anyhow::ensure!(image.headers()["content-type"] == "image/png");
            // Each target's cut, at its real aspect, through the link; another run's is not.
            let cut_src = html
                .split("class=\"cut\" src=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .ok_or_else(|| anyhow::anyhow!("no target cut on the page"))?
                // The template escapes `/` in attributes; a browser reads it back.
                .replace("&#x2f;", "/");
            anyhow::ensure!(cut_src.starts_with(&format!("{url}/renditions/")), "{cut_src}");
            let cut = app.http.get(app.url(&cut_src)).send().await?;
            anyhow::ensure!(cut.status() == 200, "the cut: {}", cut.status());
            let other = app.world("link-other").await?;
            let foreign = app
                .http
                .get(app.url(&format!("{url}/renditions/{}", other.rendition_id)))
                .send()
                .await?;
            anyhow::ensure!(foreign.status() == 404, "another run's cut: {}", foreign.status());
            anyhow::ensure!(html.contains("/ 5000 characters"), "the sandbox's caption limit");

            let form = |csrf: &str| {
                format!(
                    "csrf={csrf}&action=approve&candidate=1&name=Dana+%3Cb%3E&caption%3Asandbox%3Ainstagram-square=From+the+client"
                )
            };
            // Without the cookie (another site's form) nothing is decided.
            let resp = app
                .http
                .post(&page_url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&csrf))
                .send()
                .await?;
            anyhow::ensure!(resp.status() == 403, "no CSRF cookie: {}", resp.status());
            let resp = app
                .http
                .post(&page_url)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", &cookie)
                .body(form(&csrf))
                .send()
                .await?;
            anyhow::ensure!(resp.status() == 200, "approve through the link: {}", resp.status());
            let page = resp.text().await?;
            anyhow::ensure!(page.contains("published as approved"), "{page}");
            anyhow::ensure!(!page.contains("Dana <b>"), "the name is escaped");

            let decided = reviews::get(app.store.conn(), &g.ws, &review.id).await?;
            anyhow::ensure!(decided.state == ReviewState::Approved);
            let by = decided.decided_by.unwrap_or_default();
            anyhow::ensure!(by.starts_with("link:") && by.contains("Dana <b>"), "{by}");
            wait_published(&app, &g.ws, 1).await?;
            let post = &posts::of_run(app.store.conn(), &g.ws, &run_id).await?[0];
            anyhow::ensure!(post.caption == "From the client", "{}", post.caption);

            // Replaying the decision (the same form again) decides nothing more.
            let resp = app
                .http
                .post(&page_url)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", &cookie)
                .body(form(&csrf).replace("action=approve", "action=reject"))
                .send()
                .await?;
            anyhow::ensure!(resp.status() == 409, "replay: {}", resp.status());
            let still = reviews::get(app.store.conn(), &g.ws, &review.id).await?;
            anyhow::ensure!(still.state == ReviewState::Approved);

            // Revoked, the link opens nothing.
            let id = created["id"].as_str().unwrap_or_default();
            let (status, _) = call(
                &app,
                &g.editor,
                reqwest::Method::DELETE,
                &format!("/v1/review-links/{id}"),
                None,
            )
            .await?;
            anyhow::ensure!(status == 204);
            let resp = app.http.get(&page_url).send().await?;
            anyhow::ensure!(resp.status() == 403);
            anyhow::ensure!(resp.text().await?.contains("revoked"));
            Ok(())
        },
    )
    .await
}

/// A campaign that names its approvers: no API key decides, and no one else hands out a link
/// (which would decide for them); a decision about candidates since replaced is refused.
pub async fn named_approvers_alone_decide(app: TestApp) -> anyhow::Result<()> {
    let g = gated(
        &app,
        "named",
        "candidates = 2\napprovers = [\"client@acme.example\"]",
    )
    .await?;
    let dir = tempfile::tempdir()?;
    seeded_workers(&app, &g, dir.path().join("outbox"), || async {
        let run_id = fire(&app, &g, "first").await?;
        let review = wait_for_review(&app, &g.ws, &run_id, 0).await?;
        let approve = format!("/v1/reviews/{}/approve", review.id);
        let (status, body) = call(
            &app,
            &g.editor,
            reqwest::Method::POST,
            &approve,
            Some(json!({})),
        )
        .await?;
        anyhow::ensure!(
            status == 403,
            "a key decided a named-approver review: {status} {body}"
        );
        let links = format!("/v1/runs/{run_id}/review-links");
        let (status, body) = call(
            &app,
            &g.editor,
            reqwest::Method::POST,
            &links,
            Some(json!({})),
        )
        .await?;
        anyhow::ensure!(
            status == 403,
            "an editor handed out a link: {status} {body}"
        );
        // The operator may regenerate as the named approver; a decision citing the old
        // round is then refused (409), one citing the new round stands.
        let rejected = pressroom_runtime::reviews::reject(
            &app.store,
            &app.queue,
            &g.ws,
            &review.id,
            &pressroom_runtime::reviews::Decider::Person {
                email: "client@acme.example".into(),
            },
            "new images please",
            true,
            Some(0),
        )
        .await?;
        anyhow::ensure!(rejected.round == 1);
        let second = wait_for_review(&app, &g.ws, &run_id, 1).await?;
        let client = pressroom_runtime::reviews::Decider::Person {
            email: "Client@Acme.example".into(),
        };
        let stale = pressroom_runtime::reviews::approve(
            &app.store,
            &app.queue,
            &g.ws,
            &second.id,
            &client,
            1,
            Default::default(),
            Some(0),
        )
        .await;
        anyhow::ensure!(
            matches!(
                stale,
                Err(pressroom_runtime::reviews::DecideError::Stale { seen: 0, now: 1 })
            ),
            "{stale:?}"
        );
        let approved = pressroom_runtime::reviews::approve(
            &app.store,
            &app.queue,
            &g.ws,
            &second.id,
            &client,
            1,
            Default::default(),
            Some(1),
        )
        .await?;
        anyhow::ensure!(approved.state == ReviewState::Approved);
        wait_published(&app, &g.ws, 1).await?;
        let post = &posts::of_run(app.store.conn(), &g.ws, &run_id).await?[0];
        let cut = assets::get_rendition(app.store.conn(), &g.ws, &post.rendition_id).await?;
        anyhow::ensure!(
            cut.asset_id == reviews::candidates(&second)?[1],
            "the second round's chosen candidate went out"
        );
        Ok(())
    })
    .await
}

pub async fn an_expired_link_and_another_workspace_see_nothing(app: TestApp) -> anyhow::Result<()> {
    let a = app.world("rva").await?;
    let b = app.world("rvb").await?;
    // B's approver cannot see or decide A's review.
    for (method, path, body) in [
        (
            reqwest::Method::GET,
            format!("/v1/reviews/{}", a.review_id),
            None,
        ),
        (
            reqwest::Method::POST,
            format!("/v1/reviews/{}/approve", a.review_id),
            Some(json!({})),
        ),
        (
            reqwest::Method::POST,
            format!("/v1/reviews/{}/reject", a.review_id),
            Some(json!({ "reason": "x" })),
        ),
        (
            reqwest::Method::POST,
            format!("/v1/runs/{}/review-links", a.run_id),
            Some(json!({})),
        ),
    ] {
        let key = if method == reqwest::Method::GET {
            b.key(Role::Approver)
        } else {
            b.key(Role::Owner)
        };
        let (status, _) = call(&app, key, method, &path, body).await?;
        anyhow::ensure!(status == 404, "{path}: {status}");
    }
    let (_, listed) = call(
        &app,
        b.key(Role::Approver),
        reqwest::Method::GET,
        "/v1/reviews",
        None,
    )
    .await?;
    let ids: Vec<&Value> = listed["data"]
        .as_array()
        .map(|d| d.iter().map(|r| &r["id"]).collect())
        .unwrap_or_default();
    anyhow::ensure!(ids == vec![&json!(b.review_id)], "{listed}");
    let (status, _) = call(
        &app,
        b.key(Role::Approver),
        reqwest::Method::GET,
        "/v1/reviews?state=maybe",
        None,
    )
    .await?;
    anyhow::ensure!(status == 400);

    // A link past its expiry opens nothing.
    let (token, hash) = pressroom_crypto::password::new_token();
    let now = app.store.now_ms().await?;
    reviews::insert_link(
        &app.store,
        app.store.conn(),
        now,
        reviews::NewLink {
            workspace_id: &a.ws_id,
            review_id: &a.review_id,
            token_hash: &hash,
            created_by: "test",
            expires_at: now - 1,
        },
    )
    .await?;
    let url = app.url(&format!(
        "/review/{}",
        secrecy::ExposeSecret::expose_secret(&token)
    ));
    let resp = app.http.get(&url).send().await?;
    anyhow::ensure!(resp.status() == 403);
    anyhow::ensure!(resp.text().await?.contains("expired"));
    let resp = app.http.get(app.url("/review/not-a-token")).send().await?;
    anyhow::ensure!(resp.status() == 403);
    Ok(())
}

on_both_backends!(
    approving_a_candidate_publishes_exactly_it_with_the_edited_caption,
    rejecting_publishes_nothing_and_regenerating_brings_new_candidates,
    an_expired_review_is_discarded_or_published_per_its_campaign,
    a_review_link_decides_once_without_an_account,
    named_approvers_alone_decide,
    an_expired_link_and_another_workspace_see_nothing,
);
