use candor_domain::audit::{activity, ActorKind, AuditChain, NewAuditRecord};
use candor_domain::identity::{
    authorize, check_password_policy, Action, Actor, ApiClient, ApiPermissions, DisplayName,
    EmailAddress, InvalidValue, NewApiClient, NewOperator, NewTenant, NewTenantUser, Operator,
    OperatorClient, OperatorRoles, RegionCode, Tenant, TenantName, TenantRole, TenantRoles,
    TenantUser, TimeZoneName,
};
use candor_domain::language::Language;
use candor_domain::{ApiClientId, OperatorId, TenantId, UserId};
use serde_json::json;

use super::Core;
use crate::error::{not_found_as, AppError, AppResult};
use crate::password;
use crate::secrets::{random_token, same_secret, sha256_hex};

fn invalid(field: &'static str, e: impl std::fmt::Display) -> AppError {
    AppError::Invalid(InvalidValue::new(field, e.to_string()))
}

#[derive(Debug, Clone)]
pub struct TenantInput {
    pub name: String,
    pub home_region: String,
    pub default_language: Language,
    pub time_zone: String,
    pub is_demo: bool,
}

pub async fn create_tenant(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    input: TenantInput,
) -> AppResult<Tenant> {
    authorize(actor, Action::ManageTenants)?;
    let tenant = NewTenant {
        name: TenantName::parse(&input.name)?,
        home_region: RegionCode::parse(&input.home_region)?,
        default_language: input.default_language,
        time_zone: TimeZoneName::parse(&input.time_zone)?,
        is_demo: input.is_demo,
    };
    let id = TenantId::generate();
    let now = core.clock.now();
    let details = json!({
        "name": tenant.name.as_str(),
        "homeRegion": tenant.home_region.as_str(),
        "defaultLanguage": tenant.default_language.tag(),
        "timeZone": tenant.time_zone.as_str(),
        "isDemo": tenant.is_demo,
    });
    let audit = vec![
        NewAuditRecord::by(actor, AuditChain::Tenant(id), now, activity::TENANT_CREATED)
            .ip(ip.clone())
            .item(id.to_string())
            .details(details.clone()),
        NewAuditRecord::by(actor, AuditChain::Operator, now, activity::TENANT_CREATED)
            .ip(ip)
            .item(id.to_string())
            .details(details),
    ];
    let created = core.store.create_tenant(id, tenant, now, audit).await?;
    core.placements_changed().await;
    Ok(created)
}

pub async fn update_tenant_settings(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    tenant_id: TenantId,
    language: Language,
    time_zone: &str,
) -> AppResult<Tenant> {
    authorize(actor, Action::ManageTenantSettings(tenant_id))?;
    let tz = TimeZoneName::parse(time_zone)?;
    let before = core
        .store
        .get_tenant(tenant_id)
        .await?
        .ok_or_else(|| AppError::NotFound("no such tenant".into()))?;
    let audit = NewAuditRecord::by(
        actor,
        AuditChain::Tenant(tenant_id),
        core.clock.now(),
        activity::TENANT_SETTINGS_CHANGED,
    )
    .ip(ip)
    .item(tenant_id.to_string())
    .details(json!({
        "defaultLanguage": {"old": before.default_language.tag(), "new": language.tag()},
        "timeZone": {"old": before.time_zone.as_str(), "new": tz.as_str()},
    }));
    Ok(core
        .store
        .update_tenant_settings(tenant_id, language, tz, audit)
        .await?)
}

#[derive(Debug, Clone)]
pub struct UserInput {
    pub email: String,
    pub display_name: String,
    pub password: String,
    pub roles: TenantRoles,
    /// Default the tenant's language.
    pub language: Option<Language>,
}

pub async fn create_user(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    tenant_id: TenantId,
    input: UserInput,
) -> AppResult<TenantUser> {
    authorize(actor, Action::ManageUsers(tenant_id))?;
    check_password_policy(&input.password)?;
    let password_hash = password::hash(input.password.clone()).await?;
    create_user_hashed(core, actor, ip, tenant_id, input, password_hash).await
}

/// Like [`create_user`] with the password already hashed (the demo world gives every
/// demo user the same password and hashes it once).
pub async fn create_user_hashed(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    tenant_id: TenantId,
    input: UserInput,
    password_hash: String,
) -> AppResult<TenantUser> {
    authorize(actor, Action::ManageUsers(tenant_id))?;
    let email = EmailAddress::parse(&input.email)?;
    let display_name = DisplayName::parse(&input.display_name)?;
    let (roles, language) = (input.roles, input.language);
    if core.store.get_tenant(tenant_id).await?.is_none() {
        return Err(AppError::NotFound("no such tenant".into()));
    }
    let id = UserId::generate();
    let audit = NewAuditRecord::by(
        actor,
        AuditChain::Tenant(tenant_id),
        core.clock.now(),
        activity::USER_CREATED,
    )
    .ip(ip)
    .item(email.to_string())
    .details(json!({"userId": id, "roles": roles.names()}));
    let user = NewTenantUser {
        tenant_id,
        email,
        display_name,
        password_hash,
        roles,
        language,
    };
    Ok(core
        .store
        .create_user(id, user, core.clock.now(), audit)
        .await?)
}

