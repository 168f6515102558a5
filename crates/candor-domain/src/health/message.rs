//! Message Center: announcements of planned change (`MC123456`), targeted by service use,
//! region or named tenants, with attachments and a per-user viewpoint.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{scope_components, ComponentId, Scope, ServiceId, TopologyIndex};
use crate::identity::{InvalidValue, RegionCode};
use crate::language::Language;
use crate::TenantId;

/// A message id: `MC` and a number, e.g. `MC123456`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct MessageId(String);

/// Read back through `parse`, so a stored id is checked like a typed one.
impl<'de> serde::Deserialize<'de> for MessageId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<MessageId, D::Error> {
        let s = String::deserialize(d)?;
        MessageId::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl MessageId {
    pub fn new(number: i64) -> MessageId {
        MessageId(format!("MC{number}"))
    }

    /// Accepts `mc123` as well as `MC123`: people type ids from emails.
    pub fn parse(s: &str) -> Result<MessageId, InvalidValue> {
        let s = s.trim();
        let ok = s.len() >= 3
            && s.len() <= 16
            && s.is_char_boundary(2)
            && s[..2].eq_ignore_ascii_case("MC")
            && s[2..].chars().all(|c| c.is_ascii_digit());
        if ok {
            Ok(MessageId(format!("MC{}", &s[2..])))
        } else {
            Err(InvalidValue::new(
                "message id",
                format!(
                    "`{}` is not a message id such as MC123456",
                    s.chars().take(20).collect::<String>()
                ),
            ))
        }
    }

    pub fn from_trusted(s: impl Into<String>) -> MessageId {
        MessageId(s.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

wire_enum!(Category, "category", [
    PreventOrFixIssue => "preventOrFixIssue",
    PlanForChange => "planForChange",
    StayInformed => "stayInformed",
]);
wire_enum!(Severity, "severity", [Normal => "normal", High => "high", Critical => "critical"]);

/// Who a message is for. Unless `named_tenants_only`, every tenant using one of the
/// message's services is reached (only in `regions`, when any are named); tenants in
/// `tenants` always are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Audience {
    pub regions: BTreeSet<RegionCode>,
    pub tenants: BTreeSet<TenantId>,
    pub named_tenants_only: bool,
}

impl Audience {
    pub fn check(&self) -> Result<(), InvalidValue> {
        if self.named_tenants_only && self.tenants.is_empty() {
            return Err(InvalidValue::new(
                "audience",
                "name at least one tenant, or reach tenants by the services they use",
            ));
        }
        if self.named_tenants_only && !self.regions.is_empty() {
            return Err(InvalidValue::new(
                "audience",
                "regions narrow a service audience; they have no effect when only named tenants are reached",
            ));
        }
        Ok(())
    }
}

/// The components whose tenants a message reaches, by service use and region.
pub fn audience_components(
    audience: &Audience,
    services: &BTreeSet<ServiceId>,
    index: &TopologyIndex,
) -> BTreeSet<ComponentId> {
    if audience.named_tenants_only || services.is_empty() {
        return BTreeSet::new();
    }
    let scope = Scope {
        regions: audience.regions.clone(),
        services: services.clone(),
        ..Scope::default()
    };
    // `scope_components` falls back to the issue's service when the scope names none;
    // a message always names its services, so any of them will do as that fallback.
    match services.iter().next() {
        Some(first) => scope_components(&scope, first, index),
        None => BTreeSet::new(),
    }
}

/// A message's title and body in one language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageText {
    pub title: String,
    pub body_html: String,
}

/// An attached file's description; the bytes are stored beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub id: Uuid,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub last_modified: OffsetDateTime,
}

/// A Message Center message as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: MessageId,
    pub title: String,
    pub body_html: String,
    pub language: Language,
    pub translations: BTreeMap<Language, MessageText>,
    pub category: Category,
    pub severity: Severity,
    pub services: BTreeSet<ServiceId>,
    pub tags: Vec<String>,
    pub is_major_change: bool,
    pub action_required_by: Option<OffsetDateTime>,
    pub start: OffsetDateTime,
    pub end: Option<OffsetDateTime>,
    pub last_modified: OffsetDateTime,
    /// Graph's `details` key/value pairs (e.g. `ExternalLink`).
    pub details: BTreeMap<String, String>,
    pub audience: Audience,
    pub attachments: Vec<Attachment>,
    pub author: String,
}

