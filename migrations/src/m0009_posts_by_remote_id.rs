//! A reconcile that finds a post by its caption must not take one that another post of the
//! same account already holds; the runtime asks for those remote ids on every reconcile and
//! checks again before it records one. Both look posts up by account and remote id.

sql_migration!("m0009_posts_by_remote_id");

const UP: &[&str] = &["CREATE INDEX posts_by_remote_id ON posts (account_id, remote_id)"];

const DOWN: &[&str] = &["DROP INDEX posts_by_remote_id"];
