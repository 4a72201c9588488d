//! People through the real binary (issue 13): the first owner of a fresh install is made with
//! `pressroom users add --password-stdin`, signs in to `pressroom serve` with a cookie, and
//! `users reset-password` and `users remove` end their sessions; a person added without a
//! password gets an invitation link (alone on the last line, and mailed through `[email]`)
//! that sets theirs once. Bad input (a short password,
//! an unknown role, a bad email) is refused with the field named and nothing stored.

use std::time::Duration;

use anyhow::ensure;
use pressroom_e2e::{Db, HttpAnswer, TestApp, fake_smtp, free_port, http_request, terminate};

const PASSWORD: &str = "correct horse battery staple";

fn sign_in(addr: &str, email: &str, password: &str) -> anyhow::Result<HttpAnswer> {
    let body = serde_json::json!({ "email": email, "password": password }).to_string();
    http_request(
        addr,
        "POST",
        "/v1/sessions",
        &[("content-type", "application/json")],
        body.as_bytes(),
    )
}

/// `pressroom_session=…; pressroom_csrf=…` from a sign-in's Set-Cookie headers.
fn cookies(answer: &HttpAnswer) -> String {
    answer
        .headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .filter_map(|(_, v)| v.split(';').next())
        .collect::<Vec<_>>()
        .join("; ")
}

fn me(addr: &str, cookie: &str) -> anyhow::Result<HttpAnswer> {
    http_request(addr, "GET", "/v1/me", &[("cookie", cookie)], b"")
}

/// Whether the session stops working within the API's authentication cache time (5 s), as a
/// change made by another process (the CLI) takes effect.
fn signed_out_soon(addr: &str, cookie: &str) -> anyhow::Result<bool> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if me(addr, cookie)?.status == 401 {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Ok(false)
}