pub async fn set_user_roles(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    tenant_id: TenantId,
    user_id: UserId,
    roles: TenantRoles,
) -> AppResult<TenantUser> {
    authorize(actor, Action::ManageUsers(tenant_id))?;
    let users = core.store.list_users(tenant_id).await?;
    let user = users
        .iter()
        .find(|u| u.id == user_id)
        .ok_or_else(|| AppError::NotFound("no such user in this tenant".into()))?;
    let admins_left = users
        .iter()
        .filter(|u| {
            u.id != user_id && u.roles.contains(TenantRole::GlobalAdministrator) && !u.disabled
        })
        .count();
    if admins_left == 0 && !roles.contains(TenantRole::GlobalAdministrator) {
        return Err(AppError::not_now(
            "a tenant must keep at least one Global Administrator; give the role to someone else first",
        ));
    }
    let audit = NewAuditRecord::by(
        actor,
        AuditChain::Tenant(tenant_id),
        core.clock.now(),
        activity::USER_ROLES_CHANGED,
    )
    .ip(ip)
    .item(user.email.to_string())
    .details(json!({"old": user.roles.names(), "new": roles.names()}));
    Ok(core
        .store
        .set_user_roles(tenant_id, user_id, roles, audit)
        .await?)
}

#[derive(Debug, Clone)]
pub struct OperatorInput {
    pub email: String,
    pub display_name: String,
    pub password: String,
    pub roles: OperatorRoles,
    /// A break-glass account: may hold a privileged role standing (the very first
    /// Provider Admin). Loudly audited.
    pub break_glass: bool,
}

pub async fn create_operator(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    input: OperatorInput,
) -> AppResult<Operator> {
    authorize(actor, Action::ManageOperators)?;
    check_password_policy(&input.password)?;
    let password_hash = password::hash(input.password.clone()).await?;
    create_operator_hashed(core, actor, ip, input, password_hash).await
}

pub async fn create_operator_hashed(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    input: OperatorInput,
    password_hash: String,
) -> AppResult<Operator> {
    authorize(actor, Action::ManageOperators)?;
    let email = EmailAddress::parse(&input.email)?;
    let display_name = DisplayName::parse(&input.display_name)?;
    let roles = input.roles;
    let privileged: Vec<&str> = roles
        .iter()
        .filter(|r| candor_domain::elevation::is_privileged(*r))
        .map(|r| r.as_str())
        .collect();
    if !privileged.is_empty() && !input.break_glass {
        return Err(invalid(
            "roles",
            format!(
                "{} is privileged: operators hold it only through an approved, time-boxed elevation. The very first Provider Admin is created with `candor operator create --break-glass`",
                privileged.join(", ")
            ),
        ));
    }
    let id = OperatorId::generate();
    let activity = if input.break_glass {
        tracing::warn!(
            operator = %email,
            roles = ?roles.names(),
            "BREAK-GLASS operator created: standing privileged access outside elevation"
        );
        activity::BREAK_GLASS_OPERATOR_CREATED
    } else {
        activity::OPERATOR_CREATED
    };
    let audit = NewAuditRecord::by(actor, AuditChain::Operator, core.clock.now(), activity)
        .ip(ip)
        .item(email.to_string())
        .details(
            json!({"operatorId": id, "roles": roles.names(), "breakGlass": input.break_glass}),
        );
    let operator = NewOperator {
        email,
        display_name,
        password_hash,
        roles,
    };
    Ok(core
        .store
        .create_operator(id, operator, core.clock.now(), audit)
        .await?)
}

/// A new API client and its secret, which is shown this once and never stored.
pub struct IssuedClient {
    pub client: ApiClient,
    pub secret: String,
}

/// The checks creating an API client makes, without creating it (a bulk creation checks
/// every row first, so a bad row leaves nothing half done).
pub async fn check_api_client(
    core: &Core,
    actor: &Actor,
    tenant_id: TenantId,
    display_name: &str,
    permissions: &[String],
) -> AppResult<(DisplayName, ApiPermissions)> {
    authorize(actor, Action::ManageApiClients(tenant_id))?;
    let display_name = DisplayName::parse(display_name)?;
    let permissions =
        ApiPermissions::parse_csv(&permissions.join(",")).map_err(|e| invalid("permissions", e))?;
    if permissions.is_empty() {
        return Err(invalid("permissions", "choose at least one permission"));
    }
    if core.store.get_tenant(tenant_id).await?.is_none() {
        return Err(AppError::NotFound("no such tenant".into()));
    }
    Ok((display_name, permissions))
}

