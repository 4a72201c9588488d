/// What a store call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    /// A worker's lease token no longer matches: another worker owns the job now, so this
    /// worker must stop touching it.
    #[error("lease on job {job_id} was lost")]
    LeaseLost { job_id: String },
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    #[error(
        "another pressroom instance already uses {0}; SQLite mode is single-instance — use PostgreSQL to run several"
    )]
    AlreadyRunning(String),
}

impl StoreError {
    pub(crate) fn not_found(what: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            what,
            id: id.into(),
        }
    }
}
