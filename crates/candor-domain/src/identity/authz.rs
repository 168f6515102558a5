//! The one authorization function. Every permission check in Candor ends here, so the
//! whole policy can be read (and tested) in one place.

use serde::Serialize;

use super::{ApiPermission, ApiPermissions, OperatorRole, OperatorRoles, TenantRole, TenantRoles};
use crate::{ApiClientId, OperatorId, TenantId, UserId};

/// Whoever is making a request, as established by authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    TenantUser {
        tenant_id: TenantId,
        user_id: UserId,
        email: String,
        roles: TenantRoles,
    },
    Operator {
        operator_id: OperatorId,
        email: String,
        roles: OperatorRoles,
    },
    ApiClient {
        tenant_id: TenantId,
        client_id: ApiClientId,
        permissions: ApiPermissions,
    },
    /// Candor itself (seeding, jobs, the CLI run by whoever holds the server's keys).
    System,
}

impl Actor {
    /// The tenant this actor belongs to, if any.
    pub fn tenant_id(&self) -> Option<TenantId> {
        match self {
            Actor::TenantUser { tenant_id, .. } | Actor::ApiClient { tenant_id, .. } => {
                Some(*tenant_id)
            }
            Actor::Operator { .. } | Actor::System => None,
        }
    }

    /// The name written as "User" in audit records.
    pub fn audit_name(&self) -> String {
        match self {
            Actor::TenantUser { email, .. } | Actor::Operator { email, .. } => email.clone(),
            Actor::ApiClient { client_id, .. } => format!("app:{client_id}"),
            Actor::System => "system".to_owned(),
        }
    }

    pub fn kind(&self) -> crate::audit::ActorKind {
        use crate::audit::ActorKind;
        match self {
            Actor::TenantUser { .. } => ActorKind::TenantUser,
            Actor::Operator { .. } => ActorKind::Operator,
            Actor::ApiClient { .. } => ActorKind::ApiClient,
            Actor::System => ActorKind::System,
        }
    }
}

/// Everything an actor may ask to do. Tenant-scoped actions name the tenant they touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    // Tenant-scoped.
    ReadServiceHealth(TenantId),
    ReadMessageCenter(TenantId),
    /// Marking messages read, archived or favourite: a person's own view, so apps may not.
    SetMessageViewpoint(TenantId),
    ReadAuditLog(TenantId),
    /// Naming the witnesses whose cosignatures the tenant's audit log accepts.
    ManageAuditWitnesses(TenantId),
    ManageUsers(TenantId),
    ManageApiClients(TenantId),
    ManageTenantSettings(TenantId),
    /// A tenant's notification contacts and webhook endpoints.
    ManageNotifications(TenantId),
    ReadLockboxRequests(TenantId),
    DecideLockboxRequest(TenantId),
    // Operator realm.
    ManageTenants,
    ManageOperators,
    ManageTopology,
    PublishServiceHealth,
    PublishMessages,
    /// Send alerts from monitoring (they open draft issues).
    IngestAlerts,
    FileLockboxRequest,
    ApproveLockboxInternally,
    /// Asking whether an operation is covered, reporting operations performed.
    EnforceLockbox,
    ReadOperatorAuditLog,
}

impl Action {
    /// Every kind of action with a placeholder tenant, for exhaustive tests and docs.
    pub fn all_for(tenant: TenantId) -> Vec<Action> {
        vec![
            Action::ReadServiceHealth(tenant),
            Action::ReadMessageCenter(tenant),
            Action::SetMessageViewpoint(tenant),
            Action::ReadAuditLog(tenant),
            Action::ManageAuditWitnesses(tenant),
            Action::ManageUsers(tenant),
            Action::ManageApiClients(tenant),
            Action::ManageTenantSettings(tenant),
            Action::ManageNotifications(tenant),
            Action::ReadLockboxRequests(tenant),
            Action::DecideLockboxRequest(tenant),
            Action::ManageTenants,
            Action::ManageOperators,
            Action::ManageTopology,
            Action::PublishServiceHealth,
            Action::PublishMessages,
            Action::IngestAlerts,
            Action::FileLockboxRequest,
            Action::ApproveLockboxInternally,
            Action::EnforceLockbox,
            Action::ReadOperatorAuditLog,
        ]
    }

    pub fn tenant(self) -> Option<TenantId> {
        match self {
            Action::ReadServiceHealth(t)
            | Action::ReadMessageCenter(t)
            | Action::SetMessageViewpoint(t)
            | Action::ReadAuditLog(t)
            | Action::ManageAuditWitnesses(t)
            | Action::ManageUsers(t)
            | Action::ManageApiClients(t)
            | Action::ManageTenantSettings(t)
            | Action::ManageNotifications(t)
            | Action::ReadLockboxRequests(t)
            | Action::DecideLockboxRequest(t) => Some(t),
            _ => None,
        }
    }

