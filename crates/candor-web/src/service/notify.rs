//! Issue news to contacts by email. Each published post (and each scope change, for the
//! tenants it newly reaches) queues one `notify.fanout` job in the same transaction as
//! the change. The job queues one `email.send` per subscribed contact of every reached
//! tenant, each with a dedupe key of change, contact and channel. A fan-out that crashes
//! halfway is simply run again: what it already queued is not queued twice, and
//! nothing is lost.

use std::collections::HashMap;

use candor_domain::email::OutboundEmail;
use candor_domain::health::{Contact, ContactId, Issue, IssueId, MessageId, Post, Topic};
use candor_domain::jobs::NewJob;
use candor_domain::{JobId, TenantId};
use serde_json::json;
use time::OffsetDateTime;

use super::Core;
use crate::error::{ApiError, ApiResult};
use crate::i18n::Tr;

pub const NOTIFY_FANOUT: &str = "notify.fanout";
const PAGE: u32 = 500;

/// The fan-out job for a post (`seq`), or for the latest post when the scope changed.
pub fn fanout_job(issue: &IssueId, seq: Option<i64>, changed_at: OffsetDateTime) -> NewJob {
    NewJob::new(
        NOTIFY_FANOUT,
        json!({"kind": "issue", "issue": issue.as_str(), "seq": seq}),
        changed_at,
    )
    .dedupe(format!(
        "{NOTIFY_FANOUT}:{}:{}:{}",
        issue,
        seq.map_or_else(|| "latest".to_owned(), |s| s.to_string()),
        changed_at.unix_timestamp_nanos()
    ))
}

/// The fan-out job for a published post-incident review.
pub fn review_fanout_job(issue: &IssueId, published_at: OffsetDateTime) -> NewJob {
    NewJob::new(
        NOTIFY_FANOUT,
        json!({"kind": "review", "issue": issue.as_str()}),
        published_at,
    )
    .dedupe(format!("{NOTIFY_FANOUT}:review:{issue}"))
}

/// The fan-out job for a Message Center message, new or changed (a change tells only
/// the tenants it newly reaches: the others already have that message's mail).
pub fn message_fanout_job(message: &MessageId, changed_at: OffsetDateTime) -> NewJob {
    NewJob::new(
        NOTIFY_FANOUT,
        json!({"kind": "message", "message": message.as_str()}),
        changed_at,
    )
    .dedupe(format!(
        "{NOTIFY_FANOUT}:message:{message}:{}",
        changed_at.unix_timestamp_nanos()
    ))
}

/// Runs the fan-out a job's payload describes.
pub async fn run(core: &Core, payload: &serde_json::Value, base_url: &str) -> ApiResult<usize> {
    let text = |key: &str| {
        payload[key]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ApiError::BadRequest(format!("the fan-out has no {key}")))
    };
    match payload["kind"].as_str().unwrap_or("issue") {
        "issue" => fan_out(core, &text("issue")?, payload["seq"].as_i64(), base_url).await,
        "review" => fan_out_review(core, &text("issue")?, base_url).await,
        "message" => fan_out_message(core, &text("message")?, base_url).await,
        other => Err(ApiError::BadRequest(format!(
            "unknown fan-out kind `{other}`"
        ))),
    }
}

/// A delivery's stable id, from its dedupe key.
pub fn delivery_id(key: &str) -> String {
    crate::auth::sha256_hex(key)[..32].to_owned()
}

/// Queues one email job with its dedupe key; true if it was new.
async fn queue(core: &Core, email: &OutboundEmail, key: String) -> ApiResult<bool> {
    let now = core.clock.now();
    let mut email = email.clone();
    email.delivery_id = Some(delivery_id(&key));
    let job = NewJob::new(
        super::lockbox_mail::EMAIL_SEND,
        serde_json::to_value(&email).map_err(ApiError::internal)?,
        now,
    )
    .dedupe(key);
    Ok(core
        .store
        .enqueue_job(JobId::generate(), job, now)
        .await?
        .is_some())
}

/// Each tenant's time zone, read once per fan-out.
struct Zones(HashMap<TenantId, String>);

