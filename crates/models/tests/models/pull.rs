//! `pull` against the fake hub over real HTTP on 127.0.0.1: which files come, how they are
//! named, what the manifest says, resuming after a cut connection (in one pull and across
//! two), a corrupted file caught, and the hub's refusals explained.

use std::collections::BTreeSet;

use pressroom_models::hub::fake::Server;
use pressroom_models::hub::pull;
use pressroom_models::manifest::{digest, hash_file};
use pressroom_models::{Family, FileEntry, Manifest, ModelError, Source};
use secrecy::SecretString;

use crate::pull_support::{
    PULLED, REPO, Setup, TEXT_ENCODER, TEXT_ENCODER_FP16, UNET, UNET_FP16, VAE, files_under,
};

/// The repo files a pull without `--variant` fetches.
const FETCHED: [&str; 12] = [
    "model_index.json",
    "scheduler/scheduler_config.json",
    "text_encoder/config.json",
    TEXT_ENCODER_FP16,
    "tokenizer/merges.txt",
    "tokenizer/special_tokens_map.json",
    "tokenizer/tokenizer_config.json",
    "tokenizer/vocab.json",
    "unet/config.json",
    UNET,
    "vae/config.json",
    VAE,
];

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn read(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).expect("a pulled file")
}

#[tokio::test]
async fn pulls_only_the_files_the_engine_needs_and_records_them() -> anyhow::Result<()> {
    let s = Setup::new().await?;
    let mut options = s.options();
    // The CDN refuses requests that carry Authorization: this pull works only if the token
    // stays with the hub when it redirects.
    options.token = Some(SecretString::from("hf_some_token"));
    let path = pull(options).await?;

    assert_eq!(path, s.store.root().join("tiny-sd"), "named after the repo");
    assert_eq!(files_under(&path), set(&PULLED));
    assert_eq!(read(&path.join(UNET)), s.source_bytes(UNET));
    assert_eq!(
        read(&path.join(TEXT_ENCODER)),
        s.source_bytes(TEXT_ENCODER_FP16),
        "the only safetensors weights (fp16), saved under the plain name"
    );

    let manifest = Manifest::read(&path)?;
    assert_eq!(manifest.name, "tiny-sd");
    assert_eq!(manifest.family, Family::Sd1);
    assert_eq!(manifest.dtype, "F32");
    assert_eq!(
        manifest.source,
        Source::Hub {
            endpoint: s.hub.endpoint().to_string(),
            repo: REPO.into(),
            revision: "main".into(),
            commit: s.commit.clone(),
        }
    );
    let mut on_disk = Vec::new();
    for rel in files_under(&path) {
        if rel != "pressroom-model.json" {
            let (sha256, size) = hash_file(&path.join(&rel))?;
            on_disk.push(FileEntry {
                path: rel,
                size,
                sha256,
            });
        }
    }
    assert_eq!(
        manifest.files, on_disk,
        "the manifest lists the files as they are"
    );
    assert_eq!(manifest.digest, digest(&on_disk));
    assert_eq!(
        manifest.size_bytes,
        on_disk.iter().map(|f| f.size).sum::<u64>()
    );

    let requests = s.hub.requests();
    let asked: BTreeSet<String> = requests.iter().filter_map(|r| r.file.clone()).collect();
    assert_eq!(asked, set(&FETCHED), "nothing else was requested");
    let cdn: Vec<_> = requests
        .iter()
        .filter(|r| r.server == Server::Cdn)
        .collect();
    assert_eq!(cdn.len(), 3, "the three weights files came from the CDN");
    assert!(cdn.iter().all(|r| !r.authorization && r.status == 200));
    assert!(
        requests
            .iter()
            .filter(|r| r.server == Server::Hub)
            .all(|r| r.authorization),
        "the hub got the token"
    );
    let resolve = format!("/resolve/{}/", s.commit);
    assert!(
        requests
            .iter()
            .filter(|r| r.uri.contains("/resolve/"))
            .all(|r| r.uri.contains(&resolve)),
        "files come from the resolved commit, not the branch"
    );

    let listed = s.store.list()?;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].manifest.as_ref().map(|m| m.digest.clone()),
        Some(manifest.digest)
    );
    assert!(
        !s.staging("tiny-sd").exists(),
        "the staging folder moved into place"
    );
    Ok(())
}

