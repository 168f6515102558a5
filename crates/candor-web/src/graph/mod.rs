//! The Microsoft Graph–compatible service communications API
//! (`/v1.0/admin/serviceAnnouncement/...`), so existing Graph clients and dashboards work
//! against Candor unchanged: the same paths, property names, camelCase enums, OData
//! query options, `@odata.context` / `@odata.nextLink`, and Graph's error body.

pub mod messages;
pub mod odata;

use candor_app::ids;
use std::collections::BTreeMap;
use std::convert::Infallible;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use candor_domain::health::{Issue, Post, Service};
use candor_domain::identity::{authorize, Action, Actor};
use candor_domain::language::Language;
use candor_domain::time_util::rfc3339;
use candor_domain::TenantId;
use governor::clock::{Clock as _, DefaultClock};
use serde_json::{json, Map, Value};

use crate::auth::extract::{client_ip, resolve_principal, ApiCaller};
use crate::auth::session;
use crate::error::ApiError;
use crate::routes::{RouteTable, RouterExt};
use crate::AppState;
use candor_app::health as svc;

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;
/// Graph's versions; Candor serves the same resources under both.
const VERSIONS: &[&str] = &["v1.0", "beta"];

pub fn routes(t: &mut RouteTable) -> Router<AppState> {
    let mut router = Router::new();
    for version in VERSIONS {
        let base = format!("/{version}/admin/serviceAnnouncement");
        router = router
            .at(t, &format!("{base}/healthOverviews"), get(list_overviews))
            .at(
                t,
                &format!("{base}/healthOverviews/{{name}}"),
                get(get_overview),
            )
            .at(
                t,
                &format!("{base}/healthOverviews/{{name}}/issues"),
                get(overview_issues),
            )
            .at(t, &format!("{base}/issues"), get(list_issues))
            .at(t, &format!("{base}/issues/{{id}}"), get(get_issue))
            .at(
                t,
                &format!("{base}/issues/{{id}}/incidentReport"),
                get(incident_report),
            )
            // A function as Graph's SDKs call it (`incidentReport()`, the form Microsoft's
            // own SDK generates), with its namespace, and as a plain path segment.
            .at(
                t,
                &format!("{base}/issues/{{id}}/incidentReport()"),
                get(incident_report),
            )
            .at(
                t,
                &format!("{base}/issues/{{id}}/microsoft.graph.incidentReport()"),
                get(incident_report),
            )
            .at(t, &format!("{base}/messages"), get(messages::list))
            // `{id}` also matches the bound actions (`markRead`, `microsoft.graph.markRead`):
            // GET reads a message, POST runs the action of that name.
            .at(
                t,
                &format!("{base}/messages/{{id}}"),
                get(messages::get_one).post(messages::action),
            )
            .at(
                t,
                &format!("{base}/messages/{{id}}/attachments"),
                get(messages::list_attachments),
            )
            .at(
                t,
                &format!("{base}/messages/{{id}}/attachments/{{attachment}}"),
                get(messages::get_attachment),
            )
            .at(
                t,
                &format!("{base}/messages/{{id}}/attachments/{{attachment}}/content"),
                get(messages::attachment_content),
            )
            .at(
                t,
                &format!("{base}/messages/{{id}}/attachmentsArchive"),
                get(messages::attachments_archive),
            );
    }
    router
}

/// An error in Graph's shape: `{"error":{"code","message","innerError":{...}}}`.
pub struct GraphError {
    status: StatusCode,
    code: &'static str,
    message: String,
    request_id: String,
    retry_after: Option<u64>,
}

