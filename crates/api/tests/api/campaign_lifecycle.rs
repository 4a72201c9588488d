//! Campaign preview (templates rendered and checked, nothing enqueued) and delete (soft:
//! history stays, queued work withdrawn, refused while something is publishing or running,
//! revived by saving the same name).

use std::time::Duration;

use pressroom_api::Role;
use pressroom_core::{JobKind, PostState};
use pressroom_store::repo::posts;
use serde_json::{Value, json};

use crate::harness::{TestApp, World, campaign_toml};

async fn call(
    app: &TestApp,
    method: reqwest::Method,
    key: &str,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<(u16, Value)> {
    let mut req = app.http.request(method, app.url(path)).bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    Ok((status, resp.json().await.unwrap_or(Value::Null)))
}

async fn delete(app: &TestApp, key: &str, path: &str) -> anyhow::Result<(u16, Value)> {
    call(app, reqwest::Method::DELETE, key, path, None).await
}

async fn preview(app: &TestApp, w: &World, id: &str, body: Value) -> anyhow::Result<(u16, Value)> {
    let path = format!("/v1/campaigns/{id}/preview");
    call(
        app,
        reqwest::Method::POST,
        w.key(Role::Editor),
        &path,
        Some(body),
    )
    .await
}

pub async fn campaign_preview_renders_and_checks_without_running(
    app: TestApp,
) -> anyhow::Result<()> {
    let w = app.world("pv").await?;
    let other = app.world("pv-other").await?;
    let (jobs, runs) = (app.job_count().await?, app.run_count().await?);

    // The campaign's own variables.
    let (status, p) = preview(&app, &w, &w.campaign_id, json!({})).await?;
    anyhow::ensure!(status == 200, "{p}");
    anyhow::ensure!(
        p["ok"] == true
            && p["prompt"] == "A stack of Linen Tote on a shelf"
            && p["negative_prompt"].is_null()
            && p["caption"] == "Back in stock: Linen Tote"
            && p["problems"] == json!([])
            && p["variables"]["run"]["trigger"] == "preview",
        "{p}"
    );
    let target = &p["targets"][0];
    anyhow::ensure!(
        target["account"] == "sandbox"
            && target["platform"] == "sandbox"
            && target["preset"] == "instagram-square"
            && target["fit"] == "cover"
            && target["caption"] == "Back in stock: Linen Tote"
            && target["problems"] == json!([]),
        "{p}"
    );

    // The trigger's variables win; the caption breaks the platform's length rule.
    let long = "x".repeat(200_000);
    let (_, p) = preview(
        &app,
        &w,
        &w.campaign_id,
        json!({ "variables": { "product": long } }),
    )
    .await?;
    let problems = &p["targets"][0]["problems"];
    anyhow::ensure!(
        p["ok"] == false
            && p["problems"] == json!([])
            && problems[0]["field"] == "caption"
            && problems[0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("max_length")),
        "{problems}"
    );

    // Templates that fail at render time, and `run` facts from the given fire time.
    let source = campaign_toml("pv", "dated").replace(
        "steps = 4",
        "steps = 4\nnegative_prompt = \"{{ product | int }}\"",
    );
    let (status, created) = call(
        &app,
        reqwest::Method::POST,
        w.key(Role::Editor),
        "/v1/campaigns",
        Some(json!({ "source": source })),
    )
    .await?;
    anyhow::ensure!(status == 201, "{created}");
    let dated = created["id"].as_str().unwrap_or_default().to_string();
    let (_, p) = preview(
        &app,
        &w,
        &dated,
        json!({ "variables": { "product": "Mug" }, "fire_at": "2026-03-02T12:00:00Z" }),
    )
    .await?;
    anyhow::ensure!(
        p["ok"] == false
            && p["prompt"].is_null()
            && p["problems"][0]["field"] == "generation.negative_prompt"
            && p["variables"]["run"]["weekday"] == "Monday",
        "{p}"
    );

    // Bad bodies, other workspaces, unknown ids.
    let (status, problem) = preview(&app, &w, &w.campaign_id, json!({ "vars": {} })).await?;
    anyhow::ensure!(
        status == 400 && problem["code"] == "invalid_request",
        "{problem}"
    );
    let (status, _) = preview(&app, &w, &other.campaign_id, json!({})).await?;
    anyhow::ensure!(status == 404, "other workspace: {status}");
    let (status, _) = preview(&app, &w, "nope", json!({})).await?;
    anyhow::ensure!(status == 404);

    // Nothing ran: no run, no job.
    anyhow::ensure!(app.job_count().await? == jobs, "a preview enqueued a job");
    anyhow::ensure!(app.run_count().await? == runs, "a preview created a run");
    Ok(())
}

pub async fn campaign_delete_is_soft_and_withdraws_queued_work(app: TestApp) -> anyhow::Result<()> {
    let w = app.world("dl").await?;
    let editor = w.key(Role::Editor);
    let path = format!("/v1/campaigns/{}", w.campaign_id);

    // Viewers may not delete.
    let (status, _) = delete(&app, w.key(Role::Viewer), &path).await?;
    anyhow::ensure!(status == 403, "viewer: {status}");

    // A post mid-publish (a commit may be under way): refused.
    let now = app.store.now_ms().await?;
    let publishing = |state| {
        posts::set_state(
            &app.store,
            app.store.conn(),
            now,
            &w.post_id,
            state,
            None,
            None,
            None,
        )
    };
    publishing(PostState::Publishing).await?;
    let (status, problem) = delete(&app, editor, &path).await?;
    anyhow::ensure!(status == 409 && problem["code"] == "conflict", "{problem}");
    publishing(PostState::Pending).await?;

    // A job of the campaign running right now: refused until it finishes.
    let claimed = app
        .queue
        .claim(&[JobKind::Generate], "test", Duration::from_secs(60), 10)
        .await?;
    anyhow::ensure!(!claimed.is_empty(), "the fixture run's generate job");
    let (status, problem) = delete(&app, editor, &path).await?;
    anyhow::ensure!(status == 409, "running job: {problem}");
    for job in &claimed {
        app.queue.complete(app.store.conn(), job).await?;
    }
    // Another workspace's key: 404, and nothing of that workspace is touched below.
    let other = app.world("dl-other").await?;
    let (status, _) = delete(&app, other.key(Role::Owner), &path).await?;
    anyhow::ensure!(status == 404, "other workspace: {status}");

    // A second run whose generate job is still queued.
    let (status, fired) = call(
        &app,
        reqwest::Method::POST,
        editor,
        &format!("/v1/campaigns/{}/trigger", w.campaign_id),
        Some(json!({})),
    )
    .await?;
    anyhow::ensure!(status == 202, "{fired}");
    let (status, done) = delete(&app, editor, &path).await?;
    anyhow::ensure!(status == 200, "{done}");
    anyhow::ensure!(
        done["deleted"] == true && done["withdrawn"] == json!({ "jobs": 1, "posts": 1, "runs": 2 }),
        "{done}"
    );
    let other_jobs: i64 = app
        .queue
        .counts()
        .await?
        .iter()
        .filter(|(kind, state, _)| kind == "generate" && state == "available")
        .map(|(_, _, n)| n)
        .sum();
    anyhow::ensure!(
        other_jobs == 1,
        "only the other workspace's job is left: {other_jobs}"
    );

    // Gone from the API ...
    let viewer = w.key(Role::Viewer);
    let (status, _) = call(&app, reqwest::Method::GET, viewer, &path, None).await?;
    anyhow::ensure!(status == 404);
    let (_, list) = call(&app, reqwest::Method::GET, viewer, "/v1/campaigns", None).await?;
    anyhow::ensure!(list["data"] == json!([]), "{list}");
    for action in ["pause", "resume", "trigger", "preview"] {
        let (status, _) = call(
            &app,
            reqwest::Method::POST,
            editor,
            &format!("{path}/{action}"),
            Some(json!({})),
        )
        .await?;
        anyhow::ensure!(status == 404, "{action} after delete: {status}");
    }
    let (status, _) = delete(&app, editor, &path).await?;
    anyhow::ensure!(status == 404, "second delete: {status}");
    // ... its hook fires nothing (2xx, so the CMS stops retrying) ...
    let body = br#"{"product":"Mug"}"#;
    let ts = chrono::Utc::now().timestamp();
    let (status, answer) =
        crate::hooks::deliver(&app, &w.hook_id, &w.hook_secret, "d-1", ts, body, body).await?;
    anyhow::ensure!(
        status == 202 && answer["status"] == "ignored",
        "{status} {answer}"
    );

    // ... but its history stays: runs (the unstarted ones failed), the cancelled post.
    let (_, runs) = call(
        &app,
        reqwest::Method::GET,
        viewer,
        &format!("/v1/runs?campaign_id={}", w.campaign_id),
        None,
    )
    .await?;
    let states: Vec<(&str, &str)> = runs["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    (
                        r["state"].as_str().unwrap_or(""),
                        r["error"].as_str().unwrap_or(""),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    anyhow::ensure!(
        states.len() == 2
            && states
                .iter()
                .all(|(s, e)| *s == "failed" && e.contains("deleted")),
        "{runs}"
    );
    let (_, post) = call(
        &app,
        reqwest::Method::GET,
        viewer,
        &format!("/v1/posts/{}", w.post_id),
        None,
    )
    .await?;
    anyhow::ensure!(post["state"] == "cancelled", "{post}");
    let (_, audit) = call(
        &app,
        reqwest::Method::GET,
        w.key(Role::Admin),
        "/v1/audit",
        None,
    )
    .await?;
    anyhow::ensure!(
        audit["data"]
            .as_array()
            .is_some_and(|a| a.iter().any(|e| e["action"] == "campaign.deleted")),
        "{audit}"
    );

    // Saving the same name brings it back: same id, history attached, enabled.
    let (status, revived) = call(
        &app,
        reqwest::Method::POST,
        editor,
        "/v1/campaigns",
        Some(json!({ "source": campaign_toml("dl", "restock") })),
    )
    .await?;
    anyhow::ensure!(
        status == 201 && revived["id"] == w.campaign_id.as_str() && revived["enabled"] == true,
        "{revived}"
    );
    let (status, _) = call(&app, reqwest::Method::GET, viewer, &path, None).await?;
    anyhow::ensure!(status == 200);
    Ok(())
}

on_both_backends!(
    campaign_preview_renders_and_checks_without_running,
    campaign_delete_is_soft_and_withdraws_queued_work
);
