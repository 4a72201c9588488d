//! Failure injection and the request journal: the compliance kit's shared implementation,
//! keyed by this fake's route templates.

pub use pressroom_connector::testkit::faults::*;
