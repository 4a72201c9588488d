//! Render: cut one rendition of the run's image for one preset, then create the posts of the
//! targets that use it and enqueue one publish job per post — all in one transaction. When the
//! run waits for a review its posts wait too (`awaiting_review`); once decided, the `review`
//! job runs this again for every preset, which cuts the chosen image and moves the posts on.

use pressroom_core::campaign::TargetSpec;
use pressroom_core::{AssetId, JobKind, PostFormat, PostState, RunId, WorkspaceId};
use pressroom_store::repo::{accounts, assets, campaigns, posts, reviews, runs};
use pressroom_store::{ClaimedJob, NewJob};
use serde::Deserialize;
use tracing::{info, warn};

use super::{JobError, Pipeline, variables};
use crate::campaigns::stored_spec;
use crate::images::sha256_hex;
use crate::reviews::{Gate, target_key};

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
    // Under the image's id: a reviewer's other candidate is a new file, not an overwrite of
    // one already cut (the file name stays `<preset>-<fit>`, which the sandbox reads).
    let rel = format!(
        "renditions/{run_id}/{asset_id}/{preset_name}-{fit}.{}",
        rendition.format.extension()
    );
    p.blobs
        .put(&rel, &rendition.bytes)
        .await
        .map_err(|e| JobError::retry(format!("writing the rendition: {e}")))?;

    let campaign = campaigns::get(&p.store, ws, &run.campaign_id).await?;
    let spec = stored_spec(&campaign).map_err(|e| JobError::Permanent(e.to_string()))?;
    let run_context = variables::for_run(&spec, &run);
    let uses_this = |t: &&TargetSpec| {
        t.preset == preset_name && t.fit.map(|f| f.as_str()).unwrap_or("cover") == fit
    };
    // A carousel target on this preset needs every image of the run cut for it; the
    // first is the cut above.
    let mut slides = Vec::new();
    if spec
        .targets
        .iter()
        .filter(uses_this)
        .any(|t| t.format == PostFormat::Carousel)
    {
        for (index, slide_asset) in run.asset_ids().iter().enumerate().skip(1) {
            slides.push(
                cut_slide(p, ws, &run_id, slide_asset, &preset, fit_mode, &fit, index).await?,
            );
        }
    }

    let now = p.store.now_ms().await?;
    let tx = p.store.begin().await?;
    // The review first, then the run: a decision sets the chosen image in its own
    // transaction, so a review read as decided comes with the run's image already chosen.
    let review = reviews::by_run(&tx, ws, &run_id).await?;
    let gate = Gate::of(review.as_ref());
    let current = runs::get(&tx, ws, &run_id).await?;
    if current.asset_id.as_ref() != Some(&asset_id) || campaign.deleted_at.is_some() {
        // The image changed while this was cut (a reviewer chose another candidate, or new
        // ones came): the job of the newer image cuts it; or the campaign is gone.
        info!(run = %run_id, preset = %preset_name, "render: the run's image changed; this cut is dropped");
        p.queue.complete(&tx, job).await?;
        tx.commit().await?;
        return Ok(());
    }
    let new_rendition = assets::NewRendition {
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
    };
    let row = assets::insert_rendition(&p.store, &tx, now, new_rendition.clone()).await?;
    let mut carousel_ids = vec![row.id.clone()];
    for slide in &slides {
        let slide_row = assets::insert_rendition(
            &p.store,
            &tx,
            now,
            assets::NewRendition {
                workspace_id: ws,
                run_id: &run_id,
                asset_id: &slide.asset_id,
                preset: &preset_name,
                fit: &slide.fit_key,
                sha256: &slide.sha256,
                path: &slide.path,
                mime: slide.mime,
                width: slide.width,
                height: slide.height,
                bytes: slide.bytes,
            },
        )
        .await?;
        carousel_ids.push(slide_row.id);
    }
    let mut replaced = None;
    if row.asset_id != asset_id && gate != Gate::Open {
        // The run's image changed since this preset was cut (another candidate chosen, or new
        // ones generated): its posts have not published, so the rendition follows the image.
        assets::replace_rendition(&p.store, &tx, &row.id, new_rendition).await?;
        replaced = Some(row.path.clone());
    }
    // Publish at the scheduled time when the run was generated ahead of it (a lead time), at
    // once otherwise or when the approval came late.
    let publish_delay =
        std::time::Duration::from_millis(run.fire_at.saturating_sub(now).max(0) as u64);
    let mut created = 0;
    for (index, target) in spec
        .targets
        .iter()
        .enumerate()
        .filter(|(_, t)| uses_this(t))
    {
        let Some(account) = accounts::by_name(&tx, ws, &target.account).await? else {
            // Validation refuses such campaigns; an account deleted since then lands here.
            warn!(run = %run_id, account = %target.account, "render: target account no longer exists");
            continue;
        };
        // The generate step rendered these once already, so a failure here is a campaign
        // or account changed in between: this target cannot be posted as written.
        let texts = variables::target_texts(&spec, index, account.platform.as_str(), &run_context)
            .map_err(JobError::Permanent)?;
        let first_state = match gate {
            Gate::Open => PostState::Pending,
            _ => PostState::AwaitingReview,
        };
        let new_post = posts::NewPost {
            workspace_id: ws,
            run_id: &run_id,
            account_id: &account.id,
            rendition_id: &row.id,
            platform: account.platform,
            preset: &preset_name,
            caption: &texts.caption,
            format: target.format,
            alt_texts: &texts.alt_texts,
            rendition_ids: if target.format == PostFormat::Carousel {
                &carousel_ids
            } else {
                &[]
            },
            first_comment: texts.first_comment.as_deref(),
            cover_index: target
                .cover
                .filter(|_| target.format == PostFormat::Carousel),
        };
        let post = posts::insert_in_state(&p.store, &tx, now, new_post, first_state).await?;
        let publish = match &gate {
            Gate::Open => post.state == PostState::Pending,
            Gate::Waiting => false,
            Gate::Approved(captions) => {
                if let Some(edit) = captions.get(&target_key(&target.account, &target.preset)) {
                    posts::set_caption(&p.store, &tx, now, ws, &post.id, edit).await?;
                }
                posts::transition_post(
                    &p.store,
                    &tx,
                    now,
                    ws,
                    &post.id,
                    &[PostState::AwaitingReview],
                    PostState::Pending,
                    None,
                )
                .await?
            }
            Gate::Closed(reason) => {
                posts::transition_post(
                    &p.store,
                    &tx,
                    now,
                    ws,
                    &post.id,
                    &[PostState::AwaitingReview],
                    PostState::Cancelled,
                    Some(reason),
                )
                .await?;
                false
            }
        };
        if publish {
            let mut publish_job = NewJob::new(
                ws,
                JobKind::Publish,
                serde_json::json!({ "post_id": post.id }),
            )
            .unique(format!("publish:{}", post.id))
            .max_attempts(p.retry.max_attempts);
            publish_job.delay = publish_delay;
            p.queue.enqueue(&tx, publish_job).await?;
            created += 1;
        }
    }
    p.queue.complete(&tx, job).await?;
    tx.commit().await?;
    if let Some(old) = replaced
        && old != rel
    {
        // The cut of the image no longer chosen: no row names it now (each image's cuts live
        // under its own id), and nothing published it. Best effort: a leftover file is harmless.
        if let Err(e) = p.blobs.delete(&old).await {
            warn!(run = %run_id, file = %old, error = %e, "render: could not remove a replaced cut");
        }
    }
    info!(run = %run_id, preset = %preset_name, bytes = rendition.bytes.len(), posts = created, "render: rendition ready");
    Ok(())
}

