//! Reading `[approval]`: whether a person must approve a run before it publishes, how many
//! candidates they choose from, how early the run is generated and when an undecided review
//! expires.

use std::time::Duration;

use super::duration::parse_duration;
use super::reader::{Item, Reader, Sink};
use super::spec::{ApprovalSpec, OnExpiry};

pub(crate) fn read_approval(
    mut table: Reader<'_, '_>,
    sink: &mut Sink<'_>,
) -> Option<ApprovalSpec> {
    let required = match table.get("required") {
        None => Some(true),
        Some(item) => item.boolean(sink).map(|b| b.into_inner()),
    };
    let candidates = match table.get("candidates") {
        None => Some(1),
        Some(item) => item.integer(sink).and_then(|n| {
            let value = *n.get_ref();
            if (1..=i128::from(ApprovalSpec::MAX_CANDIDATES)).contains(&value) {
                Some(value as u32)
            } else {
                sink.push(
                    n.span(),
                    &item.path,
                    format!(
                        "must be between 1 and {} (one image per candidate is generated per run)",
                        ApprovalSpec::MAX_CANDIDATES
                    ),
                );
                None
            }
        }),
    };
    let lead_time = read_duration(&mut table, sink, "lead_time").map(|d| d.unwrap_or_default());
    let expires_after = read_duration(&mut table, sink, "expires_after")
        .map(|d| d.unwrap_or(ApprovalSpec::DEFAULT_EXPIRES_AFTER));
    let on_expiry = match table.get("on_expiry") {
        None => Some(OnExpiry::Discard),
        Some(item) => item.string(sink).and_then(|s| match s.get_ref().as_str() {
            "discard" => Some(OnExpiry::Discard),
            "publish" => Some(OnExpiry::Publish),
            other => {
                sink.push(
                    s.span(),
                    &item.path,
                    format!("unknown on_expiry `{other}`, expected `discard` or `publish`"),
                );
                None
            }
        }),
    };
    let approvers = match table.get("approvers") {
        None => Some(Vec::new()),
        Some(item) => read_approvers(&item, sink),
    };
    table.finish(sink);
    match (
        required,
        candidates,
        lead_time,
        expires_after,
        on_expiry,
        approvers,
    ) {
        (
            Some(required),
            Some(candidates),
            Some(lead_time),
            Some(expires_after),
            Some(on_expiry),
            Some(approvers),
        ) => Some(ApprovalSpec {
            required,
            candidates,
            lead_time,
            expires_after,
            on_expiry,
            approvers,
        }),
        _ => None,
    }
}

/// An optional duration field; `Some(None)` when absent, `None` when given but wrong.
fn read_duration(
    table: &mut Reader<'_, '_>,
    sink: &mut Sink<'_>,
    key: &'static str,
) -> Option<Option<Duration>> {
    let Some(item) = table.get(key) else {
        return Some(None);
    };
    let text = item.string(sink)?;
    match parse_duration(text.get_ref()) {
        Ok(d) if d > ApprovalSpec::MAX_DURATION => {
            sink.push(text.span(), &item.path, "at most 365 days");
            None
        }
        Ok(d) => Some(Some(d)),
        Err(e) => {
            sink.push(text.span(), &item.path, e);
            None
        }
    }
}

/// Email addresses, lowercased (users are stored that way), without duplicates.
fn read_approvers(item: &Item<'_, '_>, sink: &mut Sink<'_>) -> Option<Vec<String>> {
    let array = item.array(sink)?;
    let mut emails: Vec<String> = Vec::new();
    let mut complete = true;
    for (index, value) in array.iter().enumerate() {
        let element = Item {
            path: format!("{}[{index}]", item.path),
            value,
        };
        let Some(text) = element.string(sink) else {
            complete = false;
            continue;
        };
        let email = text.get_ref().trim().to_lowercase();
        let looks_like_email = email
            .split_once('@')
            .is_some_and(|(user, host)| !user.is_empty() && host.contains('.'));
        if !looks_like_email {
            sink.push(
                text.span(),
                &element.path,
                format!("`{}` is not an email address", text.get_ref()),
            );
            complete = false;
        } else if !emails.contains(&email) {
            emails.push(email);
        }
    }
    complete.then_some(emails)
}
