//! Disk space: checked before a pull starts (so it does not fail gigabytes in), and a write
//! that still runs out of it says so with the path.

use std::io;
use std::path::Path;

use indicatif::HumanBytes;

use crate::error::{ModelError, Result};

/// Bytes free for an unprivileged user on the filesystem of `dir`; `None` where unknown.
pub(crate) fn available(dir: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        let stat = rustix::fs::statvfs(dir).ok()?;
        Some(stat.f_bavail.saturating_mul(stat.f_frsize))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}

/// Refuses to start when `needed` more bytes do not fit in `dir`.
pub(crate) fn ensure_room(dir: &Path, needed: u64) -> Result<()> {
    match available(dir) {
        Some(free) => check(dir, needed, free),
        None => Ok(()),
    }
}

fn check(dir: &Path, needed: u64, free: u64) -> Result<()> {
    if needed > free {
        return Err(ModelError::Hub(format!(
            "not enough disk space in {}: the pull needs {} more ({needed} bytes), {} is free ({free} bytes)",
            dir.display(),
            HumanBytes(needed),
            HumanBytes(free)
        )));
    }
    Ok(())
}

/// A failed write: "disk full" when it is, naming the file either way.
pub(crate) fn write_error(path: &Path, e: io::Error) -> ModelError {
    if e.kind() == io::ErrorKind::StorageFull {
        ModelError::Hub(format!(
            "disk full writing {}: free some space and run the pull again (it resumes where it stopped)",
            path.display()
        ))
    } else {
        ModelError::Io {
            path: path.to_path_buf(),
            error: e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pull_that_does_not_fit_names_both_numbers() {
        let dir = Path::new("/data/models/.partial/x");
        assert!(check(dir, 10, 10).is_ok());
        let err = check(dir, 3 << 30, 1 << 30)
            .expect_err("too big")
            .to_string();
        assert!(
            err.contains("/data/models/.partial/x")
                && err.contains("3.00 GiB more (3221225472 bytes)")
                && err.contains("1.00 GiB is free (1073741824 bytes)"),
            "{err}"
        );
        let here = available(Path::new(env!("CARGO_MANIFEST_DIR")));
        if cfg!(unix) {
            assert!(here.is_some_and(|b| b > 0), "statvfs works here");
        }
    }

    /// `/dev/full` fails every write with ENOSPC, as a full disk does.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_disk_is_called_so() {
        use std::io::Write as _;
        let path = Path::new("/dev/full");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .expect("/dev/full opens");
        let e = f
            .write_all(&[0u8; 4096])
            .and_then(|()| f.flush())
            .expect_err("/dev/full is always full");
        let err = write_error(path, e).to_string();
        assert!(err.contains("disk full writing /dev/full"), "{err}");
        let other = write_error(path, io::Error::other("boom")).to_string();
        assert!(other.contains("/dev/full: boom"), "{other}");
    }
}
