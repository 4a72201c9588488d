//! How a post goes out on its platform (a feed post or a story), and what each platform can
//! do beyond one image with a caption (PLATFORMS.md §8.0). One table, read by campaign
//! validation (before anything runs) and by the connectors' own checks (before publishing).

use crate::Platform;

text_enum! {
    /// The shape of one target's post.
    #[derive(Default)]
    pub enum PostFormat {
        /// A feed post with the first image and the caption.
        #[default]
        Single = "single",
        /// A story: one image, no caption (Instagram Stories, Facebook Page photo stories,
        /// Snapchat's Story).
        Story = "story",
        /// Several images in one post with one caption (an Instagram carousel, a Facebook
        /// multi-photo post, a LinkedIn MultiImage post, a TikTok photo post).
        Carousel = "carousel",
    }
}

text_enum! {
    /// A first comment's own at-most-once state (DESIGN.md, "Publishing at most once").
    pub enum CommentState {
        /// The post is published (or about to be); the comment job will post it.
        Pending = "pending",
        /// Written before the platform call: after a crash the comment is looked for on the
        /// platform before it is ever posted again.
        Committing = "committing",
        /// On the platform, with its id.
        Done = "done",
        /// The platform refused it (the post itself stays published).
        Failed = "failed",
    }
}

impl PostFormat {
    /// The format of a target that names none: a story on a story preset
    /// (`instagram-story`, `snapchat-story`: cut for a story), else a feed post.
    pub fn default_for_preset(preset: &str) -> Self {
        if preset.ends_with("-story") {
            Self::Story
        } else {
            Self::Single
        }
    }
}

/// What a platform's API can do with a post besides publishing one image with a caption.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlatformFeatures {
    /// Publishes an image story.
    pub story: bool,
    /// Takes a comment on a published post through the API (the first comment).
    pub comments: bool,
    /// Takes alt text on an image, up to this many characters (Unicode scalar values, as
    /// the platforms' documents and the fakes count them).
    pub max_alt_text_chars: Option<usize>,
    /// How many images one multi-image post takes; `None`: no such post.
    pub carousel: Option<(usize, usize)>,
    /// A multi-image post names which image is its cover (TikTok's `photo_cover_index`).
    pub cover: bool,
}

impl Platform {
    /// The documented features (PLATFORMS.md §8). The sandbox and webhook receivers take
    /// everything, so campaigns can be tried against them.
    pub fn features(self) -> PlatformFeatures {
        // Carousels: Instagram's API takes 2-10 children (the app 20), Facebook's cap is
        // undocumented (OSS clients use 10), LinkedIn MultiImage 2-20, TikTok photo posts 1-35.
        let (story, comments, max_alt_text_chars, carousel) = match self {
            Platform::Instagram => (true, true, Some(1000), Some((2, 10))),
            Platform::Facebook => (true, true, Some(1000), Some((2, 10))),
            Platform::LinkedIn => (false, true, Some(4086), Some((2, 20))),
            Platform::TikTok => (false, false, None, Some((1, 35))),
            Platform::Snapchat => (true, false, None, None),
            // The receivers take any format and alt text; neither has comments.
            Platform::Webhook | Platform::Sandbox => (true, false, Some(4086), Some((1, 35))),
        };
        PlatformFeatures {
            story,
            comments,
            max_alt_text_chars,
            carousel,
            // The receivers (sandbox, webhook) carry no cover: refused there, not dropped.
            cover: matches!(self, Platform::TikTok),
        }
    }

    /// Whether this platform publishes posts of `format`.
    pub fn supports(self, format: PostFormat) -> bool {
        match format {
            PostFormat::Single => true,
            PostFormat::Story => self.features().story,
            PostFormat::Carousel => self.features().carousel.is_some(),
        }
    }
}

/// Which platforms do something, in words for an error message ("Instagram, Facebook").
pub fn platforms_with(has: impl Fn(PlatformFeatures) -> bool) -> String {
    Platform::ALL
        .into_iter()
        .filter(|p| !matches!(p, Platform::Webhook | Platform::Sandbox) && has(p.features()))
        .map(Platform::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stories_and_comments_follow_the_platforms_apis() {
        assert!(Platform::Instagram.supports(PostFormat::Story));
        assert!(Platform::Facebook.supports(PostFormat::Story));
        assert!(!Platform::LinkedIn.supports(PostFormat::Story));
        assert!(!Platform::TikTok.supports(PostFormat::Story));
        assert!(!Platform::TikTok.features().comments);
        assert!(!Platform::Snapchat.features().comments);
        assert_eq!(Platform::LinkedIn.features().max_alt_text_chars, Some(4086));
        assert_eq!(platforms_with(|f| f.story), "facebook, instagram, snapchat");
    }
}
