//! The public status page, its Atom feed and its JSON, rendered from the broad issues
//! (`public`) in any of the five languages: the live page, the feeds and the backup
//! status site share these, so the copy that stays up when Candor is down reads the same.

use askama::Template;
use atom_syndication::{Category, Content, Entry, Feed, FixedDateTime, Link, Person, Text};
use candor_domain::health::availability::{self, Day, Impact};
use candor_domain::health::maintenance::{MaintenanceState, ScheduledMaintenance};
use candor_domain::health::{ServiceId, Status};
use candor_domain::language::Language;
use candor_domain::time_util::rfc3339;
use time::OffsetDateTime;

use crate::error::AppError;
use crate::i18n::Tr;
use crate::public::{PublicIssue, PublicStatus};

/// The one stylesheet, inlined in pages that must stand alone (the backup site).
pub const CSS: &str = include_str!("../static/candor.css");

pub fn status_label(tr: &Tr, s: Status) -> String {
    tr.t(&format!("status-{}", s.as_str()))
}

/// A colour class for a status: ok, info, warn or bad.
pub fn status_class(s: Status) -> &'static str {
    match s.severity() {
        0 => "ok",
        1 | 2 => "info",
        3 | 4 => "warn",
        _ => "bad",
    }
}

fn atom_time(t: OffsetDateTime) -> FixedDateTime {
    FixedDateTime::parse_from_rfc3339(&rfc3339(t)).unwrap_or_default()
}

/// The public Atom feed: one entry per broad issue, updated with each post.
pub fn atom(status: &PublicStatus, tr: &Tr, base_url: &str, self_path: &str) -> String {
    let base = base_url.trim_end_matches('/');
    let me = format!("{base}{self_path}");
    let page_of = |id: &str| format!("{base}/status#{id}");
    let name_of = |id: &ServiceId| {
        status
            .services
            .iter()
            .find(|s| &s.service.id == id)
            .map_or_else(|| id.to_string(), |s| s.service.display_name.clone())
    };
    atom_of(
        &status.issues,
        maintenance_entries(&status.maintenances, tr, &name_of, &page_of),
        status.generated,
        &tr.t("public-feed-title"),
        tr,
        &page_of,
        &me,
        Some(&me),
    )
}

/// Atom entries for planned maintenance: one per maintenance (a stable id), updated with
/// each change, saying its window, expected impact and state.
pub fn maintenance_entries(
    maintenances: &[ScheduledMaintenance],
    tr: &Tr,
    name_of: &dyn Fn(&ServiceId) -> String,
    page_of: &dyn Fn(&str) -> String,
) -> Vec<Entry> {
    maintenances
        .iter()
        .map(|m| {
            let (title, description) = m.text_in(tr.lang);
            let mm = &m.maintenance;
            let services: Vec<String> = mm.services.iter().map(name_of).collect();
            let state = tr.t(&format!("maintenance-state-{}", mm.state.as_str()));
            let window = tr.ta(
                "maintenance-window",
                &[
                    ("start", tr.time(&mm.window.start)),
                    ("end", tr.time(&mm.window.end)),
                ],
            );
            let impact = tr.t(&format!("maintenance-impact-{}", mm.impact.as_str()));
            let mut entry = Entry::default();
            entry.set_id(format!("urn:candor:maintenance:{}", m.id));
            entry.set_title(Text::plain(format!(
                "{} ({}): {title} [{state}]",
                services.join(", "),
                m.id
            )));
            entry.set_updated(atom_time(m.last_modified));
            entry.set_published(Some(atom_time(m.created_at)));
            entry.set_summary(Some(Text::plain(impact.clone())));
            let mut content = Content::default();
            content.set_content_type(Some("html".to_owned()));
            content.set_value(Some(format!(
                "<p>{}</p><p>{}</p><p>{}</p>",
                ammonia::clean_text(description),
                ammonia::clean_text(&window),
                ammonia::clean_text(&impact)
            )));
            entry.set_content(Some(content));
            let mut category = Category::default();
            category.set_term("plannedMaintenance");
            entry.set_categories(vec![category]);
            let mut link = Link::default();
            link.set_href(page_of(m.id.as_str()));
            link.set_rel("alternate");
            link.set_mime_type(Some("text/html".to_owned()));
            entry.set_links(vec![link]);
            entry
        })
        .collect()
}

