//! Subscribing to the public status page by email: the form, the confirmation link's
//! page, and each subscriber's own page (change what it receives, or unsubscribe in one
//! click, RFC 8058). No session and no form token: the link's token is the credential,
//! and the form itself only ever sends a confirmation email. A confirmation link asks
//! before it confirms, so a mail scanner that opens links confirms nobody.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use candor_app::i18n::Tr;
use candor_app::status_page::CSS;
use candor_app::subscribers::{self as svc, Confirmed, SubscribeInput, SubscriberChange};
use candor_app::words;
use candor_domain::health::subscriber::PUBLIC_TOPICS;
use candor_domain::health::Service;
use candor_domain::language::Language;
use serde::Deserialize;

use crate::auth::extract::ClientIp;
use crate::error::ApiError;
use crate::pages::form::Form;
use crate::public::lang_of;
use crate::routes::{RouteTable, RouterExt};
use crate::AppState;

pub fn routes(t: &mut RouteTable) -> Router<AppState> {
    Router::new()
        .at(t, "/status/subscribe", get(form_page).post(subscribe))
        .at(
            t,
            "/status/subscribe/confirm/{token}",
            get(confirm_page).post(confirm_now),
        )
        .at(
            t,
            "/status/subscription/{token}",
            get(manage_page).post(manage_save),
        )
        .at(
            t,
            "/status/subscription/{token}/unsubscribe",
            get(unsubscribe_page).post(unsubscribe_now),
        )
}

#[derive(Template)]
#[template(path = "subscribe.html")]
struct SubscribePage<'a> {
    tr: &'a Tr,
    css: &'static str,
    heading: String,
    intro: String,
    notice: Option<String>,
    error: Option<String>,
    question: Option<String>,
    with_form: bool,
    ask_email: bool,
    action: String,
    button: String,
    email: String,
    languages: Vec<(&'static str, &'static str, bool)>,
    topics: Vec<(&'static str, String, bool)>,
    services: Vec<(String, String, bool)>,
    unsubscribe_href: Option<String>,
    /// The subscriber's own page, once confirmed.
    manage_href: Option<String>,
    status_href: String,
}

impl<'a> SubscribePage<'a> {
    fn new(tr: &'a Tr, heading: String) -> Self {
        SubscribePage {
            tr,
            css: CSS,
            heading,
            intro: String::new(),
            notice: None,
            error: None,
            question: None,
            with_form: false,
            ask_email: false,
            action: String::new(),
            button: String::new(),
            email: String::new(),
            languages: Vec::new(),
            topics: Vec::new(),
            services: Vec::new(),
            unsubscribe_href: None,
            manage_href: None,
            status_href: format!("/status?lang={}", tr.lang.tag()),
        }
    }

    /// Adds the choices, as `chosen` has them.
    fn choices(mut self, catalog: &[Service], chosen: &SubscribeForm) -> Self {
        self.with_form = true;
        self.email = chosen.email.clone();
        self.languages = Language::ALL
            .iter()
            .map(|l| (l.tag(), l.native_name(), l.tag() == chosen.language))
            .collect();
        self.topics = PUBLIC_TOPICS
            .iter()
            .map(|t| {
                (
                    t.as_str(),
                    self.tr.t(&format!("contacts-topic-{}", t.as_str())),
                    chosen.topics.iter().any(|x| x == t.as_str()),
                )
            })
            .collect();
        self.services = catalog
            .iter()
            .map(|s| {
                (
                    s.id.to_string(),
                    s.display_name.clone(),
                    chosen.services.iter().any(|x| x == s.id.as_str()),
                )
            })
            .collect();
        self
    }

    fn respond(self, status: StatusCode) -> Response {
        match self.render() {
            Ok(html) => (
                status,
                [(header::REFERRER_POLICY, "no-referrer")],
                Html(html),
            )
                .into_response(),
            Err(e) => ApiError::internal(anyhow::anyhow!("template: {e}")).into_response(),
        }
    }
}

#[derive(Deserialize, Default, Clone)]
pub struct SubscribeForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    topics: Vec<String>,
    #[serde(default)]
    services: Vec<String>,
}

