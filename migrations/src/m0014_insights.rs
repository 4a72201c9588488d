//! Insights (PLATFORMS.md §9): what each published post achieved, fetched back on a schedule.
//! Each fetch is a row (a time series per post), `measured` with the normalised metrics as
//! JSON, `not_yet` (the platform had nothing yet: not zero) or `gone` (deleted on the
//! platform; earlier rows stay). `raw` keeps the platform's own answer for later.
//! `posts.published_at` dates a post for reports (set when it is published; older rows take
//! their last update), and `accounts.insights_problem` says why an account's numbers cannot be
//! read (a missing permission), until a fetch succeeds again.

sql_migration!("m0014_insights");

const UP: &[&str] = &[
    "CREATE TABLE post_metrics (
        id TEXT PRIMARY KEY NOT NULL,
        workspace_id TEXT NOT NULL,
        post_id TEXT NOT NULL,
        platform TEXT NOT NULL,
        fetched_at BIGINT NOT NULL,
        outcome TEXT NOT NULL,
        metrics TEXT NOT NULL,
        raw TEXT,
        note TEXT,
        metrics_id TEXT
    )",
    "CREATE INDEX post_metrics_by_post ON post_metrics (post_id, fetched_at)",
    "CREATE INDEX post_metrics_by_workspace ON post_metrics (workspace_id, fetched_at)",
    "ALTER TABLE posts ADD COLUMN published_at BIGINT",
    "UPDATE posts SET published_at = updated_at WHERE state = 'published'",
    "CREATE INDEX posts_by_published_at ON posts (workspace_id, published_at)",
    "ALTER TABLE accounts ADD COLUMN insights_problem TEXT",
];

const DOWN: &[&str] = &[
    "ALTER TABLE accounts DROP COLUMN insights_problem",
    "DROP INDEX posts_by_published_at",
    "ALTER TABLE posts DROP COLUMN published_at",
    "DROP TABLE post_metrics",
];