/// An Atom feed of `issues` and `more` entries (planned maintenance): one entry per
/// issue (a stable id), updated with each post, its content every post; newest change
/// first.
#[allow(clippy::too_many_arguments)]
pub fn atom_of(
    issues: &[PublicIssue],
    more: Vec<Entry>,
    generated: OffsetDateTime,
    title: &str,
    tr: &Tr,
    page_of: &dyn Fn(&str) -> String,
    id: &str,
    self_href: Option<&str>,
) -> String {
    let mut entries: Vec<Entry> = issues
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
    entries.extend(more);
    entries.sort_by(|a, b| b.updated().cmp(a.updated()));
    let mut feed = Feed::default();
    feed.set_id(id);
    feed.set_title(Text::plain(title));
    feed.set_lang(Some(tr.lang.tag().to_owned()));
    feed.set_updated(
        entries
            .iter()
            .map(|e| *e.updated())
            .max()
            .unwrap_or_else(|| atom_time(generated)),
    );
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
    /// One bar per day, oldest first.
    pub bars: Vec<DayBar>,
    /// Availability per calendar month of the history, newest first.
    pub months: Vec<String>,
}

/// One day of a service's history, as a bar: its class and what its tooltip says.
pub struct DayBar {
    pub class: &'static str,
    pub title: String,
}

/// The CSS class of a day's worst impact.
pub fn impact_class(i: Impact) -> &'static str {
    match i {
        Impact::Operational => "operational",
        Impact::Maintenance => "maintenance",
        Impact::Degraded => "degraded",
        Impact::Outage => "outage",
    }
}

/// A service's history as bars and monthly figures, in `tr`'s language.
pub fn history_lines(tr: &Tr, days: &[Day]) -> (Vec<DayBar>, Vec<String>) {
    let bars = days
        .iter()
        .map(|d| {
            let impact = tr.t(&format!("impact-{}", impact_class(d.worst)));
            let title = if d.worst == Impact::Operational {
                format!("{}: {impact}", d.date)
            } else {
                tr.ta(
                    "history-day",
                    &[
                        ("date", d.date.to_string()),
                        ("impact", impact),
                        ("outage", d.outage_minutes.to_string()),
                        ("degraded", d.degraded_minutes.to_string()),
                        ("maintenance", d.maintenance_minutes.to_string()),
                    ],
                )
            };
            DayBar {
                class: impact_class(d.worst),
                title,
            }
        })
        .collect();
    let months = availability::monthly(days)
        .into_iter()
        .rev()
        .map(|(year, month, pct)| {
            tr.ta(
                "history-month",
                &[
                    ("month", format!("{year}-{month:02}")),
                    ("percent", percent(pct)),
                ],
            )
        })
        .collect();
    (bars, months)
}

