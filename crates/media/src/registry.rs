//! The preset table: bundled defaults (`presets.toml`) plus overrides from config.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::error::MediaError;
use crate::format::OutputFormat;
use crate::preset::Preset;

/// The bundled table, compiled in so the binary needs no data files.
const BUNDLED: &str = include_str!("presets.toml");

/// A set of presets with unique names, in a stable order.
#[derive(Debug, Clone, PartialEq)]
pub struct Presets {
    items: Vec<Preset>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    #[serde(default)]
    preset: Vec<Preset>,
}

/// A partial preset from config: unset fields keep the bundled value. A patch whose name is not
/// bundled must set every required field (it becomes a new preset).
///
/// In the daemon's config this is a `[media.presets.NAME]` table, whose key is the name (so
/// `name` may be left out there; see [`Presets::with_named_overrides`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresetPatch {
    #[serde(default)]
    pub name: String,
    pub platform: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub aspect_range: Option<(f32, f32)>,
    pub formats: Option<Vec<OutputFormat>>,
    pub max_bytes: Option<u64>,
    pub max_quality: Option<u8>,
    pub min_quality: Option<u8>,
    pub source: Option<String>,
}

impl Presets {
    /// The bundled presets. Parsed once; the bundled table is checked by a unit test, so failure
    /// here cannot happen in a released binary (it falls back to an empty table, never panics).
    pub fn builtin() -> &'static Presets {
        static BUILTIN: OnceLock<Presets> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            Presets::from_toml(BUNDLED).unwrap_or_else(|e| {
                tracing::error!(error = %e, "Bundled preset table is invalid.");
                Presets { items: Vec::new() }
            })
        })
    }

    /// Parses a table of `[[preset]]` entries and validates every preset.
    ///
    /// # Errors
    /// [`MediaError::PresetTable`] on TOML errors, [`MediaError::InvalidPreset`] on bad values
    /// or duplicate names.
    pub fn from_toml(src: &str) -> Result<Presets, MediaError> {
        let table: Table =
            toml::from_str(src).map_err(|e| MediaError::PresetTable(e.to_string()))?;
        Presets::from_vec(table.preset)
    }

    /// Builds a table from presets, validating each and rejecting duplicate names.
    ///
    /// # Errors
    /// [`MediaError::InvalidPreset`].
    pub fn from_vec(items: Vec<Preset>) -> Result<Presets, MediaError> {
        for (i, p) in items.iter().enumerate() {
            p.validate()?;
            if items[..i].iter().any(|q| q.name == p.name) {
                return Err(MediaError::InvalidPreset {
                    name: p.name.clone(),
                    reason: "duplicate name".into(),
                });
            }
        }
        Ok(Presets { items })
    }

    /// A copy of this table with config patches applied: a patch with a known name changes only
    /// the fields it sets; an unknown name adds a preset (all required fields must be set).
    ///
    /// # Errors
    /// [`MediaError::InvalidPreset`] when a patched or new preset is incomplete or inconsistent.
    pub fn with_overrides(&self, patches: &[PresetPatch]) -> Result<Presets, MediaError> {
        let mut items = self.items.clone();
        for patch in patches {
            match items.iter_mut().find(|p| p.name == patch.name) {
                Some(existing) => patch.apply(existing),
                None => items.push(patch.to_new_preset()?),
            }
        }
        Presets::from_vec(items)
    }

    /// [`Presets::with_overrides`] for config tables keyed by preset name
    /// (`[media.presets.instagram-square]`): the key is the name; a `name` inside the table, if
    /// given, must match it. Applied in key order.
    ///
    /// # Errors
    /// [`MediaError::InvalidPreset`] naming the preset (the table key) and the broken rule.
    pub fn with_named_overrides<'a>(
        &self,
        tables: impl IntoIterator<Item = (&'a String, &'a PresetPatch)>,
    ) -> Result<Presets, MediaError> {
        let mut patches = Vec::new();
        for (key, patch) in tables {
            if key.trim().is_empty() {
                return Err(MediaError::InvalidPreset {
                    name: key.clone(),
                    reason: "empty preset name".into(),
                });
            }
            if !patch.name.is_empty() && patch.name != *key {
                return Err(MediaError::InvalidPreset {
                    name: key.clone(),
                    reason: format!(
                        "`name = {:?}` does not match the table's key; leave it out",
                        patch.name
                    ),
                });
            }
            patches.push(PresetPatch {
                name: key.clone(),
                ..patch.clone()
            });
        }
        self.with_overrides(&patches)
    }

    /// All presets, bundled order first, then added ones.
    pub fn all(&self) -> &[Preset] {
        &self.items
    }

    /// The preset with this name.
    pub fn get(&self, name: &str) -> Option<&Preset> {
        self.items.iter().find(|p| p.name == name)
    }

    /// Presets for one platform.
    pub fn for_platform<'a>(&'a self, platform: &'a str) -> impl Iterator<Item = &'a Preset> + 'a {
        self.items.iter().filter(move |p| p.platform == platform)
    }
}

impl PresetPatch {
    fn apply(&self, p: &mut Preset) {
        if let Some(v) = &self.platform {
            p.platform = v.clone();
        }
        if let Some(v) = self.width {
            p.width = v;
        }
        if let Some(v) = self.height {
            p.height = v;
        }
        if let Some(v) = self.aspect_range {
            p.aspect_range = v;
        }
        if let Some(v) = &self.formats {
            p.formats = v.clone();
        }
        if let Some(v) = self.max_bytes {
            p.max_bytes = v;
        }
        if let Some(v) = self.max_quality {
            p.max_quality = v;
        }
        if let Some(v) = self.min_quality {
            p.min_quality = v;
        }
        if let Some(v) = &self.source {
            p.source = v.clone();
        }
    }

