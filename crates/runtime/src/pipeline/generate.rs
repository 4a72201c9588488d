//! Generate: render the prompt and caption, then fetch the image from the asset table (same
//! generation key = same image, no model run) or generate it, store it content-addressed, and
//! enqueue one render job per (preset, fit) the campaign targets. A campaign that needs
//! approval gets `candidates` images (one seed each) and its run's review opens with them.

use std::collections::BTreeSet;
use std::sync::Arc;

use pressroom_core::campaign::{CampaignSpec, Seed};
use pressroom_core::{AssetId, JobKind, PostEvent, ReviewState, RunId, WorkspaceId};
use pressroom_generate::{GenerateError, GenerationRequest};
use pressroom_store::repo::{accounts, assets, campaign_delete, campaigns, reviews, runs};
use pressroom_store::{ClaimedJob, NewJob};
use serde::Deserialize;
use tracing::info;

use super::{JobError, Pipeline, variables};
use crate::campaigns::stored_spec;
use crate::images::{KeepError, MakeError, sha256_hex};

#[derive(Deserialize)]
struct Payload {
    run_id: RunId,
    /// The review's round of candidates (0 unless the reviewer asked to regenerate).
    #[serde(default)]
    round: i32,
}

pub(super) async fn handle(p: &Pipeline, job: &ClaimedJob) -> Result<(), JobError> {
    let Payload { run_id, round } = job.payload()?;
    let ws = &job.workspace_id;
    let run = runs::get(p.store.conn(), ws, &run_id).await?;
    let campaign = campaigns::get(&p.store, ws, &run.campaign_id).await?;
    if campaign.deleted_at.is_some() {
        // Fired by a tick that raced the delete: nothing is generated or published.
        return fail_run(p, ws, &run_id, campaign_delete::REASON).await;
    }
    let spec = stored_spec(&campaign).map_err(|e| JobError::Permanent(e.to_string()))?;
    let approval = spec.review().cloned();
    if approval.is_some()
        && let Some(review) = reviews::by_run(p.store.conn(), ws, &run_id).await?
        && (review.state != ReviewState::Pending || review.round != round)
    {
        // Decided, or a newer round was asked for since: these candidates are not wanted.
        info!(run = %run_id, round, "generate: the review moved on; nothing to do");
        return super::complete(p, job).await;
    }

    let vars = variables::for_run(&spec, &run);
    let rendered = render_texts(&spec, &vars);
    let (prompt, negative, caption) = match rendered {
        Ok(t) => t,
        Err(reason) => return fail_run(p, ws, &run_id, &reason).await,
    };
    // Each target's texts render again when its rendition is cut; a template that fails
    // for one of them fails the run now, before an image is made for nothing.
    // The run's caption is its first target's (each post keeps its own).
    let mut caption = caption;
    for (index, target) in spec.targets.iter().enumerate() {
        let platform = target_platform(p, ws, target).await?;
        match variables::target_texts(&spec, index, &platform, &vars) {
            Ok(texts) if index == 0 => caption = texts.caption,
            Ok(_) => {}
            Err(reason) => return fail_run(p, ws, &run_id, &reason).await,
        }
    }

    if let Some(media) = &spec.media {
        return publish_own_media(p, job, &run_id, &spec, media, (&prompt, &caption)).await;
    }

    let backend = spec.generation.backend.as_str();
    let want = spec.generation.model.as_deref();
    let key = generator_key(backend, want, p.local_model.as_deref());
    let Some(generator) = p.generators.get(&key).cloned() else {
        let reason = match (backend, want) {
            ("local", Some(want)) => unserved_local_model(want, p.generators.keys()),
            _ => format!("generation backend {backend:?} is not configured on this instance"),
        };
        return fail_run(p, ws, &run_id, &reason).await;
    };
    // A carousel's images (each with its own prompt, rendered with its `image`), or the
    // review's candidates of one prompt (campaign validation keeps the two apart).
    let slides = spec.generation.image_count();
    let (count, prompts) = if slides > 1 {
        match slide_prompts(&spec, &vars, slides) {
            Ok(prompts) => (slides, prompts),
            Err(reason) => return fail_run(p, ws, &run_id, &reason).await,
        }
    } else {
        (spec.candidates(), vec![prompt.clone()])
    };
    let first_seed = seed_for(&spec, &run_id);
    let (width, height) = generation_size(&p.presets, &spec, generator.native_size());
    let mut candidates: Vec<AssetId> = Vec::with_capacity(count as usize);
    // Images the model's safety checker withheld: with an approval gate the reviewer is told
    // (and may ask for new ones); without one the run fails with the checker's reason.
    let mut flagged: Vec<reviews::ReviewFlag> = Vec::new();
    for index in 0..count {
        // Each candidate or slide (and each round of them) draws its own seed, reproducibly.
        let offset = u64::from(round.unsigned_abs()) * u64::from(count) + u64::from(index);
        let request = GenerationRequest {
            prompt: prompts.get(index as usize).unwrap_or(&prompt).clone(),
            negative_prompt: negative.clone(),
            seed: first_seed.wrapping_add(offset),
            steps: spec.generation.steps,
            guidance: spec.generation.guidance,
            scheduler: spec.generation.scheduler,
            width,
            height,
        };
        match generate_one(p, generator.as_ref(), backend, ws, &run_id, &request).await? {
            Made::Kept(asset_id) => candidates.push(asset_id),
            Made::Flagged(reason) if approval.is_some() => {
                info!(run = %run_id, round, candidate = index, seed = request.seed, %reason, "generate: image withheld by the safety checker; the reviewer is told");
                flagged.push(reviews::ReviewFlag {
                    candidate: index,
                    seed: request.seed,
                    reason,
                });
            }
            Made::Flagged(reason) | Made::Failed(reason) => {
                return fail_run(p, ws, &run_id, &format!("generation failed: {reason}")).await;
            }
        }
    }
    if slides > 1 && !flagged.is_empty() {
        // A carousel missing a slide is not the post that was asked for: the reviewer sees
        // none of it and may ask for a new set.
        candidates.clear();
    }
    let first = candidates.first().cloned();
    if first.is_none() && flagged.is_empty() {
        return fail_run(p, ws, &run_id, "no image was generated").await;
    }

    let now = p.store.now_ms().await?;
    let tx = p.store.begin().await?;
    if let Some(approval) = &approval {
        let expires_after = i64::try_from(approval.expires_after.as_millis()).unwrap_or(i64::MAX);
        let deadline = now.saturating_add(expires_after);
        let new = reviews::NewReview {
            workspace_id: ws,
            run_id: &run_id,
            campaign_id: &run.campaign_id,
            deadline_at: deadline,
        };
        let review = reviews::open(&p.store, &tx, now, new).await?;
        let stored = reviews::set_candidates(
            &p.store,
            &tx,
            now,
            ws,
            &review.id,
            round,
            &candidates,
            &flagged,
        );
        if !stored.await? {
            // Decided, or another round asked for, since this job started: these candidates
            // are not wanted, and the run's image stays the one the review knows.
            info!(run = %run_id, round, "generate: the review moved on; candidates dropped");
            p.queue.complete(&tx, job).await?;
            tx.commit().await?;
            return Ok(());
        }
        let wait =
            std::time::Duration::from_millis(review.deadline_at.saturating_sub(now).max(0) as u64);
        let mut deadline_job = NewJob::new(
            ws,
            JobKind::Review,
            serde_json::json!({ "review_id": review.id, "step": "deadline" }),
        )
        .unique(format!("review:{}:deadline", review.id));
        deadline_job.delay = wait;
        p.queue.enqueue(&tx, deadline_job).await?;
        let data = serde_json::json!({
            "workspace_id": ws,
            "review_id": review.id,
            "run_id": run_id,
            "campaign_id": run.campaign_id,
            "campaign": spec.name,
            "state": ReviewState::Pending.as_str(),
            "round": round,
            "candidates": candidates.len(),
            "flagged": flagged.len(),
            "deadline": chrono::DateTime::from_timestamp_millis(review.deadline_at)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        });
        let event_id = format!("evt_review_{}_{round}", review.id.as_ref().replace('-', ""));
        super::events::announce_run(
            p,
            &tx,
            ws,
            PostEvent::RunAwaitingReview,
            &event_id,
            now,
            data,
        )
        .await?;
        if p.mailer.is_some() {
            p.queue
                .enqueue(
                    &tx,
                    NewJob::new(
                        ws,
                        JobKind::Review,
                        serde_json::json!({ "review_id": review.id, "step": "email" }),
                    )
                    .unique(format!("review:{}:email:r{round}", review.id))
                    .max_attempts(5),
                )
                .await?;
        }
        info!(run = %run_id, review = %review.id, round, candidates = candidates.len(), flagged = flagged.len(), "generate: candidates ready for review");
    }
    // Every image withheld (only possible under review): nothing to cut; the run waits for
    // the reviewer to ask for new images or to reject.
    if let Some(asset_id) = &first {
        let generated = runs::Generated {
            prompt: &prompt,
            caption: &caption,
            asset_id,
            asset_ids: if slides > 1 { &candidates } else { &[] },
        };
        runs::set_generated(&p.store, &tx, now, ws, &run_id, generated).await?;
        let suffix = (round > 0).then(|| format!("r{round}"));
        enqueue_renders(p, &tx, ws, &run_id, &spec, suffix.as_deref()).await?;
    }
    p.queue.complete(&tx, job).await?;
    tx.commit().await?;
    Ok(())
}

