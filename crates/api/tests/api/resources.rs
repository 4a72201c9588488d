//! Resources end to end: campaigns (TOML and JSON bodies, validation, pagination,
//! pause/resume, trigger), runs, posts with attempts, keys, the audit log, images,
//! metrics, the OpenAPI document, rate limiting.

use std::sync::Arc;

use pressroom_api::{ApiState, ROUTES, RateLimit, Role};
use serde_json::{Value, json};

use crate::harness::{FakeGenerator, TestApp, campaign_toml};

async fn get(app: &TestApp, key: &str, path: &str) -> anyhow::Result<Value> {
    let resp = app.http.get(app.url(path)).bearer_auth(key).send().await?;
    anyhow::ensure!(resp.status() == 200, "GET {path}: {}", resp.status());
    Ok(resp.json().await?)
}

pub async fn campaigns_runs_posts(app: TestApp) -> anyhow::Result<()> {
    let w = app.world("res").await?;
    let editor = w.key(Role::Editor);
    // Create from TOML and from JSON {source}.
    for i in 0..3 {
        let resp = app
            .http
            .post(app.url("/v1/campaigns"))
            .bearer_auth(editor)
            .header("content-type", "application/toml")
            .body(campaign_toml("res", &format!("toml-{i}")))
            .send()
            .await?;
        anyhow::ensure!(resp.status() == 201, "create toml: {}", resp.status());
    }
    let resp = app
        .http
        .post(app.url("/v1/campaigns"))
        .bearer_auth(editor)
        .json(&json!({ "source": campaign_toml("res", "json-one") }))
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 201, "create json: {}", resp.status());
    let created: Value = resp.json().await?;
    anyhow::ensure!(
        created["name"] == "json-one" && created["enabled"] == true,
        "{created}"
    );
    // A campaign naming another workspace, or with an unknown account, is 422 with issues.
    let resp = app
        .http
        .post(app.url("/v1/campaigns"))
        .bearer_auth(editor)
        .body(campaign_toml("someone-else", "x").replace("\"sandbox\"", "\"nobody\""))
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 422, "invalid: {}", resp.status());
    let problem: Value = resp.json().await?;
    let fields: Vec<&str> = problem["issues"]
        .as_array()
        .map(|a| a.iter().filter_map(|i| i["field"].as_str()).collect())
        .unwrap_or_default();
    anyhow::ensure!(
        problem["code"] == "invalid_campaign" && fields.contains(&"workspace"),
        "{problem}"
    );
    anyhow::ensure!(fields.iter().any(|f| f.starts_with("targets")), "{problem}");
    let v: Value = app
        .http
        .post(app.url("/v1/campaigns/validate"))
        .bearer_auth(w.key(Role::Editor))
        .body("name = ")
        .send()
        .await?
        .json()
        .await?;
    anyhow::ensure!(v["valid"] == false && v["issues"][0]["line"] == 1, "{v}");
    // Pagination: 5 campaigns, pages of 2.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let path = match &cursor {
            Some(c) => format!("/v1/campaigns?limit=2&cursor={c}"),
            None => "/v1/campaigns?limit=2".to_string(),
        };
        let page = get(&app, editor, &path).await?;
        for c in page["data"].as_array().into_iter().flatten() {
            seen.push(c["name"].as_str().unwrap_or_default().to_string());
        }
        cursor = page["next_cursor"].as_str().map(str::to_string);
        if cursor.is_none() {
            break;
        }
    }
    seen.sort();
    anyhow::ensure!(
        seen == ["json-one", "restock", "toml-0", "toml-1", "toml-2"],
        "{seen:?}"
    );
    let resp = app
        .http
        .get(app.url("/v1/campaigns?cursor=%%%"))
        .bearer_auth(editor)
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 400, "bad cursor: {}", resp.status());
    // Pause / resume.
    let id = created["id"].as_str().unwrap_or_default();
    let paused: Value = app
        .http
        .post(app.url(&format!("/v1/campaigns/{id}/pause")))
        .bearer_auth(editor)
        .send()
        .await?
        .json()
        .await?;
    anyhow::ensure!(paused["enabled"] == false, "{paused}");
    let resumed: Value = app
        .http
        .post(app.url(&format!("/v1/campaigns/{id}/resume")))
        .bearer_auth(editor)
        .send()
        .await?
        .json()
        .await?;
    anyhow::ensure!(resumed["enabled"] == true, "{resumed}");
    // Trigger with variables → a queued run with them, and its generate job.
    let jobs0 = app.job_count().await?;
    let resp = app
        .http
        .post(app.url(&format!("/v1/campaigns/{id}/trigger")))
        .bearer_auth(editor)
        .json(&json!({ "variables": { "product": "Teapot" } }))
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 202, "trigger: {}", resp.status());
    let t: Value = resp.json().await?;
    let run = get(
        &app,
        editor,
        &format!("/v1/runs/{}", t["run_id"].as_str().unwrap_or_default()),
    )
    .await?;
    anyhow::ensure!(
        run["variables"]["product"] == "Teapot"
            && run["trigger"] == "api"
            && run["state"] == "queued",
        "{run}"
    );
    anyhow::ensure!(app.job_count().await? == jobs0 + 1, "one generate job");
    let runs = get(&app, editor, &format!("/v1/runs?campaign_id={id}")).await?;
    anyhow::ensure!(runs["data"].as_array().map(Vec::len) == Some(1), "{runs}");
    // Posts, with attempts.
    let post = get(&app, editor, &format!("/v1/posts/{}", w.post_id)).await?;
    anyhow::ensure!(
        post["state"] == "pending" && post["attempts"].is_array(),
        "{post}"
    );
    let posts = get(&app, editor, &format!("/v1/posts?run_id={}", w.run_id)).await?;
    anyhow::ensure!(posts["data"].as_array().map(Vec::len) == Some(1), "{posts}");
    // Accounts never show tokens; the audit log recorded the changes.
    let accounts = get(&app, editor, "/v1/accounts").await?;
    anyhow::ensure!(accounts["data"][0]["name"] == "sandbox", "{accounts}");
    anyhow::ensure!(
        accounts["data"][0].get("access_token_sealed").is_none(),
        "{accounts}"
    );
    let audit = get(&app, w.key(Role::Admin), "/v1/audit?limit=200").await?;
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["action"].as_str()).collect())
        .unwrap_or_default();
    for a in [
        "campaign.saved",
        "campaign.paused",
        "campaign.resumed",
        "campaign.triggered",
    ] {
        anyhow::ensure!(actions.contains(&a), "audit lacks {a}: {actions:?}");
    }
    Ok(())
}

