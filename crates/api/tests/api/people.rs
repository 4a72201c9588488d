//! People who sign in (issue 13): a session cookie reaches the same routes as a key with the
//! membership's role, requests that change anything need the CSRF header, wrong passwords are
//! throttled, sign-out ends the session, and nothing that signs anyone in is stored in the
//! clear.

use pressroom_api::Role;
use pressroom_crypto::password;
use pressroom_store::repo::people;
use pressroom_store::testing::sea_orm::{ConnectionTrait, Statement};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, SET_COOKIE};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::harness::{TestApp, World};

const PASSWORD: &str = "a long enough passphrase";

/// A user with `PASSWORD` and a role in each of `worlds`.
async fn person(app: &TestApp, email: &str, roles: &[(&World, Role)]) -> anyhow::Result<String> {
    let now = app.store.now_ms().await?;
    let user = people::ensure_user(&app.store, app.store.conn(), now, email, "Test Person").await?;
    let hash = password::hash_password(&SecretString::from(PASSWORD.to_owned()))?;
    people::set_password(&app.store, app.store.conn(), now, &user.id, &hash).await?;
    for (w, role) in roles {
        people::set_membership(
            &app.store,
            app.store.conn(),
            now,
            &user.id,
            &w.ws_id,
            role.as_str(),
        )
        .await?;
    }
    Ok(user.id)
}

/// A browser's cookies after a sign-in.
struct Browser {
    session: String,
    csrf: String,
    set_cookies: Vec<String>,
    body: Value,
}

impl Browser {
    fn cookie_header(&self) -> String {
        format!(
            "pressroom_session={}; pressroom_csrf={}",
            self.session, self.csrf
        )
    }
}

async fn sign_in(
    app: &TestApp,
    email: &str,
    pass: &str,
) -> anyhow::Result<(StatusCode, Option<Browser>, Value)> {
    let resp = app
        .http
        .post(app.url("/v1/sessions"))
        .json(&json!({ "email": email, "password": pass }))
        .send()
        .await?;
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let set_cookies: Vec<String> = resp
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let mut body: Value = resp.json().await.unwrap_or(Value::Null);
    if let Some(r) = retry_after {
        body["retry_after_header"] = json!(r);
    }
    if status != StatusCode::CREATED {
        return Ok((status, None, body));
    }
    let value_of = |name: &str| {
        set_cookies
            .iter()
            .find_map(|c| c.strip_prefix(&format!("{name}=")))
            .and_then(|rest| rest.split(';').next())
            .map(str::to_owned)
            .unwrap_or_default()
    };
    let browser = Browser {
        session: value_of("pressroom_session"),
        csrf: value_of("pressroom_csrf"),
        set_cookies: set_cookies.clone(),
        body: body.clone(),
    };
    Ok((status, Some(browser), body))
}

/// A request with the browser's cookies; `csrf` adds the header, `workspace` names one.
async fn call(
    app: &TestApp,
    b: &Browser,
    method: reqwest::Method,
    path: &str,
    csrf: bool,
    workspace: Option<&str>,
) -> anyhow::Result<(StatusCode, Value)> {
    let mut req = app
        .http
        .request(method, app.url(path))
        .header(COOKIE, b.cookie_header());
    if csrf {
        req = req.header("x-csrf-token", &b.csrf);
    }
    if let Some(ws) = workspace {
        req = req.header("x-pressroom-workspace", ws);
    }
    let resp = req.send().await?;
    let status = resp.status();
    let body = resp.json().await.unwrap_or(Value::Null);
    Ok((status, body))
}

