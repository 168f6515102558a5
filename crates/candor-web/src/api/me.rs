use axum::Json;
use candor_domain::identity::Actor;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::extract::ApiCaller;
use crate::error::ApiResult;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WhoAmI {
    /// tenantUser, operator or apiClient.
    pub kind: String,
    pub id: String,
    pub tenant_id: Option<String>,
    /// Roles (people) or application permissions (API clients).
    pub roles: Vec<String>,
}

/// Who the caller is, as Candor sees them.
#[utoipa::path(get, path = "/api/v1/me", tag = "identity",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The authenticated caller", body = WhoAmI),
        (status = 401, description = "No valid credentials"),
    ))]
pub async fn whoami(caller: ApiCaller) -> ApiResult<Json<WhoAmI>> {
    let me = match &caller.actor {
        Actor::TenantUser {
            tenant_id,
            user_id,
            roles,
            ..
        } => WhoAmI {
            kind: "tenantUser".into(),
            id: user_id.to_string(),
            tenant_id: Some(tenant_id.to_string()),
            roles: roles.names(),
        },
        Actor::Operator {
            operator_id, roles, ..
        } => WhoAmI {
            kind: "operator".into(),
            id: operator_id.to_string(),
            tenant_id: None,
            roles: roles.names(),
        },
        Actor::ApiClient {
            tenant_id,
            client_id,
            permissions,
        } => WhoAmI {
            kind: "apiClient".into(),
            id: client_id.to_string(),
            tenant_id: Some(tenant_id.to_string()),
            roles: permissions.names(),
        },
        Actor::System => WhoAmI {
            kind: "system".into(),
            id: "system".into(),
            tenant_id: None,
            roles: vec![],
        },
    };
    Ok(Json(me))
}