pub async fn post_retry_and_cancel(app: TestApp) -> anyhow::Result<()> {
    let w = app.world("rc").await?;
    let post_url = |action: &str| app.url(&format!("/v1/posts/{}/{action}", w.post_id));
    let editor = w.key(Role::Editor);
    // A pending post cannot be retried, only cancelled; once cancelled, it cannot be again.
    let resp = app
        .http
        .post(post_url("retry"))
        .bearer_auth(editor)
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 409, "retry pending: {}", resp.status());
    let resp = app
        .http
        .post(post_url("cancel"))
        .bearer_auth(editor)
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 200, "cancel: {}", resp.status());
    let post: Value = resp.json().await?;
    anyhow::ensure!(post["state"] == "cancelled", "{post}");
    let resp = app
        .http
        .post(post_url("cancel"))
        .bearer_auth(editor)
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 409, "cancel twice: {}", resp.status());
    let problem: Value = resp.json().await?;
    anyhow::ensure!(problem["code"] == "conflict", "{problem}");
    // A failed post goes back to pending with one new publish job.
    app.fail_post(&w).await?;
    let before = app.queue.counts().await?;
    let resp = app
        .http
        .post(post_url("retry"))
        .bearer_auth(editor)
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 202, "retry failed: {}", resp.status());
    let post: Value = resp.json().await?;
    anyhow::ensure!(
        post["state"] == "pending" && post["error"].is_null(),
        "{post}"
    );
    let after = app.queue.counts().await?;
    let publish_jobs = |c: &Vec<(String, String, i64)>| -> i64 {
        c.iter()
            .filter(|(k, _, _)| k == "publish")
            .map(|(_, _, n)| n)
            .sum()
    };
    anyhow::ensure!(
        publish_jobs(&after) == publish_jobs(&before) + 1,
        "{before:?} -> {after:?}"
    );
    let audit = get(&app, w.key(Role::Admin), "/v1/audit").await?;
    let text = audit.to_string();
    anyhow::ensure!(
        text.contains("post.retried") && text.contains("post.cancelled"),
        "{audit}"
    );
    Ok(())
}

