//! The cookie that binds a connect to the browser that started it. Without it, anyone who
//! gets a victim to open a connect's authorize URL would have the victim's platform account
//! stored in the attacker's workspace (the callback trusted `state` alone). The start sets
//! `pressroom_connect_<id>=<random token>` (HttpOnly, SameSite=Lax so the platform's top-level
//! redirect carries it, Path limited to the redirect URI's path, Secure for https); the
//! callback requires the same token. One cookie per connect, so two connects started from one
//! browser do not overwrite each other's binding.

use axum::http::{HeaderMap, HeaderValue};
use sha2::{Digest, Sha256};

use super::CONNECT_TTL;

const PREFIX: &str = "pressroom_connect_";

/// The cookie's name for a connect: derived from its state, which the callback knows.
pub(crate) fn name(state: &str) -> String {
    let digest = Sha256::digest(state.as_bytes());
    format!("{PREFIX}{}", hex::encode(&digest[..8]))
}

/// `Set-Cookie` for a started connect, or `None` when the redirect URI's path cannot be a
/// cookie path (the caller refuses the connect then).
pub(crate) fn set(state: &str, token: &str, redirect_uri: &str) -> Option<HeaderValue> {
    let max_age = CONNECT_TTL.as_secs();
    header_value(state, token, redirect_uri, max_age)
}

/// `Set-Cookie` that removes a connect's cookie once its callback has used it.
pub(crate) fn clear(state: &str, redirect_uri: &str) -> Option<HeaderValue> {
    header_value(state, "", redirect_uri, 0)
}

fn header_value(state: &str, token: &str, redirect_uri: &str, max_age: u64) -> Option<HeaderValue> {
    let path = path_of(redirect_uri)?;
    let secure = if redirect_uri.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let value = format!(
        "{}={token}; Max-Age={max_age}; Path={path}; HttpOnly; SameSite=Lax{secure}",
        name(state)
    );
    HeaderValue::from_str(&value).ok()
}

/// The path of an absolute http(s) URL, if it is usable as a cookie path (visible ASCII, no
/// `;`).
fn path_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let path = match rest.find('/') {
        Some(i) => &rest[i..],
        None => "/",
    };
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let usable = path
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b';' && b != b',');
    usable.then_some(path)
}

/// The token the request's cookies carry for `state`, if any.
pub(crate) fn presented(headers: &HeaderMap, state: &str) -> Option<String> {
    crate::auth::cookie(headers, &name(state))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header;

    #[test]
    fn the_cookie_is_http_only_lax_and_scoped_to_the_callback_path() {
        let v = set("st", "tok", "https://p.example/base/v1/oauth/callback?x=1").expect("cookie");
        let v = v.to_str().expect("ascii");
        assert!(v.starts_with(&format!("{}=tok;", name("st"))), "{v}");
        for attr in [
            "; Path=/base/v1/oauth/callback;",
            "; HttpOnly",
            "; SameSite=Lax",
            "; Secure",
            "; Max-Age=900",
        ] {
            assert!(v.contains(attr), "{attr} missing: {v}");
        }
        let plain = set("st", "tok", "http://localhost:8080/cb").expect("cookie");
        assert!(!plain.to_str().expect("ascii").contains("Secure"));
        assert!(set("st", "tok", "https://p.example/a;b").is_none());
        let gone = clear("st", "https://p.example/cb").expect("cookie");
        assert!(gone.to_str().expect("ascii").contains("Max-Age=0"));
    }

    #[test]
    fn the_token_is_found_among_other_cookies_and_headers() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; b=2"));
        let line = format!("c=3; {}=tok; d=4", name("st"));
        headers.append(
            header::COOKIE,
            HeaderValue::from_str(&line).expect("header"),
        );
        assert_eq!(presented(&headers, "st").as_deref(), Some("tok"));
        assert_eq!(presented(&headers, "other"), None);
        assert_ne!(name("st"), name("other"));
    }
}
