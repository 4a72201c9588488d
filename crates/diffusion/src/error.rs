//! The one error type of the engine. Messages name the file and tensor involved, because
//! the usual failure is a model folder that is not quite what the config promises.

use std::path::PathBuf;

/// Everything that can go wrong loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum DiffusionError {
    #[error("missing file {path}: {what}")]
    MissingFile { path: PathBuf, what: String },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config {path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("invalid safetensors file {path}: {message}")]
    Safetensors { path: PathBuf, message: String },
    #[error("tensor `{name}` not found in {path}")]
    MissingTensor { path: PathBuf, name: String },
    #[error("tensor `{name}` in {path} has shape {found:?}, the config implies {expected:?}")]
    ShapeMismatch {
        path: PathBuf,
        name: String,
        expected: Vec<i64>,
        found: Vec<i64>,
    },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("unsupported model: {0}")]
    Unsupported(String),
    /// The safety checker flagged the image; the text says which concepts.
    #[error("{0}")]
    Unsafe(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("torch: {0}")]
    Torch(#[from] tch::TchError),
    #[error("image encoding: {0}")]
    Image(String),
    /// The engine's queue is full; the caller should try again after `retry_after`.
    #[error(
        "the engine's queue is full ({capacity} requests waiting); retry after {retry_after:?}"
    )]
    QueueFull {
        capacity: usize,
        retry_after: std::time::Duration,
    },
    /// The request was cancelled (its caller went away, or the engine is shutting down).
    #[error("generation cancelled")]
    Cancelled,
}

pub type Result<T, E = DiffusionError> = std::result::Result<T, E>;

/// Adds the path to an `std::io::Error`, turning "not found" into a clear missing-file error.
pub(crate) fn io_err(path: &std::path::Path, what: &str, e: std::io::Error) -> DiffusionError {
    if e.kind() == std::io::ErrorKind::NotFound {
        DiffusionError::MissingFile {
            path: path.to_path_buf(),
            what: what.to_string(),
        }
    } else {
        DiffusionError::Io {
            path: path.to_path_buf(),
            source: e,
        }
    }
}
