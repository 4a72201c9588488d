//! Settings: the workspace's members, API keys, inbound hooks (their URL, secret rotation),
//! outbound webhooks, usage per day (a chart) and the audit log. Secrets are shown once, on the
//! page that answers their creation, never again. The same handlers as the API's routes.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use serde::Serialize;

use super::page::{self, Viewer};
use crate::ApiState;
use crate::handlers::{
    Path, RawBody, audit, campaigns, hook_secrets, hooks, keys, members, usage, webhook_endpoints,
};
use crate::html::field;
use crate::page::PageQuery;
use crate::routes::Method;

fn first(n: u64) -> PageQuery {
    PageQuery {
        limit: Some(n.to_string()),
        cursor: None,
    }
}

/// One bar pair of the usage chart, in SVG units.
#[derive(Serialize)]
struct Bar {
    day: String,
    x: u32,
    images: u64,
    posts: u64,
    images_h: u32,
    posts_h: u32,
    label: bool,
}

const CHART_H: u32 = 120;

fn chart(days: &[usage::DayUsage]) -> (Vec<Bar>, u64) {
    let max = days
        .iter()
        .map(|d| d.images_generated.max(d.posts_published))
        .max()
        .unwrap_or(0)
        .max(1);
    let scale = |v: u64| ((v * u64::from(CHART_H)) / max) as u32;
    let bars = days
        .iter()
        .enumerate()
        .map(|(i, d)| Bar {
            day: d.day.clone(),
            x: 30 + i as u32 * 20,
            images: d.images_generated,
            posts: d.posts_published,
            images_h: scale(d.images_generated),
            posts_h: scale(d.posts_published),
            label: i % 7 == 0,
        })
        .collect();
    (bars, max)
}

async fn render(
    state: &ApiState,
    viewer: &Viewer,
    secret: Option<minijinja::Value>,
    status: StatusCode,
) -> Response {
    let ctx = || Extension(viewer.ctx.clone());
    let st = || State(state.clone());
    let members = if viewer.may(Method::Get, "/v1/members") {
        match members::list(st(), ctx()).await {
            Ok(Json(m)) => Some(m.data),
            Err(e) => return page::error_page(e),
        }
    } else {
        None
    };
    let usage = match usage::get(st(), ctx(), Ok(Query(usage::UsageQuery { days: Some(30) }))).await
    {
        Ok(Json(u)) => u.data,
        Err(e) => return page::error_page(e),
    };
    let (bars, max) = chart(&usage);
    let admin = viewer.may(Method::Get, "/v1/keys");
    let mut admin_part = minijinja::Value::UNDEFINED;
    if admin {
        let loaded = async {
            let Json(keys) = keys::list(st(), ctx(), Ok(Query(first(100)))).await?;
            let Json(hooks) = hooks::list(st(), ctx(), Ok(Query(first(100)))).await?;
            let Json(endpoints) =
                webhook_endpoints::list(st(), ctx(), Ok(Query(first(100)))).await?;
            let Json(audit) = audit::list(st(), ctx(), Ok(Query(first(50)))).await?;
            let Json(campaigns) = campaigns::list(st(), ctx(), Ok(Query(first(200)))).await?;
            Ok::<_, crate::errors::ApiError>(minijinja::context! {
                keys => page::value(&keys.data),
                hooks => page::value(&hooks.data),
                endpoints => page::value(&endpoints.data),
                audit => page::value(&audit.data),
                campaigns => page::value(&campaigns.data),
            })
        }
        .await;
        admin_part = match loaded {
            Ok(v) => v,
            Err(e) => return page::error_page(e),
        };
    }
    viewer.render_status(
        "settings.html",
        status,
        "settings",
        minijinja::context! {
            members => members.as_ref().map(page::value),
            bars => page::value(&bars),
            max => max,
            chart_w => 40 + usage.len() as u32 * 20,
            chart_h => CHART_H,
            usage_total => minijinja::context! {
                images => usage.iter().map(|d| d.images_generated).sum::<u64>(),
                posts => usage.iter().map(|d| d.posts_published).sum::<u64>(),
            },
            admin => admin_part,
            secret => secret,
            roles => ["viewer", "approver", "editor", "admin", "owner"],
            adapters => crate::adapters::Adapter::ALL.map(crate::adapters::Adapter::as_str),
            events => pressroom_core::PostEvent::ALL.map(|e| e.as_str()),
        },
    )
}

pub(crate) async fn page(State(state): State<ApiState>, viewer: Viewer) -> Response {
    render(&state, &viewer, None, StatusCode::OK).await
}

