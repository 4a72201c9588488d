//! Durable writes of the files the database rows point at (content-addressed assets and
//! renditions). A row is only written after its file, so the file must survive a crash
//! that the row survives: it is written to a temporary name in the same directory, fsynced,
//! renamed into place, and the directory is fsynced so the rename itself is on disk. Whatever
//! fails, the temporary file is removed.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` durably and atomically (readers see the old file or the whole new
/// one), creating the parent directories.
///
/// # Errors
/// Any I/O error; the temporary file is gone by then, and `path` holds what it held before
/// (or, when only the final directory sync failed, the new file).
pub fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    create_dirs_durably(&dir)?;
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is not a file path", path.display()),
        )
    })?;
    // Unique per write: two writers of the same content-addressed path never share a temp.
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        pressroom_core::new_id()
    ));
    if let Err(e) = write_and_rename(&tmp, path, bytes) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(&dir)
}

/// [`write_durably`] on the blocking pool, for async callers.
///
/// # Errors
/// As [`write_durably`], or the blocking task failing.
pub async fn write_durably_async(path: PathBuf, bytes: Vec<u8>) -> std::io::Result<()> {
    tokio::task::spawn_blocking(move || write_durably(&path, &bytes))
        .await
        .map_err(std::io::Error::other)?
}

fn write_and_rename(tmp: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(tmp, path)
}

/// Creates `dir` and its missing ancestors, syncing the parent of each one created so the
/// new directories survive a crash along with the file written into them.
fn create_dirs_durably(dir: &Path) -> std::io::Result<()> {
    let missing: Vec<&Path> = dir.ancestors().take_while(|d| !d.exists()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    for created in missing {
        match created.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent)?,
            _ => sync_dir(Path::new("."))?,
        }
    }
    Ok(())
}

/// Makes a rename in `dir` durable. Directories cannot be opened for syncing on Windows,
/// where the rename is durable through the file system's journal.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_successful_write_leaves_exactly_the_file() {
        let root = tempfile::tempdir().expect("tempdir");
        let path = root.path().join("assets/ab/abcd.png");
        write_durably(&path, b"first").expect("write");
        write_durably(&path, b"second").expect("overwrite");
        assert_eq!(std::fs::read(&path).expect("read"), b"second");
        assert_eq!(names(&root.path().join("assets/ab")), ["abcd.png"]);
    }

    #[test]
    fn a_failing_write_leaves_no_temporary_file() {
        let root = tempfile::tempdir().expect("tempdir");
        // The rename fails: a non-empty directory stands where the file should go.
        let path = root.path().join("taken");
        std::fs::create_dir_all(path.join("inside")).expect("mkdir");
        write_durably(&path, b"bytes").expect_err("cannot replace a directory");
        assert_eq!(names(root.path()), ["taken"]);
    }

    #[tokio::test]
    async fn the_async_form_writes_the_same_way() {
        let root = tempfile::tempdir().expect("tempdir");
        let path = root.path().join("renditions/r1/square-crop.jpg");
        write_durably_async(path.clone(), b"jpeg".to_vec())
            .await
            .expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), b"jpeg");
        assert_eq!(
            names(&root.path().join("renditions/r1")),
            ["square-crop.jpg"]
        );
    }
}