    fn to_new_preset(&self) -> Result<Preset, MediaError> {
        let missing = |field: &str| MediaError::InvalidPreset {
            name: self.name.clone(),
            reason: format!("new preset needs `{field}`"),
        };
        let width = self.width.ok_or_else(|| missing("width"))?;
        let height = self.height.ok_or_else(|| missing("height"))?;
        let aspect = width as f32 / height.max(1) as f32;
        Ok(Preset {
            name: self.name.clone(),
            platform: self.platform.clone().ok_or_else(|| missing("platform"))?,
            width,
            height,
            aspect_range: self.aspect_range.unwrap_or((aspect, aspect)),
            formats: self.formats.clone().ok_or_else(|| missing("formats"))?,
            max_bytes: self.max_bytes.ok_or_else(|| missing("max_bytes"))?,
            color_space: Default::default(),
            max_quality: self.max_quality.unwrap_or(90),
            min_quality: self.min_quality.unwrap_or(30),
            source: self.source.clone().unwrap_or_else(|| "config".into()),
        })
    }
}

/// The bundled presets.
pub fn presets() -> &'static [Preset] {
    Presets::builtin().all()
}

/// The bundled preset with this name.
pub fn preset(name: &str) -> Option<&'static Preset> {
    Presets::builtin().get(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_table_is_valid_and_complete() {
        let table = Presets::from_toml(BUNDLED).expect("bundled presets parse and validate");
        for (name, w, h) in [
            ("instagram-square", 1080, 1080),
            ("instagram-portrait", 1080, 1350),
            ("instagram-landscape", 1080, 566),
            ("instagram-story", 1080, 1920),
            ("linkedin-landscape", 1200, 627),
            ("tiktok-photo", 1080, 1920),
            ("snapchat-story", 1080, 1920),
        ] {
            let p = table.get(name).expect(name);
            assert_eq!((p.width, p.height), (w, h), "{name}");
        }
        for name in [
            "facebook-feed",
            "facebook-square",
            "linkedin-square",
            "sandbox",
        ] {
            assert!(table.get(name).is_some(), "{name}");
        }
        assert_eq!(presets().len(), table.all().len());
    }

    #[test]
    fn platform_rules_from_platforms_md() {
        // Instagram: JPEG only, 8 MB (PLATFORMS.md 2.4); TikTok: no PNG (4.4).
        for p in Presets::builtin().for_platform("instagram") {
            assert_eq!(p.formats, vec![OutputFormat::Jpeg]);
            assert!(p.max_bytes <= 8_000_000);
        }
        let tiktok = preset("tiktok-photo").expect("bundled");
        assert!(!tiktok.allows(OutputFormat::Png));
        assert!(tiktok.allows(OutputFormat::Webp));
        assert!(preset("facebook-feed").expect("bundled").max_bytes <= 4_000_000);
    }

    #[test]
    fn overrides_patch_and_extend() {
        let patched = Presets::builtin()
            .with_overrides(&[
                PresetPatch {
                    name: "instagram-square".into(),
                    max_bytes: Some(1_000_000),
                    ..Default::default()
                },
                PresetPatch {
                    name: "snapchat-ad".into(),
                    platform: Some("snapchat".into()),
                    width: Some(1080),
                    height: Some(1920),
                    formats: Some(vec![OutputFormat::Jpeg]),
                    max_bytes: Some(5_000_000),
                    ..Default::default()
                },
            ])
            .expect("valid overrides");
        assert_eq!(
            patched.get("instagram-square").map(|p| p.max_bytes),
            Some(1_000_000)
        );
        assert_eq!(patched.get("instagram-square").map(|p| p.width), Some(1080));
        assert!(patched.get("snapchat-ad").is_some());

        let incomplete = Presets::builtin().with_overrides(&[PresetPatch {
            name: "new-one".into(),
            width: Some(100),
            ..Default::default()
        }]);
        assert!(matches!(incomplete, Err(MediaError::InvalidPreset { .. })));

        let inconsistent = Presets::builtin().with_overrides(&[PresetPatch {
            name: "instagram-square".into(),
            width: Some(3000),
            ..Default::default()
        }]);
        assert!(
            inconsistent.is_err(),
            "3000x1080 is outside Instagram's 1.91 aspect limit"
        );
    }

    #[test]
    fn named_overrides_take_the_name_from_the_key() {
        let mut tables = std::collections::BTreeMap::new();
        tables.insert(
            "linkedin-square".to_string(),
            PresetPatch {
                width: Some(1000),
                height: Some(1000),
                ..Default::default()
            },
        );
        let patched = Presets::builtin()
            .with_named_overrides(&tables)
            .expect("valid");
        assert_eq!(
            patched.get("linkedin-square").map(|p| (p.width, p.height)),
            Some((1000, 1000))
        );
        tables.insert(
            "linkedin-square".to_string(),
            PresetPatch {
                name: "other".into(),
                ..Default::default()
            },
        );
        let err = Presets::builtin()
            .with_named_overrides(&tables)
            .expect_err("mismatch");
        assert!(err.to_string().contains("linkedin-square"), "{err}");
    }

    #[test]
    fn duplicates_and_unknown_fields_are_rejected() {
        let dup = format!(
            "{BUNDLED}\n[[preset]]\nname = \"sandbox\"\nplatform = \"sandbox\"\nwidth = 10\nheight = 10\naspect_range = [1.0, 1.0]\nformats = [\"png\"]\nmax_bytes = 100000\n"
        );
        assert!(Presets::from_toml(&dup).is_err());
        assert!(Presets::from_toml("[[preset]]\nname = \"x\"\nbogus = 1\n").is_err());
    }
}
