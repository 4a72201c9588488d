//! Assets: listing (cursor pages, `?run_id=`), metadata with the generation parameters, the
//! image bytes with their real content type, and workspace scoping (another workspace's id
//! answers 404). Images generated through the OpenAI-compatible endpoint with
//! `response_format: "url"`: stored as assets and answered as signed, expiring
//! `/media/assets/{id}` links.

use pressroom_api::Role;
use pressroom_api::media::{LinkKind, MediaLinks};
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
    // at it, in the server's blob store.
    let bytes = png(16, 8)?;
    let key = "test/gen.png";
    app.state.blobs.put(key, &bytes).await?;
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
            path: key,
            width: 16,
            height: 8,
        },
    )
    .await?;
    runs::set_generated(
        &app.store,
        app.store.conn(),
        now,
        &a.ws_id,
        &a.run_id,
        runs::Generated {
            prompt: "a green square",
            caption: "hi",
            asset_id: &id,
            asset_ids: &[],
        },
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
    anyhow::ensure!(app.state.blobs.delete(key).await?);
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

/// A second API on the test's database whose data directory is `data_dir` (the shared
/// server's is the working directory, not a place to write images), with media links when
/// `links` is given. Answers its base URL and the token that stops it.
async fn serve_with_data_dir(
    app: &TestApp,
    data_dir: &std::path::Path,
    links: Option<[u8; 32]>,
) -> anyhow::Result<(String, tokio_util::sync::CancellationToken)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let mut state = pressroom_api::ApiState::new(app.store.clone(), app.queue.clone())
        .with_data_dir(data_dir.to_path_buf())
        .with_generator(std::sync::Arc::new(crate::harness::FakeGenerator))
        .with_rate_limit(pressroom_api::RateLimit {
            per_second: 10_000.0,
            burst: 10_000.0,
        });
    if let Some(key) = links {
        state = state.with_media_links(std::sync::Arc::new(MediaLinks::new(key, &base, LINK_TTL)));
    }
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(pressroom_api::serve(
        listener,
        state,
        stop.clone().cancelled_owned(),
    ));
    Ok((base, stop))
}

const LINK_KEY: [u8; 32] = [3; 32];
const LINK_TTL: std::time::Duration = std::time::Duration::from_secs(600);

