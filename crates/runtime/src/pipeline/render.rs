//! Render: cut one rendition of the run's image for one preset, then create the posts of the
//! targets that use it and enqueue one publish job per post — all in one transaction.

use pressroom_core::PostState;
use pressroom_core::{JobKind, RunId};
use pressroom_store::repo::{accounts, assets, campaigns, posts, runs};
use pressroom_store::{ClaimedJob, NewJob};
use serde::Deserialize;
use tracing::{info, warn};

use super::{JobError, Pipeline};
use crate::campaigns::stored_spec;
use crate::images::sha256_hex;

#[derive(Deserialize)]
struct Payload {
    run_id: RunId,
    preset: String,
    fit: String,
}

pub(super) async fn handle(p: &Pipeline, job: &ClaimedJob) -> Result<(), JobError> {
    let Payload {
        run_id,
        preset: preset_name,
        fit,
    } = job.payload()?;
    let ws = &job.workspace_id;
    let run = runs::get(p.store.conn(), ws, &run_id).await?;
    let asset_id = run
        .asset_id
        .clone()
        .ok_or_else(|| JobError::retry(format!("run {run_id} has no image yet")))?;
    let asset = assets::get(p.store.conn(), ws, &asset_id).await?;
    let preset = p
        .presets
        .get(&preset_name)
        .cloned()
        .ok_or_else(|| JobError::Permanent(format!("unknown preset {preset_name:?}")))?;
    let fit_mode: pressroom_media::Fit = fit
        .parse()
        .map_err(|e| JobError::Permanent(format!("fit {fit:?}: {e}")))?;

    let source = p
        .blobs
        .get(&asset.path)
        .await
        .map_err(|e| JobError::retry(format!("reading asset: {e}")))?;
    let preset_for_task = preset.clone();
    let rendition = tokio::task::spawn_blocking(move || {
        pressroom_media::render(&source, &preset_for_task, fit_mode)
    })
    .await
    .map_err(|e| JobError::retry(format!("render task: {e}")))?
    .map_err(|e| JobError::Permanent(format!("render {preset_name}: {e}")))?;

    let sha = sha256_hex(&rendition.bytes);
    let rel = format!(
        "renditions/{run_id}/{preset_name}-{fit}.{}",
        rendition.format.extension()
    );
    p.blobs
        .put(&rel, &rendition.bytes)
        .await
        .map_err(|e| JobError::retry(format!("writing the rendition: {e}")))?;

    let campaign = campaigns::get(&p.store, ws, &run.campaign_id).await?;
    let spec = stored_spec(&campaign).map_err(|e| JobError::Permanent(e.to_string()))?;
    let caption = run.caption.clone().unwrap_or_default();

    let now = p.store.now_ms().await?;
    let tx = p.store.begin().await?;
    let row = assets::insert_rendition(
        &p.store,
        &tx,
        now,
        assets::NewRendition {
            workspace_id: ws,
            run_id: &run_id,
            asset_id: &asset_id,
            preset: &preset_name,
            fit: &fit,
            sha256: &sha,
            path: &rel,
            mime: rendition.format.mime(),
            width: rendition.width,
            height: rendition.height,
            bytes: rendition.bytes.len() as u64,
        },
    )
    .await?;
    let mut created = 0;
    for target in spec
        .targets
        .iter()
        .filter(|t| t.preset == preset_name && t.fit.map(|f| f.as_str()).unwrap_or("cover") == fit)
    {
        let Some(account) = accounts::by_name(&tx, ws, &target.account).await? else {
            // Validation refuses such campaigns; an account deleted since then lands here.
            warn!(run = %run_id, account = %target.account, "render: target account no longer exists");
            continue;
        };
        let post = posts::insert(
            &p.store,
            &tx,
            now,
            posts::NewPost {
                workspace_id: ws,
                run_id: &run_id,
                account_id: &account.id,
                rendition_id: &row.id,
                platform: account.platform,
                preset: &preset_name,
                caption: &caption,
            },
        )
        .await?;
        if post.state == PostState::Pending {
            p.queue
                .enqueue(
                    &tx,
                    NewJob::new(
                        ws,
                        JobKind::Publish,
                        serde_json::json!({ "post_id": post.id }),
                    )
                    .unique(format!("publish:{}", post.id))
                    .max_attempts(p.retry.max_attempts),
                )
                .await?;
            created += 1;
        }
    }
    p.queue.complete(&tx, job).await?;
    tx.commit().await?;
    info!(run = %run_id, preset = %preset_name, bytes = rendition.bytes.len(), posts = created, "render: rendition ready");
    Ok(())
}
