//! The authorization matrix: every route the router declares × every kind of caller →
//! the answer that caller must get.
//!
//! The routes come from the application's own route table (`AppState::routes`: the
//! OpenAPI document for the REST API, and every path declared through
//! `RouterExt::at`; clippy refuses `Router::route` in candor-web). The methods of a path
//! are asked of the running app: whatever does not answer 405 is served. Each
//! (method, path) needs a rule in `rule_of`; one without fails the test, so a route
//! added later cannot ship with nobody having decided who may call it.
//!
//! Callers: anonymous; each tenant role of tenant A; a Global Administrator of tenant B
//! (A's objects must be hidden from them); each operator role, standing; an operator
//! elevated to Provider Admin and one whose elevation is still pending; A's API clients
//! with each one permission; B's client with every permission; an operator client for
//! each operator role. Path parameters are real objects of tenant A.

use std::collections::{BTreeMap, BTreeSet};

use candor_app::{contacts, elevation, feeds, health, identity, lockbox, messages};
use candor_domain::identity::{Actor, ApiPermission, OperatorRole, TenantRole};
use candor_domain::lockbox::Workload;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};

use crate::common::{csrf_of, TestApp, PASSWORD};
use crate::health::{incident, place};

/// What a caller gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// Served: a page, a document, a validation error about the (empty) input, a
    /// redirect after doing what was asked.
    Served,
    /// Asked to authenticate: 401, or a redirect to a sign-in page.
    SignIn,
    /// Refused: 403, or a person sent back to their own realm's home.
    Refused,
    /// The object is not there for this caller: 404.
    Hidden,
}

