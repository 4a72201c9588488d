//! The connector: container in `prepare` (reused from the checkpoint after a restart), status
//! and quota checks then `media_publish` in `commit`, container status in `reconcile`.

use chrono::{DateTime, Utc};
use pressroom_connector::{
    Capabilities, Connector, ConnectorError, Credentials, OAuthSpec, PostDraft, Prepared,
    PublishCtx, Published, Reconciled, ValidationIssue,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::client::GraphClient;
use crate::config::{ConfigError, InstagramConfig, Login};
use crate::status::ContainerStatus;

const MAX_CAPTION: usize = 2200;
const MAX_BYTES: u64 = 8 * 1024 * 1024;
const ASPECT: (f32, f32) = (0.8, 1.91);

/// Seconds a container may take to show PUBLISHED after `media_publish` answered.
const STATUS_LAG_SECS: u64 = 5;
/// Clock skew allowed when matching a media's timestamp against `committing_since`.
const SKEW_SECS: i64 = 300;

/// Instagram. Build with [`InstagramConnector::from_config`].
pub struct InstagramConnector {
    cfg: InstagramConfig,
    client: GraphClient,
    caps: Capabilities,
}

fn str_field<'a>(v: &'a Value, f: &str) -> Option<&'a str> {
    v.get(f).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn ig_user(ctx: &PublishCtx) -> &str {
    str_field(&ctx.credentials.extra, "ig_user_id").unwrap_or(&ctx.account.external_id)
}

/// Graph timestamps look like `2026-11-25T08:00:00+0000`.
fn parse_graph_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z")
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl InstagramConnector {
    pub fn from_config(cfg: InstagramConfig) -> Result<Self, ConfigError> {
        cfg.check()?;
        let client = GraphClient::new(&cfg)?;
        let caps = Capabilities {
            max_caption_chars: MAX_CAPTION,
            media_types: vec!["image/jpeg"],
            max_media_bytes: MAX_BYTES,
            aspect_range: ASPECT,
            // Documented as 50 (reference) to 100 (guide); the live value is read from
            // content_publishing_limit before every publish.
            daily_cap: Some(50),
            two_phase: true,
            needs_public_url: true,
        };
        Ok(Self { cfg, client, caps })
    }

    pub fn config(&self) -> &InstagramConfig {
        &self.cfg
    }

    pub(crate) fn client(&self) -> &GraphClient {
        &self.client
    }

    /// Credentials for an Instagram account reached through a Facebook Page (Facebook Login):
    /// the Page token publishes, the long-lived user token re-derives it.
    pub fn credentials_for_page(
        ig_user_id: &str,
        page_id: &str,
        page_token: SecretString,
        user_token: SecretString,
    ) -> Credentials {
        Credentials {
            access_token: page_token,
            refresh_token: Some(user_token),
            expires_at: None,
            extra: json!({"ig_user_id": ig_user_id, "page_id": page_id}),
        }
    }

    async fn status(
        &self,
        ctx: &PublishCtx,
        container: &str,
    ) -> Result<(ContainerStatus, String), ConnectorError> {
        let req = self
            .client
            .graph
            .get(container, &ctx.credentials.access_token)
            .query(&[("fields", "status_code,status")]);
        let v = self.client.call(req, false).await?;
        let code = v
            .get("status_code")
            .cloned()
            .map(serde_json::from_value)
            .and_then(Result::ok);
        Ok((
            code.unwrap_or(ContainerStatus::Unknown),
            str_field(&v, "status").unwrap_or("").to_owned(),
        ))
    }

    /// Polls while the container is processing, within the configured budget.
    async fn wait_ready(
        &self,
        ctx: &PublishCtx,
        container: &str,
    ) -> Result<(ContainerStatus, String), ConnectorError> {
        let mut last = self.status(ctx, container).await?;
        for _ in 1..self.cfg.status_poll_max.max(1) {
            if !matches!(
                last.0,
                ContainerStatus::InProgress | ContainerStatus::Unknown
            ) {
                break;
            }
            tokio::time::sleep(self.cfg.poll_interval()).await;
            last = self.status(ctx, container).await?;
        }
        Ok(last)
    }

    async fn create_container(
        &self,
        ctx: &PublishCtx,
        image_url: &str,
        caption: &str,
    ) -> Result<String, ConnectorError> {
        let req = self
            .client
            .graph
            .post(
                &format!("{}/media", ig_user(ctx)),
                &ctx.credentials.access_token,
            )
            .form(&[("image_url", image_url), ("caption", caption)]);
        let v = self.client.call(req, false).await?;
        let id = str_field(&v, "id")
            .ok_or_else(|| ConnectorError::transient("container answer without an id"))?;
        tracing::info!(
            container = id,
            ig_user = ig_user(ctx),
            "instagram container created"
        );
        Ok(id.to_owned())
    }

    /// Uses left in the rolling 24 h window: `(quota_usage, quota_total)`.
    async fn quota(&self, ctx: &PublishCtx) -> Result<(u64, u64), ConnectorError> {
        let req = self
            .client
            .graph
            .get(
                &format!("{}/content_publishing_limit", ig_user(ctx)),
                &ctx.credentials.access_token,
            )
            .query(&[("fields", "quota_usage,config")]);
        let v = self.client.call(req, false).await?;
        let entry = v.pointer("/data/0").cloned().unwrap_or(Value::Null);
        let used = entry
            .get("quota_usage")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let total = entry
            .pointer("/config/quota_total")
            .and_then(Value::as_u64)
            .unwrap_or(u64::MAX);
        Ok((used, total))
    }

    /// Finds the published media among the account's recent media by caption and time.
    async fn find_media(
        &self,
        ctx: &PublishCtx,
        caption: &str,
    ) -> Result<Option<Published>, ConnectorError> {
        let since = ctx
            .committing_since
            .unwrap_or_else(|| Utc::now() - chrono::Duration::hours(24))
            - chrono::Duration::seconds(SKEW_SECS);
        let req = self
            .client
            .graph
            .get(
                &format!("{}/media", ig_user(ctx)),
                &ctx.credentials.access_token,
            )
            .query(&[
                ("fields", "id,caption,timestamp,permalink"),
                ("limit", "50"),
            ]);
        let v = self.client.call(req, false).await?;
        for m in v
            .get("data")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let recent = str_field(m, "timestamp")
                .and_then(parse_graph_time)
                .is_none_or(|t| t >= since);
            if recent
                && m.get("caption").and_then(Value::as_str).unwrap_or("") == caption
                && let Some(id) = str_field(m, "id")
            {
                return Ok(Some(Published {
                    remote_id: id.to_owned(),
                    url: str_field(m, "permalink").map(str::to_owned),
                }));
            }
        }
        Ok(None)
    }

    fn container_of<'a>(ctx: &'a PublishCtx, prepared: Option<&'a Prepared>) -> Option<&'a str> {
        prepared
            .map(|p| &p.checkpoint)
            .or(ctx.checkpoint.as_ref())
            .and_then(|c| str_field(c, "container_id"))
    }
}

