//! Database down: the API answers 503 problem+json with Retry-After, never 500, when its
//! database is unreachable (PostgreSQL backends terminated) or cannot be written (a SQLite
//! file opened read-only).

use std::time::Duration;

use pressroom_api::handlers::keys::mint_key;
use pressroom_api::{ApiState, Role};
use pressroom_store::repo::workspaces;
use pressroom_store::testing::sea_orm::{ConnectionTrait, Statement};
use pressroom_store::{Backend, Queue, Store};
use tokio_util::sync::CancellationToken;

use crate::harness::{TestApp, run};

fn assert_unavailable(resp_status: u16, retry_after: Option<&str>, body: &serde_json::Value) {
    assert_eq!(resp_status, 503, "{body}");
    assert_eq!(body["code"], "unavailable", "{body}");
    let secs: u64 = retry_after
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("Retry-After missing or not seconds: {retry_after:?}"));
    assert!(secs >= 1);
}

async fn get(app: &TestApp, key: &str, path: &str) -> anyhow::Result<reqwest::Response> {
    Ok(app.http.get(app.url(path)).bearer_auth(key).send().await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_with_terminated_backends_answers_503() {
    run(Backend::Postgres, "pg_terminated_503", |app| async move {
        let w = app.world("acme").await?;
        let key = w.key(Role::Viewer).to_string();
        assert_eq!(get(&app, &key, "/v1/campaigns").await?.status(), 200);
        let conn = app.store.conn();
        let db: String = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                "SELECT current_database() AS n".to_string(),
            ))
            .await?
            .ok_or_else(|| anyhow::anyhow!("no row"))?
            .try_get("", "n")?;
        // Terminated from another connection, as an operator or a failover would.
        let admin = Store::connect(&pressroom_store::testing::pg_admin_url()).await?;
        let admin_conn = admin.conn();
        let backend = admin_conn.get_database_backend();
        admin_conn
            .execute_raw(Statement::from_sql_and_values(
                backend,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                [db.clone().into()],
            ))
            .await?;
        for _ in 0..100 {
            let left: i64 = admin_conn
                .query_one_raw(Statement::from_sql_and_values(
                    backend,
                    "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = $1",
                    [db.clone().into()],
                ))
                .await?
                .ok_or_else(|| anyhow::anyhow!("no row"))?
                .try_get("", "n")?;
            if left == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let resp = get(&app, &key, "/v1/campaigns").await?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        assert_eq!(
            resp.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json")
        );
        let body: serde_json::Value = resp.json().await?;
        assert_unavailable(status, retry_after.as_deref(), &body);
        admin.conn().clone().close().await?;
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_read_only_file_answers_503_on_writes() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("p.db");
    let rw = Store::connect(&format!("sqlite://{}?mode=rwc", path.display())).await?;
    rw.migrate().await?;
    let ws = workspaces::ensure(&rw, "acme", "acme").await?;
    let key = mint_key(&rw, Some(&ws.id), Role::Admin, "t", "t")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .key;
    rw.conn().clone().close().await?;

    let ro = Store::connect(&format!("sqlite://{}?mode=ro", path.display())).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let stop = CancellationToken::new();
    let state = ApiState::new(ro.clone(), Queue::new(ro.clone()));
    let server = tokio::spawn(pressroom_api::serve(
        listener,
        state,
        stop.clone().cancelled_owned(),
    ));
    let http = reqwest::Client::new();
    let read = http
        .get(format!("{base}/v1/campaigns"))
        .bearer_auth(&key)
        .send()
        .await?;
    assert_eq!(read.status(), 200, "reads still work");
    let write = http
        .post(format!("{base}/v1/keys"))
        .bearer_auth(&key)
        .json(&serde_json::json!({ "role": "viewer", "name": "new" }))
        .send()
        .await?;
    let status = write.status().as_u16();
    let retry_after = write
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: serde_json::Value = write.json().await?;
    assert_unavailable(status, retry_after.as_deref(), &body);
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    Ok(())
}