#[test]
fn the_first_owner_is_made_from_the_cli_and_signs_in() -> anyhow::Result<()> {
    let port = free_port()?;
    let (smtp_port, mails) = fake_smtp()?;
    let config = format!(
        "[api]\nbind = \"127.0.0.1:{port}\"\n\n[email]\n\
         smtp_url = \"smtp://127.0.0.1:{smtp_port}\"\nfrom = \"Pressroom <press@acme.example>\"\n"
    );
    let mut app = TestApp::new(Db::Sqlite, &config)?;
    let add = [
        "users",
        "add",
        "Owner@Acme.example",
        "--workspace",
        "acme",
        "--role",
        "owner",
        "--password-stdin",
    ];

    // Refused, each naming what is wrong, and nothing stored.
    let (ok, _, err) = app.run_with_stdin(&add, "short\n")?;
    ensure!(
        !ok && err.contains("password: at least 10 characters"),
        "{err}"
    );
    let mut bad_role = add;
    bad_role[6] = "superuser";
    let (ok, _, err) = app.run_with_stdin(&bad_role, &format!("{PASSWORD}\n"))?;
    ensure!(!ok && err.contains("--role"), "{err}");
    let mut bad_email = add;
    bad_email[2] = "not an email";
    let (ok, _, err) = app.run_with_stdin(&bad_email, &format!("{PASSWORD}\n"))?;
    ensure!(!ok && err.contains("EMAIL"), "{err}");
    let (ok, _, err) = app.run_with_stdin(&["users", "list", "--workspace", "acme"], "")?;
    ensure!(
        !ok && err.contains("no workspace \"acme\""),
        "nothing was stored: {err}"
    );

    let (ok, out, err) = app.run_with_stdin(&add, &format!("{PASSWORD}\n"))?;
    ensure!(ok, "users add: {out}{err}");
    ensure!(
        out.contains("owner@acme.example is owner of workspace acme"),
        "{out}"
    );
    // An approver without a password: an invitation link, alone on the last line.
    let (ok, out, err) = app.run_with_stdin(
        &[
            "users",
            "add",
            "client@acme.example",
            "--workspace",
            "acme",
            "--role",
            "approver",
        ],
        "",
    )?;
    ensure!(ok, "{out}{err}");
    let link = out.lines().last().unwrap_or_default().to_owned();
    let prefix = format!("http://127.0.0.1:{port}/invite/");
    ensure!(
        link.starts_with(&prefix) && link.len() > prefix.len() + 40,
        "{out}"
    );
    let invitation = link[prefix.len()..].to_owned();
    ensure!(
        out.contains("invitation mailed to client@acme.example"),
        "{out}{err}"
    );
    let mail = mails.recv_timeout(Duration::from_secs(10))?;
    ensure!(
        mail.contains("RCPT TO:<client@acme.example>")
            && mail.contains("MAIL FROM:<press@acme.example>")
            && mail.contains(&invitation)
            && mail.contains("acme"),
        "{mail}"
    );
    let list = app.run(&["users", "list", "--workspace", "acme"])?;
    ensure!(
        list.lines().any(|l| l.contains("owner@acme.example")
            && l.contains("owner")
            && l.contains("can sign in"))
            && list.lines().any(|l| l.contains("client@acme.example")
                && l.contains("approver")
                && l.contains("no password")),
        "{list}"
    );

    let mut serve = app.spawn_serve("people")?;
    let addr = format!("127.0.0.1:{port}");
    let result = (|| -> anyhow::Result<()> {
        app.wait_healthy(&addr, Duration::from_secs(120))?;
        // The client has no password: no sign-in, the same answer as a wrong password.
        let refused = sign_in(&addr, "client@acme.example", PASSWORD)?;
        ensure!(refused.status == 401, "{} {}", refused.status, refused.body);
        // The invitation sets their password and signs them in, once.
        let accept = |password: &str| {
            let body = serde_json::json!({ "token": invitation, "password": password }).to_string();
            http_request(
                &addr,
                "POST",
                "/v1/invitations/accept",
                &[("content-type", "application/json")],
                body.as_bytes(),
            )
        };
        let short = accept("short")?;
        ensure!(
            short.status == 400 && short.body.contains("password"),
            "{}",
            short.body
        );
        let accepted = accept("the client's own passphrase")?;
        ensure!(
            accepted.status == 201,
            "{} {}",
            accepted.status,
            accepted.body
        );
        let client = me(&addr, &cookies(&accepted))?.json();
        ensure!(client["memberships"][0]["role"] == "approver", "{client}");
        let replay = accept("a passphrase of the attacker")?;
        ensure!(
            replay.status == 401,
            "a used invitation: {} {}",
            replay.status,
            replay.body
        );
        ensure!(
            sign_in(&addr, "client@acme.example", "the client's own passphrase")?.status == 201
        );

        let signed = sign_in(&addr, "OWNER@acme.example", PASSWORD)?;
        ensure!(signed.status == 201, "{} {}", signed.status, signed.body);
        let cookie = cookies(&signed);
        let who = me(&addr, &cookie)?;
        ensure!(who.status == 200, "{} {}", who.status, who.body);
        let body = who.json();
        ensure!(
            body["user"]["email"] == "owner@acme.example"
                && body["memberships"][0]["workspace"] == "acme"
                && body["memberships"][0]["role"] == "owner",
            "{body}"
        );

        // A new password ends every session; the new one signs in, the old one does not.
        let new_password = "another long passphrase";
        let (ok, out, err) = app.run_with_stdin(
            &[
                "users",
                "reset-password",
                "owner@acme.example",
                "--password-stdin",
            ],
            &format!("{new_password}\n"),
        )?;
        ensure!(ok, "{out}{err}");
        ensure!(
            signed_out_soon(&addr, &cookie)?,
            "a session after reset-password"
        );
        ensure!(sign_in(&addr, "owner@acme.example", PASSWORD)?.status == 401);
        let again = sign_in(&addr, "owner@acme.example", new_password)?;
        ensure!(again.status == 201, "{}", again.body);
        let cookie = cookies(&again);

        // Taken out of their only workspace: signed out everywhere.
        let (ok, out, err) = app.run_with_stdin(
            &[
                "users",
                "remove",
                "owner@acme.example",
                "--workspace",
                "acme",
            ],
            "",
        )?;
        ensure!(ok, "{out}{err}");
        ensure!(signed_out_soon(&addr, &cookie)?, "a session after removal");
        Ok(())
    })();
    terminate(&mut serve, Duration::from_secs(30))?;
    result.map_err(|e| anyhow::anyhow!("{e:#}\n{}", app.dump_logs(30)))
}
