//! Deliveries: one piece of news on its way to one recipient over one channel, and the
//! webhook endpoints tenants register. A delivery's id comes from its dedupe key (change,
//! recipient, channel), so queueing the same delivery twice is a no-op and a receiver
//! sees the same id on every retry. What happens after each attempt is decided here,
//! against a time and a jitter the caller supplies.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::Subscription;
use crate::identity::InvalidValue;
use crate::jobs::backoff;
use crate::TenantId;

wire_enum!(Channel, "channel", [
    Email => "email",
    Webhook => "webhook",
    Push => "push",
]);

// Pending: waiting for its time or a worker. Sending: claimed by a worker whose lease
// has not run out. Dead: gave up (attempts exhausted, or a failure no retry can cure).
wire_enum!(DeliveryStatus, "status", [
    Pending => "pending",
    Sending => "sending",
    Sent => "sent",
    Dead => "dead",
]);

// Whose a delivery is: a tenant's (its people, shown in that tenant's delivery log), or
// the operator realm's (a Lockbox engineer's mail, kept out of the tenant's log: the
// tenant sees the decision, not who at the provider was told of it).
// A public subscriber's mail is the public realm's: it concerns no tenant.
wire_enum!(Realm, "realm", [
    Tenant => "tenant",
    Operator => "operator",
    Public => "public",
]);

/// The tenant column of an operator-realm delivery that concerns no tenant (an overdue
/// notice to an Incident Manager, a post to the operator webhook): no tenant has this
/// id, so it is in no tenant's log.
pub const OPERATOR_REALM_TENANT: TenantId = TenantId(uuid::Uuid::nil());

// Candor's own versioned JSON schema, a Slack or a Microsoft Teams incoming webhook.
wire_enum!(WebhookFormat, "format", [
    Candor => "candor",
    Slack => "slack",
    Teams => "teams",
]);

/// Attempts before a delivery is dead-lettered, unless configured otherwise.
pub const DEFAULT_DELIVERY_ATTEMPTS: i32 = 10;
/// Consecutive failed attempts after which an endpoint is disabled and its tenant told.
pub const DISABLE_WEBHOOK_AFTER: i32 = 15;
/// How long the previous secret of a rotated endpoint still signs requests.
pub const SECRET_GRACE: Duration = Duration::hours(24);

/// The stable id of the delivery with this dedupe key.
pub fn delivery_id(key: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(key.as_bytes());
    let mut id = String::with_capacity(32);
    for b in &digest[..16] {
        id.push(char::from(HEX[usize::from(b >> 4)]));
        id.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    id
}

/// The dedupe key of the delivery of `change` to `recipient` over `channel`.
pub fn delivery_key(change: &str, recipient: &str, channel: Channel) -> String {
    format!("{change}:{recipient}:{channel}")
}

/// A delivery to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub id: String,
    pub tenant: TenantId,
    /// What news it carries, e.g. `issue:EX123:post:2`: the operators' per-change view
    /// groups by it.
    pub change: String,
    pub channel: Channel,
    /// An email address, or an endpoint's URL: what a person reading the log recognises.
    pub recipient: String,
    pub endpoint: Option<WebhookEndpointId>,
    pub realm: Realm,
    /// What to send: an `OutboundEmail`, or the facts of a webhook message; with `news`,
    /// only what is this recipient's own (the rest is in the news, stored once).
    pub payload: serde_json::Value,
    /// The news this delivery carries, rendered once per language and time zone and
    /// shared by every delivery of the change in them (see [`DeliveryNews`]).
    pub news: Option<String>,
    pub run_at: OffsetDateTime,
    pub max_attempts: i32,
}

impl NewDelivery {
    /// A delivery with the id its dedupe key gives.
    pub fn new(
        tenant: TenantId,
        change: &str,
        channel: Channel,
        recipient_key: &str,
        recipient: String,
        payload: serde_json::Value,
        now: OffsetDateTime,
    ) -> NewDelivery {
        NewDelivery {
            id: delivery_id(&delivery_key(change, recipient_key, channel)),
            tenant,
            change: change.to_owned(),
            channel,
            recipient,
            endpoint: None,
            realm: Realm::Tenant,
            payload,
            news: None,
            run_at: now,
            max_attempts: DEFAULT_DELIVERY_ATTEMPTS,
        }
    }
}

/// A change's news in one language and time zone, stored once and shared by all its
/// deliveries in them: a fan-out to 100,000 recipients writes the text a handful of
/// times, not 100,000.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryNews {
    pub id: String,
    pub change: String,
    pub body: serde_json::Value,
}

