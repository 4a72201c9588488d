//! Idempotency-Key: same key + same body → the saved response (one run); a different body →
//! 422; while the first request is in flight → 409. Records belong to the API key; a response
//! that carried a secret is never stored (a replay is 409); an expired record is not honoured.

use pressroom_api::Role;
use pressroom_store::repo::idempotency;
use pressroom_store::testing::sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::{TestApp, World};

/// The request hash the API computes: route, role, method, concrete path, body.
fn request_hash(route: &str, role: &str, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    for part in [route, role, "POST", path] {
        h.update(part.as_bytes());
        h.update(b"\n");
    }
    h.update(body);
    hex::encode(h.finalize())
}

fn owner(w: &World, role: Role) -> idempotency::Owner<'_> {
    idempotency::Owner {
        api_key_id: w.key_id(role),
        workspace_id: &w.ws_id,
    }
}

fn clock(now_ms: i64) -> idempotency::ClaimClock {
    idempotency::ClaimClock {
        now_ms,
        stale_ms: 300_000,
        retention_ms: 24 * 60 * 60 * 1000,
    }
}

pub async fn same_key_same_body_replays_and_different_body_is_422(
    app: TestApp,
) -> anyhow::Result<()> {
    let w = app.world("idem").await?;
    let path = format!("/v1/campaigns/{}/trigger", w.campaign_id);
    let send = |body: Value, key: &'static str| {
        app.http
            .post(app.url(&path))
            .bearer_auth(w.key(Role::Editor))
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let runs0 = app.run_count().await?;
    let first = send(json!({"variables": {"product": "Mug"}}), "k-1").await?;
    anyhow::ensure!(first.status() == 202, "first: {}", first.status());
    anyhow::ensure!(
        first
            .headers()
            .get("idempotent-replayed")
            .is_some_and(|v| v == "false")
    );
    let first: Value = first.json().await?;
    let again = send(json!({"variables": {"product": "Mug"}}), "k-1").await?;
    anyhow::ensure!(again.status() == 202, "replay: {}", again.status());
    anyhow::ensure!(
        again
            .headers()
            .get("idempotent-replayed")
            .is_some_and(|v| v == "true")
    );
    let again: Value = again.json().await?;
    anyhow::ensure!(first == again, "{first} vs {again}");
    anyhow::ensure!(
        app.run_count().await? == runs0 + 1,
        "the replay fired again"
    );
    let other = send(json!({"variables": {"product": "Bowl"}}), "k-1").await?;
    anyhow::ensure!(other.status() == 422, "different body: {}", other.status());
    let body: Value = other.json().await?;
    anyhow::ensure!(body["code"] == "idempotency_key_reused", "{body}");
    // Another key fires another run.
    let second = send(json!({"variables": {"product": "Mug"}}), "k-2").await?;
    anyhow::ensure!(second.status() == 202);
    anyhow::ensure!(app.run_count().await? == runs0 + 2);
    Ok(())
}

pub async fn in_flight_key_is_409(app: TestApp) -> anyhow::Result<()> {
    let w = app.world("idem2").await?;
    let path = format!("/v1/campaigns/{}/trigger", w.campaign_id);
    let body = br#"{"variables":{}}"#;
    let hash = request_hash("/v1/campaigns/{id}/trigger", "editor", &path, body);
    let now = app.store.now_ms().await?;
    let claim = idempotency::claim(
        &app.store,
        owner(&w, Role::Editor),
        "busy",
        &hash,
        clock(now),
    )
    .await?;
    anyhow::ensure!(claim == idempotency::Claim::Claimed);
    let resp = app
        .http
        .post(app.url(&path))
        .bearer_auth(w.key(Role::Editor))
        .header("idempotency-key", "busy")
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 409, "in flight: {}", resp.status());
    let problem: Value = resp.json().await?;
    anyhow::ensure!(problem["code"] == "idempotency_key_in_flight", "{problem}");
    // Keys are per workspace: the same key in another workspace is independent.
    let other = app.world("idem3").await?;
    let resp = app
        .http
        .post(app.url(&format!("/v1/campaigns/{}/trigger", other.campaign_id)))
        .bearer_auth(other.key(Role::Editor))
        .header("idempotency-key", "busy")
        .json(&json!({}))
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 202, "other workspace: {}", resp.status());
    Ok(())
}