pub async fn create_api_client(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    tenant_id: TenantId,
    display_name: &str,
    permissions: &[String],
) -> AppResult<IssuedClient> {
    let (display_name, permissions) =
        check_api_client(core, actor, tenant_id, display_name, permissions).await?;
    let secret = format!("cs_{}", random_token());
    let id = ApiClientId::generate();
    let audit = NewAuditRecord::by(
        actor,
        AuditChain::Tenant(tenant_id),
        core.clock.now(),
        activity::API_CLIENT_CREATED,
    )
    .ip(ip)
    .item(id.to_string())
    .details(json!({"displayName": display_name.as_str(), "permissions": permissions.names()}));
    // Client secrets are 256 random bits, so a plain SHA-256 is as strong as a slow hash
    // and keeps the token endpoint fast.
    let client = NewApiClient {
        tenant_id,
        display_name,
        secret_hash: sha256_hex(&secret),
        permissions,
    };
    let client = core
        .store
        .create_api_client(id, client, core.clock.now(), audit)
        .await?;
    Ok(IssuedClient { client, secret })
}

pub async fn revoke_api_client(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    tenant_id: TenantId,
    client_id: ApiClientId,
) -> AppResult<ApiClient> {
    authorize(actor, Action::ManageApiClients(tenant_id))?;
    let audit = NewAuditRecord::by(
        actor,
        AuditChain::Tenant(tenant_id),
        core.clock.now(),
        activity::API_CLIENT_REVOKED,
    )
    .ip(ip)
    .item(client_id.to_string());
    core.store
        .revoke_api_client(tenant_id, client_id, core.clock.now(), audit)
        .await
        .map_err(not_found_as("no such API client in this tenant"))
}

/// A known client's secret and state, checked.
fn check_client(
    given_hash: &str,
    stored_hash: &str,
    active: bool,
    chain: Option<(AuditChain, ApiClientId)>,
) -> Result<(), RefusedClient> {
    let reason = if !same_secret(given_hash, stored_hash) {
        "invalid client secret"
    } else if !active {
        "the client has been revoked"
    } else {
        return Ok(());
    };
    Err(RefusedClient { chain, reason })
}

/// A client that proved its secret at the token endpoint.
pub enum AuthenticatedClient {
    Tenant(ApiClient),
    Operator(OperatorClient),
}

/// A refused client: the chain to record the refusal in (when the client is known), and why.
pub struct RefusedClient {
    pub chain: Option<(AuditChain, ApiClientId)>,
    pub reason: &'static str,
}

/// Checks a client's secret (a tenant's app or an operator client); the caller records
/// the outcome.
pub async fn authenticate_client(
    core: &Core,
    client_id: &str,
    secret: &str,
) -> Result<AuthenticatedClient, RefusedClient> {
    let unknown = RefusedClient {
        chain: None,
        reason: "unknown client_id",
    };
    let Ok(id) = client_id.parse::<ApiClientId>() else {
        return Err(unknown);
    };
    let secret_hash = sha256_hex(secret);
    if let Ok(Some(client)) = core.store.get_api_client(id).await {
        let chain = Some((AuditChain::Tenant(client.tenant_id), client.id));
        check_client(&secret_hash, &client.secret_hash, client.is_active(), chain)?;
        return Ok(AuthenticatedClient::Tenant(client));
    }
    if let Ok(Some(client)) = core.store.get_operator_client(id).await {
        let chain = Some((AuditChain::Operator, client.id));
        check_client(&secret_hash, &client.secret_hash, client.is_active(), chain)?;
        return Ok(AuthenticatedClient::Operator(client));
    }
    Err(unknown)
}

pub const OPERATOR_CLIENT_CREATED: &str = "Add-OperatorClient";
pub const OPERATOR_CLIENT_REVOKED: &str = "Revoke-OperatorClient";

/// A machine credential for the operator API; its secret is shown once.
pub async fn create_operator_client(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    display_name: &str,
    roles: &[String],
) -> AppResult<(OperatorClient, String)> {
    create_client(core, actor, ip, display_name, roles, false).await
}

/// An operator client with a standing privileged role (automation that manages the
/// topology, say): outside elevation, so only on purpose and loudly audited.
pub async fn create_break_glass_operator_client(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    display_name: &str,
    roles: &[String],
) -> AppResult<(OperatorClient, String)> {
    create_client(core, actor, ip, display_name, roles, true).await
}