/// The id of a change's news in one language and time zone: the same whenever the
/// fan-out runs, so a fan-out run again stores it once.
pub fn news_id(change: &str, language: &str, zone: &str) -> String {
    delivery_id(&format!("{change}:news:{language}:{zone}"))
}

/// A delivery as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: String,
    pub tenant: TenantId,
    pub change: String,
    pub channel: Channel,
    pub recipient: String,
    pub endpoint: Option<WebhookEndpointId>,
    pub realm: Realm,
    pub payload: serde_json::Value,
    pub news: Option<String>,
    pub status: DeliveryStatus,
    /// Attempts so far, including one now running.
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: OffsetDateTime,
    pub last_error: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub sent_at: Option<OffsetDateTime>,
}

/// How one attempt went, as the sender saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Sent,
    /// Worth trying again (timeouts, 5xx, a relay that is down).
    Failed(String),
    /// No retry can cure it (a malformed address, an endpoint that refuses, a disabled
    /// endpoint).
    Refused(String),
}

/// What becomes of a delivery after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Sent,
    RetryAt(OffsetDateTime, String),
    Dead(String),
    /// Not attempted (its destination's breaker is open, or the destination has its
    /// share of the lane already): due again then, with the attempt not counted.
    Deferred(OffsetDateTime, String),
}

impl DeliveryOutcome {
    pub fn error(&self) -> Option<&str> {
        match self {
            DeliveryOutcome::Sent => None,
            DeliveryOutcome::RetryAt(_, e)
            | DeliveryOutcome::Dead(e)
            | DeliveryOutcome::Deferred(_, e) => Some(e),
        }
    }
}

/// Decides the fate of `delivery` after `attempt` (its `attempts` already counts it):
/// retried with exponential backoff and jitter until `max_attempts`, then dead.
pub fn after_attempt(
    delivery: &Delivery,
    attempt: Attempt,
    now: OffsetDateTime,
    jitter: f64,
) -> DeliveryOutcome {
    match attempt {
        Attempt::Sent => DeliveryOutcome::Sent,
        Attempt::Refused(e) => DeliveryOutcome::Dead(e),
        Attempt::Failed(e) if delivery.attempts >= delivery.max_attempts => {
            DeliveryOutcome::Dead(format!("gave up after {} attempts: {e}", delivery.attempts))
        }
        Attempt::Failed(e) => DeliveryOutcome::RetryAt(now + backoff(delivery.attempts, jitter), e),
    }
}

/// Counts of one change's deliveries, for the operators' view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeDeliveries {
    pub change: String,
    /// Tenants with at least one delivery of this change.
    pub tenants: i64,
    pub pending: i64,
    pub sent: i64,
    pub failed: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub first_queued: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_activity: OffsetDateTime,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WebhookEndpointId(pub Uuid);

impl WebhookEndpointId {
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }
}

impl fmt::Display for WebhookEndpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for WebhookEndpointId {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s.trim())
            .map(Self)
            .map_err(|_| InvalidValue::new("endpoint", "not a webhook endpoint id"))
    }
}

/// A URL a tenant wants news posted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: WebhookEndpointId,
    pub tenant: TenantId,
    pub url: String,
    pub format: WebhookFormat,
    /// Signs every request (HMAC-SHA256); shown to the tenant once.
    pub secret: String,
    /// The secret before the last rotation, still signing until `previous_until`.
    pub previous_secret: Option<String>,
    pub previous_until: Option<OffsetDateTime>,
    pub subscription: Subscription,
    pub enabled: bool,
    /// Failed attempts in a row; any success resets it.
    pub failures: i32,
    pub disabled_reason: Option<String>,
    pub created_at: OffsetDateTime,
}

impl WebhookEndpoint {
    /// The secrets that sign a request at `now`: the current one, and the previous one
    /// during its grace period.
    pub fn signing_secrets(&self, now: OffsetDateTime) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let (Some(old), Some(until)) = (&self.previous_secret, self.previous_until) {
            if now < until {
                secrets.push(old.as_str());
            }
        }
        secrets
    }

    /// The endpoint with a new secret; the old one keeps signing for `SECRET_GRACE`.
    pub fn rotated(&self, new_secret: String, now: OffsetDateTime) -> WebhookEndpoint {
        WebhookEndpoint {
            previous_secret: Some(self.secret.clone()),
            previous_until: Some(now + SECRET_GRACE),
            secret: new_secret,
            ..self.clone()
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PushSubscriptionId(pub Uuid);

impl PushSubscriptionId {
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }
}

impl fmt::Display for PushSubscriptionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for PushSubscriptionId {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s.trim())
            .map(Self)
            .map_err(|_| InvalidValue::new("subscription", "not a push subscription id"))
    }
}

