//! The console's pages and forms over real HTTP (issue 14): a signed-out browser is sent to
//! sign in (and only back to a page of ours), every form needs the session's CSRF token and
//! the role its API route needs, pages carry a strict Content Security Policy and escape what
//! people typed, and a person sees only their workspace.

use pressroom_api::Role;
use pressroom_crypto::password;
use pressroom_store::repo::people;
use pressroom_store::testing::sea_orm::{ConnectionTrait, Statement};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use secrecy::SecretString;

use crate::harness::{TestApp, World};

const PASSWORD: &str = "a long enough passphrase";

/// A client that shows redirects instead of following them, as the tests read them.
fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

fn cookie_value(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .and_then(|rest| rest.split(';').next())
        .map(str::to_owned)
}

/// Signs a new person with `role` in `w` in through the API: their cookie header and CSRF token.
async fn signed_in(
    app: &TestApp,
    w: &World,
    email: &str,
    role: Role,
) -> anyhow::Result<(String, String)> {
    let now = app.store.now_ms().await?;
    let user = people::ensure_user(&app.store, app.store.conn(), now, email, "Person").await?;
    let hash = password::hash_password(&SecretString::from(PASSWORD.to_owned()))?;
    people::set_password(&app.store, app.store.conn(), now, &user.id, &hash).await?;
    people::set_membership(
        &app.store,
        app.store.conn(),
        now,
        &user.id,
        &w.ws_id,
        role.as_str(),
    )
    .await?;
    let resp = client()?
        .post(app.url("/v1/sessions"))
        .json(&serde_json::json!({ "email": email, "password": PASSWORD }))
        .send()
        .await?;
    anyhow::ensure!(
        resp.status() == StatusCode::CREATED,
        "sign-in: {}",
        resp.status()
    );
    let session = cookie_value(&resp, "pressroom_session").unwrap_or_default();
    let csrf = cookie_value(&resp, "pressroom_csrf").unwrap_or_default();
    Ok((
        format!("pressroom_session={session}; pressroom_csrf={csrf}"),
        csrf,
    ))
}