pub async fn usage_and_account_disconnect(app: TestApp) -> anyhow::Result<()> {
    let w = app.world("usage").await?;
    let now = app.store.now_ms().await?;
    pressroom_store::repo::posts::set_state(
        &app.store,
        app.store.conn(),
        now,
        &w.post_id,
        pressroom_core::PostState::Published,
        Some("remote-1"),
        None,
        None,
    )
    .await?;
    // Filters with a page size: `limit` works beside flattened filter fields too.
    for path in [
        "/v1/runs?limit=1",
        "/v1/posts?limit=1&state=published",
        "/v1/runs?limit=1&state=queued",
    ] {
        let page = get(&app, w.key(Role::Viewer), path).await?;
        anyhow::ensure!(
            page["data"].as_array().is_some_and(|d| d.len() <= 1),
            "{path}: {page}"
        );
    }
    let resp = app
        .http
        .get(app.url("/v1/posts?limit=many"))
        .bearer_auth(w.key(Role::Viewer))
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 400, "limit=many: {}", resp.status());
    // A state the resource does not have is a 400 naming the field, not an empty page.
    for path in ["/v1/runs?state=pending", "/v1/posts?state=bogus"] {
        let resp = app
            .http
            .get(app.url(path))
            .bearer_auth(w.key(Role::Viewer))
            .send()
            .await?;
        let status = resp.status();
        let problem: Value = resp.json().await?;
        anyhow::ensure!(
            status == 400
                && problem["detail"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("state:")),
            "{path}: {status} {problem}"
        );
    }
    let usage = get(&app, w.key(Role::Viewer), "/v1/usage?days=7").await?;
    let days = usage["data"].as_array().cloned().unwrap_or_default();
    anyhow::ensure!(days.len() == 7, "{usage}");
    let today = &days[6];
    anyhow::ensure!(
        today["images_generated"] == 1 && today["posts_published"] == 1,
        "{usage}"
    );
    anyhow::ensure!(
        days[..6].iter().all(|d| d["posts_published"] == 0),
        "{usage}"
    );
    let resp = app
        .http
        .get(app.url("/v1/usage?days=0"))
        .bearer_auth(w.key(Role::Viewer))
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 400, "days=0: {}", resp.status());
    let problem: Value = resp.json().await?;
    anyhow::ensure!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("days"),
        "{problem}"
    );
    // Disconnect: the account's state changes and the audit log says who did it.
    let resp = app
        .http
        .post(app.url(&format!("/v1/accounts/{}/disconnect", w.account_id)))
        .bearer_auth(w.key(Role::Admin))
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 200, "disconnect: {}", resp.status());
    let account: Value = resp.json().await?;
    anyhow::ensure!(account["state"] == "disconnected", "{account}");
    let audit = get(&app, w.key(Role::Admin), "/v1/audit").await?;
    anyhow::ensure!(
        audit.to_string().contains("account.disconnected"),
        "{audit}"
    );
    Ok(())
}

