//! A circuit breaker per destination (one SMTP relay, one webhook host, one push
//! service). A destination that keeps failing is backed off as a whole: its deliveries
//! wait for the breaker instead of each spending a slot on an attempt that will time
//! out, so the rest of the lane keeps its speed. After the cool-down one delivery goes
//! as a probe; its answer closes the breaker or opens it again for twice as long.

use serde::Serialize;
use time::{Duration, OffsetDateTime};

/// When a breaker opens and how long it stays open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Failed attempts in a row that open the breaker.
    pub failures: u32,
    /// How long it stays open the first time; doubled each time the probe fails.
    pub cool_down: Duration,
    /// The longest it stays open.
    pub max_cool_down: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            failures: 5,
            cool_down: Duration::seconds(30),
            max_cool_down: Duration::minutes(10),
        }
    }
}

/// Where a breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum BreakerState {
    /// Sends go; `failures` in a row so far.
    Closed { failures: u32 },
    /// Nothing goes until `until`. `times` counts the openings in a row.
    Open {
        #[serde(with = "time::serde::rfc3339")]
        until: OffsetDateTime,
        times: u32,
    },
    /// One probe is out; the rest wait for its answer.
    Probing {
        #[serde(with = "time::serde::rfc3339")]
        since: OffsetDateTime,
        times: u32,
    },
}

/// Whether a send may go now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Go,
    /// The first send after the cool-down: its answer decides.
    Probe,
    /// Not before then.
    WaitUntil(OffsetDateTime),
}

/// How an attempt at the destination went, as far as the destination's health goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// It answered (a refusal of one message is still an answer).
    Answered,
    /// It did not: a timeout, a refused or reset connection, a 5xx.
    Failed,
}

/// How long the others wait while a probe is out before one of them may probe
/// instead (the probe's own send has a deadline, so this is only for a lost answer).
const PROBE_PATIENCE: Duration = Duration::minutes(2);
/// How soon a send held back by a probe is tried again.
const BEHIND_PROBE: Duration = Duration::seconds(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Breaker {
    pub state: BreakerState,
    /// The last failure's time, for the operators' view.
    pub last_failure: Option<OffsetDateTime>,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker {
            state: BreakerState::Closed { failures: 0 },
            last_failure: None,
        }
    }
}

impl Breaker {
    pub fn is_open(&self) -> bool {
        !matches!(self.state, BreakerState::Closed { .. })
    }

    /// Asks to send now; a `Probe` admission moves the breaker to probing.
    pub fn admit(&mut self, now: OffsetDateTime) -> Admission {
        match self.state {
            BreakerState::Closed { .. } => Admission::Go,
            BreakerState::Open { until, times } if now >= until => {
                self.state = BreakerState::Probing { since: now, times };
                Admission::Probe
            }
            BreakerState::Open { until, .. } => Admission::WaitUntil(until),
            BreakerState::Probing { since, times } if now - since >= PROBE_PATIENCE => {
                self.state = BreakerState::Probing { since: now, times };
                Admission::Probe
            }
            BreakerState::Probing { .. } => Admission::WaitUntil(now + BEHIND_PROBE),
        }
    }

    /// Records how an attempt went. Answers of sends admitted before the breaker
    /// opened still count: a relay that answers again closes it at once.
    pub fn record(&mut self, answer: Answer, now: OffsetDateTime, settings: &BreakerSettings) {
        match answer {
            Answer::Answered => self.state = BreakerState::Closed { failures: 0 },
            Answer::Failed => {
                self.last_failure = Some(now);
                self.state = match self.state {
                    BreakerState::Closed { failures }
                        if failures + 1 < settings.failures.max(1) =>
                    {
                        BreakerState::Closed {
                            failures: failures + 1,
                        }
                    }
                    BreakerState::Closed { .. } => BreakerState::Open {
                        until: now + settings.cool_down,
                        times: 1,
                    },
                    BreakerState::Probing { times, .. } => {
                        let times = times.saturating_add(1);
                        BreakerState::Open {
                            until: now + cool_down(times, settings),
                            times,
                        }
                    }
                    // Sends already out when it opened: it stays open as it is.
                    open @ BreakerState::Open { .. } => open,
                };
            }
        }
    }
}

