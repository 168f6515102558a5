//! Who a tenant wants told, about what: its contacts (email addresses, each with a
//! language) and what each subscribes to (classifications of news, and services).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Classification, ServiceId};
use crate::identity::{EmailAddress, InvalidValue};
use crate::language::Language;
use crate::TenantId;

wire_enum!(Topic, "topic", [
    Incidents => "incidents",
    Advisories => "advisories",
    MessageCenter => "messageCenter",
    Reviews => "postIncidentReviews",
    PlannedMaintenance => "plannedMaintenance",
]);

impl Topic {
    /// The topic of an issue's news.
    pub fn of_issue(classification: Classification) -> Topic {
        match classification {
            Classification::Incident => Topic::Incidents,
            Classification::Advisory => Topic::Advisories,
        }
    }
}

/// What a contact hears about: these topics, for these services (none named: all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub topics: BTreeSet<Topic>,
    pub services: BTreeSet<ServiceId>,
}

impl Subscription {
    /// No topic at all (an operator's browser, told only what operators are chased for).
    pub fn nothing() -> Subscription {
        Subscription {
            topics: BTreeSet::new(),
            services: BTreeSet::new(),
        }
    }

    pub fn everything() -> Subscription {
        Subscription {
            topics: Topic::ALL.iter().copied().collect(),
            services: BTreeSet::new(),
        }
    }

    /// Whether news on `topic` about `service` reaches this subscriber. Message Center
    /// messages may name several services; any one of them is enough.
    pub fn wants(&self, topic: Topic, services: &[&ServiceId]) -> bool {
        self.topics.contains(&topic)
            && (self.services.is_empty() || services.iter().any(|s| self.services.contains(*s)))
    }

    pub fn check(&self) -> Result<(), InvalidValue> {
        if self.topics.is_empty() {
            return Err(InvalidValue::new(
                "topics",
                "choose at least one kind of news to receive",
            ));
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContactId(pub Uuid);

impl ContactId {
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }
}

impl fmt::Display for ContactId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for ContactId {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s.trim())
            .map(Self)
            .map_err(|_| InvalidValue::new("contact", "not a contact id"))
    }
}

/// An email address a tenant has told Candor to notify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub id: ContactId,
    pub tenant: TenantId,
    pub email: EmailAddress,
    pub language: Language,
    pub subscription: Subscription,
    pub created_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sid(s: &str) -> ServiceId {
        ServiceId::from_trusted(s)
    }

    #[test]
    fn subscriptions_filter_by_topic_and_service() {
        let all = Subscription::everything();
        assert!(all.wants(Topic::Incidents, &[&sid("Exchange")]));
        let exchange_incidents = Subscription {
            topics: [Topic::Incidents].into_iter().collect(),
            services: [sid("Exchange")].into_iter().collect(),
        };
        assert!(exchange_incidents.wants(Topic::Incidents, &[&sid("Exchange")]));
        assert!(!exchange_incidents.wants(Topic::Advisories, &[&sid("Exchange")]));
        assert!(!exchange_incidents.wants(Topic::Incidents, &[&sid("SharePoint")]));
        assert!(exchange_incidents.wants(Topic::Incidents, &[&sid("SharePoint"), &sid("Exchange")]));
        assert_eq!(Topic::of_issue(Classification::Advisory), Topic::Advisories);
        let none = Subscription {
            topics: BTreeSet::new(),
            services: BTreeSet::new(),
        };
        assert!(none.check().is_err());
        assert_eq!(
            "messagecenter".parse::<Topic>().unwrap(),
            Topic::MessageCenter
        );
    }
}
