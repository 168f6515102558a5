//! Every incident has a human owner, and the owner is chased. An issue declared by a
//! person is theirs; one declared through the operator API names its owner (an
//! Incident Manager) or goes to the first of the incident managers on duty. When an
//! update is overdue, the owner and the incident managers on duty (every Incident
//! Manager, when no duty is set) are told by email, by Web Push in every browser they
//! turned it on in (console, *Push notifications*), and through the provider's operator
//! webhook, again at the reminder interval until a post is made; and once when the
//! cadence changes. Everything goes through the deliveries table, in the operator realm.

use std::sync::RwLock;

use candor_delivery::webhook::WebhookMessage;
use candor_domain::email::OutboundEmail;
use candor_domain::health::{
    BrowserOwner, Channel, Issue, NewDelivery, Realm, OPERATOR_REALM_TENANT,
};
use candor_domain::identity::{Actor, EmailAddress, InvalidValue, Operator, OperatorRole};
use candor_domain::time_util::rfc3339;
use candor_domain::OperatorId;
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::error::{AppError, AppResult};
use crate::i18n::Tr;
use crate::Core;

/// The provider's own webhook: overdue updates and cadence changes are posted there,
/// signed like tenant webhooks (`Candor-Signature`, HMAC-SHA256 with this secret).
#[derive(Clone, PartialEq, Eq)]
pub struct OperatorWebhook {
    pub url: String,
    pub secret: String,
}

impl std::fmt::Debug for OperatorWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorWebhook")
            .field("url", &self.url)
            .field("secret", &"(hidden)")
            .finish()
    }
}

/// Who is chased, how often, and where the console is (for the links in the mail).
#[derive(Debug, Clone)]
pub struct ChaseSettings {
    /// The Incident Managers on duty, by email: the owner of an issue a machine client
    /// declared without naming one, and told of every overdue update.
    pub duty: Vec<EmailAddress>,
    /// How long after one overdue notice the next goes, while no post is made.
    pub reminder_every: Duration,
    pub operator_webhook: Option<OperatorWebhook>,
    /// The console's address, for the links in the notices.
    pub console_url: String,
}

impl Default for ChaseSettings {
    fn default() -> Self {
        ChaseSettings {
            duty: Vec::new(),
            reminder_every: Duration::minutes(15),
            operator_webhook: None,
            console_url: String::new(),
        }
    }
}

/// The settings, readable by every use case and changeable at run time (tests).
#[derive(Debug, Default)]
pub struct Chase(RwLock<ChaseSettings>);

impl Chase {
    pub fn get(&self) -> ChaseSettings {
        self.0.read().map(|s| s.clone()).unwrap_or_default()
    }

    /// The operator webhook alone (read for every operator-realm webhook delivery).
    pub fn operator_webhook(&self) -> Option<OperatorWebhook> {
        self.0.read().ok().and_then(|s| s.operator_webhook.clone())
    }

    pub fn set(&self, settings: ChaseSettings) {
        if let Ok(mut s) = self.0.write() {
            *s = settings;
        }
    }
}

fn is_incident_manager(o: &Operator) -> bool {
    !o.disabled && o.roles.contains(OperatorRole::IncidentManager)
}

/// The active Incident Manager `who` names (an operator id or email), if any.
async fn incident_manager(core: &Core, who: &str) -> AppResult<Option<Operator>> {
    let found = match who.trim().parse::<OperatorId>() {
        Ok(id) => core.store.get_operator(id).await?,
        Err(_) => match EmailAddress::parse(who) {
            Ok(email) => core.store.find_operator_by_email(&email).await?,
            Err(_) => None,
        },
    };
    Ok(found.filter(is_incident_manager))
}

/// The human owner of an issue `actor` declares, naming `named` or not. A person owns
/// what they declare (unless they name someone else); a machine client must name an
/// Incident Manager, or the first active one on duty owns it; with neither, the
/// declaration is refused. Candor itself (the demo, an import) may leave it to duty.
pub async fn owner_for(
    core: &Core,
    actor: &Actor,
    named: Option<&str>,
) -> AppResult<Option<OperatorId>> {
    if let Some(who) = named.map(str::trim).filter(|w| !w.is_empty()) {
        return match incident_manager(core, who).await? {
            Some(op) => Ok(Some(op.id)),
            None => Err(AppError::Invalid(InvalidValue::new(
                "owner",
                format!(
                    "`{}` is not an active Incident Manager (name one by email or operator id)",
                    who.chars().take(80).collect::<String>()
                ),
            ))),
        };
    }
    if let Actor::Operator { operator_id, .. } = actor {
        // A machine client acts as an operator id that is no person's.
        if core.store.get_operator(*operator_id).await?.is_some() {
            return Ok(Some(*operator_id));
        }
    }
    for email in core.chase.get().duty {
        if let Some(op) = incident_manager(core, email.as_str()).await? {
            return Ok(Some(op.id));
        }
    }
    if matches!(actor, Actor::System) {
        return Ok(None);
    }
    Err(AppError::Invalid(InvalidValue::new(
        "owner",
        "an issue needs a person who owns it: name an Incident Manager in `owner`, or set \
         the incident managers on duty (--duty-incident-managers)",
    )))
}

