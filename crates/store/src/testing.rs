//! Throwaway PostgreSQL databases for test suites (feature `testing`), and a local S3 server
//! ([`MotoServer`]) for the object-storage ones. The store, API,
//! scheduler and end-to-end suites each give a test a database of its own and drop it after,
//! so tests run in parallel against one server without seeing each other's rows.

use std::sync::OnceLock;
use std::time::Duration;

mod moto;
pub use moto::{MotoError, MotoServer};

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr};

/// The maintenance database tests connect to first: `PRESSROOM_TEST_PG`, else the local server.
pub fn pg_admin_url() -> String {
    std::env::var("PRESSROOM_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// `base` with its database name replaced by `db` (query parameters kept).
pub fn pg_url_with_database(base: &str, db: &str) -> String {
    let (head, query) = match base.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (base, None),
    };
    let after_scheme = head.find("://").map(|i| i + 3).unwrap_or(0);
    let root = match head[after_scheme..].find('/') {
        Some(i) => &head[..after_scheme + i],
        None => head,
    };
    match query {
        Some(q) => format!("{root}/{db}?{q}"),
        None => format!("{root}/{db}"),
    }
}

/// Why a test database could not be had.
#[derive(Debug, thiserror::Error)]
pub enum TestDbError {
    #[error(
        "PostgreSQL is not reachable at {url}: {reason}. The PostgreSQL tests need a server \
         (CI has one): start PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres) or point \
         PRESSROOM_TEST_PG at one"
    )]
    Unreachable { url: String, reason: String },
    #[error("CREATE DATABASE {name}: {source}")]
    Create { name: String, source: DbErr },
    #[error("DROP DATABASE {name}: {source}")]
    Drop { name: String, source: DbErr },
}

/// A PostgreSQL database created for one test; [`TempPgDatabase::drop_database`] removes it.
pub struct TempPgDatabase {
    admin: DatabaseConnection,
    name: String,
    url: String,
}

impl TempPgDatabase {
    /// Creates `{prefix}_{label}_{pid}_{random}` (label cut to fit 63 bytes, lower case) on
    /// the server of [`pg_admin_url`]. Once the server was found unreachable, later calls in
    /// the same process fail at once with the same reason instead of each waiting for a
    /// timeout.
    pub async fn create(prefix: &str, label: &str) -> Result<Self, TestDbError> {
        static UNREACHABLE: OnceLock<(String, String)> = OnceLock::new();
        let base = pg_admin_url();
        if let Some((url, reason)) = UNREACHABLE.get() {
            return Err(TestDbError::Unreachable {
                url: url.clone(),
                reason: reason.clone(),
            });
        }
        let mut opts = ConnectOptions::new(base.clone());
        opts.sqlx_logging(false)
            .max_connections(1)
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(5));
        let admin = Database::connect(opts).await.map_err(|e| {
            let _ = UNREACHABLE.set((base.clone(), e.to_string()));
            TestDbError::Unreachable {
                url: base.clone(),
                reason: e.to_string(),
            }
        })?;
        let name = unique_name(prefix, label);
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .map_err(|source| TestDbError::Create {
                name: name.clone(),
                source,
            })?;
        let url = pg_url_with_database(&base, &name);
        Ok(Self { admin, name, url })
    }

    /// The URL of the new database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The new database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database, closing any connection still open to it.
    pub async fn drop_database(self) -> Result<(), TestDbError> {
        let dropped = self
            .admin
            .execute_unprepared(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .await;
        let _ = self.admin.close().await;
        dropped.map(|_| ()).map_err(|source| TestDbError::Drop {
            name: self.name,
            source,
        })
    }
}

/// A fresh, migrated database of either kind with a scratch directory, for the integration
/// tests of the crates above the store: a SQLite file in the directory, or a throwaway
/// PostgreSQL database (`PRESSROOM_TEST_PG`, default the local server) that
/// [`TestDb::drop_db`] drops. Panics on failure: test support only.
pub struct TestDb {
    pub store: crate::Store,
    /// The PostgreSQL database, dropped by [`TestDb::drop_db`].
    pub pg: Option<TempPgDatabase>,
    pub dir: tempfile::TempDir,
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = crate::Store::connect(&url).await.expect("sqlite");
        store.migrate().await.expect("migrate");
        Self {
            store,
            pg: None,
            dir,
        }
    }

    pub async fn postgres(prefix: &str) -> Self {
        let db = TempPgDatabase::create(prefix, "test")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let store = crate::Store::connect(db.url()).await.expect("connect");
        store.migrate().await.expect("migrate");
        Self {
            store,
            pg: Some(db),
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// The database's URL, for tests that connect a second time.
    pub fn url(&self) -> Option<&str> {
        self.pg.as_ref().map(TempPgDatabase::url)
    }

    pub async fn drop_db(self) {
        if let Some(db) = self.pg {
            drop(self.store);
            if let Err(e) = db.drop_database().await {
                eprintln!("{e}");
            }
        }
    }
}

/// The store's sea-orm and its entities, for tests that check what no repository reads back
/// (raw SQL, whole tables across workspaces). Test code only: everything else goes through
/// the repositories.
pub use sea_orm;

pub use crate::page::newest_first;

/// The store's sea-orm entities, one module per table.
pub mod schema {
    pub use crate::schema::*;
}

/// What a repository call returns when the pool could not hand out a connection in time (the
/// database is out of reach).
pub fn pool_timed_out() -> crate::StoreError {
    crate::StoreError::Db(DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout))
}

/// A database name no other test process or test uses. PostgreSQL keeps only 63 bytes of a
/// name, so the label is cut to fit and the unique part (process id, random tail) survives.
fn unique_name(prefix: &str, label: &str) -> String {
    let unique = format!("{}_{}", std::process::id(), random_hex8());
    let room = 63usize.saturating_sub(prefix.len() + unique.len() + 2);
    let label: String = label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(room)
        .collect();
    format!("{prefix}_{label}_{unique}").to_lowercase()
}

/// Eight random hex digits: the tail of a v7 UUID is random.
fn random_hex8() -> String {
    let id = pressroom_core::new_id().replace('-', "");
    id[id.len() - 8..].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_replaced_and_query_kept() {
        assert_eq!(
            pg_url_with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            pg_url_with_database("postgres://u:p@h/db?sslmode=disable", "t2"),
            "postgres://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(
            pg_url_with_database("postgresql://h:5432", "t3"),
            "postgresql://h:5432/t3"
        );
    }

    #[test]
    fn names_are_unique_short_enough_and_plain() {
        let label = "A very long test name, with punctuation!! and more words after that";
        let a = unique_name("pressroom_sched", label);
        let b = unique_name("pressroom_sched", label);
        assert_ne!(a, b);
        assert!(a.len() <= 63, "{a} is {} bytes", a.len());
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{a}"
        );
    }
}
