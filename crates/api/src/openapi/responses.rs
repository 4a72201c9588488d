//! Response body schemas of the JSON routes, keyed by (method, path): the resources as the
//! handlers serialize them, and the list routes' pages of them, so a client knows the fields
//! and `response_schema_conformance` checks real shapes rather than "some object". Objects
//! list every field the handler always writes as required; they stay open to new fields
//! (adding one is not a breaking change). Routes not listed answer a plain object.

use utoipa::openapi::schema::SchemaType;
use utoipa::openapi::{ArrayBuilder, ObjectBuilder, Ref, RefOr, Schema, Type};

use super::bodies::ADAPTERS;
use super::params::{POST_STATES, RUN_STATES};
use crate::auth::Role;

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn opt_string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null]))
}

/// Milliseconds since the Unix epoch, or a count.
fn int() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Integer)
}

fn opt_int() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
}

fn boolean() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Boolean)
}

/// Stored JSON (variables, a spec, generation parameters): null if the stored text is corrupt.
fn any_json() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::AnyValue)
}

fn one_of(values: &[&str]) -> ObjectBuilder {
    string().enum_values(Some(values.iter().copied()))
}

fn array_of(item: impl Into<RefOr<Schema>>) -> ArrayBuilder {
    ArrayBuilder::new().items(item.into())
}

fn reference(name: &str) -> Ref {
    Ref::from_schema_name(name)
}

/// An object whose fields are all required (every field is always written, null or not).
fn object(props: Vec<(&str, RefOr<Schema>)>) -> ObjectBuilder {
    let mut b = ObjectBuilder::new().schema_type(Type::Object);
    for (name, schema) in props {
        b = b.property(name, schema).required(name);
    }
    b
}

fn p(name: &str, schema: impl Into<RefOr<Schema>>) -> (&str, RefOr<Schema>) {
    (name, schema.into())
}

fn workspace() -> ObjectBuilder {
    object(vec![
        p("id", string()),
        p("slug", string()),
        p("name", string()),
        p("created_at", int()),
    ])
}

fn campaign() -> ObjectBuilder {
    object(vec![
        p("id", string()),
        p("name", string()),
        p("enabled", boolean()),
        p("spec", any_json().description(Some("The parsed campaign"))),
        p("source", string().description(Some("The TOML source"))),
        p("created_at", int()),
        p("updated_at", int()),
    ])
}

fn run() -> ObjectBuilder {
    object(vec![
        p("id", string()),
        p("campaign_id", string()),
        p("trigger", string()),
        p("state", one_of(RUN_STATES)),
        p("variables", any_json()),
        p("prompt", opt_string()),
        p("caption", opt_string()),
        p("asset_id", opt_string()),
        p("error", opt_string()),
        p("fire_at", int()),
        p("created_at", int()),
        p("updated_at", int()),
    ])
}

fn post() -> ObjectBuilder {
    object(vec![
        p("id", string()),
        p("workspace_id", string()),
        p("run_id", string()),
        p("account_id", string()),
        p("rendition_id", string()),
        p("platform", string()),
        p("preset", string()),
        p("caption", string()),
        p("state", one_of(POST_STATES)),
        p("remote_id", opt_string()),
        p("url", opt_string()),
        p("error", opt_string()),
        p("created_at", int()),
        p("updated_at", int()),
    ])
}

fn attempt() -> ObjectBuilder {
    object(vec![
        p("id", string()),
        p("workspace_id", string()),
        p("post_id", string()),
        p(
            "state",
            one_of(&pressroom_core::AttemptState::ALL.map(pressroom_core::AttemptState::as_str)),
        ),
        p("checkpoint", opt_string()),
        p("remote_id", opt_string()),
        p("url", opt_string()),
        p("error_code", opt_string()),
        p("error", opt_string()),
        p("commit_started_at", opt_int()),
        p("created_at", int()),
        p("updated_at", int()),
    ])
}

