//! Config checks both connectors run on their hosts and Graph version.

/// A Graph API version as Meta spells it in paths: `v`, digits, `.0` (`v25.0`). The connectors
/// refuse any other `api_version`, and the fakes route only such paths.
pub fn is_version(seg: &str) -> bool {
    seg.strip_prefix('v')
        .and_then(|v| v.strip_suffix(".0"))
        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

/// An absolute `http` or `https` URL: every host comes from config, so anything else is a typo
/// better refused at start than at the first call.
pub fn is_http_url(u: &str) -> bool {
    matches!(
        url::Url::parse(u).map(|u| u.scheme().to_owned()).as_deref(),
        Ok("http" | "https")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        for ok in ["v25.0", "v1.0", "v100.0"] {
            assert!(is_version(ok), "{ok}");
        }
        for bad in ["25", "v25", "v25.1", "v.0", "vx.0", "latest", "", "V25.0"] {
            assert!(!is_version(bad), "{bad}");
        }
    }

    #[test]
    fn urls() {
        assert!(is_http_url("https://graph.facebook.com"));
        assert!(is_http_url("http://127.0.0.1:8080"));
        assert!(!is_http_url("ftp://x"));
        assert!(!is_http_url("graph.facebook.com"));
        assert!(!is_http_url(""));
    }
}
