//! Outbound webhooks: per-workspace endpoints that hear about post events. Deliveries are
//! `notify` jobs in the durable queue (retries, dead letters), so no delivery table is needed.

sql_migration!("m0003_webhooks_out");

const UP: &[&str] = &[
    // `secret` is a Standard Webhooks `whsec_…` secret, stored like the inbound hooks' secrets
    // (HMAC signing needs the key itself). `events` is a JSON array of event types
    // ("post.published", …). `enabled` is 0 once the receiver answered 410 Gone (or an admin
    // disabled it); `disabled_reason` says why.
    "CREATE TABLE webhook_endpoints (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES workspaces(id),
        url TEXT NOT NULL,
        secret TEXT NOT NULL,
        events TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        enabled INTEGER NOT NULL DEFAULT 1,
        disabled_reason TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    )",
    "CREATE INDEX webhook_endpoints_by_workspace ON webhook_endpoints (workspace_id, id)",
];

const DOWN: &[&str] = &["DROP TABLE webhook_endpoints"];