/// A campaign with its own images (`[media]`): nothing is generated; the run takes the
/// library's assets as they are (each must still be in the workspace, with its file).
async fn publish_own_media(
    p: &Pipeline,
    job: &ClaimedJob,
    run_id: &RunId,
    spec: &CampaignSpec,
    media: &pressroom_core::campaign::MediaSpec,
    (prompt, caption): (&str, &str),
) -> Result<(), JobError> {
    let ws = &job.workspace_id;
    let Some(ids) = media.asset_ids() else {
        let reason = "the campaign's media files are not in the asset library: load the campaign from its file again (pressroom campaign load)";
        return fail_run(p, ws, run_id, reason).await;
    };
    for id in &ids {
        let asset = match assets::get(p.store.conn(), ws, id).await {
            Ok(asset) => asset,
            Err(pressroom_store::StoreError::NotFound { .. }) => {
                let reason = format!("media: asset {id} is not in the workspace's library");
                return fail_run(p, ws, run_id, &reason).await;
            }
            Err(e) => return Err(e.into()),
        };
        if !p.blobs.exists(&asset.path).await {
            let reason = format!("media: the file of asset {id} is gone (erased?)");
            return fail_run(p, ws, run_id, &reason).await;
        }
    }
    let Some(first) = ids.first() else {
        return fail_run(p, ws, run_id, "media: no images").await;
    };
    let now = p.store.now_ms().await?;
    let tx = p.store.begin().await?;
    let generated = runs::Generated {
        prompt,
        caption,
        asset_id: first,
        asset_ids: if ids.len() > 1 { &ids } else { &[] },
    };
    runs::set_generated(&p.store, &tx, now, ws, run_id, generated).await?;
    enqueue_renders(p, &tx, ws, run_id, spec, None).await?;
    p.queue.complete(&tx, job).await?;
    tx.commit().await?;
    info!(run = %run_id, images = ids.len(), "generate: the campaign's own media, nothing generated");
    Ok(())
}

