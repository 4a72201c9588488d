//! Images the model's safety checker withholds, through the real worker pipeline: under an
//! approval gate the run goes to review with the reason (the reviewer may ask for new images or
//! reject; there is nothing to approve), without one the run fails with it; a withheld image is
//! never kept and never published.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use connector_sandbox::{Outbox, SandboxConfig};
use pressroom_core::{RunState, WorkspaceId};
use pressroom_generate::{GenerateError, GeneratedImage, GenerationRequest, Generator, ProgressFn};
use pressroom_store::entity::review;
use pressroom_store::repo::{assets, posts, reviews, runs};
use serde_json::json;

use crate::harness::{RingCipher, TestApp, campaign_toml};
use crate::pipeline_fixture::{connect_sandbox, save_campaign, wait_published, with_workers};
use crate::reviews::{Gated, SeededGenerator, call, fire, gated};

/// As the engine answers when its checker flags an image.
const CHECKER_SAYS: &str = "the image safety checker flagged the generated image (concepts 3)";

/// The seeded generator behind a safety check that flags every image, or (once `all` is
/// cleared) the images of odd seeds.
struct Checked {
    all: AtomicBool,
}

#[async_trait::async_trait]
impl Generator for Checked {
    fn identity(&self) -> String {
        "seeded+checked".into()
    }

    async fn generate(
        &self,
        req: GenerationRequest,
        progress: Option<ProgressFn>,
    ) -> Result<GeneratedImage, GenerateError> {
        if self.all.load(Ordering::SeqCst) || req.seed % 2 == 1 {
            return Err(GenerateError::Unsafe(CHECKER_SAYS.into()));
        }
        SeededGenerator.generate(req, progress).await
    }
}

async fn checked_workers<F, Fut>(
    app: &TestApp,
    cipher: &Arc<RingCipher>,
    generator: Arc<Checked>,
    outbox: std::path::PathBuf,
    until: F,
) -> anyhow::Result<()>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    with_workers(app, cipher, generator, SandboxConfig::new(outbox), until).await
}

