//! People who sign in (issue 13): users with argon2id password hashes, their memberships (a
//! role per workspace), their server-side sessions and the invitations that let a new user set
//! their password. Session and invitation tokens are stored as SHA-256 only, like API keys;
//! emails are stored lowercased so one address is one user.

sql_migration!("m0010_people");

const UP: &[&str] = &[
    "CREATE TABLE users (
        id TEXT PRIMARY KEY,
        email TEXT NOT NULL UNIQUE,
        display_name TEXT NOT NULL,
        password_hash TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    )",
    "CREATE TABLE memberships (
        user_id TEXT NOT NULL REFERENCES users(id),
        workspace_id TEXT NOT NULL REFERENCES workspaces(id),
        role TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (user_id, workspace_id)
    )",
    "CREATE INDEX memberships_by_workspace ON memberships (workspace_id, user_id)",
    "CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id),
        token_hash TEXT NOT NULL UNIQUE,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        revoked_at BIGINT
    )",
    "CREATE INDEX sessions_by_user ON sessions (user_id)",
    "CREATE TABLE invitations (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id),
        token_hash TEXT NOT NULL UNIQUE,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        used_at BIGINT
    )",
];

const DOWN: &[&str] = &[
    "DROP TABLE invitations",
    "DROP TABLE sessions",
    "DROP TABLE memberships",
    "DROP TABLE users",
];
