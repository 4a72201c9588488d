//! Started connects waiting for their callback, in memory: a callback must reach the instance
//! that started the connect (with several instances behind a balancer, use sticky sessions for
//! `/v1/oauth/callback`). Bounded per workspace and overall; when a bound is reached the
//! oldest connect of the workspace holding the most is dropped, so one busy workspace cannot
//! push out the others' connects.

use pressroom_core::WorkspaceId;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use sha2::{Digest, Sha256};

use super::CONNECT_TTL;

/// Connects one workspace may have waiting; a further one drops its oldest.
pub(crate) const MAX_PER_WORKSPACE: usize = 50;
/// Connects waiting on this instance, all workspaces together.
pub(crate) const MAX_OVERALL: usize = 10_000;

/// What a connect needs at its callback.
pub(crate) struct ConnectStart {
    pub workspace_id: WorkspaceId,
    pub platform: String,
    pub redirect_uri: String,
    pub name: Option<String>,
    pub actor: String,
    pub pkce_verifier: Option<SecretString>,
    /// The token of the cookie set on the browser that started the connect.
    pub browser_token: String,
}

/// A connect waiting for its callback, found by its `state`.
pub(crate) struct PendingConnect {
    pub workspace_id: WorkspaceId,
    pub platform: String,
    pub redirect_uri: String,
    pub name: Option<String>,
    pub actor: String,
    pub pkce_verifier: Option<SecretString>,
    browser_token_hash: [u8; 32],
    started: Instant,
}

/// Why a callback's state opens no connect.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Never started here, already used, expired or dropped.
    Unknown,
    /// Started, but by another browser: the binding cookie is missing or different. The
    /// connect stays, so the browser that started it can still finish.
    OtherBrowser,
}

#[derive(Default)]
struct Inner {
    by_state: HashMap<String, PendingConnect>,
    /// Each workspace's states, oldest first.
    by_workspace: HashMap<WorkspaceId, VecDeque<String>>,
}

pub(crate) struct PendingConnects {
    inner: Mutex<Inner>,
    per_workspace: usize,
    overall: usize,
    ttl: Duration,
}

impl Default for PendingConnects {
    fn default() -> Self {
        Self::with_limits(MAX_PER_WORKSPACE, MAX_OVERALL, CONNECT_TTL)
    }
}

fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl PendingConnects {
    pub(crate) fn with_limits(per_workspace: usize, overall: usize, ttl: Duration) -> Self {
        Self {
            inner: Mutex::default(),
            per_workspace: per_workspace.max(1),
            overall: overall.max(1),
            ttl,
        }
    }

    pub fn insert(&self, state: String, start: ConnectStart) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.drop_expired(self.ttl);
        let ws = start.workspace_id.clone();
        while inner.count(&ws) >= self.per_workspace {
            inner.drop_oldest_of(&ws);
        }
        while inner.by_state.len() >= self.overall {
            match inner.busiest_workspace() {
                Some(busiest) => inner.drop_oldest_of(&busiest),
                None => break,
            }
        }
        inner
            .by_workspace
            .entry(ws)
            .or_default()
            .push_back(state.clone());
        inner.by_state.insert(
            state,
            PendingConnect {
                workspace_id: start.workspace_id,
                platform: start.platform,
                redirect_uri: start.redirect_uri,
                name: start.name,
                actor: start.actor,
                pkce_verifier: start.pkce_verifier,
                browser_token_hash: token_hash(&start.browser_token),
                started: Instant::now(),
            },
        );
    }

    /// Takes the connect for `state` when `browser_token` is the one its start set (once: a
    /// replayed callback finds nothing).
    pub fn take(
        &self,
        state: &str,
        browser_token: Option<&str>,
    ) -> Result<PendingConnect, Refusal> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (expired, bound) = match inner.by_state.get(state) {
            None => return Err(Refusal::Unknown),
            Some(p) => (
                p.started.elapsed() >= self.ttl,
                browser_token.is_some_and(|t| token_hash(t) == p.browser_token_hash),
            ),
        };
        if expired {
            inner.remove(state);
            return Err(Refusal::Unknown);
        }
        if !bound {
            return Err(Refusal::OtherBrowser);
        }
        inner.remove(state).ok_or(Refusal::Unknown)
    }
}

impl Inner {
    fn count(&self, ws: &WorkspaceId) -> usize {
        self.by_workspace.get(ws).map_or(0, VecDeque::len)
    }

    fn remove(&mut self, state: &str) -> Option<PendingConnect> {
        let pending = self.by_state.remove(state)?;
        if let Some(states) = self.by_workspace.get_mut(&pending.workspace_id) {
            states.retain(|s| s != state);
            if states.is_empty() {
                self.by_workspace.remove(&pending.workspace_id);
            }
        }
        Some(pending)
    }

