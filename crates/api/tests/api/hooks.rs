//! Webhooks in: real Ghost, WordPress (WP Webhooks) and Strapi payloads fire runs with their
//! fields as variables; forged, stale, future-dated, replayed, altered, unsigned and oversized
//! deliveries are rejected with nothing enqueued.

use pressroom_api::Role;
use pressroom_crypto::webhook::WebhookSecret;
use pressroom_store::repo::{hooks, runs};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::harness::{TestApp, World};

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub(crate) async fn deliver(
    app: &TestApp,
    hook_id: &str,
    secret: &str,
    id: &str,
    ts: i64,
    signed_body: &[u8],
    sent_body: &[u8],
) -> anyhow::Result<(u16, Value)> {
    let s = WebhookSecret::parse(&SecretString::from(secret.to_string()))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let sig = s
        .sign(id, ts, signed_body)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let resp = app
        .http
        .post(app.url(&format!("/v1/hooks/{hook_id}")))
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig)
        .header("content-type", "application/json")
        .body(sent_body.to_vec())
        .send()
        .await?;
    let status = resp.status().as_u16();
    let text = resp.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

/// Creates a hook through the API and returns (id, secret).
async fn create_hook(app: &TestApp, w: &World, adapter: &str) -> anyhow::Result<(String, String)> {
    let resp = app
        .http
        .post(app.url("/v1/hooks"))
        .bearer_auth(w.key(Role::Admin))
        .json(&json!({ "campaign_id": w.campaign_id, "adapter": adapter }))
        .send()
        .await?;
    let status = resp.status();
    let body: Value = resp.json().await?;
    anyhow::ensure!(status == 201, "create hook: {status} {body}");
    let id = body["id"].as_str().unwrap_or_default().to_string();
    let secret = body["secret"].as_str().unwrap_or_default().to_string();
    anyhow::ensure!(secret.starts_with("whsec_"), "{body}");
    Ok((id, secret))
}

async fn run_variables(app: &TestApp, w: &World, run_id: &str) -> anyhow::Result<Value> {
    let run = runs::get(app.store.conn(), &w.ws_id, &run_id.into()).await?;
    anyhow::ensure!(run.trigger == "webhook", "trigger {}", run.trigger);
    Ok(serde_json::from_str(&run.variables)?)
}

fn ghost_payload() -> Value {
    json!({
      "post": {
        "current": {
          "id": "65f1c0b2e4b0a1a2b3c4d5e6",
          "uuid": "3f1e9a4c-8a47-4b2b-9e36-1c3a1b2d4e5f",
          "title": "Spring collection is here",
          "slug": "spring-collection",
          "html": "<p>Fresh linen for the season.</p>",
          "status": "published",
          "visibility": "public",
          "url": "https://blog.example.com/spring-collection/",
          "excerpt": "Fresh linen for the season.",
          "custom_excerpt": null,
          "feature_image": "https://blog.example.com/content/images/2026/03/spring.jpg",
          "published_at": "2026-03-20T09:00:00.000Z",
          "tags": [
            {"id": "1", "name": "Linen", "slug": "linen"},
            {"id": "2", "name": "Spring", "slug": "spring"}
          ],
          "primary_tag": {"id": "1", "name": "Linen", "slug": "linen"},
          "authors": [{"id": "1", "name": "Ada Writer", "slug": "ada"}],
          "primary_author": {"id": "1", "name": "Ada Writer", "slug": "ada"}
        },
        "previous": {"status": "draft", "published_at": null, "updated_at": "2026-03-20T08:59:00.000Z"}
      }
    })
}

fn wordpress_payload() -> Value {
    json!({
      "post_id": 1234,
      "post": {
        "ID": 1234,
        "post_author": "1",
        "post_date": "2026-03-20 10:00:00",
        "post_date_gmt": "2026-03-20 09:00:00",
        "post_content": "<!-- wp:paragraph --><p>Our tote is back.</p><!-- /wp:paragraph -->",
        "post_title": "The Linen Tote is back",
        "post_excerpt": "Restocked in three colours.",
        "post_status": "publish",
        "comment_status": "open",
        "post_name": "linen-tote-back",
        "post_modified": "2026-03-20 10:00:00",
        "post_parent": 0,
        "guid": "https://shop.example.com/?p=1234",
        "post_type": "post",
        "filter": "raw"
      },
      "post_meta": {"_edit_lock": ["1710925200:1"], "_thumbnail_id": ["88"]},
      "post_thumbnail": "https://shop.example.com/wp-content/uploads/2026/03/tote.jpg",
      "post_permalink": "https://shop.example.com/2026/03/20/linen-tote-back/",
      "taxonomies": {"category": {"news": {"term_id": 3, "name": "News", "slug": "news"}}}
    })
}

