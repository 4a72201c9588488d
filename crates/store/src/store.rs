//! Connecting, migrating, transactions, and the database clock.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pressroom_migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, ExecResult, QueryResult, SqliteTransactionMode, Statement, TransactionOptions,
    TransactionTrait,
};

use crate::{Result, StoreError};

/// Which database engine is behind the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A write transaction (IMMEDIATE on SQLite, so it takes the write lock up front and waits on
/// the busy timeout instead of failing half-way). Pass `&tx` to repository calls; dropping it
/// without [`Tx::commit`] rolls back. A type of the store's own, so that committing fails
/// with a [`StoreError`] and callers never name sea-orm.
#[derive(Debug)]
pub struct Tx(DatabaseTransaction);

impl Tx {
    /// Commits the transaction.
    pub async fn commit(self) -> Result<()> {
        Ok(self.0.commit().await?)
    }

    /// Rolls the transaction back (dropping it does the same, without waiting).
    pub async fn rollback(self) -> Result<()> {
        Ok(self.0.rollback().await?)
    }
}

/// Repositories run their queries on `&Tx` as on the pool.
#[async_trait::async_trait]
impl ConnectionTrait for Tx {
    fn get_database_backend(&self) -> DbBackend {
        self.0.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.0.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.0.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.0.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.0.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.0.support_returning()
    }
}

/// The database handle shared by every repository.
#[derive(Clone, Debug)]
pub struct Store {
    db: DatabaseConnection,
    backend: Backend,
    clock: Arc<DbClock>,
}

/// How many connections a store's pool opens by default: SQLite serialises writers anyway
/// (more connections would only wait on its lock), PostgreSQL serves up to 16 at once.
const DEFAULT_SQLITE_POOL: u32 = 4;
const DEFAULT_POSTGRES_POOL: u32 = 16;

impl Store {
    /// Connects to `sqlite://path?mode=rwc` or `postgres://…` with the default pool size.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with_pool(url, None).await
    }

    /// Connects with a pool of `max_connections` (`None`: 4 connections for SQLite, 16 for
    /// PostgreSQL). SQLite gets WAL with synchronous=FULL (a commit is on disk
    /// when it returns), a busy timeout and foreign keys.
    pub async fn connect_with_pool(url: &str, max_connections: Option<u32>) -> Result<Self> {
        let backend = Backend::from_url(url)?;
        let mut opts = ConnectOptions::new(url.to_string());
        opts.sqlx_logging(false)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(30));
        match backend {
            Backend::Sqlite => {
                // An embedded connection cannot be dropped by a server or a firewall, so the
                // pool's default ping on every checkout (one more round trip to the
                // connection's worker thread per query) buys nothing.
                //
                // synchronous=FULL: every commit fsyncs the WAL before it returns. The publish
                // step commits `committing` and then calls the platform; under NORMAL that
                // commit could still be lost by a power cut after the platform published, and
                // the post would be retried as never attempted (a duplicate post). Setting it
                // on the connection, not around that one write, keeps every durable-before-
                // acting write sound (leases, attempts, webhooks) and cannot be forgotten by a
                // new call site. Cost: one WAL fsync per write transaction; reads never sync.
                opts.test_before_acquire(false)
                    .max_connections(max_connections.unwrap_or(DEFAULT_SQLITE_POOL).max(1))
                    .min_connections(1)
                    .map_sqlx_sqlite_opts(|o| {
                        o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                            .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Full)
                            .busy_timeout(Duration::from_secs(30))
                            .foreign_keys(true)
                            .create_if_missing(true)
                    });
            }
            Backend::Postgres => {
                // Ping only connections idle long enough for a server restart, a proxy or a
                // firewall to have dropped them; a ping on every checkout doubled the round
                // trips of each read (crates/api/BENCHMARKS.md).
                opts.max_connections(max_connections.unwrap_or(DEFAULT_POSTGRES_POOL).max(1))
                    .min_connections(1)
                    .test_before_acquire_if_idle_for(Duration::from_secs(30));
            }
        }
        let db = Database::connect(opts).await?;
        Ok(Self {
            db,
            backend,
            clock: Arc::new(DbClock::default()),
        })
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<()> {
        Migrator::up(&self.db, None).await?;
        Ok(())
    }

    /// Number of migrations not yet applied.
    pub async fn pending_migrations(&self) -> Result<usize> {
        Ok(Migrator::get_pending_migrations(&self.db).await?.len())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn conn(&self) -> &DatabaseConnection {
        &self.db
    }

    pub(crate) fn db_backend(&self) -> DbBackend {
        match self.backend {
            Backend::Sqlite => DbBackend::Sqlite,
            Backend::Postgres => DbBackend::Postgres,
        }
    }

    /// Begins a write transaction.
    pub async fn begin(&self) -> Result<Tx> {
        let options = TransactionOptions {
            sqlite_transaction_mode: (self.backend == Backend::Sqlite)
                .then_some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        Ok(Tx(self.db.begin_with_options(options).await?))
    }

    /// The SQL expression for "now" in epoch milliseconds: the database decides what time it
    /// is, so instances with skewed clocks agree.
    pub(crate) fn now_sql(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
            Backend::Postgres => "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT",
        }
    }

    /// The database clock, in epoch milliseconds, never going backwards within this process.
    /// The database is asked once every 5 s (`DbClock::RESYNC`) and the process's monotonic clock
    /// carries the reading in between: a publish used to spend six round trips a post on
    /// `SELECT now()`, and the instances still agree on time (to the drift of a few seconds of
    /// a monotonic clock, plus half a round trip).
    pub async fn now_ms(&self) -> Result<i64> {
        let ms = match self.clock.carried() {
            Some(ms) => ms,
            None => {
                let asked = Instant::now();
                let db_ms = self.query_now_ms().await?;
                self.clock.anchor(asked, db_ms)
            }
        };
        Ok(self.clock.forwards(ms))
    }

    /// Asks the database what time it is, now (not the carried clock of [`Self::now_ms`]):
    /// what SQL that compares with the database's `now` sees (tests that wait for a lease to
    /// expire, diagnostics).
    pub async fn query_now_ms(&self) -> Result<i64> {
        let sql = format!("SELECT {} AS now", self.now_sql());
        let row = self
            .db
            .query_one_raw(Statement::from_string(self.db_backend(), sql))
            .await?
            .ok_or_else(|| StoreError::Corrupt("clock query returned no row".into()))?;
        Ok(row.try_get::<i64>("", "now")?)
    }

    /// Runs raw SQL with `$n` placeholders on the given connection.
    pub(crate) fn stmt(&self, sql: &str, values: Vec<sea_orm::Value>) -> Statement {
        Statement::from_sql_and_values(self.db_backend(), sql, values)
    }

    /// Checks the database answers (for readiness probes).
    pub async fn ping(&self) -> Result<()> {
        self.db.execute_unprepared("SELECT 1").await?;
        Ok(())
    }
}