    fn drop_oldest_of(&mut self, ws: &WorkspaceId) {
        let oldest = self.by_workspace.get(ws).and_then(|s| s.front()).cloned();
        match oldest {
            Some(state) => {
                self.remove(&state);
            }
            None => {
                self.by_workspace.remove(ws);
            }
        }
    }

    /// The workspace with the most connects waiting (ties: the one whose oldest is oldest).
    fn busiest_workspace(&self) -> Option<WorkspaceId> {
        let started = |states: &VecDeque<String>| {
            states
                .front()
                .and_then(|s| self.by_state.get(s))
                .map(|p| p.started)
        };
        self.by_workspace
            .iter()
            .max_by(|(_, a), (_, b)| {
                a.len()
                    .cmp(&b.len())
                    .then_with(|| started(b).cmp(&started(a)))
            })
            .map(|(ws, _)| ws.clone())
    }

    /// Each workspace's list is oldest first, so only its front needs looking at.
    fn drop_expired(&mut self, ttl: Duration) {
        let expired: Vec<String> = self
            .by_workspace
            .values()
            .flat_map(|states| {
                states.iter().take_while(|s| {
                    self.by_state
                        .get(*s)
                        .is_none_or(|p| p.started.elapsed() >= ttl)
                })
            })
            .cloned()
            .collect();
        for state in expired {
            self.remove(&state);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(ws: &WorkspaceId, token: &str) -> ConnectStart {
        ConnectStart {
            workspace_id: ws.into(),
            platform: "facebook".into(),
            redirect_uri: "https://p.example/v1/oauth/callback".into(),
            name: None,
            actor: "key:k1".into(),
            pkce_verifier: None,
            browser_token: token.into(),
        }
    }

    #[test]
    fn a_busy_workspace_does_not_drop_the_others_connects() {
        let pending = PendingConnects::default();
        pending.insert("theirs".into(), start(&"ws-b".into(), "tb"));
        for i in 0..=MAX_OVERALL {
            pending.insert(format!("s{i}"), start(&"ws-a".into(), "ta"));
        }
        assert!(pending.take("theirs", Some("tb")).is_ok());
        // ws-a kept its newest connects, up to its own cap.
        let last = format!("s{MAX_OVERALL}");
        assert!(pending.take(&last, Some("ta")).is_ok());
        assert_eq!(pending.take("s0", Some("ta")).err(), Some(Refusal::Unknown));
    }

    #[test]
    fn a_workspace_over_its_cap_loses_its_oldest_first() {
        let pending = PendingConnects::with_limits(3, 100, CONNECT_TTL);
        for i in 0..5 {
            pending.insert(format!("s{i}"), start(&"ws-a".into(), "t"));
        }
        for gone in ["s0", "s1"] {
            assert_eq!(pending.take(gone, Some("t")).err(), Some(Refusal::Unknown));
        }
        for kept in ["s2", "s3", "s4"] {
            assert!(pending.take(kept, Some("t")).is_ok(), "{kept}");
        }
    }

    #[test]
    fn at_the_overall_cap_the_busiest_workspace_gives_way() {
        let pending = PendingConnects::with_limits(10, 4, CONNECT_TTL);
        pending.insert("b1".into(), start(&"ws-b".into(), "t"));
        pending.insert("a1".into(), start(&"ws-a".into(), "t"));
        pending.insert("a2".into(), start(&"ws-a".into(), "t"));
        pending.insert("a3".into(), start(&"ws-a".into(), "t"));
        pending.insert("c1".into(), start(&"ws-c".into(), "t"));
        assert_eq!(pending.take("a1", Some("t")).err(), Some(Refusal::Unknown));
        for kept in ["b1", "a2", "a3", "c1"] {
            assert!(pending.take(kept, Some("t")).is_ok(), "{kept}");
        }
    }

    #[test]
    fn a_callback_without_the_starting_browsers_token_is_refused_and_changes_nothing() {
        let pending = PendingConnects::default();
        pending.insert("s".into(), start(&"ws-a".into(), "right"));
        assert_eq!(pending.take("s", None).err(), Some(Refusal::OtherBrowser));
        assert_eq!(
            pending.take("s", Some("wrong")).err(),
            Some(Refusal::OtherBrowser)
        );
        let taken = pending
            .take("s", Some("right"))
            .expect("the starting browser");
        assert_eq!(taken.workspace_id, "ws-a");
        assert_eq!(
            pending.take("s", Some("right")).err(),
            Some(Refusal::Unknown)
        );
    }

    #[test]
    fn expired_connects_are_unknown_and_dropped() {
        let pending = PendingConnects::with_limits(10, 10, Duration::ZERO);
        pending.insert("s".into(), start(&"ws-a".into(), "t"));
        assert_eq!(pending.take("s", Some("t")).err(), Some(Refusal::Unknown));
        pending.insert("s2".into(), start(&"ws-a".into(), "t"));
        let inner = pending.inner.lock().expect("lock");
        assert_eq!(inner.by_state.len(), 1, "the expired one was dropped");
    }
}