/// Who may call a route.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// Anyone, signed in or not: sign-in forms, public status, feeds by token,
    /// unsubscribe links, discovery documents, the token endpoint, health checks.
    Anyone,
    /// Anyone holding the token in the path, which is the credential: a made-up one is
    /// not found, whoever sends it.
    Token,
    /// A portal page for tenant users holding one of these roles (empty: any role).
    Portal(&'static [TenantRole]),
    /// A console page for operators holding this role (`None`: any operator).
    Console(Option<OperatorRole>),
    /// Tenant data through an API: apps with the permission, or (GET only) people signed
    /// in with one of the roles; operators with the role read their realm's own version.
    TenantApi(ApiPermission, &'static [TenantRole], Option<OperatorRole>),
    /// The operator API: operator clients, or (GET only) signed-in operators, with the
    /// role.
    OperatorApi(OperatorRole),
    /// Any authenticated caller.
    AnyCaller,
    /// Graph's bound message actions (markRead, …): a person's own view, so people with
    /// Message center roles only; applications are refused.
    Viewpoint,
    /// In Graph's schema but not served by Graph, nor by Candor: not found for anyone.
    NotServed,
    /// The console's Lockbox pages: support engineers (the requests they filed) and
    /// support managers (every request). `by_id`: the path names one request.
    ConsoleLockbox { by_id: bool },
    /// Lockbox requests through the API: the tenant's approvers and apps with
    /// Lockbox.ReadWrite.All; support engineers (their own) and managers read them.
    LockboxApi { by_id: bool },
    /// Ends an elevation: Provider Admins, and the operator who holds it.
    ElevationRevoke,
    /// One person's object (a browser subscription of tenant A's Global Administrator).
    OwnedBy(TenantRole),
    /// One operator's object (a browser subscription of the Incident Manager).
    OwnedByOperator,
    /// One record of tenant A's audit log through the API: as `TenantApi` for the audit
    /// log, but a provider admin's log is the operator realm's, which does not have it.
    TenantAuditRecord,
    /// One witness of tenant A's log: as `TenantApi` for naming witnesses, but a provider
    /// admin's log is the operator realm's, which does not have it.
    TenantWitness,
}

use ApiPermission as P;
use OperatorRole as O;
use TenantRole as T;

const GA: T = T::GlobalAdministrator;
const HEALTH: &[T] = &[GA, T::ServiceSupportAdministrator];
const MESSAGES: &[T] = &[GA, T::ServiceSupportAdministrator, T::MessageCenterReader];
const AUDIT: &[T] = &[GA, T::AuditReader];
const LOCKBOX: &[T] = &[GA, T::CustomerLockboxAccessApprover];
const ADMIN: &[T] = &[GA];

/// The rule of every route. Graph's `beta` paths share `v1.0`'s rules.
fn rule_of(method: &Method, path: &str) -> Option<Rule> {
    let path = path
        .strip_prefix("/beta/")
        .map_or_else(|| path.to_owned(), |rest| format!("/v1.0/{rest}"));
    let rule = match path.as_str() {
        "/feeds/tenants/{token}"
        | "/feeds/tenants/{token}/maintenance.ics"
        | "/unsubscribe/{token}"
        | "/status/subscribe/confirm/{token}"
        | "/status/subscription/{token}"
        | "/status/subscription/{token}/unsubscribe" => Rule::Token,
        "/"
        | "/signin"
        | "/console/signin"
        | "/status"
        | "/status/subscribe"
        | "/feeds/status.atom"
        | "/feeds/maintenance.ics"
        | "/api/v2/summary.json"
        | "/api/v2/status.json"
        | "/api/v2/components.json"
        | "/api/v2/incidents.json"
        | "/api/v2/incidents/unresolved.json"
        | "/api/v2/scheduled-maintenances.json"
        | "/api/v2/scheduled-maintenances/upcoming.json"
        | "/api/v2/scheduled-maintenances/active.json"
        | "/healthz"
        | "/readyz"
        | "/metrics"
        | "/openapi.json"
        | "/oauth2/v2.0/token"
        | "/.well-known/jwks.json"
        | "/.well-known/openid-configuration"
        | "/static/candor.css"
        | "/static/push.js"
        | "/static/icon.svg"
        | "/manifest.webmanifest"
        | "/sw.js" => Rule::Anyone,
        // Signing out when signed out does no harm.
        "/signout" => Rule::Anyone,
        "/language" => Rule::Anyone,

        "/portal" => Rule::Portal(&[]),
        "/portal/audit" | "/portal/audit/export" => Rule::Portal(AUDIT),
        "/portal/users"
        | "/portal/users/{id}/roles"
        | "/portal/api-clients"
        | "/portal/api-clients/{id}/revoke"
        | "/portal/settings"
        | "/portal/contacts"
        | "/portal/contacts/{id}"
        | "/portal/contacts/invitations"
        | "/portal/webhooks"
        | "/portal/webhooks/{id}"
        | "/portal/deliveries"
        | "/portal/feeds"
        | "/portal/feeds/{id}/revoke"
        | "/portal/lockbox/setting" => Rule::Portal(ADMIN),
        "/portal/health" | "/portal/health/issues/{id}" | "/portal/health/issues/{id}/review" => {
            Rule::Portal(HEALTH)
        }
        "/portal/messages"
        | "/portal/messages/{id}"
        | "/portal/messages/{id}/viewpoint"
        | "/portal/messages/{id}/attachments/{attachment}"
        | "/portal/messages/{id}/attachments.zip" => Rule::Portal(MESSAGES),
        // Anyone may look; subscribing needs news to read.
        "/portal/push" if method == Method::POST => Rule::Portal(MESSAGES),
        "/portal/push" => Rule::Portal(&[]),
        "/portal/push/{id}" => Rule::OwnedBy(GA),
        "/portal/lockbox"
        | "/portal/lockbox/requests/{id}"
        | "/portal/lockbox/requests/{id}/decision"
        | "/portal/lockbox/requests/{id}/revoke" => Rule::Portal(LOCKBOX),

        "/console" | "/console/elevation" | "/console/push" => Rule::Console(None),
        "/console/push/{id}" => Rule::OwnedByOperator,
        "/console/elevation/{id}/decision" => Rule::Console(Some(O::ProviderAdmin)),
        "/console/elevation/{id}/revoke" => Rule::ElevationRevoke,
        "/console/deliveries" => Rule::Console(Some(O::IncidentManager)),
        "/console/maintenance" | "/console/maintenance/{id}/change" => {
            Rule::Console(Some(O::IncidentManager))
        }
        "/console/subscribers"
        | "/console/subscribers.csv"
        | "/console/subscribers/{id}/remove" => Rule::Console(Some(O::IncidentManager)),
        "/console/drafts" | "/console/drafts/{id}/publish" => {
            Rule::Console(Some(O::IncidentManager))
        }
        "/console/audit"
        | "/console/audit/export"
        | "/console/tenants"
        | "/console/operators"
        | "/console/topology" => Rule::Console(Some(O::ProviderAdmin)),
        "/console/lockbox" => Rule::ConsoleLockbox { by_id: false },
        "/console/lockbox/requests/{id}" => Rule::ConsoleLockbox { by_id: true },
        "/console/lockbox/new" => Rule::Console(Some(O::SupportEngineer)),
        "/console/lockbox/requests/{id}/decision" => Rule::Console(Some(O::SupportManager)),
        "/console/messages"
        | "/console/messages/new"
        | "/console/messages/{id}"
        | "/console/issues"
        | "/console/issues/new"
        | "/console/issues/{id}"
        | "/console/issues/{id}/posts"
        | "/console/issues/{id}/reopen"
        | "/console/issues/{id}/scope"
        | "/console/issues/{id}/review" => Rule::Console(Some(O::IncidentManager)),

        "/api/v1/me" => Rule::AnyCaller,
        "/api/v1/maintenances" | "/api/v1/maintenances.ics" => {
            Rule::TenantApi(P::ServiceHealthReadAll, HEALTH, None)
        }
        "/api/v1/audit/records"
        | "/api/v1/audit/records/export"
        | "/api/v1/audit/consistency"
        | "/api/v1/audit/log/checkpoint"
        | "/api/v1/audit/log/tile/{*tile}"
        | "/api/v1/audit/keys" => {
            Rule::TenantApi(P::AuditLogReadAll, AUDIT, Some(O::ProviderAdmin))
        }
        "/api/v1/audit/records/{id}/proof" => Rule::TenantAuditRecord,
        "/api/v1/audit/log/checkpoint.cosigned" | "/api/v1/audit/retention" => {
            Rule::TenantApi(P::AuditLogReadAll, AUDIT, Some(O::ProviderAdmin))
        }
        "/api/v1/audit/witnesses" if method == Method::GET => {
            Rule::TenantApi(P::AuditLogReadAll, AUDIT, Some(O::ProviderAdmin))
        }
        "/api/v1/audit/witnesses" => {
            Rule::TenantApi(P::AuditLogWitnessesReadWrite, ADMIN, Some(O::ProviderAdmin))
        }
        "/api/v1/audit/witnesses/{id}" => Rule::TenantWitness,
        // A witness's signature is its credential.
        "/api/v1/audit/log/cosignatures" => Rule::Anyone,
        "/api/v1/operator/audit-retention/{log}" => Rule::OperatorApi(O::ProviderAdmin),
        "/api/v1/notifications/contacts"
        | "/api/v1/notifications/contacts/{id}"
        | "/api/v1/notifications/contacts/{id}/test"
        | "/api/v1/notifications/contacts/invitations"
        | "/api/v1/notifications/webhooks"
        | "/api/v1/notifications/webhooks/{id}"
        | "/api/v1/notifications/webhooks/{id}/test"
        | "/api/v1/notifications/webhooks/{id}/rotate-secret" => {
            Rule::TenantApi(P::ServiceHealthNotificationsReadWrite, &[GA], None)
        }
        "/api/v1/lockbox/requests" => Rule::LockboxApi { by_id: false },
        "/api/v1/lockbox/requests/{id}"
        | "/api/v1/lockbox/requests/{id}/decision"
        | "/api/v1/lockbox/requests/{id}/revoke" => Rule::LockboxApi { by_id: true },
        "/api/v1/lockbox/authorize" | "/api/v1/lockbox/actions" => {
            Rule::OperatorApi(O::DataPlaneService)
        }
        "/api/v1/operator/topology" => Rule::OperatorApi(O::ProviderAdmin),
        "/api/v1/alerts/alertmanager" | "/api/v1/alerts/generic" => {
            Rule::OperatorApi(O::AlertSource)
        }
        "/api/v1/operator/drafts"
        | "/api/v1/operator/drafts/{id}"
        | "/api/v1/operator/drafts/{id}/publish" => Rule::OperatorApi(O::IncidentManager),
        "/api/v1/operator/issues"
        | "/api/v1/operator/issues/{id}"
        | "/api/v1/operator/issues/{id}/posts"
        | "/api/v1/operator/issues/{id}/reopen"
        | "/api/v1/operator/issues/{id}/scope"
        | "/api/v1/operator/issues/{id}/review"
        | "/api/v1/operator/issues/{id}/review/publish"
        | "/api/v1/operator/impact-preview"
        | "/api/v1/operator/messages"
        | "/api/v1/operator/messages/{id}"
        | "/api/v1/operator/messages/audience-preview"
        | "/api/v1/operator/maintenances"
        | "/api/v1/operator/maintenances/{id}"
        | "/api/v1/operator/maintenances/{id}/changes"
        | "/api/v1/operator/maintenances/impact-preview"
        | "/api/v1/operator/deliveries"
        | "/api/v1/operator/deliveries/changes" => Rule::OperatorApi(O::IncidentManager),
        "/v1.0/admin/serviceAnnouncement/healthOverviews/{name}/issues" => Rule::NotServed,
        "/v1.0/admin/serviceAnnouncement/messages/{id}" if method == Method::POST => {
            Rule::Viewpoint
        }
        "/v1.0/admin/serviceAnnouncement/messages"
        | "/v1.0/admin/serviceAnnouncement/messages/{id}"
        | "/v1.0/admin/serviceAnnouncement/messages/{id}/attachments"
        | "/v1.0/admin/serviceAnnouncement/messages/{id}/attachments/{attachment}"
        | "/v1.0/admin/serviceAnnouncement/messages/{id}/attachments/{attachment}/content"
        | "/v1.0/admin/serviceAnnouncement/messages/{id}/attachmentsArchive" => {
            Rule::TenantApi(P::ServiceMessageReadAll, MESSAGES, None)
        }
        "/v1.0/admin/serviceAnnouncement/healthOverviews"
        | "/v1.0/admin/serviceAnnouncement/healthOverviews/{name}"
        | "/v1.0/admin/serviceAnnouncement/issues"
        | "/v1.0/admin/serviceAnnouncement/issues/{id}"
        | "/v1.0/admin/serviceAnnouncement/issues/{id}/incidentReport"
        | "/v1.0/admin/serviceAnnouncement/issues/{id}/incidentReport()"
        | "/v1.0/admin/serviceAnnouncement/issues/{id}/microsoft.graph.incidentReport()" => {
            Rule::TenantApi(P::ServiceHealthReadAll, HEALTH, None)
        }
        _ => return None,
    };
    Some(rule)
}

/// What an operator has to do with the objects in the paths.
#[derive(Debug, Clone, Copy, Default)]
struct Operator {
    /// Filed tenant A's Lockbox request.
    filed: bool,
    /// Holds the (pending) elevation the elevation paths name.
    holds_elevation: bool,
    /// Turned push on in the browser the console's push paths name.
    owns_browser: bool,
}

#[derive(Debug, Clone)]
enum Who {
    Anonymous,
    /// Tenant A's user with one role.
    TenantUser(TenantRole),
    /// Tenant B's Global Administrator, reaching for tenant A's objects.
    OtherTenantAdmin,
    /// A signed-in operator and the roles they hold right now.
    Operator(&'static str, BTreeSet<OperatorRole>, Operator),
    /// Tenant A's API client with one permission.
    App(ApiPermission),
    /// Tenant B's API client with every permission.
    OtherTenantApp,
    /// An operator client with one role.
    OperatorClient(OperatorRole),
}

impl Who {
    fn label(&self) -> String {
        match self {
            Who::Anonymous => "anonymous".into(),
            Who::TenantUser(r) => format!("tenant user {r}"),
            Who::OtherTenantAdmin => "other tenant's GlobalAdministrator".into(),
            Who::Operator(name, ..) => format!("operator {name}"),
            Who::App(p) => format!("app with {p}"),
            Who::OtherTenantApp => "other tenant's app".into(),
            Who::OperatorClient(r) => format!("operator client {r}"),
        }
    }

    fn has_session(&self) -> bool {
        matches!(
            self,
            Who::TenantUser(_) | Who::OtherTenantAdmin | Who::Operator(..)
        )
    }
}

/// What `who` must get from `method path` under `rule`. `tenant_object` says whether the
/// path names one of tenant A's objects.
fn expected(rule: Rule, who: &Who, method: &Method, path: &str, tenant_object: bool) -> Outcome {
    use Outcome::*;
    let read = *method == Method::GET;
    let bearer = matches!(
        who,
        Who::App(_) | Who::OtherTenantApp | Who::OperatorClient(_)
    );
    if !read && bearer && is_form(path) {
        // A form post carries the page's CSRF token, which no token holder has.
        return Refused;
    }
    match rule {
        Rule::Anyone => Served,
        Rule::Token => Hidden,
        Rule::Portal(roles) => match who {
            Who::Anonymous => SignIn,
            Who::TenantUser(r) if roles.is_empty() || roles.contains(r) => Served,
            Who::TenantUser(_) => Refused,
            Who::OtherTenantAdmin if tenant_object => Hidden,
            Who::OtherTenantAdmin => Served,
            Who::Operator(..) => Refused,
            _ if read => SignIn,
            _ => Refused,
        },
        Rule::Console(role) => match who {
            Who::Anonymous => SignIn,
            Who::Operator(_, held, _) if role.is_none_or(|r| held.contains(&r)) => Served,
            Who::TenantUser(_) | Who::OtherTenantAdmin | Who::Operator(..) => Refused,
            _ if read => SignIn,
            _ => Refused,
        },
        Rule::TenantApi(permission, roles, operator) => match who {
            Who::Anonymous => SignIn,
            Who::App(p) if *p == permission => Served,
            Who::App(_) => Refused,
            Who::OtherTenantApp if tenant_object => Hidden,
            Who::OtherTenantApp => Served,
            Who::OperatorClient(r) if operator == Some(*r) => Served,
            Who::OperatorClient(_) => Refused,
            // A session authenticates only reads.
            _ if !read => SignIn,
            Who::TenantUser(r) if roles.contains(r) => Served,
            Who::TenantUser(_) => Refused,
            Who::OtherTenantAdmin if tenant_object => Hidden,
            Who::OtherTenantAdmin => Served,
            Who::Operator(_, held, _) if operator.is_some_and(|r| held.contains(&r)) => Served,
            Who::Operator(..) => Refused,
        },
        Rule::OperatorApi(role) => match who {
            Who::Anonymous => SignIn,
            Who::OperatorClient(r) if *r == role => Served,
            Who::App(_) | Who::OtherTenantApp | Who::OperatorClient(_) => Refused,
            _ if !read => SignIn,
            Who::Operator(_, held, _) if held.contains(&role) => Served,
            _ => Refused,
        },
        Rule::AnyCaller => match who {
            Who::Anonymous => SignIn,
            w if w.has_session() && !read => SignIn,
            _ => Served,
        },
        Rule::NotServed => Hidden,
        Rule::Viewpoint => match who {
            Who::Anonymous => SignIn,
            Who::TenantUser(r) if MESSAGES.contains(r) => Served,
            // Their own view of their own tenant's messages (none named here).
            Who::OtherTenantAdmin => Served,
            _ => Refused,
        },
        Rule::ConsoleLockbox { by_id } => match who {
            Who::Anonymous => SignIn,
            Who::Operator(_, held, _) if held.contains(&O::SupportManager) => Served,
            Who::Operator(_, held, me) if held.contains(&O::SupportEngineer) => {
                if by_id && !me.filed {
                    Hidden
                } else {
                    Served
                }
            }
            Who::TenantUser(_) | Who::OtherTenantAdmin | Who::Operator(..) => Refused,
            _ if read => SignIn,
            _ => Refused,
        },
        Rule::LockboxApi { by_id } => match who {
            Who::Anonymous => SignIn,
            Who::App(P::LockboxReadWriteAll) => Served,
            Who::App(_) => Refused,
            Who::OtherTenantApp if by_id => Hidden,
            Who::OtherTenantApp => Served,
            // Support managers read every request, engineers none but their own (these
            // clients filed none); neither decides through the API.
            Who::OperatorClient(O::SupportEngineer) if by_id => Hidden,
            Who::OperatorClient(O::SupportManager | O::SupportEngineer) if read => Served,
            Who::OperatorClient(_) => Refused,
            _ if !read => SignIn,
            Who::TenantUser(r) if LOCKBOX.contains(r) => Served,
            Who::TenantUser(_) => Refused,
            Who::OtherTenantAdmin if by_id => Hidden,
            Who::OtherTenantAdmin => Served,
            Who::Operator(_, held, _) if held.contains(&O::SupportManager) => Served,
            Who::Operator(_, held, me) if held.contains(&O::SupportEngineer) => {
                if by_id && !me.filed {
                    Hidden
                } else {
                    Served
                }
            }
            Who::Operator(..) => Refused,
        },
        Rule::ElevationRevoke => match who {
            Who::Anonymous => SignIn,
            Who::Operator(_, held, me)
                if held.contains(&O::ProviderAdmin) || me.holds_elevation =>
            {
                Served
            }
            Who::TenantUser(_) | Who::OtherTenantAdmin | Who::Operator(..) => Refused,
            _ if read => SignIn,
            _ => Refused,
        },
        Rule::OwnedBy(owner) => match who {
            Who::Anonymous => SignIn,
            Who::TenantUser(r) if *r == owner => Served,
            Who::TenantUser(_) | Who::OtherTenantAdmin => Hidden,
            Who::Operator(..) => Refused,
            _ if read => SignIn,
            _ => Refused,
        },
        Rule::TenantAuditRecord => {
            let audit = Rule::TenantApi(P::AuditLogReadAll, AUDIT, Some(O::ProviderAdmin));
            match (who, expected(audit, who, method, path, tenant_object)) {
                (Who::Operator(..) | Who::OperatorClient(_), Served) => Hidden,
                (_, outcome) => outcome,
            }
        }
        Rule::TenantWitness => {
            let manage =
                Rule::TenantApi(P::AuditLogWitnessesReadWrite, ADMIN, Some(O::ProviderAdmin));
            match (who, expected(manage, who, method, path, tenant_object)) {
                (Who::Operator(..) | Who::OperatorClient(_), Served) => Hidden,
                (_, outcome) => outcome,
            }
        }
        Rule::OwnedByOperator => match who {
            Who::Anonymous => SignIn,
            Who::Operator(_, _, me) if me.owns_browser => Served,
            Who::Operator(..) => Hidden,
            Who::TenantUser(_) | Who::OtherTenantAdmin => Refused,
            _ if read => SignIn,
            _ => Refused,
        },
    }
}

/// Whether `path` is a portal or console form (guarded by the CSRF check).
fn is_form(path: &str) -> bool {
    let elsewhere = [
        "/api/",
        "/v1.0/",
        "/beta/",
        "/oauth2/",
        "/.well-known/",
        "/feeds/",
        "/unsubscribe/",
        "/status",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
    ];
    !elsewhere.iter().any(|p| path.starts_with(p))
}

/// What each form or body carries, as the pages and clients send it: every field
/// present, so that the answer is about who asks, never about a missing field. Values
/// that would change what other callers see are chosen to be refused after the rights
/// check (an invalid address, an unknown permission) or to do no harm (a test message,
/// a denial).
fn fields_of(path: &str) -> &'static [(&'static str, &'static str)] {
    match path {
        "/language" => &[("lang", "en")],
        "/portal/users" => &[
            ("display_name", "Nobody"),
            ("email", "not-an-address"),
            ("password", "x"),
            ("roles", "AuditReader"),
        ],
        "/portal/users/{id}/roles" => &[("roles", "AuditReader")],
        "/portal/api-clients" => &[("display_name", "Probe"), ("permissions", "Nope.Read.All")],
        "/portal/settings" => &[("default_language", "xx"), ("time_zone", "Nowhere/Nothing")],
        "/portal/contacts/{id}"
        | "/portal/webhooks/{id}"
        | "/portal/push/{id}"
        | "/console/push/{id}" => &[("action", "test")],
        "/portal/messages/{id}/viewpoint" => &[("change", "markRead")],
        "/portal/lockbox/requests/{id}/decision"
        | "/console/lockbox/requests/{id}/decision"
        | "/console/elevation/{id}/decision" => &[("decision", "Deny"), ("comment", "Not now.")],
        "/portal/lockbox/requests/{id}/revoke" => &[("decision", "revoke"), ("comment", "Done.")],
        "/console/tenants" => &[
            ("name", ""),
            ("home_region", "nowhere"),
            ("default_language", "xx"),
            ("time_zone", "Nowhere/Nothing"),
        ],
        "/console/operators" => &[
            ("display_name", "Nobody"),
            ("email", "not-an-address"),
            ("password", "x"),
            ("roles", "IncidentManager"),
        ],
        _ => &[],
    }
}

/// JSON bodies and query strings, likewise.
fn body_of(path: &str) -> &'static str {
    match path {
        "/api/v1/lockbox/requests/{id}/decision" => r#"{"decision":"Deny","comment":"Not now."}"#,
        "/api/v1/lockbox/requests/{id}/revoke" => r#"{"comment":"Done."}"#,
        // Refused after the rights check: no address, no such service, no https.
        "/api/v1/notifications/contacts" | "/api/v1/notifications/contacts/invitations" => {
            r#"{"email":"not-an-address","topics":["incidents"]}"#
        }
        "/api/v1/notifications/webhooks" => r#"{"url":"ftp://nowhere","topics":["incidents"]}"#,
        "/api/v1/notifications/contacts/{id}" | "/api/v1/notifications/webhooks/{id}" => {
            r#"{"services":["No such service"]}"#
        }
        p if p.ends_with("/messages/{id}") => r#"{"messageIds":[]}"#,
        _ => "{}",
    }
}

