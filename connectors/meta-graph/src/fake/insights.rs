//! What both Graph fakes answer alike on `/{id}/insights` (PLATFORMS.md §9.7): the metric
//! names a request asks for, the lifetime answer in Meta's shape, and the #100 that one
//! invalid or deprecated name earns the whole request.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::GraphError;

/// Facebook's answer to an invalid or deprecated metric, for every version.
pub const INVALID_METRIC: &str = "(#100) The value must be a valid insights metric";

/// The names in the `metric` parameter (comma separated, blanks dropped), in order.
pub fn requested(params: &HashMap<String, String>) -> Vec<String> {
    params
        .get("metric")
        .map(|m| {
            m.split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// `{"data":[{name, period: "lifetime", values: [{value}], title, description, id}]}` for
/// `object`, one entry per `(name, value)`, in the order given.
pub fn answer(object: &str, metrics: &[(String, Value)]) -> Value {
    let data: Vec<Value> = metrics
        .iter()
        .map(|(name, value)| {
            json!({
                "name": name,
                "period": "lifetime",
                "values": [{ "value": value }],
                "title": title(name),
                "description": format!("Lifetime: {}", title(name)),
                "id": format!("{object}/insights/{name}/lifetime"),
            })
        })
        .collect();
    json!({ "data": data })
}

/// The empty answer Meta gives for "no data" (too early, or no permission to read it).
pub fn empty() -> Value {
    json!({ "data": [] })
}

/// A #100 about metric names (`message` says which, in the platform's words).
pub fn invalid_metric(message: &str) -> GraphError {
    GraphError::oauth(100, None, message)
}

fn title(name: &str) -> String {
    let mut t = name.replace('_', " ");
    if let Some(first) = t.get(..1) {
        let upper = first.to_ascii_uppercase();
        t.replace_range(..1, &upper);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_in_metas_shape_and_parses_back() {
        let a = answer(
            "1_2",
            &[
                ("post_media_view".into(), json!(340)),
                (
                    "post_reactions_by_type_total".into(),
                    json!({"like": 9, "love": 2}),
                ),
            ],
        );
        assert_eq!(a["data"][0]["period"], "lifetime");
        assert_eq!(a["data"][0]["id"], "1_2/insights/post_media_view/lifetime");
        assert_eq!(a["data"][0]["title"], "Post media view");
        let values = crate::insights::values(&a);
        assert_eq!(values["post_media_view"], json!(340));
        assert_eq!(
            crate::insights::count(&values["post_reactions_by_type_total"]),
            Some(11)
        );
        let params = HashMap::from([("metric".to_owned(), "a, b,,c".to_owned())]);
        assert_eq!(requested(&params), ["a", "b", "c"]);
        assert!(
            crate::insights::Refusal {
                graph: Some(invalid_metric(INVALID_METRIC)),
                error: pressroom_connector::ConnectorError::Rejected(String::new()),
            }
            .is_unknown_metric()
        );
    }
}