impl Zones {
    async fn of(&mut self, core: &Core, tenant: TenantId) -> ApiResult<String> {
        if let Some(z) = self.0.get(&tenant) {
            return Ok(z.clone());
        }
        let z = core
            .store
            .get_tenant(tenant)
            .await?
            .map(|t| t.time_zone.to_string())
            .unwrap_or_else(|| "UTC".into());
        self.0.insert(tenant, z.clone());
        Ok(z)
    }
}

/// A post's HTML as plain text, for the email body.
pub fn plain_text(html: &str) -> String {
    let spaced = html
        .replace("</p>", "</p>\n")
        .replace("<br>", "\n")
        .replace("<br/>", "\n")
        .replace("<br />", "\n")
        .replace("</li>", "</li>\n")
        .replace("<li>", "<li>- ");
    let text = ammonia::Builder::empty().clean(&spaced).to_string();
    text.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned()
}

/// One contact's email about `post` of `issue`.
pub fn issue_email(
    tr: &Tr,
    to: &str,
    tenant: TenantId,
    issue: &Issue,
    service_name: &str,
    post: &Post,
    base_url: &str,
) -> OutboundEmail {
    let status = tr.t(&format!("status-{}", post.status.as_str()));
    let mut lines = vec![
        format!("{service_name}: {}", issue.title),
        format!("{} · {status}", issue.id),
        String::new(),
        plain_text(post.body_in(tr.lang)),
        String::new(),
        issue.impact_description.clone(),
    ];
    let base = base_url.trim_end_matches('/');
    if !base.is_empty() {
        lines.push(String::new());
        lines.push(format!("{base}/portal/health/issues/{}", issue.id));
    }
    OutboundEmail {
        to: to.to_owned(),
        subject: format!("[{service_name}] {} ({status})", issue.title),
        body: lines.join("\n"),
        kind: "notify.issue".into(),
        tenant: Some(tenant),
        delivery_id: None,
        unsubscribe: None,
    }
}

