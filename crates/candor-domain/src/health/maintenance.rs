//! Planned maintenance: an operator schedules work on some services, for a scope (the
//! same scope model and targeting as issues), in a window. It moves on its own at the
//! window's start and end (`Maintenance::tick`, on the clock it is given), can be started
//! early, extended, completed early or cancelled by hand, and tells its tenants when it
//! is scheduled, a while before it starts, at start and at completion: each of those
//! notices exactly once, however often and in whatever order the clock is read.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::availability::{Impact, Span};
use super::catalog::ServiceId;
use super::message::MessageId;
use super::scope::Scope;
use crate::identity::InvalidValue;
use crate::language::Language;

/// How long before its start a maintenance reminds its tenants, unless told otherwise.
pub const DEFAULT_REMINDER: Duration = Duration::minutes(60);
/// The longest window one maintenance may have; longer work is several maintenances.
pub const MAX_WINDOW: Duration = Duration::days(7);
/// How far ahead a maintenance may be scheduled.
pub const MAX_AHEAD: Duration = Duration::days(366);

wire_enum!(MaintenanceState, "state", [
    Scheduled => "scheduled",
    InProgress => "inProgress",
    Completed => "completed",
    Cancelled => "cancelled",
]);

impl MaintenanceState {
    pub fn is_over(self) -> bool {
        matches!(
            self,
            MaintenanceState::Completed | MaintenanceState::Cancelled
        )
    }
}

// What tenants should expect during the window: nothing noticeable, slower or some
// features off, or the services not available.
wire_enum!(ExpectedImpact, "impact", [
    None => "none",
    Degraded => "degraded",
    Unavailable => "unavailable",
]);

// What the tenants of a maintenance are told, each once: that it is scheduled, a
// reminder a while before the start, that it started, that its end moved later, that it
// completed, that it is cancelled.
wire_enum!(MaintenanceNotice, "notice", [
    Scheduled => "scheduled",
    Reminder => "reminder",
    Started => "started",
    Extended => "extended",
    Completed => "completed",
    Cancelled => "cancelled",
]);

/// What is wrong with a maintenance or a change to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaintenanceError {
    #[error("the window must end after it starts")]
    EmptyWindow,
    #[error("a window is at most 7 days; schedule longer work as several maintenances")]
    WindowTooLong,
    #[error("the window must start in the future (within a year)")]
    BadStart,
    #[error("name at least one service")]
    NoService,
    #[error("give a title and a description in at least one language")]
    NoText,
    #[error("a maintenance that is {0:?} cannot be changed")]
    Over(MaintenanceState),
    #[error("only a scheduled maintenance can be started early or rescheduled")]
    NotScheduled,
    #[error("only a maintenance in progress can be completed")]
    NotInProgress,
    #[error("an extension must move the end later")]
    NotLater,
    #[error("the reminder must be between 0 and 7 days before the start")]
    BadReminder,
}

/// A maintenance's window: from `start` to `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
}

impl Window {
    pub fn new(start: OffsetDateTime, end: OffsetDateTime) -> Result<Window, MaintenanceError> {
        if end <= start {
            return Err(MaintenanceError::EmptyWindow);
        }
        if end - start > MAX_WINDOW {
            return Err(MaintenanceError::WindowTooLong);
        }
        Ok(Window { start, end })
    }
}

/// A maintenance as an operator describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMaintenance {
    pub services: BTreeSet<ServiceId>,
    pub scope: Scope,
    /// Title and description by language (up to the five Candor speaks).
    pub text: BTreeMap<Language, (String, String)>,
    pub window: Window,
    pub impact: ExpectedImpact,
    pub reminder: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Maintenance {
    pub services: BTreeSet<ServiceId>,
    pub scope: Scope,
    pub text: BTreeMap<Language, (String, String)>,
    /// As planned, then as changed (extended, started or completed early).
    pub window: Window,
    pub impact: ExpectedImpact,
    pub reminder: Duration,
    pub state: MaintenanceState,
    pub started_at: Option<OffsetDateTime>,
    pub ended_at: Option<OffsetDateTime>,
    /// Every notice given so far.
    pub told: BTreeSet<MaintenanceNotice>,
}

