//! Reading Graph `/{id}/insights?metric=a,b,c` answers, what the Facebook and Instagram
//! connectors share of fetch-back (PLATFORMS.md §9.1, §9.2): the `data[].values[0].value` of
//! each metric (a number, or an object whose parts are summed or picked), and the #100
//! fallback. One invalid or deprecated name fails the whole request with `(#100) ...`, so on
//! #100 the names are asked one by one and those still refused are reported, never fatal.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use pressroom_connector::ConnectorError;
use serde_json::{Value, json};

use crate::GraphError;

/// A failed Graph call as fetch-back needs it: the Graph error body when there was one (to
/// tell an unknown metric or a deleted object from other refusals) beside what it maps to.
#[derive(Debug)]
pub struct Refusal {
    pub graph: Option<GraphError>,
    pub error: ConnectorError,
}

impl From<ConnectorError> for Refusal {
    fn from(error: ConnectorError) -> Self {
        Self { graph: None, error }
    }
}

impl Refusal {
    /// `(#100)` about a metric name: "The value must be a valid insights metric" (Facebook),
    /// "metric[0] must be one of the following values" or "does not support the impressions
    /// metric" (Instagram). Not a deleted object (subcode 33) nor another bad parameter.
    pub fn is_unknown_metric(&self) -> bool {
        self.graph.as_ref().is_some_and(|g| {
            g.code == 100
                && g.error_subcode != Some(33)
                && g.message.to_ascii_lowercase().contains("metric")
        })
    }

    /// The object is gone: code 100 with subcode 33, or Graph's "does not exist".
    pub fn is_gone(&self) -> bool {
        self.graph.as_ref().is_some_and(|g| {
            g.code == 100 && (g.error_subcode == Some(33) || g.message.contains("does not exist"))
        })
    }

    /// The Graph error code, when there was a Graph error body.
    pub fn code(&self) -> Option<i64> {
        self.graph.as_ref().map(|g| g.code)
    }

    /// The Graph error message, empty without a Graph error body.
    pub fn message(&self) -> &str {
        self.graph
            .as_ref()
            .map(|g| g.message.as_str())
            .unwrap_or("")
    }
}

/// What one post's insights requests read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Insights {
    /// The answer as Meta sent it (after a fallback: the `data` entries of every call, merged).
    pub raw: Value,
    /// `values[0].value` of each metric Meta answered, by its name.
    pub values: BTreeMap<String, Value>,
    /// Names Meta refused with #100, asked alone.
    pub unknown: Vec<String>,
    /// How many names were asked (0 when every name was already known refused).
    pub asked: usize,
}

impl Insights {
    /// Meta answered no metric (empty `data`): no data yet, or no permission to read it.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Meta knows none of the names: every one asked was refused, or none was left to ask.
    /// Then an empty answer says nothing about the post or the permission.
    pub fn all_refused(&self) -> bool {
        self.unknown.len() == self.asked
    }

    /// The metric `name` as one count: a number, or the sum of an object's numbers.
    pub fn count(&self, name: &str) -> Option<u64> {
        self.values.get(name).and_then(count)
    }

    /// The part `key` of an object metric (`post_activity_by_action_type`'s `comment`). Meta
    /// leaves zero parts out, so an absent part of an answered object is 0.
    pub fn part(&self, name: &str, key: &str) -> Option<u64> {
        match self.values.get(name)? {
            Value::Object(m) => Some(m.get(key).and_then(number).unwrap_or(0)),
            _ => None,
        }
    }
}

/// A count: a JSON number (non-negative, rounded), or the sum of an object's numbers.
pub fn count(v: &Value) -> Option<u64> {
    match v {
        Value::Object(m) => Some(m.values().filter_map(number).fold(0, u64::saturating_add)),
        other => number(other),
    }
}

fn number(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f.round() as u64)
    })
}

/// `values[0].value` of each entry of an insights answer's `data`, by `name`.
pub fn values(answer: &Value) -> BTreeMap<String, Value> {
    data(answer)
        .iter()
        .filter_map(|e| {
            let name = e.get("name").and_then(Value::as_str)?;
            let value = e.pointer("/values/0/value")?;
            Some((name.to_owned(), value.clone()))
        })
        .collect()
}

fn data(answer: &Value) -> &[Value] {
    answer
        .get("data")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Asks for `names` (less those in `refused`, known unknown from an earlier post) with
/// `get(metric_list)`. On an unknown-metric #100 every name is asked alone; the names still
/// refused end in [`Insights::unknown`] (and are added to `refused`). Any other refusal is
/// the caller's to read.
///
/// # Errors
/// The first refusal that is not an unknown metric.
pub async fn fetch<F, Fut>(
    names: &[&str],
    refused: &mut BTreeSet<String>,
    mut get: F,
) -> Result<Insights, Refusal>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<Value, Refusal>>,
{
    let ask: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !refused.contains(*n))
        .collect();
    if ask.is_empty() {
        return Ok(Insights {
            raw: json!({ "data": [] }),
            ..Insights::default()
        });
    }
    match get(ask.join(",")).await {
        Ok(raw) => {
            return Ok(Insights {
                values: values(&raw),
                raw,
                unknown: Vec::new(),
                asked: ask.len(),
            });
        }
        Err(r) if r.is_unknown_metric() => {}
        Err(r) => return Err(r),
    }
    let mut out = Insights {
        asked: ask.len(),
        ..Insights::default()
    };
    let mut entries = Vec::new();
    for name in ask {
        match get(name.to_owned()).await {
            Ok(raw) => {
                out.values.extend(values(&raw));
                entries.extend(data(&raw).iter().cloned());
            }
            Err(r) if r.is_unknown_metric() => {
                refused.insert(name.to_owned());
                out.unknown.push(name.to_owned());
            }
            Err(r) => return Err(r),
        }
    }
    out.raw = json!({ "data": entries });
    Ok(out)
}

#[cfg(test)]
mod tests;
