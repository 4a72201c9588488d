//! What every console page shares: who is looking ([`Viewer`], from the session cookie, or a
//! redirect to `/login`), the templates, the page headers, one-time notices after a form
//! ("flash"), the CSRF check of forms, and the role check of actions, read from the API's
//! route table so the console never allows what the API refuses.

use std::sync::LazyLock;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::header::{self, HeaderValue};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use pressroom_store::repo::people;
use serde::Serialize;

use crate::ApiState;
use crate::auth::{self, Ctx, Role};
use crate::errors::{ApiError, Code};
use crate::routes::{Access, Method, ROUTES};

/// The cookie that carries the viewer's time zone (set by the console's script from the
/// browser's own).
pub(crate) const TZ_COOKIE: &str = "pressroom_tz";
/// A one-time notice after a form, shown on the next page.
const FLASH_COOKIE: &str = "pressroom_flash";

static TEMPLATES: LazyLock<minijinja::Environment<'static>> = LazyLock::new(|| {
    let mut env = minijinja::Environment::new();
    for (name, source) in [
        ("layout.html", include_str!("templates/layout.html")),
        ("login.html", include_str!("templates/login.html")),
        ("calendar.html", include_str!("templates/calendar.html")),
        ("reviews.html", include_str!("templates/reviews.html")),
        ("review.html", include_str!("templates/review.html")),
        ("review_body.html", include_str!("../html/review_body.html")),
        ("posts.html", include_str!("templates/posts.html")),
        ("run.html", include_str!("templates/run.html")),
        ("campaigns.html", include_str!("templates/campaigns.html")),
        ("campaign.html", include_str!("templates/campaign.html")),
        ("accounts.html", include_str!("templates/accounts.html")),
        ("connect.html", include_str!("templates/connect.html")),
        ("gallery.html", include_str!("templates/gallery.html")),
        ("settings.html", include_str!("templates/settings.html")),
        ("operations.html", include_str!("templates/operations.html")),
        ("message.html", include_str!("templates/message.html")),
    ] {
        env.add_template(name, source)
            .unwrap_or_else(|e| panic!("the console template {name} does not compile: {e}"));
    }
    env.add_filter("when", when);
    env.add_filter("day", day);
    env.add_filter("truncate", truncate);
    env.add_filter("web_link", web_link);
    env
});

/// `url` when it is an http(s) address (a platform's link to a post), else nothing: a link
/// we did not make is never followed as `javascript:` or `data:`.
fn web_link(url: Option<String>) -> String {
    let url = url.unwrap_or_default();
    let lower = url.trim_start().to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        url
    } else {
        String::new()
    }
}

/// The first instant of day `date` in zone `tz`: midnight, or the first minute after it that
/// exists where a daylight-saving change skips midnight.
pub(crate) fn day_start(tz: Tz, date: chrono::NaiveDate) -> DateTime<Utc> {
    (0..=180)
        .step_by(15)
        .find_map(|minutes| {
            let t = date.and_hms_opt(0, 0, 0)? + chrono::Duration::minutes(minutes);
            tz.from_local_datetime(&t).earliest()
        })
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default()))
}

