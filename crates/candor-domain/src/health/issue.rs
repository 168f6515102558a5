//! Issues (incidents and advisories) and their posts, with the Graph fields, the
//! update cadence and the "updates on time" figure.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::{transition, Move, Scope, ServiceId, Status, TransitionError};
use crate::identity::InvalidValue;
use crate::language::Language;

/// An issue id: the service's two-letter prefix and a number, e.g. `EX123456`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct IssueId(String);

/// Read back through `parse`, so a stored id is checked like a typed one.
impl<'de> serde::Deserialize<'de> for IssueId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<IssueId, D::Error> {
        let s = String::deserialize(d)?;
        IssueId::parse(&s).map_err(serde::de::Error::custom)
    }
}

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

/// A post as its author wrote it, checked and sanitized; the issue gives it its number,
/// time and status when the change is applied.
#[derive(Debug, Clone, PartialEq)]
pub struct PostDraft {
    pub post_type: PostType,
    pub language: Language,
    pub body_html: String,
    pub translations: BTreeMap<Language, String>,
    pub author: String,
}

/// One change an operator asks of an issue: any of a status, a title, an impact
/// description, a cadence, and (usually) a post.
#[derive(Debug, Clone, PartialEq)]
pub struct IssueChange {
    /// An ordinary update, or an explicit reopening.
    pub how: Move,
    pub status: Option<Status>,
    pub title: Option<String>,
    pub impact_description: Option<String>,
    pub cadence: Option<Duration>,
    pub post: Option<PostDraft>,
}

/// An issue after a change, with the post the change made.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub issue: Issue,
    pub post: Option<Post>,
    /// The cadence the post announces, when the change set a different one.
    pub new_cadence: Option<Duration>,
}