impl GraphError {
    fn new(e: ApiError, headers: &HeaderMap) -> GraphError {
        let request_id = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let status = e.status();
        let code = match &e {
            ApiError::Unauthenticated(_) => "InvalidAuthenticationToken",
            ApiError::Forbidden(_) => "accessDenied",
            ApiError::NotFound(_) => "itemNotFound",
            ApiError::TooManyRequests { .. } => "TooManyRequests",
            ApiError::Internal(_) => "generalException",
            _ => "invalidRequest",
        };
        if let ApiError::Internal(inner) = &e {
            tracing::error!(error = ?inner, request_id, "internal error in the Graph API");
        }
        let retry_after = match &e {
            ApiError::TooManyRequests {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        GraphError {
            status,
            code,
            message: e.public_message(),
            request_id,
            retry_after,
        }
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message,
            "innerError": {"date": rfc3339(time::OffsetDateTime::now_utc()), "request-id": self.request_id,
                           "client-request-id": self.request_id}}});
        let mut r = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"candor\""),
            );
        }
        if let Some(secs) = self.retry_after {
            if let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string()) {
                r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
            }
        }
        r
    }
}

type GraphResult = Result<Response, GraphError>;

/// What every Graph handler needs from the request: who calls, the headers, the query
/// string, and the path and version it was reached by (for `@odata` links).
pub struct Req {
    caller: Result<ApiCaller, ApiError>,
    headers: HeaderMap,
    raw_query: Option<String>,
    path: String,
    version: &'static str,
}

impl FromRequestParts<AppState> for Req {
    type Rejection = Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let path = parts.uri.path().to_owned();
        let version = if path.starts_with("/beta/") {
            "beta"
        } else {
            "v1.0"
        };
        let mut caller = ApiCaller::from_request_parts(parts, state).await;
        // The viewpoint actions are delegated: a signed-in person may POST them with the
        // session cookie. Graph requires a JSON body, which a cross-site form cannot
        // send without a CORS preflight, and the cookie is SameSite=Lax besides.
        if caller.is_err()
            && parts.method == Method::POST
            && !parts
                .headers
                .contains_key(axum::http::header::AUTHORIZATION)
            && is_json(&parts.headers)
        {
            if let Ok(Some(s)) = session::current(state, &parts.headers).await {
                if let Ok(Some(resolved)) = resolve_principal(state, s.principal).await {
                    caller = Ok(ApiCaller {
                        actor: resolved.actor,
                        ip: client_ip(parts, state),
                    });
                }
            }
        }
        Ok(Req {
            caller,
            headers: parts.headers.clone(),
            raw_query: parts.uri.query().map(str::to_owned),
            path,
            version,
        })
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"))
}

impl Req {
    fn fail(&self, e: ApiError) -> GraphError {
        GraphError::new(e, &self.headers)
    }

    /// The caller and the tenant they read for, within the per-app-per-tenant limits.
    fn tenant(
        &mut self,
        state: &AppState,
        action: fn(TenantId) -> Action,
    ) -> Result<(Actor, TenantId), ApiError> {
        let caller = std::mem::replace(
            &mut self.caller,
            Err(ApiError::Unauthenticated(
                "credentials were already used".into(),
            )),
        )?;
        let tenant = caller.actor.tenant_id().ok_or_else(|| {
            ApiError::Forbidden(candor_domain::identity::Denied {
                reason: candor_domain::identity::DenyReason::WrongRealm,
                message: "the service communications API answers for a tenant; sign in as a tenant user or use an app token".into(),
            })
        })?;
        authorize(&caller.actor, action(tenant))?;
        throttle(state, &caller.actor, tenant)?;
        Ok((caller.actor, tenant))
    }
}

/// Graph limits each app in each tenant, per minute and per hour; so does Candor (the
/// limits are configurable). A person signed in counts as their own caller.
fn throttle(state: &AppState, actor: &Actor, tenant: TenantId) -> Result<(), ApiError> {
    let key = format!("{}|{tenant}", actor.audit_name());
    for limiter in [&state.graph_minute_limiter, &state.graph_hour_limiter] {
        if let Err(not_until) = limiter.check_key(&key) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            return Err(ApiError::TooManyRequests {
                message: format!(
                    "Please retry again later: this app has used its service communications requests for this tenant; retry after {} seconds",
                    wait.as_secs() + 1
                ),
                retry_after_secs: wait.as_secs() + 1,
            });
        }
    }
    Ok(())
}

#[derive(Debug, Default)]
struct Query {
    filter: Option<String>,
    orderby: Option<String>,
    select: Option<String>,
    expand: Option<String>,
    top: Option<usize>,
    skip: usize,
    count: bool,
    raw: Vec<(String, String)>,
}

