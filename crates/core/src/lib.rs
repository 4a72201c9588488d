//! Pressroom's domain: identifiers, campaign specs, schedules, the post/attempt state machine
//! and the retry policy. Pure logic only — no files, network or database — so every rule here
//! is unit-testable and shared by the store, the scheduler, the workers and the API.

/// A state enum stored and shown by name: the enum with each variant's name, `ALL`,
/// `as_str`, `parse`, `Display`, `FromStr` (an unknown name is an [`UnknownState`]), serde by
/// name, and with feature `sea-orm` its TEXT column mapping (for the store's rows).
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident = $text:literal,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(
            feature = "sea-orm",
            derive(sea_orm::DeriveValueType),
            sea_orm(value_type = "String")
        )]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)*
        }

        impl $name {
            pub const ALL: [$name; [$($text),*].len()] = [$(Self::$variant),*];

            /// The stored and shown name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }

            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.into_iter().find(|k| k.as_str() == s)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// One of the names, in the API's OpenAPI document.
        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::Type::String)
                    .enum_values(Some(Self::ALL.map(Self::as_str)))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}

        impl std::str::FromStr for $name {
            type Err = $crate::UnknownState;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s).ok_or_else(|| $crate::UnknownState {
                    kind: stringify!($name),
                    value: s.to_owned(),
                })
            }
        }
    };
}

pub mod attempt;
pub mod campaign;
pub mod event;
pub mod format;
pub mod ids;
pub mod job;
pub mod platform;
pub mod retry;
pub mod sampler;
pub mod schedule;
pub mod state;
pub mod template;

pub use attempt::{AttemptState, IllegalTransition, PostState};
pub use event::PostEvent;
pub use format::{CommentState, PlatformFeatures, PostFormat};
pub use ids::{
    AccountId, AssetId, AttemptId, CampaignId, PostId, RenditionId, ReviewId, RunId, WorkspaceId,
    new_id,
};
pub use job::{JobKind, JobState};
pub use platform::Platform;
pub use retry::RetryPolicy;
pub use sampler::{NoiseScheduler, UnknownScheduler};
pub use state::{AccountState, ReviewState, RunState, UnknownState};
