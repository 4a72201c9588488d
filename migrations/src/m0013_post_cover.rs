//! A carousel's cover image (TikTok's `photo_cover_index`): the 0-based index of the image
//! shown first in feeds; `NULL` for the first image or a post of one.

sql_migration!("m0013_post_cover");

const UP: &[&str] = &["ALTER TABLE posts ADD COLUMN cover_index INTEGER"];

const DOWN: &[&str] = &["ALTER TABLE posts DROP COLUMN cover_index"];
