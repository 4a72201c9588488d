//! The databases the scheduler's integration tests run on: a fresh SQLite file, or a fresh
//! PostgreSQL database (`PRESSROOM_TEST_PG`, default the local server) dropped at the end.
//! Each test binary compiles this module on its own and uses part of it.
#![allow(dead_code)]

use pressroom_store::Store;
use pressroom_store::sea_orm::ConnectionTrait;

/// A fresh database of either kind, with a scratch directory for files the test writes.
pub struct TestDb {
    pub store: Store,
    /// (admin URL, database name) of a PostgreSQL database, for tests that connect twice.
    pub pg: Option<(String, String)>,
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
        let admin_url = std::env::var("PRESSROOM_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let admin = Store::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin_url} is required for this test: {e}"));
        let name = format!(
            "pressroom_sched_{}",
            pressroom_core::new_id().replace('-', "")
        );
        admin
            .conn()
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create db");
        let base = admin_url
            .rsplit_once('/')
            .map(|(b, _)| b.to_string())
            .unwrap_or(admin_url.clone());
        let store = Store::connect(&format!("{base}/{name}"))
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        Self {
            store,
            pg: Some((admin_url, name)),
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub async fn drop_db(self) {
        if let Some((admin_url, name)) = self.pg {
            drop(self.store);
            let admin = Store::connect(&admin_url).await.expect("admin");
            let _ = admin
                .conn()
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
    }
}
