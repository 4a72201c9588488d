//! People's credentials. Passwords are hashed with argon2id (the `argon2` crate's defaults:
//! 19 MiB, 2 passes, one lane, OWASP's minimum) into a PHC string that carries its own salt and
//! parameters, so stronger parameters later still verify old hashes. Session tokens are 32
//! random bytes: like API keys, only their SHA-256 is stored (a slow hash adds nothing to a
//! 256-bit random secret) and a stolen database holds nothing that signs anyone in.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// Fewer characters than this is refused (NIST SP 800-63B: at least 8; we ask for a little
/// more, as a passphrase is easy to type).
pub const MIN_PASSWORD_CHARS: usize = 10;
/// More bytes than this is refused: argon2 takes any length, but an unbounded input is work
/// an attacker chooses.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Why a password was not accepted or could not be hashed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("password: at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("password: at most {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Checks a new password's length (what NIST asks for; no composition rules).
pub fn check_new_password(password: &SecretString) -> Result<(), PasswordError> {
    let p = password.expose_secret();
    if p.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    if p.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    Ok(())
}

/// The argon2id PHC string of a new password (checked first). Slow by design (tens of
/// milliseconds): call it off the async executor.
pub fn hash_password(password: &SecretString) -> Result<String, PasswordError> {
    check_new_password(password)?;
    let salt = SaltString::encode_b64(&crate::random_bytes::<16>())
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches the stored PHC string. A malformed stored hash or an over-long
/// password never matches. Slow by design, like [`hash_password`].
pub fn verify_password(password: &SecretString, stored: &str) -> bool {
    let p = password.expose_secret();
    if p.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    Argon2::default()
        .verify_password(p.as_bytes(), &parsed)
        .is_ok()
}

/// A hash to verify against when there is no user, so an unknown email costs the same time as
/// a wrong password and the answer's timing does not tell which.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_password(&SecretString::from("not a password of anyone".to_owned()))
            .unwrap_or_default()
    })
}

/// A new bearer token for a session or an invitation: the secret to hand out once, and the
/// SHA-256 (hex) to store.
pub fn new_token() -> (SecretString, String) {
    use base64::Engine;
    let token =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(crate::random_bytes::<32>());
    let hash = token_hash(&token);
    (SecretString::from(token), hash)
}

/// The stored form of a presented token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn a_password_verifies_against_its_own_hash_only() -> Result<(), PasswordError> {
        let stored = hash_password(&secret("correct horse battery"))?;
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(!stored.contains("correct horse"));
        assert!(verify_password(&secret("correct horse battery"), &stored));
        assert!(!verify_password(&secret("correct horse battery!"), &stored));
        assert!(!verify_password(
            &secret("correct horse battery"),
            "not a hash"
        ));
        // Salted: the same password hashes differently each time.
        assert_ne!(stored, hash_password(&secret("correct horse battery"))?);
        Ok(())
    }

    #[test]
    fn short_and_huge_passwords_are_refused() {
        assert_eq!(
            hash_password(&secret("short")),
            Err(PasswordError::TooShort)
        );
        let huge = "x".repeat(MAX_PASSWORD_BYTES + 1);
        assert_eq!(hash_password(&secret(&huge)), Err(PasswordError::TooLong));
        assert!(!verify_password(&secret(&huge), dummy_hash()));
    }

    #[test]
    fn tokens_are_random_and_stored_hashed() {
        let (a, hash_a) = new_token();
        let (b, _) = new_token();
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(token_hash(a.expose_secret()), hash_a);
        assert_ne!(hash_a, a.expose_secret().to_string());
        assert_eq!(a.expose_secret().len(), 43);
    }
}
