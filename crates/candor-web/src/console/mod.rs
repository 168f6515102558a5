//! The operator console: the provider's people declare and update issues, publish
//! Message Center messages, file and decide Lockbox requests, manage tenants, operators,
//! topology and elevations, and follow deliveries.

mod deliveries;
mod drafts;
mod elevation;
pub mod health;
mod home;
pub mod lockbox;
mod maintenance;
mod messages;
mod subscribers;
mod topology;

use axum::routing::{get, post};
use axum::Router;

use crate::pages::MAX_UPLOAD_BYTES;
use crate::routes::{RouteTable, RouterExt};
use crate::AppState;

/// The operator console's pages.
pub fn routes(t: &mut RouteTable) -> Router<AppState> {
    Router::new()
        .at(t, "/console/deliveries", get(deliveries::console))
        .at(t, "/console/drafts", get(drafts::list))
        .at(
            t,
            "/console/maintenance",
            get(maintenance::show).post(maintenance::schedule),
        )
        .at(
            t,
            "/console/maintenance/{id}/change",
            post(maintenance::change),
        )
        .at(t, "/console/drafts/{id}/publish", post(drafts::publish))
        .at(t, "/console/subscribers", get(subscribers::show))
        .at(t, "/console/subscribers.csv", get(subscribers::export))
        .at(
            t,
            "/console/subscribers/{id}/remove",
            post(subscribers::remove),
        )
        .at(
            t,
            "/console/elevation",
            get(elevation::show).post(elevation::request),
        )
        .at(
            t,
            "/console/elevation/{id}/decision",
            post(elevation::decide),
        )
        .at(t, "/console/elevation/{id}/revoke", post(elevation::revoke))
        .at(
            t,
            "/console/push",
            get(crate::pages::push::show).post(crate::pages::push::subscribe),
        )
        .at(t, "/console/push/{id}", post(crate::pages::push::act))
        .at(t, "/console/lockbox", get(lockbox::console_list))
        .at(
            t,
            "/console/lockbox/new",
            get(lockbox::console_new).post(lockbox::console_file),
        )
        .at(
            t,
            "/console/lockbox/requests/{id}",
            get(lockbox::console_request),
        )
        .at(
            t,
            "/console/lockbox/requests/{id}/decision",
            post(lockbox::console_decide),
        )
        .at(t, "/console/messages", get(messages::console_list))
        .at(
            t,
            "/console/messages/new",
            get(messages::new_form)
                .post(messages::create)
                .layer(axum::extract::DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
        )
        .at(t, "/console/messages/{id}", get(messages::console_show))
        .at(
            t,
            "/console/topology",
            get(topology::show)
                .post(topology::upload)
                .layer(axum::extract::DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
        )
        .at(t, "/console/issues", get(health::console_issues))
        .at(
            t,
            "/console/issues/new",
            get(health::new_issue_form).post(health::create_issue),
        )
        .at(t, "/console/issues/{id}", get(health::console_issue))
        .at(t, "/console/issues/{id}/posts", post(health::post_update))
        .at(t, "/console/issues/{id}/reopen", post(health::reopen))
        .at(t, "/console/issues/{id}/scope", post(health::change_scope))
        .at(t, "/console/issues/{id}/review", post(health::save_review))
        .at(t, "/console", get(home::home))
        .at(t, "/console/audit", get(home::audit))
        .at(t, "/console/audit/export", get(home::audit_export))
        .at(
            t,
            "/console/tenants",
            get(home::tenants).post(home::create_tenant),
        )
        .at(
            t,
            "/console/operators",
            get(home::operators).post(home::create_operator),
        )
}