pub async fn signed_out_browsers_sign_in_first_and_come_back_only_to_our_pages(
    app: TestApp,
) -> anyhow::Result<()> {
    let w = app.world("cs").await?;
    let http = client()?;
    let resp = http.get(app.url("/posts?state=failed")).send().await?;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        resp.headers()[LOCATION],
        "/login?next=%2Fposts%3Fstate%3Dfailed"
    );
    let resp = http.get(app.url("/")).send().await?;
    assert_eq!(resp.headers()[LOCATION], "/login");

    // The sign-in page: a strict policy, its own CSRF token.
    let page = http
        .get(app.url("/login?next=//evil.example/"))
        .send()
        .await?;
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()?
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("style-src 'self'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let page_csrf = cookie_value(&page, "pressroom_page_csrf").expect("the form's cookie");
    let html = page.text().await?;
    assert!(
        html.contains(&format!("name=\"csrf\" value=\"{page_csrf}\"")),
        "{html}"
    );
    assert!(
        html.contains("name=\"next\" value=\"&#x2f;\""),
        "a foreign next becomes /: {html}"
    );

    let now = app.store.now_ms().await?;
    let user =
        people::ensure_user(&app.store, app.store.conn(), now, "ann@cs.example", "Ann").await?;
    let hash = password::hash_password(&SecretString::from(PASSWORD.to_owned()))?;
    people::set_password(&app.store, app.store.conn(), now, &user.id, &hash).await?;
    people::set_membership(
        &app.store,
        app.store.conn(),
        now,
        &user.id,
        &w.ws_id,
        "viewer",
    )
    .await?;
    let form = |csrf: &str, password: &str, next: &str| {
        serde_urlencoded::to_string([
            ("csrf", csrf),
            ("next", next),
            ("email", "ann@cs.example"),
            ("password", password),
        ])
        .unwrap_or_default()
    };
    let post = |body: String, cookie: String| {
        http.post(app.url("/login"))
            .header(COOKIE, cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let with_cookie = format!("pressroom_page_csrf={page_csrf}");
    // Without the page's cookie (another site's form): refused, nobody signed in.
    let resp = post(form(&page_csrf, PASSWORD, "/posts"), String::new()).await?;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(cookie_value(&resp, "pressroom_session").is_none());
    // A wrong password: the form again, with the reason.
    let resp = post(
        form(&page_csrf, "not it at all", "/posts"),
        with_cookie.clone(),
    )
    .await?;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(
        resp.text()
            .await?
            .contains("The email or the password is wrong.")
    );
    // Signed in: on to the page asked for, never to another site.
    for (next, expected) in [
        ("/posts", "/posts"),
        ("//evil.example/x", "/"),
        ("https://evil.example", "/"),
        ("/\t/evil.example/", "/"),
        ("/\\evil.example", "/"),
    ] {
        let resp = post(form(&page_csrf, PASSWORD, next), with_cookie.clone()).await?;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{next}");
        assert_eq!(resp.headers()[LOCATION], expected, "{next}");
        assert!(cookie_value(&resp, "pressroom_session").is_some_and(|s| !s.is_empty()));
    }
    Ok(())
}

pub async fn console_forms_need_the_csrf_token_and_the_apis_role(
    app: TestApp,
) -> anyhow::Result<()> {
    let w = app.world("cf").await?;
    app.fail_post(&w).await?;
    let http = client()?;
    let state_of_post = || async {
        let body: serde_json::Value = app
            .http
            .get(app.url(&format!("/v1/posts/{}", w.post_id)))
            .bearer_auth(w.key(Role::Viewer))
            .send()
            .await?
            .json()
            .await?;
        anyhow::Ok(body["state"].as_str().unwrap_or_default().to_owned())
    };
    let retry = |cookie: String, csrf: String| {
        http.post(app.url(&format!("/posts/{}/retry", w.post_id)))
            .header(COOKIE, cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf={csrf}"))
            .send()
    };

    let (viewer, viewer_csrf) = signed_in(&app, &w, "vic@cf.example", Role::Viewer).await?;
    // The page shows no retry button to a viewer, and the form refuses them anyway.
    let page = http
        .get(app.url("/posts"))
        .header(COOKIE, viewer.clone())
        .send()
        .await?;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        !page.text().await?.contains("/retry\""),
        "no button for a viewer"
    );
    let resp = retry(viewer.clone(), viewer_csrf.clone()).await?;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.text().await?.contains("does not allow this"));
    assert_eq!(state_of_post().await?, "failed");

    let (editor, editor_csrf) = signed_in(&app, &w, "eve@cf.example", Role::Editor).await?;
    for wrong in ["", "not-the-token"] {
        let resp = retry(editor.clone(), wrong.to_owned()).await?;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "csrf {wrong:?}");
        assert!(resp.text().await?.contains("Form expired"));
    }
    assert_eq!(
        state_of_post().await?,
        "failed",
        "nothing changed without the token"
    );

    let resp = retry(editor.clone(), editor_csrf).await?;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[LOCATION], "/posts");
    let flash = cookie_value(&resp, "pressroom_flash").unwrap_or_default();
    assert!(flash.starts_with("ok=Retrying"), "{flash}");
    assert_ne!(
        state_of_post().await?,
        "failed",
        "the retry went through the API's handler"
    );
    // The notice is shown once, on the next page, and cleared.
    let page = http
        .get(app.url("/posts"))
        .header(COOKIE, format!("{editor}; pressroom_flash={flash}"))
        .send()
        .await?;
    assert!(cookie_value(&page, "pressroom_flash").is_some_and(|v| v.is_empty()));
    assert!(
        page.text()
            .await?
            .contains("Retrying: a new attempt is queued.")
    );
    Ok(())
}

