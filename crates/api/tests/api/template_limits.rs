//! Template bombs (issue 11): a caption that would build gigabytes is answered 422 naming
//! the limit, quickly, with this process (the server runs in it) still alive and its memory
//! not grown; validate and preview need the Editor role.

use pressroom_api::Role;
use pressroom_store::repo::campaigns;
use serde_json::{Value, json};

use crate::harness::{TestApp, World, campaign_toml};

/// The audit's bomb: 200 bytes that asked for 1.5 GB.
const BOMB: &str = r#"{% set a="x"*100000000 %}{% set b=a~a~a~a %}{{ b }}"#;
/// What the server may add to this process while refusing a bomb.
const GROWTH_LIMIT: u64 = 64 * 1024 * 1024;

/// Resident memory of this process in bytes, from `/proc/self/status`.
fn rss_bytes() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS"))?;
    Ok(kb * 1024)
}

/// A campaign whose caption is `template` (TOML literal string, so no escaping).
fn bomb_toml(w: &World, template: &str) -> String {
    campaign_toml(&w.slug, "bomb").replace(
        "template = \"Back in stock: {{ product }}\"",
        &format!("template = '''{template}'''"),
    )
}

async fn post(app: &TestApp, key: &str, path: &str, body: String) -> anyhow::Result<(u16, Value)> {
    let resp = app
        .http
        .post(app.url(path))
        .bearer_auth(key)
        .header("content-type", "application/toml")
        .body(body)
        .send()
        .await?;
    let status = resp.status().as_u16();
    Ok((status, resp.json().await.unwrap_or(Value::Null)))
}

fn ensure_limit(what: &str, status: u16, problem: &Value, limit: &str) -> anyhow::Result<()> {
    anyhow::ensure!(status == 422, "{what}: {status} {problem}");
    anyhow::ensure!(problem["code"] == "template_limit", "{what}: {problem}");
    anyhow::ensure!(problem["limit"] == limit, "{what}: {problem}");
    let detail = problem["detail"].as_str().unwrap_or_default();
    anyhow::ensure!(
        detail.contains(limit),
        "{what}: detail names no limit: {problem}"
    );
    Ok(())
}

pub async fn validate_refuses_a_template_bomb_without_growing(app: TestApp) -> anyhow::Result<()> {
    let w = app.world("bomb-v").await?;
    let editor = w.key(Role::Editor);
    let before = rss_bytes()?;
    let (status, problem) =
        post(&app, editor, "/v1/campaigns/validate", bomb_toml(&w, BOMB)).await?;
    ensure_limit("validate", status, &problem, "template.memory_bytes")?;
    // Saving is refused the same way, so no worker ever claims it.
    let (status, problem) = post(&app, editor, "/v1/campaigns", bomb_toml(&w, BOMB)).await?;
    ensure_limit("create", status, &problem, "template.memory_bytes")?;
    let macro_bomb = "{% macro d(s) %}{{ s }}{{ s }}{% endmacro %}{{ d(d(d(product))) }}";
    let (status, problem) = post(
        &app,
        editor,
        "/v1/campaigns/validate",
        bomb_toml(&w, macro_bomb),
    )
    .await?;
    ensure_limit("macro", status, &problem, "template.allowed_syntax")?;
    let grown = rss_bytes()?.saturating_sub(before);
    anyhow::ensure!(grown < GROWTH_LIMIT, "RSS grew {grown} bytes");
    // Still serving.
    let (status, _) = post(
        &app,
        editor,
        "/v1/campaigns/validate",
        campaign_toml(&w.slug, "ok"),
    )
    .await?;
    anyhow::ensure!(status == 200, "after the bombs: {status}");
    // Validating runs templates: a viewer may not.
    let (status, problem) = post(
        &app,
        w.key(Role::Viewer),
        "/v1/campaigns/validate",
        campaign_toml(&w.slug, "ok"),
    )
    .await?;
    anyhow::ensure!(
        status == 403 && problem["code"] == "forbidden",
        "viewer: {status} {problem}"
    );
    Ok(())
}

pub async fn preview_refuses_a_stored_template_bomb(app: TestApp) -> anyhow::Result<()> {
    let w = app.world("bomb-p").await?;
    // A campaign saved before templates had a budget: the bomb is in the stored source (and
    // spec), which the preview parses again.
    let row = campaigns::get(&app.store, &w.ws_id, &w.campaign_id).await?;
    let source = bomb_toml(&w, BOMB).replace("name = \"bomb\"", &format!("name = {:?}", row.name));
    anyhow::ensure!(source.contains(BOMB) && source != row.source, "{source}");
    let mut spec: Value = serde_json::from_str(&row.spec)?;
    spec["caption"]["template"] = json!(BOMB);
    let now = app.store.now_ms().await?;
    campaigns::upsert(
        app.store.conn(),
        now,
        campaigns::CampaignInput {
            workspace_id: &w.ws_id,
            name: &row.name,
            source: &source,
            source_file: None,
            spec,
        },
    )
    .await?;
    let path = format!("/v1/campaigns/{}/preview", w.campaign_id);
    let before = rss_bytes()?;
    let resp = app
        .http
        .post(app.url(&path))
        .bearer_auth(w.key(Role::Editor))
        .json(&json!({}))
        .send()
        .await?;
    let status = resp.status().as_u16();
    let problem: Value = resp.json().await?;
    ensure_limit("preview", status, &problem, "template.memory_bytes")?;
    anyhow::ensure!(problem["field"] == "caption.template", "{problem}");
    let grown = rss_bytes()?.saturating_sub(before);
    anyhow::ensure!(grown < GROWTH_LIMIT, "RSS grew {grown} bytes");
    let resp = app
        .http
        .post(app.url(&path))
        .bearer_auth(w.key(Role::Viewer))
        .json(&json!({}))
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 403, "viewer preview: {}", resp.status());
    Ok(())
}

/// The budget is checked again with the run's real variables: a caption that fits with
/// small values but not with a 200 KB one is refused at render time, naming the limit.
pub async fn preview_refuses_variables_that_overflow_the_budget(
    app: TestApp,
) -> anyhow::Result<()> {
    let w = app.world("bomb-vars").await?;
    let editor = w.key(Role::Editor);
    let caption = format!("{{{{ product{} }}}}", " ~ product".repeat(11));
    let (status, created) = post(&app, editor, "/v1/campaigns", bomb_toml(&w, &caption)).await?;
    anyhow::ensure!(
        status == 201,
        "a caption that fits is saved: {status} {created}"
    );
    let id = created["id"].as_str().unwrap_or_default();
    let path = format!("/v1/campaigns/{id}/preview");
    let small = app
        .http
        .post(app.url(&path))
        .bearer_auth(editor)
        .json(&json!({ "variables": { "product": "mug" } }))
        .send()
        .await?;
    anyhow::ensure!(small.status() == 200, "small: {}", small.status());
    let before = rss_bytes()?;
    let big = app
        .http
        .post(app.url(&path))
        .bearer_auth(editor)
        .json(&json!({ "variables": { "product": "x".repeat(200_000) } }))
        .send()
        .await?;
    let status = big.status().as_u16();
    let problem: Value = big.json().await?;
    ensure_limit("big variables", status, &problem, "template.memory_bytes")?;
    let grown = rss_bytes()?.saturating_sub(before);
    anyhow::ensure!(grown < GROWTH_LIMIT, "RSS grew {grown} bytes");
    Ok(())
}

on_both_backends!(
    validate_refuses_a_template_bomb_without_growing,
    preview_refuses_a_stored_template_bomb,
    preview_refuses_variables_that_overflow_the_budget,
);
