//! Assets: listing (cursor pages, `?run_id=`), metadata with the generation parameters, the
//! image bytes with their real content type, and workspace scoping (another workspace's id
//! answers 404).

use pressroom_api::Role;
use pressroom_store::repo::{assets, runs};
use serde_json::{Value, json};

use crate::harness::TestApp;

async fn get(app: &TestApp, key: &str, path: &str) -> anyhow::Result<(u16, Value)> {
    let resp = app.http.get(app.url(path)).bearer_auth(key).send().await?;
    let status = resp.status().as_u16();
    Ok((status, resp.json().await.unwrap_or(Value::Null)))
}

fn png(width: u32, height: u32) -> anyhow::Result<Vec<u8>> {
    let img = image::RgbImage::from_pixel(width, height, image::Rgb([10, 200, 30]));
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)?;
    Ok(out)
}

pub async fn assets_list_get_and_image(app: TestApp) -> anyhow::Result<()> {
    let a = app.world("as-a").await?;
    let b = app.world("as-b").await?;
    let viewer = a.key(Role::Viewer);
    // A generated image as the pipeline records it: a file, an asset row, the run pointing
    // at it. (Paths are joined to the data directory; an absolute one stands alone.)
    let dir = tempfile::tempdir()?;
    let bytes = png(16, 8)?;
    let path = dir.path().join("gen.png");
    tokio::fs::write(&path, &bytes).await?;
    let params =
        json!({ "prompt": "a green square", "seed": 7, "steps": 4, "width": 16, "height": 8 });
    let now = app.store.now_ms().await?;
    let id = assets::insert(
        app.store.conn(),
        now,
        assets::NewAsset {
            workspace_id: &a.ws_id,
            sha256: "abc123",
            generation_key: "key-1",
            generator: "fake",
            params: &params,
            path: &path.to_string_lossy(),
            width: 16,
            height: 8,
        },
    )
    .await?;
    runs::set_generated(
        &app.store,
        app.store.conn(),
        now,
        &a.run_id,
        "a green square",
        "hi",
        &id,
    )
    .await?;

    // Newest first, in cursor pages.
    let (status, page) = get(&app, viewer, "/v1/assets?limit=1").await?;
    anyhow::ensure!(
        status == 200 && page["data"][0]["id"] == id.as_str(),
        "{page}"
    );
    let cursor = page["next_cursor"].as_str().unwrap_or_default().to_string();
    let (_, next) = get(&app, viewer, &format!("/v1/assets?limit=1&cursor={cursor}")).await?;
    anyhow::ensure!(
        next["data"][0]["id"] == a.asset_id.as_str() && next.get("next_cursor").is_none(),
        "{next}"
    );
    // By run: the asset the run generated and the one its fixture rendition was cut from.
    let (_, by_run) = get(&app, viewer, &format!("/v1/assets?run_id={}", a.run_id)).await?;
    anyhow::ensure!(
        by_run["data"].as_array().map(Vec::len) == Some(2),
        "{by_run}"
    );
    let (_, foreign_run) = get(&app, viewer, &format!("/v1/assets?run_id={}", b.run_id)).await?;
    anyhow::ensure!(foreign_run["data"] == json!([]), "{foreign_run}");

    // Metadata: hash, size, type, the exact parameters.
    let (status, meta) = get(&app, viewer, &format!("/v1/assets/{id}")).await?;
    anyhow::ensure!(status == 200, "{meta}");
    anyhow::ensure!(
        meta["sha256"] == "abc123"
            && meta["bytes"] == bytes.len() as u64
            && meta["mime"] == "image/png"
            && meta["width"] == 16
            && meta["params"]["seed"] == 7
            && meta["params"]["prompt"] == "a green square"
            && meta["generator"] == "fake"
            && meta["created_at"].is_i64()
            && meta["image_url"] == format!("/v1/assets/{id}/image"),
        "{meta}"
    );

    // The image itself, byte for byte, with its content type.
    let resp = app
        .http
        .get(app.url(&format!("/v1/assets/{id}/image")))
        .bearer_auth(viewer)
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 200, "image: {}", resp.status());
    anyhow::ensure!(
        resp.headers()
            .get("content-type")
            .is_some_and(|v| v == "image/png"),
        "{:?}",
        resp.headers()
    );
    anyhow::ensure!(resp.bytes().await?.as_ref() == bytes.as_slice());

    // Another workspace's key: 404, exactly like an id that does not exist.
    for path in [format!("/v1/assets/{id}"), format!("/v1/assets/{id}/image")] {
        let (status, problem) = get(&app, b.key(Role::Owner), &path).await?;
        anyhow::ensure!(
            status == 404 && problem["code"] == "not_found",
            "{path}: {status} {problem}"
        );
    }
    let (_, b_list) = get(&app, b.key(Role::Viewer), "/v1/assets").await?;
    anyhow::ensure!(
        b_list["data"].as_array().map(Vec::len) == Some(1)
            && b_list["data"][0]["id"] == b.asset_id.as_str(),
        "{b_list}"
    );
    let (status, _) = get(&app, viewer, "/v1/assets/no-such-asset").await?;
    anyhow::ensure!(status == 404);
    let resp = app.http.get(app.url("/v1/assets")).send().await?;
    anyhow::ensure!(resp.status() == 401);

    // The file is gone (erased, lost): the metadata says so, the image is a 404 problem.
    tokio::fs::remove_file(&path).await?;
    let (_, meta) = get(&app, viewer, &format!("/v1/assets/{id}")).await?;
    anyhow::ensure!(meta["bytes"].is_null(), "{meta}");
    let (status, problem) = get(&app, viewer, &format!("/v1/assets/{id}/image")).await?;
    anyhow::ensure!(status == 404 && problem["code"] == "not_found", "{problem}");
    Ok(())
}

/// The document says which routes answer image bytes and which query parameters exist.
pub async fn openapi_documents_images_and_query_parameters(app: TestApp) -> anyhow::Result<()> {
    let doc: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await?
        .json()
        .await?;
    let paths = &doc["paths"];
    for path in ["/media/{rendition_id}", "/v1/assets/{id}/image"] {
        let content = &paths[path]["get"]["responses"]["200"]["content"];
        anyhow::ensure!(
            content.get("image/png").is_some() && content.get("application/json").is_none(),
            "{path}: {content}"
        );
    }
    let names = |path: &str, method: &str| -> Vec<String> {
        paths[path][method]["parameters"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|p| p["in"] == "query")
                    .filter_map(|p| p["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    for (path, want) in [
        ("/media/{rendition_id}", &["exp", "sig"][..]),
        ("/v1/oauth/callback", &["state", "code"][..]),
        ("/v1/usage", &["days"][..]),
        ("/v1/runs", &["limit", "cursor", "campaign_id", "state"][..]),
        ("/v1/posts", &["run_id", "state"][..]),
        ("/v1/assets", &["limit", "cursor", "run_id"][..]),
    ] {
        let got = names(path, "get");
        anyhow::ensure!(
            want.iter().all(|w| got.iter().any(|g| g == w)),
            "{path}: {got:?}"
        );
    }
    Ok(())
}

on_both_backends!(
    assets_list_get_and_image,
    openapi_documents_images_and_query_parameters
);
