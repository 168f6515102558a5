//! Planned maintenance in the console, for incident managers: what is scheduled, running
//! and done, a form that schedules one (its reach previewed first), and the changes by
//! hand (start early, extend, complete early, cancel).

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use candor_app::maintenance::{self as svc, NewMaintenanceInput};
use candor_domain::health::maintenance::{MaintenanceId, MaintenanceState};
use candor_domain::health::Scope;
use candor_domain::identity::{InvalidValue, RegionCode};
use candor_domain::language::Language;
use candor_domain::store::ImpactPreview;
use serde::Deserialize;

use crate::auth::extract::PortalUser;
use crate::error::ApiError;
use crate::pages::{error_page, render, PageCtx};
use crate::AppState;

const PATH: &str = "/console/maintenance";

#[derive(Debug, Default, Clone, Deserialize)]
pub struct MaintenanceForm {
    #[serde(default)]
    services: String,
    #[serde(default)]
    regions: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    /// `YYYY-MM-DDTHH:MM` (a datetime-local field), in UTC.
    #[serde(default)]
    start: String,
    #[serde(default)]
    end: String,
    #[serde(default)]
    impact: String,
    #[serde(default)]
    reminder_minutes: String,
    #[serde(default)]
    action: String,
    /// The title and description in other languages (`title_nl`, `description_nl`, …;
    /// zh-TW as `zh_tw`), each optional.
    #[serde(flatten)]
    translations: BTreeMap<String, String>,
}

/// The field-name part of a language in the form (`zh-TW` as `zh_tw`).
fn field_of(lang: Language) -> String {
    lang.tag().to_lowercase().replace('-', "_")
}

impl MaintenanceForm {
    /// The title and description by language: the main language's, and each
    /// translation given (both parts, or neither).
    fn texts(&self, main: Language) -> Result<BTreeMap<Language, (String, String)>, ApiError> {
        let mut texts: BTreeMap<Language, (String, String)> =
            [(main, (self.title.clone(), self.description.clone()))].into();
        for lang in Language::ALL.iter().copied().filter(|l| *l != main) {
            let field = field_of(lang);
            let get = |part: &str| {
                self.translations
                    .get(&format!("{part}_{field}"))
                    .map(|v| v.trim().to_owned())
                    .unwrap_or_default()
            };
            let (title, description) = (get("title"), get("description"));
            if !title.is_empty() || !description.is_empty() {
                texts.insert(lang, (title, description));
            }
        }
        Ok(texts)
    }

    /// What the form holds in `lang`'s translation fields.
    fn translation(&self, lang: Language, part: &str) -> String {
        self.translations
            .get(&format!("{part}_{}", field_of(lang)))
            .cloned()
            .unwrap_or_default()
    }
}

/// A translation's fields in the form: (language name, title field, title, description
/// field, description).
pub struct TranslationFields {
    pub language: &'static str,
    pub title_field: String,
    pub title: String,
    pub description_field: String,
    pub description: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    change: String,
    /// A new start (rescheduling).
    #[serde(default)]
    start: String,
    #[serde(default)]
    end: String,
}

pub struct MaintenanceRow {
    pub id: String,
    pub message: String,
    pub title: String,
    pub services: String,
    pub window: String,
    pub impact: String,
    pub state: String,
    pub state_class: &'static str,
    pub scheduled: bool,
    pub running: bool,
}

#[derive(Template)]
#[template(path = "console_maintenance.html")]
struct MaintenancePage {
    title: String,
    page: PageCtx,
    rows: Vec<MaintenanceRow>,
    form: MaintenanceForm,
    services: Vec<(String, String)>,
    impacts: Vec<(&'static str, String)>,
    languages: Vec<(&'static str, &'static str)>,
    translations: Vec<TranslationFields>,
    /// Who the form's maintenance would reach, once previewed.
    preview: Option<String>,
}

fn invalid(field: &'static str, problem: impl Into<String>) -> ApiError {
    ApiError::Invalid(InvalidValue::new(field, problem))
}

/// A datetime-local value (UTC), or RFC 3339.
fn when(field: &'static str, s: &str) -> Result<time::OffsetDateTime, ApiError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(invalid(field, "give a date and time (UTC)"));
    }
    let text = if s.len() == 16 {
        format!("{s}:00Z")
    } else {
        s.to_owned()
    };
    candor_domain::time_util::parse_time(&text).ok_or_else(|| {
        invalid(
            field,
            format!("`{s}` is not a time such as 2027-03-01T02:00"),
        )
    })
}

fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

fn scope_of(form: &MaintenanceForm) -> Result<Scope, ApiError> {
    let mut scope = Scope::default();
    for r in list(&form.regions) {
        scope
            .regions
            .insert(RegionCode::parse(&r).map_err(ApiError::Invalid)?);
    }
    Ok(scope)
}

