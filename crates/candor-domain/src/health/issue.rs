//! Issues (incidents and advisories) and their posts, with the Graph fields, the
//! update cadence and the "updates on time" figure.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::{Scope, ServiceId, Status};
use crate::identity::InvalidValue;
use crate::language::Language;

/// An issue id: the service's two-letter prefix and a number, e.g. `EX123456`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct IssueId(String);

impl IssueId {
    pub fn new(prefix: &str, number: i64) -> IssueId {
        IssueId(format!("{prefix}{number}"))
    }

    pub fn parse(s: &str) -> Result<IssueId, InvalidValue> {
        let s = s.trim();
        // ASCII first, so the byte slicing below stays on character boundaries.
        let ok = s.is_ascii()
            && s.len() >= 3
            && s.len() <= 16
            && s[..2].chars().all(|c| c.is_ascii_uppercase())
            && s[2..].chars().all(|c| c.is_ascii_digit());
        if ok {
            Ok(IssueId(s.to_owned()))
        } else {
            Err(InvalidValue::new(
                "issue id",
                format!(
                    "`{}` is not an issue id such as EX123456",
                    s.chars().take(20).collect::<String>()
                ),
            ))
        }
    }

    pub fn from_trusted(s: impl Into<String>) -> IssueId {
        IssueId(s.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IssueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

wire_enum!(Classification, "classification", [Advisory => "advisory", Incident => "incident"]);
wire_enum!(Origin, "origin", [Provider => "microsoft", ThirdParty => "thirdParty", Customer => "customer"]);
wire_enum!(PostType, "post type", [Regular => "regular", Quick => "quick", Strategic => "strategic"]);

/// Updates are hourly unless a post says otherwise.
pub const DEFAULT_CADENCE: Duration = Duration::minutes(60);
pub const MIN_CADENCE: Duration = Duration::minutes(15);
pub const MAX_CADENCE: Duration = Duration::hours(24);

pub fn check_cadence(minutes: i64) -> Result<Duration, InvalidValue> {
    // Compared as a number first: a huge one must not overflow the duration.
    if minutes < MIN_CADENCE.whole_minutes() || minutes > MAX_CADENCE.whole_minutes() {
        return Err(InvalidValue::new(
            "cadence",
            format!("{minutes} minutes is outside 15 minutes to 24 hours"),
        ));
    }
    let d = Duration::minutes(minutes);
    if d < MIN_CADENCE || d > MAX_CADENCE {
        return Err(InvalidValue::new(
            "cadence",
            format!("{minutes} minutes is outside 15 minutes to 24 hours"),
        ));
    }
    Ok(d)
}

/// An issue as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    pub id: IssueId,
    pub service: ServiceId,
    pub classification: Classification,
    pub origin: Origin,
    pub feature: Option<String>,
    pub feature_group: Option<String>,
    pub title: String,
    pub impact_description: String,
    pub status: Status,
    pub start: OffsetDateTime,
    pub end: Option<OffsetDateTime>,
    pub last_modified: OffsetDateTime,
    /// Graph's `details` key/value pairs.
    pub details: BTreeMap<String, String>,
    pub scope: Scope,
    pub cadence: Duration,
    /// When the next update is due; none once resolved (or for advisories).
    pub next_update_due: Option<OffsetDateTime>,
    pub owner: Option<crate::OperatorId>,
    pub updates_total: i64,
    pub updates_on_time: i64,
}

impl Issue {
    pub fn is_resolved(&self) -> bool {
        self.status.is_resolved()
    }

    /// Overdue: active, with an update due before `now`.
    pub fn is_overdue(&self, now: OffsetDateTime) -> bool {
        self.next_update_due.is_some_and(|due| due < now)
    }
}

/// When the next update falls due after a post at `posted_at`.
pub fn next_due(
    classification: Classification,
    status: Status,
    cadence: Duration,
    posted_at: OffsetDateTime,
) -> Option<OffsetDateTime> {
    (classification == Classification::Incident && !status.is_resolved())
        .then_some(posted_at + cadence)
}

/// Whether a post at `posted_at` met the deadline `due`.
pub fn on_time(due: Option<OffsetDateTime>, posted_at: OffsetDateTime) -> bool {
    due.is_none_or(|d| posted_at <= d)
}

/// One update on an issue. `body_html` is sanitized; translations are keyed by language.
#[derive(Debug, Clone, PartialEq)]
pub struct Post {
    pub seq: i64,
    pub created_at: OffsetDateTime,
    pub post_type: PostType,
    pub language: Language,
    pub body_html: String,
    pub translations: BTreeMap<Language, String>,
    pub status: Status,
    /// Set when this post changed the cadence (and so tells tenants the new one).
    pub new_cadence: Option<Duration>,
    pub author: String,
}

impl Post {
    /// The body in `lang`, falling back to the original.
    pub fn body_in(&self, lang: Language) -> &str {
        self.translations
            .get(&lang)
            .map(String::as_str)
            .unwrap_or(&self.body_html)
    }
}

/// The share of updates posted on time, in percent (100 when none were due).
pub fn on_time_share(total: i64, on_time: i64) -> f64 {
    if total <= 0 {
        100.0
    } else {
        (on_time as f64) * 100.0 / (total as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn issue_ids_are_prefix_and_number() {
        assert_eq!(IssueId::new("EX", 123456).as_str(), "EX123456");
        assert!(IssueId::parse("EX123456").is_ok());
        for bad in ["ex123", "EX", "E1234", "EX12a4", "MC"] {
            assert!(IssueId::parse(bad).is_err(), "{bad}");
        }
    }

    /// Found by schemathesis: a multi-byte first character made the parser slice inside
    /// it and panic.
    #[test]
    fn issue_ids_with_multibyte_characters_are_refused_not_a_panic() {
        for bad in ["\u{101a8}ê-x[", "é1234", "EXé12", "ЕX123"] {
            assert!(IssueId::parse(bad).is_err(), "{bad}");
        }
    }

    /// Found by schemathesis: a cadence of i64::MAX minutes overflowed the duration.
    #[test]
    fn cadences_far_out_of_range_are_refused_not_a_panic() {
        for minutes in [i64::MAX, i64::MIN, -1, 0, 14, 24 * 60 + 1] {
            assert!(check_cadence(minutes).is_err(), "{minutes}");
        }
        assert_eq!(check_cadence(60), Ok(Duration::hours(1)));
    }

    proptest::proptest! {
        #[test]
        fn parsing_any_text_as_an_issue_id_never_panics(s in "\\PC{0,24}") {
            let _ = IssueId::parse(&s);
        }

        #[test]
        fn any_cadence_is_checked_without_panicking(m in proptest::num::i64::ANY) {
            let _ = check_cadence(m);
        }
    }

    #[test]
    fn wire_enums_parse_case_insensitively() {
        assert_eq!("Incident".parse(), Ok(Classification::Incident));
        assert_eq!("microsoft".parse(), Ok(Origin::Provider));
        assert_eq!("STRATEGIC".parse(), Ok(PostType::Strategic));
        assert!("outage".parse::<Classification>().is_err());
    }

    #[test]
    fn incidents_are_due_hourly_until_resolved() {
        let t = datetime!(2026-11-22 10:00 UTC);
        assert_eq!(
            next_due(
                Classification::Incident,
                Status::Investigating,
                DEFAULT_CADENCE,
                t
            ),
            Some(datetime!(2026-11-22 11:00 UTC))
        );
        assert_eq!(
            next_due(
                Classification::Incident,
                Status::ServiceRestored,
                DEFAULT_CADENCE,
                t
            ),
            None
        );
        assert_eq!(
            next_due(
                Classification::Advisory,
                Status::ServiceDegradation,
                DEFAULT_CADENCE,
                t
            ),
            None
        );
        assert!(on_time(Some(t), t));
        assert!(!on_time(Some(t), t + Duration::seconds(1)));
    }

    #[test]
    fn cadence_is_bounded() {
        assert!(check_cadence(60).is_ok());
        assert!(check_cadence(5).is_err());
        assert!(check_cadence(60 * 25).is_err());
    }

    #[test]
    fn a_missing_translation_falls_back_to_the_original() {
        let post = Post {
            seq: 1,
            created_at: datetime!(2026-11-22 10:00 UTC),
            post_type: PostType::Regular,
            language: Language::English,
            body_html: "<p>Investigating</p>".into(),
            translations: [(Language::Dutch, "<p>Onderzoek</p>".to_owned())]
                .into_iter()
                .collect(),
            status: Status::Investigating,
            new_cadence: None,
            author: "ops@provider.example".into(),
        };
        assert_eq!(post.body_in(Language::Dutch), "<p>Onderzoek</p>");
        assert_eq!(post.body_in(Language::Korean), "<p>Investigating</p>");
        assert_eq!(on_time_share(0, 0), 100.0);
        assert_eq!(on_time_share(4, 3), 75.0);
    }
}