impl Message {
    /// The title and body in `lang`, falling back to the original.
    pub fn text_in(&self, lang: Language) -> (&str, &str) {
        match self.translations.get(&lang) {
            Some(t) => (&t.title, &t.body_html),
            None => (&self.title, &self.body_html),
        }
    }
}

/// A change to a published message, its values already checked. `None` leaves a field
/// as it is; `Some(None)` clears an optional date.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageChange {
    pub title: Option<String>,
    pub body_html: Option<String>,
    pub translations: Option<BTreeMap<Language, MessageText>>,
    pub severity: Option<Severity>,
    pub tags: Option<Vec<String>>,
    pub action_required_by: Option<Option<OffsetDateTime>>,
    pub end: Option<Option<OffsetDateTime>>,
    pub audience: Option<Audience>,
}

/// A message after a change, with the names (as Graph spells them) of what changed.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangedMessage {
    pub message: Message,
    pub changed: Vec<&'static str>,
    /// The audience changed: the message may reach more tenants (never fewer).
    pub audience_changed: bool,
}

/// Why a change to a message cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageChangeRefused {
    #[error("the update changes nothing; send at least one field")]
    Nothing,
    #[error("{0}")]
    Invalid(#[from] InvalidValue),
}

/// A message's dates in order: it ends, and asks for action, no earlier than it starts.
pub fn check_dates(
    start: OffsetDateTime,
    end: Option<OffsetDateTime>,
    action_by: Option<OffsetDateTime>,
) -> Result<(), InvalidValue> {
    if end.is_some_and(|e| e < start) {
        return Err(InvalidValue::new(
            "end",
            "the message cannot end before it starts",
        ));
    }
    if action_by.is_some_and(|a| a < start) {
        return Err(InvalidValue::new(
            "action required by",
            "the deadline cannot fall before the message starts",
        ));
    }
    Ok(())
}

impl Message {
    /// Applies `change` at `now`. A change must change something; the dates stay in
    /// order; each change tags the message "Updated message" (readers filter on it) and
    /// moves its last-modified time strictly forward, so a reader polling by it never
    /// misses the change even within one clock tick.
    pub fn apply(
        &self,
        change: MessageChange,
        now: OffsetDateTime,
    ) -> Result<ChangedMessage, MessageChangeRefused> {
        let mut m = self.clone();
        let mut changed = Vec::new();
        if let Some(t) = change.title {
            m.title = t;
            changed.push("title");
        }
        if let Some(b) = change.body_html {
            m.body_html = b;
            changed.push("body");
        }
        if let Some(t) = change.translations {
            m.translations = t;
            changed.push("translations");
        }
        if let Some(s) = change.severity {
            m.severity = s;
            changed.push("severity");
        }
        if let Some(t) = change.tags {
            m.tags = t;
            changed.push("tags");
        }
        if let Some(a) = change.action_required_by {
            m.action_required_by = a;
            changed.push("actionRequiredByDateTime");
        }
        if let Some(e) = change.end {
            m.end = e;
            changed.push("endDateTime");
        }
        let audience_changed = change.audience.is_some();
        if let Some(a) = change.audience {
            m.audience = a;
            changed.push("audience");
        }
        if changed.is_empty() {
            return Err(MessageChangeRefused::Nothing);
        }
        check_dates(m.start, m.end, m.action_required_by)?;
        m.last_modified = now.max(self.last_modified + time::Duration::microseconds(1));
        if !m.tags.iter().any(|t| t.eq_ignore_ascii_case(UPDATED_TAG)) {
            m.tags.insert(0, UPDATED_TAG.to_owned());
        }
        Ok(ChangedMessage {
            message: m,
            changed,
            audience_changed,
        })
    }
}

