//! Idempotency records belong to the API key that made the request, not to its workspace:
//! scoped by workspace, another key of the workspace (an Admin) could replay an Owner's
//! `Idempotency-Key` and receive the Owner's saved response, a freshly minted key included.
//! The primary key becomes (api_key_id, key); `workspace_id` stays for the GDPR erase, and
//! `created_at` is indexed for the purge of records past their retention. `response_body` is
//! NULL when the response carried a secret (never stored). The old records are dropped: they
//! are replay caches that expire within a day anyway, and they cannot be attributed to a key.

sql_migration!("m0007_idempotency_by_key");

const UP: &[&str] = &[
    "DROP TABLE idempotency_keys",
    "CREATE TABLE idempotency_keys (
        api_key_id TEXT NOT NULL,
        key TEXT NOT NULL,
        workspace_id TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        status TEXT NOT NULL,
        response_status INTEGER,
        response_body TEXT,
        locked_at BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (api_key_id, key)
    )",
    "CREATE INDEX idempotency_keys_by_created ON idempotency_keys (created_at)",
    "CREATE INDEX idempotency_keys_by_workspace ON idempotency_keys (workspace_id)",
];

const DOWN: &[&str] = &[
    "DROP TABLE idempotency_keys",
    "CREATE TABLE idempotency_keys (
        workspace_id TEXT NOT NULL,
        key TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        status TEXT NOT NULL,
        response_status INTEGER,
        response_body TEXT,
        locked_at BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (workspace_id, key)
    )",
];