#[async_trait::async_trait]
impl Connector for InstagramConnector {
    fn kind(&self) -> &'static str {
        crate::KIND
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn validate(&self, draft: &PostDraft) -> Result<(), Vec<ValidationIssue>> {
        let mut issues = Vec::new();
        let mut issue = |field: &str, rule: &str, message: String| {
            issues.push(ValidationIssue {
                field: field.into(),
                rule: rule.into(),
                message,
            })
        };
        // Caption rules are pressroom-media's (the table campaign validation uses too), with
        // the hashtag and mention limits this connector's config sets (PLATFORMS.md 2.4).
        let mut rules = pressroom_media::CaptionRules::documented(crate::KIND);
        rules.max_hashtags = Some(self.cfg.max_hashtags);
        rules.max_mentions = Some(self.cfg.max_mentions);
        if let Err(found) = pressroom_media::check_caption_with(&rules, &draft.caption) {
            for i in &found {
                issue(i.field(), i.rule.id(), i.summary());
            }
        }
        if draft.media.len() != 1 {
            issue(
                "media",
                "count",
                format!(
                    "an Instagram image post takes exactly one image, got {}",
                    draft.media.len()
                ),
            );
        }
        for m in &draft.media {
            if m.mime != "image/jpeg" {
                issue(
                    "media",
                    "format",
                    format!("Instagram takes JPEG only, got {}", m.mime),
                );
            }
            if m.bytes > MAX_BYTES {
                issue(
                    "media",
                    "max_bytes",
                    format!("image is {} bytes; Instagram takes up to 8 MiB", m.bytes),
                );
            }
            let ratio = m.width as f32 / m.height.max(1) as f32;
            if !(ASPECT.0 - 0.005..=ASPECT.1 + 0.005).contains(&ratio) {
                issue(
                    "media",
                    "aspect_ratio",
                    format!("aspect ratio {ratio:.2} is outside 4:5 to 1.91:1"),
                );
            }
        }
        if issues.is_empty() {
            Ok(())
        } else {
            Err(issues)
        }
    }