impl SubscribeForm {
    /// The form's language, topics and services, its words read.
    fn choices(&self) -> Result<SubscriberChange, candor_app::error::AppError> {
        Ok(SubscriberChange {
            language: words::required_language("language", &self.language)?,
            topics: words::topics(&self.topics)?.into_iter().collect(),
            services: self.services.clone(),
        })
    }
}

/// A problem a page can show: its status and words (internal errors stay in the log).
fn problem(e: candor_app::error::AppError) -> (StatusCode, String) {
    let e = ApiError::from(e);
    if let ApiError::Internal(inner) = &e {
        tracing::error!(error = %inner, "subscription page");
    }
    (e.status(), e.public_message())
}

/// A page that only says what went wrong.
fn problem_page(tr: &Tr, e: candor_app::error::AppError) -> Response {
    let (status, message) = problem(e);
    let mut page = SubscribePage::new(tr, tr.t("subscribe-title"));
    page.error = Some(message);
    page.respond(status)
}

async fn catalog(state: &AppState) -> Result<Vec<Service>, Response> {
    state
        .store
        .list_services()
        .await
        .map_err(|e| ApiError::from(e).into_response())
}

fn subscribe_form<'a>(
    tr: &'a Tr,
    catalog: &[Service],
    chosen: &SubscribeForm,
) -> SubscribePage<'a> {
    let mut page = SubscribePage::new(tr, tr.t("subscribe-title")).choices(catalog, chosen);
    page.intro = tr.t("subscribe-intro");
    page.ask_email = true;
    page.action = format!("/status/subscribe?lang={}", tr.lang.tag());
    page.button = tr.t("subscribe-button");
    page
}

async fn form_page(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    let lang = lang_of(&raw);
    let tr = Tr::new(lang, "UTC");
    let catalog = match catalog(&state).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let chosen = SubscribeForm {
        language: lang.tag().to_owned(),
        topics: PUBLIC_TOPICS
            .iter()
            .map(|t| t.as_str().to_owned())
            .collect(),
        ..Default::default()
    };
    subscribe_form(&tr, &catalog, &chosen).respond(StatusCode::OK)
}

async fn subscribe(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    ClientIp(ip): ClientIp,
    Form(form): Form<SubscribeForm>,
) -> Response {
    let page_lang = lang_of(&raw);
    let tr = Tr::new(page_lang, "UTC");
    let result = match form.choices() {
        Ok(c) => {
            let input = SubscribeInput {
                email: form.email.clone(),
                language: c.language,
                topics: c.topics,
                services: c.services,
            };
            svc::request(&state.core, &state.config.public_url, input, ip).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            let mut page = SubscribePage::new(&tr, tr.t("subscribe-title"));
            page.notice = Some(tr.t("subscribe-sent"));
            page.respond(StatusCode::OK)
        }
        Err(e) => {
            let catalog = match catalog(&state).await {
                Ok(c) => c,
                Err(r) => return r,
            };
            let (status, message) = problem(e);
            let mut page = subscribe_form(&tr, &catalog, &form);
            page.error = Some(message);
            page.respond(status)
        }
    }
}

async fn confirm_page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match svc::pending(&state.core, &token).await {
        Ok(request) => {
            let tr = Tr::new(request.language, "UTC");
            let mut page = SubscribePage::new(&tr, tr.t("subscribe-confirm-title"));
            page.question =
                Some(tr.t1("subscribe-confirm-question", "name", request.email.as_ref()));
            page.action = format!("/status/subscribe/confirm/{token}");
            page.button = tr.t("subscribe-confirm-button");
            page.respond(StatusCode::OK)
        }
        Err(e) => problem_page(&Tr::new(Language::English, "UTC"), e),
    }
}

async fn confirm_now(
    State(state): State<AppState>,
    Path(token): Path<String>,
    ClientIp(ip): ClientIp,
) -> Response {
    match svc::confirm(&state.core, &token, ip).await {
        Ok(confirmed) => {
            let tr = Tr::new(confirmed.language(), "UTC");
            let mut page = SubscribePage::new(&tr, tr.t("subscribe-confirm-title"));
            page.notice = Some(match &confirmed {
                Confirmed::Public(s) => tr.t1("subscribe-confirmed", "name", s.email.as_ref()),
                Confirmed::Contact(_, tenant) => tr.t1("invite-accepted", "name", tenant),
            });
            if let Confirmed::Public(s) = &confirmed {
                page.manage_href = svc::manage_url(&state.core, &state.config.public_url, s.id);
            }
            page.respond(StatusCode::OK)
        }
        Err(e) => problem_page(&Tr::new(Language::English, "UTC"), e),
    }
}