/// The cool-down after the `times`th opening in a row: doubling, capped.
fn cool_down(times: u32, settings: &BreakerSettings) -> Duration {
    let doublings = times.saturating_sub(1).min(20);
    let grown = settings.cool_down * 2i32.saturating_pow(doublings);
    grown.min(settings.max_cool_down).max(settings.cool_down)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T0: OffsetDateTime = time::macros::datetime!(2026-12-04 10:00 UTC);

    fn settings() -> BreakerSettings {
        BreakerSettings::default()
    }

    fn fail(b: &mut Breaker, n: u32, at: OffsetDateTime) {
        for _ in 0..n {
            b.record(Answer::Failed, at, &settings());
        }
    }

    #[test]
    fn opens_after_the_set_number_of_failures_in_a_row() {
        let mut b = Breaker::default();
        fail(&mut b, 4, T0);
        assert_eq!(b.admit(T0), Admission::Go);
        fail(&mut b, 1, T0);
        assert_eq!(
            b.admit(T0),
            Admission::WaitUntil(T0 + Duration::seconds(30))
        );
        assert!(b.is_open());
    }

    #[test]
    fn an_answer_in_between_starts_the_count_again() {
        let mut b = Breaker::default();
        fail(&mut b, 4, T0);
        b.record(Answer::Answered, T0, &settings());
        fail(&mut b, 4, T0);
        assert_eq!(b.admit(T0), Admission::Go);
    }

    #[test]
    fn after_the_cool_down_one_probe_goes_and_the_rest_wait() {
        let mut b = Breaker::default();
        fail(&mut b, 5, T0);
        let later = T0 + Duration::seconds(30);
        assert_eq!(b.admit(later), Admission::Probe);
        assert!(matches!(b.admit(later), Admission::WaitUntil(t) if t > later));
        b.record(Answer::Answered, later, &settings());
        assert_eq!(b.admit(later), Admission::Go);
        assert!(!b.is_open());
    }

    #[test]
    fn a_failed_probe_doubles_the_cool_down_up_to_the_cap() {
        let mut b = Breaker::default();
        fail(&mut b, 5, T0);
        let mut now = T0;
        let mut waits = Vec::new();
        for _ in 0..8 {
            let Admission::WaitUntil(until) = b.admit(now) else {
                panic!("open breaker let a send through");
            };
            waits.push((until - now).whole_seconds());
            now = until;
            assert_eq!(b.admit(now), Admission::Probe);
            b.record(Answer::Failed, now, &settings());
        }
        assert_eq!(waits, vec![30, 60, 120, 240, 480, 600, 600, 600]);
    }

    #[test]
    fn a_lost_probe_answer_does_not_keep_it_open_for_good() {
        let mut b = Breaker::default();
        fail(&mut b, 5, T0);
        let later = T0 + Duration::seconds(30);
        assert_eq!(b.admit(later), Admission::Probe);
        assert_eq!(b.admit(later + PROBE_PATIENCE), Admission::Probe);
    }

    proptest! {
        /// Whatever happened before, an open breaker never lets more than one send
        /// through at a time, and an answer always closes it.
        #[test]
        fn open_admits_at_most_one_probe(events in proptest::collection::vec((any::<bool>(), 0i64..120), 1..60)) {
            let mut b = Breaker::default();
            let mut now = T0;
            for (answered, step) in events {
                now += Duration::seconds(step);
                let was_open = b.is_open();
                let first = b.admit(now);
                if was_open {
                    let second = b.admit(now);
                    prop_assert!(!matches!((first, second), (Admission::Probe | Admission::Go, Admission::Probe | Admission::Go)));
                }
                if !matches!(first, Admission::WaitUntil(_)) {
                    let answer = if answered { Answer::Answered } else { Answer::Failed };
                    b.record(answer, now, &settings());
                    if answered {
                        prop_assert!(!b.is_open());
                    }
                }
            }
        }
    }
}
