//! Unauthenticated load: per-address limits on keyless routes and on failed
//! authentications (429 + Retry-After, and no database lookup per bad key), cached job
//! counts on `/metrics`, a header-read timeout and a connection cap.

use std::time::Duration;

use pressroom_api::{ApiState, RateLimit, Role, ServerLimits};
use pressroom_core::JobKind;
use pressroom_store::{Backend, NewJob};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{TestApp, run_configured};

const TIGHT: RateLimit = RateLimit {
    per_second: 0.001,
    burst: 5.0,
};

fn tight(s: ApiState) -> ApiState {
    s.with_ip_rate_limit(TIGHT).with_auth_failure_limit(TIGHT)
}

/// A key of the right shape that the database does not know (`key` with its last
/// character changed).
fn altered(key: &str, c: char) -> String {
    let mut k = key[..key.len() - 1].to_string();
    k.push(if key.ends_with(c) { 'Q' } else { c });
    k
}

async fn status_and_retry(app: &TestApp, path: &str, key: Option<&str>) -> (u16, Option<String>) {
    let mut req = app.http.get(app.url(path));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().await.expect("request");
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (resp.status().as_u16(), retry)
}

async fn bad_key_flood(app: TestApp) -> anyhow::Result<()> {
    let w = app.world("acme").await?;
    let bad = altered(w.key(Role::Viewer), 'z');
    let before = app.state.auth_lookups();
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let (status, retry) = status_and_retry(&app, "/v1/campaigns", Some(&bad)).await;
        if status == 429 {
            assert!(retry.is_some_and(|r| r.parse::<u64>().is_ok_and(|s| s >= 1)));
        }
        statuses.push(status);
    }
    assert_eq!(&statuses[..5], [401; 5]);
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    // Other bad keys from the same address are refused before any lookup too.
    for c in ['y', 'x', 'w'] {
        let (status, _) = status_and_retry(&app, "/v1/campaigns", Some(&altered(&bad, c))).await;
        assert_eq!(status, 429);
    }
    assert_eq!(
        app.state.auth_lookups() - before,
        1,
        "one lookup for the first bad key; the rest answered from the cache and the limiter"
    );
    Ok(())
}

async fn keyless_flood(app: TestApp) -> anyhow::Result<()> {
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(status_and_retry(&app, "/healthz", None).await);
    }
    assert!(statuses[..5].iter().all(|(s, _)| *s == 200), "{statuses:?}");
    for (status, retry) in &statuses[5..] {
        assert_eq!(*status, 429);
        assert!(retry.is_some());
    }
    Ok(())
}

fn cached_metrics(s: ApiState) -> ApiState {
    s.with_metrics_cache(Duration::from_secs(3600))
}

fn job_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("pressroom_jobs{"))
        .map(str::to_owned)
        .collect()
}

async fn metrics_from_cache(app: TestApp) -> anyhow::Result<()> {
    app.world("acme").await?;
    let first = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let tx = app.store.begin().await?;
    app.queue
        .enqueue(
            &tx,
            NewJob::new(&"ws".into(), JobKind::Render, serde_json::json!({})),
        )
        .await?;
    tx.commit().await?;
    let second = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await?
        .text()
        .await?;
    assert!(!job_lines(&first).is_empty(), "{first}");
    assert_eq!(
        job_lines(&first),
        job_lines(&second),
        "the second scrape reuses the first one's counts"
    );
    Ok(())
}

macro_rules! both {
    ($name:ident, $configure:expr, $body:ident) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run_configured(Backend::Sqlite, stringify!($name), $configure, $body).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run_configured(Backend::Postgres, stringify!($name), $configure, $body).await;
            }
        }
    };
}

both!(
    a_flood_of_bad_keys_gets_429_without_a_lookup_each,
    tight,
    bad_key_flood
);
both!(keyless_routes_are_limited_per_address, tight, keyless_flood);
both!(
    metrics_job_counts_come_from_the_cache,
    cached_metrics,
    metrics_from_cache
);

fn quick_header_timeout(s: ApiState) -> ApiState {
    s.with_server_limits(ServerLimits {
        header_read_timeout: Duration::from_secs(1),
        max_connections: 64,
    })
}

/// A client that never finishes its headers (slowloris) is disconnected.
async fn slow_headers(app: TestApp) -> anyhow::Result<()> {
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await?;
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        .await?;
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), tcp.read_to_end(&mut rest))
        .await
        .map_err(|_| anyhow::anyhow!("the connection was still open after 20 s"))??;
    Ok(())
}

fn one_connection(s: ApiState) -> ApiState {
    s.with_server_limits(ServerLimits {
        header_read_timeout: Duration::from_secs(60),
        max_connections: 1,
    })
}

/// With the cap reached, a new connection is served only once an open one closes.
async fn capped_connections(app: TestApp) -> anyhow::Result<()> {
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut first = tokio::net::TcpStream::connect(&addr).await?;
    first
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        .await?;
    let mut second = tokio::net::TcpStream::connect(&addr).await?;
    second
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await?;
    let mut answer = Vec::new();
    let early = tokio::time::timeout(Duration::from_secs(1), second.read_to_end(&mut answer)).await;
    assert!(
        early.is_err(),
        "served past the cap: {:?}",
        String::from_utf8_lossy(&answer)
    );
    drop(first);
    tokio::time::timeout(Duration::from_secs(20), second.read_to_end(&mut answer)).await??;
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_must_arrive_in_time() {
    run_configured(
        Backend::Sqlite,
        "header_timeout",
        quick_header_timeout,
        slow_headers,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped() {
    run_configured(
        Backend::Sqlite,
        "connection_cap",
        one_connection,
        capped_connections,
    )
    .await;
}
