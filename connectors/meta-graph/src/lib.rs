//! What the Facebook Pages and Instagram connectors share of Meta's Graph API (PLATFORMS.md §1,
//! §2): versioned URLs with bearer auth, the error body (`{"error": {...}}`) and its mapping onto
//! the connector taxonomy, the reading of a Graph answer, the config checks (`vNN.0` versions,
//! http(s) hosts) and, behind the `fake` feature, the request parsing, journal entry, error
//! responses and chaos dice of both fakes, the search for our own first comment, and the
//! reading of insights answers with the #100 fallback (fetch-back, §9). Both connectors had their own copy of each; one copy
//! keeps them from drifting apart.
//!
//! Each platform keeps its own code table: [`map_error`] takes the platform's classification
//! function, because Facebook and Instagram give the same codes different subcodes and meanings.

mod answer;
pub mod comments;
mod config;
mod endpoint;
mod errors;
#[cfg(feature = "fake")]
pub mod fake;
pub mod insights;

pub use answer::Answer;
pub use config::{is_http_url, is_version};
pub use endpoint::Endpoint;
pub use errors::{Class, Classify, GraphError, map_error};