/// Who is told about `issue`: its owner and the incident managers on duty (every
/// active Incident Manager when no duty is set), each once.
pub async fn chased(core: &Core, issue: &Issue) -> AppResult<Vec<Operator>> {
    let duty = core.chase.get().duty;
    let mut people: Vec<Operator> = Vec::new();
    if let Some(owner) = issue.owner {
        if let Some(op) = core.store.get_operator(owner).await? {
            if !op.disabled {
                people.push(op);
            }
        }
    }
    people.extend(on_duty(core, &duty).await?);
    let mut seen = std::collections::BTreeSet::new();
    people.retain(|p| seen.insert(p.id));
    Ok(people)
}

/// The active Incident Managers on duty, or every active one when no duty is set.
async fn on_duty(core: &Core, duty: &[EmailAddress]) -> AppResult<Vec<Operator>> {
    if duty.is_empty() {
        return Ok(core
            .store
            .list_operators()
            .await?
            .into_iter()
            .filter(is_incident_manager)
            .collect());
    }
    let mut people = Vec::new();
    for email in duty {
        if let Some(op) = incident_manager(core, email.as_str()).await? {
            people.push(op);
        }
    }
    Ok(people)
}

/// What a notice says: its event, subject and body, per reader.
struct Notice {
    change: String,
    event: &'static str,
    subject_key: &'static str,
    body_key: &'static str,
    args: Vec<(&'static str, String)>,
}

fn console_link(settings: &ChaseSettings, issue: &Issue) -> Option<String> {
    let base = settings.console_url.trim_end_matches('/');
    (!base.is_empty()).then(|| format!("{base}/console/issues/{}", issue.id))
}

/// Queues the notice to every chased person (email, push) and the operator webhook.
async fn tell(core: &Core, issue: &Issue, notice: Notice) -> AppResult<usize> {
    let people = chased(core, issue).await?;
    let link = console_link(&core.chase.get(), issue);
    let data = json!({
        "issueId": issue.id.to_string(),
        "title": issue.title,
        "owner": issue.owner.map(|o| o.to_string()),
        "nextUpdateDue": issue.next_update_due.map(rfc3339),
        "cadenceMinutes": issue.cadence.whole_minutes(),
        "told": people.iter().map(|p| p.email.as_str().to_owned()).collect::<Vec<_>>(),
    });
    send(core, &notice, &people, link, data).await
}

/// Queues `notice` to `people` (email, and push to their browsers) and the operator
/// webhook (with `data`).
async fn send(
    core: &Core,
    notice: &Notice,
    people: &[Operator],
    link: Option<String>,
    data: serde_json::Value,
) -> AppResult<usize> {
    let hook = core.chase.operator_webhook();
    let now = core.clock.now();
    let mut args = notice.args.clone();
    args.push(("link", link.clone().unwrap_or_default()));
    let mut deliveries: Vec<NewDelivery> = Vec::new();
    for person in people {
        let tr = Tr::new(
            person
                .language
                .unwrap_or(candor_domain::language::Language::English),
            "UTC",
        );
        let email = OutboundEmail {
            to: person.email.as_str().to_owned(),
            subject: tr.ta(notice.subject_key, &args),
            body: tr.ta(notice.body_key, &args),
            kind: notice.event.to_owned(),
            tenant: None,
            delivery_id: None,
            unsubscribe: None,
            html: None,
        };
        // Every browser the person turned push on in, told the same in short.
        let browsers = core
            .store
            .list_push_subscriptions(BrowserOwner::Operator(person.id))
            .await?;
        if !browsers.is_empty() {
            let news = crate::notify::WebhookNews {
                event: notice.event.to_owned(),
                occurred_date_time: now,
                title: email.subject.clone(),
                text: email.body.clone(),
                url: link.clone(),
                data: serde_json::Value::Null,
            };
            for browser in &browsers {
                deliveries.push(crate::push::delivery(
                    core,
                    browser,
                    &notice.change,
                    &news,
                    now,
                ));
            }
        }
        deliveries.push(crate::notify::email_delivery(
            core,
            OPERATOR_REALM_TENANT,
            &notice.change,
            &person.id.to_string(),
            Realm::Operator,
            email,
            now,
        )?);
    }
    if let Some(hook) = &hook {
        let tr = Tr::new(candor_domain::language::Language::English, "UTC");
        let mut d = NewDelivery::new(
            OPERATOR_REALM_TENANT,
            &notice.change,
            Channel::Webhook,
            "operator-webhook",
            hook.url.clone(),
            serde_json::Value::Null,
            now,
        );
        d.realm = Realm::Operator;
        d.max_attempts = core.delivery_attempts;
        let message = WebhookMessage {
            id: d.id.clone(),
            event: notice.event.to_owned(),
            tenant_id: String::new(),
            occurred_date_time: rfc3339(now),
            title: tr.ta(notice.subject_key, &args),
            text: tr.ta(notice.body_key, &args),
            url: link.clone(),
            data,
        };
        d.payload = serde_json::to_value(&message).map_err(AppError::internal)?;
        deliveries.push(d);
    }
    let n = deliveries.len();
    core.store.queue_deliveries(&deliveries, now).await?;
    Ok(n)
}

/// Tells that the update of `issue` due at `due` is overdue (`reminder` 0 the first
/// time). Returns the deliveries queued.
pub async fn overdue(
    core: &Core,
    issue: &Issue,
    due: OffsetDateTime,
    reminder: u32,
) -> AppResult<usize> {
    let due_text = rfc3339(due);
    tell(
        core,
        issue,
        Notice {
            change: format!("overdue:{}:{due_text}:{reminder}", issue.id),
            event: "issue.overdue",
            subject_key: "chase-overdue-subject",
            body_key: "chase-overdue-body",
            args: vec![
                ("id", issue.id.to_string()),
                ("title", issue.title.clone()),
                ("due", crate::i18n::format_in_zone(due, "UTC")),
                (
                    "minutes",
                    (core.clock.now() - due).whole_minutes().max(0).to_string(),
                ),
            ],
        },
    )
    .await
}

/// Tells that the cadence of `issue` is now `issue.cadence` (once per change: the
/// change is named by the post that announced it).
pub async fn cadence_changed(core: &Core, issue: &Issue, post: i64) -> AppResult<usize> {
    tell(
        core,
        issue,
        Notice {
            change: format!("cadence:{}:{post}", issue.id),
            event: "issue.cadenceChanged",
            subject_key: "chase-cadence-subject",
            body_key: "chase-cadence-body",
            args: vec![
                ("id", issue.id.to_string()),
                ("title", issue.title.clone()),
                ("cadence", issue.cadence.whole_minutes().to_string()),
                (
                    "due",
                    issue
                        .next_update_due
                        .map(|d| crate::i18n::format_in_zone(d, "UTC"))
                        .unwrap_or_else(|| "–".into()),
                ),
            ],
        },
    )
    .await
}

/// The job that tells of a new cadence, queued with the post that announced it.
pub fn cadence_job(
    issue: &candor_domain::health::IssueId,
    post: i64,
    now: OffsetDateTime,
) -> candor_domain::jobs::NewJob {
    crate::jobs::Job::HealthCadenceChanged(crate::jobs::CadenceChanged {
        issue: issue.clone(),
        post,
    })
    .at(now)
    .dedupe(format!(
        "{}:{issue}:{post}",
        crate::jobs::HEALTH_CADENCE_CHANGED
    ))
}

/// Tells the incident managers on duty (every one when no duty is set) that monitoring
/// opened a draft: it waits for one of them to publish it.
pub async fn draft_opened(
    core: &Core,
    draft: &candor_domain::health::alert::IssueDraft,
) -> AppResult<usize> {
    let settings = core.chase.get();
    let people = on_duty(core, &settings.duty).await?;
    let base = settings.console_url.trim_end_matches('/');
    let link = (!base.is_empty()).then(|| format!("{base}/console/drafts"));
    let args = vec![
        ("title", draft.title.clone()),
        ("count", draft.affected_tenants.to_string()),
        ("service", draft.service.to_string()),
    ];
    let data = json!({
        "draftId": draft.id.to_string(),
        "fingerprint": draft.fingerprint,
        "title": draft.title,
        "service": draft.service.as_str(),
        "affectedTenants": draft.affected_tenants,
        "told": people.iter().map(|p| p.email.as_str().to_owned()).collect::<Vec<_>>(),
    });
    let notice = Notice {
        change: format!("draft:{}", draft.id),
        event: "draft.opened",
        subject_key: "chase-draft-subject",
        body_key: "chase-draft-body",
        args,
    };
    send(core, &notice, &people, link, data).await
}