pub async fn pages_escape_what_people_typed_and_show_one_workspace(
    app: TestApp,
) -> anyhow::Result<()> {
    let a = app.world("ea").await?;
    let b = app.world("eb").await?;
    let caption = "<script>alert('x')</script> & \"friends\"";
    let conn = app.store.conn();
    conn.execute_raw(Statement::from_sql_and_values(
        conn.get_database_backend(),
        "UPDATE posts SET caption = $1 WHERE id = $2",
        vec![caption.into(), a.post_id.clone().into()],
    ))
    .await?;
    let (cookie, _) = signed_in(&app, &a, "pat@ea.example", Role::Editor).await?;
    let http = client()?;
    let page = http
        .get(app.url("/posts"))
        .header(COOKIE, cookie.clone())
        .send()
        .await?;
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()?
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("unsafe"),
        "{csp}"
    );
    let html = page.text().await?;
    assert!(
        html.contains(
            "&lt;script&gt;alert(&#x27;x&#x27;)&lt;&#x2f;script&gt; &amp; &quot;friends&quot;"
        ),
        "{html}"
    );
    assert!(!html.contains("<script>alert"), "a caption is text");
    assert_eq!(
        html.matches("<script").count(),
        1,
        "only the console's own script"
    );

    // Another workspace's run, review and rendition are not found here.
    for path in [
        format!("/runs/{}", b.run_id),
        format!("/reviews/{}", b.review_id),
        format!("/renditions/{}", b.rendition_id),
        format!("/campaigns/{}", b.campaign_id),
    ] {
        let resp = http
            .get(app.url(&path))
            .header(COOKIE, cookie.clone())
            .send()
            .await?;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // Its own are.
    for path in [
        format!("/runs/{}", a.run_id),
        format!("/reviews/{}", a.review_id),
        format!("/campaigns/{}", a.campaign_id),
    ] {
        let resp = http
            .get(app.url(&path))
            .header(COOKIE, cookie.clone())
            .send()
            .await?;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
    }
    // Every page of the navigation answers, signed in.
    for path in [
        "/calendar",
        "/calendar?view=week",
        "/reviews",
        "/posts",
        "/campaigns",
        "/campaigns/new",
        "/accounts",
        "/gallery",
        "/settings",
    ] {
        let resp = http
            .get(app.url(path))
            .header(COOKIE, cookie.clone())
            .send()
            .await?;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
    }
    // A workspace choice that is not theirs (another person's on this browser) falls back to
    // their own, and the page puts their own back in the cookie.
    let stale = format!("{cookie}; pressroom_workspace={}", b.slug);
    let resp = http
        .get(app.url("/posts"))
        .header(COOKIE, stale)
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        cookie_value(&resp, "pressroom_workspace").as_deref(),
        Some(a.slug.as_str())
    );
    assert!(
        !resp.text().await?.contains(&b.run_id.to_string()),
        "nothing of {}",
        b.slug
    );
    // A busy day in the month view shows six entries and a link to the rest.
    let campaign =
        pressroom_store::repo::campaigns::get(&app.store, &a.ws_id, &a.campaign_id).await?;
    for i in 0..8 {
        app.fire(&campaign, &format!("busy-{i}")).await?;
    }
    let month = http
        .get(app.url("/calendar"))
        .header(COOKIE, cookie.clone())
        .send()
        .await?
        .text()
        .await?;
    assert!(
        month.contains(" more on "),
        "no link to the rest of a busy day"
    );
    assert_eq!(
        month.matches("data-testid=\"calendar-entry\"").count(),
        6,
        "six entries on the busy day"
    );
    let week = http
        .get(app.url("/calendar?view=week"))
        .header(COOKIE, cookie.clone())
        .send()
        .await?
        .text()
        .await?;
    assert!(
        week.matches("data-testid=\"calendar-entry\"").count() >= 9,
        "the week shows them all"
    );
    // Operations is for admins.
    let resp = http
        .get(app.url("/operations"))
        .header(COOKIE, cookie.clone())
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    Ok(())
}

