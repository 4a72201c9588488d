//! The databases the scheduler's integration tests run on: a fresh SQLite file, or a fresh
//! PostgreSQL database (`PRESSROOM_TEST_PG`, default the local server) dropped at the end.
//! Each test binary compiles this module on its own and uses part of it.
#![allow(dead_code)]

use pressroom_store::Store;
use pressroom_store::testing::TempPgDatabase;

/// A fresh database of either kind, with a scratch directory for files the test writes.
pub struct TestDb {
    pub store: Store,
    /// The PostgreSQL database, dropped by [`TestDb::drop_db`].
    pub pg: Option<TempPgDatabase>,
    pub dir: tempfile::TempDir,
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::connect(&url).await.expect("sqlite");
        store.migrate().await.expect("migrate");
        Self {
            store,
            pg: None,
            dir,
        }
    }

    pub async fn postgres() -> Self {
        let db = TempPgDatabase::create("pressroom_sched", "test")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let store = Store::connect(db.url()).await.expect("connect");
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
