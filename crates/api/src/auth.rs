//! Bearer API keys and people's session cookies → [`Ctx`]. The workspace of every request comes
//! from the key that authenticated it, or from the signed-in person's membership (the one they
//! name in `X-Pressroom-Workspace`, or their only one), never from the path or the body, so a
//! handler cannot be talked into another workspace's data.

use pressroom_core::WorkspaceId;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use hashlink::LruCache;
use pressroom_crypto::apikey;
use pressroom_store::repo::{api_keys, people};
use secrecy::SecretString;
use sha2::{Digest, Sha256};

use crate::ApiState;
use crate::errors::ApiError;

/// A key's role. Workspace roles are ordered: each includes the ones below it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads everything in its workspace, changes nothing.
    Viewer,
    /// Reads everything and may approve or reject reviews; changes nothing else.
    Approver,
    /// Creates and triggers campaigns, retries and cancels posts.
    Editor,
    /// Also manages accounts, API keys and webhooks, and reads the audit log.
    Admin,
    /// Everything, including erasing the workspace.
    Owner,
    /// An agency key with no workspace: creates workspaces and their first keys only.
    InstanceAdmin,
}

/// One of the role names, in the OpenAPI document.
impl utoipa::PartialSchema for Role {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .enum_values(Some(Role::ALL.map(Role::as_str)))
            .into()
    }
}

impl utoipa::ToSchema for Role {}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Viewer,
        Role::Approver,
        Role::Editor,
        Role::Admin,
        Role::Owner,
        Role::InstanceAdmin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Approver => "approver",
            Role::Editor => "editor",
            Role::Admin => "admin",
            Role::Owner => "owner",
            Role::InstanceAdmin => "instance_admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// True when a workspace key of this role may use a route that needs `min`.
    pub fn allows(self, min: Role) -> bool {
        self != Role::InstanceAdmin && min != Role::InstanceAdmin && self >= min
    }
}

/// Who is calling.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// The key's id, or `user:<id>` for a signed-in person: what rate limits and
    /// `Idempotency-Key` records are kept per.
    pub key_id: String,
    /// None for instance-admin keys, and for a person who belongs to several workspaces and
    /// named none.
    pub workspace_id: Option<WorkspaceId>,
    pub role: Role,
    /// Set when a person's session cookie authenticated the request.
    pub person: Option<Person>,
}

/// A signed-in person.
#[derive(Clone, Debug)]
pub struct Person {
    pub user_id: String,
    pub email: String,
    pub session_id: String,
    /// The slugs of their workspaces, to name in an error when they named none.
    pub workspaces: Vec<String>,
}

/// The cookie that carries a session token (HttpOnly).
pub const SESSION_COOKIE: &str = "pressroom_session";
/// The cookie a browser's script reads and sends back as [`CSRF_HEADER`] (double submit).
pub const CSRF_COOKIE: &str = "pressroom_csrf";
/// The header a cookie-authenticated request that changes anything must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The header a person who belongs to several workspaces names one in (its slug).
pub const WORKSPACE_HEADER: &str = "x-pressroom-workspace";
/// The console's workspace switcher: the slug of the workspace a person last chose, used when
/// a request names none in [`WORKSPACE_HEADER`]. Only a choice: membership is checked as for
/// the header.
pub const WORKSPACE_COOKIE: &str = "pressroom_workspace";

impl Ctx {
    /// The workspace of a workspace key. Routes for workspace keys only run after the guard
    /// checked the role, so a missing workspace here is a forbidden call, not a bug to panic on.
    pub fn workspace(&self) -> Result<&WorkspaceId, ApiError> {
        self.workspace_id
            .as_ref()
            .ok_or_else(|| match &self.person {
                Some(p) => ApiError::invalid(format!(
                    "{WORKSPACE_HEADER}: name the workspace (one of: {})",
                    p.workspaces.join(", ")
                )),
                None => ApiError::forbidden("this key has no workspace"),
            })
    }

    /// The audit-log actor name.
    pub fn actor(&self) -> String {
        match &self.person {
            Some(p) => format!("user:{}", p.email),
            None => format!("key:{}", self.key_id),
        }
    }
}