async fn page(
    state: &AppState,
    user: &PortalUser,
    form: MaintenanceForm,
    preview: Option<ImpactPreview>,
    error: Option<ApiError>,
) -> Response {
    let all = match svc::list_for_operator(&state.core, &user.actor, 100).await {
        Ok(l) => l,
        Err(e) => return error_page(state, user, PATH, ApiError::from(e)),
    };
    let catalog = match state.store.list_services().await {
        Ok(c) => c,
        Err(e) => return ApiError::from(candor_app::error::AppError::from(e)).into_response(),
    };
    let mut page = PageCtx::for_user(state, user, PATH);
    if let Some(e) = error {
        page.error = Some(e.public_message());
    }
    let tr = page.tr.clone();
    let names: BTreeMap<String, String> = catalog
        .iter()
        .map(|s| (s.id.to_string(), s.display_name.clone()))
        .collect();
    let now = state.clock.now();
    let rows = all
        .iter()
        .map(|m| {
            let mm = &m.maintenance;
            MaintenanceRow {
                id: m.id.to_string(),
                message: m.message.to_string(),
                title: m.text_in(tr.lang).0.to_owned(),
                services: mm
                    .services
                    .iter()
                    .map(|s| {
                        names
                            .get(s.as_str())
                            .cloned()
                            .unwrap_or_else(|| s.to_string())
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                window: tr.ta(
                    "maintenance-window",
                    &[
                        ("start", tr.time(&mm.window.start)),
                        ("end", tr.time(&mm.window.end)),
                    ],
                ),
                impact: tr.t(&format!("maintenance-impact-{}", mm.impact.as_str())),
                state: tr.t(&format!("maintenance-state-{}", mm.state.as_str())),
                state_class: if mm.is_active(now) { "info" } else { "ok" },
                scheduled: mm.state == MaintenanceState::Scheduled,
                running: mm.state == MaintenanceState::InProgress,
            }
        })
        .collect();
    render(&MaintenancePage {
        title: tr.t("maintenance-public"),
        rows,
        services: catalog
            .iter()
            .map(|s| (s.id.to_string(), s.display_name.clone()))
            .collect(),
        impacts: ["none", "degraded", "unavailable"]
            .into_iter()
            .map(|i| (i, tr.t(&format!("maintenance-impact-{i}"))))
            .collect(),
        languages: Language::ALL
            .iter()
            .map(|l| (l.tag(), l.native_name()))
            .collect(),
        translations: Language::ALL
            .iter()
            .map(|l| TranslationFields {
                language: l.native_name(),
                title_field: format!("title_{}", field_of(*l)),
                title: form.translation(*l, "title"),
                description_field: format!("description_{}", field_of(*l)),
                description: form.translation(*l, "description"),
            })
            .collect(),
        form,
        preview: preview.map(|p| tr.ta("maintenance-preview", &[("count", p.total.to_string())])),
        page,
    })
}

pub async fn show(State(state): State<AppState>, user: PortalUser) -> Response {
    let form = MaintenanceForm {
        impact: "degraded".into(),
        language: "en".into(),
        reminder_minutes: "60".into(),
        ..Default::default()
    };
    page(&state, &user, form, None, None).await
}

pub async fn schedule(
    State(state): State<AppState>,
    user: PortalUser,
    Form(form): Form<MaintenanceForm>,
) -> Response {
    let scope = match scope_of(&form) {
        Ok(s) => s,
        Err(e) => return page(&state, &user, form, None, Some(e)).await,
    };
    let services = list(&form.services);
    if form.action == "preview" {
        return match svc::preview(&state.core, &user.actor, &services, &scope).await {
            Ok(p) => page(&state, &user, form, Some(p), None).await,
            Err(e) => page(&state, &user, form, None, Some(e.into())).await,
        };
    }
    let parsed = (|| -> Result<_, ApiError> {
        let start = when("start", &form.start)?;
        let end = when("end", &form.end)?;
        let language: Language = form
            .language
            .parse()
            .map_err(|_| invalid("language", "choose a language"))?;
        let impact = form.impact.parse().map_err(ApiError::Invalid)?;
        let reminder =
            match form.reminder_minutes.trim() {
                "" => None,
                r => Some(r.parse::<i64>().map_err(|_| {
                    invalid("reminderMinutes", "give the reminder in whole minutes")
                })?),
            };
        let texts = form.texts(language)?;
        Ok((start, end, texts, impact, reminder))
    })();
    let (start, end, text, impact, reminder_minutes) = match parsed {
        Ok(p) => p,
        Err(e) => return page(&state, &user, form, None, Some(e)).await,
    };
    let input = NewMaintenanceInput {
        services,
        scope,
        text,
        start,
        end,
        impact,
        reminder_minutes,
    };
    match svc::schedule(&state.core, &user.actor, user.ip.clone(), input).await {
        Ok((m, _)) => Redirect::to(&format!("{PATH}#{}", m.id)).into_response(),
        Err(e) => page(&state, &user, form, None, Some(e.into())).await,
    }
}

pub async fn change(
    State(state): State<AppState>,
    user: PortalUser,
    Path(id): Path<String>,
    Form(form): Form<ChangeForm>,
) -> Response {
    let fresh = MaintenanceForm {
        impact: "degraded".into(),
        language: "en".into(),
        reminder_minutes: "60".into(),
        ..Default::default()
    };
    let optional = |field: &'static str, value: &str| match value.trim() {
        "" => Ok(None),
        v => when(field, v).map(Some),
    };
    let (start, end) = match (optional("start", &form.start), optional("end", &form.end)) {
        (Ok(start), Ok(end)) => (start, end),
        (Err(e), _) | (_, Err(e)) => return page(&state, &user, fresh, None, Some(e)).await,
    };
    let changed = async {
        let id: MaintenanceId = candor_app::ids::id(&id)?;
        let change = svc::parse_change(&form.change, start, end)?;
        svc::change(&state.core, &user.actor, user.ip.clone(), &id, change).await
    }
    .await;
    match changed {
        Ok(m) => Redirect::to(&format!("{PATH}#{}", m.id)).into_response(),
        Err(e) => page(&state, &user, fresh, None, Some(e.into())).await,
    }
}
