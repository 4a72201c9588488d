//! `POST /v1/assets`: a person's own image into the library. The bytes decide the type (not
//! the name or the part's content type), the camera's metadata is gone from what is kept,
//! the picture is turned upright, the same picture twice is one asset, and every refusal
//! names the field and the reason.

use pressroom_api::Role;
use reqwest::multipart::{Form, Part};
use serde_json::Value;

use crate::harness::TestApp;

/// A 16×8 JPEG carrying an EXIF block: orientation 6 (rotate 90° clockwise to view) and an
/// image description standing for what a phone writes (a position, a serial number).
fn jpeg_with_exif(secret: &str) -> anyhow::Result<Vec<u8>> {
    let img = image::RgbImage::from_fn(16, 8, |x, _| {
        if x < 8 {
            image::Rgb([220, 20, 20])
        } else {
            image::Rgb([20, 20, 220])
        }
    });
    let mut jpeg = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut jpeg),
        image::ImageFormat::Jpeg,
    )?;
    // TIFF, little endian: IFD0 with Orientation (SHORT 6) and ImageDescription (ASCII).
    let text = format!("{secret}\0");
    let mut tiff = b"II*\0\x08\0\0\0".to_vec();
    tiff.extend_from_slice(&2u16.to_le_bytes());
    tiff.extend_from_slice(&0x0112u16.to_le_bytes());
    tiff.extend_from_slice(&3u16.to_le_bytes());
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&[6, 0, 0, 0]);
    tiff.extend_from_slice(&0x010Eu16.to_le_bytes());
    tiff.extend_from_slice(&2u16.to_le_bytes());
    tiff.extend_from_slice(&(text.len() as u32).to_le_bytes());
    let data_at = 8 + 2 + 2 * 12 + 4;
    tiff.extend_from_slice(&(data_at as u32).to_le_bytes());
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff.extend_from_slice(text.as_bytes());
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    Ok(out)
}

async fn upload(
    app: &TestApp,
    key: &str,
    field: &str,
    name: &str,
    bytes: Vec<u8>,
) -> anyhow::Result<(u16, Value)> {
    let part = Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str("application/octet-stream")?;
    let resp = app
        .http
        .post(app.url("/v1/assets"))
        .bearer_auth(key)
        .multipart(Form::new().part(field.to_owned(), part))
        .send()
        .await?;
    let status = resp.status().as_u16();
    Ok((status, resp.json().await.unwrap_or(Value::Null)))
}