/// Whose browser it is: a tenant user's (told the news its user may read) or an
/// operator's (told when an incident they are chased for is overdue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BrowserOwner {
    TenantUser {
        tenant: TenantId,
        user: crate::UserId,
    },
    Operator(crate::OperatorId),
}

impl BrowserOwner {
    /// The tenant column of its deliveries: the operator realm's for an operator.
    pub fn tenant(self) -> TenantId {
        match self {
            BrowserOwner::TenantUser { tenant, .. } => tenant,
            BrowserOwner::Operator(_) => OPERATOR_REALM_TENANT,
        }
    }

    /// The realm its deliveries belong to.
    pub fn realm(self) -> Realm {
        match self {
            BrowserOwner::TenantUser { .. } => Realm::Tenant,
            BrowserOwner::Operator(_) => Realm::Operator,
        }
    }

    /// The audit chain its changes are recorded in.
    pub fn chain(self) -> crate::audit::AuditChain {
        match self {
            BrowserOwner::TenantUser { tenant, .. } => crate::audit::AuditChain::Tenant(tenant),
            BrowserOwner::Operator(_) => crate::audit::AuditChain::Operator,
        }
    }
}

/// A browser (a phone, a laptop) of a tenant user or an operator that asked for push
/// notifications: where its push service takes messages, and the keys to encrypt them
/// for it (RFC 8291).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSubscription {
    pub id: PushSubscriptionId,
    pub owner: BrowserOwner,
    /// The push service's URL for this browser.
    pub endpoint: String,
    /// The browser's P-256 public key, base64url.
    pub p256dh: String,
    /// The browser's authentication secret, base64url.
    pub auth: String,
    /// What it is told about: the topics its user may read (an operator's browser is
    /// told only what Candor chases operators for, whatever this says).
    pub subscription: Subscription,
    /// e.g. "Firefox on Android", for the user's list of devices.
    pub label: String,
    pub created_at: OffsetDateTime,
}

impl PushSubscription {
    /// Checks what a browser sent: an https endpoint and keys of the right sizes.
    pub fn check(endpoint: &str, p256dh: &str, auth: &str) -> Result<(), InvalidValue> {
        use base64::Engine as _;
        let endpoint = endpoint.trim();
        if !endpoint.starts_with("https://") && !endpoint.starts_with("http://")
            || endpoint.len() > 2000
        {
            return Err(InvalidValue::new(
                "endpoint",
                "the browser's push endpoint must be an https URL",
            ));
        }
        let decode = |v: &str| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(v.trim().trim_end_matches('='))
                .ok()
        };
        match decode(p256dh) {
            Some(k) if k.len() == 65 && k[0] == 4 => {}
            _ => {
                return Err(InvalidValue::new(
                    "p256dh",
                    "not an uncompressed P-256 public key in base64url",
                ))
            }
        }
        match decode(auth) {
            Some(a) if a.len() == 16 => Ok(()),
            _ => Err(InvalidValue::new(
                "auth",
                "not a 16-byte authentication secret in base64url",
            )),
        }
    }
}

