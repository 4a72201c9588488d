//! The generate crate end to end: the cache, the prompt policy, and both remote clients
//! against the local fake services (the local engine's tests are pressroom-engine's).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use pressroom_generate::fake::{FakeImageApi, InjectedFailure, test_png};
use pressroom_generate::{
    CachedGenerator, GenerateError, GeneratedImage, GenerationRequest, Generator, NoiseScheduler,
    OpenAiConfig, OpenAiImages, PolicyGenerator, ProgressFn, PromptPolicy, StabilityConfig,
    StabilityImages, generation_key,
};

/// Counts model runs; answers with a small PNG.
struct Counting {
    runs: AtomicUsize,
}

#[async_trait::async_trait]
impl Generator for Counting {
    fn identity(&self) -> String {
        "counting@sha256:0".into()
    }

    async fn generate(
        &self,
        req: GenerationRequest,
        _progress: Option<ProgressFn>,
    ) -> Result<GeneratedImage, GenerateError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        Ok(GeneratedImage {
            png: test_png(req.width, req.height),
            width: req.width,
            height: req.height,
            cache_hit: false,
            generation_key: String::new(),
        })
    }
}

fn small(prompt: &str, seed: u64) -> GenerationRequest {
    GenerationRequest {
        prompt: prompt.into(),
        negative_prompt: None,
        seed,
        steps: 2,
        guidance: 5.0,
        scheduler: NoiseScheduler::Ddim,
        width: 64,
        height: 64,
    }
}

#[tokio::test]
async fn cache_answers_repeats_without_running_the_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cached = Arc::new(
        CachedGenerator::new(
            Counting {
                runs: AtomicUsize::new(0),
            },
            dir.path(),
        )
        .expect("cache"),
    );
    let first = cached.generate(small("a", 1), None).await.expect("first");
    assert!(!first.cache_hit);
    assert_eq!(
        first.generation_key,
        generation_key("counting@sha256:0", &small("a", 1))
    );
    assert!(cached.path_for(&first.generation_key).exists());
    let again = cached.generate(small("a", 1), None).await.expect("again");
    assert!(again.cache_hit);
    assert_eq!(again.png, first.png);
    assert_eq!((again.width, again.height), (64, 64));
    assert_eq!(cached.inner().runs.load(Ordering::SeqCst), 1);

    // A different seed is a different image.
    let other = cached.generate(small("a", 2), None).await.expect("other");
    assert!(!other.cache_hit);
    assert_eq!(cached.inner().runs.load(Ordering::SeqCst), 2);

    // Concurrent identical requests run the model once.
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let c = cached.clone();
            tokio::spawn(async move { c.generate(small("b", 9), None).await })
        })
        .collect();
    let mut hits = 0;
    for t in tasks {
        if t.await.expect("join").expect("generate").cache_hit {
            hits += 1;
        }
    }
    assert_eq!(cached.inner().runs.load(Ordering::SeqCst), 3);
    assert_eq!(hits, 3);

    // A corrupt entry is regenerated, not served.
    let key = generation_key("counting@sha256:0", &small("c", 1));
    std::fs::write(cached.path_for(&key), b"not a png").expect("write");
    let fixed = cached
        .generate(small("c", 1), None)
        .await
        .expect("regenerated");
    assert!(!fixed.cache_hit);
    assert_eq!(cached.inner().runs.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn policy_blocks_before_the_backend_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inner = CachedGenerator::new(
        Counting {
            runs: AtomicUsize::new(0),
        },
        dir.path(),
    )
    .expect("cache");
    let g = PolicyGenerator::new(inner, PromptPolicy::from_terms(["weapon"]));
    let err = g
        .generate(small("a shiny Weapon", 1), None)
        .await
        .expect_err("blocked");
    assert!(
        matches!(&err, GenerateError::PromptBlocked { term, .. } if term == "weapon"),
        "{err}"
    );
    assert!(g.generate(small("a shiny apple", 1), None).await.is_ok());
}

#[tokio::test]
async fn invalid_requests_fail_fast() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = CachedGenerator::new(
        Counting {
            runs: AtomicUsize::new(0),
        },
        dir.path(),
    )
    .expect("cache");
    let mut r = small("x", 1);
    r.width = 100;
    assert!(matches!(
        c.generate(r, None).await,
        Err(GenerateError::InvalidRequest(_))
    ));
    assert_eq!(c.inner().runs.load(Ordering::SeqCst), 0);
}

fn openai(fake: &FakeImageApi, key: &str) -> OpenAiImages {
    OpenAiImages::new(OpenAiConfig {
        base_url: fake.base_url.clone(),
        timeout_secs: 10,
        ..OpenAiConfig::new(key)
    })
    .expect("client")
}

fn stability(fake: &FakeImageApi, key: &str) -> StabilityImages {
    StabilityImages::new(StabilityConfig {
        base_url: fake.base_url.clone(),
        timeout_secs: 10,
        ..StabilityConfig::new(key)
    })
    .expect("client")
}

