//! Issue news to contacts by email. Each published post (and each scope change, for the
//! tenants it newly reaches) queues one `notify.fanout` job in the same transaction as
//! the change. The job queues one `email.send` per subscribed contact of every reached
//! tenant, each with a dedupe key of change, contact and channel. A fan-out that crashes
//! halfway is simply run again: what it already queued is not queued twice, and
//! nothing is lost.

use std::collections::HashMap;

use candor_domain::email::OutboundEmail;
use candor_domain::health::{ContactId, Issue, IssueId, Post, Topic};
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
        json!({"issue": issue.as_str(), "seq": seq}),
        changed_at,
    )
    .dedupe(format!(
        "{NOTIFY_FANOUT}:{}:{}:{}",
        issue,
        seq.map_or_else(|| "latest".to_owned(), |s| s.to_string()),
        changed_at.unix_timestamp_nanos()
    ))
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
    }
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
    let service_name = core
        .store
        .list_services()
        .await?
        .into_iter()
        .find(|s| s.id == issue.service)
        .map(|s| s.display_name)
        .unwrap_or_else(|| issue.service.to_string());
    let topic = Topic::of_issue(issue.classification);
    let now = core.clock.now();
    let mut zones: HashMap<TenantId, String> = HashMap::new();
    let mut after: Option<ContactId> = None;
    let mut queued = 0;
    loop {
        let page = core
            .store
            .contacts_reached_by_issue(&id, after, PAGE)
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for contact in &page {
            if !contact.subscription.wants(topic, &[&issue.service]) {
                continue;
            }
            let zone = match zones.get(&contact.tenant) {
                Some(z) => z.clone(),
                None => {
                    let z = core
                        .store
                        .get_tenant(contact.tenant)
                        .await?
                        .map(|t| t.time_zone.to_string())
                        .unwrap_or_else(|| "UTC".into());
                    zones.insert(contact.tenant, z.clone());
                    z
                }
            };
            let tr = Tr::new(contact.language, zone);
            let email = issue_email(
                &tr,
                contact.email.as_ref(),
                contact.tenant,
                &issue,
                &service_name,
                post,
                base_url,
            );
            let job = NewJob::new(
                super::lockbox_mail::EMAIL_SEND,
                serde_json::to_value(&email).map_err(ApiError::internal)?,
                now,
            )
            .dedupe(format!(
                "notify:{}:{}:{}:email",
                issue.id, post.seq, contact.id
            ));
            if core
                .store
                .enqueue_job(JobId::generate(), job, now)
                .await?
                .is_some()
            {
                queued += 1;
            }
        }
        if page.len() < PAGE as usize {
            break;
        }
    }
    Ok(queued)
}