/// The last reading of the database clock and when (on this process's monotonic clock) it
/// was taken.
#[derive(Debug, Default)]
struct DbClock {
    reading: Mutex<Option<(Instant, i64)>>,
    /// The latest time handed out, so that a resync never moves time backwards.
    latest: AtomicI64,
}

impl DbClock {
    /// How long a reading is carried forward before the database is asked again.
    const RESYNC: Duration = Duration::from_secs(5);

    /// The database's time now, carried forward from a fresh enough reading.
    fn carried(&self) -> Option<i64> {
        let reading = *self.reading.lock().unwrap_or_else(|p| p.into_inner());
        let (at, db_ms) = reading?;
        let elapsed = at.elapsed();
        (elapsed < Self::RESYNC).then(|| db_ms.saturating_add(elapsed.as_millis() as i64))
    }

    /// Stores a reading asked for at `asked` and returns the time it says it is now. The
    /// database read its clock somewhere in the round trip: half way is the best guess.
    fn anchor(&self, asked: Instant, db_ms: i64) -> i64 {
        let round_trip = asked.elapsed();
        let at = asked + round_trip / 2;
        *self.reading.lock().unwrap_or_else(|p| p.into_inner()) = Some((at, db_ms));
        db_ms.saturating_add((round_trip / 2).as_millis() as i64)
    }

    /// `ms`, or the latest time already handed out if that is later.
    fn forwards(&self, ms: i64) -> i64 {
        self.latest.fetch_max(ms, Ordering::Relaxed).max(ms)
    }
}

#[cfg(test)]
mod clock_tests {
    use super::*;

    #[test]
    fn a_reading_is_carried_forward_and_never_runs_backwards() {
        let clock = DbClock::default();
        assert_eq!(clock.carried(), None, "no reading yet: ask the database");
        let now = clock.anchor(Instant::now(), 1_000_000);
        assert!(now >= 1_000_000);
        std::thread::sleep(Duration::from_millis(20));
        let later = clock.carried().expect("a fresh reading is carried");
        assert!(later >= 1_000_020, "{later}");
        assert_eq!(clock.forwards(later), later);
        // A resync that reads the database a little behind what was handed out does not
        // move time backwards.
        clock.anchor(Instant::now(), 1_000_000);
        assert_eq!(clock.forwards(1_000_001), later);
    }

    #[test]
    fn an_old_reading_asks_the_database_again() {
        let clock = DbClock::default();
        let long_ago = Instant::now()
            .checked_sub(DbClock::RESYNC + Duration::from_millis(1))
            .expect("the monotonic clock has run longer than the resync interval");
        *clock.reading.lock().expect("lock") = Some((long_ago, 5));
        assert_eq!(clock.carried(), None);
    }
}