/// One render job per (preset, fit) the campaign targets. `suffix` tells later passes over
/// the same run apart (a new round of candidates, a decision); None is the first pass.
pub(super) async fn enqueue_renders(
    p: &Pipeline,
    tx: &pressroom_store::Tx,
    ws: &WorkspaceId,
    run_id: &RunId,
    spec: &CampaignSpec,
    suffix: Option<&str>,
) -> Result<(), JobError> {
    let mut seen = BTreeSet::new();
    for target in &spec.targets {
        let fit = target.fit.map(|f| f.as_str()).unwrap_or("cover");
        if !seen.insert((target.preset.clone(), fit)) {
            continue;
        }
        let mut unique = format!("render:{run_id}:{}:{fit}", target.preset);
        if let Some(suffix) = suffix {
            unique = format!("{unique}:{suffix}");
        }
        p.queue
            .enqueue(
                tx,
                NewJob::new(
                    ws,
                    JobKind::Render,
                    serde_json::json!({ "run_id": run_id, "preset": target.preset, "fit": fit }),
                )
                .unique(unique),
            )
            .await?;
    }
    Ok(())
}

/// What became of one image.
enum Made {
    Kept(AssetId),
    /// The model's safety checker withheld it, for this reason.
    Flagged(String),
    /// A reason the run fails for good (a blocked prompt, a rejected request).
    Failed(String),
}

