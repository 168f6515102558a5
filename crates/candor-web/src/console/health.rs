//! Service health for operators: the issue list with overdue alerts, declaring an
//! issue with its impact preview, posting updates, scope changes and reviews.

use crate::pages::form::Form;
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use candor_app::error::AppResult;
use candor_app::{ids, words};
use candor_domain::health::{
    on_time_share, Classification, ComponentId, Issue, PostType, ScaleUnitId, Scope, ServiceId,
    Status,
};
use candor_domain::identity::{authorize, Action, RegionCode};
use candor_domain::language::Language;
use candor_domain::store::{ImpactPreview, IssueFilter};
use serde::Deserialize;

use crate::auth::extract::PortalUser;
use crate::error::ApiError;
use crate::pages::{error_page, render, render_with, PageCtx};
use crate::AppState;
use candor_app::health::{self as svc, NewIssueInput, PostInput, UpdateInput};
use candor_app::i18n::Tr;

use crate::pages::health::{classification_label, post_type_label, post_views, PostView};
use candor_app::status_page::{status_class, status_label};

/// The scope fields of a form, as typed, for redisplay.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ScopeFields {
    #[serde(default)]
    pub components: String,
    #[serde(default)]
    pub scale_units: String,
    #[serde(default)]
    pub regions: String,
    #[serde(default)]
    pub services: String,
    #[serde(default)]
    pub tenants: String,
    /// A checkbox: present when ticked (a string, since flattened forms carry text).
    #[serde(default)]
    pub unclear: Option<String>,
}

impl ScopeFields {
    fn from_scope(s: &Scope) -> ScopeFields {
        let join = |v: Vec<String>| v.join(", ");
        ScopeFields {
            components: join(s.components.iter().map(|c| c.to_string()).collect()),
            scale_units: join(s.scale_units.iter().map(|c| c.to_string()).collect()),
            regions: join(s.regions.iter().map(|c| c.to_string()).collect()),
            services: join(s.services.iter().map(|c| c.to_string()).collect()),
            tenants: join(s.tenants.iter().map(|c| c.to_string()).collect()),
            unclear: s.unclear.then(|| "true".to_owned()),
        }
    }

    fn parse(&self) -> Result<Scope, ApiError> {
        let list = crate::pages::comma_list;
        Ok(Scope {
            components: list(&self.components)
                .iter()
                .map(|c| ComponentId::parse(c))
                .collect::<Result<_, _>>()?,
            scale_units: list(&self.scale_units)
                .iter()
                .map(|c| ScaleUnitId::parse(c))
                .collect::<Result<_, _>>()?,
            regions: list(&self.regions)
                .iter()
                .map(|c| RegionCode::parse(c))
                .collect::<Result<_, _>>()?,
            services: list(&self.services)
                .iter()
                .map(|c| ServiceId::parse(c))
                .collect::<Result<_, _>>()?,
            tenants: list(&self.tenants)
                .iter()
                .map(|t| {
                    t.parse().map_err(|e: candor_domain::IdParseError| {
                        ApiError::BadRequest(e.to_string())
                    })
                })
                .collect::<Result<_, _>>()?,
            unclear: self.unclear.is_some(),
        })
    }
}

/// Optional translations typed into a form, one field per language.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct TranslationFields {
    #[serde(default, rename = "translation_en")]
    en: String,
    #[serde(default, rename = "translation_nl")]
    nl: String,
    #[serde(default, rename = "translation_fr")]
    fr: String,
    #[serde(default, rename = "translation_zh-TW")]
    zh_tw: String,
    #[serde(default, rename = "translation_ko")]
    ko: String,
}

impl TranslationFields {
    fn map(&self) -> std::collections::BTreeMap<String, String> {
        [
            ("en", &self.en),
            ("nl", &self.nl),
            ("fr", &self.fr),
            ("zh-TW", &self.zh_tw),
            ("ko", &self.ko),
        ]
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| (k.to_owned(), v.clone()))
        .collect()
    }

    fn rows(&self) -> Vec<(&'static str, &'static str, String)> {
        vec![
            ("en", Language::English.native_name(), self.en.clone()),
            ("nl", Language::Dutch.native_name(), self.nl.clone()),
            ("fr", Language::French.native_name(), self.fr.clone()),
            (
                "zh-TW",
                Language::TraditionalChinese.native_name(),
                self.zh_tw.clone(),
            ),
            ("ko", Language::Korean.native_name(), self.ko.clone()),
        ]
    }
}