/// Authenticates the `Authorization: Bearer prk_…` header, or else a session cookie.
/// Unknown, malformed and revoked keys all answer the same 401, so the answer does not tell
/// which.
pub async fn authenticate(state: &ApiState, headers: &HeaderMap) -> Result<Ctx, ApiError> {
    if !headers.contains_key(header::AUTHORIZATION)
        && let Some(token) = cookie(headers, SESSION_COOKIE)
    {
        // A person names the workspace in the header (API clients) or, in the console, with
        // the switcher's cookie (images and links cannot carry a header).
        let named = headers
            .get(WORKSPACE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .map(str::to_owned)
            .or_else(|| cookie(headers, WORKSPACE_COOKIE));
        return authenticate_session(state, &token, named.as_deref()).await;
    }
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(ApiError::unauthenticated)?;
    if !apikey::looks_like_key(presented) {
        return Err(ApiError::unauthenticated());
    }
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    if let Some(ctx) = state.auth_cache.get(&digest) {
        touch_now_and_then(state, &ctx.key_id);
        return Ok(ctx);
    }
    if state.auth_cache.recently_refused(&digest) {
        return Err(ApiError::unauthenticated());
    }
    let prefix: String = presented.chars().take(10).collect();
    state.auth_cache.lookups.fetch_add(1, Ordering::Relaxed);
    let candidates = api_keys::active_by_prefix(&state.store, &prefix).await?;
    let secret = SecretString::from(presented.to_owned());
    let Some(row) = candidates
        .into_iter()
        .find(|row| apikey::verify(&secret, &apikey::ApiKeyHash::from_hex(row.hash.clone())))
    else {
        state.auth_cache.refuse(digest);
        return Err(ApiError::unauthenticated());
    };
    let role = Role::parse(&row.role)
        .ok_or_else(|| ApiError::internal(format!("api key {} has role {:?}", row.id, row.role)))?;
    if role != Role::InstanceAdmin && row.workspace_id.is_none() {
        return Err(ApiError::internal(format!(
            "api key {} has no workspace",
            row.id
        )));
    }
    let ctx = Ctx {
        key_id: row.id,
        workspace_id: row.workspace_id.map(WorkspaceId::from),
        role,
        person: None,
    };
    state.auth_cache.put(digest, ctx.clone());
    touch_now_and_then(state, &ctx.key_id);
    Ok(ctx)
}

/// A cookie's value from the `Cookie` headers (quotes around it dropped; an empty one is
/// none).
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}

/// A person's session cookie → [`Ctx`] with the role of their membership in the workspace
/// they named in [`WORKSPACE_HEADER`] (or their only one). An unknown, expired or revoked
/// session answers the same 401 as a bad key; naming a workspace they are not a member of
/// answers 403.
pub(crate) async fn authenticate_session(
    state: &ApiState,
    token: &str,
    named: Option<&str>,
) -> Result<Ctx, ApiError> {
    // Cached like keys (by a digest of the token and the workspace named), so a page that
    // makes many calls does not cost four queries each; sign-out through this API clears it.
    let mut digest = Sha256::new();
    digest.update(b"session\0");
    digest.update(token.as_bytes());
    digest.update(b"\0");
    digest.update(named.unwrap_or_default().as_bytes());
    let digest: [u8; 32] = digest.finalize().into();
    if let Some(ctx) = state.auth_cache.get(&digest) {
        return Ok(ctx);
    }
    let now = state.store.now_ms().await?;
    let hash = pressroom_crypto::password::token_hash(token);
    let session = people::live_session(&state.store, now, &hash)
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    let user = people::user(&state.store, &session.user_id).await?;
    let memberships = people::memberships(&state.store, &user.id).await?;
    let chosen = match named {
        Some(slug) => Some(
            memberships
                .iter()
                .find(|m| m.workspace_slug == slug)
                .ok_or_else(|| {
                    ApiError::forbidden(format!(
                        "{WORKSPACE_HEADER}: you are not a member of {slug:?}"
                    ))
                })?,
        ),
        None if memberships.len() == 1 => memberships.first(),
        None => None,
    };
    let (workspace_id, role) = match chosen {
        Some(m) => (
            Some(m.workspace_id.clone()),
            Role::parse(&m.role).ok_or_else(|| {
                ApiError::internal(format!("membership of {} has role {:?}", user.id, m.role))
            })?,
        ),
        // No workspace chosen: reads of their own (`/v1/me`) only; workspace routes say to
        // name one.
        None => (None, Role::Viewer),
    };
    let ctx = Ctx {
        key_id: format!("user:{}", user.id),
        workspace_id,
        role,
        person: Some(Person {
            user_id: user.id,
            email: user.email,
            session_id: session.id,
            workspaces: memberships.into_iter().map(|m| m.workspace_slug).collect(),
        }),
    };
    state.auth_cache.put(digest, ctx.clone());
    Ok(ctx)
}