fn strapi_payload(event: &str) -> Value {
    json!({
      "event": event,
      "createdAt": "2026-03-20T09:00:00.000Z",
      "model": "article",
      "uid": "api::article.article",
      "entry": {
        "id": 17,
        "documentId": "k9x2m1q8w7e6r5t4y3u2i1o0",
        "title": "Ten ways to style linen",
        "slug": "ten-ways-linen",
        "description": "A lookbook.",
        "createdAt": "2026-03-19T12:00:00.000Z",
        "updatedAt": "2026-03-20T09:00:00.000Z",
        "publishedAt": "2026-03-20T09:00:00.000Z",
        "locale": "en",
        "cover": {"id": 5, "url": "/uploads/cover.jpg"}
      }
    })
}

pub async fn cms_payloads_fire_runs_with_variables(app: TestApp) -> anyhow::Result<()> {
    let w = app.world("cms").await?;
    let ts = now_s();
    // Ghost post.published
    let (hook, secret) = create_hook(&app, &w, "ghost").await?;
    let body = serde_json::to_vec(&ghost_payload())?;
    let (status, resp) = deliver(&app, &hook, &secret, "msg_ghost_1", ts, &body, &body).await?;
    anyhow::ensure!(
        status == 202 && resp["status"] == "triggered",
        "ghost: {status} {resp}"
    );
    let vars = run_variables(&app, &w, resp["run_id"].as_str().unwrap_or_default()).await?;
    anyhow::ensure!(vars["title"] == "Spring collection is here", "{vars}");
    anyhow::ensure!(
        vars["url"] == "https://blog.example.com/spring-collection/",
        "{vars}"
    );
    anyhow::ensure!(vars["excerpt"] == "Fresh linen for the season.", "{vars}");
    anyhow::ensure!(
        vars["tags"] == "Linen, Spring" && vars["author"] == "Ada Writer",
        "{vars}"
    );
    // WordPress (WP Webhooks post publish)
    let (hook, secret) = create_hook(&app, &w, "wordpress").await?;
    let body = serde_json::to_vec(&wordpress_payload())?;
    let (status, resp) = deliver(&app, &hook, &secret, "msg_wp_1", ts, &body, &body).await?;
    anyhow::ensure!(
        status == 202 && resp["status"] == "triggered",
        "wordpress: {status} {resp}"
    );
    let vars = run_variables(&app, &w, resp["run_id"].as_str().unwrap_or_default()).await?;
    anyhow::ensure!(vars["title"] == "The Linen Tote is back", "{vars}");
    anyhow::ensure!(
        vars["url"] == "https://shop.example.com/2026/03/20/linen-tote-back/",
        "{vars}"
    );
    anyhow::ensure!(vars["post_id"] == "1234", "{vars}");
    // Strapi entry.publish, and a non-publish event that is acknowledged but ignored.
    let (hook, secret) = create_hook(&app, &w, "strapi").await?;
    let body = serde_json::to_vec(&strapi_payload("entry.publish"))?;
    let (status, resp) = deliver(&app, &hook, &secret, "msg_strapi_1", ts, &body, &body).await?;
    anyhow::ensure!(
        status == 202 && resp["status"] == "triggered",
        "strapi: {status} {resp}"
    );
    let vars = run_variables(&app, &w, resp["run_id"].as_str().unwrap_or_default()).await?;
    anyhow::ensure!(
        vars["title"] == "Ten ways to style linen" && vars["entry_id"] == "17",
        "{vars}"
    );
    anyhow::ensure!(
        vars.get("cover").is_none(),
        "objects are not variables: {vars}"
    );
    let runs_before = app.run_count().await?;
    let body = serde_json::to_vec(&strapi_payload("entry.update"))?;
    let (status, resp) = deliver(&app, &hook, &secret, "msg_strapi_2", ts, &body, &body).await?;
    anyhow::ensure!(
        status == 202 && resp["status"] == "ignored",
        "strapi update: {status} {resp}"
    );
    anyhow::ensure!(
        app.run_count().await? == runs_before,
        "an ignored event fired a run"
    );
    // Generic mapping (the fixture hook maps /product).
    let body = br#"{"product": "Canvas Bag", "other": 1}"#;
    let (status, resp) = deliver(
        &app,
        &w.hook_id,
        &w.hook_secret,
        "msg_gen_1",
        ts,
        body,
        body,
    )
    .await?;
    anyhow::ensure!(status == 202, "generic: {status} {resp}");
    let vars = run_variables(&app, &w, resp["run_id"].as_str().unwrap_or_default()).await?;
    anyhow::ensure!(vars == json!({"product": "Canvas Bag"}), "{vars}");
    Ok(())
}