fn asset() -> ObjectBuilder {
    object(vec![
        p("id", string()),
        p("sha256", string()),
        p(
            "bytes",
            opt_int()
                .minimum(Some(0))
                .description(Some("Null when the file is gone")),
        ),
        p("mime", string()),
        p("width", int()),
        p("height", int()),
        p("generator", string()),
        p("generation_key", string()),
        p("params", any_json()),
        p("created_at", int()),
        p("image_url", string()),
    ])
}

fn account() -> ObjectBuilder {
    object(vec![
        p("id", string()),
        p("platform", string()),
        p("name", string()),
        p("external_id", string()),
        p("state", string()),
        p("state_reason", opt_string()),
        p("expires_at", opt_int()),
        p("created_at", int()),
        p("updated_at", int()),
    ])
}

fn api_key() -> ObjectBuilder {
    object(vec![
        p("id", string()),
        p(
            "workspace_id",
            opt_string().description(Some("Null for an instance-admin key")),
        ),
        p("role", one_of(&Role::ALL.map(Role::as_str))),
        p("prefix", string()),
        p("name", string()),
        p("created_at", int()),
        p("last_used_at", opt_int()),
        p("revoked_at", opt_int()),
    ])
}

fn audit_entry() -> ObjectBuilder {
    object(vec![
        p("id", string()),
        p("actor", string()),
        p("action", string()),
        p("subject", string()),
        p("detail", any_json()),
        p("created_at", int()),
    ])
}

fn hook() -> ObjectBuilder {
    object(vec![
        p("id", string()),
        p("campaign_id", string()),
        p("adapter", one_of(ADAPTERS)),
        p("mapping", any_json()),
        p(
            "path",
            string().description(Some("Where the CMS sends deliveries")),
        ),
        p("created_at", int()),
    ])
}

fn webhook_endpoint() -> ObjectBuilder {
    let events = pressroom_core::PostEvent::ALL.map(pressroom_core::PostEvent::as_str);
    object(vec![
        p("id", string()),
        p("url", string()),
        p("events", array_of(one_of(&events))),
        p("description", string()),
        p("enabled", boolean()),
        p("disabled_reason", opt_string()),
        p("created_at", int()),
    ])
}

/// A secret or key shown once, beside the resource it belongs to.
fn with_secret(b: ObjectBuilder, name: &str, description: &str) -> ObjectBuilder {
    b.property(name, string().description(Some(description)))
        .required(name)
}

/// The named component schemas (`#/components/schemas/{name}`).
pub(super) fn components() -> Vec<(&'static str, ObjectBuilder)> {
    vec![
        ("Workspace", workspace()),
        ("Campaign", campaign()),
        ("Run", run()),
        ("Post", post()),
        ("Attempt", attempt()),
        ("Asset", asset()),
        ("Account", account()),
        ("ApiKey", api_key()),
        ("AuditEntry", audit_entry()),
        ("Hook", hook()),
        ("WebhookEndpoint", webhook_endpoint()),
    ]
}

/// The item schema of the paged list route at `path`.
fn page_item(path: &str) -> Option<&'static str> {
    Some(match path {
        "/v1/workspaces" => "Workspace",
        "/v1/campaigns" => "Campaign",
        "/v1/runs" => "Run",
        "/v1/assets" => "Asset",
        "/v1/posts" => "Post",
        "/v1/accounts" => "Account",
        "/v1/keys" => "ApiKey",
        "/v1/audit" => "AuditEntry",
        "/v1/hooks" => "Hook",
        "/v1/webhook-endpoints" => "WebhookEndpoint",
        _ => return None,
    })
}

/// A page: `data` and, unless this is the last page, `next_cursor`.
fn page(item: RefOr<Schema>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("data", array_of(item))
        .required("data")
        .property(
            "next_cursor",
            string().description(Some(
                "Pass as `cursor` for the next page; absent on the last",
            )),
        )
}