    fn oauth(&self) -> Option<OAuthSpec> {
        Some(match self.cfg.login {
            Login::Facebook => OAuthSpec {
                authorize_url: format!(
                    "{}/{}/dialog/oauth",
                    self.cfg.dialog_base_url.trim_end_matches('/'),
                    self.cfg.api_version
                ),
                token_url: self.client.graph.url("oauth/access_token"),
                scopes: [
                    "instagram_basic",
                    "instagram_content_publish",
                    "pages_read_engagement",
                    "pages_show_list",
                ]
                .map(String::from)
                .to_vec(),
                pkce: false,
            },
            Login::Instagram => OAuthSpec {
                authorize_url: "https://www.instagram.com/oauth/authorize".into(),
                token_url: format!(
                    "{}/oauth/access_token",
                    self.cfg.instagram_api_base_url.trim_end_matches('/')
                ),
                scopes: [
                    "instagram_business_basic",
                    "instagram_business_content_publish",
                ]
                .map(String::from)
                .to_vec(),
                pkce: false,
            },
        })
    }

    /// Facebook Login: re-derive the Page token from the user token. Instagram Login: exchange
    /// the (unexpired) long-lived token for a new one with `ig_refresh_token`.
    async fn refresh(&self, creds: &Credentials) -> Result<Credentials, ConnectorError> {
        let reconnect = |why: &str| {
            ConnectorError::Disconnected(format!("{why}; reconnect the Instagram account"))
        };
        let v = match self.cfg.login {
            Login::Facebook => {
                let user = creds
                    .refresh_token
                    .as_ref()
                    .ok_or_else(|| reconnect("no user token stored"))?;
                let page = str_field(&creds.extra, "page_id")
                    .ok_or_else(|| reconnect("no page_id stored"))?;
                let req = self
                    .client
                    .graph
                    .get(page, user)
                    .query(&[("fields", "id,access_token")]);
                self.client.call(req, false).await
            }
            Login::Instagram => {
                // This endpoint takes the token as a query parameter (documented form).
                let req = self
                    .client
                    .graph
                    .http
                    .get(self.client.graph.root_url("refresh_access_token"))
                    .query(&[
                        ("grant_type", "ig_refresh_token"),
                        ("access_token", creds.access_token.expose_secret()),
                    ]);
                self.client.call(req, false).await
            }
        };
        let v = match v {
            Ok(v) => v,
            Err(ConnectorError::AuthExpired) => {
                return Err(reconnect("the token expired or was revoked"));
            }
            Err(e) => return Err(e),
        };
        let token = str_field(&v, "access_token")
            .ok_or_else(|| reconnect("no token in the refresh answer"))?;
        let expires_at = v
            .get("expires_in")
            .and_then(Value::as_i64)
            .map(|s| Utc::now() + chrono::Duration::seconds(s));
        let mut extra = creds.extra.clone();
        if self.cfg.login == Login::Instagram
            && let Some(map) = extra.as_object_mut()
        {
            map.insert(
                crate::connect::ISSUED_AT.into(),
                Value::from(Utc::now().timestamp()),
            );
        }
        Ok(Credentials {
            access_token: SecretString::from(token.to_owned()),
            refresh_token: None,
            expires_at,
            extra,
        })
    }

    /// `refresh_before_days` (Instagram-Login tokens live 60 days); Facebook Login keeps the
    /// default margin.
    fn refresh_before(&self) -> std::time::Duration {
        match self.cfg.login {
            Login::Facebook => std::time::Duration::from_secs(300),
            Login::Instagram => {
                std::time::Duration::from_secs(self.cfg.refresh_before_days.saturating_mul(86_400))
            }
        }
    }

    /// Instagram Login stores no refresh token: the long-lived token renews itself once it is
    /// 24 h old and while it is unexpired.
    fn can_refresh(&self, creds: &Credentials, now: DateTime<Utc>) -> bool {
        match self.cfg.login {
            Login::Facebook => creds.refresh_token.is_some(),
            Login::Instagram => crate::connect::ig_login_refreshable(creds, now),
        }
    }

    /// Creates the container (or reuses the checkpoint's) and waits for processing within the
    /// poll budget. Once a container exists, polling trouble never loses its id.
    async fn prepare(
        &self,
        ctx: &PublishCtx,
        draft: &PostDraft,
    ) -> Result<Prepared, ConnectorError> {
        let media = draft
            .media
            .first()
            .ok_or_else(|| ConnectorError::Rejected("no image".into()))?;
        let image_url = media.public_url.as_deref().ok_or_else(|| {
            ConnectorError::Rejected(
                "Instagram fetches images by URL; no public URL (set the public base URL)".into(),
            )
        })?;
        let mut container = None;
        if let Some(id) = ctx
            .checkpoint
            .as_ref()
            .and_then(|c| str_field(c, "container_id"))
        {
            match self.status(ctx, id).await?.0 {
                // Dead containers can never be published; a new one is safe.
                ContainerStatus::Expired | ContainerStatus::Error => {}
                _ => container = Some(id.to_owned()),
            }
        }
        let container = match container {
            Some(c) => c,
            None => {
                self.create_container(ctx, image_url, &draft.caption)
                    .await?
            }
        };
        let checkpoint = |status: &str| json!({"container_id": container, "ig_user_id": ig_user(ctx), "caption": draft.caption, "status": status});
        match self.wait_ready(ctx, &container).await {
            Ok((ContainerStatus::Error, text)) => Err(ConnectorError::Rejected(format!(
                "Instagram could not process the image: {text}"
            ))),
            Ok((status, _)) => Ok(Prepared {
                checkpoint: checkpoint(&format!("{status:?}")),
            }),
            Err(e) => {
                tracing::warn!(error = %e, container, "container status unknown after creation; commit will re-check");
                Ok(Prepared {
                    checkpoint: checkpoint("Unknown"),
                })
            }
        }
    }

