//! Reading `[variables]`: free-form TOML, handed to templates as JSON.

use std::collections::BTreeMap;

use toml::de::DeValue;

use super::context::RESERVED_VARIABLES;
use super::reader::{Reader, Sink};

/// Any TOML table, converted to JSON for the template context; the names the run
/// provides are refused so that a variable can never be shadowed silently.
pub(crate) fn read_variables(
    table: Reader<'_, '_>,
    sink: &mut Sink<'_>,
) -> BTreeMap<String, serde_json::Value> {
    let path = table.child_path("");
    let mut variables = BTreeMap::new();
    for (key, span, value) in table.entries() {
        if RESERVED_VARIABLES.contains(&key) {
            sink.push(
                span,
                &format!("{path}{key}"),
                format!("`{key}` is reserved for what the run provides"),
            );
        } else {
            variables.insert(key.to_owned(), to_json(value));
        }
    }
    variables
}

fn to_json(value: &DeValue<'_>) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        DeValue::String(s) => J::String(s.to_string()),
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
            .map(J::from)
            .unwrap_or_else(|_| J::String(i.to_string())),
        DeValue::Float(f) => f
            .as_str()
            .replace('_', "")
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| J::String(f.to_string()), J::Number),
        DeValue::Boolean(b) => J::Bool(*b),
        DeValue::Datetime(d) => J::String(d.to_string()),
        DeValue::Array(a) => J::Array(a.iter().map(|v| to_json(v.get_ref())).collect()),
        DeValue::Table(t) => J::Object(
            t.iter()
                .map(|(k, v)| (k.get_ref().to_string(), to_json(v.get_ref())))
                .collect(),
        ),
    }
}
