//! The OpenAPI 3.1 document, built with utoipa from the route table, so the document lists
//! exactly the routes the router serves, with their security and error responses.

use std::sync::OnceLock;

mod bodies;
mod params;
mod responses;

use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, ObjectBuilder, OpenApiBuilder, Paths, Ref,
    Required, ResponseBuilder, Type,
};

use crate::errors::Code;
use crate::routes::{Access, Method, ROUTES, RouteSpec};

const BEARER: &str = "bearer";
const SESSION: &str = "session";

/// The document as JSON (built once).
pub fn document() -> serde_json::Value {
    static DOC: OnceLock<serde_json::Value> = OnceLock::new();
    DOC.get_or_init(|| serde_json::to_value(build()).unwrap_or(serde_json::Value::Null))
        .clone()
}

fn build() -> utoipa::openapi::OpenApi {
    let mut paths = Paths::new();
    for spec in ROUTES {
        let method = match spec.method {
            Method::Get => HttpMethod::Get,
            Method::Post => HttpMethod::Post,
            Method::Delete => HttpMethod::Delete,
        };
        paths.add_path_operation(spec.path, vec![method], operation(spec));
    }
    let problem = ObjectBuilder::new()
        .property("type", ObjectBuilder::new().schema_type(Type::String))
        .property("title", ObjectBuilder::new().schema_type(Type::String))
        .property("status", ObjectBuilder::new().schema_type(Type::Integer))
        .property("detail", ObjectBuilder::new().schema_type(Type::String))
        .property(
            "code",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(Code::all().map(|(c, ..)| c))),
        )
        .required("type")
        .required("title")
        .required("status")
        .required("code");
    let mut components = ComponentsBuilder::new().schema("Problem", problem);
    for (name, schema) in responses::components()
        .into_iter()
        .chain(bodies::components())
    {
        components = components.schema(name, schema);
    }
    let components = components
        .security_scheme(
            BEARER,
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        )
        .security_scheme(
            SESSION,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::auth::SESSION_COOKIE,
            ))),
        )
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Pressroom control API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Campaigns in, generated images and published posts out. Authenticate with \
                     `Authorization: Bearer prk_…`; errors are RFC 9457 problem+json.",
                ))
                .build(),
        )
        .paths(paths)
        .components(Some(components))
        .build()
}

/// The documented body: its schema from [`bodies`], plus the raw TOML campaigns also accept.
fn request_body(spec: &RouteSpec) -> utoipa::openapi::request_body::RequestBody {
    if spec.path == "/v1/assets" {
        // An upload: the image's bytes in a form field, not JSON.
        let form = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(
                "file",
                ObjectBuilder::new().schema_type(Type::String).format(Some(
                    utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::Binary,
                    ),
                )),
            )
            .required("file");
        return RequestBodyBuilder::new()
            .content(
                "multipart/form-data",
                ContentBuilder::new().schema(Some(form)).build(),
            )
            .required(Some(Required::True))
            .build();
    }
    let schema = bodies::json_schema(spec.path);
    // Bodies that are all optional fields may be left out (an empty body reads as `{}`).
    let required = schema.as_ref().is_some_and(|s| match s {
        utoipa::openapi::RefOr::T(utoipa::openapi::Schema::Object(o)) => !o.required.is_empty(),
        _ => false,
    });
    let schema = schema.unwrap_or_else(|| ObjectBuilder::new().schema_type(Type::Object).into());
    let mut body = RequestBodyBuilder::new()
        .content(
            "application/json",
            ContentBuilder::new().schema(Some(schema)).build(),
        )
        .required(Some(if required {
            Required::True
        } else {
            Required::False
        }));
    if matches!(spec.path, "/v1/campaigns" | "/v1/campaigns/validate") {
        body = body.content(
            "application/toml",
            ContentBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .build(),
        );
    }
    body.build()
}