/// A percentage as status pages write it: three decimals, never rounded up to 100.
pub fn percent(p: f64) -> String {
    let floored = (p * 1000.0).floor() / 1000.0;
    format!("{floored:.3}")
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

/// A planned maintenance as the public page lists it.
pub struct MaintenanceBlock {
    pub id: String,
    pub title: String,
    pub description: String,
    pub services: String,
    pub window: String,
    pub impact: String,
    pub state: String,
    pub state_class: &'static str,
}

#[derive(Template)]
#[template(path = "status_public.html")]
struct StatusPage<'a> {
    tr: &'a Tr,
    css: &'static str,
    updated: String,
    services: Vec<ServiceLine>,
    maintenances: Vec<MaintenanceBlock>,
    active: Vec<IssueBlock>,
    recent: Vec<IssueBlock>,
    languages: Vec<(String, &'static str, bool)>,
    feed_href: String,
    json_href: Option<String>,
    subscribe_href: String,
    static_copy: bool,
}

/// The status page in `lang`. `language_href` gives the link to each language's page;
/// `subscribe_href` the subscribe form (always Candor's: the backup site's copy points
/// back at it); `static_copy` marks the backup site's copy.
pub fn page_html(
    status: &PublicStatus,
    tr: &Tr,
    language_href: impl Fn(Language) -> String,
    feed_href: String,
    json_href: Option<String>,
    subscribe_href: String,
    static_copy: bool,
) -> Result<String, AppError> {
    let block = |p: &PublicIssue| IssueBlock {
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
        css: CSS,
        updated: tr.time(&status.generated),
        services: status
            .services
            .iter()
            .map(|s| {
                let (bars, months) = history_lines(tr, &s.history);
                // Under maintenance says more than "operational", less than any issue.
                let maintained = s.under_maintenance && s.status == Status::ServiceOperational;
                ServiceLine {
                    name: s.service.display_name.clone(),
                    status: if maintained {
                        tr.t("maintenance-under")
                    } else {
                        status_label(tr, s.status)
                    },
                    status_class: if maintained {
                        "info"
                    } else {
                        status_class(s.status)
                    },
                    bars,
                    months,
                }
            })
            .collect(),
        maintenances: status
            .maintenances
            .iter()
            .map(|m| {
                let (title, description) = m.text_in(tr.lang);
                let names: Vec<String> = m
                    .maintenance
                    .services
                    .iter()
                    .map(|id| {
                        status
                            .services
                            .iter()
                            .find(|s| &s.service.id == id)
                            .map_or_else(|| id.to_string(), |s| s.service.display_name.clone())
                    })
                    .collect();
                MaintenanceBlock {
                    id: m.id.to_string(),
                    title: title.to_owned(),
                    description: description.to_owned(),
                    services: names.join(", "),
                    window: tr.ta(
                        "maintenance-window",
                        &[
                            ("start", tr.time(&m.maintenance.window.start)),
                            ("end", tr.time(&m.maintenance.window.end)),
                        ],
                    ),
                    impact: tr.t(&format!(
                        "maintenance-impact-{}",
                        m.maintenance.impact.as_str()
                    )),
                    state: tr.t(&format!(
                        "maintenance-state-{}",
                        m.maintenance.state.as_str()
                    )),
                    state_class: match m.maintenance.state {
                        MaintenanceState::InProgress => "info",
                        MaintenanceState::Scheduled => "ok",
                        MaintenanceState::Completed | MaintenanceState::Cancelled => "ok",
                    },
                }
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
        subscribe_href,
        static_copy,
    };
    page.render()
        .map_err(|e| AppError::internal(anyhow::anyhow!("template: {e}")))
}

/// The machine-readable status, the same in every language.
pub fn status_json(status: &PublicStatus) -> serde_json::Value {
    serde_json::json!({
        "generatedDateTime": rfc3339(status.generated),
        "lastChangeDateTime": status.last_change.map(rfc3339),
        "services": status.services.iter().map(|s| serde_json::json!({
            "id": s.service.id.as_str(),
            "displayName": s.service.display_name,
            "status": s.status.as_str(),
            "underMaintenance": s.under_maintenance,
            "history": s.history,
            "availability": availability::monthly(&s.history).into_iter().map(|(y, m, p)| serde_json::json!({
                "month": format!("{y}-{m:02}"),
                "percent": p,
            })).collect::<Vec<_>>(),
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
        "maintenances": status.maintenances.iter().map(|m| serde_json::json!({
            "id": m.id.as_str(),
            "services": m.maintenance.services.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            "state": m.maintenance.state.as_str(),
            "expectedImpact": m.maintenance.impact.as_str(),
            "startDateTime": rfc3339(m.maintenance.window.start),
            "endDateTime": rfc3339(m.maintenance.window.end),
            "startedDateTime": m.maintenance.started_at.map(rfc3339),
            "endedDateTime": m.maintenance.ended_at.map(rfc3339),
            "text": m.maintenance.text.iter().map(|(l, (t, d))| (l.tag().to_owned(), serde_json::json!({"title": t, "description": d}))).collect::<std::collections::BTreeMap<_, _>>(),
        })).collect::<Vec<_>>(),
    })
}

/// Every file of the backup status site: `index.html` (English) and `<lang>/index.html`
/// for the others, `status.json`, `status.atom` plus `<lang>/status.atom`, and
/// Statuspage's `api/v2/*.json`.
pub fn site_files(
    status: &PublicStatus,
    base_url: &str,
) -> Result<Vec<(String, Vec<u8>)>, AppError> {
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
            format!(
                "{}/status/subscribe?lang={}",
                base_url.trim_end_matches('/'),
                lang.tag()
            ),
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
        serde_json::to_vec_pretty(&status_json(status)).map_err(AppError::internal)?,
    ));
    // Statuspage's public API at the same paths, so its readers keep working from a CDN
    // with Candor down.
    let view =
        crate::statuspage::StatuspageView::of(status, &crate::statuspage::PageInfo::of(base_url));
    for (doc, value) in view.documents() {
        files.push((
            format!("api/v2/{doc}"),
            serde_json::to_vec(&value).map_err(AppError::internal)?,
        ));
    }
    Ok(files)
}
