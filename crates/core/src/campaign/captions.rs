//! Caption checks at validation time: the caption template rendered the way a run would
//! render it, with what is known before any run — the campaign's `[variables]` defaults and a
//! sample `run` object — then handed to the caller's per-target check (platform rules live
//! outside core; the binary and the API pass pressroom-media's `check_caption`).
//!
//! A run can still produce a different caption (trigger variables, the real date), so the
//! publish worker checks the real caption again before any platform call.

use std::ops::Range;

use chrono::{TimeZone, Utc};
use toml::de::{DeTable, DeValue};

use super::context::{RunFacts, template_context};
use super::issue::SpecIssue;
use super::render::{neutral_target, render_target_texts};
use super::spec::{CampaignSpec, TargetSpec};
use crate::template::render;

/// The `run` facts a validation render uses: an id as long as a real one (a UUID) and a
/// Wednesday in September, the longest English weekday and month names, so a caption that
/// shows them is measured at its longest.
pub(crate) fn sample_run() -> RunFacts<'static> {
    RunFacts {
        id: "00000000-0000-0000-0000-000000000000",
        trigger: "validate",
        fire_key: "validate",
        fire_at: Utc
            .with_ymd_and_hms(2030, 9, 25, 12, 0, 0)
            .single()
            .unwrap_or_default(),
    }
}

/// The caption of `spec` as a run with only the campaign's `[variables]` would render it, or
/// `None` when it does not render without trigger input (that run would fail on its own,
/// with the template error).
pub fn sample_caption(spec: &CampaignSpec) -> Option<String> {
    let vars = template_context(spec, &sample_run(), &serde_json::Value::Null);
    render(&spec.caption.template, &neutral_target(spec, &vars)).ok()
}

/// Checks each target's caption, as a run with only the `[variables]` defaults renders it,
/// against the target's platform rules.
///
/// `platform_of` names a target's platform (the account's, else the preset's) for the
/// template's `target.platform`; `check` gets a target and its rendered caption and returns
/// the broken rules, each a message that names the platform and the rule (e.g.
/// pressroom-media's `CaptionIssue`). Identical messages about the campaign's caption from
/// several targets (two Instagram targets) are reported once, naming every target. Issues
/// point at `caption.template` (or `caption.template_file`), or at the target's own
/// `caption` in `source`.
pub fn validate_captions(
    spec: &CampaignSpec,
    source: &str,
    file: &str,
    platform_of: &dyn Fn(&TargetSpec) -> Option<String>,
    check: &dyn Fn(&TargetSpec, &str) -> Vec<String>,
) -> Vec<SpecIssue> {
    let context = template_context(spec, &sample_run(), &serde_json::Value::Null);
    // (message, the target whose own caption it is, the targets it concerns)
    let mut found: Vec<(String, Option<usize>, Vec<usize>)> = Vec::new();
    for (index, target) in spec.targets.iter().enumerate() {
        let platform = platform_of(target).unwrap_or_default();
        let Ok(texts) = render_target_texts(spec, index, &platform, &context) else {
            // Needs trigger input: the run fails on its own, with the template error.
            continue;
        };
        let own = target.caption.is_some().then_some(index);
        for message in check(target, &texts.caption) {
            match found
                .iter_mut()
                .find(|(m, o, _)| *m == message && *o == own)
            {
                Some((_, _, targets)) => targets.push(index),
                None => found.push((message, own, vec![index])),
            }
        }
    }
    if found.is_empty() {
        return Vec::new();
    }
    let doc = DeTable::parse(source).ok();
    let root = doc.as_ref().map(|d| d.get_ref());
    found
        .into_iter()
        .map(|(message, own, targets)| {
            let (span, field) = match own {
                Some(index) => target_caption_span(root, index),
                None => {
                    let (span, field) = caption_span(root);
                    (span, field.to_owned())
                }
            };
            let targets: Vec<String> = targets.iter().map(|i| format!("targets[{i}]")).collect();
            SpecIssue::at(
                file,
                source,
                span,
                field,
                format!(
                    "{message} — for {}, with the [variables] defaults",
                    targets.join(", ")
                ),
            )
        })
        .collect()
}

/// Where target `index`'s own caption is written (`caption` or `caption_file`).
fn target_caption_span(root: Option<&DeTable<'_>>, index: usize) -> (Range<usize>, String) {
    let target = root
        .and_then(|r| r.get("targets"))
        .and_then(|v| v.get_ref().as_array())
        .and_then(|a| a.get(index));
    let table = target.and_then(|t| t.get_ref().as_table());
    for key in ["caption", "caption_file"] {
        if let Some(value) = table.and_then(|t| t.get(key)) {
            return (value.span(), format!("targets[{index}].{key}"));
        }
    }
    (
        target.map(|t| t.span()).unwrap_or(0..0),
        format!("targets[{index}]"),
    )
}

/// Where the caption template is written: `caption.template`, `caption.template_file`, or the
/// `[caption]` table.
fn caption_span(root: Option<&DeTable<'_>>) -> (Range<usize>, &'static str) {
    let caption = root.and_then(|r| r.get("caption"));
    let table = caption.and_then(|c| match c.get_ref() {
        DeValue::Table(t) => Some(t),
        _ => None,
    });
    for key in ["template", "template_file"] {
        if let Some(value) = table.and_then(|t| t.get(key)) {
            let field = if key == "template" {
                "caption.template"
            } else {
                "caption.template_file"
            };
            return (value.span(), field);
        }
    }
    (caption.map(|c| c.span()).unwrap_or(0..0), "caption")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::parse_campaign;

    const SOURCE: &str = r#"name = "c"
workspace = "w"

[schedule]
webhook = true

[generation]
prompt = "a tote"

[caption]
template = "{{ product }} on {{ run.weekday }} #{{ tag }}"

[variables]
product = "Tote"
tag = "bags"

[[targets]]
account = "a"
preset = "p1"

[[targets]]
account = "b"
preset = "p2"
"#;

    #[test]
    fn renders_with_defaults_and_a_sample_run() {
        let spec = parse_campaign(SOURCE, "c.toml").expect("valid");
        assert_eq!(
            sample_caption(&spec).as_deref(),
            Some("Tote on Wednesday #bags")
        );
    }

    #[test]
    fn issues_point_at_the_template_and_merge_targets() {
        let spec = parse_campaign(SOURCE, "c.toml").expect("valid");
        let check = |_: &TargetSpec, caption: &str| {
            if caption.len() > 5 {
                vec!["x: too long (rule max_length)".to_string()]
            } else {
                vec![]
            }
        };
        let issues = validate_captions(&spec, SOURCE, "c.toml", &|_| None, &check);
        assert_eq!(issues.len(), 1, "{issues:?}");
        let issue = &issues[0];
        assert_eq!((issue.line, issue.column), (11, 12));
        assert_eq!(issue.field, "caption.template");
        assert!(
            issue.message.contains("max_length")
                && issue.message.contains("targets[0], targets[1]"),
            "{issue}"
        );
        assert!(validate_captions(&spec, SOURCE, "c.toml", &|_| None, &|_, _| vec![]).is_empty());
    }
}
