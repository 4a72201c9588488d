//! Reading `[[targets]]`: where each post goes and which rendition it uses.

use super::reader::{Item, Reader, Sink};
use super::spec::{Fit, PostFormat, TargetSpec};
use super::template_check::read_template;

/// At least one target; duplicates (same account and preset, whatever the fit or format) are
/// refused: a run keeps one post per account and preset.
pub(crate) fn read_targets(item: &Item<'_, '_>, sink: &mut Sink<'_>) -> Option<Vec<TargetSpec>> {
    let array = item.array(sink)?;
    if array.is_empty() {
        sink.push(item.span(), &item.path, "at least one target is required");
        return None;
    }
    let mut targets = Vec::new();
    let mut complete = true;
    for (index, value) in array.iter().enumerate() {
        let element = Item {
            path: format!("{}[{index}]", item.path),
            value,
        };
        match element.table(sink).and_then(|t| read_target(t, sink)) {
            Some(target) => {
                if targets
                    .iter()
                    .any(|t: &TargetSpec| t.same_destination(&target))
                {
                    sink.push(
                        element.span(),
                        &element.path,
                        format!(
                            "duplicate target (account `{}`, preset `{}`): a run makes one post per account and preset; use another preset",
                            target.account, target.preset
                        ),
                    );
                }
                targets.push(target);
            }
            None => complete = false,
        }
    }
    complete.then_some(targets)
}

fn read_target(mut table: Reader<'_, '_>, sink: &mut Sink<'_>) -> Option<TargetSpec> {
    let account = read_name(&mut table, sink, "account");
    let preset = read_name(&mut table, sink, "preset");
    let fit = match table.get("fit") {
        None => Some(None),
        Some(item) => item
            .string(sink)
            .and_then(|s| match Fit::from_name(s.get_ref()) {
                Some(fit) => Some(Some(fit)),
                None => {
                    sink.push(
                        s.span(),
                        &item.path,
                        format!(
                            "unknown fit `{}`, expected `cover`, `contain` or `native`",
                            s.get_ref()
                        ),
                    );
                    None
                }
            }),
    };
    let format = match table.get("format") {
        // A story preset (`instagram-story`, `snapchat-story`) is cut for a story: its target
        // is one unless it says otherwise.
        None => Some(
            preset
                .as_deref()
                .map_or(PostFormat::Single, PostFormat::default_for_preset),
        ),
        Some(item) => item
            .string(sink)
            .and_then(|s| match PostFormat::parse(s.get_ref()) {
                Some(format) => Some(format),
                None => {
                    sink.push(
                        s.span(),
                        &item.path,
                        format!(
                            "unknown format `{}`, expected `single`, `story` or `carousel`",
                            s.get_ref()
                        ),
                    );
                    None
                }
            }),
    };
    let caption = read_template(&mut table, sink, "caption", "caption_file", false);
    let alt_text = read_template(&mut table, sink, "alt_text", "alt_text_file", false);
    let first_comment = read_template(
        &mut table,
        sink,
        "first_comment",
        "first_comment_file",
        false,
    );
    let cover = match table.get("cover") {
        None => Some(None),
        Some(item) => item
            .integer(sink)
            .and_then(|n| match u32::try_from(*n.get_ref()) {
                Ok(index) if index < 35 => Some(Some(index)),
                _ => {
                    sink.push(
                        n.span(),
                        &item.path,
                        "must be the 0-based index of one of the carousel's images",
                    );
                    None
                }
            }),
    };
    table.finish(sink);
    Some(TargetSpec {
        account: account?,
        preset: preset?,
        fit: fit?,
        format: format?,
        caption: caption?,
        alt_text: alt_text?,
        first_comment: first_comment?,
        cover: cover?,
    })
}

/// A required non-empty string (an account or preset name).
fn read_name(table: &mut Reader<'_, '_>, sink: &mut Sink<'_>, key: &'static str) -> Option<String> {
    let value = table.require(sink, key)?.string(sink)?;
    if value.get_ref().trim().is_empty() {
        sink.push(value.span(), &table.child_path(key), "must not be empty");
        return None;
    }
    Some(value.into_inner())
}