fn selectable_statuses(
    tr: &Tr,
    current: Status,
    active_only: bool,
) -> Vec<(&'static str, String, bool)> {
    Status::ALL
        .iter()
        .filter(|s| {
            !matches!(
                s,
                Status::ServiceOperational | Status::PostIncidentReviewPublished
            ) && (!active_only || !s.is_resolved())
        })
        .map(|s| (s.as_str(), status_label(tr, *s), *s == current))
        .collect()
}

// ---------------------------------------------------------------- console: list

pub struct IssueRow {
    pub id: String,
    pub service: String,
    pub title: String,
    pub status: String,
    pub status_class: &'static str,
    pub next_update: String,
    pub overdue: bool,
    pub updated: String,
}

#[derive(Template)]
#[template(path = "console_issues.html")]
struct IssuesPage {
    title: String,
    page: PageCtx,
    active: usize,
    overdue: usize,
    on_time: String,
    rows: Vec<IssueRow>,
}

pub async fn console_issues(
    State(state): State<AppState>,
    user: PortalUser,
    RawQuery(raw): RawQuery,
) -> Response {
    let path = "/console/issues";
    if let Err(d) = authorize(&user.actor, Action::PublishServiceHealth) {
        return error_page(&state, &user, path, d.into());
    }
    let issues = match state
        .store
        .list_issues(&IssueFilter {
            active_only: false,
            modified_since: None,
            limit: 200,
        })
        .await
    {
        Ok(i) => i,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let services = state.store.list_services().await.unwrap_or_default();
    let mut page = PageCtx::for_user(&state, &user, path);
    let tr = page.tr.clone();
    page.notice = notice(&tr, raw.as_deref());
    add_owner_alerts(&state, &user, &mut page).await;
    let now = state.clock.now();
    let total: i64 = issues.iter().map(|i| i.updates_total).sum();
    let on_time: i64 = issues.iter().map(|i| i.updates_on_time).sum();
    let rows: Vec<IssueRow> = issues
        .iter()
        .map(|i| IssueRow {
            id: i.id.to_string(),
            service: services
                .iter()
                .find(|s| s.id == i.service)
                .map_or(i.service.to_string(), |s| s.display_name.clone()),
            title: i.title.clone(),
            status: status_label(&tr, i.status),
            status_class: status_class(i.status),
            next_update: i
                .next_update_due
                .map(|d| tr.time(&d))
                .unwrap_or_else(|| "—".into()),
            overdue: i.is_overdue(now),
            updated: tr.time(&i.last_modified),
        })
        .collect();
    render(&IssuesPage {
        title: tr.t("issues-title"),
        active: issues.iter().filter(|i| !i.is_resolved()).count(),
        overdue: rows.iter().filter(|r| r.overdue).count(),
        on_time: format!("{:.0} %", on_time_share(total, on_time)),
        rows,
        page,
    })
}

/// The watchdog's notification to an incident's owner, on the console pages they use:
/// one alert per overdue issue they own, linking to it.
pub async fn add_owner_alerts(state: &AppState, user: &PortalUser, page: &mut PageCtx) {
    let candor_domain::identity::Actor::Operator { operator_id, .. } = &user.actor else {
        return;
    };
    let now = state.clock.now();
    let Ok(overdue) = state.store.overdue_issues(now).await else {
        return;
    };
    for i in overdue.iter().filter(|i| i.owner == Some(*operator_id)) {
        let minutes = i
            .next_update_due
            .map_or(0, |d| (now - d).whole_minutes().max(1));
        page.alerts.push((
            format!("/console/issues/{}", i.id),
            format!(
                "{} {}: {}",
                i.id,
                i.title,
                page.tr.t1("overdue-yours", "minutes", &minutes.to_string())
            ),
        ));
    }
}

fn notice(tr: &Tr, raw: Option<&str>) -> Option<String> {
    #[derive(Deserialize)]
    struct Q {
        notice: Option<String>,
        count: Option<String>,
    }
    let q: Q = serde_urlencoded::from_str(raw?).ok()?;
    let count = q.count.unwrap_or_default();
    Some(match q.notice?.as_str() {
        "issue-created" => tr.t1("issue-created", "count", &count),
        "issue-updated" => tr.t("issue-updated-notice"),
        "scope-changed" => tr.t1("issue-scope-changed", "count", &count),
        "issue-reopened" => tr.t("issue-reopened"),
        "pir-saved" => tr.t("pir-saved"),
        "pir-published" => tr.t("pir-published"),
        _ => return None,
    })
}

// ---------------------------------------------------------------- console: new

#[derive(Debug, Default, Clone, Deserialize)]
pub struct NewIssueForm {
    #[serde(default)]
    service: String,
    #[serde(default)]
    classification: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    impact_description: String,
    #[serde(default)]
    feature: String,
    #[serde(default)]
    feature_group: String,
    #[serde(default)]
    cadence_minutes: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    action: String,
    #[serde(flatten)]
    scope: ScopeFields,
    #[serde(flatten)]
    translations: TranslationFields,
}

pub struct NewIssueValues {
    pub title: String,
    pub impact: String,
    pub feature: String,
    pub feature_group: String,
    pub cadence: String,
    pub body: String,
}

#[derive(Template)]
#[template(path = "console_issue_new.html")]
struct NewIssuePage {
    title: String,
    page: PageCtx,
    services: Vec<(String, String, bool)>,
    classifications: Vec<(&'static str, String, bool)>,
    statuses: Vec<(&'static str, String, bool)>,
    features: Vec<String>,
    form: NewIssueValues,
    scope: ScopeFields,
    translations: Vec<(&'static str, &'static str, String)>,
    preview: Option<ImpactPreview>,
}

async fn new_issue_page(
    state: &AppState,
    user: &PortalUser,
    form: NewIssueForm,
    preview: Option<ImpactPreview>,
    error: Option<ApiError>,
) -> Response {
    let path = "/console/issues/new";
    let mut page = PageCtx::for_user(state, user, path);
    let tr = page.tr.clone();
    let status = match &error {
        Some(e) => {
            page.error = Some(e.public_message());
            e.status()
        }
        None => StatusCode::OK,
    };
    let catalog = state.store.list_services().await.unwrap_or_default();
    let current: Status = form.status.parse().unwrap_or(Status::Investigating);
    let classification: Classification = form
        .classification
        .parse()
        .unwrap_or(Classification::Incident);
    let features = catalog
        .iter()
        .flat_map(|s| s.features.iter().map(|f| f.name.clone()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    render_with(
        status,
        &NewIssuePage {
            title: tr.t("issue-new-title"),
            services: catalog
                .iter()
                .map(|s| {
                    (
                        s.id.to_string(),
                        s.display_name.clone(),
                        s.id.as_str() == form.service,
                    )
                })
                .collect(),
            classifications: Classification::ALL
                .iter()
                .map(|c| {
                    (
                        c.as_str(),
                        classification_label(&tr, *c),
                        *c == classification,
                    )
                })
                .collect(),
            statuses: selectable_statuses(&tr, current, true),
            features,
            form: NewIssueValues {
                title: form.title,
                impact: form.impact_description,
                feature: form.feature,
                feature_group: form.feature_group,
                cadence: if form.cadence_minutes.is_empty() {
                    "60".into()
                } else {
                    form.cadence_minutes
                },
                body: form.body,
            },
            scope: form.scope,
            translations: form.translations.rows(),
            preview,
            page,
        },
    )
}

pub async fn new_issue_form(State(state): State<AppState>, user: PortalUser) -> Response {
    if let Err(d) = authorize(&user.actor, Action::PublishServiceHealth) {
        return error_page(&state, &user, "/console/issues/new", d.into());
    }
    new_issue_page(&state, &user, NewIssueForm::default(), None, None).await
}

pub(crate) fn cadence(s: &str) -> Result<Option<i64>, ApiError> {
    match s.trim() {
        "" => Ok(None),
        v => v.parse::<i64>().map(Some).map_err(|_| {
            ApiError::Invalid(candor_domain::identity::InvalidValue::new(
                "cadence",
                format!("`{v}` is not a number of minutes"),
            ))
        }),
    }
}

pub async fn create_issue(
    State(state): State<AppState>,
    user: PortalUser,
    Form(form): Form<NewIssueForm>,
) -> Response {
    let path = "/console/issues/new";
    if let Err(d) = authorize(&user.actor, Action::PublishServiceHealth) {
        return error_page(&state, &user, path, d.into());
    }
    let scope = match form.scope.parse() {
        Ok(s) => s,
        Err(e) => return new_issue_page(&state, &user, form, None, Some(e)).await,
    };
    if form.action == "preview" {
        return match svc::preview(&state.core, &user.actor, &form.service, &scope)
            .await
            .map_err(ApiError::from)
        {
            Ok(p) => new_issue_page(&state, &user, form, Some(p), None).await,
            Err(e @ ApiError::Internal(_)) => e.into_response(),
            Err(e) => new_issue_page(&state, &user, form, None, Some(e)).await,
        };
    }
    let cadence_minutes = match cadence(&form.cadence_minutes) {
        Ok(c) => c,
        Err(e) => return new_issue_page(&state, &user, form, None, Some(e)).await,
    };
    let words = (|| -> AppResult<_> {
        Ok((
            form.classification.parse()?,
            words::status(Some(&form.status))?,
            words::translations(form.translations.map())?,
        ))
    })();
    let (classification, status, translations) = match words {
        Ok(w) => w,
        Err(e) => return new_issue_page(&state, &user, form, None, Some(e.into())).await,
    };
    let input = NewIssueInput {
        service: form.service.clone(),
        classification,
        origin: None,
        feature: Some(form.feature.clone()),
        feature_group: Some(form.feature_group.clone()),
        title: form.title.clone(),
        impact_description: form.impact_description.clone(),
        status,
        start: None,
        scope,
        cadence_minutes,
        details: Default::default(),
        post: PostInput {
            post_type: None,
            language: Some(user.language),
            body_html: form.body.clone(),
            translations,
        },
        owner: None,
    };
    match svc::create_issue(&state.core, &user.actor, user.ip.clone(), input)
        .await
        .map_err(ApiError::from)
    {
        Ok((issue, affected)) => Redirect::to(&format!(
            "/console/issues/{}?notice=issue-created&count={affected}",
            issue.id
        ))
        .into_response(),
        Err(e @ ApiError::Internal(_)) => e.into_response(),
        Err(e) => new_issue_page(&state, &user, form, None, Some(e)).await,
    }
}

// ---------------------------------------------------------------- console: one issue

#[derive(Template)]
#[template(path = "console_issue.html")]
struct IssuePage {
    title: String,
    page: PageCtx,
    issue: Issue,
    status: String,
    status_class: &'static str,
    service: String,
    classification: String,
    start: String,
    end: Option<String>,
    affected: i64,
    cadence: String,
    cadence_minutes: i64,
    next_update: String,
    overdue: bool,
    on_time: String,
    scope_text: String,
    posts: Vec<PostView>,
    resolved: bool,
    active_statuses: Vec<(&'static str, String, bool)>,
    update_statuses: Vec<(&'static str, String, bool)>,
    post_types: Vec<(&'static str, String)>,
    translations: Vec<(&'static str, &'static str, String)>,
    scope: ScopeFields,
    preview: Option<ImpactPreview>,
    pir_form: PirFields,
    pir_published: bool,
}

/// The review's sections as typed (or saved).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct PirFields {
    #[serde(default)]
    user_impact: String,
    #[serde(default)]
    scope_of_impact: String,
    #[serde(default)]
    root_cause: String,
    #[serde(default)]
    actions_taken: String,
    #[serde(default)]
    next_steps: String,
    #[serde(default)]
    action: String,
}

async fn issue_page(
    state: &AppState,
    user: &PortalUser,
    id: &str,
    notice_q: Option<&str>,
    scope_form: Option<ScopeFields>,
    preview: Option<ImpactPreview>,
    error: Option<ApiError>,
) -> Response {
    issue_page_with(state, user, id, notice_q, scope_form, preview, None, error).await
}

#[allow(clippy::too_many_arguments)]
async fn issue_page_with(
    state: &AppState,
    user: &PortalUser,
    id: &str,
    notice_q: Option<&str>,
    scope_form: Option<ScopeFields>,
    preview: Option<ImpactPreview>,
    pir_typed: Option<PirFields>,
    error: Option<ApiError>,
) -> Response {
    let path = "/console/issues";
    if let Err(d) = authorize(&user.actor, Action::PublishServiceHealth) {
        return error_page(state, user, path, d.into());
    }
    let issue = match candor_domain::health::IssueId::parse(id) {
        Ok(iid) => match state.store.get_issue(&iid).await {
            Ok(Some(i)) => i,
            Ok(None) => {
                return error_page(
                    state,
                    user,
                    path,
                    ApiError::NotFound("no such issue".into()),
                )
            }
            Err(e) => return ApiError::from(e).into_response(),
        },
        Err(_) => {
            return error_page(
                state,
                user,
                path,
                ApiError::NotFound("no such issue".into()),
            )
        }
    };
    let (posts, affected) = match async {
        Ok::<_, ApiError>((
            state.store.issue_posts(&issue.id).await?,
            state.store.affected_count(&issue.id).await?,
        ))
    }
    .await
    {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let services = state.store.list_services().await.unwrap_or_default();
    let saved_pir = match state.store.get_pir(&issue.id).await {
        Ok(p) => p,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let pir_published = saved_pir.as_ref().is_some_and(|p| p.is_published());
    let pir_form = pir_typed.unwrap_or_else(|| {
        saved_pir
            .map(|p| PirFields {
                user_impact: p.user_impact,
                scope_of_impact: p.scope_of_impact,
                root_cause: p.root_cause,
                actions_taken: p.actions_taken,
                next_steps: p.next_steps,
                action: String::new(),
            })
            .unwrap_or_default()
    });
    let mut page = PageCtx::for_user(state, user, path);
    let tr = page.tr.clone();
    page.notice = notice(&tr, notice_q);
    let status = match &error {
        Some(e) => {
            page.error = Some(e.public_message());
            e.status()
        }
        None => StatusCode::OK,
    };
    let now = state.clock.now();
    render_with(
        status,
        &IssuePage {
            pir_form,
            pir_published,
            title: format!("{} {}", issue.id, issue.title),
            status: status_label(&tr, issue.status),
            status_class: status_class(issue.status),
            service: services
                .iter()
                .find(|s| s.id == issue.service)
                .map_or(issue.service.to_string(), |s| s.display_name.clone()),
            classification: classification_label(&tr, issue.classification),
            start: tr.time(&issue.start),
            end: issue.end.map(|e| tr.time(&e)),
            affected,
            cadence: format!("{} min", issue.cadence.whole_minutes()),
            cadence_minutes: issue.cadence.whole_minutes(),
            next_update: issue
                .next_update_due
                .map(|d| tr.time(&d))
                .unwrap_or_else(|| "—".into()),
            overdue: issue.is_overdue(now),
            on_time: format!("{}/{}", issue.updates_on_time, issue.updates_total),
            scope_text: serde_json::to_string(&issue.scope).unwrap_or_default(),
            posts: post_views(&tr, &posts),
            resolved: issue.is_resolved(),
            active_statuses: selectable_statuses(&tr, Status::Investigating, true),
            update_statuses: selectable_statuses(&tr, issue.status, false),
            post_types: PostType::ALL
                .iter()
                .map(|t| (t.as_str(), post_type_label(&tr, *t)))
                .collect(),
            translations: TranslationFields::default().rows(),
            scope: scope_form.unwrap_or_else(|| ScopeFields::from_scope(&issue.scope)),
            preview,
            issue,
            page,
        },
    )
}

pub async fn console_issue(
    State(state): State<AppState>,
    user: PortalUser,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    issue_page(&state, &user, &id, raw.as_deref(), None, None, None).await
}

#[derive(Debug, Default, Deserialize)]
pub struct UpdateForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    post_type: String,
    #[serde(default)]
    cadence_minutes: String,
    #[serde(default)]
    body: String,
    #[serde(flatten)]
    translations: TranslationFields,
}

async fn apply_update_form(
    state: AppState,
    user: PortalUser,
    id: String,
    form: UpdateForm,
    reopen: bool,
) -> Response {
    let cadence_minutes = match cadence(&form.cadence_minutes) {
        Ok(c) => c,
        Err(e) => return issue_page(&state, &user, &id, None, None, None, Some(e)).await,
    };
    let words = (|| -> AppResult<_> {
        Ok((
            words::status(Some(&form.status))?,
            words::word(Some(&form.post_type))?,
            words::translations(form.translations.map())?,
        ))
    })();
    let (status, post_type, translations) = match words {
        Ok(w) => w,
        Err(e) => return issue_page(&state, &user, &id, None, None, None, Some(e.into())).await,
    };
    let input = UpdateInput {
        status,
        post: Some(PostInput {
            post_type,
            language: Some(user.language),
            body_html: form.body,
            translations,
        }),
        cadence_minutes,
        title: None,
        impact_description: None,
    };
    let result = if reopen {
        ids::with_id(&id, |id| {
            svc::reopen_issue(&state.core, &user.actor, user.ip.clone(), id, input)
        })
        .await
    } else {
        ids::with_id(&id, |id| {
            svc::update_issue(&state.core, &user.actor, user.ip.clone(), id, input)
        })
        .await
    };
    let notice = if reopen {
        "issue-reopened"
    } else {
        "issue-updated"
    };
    match result.map_err(ApiError::from) {
        Ok(issue) => {
            Redirect::to(&format!("/console/issues/{}?notice={notice}", issue.id)).into_response()
        }
        Err(e @ ApiError::Internal(_)) => e.into_response(),
        Err(e) => issue_page(&state, &user, &id, None, None, None, Some(e)).await,
    }
}

pub async fn post_update(
    State(state): State<AppState>,
    user: PortalUser,
    Path(id): Path<String>,
    Form(form): Form<UpdateForm>,
) -> Response {
    apply_update_form(state, user, id, form, false).await
}

pub async fn reopen(
    State(state): State<AppState>,
    user: PortalUser,
    Path(id): Path<String>,
    Form(form): Form<UpdateForm>,
) -> Response {
    apply_update_form(state, user, id, form, true).await
}

#[derive(Debug, Default, Deserialize)]
pub struct ScopeForm {
    #[serde(default)]
    action: String,
    #[serde(flatten)]
    scope: ScopeFields,
}

pub async fn change_scope(
    State(state): State<AppState>,
    user: PortalUser,
    Path(id): Path<String>,
    Form(form): Form<ScopeForm>,
) -> Response {
    let scope = match form.scope.parse() {
        Ok(s) => s,
        Err(e) => {
            return issue_page(&state, &user, &id, None, Some(form.scope), None, Some(e)).await
        }
    };
    if form.action == "preview" {
        let service = match candor_domain::health::IssueId::parse(&id) {
            Ok(iid) => match state.store.get_issue(&iid).await {
                Ok(Some(i)) => i.service.to_string(),
                _ => String::new(),
            },
            Err(_) => String::new(),
        };
        return match svc::preview(&state.core, &user.actor, &service, &scope)
            .await
            .map_err(ApiError::from)
        {
            Ok(p) => issue_page(&state, &user, &id, None, Some(form.scope), Some(p), None).await,
            Err(e @ ApiError::Internal(_)) => e.into_response(),
            Err(e) => issue_page(&state, &user, &id, None, Some(form.scope), None, Some(e)).await,
        };
    }
    match ids::with_id(&id, |id| {
        svc::change_scope(&state.core, &user.actor, user.ip.clone(), id, scope)
    })
    .await
    .map_err(ApiError::from)
    {
        Ok((issue, added)) => Redirect::to(&format!(
            "/console/issues/{}?notice=scope-changed&count={added}",
            issue.id
        ))
        .into_response(),
        Err(e @ ApiError::Internal(_)) => e.into_response(),
        Err(e) => issue_page(&state, &user, &id, None, Some(form.scope), None, Some(e)).await,
    }
}

pub async fn save_review(
    State(state): State<AppState>,
    user: PortalUser,
    Path(id): Path<String>,
    Form(form): Form<PirFields>,
) -> Response {
    let input = svc::PirInput {
        user_impact: form.user_impact.clone(),
        scope_of_impact: form.scope_of_impact.clone(),
        start: None,
        end: None,
        root_cause: form.root_cause.clone(),
        actions_taken: form.actions_taken.clone(),
        next_steps: form.next_steps.clone(),
    };
    let saved = ids::with_id(&id, |id| {
        svc::save_pir_draft(&state.core, &user.actor, user.ip.clone(), id, input)
    })
    .await;
    let result = match (saved, form.action.as_str()) {
        (Ok(_), "publish") => ids::with_id(&id, |id| {
            svc::publish_pir(&state.core, &user.actor, user.ip.clone(), id)
        })
        .await
        .map(|_| "pir-published"),
        (Ok(_), _) => Ok("pir-saved"),
        (Err(e), _) => Err(e),
    };
    match result.map_err(ApiError::from) {
        Ok(notice) => {
            Redirect::to(&format!("/console/issues/{id}?notice={notice}#review")).into_response()
        }
        Err(e @ ApiError::Internal(_)) => e.into_response(),
        Err(e) => issue_page_with(&state, &user, &id, None, None, None, Some(form), Some(e)).await,
    }
}
