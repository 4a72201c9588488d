//! pressroom-models' integration tests, one binary: pulling from a fake Hugging Face hub, and
//! importing single-file checkpoints checked against diffusers.

mod import;
mod import_support;
mod pull;
mod pull_support;
