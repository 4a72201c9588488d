//! The route table: the single source of truth for every route's method, path, who may call
//! it and what it answers. The router, the per-route guard, the OpenAPI document and the
//! authorization-matrix test are all generated from it, so a new route cannot be added
//! without declaring its access rule.

use axum::Router;
use axum::routing::{MethodRouter, delete, get, post};

use crate::ApiState;
use crate::auth::Role;
use crate::handlers::{
    accounts, assets, audit, calendar, campaigns, connect, hooks, images, insights, invite_page,
    keys, media, members, ops, posts, preview, review_page, reviews, runs, sessions, usage,
    workspaces,
};

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// No credentials (health, metrics, the OpenAPI document).
    Public,
    /// Authenticated by a Standard Webhooks signature instead of an API key.
    Signature,
    /// Authorized by a signed, expiring link (`?exp=&sig=`) the daemon minted.
    SignedLink,
    /// The OAuth callback: authorized by the one-time `state` of a connect this API started.
    OAuthState,
    /// A workspace key with at least this role.
    Workspace(Role),
    /// An instance-admin key.
    Instance,
    /// A signed-in person (session cookie), whatever their workspaces.
    Session,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

/// One route.
pub struct RouteSpec {
    pub method: Method,
    /// axum path syntax (`/v1/runs/{id}`), also used verbatim in the OpenAPI document.
    pub path: &'static str,
    pub access: Access,
    /// The status a well-formed call by an allowed caller answers.
    pub ok: u16,
    pub summary: &'static str,
    /// Whether the route reads a JSON request body (documented in OpenAPI).
    pub body: bool,
    /// Whether the route is a paginated list (`?limit=&cursor=`).
    pub paged: bool,
    /// Whether a success answer carries a secret shown once (a key, a signing secret): its
    /// body is never stored for `Idempotency-Key` replays, and a replay answers 409.
    pub secret: bool,
    pub(crate) handler: fn() -> MethodRouter<ApiState>,
}

impl RouteSpec {
    /// The largest body this route reads: an image upload's, a signed webhook's (smaller:
    /// unauthenticated until verified), or the configured one.
    pub(crate) fn body_limit(&self, limits: &crate::Limits) -> usize {
        if self.method == Method::Post && self.path == "/v1/assets" {
            crate::handlers::assets::UPLOAD_BODY_BYTES
        } else if self.access == Access::Signature {
            limits.hook_body_bytes
        } else {
            limits.body_bytes
        }
    }
}

impl std::fmt::Debug for RouteSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method.as_str(), self.path)
    }
}

impl RouteSpec {
    /// The names of the `{params}` in the path.
    pub fn path_params(&self) -> Vec<&'static str> {
        self.path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect()
    }
}

const V: Access = Access::Workspace(Role::Viewer);
const AP: Access = Access::Workspace(Role::Approver);
const E: Access = Access::Workspace(Role::Editor);
const A: Access = Access::Workspace(Role::Admin);
const O: Access = Access::Workspace(Role::Owner);

macro_rules! route {
    ($m:ident $path:literal, $access:expr, $ok:literal, $summary:literal, body: $body:literal, paged: $paged:literal, $handler:expr) => {
        route!($m $path, $access, $ok, $summary, body: $body, paged: $paged, secret: false, $handler)
    };
    ($m:ident $path:literal, $access:expr, $ok:literal, $summary:literal, body: $body:literal, paged: $paged:literal, secret: $secret:literal, $handler:expr) => {
        RouteSpec {
            method: route!(@m $m),
            path: $path,
            access: $access,
            ok: $ok,
            summary: $summary,
            body: $body,
            paged: $paged,
            secret: $secret,
            handler: || route!(@r $m, $handler),
        }
    };
    (@m GET) => { Method::Get };
    (@m POST) => { Method::Post };
    (@m DELETE) => { Method::Delete };
    (@r GET, $h:expr) => { get($h) };
    (@r POST, $h:expr) => { post($h) };
    (@r DELETE, $h:expr) => { delete($h) };
}