pub async fn gdpr_erase_removes_personal_data_and_keeps_the_record(
    app: TestApp,
) -> anyhow::Result<()> {
    let w = app.world("gdpr").await?;
    let other = app.world("gdpr-other").await?;
    let owner = w.key(Role::Owner);
    let erase = |body: Value| {
        app.http
            .post(app.url("/v1/workspaces/current/erase"))
            .bearer_auth(owner)
            .json(&body)
            .send()
    };
    let resp = erase(json!({"confirm": "someone-else"})).await?;
    anyhow::ensure!(resp.status() == 400, "wrong confirm: {}", resp.status());
    let resp = erase(json!({"confirm": w.slug})).await?;
    anyhow::ensure!(resp.status() == 200, "erase: {}", resp.status());
    let summary: Value = resp.json().await?;
    anyhow::ensure!(
        summary["erased"]["posts"] == 1
            && summary["erased"]["runs"] == 1
            && summary["erased"]["accounts"] == 1
            && summary["erased"]["renditions"] == 1,
        "{summary}"
    );
    let posts = get(&app, owner, "/v1/posts").await?;
    anyhow::ensure!(
        posts["data"].as_array().is_some_and(Vec::is_empty),
        "{posts}"
    );
    let runs = get(&app, owner, "/v1/runs").await?;
    anyhow::ensure!(runs["data"].as_array().is_some_and(Vec::is_empty), "{runs}");
    let campaigns = get(&app, owner, "/v1/campaigns").await?;
    anyhow::ensure!(
        campaigns["data"].as_array().is_some_and(|c| c.len() == 1),
        "{campaigns}"
    );
    let audit = get(&app, owner, "/v1/audit").await?;
    anyhow::ensure!(audit.to_string().contains("workspace.erased"), "{audit}");
    // Another workspace is untouched.
    let theirs = get(&app, other.key(Role::Viewer), "/v1/posts").await?;
    anyhow::ensure!(
        theirs["data"].as_array().is_some_and(|p| p.len() == 1),
        "{theirs}"
    );
    Ok(())
}

pub async fn oauth_connect_and_callback(app: TestApp) -> anyhow::Result<()> {
    let w = app.world("oauth").await?;
    let start = |body: Value| {
        app.http
            .post(app.url("/v1/accounts/connect"))
            .bearer_auth(w.key(Role::Admin))
            .json(&body)
            .send()
    };
    let resp =
        start(json!({"platform": "myspace", "redirect_uri": "https://a.example/cb"})).await?;
    anyhow::ensure!(resp.status() == 400, "unknown platform: {}", resp.status());
    let resp = start(json!({"platform": "linkedin"})).await?;
    anyhow::ensure!(
        resp.status() == 400,
        "no redirect_uri configured: {}",
        resp.status()
    );
    let resp = start(
        json!({"platform": "linkedin", "redirect_uri": "https://a.example/cb", "name": "main"}),
    )
    .await?;
    anyhow::ensure!(resp.status() == 201, "connect: {}", resp.status());
    let browser = connect_cookie(&resp)?;
    let started: Value = resp.json().await?;
    let state = started["state"].as_str().unwrap_or_default().to_string();
    anyhow::ensure!(
        started["authorize_url"]
            .as_str()
            .is_some_and(|u| u.contains(&state)),
        "{started}"
    );
    let callback = |state: &str, code: &str, cookie: Option<&str>| {
        let req = app
            .http
            .get(app.url(&format!("/v1/oauth/callback?state={state}&code={code}")));
        match cookie {
            Some(c) => req.header("cookie", c),
            None => req,
        }
        .send()
    };
    // Only the browser the connect's response reached may come back with its state: without
    // its cookie, or with another, the callback is refused and the connect stays.
    for other in [
        None,
        Some(format!(
            "{}=forged",
            browser.split('=').next().unwrap_or("")
        )),
    ] {
        let resp = callback(&state, "good", other.as_deref()).await?;
        anyhow::ensure!(resp.status() == 403, "other browser: {}", resp.status());
        let problem: Value = resp.json().await?;
        anyhow::ensure!(problem["code"] == "connect_other_browser", "{problem}");
    }
    // A wrong code fails and uses the state up; a fresh connect then succeeds once.
    let resp = callback(&state, "bad", Some(&browser)).await?;
    anyhow::ensure!(resp.status() == 503, "bad code: {}", resp.status());
    let resp = callback(&state, "good", Some(&browser)).await?;
    anyhow::ensure!(resp.status() == 400, "used state: {}", resp.status());
    let resp = start(
        json!({"platform": "linkedin", "redirect_uri": "https://a.example/cb", "name": "main"}),
    )
    .await?;
    let browser = connect_cookie(&resp)?;
    let started: Value = resp.json().await?;
    let state = started["state"].as_str().unwrap_or_default().to_string();
    let resp = callback(&state, "good", Some(&browser)).await?;
    anyhow::ensure!(resp.status() == 200, "callback: {}", resp.status());
    let cleared = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    anyhow::ensure!(
        cleared.starts_with(&format!("{}=;", browser.split('=').next().unwrap_or("")))
            && cleared.contains("Max-Age=0"),
        "the used cookie is removed: {cleared}"
    );
    let done: Value = resp.json().await?;
    anyhow::ensure!(done["connected"][0]["name"] == "main", "{done}");
    let resp = callback(&state, "good", Some(&browser)).await?;
    anyhow::ensure!(resp.status() == 400, "replayed callback: {}", resp.status());
    let accounts = get(&app, w.key(Role::Viewer), "/v1/accounts").await?;
    anyhow::ensure!(
        accounts["data"].as_array().is_some_and(|a| a
            .iter()
            .any(|a| a["name"] == "main" && a["platform"] == "linkedin")),
        "{accounts}"
    );
    // Sealed, never stored in the clear.
    let rows = pressroom_store::repo::accounts::list(&app.store, &w.ws_id).await?;
    let row = rows
        .iter()
        .find(|a| a.name == "main")
        .ok_or_else(|| anyhow::anyhow!("stored"))?;
    let sealed = row.access_token_sealed.clone().unwrap_or_default();
    anyhow::ensure!(
        !sealed.is_empty() && !sealed.contains("tok-access-plain"),
        "{sealed}"
    );
    let audit = get(&app, w.key(Role::Admin), "/v1/audit").await?;
    anyhow::ensure!(audit.to_string().contains("account.connected"), "{audit}");
    Ok(())
}