    /// Tenant roles that allow this action (empty for operator-realm actions).
    fn tenant_roles(self) -> &'static [TenantRole] {
        use TenantRole::*;
        match self {
            Action::ReadServiceHealth(_) => &[GlobalAdministrator, ServiceSupportAdministrator],
            Action::ReadMessageCenter(_) | Action::SetMessageViewpoint(_) => &[
                GlobalAdministrator,
                ServiceSupportAdministrator,
                MessageCenterReader,
            ],
            Action::ReadAuditLog(_) => &[GlobalAdministrator, AuditReader],
            Action::ManageUsers(_)
            | Action::ManageAuditWitnesses(_)
            | Action::ManageApiClients(_)
            | Action::ManageTenantSettings(_)
            | Action::ManageNotifications(_) => &[GlobalAdministrator],
            Action::ReadLockboxRequests(_) | Action::DecideLockboxRequest(_) => {
                &[GlobalAdministrator, CustomerLockboxAccessApprover]
            }
            _ => &[],
        }
    }

    /// The API permission that allows this action for an app (None: apps may never).
    fn api_permission(self) -> Option<ApiPermission> {
        match self {
            Action::ReadServiceHealth(_) => Some(ApiPermission::ServiceHealthReadAll),
            Action::ReadMessageCenter(_) => Some(ApiPermission::ServiceMessageReadAll),
            Action::ReadAuditLog(_) => Some(ApiPermission::AuditLogReadAll),
            Action::ManageAuditWitnesses(_) => Some(ApiPermission::AuditLogWitnessesReadWrite),
            Action::ReadLockboxRequests(_) | Action::DecideLockboxRequest(_) => {
                Some(ApiPermission::LockboxReadWriteAll)
            }
            Action::ManageNotifications(_) => {
                Some(ApiPermission::ServiceHealthNotificationsReadWrite)
            }
            _ => None,
        }
    }

    /// The operator role that allows this action (None: operators may never).
    fn operator_role(self) -> Option<OperatorRole> {
        match self {
            Action::ManageTenants
            | Action::ManageOperators
            | Action::ManageTopology
            | Action::ReadOperatorAuditLog => Some(OperatorRole::ProviderAdmin),
            Action::PublishServiceHealth | Action::PublishMessages => {
                Some(OperatorRole::IncidentManager)
            }
            Action::FileLockboxRequest => Some(OperatorRole::SupportEngineer),
            Action::IngestAlerts => Some(OperatorRole::AlertSource),
            Action::ApproveLockboxInternally => Some(OperatorRole::SupportManager),
            Action::EnforceLockbox => Some(OperatorRole::DataPlaneService),
            _ => None,
        }
    }

    /// What is needed, in words, for error messages.
    fn requirement(self) -> String {
        let roles = self.tenant_roles();
        let mut parts: Vec<String> = Vec::new();
        if !roles.is_empty() {
            parts.push(format!(
                "tenant role {}",
                roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ));
        }
        if let Some(p) = self.api_permission() {
            parts.push(format!("application permission {p}"));
        }
        if let Some(r) = self.operator_role() {
            parts.push(format!("operator role {r}"));
        }
        parts.join(", or ")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct Denied {
    pub reason: DenyReason,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DenyReason {
    /// The actor belongs to another tenant than the one the action touches.
    OtherTenant,
    /// Tenant data is out of an operator's reach; operator-realm actions out of a tenant's.
    WrongRealm,
    /// Right realm and tenant, but not the role or permission the action needs.
    MissingRole,
}

/// Decides whether `actor` may perform `action`. This is the only place policy lives.
pub fn authorize(actor: &Actor, action: Action) -> Result<(), Denied> {
    let deny = |reason: DenyReason, message: String| Err(Denied { reason, message });
    match actor {
        Actor::System => Ok(()),
        Actor::TenantUser {
            tenant_id, roles, ..
        } => match action.tenant() {
            None => deny(
                DenyReason::WrongRealm,
                "this action is for provider operators; tenant users may not perform it".into(),
            ),
            Some(t) if t != *tenant_id => deny(
                DenyReason::OtherTenant,
                "you may only act within your own tenant".into(),
            ),
            Some(_) if action.tenant_roles().iter().any(|r| roles.contains(*r)) => Ok(()),
            Some(_) => deny(
                DenyReason::MissingRole,
                format!("this needs the {}", action.requirement()),
            ),
        },
        Actor::ApiClient {
            tenant_id,
            permissions,
            ..
        } => match (action.tenant(), action.api_permission()) {
            (None, _) => deny(
                DenyReason::WrongRealm,
                "this action is for provider operators; applications may not perform it".into(),
            ),
            (Some(t), _) if t != *tenant_id => deny(
                DenyReason::OtherTenant,
                "the token was issued for another tenant".into(),
            ),
            (Some(_), Some(p)) if permissions.contains(p) => Ok(()),
            (Some(_), Some(p)) => deny(
                DenyReason::MissingRole,
                format!("the token lacks the application permission {p}"),
            ),
            (Some(_), None) => deny(
                DenyReason::MissingRole,
                "applications may not perform this action; a Global Administrator must do it in the portal".into(),
            ),
        },
        Actor::Operator { roles, .. } => match action.operator_role() {
            None => deny(
                DenyReason::WrongRealm,
                "operators have no access to tenant data or tenant administration".into(),
            ),
            Some(r) if roles.contains(r) => Ok(()),
            Some(r) => deny(
                DenyReason::MissingRole,
                format!("this needs the operator role {r}"),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn user(tenant: TenantId, roles: &[TenantRole]) -> Actor {
        Actor::TenantUser {
            tenant_id: tenant,
            user_id: UserId::generate(),
            email: "u@t.example".into(),
            roles: roles.iter().copied().collect(),
        }
    }

    fn app(tenant: TenantId, perms: &[ApiPermission]) -> Actor {
        Actor::ApiClient {
            tenant_id: tenant,
            client_id: ApiClientId::generate(),
            permissions: perms.iter().copied().collect(),
        }
    }

    fn operator(roles: &[OperatorRole]) -> Actor {
        Actor::Operator {
            operator_id: OperatorId::generate(),
            email: "op@provider.example".into(),
            roles: roles.iter().copied().collect(),
        }
    }

    #[test]
    fn global_administrator_may_do_everything_in_own_tenant_only() {
        let t = TenantId::generate();
        let other = TenantId::generate();
        let ga = user(t, &[TenantRole::GlobalAdministrator]);
        for action in Action::all_for(t) {
            let r = authorize(&ga, action);
            assert_eq!(r.is_ok(), action.tenant().is_some(), "{action:?}");
        }
        for action in Action::all_for(other)
            .into_iter()
            .filter(|a| a.tenant().is_some())
        {
            assert_eq!(
                authorize(&ga, action).unwrap_err().reason,
                DenyReason::OtherTenant
            );
        }
    }

    #[test]
    fn audit_reader_reads_audit_but_manages_nothing() {
        let t = TenantId::generate();
        let reader = user(t, &[TenantRole::AuditReader]);
        assert!(authorize(&reader, Action::ReadAuditLog(t)).is_ok());
        for action in [
            Action::ManageUsers(t),
            Action::ManageApiClients(t),
            Action::ManageTenantSettings(t),
            Action::ReadServiceHealth(t),
            Action::DecideLockboxRequest(t),
        ] {
            let err = authorize(&reader, action).unwrap_err();
            assert_eq!(err.reason, DenyReason::MissingRole);
        }
    }

    #[test]
    fn message_center_reader_only_reads_message_center() {
        let t = TenantId::generate();
        let reader = user(t, &[TenantRole::MessageCenterReader]);
        assert!(authorize(&reader, Action::ReadMessageCenter(t)).is_ok());
        assert!(authorize(&reader, Action::ReadServiceHealth(t)).is_err());
        assert!(authorize(&reader, Action::ReadAuditLog(t)).is_err());
    }

    #[test]
    fn lockbox_approver_decides_lockbox_requests_only() {
        let t = TenantId::generate();
        let approver = user(t, &[TenantRole::CustomerLockboxAccessApprover]);
        assert!(authorize(&approver, Action::DecideLockboxRequest(t)).is_ok());
        assert!(authorize(&approver, Action::ReadLockboxRequests(t)).is_ok());
        assert!(authorize(&approver, Action::ManageTenantSettings(t)).is_err());
    }

    #[test]
    fn tenant_users_never_reach_the_operator_realm() {
        let t = TenantId::generate();
        let ga = user(t, &[TenantRole::GlobalAdministrator]);
        let err = authorize(&ga, Action::ManageTenants).unwrap_err();
        assert_eq!(err.reason, DenyReason::WrongRealm);
    }

    #[test]
    fn operators_never_reach_tenant_data() {
        let t = TenantId::generate();
        let admin = operator(&[
            OperatorRole::ProviderAdmin,
            OperatorRole::IncidentManager,
            OperatorRole::SupportEngineer,
            OperatorRole::SupportManager,
        ]);
        for action in Action::all_for(t)
            .into_iter()
            .filter(|a| a.tenant().is_some())
        {
            assert_eq!(
                authorize(&admin, action).unwrap_err().reason,
                DenyReason::WrongRealm,
                "{action:?}"
            );
        }
    }

    #[test]
    fn each_operator_action_needs_its_role() {
        let cases = [
            (Action::ManageTenants, OperatorRole::ProviderAdmin),
            (Action::ManageOperators, OperatorRole::ProviderAdmin),
            (Action::ManageTopology, OperatorRole::ProviderAdmin),
            (Action::ReadOperatorAuditLog, OperatorRole::ProviderAdmin),
            (Action::PublishServiceHealth, OperatorRole::IncidentManager),
            (Action::PublishMessages, OperatorRole::IncidentManager),
            (Action::FileLockboxRequest, OperatorRole::SupportEngineer),
            (
                Action::ApproveLockboxInternally,
                OperatorRole::SupportManager,
            ),
        ];
        for (action, role) in cases {
            assert!(authorize(&operator(&[role]), action).is_ok());
            let others: Vec<OperatorRole> = OperatorRole::ALL
                .iter()
                .copied()
                .filter(|r| *r != role)
                .collect();
            let err = authorize(&operator(&others), action).unwrap_err();
            assert_eq!(err.reason, DenyReason::MissingRole);
            assert!(err.message.contains(role.as_str()));
        }
    }

    #[test]
    fn api_client_needs_the_matching_permission() {
        let t = TenantId::generate();
        let cases = [
            (
                Action::ReadServiceHealth(t),
                ApiPermission::ServiceHealthReadAll,
            ),
            (
                Action::ReadMessageCenter(t),
                ApiPermission::ServiceMessageReadAll,
            ),
            (Action::ReadAuditLog(t), ApiPermission::AuditLogReadAll),
            (
                Action::DecideLockboxRequest(t),
                ApiPermission::LockboxReadWriteAll,
            ),
        ];
        for (action, perm) in cases {
            assert!(authorize(&app(t, &[perm]), action).is_ok());
            let others: Vec<ApiPermission> = ApiPermission::ALL
                .iter()
                .copied()
                .filter(|p| *p != perm)
                .collect();
            let err = authorize(&app(t, &others), action).unwrap_err();
            assert!(err.message.contains(perm.as_str()), "{}", err.message);
        }
    }

    #[test]
    fn api_clients_never_administer_the_tenant() {
        let t = TenantId::generate();
        let all = app(t, ApiPermission::ALL);
        for action in [
            Action::ManageUsers(t),
            Action::ManageApiClients(t),
            Action::ManageTenantSettings(t),
            // A viewpoint is a person's own; Graph refuses it to application permissions.
            Action::SetMessageViewpoint(t),
        ] {
            assert!(authorize(&all, action).is_err());
        }
        assert_eq!(
            authorize(&all, Action::ManageTenants).unwrap_err().reason,
            DenyReason::WrongRealm
        );
    }

    #[test]
    fn api_client_of_another_tenant_is_refused() {
        let t = TenantId::generate();
        let other = app(TenantId::generate(), ApiPermission::ALL);
        assert_eq!(
            authorize(&other, Action::ReadAuditLog(t))
                .unwrap_err()
                .reason,
            DenyReason::OtherTenant
        );
    }

    fn any_tenant_roles() -> impl Strategy<Value = Vec<TenantRole>> {
        proptest::sample::subsequence(TenantRole::ALL.to_vec(), 0..=TenantRole::ALL.len())
    }

    proptest! {
        /// Whatever roles a user holds, nothing they do can reach another tenant.
        #[test]
        fn no_role_combination_crosses_tenants(roles in any_tenant_roles()) {
            let mine = TenantId::generate();
            let theirs = TenantId::generate();
            let actor = user(mine, &roles);
            for action in Action::all_for(theirs) {
                prop_assert!(authorize(&actor, action).is_err());
            }
        }

        /// Adding a role never takes a permission away.
        #[test]
        fn roles_are_monotonic(roles in any_tenant_roles(), extra in proptest::sample::select(TenantRole::ALL.to_vec())) {
            let t = TenantId::generate();
            let before = user(t, &roles);
            let mut more = roles.clone();
            more.push(extra);
            let after = user(t, &more);
            for action in Action::all_for(t) {
                if authorize(&before, action).is_ok() {
                    prop_assert!(authorize(&after, action).is_ok());
                }
            }
        }
    }
}
