//! Post formats (PLATFORMS.md §8): how each post goes out (`single`, `story` or
//! `carousel`), its images beyond the first (a carousel's renditions, in order; the run's
//! images likewise), their alt texts (a JSON array), and its first comment with the comment's own at-most-once state — `pending` until
//! the comment job runs, `committing` written before the platform call (so a crash leaves a
//! trace that makes the next run look for the comment instead of posting it again), then
//! `done` with the platform's comment id, or `failed` with the reason.

sql_migration!("m0012_post_formats");

const UP: &[&str] = &[
    "ALTER TABLE posts ADD COLUMN format TEXT NOT NULL DEFAULT 'single'",
    "ALTER TABLE posts ADD COLUMN alt_texts TEXT",
    "ALTER TABLE posts ADD COLUMN rendition_ids TEXT",
    "ALTER TABLE runs ADD COLUMN asset_ids TEXT",
    "ALTER TABLE posts ADD COLUMN first_comment TEXT",
    "ALTER TABLE posts ADD COLUMN comment_state TEXT",
    "ALTER TABLE posts ADD COLUMN comment_id TEXT",
    "ALTER TABLE posts ADD COLUMN comment_started_at BIGINT",
    "ALTER TABLE posts ADD COLUMN comment_error TEXT",
];

const DOWN: &[&str] = &[
    "ALTER TABLE posts DROP COLUMN comment_error",
    "ALTER TABLE posts DROP COLUMN comment_started_at",
    "ALTER TABLE posts DROP COLUMN comment_id",
    "ALTER TABLE posts DROP COLUMN comment_state",
    "ALTER TABLE posts DROP COLUMN first_comment",
    "ALTER TABLE runs DROP COLUMN asset_ids",
    "ALTER TABLE posts DROP COLUMN rendition_ids",
    "ALTER TABLE posts DROP COLUMN alt_texts",
    "ALTER TABLE posts DROP COLUMN format",
];
