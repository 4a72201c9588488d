//! `pressroom storage migrate --to s3://...` against a local S3 server (moto, started by the
//! test): the library moves from the data directory into the bucket, verified, a second run
//! copies nothing, the source stays, the command says what to configure next, and once
//! `[storage] url` names the bucket new images go there.

use anyhow::Context;
use pressroom_e2e::{Db, TestApp, block_on};
use pressroom_store::BlobStore;
use pressroom_store::repo::blob_keys;
use pressroom_store::testing::MotoServer;

fn photo(path: &std::path::Path, rgb: [u8; 3]) -> anyhow::Result<()> {
    image::RgbImage::from_pixel(96, 64, image::Rgb(rgb))
        .save(path)
        .with_context(|| format!("writing {}", path.display()))
}

#[test]
fn storage_migrate_moves_the_library_into_a_bucket() -> anyhow::Result<()> {
    let server = MotoServer::start("pressroom-e2e").map_err(|e| anyhow::anyhow!("{e}"))?;
    // Local blobs, with the bucket's connection settings for `--to`.
    let app = TestApp::new(Db::Sqlite, &server.storage_toml(""))?;
    app.run(&["keys", "create", "--workspace", "shop", "--role", "editor"])?;
    let red = app.path().join("red.png");
    let blue = app.path().join("blue.png");
    let green = app.path().join("green.png");
    photo(&red, [200, 30, 30])?;
    photo(&blue, [30, 30, 200])?;
    photo(&green, [30, 200, 30])?;
    let red_s = red.display().to_string();
    let blue_s = blue.display().to_string();
    app.run(&["assets", "add", &red_s, &blue_s, "--workspace", "shop"])?;
    let keys = block_on(async {
        Ok::<_, anyhow::Error>(blob_keys::all(app.store().await?.conn()).await?)
    })?;
    anyhow::ensure!(keys.len() == 2, "{keys:?}");
    for key in &keys {
        anyhow::ensure!(app.data_dir.join(key).is_file(), "{key} is not local");
    }

    // Refused: the store already configured, and a URL that is none.
    let (ok, _, err) = app.run_with_env(&["storage", "migrate", "--to", ""], &[])?;
    anyhow::ensure!(!ok && err.contains("--to"), "{err}");
    let (ok, _, err) = app.run_with_env(&["storage", "migrate", "--to", "gs://x"], &[])?;
    anyhow::ensure!(!ok && err.contains("--to"), "{err}");

    let url = server.url("prod");
    let out = app.run(&["storage", "migrate", "--to", &url])?;
    anyhow::ensure!(out.contains("2 copied"), "{out}");
    anyhow::ensure!(
        out.contains(&format!("url = {url:?}")) && out.contains("PRESSROOM__STORAGE__URL"),
        "the next step is not named: {out}"
    );
    let cache = tempfile::tempdir()?;
    let bucket = server.blobs("prod", cache.path().to_path_buf());
    for key in &keys {
        let local = std::fs::read(app.data_dir.join(key))?;
        let copied = block_on(bucket.get(key))?;
        anyhow::ensure!(copied == local, "{key} differs in the bucket");
    }

    // Again: everything is there, nothing is copied; the source is untouched.
    let again = app.run(&["storage", "migrate", "--to", &url])?;
    anyhow::ensure!(
        again.contains("0 copied") && again.contains("2 already there"),
        "{again}"
    );
    for key in &keys {
        anyhow::ensure!(app.data_dir.join(key).is_file(), "{key} left the source");
    }

    // Switched to the bucket: the next image is stored there, not in the data directory.
    let green_s = green.display().to_string();
    let (ok, out, err) = app.run_with_env(
        &["assets", "add", &green_s, "--workspace", "shop"],
        &[("PRESSROOM__STORAGE__URL", &url)],
    )?;
    anyhow::ensure!(ok, "{out}\n{err}");
    let all = block_on(async {
        Ok::<_, anyhow::Error>(blob_keys::all(app.store().await?.conn()).await?)
    })?;
    let new: Vec<_> = all.iter().filter(|k| !keys.contains(k)).collect();
    anyhow::ensure!(new.len() == 1, "{all:?}");
    anyhow::ensure!(
        block_on(bucket.exists(new[0])),
        "{} is not in the bucket",
        new[0]
    );
    anyhow::ensure!(
        !app.data_dir.join(new[0]).exists(),
        "{} was written locally",
        new[0]
    );
    Ok(())
}
