//! The end-to-end suite, one binary: each module drives the real `pressroom` binary (and the
//! platform fakes, the tiny model, schemathesis and the `openai` client) the way a user or an
//! operator would. libtest orders tests by name, so a module's tests mostly run beside each
//! other, as they did when each module was its own binary.

mod approvals;
mod browser;
mod cli;
mod console;
mod crash;
mod db_outage;
mod engine_process;
mod flood;
mod formats;
mod generation_backends;
mod import;
mod insights;
mod keyring_rotation;
mod keys;
mod load;
mod model_pull;
mod openai_client;
mod people;
mod platforms;
mod reconcile;
mod safety;
mod scale_out;
mod schemathesis;
mod secrets_at_rest;
mod storage;