/// What one more failed attempt does to an endpoint with `failures` failures in a row.
pub fn endpoint_after_failure(failures: i32, disable_after: i32) -> EndpointHealth {
    if failures + 1 >= disable_after.max(1) {
        EndpointHealth::Disable
    } else {
        EndpointHealth::Failing(failures + 1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointHealth {
    Failing(i32),
    Disable,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    fn delivery(attempts: i32, max: i32) -> Delivery {
        let now = datetime!(2026-11-22 9:00 UTC);
        Delivery {
            id: delivery_id("k"),
            tenant: TenantId(Uuid::nil()),
            change: "issue:EX1:post:1".into(),
            channel: Channel::Email,
            recipient: "noc@contoso.example".into(),
            endpoint: None,
            realm: Realm::Tenant,
            payload: serde_json::json!({}),
            news: None,
            status: DeliveryStatus::Sending,
            attempts,
            max_attempts: max,
            run_at: now,
            last_error: None,
            created_at: now,
            updated_at: now,
            sent_at: None,
        }
    }

    #[test]
    fn ids_are_stable_and_distinct_per_key() {
        let a = delivery_id(&delivery_key("issue:EX1:post:1", "c1", Channel::Email));
        assert_eq!(
            a,
            delivery_id(&delivery_key("issue:EX1:post:1", "c1", Channel::Email))
        );
        assert_eq!(a.len(), 32);
        assert_ne!(
            a,
            delivery_id(&delivery_key("issue:EX1:post:1", "c1", Channel::Webhook))
        );
        assert_ne!(
            a,
            delivery_id(&delivery_key("issue:EX1:post:2", "c1", Channel::Email))
        );
    }

    #[test]
    fn failures_retry_with_growing_delays_then_die() {
        let now = datetime!(2026-11-22 9:00 UTC);
        let first = after_attempt(&delivery(1, 3), Attempt::Failed("down".into()), now, 0.0);
        let second = after_attempt(&delivery(2, 3), Attempt::Failed("down".into()), now, 0.0);
        match (first, second) {
            (DeliveryOutcome::RetryAt(a, _), DeliveryOutcome::RetryAt(b, _)) => {
                assert!(a > now && b > a, "{a} {b}");
            }
            other => panic!("{other:?}"),
        }
        let last = after_attempt(&delivery(3, 3), Attempt::Failed("down".into()), now, 0.5);
        assert!(matches!(last, DeliveryOutcome::Dead(e) if e.contains("3 attempts")));
        let refused = after_attempt(&delivery(1, 3), Attempt::Refused("bad".into()), now, 0.0);
        assert_eq!(refused, DeliveryOutcome::Dead("bad".into()));
        assert_eq!(
            after_attempt(&delivery(3, 3), Attempt::Sent, now, 0.0),
            DeliveryOutcome::Sent
        );
    }

    #[test]
    fn rotation_keeps_the_old_secret_for_its_grace_period() {
        let now = datetime!(2026-11-22 9:00 UTC);
        let e = WebhookEndpoint {
            id: WebhookEndpointId::generate(),
            tenant: TenantId(Uuid::nil()),
            url: "https://hooks.example/x".into(),
            format: WebhookFormat::Candor,
            secret: "old".into(),
            previous_secret: None,
            previous_until: None,
            subscription: Subscription::everything(),
            enabled: true,
            failures: 0,
            disabled_reason: None,
            created_at: now,
        };
        assert_eq!(e.signing_secrets(now), vec!["old"]);
        let r = e.rotated("new".into(), now);
        assert_eq!(r.signing_secrets(now), vec!["new", "old"]);
        assert_eq!(
            r.signing_secrets(now + SECRET_GRACE + Duration::seconds(1)),
            vec!["new"]
        );
    }

    #[test]
    fn push_subscriptions_are_checked() {
        let key = format!("B{}", "A".repeat(86));
        let auth = "AAAAAAAAAAAAAAAAAAAAAA";
        assert!(PushSubscription::check("https://push.example/x", &key, auth).is_ok());
        assert!(PushSubscription::check("ftp://push.example/x", &key, auth).is_err());
        assert!(PushSubscription::check("https://push.example/x", "AAAA", auth).is_err());
        assert!(PushSubscription::check("https://push.example/x", &key, "AAAA").is_err());
    }

    #[test]
    fn endpoints_are_disabled_after_enough_failures_in_a_row() {
        assert_eq!(endpoint_after_failure(0, 3), EndpointHealth::Failing(1));
        assert_eq!(endpoint_after_failure(1, 3), EndpointHealth::Failing(2));
        assert_eq!(endpoint_after_failure(2, 3), EndpointHealth::Disable);
        assert_eq!(endpoint_after_failure(0, 0), EndpointHealth::Disable);
    }

    proptest! {
        #[test]
        fn a_failed_attempt_never_retries_past_its_limit(attempts in 1i32..40, max in 1i32..20, jitter in 0.0f64..1.0) {
            let now = datetime!(2026-11-22 9:00 UTC);
            let out = after_attempt(&delivery(attempts, max), Attempt::Failed("x".into()), now, jitter);
            match out {
                DeliveryOutcome::RetryAt(at, _) => {
                    prop_assert!(attempts < max);
                    prop_assert!(at > now && at <= now + Duration::hours(2));
                }
                DeliveryOutcome::Dead(_) => prop_assert!(attempts >= max),
                DeliveryOutcome::Sent | DeliveryOutcome::Deferred(..) => prop_assert!(false),
            }
        }
    }
}
