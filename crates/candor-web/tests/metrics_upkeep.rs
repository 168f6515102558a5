//! The Prometheus recorder keeps every histogram sample until something drains it. An
//! instance nobody scrapes must not grow by every request it serves (the sustained load
//! bench found it did: /healthz alone went from 38 to 59 MiB in 150 s). This test counts
//! the bytes the process holds while a histogram gets two million samples, and waits for
//! the upkeep to give them back without anyone rendering `/metrics`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::System;
use std::time::{Duration, Instant};

use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The bytes the process holds now.
fn held() -> isize {
    let s = ALLOCATOR.stats();
    s.bytes_allocated as isize - s.bytes_deallocated as isize + s.bytes_reallocated
}

const MIB: isize = 1 << 20;

#[test]
fn histogram_samples_are_given_back_without_a_scrape() {
    let _handle = candor_web::metrics_handle();
    let latency = metrics::histogram!("candor_test_request_seconds", "route" => "/healthz");
    latency.record(0.001);
    let before = held();

    for i in 0..2_000_000u32 {
        latency.record(f64::from(i % 1_000) / 1e6);
    }
    let grown = held() - before;
    assert!(
        grown > 8 * MIB,
        "two million samples should be held until drained, but only {} KiB are",
        grown / 1024
    );

    // The upkeep runs every 5 s; freed blocks are reclaimed as threads go on recording,
    // which a serving instance always does.
    let waited = Instant::now();
    loop {
        latency.record(0.001);
        let left = held() - before;
        if left < MIB {
            break;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "{} MiB of samples still held a minute later: nothing drains the histograms",
            left / MIB
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
