//! The sample campaigns shipped in `templates/` must parse and validate.

use pressroom_core::campaign::{
    CampaignSpec, Fit, MisfirePolicy, NoiseScheduler, Seed, Trigger, ValidationContext,
    parse_campaign, validate_references,
};
use pressroom_core::schedule::Schedule;
use pressroom_core::template::render;

const SPRING: &str = include_str!("../../../../templates/campaigns/spring-launch.toml");
const WEBHOOK: &str = include_str!("../../../../templates/campaigns/restock-webhook.toml");
const LAUNCH: &str = include_str!("../../../../templates/campaigns/launch-day.toml");
const REVIEWED: &str = include_str!("../../../../templates/campaigns/weekly-client-review.toml");
const CAROUSEL: &str = include_str!("../../../../templates/campaigns/lookbook-carousel.toml");

fn parse(source: &str, file: &str) -> CampaignSpec {
    match parse_campaign(source, file) {
        Ok(spec) => spec,
        Err(issues) => panic!(
            "{file} should parse:\n{}",
            issues
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

#[test]
fn spring_launch_is_the_demo_campaign() {
    let spec = parse(SPRING, "spring-launch.toml");
    assert_eq!(spec.name, "spring-launch");
    assert_eq!(spec.workspace, "demo");
    assert_eq!(
        spec.schedule.trigger,
        Trigger::Cron {
            expr: "0 9 * * MON-FRI".into()
        }
    );
    assert_eq!(spec.schedule.timezone.as_deref(), Some("Europe/Paris"));
    assert_eq!(spec.schedule.misfire, MisfirePolicy::Once);
    let g = &spec.generation;
    assert_eq!(g.backend, "local");
    assert_eq!(g.model, None);
    assert_eq!((g.width, g.height, g.steps), (256, 256, 4));
    assert_eq!(g.scheduler, NoiseScheduler::Ddim);
    assert_eq!(g.seed, Seed::Fixed(42));
    let presets: Vec<&str> = spec.targets.iter().map(|t| t.preset.as_str()).collect();
    assert_eq!(
        presets,
        [
            "instagram-square",
            "instagram-story",
            "linkedin-landscape",
            "facebook-feed"
        ]
    );
    assert!(spec.targets.iter().all(|t| t.account == "sandbox"));
    assert_eq!(spec.targets[1].fit, Some(Fit::Contain));
    // The story preset makes the target a story without saying so, in a spec stored before
    // formats existed too.
    assert_eq!(spec.targets[1].format, pressroom_core::PostFormat::Story);
    let mut stored = serde_json::to_value(&spec).expect("json");
    for target in stored["targets"].as_array_mut().expect("targets") {
        target.as_object_mut().expect("object").remove("format");
    }
    let old: CampaignSpec = serde_json::from_value(stored).expect("an old spec reads");
    assert_eq!(old.targets[1].format, pressroom_core::PostFormat::Story);
    assert_eq!(old.targets[0].format, pressroom_core::PostFormat::Single);
    assert_eq!(spec.targets[0].format, pressroom_core::PostFormat::Single);
    assert!(Schedule::from_spec(&spec.schedule).is_ok());
}

#[test]
fn spring_launch_templates_render_with_its_variables() {
    let spec = parse(SPRING, "spring-launch.toml");
    let vars = serde_json::to_value(&spec.variables).expect("variables are JSON");
    let prompt = render(&spec.generation.prompt, &vars).expect("prompt renders");
    assert!(prompt.contains("Linen Tote"), "{prompt}");
    assert!(prompt.contains("sage, cream, terracotta"), "{prompt}");
    let caption = render(&spec.caption.template, &vars).expect("caption renders");
    assert!(
        caption.starts_with("Spring is here: meet the Linen Tote."),
        "{caption}"
    );
    assert!(caption.contains("#linen"), "{caption}");
}

#[test]
fn webhook_and_one_shot_samples_parse() {
    let webhook = parse(WEBHOOK, "restock-webhook.toml");
    assert_eq!(webhook.schedule.trigger, Trigger::WebhookOnly);
    assert_eq!(webhook.generation.seed, Seed::Random);

    let launch = parse(LAUNCH, "launch-day.toml");
    let Trigger::At { at } = launch.schedule.trigger else {
        panic!("launch-day is one-shot");
    };
    // 10:00 EDT (UTC-4) on 2026-04-01
    assert_eq!(at.to_rfc3339(), "2026-04-01T14:00:00+00:00");
    assert_eq!(
        launch.schedule.misfire,
        MisfirePolicy::EachWithinWindow {
            window: std::time::Duration::from_secs(12 * 3600)
        }
    );
}

#[test]
fn samples_reference_only_the_sandbox_and_known_presets() {
    let presets = [
        "instagram-square",
        "instagram-story",
        "linkedin-square",
        "linkedin-landscape",
        "facebook-feed",
    ];
    let ctx = ValidationContext {
        known_accounts: &|a| a == "sandbox",
        known_presets: &|p| presets.contains(&p),
        known_backends: &|b| b == "local",
    };
    for (source, file) in [
        (SPRING, "spring-launch.toml"),
        (WEBHOOK, "restock-webhook.toml"),
        (LAUNCH, "launch-day.toml"),
        (REVIEWED, "weekly-client-review.toml"),
        (CAROUSEL, "lookbook-carousel.toml"),
    ] {
        let spec = parse(source, file);
        assert_eq!(
            validate_references(&spec, source, file, &ctx),
            vec![],
            "{file}"
        );
    }
}

#[test]
fn the_client_review_sample_waits_for_its_named_approver() {
    let spec = parse(REVIEWED, "weekly-client-review.toml");
    let approval = spec.review().expect("the sample needs approval");
    assert_eq!(approval.candidates, 3);
    assert_eq!(spec.lead_time(), std::time::Duration::from_secs(24 * 3600));
    assert_eq!(approval.approvers, vec!["client@acme.example".to_string()]);
}

#[test]
fn run_context_layers_campaign_trigger_and_run_variables() {
    use chrono::{TimeZone, Utc};
    use pressroom_core::campaign::{RunFacts, template_context};
    use pressroom_core::schedule::fire_key;

    let spec = parse(SPRING, "spring-launch.toml");
    // Monday 2026-03-30 09:00 in Paris (CEST, UTC+2).
    let fire_at = Utc
        .with_ymd_and_hms(2026, 3, 30, 7, 0, 0)
        .single()
        .expect("valid");
    let key = fire_key(fire_at);
    let run = RunFacts {
        id: "run-1",
        trigger: "cron",
        fire_key: &key,
        fire_at,
    };
    let payload = serde_json::json!({ "product": "Straw Hat", "run": "ignored" });
    let ctx = template_context(&spec, &run, &payload);
    assert_eq!(ctx["run"]["fire_key"], "2026-03-30T07:00:00Z");
    assert_eq!(ctx["run"]["local_time"], "2026-03-30T09:00:00+02:00");
    assert_eq!(ctx["run"]["weekday"], "Monday");
    assert_eq!(
        ctx["product"], "Straw Hat",
        "trigger variables override the campaign's"
    );
    assert_eq!(ctx["season"], "spring");
    let out = render("{{ run.campaign }} {{ run.date }} {{ run.trigger }}", &ctx).expect("renders");
    assert_eq!(out, "spring-launch 2026-03-30 cron");
    let caption = render(&spec.caption.template, &ctx).expect("caption renders");
    assert!(caption.contains("meet the Straw Hat"), "{caption}");
}

/// A campaign is parsed once, at save; the workers read back the JSON stored with it. Every
/// field must come back as it went in: triggers of each kind, a misfire window, fixed and
/// random seeds, a fit, variables of every TOML type (a date-time becomes its RFC 3339 text).
#[test]
fn a_spec_read_back_from_its_stored_json_is_the_spec_that_was_saved() {
    let every_field = r#"
name = "every-field"
workspace = "demo"
description = "all of it"

[schedule]
cron = "*/15 9-17 * * MON-FRI"
timezone = "America/New_York"
misfire = "each"
misfire_window = "90m"

[generation]
backend = "openai"
model = "gpt-image-1"
prompt = "a {{ product }}"
negative_prompt = "blurry"
steps = 30
guidance = 6.5
scheduler = "dpmpp-2m"
width = 768
height = 512
seed = 9007199254740993

[caption]
template = "{{ product }} at {{ launch }}"

[variables]
product = "lamp"
launch = 2027-03-01T09:00:00Z
tags = ["a", "b"]
count = 3
ratio = 0.5
on = true
nested = { k = "v" }

[[targets]]
account = "ig"
preset = "instagram-square"
fit = "contain"

[[targets]]
account = "li"
preset = "linkedin-landscape"
"#;
    let one_shot = every_field
        .replace(
            "cron = \"*/15 9-17 * * MON-FRI\"",
            "at = \"2027-03-01T09:00:00\"",
        )
        .replace("seed = 9007199254740993", "seed = \"random\"");
    let webhook = every_field.replace("cron = \"*/15 9-17 * * MON-FRI\"", "webhook = true");
    let sources = [
        ("every-field.toml", every_field.to_string()),
        ("one-shot.toml", one_shot),
        ("webhook.toml", webhook),
        ("spring-launch.toml", SPRING.to_string()),
        ("restock-webhook.toml", WEBHOOK.to_string()),
        ("launch-day.toml", LAUNCH.to_string()),
        ("lookbook-carousel.toml", CAROUSEL.to_string()),
    ];
    for (file, source) in &sources {
        let spec = parse(source, file);
        let stored = serde_json::to_string(&spec).expect("serializes");
        let back: CampaignSpec = serde_json::from_str(&stored).unwrap_or_else(|e| {
            panic!("{file}: the stored spec does not read back: {e}\n{stored}")
        });
        assert_eq!(back, spec, "{file}: {stored}");
    }
}
