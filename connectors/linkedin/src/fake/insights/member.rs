//! `GET /rest/memberCreatorPostAnalytics?q=entity&entity=(share:{urn})&queryType=…
//! &aggregation=TOTAL` (ugcPost: `(ugc:{urn})`): the token's member's own post, scope
//! `r_member_postAnalytics`, exactly one known `queryType`; `metricType` a plain string from
//! `LinkedIn-Version` 202605, the one-key union object before. A post without that number
//! answers empty `elements`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{RawQuery, State as AxState};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::super::Shared;
use super::super::routes::{li_error, rest_caller};
use super::{
    METRIC_TYPE_UNION, STRING_METRIC_TYPE_FROM, not_found, param, raw_params, resource_version,
    restli_urn,
};

type S = AxState<Arc<Shared>>;

/// `metricType` in the shape the request's `LinkedIn-Version` gets.
fn metric_type(version: &str, query_type: &str) -> Value {
    if version >= STRING_METRIC_TYPE_FROM {
        json!(query_type)
    } else {
        json!({ METRIC_TYPE_UNION: query_type })
    }
}

/// `(share:{encoded urn})` or `(ugc:{encoded urn})` → the element key and the URN.
fn entity(raw: &str) -> Option<(&'static str, String)> {
    let inner = raw.strip_prefix('(')?.strip_suffix(')')?;
    let (kind, urn) = inner.split_once(':')?;
    let urn = restli_urn(urn)?;
    match kind {
        "share" if urn.starts_with("urn:li:share:") => Some(("share", urn)),
        "ugc" if urn.starts_with("urn:li:ugcPost:") => Some(("ugc", urn)),
        _ => None,
    }
}

pub(in crate::fake) async fn member_analytics(
    AxState(sh): S,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let st = sh.state();
    let t = match rest_caller(&st, &headers) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    if !t.has_scope("r_member_postAnalytics") {
        return li_error(
            403,
            Some(100),
            Some("ACCESS_DENIED"),
            &format!(
                "Not enough permissions to access: memberCreatorPostAnalytics.FINDER-entity.{}",
                resource_version(&headers)
            ),
        );
    }
    let params = raw_params(query.as_deref().unwrap_or(""));
    if param(&params, "q") != Some("entity") {
        return li_error(400, None, None, "Unsupported finder");
    }
    let types: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k == "queryType")
        .map(|(_, v)| v.as_str())
        .collect();
    let [query_type] = types.as_slice() else {
        return li_error(
            400,
            None,
            None,
            &format!(
                "ERROR :: /queryType :: exactly one queryType is required, got {}",
                types.len()
            ),
        );
    };
    if !st.opts.member_query_types.iter().any(|q| q == query_type) {
        return li_error(
            400,
            None,
            None,
            &format!("ERROR :: /queryType :: Invalid value {query_type} for queryType"),
        );
    }
    match param(&params, "aggregation") {
        None | Some("TOTAL") => {}
        Some(other) => {
            // DAILY (with dateRange) exists at LinkedIn; the fake models lifetime totals only.
            return li_error(
                400,
                None,
                None,
                &format!("ERROR :: /aggregation :: {other} is not served by this fake"),
            );
        }
    }
    let Some((key, urn)) = param(&params, "entity").and_then(entity) else {
        return li_error(
            400,
            None,
            None,
            "ERROR :: /entity :: expected (share:{encoded urn}) or (ugc:{encoded urn})",
        );
    };
    let Some(post) = st.posts.iter().find(|p| p.id == urn) else {
        return not_found(&urn);
    };
    if post.author != format!("urn:li:person:{}", t.member) {
        return li_error(
            403,
            Some(100),
            Some("ACCESS_DENIED"),
            &format!("Not enough permissions to access the analytics of {urn}"),
        );
    }
    let version = headers
        .get("linkedin-version")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let elements: Vec<Value> = st
        .stats
        .get(&urn)
        .and_then(|c| c.get(*query_type))
        .map(|n| {
            json!({ "count": n, "metricType": metric_type(version, query_type),
                "targetEntity": { key: urn } })
        })
        .into_iter()
        .collect();
    let n = elements.len();
    Json(json!({ "paging": { "start": 0, "count": n, "links": [] }, "elements": elements }))
        .into_response()
}
