//! The media half of `Connector::validate`, one check for every platform: how many images a
//! post takes, their format, size, pixel count, resolution and aspect ratio. Each connector
//! states its limits ([`MediaLimits`], mostly from its [`Capabilities`]); the wording of the
//! issues is the same everywhere, so a person reads one vocabulary whatever the platform.

use std::ops::RangeInclusive;

use crate::{Capabilities, MediaRef, ValidationIssue};

/// The names a platform's issues carry. The Graph connectors (Facebook, Instagram) have
/// always reported `format` / `aspect_ratio` on the field `media`; the others `media_type` /
/// `aspect` on `media[i]`. Kept apart so a stored or scripted rule id never changes under a
/// caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleNames {
    /// `media[i]` when true, else `media` for every image.
    pub indexed_field: bool,
    pub media_type: &'static str,
    pub aspect: &'static str,
}

impl RuleNames {
    /// `media[i]`, `media_type`, `aspect`.
    pub const STANDARD: Self = Self {
        indexed_field: true,
        media_type: "media_type",
        aspect: "aspect",
    };
    /// `media`, `format`, `aspect_ratio` (Facebook, Instagram).
    pub const GRAPH: Self = Self {
        indexed_field: false,
        media_type: "format",
        aspect: "aspect_ratio",
    };
}

/// One platform's media limits.
#[derive(Clone, Debug)]
pub struct MediaLimits {
    /// The platform as a person names it ("LinkedIn").
    pub platform: &'static str,
    /// What one post is called in the count message ("a LinkedIn image post").
    pub post: &'static str,
    /// How many images a post takes; `None`: any number.
    pub count: Option<RangeInclusive<usize>>,
    /// Accepted MIME types.
    pub media_types: Vec<&'static str>,
    pub max_bytes: u64,
    /// An image must have fewer pixels than this (LinkedIn's Images API).
    pub max_pixels: Option<u64>,
    /// Largest short and long side (TikTok's 1080p).
    pub max_sides: Option<(u32, u32)>,
    /// Accepted width/height ratios (inclusive); `None`: not checked (nor the image's size).
    pub aspect: Option<(f32, f32)>,
    /// Allowed slack at both ends of `aspect` (rounding of 4:5 and 1.91:1 renditions).
    pub aspect_slack: f32,
    /// How `aspect` reads in a message ("4:5 to 1.91:1"); `None`: the numbers.
    pub aspect_text: Option<&'static str>,
    pub names: RuleNames,
}

impl MediaLimits {
    /// The format, byte and aspect limits of `caps`, exactly one image per post, the
    /// standard rule names.
    pub fn new(platform: &'static str, post: &'static str, caps: &Capabilities) -> Self {
        Self {
            platform,
            post,
            count: Some(1..=1),
            media_types: caps.media_types.clone(),
            max_bytes: caps.max_media_bytes,
            max_pixels: None,
            max_sides: None,
            aspect: Some(caps.aspect_range),
            aspect_slack: 0.0,
            aspect_text: None,
            names: RuleNames::STANDARD,
        }
    }
}

/// Checks every image against `limits`: the count first, then each image's format, bytes,
/// pixels, sides, size and aspect ratio, in that order. Empty when all hold.
pub fn check(media: &[MediaRef], limits: &MediaLimits) -> Vec<ValidationIssue> {
    let mut issues = Vec::new();
    let names = limits.names;
    let mut issue = |field: String, rule: &str, message: String| {
        issues.push(ValidationIssue {
            field,
            rule: rule.into(),
            message,
        })
    };
    if let Some(count) = &limits.count
        && !count.contains(&media.len())
    {
        let takes = if count.start() == count.end() && *count.start() == 1 {
            "exactly one image".to_owned()
        } else {
            format!("{} to {} images", count.start(), count.end())
        };
        issue(
            "media".into(),
            "count",
            format!("{} takes {takes}, got {}", limits.post, media.len()),
        );
    }
    let platform = limits.platform;
    for (i, m) in media.iter().enumerate() {
        let field = || {
            if names.indexed_field {
                format!("media[{i}]")
            } else {
                "media".to_owned()
            }
        };
        if !limits.media_types.contains(&m.mime.as_str()) {
            issue(
                field(),
                names.media_type,
                format!(
                    "{platform} takes {}, not {}",
                    formats(&limits.media_types),
                    m.mime
                ),
            );
        }
        if m.bytes > limits.max_bytes {
            issue(
                field(),
                "max_bytes",
                format!(
                    "{} bytes is over {platform}'s {}",
                    m.bytes,
                    size(limits.max_bytes)
                ),
            );
        }
        if let Some(max) = limits.max_pixels
            && u64::from(m.width) * u64::from(m.height) >= max
        {
            issue(
                field(),
                "max_pixels",
                format!("{}x{} is over {platform}'s {max} pixels", m.width, m.height),
            );
        }
        if let Some((short, long)) = limits.max_sides
            && (m.width.min(m.height) > short || m.width.max(m.height) > long)
        {
            issue(
                field(),
                "max_resolution",
                format!(
                    "{}x{} is over {platform}'s {short}x{long}",
                    m.width, m.height
                ),
            );
        }
        let Some((lo, hi)) = limits.aspect else {
            continue;
        };
        if m.width == 0 || m.height == 0 {
            issue(field(), "dimensions", "image has no size".into());
            continue;
        }
        let ratio = m.width as f32 / m.height as f32;
        let slack = limits.aspect_slack;
        if ratio < lo - slack || ratio > hi + slack {
            let range = limits
                .aspect_text
                .map_or_else(|| format!("{lo}..{hi}"), str::to_owned);
            issue(
                field(),
                names.aspect,
                format!(
                    "aspect ratio {ratio:.2} ({}x{}) is outside {platform}'s {range}",
                    m.width, m.height
                ),
            );
        }
    }
    issues
}

