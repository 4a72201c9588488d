//! Tokens that renew themselves (Instagram Login: no refresh token, a margin of days from the
//! connector's config) are refreshed by the sweep and before a publish; dead credentials park
//! the post as `needs_reconnect` with the account disconnected; a token the keyring cannot
//! open settles the post with the account and key id named.

use super::*;

/// How the platform answers a refresh.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Renewal {
    /// A new access token, valid 60 days.
    Renews,
    /// A new access token that the platform then refuses anyway.
    RenewsButStillExpired,
    /// `invalid_grant`: the grant is gone.
    Refused,
}

/// Like an Instagram-Login account: the access token is its own refresh credential, renewed
/// when it expires within `refresh_before` (a week here, the default being five minutes).
struct SelfRenewing {
    caps: Capabilities,
    renewal: Renewal,
    refreshes: AtomicU32,
    prepares: AtomicU32,
}

impl SelfRenewing {
    fn new(renewal: Renewal) -> Self {
        Self {
            caps: CountingPlatform::new(RefreshAnswer::Empty).caps,
            renewal,
            refreshes: AtomicU32::new(0),
            prepares: AtomicU32::new(0),
        }
    }
}

#[async_trait::async_trait]
impl Connector for SelfRenewing {
    fn platform(&self) -> pressroom_connector::Platform {
        pressroom_connector::Platform::Sandbox
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn validate(&self, _: &PostDraft) -> Result<(), Vec<ValidationIssue>> {
        Ok(())
    }

    fn refresh_before(&self) -> Duration {
        Duration::from_secs(7 * 86_400)
    }

    fn can_refresh(&self, creds: &Credentials, now: chrono::DateTime<Utc>) -> bool {
        creds.expires_at.is_none_or(|e| e > now)
    }

    async fn refresh(&self, creds: &Credentials) -> Result<Credentials, ConnectorError> {
        let n = self.refreshes.fetch_add(1, Ordering::SeqCst) + 1;
        if self.renewal == Renewal::Refused {
            return Err(ConnectorError::Disconnected(
                "invalid_grant: the grant was revoked".into(),
            ));
        }
        Ok(Credentials {
            access_token: SecretString::from(format!("at-{n}")),
            refresh_token: None,
            expires_at: Some(Utc::now() + chrono::Duration::days(60)),
            extra: creds.extra.clone(),
        })
    }

    async fn prepare(&self, ctx: &PublishCtx, _: &PostDraft) -> Result<Prepared, ConnectorError> {
        self.prepares.fetch_add(1, Ordering::SeqCst);
        if ctx.credentials.access_token.expose_secret() == OLD_ACCESS
            || self.renewal == Renewal::RenewsButStillExpired
        {
            return Err(ConnectorError::AuthExpired);
        }
        Ok(Prepared {
            checkpoint: json!({"prepared": true}),
        })
    }

    async fn commit(&self, ctx: &PublishCtx, _: &Prepared) -> Result<Published, ConnectorError> {
        Ok(Published {
            remote_id: format!("remote-{}", ctx.attempt_id),
            url: None,
        })
    }

    async fn reconcile(
        &self,
        _: &PublishCtx,
        _: Option<&Prepared>,
    ) -> Result<Reconciled, ConnectorError> {
        Ok(Reconciled::Absent)
    }
}

/// An Instagram-Login-like account: no refresh token, the token expires in `days`.
fn self_renewing_creds(days: i64) -> Credentials {
    Credentials {
        access_token: SecretString::from(OLD_ACCESS),
        refresh_token: None,
        expires_at: Some(Utc::now() + chrono::Duration::days(days)),
        extra: json!({"ig_user_id": "1"}),
    }
}

fn pipeline_for(
    db: &TestDb,
    platform: Arc<dyn Connector>,
    tokens: Arc<dyn TokenCipher>,
) -> Pipeline {
    crate::fixture::pipeline(db, platform, RetryPolicy::default(), tokens)
}

/// Runs each waiting publish job once.
async fn run_publish_jobs_once(p: &Pipeline) {
    let jobs = p
        .queue
        .claim(&[JobKind::Publish], "test", Duration::from_secs(60), 10)
        .await
        .expect("claim");
    assert!(!jobs.is_empty(), "no publish job waiting");
    for job in jobs {
        p.handle(&job).await.expect("the publish job ends settled");
    }
}

async fn post_states(store: &Store) -> Vec<(String, Option<String>)> {
    let rows = store
        .conn()
        .query_all_raw(pressroom_store::testing::sea_orm::Statement::from_string(
            store.conn().get_database_backend(),
            "SELECT state, error FROM posts ORDER BY id",
        ))
        .await
        .expect("posts");
    rows.iter()
        .map(|r| {
            (
                r.try_get::<String>("", "state").expect("state"),
                r.try_get::<Option<String>>("", "error").expect("error"),
            )
        })
        .collect()
}

async fn waiting_jobs(store: &Store) -> i64 {
    let row = store
        .conn()
        .query_one_raw(pressroom_store::testing::sea_orm::Statement::from_string(
            store.conn().get_database_backend(),
            "SELECT COUNT(*) AS n FROM jobs WHERE kind = 'publish' AND state <> 'completed'",
        ))
        .await
        .expect("count")
        .expect("row");
    row.try_get::<i64>("", "n").expect("n")
}

/// The sweep renews a token due within the connector's margin (5 days left, a 7-day margin)
/// though no refresh token is stored and no post is waiting; a token not yet due is left.
async fn sweep_renews_self_renewing_tokens(db: &TestDb) {
    let (ws, account_id) = fixture_with(&db.store, &self_renewing_creds(5), 0).await;
    let platform = Arc::new(SelfRenewing::new(Renewal::Renews));
    let p = pipeline_for(db, platform.clone(), Arc::new(TestCipher));
    let sweep = p.refresh_due_tokens().await.expect("sweep");
    assert_eq!(sweep.due, 1);
    assert_eq!(platform.refreshes.load(Ordering::SeqCst), 1);
    let (row, creds) = stored(&db.store, &ws, &account_id).await;
    assert_eq!(creds.access_token.expose_secret(), "at-1");
    assert!(
        creds
            .expires_at
            .is_some_and(|t| t > Utc::now() + chrono::Duration::days(59))
    );
    assert_eq!(row.state, pressroom_core::AccountState::Active);
    // Renewed: the next sweep has nothing to do.
    let again = p.refresh_due_tokens().await.expect("sweep");
    assert_eq!(again.due, 0);
    assert_eq!(platform.refreshes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn sweep_renews_self_renewing_tokens_sqlite() {
    let db = TestDb::sqlite().await;
    sweep_renews_self_renewing_tokens(&db).await;
    db.drop_db().await;
}

#[tokio::test]
async fn sweep_renews_self_renewing_tokens_postgres() {
    let db = TestDb::postgres("pressroom_runtime").await;
    sweep_renews_self_renewing_tokens(&db).await;
    db.drop_db().await;
}

/// A publish renews a due self-renewing token before the platform call (the margin is the
/// connector's, not a fixed five minutes), and the post goes out.
async fn publish_renews_within_the_configured_margin(db: &TestDb) {
    fixture_with(&db.store, &self_renewing_creds(5), 1).await;
    let platform = Arc::new(SelfRenewing::new(Renewal::Renews));
    let p = pipeline_for(db, platform.clone(), Arc::new(TestCipher));
    run_publish_jobs_once(&p).await;
    assert_eq!(platform.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(published_posts(&db.store).await, 1);
}

#[tokio::test]
async fn publish_renews_within_the_configured_margin_sqlite() {
    let db = TestDb::sqlite().await;
    publish_renews_within_the_configured_margin(&db).await;
    db.drop_db().await;
}

#[tokio::test]
async fn publish_renews_within_the_configured_margin_postgres() {
    let db = TestDb::postgres("pressroom_runtime").await;
    publish_renews_within_the_configured_margin(&db).await;
    db.drop_db().await;
}

/// Dead credentials — the refresh refused, or the platform still saying "expired" after a
/// refresh — park the post as `needs_reconnect` in that same job (no attempts burnt) and show
/// the account disconnected with the reason.
async fn dead_credentials_park_the_post(db: &TestDb, renewal: Renewal) {
    // Expired a minute ago on the platform's word; stored as valid for 30 days.
    let (ws, account_id) = fixture_with(&db.store, &self_renewing_creds(30), 1).await;
    let platform = Arc::new(SelfRenewing::new(renewal));
    let p = pipeline_for(db, platform.clone(), Arc::new(TestCipher));
    run_publish_jobs_once(&p).await;
    let states = post_states(&db.store).await;
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].0, "needs_reconnect", "{renewal:?}: {states:?}");
    assert_eq!(
        waiting_jobs(&db.store).await,
        0,
        "{renewal:?}: the job is finished"
    );
    assert!(platform.refreshes.load(Ordering::SeqCst) <= 1);
    let (row, _) = stored(&db.store, &ws, &account_id).await;
    assert_eq!(
        row.state,
        pressroom_core::AccountState::Disconnected,
        "{renewal:?}"
    );
    assert!(
        row.state_reason.as_deref().is_some_and(|r| !r.is_empty()),
        "{renewal:?}: the account says why"
    );
}

#[tokio::test]
async fn dead_credentials_park_the_post_sqlite() {
    for renewal in [Renewal::RenewsButStillExpired, Renewal::Refused] {
        let db = TestDb::sqlite().await;
        dead_credentials_park_the_post(&db, renewal).await;
        db.drop_db().await;
    }
}

#[tokio::test]
async fn dead_credentials_park_the_post_postgres() {
    for renewal in [Renewal::RenewsButStillExpired, Renewal::Refused] {
        let db = TestDb::postgres("pressroom_runtime").await;
        dead_credentials_park_the_post(&db, renewal).await;
        db.drop_db().await;
    }
}

/// A refused refresh in the sweep shows the account disconnected with the reason.
#[tokio::test]
async fn sweep_marks_a_refused_account_disconnected() {
    let db = TestDb::sqlite().await;
    let (ws, account_id) = fixture_with(&db.store, &self_renewing_creds(5), 0).await;
    let p = pipeline_for(
        &db,
        Arc::new(SelfRenewing::new(Renewal::Refused)),
        Arc::new(TestCipher),
    );
    let sweep = p.refresh_due_tokens().await.expect("sweep");
    assert_eq!(sweep.disconnected, 1);
    let (row, _) = stored(&db.store, &ws, &account_id).await;
    assert_eq!(row.state, pressroom_core::AccountState::Disconnected);
    assert!(
        row.state_reason
            .as_deref()
            .is_some_and(|r| r.contains("invalid_grant"))
    );
    db.drop_db().await;
}

/// A keyring that lacks the key a token was sealed with (as a daemon that never learnt the
/// key `keyring rotate` added would).
struct MissingKey;

impl TokenCipher for MissingKey {
    fn seal(&self, _: &SecretString, _: TokenSlot<'_>) -> anyhow::Result<(String, String)> {
        anyhow::bail!("not used")
    }

    fn open(&self, _: &str, _: TokenSlot<'_>) -> anyhow::Result<SecretString> {
        anyhow::bail!("unknown key id \"test-key\"")
    }
}

/// A token that cannot be opened settles the post (failed, the reason naming the account and
/// the key id), instead of a dead job with the post left `publishing`.
async fn unopenable_token_settles_the_post(db: &TestDb) {
    fixture(&db.store, false, 1).await;
    let p = pipeline_for(
        db,
        Arc::new(CountingPlatform::new(RefreshAnswer::Rotated)),
        Arc::new(MissingKey),
    );
    run_publish_jobs_once(&p).await;
    let states = post_states(&db.store).await;
    assert_eq!(states[0].0, "failed", "{states:?}");
    let error = states[0].1.clone().unwrap_or_default();
    assert!(
        error.contains("acct") && error.contains("test-key"),
        "{error}"
    );
    assert_eq!(waiting_jobs(&db.store).await, 0);
}

#[tokio::test]
async fn unopenable_token_settles_the_post_sqlite() {
    let db = TestDb::sqlite().await;
    unopenable_token_settles_the_post(&db).await;
    db.drop_db().await;
}

#[tokio::test]
async fn unopenable_token_settles_the_post_postgres() {
    let db = TestDb::postgres("pressroom_runtime").await;
    unopenable_token_settles_the_post(&db).await;
    db.drop_db().await;
}