/// `section/action`: keys/create, keys/revoke, hooks/create, hooks/rotate, hooks/retire,
/// webhooks/create, webhooks/delete.
pub(crate) async fn act(
    State(state): State<ApiState>,
    viewer: Viewer,
    Path((section, action)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Response {
    let fields = match viewer.form(&body) {
        Ok(f) => f,
        Err(refused) => return *refused,
    };
    let f = |name: &str| field(&fields, name).unwrap_or_default().trim().to_owned();
    let (method, route) = match (section.as_str(), action.as_str()) {
        ("members", "add") => (Method::Post, "/v1/members"),
        ("members", "remove") => (Method::Delete, "/v1/members/{user_id}"),
        ("keys", "create") => (Method::Post, "/v1/keys"),
        ("keys", "revoke") => (Method::Delete, "/v1/keys/{id}"),
        ("hooks", "create") => (Method::Post, "/v1/hooks"),
        ("hooks", "rotate") => (Method::Post, "/v1/hooks/{hook_id}/secrets"),
        ("hooks", "retire") => (Method::Post, "/v1/hooks/{hook_id}/secrets/retire"),
        ("webhooks", "create") => (Method::Post, "/v1/webhook-endpoints"),
        ("webhooks", "delete") => (Method::Delete, "/v1/webhook-endpoints/{id}"),
        _ => return page::done("/settings", false, "No such setting."),
    };
    if let Err(refused) = viewer.require(method, route) {
        return *refused;
    }
    let st = State(state.clone());
    let ctx = Extension(viewer.ctx.clone());
    let json = |v: serde_json::Value| RawBody(Bytes::from(v.to_string()));
    let shown_once = |title: &str, value: String, note: String| {
        Some(minijinja::context! { title => title, value => value, note => note })
    };
    let outcome = match (section.as_str(), action.as_str()) {
        ("keys", "create") => {
            let mut body = serde_json::json!({ "role": f("role") });
            if !f("name").is_empty() {
                body["name"] = f("name").into();
            }
            keys::create(st, ctx, json(body)).await.map(|(_, Json(k))| {
                shown_once(
                    "New API key",
                    k.key,
                    format!(
                        "{} ({}): send it as Authorization: Bearer …",
                        k.row.name, k.row.role
                    ),
                )
            })
        }
        ("keys", "revoke") => keys::revoke(st, ctx, Path(f("id"))).await.map(|_| None),
        ("members", "remove") => members::remove(st, ctx, Path(f("id"))).await.map(|_| None),
        ("members", "add") => {
            let body = serde_json::json!({ "email": f("email"), "role": f("role") });
            members::add(st, ctx, json(body)).await.map(|(_, Json(m))| match m.invitation_url {
                Some(url) => shown_once(
                    "Invitation link",
                    url,
                    format!("Send it to {}: it lets them set a password and sign in as {} (valid 72 hours, once).", m.member.email, m.member.role),
                ),
                None => shown_once(
                    "Member updated",
                    format!("{} is now {}.", m.member.email, m.member.role),
                    "They sign in with the password they already have.".to_owned(),
                ),
            })
        }
        ("hooks", "create") => {
            let body =
                serde_json::json!({ "campaign_id": f("campaign_id"), "adapter": f("adapter") });
            hooks::create(st, ctx, json(body))
                .await
                .map(|(_, Json(h))| {
                    shown_once(
                        "Signing secret of the new hook",
                        h.secret,
                        format!(
                            "Send the CMS's webhooks to {} (Standard Webhooks signature).",
                            h.hook.path
                        ),
                    )
                })
        }
        ("hooks", "rotate") => {
            hook_secrets::add(st, ctx, Path(f("id")))
                .await
                .map(|(_, Json(s))| {
                    shown_once(
                        "New signing secret",
                        s.secret,
                        format!(
                            "{} secrets verify until you end the rotation.",
                            s.secrets_active
                        ),
                    )
                })
        }
        ("hooks", "retire") => hook_secrets::retire_previous(st, ctx, Path(f("id")))
            .await
            .map(|_| None),
        ("webhooks", "create") => {
            let events: Vec<String> = fields
                .iter()
                .filter(|(k, _)| k == "events")
                .map(|(_, v)| v.clone())
                .collect();
            let mut body = serde_json::json!({ "url": f("url"), "description": f("description") });
            if !events.is_empty() {
                body["events"] = events.into();
            }
            webhook_endpoints::create(st, ctx, json(body))
                .await
                .map(|(_, Json(e))| {
                    shown_once(
                        "Signing secret of the new endpoint",
                        e.secret,
                        format!("Deliveries to {} are signed with it.", e.endpoint.url),
                    )
                })
        }
        _ => webhook_endpoints::delete(st, ctx, Path(f("id")))
            .await
            .map(|_| None),
    };
    match outcome {
        Ok(Some(secret)) => render(&state, &viewer, Some(secret), StatusCode::CREATED).await,
        Ok(None) => page::done("/settings", true, "Done."),
        Err(e) => page::failed("/settings", e),
    }
}
