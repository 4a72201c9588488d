//! Request body schemas, keyed by route path: what each handler's body struct accepts, so a
//! client (or a fuzzer) can build a valid request from the document alone. Bodies that deny
//! unknown fields say `additionalProperties: false`; the OpenAI-shaped one does not (clients
//! send extra fields by default). A unit test keeps every key a route that reads a body.

use pressroom_core::PostEvent;
use utoipa::openapi::schema::{AdditionalProperties, SchemaFormat};
use utoipa::openapi::{ArrayBuilder, KnownFormat, ObjectBuilder, RefOr, Schema, Type};

use crate::auth::Role;

/// The inbound webhook adapters (`adapters::Adapter`; the unit test keeps them in step).
const ADAPTERS: &[&str] = &["ghost", "wordpress", "strapi", "generic"];

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
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
                ("name", string()),
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
                ("name", string()),
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
                    string().format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
                ),
            ],
            &[],
        ),
        "/v1/accounts/connect" => closed(
            vec![
                ("platform", string()),
                ("redirect_uri", string()),
                ("name", string()),
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
                    .items(string().enum_values(Some(PostEvent::ALL.map(PostEvent::as_str))))
                    .min_items(Some(1))
                    .description(Some("Event types; every event when absent")),
            )
        }
        "/v1/images/generations" => ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(
                "prompt",
                string().min_length(Some(1)).max_length(Some(4000)),
            )
            .property("model", string().max_length(Some(200)))
            .property("n", integer(1, Some(4)))
            .property(
                "size",
                string()
                    .pattern(Some("^[0-9]+x[0-9]+$"))
                    .description(Some("WIDTHxHEIGHT, multiples of 8, at most 4096")),
            )
            .property(
                "response_format",
                string().enum_values(Some(["url", "b64_json"])),
            )
            .property("user", string())
            .property("seed", integer(0, None))
            .property("steps", integer(1, Some(150)))
            .property("negative_prompt", string())
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
}