fn query_of(path: &str) -> &'static str {
    match path {
        "/api/v1/operator/deliveries" => "?change=issue:EX0:post:1",
        "/api/v1/audit/consistency" => "?from=1",
        "/api/v1/audit/records"
        | "/api/v1/audit/records/export"
        | "/portal/audit/export"
        | "/console/audit/export" => "?start=2026-11-01&end=2026-12-01",
        _ => "",
    }
}

/// What an answer means, from the status and where a redirect points.
fn outcome_of(path: &str, status: StatusCode, location: Option<&str>) -> Option<Outcome> {
    Some(match status.as_u16() {
        401 => Outcome::SignIn,
        403 => Outcome::Refused,
        404 => Outcome::Hidden,
        301..=308 => match location.unwrap_or("") {
            // Where the root sends each caller, and the page after signing out.
            _ if path == "/" => Outcome::Served,
            l if l.contains("notice=signed-out") => Outcome::Served,
            l if l.starts_with("/signin") || l.starts_with("/console/signin") => Outcome::SignIn,
            "/portal" if path.starts_with("/console") => Outcome::Refused,
            "/console" if path.starts_with("/portal") => Outcome::Refused,
            _ => Outcome::Served,
        },
        200..=299 | 400 | 409 | 413 | 415 | 422 => Outcome::Served,
        // 405 (not routed), 429 (throttled) and any 5xx are findings, never an outcome.
        _ => return None,
    })
}

