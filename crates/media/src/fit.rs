//! How a source image is fitted into a preset's frame.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Fit mode for a rendition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    /// Fill the frame and crop the overflow; the crop window follows the most detailed region
    /// (see `saliency`), so a subject off-centre is kept.
    #[default]
    Cover,
    /// Fit the whole image inside the frame and pad (blurred extension or a solid colour).
    Contain,
    /// The image was generated at the preset's aspect (`Preset::generation_size`): it is only
    /// scaled, and the sliver left by rounding to multiples of 64 (under 3 %) is cut evenly
    /// from both sides. An input further off than that is treated as `Cover`.
    Native,
}

impl Fit {
    /// The lowercase name used in config and on the CLI.
    pub fn name(&self) -> &'static str {
        match self {
            Fit::Cover => "cover",
            Fit::Contain => "contain",
            Fit::Native => "native",
        }
    }
}

impl fmt::Display for Fit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error for an unknown fit name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fit {0:?} (expected cover, contain or native)")]
pub struct UnknownFit(pub String);

impl FromStr for Fit {
    type Err = UnknownFit;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "cover" => Ok(Fit::Cover),
            "contain" => Ok(Fit::Contain),
            "native" => Ok(Fit::Native),
            _ => Err(UnknownFit(s.to_owned())),
        }
    }
}

/// What fills the bars around a `Contain` rendition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Background {
    /// A heavily blurred, slightly darkened cover-fit of the same image, so the bars continue its
    /// colours instead of showing a hard frame.
    #[default]
    Blur,
    /// One solid sRGB colour.
    Solid([u8; 3]),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_serialises_lowercase() {
        assert_eq!("Cover".parse::<Fit>(), Ok(Fit::Cover));
        assert_eq!("contain".parse::<Fit>(), Ok(Fit::Contain));
        assert_eq!("native".parse::<Fit>(), Ok(Fit::Native));
        assert!("stretch".parse::<Fit>().is_err());
        assert_eq!(Fit::default(), Fit::Cover);
        #[derive(Deserialize)]
        struct W {
            fit: Fit,
        }
        let w: W = toml::from_str("fit = \"contain\"").expect("valid toml");
        assert_eq!(w.fit, Fit::Contain);
    }
}
