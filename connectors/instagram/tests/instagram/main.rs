//! The Instagram connector's integration tests, one binary: the compliance kit against the
//! fake, and Instagram Login token refresh.

mod compliance;
mod token_refresh;
