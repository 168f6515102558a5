//! Availability history: for a service (or what a tenant is placed on), each of the last
//! days coloured by the worst impact it saw, with the minutes of each kind of impact, and
//! an availability figure over a period. Computed from the issue record alone (each
//! issue's start, end and classification), so every instance and the backup site show
//! the same history.
//!
//! Incidents count as outage, advisories as degraded service; planned maintenance is
//! kept apart and never counts against availability. Overlapping issues are not counted
//! twice: a minute is an outage minute if any incident covered it, a degraded minute if
//! an advisory covered it and no incident did. Days are the reader's days: midnight to
//! midnight in the page's time zone (23 or 25 hours across a daylight-saving change).

use jiff::civil::Date;
use jiff::tz::TimeZone;
use time::OffsetDateTime;

use super::issue::{Classification, Issue};
use super::status::Status;

/// What a minute (or a day, at its worst) was like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Impact {
    Operational,
    /// Planned maintenance: shown, never counted against availability.
    Maintenance,
    /// An advisory: the service worked, with limits.
    Degraded,
    /// An incident: the service, or part of it, did not work.
    Outage,
}

/// One stretch of impact: from `start` until `end` (still going when none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: OffsetDateTime,
    pub end: Option<OffsetDateTime>,
    pub impact: Impact,
}

impl Span {
    /// The impact an issue had, if it counts at all (a false positive did not happen).
    pub fn of(issue: &Issue) -> Option<Span> {
        if issue.status == Status::FalsePositive {
            return None;
        }
        let impact = match issue.classification {
            Classification::Incident => Impact::Outage,
            Classification::Advisory => Impact::Degraded,
        };
        Some(Span {
            start: issue.start,
            end: issue.end,
            impact,
        })
    }
}

/// One day of history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Day {
    /// The date in the page's time zone.
    #[serde(serialize_with = "iso_date")]
    pub date: Date,
    /// The worst impact any minute of it saw.
    pub worst: Impact,
    pub outage_minutes: u32,
    /// Degraded and not also an outage.
    pub degraded_minutes: u32,
    pub maintenance_minutes: u32,
    /// How many minutes of the day have happened (all of them, but for today).
    pub minutes: u32,
}

fn iso_date<S: serde::Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(d)
}

/// Seconds since the epoch, for interval arithmetic.
type Secs = i64;

