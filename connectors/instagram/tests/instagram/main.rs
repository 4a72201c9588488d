//! The Instagram connector's integration tests, one binary: the compliance kit against the
//! fake, stories, alt text and first comments, and Instagram Login token refresh.

mod compliance;
mod formats;
mod token_refresh;