/// A change an operator makes by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaintenanceChange {
    /// Start now, before the window's start.
    StartEarly,
    /// Move the end later (a scheduled or running maintenance).
    Extend { end: OffsetDateTime },
    /// Done before the window's end.
    CompleteEarly,
    /// Not happening (a scheduled one), or stopped (a running one).
    Cancel,
    /// A new window for a maintenance not yet started.
    Reschedule { window: Window },
}

impl Maintenance {
    /// Schedules a maintenance at `now`: it tells its tenants at once.
    pub fn schedule(
        new: NewMaintenance,
        now: OffsetDateTime,
    ) -> Result<(Maintenance, Vec<MaintenanceNotice>), MaintenanceError> {
        if new.services.is_empty() {
            return Err(MaintenanceError::NoService);
        }
        if new.text.is_empty()
            || new
                .text
                .values()
                .any(|(t, d)| t.trim().is_empty() || d.trim().is_empty())
        {
            return Err(MaintenanceError::NoText);
        }
        if new.window.start <= now || new.window.start - now > MAX_AHEAD {
            return Err(MaintenanceError::BadStart);
        }
        if new.reminder < Duration::ZERO || new.reminder > Duration::days(7) {
            return Err(MaintenanceError::BadReminder);
        }
        let mut m = Maintenance {
            services: new.services,
            scope: new.scope,
            text: new.text,
            window: new.window,
            impact: new.impact,
            reminder: new.reminder,
            state: MaintenanceState::Scheduled,
            started_at: None,
            ended_at: None,
            told: BTreeSet::new(),
        };
        let mut notices = m.tell(MaintenanceNotice::Scheduled);
        // A window closer than the reminder: the announcement is the reminder.
        notices.extend(m.tick(now));
        Ok((m, notices))
    }

    fn tell(&mut self, notice: MaintenanceNotice) -> Vec<MaintenanceNotice> {
        if self.told.insert(notice) {
            vec![notice]
        } else {
            Vec::new()
        }
    }

    /// Moves the maintenance along the clock: the reminder when it is due, the start at
    /// the window's start, the completion at its end. Returns what to tell, each notice
    /// once ever; reading the clock again, or late, tells nothing twice.
    pub fn tick(&mut self, now: OffsetDateTime) -> Vec<MaintenanceNotice> {
        let mut out = Vec::new();
        if self.state == MaintenanceState::Scheduled {
            if now >= self.window.start {
                self.state = MaintenanceState::InProgress;
                self.started_at = Some(self.window.start);
                // A reminder that never went out is no longer worth sending.
                self.told.insert(MaintenanceNotice::Reminder);
                out.extend(self.tell(MaintenanceNotice::Started));
            } else if now >= self.window.start - self.reminder {
                out.extend(self.tell(MaintenanceNotice::Reminder));
            }
        }
        if self.state == MaintenanceState::InProgress && now >= self.window.end {
            self.state = MaintenanceState::Completed;
            self.ended_at = Some(self.window.end);
            out.extend(self.tell(MaintenanceNotice::Completed));
        }
        out
    }