pub async fn bad_deliveries_are_rejected_and_enqueue_nothing(app: TestApp) -> anyhow::Result<()> {
    let w = app.world("evil").await?;
    let body = br#"{"product": "Canvas Bag"}"#.to_vec();
    let ts = now_s();
    let wrong_secret = WebhookSecret::generate().export();
    let wrong_secret = secrecy::ExposeSecret::expose_secret(&wrong_secret).to_string();
    let jobs0 = app.job_count().await?;
    let runs0 = app.run_count().await?;
    let altered = br#"{"product": "Free Bag"}"#.to_vec();
    // (what, secret, timestamp, signed body, sent body)
    type Case<'a> = (&'a str, &'a str, i64, Vec<u8>, Vec<u8>);
    let cases: Vec<Case> = vec![
        (
            "forged (wrong secret)",
            wrong_secret.as_str(),
            ts,
            body.clone(),
            body.clone(),
        ),
        (
            "stale (10 min old)",
            w.hook_secret.as_str(),
            ts - 600,
            body.clone(),
            body.clone(),
        ),
        (
            "future-dated (10 min ahead)",
            w.hook_secret.as_str(),
            ts + 600,
            body.clone(),
            body.clone(),
        ),
        (
            "altered body",
            w.hook_secret.as_str(),
            ts,
            body.clone(),
            altered,
        ),
    ];
    for (i, (what, secret, at, signed, sent)) in cases.into_iter().enumerate() {
        let (status, resp) = deliver(
            &app,
            &w.hook_id,
            secret,
            &format!("msg_bad_{i}"),
            at,
            &signed,
            &sent,
        )
        .await?;
        anyhow::ensure!(
            status == 401 && resp["code"] == "webhook_rejected",
            "{what}: {status} {resp}"
        );
    }
    // Unsigned.
    let resp = app
        .http
        .post(app.url(&format!("/v1/hooks/{}", w.hook_id)))
        .body(body.clone())
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 401, "unsigned: {}", resp.status());
    // Oversized (256 KiB limit), even when signed.
    let big = format!(r#"{{"product": "{}"}}"#, "x".repeat(300 * 1024)).into_bytes();
    let sig = WebhookSecret::parse(&SecretString::from(w.hook_secret.clone()))
        .and_then(|s| s.sign("msg_big", ts, &big))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let ts_text = ts.to_string();
    let (status, resp) = app
        .post_headers_only(
            &format!("/v1/hooks/{}", w.hook_id),
            &[
                ("webhook-id", "msg_big"),
                ("webhook-timestamp", &ts_text),
                ("webhook-signature", &sig),
                ("content-type", "application/json"),
            ],
            big.len(),
        )
        .await?;
    anyhow::ensure!(
        status == 413 && resp["code"] == "payload_too_large",
        "oversized: {status} {resp}"
    );
    // Unknown hook.
    let (status, _) = deliver(
        &app,
        "no-such-hook",
        &w.hook_secret,
        "msg_x",
        ts,
        &body,
        &body,
    )
    .await?;
    anyhow::ensure!(status == 404, "unknown hook: {status}");
    anyhow::ensure!(
        app.job_count().await? == jobs0,
        "a rejected delivery enqueued a job"
    );
    anyhow::ensure!(
        app.run_count().await? == runs0,
        "a rejected delivery created a run"
    );
    // A good delivery, then the same one replayed: one run.
    let (status, resp) = deliver(
        &app,
        &w.hook_id,
        &w.hook_secret,
        "msg_once",
        ts,
        &body,
        &body,
    )
    .await?;
    anyhow::ensure!(
        status == 202 && resp["status"] == "triggered",
        "good: {status} {resp}"
    );
    let jobs1 = app.job_count().await?;
    let (status, resp) = deliver(
        &app,
        &w.hook_id,
        &w.hook_secret,
        "msg_once",
        ts,
        &body,
        &body,
    )
    .await?;
    anyhow::ensure!(
        status == 200 && resp["status"] == "duplicate",
        "replay: {status} {resp}"
    );
    anyhow::ensure!(app.job_count().await? == jobs1, "a replay enqueued a job");
    anyhow::ensure!(
        app.run_count().await? == runs0 + 1,
        "a replay created a run"
    );
    anyhow::ensure!(hooks::delivery_count(&app.store, &w.hook_id).await? == 1);
    Ok(())
}

