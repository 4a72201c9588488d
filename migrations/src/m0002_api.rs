//! The control API's tables: API keys (only a hash stored), Idempotency-Key records, inbound
//! CMS webhooks and the delivery ids already accepted (replay dedupe).

sql_migration!("m0002_api");

const UP: &[&str] = &[
    // workspace_id is NULL only for instance-admin keys (agencies managing many workspaces).
    // `prefix` is the displayable start of the key, indexed so a presented key is found without
    // a scan; `hash` (SHA-256 of the whole key) is what authenticates it.
    "CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        workspace_id TEXT REFERENCES workspaces(id),
        role TEXT NOT NULL,
        prefix TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        last_used_at BIGINT,
        revoked_at BIGINT
    )",
    "CREATE INDEX api_keys_by_prefix ON api_keys (prefix)",
    "CREATE INDEX api_keys_by_workspace ON api_keys (workspace_id, id)",
    // One row per (workspace, Idempotency-Key): `in_flight` while the first request runs, then
    // `done` with the saved status and body that every retry with the same body gets back.
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
    // An inbound webhook endpoint that fires one campaign. `secrets` is a JSON array of
    // Standard Webhooks secrets (several during rotation); `mapping` maps payload fields to run
    // variables for the generic adapter.
    "CREATE TABLE hooks (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES workspaces(id),
        campaign_id TEXT NOT NULL REFERENCES campaigns(id),
        secrets TEXT NOT NULL,
        adapter TEXT NOT NULL,
        mapping TEXT NOT NULL,
        created_at BIGINT NOT NULL
    )",
    "CREATE INDEX hooks_by_workspace ON hooks (workspace_id, id)",
    // Accepted delivery ids: the insert with ON CONFLICT DO NOTHING decides a delivery counts once.
    "CREATE TABLE hook_deliveries (
        hook_id TEXT NOT NULL REFERENCES hooks(id),
        delivery_id TEXT NOT NULL,
        received_at BIGINT NOT NULL,
        PRIMARY KEY (hook_id, delivery_id)
    )",
];

const DOWN: &[&str] = &[
    "DROP TABLE hook_deliveries",
    "DROP TABLE hooks",
    "DROP TABLE idempotency_keys",
    "DROP TABLE api_keys",
];
