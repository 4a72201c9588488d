//! Request body schemas, keyed by route path: what each handler's body struct accepts, so a
//! client (or a fuzzer) can build a valid request from the document alone. Bodies that deny
//! unknown fields say `additionalProperties: false`; the OpenAI-shaped one does not (clients
//! send extra fields by default). A unit test keeps every key a route that reads a body.
//!
//! Optional fields the handler reads as `Option<T>` take JSON `null` as "absent" (serde does),
//! so they are documented as `[T, "null"]`; optional fields with a default (`variables`,
//! `mapping`, `description`) refuse `null` and are documented as plain `T`.

use pressroom_core::PostEvent;
use utoipa::openapi::schema::{AdditionalProperties, SchemaFormat, SchemaType};
use utoipa::openapi::{ArrayBuilder, KnownFormat, ObjectBuilder, RefOr, Schema, Type};

use crate::auth::Role;

/// The inbound webhook adapters (`adapters::Adapter`; the unit test keeps them in step).
pub(super) const ADAPTERS: &[&str] = &["ghost", "wordpress", "strapi", "generic"];

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// A `T` or `null` (an `Option<T>` field: null reads as absent).
fn or_null(ty: Type) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::from_iter([ty, Type::Null]))
}

/// A string or `null`.
fn opt_string() -> ObjectBuilder {
    or_null(Type::String)
}

/// An integer in `min..=max` (no upper bound when `max` is None), or `null`.
fn opt_integer(min: i64, max: Option<i64>) -> ObjectBuilder {
    integer(min, max).schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
}

/// One of `values`, or `null` (`enum` must list null too, or it would refuse it).
fn opt_enum(values: &[&str]) -> ObjectBuilder {
    let values = values
        .iter()
        .map(|v| serde_json::Value::from(*v))
        .chain([serde_json::Value::Null]);
    opt_string().enum_values(Some(values))
}

fn integer(min: i64, max: Option<i64>) -> ObjectBuilder {
    let b = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(min));
    match max {
        Some(max) => b.maximum(Some(max)),
        None => b,
    }
}

/// Any JSON object (template variables, field mappings).
fn free_object() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Object)
}

/// An object with these properties that refuses any other.
fn closed(props: Vec<(&str, ObjectBuilder)>, required: &[&str]) -> ObjectBuilder {
    let mut b = ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    for (name, schema) in props {
        b = b.property(name, schema);
    }
    for name in required {
        b = b.required(*name);
    }
    b
}

/// The JSON body schema of the route at `path`, when the route reads a documented body.
pub(super) fn json_schema(path: &str) -> Option<RefOr<Schema>> {
    let schema = match path {
        "/v1/workspaces" => closed(
            vec![
                (
                    "slug",
                    string()
                        .pattern(Some("^[a-z0-9-]{1,63}$"))
                        .description(Some("Lowercase letters, digits and dashes")),
                ),
                (
                    "name",
                    opt_string().description(Some("Defaults to the slug")),
                ),
            ],
            &["slug"],
        ),
        "/v1/workspaces/{workspace_id}/keys" | "/v1/keys" => closed(
            vec![
                (
                    "role",
                    string().enum_values(Some(
                        Role::ALL
                            .into_iter()
                            .filter(|r| *r != Role::InstanceAdmin)
                            .map(Role::as_str),
                    )),
                ),
                ("name", opt_string()),
            ],
            &["role"],
        ),
        "/v1/workspaces/current/erase" => closed(
            vec![(
                "confirm",
                string().description(Some("The workspace's slug, typed again")),
            )],
            &["confirm"],
        ),
        "/v1/campaigns" | "/v1/campaigns/validate" => closed(
            vec![(
                "source",
                string().description(Some("The campaign's TOML source")),
            )],
            &["source"],
        ),
        "/v1/campaigns/{id}/trigger" => closed(
            vec![(
                "variables",
                free_object().description(Some("Override the campaign's [variables]")),
            )],
            &[],
        ),
        "/v1/campaigns/{id}/preview" => closed(
            vec![
                ("variables", free_object()),
                (
                    "fire_at",
                    opt_string()
                        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
                        .description(Some("RFC 3339; now when absent or null")),
                ),
            ],
            &[],
        ),
        "/v1/accounts/connect" => closed(
            vec![
                ("platform", string()),
                ("redirect_uri", opt_string()),
                ("name", opt_string()),
            ],
            &["platform"],
        ),
        "/v1/hooks" => closed(
            vec![
                ("campaign_id", string()),
                (
                    "adapter",
                    string().enum_values(Some(ADAPTERS.iter().copied())),
                ),
                ("mapping", free_object()),
            ],
            &["campaign_id", "adapter"],
        ),
        "/v1/webhook-endpoints" => {
            closed(vec![("url", string()), ("description", string())], &["url"]).property(
                "events",
                ArrayBuilder::new()
                    .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
                    .items(string().enum_values(Some(PostEvent::ALL.map(PostEvent::as_str))))
                    .min_items(Some(1))
                    .description(Some("Event types; every event when absent or null")),
            )
        }
        "/v1/images/generations" => ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(
                "prompt",
                string()
                    .min_length(Some(1))
                    .max_length(Some(4000))
                    // Not only whitespace: the generator refuses a blank prompt.
                    .pattern(Some("\\S")),
            )
            .property("model", opt_string().max_length(Some(200)))
            .property("n", opt_integer(1, Some(4)))
            .property(
                "size",
                opt_string()
                    .pattern(Some("^[0-9]+x[0-9]+$"))
                    .description(Some("WIDTHxHEIGHT, multiples of 8, at most 4096")),
            )
            .property("response_format", opt_enum(&["url", "b64_json"]))
            .property("user", opt_string())
            .property("seed", opt_integer(0, None))
            .property("steps", opt_integer(1, Some(150)))
            .property("negative_prompt", opt_string())
            .required("prompt"),
        _ => return None,
    };
    Some(RefOr::T(Schema::Object(schema.build())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::ROUTES;

    #[test]
    fn every_body_route_but_the_signed_hook_has_a_schema() {
        for spec in ROUTES.iter().filter(|r| r.body) {
            let documented = json_schema(spec.path).is_some();
            assert_eq!(
                documented,
                spec.path != "/v1/hooks/{hook_id}",
                "{spec:?}: body schema documented = {documented}"
            );
        }
        for name in ADAPTERS {
            let adapter = crate::adapters::Adapter::parse(name);
            assert_eq!(adapter.map(|a| a.as_str()), Some(*name));
        }
    }

    #[test]
    fn option_fields_take_null_and_defaulted_fields_do_not() {
        let props = |path: &str| {
            serde_json::to_value(json_schema(path)).unwrap_or_default()["properties"].clone()
        };
        let images = props("/v1/images/generations");
        assert_eq!(images["prompt"]["type"], "string");
        assert_eq!(images["n"]["type"], serde_json::json!(["integer", "null"]));
        let formats = images["response_format"]["enum"].as_array().cloned();
        assert!(formats.is_some_and(|f| f.contains(&serde_json::Value::Null)));
        let trigger = props("/v1/campaigns/{id}/trigger");
        assert_eq!(trigger["variables"]["type"], "object");
        let endpoints = props("/v1/webhook-endpoints");
        assert_eq!(
            endpoints["events"]["type"],
            serde_json::json!(["array", "null"])
        );
        assert_eq!(endpoints["description"]["type"], "string");
    }
}