async fn create_client(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    display_name: &str,
    roles: &[String],
    break_glass: bool,
) -> AppResult<(OperatorClient, String)> {
    authorize(actor, Action::ManageOperators)?;
    let display_name = DisplayName::parse(display_name)?;
    let roles = OperatorRoles::parse_csv(&roles.join(",")).map_err(|e| invalid("roles", e))?;
    if roles.is_empty() {
        return Err(invalid("roles", "choose at least one operator role"));
    }
    let privileged: Vec<&str> = roles
        .iter()
        .filter(|r| candor_domain::elevation::is_privileged(*r))
        .map(|r| r.as_str())
        .collect();
    if !privileged.is_empty() && !break_glass {
        return Err(invalid(
            "roles",
            format!(
                "{} is privileged: a client holding it standing needs `--break-glass` (loudly audited)",
                privileged.join(", ")
            ),
        ));
    }
    if break_glass {
        tracing::warn!(
            client = %display_name,
            roles = ?roles.names(),
            "BREAK-GLASS operator client created: standing privileged access outside elevation"
        );
    }
    let secret = format!("cs_{}", random_token());
    let client = OperatorClient {
        id: ApiClientId::generate(),
        display_name: display_name.to_string(),
        secret_hash: sha256_hex(&secret),
        roles,
        created_at: core.clock.now(),
        revoked_at: None,
    };
    let audit = NewAuditRecord::by(
        actor,
        AuditChain::Operator,
        core.clock.now(),
        OPERATOR_CLIENT_CREATED,
    )
    .ip(ip)
    .item(client.id.to_string())
    .details(json!({"displayName": client.display_name, "roles": client.roles.names(), "breakGlass": break_glass}));
    core.store.create_operator_client(&client, audit).await?;
    Ok((client, secret))
}

pub async fn revoke_operator_client(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    id: ApiClientId,
) -> AppResult<OperatorClient> {
    authorize(actor, Action::ManageOperators)?;
    let audit = NewAuditRecord::by(
        actor,
        AuditChain::Operator,
        core.clock.now(),
        OPERATOR_CLIENT_REVOKED,
    )
    .ip(ip)
    .item(id.to_string());
    core.store
        .revoke_operator_client(id, core.clock.now(), audit)
        .await
        .map_err(not_found_as("no such operator client"))
}

pub enum SignedIn {
    TenantUser(TenantUser),
    Operator(Operator),
}

/// Verifies a password sign-in and records the outcome in the audit log.
pub async fn sign_in(
    core: &Core,
    operator_realm: bool,
    email: &str,
    password: &str,
    ip: Option<String>,
) -> AppResult<SignedIn> {
    let now = core.clock.now();
    let refused =
        || AppError::Unauthenticated("the email address or password is not correct".into());
    let email_norm = EmailAddress::parse(email).ok();
    let (hash, chain, found) = match &email_norm {
        Some(e) if operator_realm => match core.store.find_operator_by_email(e).await? {
            Some(op) if !op.disabled => (
                op.password_hash.clone(),
                AuditChain::Operator,
                Some(SignedIn::Operator(op)),
            ),
            _ => (
                password::dummy_hash().to_owned(),
                AuditChain::Operator,
                None,
            ),
        },
        Some(e) => match core.store.find_user_by_email(e).await? {
            Some(u) if !u.disabled => (
                u.password_hash.clone(),
                AuditChain::Tenant(u.tenant_id),
                Some(SignedIn::TenantUser(u)),
            ),
            _ => (
                password::dummy_hash().to_owned(),
                AuditChain::Operator,
                None,
            ),
        },
        None => (
            password::dummy_hash().to_owned(),
            AuditChain::Operator,
            None,
        ),
    };
    let ok = password::verify(password.to_owned(), hash).await && found.is_some();
    let who: String = email_norm
        .map(|e| e.to_string())
        .unwrap_or_else(|| email.chars().take(120).collect());
    let kind = match (&found, operator_realm) {
        (Some(SignedIn::Operator(_)), _) => ActorKind::Operator,
        (Some(SignedIn::TenantUser(_)), _) => ActorKind::TenantUser,
        (None, _) => ActorKind::Anonymous,
    };
    let activity_name = if ok {
        activity::SIGN_IN_SUCCEEDED
    } else {
        activity::SIGN_IN_FAILED
    };
    let record = NewAuditRecord::new(chain, now, who, kind, activity_name)
        .ip(ip)
        .details(json!({"realm": if operator_realm { "operator" } else { "tenant" }}));
    core.store.append_audit(vec![record]).await?;
    match (ok, found) {
        (true, Some(who)) => Ok(who),
        _ => Err(refused()),
    }
}
