//! Public status, for anyone: the live page (`/status`), the Atom feed
//! (`/feeds/status.atom`), and the files of the backup status site, all rendered from the
//! same broad issues (`service::public`) in any of the five languages.

use askama::Template;
use atom_syndication::{Category, Content, Entry, Feed, FixedDateTime, Link, Person, Text};
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use candor_domain::language::Language;
use candor_domain::time_util::rfc3339;
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::i18n::Tr;
use crate::portal::health::{status_class, status_label};
use crate::routes::{RouteTable, RouterExt};
use crate::service::public::{public_status, PublicIssue, PublicStatus};
use crate::AppState;

pub fn routes(t: &mut RouteTable) -> Router<AppState> {
    Router::new()
        .at(t, "/status", get(live_page))
        .at(t, "/feeds/status.atom", get(public_feed))
        .at(t, "/feeds/tenants/{token}", get(tenant_feed))
        // The token in the path is the credential (RFC 8058 one-click): no session, no
        // CSRF token, by design. GET only asks; POST unsubscribes.
        .at(
            t,
            "/unsubscribe/{token}",
            get(unsubscribe_page).post(unsubscribe_now),
        )
}

fn lang_of(raw: &Option<String>) -> Language {
    raw.as_deref()
        .and_then(|q| {
            serde_urlencoded::from_str::<Vec<(String, String)>>(q)
                .ok()?
                .into_iter()
                .find(|(k, _)| k == "lang")
                .and_then(|(_, v)| v.parse().ok())
        })
        .unwrap_or(Language::English)
}

fn atom_time(t: OffsetDateTime) -> FixedDateTime {
    FixedDateTime::parse_from_rfc3339(&rfc3339(t)).unwrap_or_default()
}

/// The public Atom feed: one entry per broad issue, updated with each post.
pub fn atom(status: &PublicStatus, tr: &Tr, base_url: &str, self_path: &str) -> String {
    let base = base_url.trim_end_matches('/');
    let me = format!("{base}{self_path}");
    atom_of(
        &status.issues,
        status.generated,
        &tr.t("public-feed-title"),
        tr,
        &|id| format!("{base}/status#{id}"),
        &me,
        Some(&me),
    )
}

/// An Atom feed of `issues`: one entry per issue (a stable id), updated with each post,
/// its content every post, newest first.
pub fn atom_of(
    issues: &[PublicIssue],
    generated: OffsetDateTime,
    title: &str,
    tr: &Tr,
    page_of: &dyn Fn(&str) -> String,
    id: &str,
    self_href: Option<&str>,
) -> String {
    let entries: Vec<Entry> = issues
        .iter()
        .map(|p| {
            let i = &p.issue;
            let mut html = String::new();
            for post in &p.posts {
                html.push_str(&format!(
                    "<p><strong>{}</strong> · {}</p>{}",
                    tr.time(&post.created_at),
                    status_label(tr, post.status),
                    post.body_in(tr.lang)
                ));
            }
            let mut entry = Entry::default();
            entry.set_id(format!("urn:candor:issue:{}", i.id));
            entry.set_title(Text::plain(format!(
                "{} ({}): {} [{}]",
                p.service_name,
                i.id,
                i.title,
                status_label(tr, i.status)
            )));
            entry.set_updated(atom_time(i.last_modified));
            entry.set_published(Some(atom_time(i.start)));
            entry.set_summary(Some(Text::plain(i.impact_description.clone())));
            let mut content = Content::default();
            content.set_content_type(Some("html".to_owned()));
            content.set_value(Some(html));
            entry.set_content(Some(content));
            let mut category = Category::default();
            category.set_term(i.classification.as_str());
            entry.set_categories(vec![category]);
            let mut link = Link::default();
            link.set_href(page_of(i.id.as_str()));
            link.set_rel("alternate");
            link.set_mime_type(Some("text/html".to_owned()));
            entry.set_links(vec![link]);
            entry
        })
        .collect();
    let mut feed = Feed::default();
    feed.set_id(id);
    feed.set_title(Text::plain(title));
    feed.set_lang(Some(tr.lang.tag().to_owned()));
    feed.set_updated(atom_time(
        issues
            .iter()
            .map(|i| i.issue.last_modified)
            .max()
            .unwrap_or(generated),
    ));
    let mut author = Person::default();
    author.set_name("Candor");
    feed.set_authors(vec![author]);
    let mut links = Vec::new();
    if let Some(href) = self_href {
        let mut me = Link::default();
        me.set_href(href);
        me.set_rel("self");
        me.set_mime_type(Some("application/atom+xml".to_owned()));
        links.push(me);
    }
    let mut page = Link::default();
    page.set_href(page_of("").trim_end_matches('#').to_owned());
    page.set_rel("alternate");
    page.set_mime_type(Some("text/html".to_owned()));
    links.push(page);
    feed.set_links(links);
    feed.set_entries(entries);
    feed.to_string()
}

