//! Response body schemas of the JSON routes, keyed by (method, path): the view types the
//! handlers serialize, with their schemas derived from the types themselves (`ToSchema`), so
//! the document cannot drift from what a handler writes, and `response_schema_conformance`
//! checks real shapes rather than "some object". Every field a view always writes is
//! required (`Option` fields are marked so: they are written as null); objects stay open to
//! new fields (adding one is not a breaking change). Routes not listed answer a plain object.

use utoipa::ToSchema;
use utoipa::openapi::{ArrayBuilder, ObjectBuilder, Ref, RefOr, Schema, Type};

use crate::handlers::accounts::AccountView;
use crate::handlers::assets::AssetView;
use crate::handlers::audit::AuditView;
use crate::handlers::calendar::Calendar;
use crate::handlers::campaigns::{CampaignView, Deleted, Triggered, Validation};
use crate::handlers::hooks::{CreatedHook, HookView, Received};
use crate::handlers::insights::{
    FetchRequested, InsightsGroupBy, InsightsView, MetricName, PostMetricsView, TopPosts,
};
use crate::handlers::keys::{CreatedKey, KeyView};
use crate::handlers::members::{AddedMember, Members};
use crate::handlers::posts::{PostView, PostWithAttempts};
use crate::handlers::reviews::{CreatedReviewLink, ReviewView};
use crate::handlers::runs::RunView;
use crate::handlers::sessions::Me;
use crate::handlers::usage::Usage;
use crate::handlers::webhook_endpoints::{CreatedEndpoint, EndpointView};
use crate::handlers::workspaces::WorkspaceView;

/// Adds `T` and every schema it names to `out`.
fn add<T: ToSchema>(out: &mut Vec<(String, RefOr<Schema>)>) {
    out.push((T::name().into_owned(), T::schema()));
    T::schemas(out);
}

/// The named component schemas (`#/components/schemas/{name}`): the resources and the id and
/// state types they name.
pub(super) fn components() -> Vec<(String, RefOr<Schema>)> {
    let mut out = Vec::new();
    add::<WorkspaceView>(&mut out);
    add::<CampaignView>(&mut out);
    add::<RunView>(&mut out);
    add::<PostView>(&mut out);
    add::<PostWithAttempts>(&mut out);
    add::<AssetView>(&mut out);
    add::<AccountView>(&mut out);
    add::<KeyView>(&mut out);
    add::<CreatedKey>(&mut out);
    add::<AuditView>(&mut out);
    add::<HookView>(&mut out);
    add::<CreatedHook>(&mut out);
    add::<Received>(&mut out);
    add::<EndpointView>(&mut out);
    add::<CreatedEndpoint>(&mut out);
    add::<Triggered>(&mut out);
    add::<Deleted>(&mut out);
    add::<Validation>(&mut out);
    add::<Usage>(&mut out);
    add::<PostMetricsView>(&mut out);
    add::<FetchRequested>(&mut out);
    add::<InsightsView>(&mut out);
    add::<TopPosts>(&mut out);
    add::<InsightsGroupBy>(&mut out);
    add::<MetricName>(&mut out);
    add::<Me>(&mut out);
    add::<ReviewView>(&mut out);
    add::<Calendar>(&mut out);
    add::<CreatedReviewLink>(&mut out);
    add::<Members>(&mut out);
    add::<AddedMember>(&mut out);
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

fn named<T: ToSchema>() -> Ref {
    Ref::from_schema_name(T::name())
}

/// The item schema of the paged list route at `path`.
fn page_item(path: &str) -> Option<Ref> {
    Some(match path {
        "/v1/workspaces" => named::<WorkspaceView>(),
        "/v1/campaigns" => named::<CampaignView>(),
        "/v1/runs" => named::<RunView>(),
        "/v1/assets" => named::<AssetView>(),
        "/v1/posts" => named::<PostView>(),
        "/v1/accounts" => named::<AccountView>(),
        "/v1/keys" => named::<KeyView>(),
        "/v1/audit" => named::<AuditView>(),
        "/v1/hooks" => named::<HookView>(),
        "/v1/webhook-endpoints" => named::<EndpointView>(),
        "/v1/reviews" => named::<ReviewView>(),
        _ => return None,
    })
}

/// A page: `data` and, unless this is the last page, `next_cursor` ([`crate::page::Page`]).
fn page(item: RefOr<Schema>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("data", ArrayBuilder::new().items(item))
        .required("data")
        .property(
            "next_cursor",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(
                    "Pass as `cursor` for the next page; absent on the last",
                )),
        )
}

