//! Media links served from object storage (a local moto S3 server): any instance that shares
//! the bucket serves a signed link, streamed with its Content-Length rather than read whole;
//! an object gone from the bucket is a 404 like a missing file.

use std::sync::Arc;

use pressroom_api::media::{LinkKind, MediaLinks};
use pressroom_store::BlobStore;
use pressroom_store::repo::assets;
use pressroom_store::testing::MotoServer;

use crate::harness::TestApp;

/// A PNG signature and enough bytes that the body arrives in several pieces.
fn big_png() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend((0..700_000u32).map(|i| (i % 253) as u8));
    bytes
}

pub async fn media_links_stream_from_object_storage(app: TestApp) -> anyhow::Result<()> {
    let w = app.world("bucket").await?;
    let server = tokio::task::spawn_blocking(|| MotoServer::start("pressroom-media"))
        .await?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let dir = tempfile::tempdir()?;
    let blobs = Arc::new(server.blobs("links", dir.path().join("blob-cache")));
    let rendition = assets::get_rendition(app.store.conn(), &w.ws_id, &w.rendition_id).await?;
    let bytes = big_png();
    blobs.put(&rendition.path, &bytes).await?;

    // Another instance: its own (empty) data directory, the shared bucket and link key.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let links = Arc::new(MediaLinks::new(
        [5; 32],
        &base,
        std::time::Duration::from_secs(600),
    ));
    let state = pressroom_api::ApiState::new(app.store.clone(), app.queue.clone())
        .with_data_dir(dir.path().join("data"))
        .with_blobs(blobs.clone())
        .with_media_links(links.clone());
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(pressroom_api::serve(
        listener,
        state,
        stop.clone().cancelled_owned(),
    ));

    for (kind, id, mime) in [
        (
            LinkKind::Rendition,
            w.rendition_id.to_string(),
            "image/jpeg",
        ),
        (LinkKind::Asset, w.asset_id.to_string(), "image/png"),
    ] {
        let resp = app.http.get(links.url(kind, &id)).send().await?;
        anyhow::ensure!(resp.status() == 200, "{kind:?}: {}", resp.status());
        let length = resp
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        anyhow::ensure!(
            length.as_deref() == Some(bytes.len().to_string().as_str()),
            "{kind:?}: Content-Length {length:?}"
        );
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        anyhow::ensure!(
            content_type.as_deref() == Some(mime),
            "{kind:?}: {content_type:?}"
        );
        anyhow::ensure!(
            resp.bytes().await?.as_ref() == bytes.as_slice(),
            "{kind:?}: the bytes differ"
        );
    }

    anyhow::ensure!(blobs.delete(&rendition.path).await?);
    let resp = app
        .http
        .get(links.url(LinkKind::Rendition, &w.rendition_id))
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 404, "object gone: {}", resp.status());
    stop.cancel();
    Ok(())
}

on_both_backends!(media_links_stream_from_object_storage);
