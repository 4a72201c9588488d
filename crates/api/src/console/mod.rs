//! The console: the web interface people sign in to (calendar, reviews, posts and runs,
//! campaigns, accounts, gallery, settings, operations), served by the daemon itself.
//!
//! Server-rendered HTML (MiniJinja templates embedded in the binary, auto-escaped), one small
//! script and one stylesheet of our own, no inline script or style (the Content Security
//! Policy forbids both). Every page reads through the same handlers the JSON API serves and
//! every button calls the same handler its API route calls, after the same role check (looked
//! up in [`crate::routes::ROUTES`]): the console adds no business logic of its own.

mod accounts;
mod calendar;
mod campaigns;
mod gallery;
mod login;
mod operations;
pub(crate) mod page;
mod posts;
mod report;
mod reviews;
mod settings;
mod statics;

use axum::Router;
use axum::routing::{get, post};

use crate::ApiState;

/// The console's routes (HTML pages and their forms). They are not API routes: they are
/// absent from the OpenAPI document, answer pages rather than problem+json, and send a
/// signed-out browser to `/login`.
pub(crate) fn router(state: ApiState) -> Router {
    Router::new()
        .route("/", get(login::root))
        .route("/login", get(login::page).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/workspace", post(login::switch_workspace))
        .route("/console/{file}", get(statics::file))
        .route("/calendar", get(calendar::page))
        .route("/reviews", get(reviews::list))
        .route("/reviews/{id}", get(reviews::page).post(reviews::decide))
        .route("/renditions/{id}", get(reviews::rendition))
        .route("/posts", get(posts::list))
        .route("/report", get(report::page))
        .route("/posts/{id}/{action}", post(posts::act))
        .route("/runs/{id}", get(posts::run))
        .route("/campaigns", get(campaigns::list))
        .route("/campaigns/new", get(campaigns::new_page))
        .route("/campaigns/save", post(campaigns::save))
        .route("/campaigns/{id}", get(campaigns::edit))
        .route("/campaigns/{id}/{action}", post(campaigns::act))
        .route("/accounts", get(accounts::page))
        .route("/accounts/connect", post(accounts::connect))
        .route("/accounts/{id}/disconnect", post(accounts::disconnect))
        .route("/gallery", get(gallery::page))
        .route(
            "/gallery/upload",
            post(gallery::upload).layer(axum::extract::DefaultBodyLimit::max(
                crate::handlers::assets::UPLOAD_BODY_BYTES,
            )),
        )
        .route("/settings", get(settings::page))
        .route("/settings/{section}/{action}", post(settings::act))
        .route("/operations", get(operations::page))
        .route("/operations/jobs/{id}/retry", post(operations::retry_job))
        .with_state(state)
}
