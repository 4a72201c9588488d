//! Integration tests for pressroom-media: one test binary, one module per concern.

mod bombs;
mod cli;
mod golden;
mod images;
mod props;