pub async fn any_of_several_secrets_verifies(app: TestApp) -> anyhow::Result<()> {
    let w = app.world("rot").await?;
    let old = w.hook_secret.clone();
    let new = WebhookSecret::generate().export();
    let new = secrecy::ExposeSecret::expose_secret(&new).to_string();
    let now = app.store.now_ms().await?;
    let hook = hooks::insert(
        &app.store,
        app.store.conn(),
        now,
        hooks::NewHook {
            workspace_id: &w.ws_id,
            campaign_id: &w.campaign_id,
            secrets: &[old.clone(), new.clone()],
            adapter: "generic",
            mapping: &json!({ "product": "/product" }),
        },
        &app.sealer(),
    )
    .await?;
    let body = br#"{"product": "Mug"}"#;
    for (i, secret) in [old, new].iter().enumerate() {
        let (status, resp) = deliver(
            &app,
            &hook.id,
            secret,
            &format!("rot_{i}"),
            now_s(),
            body,
            body,
        )
        .await?;
        anyhow::ensure!(status == 202, "secret {i}: {status} {resp}");
    }
    Ok(())
}

/// Rotation through the API: a new secret verifies beside the old one until the previous ones
/// are retired; then only the new one does. Another workspace's hook is not found.
pub async fn secrets_rotate_through_the_api(app: TestApp) -> anyhow::Result<()> {
    let w = app.world("rotapi").await?;
    let other = app.world("rotapi-other").await?;
    let now = app.store.now_ms().await?;
    let old = w.hook_secret.clone();
    let hook = hooks::insert(
        &app.store,
        app.store.conn(),
        now,
        hooks::NewHook {
            workspace_id: &w.ws_id,
            campaign_id: &w.campaign_id,
            secrets: std::slice::from_ref(&old),
            adapter: "generic",
            mapping: &json!({ "product": "/product" }),
        },
        &app.sealer(),
    )
    .await?;
    let body = br#"{"product": "Mug"}"#;
    let rotate = app.url(&format!("/v1/hooks/{}/secrets", hook.id));
    let resp = app
        .http
        .post(&rotate)
        .bearer_auth(other.key(Role::Admin))
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 404, "other workspace: {}", resp.status());
    let resp = app
        .http
        .post(&rotate)
        .bearer_auth(w.key(Role::Admin))
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 201, "add: {}", resp.status());
    let added: Value = resp.json().await?;
    let new = added["secret"].as_str().unwrap_or_default().to_string();
    anyhow::ensure!(
        new.starts_with("whsec_") && added["secrets_active"] == 2,
        "{added}"
    );
    for (i, secret) in [&old, &new].iter().enumerate() {
        let (status, resp) = deliver(
            &app,
            &hook.id,
            secret,
            &format!("rotapi_{i}"),
            now_s(),
            body,
            body,
        )
        .await?;
        anyhow::ensure!(
            status == 202,
            "during rotation, secret {i}: {status} {resp}"
        );
    }
    let resp = app
        .http
        .post(format!("{rotate}/retire"))
        .bearer_auth(w.key(Role::Admin))
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 200, "retire: {}", resp.status());
    let retired: Value = resp.json().await?;
    anyhow::ensure!(
        retired["retired"] == 1 && retired["secrets_active"] == 1,
        "{retired}"
    );
    let (status, _) = deliver(&app, &hook.id, &old, "rotapi_old", now_s(), body, body).await?;
    anyhow::ensure!(status == 401, "retired secret: {status}");
    let (status, resp) = deliver(&app, &hook.id, &new, "rotapi_new", now_s(), body, body).await?;
    anyhow::ensure!(status == 202, "new secret: {status} {resp}");
    // Secrets never appear in the audit log.
    let audit = app
        .http
        .get(app.url("/v1/audit"))
        .bearer_auth(w.key(Role::Admin))
        .send()
        .await?
        .text()
        .await?;
    anyhow::ensure!(
        audit.contains("hook.secret_added") && !audit.contains(&new),
        "{audit}"
    );
    Ok(())
}

on_both_backends!(
    cms_payloads_fire_runs_with_variables,
    bad_deliveries_are_rejected_and_enqueue_nothing,
    any_of_several_secrets_verifies,
    secrets_rotate_through_the_api
);