fn operation(spec: &RouteSpec) -> utoipa::openapi::path::Operation {
    let op_id = format!(
        "{}{}",
        spec.method.as_str().to_lowercase(),
        spec.path
            .replace(['/', '.', '-'], "_")
            .replace(['{', '}'], "")
    );
    let mut op = OperationBuilder::new()
        .summary(Some(spec.summary))
        .operation_id(Some(op_id));
    for name in spec.path_params() {
        op = op.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
        );
    }
    if spec.paged {
        for param in params::paging_params() {
            op = op.parameter(param);
        }
    }
    for param in params::query_params(spec.path) {
        op = op.parameter(param);
    }
    if spec.body {
        op = op.request_body(Some(request_body(spec)));
    }
    let ok_desc = spec.summary;
    let ok = if spec.ok == 204 {
        ResponseBuilder::new().description(ok_desc).build()
    } else if let Some(types) = params::binary_types(spec.path) {
        // Image bytes, not JSON.
        let mut resp = ResponseBuilder::new().description(ok_desc);
        for mime in types {
            resp = resp.content(
                *mime,
                ContentBuilder::new()
                    .schema(Some(
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .content_media_type(*mime),
                    ))
                    .build(),
            );
        }
        resp.build()
    } else if spec.path == "/metrics" {
        ResponseBuilder::new()
            .description(ok_desc)
            .content(
                "text/plain",
                ContentBuilder::new()
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                    .build(),
            )
            .build()
    } else {
        let schema = responses::ok_schema(spec.method.as_str(), spec.path, spec.paged)
            .unwrap_or_else(|| ObjectBuilder::new().schema_type(Type::Object).into());
        ResponseBuilder::new()
            .description(ok_desc)
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(schema)).build(),
            )
            .build()
    };
    if spec.method == crate::routes::Method::Post && spec.path == "/v1/assets" {
        // The same picture uploaded again answers its existing asset.
        let mut again = ok.clone();
        again.description = "The same picture was uploaded before: its asset".into();
        op = op.response("200", again);
    }
    op = op.response(spec.ok.to_string(), ok);
    // The review and invitation pages are for people: their refusals are pages too (problem+json only when the
    // database fails under it).
    let page = spec.path.starts_with("/review/") || spec.path.starts_with("/invite/");
    let problem = |desc: &str| {
        let mut resp = ResponseBuilder::new().description(desc).content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        );
        if page {
            resp = resp.content(
                "text/html",
                ContentBuilder::new()
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                    .build(),
            );
        }
        resp.build()
    };
    let mut errors: Vec<u16> = vec![400, 404, 413, 500];
    match spec.access {
        Access::Session => {
            op = op.security(SecurityRequirement::new(SESSION, Vec::<String>::new()));
            errors.extend([401, 403, 429]);
        }
        Access::Workspace(_) | Access::Instance => {
            op = op.security(SecurityRequirement::new(BEARER, Vec::<String>::new()));
            errors.extend([401, 403, 429]);
            if spec.method == Method::Post {
                errors.extend([409, 422]);
            }
        }
        Access::Signature => errors.push(401),
        Access::SignedLink if page => errors.extend([403, 409, 429]),
        Access::SignedLink => errors.push(403),
        // 403: the connect cookie of the starting browser is missing or different.
        Access::OAuthState => errors.extend([403, 503]),
        Access::Public => errors.push(503),
    }
    // Signing in: a wrong email or password, and too many of them.
    if matches!(spec.path, "/v1/sessions" | "/v1/invitations/accept") && spec.method == Method::Post
    {
        errors.extend([401, 429]);
    }
    if spec.path == "/v1/images/generations" {
        errors.extend([502, 503]);
    }
    if spec.path.starts_with("/v1/campaigns") {
        errors.extend([409, 422]);
    }
    errors.sort_unstable();
    errors.dedup();
    for status in errors {
        op = op.response(status.to_string(), problem("Error (problem+json)"));
    }
    op.build()
}

#[cfg(test)]
mod tests {
    /// Every `$ref` in the document (responses, bodies, parameters, components) names a
    /// component the document holds: the derived schemas name their id and state types.
    #[test]
    fn every_reference_resolves() {
        fn refs(v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::Object(m) => {
                    if let Some(serde_json::Value::String(r)) = m.get("$ref") {
                        out.push(r.clone());
                    }
                    m.values().for_each(|v| refs(v, out));
                }
                serde_json::Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let doc = super::document();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.len() > 20, "only {} references", found.len());
        for r in found {
            let pointer = r.trim_start_matches('#');
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
    }
}