/// The filters the posts page sends, through `GET /v1/posts`.
pub async fn the_posts_list_filters_by_platform_account_campaign_and_dates(
    app: TestApp,
) -> anyhow::Result<()> {
    let a = app.world("fa").await?;
    let b = app.world("fb").await?;
    let count = |query: String| {
        let app = &app;
        let key = a.key(Role::Viewer).to_owned();
        async move {
            let resp = app
                .http
                .get(app.url(&format!("/v1/posts?{query}")))
                .bearer_auth(key)
                .send()
                .await?;
            let status = resp.status();
            let body: serde_json::Value = resp.json().await?;
            anyhow::Ok((status, body["data"].as_array().map_or(0, Vec::len), body))
        }
    };
    let past = "2000-01-01T00:00:00Z";
    let future = "2999-01-01T00:00:00Z";
    for (query, expected) in [
        (String::new(), 1),
        (format!("campaign_id={}", a.campaign_id), 1),
        (format!("campaign_id={}", b.campaign_id), 0),
        (format!("account_id={}", a.account_id), 1),
        (format!("account_id={}", b.account_id), 0),
        ("platform=sandbox".to_owned(), 1),
        ("platform=facebook".to_owned(), 0),
        (format!("from={past}&to={future}"), 1),
        (format!("from={future}"), 0),
        (format!("to={past}"), 0),
        (
            format!(
                "campaign_id={}&platform=sandbox&state=pending",
                a.campaign_id
            ),
            1,
        ),
    ] {
        let (status, n, body) = count(query.clone()).await?;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        assert_eq!(n, expected, "{query}: {body}");
    }
    for (query, field) in [("platform=myspace", "platform"), ("from=yesterday", "from")] {
        let (status, _, body) = count(query.to_owned()).await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with(field)),
            "{query}: {body}"
        );
    }
    Ok(())
}

