//! The tenant's notification contacts: add (address, language, topics, services),
//! remove, and send a test email.

use crate::pages::form::Form;
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use candor_app::{ids, words};
use candor_domain::health::Topic;
use candor_domain::language::Language;
use serde::Deserialize;

use crate::auth::extract::PortalUser;
use crate::error::ApiError;
use crate::pages::{error_page, render, PageCtx};
use crate::AppState;
use candor_app::contacts::{self as svc, ContactInput};
use candor_app::error::AppError;

const PATH: &str = "/portal/contacts";

pub struct ContactRow {
    pub id: String,
    pub email: String,
    pub language: &'static str,
    pub topics: String,
    pub services: String,
}

#[derive(Template)]
#[template(path = "contacts.html")]
struct ContactsPage {
    title: String,
    page: PageCtx,
    rows: Vec<ContactRow>,
    languages: Vec<(&'static str, &'static str, bool)>,
    topics: Vec<(&'static str, String, bool)>,
    services: Vec<(String, String, bool)>,
    email: String,
}

#[derive(Deserialize, Default)]
pub struct ContactForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    topics: Vec<String>,
    #[serde(default)]
    services: Vec<String>,
}

impl ContactForm {
    /// The contact the form describes, its words read.
    fn input(&self) -> Result<ContactInput, AppError> {
        Ok(ContactInput {
            email: self.email.clone(),
            language: words::required_language("language", &self.language)?,
            topics: words::topics(&self.topics)?,
            services: self.services.clone(),
        })
    }
}