#[tokio::test]
async fn openai_client_against_fake() {
    let fake = FakeImageApi::start("sk-test").await.expect("fake");
    let g = openai(&fake, "sk-test");
    let mut req = small("a red kite", 1);
    req.width = 256;
    req.height = 256;
    req.negative_prompt = Some("text".into());
    let img = g.generate(req.clone(), None).await.expect("image");
    assert_eq!((img.width, img.height), (256, 256));
    let body = fake.last_openai_body().expect("body");
    assert_eq!(body["size"], "256x256");
    assert_eq!(body["model"], "gpt-image-1");
    assert!(
        body["prompt"]
            .as_str()
            .unwrap_or_default()
            .contains("Avoid: text")
    );

    fake.inject(InjectedFailure::RateLimited {
        retry_after_secs: 7,
    });
    match g.generate(req.clone(), None).await {
        Err(GenerateError::RateLimited { retry_after, .. }) => {
            assert_eq!(retry_after, Some(std::time::Duration::from_secs(7)));
        }
        other => panic!("expected rate limit, got {other:?}"),
    }
    fake.inject(InjectedFailure::ServerError);
    let err = g.generate(req.clone(), None).await.expect_err("500");
    assert!(err.is_retryable(), "{err}");

    let err = g
        .generate(small("something forbidden", 1), None)
        .await
        .expect_err("moderation");
    assert!(
        matches!(&err, GenerateError::Rejected { status: 400, message, .. } if message.contains("moderation_blocked")),
        "{err}"
    );
    assert!(!err.is_retryable());

    let bad = openai(&fake, "wrong");
    let err = bad.generate(req, None).await.expect_err("auth");
    assert!(
        matches!(err, GenerateError::Rejected { status: 401, .. }),
        "{err}"
    );
    assert_eq!(fake.openai_calls(), 5);
}

#[tokio::test]
async fn stability_client_against_fake() {
    let fake = FakeImageApi::start("sk-stab").await.expect("fake");
    let g = stability(&fake, "sk-stab");
    let mut req = small("a mountain lake", 5);
    req.width = 1920;
    req.height = 1080;
    req.negative_prompt = Some("people".into());
    let img = g.generate(req.clone(), None).await.expect("image");
    assert_eq!((img.width, img.height), (112, 64));
    let fields = fake.last_stability_fields();
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("aspect_ratio").as_deref(), Some("16:9"));
    assert_eq!(get("seed").as_deref(), Some("5"));
    assert_eq!(get("negative_prompt").as_deref(), Some("people"));
    assert_eq!(get("output_format").as_deref(), Some("png"));
    assert_eq!(fake.last_stability_endpoint().as_deref(), Some("core"));
    assert_eq!(get("model"), None);

    let err = g
        .generate(small("forbidden thing", 1), None)
        .await
        .expect_err("moderation");
    assert!(
        matches!(&err, GenerateError::Rejected { status: 403, message, .. } if message.contains("content_moderation")),
        "{err}"
    );
    fake.inject(InjectedFailure::RateLimited {
        retry_after_secs: 3,
    });
    assert!(matches!(
        g.generate(req.clone(), None).await,
        Err(GenerateError::RateLimited { .. })
    ));
    let err = stability(&fake, "nope")
        .generate(req, None)
        .await
        .expect_err("auth");
    assert!(
        matches!(err, GenerateError::Rejected { status: 401, .. }),
        "{err}"
    );
    assert_eq!(fake.stability_calls(), 4);

    // An SD3 model goes to the sd3 endpoint with its name in the form.
    let sd3 = StabilityImages::new(StabilityConfig {
        base_url: fake.base_url.clone(),
        model: "sd3.5-large".into(),
        ..StabilityConfig::new("sk-stab")
    })
    .expect("client");
    assert!(sd3.identity().contains("sd3.5-large"));
    sd3.generate(small("a fjord", 2), None).await.expect("sd3");
    assert_eq!(fake.last_stability_endpoint().as_deref(), Some("sd3"));
    let fields = fake.last_stability_fields();
    assert!(
        fields.contains(&("model".into(), "sd3.5-large".into())),
        "{fields:?}"
    );
}

#[test]
fn remote_configs_are_checked_and_keys_stay_secret() {
    let cfg = OpenAiConfig {
        base_url: "ftp://example.com".into(),
        ..OpenAiConfig::new("sk-very-secret")
    };
    assert!(!format!("{cfg:?}").contains("sk-very-secret"));
    let err = OpenAiImages::new(cfg).err().expect("bad url");
    assert!(
        err.to_string().contains("generation.openai.base_url"),
        "{err}"
    );
    let err = OpenAiImages::new(OpenAiConfig::new(" "))
        .err()
        .expect("empty key");
    assert!(
        err.to_string().contains("generation.openai.api_key"),
        "{err}"
    );
    let err = StabilityImages::new(StabilityConfig {
        model: "dall-e-3".into(),
        ..StabilityConfig::new("k")
    })
    .err()
    .expect("unknown model");
    assert!(
        err.to_string().contains("generation.stability.model"),
        "{err}"
    );
    // Only the key is required; typos are refused.
    let parsed: OpenAiConfig =
        serde_json::from_value(serde_json::json!({ "api_key": "k" })).expect("minimal");
    assert_eq!(parsed.base_url, "https://api.openai.com");
    assert!(
        serde_json::from_value::<StabilityConfig>(
            serde_json::json!({ "api_key": "k", "modle": "x" })
        )
        .is_err()
    );
}

/// The policy checks OpenAI's negative prompt (sent as prompt text), not Stability's.
#[tokio::test]
async fn policy_checks_the_negative_prompt_where_it_is_prompt_text() {
    let fake = FakeImageApi::start("sk").await.expect("fake");
    let policy = PromptPolicy::from_terms(["gore"]);
    let mut req = small("a quiet harbour", 1);
    req.negative_prompt = Some("gore".into());
    let o = PolicyGenerator::new(Arc::new(openai(&fake, "sk")), policy.clone());
    let err = o.generate(req.clone(), None).await.expect_err("blocked");
    assert!(
        err.to_string().starts_with("negative prompt blocked"),
        "{err}"
    );
    assert_eq!(fake.openai_calls(), 0);
    let s = PolicyGenerator::new(stability(&fake, "sk"), policy);
    s.generate(req, None)
        .await
        .expect("a true negative prompt is allowed");
    assert_eq!(fake.stability_calls(), 1);
}
