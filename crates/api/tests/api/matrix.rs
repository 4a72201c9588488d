//! The authorization matrix, generated from `pressroom_api::ROUTES`: every route × every role
//! × own/other workspace answers exactly the expected status. A route added to the table is
//! in this test automatically; one with a body this test does not know fails it.

use pressroom_api::{Access, Method, ROUTES, Role, RouteSpec};
use reqwest::StatusCode;

use crate::harness::{TestApp, World, campaign_toml};

/// Path parameters of a route, filled from a world.
pub fn fill(spec: &RouteSpec, w: &World) -> String {
    let mut path = spec.path.to_string();
    for name in spec.path_params() {
        let value = match (spec.path, name) {
            (p, "id") if p.starts_with("/v1/campaigns/") => w.campaign_id.to_string(),
            (p, "id") if p.starts_with("/v1/runs/") => w.run_id.to_string(),
            (p, "id") if p.starts_with("/v1/assets/") => w.asset_id.to_string(),
            (p, "id") if p.starts_with("/v1/posts/") => w.post_id.to_string(),
            (p, "id") if p.starts_with("/v1/accounts/") => w.account_id.to_string(),
            (p, "id") if p.starts_with("/v1/keys/") => w.key_id(Role::Viewer).to_string(),
            (p, "id") if p.starts_with("/v1/webhook-endpoints/") => w.webhook_endpoint_id.clone(),
            (p, "id") if p.starts_with("/v1/reviews/") => w.review_id.to_string(),
            (p, "id") if p.starts_with("/v1/review-links/") => w.review_link_id.clone(),
            // Not a live link's token: a key does not open a review page.
            (p, "user_id") if p.starts_with("/v1/members/") => w.member_user_id.clone(),
            (_, "token") => "not-a-review-link-token".to_string(),
            (_, "index") => "0".to_string(),
            (_, "hook_id") => w.hook_id.clone(),
            (_, "rendition_id") => w.rendition_id.to_string(),
            (_, "asset_id") => w.asset_id.to_string(),
            (_, "workspace_id") => w.ws_id.to_string(),
            (p, n) => panic!("matrix: no fixture for {{{n}}} in {p}; add one"),
        };
        path = path.replace(&format!("{{{name}}}"), &value);
    }
    path
}

