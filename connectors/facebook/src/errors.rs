//! Facebook's Graph error code table. Every code we know is listed explicitly (PLATFORMS.md
//! §1.3); an unknown code falls back on the HTTP status. The error body, [`Class`] and the
//! mapping onto the taxonomy are shared with Instagram (`connector_meta_graph::map_error`,
//! which takes [`classify_code`]).

pub use connector_meta_graph::{Class, GraphError};

/// The classification table. Subcodes win over codes where Meta uses them to say more.
pub fn classify_code(code: i64, subcode: Option<i64>, is_transient: Option<bool>) -> Class {
    match subcode {
        // Page Publishing Authorization required; identity confirmation: a person must act.
        Some(1404078) | Some(4854002) => return Class::Disconnected,
        // Service temporarily unavailable.
        Some(1363047) | Some(1609010) => return Class::Transient,
        // Posting too fast.
        Some(1390008) => return Class::Throttled,
        // Photo too big / wrong format, flagged abusive, already posted, invalid file.
        Some(1366046) | Some(1346003) | Some(1366051) | Some(2069019) => return Class::Rejected,
        _ => {}
    }
    match code {
        190 | 102 => match subcode {
            // App removed, user checkpointed, password changed, unconfirmed user.
            Some(458) | Some(459) | Some(460) | Some(464) => Class::Disconnected,
            // Expired (463), invalid (467), invalid session (492), or unspecified.
            _ => Class::AuthExpired,
        },
        // Generic errors: the request may or may not have been carried out (§6.7).
        1 | 2 => Class::Ambiguous,
        4 | 17 | 32 | 341 | 613 => Class::Throttled,
        80000..=80009 | 80014 => Class::Throttled,
        10 | 200..=299 => Class::Disconnected,
        // 100 invalid parameter, 368 policy block (must not auto-retry), 506 duplicate post.
        100 | 368 | 506 => Class::Rejected,
        // An unknown code Meta calls transient: retry, but reconcile a create first.
        _ if is_transient == Some(true) => Class::Ambiguous,
        _ => Class::Rejected,
    }
}

#[cfg(test)]
mod tests;
