//! The object-storage blob store against a real S3-compatible server (moto's, started per
//! test; missing moto fails the test with what to run), the migration from a data directory
//! into a bucket, and the erasure keeping an object another workspace still refers to.

use std::sync::Arc;

use futures::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use pressroom_store::blobs::migrate::{self, Outcome};
use pressroom_store::blobs::sha256_hex;
use pressroom_store::repo::erase;
use pressroom_store::testing::MotoServer;
use pressroom_store::{BlobError, BlobStore, LocalBlobs};

use crate::harness::{Ctx, fixture};

fn moto(bucket: &str) -> MotoServer {
    MotoServer::start(bucket).unwrap_or_else(|e| panic!("{e}"))
}

/// The bucket seen directly, beside the blob store: to look at and damage what it holds.
fn raw(server: &MotoServer) -> anyhow::Result<Arc<dyn ObjectStore>> {
    Ok(Arc::new(
        object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&server.bucket)
            .with_endpoint(&server.endpoint)
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id("testing")
            .with_secret_access_key("testing")
            .build()?,
    ))
}

/// An image-sized blob that arrives in several pieces.
fn picture(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_round_trip_under_the_prefix() -> anyhow::Result<()> {
    let server = moto("pressroom-blobs");
    let dir = tempfile::tempdir()?;
    let blobs = server.blobs("prod/v1", dir.path().join("blob-cache"));
    let bytes = picture(300_000, 1);

    let stored = blobs.put_content("assets", "png", &bytes).await?;
    assert_eq!(stored.sha256, sha256_hex(&bytes));
    assert_eq!(
        stored.key,
        format!("assets/{}/{}.png", &stored.sha256[..2], stored.sha256)
    );
    // Under the prefix, with the key as it is.
    let meta = raw(&server)?
        .head(&ObjectPath::parse(format!("prod/v1/{}", stored.key))?)
        .await?;
    assert_eq!(meta.size, bytes.len() as u64);
    assert_eq!(blobs.get(&stored.key).await?, bytes);
    assert_eq!(blobs.size(&stored.key).await?, bytes.len() as u64);
    assert!(blobs.exists(&stored.key).await);

    // Streamed: the size up front, the bytes in pieces.
    let opened = blobs.open(&stored.key).await?;
    assert_eq!(opened.size, bytes.len() as u64);
    let chunks: Vec<_> = opened.stream.collect().await;
    let mut streamed = Vec::new();
    for chunk in chunks {
        streamed.extend_from_slice(&chunk?);
    }
    assert_eq!(streamed, bytes);

    // A local copy for libraries that want a file: downloaded once, then reused.
    let file = blobs.local_file(&stored.key).await?;
    assert!(file.starts_with(dir.path().join("blob-cache")), "{file:?}");
    assert_eq!(std::fs::read(&file)?, bytes);
    // A download is a new file renamed into place: the same inode means no second download.
    use std::os::unix::fs::MetadataExt;
    let first = std::fs::metadata(&file)?.ino();
    assert_eq!(blobs.local_file(&stored.key).await?, file);
    assert_eq!(std::fs::metadata(&file)?.ino(), first, "downloaded again");
    // A cached copy of the wrong size is replaced.
    std::fs::write(&file, b"short")?;
    assert_eq!(std::fs::read(blobs.local_file(&stored.key).await?)?, bytes);

    // A plain key, overwritten in place.
    blobs
        .put("renditions/r1/a1/square-cover.jpg", b"first")
        .await?;
    blobs
        .put("renditions/r1/a1/square-cover.jpg", b"second cut")
        .await?;
    assert_eq!(
        blobs.get("renditions/r1/a1/square-cover.jpg").await?,
        b"second cut"
    );

    // Deleted with its cached copy; a second delete finds nothing.
    assert!(blobs.delete(&stored.key).await?);
    assert!(!file.exists(), "the cached copy outlived the object");
    assert!(!blobs.delete(&stored.key).await?);
    assert!(!blobs.exists(&stored.key).await);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_bad_and_damaged_objects_are_clear_errors() -> anyhow::Result<()> {
    let server = moto("pressroom-errors");
    let dir = tempfile::tempdir()?;
    let blobs = server.blobs("", dir.path().join("blob-cache"));

    let missing = "assets/00/none.png";
    for err in [
        blobs.get(missing).await.err(),
        blobs.size(missing).await.err(),
        blobs.open(missing).await.err(),
        blobs.local_file(missing).await.err(),
    ] {
        match err {
            Some(e @ BlobError::Missing(_)) => {
                assert_eq!(e.to_string(), format!("blob {missing} is missing"))
            }
            other => panic!("a missing object: {other:?}"),
        }
    }

    for key in [
        "../secret",
        "/etc/passwd",
        "",
        "a//b",
        "assets/../../x",
        "./a",
    ] {
        assert!(
            matches!(blobs.put(key, b"x").await, Err(BlobError::BadKey(_))),
            "{key:?} was not refused"
        );
        assert!(matches!(blobs.get(key).await, Err(BlobError::BadKey(_))));
        assert!(matches!(blobs.delete(key).await, Err(BlobError::BadKey(_))));
    }

    // A content-addressed object whose bytes are not the ones its name hashes (damaged in
    // the bucket): reading it says so, and no cached copy is left behind.
    let good = picture(10_000, 2);
    let sha = sha256_hex(&good);
    let key = format!("assets/{}/{sha}.png", &sha[..2]);
    raw(&server)?
        .put(
            &ObjectPath::parse(&key)?,
            PutPayload::from(picture(10_000, 3)),
        )
        .await?;
    let err = blobs.get(&key).await.expect_err("damaged object read");
    assert!(
        matches!(&err, BlobError::Corrupt { .. }) && err.to_string().contains(&sha),
        "{err}"
    );
    let err = blobs.local_file(&key).await.expect_err("damaged download");
    assert!(matches!(err, BlobError::Corrupt { .. }), "{err}");
    let cache = dir.path().join("blob-cache").join(&key);
    assert!(!cache.exists(), "a damaged copy was cached");
    let leftovers: Vec<_> = std::fs::read_dir(cache.parent().expect("a parent"))?.collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    Ok(())
}

/// Every blob the rows name goes from the data directory into the bucket, verified; a
/// second run copies nothing; a damaged copy is copied again; the source stays.
async fn migration_copies_what_rows_name_and_resumes(ctx: Ctx) -> anyhow::Result<()> {
    let a = fixture(&ctx, "alpha").await?;
    fixture(&ctx, "beta").await?;
    let store = &ctx.store;
    let dir = tempfile::tempdir()?;
    let local = LocalBlobs::new(dir.path().join("data"));
    let asset = picture(120_000, 4);
    let cut = picture(40_000, 5);
    local.put("assets/ab12.png", &asset).await?;
    local.put("renditions/cd34.jpg", &cut).await?;
    // A row whose file is gone (erased by hand): reported, not fatal.
    let ghost = pressroom_store::repo::assets::insert(
        store.conn(),
        store.now_ms().await?,
        pressroom_store::repo::assets::NewAsset {
            workspace_id: &a.ws,
            sha256: "ef56",
            generation_key: "ghost-key",
            generator: "tiny",
            params: &serde_json::json!({}),
            path: "assets/ef56.png",
            width: 8,
            height: 8,
        },
    )
    .await?;
    assert!(!ghost.to_string().is_empty());

    let server = moto("pressroom-migrate");
    let bucket = server.blobs("media", dir.path().join("blob-cache"));
    let mut seen = Vec::new();
    let first = migrate::copy_referenced(store, &local, &bucket, 4, |p| {
        seen.push((p.key.to_string(), format!("{:?}", p.outcome)));
    })
    .await?;
    assert_eq!(
        (
            first.total,
            first.copied,
            first.present,
            first.missing,
            first.failed
        ),
        (3, 2, 0, 1, 0),
        "{seen:?}"
    );
    assert_eq!(first.bytes_copied, (asset.len() + cut.len()) as u64);
    assert_eq!(seen.len(), 3);
    assert_eq!(bucket.get("assets/ab12.png").await?, asset);
    assert_eq!(bucket.get("renditions/cd34.jpg").await?, cut);

    let again = migrate::copy_referenced(store, &local, &bucket, 4, |_| {}).await?;
    assert_eq!((again.copied, again.present, again.missing), (0, 2, 1));

    // A copy cut short in the bucket is noticed by its size and copied again.
    raw(&server)?
        .put(
            &ObjectPath::parse("media/renditions/cd34.jpg")?,
            PutPayload::from(cut[..100].to_vec()),
        )
        .await?;
    let repaired = migrate::copy_referenced(store, &local, &bucket, 1, |_| {}).await?;
    assert_eq!((repaired.copied, repaired.present), (1, 1));
    assert_eq!(bucket.get("renditions/cd34.jpg").await?, cut);
    // The source is untouched.
    assert_eq!(local.get("assets/ab12.png").await?, asset);
    assert_eq!(local.get("renditions/cd34.jpg").await?, cut);

    // One key at a time, as the command reports it.
    assert!(matches!(
        migrate::copy_one(&local, &bucket, "assets/ab12.png").await,
        Outcome::Present { .. }
    ));
    Ok(())
}

/// Two workspaces made the same image, so their rows name one object: erasing the first
/// leaves it, erasing the last deletes it, and a key named again after the erasure's own
/// check is kept.
async fn erasure_keeps_an_object_another_workspace_uses(ctx: Ctx) -> anyhow::Result<()> {
    let a = fixture(&ctx, "alpha").await?;
    let b = fixture(&ctx, "beta").await?;
    let store = &ctx.store;
    let server = moto("pressroom-erase");
    let dir = tempfile::tempdir()?;
    let blobs = server.blobs("", dir.path().join("blob-cache"));
    blobs.put("assets/ab12.png", b"shared image").await?;
    blobs.put("renditions/cd34.jpg", b"shared cut").await?;

    let tx = store.begin().await?;
    let first = erase::erase_workspace(store, &tx, &a.ws).await?;
    tx.commit().await?;
    assert!(first.files.is_empty(), "{:?}", first.files);
    // Had the list been made before beta's rows existed, the keys are checked again.
    let late = vec!["assets/ab12.png".to_string()];
    let done = erase::delete_files(store, &blobs, &late).await;
    assert_eq!((done.deleted, done.kept, done.failed), (0, 1, 0));
    assert_eq!(blobs.get("assets/ab12.png").await?, b"shared image");

    let tx = store.begin().await?;
    let last = erase::erase_workspace(store, &tx, &b.ws).await?;
    tx.commit().await?;
    assert_eq!(last.files.len(), 2, "{:?}", last.files);
    let done = erase::delete_files(store, &blobs, &last.files).await;
    assert_eq!((done.deleted, done.kept, done.failed), (2, 0, 0));
    assert!(!blobs.exists("assets/ab12.png").await);
    assert!(!blobs.exists("renditions/cd34.jpg").await);
    Ok(())
}

on_both_backends!(
    migration_copies_what_rows_name_and_resumes,
    erasure_keeps_an_object_another_workspace_uses,
);