async fn generate(base: &str, app: &TestApp, key: &str, body: Value) -> anyhow::Result<Value> {
    let resp = app
        .http
        .post(format!("{base}/v1/images/generations"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await?;
    let status = resp.status();
    let body: Value = resp.json().await?;
    anyhow::ensure!(status == 200, "images: {status} {body}");
    Ok(body)
}

/// `/media/assets/{id}` from an answered link.
fn asset_id_of(url: &str, base: &str) -> anyhow::Result<String> {
    url.strip_prefix(&format!("{base}/media/assets/"))
        .and_then(|rest| rest.split_once('?'))
        .map(|(id, _)| id.to_string())
        .ok_or_else(|| anyhow::anyhow!("not an asset link: {url}"))
}

/// The query (`exp=…&sig=…`) of a link.
fn query_of(url: &str) -> &str {
    url.split_once('?').map(|(_, q)| q).unwrap_or_default()
}

async fn asset_count(app: &TestApp, base: &str, key: &str) -> anyhow::Result<usize> {
    let page: Value = app
        .http
        .get(format!("{base}/v1/assets?limit=200"))
        .bearer_auth(key)
        .send()
        .await?
        .json()
        .await?;
    page["data"]
        .as_array()
        .map(Vec::len)
        .ok_or_else(|| anyhow::anyhow!("{page}"))
}

pub async fn images_url_is_a_signed_link_to_the_stored_png(app: TestApp) -> anyhow::Result<()> {
    let a = app.world("img-a").await?;
    let b = app.world("img-b").await?;
    let editor = a.key(Role::Editor);
    let dir = tempfile::tempdir()?;
    // The fixture rendition's (empty) file, where this server keeps its files.
    let blobs = pressroom_store::LocalBlobs::new(dir.path());
    pressroom_store::BlobStore::put(&blobs, "fixtures/img-a.bin", b"").await?;
    let (base, stop) = serve_with_data_dir(&app, dir.path(), Some(LINK_KEY)).await?;
    let before = asset_count(&app, &base, editor).await?;

    // The default response_format is url: a link under the public base URL, no base64.
    let request = json!({"prompt": "a red square", "n": 2, "size": "64x32", "seed": 7});
    let got = generate(&base, &app, editor, request.clone()).await?;
    let items = got["data"].as_array().cloned().unwrap_or_default();
    anyhow::ensure!(items.len() == 2, "{got}");
    let inline = generate(
        &base,
        &app,
        editor,
        json!({"prompt": "a red square", "size": "64x32", "seed": 7, "response_format": "b64_json"}),
    )
    .await?;
    use base64::Engine;
    let inline_png = base64::engine::general_purpose::STANDARD
        .decode(inline["data"][0]["b64_json"].as_str().unwrap_or_default())?;
    let mut ids = Vec::new();
    for item in &items {
        anyhow::ensure!(item.get("b64_json").is_none(), "{item}");
        let url = item["url"].as_str().unwrap_or_default();
        let id = asset_id_of(url, &base)?;
        // Anyone with the link fetches the PNG, no key needed.
        let resp = app.http.get(url).send().await?;
        anyhow::ensure!(resp.status() == 200, "{url}: {}", resp.status());
        let headers = resp.headers().clone();
        anyhow::ensure!(
            headers
                .get("content-type")
                .is_some_and(|v| v == "image/png"),
            "{headers:?}"
        );
        let max_age = headers
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("private, max-age="))
            .and_then(|v| v.parse::<u64>().ok());
        anyhow::ensure!(
            max_age.is_some_and(|s| s > 0 && s <= LINK_TTL.as_secs()),
            "cache-control must be private and end with the link: {headers:?}"
        );
        let png = resp.bytes().await?;
        let decoded = image::load_from_memory_with_format(&png, image::ImageFormat::Png)?;
        anyhow::ensure!((decoded.width(), decoded.height()) == (64, 32));
        // The same bytes the workspace's own image route answers.
        let own = app
            .http
            .get(format!("{base}/v1/assets/{id}/image"))
            .bearer_auth(a.key(Role::Viewer))
            .send()
            .await?
            .bytes()
            .await?;
        anyhow::ensure!(own == png, "the link and /v1/assets/{id}/image differ");
        ids.push(id);
    }
    // Seed 7 is the first image: identical to the one answered inline.
    let first = app
        .http
        .get(items[0]["url"].as_str().unwrap_or_default())
        .send()
        .await?;
    anyhow::ensure!(first.bytes().await?.as_ref() == inline_png.as_slice());

    // The images are the workspace's assets, with their parameters; b64_json stored nothing.
    anyhow::ensure!(asset_count(&app, &base, editor).await? == before + 2);
    let (_, meta) = get(&app, editor, &format!("/v1/assets/{}", ids[1])).await?;
    anyhow::ensure!(
        meta["params"]["seed"] == 8 && meta["width"] == 64 && meta["mime"] == "image/png",
        "{meta}"
    );
    let (status, _) = get(&app, b.key(Role::Owner), &format!("/v1/assets/{}", ids[0])).await?;
    anyhow::ensure!(status == 404, "another workspace sees the asset: {status}");
    let (_, usage) = get(&app, editor, "/v1/usage?days=1").await?;
    anyhow::ensure!(
        usage["data"][0]["images_generated"].as_u64() >= Some(2),
        "{usage}"
    );
    // The same request again answers the same assets (same generation key), no new rows.
    let again = generate(&base, &app, editor, request).await?;
    for (item, id) in again["data"].as_array().into_iter().flatten().zip(&ids) {
        anyhow::ensure!(
            asset_id_of(item["url"].as_str().unwrap_or_default(), &base)? == *id,
            "{again}"
        );
    }
    anyhow::ensure!(asset_count(&app, &base, editor).await? == before + 2);

    // Refusals: all 403, and the same answer whether the asset exists or not.
    let url = items[0]["url"].as_str().unwrap_or_default().to_string();
    let id = &ids[0];
    let query = query_of(&url).to_string();
    let (head, sig) = url
        .split_once("sig=")
        .ok_or_else(|| anyhow::anyhow!("no sig in {url}"))?;
    let flipped = if sig.starts_with('A') { 'B' } else { 'A' };
    let tampered = format!("{head}sig={flipped}{}", sig.get(1..).unwrap_or_default());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let signer = pressroom_crypto::urlsign::UrlSigner::new(LINK_KEY);
    let expired = signer.sign_url(&base, &format!("media/assets/{id}"), now - 10);
    let other_key = pressroom_crypto::urlsign::UrlSigner::new([4; 32]).sign_url(
        &base,
        &format!("media/assets/{id}"),
        now + 60,
    );
    let rendition_link =
        MediaLinks::new(LINK_KEY, &base, LINK_TTL).url(LinkKind::Rendition, &a.rendition_id);
    let cases = [
        ("tampered sig", tampered),
        ("expired", expired),
        ("another key", other_key),
        ("no sig", format!("{base}/media/assets/{id}")),
        ("exp moved", url.replace("exp=", "exp=1")),
        (
            "another asset",
            format!("{base}/media/assets/{}?{query}", ids[1]),
        ),
        (
            "no such asset",
            format!("{base}/media/assets/no-such-asset?{query}"),
        ),
        // An asset's signature does not open a rendition id, nor the asset through the
        // rendition route (`%2F`), and a rendition's does not open an asset route.
        (
            "asset sig on a rendition",
            format!("{base}/media/{}?{query}", a.rendition_id),
        ),
        (
            "asset sig, rendition route",
            format!("{base}/media/{id}?{query}"),
        ),
        (
            "encoded slash",
            format!("{base}/media/assets%2F{id}?{query}"),
        ),
        (
            "rendition sig on an asset route",
            format!(
                "{base}/media/assets/{}?{}",
                a.rendition_id,
                query_of(&rendition_link)
            ),
        ),
    ];
    let mut first_problem: Option<Value> = None;
    for (what, link) in cases {
        let resp = app.http.get(&link).send().await?;
        let status = resp.status();
        let problem: Value = resp.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(
            status == 403 && problem["code"] == "forbidden",
            "{what}: {link}: {status} {problem}"
        );
        if what == "another asset" {
            first_problem = Some(problem);
        } else if what == "no such asset" {
            anyhow::ensure!(
                first_problem.as_ref() == Some(&problem),
                "a bad link must not tell whether the asset exists: {problem}"
            );
        }
    }
    // The rendition link itself still opens its rendition (the control for the case above).
    let resp = app.http.get(&rendition_link).send().await?;
    anyhow::ensure!(resp.status() == 200, "rendition link: {}", resp.status());

    // GDPR erasure removes the assets and their files; the still-valid link then finds nothing.
    let path = first_file(dir.path())?;
    let resp = app
        .http
        .post(format!("{base}/v1/workspaces/current/erase"))
        .bearer_auth(a.key(Role::Owner))
        .json(&json!({"confirm": a.slug}))
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 200, "erase: {}", resp.status());
    anyhow::ensure!(!path.exists(), "{} survived the erasure", path.display());
    anyhow::ensure!(asset_count(&app, &base, a.key(Role::Owner)).await? == 0);
    let resp = app.http.get(&url).send().await?;
    anyhow::ensure!(resp.status() == 404, "erased asset link: {}", resp.status());
    stop.cancel();
    Ok(())
}

