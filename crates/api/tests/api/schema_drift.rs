//! The documented response schemas (crates/api/src/openapi/responses.rs, derived from the
//! handlers' view types) match what the handlers send: every JSON GET route a workspace
//! owner may call is called on a fixture world, and each object in the answer must carry the
//! schema's required fields and no field the schema does not list. The schemas stay open to
//! clients (new fields are not breaking), so schemathesis alone would not see a field added to
//! a view but not to the document.

use pressroom_api::{Access, Method, ROUTES, Role};
use serde_json::Value;

use crate::harness::TestApp;
use crate::matrix::fill;

/// `#/components/schemas/Name` → that schema.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix("#/components/schemas/")
            .and_then(|name| doc.pointer(&format!("/components/schemas/{name}")))
            .unwrap_or(&Value::Null),
        None => schema,
    }
}

/// Differences between `value` and `schema`, each with its JSON path.
fn check(doc: &Value, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    if schema.is_null() {
        out.push(format!("{at}: the schema has an unresolvable $ref"));
        return;
    }
    // A view that flattens another (a post with its attempts, a key with its secret): the
    // object must fit all parts together.
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        let mut properties = serde_json::Map::new();
        let mut required = Vec::new();
        for part in parts {
            let part = resolve(doc, part);
            if let Some(p) = part.get("properties").and_then(Value::as_object) {
                properties.extend(p.clone());
            }
            if let Some(r) = part.get("required").and_then(Value::as_array) {
                required.extend(r.iter().cloned());
            }
        }
        let merged = serde_json::json!({
            "type": "object",
            "properties": properties,
            "required": required,
        });
        check(doc, &merged, value, at, out);
        return;
    }
    for alt in ["oneOf", "anyOf"] {
        if let Some(alts) = schema.get(alt).and_then(Value::as_array) {
            // Fits when one alternative fits without differences.
            let fits = alts.iter().any(|s| {
                let mut none = Vec::new();
                check(doc, s, value, at, &mut none);
                none.is_empty()
            });
            if !fits {
                out.push(format!("{at}: fits no alternative of {alt}"));
            }
            return;
        }
    }
    match value {
        Value::Object(fields) => {
            let Some(props) = schema.get("properties").and_then(Value::as_object) else {
                return; // A free-form object (e.g. run variables).
            };
            for name in fields.keys() {
                if !props.contains_key(name) {
                    out.push(format!("{at}.{name}: sent but not in the schema"));
                }
            }
            for req in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !fields.contains_key(req) {
                    out.push(format!("{at}.{req}: required by the schema but not sent"));
                }
            }
            for (name, v) in fields {
                if let Some(s) = props.get(name) {
                    check(doc, s, v, &format!("{at}.{name}"), out);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    check(doc, item_schema, v, &format!("{at}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

pub async fn documented_responses_match_what_handlers_send(app: TestApp) -> anyhow::Result<()> {
    let w = app.world("drift").await?;
    let doc: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await?
        .json()
        .await?;
    let mut problems = Vec::new();
    let mut checked = 0;
    for spec in ROUTES {
        let owner_may = matches!(spec.access, Access::Workspace(min) if Role::Owner.allows(min));
        if spec.method != Method::Get || !owner_may {
            continue;
        }
        let pointer = format!(
            "/paths/{}/get/responses/200/content/application~1json/schema",
            spec.path.replace('~', "~0").replace('/', "~1")
        );
        let Some(schema) = doc.pointer(&pointer) else {
            continue; // Not a JSON answer (an image).
        };
        let resp = app
            .http
            .get(app.url(&fill(spec, &w)))
            .bearer_auth(w.key(Role::Owner))
            .send()
            .await?;
        anyhow::ensure!(resp.status() == 200, "GET {}: {}", spec.path, resp.status());
        let body: Value = resp.json().await?;
        check(
            &doc,
            schema,
            &body,
            &format!("GET {}", spec.path),
            &mut problems,
        );
        checked += 1;
    }
    anyhow::ensure!(checked >= 10, "only {checked} routes checked");
    anyhow::ensure!(
        problems.is_empty(),
        "responses and their documented schemas differ:\n{}",
        problems.join("\n")
    );
    Ok(())
}

on_both_backends!(documented_responses_match_what_handlers_send);