/// The 2xx JSON body of `method path`, when documented more precisely than "an object".
pub(super) fn ok_schema(method: &str, path: &str, paged: bool) -> Option<RefOr<Schema>> {
    if paged {
        let item: RefOr<Schema> = match page_item(path) {
            Some(name) => reference(name).into(),
            None => ObjectBuilder::new().schema_type(Type::Object).into(),
        };
        return Some(page(item).into());
    }
    let named = |name: &str| Some(RefOr::Ref(reference(name)));
    let built = |b: ObjectBuilder| Some(RefOr::T(Schema::Object(b.build())));
    match (method, path) {
        ("POST", "/v1/workspaces") | ("GET", "/v1/workspaces/current") => named("Workspace"),
        ("POST", "/v1/campaigns")
        | ("GET", "/v1/campaigns/{id}")
        | ("POST", "/v1/campaigns/{id}/pause")
        | ("POST", "/v1/campaigns/{id}/resume") => named("Campaign"),
        ("GET", "/v1/runs/{id}") => named("Run"),
        ("GET", "/v1/assets/{id}") => named("Asset"),
        ("POST", "/v1/posts/{id}/retry") | ("POST", "/v1/posts/{id}/cancel") => named("Post"),
        ("GET", "/v1/posts/{id}") => built(
            post()
                .property("attempts", array_of(attempt()))
                .required("attempts"),
        ),
        ("POST", "/v1/accounts/{id}/disconnect") => named("Account"),
        ("POST", "/v1/keys") | ("POST", "/v1/workspaces/{workspace_id}/keys") => built(
            with_secret(api_key(), "key", "The key itself (prk_…); not shown again"),
        ),
        ("POST", "/v1/hooks") => built(with_secret(
            hook(),
            "secret",
            "whsec_…: configure it in the CMS; not shown again",
        )),
        ("POST", "/v1/webhook-endpoints") => built(with_secret(
            webhook_endpoint(),
            "secret",
            "whsec_…: verify deliveries with it; not shown again",
        )),
        ("POST", "/v1/campaigns/{id}/trigger") => built(object(vec![
            p("run_id", string()),
            p(
                "created",
                boolean().description(Some("False when this fire key had already fired")),
            ),
        ])),
        ("DELETE", "/v1/campaigns/{id}") => built(object(vec![
            p("id", string()),
            p("deleted", boolean()),
            p(
                "withdrawn",
                object(vec![
                    p("jobs", int().minimum(Some(0))),
                    p("posts", int().minimum(Some(0))),
                    p("runs", int().minimum(Some(0))),
                ]),
            ),
        ])),
        ("POST", "/v1/campaigns/validate") => {
            let issue = object(vec![
                p("line", int().minimum(Some(0))),
                p("column", int().minimum(Some(0))),
                p("field", string()),
                p("message", string()),
            ]);
            built(
                object(vec![p("valid", boolean()), p("issues", array_of(issue))])
                    .property("name", string().description(Some("When valid"))),
            )
        }
        ("GET", "/v1/usage") => built(object(vec![p(
            "data",
            array_of(object(vec![
                p(
                    "day",
                    string().format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::Date,
                    ))),
                ),
                p("images_generated", int().minimum(Some(0))),
                p("posts_published", int().minimum(Some(0))),
            ])),
        )])),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::ROUTES;

    #[test]
    fn every_page_has_an_item_schema_and_every_key_is_a_route() {
        for spec in ROUTES.iter().filter(|r| r.paged) {
            assert!(
                page_item(spec.path).is_some(),
                "{spec:?} has no item schema"
            );
        }
        let names: Vec<&str> = components().iter().map(|(n, _)| *n).collect();
        for spec in ROUTES {
            if let Some(RefOr::Ref(r)) = ok_schema(spec.method.as_str(), spec.path, spec.paged) {
                let name = r.ref_location.rsplit('/').next().unwrap_or_default();
                assert!(names.contains(&name), "{spec:?}: no component {name}");
            }
        }
    }
}
