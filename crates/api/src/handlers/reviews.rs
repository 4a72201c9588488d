//! Reviews (the approval gate): list and read them, approve (with the chosen candidate and
//! caption edits) or reject (optionally regenerating), and mint review links for people
//! without an account. The decisions themselves are `pressroom_runtime::reviews`'.

use std::collections::BTreeMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use pressroom_core::{AssetId, Platform, ReviewId, ReviewState, RunId};
use pressroom_runtime::campaigns::stored_spec;
use pressroom_runtime::reviews::{self as decide, DecideError, Decider, Decision, target_key};
use pressroom_store::Paging;
use pressroom_store::entity::review;
use pressroom_store::repo::{accounts, assets, audit, campaigns, posts, reviews, runs};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::ApiState;
use crate::auth::Ctx;
use crate::errors::{ApiError, ApiResult, Code};
use crate::handlers::workspaces::query;
use crate::handlers::{Path, RawBody, json_body};
use crate::media::LinkKind;
use crate::page::{Page, PageQuery};

/// One candidate image of a review.
#[derive(Serialize, ToSchema)]
pub struct CandidateView {
    /// 0-based; what `approve` takes as `candidate`.
    pub index: u32,
    pub asset_id: AssetId,
    /// The image: `/v1/assets/{id}/image` (with your credentials), or the review link's own
    /// image URL on the review page.
    pub image_url: String,
}

/// An image of the round that the model's safety checker withheld (never kept, never
/// published): which one and why.
#[derive(Serialize, ToSchema)]
pub struct FlaggedView {
    /// Its place among the images the round asked for (0-based); the candidates that were
    /// kept are numbered without it.
    pub candidate: u32,
    pub seed: u64,
    pub reason: String,
}

/// A rendition of the run's current image for one target.
#[derive(Serialize, ToSchema)]
pub struct ReviewRendition {
    pub id: String,
    pub preset: String,
    pub fit: String,
    pub width: i32,
    pub height: i32,
    pub mime: String,
    /// A signed, expiring link when the daemon serves media links (on the review page, the
    /// link's own URL); null otherwise.
    #[schema(required)]
    pub url: Option<String>,
}

/// One target of the run: where it goes, with the caption it would publish.
#[derive(Serialize, ToSchema)]
pub struct TargetView {
    /// `ACCOUNT:PRESET`: the key of a caption edit.
    pub key: String,
    pub account: String,
    pub preset: String,
    #[schema(required)]
    pub platform: Option<Platform>,
    pub caption: String,
    /// The platform's caption limit, counted its way (characters, or UTF-16 units on TikTok);
    /// null when it has none.
    #[schema(required)]
    pub caption_limit: Option<usize>,
    /// The caption's length counted the same way.
    pub caption_length: usize,
    /// What the platform would refuse in this caption (too long, too many hashtags, …).
    pub caption_problems: Vec<String>,
    pub renditions: Vec<ReviewRendition>,
}

/// What was decided, by whom and when.
#[derive(Serialize, ToSchema)]
pub struct DecisionView {
    pub by: String,
    pub at: i64,
    #[schema(required)]
    pub candidate: Option<u32>,
    pub captions: BTreeMap<String, String>,
    #[schema(required)]
    pub reason: Option<String>,
    /// `discard` or `publish` when the review expired undecided.
    #[schema(required)]
    pub on_expiry: Option<String>,
}