fn manage_form<'a>(
    tr: &'a Tr,
    catalog: &[Service],
    token: &str,
    subscriber: &candor_domain::health::subscriber::Subscriber,
) -> SubscribePage<'a> {
    let chosen = SubscribeForm {
        email: subscriber.email.to_string(),
        language: subscriber.language.tag().to_owned(),
        topics: subscriber
            .subscription
            .topics
            .iter()
            .map(|t| t.as_str().to_owned())
            .collect(),
        services: subscriber
            .subscription
            .services
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };
    let mut page = SubscribePage::new(tr, tr.t("subscribe-manage-title")).choices(catalog, &chosen);
    page.intro = tr.t("subscribe-manage-intro");
    page.action = format!("/status/subscription/{token}");
    page.button = tr.t("subscribe-save");
    page.unsubscribe_href = Some(format!("/status/subscription/{token}/unsubscribe"));
    page
}

async fn manage_page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let subscriber = match svc::of_token(&state.core, &token).await {
        Ok(s) => s,
        Err(e) => return problem_page(&Tr::new(Language::English, "UTC"), e),
    };
    let catalog = match catalog(&state).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let tr = Tr::new(subscriber.language, "UTC");
    manage_form(&tr, &catalog, &token, &subscriber).respond(StatusCode::OK)
}

async fn manage_save(
    State(state): State<AppState>,
    Path(token): Path<String>,
    ClientIp(ip): ClientIp,
    form: Result<Form<SubscribeForm>, ApiError>,
) -> Response {
    // The link first: without a valid one, nothing about the form matters.
    let subscriber = match svc::of_token(&state.core, &token).await {
        Ok(s) => s,
        Err(e) => return problem_page(&Tr::new(Language::English, "UTC"), e),
    };
    let catalog = match catalog(&state).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let refused = |subscriber: &candor_domain::health::subscriber::Subscriber,
                   status: StatusCode,
                   message: String| {
        let tr = Tr::new(subscriber.language, "UTC");
        let mut page = manage_form(&tr, &catalog, &token, subscriber);
        page.error = Some(message);
        page.respond(status)
    };
    let form = match form {
        Ok(Form(f)) => f,
        Err(e) => return refused(&subscriber, e.status(), e.public_message()),
    };
    let result = match form.choices() {
        Ok(change) => svc::change(&state.core, &token, change, ip).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(saved) => {
            let tr = Tr::new(saved.language, "UTC");
            let mut page = manage_form(&tr, &catalog, &token, &saved);
            page.notice = Some(tr.t("subscribe-saved"));
            page.respond(StatusCode::OK)
        }
        Err(e) => {
            let (status, message) = problem(e);
            refused(&subscriber, status, message)
        }
    }
}

async fn unsubscribe_page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match svc::of_token(&state.core, &token).await {
        Ok(s) => {
            let tr = Tr::new(s.language, "UTC");
            let mut page = SubscribePage::new(&tr, tr.t("unsubscribe-title"));
            page.question = Some(tr.t1("unsubscribe-question", "name", s.email.as_ref()));
            page.action = format!("/status/subscription/{token}/unsubscribe");
            page.button = tr.t("unsubscribe-button");
            page.respond(StatusCode::OK)
        }
        Err(e) => problem_page(&Tr::new(Language::English, "UTC"), e),
    }
}

async fn unsubscribe_now(
    State(state): State<AppState>,
    Path(token): Path<String>,
    ClientIp(ip): ClientIp,
) -> Response {
    match svc::unsubscribe(&state.core, &token, ip).await {
        Ok(s) => {
            let tr = Tr::new(s.language, "UTC");
            let mut page = SubscribePage::new(&tr, tr.t("unsubscribe-title"));
            page.notice = Some(tr.t1("subscribe-unsubscribed", "name", s.email.as_ref()));
            page.respond(StatusCode::OK)
        }
        Err(e) => problem_page(&Tr::new(Language::English, "UTC"), e),
    }
}