/// Tags Message Center readers filter on; others may be used freely.
pub const KNOWN_TAGS: &[&str] = &[
    "Updated message",
    "New feature",
    "Feature update",
    "Retirement",
    "User impact",
    "Admin impact",
    "Action required",
    "Data privacy",
];
/// Added to a message whenever it is changed after publishing.
pub const UPDATED_TAG: &str = "Updated message";

/// Cleans tags: trimmed, 1–50 characters, at most 12, no duplicates (ignoring case).
pub fn check_tags(tags: &[String]) -> Result<Vec<String>, InvalidValue> {
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        let t = t.trim();
        if t.is_empty() {
            continue;
        }
        if t.chars().count() > 50 {
            return Err(InvalidValue::new(
                "tags",
                format!(
                    "`{}…` is longer than 50 characters",
                    t.chars().take(20).collect::<String>()
                ),
            ));
        }
        if !out.iter().any(|o| o.eq_ignore_ascii_case(t)) {
            out.push(t.to_owned());
        }
    }
    if out.len() > 12 {
        return Err(InvalidValue::new("tags", "a message has at most 12 tags"));
    }
    Ok(out)
}

/// Largest attachment accepted, and most attachments per message.
pub const MAX_ATTACHMENT_BYTES: usize = 5 * 1024 * 1024;
pub const MAX_ATTACHMENTS: usize = 10;

/// What may be attached: documents and images readers can open safely. Nothing that a
/// browser would run, and nothing whose bytes contradict its declared type.
pub const ATTACHMENT_TYPES: &[(&str, &[&str])] = &[
    ("application/pdf", &["pdf"]),
    ("image/png", &["png"]),
    ("image/jpeg", &["jpg", "jpeg"]),
    ("image/gif", &["gif"]),
    ("text/plain", &["txt", "log"]),
    ("text/csv", &["csv"]),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        &["docx"],
    ),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        &["xlsx"],
    ),
    (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        &["pptx"],
    ),
];

/// Checks an upload and returns its canonical content type. The declared type may be
/// empty or generic (`application/octet-stream`), in which case the file name decides;
/// either way the bytes must agree with the type.
pub fn check_attachment(
    name: &str,
    declared_type: &str,
    bytes: &[u8],
) -> Result<String, InvalidValue> {
    let bad = |m: String| Err(InvalidValue::new("attachment", m));
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return bad("an attachment needs a file name of 1 to 200 characters".into());
    }
    if name
        .chars()
        .any(|c| c.is_control() || c == '/' || c == '\\')
    {
        return bad(format!("`{name}` is not a plain file name"));
    }
    if bytes.is_empty() {
        return bad(format!("{name} is empty"));
    }
    if bytes.len() > MAX_ATTACHMENT_BYTES {
        return bad(format!(
            "{name} is {} bytes; attachments may be at most {} MiB",
            bytes.len(),
            MAX_ATTACHMENT_BYTES / (1024 * 1024)
        ));
    }
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let declared = declared_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let declared = match declared.as_str() {
        "application/csv" => "text/csv".to_owned(),
        other => other.to_owned(),
    };
    let by_name = ATTACHMENT_TYPES
        .iter()
        .find(|(_, exts)| exts.contains(&ext.as_str()))
        .map(|(t, _)| *t);
    let content_type = if declared.is_empty() || declared == "application/octet-stream" {
        match by_name {
            Some(t) => t,
            None => {
                return bad(format!(
                    "{name}: only PDF, PNG, JPEG, GIF, text, CSV and Office (docx, xlsx, pptx) files may be attached"
                ))
            }
        }
    } else {
        match ATTACHMENT_TYPES.iter().find(|(t, _)| *t == declared) {
            Some((t, _)) => t,
            None => {
                return bad(format!(
                    "{name}: content type {declared} may not be attached; use PDF, PNG, JPEG, GIF, text, CSV or Office (docx, xlsx, pptx)"
                ))
            }
        }
    };
    if content_type.starts_with("text/") {
        match std::str::from_utf8(bytes) {
            Ok(text) if !text.contains('\0') => {}
            _ => {
                return bad(format!(
                    "{name} is declared as {content_type} but is not UTF-8 text"
                ))
            }
        }
    } else {
        let sniffed = infer::get(bytes).map(|k| k.mime_type());
        if sniffed != Some(content_type) {
            return bad(format!(
                "{name} is declared as {content_type} but its contents are {}",
                sniffed.unwrap_or("not a recognised file type")
            ));
        }
    }
    Ok(content_type.to_owned())
}