pub async fn a_person_signs_in_and_acts_with_their_role(app: TestApp) -> anyhow::Result<()> {
    let a = app.world("pa").await?;
    let b = app.world("pb").await?;
    let user_id = person(&app, "Alice@Example.com", &[(&a, Role::Editor)]).await?;

    let (status, _, problem) = sign_in(&app, "alice@example.com", "not the passphrase").await?;
    anyhow::ensure!(status == StatusCode::UNAUTHORIZED, "{status} {problem}");
    let (status, _, problem) = sign_in(&app, "nobody@example.com", PASSWORD).await?;
    anyhow::ensure!(status == StatusCode::UNAUTHORIZED, "{status} {problem}");

    // The email matches in any case; the cookies are HttpOnly (the session) and SameSite=Lax.
    let (status, browser, body) = sign_in(&app, "ALICE@example.com", PASSWORD).await?;
    let b1 = browser.ok_or_else(|| anyhow::anyhow!("sign-in: {status} {body}"))?;
    let session_cookie = b1
        .set_cookies
        .iter()
        .find(|c| c.starts_with("pressroom_session="))
        .cloned()
        .unwrap_or_default();
    anyhow::ensure!(
        session_cookie.contains("HttpOnly") && session_cookie.contains("SameSite=Lax"),
        "{session_cookie}"
    );
    anyhow::ensure!(
        !session_cookie.contains("Secure"),
        "plain http: {session_cookie}"
    );
    anyhow::ensure!(
        b1.session.len() >= 40 && b1.csrf.len() >= 32,
        "{:?}",
        b1.set_cookies
    );
    anyhow::ensure!(b1.body["csrf_token"] == json!(b1.csrf), "{}", b1.body);
    anyhow::ensure!(
        b1.body["memberships"]
            == json!([{ "workspace_id": a.ws_id, "workspace": "pa", "role": "editor" }]),
        "{}",
        b1.body
    );

    let (status, me) = call(&app, &b1, reqwest::Method::GET, "/v1/me", false, None).await?;
    anyhow::ensure!(
        status == 200 && me["user"]["email"] == "alice@example.com",
        "{status} {me}"
    );
    anyhow::ensure!(me.get("csrf_token").is_none(), "{me}");

    // Their workspace's data, not another's.
    let (status, page) = call(
        &app,
        &b1,
        reqwest::Method::GET,
        "/v1/campaigns",
        false,
        None,
    )
    .await?;
    anyhow::ensure!(status == 200, "{status} {page}");
    let ids: Vec<&str> = page["data"]
        .as_array()
        .map(|d| d.iter().filter_map(|c| c["id"].as_str()).collect())
        .unwrap_or_default();
    anyhow::ensure!(ids == [a.campaign_id.as_str()], "{page}");
    let other = format!("/v1/campaigns/{}", b.campaign_id);
    let (status, _) = call(&app, &b1, reqwest::Method::GET, &other, false, None).await?;
    anyhow::ensure!(status == 404, "another workspace's campaign: {status}");

    // A change needs the CSRF header equal to the cookie; with it the editor may pause.
    let pause = format!("/v1/campaigns/{}/pause", a.campaign_id);
    let (status, problem) = call(&app, &b1, reqwest::Method::POST, &pause, false, None).await?;
    anyhow::ensure!(status == 403, "no CSRF header: {status} {problem}");
    anyhow::ensure!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("x-csrf-token")),
        "{problem}"
    );
    let resp = app
        .http
        .post(app.url(&pause))
        .header(COOKIE, b1.cookie_header())
        .header("x-csrf-token", "a-guess")
        .send()
        .await?;
    anyhow::ensure!(
        resp.status() == 403,
        "a CSRF header unlike the cookie: {}",
        resp.status()
    );
    let (status, body) = call(&app, &b1, reqwest::Method::POST, &pause, true, None).await?;
    anyhow::ensure!(status == 200 && body["enabled"] == false, "{status} {body}");
    // The audit log names the person.
    let audit = app
        .http
        .get(app.url("/v1/audit"))
        .bearer_auth(a.key(Role::Admin))
        .send()
        .await?
        .json::<Value>()
        .await?;
    anyhow::ensure!(
        audit["data"]
            .as_array()
            .is_some_and(|d| d.iter().any(|e| e["actor"] == "user:alice@example.com")),
        "{audit}"
    );
    // An editor is not an admin.
    let (status, _) = call(&app, &b1, reqwest::Method::GET, "/v1/keys", false, None).await?;
    anyhow::ensure!(status == 403, "an editor listing keys: {status}");

    // Nothing stored signs anyone in: the session token and the password are hashes only.
    let conn = app.store.conn();
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(
            conn.get_database_backend(),
            "SELECT s.token_hash, u.password_hash FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE u.id = $1",
            vec![user_id.clone().into()],
        ))
        .await?;
    anyhow::ensure!(!rows.is_empty());
    for row in rows {
        let token_hash: String = row.try_get("", "token_hash")?;
        let pw: String = row.try_get("", "password_hash")?;
        anyhow::ensure!(token_hash != b1.session && !token_hash.contains(&b1.session));
        anyhow::ensure!(
            pw.starts_with("$argon2id$") && !pw.contains(PASSWORD),
            "{pw}"
        );
    }

    // Sign-out ends this session; the cookie is cleared.
    let resp = app
        .http
        .delete(app.url("/v1/sessions/current"))
        .header(COOKIE, b1.cookie_header())
        .header("x-csrf-token", &b1.csrf)
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 204, "sign-out: {}", resp.status());
    anyhow::ensure!(
        resp.headers().get_all(SET_COOKIE).iter().any(|v| v
            .to_str()
            .is_ok_and(|v| v.starts_with("pressroom_session=;") && v.contains("Max-Age=0"))),
        "the cookie is not cleared"
    );
    let (status, _) = call(&app, &b1, reqwest::Method::GET, "/v1/me", false, None).await?;
    anyhow::ensure!(status == 401, "after sign-out: {status}");
    Ok(())
}