/// Members through the API (the settings page's invite form calls the same handler).
pub async fn admins_invite_members_and_only_owners_make_owners(app: TestApp) -> anyhow::Result<()> {
    let w = app.world("mi").await?;
    let add = |key: &str, body: serde_json::Value| {
        app.http
            .post(app.url("/v1/members"))
            .bearer_auth(key.to_owned())
            .json(&body)
            .send()
    };
    let resp = add(
        w.key(Role::Admin),
        serde_json::json!({ "email": " Client@MI.example ", "role": "approver" }),
    )
    .await?;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let added: serde_json::Value = resp.json().await?;
    assert_eq!(added["email"], "client@mi.example");
    assert_eq!(added["role"], "approver");
    assert_eq!(added["can_sign_in"], false);
    let link = added["invitation_url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(link.contains("/invite/"), "{added}");
    // The link works once: its page asks for a password.
    let path = link
        .split_once("/invite/")
        .map(|(_, t)| format!("/invite/{t}"))
        .unwrap_or_default();
    let page = app.http.get(app.url(&path)).send().await?;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await?.contains("client@mi.example"));

    let listed: serde_json::Value = app
        .http
        .get(app.url("/v1/members"))
        .bearer_auth(w.key(Role::Admin))
        .send()
        .await?
        .json()
        .await?;
    let emails: Vec<&str> = listed["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["email"].as_str())
        .collect();
    assert!(emails.contains(&"client@mi.example"), "{listed}");

    // Only an owner makes an owner; the role and the email are checked by name.
    let resp = add(
        w.key(Role::Admin),
        serde_json::json!({ "email": "boss@mi.example", "role": "owner" }),
    )
    .await?;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = add(
        w.key(Role::Owner),
        serde_json::json!({ "email": "boss@mi.example", "role": "owner" }),
    )
    .await?;
    assert_eq!(resp.status(), StatusCode::CREATED);
    for (body, field) in [
        (
            serde_json::json!({ "email": "not an email", "role": "viewer" }),
            "email",
        ),
        (
            serde_json::json!({ "email": "x@mi.example", "role": "instance_admin" }),
            "role",
        ),
        (
            serde_json::json!({ "email": "x@mi.example", "role": "viewer", "name": "a\u{7}b" }),
            "name",
        ),
    ] {
        let resp = add(w.key(Role::Owner), body.clone()).await?;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{body}");
        let problem: serde_json::Value = resp.json().await?;
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with(field)),
            "{problem}"
        );
    }
    // A member's role changes; someone who can sign in already gets no invitation.
    let now = app.store.now_ms().await?;
    let user = people::user_by_email(&app.store, "client@mi.example")
        .await?
        .expect("the user");
    let hash = password::hash_password(&SecretString::from(PASSWORD.to_owned()))?;
    people::set_password(&app.store, app.store.conn(), now, &user.id, &hash).await?;
    let resp = add(
        w.key(Role::Admin),
        serde_json::json!({ "email": "client@mi.example", "role": "editor" }),
    )
    .await?;
    let changed: serde_json::Value = resp.json().await?;
    assert_eq!(changed["role"], "editor");
    assert!(changed.get("invitation_url").is_none(), "{changed}");

    // Taking people out: admins remove non-owners, owners remove owners, the last owner stays.
    let remove = |key: &str, user_id: &str| {
        app.http
            .delete(app.url(&format!("/v1/members/{user_id}")))
            .bearer_auth(key.to_owned())
            .send()
    };
    let boss = people::user_by_email(&app.store, "boss@mi.example")
        .await?
        .expect("boss");
    let resp = remove(w.key(Role::Admin), &boss.id).await?;
    assert_eq!(
        resp.status(),
        StatusCode::FORBIDDEN,
        "an admin removes an owner"
    );
    let resp = remove(w.key(Role::Owner), &boss.id).await?;
    assert_eq!(resp.status(), StatusCode::CONFLICT, "the last owner");
    let resp = remove(w.key(Role::Admin), &user.id).await?;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = remove(w.key(Role::Admin), &user.id).await?;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND, "removed once");
    let other = app.world("mj").await?;
    let resp = remove(w.key(Role::Owner), &other.member_user_id).await?;
    assert_eq!(
        resp.status(),
        StatusCode::NOT_FOUND,
        "another workspace's member"
    );
    let add_owner = add(
        w.key(Role::Owner),
        serde_json::json!({ "email": "second@mi.example", "role": "owner" }),
    )
    .await?;
    assert_eq!(add_owner.status(), StatusCode::CREATED);
    let resp = remove(w.key(Role::Owner), &boss.id).await?;
    assert_eq!(
        resp.status(),
        StatusCode::NO_CONTENT,
        "not the last owner any more"
    );
    let listed: serde_json::Value = app
        .http
        .get(app.url("/v1/members"))
        .bearer_auth(w.key(Role::Admin))
        .send()
        .await?
        .json()
        .await?;
    let emails: Vec<&str> = listed["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["email"].as_str())
        .collect();
    assert!(
        !emails.contains(&"boss@mi.example") && !emails.contains(&"client@mi.example"),
        "{listed}"
    );
    Ok(())
}

/// A viewer opens the client report from the console (the API's page, with its own policy),
/// and sees on the accounts page why an account's numbers cannot be read.
pub async fn the_console_opens_the_report_and_shows_insights_problems(
    app: TestApp,
) -> anyhow::Result<()> {
    let w = app.world("rp").await?;
    let (cookie, _) = signed_in(&app, &w, "viewer@rp.example", Role::Viewer).await?;
    let get = |path: &'static str| {
        let app = &app;
        let cookie = cookie.clone();
        async move {
            let resp = client()?
                .get(app.url(path))
                .header("cookie", cookie)
                .send()
                .await?;
            let status = resp.status();
            let csp = resp
                .headers()
                .get("content-security-policy")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            anyhow::Ok((status, csp, resp.text().await?))
        }
    };
    let (status, csp, page) = get("/report?from=2026-01-01&to=2026-01-31").await?;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(csp.contains("img-src data:"), "{csp}");
    assert!(page.contains("from 2026-01-01 to 2026-01-31"), "{page}");
    let (status, _, page) = get("/report?from=soon").await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(page.contains("from:"), "{page}");

    pressroom_store::repo::accounts::set_insights_problem(
        &app.store,
        app.store.conn(),
        &w.ws_id,
        &w.account_id,
        Some("reconnect the Facebook Page and grant <read_insights>"),
    )
    .await?;
    let (status, _, page) = get("/accounts").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(
            "Insights unavailable: reconnect the Facebook Page and grant &lt;read_insights&gt;"
        ),
        "{page}"
    );
    let (_, _, posts) = get("/posts").await?;
    assert!(
        posts.contains("action=\"/report\""),
        "the posts page links the report"
    );
    Ok(())
}

