//! pressroom-core's integration tests, one binary: campaign files and schedules as a user
//! writes them.

mod campaign_errors;
mod campaign_files;
mod campaign_samples;
mod schedule_dst;
mod schedule_misfire;
mod schedule_once;
mod schedule_props;