/// The audit's replay: an Admin sending the Owner's Idempotency-Key to `POST /v1/keys` got
/// the Owner's new key back. Now the Admin's request is its own, and the Owner's replay is a
/// 409 that says why: the key was shown once and never stored.
pub async fn a_minted_key_is_never_replayed(app: TestApp) -> anyhow::Result<()> {
    let w = app.world("idem-keys").await?;
    let mint = |role: Role| {
        app.http
            .post(app.url("/v1/keys"))
            .bearer_auth(w.key(role))
            .header("idempotency-key", "mint-1")
            .json(&json!({ "role": "viewer", "name": "ci" }))
            .send()
    };
    let first = mint(Role::Owner).await?;
    anyhow::ensure!(first.status() == 201, "owner mint: {}", first.status());
    let first: Value = first.json().await?;
    let owners_key = first["key"].as_str().unwrap_or_default().to_string();
    anyhow::ensure!(owners_key.starts_with("prk_"), "{first}");
    let admin = mint(Role::Admin).await?;
    anyhow::ensure!(admin.status() == 201, "admin mint: {}", admin.status());
    anyhow::ensure!(
        admin
            .headers()
            .get("idempotent-replayed")
            .is_some_and(|v| v == "false"),
        "the admin got a replay"
    );
    let admin: Value = admin.json().await?;
    anyhow::ensure!(
        admin["key"] != first["key"] && admin["id"] != first["id"],
        "the admin received the owner's key: {admin}"
    );
    let replay = mint(Role::Owner).await?;
    anyhow::ensure!(replay.status() == 409, "owner replay: {}", replay.status());
    anyhow::ensure!(
        replay
            .headers()
            .get("content-type")
            .is_some_and(|v| v == "application/problem+json"),
        "{:?}",
        replay.headers()
    );
    let problem: Value = replay.json().await?;
    anyhow::ensure!(
        problem["code"] == "idempotency_replay_refused"
            && problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("secret")),
        "{problem}"
    );
    // No stored response carries a key.
    let stored = app
        .store
        .conn()
        .query_all_raw(Statement::from_string(
            app.store.conn().get_database_backend(),
            "SELECT response_body FROM idempotency_keys WHERE response_body IS NOT NULL",
        ))
        .await?;
    for row in stored {
        let body: String = row.try_get("", "response_body")?;
        anyhow::ensure!(!body.contains("prk_"), "a key was stored: {body}");
    }
    Ok(())
}

/// A record older than the retention (24 h) is not honoured: the request runs again.
pub async fn an_expired_record_is_not_replayed(app: TestApp) -> anyhow::Result<()> {
    let w = app.world("idem-old").await?;
    let path = format!("/v1/campaigns/{}/trigger", w.campaign_id);
    let body = br#"{"variables":{}}"#;
    let hash = request_hash("/v1/campaigns/{id}/trigger", "editor", &path, body);
    let now = app.store.now_ms().await?;
    let long_ago = now - 25 * 60 * 60 * 1000;
    let claim = idempotency::claim(
        &app.store,
        owner(&w, Role::Editor),
        "old",
        &hash,
        clock(long_ago),
    )
    .await?;
    anyhow::ensure!(claim == idempotency::Claim::Claimed);
    idempotency::finish(
        &app.store,
        w.key_id(Role::Editor),
        "old",
        202,
        Some(r#"{"stale":true}"#),
    )
    .await?;
    let runs0 = app.run_count().await?;
    let resp = app
        .http
        .post(app.url(&path))
        .bearer_auth(w.key(Role::Editor))
        .header("idempotency-key", "old")
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 202, "expired: {}", resp.status());
    anyhow::ensure!(
        resp.headers()
            .get("idempotent-replayed")
            .is_some_and(|v| v == "false"),
        "an expired record was replayed"
    );
    let answer: Value = resp.json().await?;
    anyhow::ensure!(answer.get("stale").is_none(), "{answer}");
    anyhow::ensure!(
        app.run_count().await? == runs0 + 1,
        "the request did not run"
    );
    Ok(())
}

on_both_backends!(
    same_key_same_body_replays_and_different_body_is_422,
    in_flight_key_is_409,
    a_minted_key_is_never_replayed,
    an_expired_record_is_not_replayed,
);
