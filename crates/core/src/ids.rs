//! Identifiers. Every row id is a UUIDv7 in text form: sortable by creation time, the same
//! representation on SQLite and PostgreSQL, and safe to show in URLs.
//!
//! Each kind of row has its own id type, so a post id cannot be passed where an account id
//! is expected. They serialize as the bare string (the API and the stored JSON are
//! unchanged), read as `&str` where text is wanted (`Deref`), map to a TEXT column
//! (feature `sea-orm`, for the store) and name a string schema (feature `openapi`, for the
//! API's document).

/// A new time-ordered unique id.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

macro_rules! typed_ids {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(
            Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize,
            serde::Deserialize,
        )]
        #[serde(transparent)]
        #[cfg_attr(feature = "sea-orm", derive(sea_orm::DeriveValueType))]
        pub struct $name(String);

        impl $name {
            /// A fresh id (UUIDv7).
            pub fn new() -> Self {
                Self(new_id())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<&$name> for $name {
            fn from(id: &$name) -> Self {
                id.clone()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl From<&$name> for String {
            fn from(id: &$name) -> String {
                id.0.clone()
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        /// So a repository can bind `&id` in a query without cloning at every call.
        #[cfg(feature = "sea-orm")]
        impl From<&$name> for sea_orm::Value {
            fn from(id: &$name) -> Self {
                id.0.clone().into()
            }
        }

        #[cfg(feature = "sea-orm")]
        impl sea_orm::TryFromU64 for $name {
            fn try_from_u64(_: u64) -> Result<Self, sea_orm::DbErr> {
                Err(sea_orm::DbErr::ConvertFromU64(stringify!($name)))
            }
        }

        /// A string in the API's OpenAPI document, named after the type.
        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::Type::String)
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}
    )*};
}

typed_ids! {
    /// A workspace (a client of an agency, a brand): every tenant row carries one.
    WorkspaceId;
    CampaignId;
    /// One firing of a campaign.
    RunId;
    /// One account and one rendition of one run.
    PostId;
    /// A connected platform account (a Page, a profile).
    AccountId;
    /// One try at publishing a post.
    AttemptId;
    /// A generated or uploaded image.
    AssetId;
    /// An asset cut for one preset.
    RenditionId;
    /// The approval of one run.
    ReviewId;
}

impl WorkspaceId {
    /// The scope of instance-wide records (an instance key's audit entries and idempotency
    /// keys), which belong to no workspace.
    pub fn instance() -> Self {
        Self("instance".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_time_ordered() {
        let a = new_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_id();
        assert_ne!(a, b);
        assert!(a < b, "{a} should sort before {b}");
        assert_eq!(a.len(), 36);
    }

    #[test]
    fn typed_ids_are_the_bare_string_in_json() {
        let id = PostId::from("01a2-post");
        assert_eq!(serde_json::to_string(&id).expect("json"), "\"01a2-post\"");
        let back: PostId = serde_json::from_str("\"01a2-post\"").expect("parse");
        assert_eq!(back, id);
        assert_eq!(back, "01a2-post");
        assert_eq!(PostId::new().len(), 36);
    }
}
