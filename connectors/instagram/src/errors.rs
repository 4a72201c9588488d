//! Instagram's Graph error code table (PLATFORMS.md §2.3 plus the shared Graph codes of §1.3).
//! Subcodes decide first where Instagram uses them to say more. The error body, [`Class`] and
//! the mapping onto the taxonomy are shared with Facebook (`connector_meta_graph::map_error`,
//! which takes [`classify_code`]).

pub use connector_meta_graph::{Class, GraphError};

/// The classification table.
pub fn classify_code(code: i64, subcode: Option<i64>, is_transient: Option<bool>) -> Class {
    match subcode {
        // Download timed out, container creation failed, unknown upload error, media not ready
        // yet (9007), "retry" per Postiz: definite refusals.
        Some(2207003 | 2207032 | 2207053 | 2207027 | 2207082) => return Class::Transient,
        // "Instagram server error": retry, but a `media_publish` may have gone through.
        Some(2207001) => return Class::Ambiguous,
        // Daily publishing limit.
        Some(2207042) => return Class::Throttled,
        // Spam restriction, too large, format, aspect ratio, caption too long, fetch failed,
        // container expired (needs a new container: never automatically from commit).
        Some(2207051 | 2207004 | 2207005 | 2207009 | 2207010 | 2207052 | 2207020) => {
            return Class::Rejected;
        }
        // Account restricted; Page Publishing Authorization: a person must act.
        Some(2207050 | 1404078) => return Class::Disconnected,
        // "Session has been invalidated" (Postiz maps it to re-auth).
        Some(33) if code == 190 || code == 102 => return Class::AuthExpired,
        _ => {}
    }
    match code {
        190 | 102 => match subcode {
            Some(458 | 459 | 460 | 464) => Class::Disconnected,
            _ => Class::AuthExpired,
        },
        9007 => Class::Transient,
        // Generic errors: the request may or may not have been carried out (§6.7).
        -1 | -2 | 1 | 2 => Class::Ambiguous,
        4 | 9 | 17 | 32 | 341 | 613 | 80000..=80009 | 80014 => Class::Throttled,
        10 | 200..=299 => Class::Disconnected,
        100 | 368 | 506 | 9004 | 36000 | 36001 | 36003 => Class::Rejected,
        _ if is_transient == Some(true) => Class::Ambiguous,
        _ => Class::Rejected,
    }
}

#[cfg(test)]
mod tests;
