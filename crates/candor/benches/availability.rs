//! The 90-day availability history of 1,000,000 tenants' dashboards (issue 18): each
//! tenant uses 5 of 20 services and was affected by its share of 3,000 issues of the
//! last 90 days; a dashboard's bars are the history of each of its services in the
//! tenant's time zone. Measured per dashboard (time, bytes allocated) against a baseline
//! in the same run: writing the same days out as JSON, the least any page or API showing
//! them does.
//!
//!     cargo bench -p candor --bench availability
//!     AVAILABILITY_BENCH_TENANTS=100000 cargo bench -p candor --bench availability

use std::alloc::System;
use std::time::Instant;

use candor_domain::health::availability::{self, Impact, Span};
use jiff::tz::TimeZone;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use time::{Duration, OffsetDateTime};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const SERVICES: usize = 20;
const PER_TENANT: usize = 5;
const ISSUES: usize = 3_000;
const DAYS: u16 = 90;

/// A small deterministic generator (the bench needs spread, not randomness).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

fn main() -> anyhow::Result<()> {
    let tenants: usize = std::env::var("AVAILABILITY_BENCH_TENANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let now = OffsetDateTime::from_unix_timestamp(1_796_400_000)?;
    let mut rng = Lcg(7);
    // Each issue: a service, a span within the 90 days, and every `reach`-th tenant.
    let issues: Vec<(usize, Span, u64)> = (0..ISSUES)
        .map(|_| {
            let service = (rng.next() % SERVICES as u64) as usize;
            let start = now - Duration::minutes((rng.next() % (90 * 24 * 60)) as i64);
            let length = Duration::minutes(5 + (rng.next() % 600) as i64);
            let impact = if rng.next().is_multiple_of(3) {
                Impact::Degraded
            } else {
                Impact::Outage
            };
            let reach = 1 + rng.next() % 400;
            let span = Span {
                start,
                end: Some(start + length).filter(|e| *e < now),
                impact,
            };
            (service, span, reach)
        })
        .collect();
    let zones: Vec<TimeZone> = ["UTC", "Europe/Amsterdam", "Asia/Taipei", "America/New_York"]
        .iter()
        .map(|z| TimeZone::get(z))
        .collect::<Result<_, _>>()?;
    let mut by_service: Vec<Vec<(Span, u64)>> = vec![Vec::new(); SERVICES];
    for (service, span, reach) in &issues {
        by_service[*service].push((*span, *reach));
    }
    // Each tenant's issues per service: what `tenant_issues` hands the dashboard.
    let dashboard = |t: usize| -> Vec<Vec<Span>> {
        (0..PER_TENANT)
            .map(|k| {
                by_service[(t + k * 3) % SERVICES]
                    .iter()
                    .filter(|(_, reach)| (t as u64).is_multiple_of(*reach))
                    .map(|(span, _)| *span)
                    .collect()
            })
            .collect()
    };
    println!(
        "availability history: {tenants} dashboards of {PER_TENANT} services x {DAYS} days, from {ISSUES} issues"
    );
    let (mut spans_seen, mut bytes_out) = (0usize, 0usize);
    let (mut history_time, mut json_time) = (0.0f64, 0.0f64);
    let (mut history_alloc, mut peak_held) = (0u64, 0i64);
    let started = Instant::now();
    let mut last_progress = Instant::now();
    for t in 0..tenants {
        let services = dashboard(t);
        spans_seen += services.iter().map(Vec::len).sum::<usize>();
        let zone = &zones[t % zones.len()];
        let region = Region::new(GLOBAL);
        let clock = Instant::now();
        let bars: Vec<Vec<availability::Day>> = services
            .iter()
            .map(|spans| availability::history(spans, now, DAYS, zone))
            .collect();
        let months: Vec<_> = bars.iter().map(|d| availability::monthly(d)).collect();
        history_time += clock.elapsed().as_secs_f64();
        let stats = region.change();
        history_alloc += stats.bytes_allocated as u64;
        peak_held = peak_held.max(stats.bytes_allocated as i64 - stats.bytes_deallocated as i64);
        // The baseline: the same days written out.
        let clock = Instant::now();
        let json = serde_json::to_vec(&bars)?;
        json_time += clock.elapsed().as_secs_f64();
        bytes_out += json.len();
        std::hint::black_box((&months, &json));
        if last_progress.elapsed().as_secs() >= 10 {
            last_progress = Instant::now();
            eprintln!("… {t} of {tenants} dashboards");
        }
    }
    let n = tenants as f64;
    println!(
        "  history + monthly figures: {:.1} µs per dashboard ({:.2} s for all), {:.0} bytes allocated per dashboard, {} bytes held by one dashboard's bars",
        history_time / n * 1e6,
        history_time,
        history_alloc as f64 / n,
        peak_held
    );
    println!(
        "  baseline, the same days as JSON: {:.1} µs per dashboard ({:.0} bytes)",
        json_time / n * 1e6,
        bytes_out as f64 / n
    );
    println!(
        "  ratio history / JSON: {:.2}; {:.1} issues per dashboard on average; wall {:.1} s",
        history_time / json_time,
        spans_seen as f64 / n,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