async fn contacts_page(
    state: &AppState,
    user: &PortalUser,
    raw: &Option<String>,
    failed: Option<(ApiError, ContactForm)>,
) -> Response {
    let Some(tenant) = user.tenant.clone() else {
        return error_page(state, user, PATH, ApiError::NotFound("no tenant".into()));
    };
    let contacts = match svc::list(&state.core, &user.actor, tenant.id).await {
        Ok(c) => c,
        Err(e) => return error_page(state, user, PATH, ApiError::from(e)),
    };
    let catalog = match state.store.list_services().await {
        Ok(c) => c,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let mut page = PageCtx::for_user(state, user, PATH);
    let tr = page.tr.clone();
    page.notice = match raw.as_deref() {
        Some("notice=added") => Some(tr.t("contacts-added")),
        Some("notice=removed") => Some(tr.t("contacts-removed")),
        Some("notice=test") => Some(tr.t("contacts-test-queued")),
        Some("notice=invited") => Some(tr.t("contacts-invited")),
        _ => None,
    };
    let form = match failed {
        Some((e, form)) => {
            page.error = Some(e.public_message());
            form
        }
        None => ContactForm {
            language: tenant.default_language.tag().to_owned(),
            topics: Topic::ALL.iter().map(|t| t.as_str().to_owned()).collect(),
            ..Default::default()
        },
    };
    render(&ContactsPage {
        title: tr.t("contacts-title"),
        rows: contacts
            .iter()
            .map(|c| {
                let (topics, services) = describe(&tr, &catalog, &c.subscription);
                ContactRow {
                    id: c.id.to_string(),
                    email: c.email.to_string(),
                    language: c.language.native_name(),
                    topics,
                    services,
                }
            })
            .collect(),
        languages: Language::ALL
            .iter()
            .map(|l| (l.tag(), l.native_name(), l.tag() == form.language))
            .collect(),
        topics: topic_choices(&tr, &form.topics),
        services: service_choices(&catalog, &form.services),
        email: form.email,
        page,
    })
}

pub async fn show(
    State(state): State<AppState>,
    user: PortalUser,
    RawQuery(raw): RawQuery,
) -> Response {
    contacts_page(&state, &user, &raw, None).await
}

pub async fn add(
    State(state): State<AppState>,
    user: PortalUser,
    Form(form): Form<ContactForm>,
) -> Response {
    let Some(tenant) = user.actor.tenant_id() else {
        return error_page(&state, &user, PATH, ApiError::NotFound("no tenant".into()));
    };
    let input = form.input();
    match ids::with_parsed(input, |input| {
        svc::add(&state.core, &user.actor, user.ip.clone(), tenant, input)
    })
    .await
    .map_err(ApiError::from)
    {
        Ok(_) => Redirect::to("/portal/contacts?notice=added").into_response(),
        Err(e @ ApiError::Forbidden(_)) => error_page(&state, &user, PATH, e),
        Err(e @ ApiError::Internal(_)) => e.into_response(),
        Err(e) => contacts_page(&state, &user, &None, Some((e, form))).await,
    }
}

/// Invites the form's address: it becomes a contact when its owner accepts.
pub async fn invite(
    State(state): State<AppState>,
    user: PortalUser,
    Form(form): Form<ContactForm>,
) -> Response {
    let Some(tenant) = user.actor.tenant_id() else {
        return error_page(&state, &user, PATH, ApiError::NotFound("no tenant".into()));
    };
    let input = form.input();
    match ids::with_parsed(input, |input| {
        candor_app::subscribers::invite(
            &state.core,
            &user.actor,
            user.ip.clone(),
            &state.config.public_url,
            tenant,
            input,
        )
    })
    .await
    .map_err(ApiError::from)
    {
        Ok(_) => Redirect::to("/portal/contacts?notice=invited").into_response(),
        Err(e @ ApiError::Forbidden(_)) => error_page(&state, &user, PATH, e),
        Err(e @ ApiError::Internal(_)) => e.into_response(),
        Err(e) => contacts_page(&state, &user, &None, Some((e, form))).await,
    }
}

#[derive(Deserialize)]
pub struct ActionForm {
    action: String,
}

pub async fn act(
    State(state): State<AppState>,
    user: PortalUser,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Response {
    let Some(tenant) = user.actor.tenant_id() else {
        return error_page(&state, &user, PATH, ApiError::NotFound("no tenant".into()));
    };
    let result = match form.action.as_str() {
        "remove" => ids::with_id(&id, |id| {
            svc::remove(&state.core, &user.actor, user.ip.clone(), tenant, id)
        })
        .await
        .map(|_| "removed"),
        "test" => ids::with_id(&id, |id| {
            svc::send_test(&state.core, &user.actor, user.ip.clone(), tenant, id)
        })
        .await
        .map(|_| "test"),
        _ => Err(AppError::Refused("choose remove or test".into())),
    };
    let result = result.map_err(ApiError::from);
    match result {
        Ok(notice) => Redirect::to(&format!("/portal/contacts?notice={notice}")).into_response(),
        Err(e @ ApiError::Internal(_)) => e.into_response(),
        Err(e) => error_page(&state, &user, PATH, e),
    }
}

/// A subscription in words: its topics, and its services (or "all services").
pub(crate) fn describe(
    tr: &candor_app::i18n::Tr,
    catalog: &[candor_domain::health::Service],
    subscription: &candor_domain::health::Subscription,
) -> (String, String) {
    let topics = subscription
        .topics
        .iter()
        .map(|t| tr.t(&format!("contacts-topic-{}", t.as_str())))
        .collect::<Vec<_>>()
        .join(", ");
    let services = if subscription.services.is_empty() {
        tr.t("contacts-all-services")
    } else {
        subscription
            .services
            .iter()
            .map(|id| {
                catalog
                    .iter()
                    .find(|s| &s.id == id)
                    .map(|s| s.display_name.clone())
                    .unwrap_or_else(|| id.to_string())
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    (topics, services)
}

/// The topic checkboxes of a subscription form: (value, label, checked).
pub(super) fn topic_choices(
    tr: &candor_app::i18n::Tr,
    chosen: &[String],
) -> Vec<(&'static str, String, bool)> {
    Topic::ALL
        .iter()
        .map(|t| {
            (
                t.as_str(),
                tr.t(&format!("contacts-topic-{}", t.as_str())),
                chosen.iter().any(|x| x == t.as_str()),
            )
        })
        .collect()
}

/// The service checkboxes of a subscription form: (value, label, checked).
pub(super) fn service_choices(
    catalog: &[candor_domain::health::Service],
    chosen: &[String],
) -> Vec<(String, String, bool)> {
    catalog
        .iter()
        .map(|s| {
            (
                s.id.to_string(),
                s.display_name.clone(),
                chosen.iter().any(|x| x == s.id.as_str()),
            )
        })
        .collect()
}