/// A run's review.
#[derive(Serialize, ToSchema)]
#[schema(as = Review)]
pub struct ReviewView {
    pub id: ReviewId,
    pub run_id: RunId,
    /// The campaign's name.
    pub campaign: String,
    pub state: ReviewState,
    /// 0 for the first candidates, +1 per regeneration.
    pub round: i32,
    /// When an undecided review expires (RFC 3339).
    pub deadline: String,
    /// Empty while (re)generating, or when the safety checker withheld the round's images (all of them; for a carousel, any).
    pub candidates: Vec<CandidateView>,
    /// The round's images that the safety checker withheld (empty when none).
    pub flagged: Vec<FlaggedView>,
    pub targets: Vec<TargetView>,
    #[schema(required)]
    pub decision: Option<DecisionView>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// How a review's images are addressed: through the API, or through a review link.
pub(crate) enum ImageUrls<'a> {
    Api,
    Link(&'a str),
    /// The console's pages (a session cookie authorizes both).
    Console,
}

/// Epoch milliseconds as RFC 3339 (whole seconds, UTC), as the API writes instants.
pub(crate) fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// Everything a reviewer needs to decide, as one view.
pub(crate) async fn view(
    state: &ApiState,
    row: review::Model,
    urls: ImageUrls<'_>,
) -> ApiResult<ReviewView> {
    let ws = &row.workspace_id;
    let conn = state.store.conn();
    let run = runs::get(conn, ws, &row.run_id).await?;
    let campaign = campaigns::get(&state.store, ws, &row.campaign_id).await?;
    let spec = stored_spec(&campaign).map_err(ApiError::internal)?;
    let candidates = reviews::candidates(&row)?
        .into_iter()
        .enumerate()
        .map(|(i, asset_id)| CandidateView {
            index: i as u32,
            image_url: match urls {
                ImageUrls::Api | ImageUrls::Console => format!("/v1/assets/{asset_id}/image"),
                ImageUrls::Link(token) => format!("/review/{token}/candidates/{i}"),
            },
            asset_id,
        })
        .collect();
    let flagged = reviews::flags(&row)?
        .into_iter()
        .map(|f| FlaggedView {
            candidate: f.candidate,
            seed: f.seed,
            reason: f.reason,
        })
        .collect();
    let run_posts = posts::of_run(conn, ws, &row.run_id).await?;
    let renditions = assets::renditions_of_run(conn, ws, &row.run_id).await?;
    let mut targets = Vec::new();
    for t in &spec.targets {
        let fit = t.fit.map(|f| f.as_str()).unwrap_or("cover");
        let account = accounts::by_name(conn, ws, &t.account).await?;
        let post = account.as_ref().and_then(|a| {
            run_posts
                .iter()
                .find(|p| p.account_id == a.id && p.preset == t.preset)
        });
        let caption = post
            .map(|p| p.caption.clone())
            .or_else(|| run.caption.clone())
            .unwrap_or_default();
        // The account's platform, else the preset's (what campaign validation checks).
        let platform_name = account
            .as_ref()
            .map(|a| a.platform.to_string())
            .or_else(|| state.presets.get(&t.preset).map(|p| p.platform.clone()))
            .unwrap_or_default();
        let rules = pressroom_media::CaptionRules::documented(&platform_name);
        targets.push(TargetView {
            key: target_key(&t.account, &t.preset),
            account: t.account.clone(),
            preset: t.preset.clone(),
            platform: account.as_ref().map(|a| a.platform),
            caption_limit: rules.max_length,
            caption_length: match rules.length_unit {
                pressroom_media::LengthUnit::Utf16 => caption.encode_utf16().count(),
                pressroom_media::LengthUnit::Chars => caption.chars().count(),
            },
            caption_problems: pressroom_media::caption_problems(&platform_name, &caption),
            caption,
            renditions: renditions
                .iter()
                .filter(|r| r.preset == t.preset && r.fit == fit)
                .map(|r| ReviewRendition {
                    url: match urls {
                        ImageUrls::Link(token) => {
                            Some(format!("/review/{token}/renditions/{}", r.id))
                        }
                        ImageUrls::Console => Some(format!("/renditions/{}", r.id)),
                        ImageUrls::Api => state
                            .media
                            .as_ref()
                            .map(|m| m.url(LinkKind::Rendition, r.id.as_ref())),
                    },
                    id: r.id.to_string(),
                    preset: r.preset.clone(),
                    fit: r.fit.clone(),
                    width: r.width,
                    height: r.height,
                    mime: r.mime.clone(),
                })
                .collect(),
        });
    }
    let decision = match (&row.decided_by, row.decided_at, Decision::of(&row)) {
        (Some(by), Some(at), Some(d)) => Some(DecisionView {
            by: by.clone(),
            at,
            candidate: d.candidate,
            captions: d.captions,
            reason: d.reason,
            on_expiry: d.on_expiry.map(|o| o.as_str().to_owned()),
        }),
        _ => None,
    };
    Ok(ReviewView {
        id: row.id,
        run_id: row.run_id,
        campaign: spec.name,
        state: row.state,
        round: row.round,
        deadline: rfc3339(row.deadline_at),
        candidates,
        flagged,
        targets,
        decision,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReviewFilter {
    #[serde(flatten)]
    #[param(ignore)]
    pub(crate) page: PageQuery,
    /// Only reviews in this state.
    #[param(value_type = Option<ReviewState>)]
    pub(crate) state: Option<String>,
}

pub async fn list(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    q: Result<Query<ReviewFilter>, QueryRejection>,
) -> ApiResult<Json<Page<ReviewView>>> {
    let f = query(q)?;
    let ws = ctx.workspace()?;
    let wanted = f
        .state
        .as_deref()
        .map(|s| {
            ReviewState::parse(s).ok_or_else(|| {
                ApiError::invalid(format!(
                    "state: unknown review state {s:?} (pending, approved, rejected or expired)"
                ))
            })
        })
        .transpose()?;
    let after = f.page.after()?;
    let limit = f.page.limit()?;
    let rows = reviews::page(
        &state.store,
        ws,
        wanted,
        Paging::new(after.as_deref(), limit + 1),
    )
    .await?;
    let page = Page::from_rows(rows, limit, |r| &r.id);
    let mut data = Vec::with_capacity(page.data.len());
    for row in page.data {
        data.push(view(&state, row, ImageUrls::Api).await?);
    }
    Ok(Json(Page {
        data,
        next_cursor: page.next_cursor,
    }))
}

pub async fn get_one(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<ReviewId>,
) -> ApiResult<Json<ReviewView>> {
    let row = reviews::get(state.store.conn(), ctx.workspace()?, &id).await?;
    Ok(Json(view(&state, row, ImageUrls::Api).await?))
}

/// `POST /v1/reviews/{id}/approve`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApproveBody {
    /// The chosen candidate, 0-based (default 0).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 7)]
    pub candidate: u32,
    /// Caption edits by target key (`ACCOUNT:PRESET`); targets not named keep theirs.
    #[serde(default)]
    pub captions: BTreeMap<String, String>,
    /// The review's `round` you looked at: if new candidates replaced them since, 409.
    pub round: Option<i32>,
}

/// `POST /v1/reviews/{id}/reject`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RejectBody {
    /// Why (kept with the decision and sent with `run.rejected`).
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub reason: String,
    /// Generate new candidates (new seeds) instead; the review stays pending.
    #[serde(default)]
    pub regenerate: bool,
    /// The review's `round` you looked at: if new candidates replaced them since, 409.
    pub round: Option<i32>,
}

/// Who a request's credentials decide as.
pub(crate) fn decider(ctx: &Ctx) -> Decider {
    match &ctx.person {
        Some(p) => Decider::Person {
            email: p.email.clone(),
        },
        None => Decider::Key {
            id: ctx.key_id.clone(),
        },
    }
}

/// A refused decision as the API answers it.
pub(crate) fn refused(e: DecideError) -> ApiError {
    match e {
        DecideError::NotFound(_) => ApiError::not_found("review"),
        DecideError::Decided(_)
        | DecideError::NotReady
        | DecideError::AllFlagged
        | DecideError::Stale { .. } => ApiError::new(Code::Conflict, e.to_string()),
        DecideError::NotAnApprover(_) => ApiError::forbidden(e.to_string()),
        DecideError::NoSuchCandidate { .. }
        | DecideError::NoSuchTarget(_)
        | DecideError::CaptionTooLong { .. }
        | DecideError::ReasonTooLong { .. } => ApiError::invalid(e.to_string()),
        DecideError::Store(e) => e.into(),
    }
}

pub async fn approve(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<ReviewId>,
    RawBody(body): RawBody,
) -> ApiResult<Json<ReviewView>> {
    let ws = ctx.workspace()?;
    let input: ApproveBody = json_body(&body)?;
    let row = decide::approve(
        &state.store,
        &state.queue,
        ws,
        &id,
        &decider(&ctx),
        input.candidate,
        input.captions,
        input.round,
    )
    .await
    .map_err(refused)?;
    Ok(Json(view(&state, row, ImageUrls::Api).await?))
}

pub async fn reject(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<ReviewId>,
    RawBody(body): RawBody,
) -> ApiResult<Json<ReviewView>> {
    let ws = ctx.workspace()?;
    let input: RejectBody = json_body(&body)?;
    let row = decide::reject(
        &state.store,
        &state.queue,
        ws,
        &id,
        &decider(&ctx),
        &input.reason,
        input.regenerate,
        input.round,
    )
    .await
    .map_err(refused)?;
    Ok(Json(view(&state, row, ImageUrls::Api).await?))
}

/// `POST /v1/runs/{id}/review-links`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewReviewLink {
    /// How long the link works, in hours (default: until the review's deadline, at least
    /// 1 hour; at most 30 days).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 720)]
    pub expires_in_hours: Option<u32>,
}

/// A review link, shown once.
#[derive(Serialize, ToSchema)]
pub struct CreatedReviewLink {
    /// Revoke it with `DELETE /v1/review-links/{id}`.
    pub id: String,
    /// `<public base URL>/review/<token>`: the link is the credential.
    pub url: String,
    pub expires_at: String,
}

const MAX_LINK_HOURS: u32 = 720;

pub async fn create_link(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    Path(run_id): Path<RunId>,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<CreatedReviewLink>)> {
    let ws = ctx.workspace()?;
    let input: NewReviewLink = json_body(&body)?;
    if let Some(h) = input.expires_in_hours
        && !(1..=MAX_LINK_HOURS).contains(&h)
    {
        return Err(ApiError::invalid(format!(
            "expires_in_hours: must be between 1 and {MAX_LINK_HOURS}"
        )));
    }
    runs::get(state.store.conn(), ws, &run_id).await?;
    let review = reviews::by_run(state.store.conn(), ws, &run_id)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                Code::Conflict,
                "this run has no review: its campaign does not require approval, or it is still generating",
            )
        })?;
    if review.state != ReviewState::Pending {
        return Err(ApiError::new(
            Code::Conflict,
            format!("the review was already decided: it is {}", review.state),
        ));
    }
    // A link decides: when the campaign names its approvers, only they may hand one out (the
    // daemon mails each of them their own), or anyone could approve through a link of theirs.
    let campaign = campaigns::get(&state.store, ws, &review.campaign_id).await?;
    let spec = stored_spec(&campaign).map_err(ApiError::internal)?;
    if decide::may_decide(&spec, &decider(&ctx)).is_err() {
        return Err(ApiError::forbidden(
            "this campaign names its approvers: only they may hand out review links (each is mailed one when [email] is configured)",
        ));
    }
    let now = state.store.now_ms().await?;
    let hour = 3_600_000_i64;
    let expires_at = match input.expires_in_hours {
        Some(h) => now + i64::from(h) * hour,
        None => review.deadline_at.max(now + hour),
    };
    let (token, token_hash) = pressroom_crypto::password::new_token();
    let tx = state.store.begin().await?;
    let link_id = reviews::insert_link(
        &state.store,
        &tx,
        now,
        reviews::NewLink {
            workspace_id: ws,
            review_id: &review.id,
            token_hash: &token_hash,
            created_by: &ctx.actor(),
            expires_at,
        },
    )
    .await?;
    audit::record(
        &tx,
        now,
        ws,
        &ctx.actor(),
        "review_link.created",
        &link_id,
        json!({ "review_id": review.id, "expires_at": expires_at }),
    )
    .await?;
    tx.commit().await?;
    use secrecy::ExposeSecret;
    let url = format!("{}/review/{}", state.public_base, token.expose_secret());
    Ok((
        StatusCode::CREATED,
        Json(CreatedReviewLink {
            id: link_id,
            url,
            expires_at: rfc3339(expires_at),
        }),
    ))
}

pub async fn revoke_link(
    State(state): State<ApiState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let ws = ctx.workspace()?;
    let now = state.store.now_ms().await?;
    let tx = state.store.begin().await?;
    if !reviews::revoke_link(&state.store, &tx, now, ws, &id).await? {
        return Err(ApiError::not_found("review link"));
    }
    audit::record(
        &tx,
        now,
        ws,
        &ctx.actor(),
        "review_link.revoked",
        &id,
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