pub async fn an_approver_reads_but_changes_nothing(app: TestApp) -> anyhow::Result<()> {
    let a = app.world("ap").await?;
    person(&app, "client@acme.example", &[(&a, Role::Approver)]).await?;
    let (status, browser, body) = sign_in(&app, "client@acme.example", PASSWORD).await?;
    let b = browser.ok_or_else(|| anyhow::anyhow!("sign-in: {status} {body}"))?;
    for path in ["/v1/runs", "/v1/posts", "/v1/campaigns", "/v1/assets"] {
        let (status, body) = call(&app, &b, reqwest::Method::GET, path, false, None).await?;
        anyhow::ensure!(status == 200, "{path}: {status} {body}");
    }
    let pause = format!("/v1/campaigns/{}/pause", a.campaign_id);
    let (status, problem) = call(&app, &b, reqwest::Method::POST, &pause, true, None).await?;
    anyhow::ensure!(status == 403, "an approver pausing: {status} {problem}");
    // The same holds for an approver API key.
    let resp = app
        .http
        .post(app.url(&pause))
        .bearer_auth(a.key(Role::Approver))
        .send()
        .await?;
    anyhow::ensure!(
        resp.status() == 403,
        "an approver key pausing: {}",
        resp.status()
    );
    Ok(())
}

pub async fn a_person_in_two_workspaces_names_one(app: TestApp) -> anyhow::Result<()> {
    let a = app.world("na").await?;
    let b = app.world("nb").await?;
    app.world("nc").await?;
    person(
        &app,
        "agency@example.com",
        &[(&a, Role::Owner), (&b, Role::Viewer)],
    )
    .await?;
    let (status, browser, body) = sign_in(&app, "agency@example.com", PASSWORD).await?;
    let br = browser.ok_or_else(|| anyhow::anyhow!("sign-in: {status} {body}"))?;

    let (status, problem) = call(
        &app,
        &br,
        reqwest::Method::GET,
        "/v1/campaigns",
        false,
        None,
    )
    .await?;
    anyhow::ensure!(status == 400, "no workspace named: {status} {problem}");
    anyhow::ensure!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("x-pressroom-workspace")
                && d.contains("na")
                && d.contains("nb")),
        "{problem}"
    );
    let (status, page) = call(
        &app,
        &br,
        reqwest::Method::GET,
        "/v1/campaigns",
        false,
        Some("nb"),
    )
    .await?;
    anyhow::ensure!(
        status == 200 && page["data"][0]["id"] == json!(b.campaign_id),
        "{status} {page}"
    );
    // Owner in one, viewer in the other: the role follows the workspace named.
    let pause_b = format!("/v1/campaigns/{}/pause", b.campaign_id);
    let (status, _) = call(&app, &br, reqwest::Method::POST, &pause_b, true, Some("nb")).await?;
    anyhow::ensure!(status == 403, "a viewer of nb pausing: {status}");
    let pause_a = format!("/v1/campaigns/{}/pause", a.campaign_id);
    let (status, _) = call(&app, &br, reqwest::Method::POST, &pause_a, true, Some("na")).await?;
    anyhow::ensure!(status == 200, "the owner of na pausing: {status}");
    // A workspace they are not in, named or reached by id, is not theirs.
    let (status, _) = call(
        &app,
        &br,
        reqwest::Method::GET,
        "/v1/campaigns",
        false,
        Some("nc"),
    )
    .await?;
    anyhow::ensure!(status == 403, "a workspace they are not in: {status}");
    let (status, me) = call(&app, &br, reqwest::Method::GET, "/v1/me", false, None).await?;
    anyhow::ensure!(
        status == 200 && me["memberships"].as_array().map(Vec::len) == Some(2),
        "{status} {me}"
    );
    Ok(())
}