fn parse_query(raw: Option<&str>) -> Result<Query, ApiError> {
    let pairs: Vec<(String, String)> = match raw {
        None => Vec::new(),
        Some(r) => serde_urlencoded::from_str(r)
            .map_err(|e| ApiError::BadRequest(format!("the query string is not valid: {e}")))?,
    };
    let mut q = Query {
        raw: pairs.clone(),
        ..Default::default()
    };
    let number = |k: &str, v: &str| {
        v.trim().parse::<usize>().map_err(|_| {
            ApiError::BadRequest(format!(
                "{k} must be a whole number, not `{}`",
                v.chars().take(20).collect::<String>()
            ))
        })
    };
    for (k, v) in pairs {
        match k.trim_start_matches('$').to_ascii_lowercase().as_str() {
            "filter" => q.filter = Some(v),
            "orderby" => q.orderby = Some(v),
            "select" => q.select = Some(v),
            "expand" => q.expand = Some(v),
            "top" => q.top = Some(number("$top", &v)?),
            "skip" => q.skip = number("$skip", &v)?,
            "count" => q.count = v.eq_ignore_ascii_case("true"),
            "search" | "format" | "skiptoken" => {
                return Err(ApiError::BadRequest(format!(
                    "${k} is not supported on this API"
                )));
            }
            _ => {}
        }
    }
    Ok(q)
}

fn page_size(headers: &HeaderMap, top: Option<usize>) -> usize {
    let preferred = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| {
            p.trim()
                .strip_prefix("odata.maxpagesize=")
                .and_then(|n| n.trim().parse::<usize>().ok())
        });
    top.or(preferred).unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE)
}

fn context(state: &AppState, req: &Req, what: &str) -> String {
    format!(
        "{}/{}/$metadata#admin/serviceAnnouncement/{what}",
        state.config.public_url.trim_end_matches('/'),
        req.version
    )
}

/// Adds `@odata.context` to a single entity.
fn entity(state: &AppState, req: &Req, mut v: Value, what: &str) -> Value {
    if let Value::Object(map) = &mut v {
        map.insert(
            "@odata.context".into(),
            Value::String(context(state, req, what)),
        );
    }
    v
}

/// Applies `$select` to a single entity.
fn select_one(v: &mut Value, q: &Query, fields: &[&str]) -> Result<(), ApiError> {
    if let Some(s) = q.select.as_deref().filter(|s| !s.trim().is_empty()) {
        let props = odata::parse_select(s, fields)
            .map_err(|e| ApiError::BadRequest(format!("Invalid $select: {e}")))?;
        odata::select(v, &props);
    }
    Ok(())
}

/// Filters, sorts, pages and selects a collection, producing Graph's envelope.
fn collection(
    state: &AppState,
    req: &Req,
    ctx: &str,
    mut items: Vec<Value>,
    q: &Query,
    fields: &[&str],
) -> Result<Value, ApiError> {
    if let Some(f) = q.filter.as_deref().filter(|f| !f.trim().is_empty()) {
        let expr = odata::parse_filter(f, fields)
            .map_err(|e| ApiError::BadRequest(format!("Invalid filter clause: {e}")))?;
        items.retain(|i| odata::matches(&expr, i));
    }
    if let Some(o) = q.orderby.as_deref().filter(|o| !o.trim().is_empty()) {
        let keys = odata::parse_orderby(o, fields)
            .map_err(|e| ApiError::BadRequest(format!("Invalid $orderby: {e}")))?;
        odata::sort(&mut items, &keys);
    }
    let total = items.len();
    let size = page_size(&req.headers, q.top);
    let mut page: Vec<Value> = items.into_iter().skip(q.skip).take(size).collect();
    if let Some(s) = q.select.as_deref().filter(|s| !s.trim().is_empty()) {
        let props = odata::parse_select(s, fields)
            .map_err(|e| ApiError::BadRequest(format!("Invalid $select: {e}")))?;
        for item in &mut page {
            odata::select(item, &props);
        }
    }
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        Value::String(context(state, req, ctx)),
    );
    if q.count {
        body.insert("@odata.count".into(), json!(total));
    }
    // Server-driven paging is $skip-based, as Graph's is; an explicit $top returns one page.
    if q.top.is_none() && q.skip + size < total {
        let mut pairs: Vec<(String, String)> = q
            .raw
            .iter()
            .filter(|(k, _)| k.trim_start_matches('$') != "skip")
            .cloned()
            .collect();
        pairs.push(("$skip".into(), (q.skip + size).to_string()));
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        body.insert(
            "@odata.nextLink".into(),
            Value::String(format!(
                "{}{}?{query}",
                state.config.public_url.trim_end_matches('/'),
                req.path
            )),
        );
    }
    body.insert("value".into(), Value::Array(page));
    Ok(Value::Object(body))
}