/// The 2xx JSON body of `method path`, when documented more precisely than "an object".
pub(super) fn ok_schema(method: &str, path: &str, paged: bool) -> Option<RefOr<Schema>> {
    if paged {
        let item: RefOr<Schema> = match page_item(path) {
            Some(r) => r.into(),
            None => ObjectBuilder::new().schema_type(Type::Object).into(),
        };
        return Some(page(item).into());
    }
    let r = match (method, path) {
        ("POST", "/v1/workspaces") | ("GET", "/v1/workspaces/current") => named::<WorkspaceView>(),
        ("POST", "/v1/campaigns")
        | ("GET", "/v1/campaigns/{id}")
        | ("POST", "/v1/campaigns/{id}/pause")
        | ("POST", "/v1/campaigns/{id}/resume") => named::<CampaignView>(),
        ("GET", "/v1/runs/{id}") => named::<RunView>(),
        ("GET", "/v1/assets/{id}") => named::<AssetView>(),
        ("POST", "/v1/posts/{id}/retry") | ("POST", "/v1/posts/{id}/cancel") => named::<PostView>(),
        ("GET", "/v1/posts/{id}") => named::<PostWithAttempts>(),
        ("POST", "/v1/accounts/{id}/disconnect") => named::<AccountView>(),
        ("POST", "/v1/keys") | ("POST", "/v1/workspaces/{workspace_id}/keys") => {
            named::<CreatedKey>()
        }
        ("POST", "/v1/hooks") => named::<CreatedHook>(),
        ("POST", "/v1/hooks/{hook_id}") => named::<Received>(),
        ("POST", "/v1/webhook-endpoints") => named::<CreatedEndpoint>(),
        ("POST", "/v1/campaigns/{id}/trigger") => named::<Triggered>(),
        ("DELETE", "/v1/campaigns/{id}") => named::<Deleted>(),
        ("POST", "/v1/campaigns/validate") => named::<Validation>(),
        ("GET", "/v1/usage") => named::<Usage>(),
        ("GET", "/v1/posts/{id}/metrics") => named::<PostMetricsView>(),
        ("POST", "/v1/posts/{id}/metrics/fetch") => named::<FetchRequested>(),
        ("GET", "/v1/insights") => named::<InsightsView>(),
        ("GET", "/v1/insights/top") => named::<TopPosts>(),
        ("GET", "/v1/reviews/{id}")
        | ("POST", "/v1/reviews/{id}/approve")
        | ("POST", "/v1/reviews/{id}/reject") => named::<ReviewView>(),
        ("POST", "/v1/runs/{id}/review-links") => named::<CreatedReviewLink>(),
        ("GET", "/v1/calendar") => named::<Calendar>(),
        ("GET", "/v1/members") => named::<Members>(),
        ("POST", "/v1/members") => named::<AddedMember>(),
        ("POST", "/v1/sessions") | ("POST", "/v1/invitations/accept") | ("GET", "/v1/me") => {
            named::<Me>()
        }
        _ => return None,
    };
    Some(RefOr::Ref(r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::ROUTES;
    use utoipa::PartialSchema;

    #[test]
    fn every_page_has_an_item_schema() {
        for spec in ROUTES.iter().filter(|r| r.paged) {
            assert!(
                page_item(spec.path).is_some(),
                "{spec:?} has no item schema"
            );
        }
    }

    #[test]
    fn option_fields_are_required_and_nullable() {
        let run = serde_json::to_value(RunView::schema()).unwrap_or_default();
        let required = run["required"].as_array().cloned().unwrap_or_default();
        for field in ["prompt", "caption", "asset_id", "error", "state", "id"] {
            assert!(
                required.contains(&serde_json::json!(field)),
                "{field} is not required: {run}"
            );
        }
    }
}
