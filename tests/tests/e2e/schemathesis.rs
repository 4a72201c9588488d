//! schemathesis (installed into .venv by scripts/setup.sh) fuzzes `pressroom serve` from its
//! own `/openapi.json`: no request may get a server error, every response must match the
//! document (status, content type, headers, body schema), and every request the document
//! calls invalid (a `limit` out of range, a `null` for a non-nullable field, a missing
//! required body) must be refused with a 4xx rather than served. The workspace holds a campaign, a
//! run, its image and a published post, and schemathesis is told their ids, so the routes
//! that take ids reach their real logic instead of answering 404 to random ones.

use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use pressroom_e2e::{Db, TestApp, free_port, http_call, terminate, workspace_root};

/// Webhook-triggered, so nothing fires on its own; small and fast on the tiny model.
const CAMPAIGN: &str = r#"name = "fuzz"
workspace = "acme"

[schedule]
webhook = true

[generation]
prompt = "a linen tote on a table"
steps = 2
width = 64
height = 64

[caption]
template = "Meet the tote"

[[targets]]
account = "main"
preset = "sandbox"
"#;

/// Operations left out of the run, each with why. Everything else in the document is fuzzed.
const EXCLUDED: &[(&str, &str)] = &[
    // GDPR erasure deletes the workspace's campaigns, runs, posts and images: a generated body
    // that happened to confirm the slug would wipe the data the rest of the run needs.
    // Covered by gdpr_erase_removes_personal_data_and_keeps_the_record (crates/api/tests).
    ("POST", "/v1/workspaces/current/erase"),
    // Revoking a key: a listed id could be the test's own key, and every later request would
    // answer 401. Covered by the API tests on keys.
    ("DELETE", "/v1/keys/{id}"),
];

/// The last line `pressroom keys create` printed: the key.
fn create_key(app: &TestApp, args: &[&str]) -> anyhow::Result<String> {
    let out = app.run(args)?;
    let key = out
        .lines()
        .last()
        .context("keys create printed nothing")?
        .trim()
        .to_string();
    ensure!(key.starts_with("prk_"), "{out}");
    Ok(key)
}

/// `GET path` as JSON, failing on a non-200.
fn get_json(addr: &str, path: &str, key: &str) -> anyhow::Result<serde_json::Value> {
    let (status, body) = http_call(addr, "GET", path, Some(key))?;
    ensure!(status == 200, "GET {path}: {status} {body}");
    serde_json::from_str(&body).with_context(|| format!("GET {path}: {body}"))
}

/// The first id of a listing.
fn first_id(addr: &str, path: &str, key: &str) -> anyhow::Result<String> {
    let page = get_json(addr, path, key)?;
    page["data"][0]["id"]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("GET {path} listed nothing: {page}"))
}

