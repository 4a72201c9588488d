//! The first schema: workspaces, campaigns, runs, assets, renditions, accounts, posts and their
//! publish attempts, the durable job queue, and the audit log.

sql_migration!("m0001_initial");

const UP: &[&str] = &[
    "CREATE TABLE workspaces (
        id TEXT PRIMARY KEY,
        slug TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        created_at BIGINT NOT NULL
    )",
    // A campaign as stored: the spec (TOML source, parsed JSON) plus the scheduler's cursor.
    "CREATE TABLE campaigns (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES workspaces(id),
        name TEXT NOT NULL,
        source TEXT NOT NULL,
        source_file TEXT,
        spec TEXT NOT NULL,
        enabled INTEGER NOT NULL DEFAULT 1,
        schedule_checked_at BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        UNIQUE (workspace_id, name)
    )",
    // One occurrence of a campaign. UNIQUE(campaign_id, fire_key) is what makes a fire happen
    // once across instances, restarts and clock jumps.
    "CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES workspaces(id),
        campaign_id TEXT NOT NULL REFERENCES campaigns(id),
        fire_key TEXT NOT NULL,
        trigger TEXT NOT NULL,
        state TEXT NOT NULL,
        variables TEXT NOT NULL,
        prompt TEXT,
        caption TEXT,
        asset_id TEXT,
        error TEXT,
        fire_at BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        UNIQUE (campaign_id, fire_key)
    )",
    "CREATE INDEX runs_by_workspace ON runs (workspace_id, created_at)",
    // A generated image, content-addressed; `params` holds the exact generation request.
    "CREATE TABLE assets (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES workspaces(id),
        sha256 TEXT NOT NULL,
        generation_key TEXT NOT NULL,
        generator TEXT NOT NULL,
        params TEXT NOT NULL,
        path TEXT NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        created_at BIGINT NOT NULL
    )",
    "CREATE INDEX assets_by_key ON assets (workspace_id, generation_key)",
    "CREATE TABLE renditions (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES workspaces(id),
        run_id TEXT NOT NULL REFERENCES runs(id),
        asset_id TEXT NOT NULL REFERENCES assets(id),
        preset TEXT NOT NULL,
        fit TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        path TEXT NOT NULL,
        mime TEXT NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        bytes BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        UNIQUE (run_id, preset, fit)
    )",
    // Tokens are stored only sealed (AEAD); key_id names the key that sealed them.
    "CREATE TABLE accounts (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES workspaces(id),
        platform TEXT NOT NULL,
        name TEXT NOT NULL,
        external_id TEXT NOT NULL,
        state TEXT NOT NULL,
        access_token_sealed TEXT,
        refresh_token_sealed TEXT,
        key_id TEXT,
        expires_at BIGINT,
        extra TEXT NOT NULL,
        state_reason TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        UNIQUE (workspace_id, name)
    )",
    // A post target: one account + one rendition of one run.
    "CREATE TABLE posts (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES workspaces(id),
        run_id TEXT NOT NULL REFERENCES runs(id),
        account_id TEXT NOT NULL REFERENCES accounts(id),
        rendition_id TEXT NOT NULL REFERENCES renditions(id),
        platform TEXT NOT NULL,
        preset TEXT NOT NULL,
        caption TEXT NOT NULL,
        state TEXT NOT NULL,
        remote_id TEXT,
        url TEXT,
        error TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        UNIQUE (run_id, account_id, preset)
    )",
    "CREATE INDEX posts_by_workspace ON posts (workspace_id, created_at)",
    "CREATE TABLE attempts (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES workspaces(id),
        post_id TEXT NOT NULL REFERENCES posts(id),
        state TEXT NOT NULL,
        checkpoint TEXT,
        remote_id TEXT,
        url TEXT,
        error_code TEXT,
        error TEXT,
        commit_started_at BIGINT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    )",
    "CREATE INDEX attempts_by_post ON attempts (post_id)",
    // At most one committed attempt per post, enforced by the database itself.
    "CREATE UNIQUE INDEX attempts_one_committed ON attempts (post_id) WHERE state = 'committed'",
    // The durable queue. lease_token is a fencing counter bumped on every claim: a worker
    // whose lease was taken over cannot change anything with its stale token.
    "CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        unique_key TEXT UNIQUE,
        state TEXT NOT NULL,
        attempt INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL,
        run_at BIGINT NOT NULL,
        lease_owner TEXT,
        lease_token BIGINT NOT NULL DEFAULT 0,
        lease_expires_at BIGINT,
        last_error TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    )",
    "CREATE INDEX jobs_claimable ON jobs (state, kind, run_at)",
    "CREATE TABLE audit_log (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT NOT NULL,
        detail TEXT NOT NULL,
        created_at BIGINT NOT NULL
    )",
    "CREATE INDEX audit_by_workspace ON audit_log (workspace_id, created_at)",
];

const DOWN: &[&str] = &[
    "DROP TABLE audit_log",
    "DROP TABLE jobs",
    "DROP TABLE attempts",
    "DROP TABLE posts",
    "DROP TABLE accounts",
    "DROP TABLE renditions",
    "DROP TABLE assets",
    "DROP TABLE runs",
    "DROP TABLE campaigns",
    "DROP TABLE workspaces",
];
