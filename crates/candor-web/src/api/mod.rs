//! Candor's REST API (`/api/v1/...`) and the OAuth token endpoint. Routes are declared
//! through utoipa's router so `/openapi.json` is generated from the routes themselves.

pub mod alerts;
pub mod audit;
pub mod audit_log;
pub mod deliveries;
pub mod extract;
pub mod lockbox;
pub mod maintenance;
pub mod me;
pub mod notifications;
pub mod operator;
pub mod operator_messages;
pub mod operator_topology;
pub mod token;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Candor API",
        description = "Service health communications and Customer Lockbox. Authenticate with an access token from POST /oauth2/v2.0/token (client credentials grant).",
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "OAuth 2.0 client credentials and signing keys"),
        (name = "audit", description = "The tenant's tamper-evident audit log"),
        (name = "identity", description = "Who the caller is"),
        (name = "lockbox", description = "Customer Lockbox: requests, decisions, revocation, and the enforcement point for data-plane services"),
        (name = "notifications", description = "A tenant's notification contacts and webhook endpoints, managed as code"),
        (name = "operator", description = "For the provider's monitoring systems and tools: declare and update issues, publish reviews and Message Center messages"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(token::issue_token))
        .routes(routes!(token::jwks))
        .routes(routes!(token::openid_configuration))
        .routes(routes!(me::whoami))
        .routes(routes!(audit::list_records))
        .routes(routes!(audit::export_records))
        .routes(routes!(audit::record_proof))
        .routes(routes!(audit::consistency))
        .routes(routes!(audit::log_checkpoint))
        .routes(routes!(audit::log_keys))
        .routes(routes!(audit_log::cosigned_checkpoint))
        .routes(routes!(audit_log::submit_cosignatures))
        .routes(routes!(audit_log::list_witnesses, audit_log::add_witness))
        .routes(routes!(audit_log::remove_witness))
        .routes(routes!(audit_log::get_retention))
        .routes(routes!(audit_log::put_retention))
        .routes(routes!(operator::create_issue, operator::list_issues))
        .routes(routes!(operator::get_issue))
        .routes(routes!(operator::post_update))
        .routes(routes!(operator::reopen_issue))
        .routes(routes!(operator::put_scope))
        .routes(routes!(operator::impact_preview))
        .routes(routes!(deliveries::list_changes))
        .routes(routes!(deliveries::list_deliveries))
        // Messages carry their attachments, base64-encoded: more than the default 2 MB.
        .merge(
            OpenApiRouter::new()
                .routes(routes!(
                    operator_messages::create_message,
                    operator_messages::list_messages
                ))
                .layer(axum::extract::DefaultBodyLimit::max(
                    operator_messages::MAX_REQUEST_BYTES,
                )),
        )
        .routes(routes!(
            operator_messages::get_message,
            operator_messages::update_message
        ))
        .routes(routes!(operator_messages::audience_preview))
        .routes(routes!(
            maintenance::create_maintenance,
            maintenance::list_maintenances
        ))
        .routes(routes!(maintenance::maintenance_preview))
        .routes(routes!(maintenance::get_maintenance))
        .routes(routes!(maintenance::change_maintenance))
        .routes(routes!(maintenance::tenant_maintenances))
        .routes(routes!(maintenance::tenant_calendar))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(
                    operator_topology::get_topology,
                    operator_topology::import_topology
                ))
                .layer(axum::extract::DefaultBodyLimit::max(
                    operator_topology::MAX_TOPOLOGY_BYTES,
                )),
        )
        .routes(routes!(
            notifications::list_contacts,
            notifications::create_contact
        ))
        .routes(routes!(
            notifications::change_contact,
            notifications::remove_contact
        ))
        .routes(routes!(notifications::test_contact))
        .routes(routes!(notifications::invite_contact))
        .routes(routes!(
            notifications::list_webhooks,
            notifications::create_webhook
        ))
        .routes(routes!(
            notifications::change_webhook,
            notifications::remove_webhook
        ))
        .routes(routes!(notifications::test_webhook))
        .routes(routes!(notifications::rotate_webhook_secret))
        .routes(routes!(alerts::alertmanager))
        .routes(routes!(alerts::generic))
        .routes(routes!(alerts::list_drafts))
        .routes(routes!(alerts::get_draft))
        .routes(routes!(alerts::publish_draft))
        .routes(routes!(lockbox::list_requests))
        .routes(routes!(lockbox::get_request))
        .routes(routes!(lockbox::decide))
        .routes(routes!(lockbox::revoke))
        .routes(routes!(lockbox::authorize_operation))
        .routes(routes!(lockbox::report_action))
        .routes(routes!(operator_messages::put_review))
        .routes(routes!(operator_messages::publish_review))
}
