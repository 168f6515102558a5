//! The Message Center for operators: the list, publishing a message with its audience
//! and attachments, a message with its reach.

use candor_app::error::AppResult;
use candor_app::{ids, words};
use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use candor_domain::health::{Audience, Category, Severity};
use candor_domain::identity::{authorize, Action, RegionCode};
use candor_domain::language::Language;
use candor_domain::store::ImpactPreview;
use serde::Deserialize;

use crate::auth::extract::PortalUser;
use crate::error::ApiError;
use crate::pages::messages::{
    category_label, human_size, service_names, severity_class, severity_label,
};
use crate::pages::{comma_list, error_page, render, render_with, PageCtx};
use crate::AppState;
use candor_app::messages::{self as svc, AttachmentUpload, NewMessageInput, TextInput};

pub struct ConsoleRow {
    pub id: String,
    pub title: String,
    pub services: String,
    pub category: String,
    pub severity: String,
    pub severity_class: &'static str,
    pub updated: String,
    pub attachments: usize,
    pub author: String,
}

#[derive(Template)]
#[template(path = "console_messages.html")]
struct ConsoleListPage {
    title: String,
    page: PageCtx,
    rows: Vec<ConsoleRow>,
}

pub async fn console_list(State(state): State<AppState>, user: PortalUser) -> Response {
    let path = "/console/messages";
    let list = match svc::list_for_operator(&state.core, &user.actor, 200).await {
        Ok(l) => l,
        Err(e) => return error_page(&state, &user, path, ApiError::from(e)),
    };
    let catalog = state.store.list_services().await.unwrap_or_default();
    let page = PageCtx::for_user(&state, &user, path);
    let tr = page.tr.clone();
    render(&ConsoleListPage {
        title: tr.t("messages-title"),
        rows: list
            .iter()
            .map(|m| ConsoleRow {
                id: m.id.to_string(),
                title: m.title.clone(),
                services: service_names(m, &catalog),
                category: category_label(&tr, m.category),
                severity: severity_label(&tr, m.severity),
                severity_class: severity_class(m.severity),
                updated: tr.time(&m.last_modified),
                attachments: m.attachments.len(),
                author: m.author.clone(),
            })
            .collect(),
        page,
    })
}

/// The publishing form's values, as typed, for redisplay after an error or a preview.
#[derive(Debug, Default, Clone)]
pub struct MessageForm {
    pub title: String,
    pub body: String,
    pub language: String,
    pub category: String,
    pub severity: String,
    pub services: Vec<String>,
    pub tags: String,
    pub major: bool,
    pub act_by: String,
    pub end: String,
    pub link: String,
    pub regions: String,
    pub tenants: String,
    pub named_only: bool,
    pub translations: BTreeMap<String, (String, String)>,
    pub action: String,
}

