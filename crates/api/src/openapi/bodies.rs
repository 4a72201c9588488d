//! Request body schemas, keyed by route path: derived from each handler's body type
//! (`ToSchema`), so a client (or a fuzzer) can build a valid request from the document alone
//! and the document says what the handler reads. Bodies that deny unknown fields say
//! `additionalProperties: false`; the OpenAI-shaped one does not (clients send extra fields by
//! default). A unit test keeps every key a route that reads a body.
//!
//! Optional fields the handler reads as `Option<T>` take JSON `null` as "absent" (serde does),
//! so they are documented as `[T, "null"]`; optional fields with a default (`variables`,
//! `mapping`, `description`) refuse `null` and are documented as plain `T`.

use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::handlers::campaigns::{SourceBody, TriggerBody};
use crate::handlers::connect::ConnectRequest;
use crate::handlers::hooks::NewHook;
use crate::handlers::images::ImagesRequest;
use crate::handlers::keys::NewKey;
use crate::handlers::members::NewMember;
use crate::handlers::new_posts::NewPost;
use crate::handlers::preview::PreviewBody;
use crate::handlers::reviews::{ApproveBody, NewReviewLink, RejectBody};
use crate::handlers::sessions::{AcceptInvitation, SignIn};
use crate::handlers::webhook_endpoints::NewEndpoint;
use crate::handlers::workspaces::{EraseRequest, NewWorkspace};

/// The JSON body schema of the route at `path`, when the route reads a documented body.
pub(super) fn json_schema(path: &str) -> Option<RefOr<Schema>> {
    Some(match path {
        "/v1/sessions" => SignIn::schema(),
        "/v1/invitations/accept" => AcceptInvitation::schema(),
        "/v1/workspaces" => NewWorkspace::schema(),
        "/v1/workspaces/{workspace_id}/keys" | "/v1/keys" => NewKey::schema(),
        "/v1/workspaces/current/erase" => EraseRequest::schema(),
        "/v1/campaigns" | "/v1/campaigns/validate" => SourceBody::schema(),
        "/v1/campaigns/{id}/trigger" => TriggerBody::schema(),
        "/v1/campaigns/{id}/preview" => PreviewBody::schema(),
        "/v1/accounts/connect" => ConnectRequest::schema(),
        "/v1/hooks" => NewHook::schema(),
        "/v1/webhook-endpoints" => NewEndpoint::schema(),
        "/v1/images/generations" => ImagesRequest::schema(),
        "/v1/reviews/{id}/approve" => ApproveBody::schema(),
        "/v1/reviews/{id}/reject" => RejectBody::schema(),
        "/v1/runs/{id}/review-links" => NewReviewLink::schema(),
        "/v1/members" => NewMember::schema(),
        "/v1/posts" => NewPost::schema(),
        _ => return None,
    })
}

/// The named schemas (ids, states) the bodies refer to.
pub(super) fn components() -> Vec<(String, RefOr<Schema>)> {
    let mut out = Vec::new();
    SignIn::schemas(&mut out);
    AcceptInvitation::schemas(&mut out);
    NewWorkspace::schemas(&mut out);
    NewKey::schemas(&mut out);
    EraseRequest::schemas(&mut out);
    SourceBody::schemas(&mut out);
    TriggerBody::schemas(&mut out);
    PreviewBody::schemas(&mut out);
    ConnectRequest::schemas(&mut out);
    NewHook::schemas(&mut out);
    NewEndpoint::schemas(&mut out);
    ImagesRequest::schemas(&mut out);
    ApproveBody::schemas(&mut out);
    RejectBody::schemas(&mut out);
    NewReviewLink::schemas(&mut out);
    NewMember::schemas(&mut out);
    NewPost::schemas(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::ROUTES;

    #[test]
    fn every_body_route_but_the_signed_hook_has_a_schema() {
        for spec in ROUTES.iter().filter(|r| r.body) {
            let documented = json_schema(spec.path).is_some();
            // The upload is a form (documented as multipart/form-data), not JSON.
            assert_eq!(
                documented,
                !matches!(spec.path, "/v1/hooks/{hook_id}" | "/v1/assets"),
                "{spec:?}: body schema documented = {documented}"
            );
        }
        for adapter in crate::adapters::Adapter::ALL {
            assert_eq!(
                crate::adapters::Adapter::parse(adapter.as_str()),
                Some(adapter)
            );
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
