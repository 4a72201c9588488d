//! The control API through real HTTP on a random loopback port, on SQLite and PostgreSQL.

#[macro_use]
#[path = "api/harness.rs"]
mod harness;

#[path = "api/assets.rs"]
mod assets;
#[path = "api/auth.rs"]
mod auth;
#[path = "api/calendar.rs"]
mod calendar;
#[path = "api/campaign_lifecycle.rs"]
mod campaign_lifecycle;
#[path = "api/console.rs"]
mod console;
#[path = "api/db_down.rs"]
mod db_down;
#[path = "api/hooks.rs"]
mod hooks;
#[path = "api/idempotency.rs"]
mod idempotency;
#[path = "api/insights.rs"]
mod insights;
#[path = "api/load.rs"]
mod load;
#[path = "api/matrix.rs"]
mod matrix;
#[path = "api/object_storage.rs"]
mod object_storage;
#[path = "api/one_off_posts.rs"]
mod one_off_posts;
#[path = "api/people.rs"]
mod people;
#[path = "api/pipeline_fixture.rs"]
mod pipeline_fixture;
#[path = "api/pipeline_metrics.rs"]
mod pipeline_metrics;
#[path = "api/policy_reuse.rs"]
mod policy_reuse;
#[path = "api/quick_retries.rs"]
mod quick_retries;
#[path = "api/resources.rs"]
mod resources;
#[path = "api/reviews.rs"]
mod reviews;
#[path = "api/safety_reviews.rs"]
mod safety_reviews;
#[path = "api/schema_drift.rs"]
mod schema_drift;
#[path = "api/template_limits.rs"]
mod template_limits;
#[path = "api/uploads.rs"]
mod uploads;
#[path = "api/webhooks_out.rs"]
mod webhooks_out;