/// Waits until the run's review has made `round`'s images (kept or withheld).
async fn wait_round(
    app: &TestApp,
    ws: &WorkspaceId,
    run_id: &pressroom_core::RunId,
    round: i32,
) -> anyhow::Result<review::Model> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(review) = reviews::by_run(app.store.conn(), ws, run_id).await?
            && review.round == round
            && reviews::round_ready(&review)?
        {
            return Ok(review);
        }
        anyhow::ensure!(Instant::now() < deadline, "round {round} not made in 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_run(
    app: &TestApp,
    ws: &WorkspaceId,
    run_id: &pressroom_core::RunId,
    state: RunState,
) -> anyhow::Result<pressroom_store::entity::run::Model> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let run = runs::get(app.store.conn(), ws, run_id).await?;
        if run.state == state {
            return Ok(run);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "run not {state} in 60 s: {:?} {:?}",
            run.state,
            run.error
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every image of a round withheld: the review says so, nothing can be approved, nothing is
/// cut or published; new images are asked for, and of those the ones not flagged are
/// candidates while the flagged ones are listed with their seeds; the approved one goes out
/// once.
pub async fn withheld_images_go_to_review_and_never_out(app: TestApp) -> anyhow::Result<()> {
    let g = gated(&app, "safe", "candidates = 3").await?;
    let dir = tempfile::tempdir()?;
    let outbox_dir = dir.path().join("outbox");
    let generator = Arc::new(Checked {
        all: AtomicBool::new(true),
    });
    checked_workers(
        &app,
        &g.cipher,
        generator.clone(),
        outbox_dir.clone(),
        || async {
            let run_id = fire(&app, &g, "first").await?;
            let first = wait_round(&app, &g.ws, &run_id, 0).await?;
            anyhow::ensure!(reviews::candidates(&first)?.is_empty());
            let flags = reviews::flags(&first)?;
            anyhow::ensure!(flags.len() == 3, "{flags:?}");
            let seeds: std::collections::BTreeSet<u64> = flags.iter().map(|f| f.seed).collect();
            anyhow::ensure!(seeds.len() == 3, "one seed per image: {flags:?}");
            anyhow::ensure!(flags.iter().all(|f| f.reason == CHECKER_SAYS), "{flags:?}");
            anyhow::ensure!(
                flags.iter().map(|f| f.candidate).collect::<Vec<_>>() == [0, 1, 2],
                "{flags:?}"
            );
            let run = runs::get(app.store.conn(), &g.ws, &run_id).await?;
            anyhow::ensure!(run.state == RunState::Queued && run.asset_id.is_none());
            anyhow::ensure!(
                posts::of_run(app.store.conn(), &g.ws, &run_id)
                    .await?
                    .is_empty()
            );
            anyhow::ensure!(
                assets::renditions_of_run(app.store.conn(), &g.ws, &run_id)
                    .await?
                    .is_empty()
            );

            let (status, body) = call(
                &app,
                &g.approver,
                reqwest::Method::GET,
                &format!("/v1/reviews/{}", first.id),
                None,
            )
            .await?;
            anyhow::ensure!(status == 200, "{status} {body}");
            anyhow::ensure!(body["candidates"] == json!([]), "{body}");
            anyhow::ensure!(
                body["flagged"].as_array().map(Vec::len) == Some(3),
                "{body}"
            );
            anyhow::ensure!(body["flagged"][1]["reason"] == CHECKER_SAYS, "{body}");
            anyhow::ensure!(body["flagged"][1]["candidate"] == 1, "{body}");

            let approve = format!("/v1/reviews/{}/approve", first.id);
            let (status, body) = call(
                &app,
                &g.approver,
                reqwest::Method::POST,
                &approve,
                Some(json!({ "candidate": 0 })),
            )
            .await?;
            anyhow::ensure!(status == 409, "{status} {body}");
            anyhow::ensure!(
                body["detail"]
                    .to_string()
                    .contains("safety checker withheld this round's images"),
                "{body}"
            );

            // The client's review link says why there is nothing to choose, and offers new images.
            let links = format!("/v1/runs/{run_id}/review-links");
            let (status, created) = call(
                &app,
                &g.editor,
                reqwest::Method::POST,
                &links,
                Some(json!({})),
            )
            .await?;
            anyhow::ensure!(status == 201, "{status} {created}");
            let url = created["url"].as_str().unwrap_or_default();
            let page = app.http.get(app.url(url)).send().await?;
            anyhow::ensure!(page.status() == 200);
            let html = page.text().await?;
            anyhow::ensure!(html.contains("withheld 3 images of this round"), "{html}");
            anyhow::ensure!(html.contains("Image 2 (seed"), "{html}");
            anyhow::ensure!(html.contains("review-regenerate") && !html.contains("review-approve"));

            generator.all.store(false, Ordering::SeqCst);
            let (status, body) = call(
                &app,
                &g.approver,
                reqwest::Method::POST,
                &format!("/v1/reviews/{}/reject", first.id),
                Some(json!({ "reason": "flagged", "regenerate": true })),
            )
            .await?;
            anyhow::ensure!(status == 200 && body["round"] == 1, "{status} {body}");
            let second = wait_round(&app, &g.ws, &run_id, 1).await?;
            let kept = reviews::candidates(&second)?;
            let flags = reviews::flags(&second)?;
            anyhow::ensure!(kept.len() + flags.len() == 3, "{kept:?} {flags:?}");
            anyhow::ensure!(!kept.is_empty() && !flags.is_empty(), "{kept:?} {flags:?}");
            anyhow::ensure!(flags.iter().all(|f| f.seed % 2 == 1), "{flags:?}");
            anyhow::ensure!(
                flags.iter().all(|f| !seeds.contains(&f.seed)),
                "new seeds: {flags:?}"
            );

            let (status, body) = call(
                &app,
                &g.approver,
                reqwest::Method::POST,
                &approve,
                Some(json!({ "candidate": 0, "round": 1 })),
            )
            .await?;
            anyhow::ensure!(
                status == 200 && body["state"] == "approved",
                "{status} {body}"
            );
            anyhow::ensure!(body["flagged"].as_array().map(Vec::len) == Some(flags.len()));
            wait_published(&app, &g.ws, 1).await?;
            let published = posts::of_run(app.store.conn(), &g.ws, &run_id).await?;
            let rendition =
                assets::get_rendition(app.store.conn(), &g.ws, &published[0].rendition_id).await?;
            anyhow::ensure!(
                rendition.asset_id == kept[0],
                "the approved candidate went out"
            );
            let commits = Outbox::open(&outbox_dir)?.commits().await?;
            anyhow::ensure!(commits.len() == 1, "published once: {commits:?}");
            Ok(())
        },
    )
    .await
}

/// Every image withheld and the review rejected (or expired): the run ends failed with the
/// reason instead of staying queued; nothing went out.
pub async fn a_withheld_round_rejected_fails_the_run(app: TestApp) -> anyhow::Result<()> {
    let g: Gated = gated(&app, "safe-rej", "candidates = 2").await?;
    let dir = tempfile::tempdir()?;
    let outbox_dir = dir.path().join("outbox");
    let generator = Arc::new(Checked {
        all: AtomicBool::new(true),
    });
    checked_workers(&app, &g.cipher, generator, outbox_dir.clone(), || async {
        let run_id = fire(&app, &g, "first").await?;
        let review = wait_round(&app, &g.ws, &run_id, 0).await?;
        let (status, body) = call(
            &app,
            &g.approver,
            reqwest::Method::POST,
            &format!("/v1/reviews/{}/reject", review.id),
            Some(json!({ "reason": "not for us" })),
        )
        .await?;
        anyhow::ensure!(
            status == 200 && body["state"] == "rejected",
            "{status} {body}"
        );
        let run = wait_run(&app, &g.ws, &run_id, RunState::Failed).await?;
        anyhow::ensure!(
            run.error.as_deref() == Some("rejected in review: not for us"),
            "{:?}",
            run.error
        );
        anyhow::ensure!(
            posts::of_run(app.store.conn(), &g.ws, &run_id)
                .await?
                .is_empty()
        );
        anyhow::ensure!(Outbox::open(&outbox_dir)?.commits().await?.is_empty());
        Ok(())
    })
    .await
}

/// No approval gate: a withheld image fails its run with the checker's reason, and nothing of
/// it is kept.
pub async fn without_review_a_withheld_image_fails_the_run(app: TestApp) -> anyhow::Result<()> {
    let ws =
        pressroom_store::repo::workspaces::ensure(&app.store, "safe-open", "safe-open").await?;
    let cipher = Arc::new(RingCipher(pressroom_crypto::Keyring::generate()));
    connect_sandbox(&app, &cipher, &ws.id).await?;
    let campaign = save_campaign(&app, &ws.id, "open", &campaign_toml("safe-open", "open")).await?;
    let dir = tempfile::tempdir()?;
    let outbox_dir = dir.path().join("outbox");
    let generator = Arc::new(Checked {
        all: AtomicBool::new(true),
    });
    checked_workers(&app, &cipher, generator, outbox_dir.clone(), || async {
        let run_id = app
            .fire(&campaign, "first")
            .await?
            .ok_or_else(|| anyhow::anyhow!("no run"))?;
        let run = wait_run(&app, &ws.id, &run_id, RunState::Failed).await?;
        anyhow::ensure!(
            run.error.as_deref() == Some(&format!("generation failed: {CHECKER_SAYS}")[..]),
            "{:?}",
            run.error
        );
        anyhow::ensure!(
            reviews::by_run(app.store.conn(), &ws.id, &run_id)
                .await?
                .is_none()
        );
        anyhow::ensure!(
            posts::of_run(app.store.conn(), &ws.id, &run_id)
                .await?
                .is_empty()
        );
        let kept = assets::created_since(&app.store, &ws.id, 0).await?;
        anyhow::ensure!(kept.is_empty(), "nothing kept: {kept:?}");
        anyhow::ensure!(Outbox::open(&outbox_dir)?.commits().await?.is_empty());
        Ok(())
    })
    .await
}

on_both_backends!(
    withheld_images_go_to_review_and_never_out,
    a_withheld_round_rejected_fails_the_run,
    without_review_a_withheld_image_fails_the_run,
);