pub async fn wrong_passwords_are_throttled_and_sign_out_everywhere_ends_every_session(
    app: TestApp,
) -> anyhow::Result<()> {
    let a = app.world("ta").await?;
    person(&app, "target@example.com", &[(&a, Role::Viewer)]).await?;
    // Two browsers signed in before the attack.
    let (_, first, _) = sign_in(&app, "target@example.com", PASSWORD).await?;
    let (_, second, _) = sign_in(&app, "target@example.com", PASSWORD).await?;
    let (first, second) = first
        .zip(second)
        .ok_or_else(|| anyhow::anyhow!("sign-in failed"))?;

    for i in 0..5 {
        let (status, _, body) =
            sign_in(&app, "target@example.com", &format!("guess number {i}")).await?;
        anyhow::ensure!(status == 401, "guess {i}: {status} {body}");
    }
    let (status, _, body) = sign_in(&app, "target@example.com", "guess number 5").await?;
    anyhow::ensure!(status == 429, "the sixth guess: {status} {body}");
    anyhow::ensure!(body["retry_after_header"].as_str().is_some(), "{body}");
    // While throttled even the right password waits (the guesser learns nothing).
    let (status, _, _) = sign_in(&app, "target@example.com", PASSWORD).await?;
    anyhow::ensure!(
        status == 429,
        "the right password while throttled: {status}"
    );
    // Sessions made before stay valid; sign-out everywhere ends both.
    let (status, _) = call(&app, &first, reqwest::Method::GET, "/v1/me", false, None).await?;
    anyhow::ensure!(status == 200, "{status}");
    let resp = app
        .http
        .delete(app.url("/v1/sessions"))
        .header(COOKIE, second.cookie_header())
        .header("x-csrf-token", &second.csrf)
        .send()
        .await?;
    anyhow::ensure!(
        resp.status() == 204,
        "sign out everywhere: {}",
        resp.status()
    );
    for b in [&first, &second] {
        let (status, _) = call(&app, b, reqwest::Method::GET, "/v1/me", false, None).await?;
        anyhow::ensure!(
            status == 401,
            "a session after sign-out everywhere: {status}"
        );
    }
    Ok(())
}

pub async fn invitations_are_used_once_and_expire(app: TestApp) -> anyhow::Result<()> {
    use secrecy::ExposeSecret;
    let a = app.world("ia").await?;
    let now = app.store.now_ms().await?;
    let conn = app.store.conn();
    let user = people::ensure_user(&app.store, conn, now, "new@example.com", "New").await?;
    people::set_membership(&app.store, conn, now, &user.id, &a.ws_id, "viewer").await?;
    let (fresh, fresh_hash) = password::new_token();
    let (stale, stale_hash) = password::new_token();
    people::insert_invitation(&app.store, conn, now, &user.id, &fresh_hash, now + 60_000).await?;
    people::insert_invitation(
        &app.store,
        conn,
        now - 10_000,
        &user.id,
        &stale_hash,
        now - 1,
    )
    .await?;
    let accept = |token: String, pass: &'static str| {
        let app = &app;
        async move {
            let resp = app
                .http
                .post(app.url("/v1/invitations/accept"))
                .json(&json!({ "token": token, "password": pass }))
                .send()
                .await?;
            let status = resp.status();
            let cookie = resp
                .headers()
                .get_all(SET_COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
                .collect::<Vec<_>>()
                .join("; ");
            anyhow::Ok((status, cookie))
        }
    };
    let (status, _) = accept(stale.expose_secret().to_owned(), PASSWORD).await?;
    anyhow::ensure!(status == 401, "an expired invitation: {status}");
    let (status, _) = accept("not-a-token".into(), PASSWORD).await?;
    anyhow::ensure!(status == 401, "an unknown invitation: {status}");
    let (status, cookie) = accept(fresh.expose_secret().to_owned(), PASSWORD).await?;
    anyhow::ensure!(status == 201, "the invitation: {status}");
    let me = app
        .http
        .get(app.url("/v1/me"))
        .header(COOKIE, cookie)
        .send()
        .await?;
    anyhow::ensure!(
        me.status() == 200,
        "signed in by the invitation: {}",
        me.status()
    );
    let (status, _) = accept(
        fresh.expose_secret().to_owned(),
        "a passphrase of the attacker",
    )
    .await?;
    anyhow::ensure!(status == 401, "the invitation used again: {status}");
    // The password it set is the one that signs in; no invitation token is stored.
    let (status, _, _) = sign_in(&app, "new@example.com", PASSWORD).await?;
    anyhow::ensure!(status == StatusCode::CREATED, "{status}");
    let stored = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT token_hash FROM invitations",
        ))
        .await?;
    anyhow::ensure!(stored.len() == 2);
    for row in stored {
        let h: String = row.try_get("", "token_hash")?;
        anyhow::ensure!(h != fresh.expose_secret() && h != stale.expose_secret());
    }
    Ok(())
}

