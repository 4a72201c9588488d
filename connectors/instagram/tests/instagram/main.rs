//! The Instagram connector's integration tests, one binary: the compliance kit against the
//! fake, stories, alt text and first comments, Instagram Login token refresh, and media
//! insights (fetch-back).

mod compliance;
mod formats;
mod insights;
mod token_refresh;