/// A caller, ready to send: its client (cookies, its own forwarded address so sign-in
/// limits per address do not mix callers) and the credential it sends.
struct Caller {
    who: Who,
    client: reqwest::Client,
    bearer: Option<String>,
    csrf: Option<String>,
}

fn client_from(n: usize) -> reqwest::Client {
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-forwarded-for",
        HeaderValue::from_str(&format!("10.9.{}.{}", n / 200, n % 200 + 1)).unwrap(),
    );
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap()
}

/// A client with the pre-session CSRF cookie and its token, as a browser that opened the
/// sign-in page has.
async fn fresh_browser(app: &TestApp, n: usize, signin_path: &str) -> (reqwest::Client, String) {
    let client = client_from(n);
    let page = client
        .get(app.url(signin_path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&page);
    (client, csrf)
}

async fn signed_in(
    app: &TestApp,
    n: usize,
    email: &str,
    console: bool,
) -> (reqwest::Client, String) {
    let path = if console {
        "/console/signin"
    } else {
        "/signin"
    };
    let (client, csrf) = fresh_browser(app, n, path).await;
    let res = client
        .post(app.url(path))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "sign-in of {email}");
    let home = if console { "/console" } else { "/portal" };
    let page = client
        .get(app.url(home))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    (client, csrf_of(&page))
}

