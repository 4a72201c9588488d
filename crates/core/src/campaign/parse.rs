//! `parse_campaign`: TOML text to a validated [`CampaignSpec`], or every problem in it.

use std::collections::BTreeMap;

use toml::de::DeTable;

use super::approval_section::read_approval;
use super::generation_section::read_generation;
use super::issue::SpecIssue;
use super::media_section::read_media;
use super::reader::{Reader, Sink, TemplateFiles};
use super::schedule_section::read_schedule;
use super::spec::{CampaignSpec, CaptionSpec, GenerationSpec};
use super::targets_section::read_targets;
use super::template_check::{check_template_variables, read_template};
use super::variables_section::read_variables;

/// Parses and validates a campaign file.
///
/// Everything that can be checked without outside knowledge is checked here: TOML
/// syntax, unknown and missing fields, types, cron expressions, time zones, date-times,
/// misfire settings, generation numbers and template syntax. Accounts and presets
/// depend on the installation and are checked by
/// [`validate_references`](super::validate_references).
///
/// # Errors
/// Every issue found, sorted by position. A file with malformed
/// TOML reports only its syntax errors (the rest would be guesses).
pub fn parse_campaign(source: &str, file_name: &str) -> Result<CampaignSpec, Vec<SpecIssue>> {
    parse_campaign_with(source, file_name, &|_| None)
}

/// [`parse_campaign`] for campaigns that name template files (`prompt_file`,
/// `negative_prompt_file`, `caption.template_file`): `files` returns a file's text by
/// the name written in the campaign, or `None` when it does not exist. The text is
/// inlined into the spec, so nothing downstream reads files. Syntax errors inside a
/// template file are reported against that file's name.
///
/// # Errors
/// As [`parse_campaign`], plus template files that are missing or do not compile.
pub fn parse_campaign_with(
    source: &str,
    file_name: &str,
    files: TemplateFiles<'_>,
) -> Result<CampaignSpec, Vec<SpecIssue>> {
    let mut sink = Sink::new(file_name, source, files);
    let (doc, errors) = DeTable::parse_recoverable(source);
    for err in &errors {
        let span = err.span().unwrap_or(0..0);
        sink.push(
            span,
            "",
            format!("malformed TOML: {}", err.message().trim()),
        );
    }
    if !sink.issues.is_empty() {
        return Err(sink.issues);
    }

    if doc.get_ref().is_empty() {
        sink.push(
            0..0,
            "",
            "empty campaign: it needs name, workspace, [schedule], [generation], [caption] and [[targets]]",
        );
        return Err(sink.issues);
    }

    let mut root = Reader::new(doc.get_ref(), String::new(), doc.span());
    let name = read_slug(&mut root, &mut sink, "name");
    let workspace = read_slug(&mut root, &mut sink, "workspace");
    let description = root
        .get("description")
        .and_then(|i| i.string(&mut sink))
        .map(|s| s.into_inner());
    let schedule = root
        .require(&mut sink, "schedule")
        .and_then(|i| i.table(&mut sink))
        .and_then(|t| read_schedule(t, &mut sink));
    // A campaign generates its images ([generation]) or publishes its own ([media]).
    let media = match root.get("media") {
        None => Some(None),
        Some(item) => item
            .table(&mut sink)
            .and_then(|t| read_media(t, &mut sink))
            .map(Some),
    };
    let generation = match (root.get("generation"), root.get("media")) {
        (Some(_), Some(media)) => {
            sink.push(
                media.span(),
                "media",
                "a campaign generates its images ([generation]) or publishes its own ([media]), not both: remove one",
            );
            None
        }
        (None, Some(_)) => Some(GenerationSpec::for_own_media()),
        (generation, None) => {
            if generation.is_none() {
                sink.push(
                    root.span(),
                    "generation",
                    "missing required field (or [media] with the images to publish)",
                );
            }
            generation
                .and_then(|i| i.table(&mut sink))
                .and_then(|t| read_generation(t, &mut sink))
        }
    };
    let caption = root
        .require(&mut sink, "caption")
        .and_then(|i| i.table(&mut sink))
        .and_then(|t| read_caption(t, &mut sink));
    let variables = match root.get("variables") {
        Some(item) => item.table(&mut sink).map(|t| read_variables(t, &mut sink)),
        None => Some(BTreeMap::new()),
    };
    let targets = root
        .require(&mut sink, "targets")
        .and_then(|i| read_targets(&i, &mut sink));
    let approval = match root.get("approval") {
        None => Some(None),
        Some(item) => item
            .table(&mut sink)
            .and_then(|t| read_approval(t, &mut sink))
            .map(Some),
    };
    if let Some(variables) = &variables {
        let defined = variables.keys().cloned().collect();
        check_template_variables(&mut sink, &defined);
    }
    if let (Some(Some(_)), Some(Some(approval))) = (&media, &approval)
        && approval.required
    {
        let span = root.get("approval").map_or(0..0, |i| i.span());
        sink.push(
            span,
            "approval",
            "a campaign's own media cannot be reviewed yet (a review picks among generated images); remove [approval] or [media]",
        );
    } else if let (Some(generation), Some(Some(approval))) = (&generation, &approval)
        && generation.image_count() > 1
        && approval.required
    {
        let span = root.get("approval").map_or(0..0, |i| i.span());
        sink.push(
            span,
            "approval",
            "a run with several images cannot be reviewed yet (a reviewer picks one image); \
             use one image per run, or remove [approval]",
        );
    }
    root.finish(&mut sink);

    match (
        name, workspace, schedule, generation, caption, variables, targets, approval, media,
    ) {
        (
            Some(name),
            Some(workspace),
            Some(schedule),
            Some(generation),
            Some(caption),
            Some(variables),
            Some(targets),
            Some(approval),
            Some(media),
        ) if sink.issues.is_empty() => Ok(CampaignSpec {
            name,
            workspace,
            description,
            schedule,
            generation,
            caption,
            variables,
            targets,
            approval,
            media,
        }),
        _ => {
            let mut issues = sink.issues;
            issues.sort_by_key(|i| (i.line, i.column));
            Err(issues)
        }
    }
}

/// A required slug: lowercase ASCII letters, digits, `-` and `_`, starting with a letter
/// or digit, at most 64 characters — safe in URLs, file names and log lines.
fn read_slug(table: &mut Reader<'_, '_>, sink: &mut Sink<'_>, key: &'static str) -> Option<String> {
    let value = table.require(sink, key)?.string(sink)?;
    let text = value.get_ref();
    let valid = !text.is_empty()
        && text.len() <= 64
        && text.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if valid {
        Some(value.into_inner())
    } else {
        sink.push(
            value.span(),
            &table.child_path(key),
            "must be 1-64 characters of a-z, 0-9, '-' or '_', starting with a letter or digit",
        );
        None
    }
}

fn read_caption(mut table: Reader<'_, '_>, sink: &mut Sink<'_>) -> Option<CaptionSpec> {
    let template = read_template(&mut table, sink, "template", "template_file", true).flatten();
    let alt_text = read_template(&mut table, sink, "alt_text", "alt_text_file", false);
    let first_comment = read_template(
        &mut table,
        sink,
        "first_comment",
        "first_comment_file",
        false,
    );
    table.finish(sink);
    Some(CaptionSpec {
        template: template?,
        alt_text: alt_text?,
        first_comment: first_comment?,
    })
}