    /// Applies an operator's change at `now` (after catching up with the clock).
    pub fn apply(
        &mut self,
        change: MaintenanceChange,
        now: OffsetDateTime,
    ) -> Result<Vec<MaintenanceNotice>, MaintenanceError> {
        let mut out = self.tick(now);
        if self.state.is_over() {
            return Err(MaintenanceError::Over(self.state));
        }
        match change {
            MaintenanceChange::StartEarly => {
                if self.state != MaintenanceState::Scheduled {
                    return Err(MaintenanceError::NotScheduled);
                }
                self.window.start = now;
                out.extend(self.tick(now));
            }
            MaintenanceChange::Extend { end } => {
                if end <= self.window.end || end <= now {
                    return Err(MaintenanceError::NotLater);
                }
                if end - self.window.start > MAX_WINDOW {
                    return Err(MaintenanceError::WindowTooLong);
                }
                self.window.end = end;
                // Told each time the end moves.
                self.told.remove(&MaintenanceNotice::Extended);
                out.extend(self.tell(MaintenanceNotice::Extended));
            }
            MaintenanceChange::CompleteEarly => {
                if self.state != MaintenanceState::InProgress {
                    return Err(MaintenanceError::NotInProgress);
                }
                self.window.end = now;
                out.extend(self.tick(now));
            }
            MaintenanceChange::Cancel => {
                if self.state == MaintenanceState::InProgress {
                    self.ended_at = Some(now);
                }
                self.state = MaintenanceState::Cancelled;
                out.extend(self.tell(MaintenanceNotice::Cancelled));
            }
            MaintenanceChange::Reschedule { window } => {
                if self.state != MaintenanceState::Scheduled {
                    return Err(MaintenanceError::NotScheduled);
                }
                if window.start <= now || window.start - now > MAX_AHEAD {
                    return Err(MaintenanceError::BadStart);
                }
                self.window = window;
                // The new time is news, and so is a reminder before it.
                self.told.remove(&MaintenanceNotice::Scheduled);
                self.told.remove(&MaintenanceNotice::Reminder);
                out.extend(self.tell(MaintenanceNotice::Scheduled));
                out.extend(self.tick(now));
            }
        }
        Ok(out)
    }

    /// The next moment `tick` would do something, if any (for the job that moves it).
    pub fn next_due(&self) -> Option<OffsetDateTime> {
        match self.state {
            MaintenanceState::Scheduled => {
                let remind = self.window.start - self.reminder;
                if self.told.contains(&MaintenanceNotice::Reminder) {
                    Some(self.window.start)
                } else {
                    Some(remind.min(self.window.start))
                }
            }
            MaintenanceState::InProgress => Some(self.window.end),
            MaintenanceState::Completed | MaintenanceState::Cancelled => None,
        }
    }

    /// Whether its services are under maintenance at `now`.
    pub fn is_active(&self, now: OffsetDateTime) -> bool {
        self.state == MaintenanceState::InProgress && now < self.window.end
    }

    /// The time it took (or is taking) for the availability history: maintenance never
    /// counts against availability, it is shown apart.
    pub fn span(&self) -> Option<Span> {
        let start = self.started_at?;
        Some(Span {
            start,
            end: self.ended_at,
            impact: Impact::Maintenance,
        })
    }
}

/// A maintenance's id, `MN` and a number, as people quote it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct MaintenanceId(String);