/// The invitation link's page: the password typed twice, a CSRF-protected form, the browser
/// signed in, and the link dead afterwards.
pub async fn the_invitation_page_sets_a_password_and_signs_in(app: TestApp) -> anyhow::Result<()> {
    use secrecy::ExposeSecret;
    let a = app.world("ip").await?;
    let now = app.store.now_ms().await?;
    let conn = app.store.conn();
    let user = people::ensure_user(&app.store, conn, now, "invitee@example.com", "Inv").await?;
    people::set_membership(&app.store, conn, now, &user.id, &a.ws_id, "approver").await?;
    let (token, hash) = password::new_token();
    people::insert_invitation(&app.store, conn, now, &user.id, &hash, now + 60_000).await?;
    let url = app.url(&format!("/invite/{}", token.expose_secret()));

    let page = app.http.get(&url).send().await?;
    anyhow::ensure!(page.status() == 200, "{}", page.status());
    let page_cookie = page
        .headers()
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .ok_or_else(|| anyhow::anyhow!("no CSRF cookie"))?;
    let html = page.text().await?;
    anyhow::ensure!(html.contains("invitee@example.com"), "{html}");
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_default()
        .to_owned();
    let submit = |cookie: Option<String>, body: String| {
        let app = &app;
        let url = url.clone();
        async move {
            let mut req = app
                .http
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
            if let Some(c) = cookie {
                req = req.header(COOKIE, c);
            }
            let resp = req.send().await?;
            let status = resp.status();
            let session = resp
                .headers()
                .get_all(SET_COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
                .filter(|c| c.starts_with("pressroom_"))
                .collect::<Vec<_>>()
                .join("; ");
            anyhow::Ok((status, session, resp.text().await?))
        }
    };
    let good = format!("csrf={csrf}&password=correct+horse+battery&confirm=correct+horse+battery");
    let (status, _, _) = submit(None, good.clone()).await?;
    anyhow::ensure!(status == 403, "no CSRF cookie: {status}");
    let (status, _, text) = submit(
        Some(page_cookie.clone()),
        format!("csrf={csrf}&password=correct+horse+battery&confirm=something+else+entirely"),
    )
    .await?;
    anyhow::ensure!(status == 400 && text.contains("differ"), "{status}");
    let (status, _, text) = submit(
        Some(page_cookie.clone()),
        format!("csrf={csrf}&password=short&confirm=short"),
    )
    .await?;
    anyhow::ensure!(status == 400 && text.contains("at least 10"), "{status}");
    let (status, session, text) = submit(Some(page_cookie.clone()), good.clone()).await?;
    anyhow::ensure!(
        status == 200 && text.contains("You are in"),
        "{status} {text}"
    );
    let me = app
        .http
        .get(app.url("/v1/me"))
        .header(COOKIE, session)
        .send()
        .await?;
    anyhow::ensure!(me.status() == 200, "signed in by the page: {}", me.status());
    let (status, _, _) = submit(Some(page_cookie), good).await?;
    anyhow::ensure!(status == 403, "the invitation used again: {status}");
    let resp = app.http.get(&url).send().await?;
    anyhow::ensure!(
        resp.status() == 403,
        "a used invitation's page: {}",
        resp.status()
    );
    let (status, _, _) = sign_in(&app, "invitee@example.com", "correct horse battery").await?;
    anyhow::ensure!(status == StatusCode::CREATED, "{status}");
    Ok(())
}

on_both_backends!(
    the_invitation_page_sets_a_password_and_signs_in,
    invitations_are_used_once_and_expire,
    a_person_signs_in_and_acts_with_their_role,
    an_approver_reads_but_changes_nothing,
    a_person_in_two_workspaces_names_one,
    wrong_passwords_are_throttled_and_sign_out_everywhere_ends_every_session,
);
