//! Several machines (issue 19): three `pressroom serve` instances on one PostgreSQL database,
//! each with its own data directory and its own share of the work, and one bucket on a local
//! S3-compatible server (moto, started here). A run is generated on the first, rendered on the
//! second and published from the third, once; its image is read back through every instance's
//! API and a signed media link opens on every one of them; no instance keeps an image on its
//! own disk; erasing the workspace removes its objects from the bucket.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use pressroom_e2e::{Db, TestApp, block_on, free_port, http_request, terminate};
use pressroom_store::BlobStore;
use pressroom_store::repo::blob_keys;
use pressroom_store::testing::MotoServer;

const WORKSPACE: &str = "agency";

const CAMPAIGN: &str = r#"name = "scale-out"
workspace = "agency"

[schedule]
webhook = true

[generation]
backend = "local"
prompt = "A harbour crane at dawn"
steps = 2
width = 64
height = 64
seed = 11

[caption]
template = "Made on one machine, cut on another, posted from a third"

[[targets]]
account = "sb"
preset = "instagram-square"
"#;

/// Image files under `dir`, leaving out the model and the connector upload cache.
fn images_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if name != "models" && name != "blob-cache" {
                    stack.push(path);
                }
            } else if [".png", ".jpg", ".jpeg", ".webp"]
                .iter()
                .any(|ext| name.ends_with(ext))
            {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

fn get(addr: &str, path: &str, key: &str) -> anyhow::Result<Vec<u8>> {
    let auth = format!("Bearer {key}");
    let headers: Vec<(&str, &str)> = if key.is_empty() {
        Vec::new()
    } else {
        vec![("authorization", auth.as_str())]
    };
    let answer = http_request(addr, "GET", path, &headers, b"")?;
    ensure!(
        answer.status == 200,
        "GET {path} on {addr}: HTTP {}",
        answer.status
    );
    Ok(answer.bytes)
}

#[test]
fn a_run_crosses_three_instances_through_one_bucket() -> anyhow::Result<()> {
    let moto = MotoServer::start("pressroom-scale").map_err(|e| anyhow::anyhow!("{e}"))?;
    let url = moto.url("shared");
    let ports = [free_port()?, free_port()?, free_port()?];
    let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let config = format!(
        "{}\n[scheduler]\nenabled = false\n\n[workers]\npoll_ms = 50\n\n[media]\npublic_base_url = \"http://{}\"\n",
        moto.storage_toml(&url),
        addrs[1]
    );
    let mut app = TestApp::new(Db::Postgres, &config)?;
    app.run(&["accounts", "add-sandbox", "sb", "--workspace", WORKSPACE])?;
    let file = app.path().join("scale-out.toml");
    std::fs::write(&file, CAMPAIGN)?;
    app.run(&["campaign", "load", &file.display().to_string()])?;
    let out = app.run(&[
        "keys",
        "create",
        "--workspace",
        WORKSPACE,
        "--role",
        "owner",
    ])?;
    let key = out.lines().last().unwrap_or_default().trim().to_string();

    // One share of the work each; every instance its own data directory.
    let outbox = app.data_dir.join("outbox").display().to_string();
    let shares = [
        ("generate", "generate"),
        ("render", "render"),
        ("publish", "publish,notify,review"),
    ];
    let mut dirs = Vec::new();
    let mut serves = Vec::new();
    for (i, (tag, roles)) in shares.iter().enumerate() {
        let dir = app.path().join(format!("machine-{tag}"));
        let dir_s = dir.display().to_string();
        serves.push(app.spawn_serve_env(
            tag,
            &["--bind", &addrs[i]],
            &[
                ("PRESSROOM__PATHS__DATA_DIR", dir_s.as_str()),
                ("PRESSROOM__WORKERS__ROLES", roles),
                (
                    "PRESSROOM__CONNECTORS__SANDBOX__OUTBOX_DIR",
                    outbox.as_str(),
                ),
            ],
        )?);
        dirs.push(dir);
    }
    let result = (|| -> anyhow::Result<()> {
        for addr in &addrs {
            app.wait_healthy(addr, Duration::from_secs(120))?;
        }
        app.run(&["campaign", "trigger", "scale-out", "--workspace", WORKSPACE])?;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let posts = app.posts(WORKSPACE)?;
            if posts.iter().any(|p| p["state"] == "published") {
                break;
            }
            if Instant::now() > deadline {
                bail!("not published: {posts:?}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let commits = app.sandbox_commits()?;
        ensure!(commits.len() == 1, "published once, not {}", commits.len());
        // Each share of the work ran where it was given (generation needs the engine only the
        // first one started; rendering and publishing only happen where their roles are).
        ensure!(
            app.count_in_logs("engine process ready") == 1,
            "only the generate instance starts an engine"
        );
        for dir in &dirs {
            let local = images_under(dir);
            ensure!(
                local.is_empty(),
                "images on an instance's own disk: {local:?}"
            );
        }

        // The run's image, through each instance's API, from the bucket.
        let assets: serde_json::Value =
            serde_json::from_slice(&get(&addrs[2], "/v1/assets", &key)?)?;
        let asset = assets["data"][0]["id"]
            .as_str()
            .context("the run's asset is listed")?
            .to_string();
        let path = format!("/v1/assets/{asset}/image");
        let first = get(&addrs[0], &path, &key)?;
        ensure!(first.starts_with(b"\x89PNG"), "not a PNG");
        for addr in &addrs[1..] {
            ensure!(
                get(addr, &path, &key)? == first,
                "{addr} served other bytes"
            );
        }

        // A signed media link (as Instagram and TikTok fetch them) opens on every instance.
        let body = serde_json::json!({
            "prompt": "a lighthouse", "size": "64x64", "steps": 2, "seed": 3, "response_format": "url"
        })
        .to_string();
        let auth = format!("Bearer {key}");
        let made = http_request(
            &addrs[0],
            "POST",
            "/v1/images/generations",
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            body.as_bytes(),
        )?;
        ensure!(made.status == 200, "images API: HTTP {}", made.status);
        let link = made.json()["data"][0]["url"]
            .as_str()
            .context("a url")?
            .to_string();
        let link_path = link
            .strip_prefix(&format!("http://{}", addrs[1]))
            .context("the link is on the public base URL")?
            .to_string();
        let linked = get(&addrs[0], &link_path, "")?;
        for addr in &addrs[1..] {
            ensure!(
                get(addr, &link_path, "")? == linked,
                "{addr} served other bytes"
            );
        }

        // Erasure removes the workspace's objects from the bucket.
        let keys = block_on(async {
            Ok::<_, anyhow::Error>(blob_keys::all(app.store().await?.conn()).await?)
        })?;
        ensure!(
            keys.len() >= 3,
            "an image, its rendition and the API's image: {keys:?}"
        );
        let cache = tempfile::tempdir()?;
        let bucket = moto.blobs("shared", cache.path().to_path_buf());
        for k in &keys {
            ensure!(block_on(bucket.exists(k)), "{k} is not in the bucket");
        }
        let confirm = serde_json::json!({ "confirm": WORKSPACE }).to_string();
        let erased = http_request(
            &addrs[2],
            "POST",
            "/v1/workspaces/current/erase",
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            confirm.as_bytes(),
        )?;
        ensure!(erased.status == 200, "erase: HTTP {}", erased.status);
        for k in &keys {
            ensure!(
                !block_on(bucket.exists(k)),
                "{k} is still in the bucket after erasure"
            );
        }
        let gone = http_request(&addrs[0], "GET", &link_path, &[], b"")?;
        ensure!(
            gone.status == 404,
            "the erased image's link answered {}",
            gone.status
        );
        Ok(())
    })();
    for serve in &mut serves {
        let _ = terminate(serve, Duration::from_secs(30));
    }
    if let Err(e) = result {
        bail!("{e:#}\n{}\n--- moto\n{}", app.dump_logs(40), moto.output());
    }
    Ok(())
}