    async fn commit(
        &self,
        ctx: &PublishCtx,
        prepared: &Prepared,
    ) -> Result<Published, ConnectorError> {
        let container = Self::container_of(ctx, Some(prepared))
            .ok_or_else(|| ConnectorError::Rejected("checkpoint has no container".into()))?;
        let caption = str_field(&prepared.checkpoint, "caption").unwrap_or(&ctx.caption);
        match self.wait_ready(ctx, container).await? {
            (ContainerStatus::Finished, _) => {}
            (ContainerStatus::Published, _) => {
                // An earlier commit took effect: never publish again.
                return match self.find_media(ctx, caption).await? {
                    Some(p) => Ok(p),
                    None => Err(ConnectorError::OutcomeUnknown(
                        "container is PUBLISHED but the media is not listed yet".into(),
                    )),
                };
            }
            (ContainerStatus::Error, text) => {
                return Err(ConnectorError::Rejected(format!(
                    "Instagram could not process the image: {text}"
                )));
            }
            (ContainerStatus::Expired, _) => {
                return Err(ConnectorError::Rejected(
                    "the media container expired (24 h) before publishing".into(),
                ));
            }
            (status, _) => {
                return Err(ConnectorError::transient(format!(
                    "container still {status:?}"
                )));
            }
        }
        let (used, total) = self.quota(ctx).await?;
        if used >= total {
            tracing::info!(
                used,
                total,
                "instagram 24 h publishing quota used up; deferring"
            );
            return Err(ConnectorError::RateLimited {
                retry_after: Some(std::time::Duration::from_secs(
                    self.cfg.quota_retry_minutes * 60,
                )),
            });
        }
        let req = self
            .client
            .graph
            .post(
                &format!("{}/media_publish", ig_user(ctx)),
                &ctx.credentials.access_token,
            )
            .form(&[("creation_id", container)]);
        let v = self.client.call(req, true).await?;
        let media_id = str_field(&v, "id").ok_or_else(|| {
            ConnectorError::OutcomeUnknown("media_publish answer without an id".into())
        })?;
        tracing::info!(media_id, container, "instagram media published");
        // The permalink is a nicety; failing to read it does not un-publish anything.
        let permalink = match self
            .client
            .call(
                self.client
                    .graph
                    .get(media_id, &ctx.credentials.access_token)
                    .query(&[("fields", "permalink")]),
                false,
            )
            .await
        {
            Ok(v) => str_field(&v, "permalink").map(str::to_owned),
            Err(_) => None,
        };
        Ok(Published {
            remote_id: media_id.to_owned(),
            url: permalink,
        })
    }

    /// The container's status is exact, but a `media_publish` still in flight (its answer
    /// not yet lost) may turn it PUBLISHED later: not before the request timeout has passed,
    /// plus a margin for the status to follow.
    fn absent_final_after(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.cfg.request_timeout_secs + STATUS_LAG_SECS)
    }

    /// The container knows: PUBLISHED means landed (then found among recent media), anything
    /// else means `media_publish` never took effect for it.
    async fn reconcile(
        &self,
        ctx: &PublishCtx,
        prepared: Option<&Prepared>,
    ) -> Result<Reconciled, ConnectorError> {
        let Some(container) = Self::container_of(ctx, prepared) else {
            // Without a container nothing can have been published.
            return Ok(Reconciled::Absent);
        };
        let caption = prepared
            .and_then(|p| str_field(&p.checkpoint, "caption"))
            .unwrap_or(&ctx.caption);
        match self.status(ctx, container).await?.0 {
            ContainerStatus::Published => Ok(match self.find_media(ctx, caption).await? {
                Some(p) => Reconciled::Landed(p),
                None => Reconciled::Unknown(format!(
                    "container {container} is PUBLISHED but its media is not listed yet"
                )),
            }),
            ContainerStatus::Finished
            | ContainerStatus::InProgress
            | ContainerStatus::Error
            | ContainerStatus::Expired => Ok(Reconciled::Absent),
            ContainerStatus::Unknown => Ok(Reconciled::Unknown(format!(
                "container {container} reports an unknown status"
            ))),
        }
    }
}