/// Generates (or finds) one image. The error is how the job comes back (retried, deferred).
async fn generate_one(
    p: &Pipeline,
    generator: &dyn pressroom_generate::Generator,
    backend: &str,
    ws: &WorkspaceId,
    run_id: &RunId,
    request: &GenerationRequest,
) -> Result<Made, JobError> {
    let started = std::time::Instant::now();
    let run_for_log = run_id.clone();
    let steps = p.progress.clone();
    let progress: pressroom_generate::ProgressFn = Arc::new(move |pr| {
        tracing::debug!(run = %run_for_log, step = pr.step, total = pr.total, "generate: step");
        steps.step(&run_for_log, pr.step, pr.total);
    });
    let made = crate::images::generate_and_keep(
        &p.store,
        p.blobs.as_ref(),
        generator,
        ws,
        request,
        Some(progress),
    )
    .await;
    p.progress.finish(run_id);
    let made = match made {
        Ok(made) => made,
        Err(MakeError::Generate(GenerateError::Unsafe(reason))) => {
            return Ok(Made::Flagged(reason));
        }
        Err(MakeError::Generate(e)) => match retry_later(&e) {
            Some(later) => return Err(later),
            // A blocked prompt, a rejected request: the run ends failed with the reason the
            // user needs, instead of waiting in `generating` forever.
            None => return Ok(Made::Failed(e.to_string())),
        },
        Err(MakeError::Keep(KeepError::Store(e))) => return Err(JobError::from(e)),
        Err(MakeError::Keep(file)) => return Err(JobError::retry(file.to_string())),
    };
    if made.reused {
        info!(run = %run_id, asset = %made.asset_id, "generate: reusing the image of an identical request");
    } else {
        if !made.generator_cache_hit {
            crate::metrics::generation(backend, started.elapsed());
        }
        info!(run = %run_id, secs = started.elapsed().as_secs_f32(), cache_hit = made.generator_cache_hit, "generate: image ready");
    }
    Ok(Made::Kept(made.asset_id))
}

/// The size to generate at: the model's native size for the aspect of the campaign's first
/// `fit = "native"` target when the campaign leaves the size open (SDXL's trained bucket, SD
/// 1/2 near their trained short side), else the campaign's width and height.
fn generation_size(
    presets: &pressroom_media::Presets,
    spec: &CampaignSpec,
    native: Option<pressroom_generate::NativeSize>,
) -> (u32, u32) {
    let given = (spec.generation.width, spec.generation.height);
    let (Some(native), true) = (native, spec.generation.size_from_targets) else {
        return given;
    };
    let preset = spec
        .targets
        .iter()
        .filter(|t| t.fit == Some(pressroom_core::campaign::Fit::Native))
        .find_map(|t| presets.get(&t.preset));
    let size = match (preset, native) {
        (Some(preset), pressroom_generate::NativeSize::SdxlBuckets) => preset.sdxl_bucket(),
        (Some(preset), pressroom_generate::NativeSize::ShortSide(side)) => {
            preset.generation_size_for(side)
        }
        (None, _) => given,
    };
    let max = pressroom_core::campaign::GenerationSpec::MAX_LOCAL_PIXELS;
    if u64::from(size.0) * u64::from(size.1) > max {
        return given;
    }
    size
}

