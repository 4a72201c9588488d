//! The engine in its own process (issue 19): `pressroom serve` with the generate role starts
//! `pressroom-engine`; killed with SIGKILL in the middle of a generation, the engine takes
//! only that generation with it — the daemon stays up and keeps answering, restarts the
//! engine, the generation is retried, and the post is published exactly once.
//! With `generation.models`, each local model runs in an engine process of its own, and the
//! images API's `model` picks one by name.

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use pressroom_e2e::{Db, TestApp, free_port, http_request, terminate};

const CAMPAIGN: &str = r#"name = "engine-crash"
workspace = "engine"

[schedule]
webhook = true

[generation]
backend = "local"
prompt = "A lighthouse at dusk"
# Long enough on the tiny model to be killed in the middle of it.
steps = 150
width = 256
height = 256
seed = 7

[caption]
template = "Killed once, published once"

[[targets]]
account = "sb"
preset = "instagram-square"
"#;

/// The daemon's child processes (the engine), from /proc.
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

fn wait_for(
    what: &str,
    timeout: Duration,
    mut done: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while !done()? {
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

#[test]
fn a_killed_engine_costs_one_retry_and_nothing_else() -> anyhow::Result<()> {
    let port = free_port()?;
    let config = format!(
        "[api]\nbind = \"127.0.0.1:{port}\"\n\n[scheduler]\nenabled = false\n\n[workers]\npoll_ms = 50\n\n[retry]\nbase_ms = 200\ncap_ms = 1000\n"
    );
    let mut app = TestApp::new(Db::Sqlite, &config)?;
    app.run(&["accounts", "add-sandbox", "sb", "--workspace", "engine"])?;
    let file = app.path().join("engine-crash.toml");
    std::fs::write(&file, CAMPAIGN)?;
    app.run(&["campaign", "load", &file.display().to_string()])?;

    let mut serve = app.spawn_serve_env(
        "engine",
        &[],
        &[(
            "RUST_LOG",
            "info,pressroom_diffusion=debug,pressroom_runtime::worker=debug",
        )],
    )?;
    let result = (|| -> anyhow::Result<()> {
        let addr = format!("127.0.0.1:{port}");
        app.wait_healthy(&addr, Duration::from_secs(120))?;
        let daemon = serve.id();
        let engines = children(daemon);
        ensure!(
            engines.len() == 1,
            "one engine child process, found {engines:?}"
        );
        let engine = engines[0];
        let exe = std::fs::read_link(format!("/proc/{engine}/exe"))?;
        ensure!(
            exe.file_name().is_some_and(|n| n == "pressroom-engine"),
            "the child is {}",
            exe.display()
        );
        // The daemon itself does not map libtorch; the engine does.
        let maps =
            |pid: u32| std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
        ensure!(
            !maps(daemon).contains("libtorch"),
            "the daemon loaded libtorch"
        );
        ensure!(
            maps(engine).contains("libtorch"),
            "the engine did not load libtorch"
        );

        app.run(&[
            "campaign",
            "trigger",
            "engine-crash",
            "--workspace",
            "engine",
        ])?;
        // The engine logs each batch it starts (debug): kill it once the generation runs.
        wait_for("the generation to start", Duration::from_secs(60), || {
            Ok(app.count_in_logs("running batch") >= 1)
        })?;
        std::thread::sleep(Duration::from_millis(300));
        let killed = std::process::Command::new("kill")
            .args(["-KILL", &engine.to_string()])
            .status()
            .context("kill")?;
        ensure!(killed.success(), "kill -9 {engine} failed");

        // The daemon stays up and answers while the engine is restarted.
        ensure!(
            serve.try_wait()?.is_none(),
            "the daemon died with its engine"
        );
        let health = http_request(&addr, "GET", "/healthz", &[], b"")?;
        ensure!(health.status == 200, "healthz answered {}", health.status);
        wait_for("the engine's restart", Duration::from_secs(60), || {
            Ok(app.count_in_logs("engine process restarted") >= 1)
        })?;
        let metrics = http_request(&addr, "GET", "/metrics", &[], b"")?;
        ensure!(
            metrics
                .body
                .lines()
                .any(|l| l.starts_with("pressroom_engine_restarts_total{") && l.ends_with(" 1")),
            "/metrics does not count the restart:\n{}",
            metrics.body
        );
        let restarted = children(daemon);
        ensure!(
            restarted.len() == 1 && restarted[0] != engine,
            "a new engine process: {restarted:?} (killed {engine})"
        );

        wait_for("the post to be published", Duration::from_secs(180), || {
            let posts = app.posts("engine")?;
            Ok(posts.iter().any(|p| p["state"] == "published"))
        })?;
        ensure!(
            app.count_in_logs("killed by signal 9") >= 1,
            "the reason is logged\n{}",
            app.dump_logs(40)
        );
        ensure!(serve.try_wait()?.is_none(), "the daemon is still running");
        // The kill hit the generation itself: its job failed with the engine's reason and ran
        // again (not a kill between two jobs that cost nothing).
        let retried = app
            .log_lines_with(&["will retry"], 100)
            .into_iter()
            .any(|l| l.contains("the engine process stopped"));
        ensure!(
            retried,
            "the generate job was not retried after the kill\n{}",
            app.dump_logs(40)
        );
        let commits = app.sandbox_commits()?;
        ensure!(
            commits.len() == 1,
            "published once, not {}: {commits:?}",
            commits.len()
        );
        // A daemon killed with SIGKILL takes its engine with it (the engine reads the end of
        // its input), so no orphan keeps the model in memory.
        let engine = restarted[0];
        serve.kill()?;
        serve.wait()?;
        wait_for(
            "the orphaned engine to exit",
            Duration::from_secs(30),
            || {
                Ok(!std::path::Path::new(&format!("/proc/{engine}")).exists()
                    || std::fs::read_to_string(format!("/proc/{engine}/stat"))
                        .is_ok_and(|s| s.contains(") Z ")))
            },
        )?;
        Ok(())
    })();
    let _ = terminate(&mut serve, Duration::from_secs(30));
    if let Err(e) = result {
        bail!("{e:#}\n{}", app.dump_logs(60));
    }
    Ok(())
}

/// One generation through the images API; its PNG bytes.
fn image_from(addr: &str, key: &str, model: &str) -> anyhow::Result<Vec<u8>> {
    use base64::Engine as _;
    let body = serde_json::json!({
        "prompt": "a red kite", "model": model, "size": "64x64", "steps": 2, "seed": 5,
        "response_format": "b64_json"
    })
    .to_string();
    let auth = format!("Bearer {key}");
    let answer = http_request(
        addr,
        "POST",
        "/v1/images/generations",
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        body.as_bytes(),
    )?;
    ensure!(
        answer.status == 200,
        "model {model}: HTTP {}: {}",
        answer.status,
        answer.json()
    );
    let b64 = answer.json()["data"][0]["b64_json"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Ok(base64::engine::general_purpose::STANDARD.decode(b64)?)
}

#[test]
fn each_local_model_runs_in_an_engine_of_its_own_and_the_api_picks_by_name() -> anyhow::Result<()> {
    let port = free_port()?;
    let config = format!(
        "[api]\nbind = \"127.0.0.1:{port}\"\n\n[scheduler]\nenabled = false\n\n[generation]\nmodel = \"alpha\"\nmodels = [\"beta\"]\n"
    );
    let mut app = TestApp::new(Db::Sqlite, &config)?;
    // Two tiny models with different random weights, as `model pull` would leave them.
    for (name, seed) in [("alpha", "1"), ("beta", "2")] {
        let dir = app.data_dir.join("models").join(name).display().to_string();
        app.run(&["model", "init-tiny", &dir, "--seed", seed])?;
    }
    let out = app.run(&[
        "keys",
        "create",
        "--workspace",
        "models",
        "--role",
        "editor",
    ])?;
    let key = out.lines().last().unwrap_or_default().trim().to_string();
    let mut serve = app.spawn_serve("models")?;
    let result = (|| -> anyhow::Result<()> {
        let addr = format!("127.0.0.1:{port}");
        app.wait_healthy(&addr, Duration::from_secs(120))?;
        let engines = children(serve.id());
        ensure!(
            engines.len() == 2,
            "one engine per model, found {engines:?}"
        );
        let alpha = image_from(&addr, &key, "alpha")?;
        let beta = image_from(&addr, &key, "beta")?;
        let default = image_from(&addr, &key, "dall-e-3")?;
        ensure!(alpha != beta, "the two models answered the same image");
        ensure!(
            default == alpha,
            "an unknown model name is served by the default model"
        );
        ensure!(
            image_from(&addr, &key, "beta")? == beta,
            "the same request, the same image"
        );
        Ok(())
    })();
    let _ = terminate(&mut serve, Duration::from_secs(30));
    if let Err(e) = result {
        bail!("{e:#}\n{}", app.dump_logs(60));
    }
    Ok(())
}