/// Records a key's last use at most once a minute, off the request path: a database write on
/// every read request would serialize reads on SQLite.
fn touch_now_and_then(state: &ApiState, key_id: &str) {
    if !state.auth_cache.due_for_touch(key_id) {
        return;
    }
    let store = state.store.clone();
    let key_id = key_id.to_owned();
    tokio::spawn(async move {
        let touched = match store.now_ms().await {
            Ok(now) => api_keys::touch(&store, &key_id, now).await,
            Err(e) => Err(e),
        };
        if let Err(e) = touched {
            tracing::warn!(error = %e, "api: could not record key use");
        }
    });
}

/// How long an authenticated key or session is trusted without asking the database again.
/// Revocations and sign-outs through this instance's API take effect at once (the cache is
/// cleared); one made elsewhere (another instance, the CLI's `users remove` or
/// `reset-password`) within this delay.
pub const AUTH_CACHE_TTL: Duration = Duration::from_secs(5);
const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// How long a key the database did not know is refused without asking again. Keys are
/// random, so a refused value does not become valid later (a new key is a new value); the
/// bound only keeps the answer from being remembered forever.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(60);
/// Refused keys remembered at once; the least recently refused go first.
const MAX_REFUSED: usize = 10_000;
/// Beyond this many entries the cache starts over, so a flood of keys cannot grow it.
const MAX_ENTRIES: usize = 10_000;

/// Recently authenticated and recently refused keys, by the SHA-256 of the presented key
/// (never the key itself), so neither a busy client nor a flood of bad keys costs a
/// database query per request.
pub struct AuthCache {
    entries: Mutex<HashMap<[u8; 32], (Ctx, Instant)>>,
    refused: Mutex<LruCache<[u8; 32], Instant>>,
    touched: Mutex<HashMap<String, Instant>>,
    /// Database lookups made to authenticate (cache misses), for tests and operators.
    pub(crate) lookups: AtomicU64,
}

impl Default for AuthCache {
    fn default() -> Self {
        Self {
            entries: Mutex::default(),
            refused: Mutex::new(LruCache::new(MAX_REFUSED)),
            touched: Mutex::default(),
            lookups: AtomicU64::new(0),
        }
    }
}

impl AuthCache {
    fn recently_refused(&self, digest: &[u8; 32]) -> bool {
        let mut refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        match refused.get(digest) {
            Some(at) if at.elapsed() < NEGATIVE_TTL => true,
            Some(_) => {
                refused.remove(digest);
                false
            }
            None => false,
        }
    }

    fn refuse(&self, digest: [u8; 32]) {
        self.refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest, Instant::now());
    }

    fn get(&self, digest: &[u8; 32]) -> Option<Ctx> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(digest)
            .filter(|(_, at)| at.elapsed() < AUTH_CACHE_TTL)
            .map(|(ctx, _)| ctx.clone())
    }

    fn put(&self, digest: [u8; 32], ctx: Ctx) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(digest, (ctx, Instant::now()));
    }

    fn due_for_touch(&self, key_id: &str) -> bool {
        let mut touched = self.touched.lock().unwrap_or_else(|p| p.into_inner());
        if touched.len() >= MAX_ENTRIES {
            touched.clear();
        }
        match touched.get(key_id) {
            Some(at) if at.elapsed() < TOUCH_EVERY => false,
            _ => {
                touched.insert(key_id.to_owned(), Instant::now());
                true
            }
        }
    }

    /// Forgets every cached key (after a revocation).
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_instance_admin_is_apart() {
        assert!(Role::Owner.allows(Role::Viewer));
        assert!(Role::Editor.allows(Role::Editor));
        assert!(!Role::Viewer.allows(Role::Editor));
        assert!(!Role::Admin.allows(Role::Owner));
        assert!(!Role::InstanceAdmin.allows(Role::Viewer));
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }

    #[test]
    fn refused_keys_are_bounded_and_forgotten_least_recent_first() {
        let cache = AuthCache::default();
        for i in 0..(MAX_REFUSED as u32 + 5) {
            let mut d = [0u8; 32];
            d[..4].copy_from_slice(&i.to_le_bytes());
            cache.refuse(d);
        }
        assert_eq!(cache.refused.lock().expect("lock").len(), MAX_REFUSED);
        assert!(!cache.recently_refused(&[0u8; 32]), "the oldest went first");
        let mut newest = [0u8; 32];
        newest[..4].copy_from_slice(&(MAX_REFUSED as u32 + 4).to_le_bytes());
        assert!(cache.recently_refused(&newest));
    }
}