#[tokio::test]
async fn a_variant_is_preferred_and_saved_under_the_plain_name() -> anyhow::Result<()> {
    let s = Setup::new().await?;
    let mut options = s.options();
    options.variant = Some("fp16".into());
    options.name = Some("tiny-half".into());
    let path = pull(options).await?;
    assert_eq!(path, s.store.root().join("tiny-half"));
    assert_eq!(
        files_under(&path),
        set(&PULLED),
        "the same names as without a variant"
    );
    assert_eq!(read(&path.join(UNET)), s.source_bytes(UNET_FP16));
    assert_eq!(
        read(&path.join(VAE)),
        s.source_bytes(VAE),
        "no fp16 VAE: the full one"
    );
    assert_eq!(Manifest::read(&path)?.dtype, "F16");
    assert!(
        s.hub.file_gets(UNET).is_empty(),
        "the F32 UNet was not fetched"
    );
    assert_eq!(s.hub.file_gets(UNET_FP16).len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_cut_connection_is_resumed_with_range_in_the_same_pull() -> anyhow::Result<()> {
    let s = Setup::new().await?;
    s.hub.cut_after(REPO, UNET, 100_000, 1);
    let path = pull(s.options()).await?;
    assert_eq!(read(&path.join(UNET)), s.source_bytes(UNET));

    let gets = s.hub.file_gets(UNET);
    assert_eq!(gets.len(), 2, "{gets:#?}");
    assert_eq!(gets[0].range, None);
    assert_eq!(gets[0].body_bytes, 100_000, "cut");
    assert_eq!(gets[1].range.as_deref(), Some("bytes=100000-"));
    assert_eq!(gets[1].status, 206);
    assert_eq!(
        gets.iter().map(|g| g.body_bytes).sum::<u64>(),
        s.source_bytes(UNET).len() as u64,
        "no byte was fetched twice"
    );
    Ok(())
}

#[tokio::test]
async fn a_failed_pull_resumes_where_it_stopped_on_the_next_run() -> anyhow::Result<()> {
    let s = Setup::new().await?;
    s.hub.cut_after(REPO, UNET, 10_000, 1000);
    let err = pull(s.options())
        .await
        .expect_err("every try is cut")
        .to_string();
    assert!(
        err.contains("127.0.0.1")
            && err.contains(UNET)
            && err.contains("run the pull again: it resumes"),
        "{err}"
    );

    // Half-pulled: invisible to the store, its bytes kept in staging.
    assert!(s.store.list()?.is_empty());
    assert!(matches!(
        s.store.find("tiny-sd"),
        Err(ModelError::NotFound(_))
    ));
    let partial = s.staging("tiny-sd").join(format!("{UNET}.incomplete"));
    let kept = std::fs::metadata(&partial)?.len();
    let sent: u64 = s.hub.file_gets(UNET).iter().map(|g| g.body_bytes).sum();
    assert!(kept > 0 && kept == sent, "kept {kept} of {sent} sent bytes");
    assert!(
        s.staging("tiny-sd").join(TEXT_ENCODER).is_file(),
        "files finished before the failure stay"
    );

    s.hub.clear_faults();
    s.hub.clear_requests();
    let path = pull(s.options()).await?;
    assert_eq!(read(&path.join(UNET)), s.source_bytes(UNET));
    let gets = s.hub.file_gets(UNET);
    assert_eq!(gets.len(), 1, "{gets:#?}");
    assert_eq!(gets[0].range, Some(format!("bytes={kept}-")));
    assert_eq!(gets[0].body_bytes, s.source_bytes(UNET).len() as u64 - kept);
    let asked: BTreeSet<String> = s
        .hub
        .requests()
        .into_iter()
        .filter_map(|r| r.file)
        .collect();
    assert_eq!(
        asked,
        set(&[UNET, VAE]),
        "files completed by the first run are not fetched again"
    );
    Ok(())
}

#[tokio::test]
async fn a_corrupted_file_is_caught_and_nothing_is_installed() -> anyhow::Result<()> {
    let s = Setup::new().await?;
    s.hub.corrupt(REPO, VAE);
    let err = pull(s.options()).await.expect_err("corrupted").to_string();
    let expected = format!("expected sha256 {}", s.hub.sha256(REPO, VAE));
    assert!(
        err.contains(&format!("corrupted download of {VAE}"))
            && err.contains(&expected)
            && err.contains("run the pull again"),
        "{err}"
    );
    assert!(!s.store.root().join("tiny-sd").exists());
    assert!(s.store.list()?.is_empty());
    assert!(
        !s.staging("tiny-sd")
            .join(format!("{VAE}.incomplete"))
            .exists(),
        "the corrupted bytes are deleted"
    );

    s.hub.clear_faults();
    let path = pull(s.options()).await?;
    assert_eq!(read(&path.join(VAE)), s.source_bytes(VAE));
    Ok(())
}

#[tokio::test]
async fn a_gated_repo_is_explained() -> anyhow::Result<()> {
    let s = Setup::new().await?;
    s.hub.gate(REPO, "hf_accepted");
    let licence = format!("{}/{REPO}", s.hub.endpoint());

    let err = pull(s.options()).await.expect_err("no token").to_string();
    assert!(
        err.contains(&format!("{REPO} is gated"))
            && err.contains("HF_TOKEN")
            && err.contains(&licence),
        "{err}"
    );
    let mut options = s.options();
    options.token = Some(SecretString::from("hf_not_accepted"));
    let err = pull(options).await.expect_err("not accepted").to_string();
    assert!(
        err.contains(&format!("accept its licence at {licence}")),
        "{err}"
    );
    assert!(s.store.list()?.is_empty());

    let mut options = s.options();
    options.token = Some(SecretString::from("hf_accepted"));
    pull(options).await?;
    Ok(())
}

#[tokio::test]
async fn missing_repos_and_revisions_are_explained() -> anyhow::Result<()> {
    let s = Setup::new().await?;
    let mut options = s.options();
    options.repo = "pressroom/missing".into();
    let err = pull(options.clone()).await.expect_err("401").to_string();
    assert!(
        err.contains("pressroom/missing: repo not found, or private") && err.contains("HF_TOKEN"),
        "{err}"
    );
    options.token = Some(SecretString::from("hf_token"));
    let err = pull(options).await.expect_err("404").to_string();
    assert!(
        err.contains(&format!(
            "repo pressroom/missing not found on {}",
            s.hub.endpoint()
        )),
        "{err}"
    );

    let mut options = s.options();
    options.revision = "v9".into();
    let err = pull(options)
        .await
        .expect_err("no such revision")
        .to_string();
    assert!(
        err.contains(&format!("{REPO} has no revision `v9`")),
        "{err}"
    );
    assert!(
        !s.store.root().join(".partial").exists(),
        "nothing staged for a refused pull"
    );

    let mut options = s.options();
    options.revision = s.commit.clone();
    let path = pull(options).await?;
    let manifest = Manifest::read(&path)?;
    assert!(matches!(manifest.source, Source::Hub { ref commit, .. } if *commit == s.commit));
    Ok(())
}

#[tokio::test]
async fn an_existing_name_is_refused_without_force() -> anyhow::Result<()> {
    let s = Setup::new().await?;
    let first = pull(s.options()).await?;
    let err = pull(s.options()).await.expect_err("exists");
    assert!(
        matches!(err, ModelError::Exists(ref n) if n == "tiny-sd"),
        "{err}"
    );
    assert!(err.to_string().contains("--force"), "{err}");

    // A new commit replaces it with --force.
    std::fs::write(s.source.path().join("README.md"), "# changed\n")?;
    std::fs::write(
        s.source.path().join("scheduler/scheduler_config.json"),
        r#"{"_class_name": "EulerDiscreteScheduler"}"#,
    )?;
    let commit = s.hub.add_repo(REPO, s.source.path())?;
    assert_ne!(commit, s.commit);
    let mut options = s.options();
    options.force = true;
    let second = pull(options).await?;
    assert_eq!(first, second);
    let manifest = Manifest::read(&second)?;
    assert!(matches!(manifest.source, Source::Hub { commit: ref c, .. } if *c == commit));
    assert_eq!(
        std::fs::read_to_string(second.join("scheduler/scheduler_config.json"))?,
        r#"{"_class_name": "EulerDiscreteScheduler"}"#
    );
    assert_eq!(s.store.list()?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn without_file_metadata_sizes_and_hashes_come_from_head() -> anyhow::Result<()> {
    let s = Setup::new().await?;
    s.hub.without_blob_metadata();
    s.hub.corrupt(REPO, "unet/config.json");
    let err = pull(s.options())
        .await
        .expect_err("the config is corrupted")
        .to_string();
    assert!(
        err.contains("corrupted download of unet/config.json") && err.contains("git blob"),
        "a small file is checked against its git blob id from HEAD: {err}"
    );
    s.hub.clear_faults();
    let path = pull(s.options()).await?;
    assert_eq!(read(&path.join(UNET)), s.source_bytes(UNET));
    let heads = s
        .hub
        .requests()
        .into_iter()
        .filter(|r| r.method == "HEAD")
        .count();
    assert!(heads >= FETCHED.len() - 1, "{heads} HEAD requests");
    Ok(())
}

#[tokio::test]
async fn a_component_with_only_pickled_weights_is_refused_before_any_download() -> anyhow::Result<()>
{
    let s = Setup::new().await?;
    std::fs::remove_file(s.source.path().join(VAE))?;
    std::fs::write(
        s.source.path().join("vae/diffusion_pytorch_model.bin"),
        b"pickle",
    )?;
    s.hub.add_repo("pressroom/bin-vae", s.source.path())?;
    let mut options = s.options();
    options.repo = "pressroom/bin-vae".into();
    let err = pull(options).await.expect_err("bin only").to_string();
    assert!(
        err.contains("vae: only PyTorch pickle weights (diffusion_pytorch_model.bin)"),
        "{err}"
    );
    let asked: BTreeSet<String> = s
        .hub
        .requests()
        .into_iter()
        .filter_map(|r| r.file)
        .collect();
    assert_eq!(asked, set(&["model_index.json"]));
    Ok(())
}
