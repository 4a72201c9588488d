//! Database URLs: which backend one names, and how to show one without its secrets. A URL
//! reaches logs and error messages (start-up, config errors), and PostgreSQL takes its password
//! either as `user:PASSWORD@` or as `?password=PASSWORD`, so both are hidden.

use crate::{Backend, Result, StoreError};

/// What stands in for a hidden value.
const HIDDEN: &str = "***";

impl Backend {
    /// The backend a database URL names: `sqlite:…`, `postgres://…` or `postgresql://…`.
    ///
    /// # Errors
    /// [`StoreError::UnsupportedUrl`] with the URL redacted.
    pub fn from_url(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl(redact_url(url)))
        }
    }
}

/// The URL with the password of its user info and the values of secret-looking query
/// parameters (`password`, `sslpassword`, `token`, `secret`, `…key`, …) replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = redact_user_info(base);
    if let Some(query) = query {
        out.push('?');
        let params: Vec<String> = query.split('&').map(redact_param).collect();
        out.push_str(&params.join("&"));
    }
    out
}

/// `scheme://user:secret@host/…` → `scheme://user:***@host/…`. The authority ends at the
/// first `/`; its last `@` ends the user info, so a password containing `@` is hidden whole.
fn redact_user_info(base: &str) -> String {
    let Some(scheme_end) = base.find("://").map(|i| i + 3) else {
        return base.to_string();
    };
    let rest = &base[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return base.to_string();
    };
    let user_info = &authority[..at];
    let Some(colon) = user_info.find(':') else {
        return base.to_string();
    };
    format!(
        "{}{}:{HIDDEN}{}",
        &base[..scheme_end],
        &user_info[..colon],
        &rest[at..]
    )
}

fn redact_param(param: &str) -> String {
    match param.split_once('=') {
        Some((key, _)) if is_secret_key(key) => format!("{key}={HIDDEN}"),
        _ => param.to_string(),
    }
}

/// Keys whose values are credentials in libpq, sqlx and the usual connection strings.
fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "pass",
        "pwd",
        "secret",
        "token",
        "key",
        "auth",
        "credential",
    ]
    .iter()
    .any(|s| key.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_user_info_are_hidden() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db.example:5432/pressroom"),
            "postgres://app:***@db.example:5432/pressroom"
        );
        // A password holding '@' is hidden whole, and a '@' after the host is not user info.
        assert_eq!(
            redact_url("postgres://app:p@ss@db/pressroom"),
            "postgres://app:***@db/pressroom"
        );
        assert_eq!(
            redact_url("postgres://db/pressroom?application_name=a@b"),
            "postgres://db/pressroom?application_name=a@b"
        );
        assert_eq!(
            redact_url("postgres://app@db/pressroom"),
            "postgres://app@db/pressroom"
        );
        assert_eq!(
            redact_url("sqlite://data/pressroom.db?mode=rwc"),
            "sqlite://data/pressroom.db?mode=rwc"
        );
    }

    #[test]
    fn secret_query_parameters_are_hidden() {
        let shown = redact_url(
            "postgres://db/pressroom?user=app&password=s3cret&sslmode=require\
             &sslpassword=k3y&PassWord=x1&api_token=t0k&sslkey=/etc/k.pem",
        );
        assert_eq!(
            shown,
            "postgres://db/pressroom?user=app&password=***&sslmode=require\
             &sslpassword=***&PassWord=***&api_token=***&sslkey=***"
        );
        for secret in ["s3cret", "k3y", "x1", "t0k"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    #[test]
    fn an_unsupported_url_is_named_without_its_password() {
        let err = Backend::from_url("mysql://root:hunter2@db/pressroom?password=hunter3")
            .expect_err("mysql is not supported")
            .to_string();
        assert!(err.contains("mysql://root:***@db/pressroom"), "{err}");
        assert!(!err.contains("hunter"), "{err}");
        assert_eq!(
            Backend::from_url("sqlite::memory:").ok(),
            Some(Backend::Sqlite)
        );
        assert_eq!(
            Backend::from_url("postgresql://db/x").ok(),
            Some(Backend::Postgres)
        );
    }
}