on_both_backends!(
    the_console_opens_the_report_and_shows_insights_problems,
    admins_invite_members_and_only_owners_make_owners,
    the_posts_list_filters_by_platform_account_campaign_and_dates,
    signed_out_browsers_sign_in_first_and_come_back_only_to_our_pages,
    console_forms_need_the_csrf_token_and_the_apis_role,
    pages_escape_what_people_typed_and_show_one_workspace,
);

/// The accounts page's connect button: the API's connect start (its browser cookie set on
/// this browser), a page that moves on to the platform's consent screen, and the callback
/// bringing the browser back to the accounts page with the outcome.
async fn connect_runs_the_oauth_flow_in_the_browser(app: TestApp) -> anyhow::Result<()> {
    let w = app.world("oc").await?;
    let (cookie, csrf) = signed_in(&app, &w, "ola@oc.example", Role::Admin).await?;
    let http = client()?;
    let page = http
        .get(app.url("/accounts"))
        .header(COOKIE, cookie.clone())
        .send()
        .await?;
    let html = page.text().await?;
    assert!(
        html.contains("action=\"/accounts/connect\""),
        "a connect form: {html}"
    );
    let start = |csrf: String| {
        http.post(app.url("/accounts/connect"))
            .header(COOKIE, cookie.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf={csrf}&platform=linkedin&name=main"))
            .send()
    };
    let resp = start("wrong".into()).await?;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = start(csrf.clone()).await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let connect_cookie = resp
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("pressroom_connect_"))
        .and_then(|c| c.split(';').next())
        .expect("the connect's browser cookie")
        .to_owned();
    let html = resp.text().await?;
    // Attributes are escaped (`/` as `&#x2f;`, `&` as `&amp;`).
    let url = html
        .split("href=\"")
        .map(|s| {
            s.split('"')
                .next()
                .unwrap_or_default()
                .replace("&#x2f;", "/")
                .replace("&amp;", "&")
        })
        .find(|s| s.starts_with("https://platform.example/authorize"))
        .expect("the consent screen's address");
    assert!(html.contains("data-autofollow"), "{html}");
    let state = url
        .split("state=")
        .nth(1)
        .and_then(|s| s.split('&').next())
        .expect("state")
        .to_owned();
    // Back from the platform: to the accounts page, with what happened.
    let resp = http
        .get(app.url(&format!("/v1/oauth/callback?state={state}&code=good")))
        .header(COOKIE, connect_cookie)
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[LOCATION], "/accounts");
    let flash = cookie_value(&resp, "pressroom_flash").unwrap_or_default();
    assert!(
        flash.starts_with("ok=Connected+1+linkedin+account"),
        "{flash}"
    );
    let page = http
        .get(app.url("/accounts"))
        .header(COOKIE, cookie)
        .send()
        .await?;
    assert!(
        page.text().await?.contains(">main<"),
        "the new account is listed"
    );
    Ok(())
}

fn with_redirect_uri(state: pressroom_api::ApiState) -> pressroom_api::ApiState {
    let mut state = state;
    state.oauth_redirect_uri = Some("https://app.example/v1/oauth/callback".into());
    state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_runs_the_oauth_flow_in_the_browser_sqlite() {
    crate::harness::run_configured(
        pressroom_store::Backend::Sqlite,
        "connect_runs_the_oauth_flow_in_the_browser",
        with_redirect_uri,
        connect_runs_the_oauth_flow_in_the_browser,
    )
    .await;
}
