//! The Facebook connector's integration tests, one binary: the compliance kit against the
//! fake, ambiguous creates reconciled, stories, alt text and first comments, and proof that
//! the kit catches a broken connector, and post insights (fetch-back).

mod ambiguous_create;
mod compliance;
mod formats;
mod insights;
mod kit_has_teeth;