/// The `name=value` of the binding cookie a connect's start sets, after checking that it is
/// HttpOnly, SameSite=Lax, Secure (an https redirect URI) and scoped to the callback's path.
fn connect_cookie(resp: &reqwest::Response) -> anyhow::Result<String> {
    let set = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| anyhow::anyhow!("the connect set no cookie"))?;
    for attr in ["; HttpOnly", "; SameSite=Lax", "; Path=/cb;", "; Secure"] {
        anyhow::ensure!(set.contains(attr), "{attr} missing: {set}");
    }
    let pair = set.split(';').next().unwrap_or_default();
    anyhow::ensure!(pair.starts_with("pressroom_connect_"), "{set}");
    Ok(pair.to_string())
}

pub async fn keys_workspaces_images_ops(app: TestApp) -> anyhow::Result<()> {
    let w = app.world("ops").await?;
    // Keys: created once with the plaintext, listed without it.
    let resp = app
        .http
        .post(app.url("/v1/keys"))
        .bearer_auth(w.key(Role::Admin))
        .json(&json!({ "role": "editor", "name": "ci" }))
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 201);
    let k: Value = resp.json().await?;
    let plaintext = k["key"].as_str().unwrap_or_default().to_string();
    anyhow::ensure!(plaintext.starts_with("prk_"), "{k}");
    let listed = get(&app, w.key(Role::Admin), "/v1/keys").await?;
    anyhow::ensure!(
        !listed.to_string().contains(&plaintext) && !listed.to_string().contains("hash"),
        "{listed}"
    );
    get(&app, &plaintext, "/v1/workspaces/current").await?;
    // Instance admin: create a workspace and its first owner key.
    let inst = app.instance_key().await?;
    let resp = app
        .http
        .post(app.url("/v1/workspaces"))
        .bearer_auth(&inst)
        .json(&json!({"slug": "client-a"}))
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 201, "create workspace: {}", resp.status());
    let ws: Value = resp.json().await?;
    let resp = app
        .http
        .post(app.url(&format!(
            "/v1/workspaces/{}/keys",
            ws["id"].as_str().unwrap_or_default()
        )))
        .bearer_auth(&inst)
        .json(&json!({"role": "owner"}))
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 201);
    let owner: Value = resp.json().await?;
    let me = get(
        &app,
        owner["key"].as_str().unwrap_or_default(),
        "/v1/workspaces/current",
    )
    .await?;
    anyhow::ensure!(me["slug"] == "client-a", "{me}");
    // Images, OpenAI shape.
    let resp = app
        .http
        .post(app.url("/v1/images/generations"))
        .bearer_auth(w.key(Role::Editor))
        .json(&json!({"prompt": "a red square", "model": "local", "n": 2, "size": "64x32", "response_format": "b64_json", "user": "u1", "seed": 7, "quality": "standard"}))
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 200, "images: {}", resp.status());
    let img: Value = resp.json().await?;
    anyhow::ensure!(
        img["created"].is_i64() && img["data"].as_array().map(Vec::len) == Some(2),
        "{img}"
    );
    use base64::Engine;
    let png = base64::engine::general_purpose::STANDARD
        .decode(img["data"][0]["b64_json"].as_str().unwrap_or_default())?;
    let decoded = image::load_from_memory(&png)?;
    anyhow::ensure!((decoded.width(), decoded.height()) == (64, 32));
    let resp = app
        .http
        .post(app.url("/v1/images/generations"))
        .bearer_auth(w.key(Role::Editor))
        .json(&json!({"prompt": "x", "size": "big"}))
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 400, "bad size: {}", resp.status());
    // A seed past the documented int64 range is refused by name, not generated.
    let resp = app
        .http
        .post(app.url("/v1/images/generations"))
        .bearer_auth(w.key(Role::Editor))
        .json(&json!({"prompt": "x", "seed": 9_223_372_036_854_775_808_u64}))
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 400, "seed 2^63: {}", resp.status());
    let problem: Value = resp.json().await?;
    anyhow::ensure!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("seed:"),
        "{problem}"
    );
    // Ops.
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await?
        .text()
        .await?;
    anyhow::ensure!(
        metrics.contains("pressroom_jobs{kind=\"generate\",state=\"available\"}"),
        "{metrics}"
    );
    // One process-wide recorder: the other backend's run of this test counts here too.
    let served = crate::pipeline_metrics::value(
        &metrics,
        "pressroom_http_requests_total{method=\"POST\",route=\"/v1/images/generations\",status=\"200\"}",
    );
    anyhow::ensure!(served.is_some_and(|n| n >= 1.0), "{metrics}");
    let ready = app.http.get(app.url("/readyz")).send().await?;
    anyhow::ensure!(ready.status() == 200);
    // Workers stopped: not ready (a load balancer takes this instance out).
    app.workers_alive
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let ready = app.http.get(app.url("/readyz")).send().await?;
    anyhow::ensure!(
        ready.status() == 503,
        "readyz without workers: {}",
        ready.status()
    );
    app.workers_alive
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let resp = app.http.get(app.url("/v1/nothing-here")).send().await?;
    anyhow::ensure!(
        resp.status() == 404
            && resp
                .headers()
                .get("content-type")
                .is_some_and(|v| v == "application/problem+json")
    );
    // Bodies declared over the limit (1 MiB) are 413 problem+json before any byte is read.
    // Raw TCP with headers only: a client still uploading would race the server's close.
    let auth = format!("Bearer {}", w.key(Role::Editor));
    let (status, problem) = app
        .post_headers_only(
            "/v1/campaigns",
            &[("authorization", &auth)],
            2 * 1024 * 1024,
        )
        .await?;
    anyhow::ensure!(status == 413, "oversized: {status}");
    anyhow::ensure!(problem["code"] == "payload_too_large", "{problem}");
    // Signed media links: the daemon's link opens the rendition; a changed one does not.
    let url = pressroom_runtime::PublicMedia::url_for(app.media.as_ref(), &w.rendition_id);
    let resp = app.http.get(&url).send().await?;
    anyhow::ensure!(
        resp.status() == 200
            && resp
                .headers()
                .get("content-type")
                .is_some_and(|v| v == "image/jpeg"),
        "signed link: {}",
        resp.status()
    );
    for bad in [
        url.replace("exp=", "exp=1"),
        url.replace("sig=", "sig=A"),
        url.replace(w.rendition_id.as_str(), &w.post_id),
        url.split('?').next().unwrap_or_default().to_string(),
    ] {
        let resp = app.http.get(&bad).send().await?;
        anyhow::ensure!(resp.status() == 403, "{bad}: {}", resp.status());
    }
    // No CORS: a browser preflight gets no Access-Control-Allow-Origin.
    let resp = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/v1/campaigns"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "GET")
        .send()
        .await?;
    anyhow::ensure!(resp.headers().get("access-control-allow-origin").is_none());
    Ok(())
}

