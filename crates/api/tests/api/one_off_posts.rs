//! `POST /v1/posts`: a one-off post of uploaded images goes through the real workers to the
//! sandbox once, its texts printed as written (never run as templates), nothing generated;
//! a bad one is refused naming each field and stores nothing; a later one waits for its time.

use std::sync::Arc;

use connector_sandbox::SandboxConfig;
use pressroom_api::Role;
use pressroom_api::handlers::keys::mint_key;
use pressroom_core::{PostFormat, PostState};
use pressroom_generate::{GenerateError, GeneratedImage, GenerationRequest, Generator, ProgressFn};
use pressroom_store::repo::{campaigns, posts};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::harness::{RingCipher, TestApp};
use crate::pipeline_fixture::{connect_sandbox, wait_published, with_workers};

/// A generator that must not be asked: a one-off post has its own images.
struct NoGenerator;

#[async_trait::async_trait]
impl Generator for NoGenerator {
    fn identity(&self) -> String {
        "none".into()
    }

    async fn generate(
        &self,
        _req: GenerationRequest,
        _progress: Option<ProgressFn>,
    ) -> Result<GeneratedImage, GenerateError> {
        Err(GenerateError::InvalidRequest(
            "a one-off post generated an image".into(),
        ))
    }
}

async fn upload(app: &TestApp, key: &str, rgb: [u8; 3]) -> anyhow::Result<String> {
    let img = image::RgbImage::from_pixel(120, 90, image::Rgb(rgb));
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    let form = Form::new().part("file", Part::bytes(png).file_name("shot.png"));
    let resp = app
        .http
        .post(app.url("/v1/assets"))
        .bearer_auth(key)
        .multipart(form)
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 201, "upload: {}", resp.status());
    let asset: Value = resp.json().await?;
    Ok(asset["id"].as_str().unwrap_or_default().to_owned())
}

async fn post(app: &TestApp, key: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
    let resp = app
        .http
        .post(app.url("/v1/posts"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await?;
    let status = resp.status().as_u16();
    Ok((status, resp.json().await.unwrap_or(Value::Null)))
}

pub async fn a_one_off_post_publishes_its_own_images_once(app: TestApp) -> anyhow::Result<()> {
    let ws = pressroom_store::repo::workspaces::ensure(&app.store, "oneoff", "oneoff").await?;
    let cipher = Arc::new(RingCipher(pressroom_crypto::Keyring::generate()));
    connect_sandbox(&app, &cipher, &ws.id).await?;
    let editor = mint_key(&app.store, Some(&ws.id), Role::Editor, "test", "test")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .key;
    let first = upload(&app, &editor, [200, 30, 30]).await?;
    let second = upload(&app, &editor, [30, 30, 200]).await?;
    let before = campaigns::list(&app.store, &ws.id).await?.len();

    // Refused: every field named, nothing stored.
    let past = (chrono::Utc::now() - chrono::Duration::hours(2)).to_rfc3339();
    let (status, problem) = post(
        &app,
        &editor,
        &json!({
            "caption": "x",
            "media": [first, "0193e5a0-7d2c-7a3e-9b1c-2f4d5e6a7b8c"],
            "targets": ["nobody", "sandbox:instagram-square"],
            "publish_at": past,
        }),
    )
    .await?;
    let fields: Vec<&str> = problem["problems"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["field"].as_str()).collect())
        .unwrap_or_default();
    anyhow::ensure!(
        status == 400
            && fields.contains(&"media")
            && fields.contains(&"publish_at")
            && fields.iter().filter(|f| **f == "targets").count() == 2,
        "{status} {problem}"
    );
    let detail = problem["detail"].as_str().unwrap_or_default();
    anyhow::ensure!(
        detail.contains("no account named `nobody`")
            && detail.contains("preset `instagram-square` is for instagram")
            && detail.contains("in the past"),
        "{detail}"
    );
    anyhow::ensure!(
        campaigns::list(&app.store, &ws.id).await?.len() == before,
        "a refused post stored something"
    );

    // A campaign body of its own media: library ids only, each checked when saved.
    let campaign = |media: &str| {
        format!(
            "name = \"shop\"\nworkspace = \"oneoff\"\n\n[schedule]\nwebhook = true\n\n[media]\n{media}\n\n[caption]\ntemplate = \"Shop\"\n\n[[targets]]\naccount = \"sandbox\"\npreset = \"sandbox\"\n"
        )
    };
    for (media, field, says) in [
        (
            "assets = [\"0193e5a0-7d2c-7a3e-9b1c-2f4d5e6a7b8c\"]".to_owned(),
            "media.assets[0]",
            "not in this workspace's library",
        ),
        (
            "files = [\"photos/a.jpg\"]".to_owned(),
            "media.files[0]",
            "upload the image (POST /v1/assets)",
        ),
    ] {
        let resp = app
            .http
            .post(app.url("/v1/campaigns"))
            .bearer_auth(&editor)
            .header("content-type", "application/toml")
            .body(campaign(&media))
            .send()
            .await?;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await?;
        let found = body["issues"].as_array().into_iter().flatten().any(|i| {
            i["field"] == field && i["message"].as_str().is_some_and(|m| m.contains(says))
        });
        anyhow::ensure!(status == 422 && found, "{media}: {status} {body}");
    }
    let resp = app
        .http
        .post(app.url("/v1/campaigns"))
        .bearer_auth(&editor)
        .header("content-type", "application/toml")
        .body(campaign(&format!("assets = [\"{first}\"]")))
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 201, "{}", resp.status());

    // Later: stored, no run yet.
    let later = (chrono::Utc::now() + chrono::Duration::hours(3)).to_rfc3339();
    let (status, scheduled) = post(
        &app,
        &editor,
        &json!({ "caption": "Tomorrow", "media": [first], "targets": ["sandbox"], "publish_at": later }),
    )
    .await?;
    anyhow::ensure!(
        status == 201 && scheduled["run_id"].is_null() && scheduled["publish_at"].is_string(),
        "{status} {scheduled}"
    );

    // Now: two images, a caption with braces, alt text.
    let caption = "Two mugs {{ not a variable }} {% if x %}#new";
    let (status, created) = post(
        &app,
        &editor,
        &json!({
            "caption": caption,
            "media": [first, second],
            "targets": ["sandbox"],
            "alt_text": "Two mugs, red and blue",
        }),
    )
    .await?;
    anyhow::ensure!(
        status == 201
            && created["run_id"].is_string()
            && created["targets"] == json!(["sandbox:sandbox"]),
        "{status} {created}"
    );
    let outbox = tempfile::tempdir()?;
    with_workers(
        &app,
        &cipher,
        Arc::new(NoGenerator),
        SandboxConfig::new(outbox.path().to_path_buf()),
        || async {
            wait_published(&app, &ws.id, 1).await?;
            // Settle: nothing more than the one post appears.
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            Ok(())
        },
    )
    .await?;
    let all = posts::list(&app.store, &ws.id, None, 100).await?;
    anyhow::ensure!(all.len() == 1, "{} posts: {all:#?}", all.len());
    let p = &all[0];
    anyhow::ensure!(
        p.state == PostState::Published
            && p.caption == caption
            && p.format == PostFormat::Carousel
            && p.rendition_ids().len() == 2
            && p.alt_texts() == ["Two mugs, red and blue", "Two mugs, red and blue"],
        "{p:#?}"
    );
    Ok(())
}

on_both_backends!(a_one_off_post_publishes_its_own_images_once);