/// Tenant A's objects that paths name, and the extra people the callers need.
struct Objects {
    params: BTreeMap<&'static str, String>,
}

impl Objects {
    /// The path with each parameter filled with a real object of tenant A.
    fn fill(&self, method: &Method, path: &str) -> String {
        // Graph's bound actions share the message path: POST runs one.
        if *method == Method::POST && path.ends_with("/messages/{id}") {
            return path.replace("{id}", "markRead");
        }
        let mut out = path.to_owned();
        let key = if path.contains("/messages/") || path.contains("/messages/{") {
            "message"
        } else if path.contains("/maintenances/") || path.contains("/maintenance/{") {
            "maintenance"
        } else if path.contains("/issues/") || path.contains("/health/issues/") {
            "issue"
        } else if path.contains("/lockbox/requests/") {
            "lockbox"
        } else if path.contains("/users/") {
            "user"
        } else if path.contains("/api-clients/") {
            "client"
        } else if path.contains("/contacts/") {
            "contact"
        } else if path.contains("/webhooks/") {
            "webhook"
        } else if path.contains("/audit/records/") {
            "audit_record"
        } else if path.contains("/audit/witnesses/") {
            "witness"
        } else if path.contains("/console/push/") {
            "operator_push"
        } else if path.contains("/push/") {
            "push"
        } else if path.contains("/feeds/") && path.contains("{id}") {
            "feed"
        } else if path.contains("/elevation/") {
            "elevation"
        } else if path.contains("/drafts/") {
            "draft"
        } else if path.contains("/subscribers/") {
            "subscriber"
        } else {
            "none"
        };
        if let Some(v) = self.params.get(key) {
            out = out.replace("{id}", v);
        }
        for (param, key) in [
            ("{attachment}", "attachment"),
            ("{name}", "overview"),
            ("{token}", "token"),
            // Every log has its first record: each caller reads its own log's.
            ("{*tile}", "tile"),
            ("{log}", "log"),
        ] {
            if let Some(v) = self.params.get(key) {
                out = out.replace(param, v);
            }
        }
        assert!(!out.contains('{'), "no object for the parameters of {path}");
        out
    }
}

