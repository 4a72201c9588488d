//! Container `status_code` values (EXPIRED | ERROR | FINISHED | IN_PROGRESS | PUBLISHED).

use serde::Deserialize;

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ContainerStatus {
    /// Not published within 24 h; dead.
    Expired,
    /// Processing failed; `status` carries the subcode text.
    Error,
    /// Ready for `media_publish`.
    Finished,
    InProgress,
    /// `media_publish` took effect: the post exists.
    Published,
    /// A value Meta added later; treated as "not ready".
    #[serde(other)]
    Unknown,
}