impl<'de> Deserialize<'de> for MaintenanceId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<MaintenanceId, D::Error> {
        let s = String::deserialize(d)?;
        MaintenanceId::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl MaintenanceId {
    pub fn new(number: i64) -> MaintenanceId {
        MaintenanceId(format!("MN{number}"))
    }

    /// Accepts `mn123` as well as `MN123`.
    pub fn parse(s: &str) -> Result<MaintenanceId, InvalidValue> {
        let s = s.trim();
        let ok = s.len() >= 3
            && s.len() <= 16
            && s.is_char_boundary(2)
            && s[..2].eq_ignore_ascii_case("MN")
            && s[2..].chars().all(|c| c.is_ascii_digit());
        if ok {
            Ok(MaintenanceId(format!("MN{}", &s[2..])))
        } else {
            Err(InvalidValue::new(
                "maintenance",
                format!(
                    "`{}` is not a maintenance id (MN and digits)",
                    s.chars().take(40).collect::<String>()
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MaintenanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A maintenance as stored: with its id, the Message Center message that carries it to
/// its tenants (and so records who it reached), and who scheduled it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledMaintenance {
    pub id: MaintenanceId,
    pub message: MessageId,
    pub maintenance: Maintenance,
    /// Public news: the scope is broad (see `Scope::is_broad`).
    pub broad: bool,
    pub created_by: String,
    pub created_at: OffsetDateTime,
    pub last_modified: OffsetDateTime,
}

impl ScheduledMaintenance {
    /// The title and description in `lang`, else English, else the first it has.
    pub fn text_in(&self, lang: Language) -> (&str, &str) {
        let m = &self.maintenance;
        m.text
            .get(&lang)
            .or_else(|| m.text.get(&Language::English))
            .or_else(|| m.text.values().next())
            .map_or(("", ""), |(t, d)| (t.as_str(), d.as_str()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;
    use MaintenanceNotice as N;

    const NOW: OffsetDateTime = datetime!(2026-12-05 12:00 UTC);

    fn new(start_in: Duration, length: Duration) -> NewMaintenance {
        NewMaintenance {
            services: [ServiceId::parse("Exchange").unwrap()]
                .into_iter()
                .collect(),
            scope: Scope::default(),
            text: [(
                Language::English,
                ("Mailbox upgrade".to_owned(), "Mail may be slow.".to_owned()),
            )]
            .into_iter()
            .collect(),
            window: Window::new(NOW + start_in, NOW + start_in + length).unwrap(),
            impact: ExpectedImpact::Degraded,
            reminder: DEFAULT_REMINDER,
        }
    }

    #[test]
    fn it_moves_on_its_own_and_tells_each_thing_once() {
        let (mut m, told) =
            Maintenance::schedule(new(Duration::hours(3), Duration::hours(2)), NOW).unwrap();
        assert_eq!(told, vec![N::Scheduled]);
        assert_eq!(m.next_due(), Some(NOW + Duration::hours(2)));
        assert!(m.tick(NOW + Duration::minutes(90)).is_empty());
        assert_eq!(m.tick(NOW + Duration::hours(2)), vec![N::Reminder]);
        assert!(m.tick(NOW + Duration::hours(2)).is_empty());
        assert_eq!(m.next_due(), Some(NOW + Duration::hours(3)));
        assert_eq!(m.tick(NOW + Duration::hours(3)), vec![N::Started]);
        assert!(m.is_active(NOW + Duration::hours(4)));
        assert_eq!(m.tick(NOW + Duration::hours(5)), vec![N::Completed]);
        assert_eq!(m.state, MaintenanceState::Completed);
        assert_eq!(m.next_due(), None);
        let span = m.span().unwrap();
        assert_eq!(
            (span.start, span.end),
            (NOW + Duration::hours(3), Some(NOW + Duration::hours(5)))
        );
    }

    #[test]
    fn a_clock_read_late_skips_the_stale_reminder() {
        let (mut m, _) =
            Maintenance::schedule(new(Duration::hours(3), Duration::hours(2)), NOW).unwrap();
        // The job was down from before the reminder until after the end.
        assert_eq!(
            m.tick(NOW + Duration::hours(6)),
            vec![N::Started, N::Completed]
        );
        // Scheduled inside the reminder time: no separate reminder later.
        let (mut soon, told) =
            Maintenance::schedule(new(Duration::minutes(20), Duration::hours(1)), NOW).unwrap();
        assert_eq!(told, vec![N::Scheduled, N::Reminder]);
        assert_eq!(soon.tick(NOW + Duration::minutes(20)), vec![N::Started]);
    }

    #[test]
    fn operators_start_early_extend_complete_early_and_cancel() {
        let (mut m, _) =
            Maintenance::schedule(new(Duration::hours(3), Duration::hours(2)), NOW).unwrap();
        let at = NOW + Duration::hours(1);
        assert_eq!(
            m.apply(MaintenanceChange::StartEarly, at).unwrap(),
            vec![N::Started]
        );
        assert_eq!(m.started_at, Some(at));
        let later = NOW + Duration::hours(6);
        assert_eq!(
            m.apply(MaintenanceChange::Extend { end: later }, at)
                .unwrap(),
            vec![N::Extended]
        );
        assert_eq!(
            m.apply(MaintenanceChange::Extend { end: later }, at),
            Err(MaintenanceError::NotLater)
        );
        assert_eq!(
            m.apply(
                MaintenanceChange::Extend {
                    end: later + Duration::hours(2)
                },
                at
            )
            .unwrap(),
            vec![N::Extended],
            "each extension is news"
        );
        let done = NOW + Duration::hours(2);
        assert_eq!(
            m.apply(MaintenanceChange::CompleteEarly, done).unwrap(),
            vec![N::Completed]
        );
        assert_eq!(m.ended_at, Some(done));
        assert_eq!(
            m.apply(MaintenanceChange::Cancel, done),
            Err(MaintenanceError::Over(MaintenanceState::Completed))
        );

        let (mut c, _) =
            Maintenance::schedule(new(Duration::hours(3), Duration::hours(2)), NOW).unwrap();
        assert_eq!(
            c.apply(MaintenanceChange::CompleteEarly, NOW),
            Err(MaintenanceError::NotInProgress)
        );
        assert_eq!(
            c.apply(MaintenanceChange::Cancel, NOW).unwrap(),
            vec![N::Cancelled]
        );
        assert!(
            c.tick(NOW + Duration::hours(4)).is_empty(),
            "a cancelled one never starts"
        );
        assert_eq!(c.span(), None);
    }

    #[test]
    fn a_rescheduled_maintenance_is_announced_and_reminded_again() {
        let (mut m, _) =
            Maintenance::schedule(new(Duration::minutes(30), Duration::hours(1)), NOW).unwrap();
        let window = Window::new(
            NOW + Duration::days(1),
            NOW + Duration::days(1) + Duration::hours(1),
        )
        .unwrap();
        assert_eq!(
            m.apply(MaintenanceChange::Reschedule { window }, NOW)
                .unwrap(),
            vec![N::Scheduled]
        );
        assert_eq!(
            m.tick(NOW + Duration::days(1) - Duration::minutes(30)),
            vec![N::Reminder]
        );
    }

    #[test]
    fn bad_windows_and_texts_are_refused() {
        assert_eq!(Window::new(NOW, NOW), Err(MaintenanceError::EmptyWindow));
        assert_eq!(
            Window::new(NOW, NOW + Duration::days(8)),
            Err(MaintenanceError::WindowTooLong)
        );
        let mut past = new(Duration::hours(1), Duration::hours(1));
        past.window = Window::new(NOW - Duration::hours(1), NOW + Duration::hours(1)).unwrap();
        assert_eq!(
            Maintenance::schedule(past, NOW).unwrap_err(),
            MaintenanceError::BadStart
        );
        let mut blank = new(Duration::hours(1), Duration::hours(1));
        blank.text.insert(Language::Dutch, (" ".into(), "x".into()));
        assert_eq!(
            Maintenance::schedule(blank, NOW).unwrap_err(),
            MaintenanceError::NoText
        );
        let mut none = new(Duration::hours(1), Duration::hours(1));
        none.services.clear();
        assert_eq!(
            Maintenance::schedule(none, NOW).unwrap_err(),
            MaintenanceError::NoService
        );
    }

    proptest! {
        /// However the clock is read (any times, any order of reads that only go
        /// forward), each notice is given at most once, the state only moves forward, and
        /// a maintenance read past its end has started and completed.
        #[test]
        fn notices_are_given_once_and_states_only_move_forward(
            start_in in 1i64..600,
            length in 1i64..600,
            mut reads in proptest::collection::vec(0i64..1500, 0..20),
        ) {
            let (mut m, mut all) = Maintenance::schedule(
                new(Duration::minutes(start_in), Duration::minutes(length)),
                NOW,
            ).unwrap();
            reads.sort_unstable();
            let mut last = m.state;
            for r in &reads {
                all.extend(m.tick(NOW + Duration::minutes(*r)));
                prop_assert!(m.state >= last);
                last = m.state;
            }
            let mut seen = BTreeSet::new();
            for n in &all {
                prop_assert!(seen.insert(*n), "{:?} twice in {:?}", n, all);
            }
            if reads.last().is_some_and(|r| *r >= start_in + length) {
                prop_assert_eq!(m.state, MaintenanceState::Completed);
                prop_assert!(seen.contains(&N::Started) && seen.contains(&N::Completed));
            }
            if let Some(due) = m.next_due() {
                // Nothing happens before the next due time, and something at it.
                let last_read = reads.last().map_or(NOW, |r| NOW + Duration::minutes(*r));
                if due - Duration::seconds(1) >= last_read {
                    prop_assert!(m.clone().tick(due - Duration::seconds(1)).is_empty());
                }
                prop_assert!(!m.clone().tick(due.max(last_read)).is_empty());
            }
        }
    }
}
