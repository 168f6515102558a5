//! Where deliveries go, as this instance sees them: per destination (the SMTP relay, a
//! webhook host, a push service) its circuit breaker, its sends in flight and what
//! became of them. The delivery worker asks here before every send and reports every answer;
//! the operators' *Deliveries* page and `/metrics` read it. Each instance keeps its own
//! (a breaker is about what this instance's sends see), so with several instances a
//! destination that is down is backed off by each of them within a few failures.

use std::collections::HashMap;
use std::sync::Mutex;

use candor_domain::health::breaker::{Admission, Answer, Breaker, BreakerSettings, BreakerState};
use candor_domain::health::Channel;
use serde::Serialize;
use time::{Duration, OffsetDateTime};

/// One place deliveries of a channel go to: `smtp://relay:25`, `https://hooks.example`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Destination {
    pub channel: Channel,
    pub name: String,
}

impl Destination {
    /// The destination of a URL: its scheme, host and port (never its path or query,
    /// which may carry a tenant's secret).
    pub fn of_url(channel: Channel, url: &str) -> Destination {
        let name = match url::Url::parse(url) {
            Ok(u) => match (u.host_str(), u.port_or_known_default()) {
                (Some(host), Some(port)) => format!("{}://{host}:{port}", u.scheme()),
                (Some(host), None) => format!("{}://{host}", u.scheme()),
                _ => "(no host)".to_owned(),
            },
            Err(_) => "(not a URL)".to_owned(),
        };
        Destination { channel, name }
    }
}

/// What a send may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go; `done` must follow with its answer.
    Go,
    /// Not now: the breaker is open until then (or a probe is out).
    BreakerOpen(OffsetDateTime),
}

#[derive(Debug, Default)]
struct Entry {
    breaker: Breaker,
    in_flight: usize,
    sent: u64,
    failed: u64,
    held_back: u64,
    last_error: Option<String>,
    last_used: Option<OffsetDateTime>,
}

/// One destination as operators see it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationView {
    pub channel: Channel,
    pub destination: String,
    #[serde(flatten)]
    pub breaker: BreakerState,
    pub open: bool,
    pub in_flight: usize,
    /// Since this instance started.
    pub sent: u64,
    pub failed: u64,
    /// Sends held back by the breaker or the share, put back in the queue untried.
    pub held_back: u64,
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_failure: Option<OffsetDateTime>,
}

#[derive(Debug, Default)]
pub struct Destinations {
    entries: Mutex<HashMap<Destination, Entry>>,
    settings: Mutex<BreakerSettings>,
}

impl Destinations {
    pub fn set_breaker_settings(&self, settings: BreakerSettings) {
        if let Ok(mut s) = self.settings.lock() {
            *s = settings;
        }
    }

    pub fn breaker_settings(&self) -> BreakerSettings {
        self.settings.lock().map(|s| *s).unwrap_or_default()
    }

    /// Asks the breaker of `to` whether a send may go now.
    pub fn admit(&self, to: &Destination, now: OffsetDateTime) -> Verdict {
        let Ok(mut entries) = self.entries.lock() else {
            return Verdict::Go;
        };
        let entry = entries.entry(to.clone()).or_default();
        entry.last_used = Some(now);
        match entry.breaker.admit(now) {
            Admission::Go | Admission::Probe => {
                entry.in_flight += 1;
                Verdict::Go
            }
            Admission::WaitUntil(until) => {
                entry.held_back += 1;
                Verdict::BreakerOpen(until)
            }
        }
    }

    /// Counts a send put back untried because `to` already held its share of the lane.
    pub fn held_back(&self, to: &Destination) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.entry(to.clone()).or_default().held_back += 1;
        }
    }

    /// Records the answer of a send `admit` let go; `error` when it failed. `None` is a
    /// send that ended without an answer about the destination (it was not made).
    pub fn done(
        &self,
        to: &Destination,
        answer: Option<(Answer, Option<&str>)>,
        now: OffsetDateTime,
    ) {
        let settings = self.breaker_settings();
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        let entry = entries.entry(to.clone()).or_default();
        entry.in_flight = entry.in_flight.saturating_sub(1);
        match answer {
            Some((Answer::Answered, _)) => {
                entry.sent += 1;
                entry.breaker.record(Answer::Answered, now, &settings);
            }
            Some((Answer::Failed, error)) => {
                entry.failed += 1;
                entry.last_error = error.map(|e| e.chars().take(300).collect());
                let was_open = entry.breaker.is_open();
                entry.breaker.record(Answer::Failed, now, &settings);
                if !was_open && entry.breaker.is_open() {
                    tracing::warn!(
                        channel = %to.channel,
                        destination = %to.name,
                        error = entry.last_error.as_deref().unwrap_or(""),
                        "circuit breaker opened: sends to this destination are held back"
                    );
                }
            }
            None => {}
        }
    }

    /// Every destination seen, open breakers first. Closed ones idle for a day are
    /// dropped, so the list does not grow with every webhook host ever used.
    pub fn snapshot(&self, now: OffsetDateTime) -> Vec<DestinationView> {
        let Ok(mut entries) = self.entries.lock() else {
            return Vec::new();
        };
        entries.retain(|_, e| {
            e.in_flight > 0
                || e.breaker.is_open()
                || e.last_used.is_some_and(|t| now - t < Duration::days(1))
        });
        let mut views: Vec<DestinationView> = entries
            .iter()
            .map(|(d, e)| DestinationView {
                channel: d.channel,
                destination: d.name.clone(),
                breaker: e.breaker.state,
                open: e.breaker.is_open(),
                in_flight: e.in_flight,
                sent: e.sent,
                failed: e.failed,
                held_back: e.held_back,
                last_error: e.last_error.clone(),
                last_failure: e.breaker.last_failure,
            })
            .collect();
        views.sort_by(|a, b| {
            b.open
                .cmp(&a.open)
                .then(a.channel.cmp(&b.channel))
                .then(a.destination.cmp(&b.destination))
        });
        views
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: OffsetDateTime = time::macros::datetime!(2026-12-04 10:00 UTC);

    fn relay() -> Destination {
        Destination {
            channel: Channel::Email,
            name: "smtp://relay:25".into(),
        }
    }

    #[test]
    fn failures_open_the_breaker_and_operators_see_it() {
        let d = Destinations::default();
        for _ in 0..5 {
            assert_eq!(d.admit(&relay(), T0), Verdict::Go);
            d.done(&relay(), Some((Answer::Failed, Some("timed out"))), T0);
        }
        assert_eq!(
            d.admit(&relay(), T0),
            Verdict::BreakerOpen(T0 + Duration::seconds(30))
        );
        let seen = d.snapshot(T0);
        assert_eq!(seen.len(), 1);
        assert!(seen[0].open);
        assert_eq!(seen[0].failed, 5);
        assert_eq!(seen[0].held_back, 1);
        assert_eq!(seen[0].in_flight, 0);
        assert_eq!(seen[0].last_error.as_deref(), Some("timed out"));
    }

    #[test]
    fn a_url_destination_never_carries_its_path() {
        let d = Destination::of_url(Channel::Webhook, "https://hooks.example.com/secret/abc?k=1");
        assert_eq!(d.name, "https://hooks.example.com:443");
        assert_eq!(
            Destination::of_url(Channel::Webhook, "not a url").name,
            "(not a URL)"
        );
    }
}