/// One more image of a carousel, cut for this preset and stored.
struct Slide {
    asset_id: AssetId,
    /// The renditions table keys a cut by (run, preset, fit): slide `i` > 0 is stored under
    /// the fit `<fit>~<i>`, so the first slide keeps the key every other reader uses.
    fit_key: String,
    sha256: String,
    path: String,
    mime: &'static str,
    width: u32,
    height: u32,
    bytes: u64,
}

#[allow(clippy::too_many_arguments)]
async fn cut_slide(
    p: &Pipeline,
    ws: &WorkspaceId,
    run_id: &RunId,
    asset_id: &AssetId,
    preset: &pressroom_media::Preset,
    fit_mode: pressroom_media::Fit,
    fit: &str,
    index: usize,
) -> Result<Slide, JobError> {
    let asset = assets::get(p.store.conn(), ws, asset_id).await?;
    let source = p
        .blobs
        .get(&asset.path)
        .await
        .map_err(|e| JobError::retry(format!("reading slide {index}: {e}")))?;
    let preset_for_task = preset.clone();
    let rendition = tokio::task::spawn_blocking(move || {
        pressroom_media::render(&source, &preset_for_task, fit_mode)
    })
    .await
    .map_err(|e| JobError::retry(format!("render task: {e}")))?
    .map_err(|e| JobError::Permanent(format!("render {} slide {index}: {e}", preset.name)))?;
    let path = format!(
        "renditions/{run_id}/{asset_id}/{}-{fit}-{index}.{}",
        preset.name,
        rendition.format.extension()
    );
    p.blobs
        .put(&path, &rendition.bytes)
        .await
        .map_err(|e| JobError::retry(format!("writing slide {index}: {e}")))?;
    Ok(Slide {
        asset_id: asset_id.clone(),
        fit_key: format!("{fit}~{index}"),
        sha256: sha256_hex(&rendition.bytes),
        path,
        mime: rendition.format.mime(),
        width: rendition.width,
        height: rendition.height,
        bytes: rendition.bytes.len() as u64,
    })
}