/// Who a fan-out reaches: the tenants an issue or a message reached.
enum Reach<'a> {
    Issue(&'a IssueId),
    Message(&'a MessageId),
}

/// Pages through the contacts of the reached tenants and queues, for each contact that
/// `compose` writes to (it returns `None` for one not subscribed), that email under its
/// dedupe key, with the contact's unsubscribe link. Returns how many were newly queued.
async fn deliver(
    core: &Core,
    reach: Reach<'_>,
    base_url: &str,
    mut compose: impl FnMut(&Contact, &Tr) -> Option<(OutboundEmail, String)>,
) -> ApiResult<usize> {
    let mut zones = Zones(HashMap::new());
    let mut after: Option<ContactId> = None;
    let mut queued = 0;
    loop {
        let page = match reach {
            Reach::Issue(id) => {
                core.store
                    .contacts_reached_by_issue(id, after, PAGE)
                    .await?
            }
            Reach::Message(id) => {
                core.store
                    .contacts_reached_by_message(id, after, PAGE)
                    .await?
            }
        };
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for contact in &page {
            let tr = Tr::new(contact.language, zones.of(core, contact.tenant).await?);
            let Some((mut email, key)) = compose(contact, &tr) else {
                continue;
            };
            email.unsubscribe =
                super::contacts::unsubscribe_url(core, base_url, contact.tenant, contact.id);
            if queue(core, &email, key).await? {
                queued += 1;
            }
        }
        if page.len() < PAGE as usize {
            break;
        }
    }
    Ok(queued)
}

/// Runs one fan-out: queues an email for every subscribed contact of every tenant the
/// issue reached. Returns how many were newly queued.
pub async fn fan_out(
    core: &Core,
    issue_id: &str,
    seq: Option<i64>,
    base_url: &str,
) -> ApiResult<usize> {
    let id = IssueId::parse(issue_id)?;
    let Some(issue) = core.store.get_issue(&id).await? else {
        return Ok(0);
    };
    let posts = core.store.issue_posts(&id).await?;
    let post = match seq {
        Some(s) => posts.iter().find(|p| p.seq == s),
        None => posts.last(),
    }
    .ok_or_else(|| ApiError::NotFound(format!("issue {id} has no post {seq:?}")))?;
    let service_name = service_name(core, &issue).await?;
    let topic = Topic::of_issue(issue.classification);
    deliver(core, Reach::Issue(&id), base_url, |contact, tr| {
        contact
            .subscription
            .wants(topic, &[&issue.service])
            .then(|| {
                let email = issue_email(
                    tr,
                    contact.email.as_ref(),
                    contact.tenant,
                    &issue,
                    &service_name,
                    post,
                    base_url,
                );
                let key = format!("notify:{}:{}:{}:email", issue.id, post.seq, contact.id);
                (email, key)
            })
    })
    .await
}

async fn fan_out_review(core: &Core, issue_id: &str, base_url: &str) -> ApiResult<usize> {
    let id = IssueId::parse(issue_id)?;
    let (Some(issue), Some(pir)) = (
        core.store.get_issue(&id).await?,
        core.store.get_pir(&id).await?,
    ) else {
        return Ok(0);
    };
    if !pir.is_published() {
        return Ok(0);
    }
    let service_name = service_name(core, &issue).await?;
    let base = base_url.trim_end_matches('/');
    deliver(core, Reach::Issue(&id), base_url, |contact, tr| {
        if !contact
            .subscription
            .wants(Topic::Reviews, &[&issue.service])
        {
            return None;
        }
        let mut lines = vec![
            format!("{service_name}: {}", issue.title),
            String::new(),
            pir.user_impact.clone(),
            String::new(),
            pir.root_cause.clone(),
            String::new(),
            pir.next_steps.clone(),
        ];
        if !base.is_empty() {
            lines.push(String::new());
            lines.push(format!("{base}/portal/health/issues/{}", issue.id));
        }
        let email = OutboundEmail {
            to: contact.email.to_string(),
            subject: format!(
                "[{service_name}] {}: {}",
                tr.t("contacts-topic-postIncidentReviews"),
                issue.title
            ),
            body: lines.join("\n"),
            kind: "notify.review".into(),
            tenant: Some(contact.tenant),
            delivery_id: None,
            unsubscribe: None,
        };
        Some((
            email,
            format!("notify:{}:review:{}:email", issue.id, contact.id),
        ))
    })
    .await
}

async fn fan_out_message(core: &Core, message_id: &str, base_url: &str) -> ApiResult<usize> {
    let id = MessageId::parse(message_id)?;
    let Some(message) = core.store.get_message(&id).await? else {
        return Ok(0);
    };
    let services: Vec<&candor_domain::health::ServiceId> = message.services.iter().collect();
    let base = base_url.trim_end_matches('/');
    deliver(core, Reach::Message(&id), base_url, |contact, tr| {
        if !contact.subscription.wants(Topic::MessageCenter, &services) {
            return None;
        }
        let (title, body) = message.text_in(contact.language);
        let mut lines = vec![title.to_owned(), String::new(), plain_text(body)];
        if let Some(by) = message.action_required_by {
            lines.push(String::new());
            lines.push(format!("{}: {}", tr.t("message-act-by"), tr.time(&by)));
        }
        if !base.is_empty() {
            lines.push(String::new());
            lines.push(format!("{base}/portal/messages/{}", message.id));
        }
        let email = OutboundEmail {
            to: contact.email.to_string(),
            subject: format!("[{}] {title}", tr.t("contacts-topic-messageCenter")),
            body: lines.join("\n"),
            kind: "notify.message".into(),
            tenant: Some(contact.tenant),
            delivery_id: None,
            unsubscribe: None,
        };
        Some((email, format!("notify:{}:{}:email", message.id, contact.id)))
    })
    .await
}

async fn service_name(core: &Core, issue: &Issue) -> ApiResult<String> {
    Ok(core
        .store
        .list_services()
        .await?
        .into_iter()
        .find(|s| s.id == issue.service)
        .map(|s| s.display_name)
        .unwrap_or_else(|| issue.service.to_string()))
}
