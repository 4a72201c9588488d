//! What the route table does not say about a route: its query parameters (beyond the paging
//! `limit`/`cursor`) and the media types of routes that answer bytes rather than JSON. Keyed
//! by the route's path; a unit test keeps every key a real route.

use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{ObjectBuilder, Required, Type};

/// One query parameter.
pub(super) struct QueryParam {
    pub name: &'static str,
    pub integer: bool,
    pub required: bool,
    pub description: &'static str,
    /// Allowed values (empty: any).
    pub values: &'static [&'static str],
    /// Inclusive bounds for integers.
    pub range: Option<(i64, i64)>,
}

const fn text(name: &'static str, description: &'static str) -> QueryParam {
    QueryParam {
        name,
        integer: false,
        required: false,
        description,
        values: &[],
        range: None,
    }
}

pub(super) const RUN_STATES: &[&str] = &["queued", "generated", "failed", "missed"];
pub(super) const POST_STATES: &[&str] = &[
    "pending",
    "publishing",
    "published",
    "failed",
    "needs_reconnect",
    "unknown",
    "cancelled",
];

/// The query of a signed media link (`/media/…?exp=&sig=`).
const SIGNED_LINK: &[QueryParam] = &[
    QueryParam {
        integer: true,
        required: true,
        ..text(
            "exp",
            "When the link expires (Unix seconds); part of the signature.",
        )
    },
    QueryParam {
        required: true,
        ..text("sig", "The link's signature, minted by the daemon.")
    },
];

/// (path, its query parameters)
const QUERY: &[(&str, &[QueryParam])] = &[
    ("/media/{rendition_id}", SIGNED_LINK),
    ("/media/assets/{asset_id}", SIGNED_LINK),
    (
        "/v1/oauth/callback",
        &[
            QueryParam {
                required: true,
                ..text(
                    "state",
                    "The one-time state of the connect this API started.",
                )
            },
            text("code", "The authorization code the platform granted."),
            text("error", "The platform's error when consent was refused."),
            text("error_description", "The platform's words for that error."),
        ],
    ),
    (
        "/v1/usage",
        &[QueryParam {
            integer: true,
            range: Some((1, 366)),
            ..text("days", "How many days back, today included (default 30).")
        }],
    ),
    (
        "/v1/runs",
        &[
            text("campaign_id", "Only this campaign's runs."),
            QueryParam {
                values: RUN_STATES,
                ..text("state", "Only runs in this state.")
            },
        ],
    ),
    (
        "/v1/posts",
        &[
            text("run_id", "Only this run's posts."),
            QueryParam {
                values: POST_STATES,
                ..text("state", "Only posts in this state.")
            },
        ],
    ),
    (
        "/v1/assets",
        &[text(
            "run_id",
            "Only the image this run generated or reused, and those its renditions came from.",
        )],
    ),
];

/// Routes that answer image bytes, with the media types they may carry.
const BINARY: &[(&str, &[&str])] = &[
    (
        "/media/{rendition_id}",
        &["image/jpeg", "image/png", "image/webp"],
    ),
    (
        "/media/assets/{asset_id}",
        &["image/png", "image/jpeg", "image/webp"],
    ),
    (
        "/v1/assets/{id}/image",
        &["image/png", "image/jpeg", "image/webp"],
    ),
];

pub(super) fn query_params(path: &str) -> Vec<Parameter> {
    QUERY
        .iter()
        .filter(|(p, _)| *p == path)
        .flat_map(|(_, params)| params.iter())
        .map(parameter)
        .collect()
}

pub(super) fn binary_types(path: &str) -> Option<&'static [&'static str]> {
    BINARY.iter().find(|(p, _)| *p == path).map(|(_, t)| *t)
}

fn parameter(p: &QueryParam) -> Parameter {
    let mut schema = ObjectBuilder::new().schema_type(if p.integer {
        Type::Integer
    } else {
        Type::String
    });
    if !p.values.is_empty() {
        schema = schema.enum_values(Some(p.values.iter().copied()));
    }
    if let Some((min, max)) = p.range {
        schema = schema.minimum(Some(min)).maximum(Some(max));
    }
    ParameterBuilder::new()
        .name(p.name)
        .parameter_in(ParameterIn::Query)
        .required(if p.required {
            Required::True
        } else {
            Required::False
        })
        .description(Some(p.description))
        .schema(Some(schema))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::ROUTES;

    #[test]
    fn every_key_is_a_route_and_states_match_the_domain() {
        for path in QUERY
            .iter()
            .map(|(p, _)| *p)
            .chain(BINARY.iter().map(|(p, _)| *p))
        {
            assert!(
                ROUTES.iter().any(|r| r.path == path),
                "{path} is not a route"
            );
        }
        let posts: Vec<&str> = pressroom_core::PostState::ALL
            .iter()
            .map(|s| s.as_str())
            .collect();
        assert_eq!(posts, POST_STATES);
        let runs: Vec<&str> = pressroom_core::RunState::ALL
            .iter()
            .map(|s| s.as_str())
            .collect();
        assert_eq!(runs, RUN_STATES);
    }
}