const ISSUE_FIELDS: &[&str] = &[
    "id",
    "title",
    "startDateTime",
    "endDateTime",
    "lastModifiedDateTime",
    "impactDescription",
    "classification",
    "origin",
    "status",
    "service",
    "feature",
    "featureGroup",
    "isResolved",
    "highImpact",
    "details",
    "posts",
];
const OVERVIEW_FIELDS: &[&str] = &["id", "service", "status", "issues"];

/// The language to render posts in: the caller's `Accept-Language`, else the tenant's.
async fn reader_language(state: &AppState, headers: &HeaderMap, tenant: TenantId) -> Language {
    if let Some(l) = headers
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(Language::from_accept_language)
    {
        return l;
    }
    state
        .store
        .get_tenant(tenant)
        .await
        .ok()
        .flatten()
        .map(|t| t.default_language)
        .unwrap_or_default()
}

fn issue_json(issue: &Issue, posts: &[Post], services: &[Service], lang: Language) -> Value {
    let service = services
        .iter()
        .find(|s| s.id == issue.service)
        .map_or(issue.service.to_string(), |s| s.display_name.clone());
    let details: Vec<Value> = issue
        .details
        .iter()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect();
    let posts: Vec<Value> = posts
        .iter()
        .map(|p| {
            json!({"createdDateTime": rfc3339(p.created_at), "postType": p.post_type.as_str(),
                         "description": {"contentType": "html", "content": p.body_in(lang)}})
        })
        .collect();
    json!({
        "startDateTime": rfc3339(issue.start),
        "endDateTime": issue.end.map(rfc3339),
        "lastModifiedDateTime": rfc3339(issue.last_modified),
        "title": issue.title,
        "id": issue.id.as_str(),
        "impactDescription": issue.impact_description,
        "classification": issue.classification.as_str(),
        "origin": issue.origin.as_str(),
        "status": issue.status.as_str(),
        "service": service,
        "feature": issue.feature,
        "featureGroup": issue.feature_group,
        "isResolved": issue.is_resolved(),
        "highImpact": Value::Null,
        "details": details,
        "posts": posts,
    })
}

/// Graph's history reaches back this far.
const HISTORY_DAYS: i64 = 90;

async fn tenant_issue_values(
    state: &AppState,
    tenant: TenantId,
    lang: Language,
) -> Result<Vec<Value>, ApiError> {
    let since = state.clock.now() - time::Duration::days(HISTORY_DAYS);
    let issues = state.store.tenant_issues(tenant, since).await?;
    let services = state.store.list_services().await?;
    let ids: Vec<_> = issues.iter().map(|i| i.id.clone()).collect();
    let posts = state.store.posts_of_issues(&ids).await?;
    Ok(issues
        .iter()
        .map(|i| {
            issue_json(
                i,
                posts.get(&i.id).map_or(&[][..], Vec::as_slice),
                &services,
                lang,
            )
        })
        .collect())
}

fn header_language(headers: &HeaderMap) -> Option<Language> {
    headers
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(Language::from_accept_language)
}

