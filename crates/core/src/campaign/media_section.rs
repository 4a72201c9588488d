//! Reading `[media]`: the images a campaign publishes instead of generating them.

use std::path::{Component, Path};

use super::reader::{Item, Reader, Sink};
use super::spec::{GenerationSpec, MediaSpec};
use crate::AssetId;

pub(crate) fn read_media(mut table: Reader<'_, '_>, sink: &mut Sink<'_>) -> Option<MediaSpec> {
    let files = match table.get("files") {
        None => Some(Vec::new()),
        Some(item) => read_list(&item, sink, check_media_path),
    };
    let assets = match table.get("assets") {
        None => Some(Vec::new()),
        Some(item) => read_list(&item, sink, check_asset_id),
    };
    let span = table.span();
    let path = table.child_path("files");
    table.finish(sink);
    let (files, assets) = (files?, assets?);
    let count = files.len() + assets.len();
    if count == 0 {
        sink.push(
            span,
            &path,
            "no images: list files next to the campaign file (`files = [\"photos/a.jpg\"]`) or asset ids from the library (`assets = [\"…\"]`)",
        );
        return None;
    }
    if count > GenerationSpec::MAX_IMAGES as usize {
        sink.push(
            span,
            &path,
            format!(
                "{count} images: a run publishes at most {} (files and assets together)",
                GenerationSpec::MAX_IMAGES
            ),
        );
        return None;
    }
    Some(MediaSpec {
        files,
        assets: assets.into_iter().map(AssetId::from).collect(),
        file_assets: Vec::new(),
    })
}

/// An array of strings, each checked by `check` (which answers why it is refused).
fn read_list(
    item: &Item<'_, '_>,
    sink: &mut Sink<'_>,
    check: fn(&str) -> Result<(), String>,
) -> Option<Vec<String>> {
    let array = item.array(sink)?;
    let mut out = Vec::with_capacity(array.len());
    let mut complete = true;
    for (index, value) in array.iter().enumerate() {
        let element = Item {
            path: format!("{}[{index}]", item.path),
            value,
        };
        match element.string(sink) {
            Some(text) => match check(text.get_ref()) {
                Ok(()) => out.push(text.into_inner()),
                Err(reason) => {
                    sink.push(element.span(), &element.path, reason);
                    complete = false;
                }
            },
            None => complete = false,
        }
    }
    complete.then_some(out)
}

/// A path relative to the campaign file's (or a CSV's) folder that stays inside it, naming
/// an image by its extension.
///
/// # Errors
/// Why the path is refused.
pub fn check_media_path(path: &str) -> Result<(), String> {
    let p = Path::new(path);
    if path.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if p.is_absolute() || p.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(format!(
            "`{path}` must be a path relative to the campaign file's folder, without `..`"
        ));
    }
    let extension = p
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("png" | "jpg" | "jpeg" | "webp") => Ok(()),
        _ => Err(format!(
            "`{path}` is not a PNG, JPEG or WebP file (.png, .jpg, .jpeg, .webp)"
        )),
    }
}

fn check_asset_id(id: &str) -> Result<(), String> {
    uuid::Uuid::parse_str(id)
        .map(|_| ())
        .map_err(|_| format!("`{id}` is not an asset id (GET /v1/assets lists them)"))
}

#[cfg(test)]
mod tests {
    use crate::campaign::parse_campaign;

    fn campaign(media: &str, rest: &str) -> String {
        format!(
            r#"name = "c"
workspace = "w"

[schedule]
webhook = true

{media}
{rest}
[caption]
template = "Our new shop"

[[targets]]
account = "ig"
preset = "instagram-square"
format = "carousel"
"#
        )
    }

    #[test]
    fn own_media_replaces_generation_files_first() {
        let id = "0193e5a0-7d2c-7a3e-9b1c-2f4d5e6a7b8c";
        let source = campaign(
            &format!("[media]\nfiles = [\"photos/a.jpg\", \"b.PNG\"]\nassets = [\"{id}\"]\n"),
            "",
        );
        let spec = parse_campaign(&source, "c.toml").expect("parses");
        let media = spec.media.as_ref().expect("media");
        assert_eq!(media.files, ["photos/a.jpg", "b.PNG"]);
        assert_eq!(spec.image_count(), 3);
        // Not in the library until the campaign is saved from its file.
        assert_eq!(media.asset_ids(), None);
        assert!(spec.generation.prompt.is_empty());
    }

    #[test]
    fn bad_media_is_refused_naming_the_entry() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "[media]\nfiles = [\"../secret.jpg\"]\n",
                "media.files[0]",
                "without `..`",
            ),
            (
                "[media]\nfiles = [\"/etc/a.png\"]\n",
                "media.files[0]",
                "relative",
            ),
            (
                "[media]\nfiles = [\"notes.txt\"]\n",
                "media.files[0]",
                "not a PNG, JPEG or WebP",
            ),
            (
                "[media]\nassets = [\"abc\"]\n",
                "media.assets[0]",
                "not an asset id",
            ),
            ("[media]\n", "media.files", "no images"),
            (
                "[media]\nfiles = [\"1.jpg\",\"2.jpg\",\"3.jpg\",\"4.jpg\",\"5.jpg\",\"6.jpg\",\"7.jpg\",\"8.jpg\",\"9.jpg\",\"10.jpg\",\"11.jpg\"]\n",
                "media.files",
                "at most 10",
            ),
            (
                "[media]\nfiles = [\"a.jpg\"]\n\n[generation]\nprompt = \"x\"\n",
                "media",
                "not both",
            ),
            (
                "[media]\nfiles = [\"a.jpg\"]\n\n[approval]\nrequired = true\n",
                "approval",
                "cannot be reviewed",
            ),
        ];
        for (media, field, message) in cases {
            let issues = parse_campaign(&campaign(media, ""), "c.toml").expect_err(media);
            assert!(
                issues
                    .iter()
                    .any(|i| i.field == *field && i.message.contains(message)),
                "{media}: {issues:#?}"
            );
        }
    }

    #[test]
    fn a_campaign_without_generation_or_media_is_refused() {
        let issues = parse_campaign(&campaign("", ""), "c.toml").expect_err("no images");
        assert!(
            issues
                .iter()
                .any(|i| i.field == "generation" && i.message.contains("[media]")),
            "{issues:#?}"
        );
    }
}