/// Why a change cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeRefused {
    /// Something the change must carry is missing (a post to say why, say).
    #[error("{0}")]
    Invalid(#[from] InvalidValue),
    /// The status cannot move that way from where the issue is.
    #[error("{0}")]
    Transition(#[from] TransitionError),
}

impl Issue {
    /// Applies `change` at `now` to an issue that has `posts` posts so far. The rules:
    ///
    /// - A status change follows the status machine; reopening is explicit and needs a
    ///   post saying why; a new cadence is announced in a post.
    /// - Resolving sets the end time, reopening clears it.
    /// - Each post is numbered after the last, counts as an update, and counts as on time
    ///   when it came before the deadline it answered.
    /// - The clock to the next update restarts with each post and each status change; a
    ///   resolved issue owes none.
    pub fn apply(
        &self,
        change: IssueChange,
        posts: i64,
        now: OffsetDateTime,
    ) -> Result<Applied, ChangeRefused> {
        let how = change.how;
        let status = change.status.unwrap_or(self.status);
        if status != self.status || how == Move::Reopen {
            transition(self.status, status, how)?;
        }
        let new_cadence = change.cadence.filter(|c| *c != self.cadence);
        if change.post.is_none() {
            if how == Move::Reopen {
                return Err(InvalidValue::new("post", "say why the issue is reopened").into());
            }
            if new_cadence.is_some() {
                return Err(
                    InvalidValue::new("post", "a new cadence is announced in a post").into(),
                );
            }
        }
        let mut issue = self.clone();
        issue.status = status;
        if let Some(t) = change.title {
            issue.title = t;
        }
        if let Some(t) = change.impact_description {
            issue.impact_description = t;
        }
        if let Some(c) = new_cadence {
            issue.cadence = c;
        }
        if status.is_resolved() && !self.status.is_resolved() {
            issue.end = Some(now);
        }
        if how == Move::Reopen {
            issue.end = None;
        }
        let post = change.post.map(|draft| {
            issue.updates_total += 1;
            if on_time(self.next_update_due, now) {
                issue.updates_on_time += 1;
            }
            Post {
                seq: posts + 1,
                created_at: now,
                post_type: draft.post_type,
                language: draft.language,
                body_html: draft.body_html,
                translations: draft.translations,
                status,
                new_cadence,
                author: draft.author,
            }
        });
        issue.next_update_due = if post.is_some() || status != self.status {
            next_due(issue.classification, status, issue.cadence, now)
        } else if status.is_resolved() {
            None
        } else {
            self.next_update_due
        };
        issue.last_modified = now;
        Ok(Applied {
            issue,
            post,
            new_cadence,
        })
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

    fn incident(now: OffsetDateTime) -> Issue {
        Issue {
            id: IssueId::new("EX", 100_000),
            service: ServiceId::parse("exchange").unwrap_or_else(|e| panic!("{e}")),
            classification: Classification::Incident,
            origin: Origin::Provider,
            feature: None,
            feature_group: None,
            title: "Mail delayed".into(),
            impact_description: "Some mail is delayed.".into(),
            status: Status::Investigating,
            start: now,
            end: None,
            last_modified: now,
            details: BTreeMap::new(),
            scope: Scope::default(),
            cadence: DEFAULT_CADENCE,
            next_update_due: next_due(
                Classification::Incident,
                Status::Investigating,
                DEFAULT_CADENCE,
                now,
            ),
            owner: None,
            updates_total: 0,
            updates_on_time: 0,
        }
    }

    fn draft(text: &str) -> PostDraft {
        PostDraft {
            post_type: PostType::Regular,
            language: Language::English,
            body_html: format!("<p>{text}</p>"),
            translations: BTreeMap::new(),
            author: "ops@provider.example".into(),
        }
    }

    fn change(status: Option<Status>, post: Option<PostDraft>) -> IssueChange {
        IssueChange {
            how: Move::Update,
            status,
            title: None,
            impact_description: None,
            cadence: None,
            post,
        }
    }

    #[test]
    fn a_post_is_numbered_counted_and_restarts_the_clock() {
        let t = datetime!(2026-11-22 10:00 UTC);
        let issue = incident(t);
        let later = t + Duration::minutes(50);
        let done = issue
            .apply(change(None, Some(draft("still looking"))), 1, later)
            .unwrap_or_else(|e| panic!("{e}"));
        let post = done.post.unwrap_or_else(|| panic!("a post"));
        assert_eq!(post.seq, 2);
        assert_eq!(post.created_at, later);
        assert_eq!(post.status, Status::Investigating);
        assert_eq!(done.issue.updates_total, 1);
        assert_eq!(done.issue.updates_on_time, 1);
        assert_eq!(done.issue.next_update_due, Some(later + DEFAULT_CADENCE));
        assert_eq!(done.issue.last_modified, later);

        // Late: counted, not on time.
        let late = later + Duration::minutes(61);
        let again = done
            .issue
            .apply(change(None, Some(draft("found it"))), 2, late)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.issue.updates_total, 2);
        assert_eq!(again.issue.updates_on_time, 1);
    }

    #[test]
    fn resolving_ends_the_issue_and_the_clock_and_reopening_needs_a_reason() {
        let t = datetime!(2026-11-22 10:00 UTC);
        let resolved = incident(t)
            .apply(
                change(Some(Status::ServiceRestored), Some(draft("fixed"))),
                1,
                t + Duration::minutes(30),
            )
            .unwrap_or_else(|e| panic!("{e}"))
            .issue;
        assert_eq!(resolved.end, Some(t + Duration::minutes(30)));
        assert_eq!(resolved.next_update_due, None);

        let plain = resolved.apply(
            change(Some(Status::Investigating), Some(draft("back"))),
            2,
            t,
        );
        assert!(
            matches!(plain, Err(ChangeRefused::Transition(_))),
            "{plain:?}"
        );

        let mut reopen = change(Some(Status::Investigating), None);
        reopen.how = Move::Reopen;
        assert!(matches!(
            resolved.apply(reopen.clone(), 2, t),
            Err(ChangeRefused::Invalid(v)) if v.field == "post"
        ));
        reopen.post = Some(draft("it is back"));
        let reopened = resolved
            .apply(reopen, 2, t + Duration::hours(2))
            .unwrap_or_else(|e| panic!("{e}"))
            .issue;
        assert_eq!(reopened.end, None);
        assert_eq!(
            reopened.next_update_due,
            Some(t + Duration::hours(2) + DEFAULT_CADENCE)
        );
    }

    #[test]
    fn a_new_cadence_is_announced_in_a_post() {
        let t = datetime!(2026-11-22 10:00 UTC);
        let issue = incident(t);
        let mut c = change(None, None);
        c.cadence = Some(Duration::minutes(30));
        assert!(matches!(
            issue.apply(c.clone(), 1, t),
            Err(ChangeRefused::Invalid(_))
        ));
        c.post = Some(draft("every half hour now"));
        let done = issue.apply(c, 1, t).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(done.new_cadence, Some(Duration::minutes(30)));
        assert_eq!(
            done.post.map(|p| p.new_cadence),
            Some(Some(Duration::minutes(30)))
        );
        assert_eq!(done.issue.next_update_due, Some(t + Duration::minutes(30)));
        // The same cadence again is no new cadence.
        let mut same = change(None, None);
        same.cadence = Some(DEFAULT_CADENCE);
        assert_eq!(issue.apply(same, 1, t).map(|a| a.new_cadence), Ok(None));
    }

    #[test]
    fn a_change_without_a_post_keeps_the_deadline() {
        let t = datetime!(2026-11-22 10:00 UTC);
        let issue = incident(t);
        let mut c = change(None, None);
        c.title = Some("Mail delayed in Europe".into());
        let done = issue
            .apply(c, 1, t + Duration::minutes(5))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(done.issue.title, "Mail delayed in Europe");
        assert_eq!(done.issue.next_update_due, issue.next_update_due);
        assert_eq!(done.issue.updates_total, 0);
        assert!(done.post.is_none());
    }

    proptest::proptest! {
        /// Whatever sequence of changes arrives, at whatever times: on-time updates never
        /// exceed updates, posts are numbered one after another, a resolved issue has an
        /// end and owes no update, an active incident owes one, and a refused change
        /// leaves nothing changed (the caller keeps the issue it had).
        #[test]
        fn any_sequence_of_changes_keeps_the_issue_consistent(
            steps in proptest::collection::vec(
                (0usize..17, proptest::bool::ANY, proptest::bool::ANY, 0i64..180, proptest::option::of(15i64..120)),
                1..40,
            )
        ) {
            let t0 = datetime!(2026-11-22 10:00 UTC);
            let mut issue = incident(t0);
            let mut posts = 1i64;
            let mut now = t0;
            for (status, with_post, reopen, minutes, cadence) in steps {
                now += Duration::minutes(minutes);
                let c = IssueChange {
                    how: if reopen { Move::Reopen } else { Move::Update },
                    status: Some(Status::ALL[status]),
                    title: None,
                    impact_description: None,
                    cadence: cadence.map(Duration::minutes),
                    post: with_post.then(|| draft("update")),
                };
                let Ok(done) = issue.apply(c, posts, now) else { continue };
                if let Some(p) = &done.post {
                    proptest::prop_assert_eq!(p.seq, posts + 1);
                    posts += 1;
                }
                let i = &done.issue;
                proptest::prop_assert!(i.updates_on_time <= i.updates_total);
                proptest::prop_assert_eq!(i.updates_total, posts - 1);
                proptest::prop_assert_eq!(i.last_modified, now);
                if i.status.is_resolved() {
                    proptest::prop_assert!(i.end.is_some());
                    proptest::prop_assert!(i.next_update_due.is_none());
                } else {
                    proptest::prop_assert!(i.end.is_none());
                    proptest::prop_assert!(i.next_update_due.is_some());
                }
                issue = done.issue;
            }
        }
    }
}