async fn objects(app: &TestApp) -> Objects {
    let core = &app.core;
    let system = Actor::System;
    let a = app.world.a.id;
    let mut params = BTreeMap::new();
    place(app).await;

    let manager = crate::health::operator(app, O::IncidentManager);
    let mut scope = candor_domain::health::Scope::default();
    scope
        .components
        .insert(candor_domain::health::ComponentId::parse("eu-west-su1-mbx01").unwrap());
    let (issue, _) = health::create_issue(core, &manager, None, incident(scope))
        .await
        .unwrap();
    params.insert("issue", issue.id.to_string());
    // Resolved, with a published review: every issue path has something to show.
    let id = issue.id;
    health::update_issue(
        core,
        &manager,
        None,
        id.clone(),
        health::UpdateInput {
            status: Some(candor_domain::health::Status::ServiceRestored),
            post: Some(health::PostInput {
                body_html: "<p>Fixed.</p>".into(),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    health::save_pir_draft(
        core,
        &manager,
        None,
        id.clone(),
        health::PirInput {
            user_impact: "Mailboxes did not open.".into(),
            scope_of_impact: "One mailbox database.".into(),
            start: None,
            end: None,
            root_cause: "A failed disk.".into(),
            actions_taken: "Failed over.".into(),
            next_steps: "Replace the disk.".into(),
        },
    )
    .await
    .unwrap();
    health::publish_pir(core, &manager, None, id.clone())
        .await
        .unwrap();

    let (message, _) = messages::create_message(
        core,
        &manager,
        None,
        messages::NewMessageInput {
            title: "Retiring Basic authentication".into(),
            body_html: "<p>Move your apps to OAuth.</p>".into(),
            category: candor_domain::health::Category::PlanForChange,
            services: vec!["Exchange".into()],
            attachments: vec![messages::AttachmentUpload {
                name: "connectors.csv".into(),
                content_type: "text/csv".into(),
                bytes: b"connector,owner\nsmtp-relay,it@contoso.example\n".to_vec(),
            }],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    params.insert("message", message.id.to_string());
    let (maintenance, _) = candor_app::maintenance::schedule(
        core,
        &manager,
        None,
        candor_app::maintenance::NewMaintenanceInput {
            services: vec!["Exchange".into()],
            scope: candor_domain::health::Scope::default(),
            text: [(
                candor_domain::language::Language::English,
                ("Mailbox upgrade".to_owned(), "Mail may be slow.".to_owned()),
            )]
            .into(),
            start: core.clock.now() + time::Duration::days(2),
            end: core.clock.now() + time::Duration::days(2) + time::Duration::hours(2),
            impact: candor_domain::health::maintenance::ExpectedImpact::Degraded,
            reminder_minutes: None,
        },
    )
    .await
    .unwrap();
    params.insert("maintenance", maintenance.id.to_string());
    params.insert(
        "attachment",
        message.attachments.first().unwrap().id.to_string(),
    );
    params.insert("overview", "Exchange Online".into());
    params.insert("token", "not-a-real-token-0123456789".into());
    params.insert("tile", "entries/000.p/1".into());

    // A Lockbox request waiting for tenant A's decision.
    core.store
        .put_workload(
            &Workload {
                name: "Exchange Online".into(),
                operations: vec!["Get-Mailbox".into()],
            },
            vec![],
        )
        .await
        .unwrap();
    lockbox::set_enabled(core, &system, None, a, true)
        .await
        .unwrap();
    let engineer = crate::health::operator(app, O::SupportEngineer);
    let request = lockbox::file_request(
        core,
        &engineer,
        None,
        lockbox::NewRequestInput {
            tenant: a,
            workload: "Exchange Online".into(),
            operations: vec!["Get-Mailbox".into()],
            service_request: "SR-MATRIX-1".into(),
            justification: "A mailbox will not open in any client.".into(),
            duration_minutes: 60,
        },
    )
    .await
    .unwrap();
    let support_manager = crate::health::operator(app, O::SupportManager);
    lockbox::decide_internally(core, &support_manager, None, request.id, true, None)
        .await
        .unwrap();
    params.insert("lockbox", request.id.to_string());

    // Targets that allowed callers may change without changing any caller: a bystander
    // user, a spare API client.
    let bystander = identity::create_user(
        core,
        &system,
        None,
        a,
        identity::UserInput {
            email: "bystander@contoso.example".into(),
            display_name: "Bystander".into(),
            password: PASSWORD.into(),
            roles: candor_app::words::roles(&["AuditReader".to_owned()]).unwrap(),
            language: None,
        },
    )
    .await
    .unwrap();
    params.insert("user", bystander.id.to_string());
    let spare = identity::create_api_client(
        core,
        &system,
        None,
        a,
        "spare",
        &["ServiceHealth.Read.All".into()],
    )
    .await
    .unwrap();
    params.insert("client", spare.client.id.to_string());

    let contact = contacts::add(
        core,
        &system,
        None,
        a,
        contacts::ContactInput {
            email: "noc@contoso.example".into(),
            language: candor_domain::language::Language::English,
            topics: [candor_domain::health::Topic::Incidents].into(),
            services: Vec::new(),
        },
    )
    .await
    .unwrap();
    params.insert("contact", contact.id.to_string());
    let subscriber = crate::subscribers::confirmed(core, "fan@example.org").await;
    params.insert("subscriber", subscriber.id.to_string());

    let source = Actor::Operator {
        operator_id: candor_domain::OperatorId::generate(),
        email: "svc:monitoring".into(),
        roles: [O::AlertSource].into_iter().collect(),
    };
    let alert = candor_domain::health::alert::read_generic(
        &serde_json::from_value(serde_json::json!({
            "fingerprint": "matrix", "status": "firing", "service": "Exchange",
            "title": "Probe", "scaleUnits": ["eu-west-su1"]
        }))
        .unwrap(),
        core.clock.now(),
    )
    .unwrap();
    let drafted = candor_app::alerts::ingest(core, &source, vec![alert])
        .await
        .unwrap();
    let candor_app::alerts::Intake::Opened(draft) = drafted[0].1 else {
        panic!("the probe alert opens a draft");
    };
    params.insert("draft", draft.to_string());

    core.allow_private_webhooks
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let webhook = candor_app::webhooks::add(
        core,
        &system,
        None,
        a,
        candor_app::webhooks::WebhookInput {
            url: "http://127.0.0.1:9/candor".into(),
            format: None,
            topics: [candor_domain::health::Topic::Incidents].into(),
            services: Vec::new(),
        },
    )
    .await
    .unwrap();
    params.insert("webhook", webhook.endpoint.id.to_string());

    let (keypair, auth) = ece::generate_keypair_and_auth_secret().unwrap();
    let b64 = |bytes: &[u8]| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    };
    let admin = crate::health::tenant_actor(app, GA);
    let push = candor_app::push::subscribe(
        core,
        &admin,
        None,
        candor_app::push::BrowserInput {
            endpoint: "https://127.0.0.1:9/push/matrix".into(),
            p256dh: b64(&keypair.pub_as_raw().unwrap()),
            auth: b64(&auth),
            label: "Matrix".into(),
        },
    )
    .await
    .unwrap();
    params.insert("push", push.id.to_string());
    let on_call = candor_app::push::subscribe(
        core,
        &crate::health::operator(app, O::IncidentManager),
        None,
        candor_app::push::BrowserInput {
            endpoint: "https://127.0.0.1:9/push/on-call".into(),
            p256dh: b64(&keypair.pub_as_raw().unwrap()),
            auth: b64(&auth),
            label: "On call".into(),
        },
    )
    .await
    .unwrap();
    params.insert("operator_push", on_call.id.to_string());
    let record = core
        .store
        .audit_chain_records(&candor_domain::audit::AuditChain::Tenant(a).key(), 0, 1)
        .await
        .unwrap();
    params.insert("audit_record", record[0].id.to_string());
    params.insert("log", a.to_string());
    let key =
        candor_domain::audit::witness::WitnessSigner::new("witness.example/matrix", [200; 32])
            .unwrap()
            .public()
            .to_vkey();
    let witness = candor_app::audit_witnesses::add(
        core,
        &system,
        candor_domain::audit::AuditChain::Tenant(a),
        &key,
        None,
    )
    .await
    .unwrap();
    params.insert("witness", witness.id);
    // Every log has a signed checkpoint to fetch, co-signed by a witness.
    candor_app::audit::checkpoint_all(core).await.unwrap();
    for (n, chain) in [
        candor_domain::audit::AuditChain::Tenant(a),
        candor_domain::audit::AuditChain::Tenant(app.world.b.id),
        candor_domain::audit::AuditChain::Operator,
    ]
    .into_iter()
    .enumerate()
    {
        let signer = candor_domain::audit::witness::WitnessSigner::new(
            "witness.example/cosigner",
            [201 + n as u8; 32],
        )
        .unwrap();
        candor_app::audit_witnesses::add(core, &system, chain, &signer.public().to_vkey(), None)
            .await
            .unwrap();
        let note = candor_app::audit::latest_checkpoint(core, &system, chain)
            .await
            .unwrap();
        candor_app::audit_witnesses::submit(core, &signer.cosign(&note, 1).unwrap())
            .await
            .unwrap();
    }

    let feed = feeds::create_link(core, &system, None, a, "Matrix")
        .await
        .unwrap();
    params.insert("feed", feed.link.id.to_string());

    Objects { params }
}

/// An operator with standing `role` who asked to be elevated to Provider Admin; the
/// elevation is approved when `approve`.
async fn elevation_holder(
    app: &TestApp,
    name: &str,
    role: OperatorRole,
    approve: bool,
) -> (String, String) {
    let email = format!("{name}@provider.example");
    let op = identity::create_operator(
        &app.core,
        &Actor::System,
        None,
        identity::OperatorInput {
            email: email.clone(),
            display_name: name.into(),
            password: PASSWORD.into(),
            roles: [role].into_iter().collect(),
            break_glass: false,
        },
    )
    .await
    .unwrap();
    let me = Actor::Operator {
        operator_id: op.id,
        email: email.clone(),
        roles: [role].into_iter().collect(),
    };
    let asked = elevation::request(
        &app.core,
        &me,
        None,
        "ProviderAdmin",
        "Rotating the topology import credentials",
        60,
    )
    .await
    .unwrap();
    if approve {
        let admin = crate::health::operator(app, O::ProviderAdmin);
        elevation::decide(&app.core, &admin, None, asked.id, true, None)
            .await
            .unwrap();
    }
    (email, asked.id.to_string())
}

async fn callers(app: &TestApp, objects: &mut Objects) -> Vec<Caller> {
    let mut out = Vec::new();
    let mut n = 0;
    let mut next = || {
        n += 1;
        n
    };
    let (client, csrf) = fresh_browser(app, next(), "/signin").await;
    out.push(Caller {
        who: Who::Anonymous,
        client,
        bearer: None,
        csrf: Some(csrf),
    });
    for role in T::ALL {
        let (client, csrf) = signed_in(app, next(), &app.world.a.user(*role).email, false).await;
        out.push(Caller {
            who: Who::TenantUser(*role),
            client,
            bearer: None,
            csrf: Some(csrf),
        });
    }
    let (client, csrf) = signed_in(app, next(), &app.world.b.user(GA).email, false).await;
    out.push(Caller {
        who: Who::OtherTenantAdmin,
        client,
        bearer: None,
        csrf: Some(csrf),
    });
    for role in O::ALL {
        let (client, csrf) = signed_in(app, next(), &app.world.operator(*role).email, true).await;
        let me = Operator {
            filed: *role == O::SupportEngineer,
            holds_elevation: false,
            owns_browser: *role == O::IncidentManager,
        };
        out.push(Caller {
            who: Who::Operator(role.as_str(), [*role].into_iter().collect(), me),
            client,
            bearer: None,
            csrf: Some(csrf),
        });
    }
    let (email, _) = elevation_holder(app, "elevated", O::SupportEngineer, true).await;
    let (client, csrf) = signed_in(app, next(), &email, true).await;
    out.push(Caller {
        who: Who::Operator(
            "SupportEngineer elevated to ProviderAdmin",
            [O::SupportEngineer, O::ProviderAdmin].into_iter().collect(),
            Operator::default(),
        ),
        client,
        bearer: None,
        csrf: Some(csrf),
    });
    let (email, pending) = elevation_holder(app, "unelevated", O::SupportEngineer, false).await;
    objects.params.insert("elevation", pending);
    let (client, csrf) = signed_in(app, next(), &email, true).await;
    out.push(Caller {
        who: Who::Operator(
            "SupportEngineer with a pending ProviderAdmin elevation",
            [O::SupportEngineer].into_iter().collect(),
            Operator {
                filed: false,
                holds_elevation: true,
                owns_browser: false,
            },
        ),
        client,
        bearer: None,
        csrf: Some(csrf),
    });
    for p in P::ALL {
        out.push(Caller {
            who: Who::App(*p),
            client: client_from(next()),
            bearer: Some(app.token(app.world.a.app(*p)).await),
            csrf: None,
        });
    }
    out.push(Caller {
        who: Who::OtherTenantApp,
        client: client_from(next()),
        bearer: Some(app.token(&app.world.b.all).await),
        csrf: None,
    });
    for role in O::ALL {
        out.push(Caller {
            who: Who::OperatorClient(*role),
            client: client_from(next()),
            bearer: Some(crate::operator_api::client(app, &[role.as_str()]).await),
            csrf: None,
        });
    }
    out
}

async fn send(
    app: &TestApp,
    caller: &Caller,
    method: &Method,
    path: &str,
    url_path: &str,
) -> reqwest::Response {
    let url = app.url(&format!("{url_path}{}", query_of(path)));
    let mut req = caller.client.request(method.clone(), url);
    if let Some(token) = &caller.bearer {
        req = req.bearer_auth(token);
    }
    let upload = ["/console/messages/new", "/console/topology"].contains(&path);
    if *method == Method::POST && upload {
        // Uploads are multipart, their CSRF token in the action URL as the page has it; the
        // content is refused after the rights check (no title, no valid topology line).
        let csrf = caller.csrf.clone().unwrap_or_default();
        let url = app.url(&format!("{url_path}?csrf={csrf}"));
        let form = reqwest::multipart::Form::new().text("title", "").part(
            "file",
            reqwest::multipart::Part::text("kind,id\nnothing,here\n").file_name("probe.csv"),
        );
        let mut req = caller.client.post(url).multipart(form);
        if let Some(token) = &caller.bearer {
            req = req.bearer_auth(token);
        }
        return req.send().await.unwrap();
    }
    if *method != Method::GET {
        if is_form(path) {
            let csrf = caller.csrf.clone().unwrap_or_default();
            let mut fields = vec![("csrf", csrf.as_str())];
            fields.extend_from_slice(fields_of(path));
            req = req.form(&fields);
        } else {
            req = req
                .header("content-type", "application/json")
                .body(body_of(path));
        }
    }
    req.send().await.unwrap()
}

const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

async fn every_route_answers_every_caller_as_its_rule_says(app: TestApp) {
    let table = app.state.routes.clone();
    let mut objects = objects(&app).await;
    let callers = callers(&app, &mut objects).await;
    let anonymous = &callers[0];

    // The (method, path) pairs served: the API's from its document, the rest asked of
    // the app (a pre-session browser passes the form guard, so only routing answers 405).
    let mut routes: Vec<(Method, String)> = Vec::new();
    for entry in table.entries() {
        match &entry.methods {
            Some(methods) => routes.extend(methods.iter().map(|m| (m.clone(), entry.path.clone()))),
            None => {
                for method in METHODS {
                    let url_path = objects.fill(&method, &entry.path);
                    let res = send(&app, anonymous, &method, &entry.path, &url_path).await;
                    if res.status() != StatusCode::METHOD_NOT_ALLOWED {
                        routes.push((method, entry.path.clone()));
                    }
                }
            }
        }
    }
    // Signing out ends the caller's session: last.
    routes.sort_by_key(|(m, p)| (p == "/signout", p.clone(), m.to_string()));
    assert!(
        routes.len() > 100,
        "the route table lists {} routes",
        routes.len()
    );

    let missing: Vec<String> = routes
        .iter()
        .filter(|(m, p)| rule_of(m, p).is_none())
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(
        missing.is_empty(),
        "routes without a rule in the authorization matrix (add them to rule_of): {missing:#?}"
    );

    let mut wrong = Vec::new();
    let mut checked = 0;
    for (method, path) in &routes {
        let rule = rule_of(method, path).unwrap();
        // B's people and apps must not find A's objects (nor the service only A uses).
        let tenant_object =
            path.contains('{') && !path.contains("{token}") && !path.contains("{*tile}");
        let url_path = objects.fill(method, path);
        for (n, caller) in callers.iter().enumerate() {
            let want = expected(rule, &caller.who, method, path, tenant_object);
            // A removal that is served removes: each caller gets an object of its own.
            let url_path = if *method == Method::DELETE {
                fresh_object(&app, path, n).await
            } else {
                url_path.clone()
            };
            let res = send(&app, caller, method, path, &url_path).await;
            if *method == Method::DELETE {
                clean_up(&app, &url_path).await;
            }
            let status = res.status();
            let location = res
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let got = outcome_of(path, status, location.as_deref());
            checked += 1;
            if got != Some(want) {
                let body: String = res
                    .text()
                    .await
                    .unwrap_or_default()
                    .chars()
                    .take(160)
                    .collect();
                wrong.push(format!(
                    "{method} {path} as {}: want {want:?}, got {status} {} {body}",
                    caller.who.label(),
                    location.unwrap_or_default()
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {checked} answers differ from the matrix:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert!(checked > 2000, "only {checked} answers checked");
}

/// A new object of tenant A's for one DELETE probe, and the path naming it.
async fn fresh_object(app: &TestApp, path: &str, n: usize) -> String {
    let a = app.world.a.id;
    let id = if path.starts_with("/api/v1/notifications/contacts/") {
        contacts::add(
            &app.core,
            &Actor::System,
            None,
            a,
            contacts::ContactInput {
                email: format!("probe{n}@contoso.example"),
                language: candor_domain::language::Language::English,
                topics: [candor_domain::health::Topic::Incidents].into(),
                services: Vec::new(),
            },
        )
        .await
        .unwrap()
        .id
        .to_string()
    } else if path.starts_with("/api/v1/notifications/webhooks/") {
        candor_app::webhooks::add(
            &app.core,
            &Actor::System,
            None,
            a,
            candor_app::webhooks::WebhookInput {
                url: format!("http://127.0.0.1:9/probe{n}"),
                format: None,
                topics: [candor_domain::health::Topic::Incidents].into(),
                services: Vec::new(),
            },
        )
        .await
        .unwrap()
        .endpoint
        .id
        .to_string()
    } else if path.starts_with("/api/v1/audit/witnesses/") {
        let key = candor_domain::audit::witness::WitnessSigner::new(
            &format!("witness.example/probe{n}"),
            [n as u8; 32],
        )
        .unwrap()
        .public()
        .to_vkey();
        candor_app::audit_witnesses::add(
            &app.core,
            &Actor::System,
            candor_domain::audit::AuditChain::Tenant(a),
            &key,
            None,
        )
        .await
        .unwrap()
        .id
    } else {
        panic!("no fresh object for DELETE {path}: add one to fresh_object");
    };
    path.replace("{id}", &id)
}

/// Removes what `fresh_object` made if the probe did not (endpoints are limited).
async fn clean_up(app: &TestApp, url_path: &str) {
    let a = app.world.a.id;
    let Some(id) = url_path.rsplit('/').next() else {
        return;
    };
    if url_path.starts_with("/api/v1/notifications/webhooks/") {
        if let Ok(id) = id.parse() {
            let _ = app.core.store.delete_webhook(a, id, Vec::new()).await;
        }
    } else if url_path.starts_with("/api/v1/audit/witnesses/") {
        if let Ok(id) = id.parse() {
            let chain = candor_domain::audit::AuditChain::Tenant(a).key();
            let _ = app.core.store.remove_audit_witness(&chain, id).await;
        }
    } else if url_path.starts_with("/api/v1/notifications/contacts/") {
        if let Ok(id) = id.parse() {
            let _ = app.core.store.delete_contact(a, id, Vec::new()).await;
        }
    }
}

/// Each caller comes from its own forwarded address, so the per-address sign-in and
/// token limits do not throttle the matrix.
async fn spawn(backend: crate::common::Backend) -> Option<TestApp> {
    crate::common::spawn_configured(backend, |c| c.trust_forwarded_for = true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_on_sqlite() {
    let app = spawn(crate::common::Backend::Sqlite).await.unwrap();
    every_route_answers_every_caller_as_its_rule_says(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_on_postgres() {
    let Some(app) = spawn(crate::common::Backend::Postgres).await else {
        return;
    };
    every_route_answers_every_caller_as_its_rule_says(app).await;
}