pub struct ServiceLine {
    pub name: String,
    pub status: String,
    pub status_class: &'static str,
}

pub struct PostLine {
    pub time: String,
    pub status: String,
    pub body: String,
}

pub struct IssueBlock {
    pub id: String,
    pub title: String,
    pub service: String,
    pub classification: String,
    pub status: String,
    pub status_class: &'static str,
    pub impact: String,
    pub start: String,
    pub end: Option<String>,
    pub resolved: bool,
    pub posts: Vec<PostLine>,
}

#[derive(Template)]
#[template(path = "status_public.html")]
struct StatusPage<'a> {
    tr: &'a Tr,
    css: &'static str,
    updated: String,
    services: Vec<ServiceLine>,
    active: Vec<IssueBlock>,
    recent: Vec<IssueBlock>,
    languages: Vec<(String, &'static str, bool)>,
    feed_href: String,
    json_href: Option<String>,
    static_copy: bool,
}

/// The status page in `lang`. `language_href` gives the link to each language's page;
/// `static_copy` marks the backup site's copy.
pub fn page_html(
    status: &PublicStatus,
    tr: &Tr,
    language_href: impl Fn(Language) -> String,
    feed_href: String,
    json_href: Option<String>,
    static_copy: bool,
) -> Result<String, ApiError> {
    let block = |p: &crate::service::public::PublicIssue| IssueBlock {
        id: p.issue.id.to_string(),
        title: p.issue.title.clone(),
        service: p.service_name.clone(),
        classification: tr.t(&format!(
            "classification-{}",
            p.issue.classification.as_str()
        )),
        status: status_label(tr, p.issue.status),
        status_class: status_class(p.issue.status),
        impact: p.issue.impact_description.clone(),
        start: tr.time(&p.issue.start),
        end: p.issue.end.map(|e| tr.time(&e)),
        resolved: p.issue.is_resolved(),
        posts: p
            .posts
            .iter()
            .map(|post| PostLine {
                time: tr.time(&post.created_at),
                status: status_label(tr, post.status),
                body: post.body_in(tr.lang).to_owned(),
            })
            .collect(),
    };
    let page = StatusPage {
        tr,
        css: include_str!("../static/candor.css"),
        updated: tr.time(&status.generated),
        services: status
            .services
            .iter()
            .map(|s| ServiceLine {
                name: s.service.display_name.clone(),
                status: status_label(tr, s.status),
                status_class: status_class(s.status),
            })
            .collect(),
        active: status
            .issues
            .iter()
            .filter(|i| !i.issue.is_resolved())
            .map(block)
            .collect(),
        recent: status
            .issues
            .iter()
            .filter(|i| i.issue.is_resolved())
            .map(block)
            .collect(),
        languages: Language::ALL
            .iter()
            .map(|l| (language_href(*l), l.native_name(), *l == tr.lang))
            .collect(),
        feed_href,
        json_href,
        static_copy,
    };
    page.render()
        .map_err(|e| ApiError::internal(anyhow::anyhow!("template: {e}")))
}

