//! Authentication: every way of not presenting an active key answers the same 401
//! problem+json; the workspace comes from the key.

use pressroom_api::Role;
use serde_json::Value;

use crate::harness::TestApp;

async fn problem(resp: reqwest::Response) -> anyhow::Result<(u16, Value)> {
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    anyhow::ensure!(ct == "application/problem+json", "content-type {ct:?}");
    Ok((status, resp.json().await?))
}

pub async fn missing_bad_and_revoked_keys_are_401(app: TestApp) -> anyhow::Result<()> {
    let w = app.world("auth").await?;
    let url = app.url("/v1/campaigns");
    let fake = format!("prk_{}", "A".repeat(43));
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no header", None),
        ("not bearer", Some(format!("Basic {}", w.key(Role::Owner)))),
        ("garbage", Some("Bearer nope".into())),
        ("well-formed unknown key", Some(format!("Bearer {fake}"))),
        (
            "key with one character changed",
            Some(format!(
                "Bearer {}x",
                &w.key(Role::Owner)[..w.key(Role::Owner).len() - 1]
            )),
        ),
    ];
    for (what, header) in cases {
        let mut req = app.http.get(&url);
        if let Some(h) = header {
            req = req.header("authorization", h);
        }
        let (status, body) = problem(req.send().await?).await?;
        anyhow::ensure!(status == 401, "{what}: {status}");
        anyhow::ensure!(body["code"] == "unauthenticated", "{what}: {body}");
        anyhow::ensure!(
            body["status"] == 401 && body["title"].is_string(),
            "{what}: {body}"
        );
    }
    // A working key, then revoked by an admin: 401 from then on.
    let ok = app
        .http
        .get(&url)
        .bearer_auth(w.key(Role::Viewer))
        .send()
        .await?;
    anyhow::ensure!(ok.status() == 200, "viewer key works: {}", ok.status());
    let revoke = app
        .http
        .delete(app.url(&format!("/v1/keys/{}", w.key_id(Role::Viewer))))
        .bearer_auth(w.key(Role::Admin))
        .send()
        .await?;
    anyhow::ensure!(revoke.status() == 204, "revoke: {}", revoke.status());
    let (status, body) = problem(
        app.http
            .get(&url)
            .bearer_auth(w.key(Role::Viewer))
            .send()
            .await?,
    )
    .await?;
    anyhow::ensure!(
        status == 401 && body["code"] == "unauthenticated",
        "revoked: {status} {body}"
    );
    Ok(())
}

pub async fn workspace_comes_from_the_key(app: TestApp) -> anyhow::Result<()> {
    let a = app.world("wa").await?;
    let b = app.world("wb").await?;
    let me: Value = app
        .http
        .get(app.url("/v1/workspaces/current"))
        .bearer_auth(a.key(Role::Viewer))
        .send()
        .await?
        .json()
        .await?;
    anyhow::ensure!(me["id"] == a.ws_id.as_str(), "{me}");
    // Lists show only the key's workspace.
    let runs: Value = app
        .http
        .get(app.url("/v1/runs"))
        .bearer_auth(a.key(Role::Viewer))
        .send()
        .await?
        .json()
        .await?;
    let ids: Vec<&str> = runs["data"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["id"].as_str()).collect())
        .unwrap_or_default();
    anyhow::ensure!(ids == vec![a.run_id.as_str()], "{runs}");
    // Another workspace's ids are 404, like ids that do not exist.
    for path in [
        format!("/v1/campaigns/{}", b.campaign_id),
        format!("/v1/runs/{}", b.run_id),
        format!("/v1/posts/{}", b.post_id),
        "/v1/runs/does-not-exist".to_string(),
    ] {
        let resp = app
            .http
            .get(app.url(&path))
            .bearer_auth(a.key(Role::Owner))
            .send()
            .await?;
        let (status, body) = problem(resp).await?;
        anyhow::ensure!(
            status == 404 && body["code"] == "not_found",
            "{path}: {status} {body}"
        );
    }
    // A hook may only point at a campaign of the key's workspace.
    let resp = app
        .http
        .post(app.url("/v1/hooks"))
        .bearer_auth(a.key(Role::Admin))
        .json(&serde_json::json!({ "campaign_id": b.campaign_id, "adapter": "ghost" }))
        .send()
        .await?;
    anyhow::ensure!(
        resp.status() == 404,
        "hook on another workspace's campaign: {}",
        resp.status()
    );
    // An admin cannot mint an owner key.
    let resp = app
        .http
        .post(app.url("/v1/keys"))
        .bearer_auth(a.key(Role::Admin))
        .json(&serde_json::json!({ "role": "owner" }))
        .send()
        .await?;
    anyhow::ensure!(
        resp.status() == 403,
        "admin minting owner: {}",
        resp.status()
    );
    Ok(())
}

on_both_backends!(
    missing_bad_and_revoked_keys_are_401,
    workspace_comes_from_the_key,
    keys_above_the_callers_role_cannot_be_revoked,
);

/// Issue 11: an Admin could revoke the Owner's key. A key may act only on keys of its own
/// role or lower; above that the answer is 403 naming why, and the key keeps working.
pub async fn keys_above_the_callers_role_cannot_be_revoked(app: TestApp) -> anyhow::Result<()> {
    let w = app.world("revoke-up").await?;
    let revoke = |by: Role, target: Role| {
        app.http
            .delete(app.url(&format!("/v1/keys/{}", w.key_id(target))))
            .bearer_auth(w.key(by))
            .send()
    };
    let resp = revoke(Role::Admin, Role::Owner).await?;
    anyhow::ensure!(
        resp.status() == 403,
        "admin revoking owner: {}",
        resp.status()
    );
    let problem: serde_json::Value = resp.json().await?;
    anyhow::ensure!(
        problem["code"] == "forbidden"
            && problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("admin") && d.contains("owner") && d.contains("above")),
        "{problem}"
    );
    let still = app
        .http
        .get(app.url("/v1/workspaces/current"))
        .bearer_auth(w.key(Role::Owner))
        .send()
        .await?;
    anyhow::ensure!(
        still.status() == 200,
        "owner key after refusal: {}",
        still.status()
    );
    // Its own role and below stay revocable.
    let resp = revoke(Role::Admin, Role::Editor).await?;
    anyhow::ensure!(
        resp.status() == 204,
        "admin revoking editor: {}",
        resp.status()
    );
    let resp = revoke(Role::Owner, Role::Admin).await?;
    anyhow::ensure!(
        resp.status() == 204,
        "owner revoking admin: {}",
        resp.status()
    );
    Ok(())
}
