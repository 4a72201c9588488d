//! Where "now" comes from. Production asks the database, so every instance agrees on time
//! whatever its own clock says; tests use a manual clock to walk through DST and downtime.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use pressroom_store::Store;

/// A source of the current time for scheduling decisions.
#[async_trait::async_trait]
pub trait Clock: Send + Sync {
    async fn now(&self) -> anyhow::Result<DateTime<Utc>>;
}

/// The database clock.
pub struct DbClock(pub Store);

#[async_trait::async_trait]
impl Clock for DbClock {
    async fn now(&self) -> anyhow::Result<DateTime<Utc>> {
        let ms = self.0.now_ms().await?;
        DateTime::from_timestamp_millis(ms)
            .ok_or_else(|| anyhow::anyhow!("database clock out of range: {ms}"))
    }
}

/// A clock tests move by hand.
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Mutex::new(at))
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *guard += by;
    }
}

#[async_trait::async_trait]
impl Clock for ManualClock {
    async fn now(&self) -> anyhow::Result<DateTime<Utc>> {
        Ok(*self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}
