//! TikTok's public post ids: 19-digit numbers, beyond 2^53, that TikTok sends as strings in
//! some answers and as raw JSON numbers in others (`publicaly_available_post_id`; PLATFORMS.md
//! §9.4: a float parse rounds them, and the stored link then points at no post). serde_json
//! keeps integers up to u64 exact, so they are read as text here and nowhere as floats.

use serde_json::Value;

/// The id as text, whether TikTok sent a string or an integer; `None` for anything else (a
/// float would already have lost digits).
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        _ => None,
    }
}

/// True for a public post id (digits only). A publish handle (`v_pub_url~…`, `p_pub_url~…`)
/// is not one: the metrics API cannot look it up, `status/fetch` resolves it.
pub fn is_public(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nineteen_digit_ids_keep_every_digit() {
        let raw = r#"[7678907398077074697, "7678907398077074696", 1.5, null]"#;
        let ids: Vec<Value> = serde_json::from_str(raw).expect("parses");
        let got: Vec<Option<String>> = ids.iter().map(text).collect();
        assert_eq!(
            got,
            vec![
                Some("7678907398077074697".into()),
                Some("7678907398077074696".into()),
                None,
                None
            ]
        );
        assert!(is_public("7678907398077074697"));
        assert!(!is_public("p_pub_url~v2.0000000000000000001"));
        assert!(!is_public("v_pub_url~v2-1.7"));
        assert!(!is_public(""));
    }
}
