//! The models directory: one folder per model, named by the user. New models are assembled
//! in `.partial/NAME` (kept between attempts, so an interrupted pull resumes) and moved into
//! place with one rename after their manifest is written: a half-made model is never loaded.

use std::path::{Path, PathBuf};

use crate::error::{ModelError, Result, io};
use crate::family::Family;
use crate::manifest::{MANIFEST_FILE, Manifest};

/// Where staging folders live, inside the models directory (same filesystem: rename works).
const PARTIAL_DIR: &str = ".partial";

#[derive(Clone, Debug)]
pub struct ModelStore {
    root: PathBuf,
}

/// One entry of `model list`.
#[derive(Debug)]
pub struct Listed {
    pub name: String,
    pub path: PathBuf,
    /// Absent for folders put there by hand (or the tiny demo model).
    pub manifest: Option<Manifest>,
    /// From the manifest, or read from the folder's `unet/config.json`.
    pub family: Option<Family>,
}

/// A model folder being assembled. Dropping it keeps the files (to resume); [`Staging::finish`]
/// moves it into place.
#[derive(Debug)]
pub struct Staging {
    name: String,
    dir: PathBuf,
    target: PathBuf,
    force: bool,
    /// Held while this process assembles the model: a second pull or import of the same
    /// name is refused instead of writing into the same files.
    _lock: std::fs::File,
}

impl ModelStore {
    /// The models directory of a data directory: `<data_dir>/models`.
    pub fn under(data_dir: &Path) -> Self {
        Self {
            root: data_dir.join("models"),
        }
    }

    pub fn at(root: PathBuf) -> Self {
        Self { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A model name: 1-64 of `a-z 0-9 . _ -`, starting with a letter or digit (it becomes a
    /// folder name and appears in campaign files and API requests).
    pub fn validate_name(name: &str) -> Result<()> {
        let bad = |reason| {
            Err(ModelError::InvalidName {
                name: name.to_string(),
                reason,
            })
        };
        if name.is_empty() || name.len() > 64 {
            return bad("it must be 1 to 64 characters long");
        }
        if !name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
            return bad("it must start with a lower-case letter or a digit");
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        {
            return bad("use only lower-case letters, digits, '.', '_' and '-'");
        }
        Ok(())
    }

    /// The folder of model `name` (whether or not it exists).
    pub fn path(&self, name: &str) -> Result<PathBuf> {
        Self::validate_name(name)?;
        Ok(self.root.join(name))
    }

    /// The folder of an existing model.
    pub fn find(&self, name: &str) -> Result<PathBuf> {
        let path = self.path(name)?;
        if path.join("model_index.json").is_file() {
            Ok(path)
        } else {
            Err(ModelError::NotFound(name.to_string()))
        }
    }

    /// Every model folder, by name. Staging folders and anything that is not a diffusers
    /// pipeline folder are skipped.
    pub fn list(&self) -> Result<Vec<Listed>> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&self.root)(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io(&self.root))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name.starts_with('.') || !path.join("model_index.json").is_file() {
                continue;
            }
            let manifest = if path.join(MANIFEST_FILE).is_file() {
                // One damaged manifest must not hide every other model.
                match Manifest::read(&path) {
                    Ok(m) => Some(m),
                    Err(e) => {
                        tracing::warn!(model = %name, error = %e, "unreadable model manifest");
                        None
                    }
                }
            } else {
                None
            };
            let family = match &manifest {
                Some(m) => Some(m.family),
                None => Family::of_folder(&path).ok(),
            };
            out.push(Listed {
                name,
                path,
                manifest,
                family,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Starts (or resumes) assembling model `name`. Fails when it exists, unless `force`
    /// (then the old one is replaced only once the new one is complete).
    pub fn begin(&self, name: &str, force: bool) -> Result<Staging> {
        let target = self.path(name)?;
        if target.exists() && !force {
            return Err(ModelError::Exists(name.to_string()));
        }
        let dir = self.root.join(PARTIAL_DIR).join(name);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let lock_path = self.root.join(PARTIAL_DIR).join(format!("{name}.lock"));
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(ModelError::Busy(name.to_string()));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(&lock_path)(e)),
        }
        Ok(Staging {
            name: name.to_string(),
            dir,
            target,
            force,
            _lock: lock,
        })
    }
}

impl Staging {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the files go while the model is assembled.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes the manifest and moves the folder into place; returns its final path.
    pub fn finish(self, manifest: &Manifest) -> Result<PathBuf> {
        manifest.write(&self.dir)?;
        if self.target.exists() {
            if !self.force {
                return Err(ModelError::Exists(self.name));
            }
            let old =
                self.dir
                    .with_file_name(format!("{}.replaced-{}", self.name, std::process::id()));
            std::fs::rename(&self.target, &old).map_err(io(&self.target))?;
            if let Err(e) = std::fs::rename(&self.dir, &self.target) {
                // Put the old model back rather than leave none.
                let _ = std::fs::rename(&old, &self.target);
                return Err(io(&self.target)(e));
            }
            if let Err(e) = std::fs::remove_dir_all(&old) {
                tracing::warn!(path = %old.display(), error = %e, "the replaced model could not be removed");
            }
        } else {
            std::fs::rename(&self.dir, &self.target).map_err(io(&self.target))?;
        }
        // The rename itself on disk (the folder's entry in the models directory).
        if let Some(parent) = self.target.parent() {
            let _ = std::fs::File::open(parent).and_then(|d| d.sync_all());
        }
        Ok(self.target)
    }

    /// Throws the partial files away (a corrupted download that must start over).
    pub fn discard(self) -> Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&self.dir)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_process_at_a_time_assembles_a_model() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ModelStore::under(dir.path());
        let first = store.begin("sd15", false).expect("first");
        let second = store.begin("sd15", false).expect_err("busy");
        assert!(matches!(second, ModelError::Busy(_)), "{second}");
        assert!(store.begin("other", false).is_ok(), "other names are free");
        first.discard().expect("discard");
        assert!(
            store.begin("sd15", false).is_ok(),
            "free again once released"
        );
    }

    #[test]
    fn names_are_checked() {
        for ok in ["sd15", "sdxl-turbo", "my_model.v2", "1a"] {
            assert!(ModelStore::validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "..", ".x", "a/b", "A", "a b", &"x".repeat(65)] {
            assert!(ModelStore::validate_name(bad).is_err(), "{bad}");
        }
    }
}