/// Every route of the API.
pub static ROUTES: &[RouteSpec] = &[
    route!(GET "/healthz", Access::Public, 200, "Liveness: the process answers", body: false, paged: false, ops::healthz),
    route!(GET "/readyz", Access::Public, 200, "Readiness: the database answers", body: false, paged: false, ops::readyz),
    route!(GET "/metrics", Access::Public, 200, "Prometheus metrics", body: false, paged: false, ops::metrics),
    route!(GET "/media/{rendition_id}", Access::SignedLink, 200, "A rendition's image, for platforms that fetch media by URL (signed, expiring link)", body: false, paged: false, media::rendition),
    route!(GET "/media/assets/{asset_id}", Access::SignedLink, 200, "A generated image, the url POST /v1/images/generations answers (signed link, valid media.link_ttl_secs)", body: false, paged: false, media::asset),
    route!(GET "/openapi.json", Access::Public, 200, "This OpenAPI 3.1 document", body: false, paged: false, ops::openapi),
    route!(POST "/v1/sessions", Access::Public, 201, "Sign in with email and password: sets the session cookie (HttpOnly) and the CSRF cookie; requests that change anything send the CSRF token back as X-CSRF-Token", body: true, paged: false, secret: true, sessions::create),
    route!(POST "/v1/invitations/accept", Access::Public, 201, "Accept an invitation: set your password with the invitation's token and sign in (same cookies as POST /v1/sessions)", body: true, paged: false, secret: true, sessions::accept_invitation),
    route!(GET "/invite/{token}", Access::SignedLink, 200, "The invitation page (HTML): set your password and sign this browser in; the link is the credential, used once", body: false, paged: false, invite_page::page),
    route!(POST "/invite/{token}", Access::SignedLink, 200, "Set your password through an invitation (the page's form: password, confirm, csrf); signs this browser in", body: false, paged: false, invite_page::submit),
    route!(DELETE "/v1/sessions/current", Access::Session, 204, "Sign out this browser", body: false, paged: false, sessions::delete_current),
    route!(DELETE "/v1/sessions", Access::Session, 204, "Sign out everywhere (every session of yours)", body: false, paged: false, sessions::delete_all),
    route!(GET "/v1/me", Access::Session, 200, "The signed-in person, their workspaces and roles", body: false, paged: false, sessions::me),
    route!(GET "/v1/workspaces", Access::Instance, 200, "List workspaces (instance admin)", body: false, paged: true, workspaces::list),
    route!(POST "/v1/workspaces", Access::Instance, 201, "Create a workspace (instance admin)", body: true, paged: false, workspaces::create),
    route!(POST "/v1/workspaces/{workspace_id}/keys", Access::Instance, 201, "Create a key in a workspace (instance admin)", body: true, paged: false, secret: true, keys::create_for_workspace),
    route!(GET "/v1/workspaces/current", V, 200, "The key's workspace", body: false, paged: false, workspaces::current),
    route!(POST "/v1/workspaces/current/erase", O, 200, "GDPR: erase the workspace's personal data and generated assets (body: {\"confirm\": slug})", body: true, paged: false, workspaces::erase),
    route!(GET "/v1/campaigns", V, 200, "List campaigns", body: false, paged: true, campaigns::list),
    route!(POST "/v1/campaigns", E, 201, "Create or update a campaign from its TOML source", body: true, paged: false, campaigns::create),
    route!(POST "/v1/campaigns/validate", E, 200, "Validate a campaign's TOML source without saving it", body: true, paged: false, campaigns::validate),
    route!(GET "/v1/campaigns/{id}", V, 200, "Get a campaign", body: false, paged: false, campaigns::get_one),
    route!(POST "/v1/campaigns/{id}/pause", E, 200, "Pause a campaign's schedule", body: false, paged: false, campaigns::pause),
    route!(POST "/v1/campaigns/{id}/resume", E, 200, "Resume a campaign's schedule", body: false, paged: false, campaigns::resume),
    route!(POST "/v1/campaigns/{id}/trigger", E, 202, "Fire a campaign now with variables", body: true, paged: false, campaigns::trigger),
    route!(POST "/v1/campaigns/{id}/preview", E, 200, "Render a run's prompt and captions with variables and check them, without running anything", body: true, paged: false, preview::preview),
    route!(DELETE "/v1/campaigns/{id}", E, 200, "Delete a campaign (soft: runs and posts stay; queued work withdrawn; 409 while publishing)", body: false, paged: false, campaigns::delete),
    route!(GET "/v1/runs", V, 200, "List runs", body: false, paged: true, runs::list),
    route!(GET "/v1/runs/{id}", V, 200, "Get a run", body: false, paged: false, runs::get_one),
    route!(POST "/v1/runs/{id}/review-links", E, 201, "Mint a review link for the run's pending review: a signed, expiring URL that lets someone without an account approve or reject (shown once)", body: true, paged: false, secret: true, reviews::create_link),
    route!(DELETE "/v1/review-links/{id}", E, 204, "Revoke a review link", body: false, paged: false, reviews::revoke_link),
    route!(GET "/v1/reviews", V, 200, "List reviews (filter: state = pending, approved, rejected, expired)", body: false, paged: true, reviews::list),
    route!(GET "/v1/reviews/{id}", V, 200, "Get a review: its candidates, each target's rendition and caption, and the decision", body: false, paged: false, reviews::get_one),
    route!(POST "/v1/reviews/{id}/approve", AP, 200, "Approve a pending review with the chosen candidate and optional caption edits per target (ACCOUNT:PRESET); the posts publish at the scheduled time", body: true, paged: false, reviews::approve),
    route!(POST "/v1/reviews/{id}/reject", AP, 200, "Reject a pending review with a reason, or (regenerate: true) ask for new candidates", body: true, paged: false, reviews::reject),
    route!(GET "/review/{token}", Access::SignedLink, 200, "The review page of a review link (HTML): no account needed, the link is the credential", body: false, paged: false, review_page::page),
    route!(POST "/review/{token}", Access::SignedLink, 200, "Decide through a review link (the page's form: action, candidate, caption:KEY, name, reason, csrf)", body: false, paged: false, review_page::decide_form),
    route!(GET "/review/{token}/candidates/{index}", Access::SignedLink, 200, "A candidate's image, for the review page", body: false, paged: false, review_page::candidate),
    route!(GET "/review/{token}/renditions/{rendition_id}", Access::SignedLink, 200, "A target's rendition of the run's image (its real size and aspect), for the review page", body: false, paged: false, review_page::rendition),
    route!(GET "/v1/calendar", V, 200, "Planned occurrences of every enabled campaign (with lead time and review deadline) and the runs in a window, with their reviews and posts (from, to: RFC 3339, at most 92 days apart)", body: false, paged: false, calendar::get),
    route!(GET "/v1/assets", V, 200, "List generated images (filter: run_id)", body: false, paged: true, assets::list),
    route!(POST "/v1/assets", E, 201, "Upload an image of your own (multipart/form-data, field file: PNG, JPEG or WebP, at most 40 MiB): sniffed, decoded within limits, turned upright, EXIF and other metadata stripped; answers 200 with the existing asset when the same picture was uploaded before", body: true, paged: false, assets::upload),
    route!(GET "/v1/assets/{id}", V, 200, "Get an image's metadata and generation parameters", body: false, paged: false, assets::get_one),
    route!(GET "/v1/assets/{id}/image", V, 200, "The image itself", body: false, paged: false, assets::image),
    route!(GET "/v1/posts", V, 200, "List posts", body: false, paged: true, posts::list),
    route!(POST "/v1/posts", E, 201, "A one-off post of your own images (asset ids from POST /v1/assets) to accounts, now or at publish_at; checked by each platform's rules before anything is stored", body: true, paged: false, crate::handlers::new_posts::create),
    route!(GET "/v1/posts/{id}", V, 200, "Get a post with its publish attempts", body: false, paged: false, posts::get_one),
    route!(POST "/v1/posts/{id}/retry", E, 202, "Retry a failed post (a new publish attempt)", body: false, paged: false, posts::retry),
    route!(POST "/v1/posts/{id}/cancel", E, 200, "Cancel a post that has not started publishing", body: false, paged: false, posts::cancel),
    route!(GET "/v1/posts/{id}/metrics", V, 200, "A post's numbers over time as its platform reported them (views, reach, likes, comments, shares, saves, clicks; a metric the platform lacks is left out)", body: false, paged: false, insights::series),
    route!(POST "/v1/posts/{id}/metrics/fetch", E, 202, "Fetch a published post's numbers from its platform now (a durable job)", body: false, paged: false, insights::fetch),
    route!(GET "/v1/insights", V, 200, "Sums and per-post averages of the posts published in a period, grouped by campaign, platform, account or day", body: false, paged: false, insights::summary),
    route!(GET "/v1/insights/top", V, 200, "The posts of a period with the most of one metric, with their prompt, seed, image and caption", body: false, paged: false, insights::top),
    route!(GET "/v1/reports", V, 200, "The period's client report: one self-contained HTML page (inline charts and images, no external reference)", body: false, paged: false, insights::report),
    route!(GET "/v1/accounts", V, 200, "List connected accounts", body: false, paged: true, accounts::list),
    route!(POST "/v1/accounts/connect", A, 201, "Start an OAuth connect: returns the platform's authorize URL", body: true, paged: false, connect::start),
    route!(GET "/v1/oauth/callback", Access::OAuthState, 200, "OAuth redirect target: stores the accounts the consent granted", body: false, paged: false, connect::callback),
    route!(POST "/v1/accounts/{id}/disconnect", A, 200, "Disconnect an account (its posts wait for a reconnect)", body: false, paged: false, accounts::disconnect),
    route!(GET "/v1/usage", V, 200, "Images generated and posts published per day (UTC)", body: false, paged: false, usage::get),
    route!(GET "/v1/members", A, 200, "List the workspace's members, their roles and whether they can sign in yet", body: false, paged: false, members::list),
    route!(POST "/v1/members", A, 201, "Add a person to the workspace (or change a member's role); a person who cannot sign in yet gets an invitation link, answered once (only an owner adds an owner)", body: true, paged: false, secret: true, members::add),
    route!(DELETE "/v1/members/{user_id}", A, 204, "Take a person out of the workspace (signed out everywhere when it was their last one); only an owner removes an owner, and the last owner stays (409)", body: false, paged: false, members::remove),
    route!(GET "/v1/keys", A, 200, "List API keys", body: false, paged: true, keys::list),
    route!(POST "/v1/keys", A, 201, "Create an API key (shown once)", body: true, paged: false, secret: true, keys::create),
    route!(DELETE "/v1/keys/{id}", A, 204, "Revoke an API key", body: false, paged: false, keys::revoke),
    route!(GET "/v1/audit", A, 200, "List the audit log", body: false, paged: true, audit::list),
    route!(GET "/v1/hooks", A, 200, "List inbound webhooks", body: false, paged: true, hooks::list),
    route!(POST "/v1/hooks", A, 201, "Create an inbound webhook for a campaign (secret shown once)", body: true, paged: false, secret: true, hooks::create),
    route!(POST "/v1/hooks/{hook_id}/secrets", A, 201, "Add a signing secret to an inbound webhook (rotation; previous secrets keep verifying; shown once)", body: false, paged: false, secret: true, crate::handlers::hook_secrets::add),
    route!(POST "/v1/hooks/{hook_id}/secrets/retire", A, 200, "End a rotation: only the newest signing secret verifies", body: false, paged: false, crate::handlers::hook_secrets::retire_previous),
    route!(POST "/v1/hooks/{hook_id}", Access::Signature, 202, "Receive a CMS webhook (Standard Webhooks signature)", body: true, paged: false, hooks::receive),
    route!(GET "/v1/webhook-endpoints", A, 200, "List outbound webhook endpoints (post events)", body: false, paged: true, crate::handlers::webhook_endpoints::list),
    route!(POST "/v1/webhook-endpoints", A, 201, "Create an outbound webhook endpoint for post events (secret shown once)", body: true, paged: false, secret: true, crate::handlers::webhook_endpoints::create),
    route!(DELETE "/v1/webhook-endpoints/{id}", A, 204, "Delete an outbound webhook endpoint", body: false, paged: false, crate::handlers::webhook_endpoints::delete),
    route!(POST "/v1/images/generations", E, 200, "OpenAI-compatible image generation. response_format url (the default) answers a signed link to the stored image, valid media.link_ttl_secs (default 3600 s); without media.public_base_url configured it answers a data:image/png;base64 URL instead. b64_json answers the PNG inline and stores nothing", body: true, paged: false, images::generations),
];

/// Builds the router: each route gets the guard for its access rule.
pub(crate) fn build(state: ApiState) -> Router {
    let mut router: Router<ApiState> = Router::new();
    for spec in ROUTES {
        let guard = crate::guard::Guard {
            state: state.clone(),
            spec,
        };
        let mut method_router = (spec.handler)().route_layer(axum::middleware::from_fn_with_state(
            guard,
            crate::guard::guard,
        ));
        let limit = spec.body_limit(&state.limits);
        if limit != state.limits.body_bytes {
            method_router = method_router.layer(axum::extract::DefaultBodyLimit::max(limit));
        }
        router = router.route(spec.path, method_router);
    }
    let console = crate::console::router(state.clone());
    router
        .fallback(ops::not_found)
        .with_state(state)
        .merge(console)
}
