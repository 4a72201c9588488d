use std::path::PathBuf;

/// What can go wrong managing model folders. Messages name the model, file or field and
/// what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model name `{name}` is not valid: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error(
        "a model named `{0}` already exists (pass --force to replace it, or choose another --name)"
    )]
    Exists(String),
    #[error("model `{0}` is being pulled or imported by another process; wait for it to finish")]
    Busy(String),
    #[error("no model named `{0}` (see `pressroom model list`)")]
    NotFound(String),
    /// The cause is in the message, not chained, so error reports say it once.
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("hub: {0}")]
    Hub(String),
    #[error("import: {0}")]
    Import(String),
}

pub type Result<T, E = ModelError> = std::result::Result<T, E>;

/// Attaches the path to an I/O error.
pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ModelError {
    let path = path.into();
    move |error| ModelError::Io { path, error }
}