/// The first `chars` characters of `text`, with an ellipsis when cut.
fn truncate(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// An instant (epoch milliseconds or RFC 3339) as people read it in zone `tz`:
/// "Mon 7 Dec 2026, 09:00".
fn when(value: minijinja::Value, tz: &str) -> String {
    match instant(&value) {
        Some(t) => t
            .with_timezone(&zone(tz))
            .format("%a %-d %b %Y, %H:%M")
            .to_string(),
        None => String::new(),
    }
}

/// The day of an instant in zone `tz` as `YYYY-MM-DD`.
fn day(value: minijinja::Value, tz: &str) -> String {
    match instant(&value) {
        Some(t) => t.with_timezone(&zone(tz)).format("%Y-%m-%d").to_string(),
        None => String::new(),
    }
}

fn instant(value: &minijinja::Value) -> Option<DateTime<Utc>> {
    if let Some(ms) = value.as_i64() {
        return Utc.timestamp_millis_opt(ms).single();
    }
    let text = value.as_str()?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A time zone by its IANA name; UTC for anything else.
pub(crate) fn zone(name: &str) -> Tz {
    name.parse().unwrap_or(Tz::UTC)
}

/// The signed-in person looking at a page, in the workspace they chose.
pub(crate) struct Viewer {
    pub ctx: Ctx,
    pub email: String,
    /// Their workspaces (slugs), for the switcher.
    pub workspaces: Vec<String>,
    pub workspace: String,
    pub csrf: String,
    pub tz: Tz,
    flash: Option<(String, String)>,
    /// The workspace was chosen here (the browser named none): the page remembers it in the
    /// switcher's cookie, so the page's images and script calls act in the same one.
    remember_workspace: bool,
    /// Cookies get `Secure` (people reach the daemon over https).
    secure: bool,
}

impl FromRequestParts<ApiState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Response> {
        let headers = &parts.headers;
        let to_login = || {
            let next = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
            Redirect::to(&format!("/login?{query}")).into_response()
        };
        let Some(token) = auth::cookie(headers, auth::SESSION_COOKIE) else {
            return Err(to_login());
        };
        let mut chosen = auth::cookie(headers, auth::WORKSPACE_COOKIE);
        let mut ctx = match auth::authenticate_session(state, &token, chosen.as_deref()).await {
            Ok(ctx) => ctx,
            // A workspace they left (or another person's choice on this browser): fall back to
            // their first, and the page rewrites the cookie.
            Err(e) if e.code == Code::Forbidden => {
                chosen = None;
                auth::authenticate_session(state, &token, None)
                    .await
                    .map_err(|_| to_login())?
            }
            Err(e) if e.code == Code::Unauthenticated => return Err(to_login()),
            Err(e) => return Err(error_page(e)),
        };
        let person = ctx.person.clone().ok_or_else(to_login)?;
        let remember_workspace = ctx.workspace_id.is_none() || chosen.is_none();
        if ctx.workspace_id.is_none() {
            let Some(first) = person.workspaces.first() else {
                return Err(message(
                    StatusCode::FORBIDDEN,
                    "No workspace yet",
                    &format!(
                        "{} is signed in but belongs to no workspace. Ask an admin to invite you.",
                        person.email
                    ),
                ));
            };
            ctx = auth::authenticate_session(state, &token, Some(first))
                .await
                .map_err(error_page)?;
        }
        let workspace = match &ctx.workspace_id {
            Some(id) => people::memberships(&state.store, &person.user_id)
                .await
                .map_err(|e| error_page(e.into()))?
                .into_iter()
                .find(|m| &m.workspace_id == id)
                .map(|m| m.workspace_slug)
                .unwrap_or_default(),
            None => String::new(),
        };
        // A form that changes something counts against the person's rate limit, as the same
        // call through the API would.
        if parts.method != axum::http::Method::GET
            && let Err(wait) = state.limiter.check(&ctx.key_id)
        {
            let mut resp = message(
                StatusCode::TOO_MANY_REQUESTS,
                "Slow down",
                "Too many changes in a short time. Wait a moment and try again.",
            );
            if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return Err(resp);
        }
        let flash = auth::cookie(headers, FLASH_COOKIE)
            .and_then(|v| serde_urlencoded::from_str::<Vec<(String, String)>>(&v).ok())
            .and_then(|mut pairs| pairs.pop());
        Ok(Viewer {
            email: person.email.clone(),
            workspaces: person.workspaces.clone(),
            workspace,
            csrf: auth::cookie(headers, auth::CSRF_COOKIE).unwrap_or_default(),
            tz: auth::cookie(headers, TZ_COOKIE)
                .map(|z| zone(&z))
                .unwrap_or(Tz::UTC),
            flash,
            remember_workspace,
            secure: state.secure_cookies,
            ctx,
        })
    }
}

impl Viewer {
    /// Whether the viewer's role may call API route `method path` (as the route table says).
    pub fn may(&self, method: Method, path: &str) -> bool {
        ROUTES
            .iter()
            .find(|r| r.method == method && r.path == path)
            .is_some_and(|r| match r.access {
                Access::Workspace(min) => self.ctx.role.allows(min),
                Access::Session => true,
                _ => false,
            })
    }

    /// A 403 page unless the viewer may call API route `method path`.
    pub fn require(&self, method: Method, path: &str) -> Result<(), Box<Response>> {
        if self.may(method, path) {
            return Ok(());
        }
        Err(Box::new(message(
            StatusCode::FORBIDDEN,
            "Not allowed",
            &format!(
                "Your role in {} ({}) does not allow this.",
                self.workspace,
                self.ctx.role.as_str()
            ),
        )))
    }

    /// A form posted from one of the console's pages: its fields once its `csrf` field
    /// matches the session's CSRF cookie, else the refusal page.
    pub fn form(&self, body: &[u8]) -> Result<Vec<(String, String)>, Box<Response>> {
        let fields = form(body)?;
        if !self.csrf_ok(crate::html::field(&fields, "csrf")) {
            return Err(Box::new(stale_form()));
        }
        Ok(fields)
    }

    /// [`Viewer::form`] for an action that calls API route `method path`: the role check too.
    pub fn action_form(
        &self,
        body: &[u8],
        method: Method,
        path: &str,
    ) -> Result<Vec<(String, String)>, Box<Response>> {
        let fields = self.form(body)?;
        self.require(method, path)?;
        Ok(fields)
    }

    /// The viewer's workspace, or the page that says why there is none.
    pub fn workspace(&self) -> Result<pressroom_core::WorkspaceId, Box<Response>> {
        self.ctx
            .workspace()
            .cloned()
            .map_err(|e| Box::new(error_page(e)))
    }

    /// Whether a form's `csrf` field matches the session's CSRF cookie.
    pub fn csrf_ok(&self, sent: Option<&str>) -> bool {
        let sent = sent.unwrap_or_default();
        !sent.is_empty()
            && !self.csrf.is_empty()
            && pressroom_crypto::constant_time_eq(sent.as_bytes(), self.csrf.as_bytes())
    }

    /// Renders page `name` with the layout's context (who, where, the notice) and `page`.
    pub fn render(&self, name: &str, active: &str, page: minijinja::Value) -> Response {
        self.render_status(name, StatusCode::OK, active, page)
    }

    pub fn render_status(
        &self,
        name: &str,
        status: StatusCode,
        active: &str,
        page: minijinja::Value,
    ) -> Response {
        let flash = self
            .flash
            .as_ref()
            .map(|(kind, text)| minijinja::context! { kind => kind, text => text });
        let viewer = minijinja::context! {
            email => self.email,
            workspace => self.workspace,
            workspaces => self.workspaces,
            role => self.ctx.role.as_str(),
            csrf => self.csrf,
            tz => self.tz.name(),
            is_admin => self.ctx.role.allows(Role::Admin),
            may_edit => self.ctx.role.allows(Role::Editor),
            may_approve => self.ctx.role.allows(Role::Approver),
        };
        let context = minijinja::context! {
            viewer => viewer,
            active => active,
            flash => flash,
            ..page
        };
        let html = match TEMPLATES.get_template(name).and_then(|t| t.render(context)) {
            Ok(html) => html,
            Err(e) => return error_page(ApiError::internal(format!("console page {name}: {e:#}"))),
        };
        let mut resp = with_headers((status, html).into_response());
        if self.flash.is_some() {
            set_cookie(
                &mut resp,
                &format!("{FLASH_COOKIE}=; Path=/; Max-Age=0; SameSite=Lax"),
            );
        }
        if self.remember_workspace && !self.workspace.is_empty() {
            set_cookie(
                &mut resp,
                &format!(
                    "{}={}; Path=/; Max-Age=31536000; SameSite=Lax{}",
                    auth::WORKSPACE_COOKIE,
                    self.workspace,
                    if self.secure { "; Secure" } else { "" }
                ),
            );
        }
        resp
    }
}

/// Renders a page with a form of its own CSRF token (the sign-in page), as the review-link
/// pages do.
pub(crate) fn render_with_csrf(
    name: &str,
    status: StatusCode,
    cookie_path: &str,
    secure: bool,
    context: impl Fn(&str) -> minijinja::Value,
) -> Response {
    crate::html::render_in(&TEMPLATES, name, status, cookie_path, secure, context)
        .map(with_headers)
        .unwrap_or_else(error_page)
}

/// Renders a template without a viewer.
pub(crate) fn render_bare(name: &str, status: StatusCode, page: minijinja::Value) -> Response {
    match TEMPLATES.get_template(name).and_then(|t| t.render(page)) {
        Ok(html) => with_headers((status, html).into_response()),
        Err(e) => error_page(ApiError::internal(format!("console page {name}: {e:#}"))),
    }
}

/// After a form: back to `to` (a path of ours) with a notice; `ok` false shows it as an error.
pub(crate) fn done(to: &str, ok: bool, text: &str) -> Response {
    let kind = if ok { "ok" } else { "error" };
    let value = serde_urlencoded::to_string([(kind, text)]).unwrap_or_default();
    let mut resp = Redirect::to(local_path(to)).into_response();
    set_cookie(
        &mut resp,
        &format!("{FLASH_COOKIE}={value}; Path=/; Max-Age=60; HttpOnly; SameSite=Lax"),
    );
    resp
}

/// An API error as a notice after a form.
pub(crate) fn failed(to: &str, e: ApiError) -> Response {
    if e.code == Code::Internal {
        tracing::error!(error = %e.detail, "console: action failed");
        return done(
            to,
            false,
            "Something went wrong on our side; see the daemon's log.",
        );
    }
    done(to, false, &e.detail)
}

/// `to` when it is a path on this site, else `/` (no open redirect through `next`).
pub(crate) fn local_path(to: &str) -> &str {
    // Browsers drop tabs and newlines from a URL and read `\` as `/`: `/\t/evil.example`
    // would leave the site, so neither may appear anywhere.
    let odd = to.chars().any(|c| c.is_control() || c == '\\');
    if to.starts_with('/') && !to.starts_with("//") && !odd {
        to
    } else {
        "/"
    }
}

pub(crate) fn set_cookie(resp: &mut Response, cookie: &str) {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// A page with a title and one message, in the console's look.
pub(crate) fn message(status: StatusCode, title: &str, text: &str) -> Response {
    render_bare(
        "message.html",
        status,
        minijinja::context! { title => title, message => text },
    )
}

/// An API error as a page (a load that failed).
pub(crate) fn error_page(e: ApiError) -> Response {
    let status = e.code.status();
    if e.code == Code::Internal {
        tracing::error!(error = %e.detail, "console: page failed");
        return message(
            status,
            "Something went wrong",
            "See the daemon's log for the cause.",
        );
    }
    message(status, e.code.title(), &e.detail)
}

/// The console's page headers: those of every page (a strict Content Security Policy,
/// never cached), with the referrer kept within this site.
pub(crate) fn with_headers(resp: Response) -> Response {
    crate::html::page_headers(resp, "same-origin")
}

/// A serializable value as a template value.
pub(crate) fn value<T: Serialize>(v: &T) -> minijinja::Value {
    minijinja::Value::from_serialize(v)
}

/// The fields of a form body, or a 400 page.
pub(crate) fn form(body: &[u8]) -> Result<Vec<(String, String)>, Box<Response>> {
    crate::html::form_fields(body)
}

/// The refusal of a form whose CSRF token does not match.
pub(crate) fn stale_form() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "Form expired",
        "This form has expired or came from another site. Go back, reload the page and try again.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        assert!(TEMPLATES.templates().count() >= 16);
    }

    #[test]
    fn times_read_in_the_viewers_zone() {
        let at = minijinja::Value::from("2026-12-06T23:30:00Z");
        assert_eq!(
            when(at.clone(), "Pacific/Auckland"),
            "Mon 7 Dec 2026, 12:30"
        );
        assert_eq!(day(at, "America/New_York"), "2026-12-06");
        assert_eq!(
            when(minijinja::Value::from(0), "Not/AZone"),
            "Thu 1 Jan 1970, 00:00"
        );
        assert_eq!(truncate("Grüße aus Köln", 5), "Grüße…");
        assert_eq!(truncate("short", 5), "short");
        // Santiago skipped 2024-09-08 00:00 (clocks went to 01:00).
        let santiago = zone("America/Santiago");
        let d = chrono::NaiveDate::from_ymd_opt(2024, 9, 8).expect("date");
        assert_eq!(
            day_start(santiago, d).to_rfc3339(),
            "2024-09-08T04:00:00+00:00"
        );
        assert_eq!(
            web_link(Some("https://x.example/p/1".into())),
            "https://x.example/p/1"
        );
        assert_eq!(web_link(Some("javascript:alert(1)".into())), "");
        assert_eq!(web_link(None), "");
    }

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path("/reviews/1"), "/reviews/1");
        for outside in [
            "//evil.example/x",
            "https://evil.example",
            "/\\evil.example",
            "",
        ] {
            assert_eq!(local_path(outside), "/", "{outside}");
        }
    }
}
