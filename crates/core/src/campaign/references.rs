//! Checks that need the installation: do the accounts, presets and backends exist?
//!
//! Kept apart from parsing so that `parse_campaign` stays a pure function of the text,
//! and the caller decides where the names come from (config, DB, connector registry).

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::issue::SpecIssue;
use super::spec::CampaignSpec;

/// Name lookups supplied by the caller. Closures, so a `HashSet`, a config list or a
/// preloaded DB query all fit: `ValidationContext { known_accounts: &|a| set.contains(a), .. }`.
pub struct ValidationContext<'a> {
    /// Accounts of the campaign's workspace.
    pub known_accounts: &'a dyn Fn(&str) -> bool,
    /// Rendition presets (e.g. `instagram-square`).
    pub known_presets: &'a dyn Fn(&str) -> bool,
    /// Backends that are configured and usable on this installation.
    pub known_backends: &'a dyn Fn(&str) -> bool,
}

/// Reports targets naming an unknown account or preset, and an unavailable backend,
/// positioned at the offending value in `source` (the text `spec` was parsed from;
/// without it, or if it no longer matches, issues point at line 1).
pub fn validate_references(
    spec: &CampaignSpec,
    source: &str,
    file: &str,
    ctx: &ValidationContext<'_>,
) -> Vec<SpecIssue> {
    let doc = DeTable::parse(source).ok();
    let root = doc.as_ref().map(|d| d.get_ref());
    let mut issues = Vec::new();
    let mut report = |span: Range<usize>, field: String, message: String| {
        issues.push(SpecIssue::at(file, source, span, field, message));
    };

    if spec.media.is_none() && !(ctx.known_backends)(&spec.generation.backend) {
        let span = locate(root, &["generation", "backend"]).unwrap_or(0..0);
        report(
            span,
            "generation.backend".into(),
            format!(
                "backend `{}` is not configured on this installation",
                spec.generation.backend
            ),
        );
    }
    for (index, target) in spec.targets.iter().enumerate() {
        let element = root
            .and_then(|t| t.get("targets"))
            .and_then(|v| v.get_ref().as_array())
            .and_then(|a| a.get(index))
            .and_then(|v| v.get_ref().as_table());
        if !(ctx.known_accounts)(&target.account) {
            let span = field_span(element, "account").unwrap_or(0..0);
            report(
                span,
                format!("targets[{index}].account"),
                format!(
                    "unknown account `{}` in workspace `{}`",
                    target.account, spec.workspace
                ),
            );
        }
        if !(ctx.known_presets)(&target.preset) {
            let span = field_span(element, "preset").unwrap_or(0..0);
            report(
                span,
                format!("targets[{index}].preset"),
                format!("unknown preset `{}`", target.preset),
            );
        }
    }
    issues
}

/// Reports each `[media] files` entry that `check` refuses (missing, unreadable, not an
/// image: `check` answers why), positioned at the entry.
pub fn validate_media_files(
    spec: &CampaignSpec,
    source: &str,
    file: &str,
    check: &dyn Fn(&str) -> Result<(), String>,
) -> Vec<SpecIssue> {
    let files = spec
        .media
        .as_ref()
        .map(|m| m.files.clone())
        .unwrap_or_default();
    validate_media_list(source, file, "files", &files, check)
}

/// Reports each `[media] assets` id that `check` refuses (not in the workspace's library,
/// its file gone), positioned at the entry.
pub fn validate_media_assets(
    spec: &CampaignSpec,
    source: &str,
    file: &str,
    check: &dyn Fn(&str) -> Result<(), String>,
) -> Vec<SpecIssue> {
    let ids: Vec<String> = spec
        .media
        .as_ref()
        .map(|m| m.assets.iter().map(ToString::to_string).collect())
        .unwrap_or_default();
    validate_media_list(source, file, "assets", &ids, check)
}

fn validate_media_list(
    source: &str,
    file: &str,
    key: &str,
    written: &[String],
    check: &dyn Fn(&str) -> Result<(), String>,
) -> Vec<SpecIssue> {
    let doc = DeTable::parse(source).ok();
    let entries = doc
        .as_ref()
        .and_then(|d| d.get_ref().get("media"))
        .and_then(|m| m.get_ref().as_table())
        .and_then(|m| m.get(key))
        .and_then(|f| f.get_ref().as_array());
    written
        .iter()
        .enumerate()
        .filter_map(|(index, name)| {
            let reason = check(name).err()?;
            let span = entries
                .and_then(|a| a.get(index))
                .map_or(0..0, Spanned::span);
            Some(SpecIssue::at(
                file,
                source,
                span,
                format!("media.{key}[{index}]"),
                format!("`{name}`: {reason}"),
            ))
        })
        .collect()
}

fn field_span(table: Option<&DeTable<'_>>, key: &str) -> Option<Range<usize>> {
    table?.get(key).map(Spanned::span)
}

/// Span of the value at `path` of tables, or of the deepest table found on the way.
fn locate(root: Option<&DeTable<'_>>, path: &[&str]) -> Option<Range<usize>> {
    let mut table = root?;
    let mut best = None;
    for key in path {
        let value = table.get(*key)?;
        best = Some(value.span());
        match value.get_ref() {
            DeValue::Table(t) => table = t,
            _ => break,
        }
    }
    best
}
