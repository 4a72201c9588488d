//! Idempotency-Key: same key + same body → the saved response (one run); a different body →
//! 422; while the first request is in flight → 409.

use pressroom_api::Role;
use pressroom_store::repo::idempotency;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::TestApp;

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
    // The request hash the API computes: method, concrete path, body.
    let mut h = Sha256::new();
    h.update(b"POST ");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(body);
    let hash = hex::encode(h.finalize());
    let now = app.store.now_ms().await?;
    let claim = idempotency::claim(&app.store, &w.ws_id, "busy", &hash, now, 300_000).await?;
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

on_both_backends!(
    same_key_same_body_replays_and_different_body_is_422,
    in_flight_key_is_409
);