/// One user's view of one message. Absent flags read as false.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewpoint {
    pub is_read: bool,
    pub is_archived: bool,
    pub is_favorited: bool,
}

/// The six Graph viewpoint actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewpointChange {
    MarkRead,
    MarkUnread,
    Archive,
    Unarchive,
    Favorite,
    Unfavorite,
}

impl ViewpointChange {
    pub const ALL: &'static [ViewpointChange] = &[
        ViewpointChange::MarkRead,
        ViewpointChange::MarkUnread,
        ViewpointChange::Archive,
        ViewpointChange::Unarchive,
        ViewpointChange::Favorite,
        ViewpointChange::Unfavorite,
    ];

    /// The Graph action name, e.g. `markRead`.
    pub fn action_name(self) -> &'static str {
        match self {
            ViewpointChange::MarkRead => "markRead",
            ViewpointChange::MarkUnread => "markUnread",
            ViewpointChange::Archive => "archive",
            ViewpointChange::Unarchive => "unarchive",
            ViewpointChange::Favorite => "favorite",
            ViewpointChange::Unfavorite => "unfavorite",
        }
    }

    /// Accepts `markRead` and `microsoft.graph.markRead`, in any case.
    pub fn from_action(s: &str) -> Option<ViewpointChange> {
        let s = s.strip_prefix("microsoft.graph.").unwrap_or(s);
        ViewpointChange::ALL
            .iter()
            .copied()
            .find(|c| c.action_name().eq_ignore_ascii_case(s))
    }

    /// Which flag the change sets, and to what: `("read", true)` for markRead.
    pub fn flag(self) -> (&'static str, bool) {
        match self {
            ViewpointChange::MarkRead => ("read", true),
            ViewpointChange::MarkUnread => ("read", false),
            ViewpointChange::Archive => ("archived", true),
            ViewpointChange::Unarchive => ("archived", false),
            ViewpointChange::Favorite => ("favorited", true),
            ViewpointChange::Unfavorite => ("favorited", false),
        }
    }

    pub fn apply(self, v: Viewpoint) -> Viewpoint {
        match self {
            ViewpointChange::MarkRead => Viewpoint { is_read: true, ..v },
            ViewpointChange::MarkUnread => Viewpoint {
                is_read: false,
                ..v
            },
            ViewpointChange::Archive => Viewpoint {
                is_archived: true,
                ..v
            },
            ViewpointChange::Unarchive => Viewpoint {
                is_archived: false,
                ..v
            },
            ViewpointChange::Favorite => Viewpoint {
                is_favorited: true,
                ..v
            },
            ViewpointChange::Unfavorite => Viewpoint {
                is_favorited: false,
                ..v
            },
        }
    }
}