#[derive(Template)]
#[template(path = "console_message_new.html")]
struct NewMessagePage {
    title: String,
    page: PageCtx,
    form: MessageForm,
    services: Vec<(String, String, bool)>,
    categories: Vec<(&'static str, String, bool)>,
    severities: Vec<(&'static str, String, bool)>,
    languages: Vec<(&'static str, &'static str, bool)>,
    translations: Vec<(&'static str, &'static str, String, String)>,
    preview: Option<ImpactPreview>,
}

async fn new_page(
    state: &AppState,
    user: &PortalUser,
    form: MessageForm,
    preview: Option<ImpactPreview>,
    error: Option<ApiError>,
) -> Response {
    let path = "/console/messages/new";
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
    let original: Language = form.language.parse().unwrap_or_default();
    render_with(
        status,
        &NewMessagePage {
            title: tr.t("messages-new-title"),
            services: catalog
                .iter()
                .map(|s| {
                    (
                        s.id.to_string(),
                        s.display_name.clone(),
                        form.services.iter().any(|x| x == s.id.as_str()),
                    )
                })
                .collect(),
            categories: Category::ALL
                .iter()
                .map(|c| {
                    (
                        c.as_str(),
                        category_label(&tr, *c),
                        form.category == c.as_str(),
                    )
                })
                .collect(),
            severities: Severity::ALL
                .iter()
                .map(|s| {
                    (
                        s.as_str(),
                        severity_label(&tr, *s),
                        form.severity == s.as_str(),
                    )
                })
                .collect(),
            languages: Language::ALL
                .iter()
                .map(|l| (l.tag(), l.native_name(), *l == original))
                .collect(),
            translations: Language::ALL
                .iter()
                .filter(|l| **l != original)
                .map(|l| {
                    let (t, b) = form.translations.get(l.tag()).cloned().unwrap_or_default();
                    (l.tag(), l.native_name(), t, b)
                })
                .collect(),
            form,
            preview,
            page,
        },
    )
}

pub async fn new_form(State(state): State<AppState>, user: PortalUser) -> Response {
    if let Err(d) = authorize(&user.actor, Action::PublishMessages) {
        return error_page(&state, &user, "/console/messages/new", d.into());
    }
    let form = MessageForm {
        category: Category::StayInformed.as_str().into(),
        severity: Severity::Normal.as_str().into(),
        language: Language::English.tag().into(),
        ..MessageForm::default()
    };
    new_page(&state, &user, form, None, None).await
}

fn date(field: &'static str, s: &str) -> Result<Option<time::OffsetDateTime>, ApiError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    // A date picker sends YYYY-MM-DD; the API's RFC 3339 works too.
    let text = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_owned()
    };
    candor_domain::time_util::parse_time(&text)
        .map(Some)
        .ok_or_else(|| {
            ApiError::Invalid(candor_domain::identity::InvalidValue::new(
                field,
                format!("`{s}` is not a date such as 2027-03-01"),
            ))
        })
}

fn audience(form: &MessageForm) -> Result<Audience, ApiError> {
    Ok(Audience {
        regions: comma_list(&form.regions)
            .iter()
            .map(|r| RegionCode::parse(r))
            .collect::<Result<_, _>>()?,
        tenants: comma_list(&form.tenants)
            .iter()
            .map(|t| {
                t.parse()
                    .map_err(|e: candor_domain::IdParseError| ApiError::BadRequest(e.to_string()))
            })
            .collect::<Result<_, _>>()?,
        named_tenants_only: form.named_only,
    })
}

/// Reads the multipart form: fields into `MessageForm`, files into uploads.
async fn read_form(
    mut multipart: Multipart,
) -> Result<(MessageForm, Vec<AttachmentUpload>), ApiError> {
    let mut form = MessageForm::default();
    let mut uploads = Vec::new();
    let bad = |e: axum::extract::multipart::MultipartError| {
        ApiError::BadRequest(format!("the form could not be read: {}", e.body_text()))
    };
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "attachments" {
            let file_name = field.file_name().unwrap_or_default().to_owned();
            let content_type = field.content_type().unwrap_or_default().to_owned();
            let bytes = field.bytes().await.map_err(bad)?;
            // An empty file input still sends a part, with no name and no bytes.
            if !file_name.is_empty() || !bytes.is_empty() {
                uploads.push(AttachmentUpload {
                    name: file_name,
                    content_type,
                    bytes: bytes.to_vec(),
                });
            }
            continue;
        }
        let value = field.text().await.map_err(bad)?;
        match name.as_str() {
            "title" => form.title = value,
            "body" => form.body = value,
            "language" => form.language = value,
            "category" => form.category = value,
            "severity" => form.severity = value,
            "services" => form.services.push(value),
            "tags" => form.tags = value,
            "major" => form.major = true,
            "act_by" => form.act_by = value,
            "end" => form.end = value,
            "link" => form.link = value,
            "regions" => form.regions = value,
            "tenants" => form.tenants = value,
            "named_only" => form.named_only = true,
            "action" => form.action = value,
            other => {
                if let Some(tag) = other.strip_prefix("translation_title_") {
                    form.translations.entry(tag.to_owned()).or_default().0 = value;
                } else if let Some(tag) = other.strip_prefix("translation_body_") {
                    form.translations.entry(tag.to_owned()).or_default().1 = value;
                }
            }
        }
    }
    Ok((form, uploads))
}

