use std::time::Duration;

/// Boxed source error for the transient case.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong, classified by the connector (not counted by the runtime): each variant
/// maps to exactly one runtime reaction.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectorError {
    /// Network trouble or a 5xx: back off with jitter and try again.
    #[error("transient: {0}")]
    Transient(#[source] BoxError),
    /// The platform asked us to slow down; wait at least `retry_after`.
    #[error("rate limited{}", retry_after.map(|d| format!(" (retry after {}s)", d.as_secs())).unwrap_or_default())]
    RateLimited { retry_after: Option<Duration> },
    /// The access token expired: refresh once, then retry.
    #[error("credentials expired")]
    AuthExpired,
    /// The account must be reconnected by a person; park its jobs.
    #[error("account disconnected: {0}")]
    Disconnected(String),
    /// The platform refused the content; permanent, with the platform's reason.
    #[error("rejected: {0}")]
    Rejected(String),
    /// The irreversible call may or may not have happened: reconcile, never re-commit.
    #[error("outcome unknown: {0}")]
    OutcomeUnknown(String),
}

impl ConnectorError {
    /// Wraps any error as transient.
    pub fn transient(err: impl Into<BoxError>) -> Self {
        Self::Transient(err.into())
    }

    /// Short stable name, stored with attempts and used in metrics labels.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Transient(_) => "transient",
            Self::RateLimited { .. } => "rate_limited",
            Self::AuthExpired => "auth_expired",
            Self::Disconnected(_) => "disconnected",
            Self::Rejected(_) => "rejected",
            Self::OutcomeUnknown(_) => "outcome_unknown",
        }
    }
}
