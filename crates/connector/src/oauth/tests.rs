use std::collections::HashMap;

use axum::Form;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::*;

fn spec(base: &str, pkce: bool) -> OAuthSpec {
    OAuthSpec {
        authorize_url: "https://www.facebook.com/v25.0/dialog/oauth".into(),
        token_url: format!("{base}/token"),
        scopes: vec!["pages_show_list".into(), "pages_manage_posts".into()],
        pkce,
    }
}

fn app() -> OAuthApp {
    let mut app = OAuthApp::new(
        "app-1",
        Some(SecretString::from("s3cret")),
        "http://127.0.0.1:8765/cb",
    );
    app.scope_delimiter = ",".into();
    app
}

#[test]
fn authorize_url_has_state_pkce_and_joined_scopes() {
    let p = authorize(&spec("http://x", true), &app()).expect("authorize");
    let q: HashMap<_, _> = p.url.query_pairs().into_owned().collect();
    assert_eq!(q.get("state"), Some(&p.state));
    assert!(p.state.len() >= 16);
    assert_eq!(
        q.get("scope").map(String::as_str),
        Some("pages_show_list,pages_manage_posts")
    );
    assert_eq!(
        q.get("code_challenge_method").map(String::as_str),
        Some("S256")
    );
    assert!(q.contains_key("code_challenge"));
    assert!(p.pkce_verifier.is_some());
    assert!(
        !format!("{p:?}").contains(
            p.pkce_verifier
                .as_ref()
                .map(|v| v.expose_secret())
                .unwrap_or("x")
        )
    );
    let p2 = authorize(&spec("http://x", false), &app()).expect("authorize");
    assert!(p2.pkce_verifier.is_none());
    assert_ne!(p.state, p2.state, "state must be random");
}

#[test]
fn redirect_parsing() {
    assert_eq!(
        parse_redirect("http://127.0.0.1:1/cb?code=abc&state=S#_=_", "S").expect("code"),
        "abc"
    );
    assert_eq!(
        parse_redirect("/cb?state=S&code=xyz", "S").expect("code"),
        "xyz"
    );
    assert!(matches!(
        parse_redirect("http://h/cb?code=abc&state=T", "S"),
        Err(OAuthError::StateMismatch)
    ));
    assert!(matches!(
        parse_redirect("http://h/cb?state=S", "S"),
        Err(OAuthError::MissingCode)
    ));
    assert!(matches!(
        parse_redirect(
            "http://h/cb?error=access_denied&error_description=no&state=S",
            "S"
        ),
        Err(OAuthError::Denied { .. })
    ));
}

async fn token_endpoint(Form(f): Form<HashMap<String, String>>) -> axum::response::Response {
    match f.get("grant_type").map(String::as_str) {
        Some("authorization_code") if f.get("code").map(String::as_str) == Some("good") && f.contains_key("code_verifier") => {
            axum::Json(serde_json::json!({"access_token":"AT1","token_type":"bearer","expires_in":3600,"refresh_token":"RT1"})).into_response()
        }
        Some("refresh_token") if f.get("refresh_token").map(String::as_str) == Some("RT1") => {
            axum::Json(serde_json::json!({"access_token":"AT2","token_type":"Bearer","expires_in":7200})).into_response()
        }
        _ => (StatusCode::BAD_REQUEST, axum::Json(serde_json::json!({"error":"invalid_grant","error_description":"bad code"}))).into_response(),
    }
}

async fn token_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().route("/token", axum::routing::post(token_endpoint));
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    format!("http://{addr}")
}

#[tokio::test]
async fn exchange_and_refresh_over_http() {
    let base = token_server().await;
    let s = spec(&base, true);
    let pending = authorize(&s, &app()).expect("authorize");
    let tokens = exchange_code(&s, &app(), "good", pending.pkce_verifier.as_ref())
        .await
        .expect("exchange");
    assert_eq!(tokens.access_token.expose_secret(), "AT1");
    assert_eq!(tokens.expires_in, Some(Duration::from_secs(3600)));
    let rt = tokens.refresh_token.clone().expect("refresh token");
    let creds = tokens.into_credentials(Utc::now(), serde_json::Value::Null);
    assert!(
        !format!("{creds:?}").contains("AT1"),
        "Debug leaks the token"
    );

    let fresh = refresh(&s, &app(), &rt).await.expect("refresh");
    assert_eq!(fresh.access_token.expose_secret(), "AT2");
    assert!(fresh.refresh_token.is_none());
    let merged = creds.merge_refreshed(fresh.into_credentials(Utc::now(), serde_json::Value::Null));
    assert_eq!(
        merged.refresh_token.as_ref().map(|t| t.expose_secret()),
        Some("RT1"),
        "empty refresh must keep the stored one"
    );

    let err = exchange_code(&s, &app(), "bad", None)
        .await
        .expect_err("bad code");
    assert!(matches!(err, OAuthError::InvalidGrant(_)), "{err:?}");
    assert!(matches!(
        ConnectorError::from(err),
        ConnectorError::Disconnected(_)
    ));
}

#[tokio::test]
async fn loopback_receiver_gets_the_code() {
    let rx = LoopbackReceiver::bind(0, "/callback").await.expect("bind");
    let uri = rx.redirect_uri().to_owned();
    let waiter = tokio::spawn(async move { rx.wait("S1", Duration::from_secs(5)).await });
    let client = reqwest::Client::new();
    let favicon = uri.replace("/callback", "/favicon.ico");
    let r = client.get(&favicon).send().await.expect("favicon");
    assert_eq!(r.status(), 404);
    let r = client
        .get(format!("{uri}?code=C0DE&state=S1"))
        .send()
        .await
        .expect("callback");
    assert_eq!(r.status(), 200);
    assert_eq!(waiter.await.expect("join").expect("code"), "C0DE");
}

#[tokio::test]
async fn loopback_receiver_times_out() {
    let rx = LoopbackReceiver::bind(0, "cb").await.expect("bind");
    let r = rx.wait("S", Duration::from_millis(50)).await;
    assert!(matches!(r, Err(OAuthError::Timeout)));
}
