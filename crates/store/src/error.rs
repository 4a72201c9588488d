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
    /// A row's secret could not be sealed or opened (no keyring, or a key it lacks).
    #[error("secret: {0}")]
    Sealing(String),
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

impl StoreError {
    /// True when the database could not be reached or could not take the call right now
    /// (connection refused or dropped, pool exhausted, SQLite busy/locked/read-only/full,
    /// PostgreSQL shutting down or out of connections): the request itself was fine and is
    /// worth repeating later, so the API answers 503 and workers wait without spending an
    /// attempt.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Db(e) => db_unavailable(e),
            StoreError::Io(_) => true,
            _ => false,
        }
    }
}

fn db_unavailable(e: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr};
    match e {
        DbErr::ConnectionAcquire(_) => true,
        // Any failure to open a connection (sea-orm reports only those as `Conn`): whatever
        // the server answered — "database is not currently accepting connections" (55000)
        // while an operator or a failover holds it, "the database system is starting up" —
        // the request itself was fine.
        DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            sqlx_unavailable(e)
        }
        _ => false,
    }
}

fn sqlx_unavailable(e: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error;
    match e {
        Error::Io(_)
        | Error::Tls(_)
        | Error::PoolTimedOut
        | Error::PoolClosed
        | Error::WorkerCrashed
        | Error::BeginFailed => true,
        // A server that drops the connection mid-message reads as a protocol error.
        Error::Protocol(_) => true,
        Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            if db
                .try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()
                .is_some()
            {
                code.parse().is_ok_and(sqlite_code_unavailable)
            } else {
                sqlstate_unavailable(&code)
            }
        }
        _ => false,
    }
}

/// SQLite result codes that mean "not now" rather than "not this": BUSY, LOCKED, READONLY,
/// IOERR, FULL, CANTOPEN (an extended code carries its primary code in the low byte).
fn sqlite_code_unavailable(code: i32) -> bool {
    matches!(code & 0xff, 5 | 6 | 8 | 10 | 13 | 14)
}

/// PostgreSQL SQLSTATEs that mean "not now" rather than "not this".
fn sqlstate_unavailable(code: &str) -> bool {
    // Class 08: connection exception; 53: insufficient resources (too many connections,
    // disk full); 57P01-03: admin/crash shutdown, cannot connect now.
    code.starts_with("08") || code.starts_with("53") || matches!(code, "57P01" | "57P02" | "57P03")
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr};
    use std::sync::Arc;

    fn sqlx(e: sea_orm::sqlx::Error) -> StoreError {
        StoreError::Db(DbErr::Exec(RuntimeErr::SqlxError(Arc::new(e))))
    }

    /// A server error with only a SQLSTATE, as any driver could report it.
    #[derive(Debug)]
    struct ServerSaid(&'static str);

    impl std::fmt::Display for ServerSaid {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "server error {}", self.0)
        }
    }

    impl std::error::Error for ServerSaid {}

    impl sea_orm::sqlx::error::DatabaseError for ServerSaid {
        fn message(&self) -> &str {
            "server error"
        }

        fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
            Some(self.0.into())
        }

        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }

        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }

        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }

        fn kind(&self) -> sea_orm::sqlx::error::ErrorKind {
            sea_orm::sqlx::error::ErrorKind::Other
        }
    }

    #[test]
    fn infrastructure_failures_classify_as_unavailable() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(sqlx(sea_orm::sqlx::Error::Io(refused)).is_unavailable());
        assert!(sqlx(sea_orm::sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(StoreError::Db(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout)).is_unavailable());
        // Refused while connecting (ALTER DATABASE … ALLOW_CONNECTIONS false): SQLSTATE 55000,
        // which in a query would be the request's fault, is the database's while connecting.
        let refused = || sea_orm::sqlx::Error::Database(Box::new(ServerSaid("55000")));
        let connecting = DbErr::Conn(RuntimeErr::SqlxError(Arc::new(refused())));
        assert!(StoreError::Db(connecting).is_unavailable());
        assert!(!sqlx(refused()).is_unavailable());
        for code in [5, 517, 6, 8, 1032, 14] {
            assert!(sqlite_code_unavailable(code), "{code}");
        }
        for code in ["57P01", "57P03", "08006", "53300"] {
            assert!(sqlstate_unavailable(code), "{code}");
        }
    }

    #[test]
    fn request_and_data_errors_are_not_unavailable() {
        for code in [19, 2067, 1] {
            assert!(!sqlite_code_unavailable(code), "{code}");
        }
        for code in ["23505", "42601", "40001"] {
            assert!(!sqlstate_unavailable(code), "{code}");
        }
        assert!(!sqlx(sea_orm::sqlx::Error::RowNotFound).is_unavailable());
        assert!(!StoreError::Conflict("x".into()).is_unavailable());
        assert!(!StoreError::not_found("post", "p1").is_unavailable());
        assert!(!StoreError::Db(DbErr::RecordNotFound("x".into())).is_unavailable());
    }
}