impl FromStr for ViewpointChange {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ViewpointChange::from_action(s.trim()).ok_or_else(|| {
            InvalidValue::new(
                "viewpoint change",
                format!(
                    "`{}` is not one of markRead, markUnread, archive, unarchive, favorite, unfavorite",
                    s.chars().take(30).collect::<String>()
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{Component, ScaleUnit, ScaleUnitId};
    use time::macros::datetime;

    #[test]
    fn message_ids_are_normalised_and_checked() {
        assert_eq!(MessageId::parse(" mc123456 ").unwrap().as_str(), "MC123456");
        for bad in ["", "MC", "EX123", "MC12a", "MCé1", "MC12345678901234567"] {
            assert!(MessageId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn enums_parse_case_insensitively_and_print_camel_case() {
        assert_eq!(
            "PlanForChange".parse::<Category>().unwrap(),
            Category::PlanForChange
        );
        assert_eq!(Category::PreventOrFixIssue.as_str(), "preventOrFixIssue");
        assert_eq!("CRITICAL".parse::<Severity>().unwrap(), Severity::Critical);
        let e = "urgent".parse::<Severity>().unwrap_err();
        assert!(e.to_string().contains("normal, high, critical"), "{e}");
    }

    #[test]
    fn viewpoint_changes_touch_only_their_flag() {
        let start = Viewpoint {
            is_read: true,
            is_archived: false,
            is_favorited: true,
        };
        assert_eq!(
            ViewpointChange::Archive.apply(start),
            Viewpoint {
                is_archived: true,
                ..start
            }
        );
        assert_eq!(
            ViewpointChange::MarkUnread.apply(start),
            Viewpoint {
                is_read: false,
                ..start
            }
        );
        for c in ViewpointChange::ALL {
            assert_eq!(ViewpointChange::from_action(c.action_name()), Some(*c));
            assert_eq!(
                ViewpointChange::from_action(&format!("microsoft.graph.{}", c.action_name())),
                Some(*c)
            );
        }
        assert!("delete".parse::<ViewpointChange>().is_err());
    }

    #[test]
    fn tags_are_trimmed_deduplicated_and_bounded() {
        let tags = check_tags(&[
            " User impact ".into(),
            "user impact".into(),
            "".into(),
            "Retirement".into(),
        ])
        .unwrap();
        assert_eq!(
            tags,
            vec!["User impact".to_owned(), "Retirement".to_owned()]
        );
        assert!(check_tags(&["x".repeat(51)]).is_err());
        let many: Vec<String> = (0..13).map(|i| format!("t{i}")).collect();
        assert!(check_tags(&many).is_err());
    }

    const PNG: &[u8] = &[
        0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0,
    ];

    #[test]
    fn attachments_must_be_allowed_types_whose_bytes_agree() {
        assert_eq!(
            check_attachment("chart.png", "image/png", PNG).unwrap(),
            "image/png"
        );
        assert_eq!(
            check_attachment("chart.png", "application/octet-stream", PNG).unwrap(),
            "image/png"
        );
        assert_eq!(
            check_attachment("list.csv", "application/csv", b"tenant,count\na,1\n").unwrap(),
            "text/csv"
        );
        assert_eq!(
            check_attachment("plan.pdf", "", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj").unwrap(),
            "application/pdf"
        );
        // A script renamed, a lying type, HTML, binary posing as text, empty and too big.
        let refused = [
            check_attachment("run.exe", "", b"MZ\x90\0"),
            check_attachment("chart.png", "image/png", b"%PDF-1.7\n"),
            check_attachment("page.html", "text/html", b"<script>alert(1)</script>"),
            check_attachment("notes.txt", "text/plain", b"\0\x01\x02"),
            check_attachment("a.txt", "text/plain", b""),
            check_attachment("../a.txt", "text/plain", b"x"),
            check_attachment(
                "big.txt",
                "text/plain",
                &vec![b'a'; MAX_ATTACHMENT_BYTES + 1],
            ),
        ];
        for r in refused {
            let e = r.unwrap_err();
            assert_eq!(e.field, "attachment");
        }
        let e = check_attachment("chart.png", "image/png", b"%PDF-1.7\n").unwrap_err();
        assert!(e.to_string().contains("application/pdf"), "{e}");
    }

    fn region(s: &str) -> RegionCode {
        RegionCode::from_trusted(s)
    }

    fn index() -> TopologyIndex {
        let regions = vec![region("eu"), region("us")];
        let sus = vec![
            ScaleUnit {
                id: ScaleUnitId::from_trusted("eu-1"),
                region: region("eu"),
            },
            ScaleUnit {
                id: ScaleUnitId::from_trusted("us-1"),
                region: region("us"),
            },
        ];
        let comp = |id: &str, su: &str, svc: &[&str]| Component {
            id: ComponentId::from_trusted(id),
            scale_unit: ScaleUnitId::from_trusted(su),
            services: svc.iter().map(|s| ServiceId::from_trusted(*s)).collect(),
        };
        let comps = vec![
            comp("eu-mail", "eu-1", &["Exchange"]),
            comp("eu-files", "eu-1", &["SharePoint"]),
            comp("us-mail", "us-1", &["Exchange"]),
        ];
        TopologyIndex::new(&regions, &sus, &comps)
    }

    #[test]
    fn audience_reaches_service_users_narrowed_by_region() {
        let idx = index();
        let exchange: BTreeSet<ServiceId> = [ServiceId::from_trusted("Exchange")].into();
        let everywhere = audience_components(&Audience::default(), &exchange, &idx);
        let names: Vec<&str> = everywhere.iter().map(|c| c.as_str()).collect();
        assert_eq!(names, vec!["eu-mail", "us-mail"]);
        let eu_only = Audience {
            regions: [region("eu")].into(),
            ..Audience::default()
        };
        let names: Vec<String> = audience_components(&eu_only, &exchange, &idx)
            .into_iter()
            .map(|c| c.as_str().to_owned())
            .collect();
        assert_eq!(names, vec!["eu-mail".to_owned()]);
        let named = Audience {
            tenants: [TenantId::generate()].into(),
            named_tenants_only: true,
            ..Audience::default()
        };
        assert!(audience_components(&named, &exchange, &idx).is_empty());
        assert!(named.check().is_ok());
        assert!(Audience {
            named_tenants_only: true,
            ..Audience::default()
        }
        .check()
        .is_err());
    }

    fn published(at: OffsetDateTime) -> Message {
        Message {
            id: MessageId::new(100_001),
            title: "Retiring basic auth".into(),
            body_html: "<p>Basic auth ends.</p>".into(),
            language: Language::English,
            translations: BTreeMap::new(),
            category: Category::PlanForChange,
            severity: Severity::Normal,
            services: BTreeSet::new(),
            tags: vec!["Retirement".into()],
            is_major_change: false,
            action_required_by: None,
            start: at,
            end: None,
            last_modified: at,
            details: BTreeMap::new(),
            audience: Audience::default(),
            attachments: Vec::new(),
            author: "ops@provider.example".into(),
        }
    }

    #[test]
    fn a_change_is_tagged_updated_and_moves_last_modified_forward() {
        let t = datetime!(2026-11-22 10:00 UTC);
        let m = published(t);
        let done = m
            .apply(
                MessageChange {
                    title: Some("Retiring basic auth in March".into()),
                    ..MessageChange::default()
                },
                t,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(done.changed, vec!["title"]);
        assert!(!done.audience_changed);
        assert_eq!(
            done.message.tags,
            vec![UPDATED_TAG.to_owned(), "Retirement".into()]
        );
        assert!(
            done.message.last_modified > m.last_modified,
            "same tick, still later"
        );
        // Tagged once only.
        let again = done
            .message
            .apply(
                MessageChange {
                    end: Some(Some(t + time::Duration::days(30))),
                    ..MessageChange::default()
                },
                t + time::Duration::minutes(1),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            again
                .message
                .tags
                .iter()
                .filter(|t| *t == UPDATED_TAG)
                .count(),
            1
        );
        assert_eq!(again.message.last_modified, t + time::Duration::minutes(1));
    }

    #[test]
    fn a_change_must_change_something_and_keep_the_dates_in_order() {
        let t = datetime!(2026-11-22 10:00 UTC);
        let m = published(t);
        assert_eq!(
            m.apply(MessageChange::default(), t),
            Err(MessageChangeRefused::Nothing)
        );
        let early = m.apply(
            MessageChange {
                end: Some(Some(t - time::Duration::days(1))),
                ..MessageChange::default()
            },
            t,
        );
        assert!(matches!(early, Err(MessageChangeRefused::Invalid(v)) if v.field == "end"));
        let widened = m
            .apply(
                MessageChange {
                    audience: Some(Audience::default()),
                    ..MessageChange::default()
                },
                t,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(widened.audience_changed);
        assert_eq!(widened.changed, vec!["audience"]);
    }
}