/// The machine-readable status, the same in every language.
pub fn status_json(status: &PublicStatus) -> serde_json::Value {
    serde_json::json!({
        "generatedDateTime": rfc3339(status.generated),
        "services": status.services.iter().map(|s| serde_json::json!({
            "id": s.service.id.as_str(),
            "displayName": s.service.display_name,
            "status": s.status.as_str(),
        })).collect::<Vec<_>>(),
        "issues": status.issues.iter().map(|p| serde_json::json!({
            "id": p.issue.id.as_str(),
            "service": p.issue.service.as_str(),
            "title": p.issue.title,
            "classification": p.issue.classification.as_str(),
            "status": p.issue.status.as_str(),
            "impactDescription": p.issue.impact_description,
            "startDateTime": rfc3339(p.issue.start),
            "endDateTime": p.issue.end.map(rfc3339),
            "lastModifiedDateTime": rfc3339(p.issue.last_modified),
            "posts": p.posts.iter().map(|post| serde_json::json!({
                "createdDateTime": rfc3339(post.created_at),
                "status": post.status.as_str(),
                "content": post.body_html,
                "translations": post.translations.iter().map(|(l, b)| (l.tag().to_owned(), b.clone())).collect::<std::collections::BTreeMap<_, _>>(),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// Every file of the backup status site: `index.html` (English) and `<lang>/index.html`
/// for the others, `status.json`, and `status.atom` plus `<lang>/status.atom`.
pub fn site_files(
    status: &PublicStatus,
    base_url: &str,
) -> Result<Vec<(String, Vec<u8>)>, ApiError> {
    let mut files = Vec::new();
    for lang in Language::ALL {
        let tr = Tr::new(lang, "UTC");
        let prefix = if lang == Language::English {
            String::new()
        } else {
            format!("{}/", lang.tag())
        };
        let up = if prefix.is_empty() { "" } else { "../" };
        let html = page_html(
            status,
            &tr,
            |l| {
                if l == Language::English {
                    format!("{up}index.html")
                } else {
                    format!("{up}{}/index.html", l.tag())
                }
            },
            "status.atom".to_owned(),
            Some(format!("{up}status.json")),
            true,
        )?;
        files.push((format!("{prefix}index.html"), html.into_bytes()));
        files.push((
            format!("{prefix}status.atom"),
            atom(status, &tr, base_url, &format!("/{prefix}status.atom")).into_bytes(),
        ));
    }
    files.push((
        "status.json".to_owned(),
        serde_json::to_vec_pretty(&status_json(status)).map_err(ApiError::internal)?,
    ));
    Ok(files)
}

async fn live_page(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    let lang = lang_of(&raw);
    let status = match public_status(&state.core).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let tr = Tr::new(lang, "UTC");
    match page_html(
        &status,
        &tr,
        |l| format!("/status?lang={}", l.tag()),
        format!("/feeds/status.atom?lang={}", lang.tag()),
        None,
        false,
    ) {
        Ok(html) => Html(html).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn public_feed(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    let lang = lang_of(&raw);
    let status = match public_status(&state.core).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let tr = Tr::new(lang, "UTC");
    let body = atom(&status, &tr, &state.config.public_url, "/feeds/status.atom");
    (
        [
            (header::CONTENT_TYPE, "application/atom+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=60"),
        ],
        body,
    )
        .into_response()
}

async fn tenant_feed(
    State(state): State<AppState>,
    axum::extract::Path(token): axum::extract::Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let (tenant, issues) = match crate::service::feeds::tenant_feed(&state.core, &token).await {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    let lang = raw
        .as_ref()
        .map(|_| lang_of(&raw))
        .filter(|_| raw.as_deref().is_some_and(|q| q.contains("lang=")))
        .unwrap_or(tenant.default_language);
    let tr = Tr::new(lang, tenant.time_zone.to_string());
    let title = tr.t1("feed-tenant-title", "name", &tenant.name);
    // The link is the secret: it is not repeated in the feed.
    // Entries lead to the issue in the portal (sign-in needed), not the public page,
    // which does not show issues that reached only some tenants.
    let base = state.config.public_url.trim_end_matches('/').to_owned();
    let body = atom_of(
        &issues,
        state.clock.now(),
        &title,
        &tr,
        &|id| {
            if id.is_empty() {
                format!("{base}/portal/health")
            } else {
                format!("{base}/portal/health/issues/{id}")
            }
        },
        &format!("urn:candor:feed:tenant:{}", tenant.id),
        None,
    );
    (
        [
            (header::CONTENT_TYPE, "application/atom+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "private, max-age=60"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "unsubscribe.html")]
struct UnsubscribePage<'a> {
    tr: &'a Tr,
    css: &'static str,
    email: String,
    done: bool,
}

fn unsubscribe_html(tr: &Tr, email: String, done: bool) -> Response {
    let page = UnsubscribePage {
        tr,
        css: include_str!("../static/candor.css"),
        email,
        done,
    };
    match page.render() {
        Ok(html) => ([(header::REFERRER_POLICY, "no-referrer")], Html(html)).into_response(),
        Err(e) => ApiError::internal(anyhow::anyhow!("template: {e}")).into_response(),
    }
}

async fn unsubscribe_page(
    State(state): State<AppState>,
    axum::extract::Path(token): axum::extract::Path<String>,
) -> Response {
    match crate::service::contacts::contact_of_token(&state.core, &token).await {
        Ok(c) => unsubscribe_html(&Tr::new(c.language, "UTC"), c.email.to_string(), false),
        Err(e) => e.into_response(),
    }
}

async fn unsubscribe_now(
    State(state): State<AppState>,
    axum::extract::Path(token): axum::extract::Path<String>,
    crate::auth::extract::ClientIp(ip): crate::auth::extract::ClientIp,
) -> Response {
    match crate::service::contacts::unsubscribe(&state.core, &token, ip).await {
        Ok(c) => unsubscribe_html(&Tr::new(c.language, "UTC"), c.email.to_string(), true),
        Err(e) => e.into_response(),
    }
}
