//! Ready jobs are claimed earliest due first. `run_at` says when a job may next run; a retry
//! or a deferral moves it forward, and ordering the queue by it sent every retried job to the
//! back of the backlog (under load most of a minute behind). `due_at` keeps when the job was
//! first due, and the claim orders the ready jobs by it: the job that has waited longest for
//! its due time goes first (earliest deadline first, which keeps the worst lateness lowest).

sql_migration!("m0008_jobs_due_at");

const UP: &[&str] = &[
    "ALTER TABLE jobs ADD COLUMN due_at BIGINT NOT NULL DEFAULT 0",
    "UPDATE jobs SET due_at = run_at",
];

const DOWN: &[&str] = &["ALTER TABLE jobs DROP COLUMN due_at"];
