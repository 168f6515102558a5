//! The tenant's webhook endpoints: add (URL, format, topics, services; the signing secret
//! shown once), send a test, rotate the secret, turn a disabled endpoint back on, remove.

use crate::pages::form::Form;
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use candor_app::{ids, words};
use candor_domain::health::{Topic, WebhookFormat};
use serde::Deserialize;

use super::contacts::{describe, service_choices, topic_choices};
use crate::auth::extract::PortalUser;
use crate::error::ApiError;
use crate::pages::{error_page, render, PageCtx};
use crate::AppState;
use candor_app::error::AppError;
use candor_app::webhooks::{self as svc, WebhookInput, WithSecret};

const PATH: &str = "/portal/webhooks";

pub struct EndpointRow {
    pub id: String,
    pub url: String,
    pub format: String,
    pub topics: String,
    pub services: String,
    pub enabled: bool,
    pub state: String,
    pub disabled_reason: Option<String>,
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    title: String,
    page: PageCtx,
    rows: Vec<EndpointRow>,
    /// After adding or rotating: what the secret is for, and the secret (shown once).
    secret: Option<(String, String)>,
    formats: Vec<(&'static str, String, bool)>,
    topics: Vec<(&'static str, String, bool)>,
    services: Vec<(String, String, bool)>,
    url: String,
}

#[derive(Deserialize, Default)]
pub struct WebhookForm {
    #[serde(default)]
    url: String,
    #[serde(default)]
    format: String,
    #[serde(default)]
    topics: Vec<String>,
    #[serde(default)]
    services: Vec<String>,
}

async fn webhooks_page(
    state: &AppState,
    user: &PortalUser,
    raw: &Option<String>,
    secret: Option<WithSecret>,
    failed: Option<(ApiError, WebhookForm)>,
) -> Response {
    let Some(tenant) = user.actor.tenant_id() else {
        return error_page(state, user, PATH, ApiError::NotFound("no tenant".into()));
    };
    let endpoints = match svc::list(&state.core, &user.actor, tenant).await {
        Ok(e) => e,
        Err(e) => return error_page(state, user, PATH, ApiError::from(e)),
    };
    let catalog = match state.store.list_services().await {
        Ok(c) => c,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let mut page = PageCtx::for_user(state, user, PATH);
    let tr = page.tr.clone();
    page.notice = match raw.as_deref() {
        Some("notice=removed") => Some(tr.t("webhooks-removed")),
        Some("notice=test") => Some(tr.t("webhooks-test-queued")),
        Some("notice=enabled") => Some(tr.t("webhooks-enabled-again")),
        _ => None,
    };
    let form = match failed {
        Some((e, form)) => {
            page.error = Some(e.public_message());
            form
        }
        None => WebhookForm {
            topics: Topic::ALL.iter().map(|t| t.as_str().to_owned()).collect(),
            ..Default::default()
        },
    };
    let format_name = |f: WebhookFormat| tr.t(&format!("webhooks-format-{}", f.as_str()));
    render(&WebhooksPage {
        title: tr.t("webhooks-title"),
        rows: endpoints
            .iter()
            .map(|e| {
                let (topics, services) = describe(&tr, &catalog, &e.subscription);
                let state = if !e.enabled {
                    tr.t("webhooks-disabled")
                } else if e.failures > 0 {
                    tr.ta("webhooks-failing", &[("count", e.failures.to_string())])
                } else {
                    tr.t("webhooks-enabled")
                };
                EndpointRow {
                    id: e.id.to_string(),
                    url: e.url.clone(),
                    format: format_name(e.format),
                    topics,
                    services,
                    enabled: e.enabled,
                    state,
                    disabled_reason: e.disabled_reason.clone(),
                }
            })
            .collect(),
        secret: secret.map(|s| {
            (
                tr.ta("webhooks-secret-shown", &[("url", s.endpoint.url.clone())]),
                s.secret,
            )
        }),
        formats: WebhookFormat::ALL
            .iter()
            .map(|f| {
                (
                    f.as_str(),
                    format_name(*f),
                    form.format.eq_ignore_ascii_case(f.as_str()),
                )
            })
            .collect(),
        topics: topic_choices(&tr, &form.topics),
        services: service_choices(&catalog, &form.services),
        url: form.url,
        page,
    })
}

pub async fn show(
    State(state): State<AppState>,
    user: PortalUser,
    RawQuery(raw): RawQuery,
) -> Response {
    webhooks_page(&state, &user, &raw, None, None).await
}

pub async fn add(
    State(state): State<AppState>,
    user: PortalUser,
    Form(form): Form<WebhookForm>,
) -> Response {
    let Some(tenant) = user.actor.tenant_id() else {
        return error_page(&state, &user, PATH, ApiError::NotFound("no tenant".into()));
    };
    let words = words::word(Some(&form.format)).and_then(|f| Ok((f, words::topics(&form.topics)?)));
    let input = words.map(|(format, topics)| WebhookInput {
        url: form.url.clone(),
        format,
        topics,
        services: form.services.clone(),
    });
    match ids::with_parsed(input, |input| {
        svc::add(&state.core, &user.actor, user.ip.clone(), tenant, input)
    })
    .await
    .map_err(ApiError::from)
    {
        Ok(made) => webhooks_page(&state, &user, &None, Some(made), None).await,
        Err(e @ ApiError::Forbidden(_)) => error_page(&state, &user, PATH, e),
        Err(e @ ApiError::Internal(_)) => e.into_response(),
        Err(e) => webhooks_page(&state, &user, &None, None, Some((e, form))).await,
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
    let (core, actor, ip) = (&state.core, &user.actor, user.ip.clone());
    let result = match form.action.as_str() {
        "rotate" => match ids::with_id(&id, |id| svc::rotate_secret(core, actor, ip, tenant, id))
            .await
        {
            Ok(rotated) => return webhooks_page(&state, &user, &None, Some(rotated), None).await,
            Err(e) => Err(e),
        },
        "remove" => ids::with_id(&id, |id| svc::remove(core, actor, ip, tenant, id))
            .await
            .map(|_| "removed"),
        "test" => ids::with_id(&id, |id| svc::send_test(core, actor, ip, tenant, id))
            .await
            .map(|_| "test"),
        "enable" => ids::with_id(&id, |id| svc::enable(core, actor, ip, tenant, id))
            .await
            .map(|_| "enabled"),
        _ => Err(AppError::Refused(
            "choose test, rotate, enable or remove".into(),
        )),
    };
    let result = result.map_err(ApiError::from);
    match result {
        Ok(notice) => Redirect::to(&format!("{PATH}?notice={notice}")).into_response(),
        Err(e @ ApiError::Internal(_)) => e.into_response(),
        Err(e) => error_page(&state, &user, PATH, e),
    }
}