pub async fn create(
    State(state): State<AppState>,
    user: PortalUser,
    multipart: Multipart,
) -> Response {
    let path = "/console/messages/new";
    if let Err(d) = authorize(&user.actor, Action::PublishMessages) {
        return error_page(&state, &user, path, d.into());
    }
    let (form, uploads) = match read_form(multipart).await {
        Ok(f) => f,
        Err(e) => return error_page(&state, &user, path, e),
    };
    let audience = match audience(&form) {
        Ok(a) => a,
        Err(e) => return new_page(&state, &user, form, None, Some(e)).await,
    };
    if form.action == "preview" {
        return match svc::preview(&state.core, &user.actor, &form.services, &audience)
            .await
            .map_err(ApiError::from)
        {
            Ok(p) => new_page(&state, &user, form, Some(p), None).await,
            Err(e @ ApiError::Internal(_)) => e.into_response(),
            Err(e) => new_page(&state, &user, form, None, Some(e)).await,
        };
    }
    let dates = date("action required by", &form.act_by)
        .and_then(|a| date("end", &form.end).map(|e| (a, e)));
    let (act_by, end) = match dates {
        Ok(d) => d,
        Err(e) => return new_page(&state, &user, form, None, Some(e)).await,
    };
    let link = form.link.trim();
    if !(link.is_empty() || link.starts_with("https://") || link.starts_with("http://")) {
        let e = ApiError::Invalid(candor_domain::identity::InvalidValue::new(
            "link",
            "the link must start with https:// or http://",
        ));
        return new_page(&state, &user, form, None, Some(e)).await;
    }
    let words = (|| -> AppResult<_> {
        let translations = form.translations.iter().map(|(k, (t, b))| {
            let text = TextInput {
                title: t.clone(),
                body_html: b.clone(),
            };
            (k.clone(), text)
        });
        Ok((
            words::language("language", Some(&form.language))?,
            words::translations(translations.collect())?,
            form.category.parse()?,
            words::word(Some(&form.severity))?,
        ))
    })();
    let (language, translations, category, severity) = match words {
        Ok(w) => w,
        Err(e) => return new_page(&state, &user, form, None, Some(e.into())).await,
    };
    let input = NewMessageInput {
        title: form.title.clone(),
        body_html: form.body.clone(),
        language,
        translations,
        category,
        severity,
        services: form.services.clone(),
        tags: comma_list(&form.tags),
        is_major_change: form.major,
        action_required_by: act_by,
        start: None,
        end,
        details: if link.is_empty() {
            BTreeMap::new()
        } else {
            [("ExternalLink".to_owned(), link.to_owned())]
                .into_iter()
                .collect()
        },
        audience,
        attachments: uploads,
    };
    match svc::create_message(&state.core, &user.actor, user.ip.clone(), input)
        .await
        .map_err(ApiError::from)
    {
        Ok((m, reached)) => {
            Redirect::to(&format!("/console/messages/{}?reached={reached}", m.id)).into_response()
        }
        Err(e @ ApiError::Internal(_)) => e.into_response(),
        Err(e) => new_page(&state, &user, form, None, Some(e)).await,
    }
}

#[derive(Template)]
#[template(path = "console_message.html")]
struct ConsoleMessagePage {
    title: String,
    page: PageCtx,
    id: String,
    body: String,
    services: String,
    category: String,
    severity: String,
    severity_class: &'static str,
    tags: Vec<String>,
    reached: i64,
    author: String,
    updated: String,
    attachments: Vec<(String, String)>,
    audience: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    pub reached: Option<i64>,
}

pub async fn console_show(
    State(state): State<AppState>,
    user: PortalUser,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Response {
    let path = "/console/messages";
    let (m, reached) = match ids::with_id(&id, |id| {
        svc::get_for_operator(&state.core, &user.actor, id)
    })
    .await
    {
        Ok(v) => v,
        Err(e) => return error_page(&state, &user, path, ApiError::from(e)),
    };
    let catalog = state.store.list_services().await.unwrap_or_default();
    let mut page = PageCtx::for_user(&state, &user, path);
    let tr = page.tr.clone();
    if let Some(n) = q.reached {
        page.notice = Some(tr.t1("message-published", "count", &n.to_string()));
    }
    render(&ConsoleMessagePage {
        title: m.title.clone(),
        id: m.id.to_string(),
        body: m.body_html.clone(),
        services: service_names(&m, &catalog),
        category: category_label(&tr, m.category),
        severity: severity_label(&tr, m.severity),
        severity_class: severity_class(m.severity),
        tags: m.tags.clone(),
        reached,
        author: m.author.clone(),
        updated: tr.time(&m.last_modified),
        attachments: m
            .attachments
            .iter()
            .map(|a| (a.name.clone(), human_size(a.size)))
            .collect(),
        audience: serde_json::to_string(&m.audience).unwrap_or_default(),
        page,
    })
}