/// The most read resource: served from the in-memory view while it is fresh, and for a
/// request without query options straight from the bytes of the last answer.
async fn list_issues(State(state): State<AppState>, mut req: Req) -> GraphResult {
    let run = async {
        let (_, tenant) = req.tenant(&state, Action::ReadServiceHealth)?;
        let q = parse_query(req.raw_query.as_deref())?;
        let asked = header_language(&req.headers);
        let view = match state.views.issues(tenant, asked) {
            Some(v) => v,
            None => {
                let generation = state.views.generation();
                let lang = reader_language(&state, &req.headers, tenant).await;
                let mut items = tenant_issue_values(&state, tenant, lang).await?;
                odata::sort(&mut items, &[("lastModifiedDateTime".into(), true)]);
                state.views.keep_issues(tenant, asked, generation, items)
            }
        };
        let plain = req.raw_query.as_deref().is_none_or(str::is_empty)
            && !req.headers.contains_key("prefer");
        if plain {
            let slot = &view.default_body[usize::from(req.version == "beta")];
            if let Some(body) = slot.get() {
                return Ok(body.clone());
            }
            let value = collection(
                &state,
                &req,
                "issues",
                (*view.items).clone(),
                &q,
                ISSUE_FIELDS,
            )?;
            let body =
                axum::body::Bytes::from(serde_json::to_vec(&value).map_err(ApiError::internal)?);
            let _ = slot.set(body.clone());
            return Ok(body);
        }
        let value = collection(
            &state,
            &req,
            "issues",
            (*view.items).clone(),
            &q,
            ISSUE_FIELDS,
        )?;
        Ok(axum::body::Bytes::from(
            serde_json::to_vec(&value).map_err(ApiError::internal)?,
        ))
    };
    run.await
        .map(|body| {
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response()
        })
        .map_err(|e| req.fail(e))
}

async fn get_issue(
    State(state): State<AppState>,
    Path(id): Path<String>,
    mut req: Req,
) -> GraphResult {
    let run = async {
        let (actor, tenant) = req.tenant(&state, Action::ReadServiceHealth)?;
        let q = parse_query(req.raw_query.as_deref())?;
        let (issue, posts) =
            svc::issue_for_tenant(&state.core, &actor, tenant, ids::tenant_issue(&id)?).await?;
        let lang = reader_language(&state, &req.headers, tenant).await;
        let services = state.store.list_services().await?;
        let mut v = issue_json(&issue, &posts, &services, lang);
        select_one(&mut v, &q, ISSUE_FIELDS)?;
        Ok::<_, ApiError>(entity(&state, &req, v, "issues/$entity"))
    };
    run.await
        .map(|v| Json(v).into_response())
        .map_err(|e| req.fail(e))
}

/// The annotation a service under planned maintenance carries in `healthOverviews`.
pub const UNDER_MAINTENANCE: &str = "@candor.underMaintenance";

/// Each service the tenant uses, with its status; `$expand=issues` adds the issues.
async fn overview_values(
    state: &AppState,
    actor: &Actor,
    tenant: TenantId,
    headers: &HeaderMap,
    expand: bool,
) -> Result<Vec<Value>, ApiError> {
    let (views, _) = svc::tenant_dashboard(&state.core, actor, tenant).await?;
    let lang = reader_language(state, headers, tenant).await;
    let services = state.store.list_services().await?;
    let mut issues_by_service: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    if expand {
        let since = state.clock.now() - time::Duration::days(HISTORY_DAYS);
        let issues = state.store.tenant_issues(tenant, since).await?;
        let ids: Vec<_> = issues.iter().map(|i| i.id.clone()).collect();
        let posts = state.store.posts_of_issues(&ids).await?;
        for i in &issues {
            let p = posts.get(&i.id).map_or(&[][..], Vec::as_slice);
            issues_by_service
                .entry(i.service.to_string())
                .or_default()
                .push(issue_json(i, p, &services, lang));
        }
    }
    Ok(views
        .iter()
        .map(|v| {
            let mut o = json!({"service": v.service.display_name, "status": v.status.as_str(), "id": v.service.id.as_str()});
            // Graph's serviceHealthStatus has no maintenance member: an instance
            // annotation, which Graph's SDKs keep in AdditionalData and others ignore.
            if v.under_maintenance {
                o[UNDER_MAINTENANCE] = Value::Bool(true);
            }
            if expand {
                o["issues"] = Value::Array(issues_by_service.remove(v.service.id.as_str()).unwrap_or_default());
            }
            o
        })
        .collect())
}

