//! Campaigns that keep their templates in files (`prompt_file`, `caption.template_file`).

use std::collections::BTreeMap;

use pressroom_core::campaign::{SpecIssue, parse_campaign, parse_campaign_with};
use pressroom_core::template::render;

const HERO: &str = include_str!("../../../../templates/prompts/product-hero.j2");
const LAUNCH: &str = include_str!("../../../../templates/captions/product-launch.j2");

const CAMPAIGN: &str = r#"
name = "with-files"
workspace = "demo"

[schedule]
webhook = true

[generation]
prompt_file = "prompts/product-hero.j2"

[caption]
template_file = "captions/product-launch.j2"

[variables]
product = "Linen Tote"
surface = "oak table"
season = "spring"
palette = ["sage", "cream"]
tagline = "Carry the season."
hashtags = ["linen"]

[[targets]]
account = "sandbox"
preset = "instagram-square"
"#;

fn library(extra: &[(&'static str, &'static str)]) -> BTreeMap<&'static str, &'static str> {
    let mut files = BTreeMap::from([
        ("prompts/product-hero.j2", HERO),
        ("captions/product-launch.j2", LAUNCH),
    ]);
    files.extend(extra.iter().copied());
    files
}

fn parse_with(
    source: &str,
    files: &BTreeMap<&'static str, &'static str>,
) -> Result<pressroom_core::campaign::CampaignSpec, Vec<SpecIssue>> {
    let resolve = |name: &str| files.get(name).map(|t| (*t).to_owned());
    parse_campaign_with(source, "files.toml", &resolve)
}

#[test]
fn template_files_are_inlined_into_the_spec() {
    let spec = parse_with(CAMPAIGN, &library(&[])).expect("parses");
    assert_eq!(spec.generation.prompt, HERO);
    assert_eq!(spec.caption.template, LAUNCH);
    let vars = serde_json::to_value(&spec.variables).expect("json");
    let caption = render(&spec.caption.template, &vars).expect("renders");
    assert_eq!(
        caption,
        "Spring is here: meet the Linen Tote. Carry the season.\n#linen"
    );
}

#[test]
fn without_a_resolver_files_are_not_found() {
    let issues = parse_campaign(CAMPAIGN, "files.toml").expect_err("no files");
    let fields: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
    assert_eq!(fields, ["generation.prompt_file", "caption.template_file"]);
    assert!(
        issues[0]
            .message
            .contains("`prompts/product-hero.j2` not found")
    );
}

#[test]
fn syntax_errors_in_a_template_file_name_that_file() {
    let source = CAMPAIGN.replace("prompts/product-hero.j2", "prompts/broken.j2");
    let files = library(&[("prompts/broken.j2", "line one\nline {{ two }\n")]);
    let issues = parse_with(&source, &files).expect_err("broken template");
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(
        (
            issues[0].file.as_str(),
            issues[0].line,
            issues[0].field.as_str()
        ),
        ("prompts/broken.j2", 2, "generation.prompt_file")
    );
}

#[test]
fn undefined_variables_in_a_file_point_at_the_file_field() {
    let source = CAMPAIGN.replace("tagline = \"Carry the season.\"\n", "");
    let issues = parse_with(&source, &library(&[])).expect_err("tagline missing");
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].field, "caption.template_file");
    let line = source.lines().position(|l| l.starts_with("template_file"));
    assert_eq!(Some(issues[0].line), line.map(|i| i + 1));
    assert!(issues[0].message.contains("`tagline`"));
}

#[test]
fn inline_and_file_forms_are_exclusive() {
    let source = CAMPAIGN.replace(
        "prompt_file = \"prompts/product-hero.j2\"",
        "prompt = \"x\"\nprompt_file = \"prompts/product-hero.j2\"",
    );
    let issues = parse_with(&source, &library(&[])).expect_err("both given");
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert!(
        issues[0]
            .message
            .contains("either `prompt` or `prompt_file`")
    );
    let source = CAMPAIGN.replace("prompt_file = \"prompts/product-hero.j2\"\n", "");
    let issues = parse_with(&source, &library(&[])).expect_err("neither given");
    assert_eq!(issues[0].field, "generation.prompt");
}
