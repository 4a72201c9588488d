//! A prompt policy term added after an image was made also blocks reusing that image: the
//! pipeline reuses the stored asset of an identical request without calling the generator,
//! so it must ask the generator to admit the request first.

use std::sync::Arc;
use std::time::{Duration, Instant};

use connector_sandbox::SandboxConfig;
use pressroom_generate::{BlockedTerm, PolicyGenerator, PromptPolicy};
use pressroom_store::Paging;
use pressroom_store::repo::{posts, runs};

use crate::harness::{FakeGenerator, TestApp};
use crate::pipeline_fixture::{SandboxWorld, sandbox_world, wait_published, with_workers};

pub async fn a_new_policy_term_blocks_reusing_an_earlier_image(app: TestApp) -> anyhow::Result<()> {
    // A fixed seed: both runs ask for the identical image ("A stack of Linen Tote on a shelf").
    let SandboxWorld {
        workspace_id: ws,
        cipher,
        campaign,
    } = sandbox_world(&app, "pol", "totes").await?;
    let dir = tempfile::tempdir()?;
    let trigger = |key: &'static str| {
        let app = &app;
        let campaign = &campaign;
        async move {
            app.fire(campaign, key)
                .await?
                .ok_or_else(|| anyhow::anyhow!("run {key} was not created"))
        }
    };

    let outbox = || SandboxConfig::new(dir.path().join("outbox"));
    // No policy yet: the first run generates, stores and publishes its image.
    with_workers(&app, &cipher, Arc::new(FakeGenerator), outbox(), || async {
        trigger("before").await?;
        wait_published(&app, &ws, 1).await
    })
    .await?;

    // The same request again, now that "linen" is blocked.
    let policy = PromptPolicy::new(vec![BlockedTerm {
        term: "linen".into(),
        reason: "fabric claims need legal review".into(),
    }]);
    let guarded = Arc::new(PolicyGenerator::new(FakeGenerator, policy));
    let mut blocked_run = None;
    with_workers(&app, &cipher, guarded, outbox(), || async {
        let run_id = trigger("after").await?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let row = runs::get(app.store.conn(), &ws, &run_id).await?;
            if row.state == pressroom_core::RunState::Failed {
                blocked_run = Some(row);
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the blocked run is still {:?} after 60 s",
                row.state
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await?;

    let row = blocked_run.ok_or_else(|| anyhow::anyhow!("no blocked run"))?;
    let error = row.error.unwrap_or_default();
    anyhow::ensure!(
        error.contains("linen") && error.contains("fabric claims need legal review"),
        "the run's error does not give the policy's reason: {error:?}"
    );
    anyhow::ensure!(row.asset_id.is_none(), "the blocked run got an asset");
    let posts = posts::page(
        &app.store,
        &ws,
        &Default::default(),
        Paging::new(None, 1000),
    )
    .await?;
    anyhow::ensure!(
        posts.len() == 1 && posts.iter().all(|p| p.run_id != row.id),
        "the blocked run made posts: {posts:?}"
    );
    Ok(())
}

on_both_backends!(a_new_policy_term_blocks_reusing_an_earlier_image);
