//! What the image safety checker flagged in a review's round: a JSON array of
//! `{candidate, seed, reason}`, `NULL` when nothing was. The flagged images themselves are never
//! kept; the reviewer sees why they are missing and may ask for new ones.

sql_migration!("m0015_review_flags");

const UP: &[&str] = &["ALTER TABLE reviews ADD COLUMN flagged TEXT"];

const DOWN: &[&str] = &["ALTER TABLE reviews DROP COLUMN flagged"];