pub async fn an_upload_is_kept_upright_without_its_metadata(app: TestApp) -> anyhow::Result<()> {
    let w = app.world("up-a").await?;
    let editor = w.key(Role::Editor);
    let secret = "GPS 48.8584N 2.2945E serial SN-4711";
    let jpeg = jpeg_with_exif(secret)?;
    anyhow::ensure!(
        jpeg.windows(secret.len()).any(|s| s == secret.as_bytes()),
        "the fixture carries its metadata"
    );
    // Named .png and sent as octet-stream: the bytes say JPEG.
    let (status, asset) = upload(&app, editor, "file", "holiday.png", jpeg.clone()).await?;
    anyhow::ensure!(status == 201, "{status} {asset}");
    anyhow::ensure!(
        asset["generator"] == "upload"
            && asset["params"]["format"] == "jpeg"
            && asset["params"]["file_name"] == "holiday.png"
            && asset["mime"] == "image/png",
        "{asset}"
    );
    // Orientation 6: the 16×8 sensor image is viewed 8×16.
    anyhow::ensure!(asset["width"] == 8 && asset["height"] == 16, "{asset}");
    let id = asset["id"].as_str().unwrap_or_default().to_owned();
    let stored = app
        .http
        .get(app.url(&format!("/v1/assets/{id}/image")))
        .bearer_auth(w.key(Role::Viewer))
        .send()
        .await?
        .bytes()
        .await?;
    anyhow::ensure!(
        !stored.windows(secret.len()).any(|s| s == secret.as_bytes())
            && !stored.windows(4).any(|s| s == b"Exif" || s == b"eXIf"),
        "the kept image still carries metadata"
    );
    let kept = image::load_from_memory(&stored)?.to_rgb8();
    // Rotated clockwise: the left (red) half is now on top.
    anyhow::ensure!(
        kept.dimensions() == (8, 16)
            && kept.get_pixel(4, 2)[0] > 150
            && kept.get_pixel(4, 13)[2] > 150,
        "not upright: {:?} {:?} {:?}",
        kept.dimensions(),
        kept.get_pixel(4, 2),
        kept.get_pixel(4, 13)
    );

    // A camera-sized photo (several MB, over the JSON body limit) is taken too.
    let noisy = image::RgbImage::from_fn(1600, 1200, |x, y| {
        let h = x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503);
        image::Rgb([h as u8, (h >> 8) as u8, (h >> 16) as u8])
    });
    let mut big = Vec::new();
    noisy.write_to(&mut std::io::Cursor::new(&mut big), image::ImageFormat::Png)?;
    anyhow::ensure!(big.len() > 2 * 1024 * 1024, "{} bytes", big.len());
    let (status, photo) = upload(&app, editor, "file", "camera.png", big).await?;
    anyhow::ensure!(
        status == 201 && photo["width"] == 1600 && photo["height"] == 1200,
        "{status} {photo}"
    );

    // The same picture again: the same asset, nothing new stored.
    let (status, again) = upload(&app, editor, "file", "copy.jpg", jpeg).await?;
    anyhow::ensure!(
        status == 200 && again["id"] == id.as_str(),
        "{status} {again}"
    );
    // Viewers may look, not upload.
    let (status, _) = upload(&app, w.key(Role::Viewer), "file", "a.png", vec![1]).await?;
    anyhow::ensure!(status == 403, "viewer upload: {status}");
    Ok(())
}

pub async fn a_bad_upload_is_refused_naming_the_field(app: TestApp) -> anyhow::Result<()> {
    let w = app.world("up-b").await?;
    let editor = w.key(Role::Editor);
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "file",
            b"%PDF-1.7 not an image".to_vec(),
            400,
            "PNG, JPEG or WebP",
        ),
        ("file", Vec::new(), 400, "empty"),
        ("photo", b"whatever".to_vec(), 400, "field named `file`"),
        // A JPEG cut short: the decoder's complaint, not a panic.
        ("file", jpeg_with_exif("x")?[..200].to_vec(), 400, "file: "),
    ];
    for (field, bytes, want, says) in cases {
        let size = bytes.len();
        let (status, problem) = upload(&app, editor, field, "x.jpg", bytes).await?;
        let detail = problem["detail"].as_str().unwrap_or_default();
        anyhow::ensure!(
            status == want && detail.contains(says),
            "{field} ({size} bytes): {status} {problem}"
        );
        if status == 400 {
            anyhow::ensure!(detail.starts_with("file: "), "{problem}");
        }
    }
    // One byte over the upload limit: 413, and nothing is kept.
    let huge = vec![0u8; pressroom_runtime::uploads::MAX_UPLOAD_BYTES + 1];
    let (status, problem) = upload(&app, editor, "file", "huge.jpg", huge).await?;
    anyhow::ensure!(
        status == 413
            && problem["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("file: ") && d.contains("over the upload limit")),
        "over the limit: {status} {problem}"
    );
    // Not a form at all.
    let resp = app
        .http
        .post(app.url("/v1/assets"))
        .bearer_auth(editor)
        .json(&serde_json::json!({ "file": "a.png" }))
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 400, "{}", resp.status());
    let (_, list) = {
        let resp = app
            .http
            .get(app.url("/v1/assets"))
            .bearer_auth(editor)
            .send()
            .await?;
        (resp.status(), resp.json::<Value>().await?)
    };
    // Only the world's own generated image: nothing refused was kept.
    anyhow::ensure!(list["data"].as_array().map(Vec::len) == Some(1), "{list}");
    Ok(())
}

on_both_backends!(
    an_upload_is_kept_upright_without_its_metadata,
    a_bad_upload_is_refused_naming_the_field
);
