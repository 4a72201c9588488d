//! The few pages the daemon serves to people without an account or a session yet (a review
//! link, an invitation): MiniJinja templates with HTML auto-escaping, a strict Content
//! Security Policy (the console's stylesheet and script, nothing inline), never cached, never sent as a referrer (their URL is the credential), and
//! forms protected by a double-submit CSRF token (a `SameSite=Strict` cookie the form echoes).

use std::sync::LazyLock;

use axum::http::header::{self, HeaderValue};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::errors::{ApiError, ApiResult};

static TEMPLATES: LazyLock<minijinja::Environment<'static>> = LazyLock::new(|| {
    let mut env = minijinja::Environment::new();
    // `.html` names turn on HTML auto-escaping: every value a person typed is escaped.
    for (name, source) in [
        ("review.html", include_str!("review.html")),
        ("invite.html", include_str!("invite.html")),
        ("review_body.html", include_str!("review_body.html")),
    ] {
        env.add_template(name, source)
            .unwrap_or_else(|e| panic!("the page template {name} does not compile: {e}"));
    }
    env
});

/// Renders page `name` with `context`, with the page headers and a fresh CSRF cookie (scoped
/// to `cookie_path`, the page's own URL, so two pages open at once keep theirs; `Secure` when
/// people reach the daemon over https) whose value the context got as `csrf`.
pub(crate) fn render(
    name: &str,
    status: StatusCode,
    cookie_path: &str,
    secure: bool,
    context: impl Fn(&str) -> minijinja::Value,
) -> ApiResult<Response> {
    render_in(&TEMPLATES, name, status, cookie_path, secure, context)
}

/// [`render`] with the templates of `env` (the console's sign-in page).
pub(crate) fn render_in(
    env: &minijinja::Environment<'_>,
    name: &str,
    status: StatusCode,
    cookie_path: &str,
    secure: bool,
    context: impl Fn(&str) -> minijinja::Value,
) -> ApiResult<Response> {
    let csrf = pressroom_crypto::random_token();
    let html = env
        .get_template(name)
        .and_then(|t| t.render(context(&csrf)))
        .map_err(ApiError::internal)?;
    let mut resp = with_page_headers((status, html).into_response());
    let secure = if secure { "; Secure" } else { "" };
    let cookie =
        format!("{CSRF_COOKIE}={csrf}; Path={cookie_path}; HttpOnly; SameSite=Strict{secure}");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// The CSRF cookie of the pages' forms.
pub(crate) const CSRF_COOKIE: &str = "pressroom_page_csrf";

/// Whether a form's `csrf` field matches the page's CSRF cookie.
pub(crate) fn csrf_ok(headers: &HeaderMap, sent: Option<&str>) -> bool {
    let sent = sent.unwrap_or_default();
    let expected = cookie(headers, CSRF_COOKIE).unwrap_or_default();
    !sent.is_empty() && pressroom_crypto::constant_time_eq(sent.as_bytes(), expected.as_bytes())
}

/// A page with a title and one short message (a bad link, a refused form).
pub(crate) fn message_page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <link rel=\"icon\" href=\"data:,\"><link rel=\"stylesheet\" href=\"/console/console.css\"></head>\
         <body class=\"public\">\
         <main><h1>{title}</h1><p role=\"status\">{message}</p></main></body></html>",
        title = escape(title),
        message = escape(message)
    );
    with_page_headers((status, body).into_response())
}

fn escape(text: &str) -> String {
    minijinja::HtmlEscape(text).to_string()
}

fn with_page_headers(resp: Response) -> Response {
    page_headers(resp, "no-referrer")
}

/// The headers of every page the daemon serves (these and the console's): HTML, never cached,
/// `referrer` as the Referrer-Policy, and [`CSP`].
pub(crate) fn page_headers(mut resp: Response, referrer: &'static str) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static(referrer));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    resp
}

/// The pages' Content Security Policy: scripts, styles and images from this site only (the
/// console's own stylesheet and script), nothing inline, no framing.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The value of cookie `name` in the request.
pub(crate) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The fields of an `application/x-www-form-urlencoded` body, or a 400 page.
pub(crate) fn form_fields(body: &[u8]) -> Result<Vec<(String, String)>, Box<Response>> {
    const MAX_FORM_BYTES: usize = 256 * 1024;
    if body.len() > MAX_FORM_BYTES {
        return Err(Box::new(message_page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Form too large",
            "The form is too large.",
        )));
    }
    serde_urlencoded::from_bytes(body).map_err(|_| {
        Box::new(message_page(
            StatusCode::BAD_REQUEST,
            "Unreadable form",
            "The form could not be read.",
        ))
    })
}

/// The first value of field `name`.
pub(crate) fn field<'f>(fields: &'f [(String, String)], name: &str) -> Option<&'f str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}