/// The generator a campaign's `backend` and `[generation] model` (`want`) name: the local
/// default model is "local", another local model "local:NAME" (`generation.models`); remote
/// backends use their configured model.
fn generator_key(backend: &str, want: Option<&str>, default_local: Option<&str>) -> String {
    match want {
        Some(want) if backend == "local" && Some(want) != default_local => format!("local:{want}"),
        _ => backend.to_string(),
    }
}

/// Why a campaign's local model cannot be served here, naming the ones that can.
fn unserved_local_model<'a>(want: &str, keys: impl Iterator<Item = &'a String>) -> String {
    let served: Vec<String> = keys
        .filter_map(|k| k.strip_prefix("local:"))
        .map(|name| format!("`{name}`"))
        .collect();
    format!(
        "generation.model: the campaign asks for the local model `{want}`, but this instance serves {} (add it to generation.models in its configuration, or remove the campaign's model to use the default)",
        if served.is_empty() {
            "no local model".to_string()
        } else {
            served.join(", ")
        }
    )
}

/// How a failed generation comes back, or None when it cannot succeed later. A full engine
/// queue (or a throttling remote) is deferred without spending an attempt.
fn retry_later(e: &GenerateError) -> Option<JobError> {
    match e {
        GenerateError::RateLimited { retry_after, .. } => Some(JobError::Defer {
            reason: "the image generator is busy".into(),
            delay: retry_after.unwrap_or(std::time::Duration::from_secs(10)),
        }),
        e if e.is_retryable() => Some(JobError::retry(format!("generation failed: {e}"))),
        _ => None,
    }
}

/// Prompt, negative prompt and caption with the run's variables (core's renderer, the one
/// previews use too).
fn render_texts(
    spec: &CampaignSpec,
    vars: &serde_json::Value,
) -> Result<(String, Option<String>, String), String> {
    pressroom_core::campaign::render_texts(spec, vars)
        .map(|t| (t.prompt, t.negative_prompt, t.caption))
        .map_err(|problems| {
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        })
}

/// Each slide's prompt: its own template (`[[generation.slides]]`) or the campaign's, with
/// `image` set to the slide.
fn slide_prompts(
    spec: &CampaignSpec,
    vars: &serde_json::Value,
    slides: u32,
) -> Result<Vec<String>, String> {
    (0..slides)
        .map(|index| {
            let context = pressroom_core::campaign::with_image(vars, index, slides);
            pressroom_core::template::render(spec.generation.prompt_of(index as usize), &context)
                .map_err(|e| {
                    let field = if spec.generation.slides.is_empty() {
                        "generation.prompt".to_owned()
                    } else {
                        format!("generation.slides[{index}].prompt")
                    };
                    format!("{field} (image {index}): {e}")
                })
        })
        .collect()
}

/// A target's platform for its templates' `target.platform`: its account's, else its
/// preset's (an account deleted since validation; its post is skipped when cut).
pub(super) async fn target_platform(
    p: &Pipeline,
    ws: &WorkspaceId,
    target: &pressroom_core::campaign::TargetSpec,
) -> Result<String, JobError> {
    Ok(
        match accounts::by_name(p.store.conn(), ws, &target.account).await? {
            Some(account) => account.platform.to_string(),
            None => p
                .presets
                .get(&target.preset)
                .map(|preset| preset.platform.clone())
                .unwrap_or_default(),
        },
    )
}

/// A fixed seed, or one derived from the run id: "random" differs per run but a replayed
/// job draws the same image.
fn seed_for(spec: &CampaignSpec, run_id: &RunId) -> u64 {
    match spec.generation.seed {
        Seed::Fixed(s) => s,
        Seed::Random => {
            let digest = sha256_hex(run_id.as_bytes());
            u64::from_str_radix(&digest[..13], 16).unwrap_or(0)
        }
    }
}

