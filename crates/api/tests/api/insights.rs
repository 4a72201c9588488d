//! The insights routes over HTTP: a post's series as stored (a fetch without numbers and a
//! platform's missing metric left out, never 0), the fetch-now request only for published
//! posts (a durable job, once per request), sums per platform, the top posts, the report as
//! one page, and every bad query answered 400 naming its parameter.

use pressroom_api::Role;
use pressroom_core::{Platform, PostState};
use pressroom_store::repo::insights::{self, NewFetch, Outcome};
use pressroom_store::repo::posts;
use serde_json::{Value, json};

use crate::harness::TestApp;

async fn call(app: &TestApp, method: &str, key: &str, path: &str) -> anyhow::Result<(u16, Value)> {
    let req = match method {
        "POST" => app.http.post(app.url(path)),
        _ => app.http.get(app.url(path)),
    };
    let resp = req.bearer_auth(key).send().await?;
    let status = resp.status().as_u16();
    let text = resp.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

pub async fn a_posts_numbers_are_served_summed_and_reported(app: TestApp) -> anyhow::Result<()> {
    let w = app.world("ins").await?;
    let viewer = w.key(Role::Viewer);
    let editor = w.key(Role::Editor);
    let store = &app.store;

    // Not published yet: nothing to fetch.
    let fetch_path = format!("/v1/posts/{}/metrics/fetch", w.post_id);
    let (status, body) = call(&app, "POST", editor, &fetch_path).await?;
    anyhow::ensure!(status == 409, "{status} {body}");

    let now = store.now_ms().await?;
    posts::set_state(
        store,
        store.conn(),
        now,
        &w.post_id,
        PostState::Published,
        Some("r-1"),
        None,
        None,
    )
    .await?;
    let fetch = |outcome, metrics, note| NewFetch {
        workspace_id: &w.ws_id,
        post_id: &w.post_id,
        platform: Platform::Sandbox,
        outcome,
        metrics,
        raw: None,
        note,
        metrics_id: None,
    };
    insights::record(
        store,
        store.conn(),
        now + 1,
        fetch(Outcome::NotYet, json!({}), Some("no data yet")),
    )
    .await?;
    insights::record(
        store,
        store.conn(),
        now + 2,
        fetch(Outcome::Measured, json!({"views": 40, "likes": 0}), None),
    )
    .await?;

    let (status, body) = call(
        &app,
        "GET",
        viewer,
        &format!("/v1/posts/{}/metrics", w.post_id),
    )
    .await?;
    anyhow::ensure!(status == 200, "{status} {body}");
    anyhow::ensure!(
        body["series"].as_array().map(Vec::len) == Some(1)
            && body["series"][0]["metrics"] == json!({"views": 40, "likes": 0})
            && body["gone"] == false
            && body["pending"].is_null(),
        "{body}"
    );

    let (status, body) = call(&app, "POST", editor, &fetch_path).await?;
    anyhow::ensure!(status == 202 && body["enqueued"] == true, "{status} {body}");
    let (status, _) = call(&app, "POST", viewer, &fetch_path).await?;
    anyhow::ensure!(status == 403, "viewers do not spend the platform's budget");

    let (status, body) = call(&app, "GET", viewer, "/v1/insights?group_by=platform").await?;
    anyhow::ensure!(status == 200, "{status} {body}");
    anyhow::ensure!(
        body["groups"][0]["key"] == "sandbox"
            && body["groups"][0]["sums"] == json!({"views": 40, "likes": 0})
            && body["totals"]["measured_posts"] == 1,
        "{body}"
    );
    let (status, body) = call(&app, "GET", viewer, "/v1/insights/top?metric=views").await?;
    anyhow::ensure!(
        status == 200 && body["data"][0]["post_id"] == w.post_id.to_string(),
        "{status} {body}"
    );
    let (status, body) = call(&app, "GET", viewer, "/v1/insights/top?metric=saves").await?;
    anyhow::ensure!(
        status == 200 && body["data"] == json!([]),
        "no post reports saves: {body}"
    );

    let resp = app
        .http
        .get(app.url("/v1/reports"))
        .bearer_auth(viewer)
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 200);
    let csp = resp
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    anyhow::ensure!(csp.contains("default-src 'none'"), "{csp}");
    let page = resp.text().await?;
    anyhow::ensure!(page.contains("Every post of the period"), "{page}");

    for (query, field) in [
        ("/v1/insights?group_by=week", "group_by"),
        ("/v1/insights?from=yesterday", "from"),
        ("/v1/insights?tz=Mars/Olympus", "tz"),
        ("/v1/insights?from=2026-12-05&to=2026-12-01", "from"),
        ("/v1/insights?from=2020-01-01&to=2026-01-01", "to"),
        ("/v1/insights/top?metric=impressions", "metric"),
        ("/v1/insights/top?limit=0", "limit"),
        ("/v1/reports?to=soon", "to"),
    ] {
        let (status, body) = call(&app, "GET", viewer, query).await?;
        let detail = body["detail"].as_str().unwrap_or_default();
        anyhow::ensure!(
            status == 400 && detail.starts_with(&format!("{field}:")),
            "{query}: {status} {body}"
        );
    }
    Ok(())
}

on_both_backends!(a_posts_numbers_are_served_summed_and_reported);