/// The union of `spans` of one impact clipped to [from, to), as sorted disjoint
/// intervals.
fn union(spans: &[Span], impact: Impact, from: Secs, to: Secs, now: Secs) -> Vec<(Secs, Secs)> {
    let mut parts: Vec<(Secs, Secs)> = spans
        .iter()
        .filter(|s| s.impact == impact)
        .filter_map(|s| {
            let start = s.start.unix_timestamp().max(from);
            let end = s.end.map_or(now, |e| e.unix_timestamp()).min(now).min(to);
            (start < end).then_some((start, end))
        })
        .collect();
    parts.sort_unstable();
    let mut out: Vec<(Secs, Secs)> = Vec::with_capacity(parts.len());
    for (s, e) in parts {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

fn length(parts: &[(Secs, Secs)]) -> Secs {
    parts.iter().map(|(s, e)| e - s).sum()
}

/// The part of `a` not covered by `b` (both sorted and disjoint).
fn minus(a: &[(Secs, Secs)], b: &[(Secs, Secs)]) -> Vec<(Secs, Secs)> {
    let mut out = Vec::new();
    for &(mut s, e) in a {
        for &(bs, be) in b {
            if be <= s || bs >= e {
                continue;
            }
            if bs > s {
                out.push((s, bs));
            }
            s = s.max(be);
            if s >= e {
                break;
            }
        }
        if s < e {
            out.push((s, e));
        }
    }
    out
}

/// Whole minutes, rounding a part minute up: a 20-second blip still shows.
fn minutes(secs: Secs) -> u32 {
    u32::try_from((secs + 59) / 60).unwrap_or(u32::MAX)
}

/// Midnight starting `date` in `tz`, as seconds since the epoch.
fn midnight(date: Date, tz: &TimeZone) -> Option<Secs> {
    date.to_zoned(tz.clone())
        .ok()
        .map(|z| z.timestamp().as_second())
}

/// The last `days` days up to and including today (in `tz`), oldest first.
pub fn history(spans: &[Span], now: OffsetDateTime, days: u16, tz: &TimeZone) -> Vec<Day> {
    let now_s = now.unix_timestamp();
    let Ok(today) = jiff::Timestamp::from_second(now_s).map(|t| t.to_zoned(tz.clone()).date())
    else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(usize::from(days));
    for back in (0..i64::from(days)).rev() {
        let Ok(date) = today.checked_sub(jiff::Span::new().days(back)) else {
            continue;
        };
        let (Some(from), Some(next)) = (
            midnight(date, tz),
            date.tomorrow().ok().and_then(|d| midnight(d, tz)),
        ) else {
            continue;
        };
        let to = next.min(now_s);
        let outage = union(spans, Impact::Outage, from, to, now_s);
        let degraded = minus(&union(spans, Impact::Degraded, from, to, now_s), &outage);
        let maintenance = union(spans, Impact::Maintenance, from, to, now_s);
        let worst = if !outage.is_empty() {
            Impact::Outage
        } else if !degraded.is_empty() {
            Impact::Degraded
        } else if !maintenance.is_empty() {
            Impact::Maintenance
        } else {
            Impact::Operational
        };
        out.push(Day {
            date,
            worst,
            outage_minutes: minutes(length(&outage)),
            degraded_minutes: minutes(length(&degraded)),
            maintenance_minutes: minutes(length(&maintenance)),
            minutes: minutes((to - from).max(0)),
        });
    }
    out
}

/// The share of `days`' minutes that were not an outage, in percent (100 with no minutes).
/// Degraded minutes count as available (the service worked, with limits), maintenance
/// minutes are left out of both sides.
pub fn availability(days: &[Day]) -> f64 {
    let total: u64 = days
        .iter()
        .map(|d| u64::from(d.minutes.saturating_sub(d.maintenance_minutes)))
        .sum();
    let down: u64 = days.iter().map(|d| u64::from(d.outage_minutes)).sum();
    if total == 0 {
        return 100.0;
    }
    100.0 * (total.saturating_sub(down.min(total))) as f64 / total as f64
}

/// The days of `history` in each calendar month, with that month's availability, oldest
/// first: `(year, month, percent)`.
pub fn monthly(days: &[Day]) -> Vec<(i16, i8, f64)> {
    let mut out: Vec<(i16, i8, f64)> = Vec::new();
    let mut start = 0;
    for i in 1..=days.len() {
        let boundary = i == days.len()
            || (days[i].date.year(), days[i].date.month())
                != (days[start].date.year(), days[start].date.month());
        if boundary {
            let d = days[start].date;
            out.push((d.year(), d.month(), availability(&days[start..i])));
            start = i;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    fn utc() -> TimeZone {
        TimeZone::UTC
    }

    fn span(start: OffsetDateTime, mins: i64, impact: Impact) -> Span {
        Span {
            start,
            end: Some(start + time::Duration::minutes(mins)),
            impact,
        }
    }

    const NOW: OffsetDateTime = datetime!(2026-12-05 12:00 UTC);

    #[test]
    fn an_issue_across_midnight_is_split_between_its_days() {
        let s = span(datetime!(2026-12-03 23:30 UTC), 90, Impact::Outage);
        let days = history(&[s], NOW, 3, &utc());
        assert_eq!(days.len(), 3);
        assert_eq!(days[0].date, jiff::civil::date(2026, 12, 3));
        assert_eq!(
            (days[0].outage_minutes, days[0].worst),
            (30, Impact::Outage)
        );
        assert_eq!(
            (days[1].outage_minutes, days[1].worst),
            (60, Impact::Outage)
        );
        assert_eq!(days[2].worst, Impact::Operational);
        // Today has happened only until noon.
        assert_eq!(days[2].minutes, 12 * 60);
        assert_eq!(days[0].minutes, 24 * 60);
    }

    #[test]
    fn days_are_the_page_time_zones_days() {
        // 20:00–22:00 UTC on the 3rd is the 4th in Taipei (UTC+8).
        let s = span(datetime!(2026-12-03 20:00 UTC), 120, Impact::Degraded);
        let taipei = TimeZone::get("Asia/Taipei").unwrap();
        let days = history(&[s], NOW, 3, &taipei);
        let hit: Vec<_> = days.iter().filter(|d| d.degraded_minutes > 0).collect();
        assert_eq!(hit.len(), 1);
        assert_eq!(hit[0].date, jiff::civil::date(2026, 12, 4));
        // A day that loses an hour to daylight saving has 23 hours.
        let amsterdam = TimeZone::get("Europe/Amsterdam").unwrap();
        let spring = history(&[], datetime!(2026-03-30 12:00 UTC), 3, &amsterdam);
        assert_eq!(spring[1].date, jiff::civil::date(2026, 3, 29));
        assert_eq!(spring[1].minutes, 23 * 60);
    }

    #[test]
    fn overlaps_count_once_and_an_outage_outranks_an_advisory() {
        let day = datetime!(2026-12-04 10:00 UTC);
        let spans = [
            span(day, 60, Impact::Outage),
            span(day + time::Duration::minutes(30), 60, Impact::Outage),
            span(day, 120, Impact::Degraded),
            span(day + time::Duration::hours(5), 30, Impact::Maintenance),
        ];
        let d = &history(&spans, NOW, 2, &utc())[0];
        assert_eq!(d.outage_minutes, 90);
        assert_eq!(d.degraded_minutes, 30);
        assert_eq!(d.maintenance_minutes, 30);
        assert_eq!(d.worst, Impact::Outage);
        let pct = availability(std::slice::from_ref(d));
        let expected = 100.0 * (1440.0 - 30.0 - 90.0) / (1440.0 - 30.0);
        assert!((pct - expected).abs() < 1e-9, "{pct}");
    }

    #[test]
    fn an_issue_still_going_counts_until_now_and_months_are_calendar_months() {
        let going = Span {
            start: datetime!(2026-12-05 11:00 UTC),
            end: None,
            impact: Impact::Outage,
        };
        let today = history(&[going], NOW, 1, &utc());
        assert_eq!(today[0].outage_minutes, 60);
        let months = monthly(&history(&[going], NOW, 30, &utc()));
        assert_eq!(months.len(), 2);
        assert_eq!((months[0].0, months[0].1), (2026, 11));
        assert!((months[0].2 - 100.0).abs() < 1e-9);
        assert!(months[1].2 < 100.0);
    }

    fn arb_span() -> impl Strategy<Value = Span> {
        (
            0i64..(20 * 24 * 60),
            0i64..(3 * 24 * 60),
            0u8..3,
            any::<bool>(),
        )
            .prop_map(|(start, len, kind, open)| {
                let start = NOW - time::Duration::days(20) + time::Duration::minutes(start);
                Span {
                    start,
                    end: (!open).then(|| start + time::Duration::minutes(len)),
                    impact: [Impact::Outage, Impact::Degraded, Impact::Maintenance]
                        [usize::from(kind)],
                }
            })
    }

    proptest! {
        #[test]
        fn a_day_without_issues_is_fully_available(spans in proptest::collection::vec(arb_span(), 0..8)) {
            let days = history(&spans, NOW, 30, &utc());
            prop_assert_eq!(days.len(), 30);
            for d in &days {
                prop_assert!(d.outage_minutes + d.degraded_minutes <= d.minutes);
                prop_assert!(d.maintenance_minutes <= d.minutes);
                if d.worst == Impact::Operational {
                    prop_assert_eq!(d.outage_minutes + d.degraded_minutes + d.maintenance_minutes, 0);
                    prop_assert!((availability(std::slice::from_ref(d)) - 100.0).abs() < 1e-9);
                }
                let pct = availability(std::slice::from_ref(d));
                prop_assert!((0.0..=100.0).contains(&pct));
            }
            // Days follow each other with no gap.
            for w in days.windows(2) {
                prop_assert_eq!(w[0].date.tomorrow().unwrap(), w[1].date);
            }
        }

        #[test]
        fn the_days_add_up_to_the_spans(spans in proptest::collection::vec(arb_span(), 0..8)) {
            let days = history(&spans, NOW, 30, &utc());
            let from = (NOW - time::Duration::days(29)).replace_time(time::Time::MIDNIGHT).unix_timestamp();
            let now = NOW.unix_timestamp();
            let outage = length(&union(&spans, Impact::Outage, from, now, now));
            let total: u32 = days.iter().map(|d| d.outage_minutes).sum();
            // Each day rounds its part minutes up: at most one minute more per day.
            prop_assert!(u64::from(total) * 60 >= outage as u64);
            prop_assert!(u64::from(total) * 60 <= outage as u64 + 60 * 30);
        }

        #[test]
        fn a_span_across_days_is_split_without_loss(start in 0i64..(10 * 24 * 60), len in 1i64..(4 * 24 * 60)) {
            let start = NOW - time::Duration::days(15) + time::Duration::minutes(start);
            let s = Span { start, end: Some(start + time::Duration::minutes(len)), impact: Impact::Outage };
            let days = history(&[s], NOW, 30, &utc());
            let total: u32 = days.iter().map(|d| d.outage_minutes).sum();
            let visible = (s.end.unwrap().min(NOW) - start).whole_minutes();
            prop_assert_eq!(i64::from(total), visible);
        }
    }
}
