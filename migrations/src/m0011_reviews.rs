//! The approval gate (issue 13): one review per run that needs a person's decision, and the
//! signed links that let a client without an account decide. A review's candidates are the
//! asset ids generated for it (a JSON array, replaced when the reviewer asks to regenerate);
//! its decision is kept as JSON beside who made it. Link tokens are stored as SHA-256 only.

sql_migration!("m0011_reviews");

const UP: &[&str] = &[
    "CREATE TABLE reviews (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES workspaces(id),
        run_id TEXT NOT NULL UNIQUE REFERENCES runs(id),
        campaign_id TEXT NOT NULL REFERENCES campaigns(id),
        state TEXT NOT NULL,
        round INTEGER NOT NULL,
        candidates TEXT NOT NULL,
        deadline_at BIGINT NOT NULL,
        decision TEXT,
        decided_by TEXT,
        decided_at BIGINT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    )",
    "CREATE INDEX reviews_by_state ON reviews (workspace_id, state, id)",
    "CREATE TABLE review_links (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES workspaces(id),
        review_id TEXT NOT NULL REFERENCES reviews(id),
        token_hash TEXT NOT NULL UNIQUE,
        created_by TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        revoked_at BIGINT
    )",
    "CREATE INDEX review_links_by_review ON review_links (review_id)",
];

const DOWN: &[&str] = &["DROP TABLE review_links", "DROP TABLE reviews"];
