//! Standard Webhooks (standardwebhooks.com) signatures: HMAC-SHA256 over
//! `{webhook-id}.{webhook-timestamp}.{body}`, header `webhook-signature: v1,<base64>` (several
//! space-separated signatures allowed during secret rotation), secrets as `whsec_<base64>`.
//! Used by the webhook connector (signing) and the control API (verifying CMS webhooks).
//! Delivery-id dedupe is the receiver's job (it needs storage); this checks signature and age.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::random_bytes;

pub const HEADER_ID: &str = "webhook-id";
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_SIGNATURE: &str = "webhook-signature";
const SECRET_PREFIX: &str = "whsec_";
/// Default replay window (the spec's suggestion).
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Why a webhook failed verification. Deliberately vague towards the sender.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookError {
    #[error("malformed webhook secret")]
    BadSecret,
    #[error("missing or malformed webhook headers")]
    BadHeaders,
    #[error("webhook timestamp outside the allowed window")]
    Stale,
    #[error("no matching webhook signature")]
    BadSignature,
}

/// The shared signing key.
pub struct WebhookSecret(SecretBox<Vec<u8>>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret([REDACTED])")
    }
}

impl WebhookSecret {
    /// A new random 32-byte secret.
    pub fn generate() -> Self {
        Self(SecretBox::new(Box::new(random_bytes::<32>().to_vec())))
    }

    /// Parses `whsec_<base64>` (the prefix is optional, as in the reference libraries).
    pub fn parse(s: &SecretString) -> Result<Self, WebhookError> {
        let s = s.expose_secret();
        let b64 = s.strip_prefix(SECRET_PREFIX).unwrap_or(s);
        let key = STANDARD.decode(b64).map_err(|_| WebhookError::BadSecret)?;
        if key.len() < 16 {
            return Err(WebhookError::BadSecret);
        }
        Ok(Self(SecretBox::new(Box::new(key))))
    }

    /// `whsec_<base64>`, to show once to the user configuring the other side.
    pub fn export(&self) -> SecretString {
        SecretString::from(format!(
            "{SECRET_PREFIX}{}",
            STANDARD.encode(self.0.expose_secret())
        ))
    }

    fn mac(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<Vec<u8>, WebhookError> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.expose_secret())
            .map_err(|_| WebhookError::BadSecret)?;
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        Ok(mac.finalize().into_bytes().to_vec())
    }

    /// The `webhook-signature` value: `v1,<base64>`.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String, WebhookError> {
        Ok(format!(
            "v1,{}",
            STANDARD.encode(self.mac(msg_id, timestamp, body)?)
        ))
    }

    /// All three headers for a delivery.
    pub fn headers(
        &self,
        msg_id: &str,
        timestamp: i64,
        body: &[u8],
    ) -> Result<[(&'static str, String); 3], WebhookError> {
        Ok([
            (HEADER_ID, msg_id.to_owned()),
            (HEADER_TIMESTAMP, timestamp.to_string()),
            (HEADER_SIGNATURE, self.sign(msg_id, timestamp, body)?),
        ])
    }

    /// Checks age (`|now - timestamp| <= tolerance`) and that one of the `v1` signatures matches,
    /// in constant time. `now` is unix seconds.
    pub fn verify(
        &self,
        msg_id: &str,
        timestamp: &str,
        signatures: &str,
        body: &[u8],
        now: i64,
        tolerance: Duration,
    ) -> Result<(), WebhookError> {
        if msg_id.is_empty() {
            return Err(WebhookError::BadHeaders);
        }
        let ts: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| WebhookError::BadHeaders)?;
        if now.abs_diff(ts) > tolerance.as_secs() {
            return Err(WebhookError::Stale);
        }
        let expected = self.mac(msg_id, ts, body)?;
        let mut ok = false;
        for sig in signatures.split_whitespace() {
            let Some(b64) = sig.strip_prefix("v1,") else {
                continue;
            };
            if let Ok(raw) = STANDARD.decode(b64) {
                ok |= bool::from(raw.ct_eq(&expected));
            }
        }
        if ok {
            Ok(())
        } else {
            Err(WebhookError::BadSignature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector_from_the_spec() {
        // Test vector from the Standard Webhooks reference libraries.
        let secret = WebhookSecret::parse(&SecretString::from(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ))
        .expect("secret");
        let sig = secret
            .sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#,
            )
            .expect("sign");
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn verify_accepts_good_and_refuses_bad() {
        let s = WebhookSecret::generate();
        let body = b"{\"a\":1}";
        let sig = s.sign("msg_1", 1000, body).expect("sign");
        let t = DEFAULT_TOLERANCE;
        assert_eq!(s.verify("msg_1", "1000", &sig, body, 1100, t), Ok(()));
        assert_eq!(
            s.verify("msg_1", "1000", &format!("v1,AAAA {sig}"), body, 1000, t),
            Ok(())
        );
        assert_eq!(
            s.verify("msg_1", "1000", &sig, b"{\"a\":2}", 1000, t),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            s.verify("msg_2", "1000", &sig, body, 1000, t),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            s.verify("msg_1", "1000", &sig, body, 1000 + 301, t),
            Err(WebhookError::Stale)
        );
        assert_eq!(
            s.verify("msg_1", "1000", &sig, body, 1000 - 301, t),
            Err(WebhookError::Stale)
        );
        assert_eq!(
            s.verify("msg_1", "x", &sig, body, 1000, t),
            Err(WebhookError::BadHeaders)
        );
        assert_eq!(
            s.verify("msg_1", "1000", "v2,abc", body, 1000, t),
            Err(WebhookError::BadSignature)
        );
        let other = WebhookSecret::generate();
        assert_eq!(
            other.verify("msg_1", "1000", &sig, body, 1000, t),
            Err(WebhookError::BadSignature)
        );
        let round = WebhookSecret::parse(&s.export()).expect("reparse");
        assert_eq!(round.verify("msg_1", "1000", &sig, body, 1000, t), Ok(()));
        assert!(!format!("{s:?}").contains(s.export().expose_secret()));
        assert_eq!(
            WebhookSecret::parse(&SecretString::from("whsec_@@")).err(),
            Some(WebhookError::BadSecret)
        );
    }
}