fn wants(q: &Query, what: &str) -> Result<bool, ApiError> {
    match q.expand.as_deref().map(str::trim) {
        None | Some("") => Ok(false),
        Some(e) if e.eq_ignore_ascii_case(what) || e == "*" => Ok(true),
        Some(e) => Err(ApiError::BadRequest(format!(
            "`{}` cannot be expanded; use $expand={what}",
            e.chars().take(40).collect::<String>()
        ))),
    }
}

async fn list_overviews(State(state): State<AppState>, mut req: Req) -> GraphResult {
    let run = async {
        let (actor, tenant) = req.tenant(&state, Action::ReadServiceHealth)?;
        let q = parse_query(req.raw_query.as_deref())?;
        let expand = wants(&q, "issues")?;
        let items = overview_values(&state, &actor, tenant, &req.headers, expand).await?;
        let ctx = if expand {
            "healthOverviews(issues())"
        } else {
            "healthOverviews"
        };
        collection(&state, &req, ctx, items, &q, OVERVIEW_FIELDS)
    };
    run.await
        .map(|v| Json(v).into_response())
        .map_err(|e| req.fail(e))
}

async fn get_overview(
    State(state): State<AppState>,
    Path(name): Path<String>,
    mut req: Req,
) -> GraphResult {
    let run = async {
        let (actor, tenant) = req.tenant(&state, Action::ReadServiceHealth)?;
        let q = parse_query(req.raw_query.as_deref())?;
        let expand = wants(&q, "issues")?;
        let items = overview_values(&state, &actor, tenant, &req.headers, expand).await?;
        // The key is the display name in Graph's docs; the id works too.
        let mut v = items
            .into_iter()
            .find(|o| {
                o["service"]
                    .as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(&name))
                    || o["id"]
                        .as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case(&name))
            })
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "there is no service `{}` for this tenant",
                    name.chars().take(60).collect::<String>()
                ))
            })?;
        select_one(&mut v, &q, OVERVIEW_FIELDS)?;
        let ctx = if expand {
            "healthOverviews(issues())/$entity"
        } else {
            "healthOverviews/$entity"
        };
        Ok::<_, ApiError>(entity(&state, &req, v, ctx))
    };
    run.await
        .map(|v| Json(v).into_response())
        .map_err(|e| req.fail(e))
}

/// In the schema but not served by Graph (msgraph-metadata#435): answer as Graph does.
async fn overview_issues(headers: HeaderMap) -> GraphError {
    GraphError {
        status: StatusCode::NOT_FOUND,
        code: "UnknownError",
        message: String::new(),
        request_id: headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        retry_after: None,
    }
}

/// The post-incident review as a file (Graph's `incidentReport` stream): Candor's
/// self-contained HTML document. Errors when the issue does not affect the tenant or has no
/// published review, as Graph's does.
async fn incident_report(
    State(state): State<AppState>,
    Path(id): Path<String>,
    mut req: Req,
) -> GraphResult {
    let run = async {
        let (actor, tenant) = req.tenant(&state, Action::ReadServiceHealth)?;
        let (issue, pir) =
            svc::pir_for_tenant(&state.core, &actor, tenant, ids::tenant_issue(&id)?).await?;
        let lang = reader_language(&state, &req.headers, tenant).await;
        let zone = state
            .store
            .get_tenant(tenant)
            .await?
            .map(|t| t.time_zone.to_string())
            .unwrap_or_else(|| "UTC".into());
        let services = state.store.list_services().await?;
        let service = services
            .iter()
            .find(|s| s.id == issue.service)
            .map_or(issue.service.to_string(), |s| s.display_name.clone());
        let doc = candor_app::review_document::ReviewDocument::new(
            candor_app::i18n::Tr::new(lang, zone),
            issue,
            pir,
            service,
        );
        Ok::<_, ApiError>(crate::pages::health::review_response(&doc, true))
    };
    run.await.map_err(|e| req.fail(e))
}