/// "JPEG", "JPEG or PNG", "JPEG, PNG or GIF".
fn formats(types: &[&str]) -> String {
    let names: Vec<&str> = types
        .iter()
        .map(|t| match *t {
            "image/jpeg" => "JPEG",
            "image/png" => "PNG",
            "image/gif" => "GIF",
            "image/webp" => "WebP",
            other => other,
        })
        .collect();
    match names.as_slice() {
        [] => "no images".into(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// Whole MiB where the limit is one, else bytes.
fn size(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes > 0 && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(mime: &str, width: u32, height: u32, bytes: u64) -> MediaRef {
        MediaRef {
            alt_text: None,
            path: "/tmp/x".into(),
            mime: mime.into(),
            width,
            height,
            bytes,
            sha256: String::new(),
            public_url: None,
        }
    }

    fn limits() -> MediaLimits {
        MediaLimits {
            platform: "Example",
            post: "an Example post",
            count: Some(1..=1),
            media_types: vec!["image/jpeg", "image/png"],
            max_bytes: 4 * 1024 * 1024,
            max_pixels: Some(2_000_000),
            max_sides: Some((1080, 1920)),
            aspect: Some((0.5, 2.0)),
            aspect_slack: 0.0,
            aspect_text: None,
            names: RuleNames::STANDARD,
        }
    }

    fn rules(issues: &[ValidationIssue]) -> Vec<(&str, &str)> {
        issues
            .iter()
            .map(|i| (i.field.as_str(), i.rule.as_str()))
            .collect()
    }

    #[test]
    fn a_fitting_image_passes() {
        assert!(check(&[image("image/jpeg", 1080, 1080, 1000)], &limits()).is_empty());
    }

    #[test]
    fn every_limit_is_reported_in_order() {
        let bad = image("image/webp", 3000, 1000, 5 * 1024 * 1024);
        let found = check(&[bad.clone(), bad], &limits());
        assert_eq!(
            rules(&found),
            [
                ("media", "count"),
                ("media[0]", "media_type"),
                ("media[0]", "max_bytes"),
                ("media[0]", "max_pixels"),
                ("media[0]", "max_resolution"),
                ("media[0]", "aspect"),
                ("media[1]", "media_type"),
                ("media[1]", "max_bytes"),
                ("media[1]", "max_pixels"),
                ("media[1]", "max_resolution"),
                ("media[1]", "aspect"),
            ]
        );
        assert_eq!(
            found[1].message,
            "Example takes JPEG or PNG, not image/webp"
        );
        assert_eq!(found[2].message, "5242880 bytes is over Example's 4 MiB");
        assert_eq!(
            found[0].message,
            "an Example post takes exactly one image, got 2"
        );
    }

    #[test]
    fn graph_names_slack_and_sizeless_images() {
        let mut l = limits();
        l.names = RuleNames::GRAPH;
        l.aspect = Some((0.8, 1.91));
        l.aspect_slack = 0.005;
        l.max_pixels = None;
        l.max_sides = None;
        // 1.913 is inside 1.91 + 0.005; 0x0 has no size (and no ratio to check).
        assert!(check(&[image("image/jpeg", 1913, 1000, 1)], &l).is_empty());
        let found = check(&[image("image/gif", 2000, 1000, 1)], &l);
        assert_eq!(
            rules(&found),
            [("media", "format"), ("media", "aspect_ratio")]
        );
        let found = check(&[image("image/jpeg", 0, 0, 1)], &l);
        assert_eq!(rules(&found), [("media", "dimensions")]);
    }

    #[test]
    fn count_ranges_and_no_count() {
        let mut l = limits();
        l.count = Some(1..=35);
        assert_eq!(
            check(&[], &l)[0].message,
            "an Example post takes 1 to 35 images, got 0"
        );
        l.count = None;
        assert!(check(&[], &l).is_empty());
    }
}