pub async fn openapi_lists_every_route(app: TestApp) -> anyhow::Result<()> {
    let doc: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await?
        .json()
        .await?;
    anyhow::ensure!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    for spec in ROUTES {
        let method = spec.method.as_str().to_lowercase();
        let op = &doc["paths"][spec.path][&method];
        anyhow::ensure!(op.is_object(), "{spec:?} missing from /openapi.json");
        anyhow::ensure!(
            op["responses"][spec.ok.to_string()].is_object(),
            "{spec:?} lacks its {} response",
            spec.ok
        );
    }
    let ops: usize = doc["paths"]
        .as_object()
        .map(|p| {
            p.values()
                .map(|i| i.as_object().map(|o| o.len()).unwrap_or(0))
                .sum()
        })
        .unwrap_or(0);
    anyhow::ensure!(
        ops == ROUTES.len(),
        "document has {ops} operations, table {}",
        ROUTES.len()
    );
    Ok(())
}

pub async fn rate_limit_answers_429_with_retry_after(app: TestApp) -> anyhow::Result<()> {
    let w = app.world("rate").await?;
    let state = ApiState::new(app.store.clone(), app.queue.clone())
        .with_generator(Arc::new(FakeGenerator))
        .with_rate_limit(RateLimit {
            per_second: 0.5,
            burst: 3.0,
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(pressroom_api::serve(
        listener,
        state,
        stop.clone().cancelled_owned(),
    ));
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..5 {
        let resp = app
            .http
            .get(format!("{base}/v1/runs"))
            .bearer_auth(w.key(Role::Viewer))
            .send()
            .await?;
        statuses.push(resp.status().as_u16());
        if resp.status() == 429 {
            retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
        }
    }
    // Another key has its own bucket.
    let other = app
        .http
        .get(format!("{base}/v1/runs"))
        .bearer_auth(w.key(Role::Owner))
        .send()
        .await?;
    stop.cancel();
    let _ = server.await;
    anyhow::ensure!(statuses == [200, 200, 200, 429, 429], "{statuses:?}");
    anyhow::ensure!(
        retry_after
            .as_deref()
            .and_then(|s| s.parse::<u64>().ok())
            .is_some_and(|s| s >= 1),
        "{retry_after:?}"
    );
    anyhow::ensure!(other.status() == 200);
    Ok(())
}

/// Sends `method path` with an optional raw JSON body; answers (status, problem or body).
async fn call(
    app: &TestApp,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<&str>,
) -> anyhow::Result<(u16, Value)> {
    let mut req = app.http.request(method, app.url(path)).bearer_auth(key);
    if let Some(body) = body {
        req = req
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let text = resp.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

/// A 400 `invalid_request` whose detail names `name` (starts with `{prefix}`).
fn ensure_400(what: &str, status: u16, problem: &Value, prefix: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        status == 400
            && problem["code"] == "invalid_request"
            && problem["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with(prefix)),
        "{what}: wanted 400 with a detail starting {prefix:?}, got {status} {problem}"
    );
    Ok(())
}

/// What the OpenAPI document says is invalid, the API refuses with a 400 naming the parameter
/// or field, instead of correcting it (a clamped `limit`), ignoring it (a `null` for a field
/// that is not nullable) or answering 200 (an empty campaign body).
pub async fn out_of_range_and_malformed_inputs_answer_400(app: TestApp) -> anyhow::Result<()> {
    let w = app.world("strict").await?;
    let viewer = w.key(Role::Viewer);
    let admin = w.key(Role::Admin);
    let editor = w.key(Role::Editor);
    // `limit` outside 1..=200, on plain pages and beside flattened filters.
    for list in [
        "/v1/campaigns",
        "/v1/runs",
        "/v1/posts?state=pending",
        "/v1/assets",
    ] {
        let sep = if list.contains('?') { '&' } else { '?' };
        for bad in ["0", "201", "-1", "1.5", "many", "", "%2B5"] {
            let path = format!("{list}{sep}limit={bad}");
            let (status, problem) = call(&app, viewer, reqwest::Method::GET, &path, None).await?;
            ensure_400(&path, status, &problem, "limit: ")?;
            anyhow::ensure!(
                problem["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("1 to 200")),
                "{path}: the reason names the range: {problem}"
            );
        }
        for good in ["1", "200"] {
            let path = format!("{list}{sep}limit={good}");
            let (status, body) = call(&app, viewer, reqwest::Method::GET, &path, None).await?;
            anyhow::ensure!(status == 200, "{path}: {status} {body}");
        }
    }
    for path in [
        "/v1/audit?limit=0",
        "/v1/keys?limit=500",
        "/v1/hooks?limit=0",
    ] {
        let (status, problem) = call(&app, admin, reqwest::Method::GET, path, None).await?;
        ensure_400(path, status, &problem, "limit: ")?;
    }
    // A cursor this API did not hand out, a repeated parameter, an out-of-range day count,
    // an unknown filter value.
    let cursor = "/v1/runs?cursor=bm90LWEtY3Vyc29y";
    for (path, prefix) in [
        ("/v1/campaigns?cursor=%25%25%25", "cursor: "),
        (cursor, "cursor: "),
        (
            "/v1/campaigns?limit=1&limit=2",
            "query: duplicate field `limit`",
        ),
        ("/v1/usage?days=0", "days: "),
        ("/v1/usage?days=ten", "query: days: "),
        ("/v1/runs?state=pending", "state: "),
    ] {
        let (status, problem) = call(&app, viewer, reqwest::Method::GET, path, None).await?;
        ensure_400(path, status, &problem, prefix)?;
    }
    // Bodies: `null` where the document does not allow it names the field; anything but a
    // JSON object is refused (serde would read an array as the fields in order).
    let trigger = format!("/v1/campaigns/{}/trigger", w.campaign_id);
    let preview = format!("/v1/campaigns/{}/preview", w.campaign_id);
    for (path, body, prefix) in [
        (&trigger, r#"{"variables": null}"#, "body: variables: "),
        (&trigger, r#"[{}]"#, "body: must be a JSON object"),
        (&preview, r#"{"variables": null}"#, "body: variables: "),
        (&preview, r#"{"fire_at": "yesterday"}"#, "body: fire_at: "),
        (&preview, "null", "body: must be a JSON object"),
    ] {
        let (status, problem) = call(&app, editor, reqwest::Method::POST, path, Some(body)).await?;
        ensure_400(&format!("{path} {body}"), status, &problem, prefix)?;
    }
    for (path, body, prefix) in [
        (
            "/v1/hooks",
            r#"{"campaign_id": "x", "adapter": "ghost", "mapping": null}"#,
            "body: mapping: ",
        ),
        (
            "/v1/webhook-endpoints",
            r#"{"url": "https://example.com/h", "description": null}"#,
            "body: description: ",
        ),
        ("/v1/keys", r#"["viewer"]"#, "body: must be a JSON object"),
    ] {
        let (status, problem) = call(&app, admin, reqwest::Method::POST, path, Some(body)).await?;
        ensure_400(&format!("{path} {body}"), status, &problem, prefix)?;
    }
    // Optional fields documented as nullable take null as absent.
    let (status, created) = call(
        &app,
        admin,
        reqwest::Method::POST,
        "/v1/keys",
        Some(r#"{"role": "viewer", "name": null}"#),
    )
    .await?;
    anyhow::ensure!(status == 201 && created["name"] == "", "{status} {created}");
    let (status, body) = call(
        &app,
        editor,
        reqwest::Method::POST,
        &preview,
        Some(r#"{"fire_at": null}"#),
    )
    .await?;
    anyhow::ensure!(status == 200, "preview fire_at null: {status} {body}");
    // The campaign body is required: empty is a 400, not "valid: false" with a 200.
    for content_type in [None, Some("application/toml"), Some("application/json")] {
        let mut req = app
            .http
            .post(app.url("/v1/campaigns/validate"))
            .bearer_auth(editor);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let problem: Value = resp.json().await?;
        ensure_400(
            &format!("empty validate ({content_type:?})"),
            status,
            &problem,
            "body: ",
        )?;
    }
    Ok(())
}

on_both_backends!(
    campaigns_runs_posts,
    post_retry_and_cancel,
    usage_and_account_disconnect,
    oauth_connect_and_callback,
    gdpr_erase_removes_personal_data_and_keeps_the_record,
    keys_workspaces_images_ops,
    openapi_lists_every_route,
    rate_limit_answers_429_with_retry_after,
    out_of_range_and_malformed_inputs_answer_400
);
