//! `pressroom model pull` as a user runs it: the real binary pulls a tiny model (written by
//! `pressroom model init-tiny`) from the fake hub that `HF_ENDPOINT` points at, `model list`
//! shows it with its digest, and it generates the same pixels as the folder it came from.
//! The hub's refusals reach the terminal explained, and the token never does.

use anyhow::{Context, ensure};
use pressroom_e2e::{Db, TestApp};
use pressroom_models::hub::fake::FakeHub;
use pressroom_models::manifest::{digest, hash_file};
use pressroom_models::{FileEntry, Manifest};

const REPO: &str = "pressroom/Tiny-SD";
const TOKEN: &str = "hf_e2e_secret_0123456789";

fn pixels(path: &std::path::Path) -> anyhow::Result<image::RgbImage> {
    Ok(image::open(path)
        .with_context(|| format!("decoding {}", path.display()))?
        .to_rgb8())
}

#[test]
fn a_pulled_model_is_listed_with_its_digest_and_generates() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let hub = rt.block_on(FakeHub::start())?;
    let app = TestApp::new(Db::Sqlite, "")?;

    let source = app.path().join("tiny-source");
    let source_arg = source.display().to_string();
    app.run(&["model", "init-tiny", &source_arg])?;
    // What real repos carry besides, which a pull must leave on the hub.
    std::fs::write(source.join("unet/diffusion_pytorch_model.bin"), b"pickle")?;
    std::fs::write(source.join("v1-5-pruned-emaonly.ckpt"), b"pickle")?;
    let commit = hub.add_repo(REPO, &source)?;

    let env = [("HF_ENDPOINT", hub.endpoint()), ("HF_TOKEN", TOKEN)];
    let (ok, out, err) = app.run_with_env(&["model", "pull", REPO], &env)?;
    ensure!(
        ok,
        "model pull failed\n--- stdout\n{out}\n--- stderr\n{err}"
    );
    let folder = app.data_dir.join("models").join("tiny-sd");
    assert!(
        out.contains(&format!("pulled {REPO}@main into {}", folder.display())),
        "{out}"
    );
    assert!(
        err.contains("downloaded"),
        "not a terminal: a log line per file\n{err}"
    );
    assert!(
        !out.contains(TOKEN) && !err.contains(TOKEN),
        "the token is never printed"
    );
    assert!(!folder.join("unet/diffusion_pytorch_model.bin").exists());
    assert!(!folder.join("v1-5-pruned-emaonly.ckpt").exists());

    // The manifest's digest is the digest of the files on disk, and `model list` shows it.
    let manifest = Manifest::read(&folder)?;
    let mut on_disk = Vec::new();
    for f in &manifest.files {
        let (sha256, size) = hash_file(&folder.join(&f.path))?;
        on_disk.push(FileEntry {
            path: f.path.clone(),
            size,
            sha256,
        });
    }
    assert_eq!(manifest.digest, digest(&on_disk));
    let listed = app.run(&["model", "list", "--json"])?;
    let entry: serde_json::Value = listed
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<Vec<serde_json::Value>, _>>()?
        .into_iter()
        .find(|m| m["name"] == "tiny-sd")
        .with_context(|| format!("tiny-sd is not listed: {listed}"))?;
    assert_eq!(entry["digest"], manifest.digest.as_str());
    assert_eq!(entry["family"], "sd1");
    assert_eq!(entry["dtype"], "F32");
    assert_eq!(entry["source"]["commit"], commit.as_str());
    let table = app.run(&["model", "list"])?;
    assert!(
        table.contains("tiny-sd") && table.contains(&manifest.digest[..19]),
        "{table}"
    );

    // The pulled folder generates exactly what its source folder does.
    let mut images = Vec::new();
    for (model, png) in [(&folder, "pulled.png"), (&source, "source.png")] {
        let png = app.path().join(png);
        let (model, png_arg) = (model.display().to_string(), png.display().to_string());
        app.run(&[
            "generate",
            "--model",
            &model,
            "--device",
            "cpu",
            "--steps",
            "2",
            "--width",
            "64",
            "--height",
            "64",
            "--seed",
            "7",
            "--output",
            &png_arg,
            "a lighthouse at dusk",
        ])?;
        images.push(pixels(&png)?);
    }
    assert_eq!(images[0].dimensions(), (64, 64));
    assert!(
        images[0] == images[1],
        "the pulled weights are the source's"
    );

    // Refusals, explained on the terminal.
    let (ok, _, err) = app.run_with_env(&["model", "pull", REPO], &env)?;
    assert!(
        !ok && err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    hub.gate(REPO, "hf_accepted");
    let (ok, _, err) = app.run_with_env(&["model", "pull", REPO, "--name", "gated"], &env)?;
    assert!(
        !ok && err.contains(&format!("accept its licence at {}/{REPO}", hub.endpoint())),
        "{err}"
    );
    assert!(!err.contains(TOKEN), "{err}");
    Ok(())
}
