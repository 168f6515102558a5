//! The tenant portal: a tenant's people manage their organization, read its service
//! health and Message Center, choose who hears what, and decide Lockbox requests.

pub(crate) mod contacts;
mod deliveries;
mod feeds;
pub mod health;
pub mod lockbox;
pub mod messages;
mod tenant;
mod webhooks;

use axum::routing::{get, post};
use axum::Router;

use crate::pages::push;
use crate::routes::{RouteTable, RouterExt};
use crate::AppState;

/// The tenant portal's pages.
pub fn routes(t: &mut RouteTable) -> Router<AppState> {
    Router::new()
        .at(t, "/portal", get(tenant::home))
        .at(t, "/portal/audit", get(tenant::audit))
        .at(t, "/portal/audit/export", get(tenant::audit_export))
        .at(
            t,
            "/portal/users",
            get(tenant::users).post(tenant::create_user),
        )
        .at(t, "/portal/users/{id}/roles", post(tenant::set_roles))
        .at(
            t,
            "/portal/api-clients",
            get(tenant::api_clients).post(tenant::create_api_client),
        )
        .at(
            t,
            "/portal/api-clients/{id}/revoke",
            post(tenant::revoke_api_client),
        )
        .at(
            t,
            "/portal/settings",
            get(tenant::settings).post(tenant::save_settings),
        )
        .at(t, "/portal/health", get(health::dashboard))
        .at(t, "/portal/health/issues/{id}", get(health::tenant_issue))
        .at(
            t,
            "/portal/health/issues/{id}/review",
            get(health::tenant_review),
        )
        .at(t, "/portal/messages", get(messages::list))
        .at(t, "/portal/messages/{id}", get(messages::show))
        .at(
            t,
            "/portal/messages/{id}/viewpoint",
            post(messages::set_viewpoint),
        )
        .at(
            t,
            "/portal/messages/{id}/attachments/{attachment}",
            get(messages::attachment),
        )
        .at(
            t,
            "/portal/messages/{id}/attachments.zip",
            get(messages::archive),
        )
        .at(
            t,
            "/portal/contacts",
            get(contacts::show).post(contacts::add),
        )
        .at(t, "/portal/contacts/invitations", post(contacts::invite))
        .at(t, "/portal/contacts/{id}", post(contacts::act))
        .at(
            t,
            "/portal/webhooks",
            get(webhooks::show).post(webhooks::add),
        )
        .at(t, "/portal/webhooks/{id}", post(webhooks::act))
        .at(t, "/portal/deliveries", get(deliveries::tenant_log))
        .at(t, "/portal/push", get(push::show).post(push::subscribe))
        .at(t, "/portal/push/{id}", post(push::act))
        .at(t, "/portal/feeds", get(feeds::show).post(feeds::create))
        .at(t, "/portal/feeds/{id}/revoke", post(feeds::revoke))
        .at(t, "/portal/lockbox", get(lockbox::tenant_list))
        .at(t, "/portal/lockbox/setting", post(lockbox::save_setting))
        .at(
            t,
            "/portal/lockbox/requests/{id}",
            get(lockbox::tenant_request),
        )
        .at(
            t,
            "/portal/lockbox/requests/{id}/decision",
            post(lockbox::tenant_decide),
        )
        .at(
            t,
            "/portal/lockbox/requests/{id}/revoke",
            post(lockbox::tenant_revoke),
        )
        .at(t, "/static/push.js", get(push::script))
        .at(t, "/static/icon.svg", get(push::icon))
        .at(t, "/manifest.webmanifest", get(push::manifest))
        .at(t, "/sw.js", get(push::service_worker))
}
