//! SQLite mode is single-instance: two daemons on one SQLite file would race on claims and
//! fires. An OS file lock beside the database enforces it, and the kernel releases it when the
//! process dies — even on `kill -9` — so a restart is never refused by a stale lock.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::{Result, StoreError};

/// Held for the life of the process; dropping it releases the lock.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
    path: PathBuf,
}

impl InstanceLock {
    /// Takes the lock for the SQLite database at `db_path`, or says who holds it.
    pub fn acquire(db_path: &Path) -> Result<Self> {
        let path = db_path.with_extension("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file, path }),
            Err(std::fs::TryLockError::WouldBlock) => {
                Err(StoreError::AlreadyRunning(db_path.display().to_string()))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
