//! People who asked for news by email themselves: anyone, from the public status page
//! (broad news only), or someone a tenant's Global Administrator invited to that
//! tenant's news. Either way nothing is sent until the address's owner confirms from
//! the email Candor sends it (double opt-in), and the rules for who may ask how often
//! are decided here, on counts the caller reads.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{ServiceId, Subscription, Topic};
use crate::identity::{EmailAddress, InvalidValue};
use crate::language::Language;
use crate::TenantId;

/// What the public page shows, and so all a public subscriber can hear about.
pub const PUBLIC_TOPICS: [Topic; 3] = [
    Topic::Incidents,
    Topic::Advisories,
    Topic::PlannedMaintenance,
];

/// How long a confirmation link works.
pub const CONFIRMATION_VALID: Duration = Duration::hours(24);

/// The window the request limits count in.
pub const LIMIT_WINDOW: Duration = Duration::hours(1);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SubscriberId(pub Uuid);

impl SubscriberId {
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }
}

impl fmt::Display for SubscriberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for SubscriberId {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s.trim())
            .map(Self)
            .map_err(|_| InvalidValue::new("subscriber", "not a subscriber id"))
    }
}

/// A confirmed public subscriber: told the broad news its subscription wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub id: SubscriberId,
    pub email: EmailAddress,
    pub language: Language,
    pub subscription: Subscription,
    pub confirmed_at: OffsetDateTime,
}

/// An address waiting for its owner to confirm. The token itself is only in the email;
/// what is kept is its SHA-256, so a copy of the database confirms nobody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRequest {
    pub id: SubscriberId,
    pub token_hash: String,
    pub email: EmailAddress,
    /// `None`: the public status page's news. Some: an invitation to that tenant's news,
    /// which becomes one of its contacts when confirmed.
    pub tenant: Option<TenantId>,
    pub language: Language,
    pub subscription: Subscription,
    /// Who asked: the address of a public form's sender, or the inviting administrator.
    pub requested_by: String,
    pub requested_at: OffsetDateTime,
}

impl SubscriptionRequest {
    pub fn expires_at(&self) -> OffsetDateTime {
        self.requested_at + CONFIRMATION_VALID
    }

    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        now >= self.expires_at()
    }
}

/// A public subscription from what a form sent: only the public topics (all of them when
/// none is named), and services, none meaning every service.
pub fn public_subscription(
    topics: &[Topic],
    services: BTreeSet<ServiceId>,
) -> Result<Subscription, InvalidValue> {
    if let Some(t) = topics.iter().find(|t| !PUBLIC_TOPICS.contains(t)) {
        return Err(InvalidValue::new(
            "topics",
            format!(
                "`{t}` is not news the public status page gives; choose from {}",
                PUBLIC_TOPICS
                    .iter()
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let topics: BTreeSet<Topic> = if topics.is_empty() {
        PUBLIC_TOPICS.into_iter().collect()
    } else {
        topics.iter().copied().collect()
    };
    Ok(Subscription { topics, services })
}

/// How many requests may come from where, per [`LIMIT_WINDOW`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// Different addresses one network address may ask to subscribe (and leave
    /// unconfirmed): past this, its form is refused.
    pub unconfirmed_per_ip: u32,
    /// Confirmation emails one address receives: past this, requests for it are taken
    /// as usual but send nothing, so nobody can flood a mailbox through Candor.
    pub emails_per_address: u32,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            unconfirmed_per_ip: 5,
            emails_per_address: 3,
        }
    }
}

/// What was recently asked, as the store counts it within [`LIMIT_WINDOW`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecentRequests {
    /// Distinct addresses still unconfirmed that this network address asked for.
    pub unconfirmed_from_ip: u32,
    /// Whether this network address already asked for this address (asking again does
    /// not count as one more address).
    pub ip_asked_for_address: bool,
    /// Requests for this address, from anywhere.
    pub for_address: u32,
}

/// What becomes of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Store it and send the confirmation email.
    Send,
    /// Answer as if sent, send nothing: the address has had its share of email. The
    /// answer must not differ, or the form would tell who is subscribed or asked.
    Quiet,
    /// Refuse the form: this network address asked for too many addresses.
    TooManyFromIp,
}

impl RequestLimits {
    pub fn judge(&self, recent: RecentRequests) -> Verdict {
        if !recent.ip_asked_for_address && recent.unconfirmed_from_ip >= self.unconfirmed_per_ip {
            Verdict::TooManyFromIp
        } else if recent.for_address >= self.emails_per_address {
            Verdict::Quiet
        } else {
            Verdict::Send
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn only_public_news_may_be_subscribed_to() {
        let all = public_subscription(&[], BTreeSet::new()).unwrap();
        assert_eq!(all.topics.len(), 3);
        assert!(all.wants(
            Topic::PlannedMaintenance,
            &[&ServiceId::from_trusted("Exchange")]
        ));
        assert!(!all.wants(
            Topic::MessageCenter,
            &[&ServiceId::from_trusted("Exchange")]
        ));
        let err = public_subscription(&[Topic::MessageCenter], BTreeSet::new()).unwrap_err();
        assert!(err.to_string().contains("messageCenter"), "{err}");
        let one = public_subscription(&[Topic::Incidents], BTreeSet::new()).unwrap();
        assert_eq!(one.topics.len(), 1);
    }

    #[test]
    fn a_link_works_for_a_day() {
        let at = OffsetDateTime::UNIX_EPOCH;
        let r = SubscriptionRequest {
            id: SubscriberId::generate(),
            token_hash: String::new(),
            email: EmailAddress::parse("a@example.com").unwrap(),
            tenant: None,
            language: Language::English,
            subscription: Subscription::everything(),
            requested_by: "192.0.2.1".into(),
            requested_at: at,
        };
        assert!(!r.is_expired(at + Duration::hours(24) - Duration::seconds(1)));
        assert!(r.is_expired(at + Duration::hours(24)));
    }

    proptest! {
        /// An address is never refused in a way that differs from being sent mail, and a
        /// network address under its limit is never refused.
        #[test]
        fn limits(ip in 0u32..10, asked in any::<bool>(), addr in 0u32..10) {
            let limits = RequestLimits::default();
            let v = limits.judge(RecentRequests {
                unconfirmed_from_ip: ip,
                ip_asked_for_address: asked,
                for_address: addr,
            });
            if ip < limits.unconfirmed_per_ip || asked {
                prop_assert_ne!(v, Verdict::TooManyFromIp);
            } else {
                prop_assert_eq!(v, Verdict::TooManyFromIp);
            }
            if v == Verdict::Send {
                prop_assert!(addr < limits.emails_per_address);
            }
        }
    }
}