async fn fail_run(
    p: &Pipeline,
    ws: &WorkspaceId,
    run_id: &RunId,
    reason: &str,
) -> Result<(), JobError> {
    let now = p.store.now_ms().await?;
    let tx = p.store.begin().await?;
    runs::set_failed(&p.store, &tx, now, ws, run_id, reason).await?;
    tx.commit().await?;
    Err(JobError::Permanent(reason.to_string()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use pressroom_generate::GenerateError;

    use pressroom_generate::NativeSize;

    use super::{JobError, generation_size, generator_key, retry_later, unserved_local_model};

    fn campaign(
        generation: &str,
        targets: &[(&str, &str)],
    ) -> pressroom_core::campaign::CampaignSpec {
        let mut src = format!(
            "name = \"c\"\nworkspace = \"w\"\n[schedule]\nwebhook = true\n[generation]\nprompt = \"p\"\n{generation}\n[caption]\ntemplate = \"c\"\n"
        );
        for (preset, fit) in targets {
            src.push_str(&format!(
                "[[targets]]\naccount = \"a\"\npreset = \"{preset}\"\nfit = \"{fit}\"\n"
            ));
        }
        pressroom_core::campaign::parse_campaign(&src, "c.toml").expect("a valid campaign")
    }

    #[test]
    fn a_native_target_picks_the_models_size_for_its_aspect() {
        let presets = pressroom_media::Presets::builtin();
        let story = campaign(
            "",
            &[("instagram-square", "cover"), ("instagram-story", "native")],
        );
        assert_eq!(
            generation_size(presets, &story, Some(NativeSize::SdxlBuckets)),
            (768, 1344)
        );
        assert_eq!(
            generation_size(presets, &story, Some(NativeSize::ShortSide(512))),
            (576, 1024)
        );
        let portrait = campaign("", &[("instagram-portrait", "native")]);
        assert_eq!(
            generation_size(presets, &portrait, Some(NativeSize::SdxlBuckets)),
            (896, 1152)
        );
        // A remote backend, or a size the campaign gives, or no native target: as written.
        assert_eq!(generation_size(presets, &story, None), (512, 512));
        let sized = campaign(
            "width = 640\nheight = 384",
            &[("instagram-story", "native")],
        );
        assert_eq!(
            generation_size(presets, &sized, Some(NativeSize::SdxlBuckets)),
            (640, 384)
        );
        let covered = campaign("", &[("instagram-story", "cover")]);
        assert_eq!(
            generation_size(presets, &covered, Some(NativeSize::SdxlBuckets)),
            (512, 512)
        );
    }

    #[test]
    fn a_busy_engine_defers_the_job_without_spending_an_attempt() {
        let busy = GenerateError::RateLimited {
            backend: "local",
            retry_after: Some(Duration::from_secs(7)),
        };
        assert!(
            matches!(retry_later(&busy), Some(JobError::Defer { delay, .. }) if delay == Duration::from_secs(7))
        );
        assert!(matches!(
            retry_later(&GenerateError::EngineGone),
            Some(JobError::Retry { .. })
        ));
        assert!(retry_later(&GenerateError::InvalidRequest("x".into())).is_none());
    }

    #[test]
    fn a_campaigns_model_picks_its_engine_and_an_unserved_one_is_named() {
        assert_eq!(generator_key("local", None, Some("sd15")), "local");
        assert_eq!(generator_key("local", Some("sd15"), Some("sd15")), "local");
        assert_eq!(
            generator_key("local", Some("sdxl"), Some("sd15")),
            "local:sdxl"
        );
        assert_eq!(
            generator_key("openai", Some("gpt-image-1"), Some("sd15")),
            "openai",
            "remote backends use their configured model"
        );
        let keys = [
            "local".to_string(),
            "local:sd15".into(),
            "local:turbo".into(),
            "openai".into(),
        ];
        let reason = unserved_local_model("sdxl", keys.iter());
        assert!(
            reason.contains("`sdxl`") && reason.contains("`sd15`, `turbo`"),
            "{reason}"
        );
        assert!(unserved_local_model("x", std::iter::empty()).contains("no local model"));
    }
}