/// Waits until the API answers and the triggered run has published its post.
fn wait_for_seed(addr: &str, key: &str, app: &TestApp) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let last = match http_call(addr, "GET", "/v1/posts", Some(key)) {
            Ok((200, body)) if body.contains("\"state\":\"published\"") => return Ok(()),
            Ok((status, body)) => format!("{status} {body}"),
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() > deadline {
            bail!(
                "the seeded post was not published in time (last: {last})\n{}",
                app.dump_logs(40)
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// One `[[operations]]` block of the schemathesis config.
fn operation(out: &mut String, name: &str, params: &[(&str, &str)], extra: &[&str]) {
    let _ = writeln!(out, "[[operations]]\ninclude-name = {name:?}");
    if !params.is_empty() {
        let kv: Vec<String> = params.iter().map(|(k, v)| format!("{k} = {v:?}")).collect();
        let _ = writeln!(out, "parameters = {{ {} }}", kv.join(", "));
    }
    for line in extra {
        let _ = writeln!(out, "{line}");
    }
    out.push('\n');
}

#[test]
fn schemathesis_finds_no_server_error_and_no_response_off_the_schema() -> anyhow::Result<()> {
    let st = workspace_root().join(".venv/bin/schemathesis");
    ensure!(
        st.exists(),
        "{} is missing: run scripts/setup.sh",
        st.display()
    );
    let port = free_port()?;
    // Rate limits the fuzzer cannot reach (per key, per address, failed authentications):
    // 429s would leave the routes behind them untested.
    let mut app = TestApp::new(
        Db::Sqlite,
        &format!(
            "[api]\nbind = \"127.0.0.1:{port}\"\nrate_limit_per_second = 100000.0\n\
             rate_limit_burst = 100000.0\nip_rate_limit_per_second = 100000.0\n\
             ip_rate_limit_burst = 100000.0\nauth_failures_per_second = 100000.0\n\
             auth_failures_burst = 100000.0\n"
        ),
    )?;
    app.run(&["accounts", "add-sandbox", "main", "--workspace", "acme"])?;
    let owner = create_key(
        &app,
        &["keys", "create", "--workspace", "acme", "--role", "owner"],
    )?;
    let instance = create_key(&app, &["keys", "create", "--role", "instance_admin"])?;
    let campaign = app.path().join("fuzz.toml");
    std::fs::write(&campaign, CAMPAIGN)?;
    app.run(&["campaign", "load", &campaign.display().to_string()])?;
    app.run(&["campaign", "trigger", "--workspace", "acme", "fuzz"])?;

    let mut serve = app.spawn_serve("schemathesis")?;
    let addr = format!("127.0.0.1:{port}");
    let outcome = (|| -> anyhow::Result<(bool, String, usize)> {
        wait_for_seed(&addr, &owner, &app)?;
        let doc_ops: usize = get_json(&addr, "/openapi.json", &owner)?["paths"]
            .as_object()
            .context("the document has no paths")?
            .values()
            .filter_map(|item| item.as_object().map(|o| o.len()))
            .sum();
        let campaign_id = first_id(&addr, "/v1/campaigns", &owner)?;
        let run_id = first_id(&addr, "/v1/runs", &owner)?;
        let asset_id = first_id(&addr, "/v1/assets", &owner)?;
        let post_id = first_id(&addr, "/v1/posts", &owner)?;
        let workspace_id = get_json(&addr, "/v1/workspaces/current", &owner)?["id"]
            .as_str()
            .context("the workspace has no id")?
            .to_string();

        let mut config = String::new();
        for op in [
            "GET /v1/campaigns/{id}",
            "POST /v1/campaigns/{id}/pause",
            "POST /v1/campaigns/{id}/resume",
            "POST /v1/campaigns/{id}/trigger",
            "POST /v1/campaigns/{id}/preview",
        ] {
            operation(&mut config, op, &[("id", &campaign_id)], &[]);
        }
        operation(&mut config, "GET /v1/runs/{id}", &[("id", &run_id)], &[]);
        for op in ["GET /v1/assets/{id}", "GET /v1/assets/{id}/image"] {
            operation(&mut config, op, &[("id", &asset_id)], &[]);
        }
        for op in [
            "GET /v1/posts/{id}",
            "POST /v1/posts/{id}/retry",
            "POST /v1/posts/{id}/cancel",
        ] {
            operation(&mut config, op, &[("id", &post_id)], &[]);
        }
        // Instance-admin routes get the instance key (the owner key would only see 403s).
        let instance_auth = format!("headers = {{ Authorization = \"Bearer {instance}\" }}");
        operation(
            &mut config,
            "POST /v1/workspaces/{workspace_id}/keys",
            &[("workspace_id", &workspace_id)],
            &[&instance_auth],
        );
        for op in ["GET /v1/workspaces", "POST /v1/workspaces"] {
            operation(&mut config, op, &[], &[&instance_auth]);
        }
        // Image generation only with schema-violating bodies: a valid one may ask for four
        // 4096x4096 images at 150 steps, minutes of CPU each, which would make the run a
        // benchmark. Valid requests are covered by openai_client.rs.
        operation(
            &mut config,
            "POST /v1/images/generations",
            &[],
            &["generation.mode = \"negative\""],
        );
        let config_path = app.path().join("schemathesis.toml");
        std::fs::write(&config_path, &config)?;

        let mut cmd = Command::new(&st);
        cmd.current_dir(app.path())
            .arg("--config-file")
            .arg(&config_path)
            .arg("run")
            .arg(format!("http://{addr}/openapi.json"))
            .args(["--header", &format!("Authorization: Bearer {owner}")])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,\
                 response_headers_conformance,response_schema_conformance,\
                 negative_data_rejection",
            ])
            .args(["--phases", "examples,coverage,fuzzing"])
            .args(["--max-examples", "25"])
            // One worker: with two, Hypothesis' lambda-source lookup parses Python source from
            // two threads at once and can fail inside CPython's `ast` ("AST constructor
            // recursion depth mismatch"), a runtime error of the tool, not of our API.
            .args(["--workers", "1"])
            .args(["--request-timeout", "60"])
            .arg("--no-shrink")
            .args(["--output-truncate", "false"])
            .env("NO_COLOR", "1");
        for (method, path) in EXCLUDED {
            cmd.args(["--exclude-name", &format!("{method} {path}")]);
        }
        let run = cmd.output().context("running schemathesis")?;
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );
        Ok((run.status.success(), text, doc_ops))
    })();
    let stopped = terminate(&mut serve, Duration::from_secs(30));
    let (passed, output, doc_ops) = outcome?;
    stopped?;
    ensure!(
        passed,
        "schemathesis reported failures:\n{output}\n{}",
        app.dump_logs(60)
    );
    // Its summary (checks run and passed, operations tested), for `--nocapture` runs.
    let summary = output.lines().skip_while(|l| !l.contains("SUMMARY"));
    eprintln!("{}", summary.collect::<Vec<_>>().join("\n"));
    // Every operation but the excluded ones was selected and tested (schemathesis leaves out
    // the document's own route, GET /openapi.json).
    let counted = |label: &str| -> Option<usize> {
        let rest = output.split_once(label)?.1.trim_start();
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    let want = doc_ops - 1 - EXCLUDED.len();
    ensure!(
        counted("Selected:") == Some(want) && counted("Tested:") == Some(want),
        "expected {want} operations selected and tested:\n{output}"
    );
    Ok(())
}