/// A well-formed body for a route (content type, body). The workspace is the caller's.
fn body_for(spec: &RouteSpec, own: &World, n: usize) -> Option<(&'static str, Vec<u8>)> {
    if !spec.body {
        return None;
    }
    if spec.path == "/v1/assets" {
        return Some(upload_body(n));
    }
    let json = "application/json";
    let text: (&'static str, String) = match spec.path {
        "/v1/workspaces" => (json, format!(r#"{{"slug":"new-{n}"}}"#)),
        "/v1/workspaces/{workspace_id}/keys" | "/v1/keys" => (json, r#"{"role":"viewer"}"#.into()),
        "/v1/campaigns" | "/v1/campaigns/validate" => (
            "application/toml",
            campaign_toml(&own.slug, &format!("c{n}")),
        ),
        "/v1/campaigns/{id}/trigger" | "/v1/campaigns/{id}/preview" => {
            (json, r#"{"variables":{"product":"Mug"}}"#.into())
        }
        "/v1/hooks" => (
            json,
            format!(
                r#"{{"campaign_id":"{}","adapter":"ghost"}}"#,
                own.campaign_id
            ),
        ),
        "/v1/images/generations" => (
            json,
            r#"{"prompt":"a red square","size":"64x64","response_format":"b64_json"}"#.into(),
        ),
        "/v1/hooks/{hook_id}" => (json, "{}".into()),
        "/v1/webhook-endpoints" => (
            json,
            r#"{"url":"https://hooks.example.com/in","events":["post.published"]}"#.into(),
        ),
        "/v1/accounts/connect" => (
            json,
            r#"{"platform":"linkedin","redirect_uri":"https://app.example/cb"}"#.into(),
        ),
        "/v1/workspaces/current/erase" => (json, format!(r#"{{"confirm":"{}"}}"#, own.slug)),
        "/v1/reviews/{id}/approve" => (json, r#"{"candidate":0}"#.into()),
        "/v1/reviews/{id}/reject" => (json, r#"{"reason":"not on brand"}"#.into()),
        "/v1/runs/{id}/review-links" => (json, "{}".into()),
        "/v1/posts" => (
            json,
            format!(
                r#"{{"caption":"Hi {{{{ not a template }}}}","media":["{}"],"targets":["sandbox"]}}"#,
                own.asset_id
            ),
        ),
        "/v1/members" => (
            json,
            format!(
                r#"{{"email":"new-{n}@{}.example","role":"viewer"}}"#,
                own.slug
            ),
        ),
        p => panic!("matrix: no request body for POST {p}; add one"),
    };
    Some((text.0, text.1.into_bytes()))
}

/// A multipart upload of a small PNG, different for each `n` (a first upload answers 201).
fn upload_body(n: usize) -> (&'static str, Vec<u8>) {
    let image =
        image::RgbImage::from_pixel(8, 8, image::Rgb([(n % 256) as u8, (n / 256) as u8, 7]));
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("a PNG encodes");
    let mut body = b"--matrix\r\ncontent-disposition: form-data; name=\"file\"; filename=\"a.png\"\r\ncontent-type: image/png\r\n\r\n".to_vec();
    body.extend_from_slice(&png);
    body.extend_from_slice(b"\r\n--matrix--\r\n");
    ("multipart/form-data; boundary=matrix", body)
}

async fn call(
    app: &TestApp,
    spec: &RouteSpec,
    path: &str,
    key: Option<&str>,
    body: Option<(&'static str, Vec<u8>)>,
) -> anyhow::Result<StatusCode> {
    let url = app.url(path);
    let mut req = match spec.method {
        Method::Get => app.http.get(url),
        Method::Post => app.http.post(url),
        Method::Delete => app.http.delete(url),
    };
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some((ct, b)) = body {
        req = req.header("content-type", ct).body(b);
    }
    Ok(req.send().await?.status())
}

fn expected(spec: &RouteSpec, role: Role, other: bool) -> u16 {
    let allowed = match spec.access {
        Access::Workspace(min) => role.allows(min),
        Access::Instance => role == Role::InstanceAdmin,
        // Keys are not people: only a session cookie opens these (people.rs checks them).
        Access::Session => false,
        Access::Public | Access::Signature | Access::SignedLink | Access::OAuthState => true,
    };
    match (allowed, other) {
        (false, _) => 403,
        (true, true) => 404,
        (true, false) => spec.ok,
    }
}

pub async fn authorization_matrix(app: TestApp) -> anyhow::Result<()> {
    let instance = app.instance_key().await?;
    let mut failures = Vec::new();
    let mut n = 0usize;
    let mut checked = 0usize;
    // Read-only routes share one pair of worlds; changing routes get fresh ones per call.
    let (shared_a, shared_b) = (app.world("ra").await?, app.world("rb").await?);
    for spec in ROUTES {
        match spec.access {
            Access::Public => {
                let got = call(&app, spec, spec.path, None, None).await?;
                checked += 1;
                // A public route that reads a body (signing in) refuses an empty one.
                let want = if spec.body { 400 } else { spec.ok };
                if got.as_u16() != want {
                    failures.push(format!("{spec:?} public: {got}"));
                }
                continue;
            }
            Access::Session => {
                // A person's route: no credentials is a 401, any key a 403.
                let got = call(&app, spec, spec.path, None, None).await?;
                checked += 1;
                if got != StatusCode::UNAUTHORIZED {
                    failures.push(format!("{spec:?} without a session: {got}"));
                }
                let got =
                    call(&app, spec, spec.path, Some(shared_a.key(Role::Owner)), None).await?;
                checked += 1;
                if got != StatusCode::FORBIDDEN {
                    failures.push(format!("{spec:?} with an owner key: {got}"));
                }
                continue;
            }
            Access::Signature => {
                // Bearer keys do not authenticate deliveries; only a signature does.
                let path = fill(spec, &shared_a);
                let got = call(
                    &app,
                    spec,
                    &path,
                    Some(shared_a.key(Role::Owner)),
                    body_for(spec, &shared_a, 0),
                )
                .await?;
                checked += 1;
                if got != StatusCode::UNAUTHORIZED {
                    failures.push(format!("{spec:?} unsigned with an owner key: {got}"));
                }
                continue;
            }
            Access::SignedLink => {
                // API keys do not open media links; only the link's signature does.
                let path = fill(spec, &shared_a);
                let got = call(&app, spec, &path, Some(shared_a.key(Role::Owner)), None).await?;
                checked += 1;
                if got != StatusCode::FORBIDDEN {
                    failures.push(format!("{spec:?} unsigned with an owner key: {got}"));
                }
                continue;
            }
            Access::OAuthState => {
                // Only a connect's one-time state opens the callback; a key does not.
                let got =
                    call(&app, spec, spec.path, Some(shared_a.key(Role::Owner)), None).await?;
                checked += 1;
                if got != StatusCode::BAD_REQUEST {
                    failures.push(format!("{spec:?} without a state: {got}"));
                }
                continue;
            }
            Access::Workspace(_) | Access::Instance => {}
        }
        let path = fill(spec, &shared_a);
        let got = call(&app, spec, &path, None, body_for(spec, &shared_a, 0)).await?;
        checked += 1;
        if got != StatusCode::UNAUTHORIZED {
            failures.push(format!("{spec:?} without a key: {got}"));
        }
        for role in Role::ALL {
            for other in [false, true] {
                if other && spec.path_params().is_empty() {
                    continue;
                }
                n += 1;
                let fresh;
                let (a, b) = if spec.method == Method::Get {
                    (&shared_a, &shared_b)
                } else {
                    fresh = (
                        app.world(&format!("a{n}")).await?,
                        app.world(&format!("b{n}")).await?,
                    );
                    (&fresh.0, &fresh.1)
                };
                let key = if role == Role::InstanceAdmin {
                    instance.as_str()
                } else {
                    a.key(role)
                };
                let path = match (spec.access, other) {
                    // An instance admin may name any workspace: "other" is one that does not exist.
                    (Access::Instance, true) => {
                        spec.path.replace("{workspace_id}", "no-such-workspace")
                    }
                    (_, true) => fill(spec, b),
                    (_, false) => fill(spec, a),
                };
                if spec.path.ends_with("/retry") {
                    // Only a failed post can be retried: fail both worlds' fixtures first.
                    for w in [a, b] {
                        app.fail_post(w).await?;
                    }
                }
                if spec.path.ends_with("/metrics/fetch") {
                    for w in [a, b] {
                        app.publish_post(w).await?;
                    }
                }
                let got = call(&app, spec, &path, Some(key), body_for(spec, a, n)).await?;
                checked += 1;
                let want = expected(spec, role, other);
                if got.as_u16() != want {
                    failures.push(format!(
                        "{spec:?} as {} ({}): got {got}, want {want}",
                        role.as_str(),
                        if other {
                            "other workspace"
                        } else {
                            "own workspace"
                        }
                    ));
                }
            }
        }
    }
    anyhow::ensure!(
        failures.is_empty(),
        "{} of {checked} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    anyhow::ensure!(checked > 100, "only {checked} cases ran");
    Ok(())
}

on_both_backends!(authorization_matrix);