/// A stored image file under `dir` (the generated images are `assets/xx/<sha>.png`).
fn first_file(dir: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    let assets = dir.join("assets");
    for shard in std::fs::read_dir(&assets)? {
        for file in std::fs::read_dir(shard?.path())? {
            let file = file?.path();
            if file.extension().is_some_and(|e| e == "png") {
                return Ok(file);
            }
        }
    }
    anyhow::bail!("no image stored under {}", assets.display())
}

/// Without a public base URL there is nothing to link to: `url` is a `data:` URL and nothing
/// is stored.
pub async fn images_url_without_public_base_url_is_inline(app: TestApp) -> anyhow::Result<()> {
    let a = app.world("img-inline").await?;
    let dir = tempfile::tempdir()?;
    let (base, stop) = serve_with_data_dir(&app, dir.path(), None).await?;
    let before = asset_count(&app, &base, a.key(Role::Viewer)).await?;
    let got = generate(
        &base,
        &app,
        a.key(Role::Editor),
        json!({"prompt": "a red square", "size": "16x16", "response_format": "url"}),
    )
    .await?;
    let url = got["data"][0]["url"].as_str().unwrap_or_default();
    let b64 = url
        .strip_prefix("data:image/png;base64,")
        .ok_or_else(|| anyhow::anyhow!("{got}"))?;
    use base64::Engine;
    let png = base64::engine::general_purpose::STANDARD.decode(b64)?;
    let decoded = image::load_from_memory_with_format(&png, image::ImageFormat::Png)?;
    anyhow::ensure!((decoded.width(), decoded.height()) == (16, 16));
    anyhow::ensure!(asset_count(&app, &base, a.key(Role::Viewer)).await? == before);
    anyhow::ensure!(
        std::fs::read_dir(dir.path())?.next().is_none(),
        "a file was stored"
    );
    // No links are served either.
    let resp = app
        .http
        .get(format!("{base}/media/assets/{}?exp=1&sig=x", a.asset_id))
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 404, "{}", resp.status());
    stop.cancel();
    Ok(())
}

on_both_backends!(
    assets_list_get_and_image,
    openapi_documents_images_and_query_parameters,
    images_url_is_a_signed_link_to_the_stored_png,
    images_url_without_public_base_url_is_inline
);
