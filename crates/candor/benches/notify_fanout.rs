//! Notification benchmarks (SQLite, release build), each against a baseline measured in
//! the same run (only the ratios are comparable across runs: the machine is shared):
//!
//! * `fanout`: one region-wide incident in a 100,000-tenant world where every tenant has
//!   an email contact and a webhook endpoint: the time from publishing it to all 200,000
//!   deliveries queued, against raw batched inserts of as many rows of the same size
//!   into the same database.
//! * `email`: delivery throughput through Candor's queue to a local SMTP sink, against
//!   the same mailer sending the same messages directly with the same concurrency, and
//!   against Postfix's `smtp-source` (Debian's `postfix` package) sending as many
//!   messages of the same size to the same sink with as many sessions.
//! * `webhook`: the same for webhooks to a local receiver, against a bare HTTP client
//!   posting the same bodies directly.
//! * `stall`: publish → last webhook of a region-wide incident (1,000 tenants, an email
//!   contact and a webhook endpoint each) while the SMTP relay accepts and never answers,
//!   against the same with a healthy relay, in the same run (the lanes' promise: a stuck
//!   channel does not slow the others; aim ≥ 0.9).
//! * `site`: the backup status site's lag over 1,000 public changes (commit → the change
//!   in `status.json`), p50 and p99, against one direct rebuild of the site.
//! * `instances` (PostgreSQL, not in the default set): publish → all deliveries queued
//!   with one and with three instances sharing the fan-out's parts, against raw batched
//!   inserts of as many rows into the same database.
//!
//! ```sh
//! cargo bench -p candor --bench notify_fanout                  # all three
//! NOTIFY_BENCH=fanout FANOUT_BENCH_TENANTS=100000 cargo bench -p candor --bench notify_fanout
//! NOTIFY_BENCH=email,webhook DELIVERY_BENCH_MESSAGES=20000 cargo bench -p candor --bench notify_fanout
//! NOTIFY_BENCH=email NOTIFY_BENCH_STORE=postgres cargo bench -p candor --bench notify_fanout
//! NOTIFY_BENCH=stall,site STALL_BENCH_ENDPOINTS=1000 SITE_BENCH_CHANGES=1000 cargo bench -p candor --bench notify_fanout
//! NOTIFY_BENCH=instances FANOUT_PG_TENANTS=1000000 FANOUT_PG_INSTANCES=1,3 \
//!   CANDOR_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p candor --bench notify_fanout
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use candor::deliveries::{DeliveryRunner, DeliverySettings};
use candor::jobs::JobRunner;
use candor_app::health::{self as health, NewIssueInput, PostInput};
use candor_app::notify::{NewsBody, WebhookNews};
use candor_app::{topology, Core};
use candor_delivery::email::Mailer;
use candor_domain::clock::SystemClock;
use candor_domain::email::OutboundEmail;
use candor_domain::health::{Channel, DeliveryNews, NewDelivery, Scope, WebhookEndpointId};
use candor_domain::identity::{Actor, RegionCode};
use candor_domain::store::Store;
use candor_domain::TenantId;
use futures::StreamExt;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const CONCURRENCY: usize = 64;

/// The same slots in every lane, all of them open to one destination: the baselines
/// send to one local sink with this many in flight.
fn every_lane(n: usize) -> candor::deliveries::Lanes {
    let lane = candor::deliveries::Lane {
        concurrency: n,
        per_destination: n,
    };
    candor::deliveries::Lanes {
        email: lane,
        webhook: lane,
        push: lane,
    }
}

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Bench {
    core: Arc<Core>,
    pool: sqlx::SqlitePool,
    _dir: tempfile::TempDir,
}

async fn open() -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("candor.db");
    let store = candor_store_sqlite::SqliteStore::open(&path).await.unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let mut core = Core::new(store, Arc::new(SystemClock)).await.unwrap();
    core.allow_private_webhooks = true.into();
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&path)
                .busy_timeout(Duration::from_secs(30)),
        )
        .await
        .unwrap();
    Bench {
        core: Arc::new(core),
        pool,
        _dir: dir,
    }
}

/// A core on the store `NOTIFY_BENCH_STORE` names (`sqlite`, the default, or
/// `postgres`, a fresh database from `CANDOR_TEST_POSTGRES_URL`), with what must live as
/// long as it.
async fn delivery_core() -> (Arc<Core>, &'static str, Box<dyn std::any::Any>) {
    if std::env::var("NOTIFY_BENCH_STORE").is_ok_and(|s| s == "postgres") {
        let db = candor_store_tests::harness::PostgresTestDb::create()
            .await
            .expect("NOTIFY_BENCH_STORE=postgres needs CANDOR_TEST_POSTGRES_URL");
        let mut core = Core::new(db.store(), Arc::new(SystemClock)).await.unwrap();
        core.allow_private_webhooks = true.into();
        (Arc::new(core), "PostgreSQL", Box::new(db))
    } else {
        let bench = open().await;
        (bench.core.clone(), "SQLite", Box::new(bench))
    }
}

/// Tenants in one region, on 20 scale units of 50 mailbox databases.
async fn world(bench: &Bench, tenants: usize) {
    import_world(&bench.core, tenants).await;
}

async fn import_world(core: &Core, tenants: usize) {
    let mut csv = String::with_capacity(tenants * 120);
    csv.push_str("kind,id,name,parent,services,language,time_zone\n");
    csv.push_str("service,Exchange,Exchange Online,EX,,,\n");
    csv.push_str("region,eu-west,Europe West,,,,\n");
    for s in 0..20 {
        let _ = writeln!(csv, "scale_unit,eu-west-su{s},,eu-west,,,");
        for d in 0..50 {
            let _ = writeln!(
                csv,
                "component,eu-west-su{s}-mbx{d},,eu-west-su{s},Exchange,,"
            );
        }
    }
    let langs = ["en", "nl", "fr", "zh-TW", "ko"];
    for i in 0..tenants {
        let id = uuid::Uuid::from_u128(0x5eed_0000_0000_0000_0000_0000_0000_0000 + i as u128);
        let _ = writeln!(
            csv,
            "tenant,{id},Tenant {i:07},eu-west,,{},Europe/Amsterdam",
            langs[i % langs.len()]
        );
        let _ = writeln!(
            csv,
            "placement,{id},,eu-west-su{}-mbx{},,,",
            (i / 50) % 20,
            i % 50
        );
    }
    topology::import_file(core, &Actor::System, None, "world.csv", &csv, false, |_| {})
        .await
        .unwrap();
}

/// One contact and one webhook endpoint per tenant, written in one statement each (the
/// world is set-up, not what is measured).
async fn subscribers(bench: &Bench, hook: &str) {
    let now = candor_domain::time_util::to_unix_micros(time::OffsetDateTime::now_utc());
    let everything =
        serde_json::to_string(&candor_domain::health::Subscription::everything()).unwrap();
    // Ids in the hyphenated form Candor writes, so paging by id sees them in order.
    const UUID: &str = "substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-' || substr(h, 13, 4) || '-' || substr(h, 17, 4) || '-' || substr(h, 21)";
    sqlx::query(&format!(
        "INSERT INTO contacts (id, tenant_id, email, language, subscription, created_at)
         SELECT {UUID}, id, 'noc@' || substr(h, 1, 8) || '.example', default_language, ?, ?
         FROM (SELECT lower(hex(randomblob(16))) AS h, id, default_language FROM tenants)"
    ))
    .bind(&everything)
    .bind(now)
    .execute(&bench.pool)
    .await
    .unwrap();
    sqlx::query(&format!(
        "INSERT INTO webhook_endpoints (id, tenant_id, url, format, secret, subscription, enabled,
             failures, created_at)
         SELECT {UUID}, id, ?, 'candor', 'whsec_bench', ?, 1, 0, ?
         FROM (SELECT lower(hex(randomblob(16))) AS h, id FROM tenants)"
    ))
    .bind(hook)
    .bind(&everything)
    .bind(now)
    .execute(&bench.pool)
    .await
    .unwrap();
}

async fn fanout_bench() {
    let tenants = env_usize("FANOUT_BENCH_TENANTS", 100_000);
    println!("Fan-out of one region-wide incident ({tenants} tenants, an email contact and a webhook endpoint each)");
    let bench = open().await;
    let started = Instant::now();
    world(&bench, tenants).await;
    subscribers(&bench, "http://127.0.0.1:9/hook").await;
    eprintln!("  world ready in {:.1} s", started.elapsed().as_secs_f64());

    let published = Instant::now();
    health::create_issue(
        &bench.core,
        &Actor::System,
        None,
        region_incident("Mail delays across Europe West"),
    )
    .await
    .unwrap();
    let stored = published.elapsed();
    let jobs = JobRunner::new(bench.core.clone()).with_public_url("https://status.example".into());
    while jobs.run_one().await.unwrap().is_some() {}
    let queued_in = published.elapsed();
    let (queued,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM deliveries")
        .fetch_one(&bench.pool)
        .await
        .unwrap();
    let (avg_payload,): (f64,) =
        sqlx::query_as("SELECT AVG(LENGTH(payload) + LENGTH(news_id)) FROM deliveries")
            .fetch_one(&bench.pool)
            .await
            .unwrap();
    assert_eq!(queued as usize, tenants * 2, "every delivery queued");

    // Baseline: the same number of rows of the same size, batched, in one transaction.
    sqlx::query(
        "CREATE TABLE baseline (id TEXT PRIMARY KEY, tenant_id TEXT, change_key TEXT,
             channel TEXT, recipient TEXT, payload TEXT, status TEXT, run_at INTEGER)",
    )
    .execute(&bench.pool)
    .await
    .unwrap();
    let payload = "x".repeat(avg_payload as usize);
    let rows = tenants * 2;
    let base_started = Instant::now();
    let mut tx = bench.pool.begin().await.unwrap();
    for chunk in (0..rows).collect::<Vec<_>>().chunks(500) {
        let mut q: sqlx::QueryBuilder<sqlx::Sqlite> = sqlx::QueryBuilder::new(
            "INSERT INTO baseline (id, tenant_id, change_key, channel, recipient, payload, status, run_at) ",
        );
        q.push_values(chunk, |mut b, i| {
            b.push_bind(format!("{i:032x}"))
                .push_bind(format!("{:032x}", i / 2))
                .push_bind("issue:EX100000:post:1")
                .push_bind("email")
                .push_bind("noc@tenant.example")
                .push_bind(&payload)
                .push_bind("pending")
                .push_bind(0i64);
        });
        q.build().execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    let baseline = base_started.elapsed();
    println!(
        "  published (issue and {tenants} affected tenants stored): {:.2} s",
        stored.as_secs_f64()
    );
    println!(
        "  publish to all {queued} deliveries queued: {:.2} s (aim < 5 s); payload {avg_payload:.0} bytes on average",
        queued_in.as_secs_f64()
    );
    println!(
        "  baseline, {rows} raw batched inserts of the same size: {:.2} s; Candor / baseline = {:.2}",
        baseline.as_secs_f64(),
        queued_in.as_secs_f64() / baseline.as_secs_f64()
    );
}

/// Publish → every delivery queued on PostgreSQL, with one and with several instances
/// sharing the fan-out's parts: `FANOUT_PG_TENANTS` tenants (default 200,000; the issue's
/// aim is stated for 1,000,000), an email contact and a webhook endpoint each. The
/// instances run in this process: each its own store with its own connection pool and
/// its own job runner, as `candor serve` has; on this 2-core machine they share the
/// cores with PostgreSQL. Baseline: as many rows of the same size inserted raw, 500 a
/// statement, in one transaction, into the same database.
async fn instances_bench() {
    let tenants = env_usize("FANOUT_PG_TENANTS", 200_000);
    let counts: Vec<usize> = std::env::var("FANOUT_PG_INSTANCES")
        .unwrap_or_else(|_| "1,3".into())
        .split(',')
        .map(|n| {
            n.trim()
                .parse()
                .expect("FANOUT_PG_INSTANCES: numbers, e.g. 1,3")
        })
        .collect();
    println!(
        "Fan-out on PostgreSQL shared by instances ({tenants} tenants, an email contact and a webhook endpoint each; instances {counts:?})"
    );
    let db = candor_store_tests::harness::PostgresTestDb::create()
        .await
        .expect("this bench needs CANDOR_TEST_POSTGRES_URL");
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let started = Instant::now();
    let setup = Arc::new(Core::new(db.store(), Arc::new(SystemClock)).await.unwrap());
    import_world(&setup, tenants).await;
    let everything =
        serde_json::to_string(&candor_domain::health::Subscription::everything()).unwrap();
    let now = time::OffsetDateTime::now_utc();
    sqlx::query(
        "INSERT INTO contacts (id, tenant_id, email, language, subscription, created_at)
         SELECT gen_random_uuid(), id, 'noc@' || substr(md5(id::text), 1, 8) || '.example',
                default_language, $1, $2 FROM tenants",
    )
    .bind(&everything)
    .bind(now)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, tenant_id, url, format, secret, subscription, enabled,
             failures, created_at)
         SELECT gen_random_uuid(), id, 'http://127.0.0.1:9/hook', 'candor', 'whsec_bench', $1, true, 0, $2
         FROM tenants",
    )
    .bind(&everything)
    .bind(now)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE").execute(&pool).await.unwrap();
    eprintln!("  world ready in {:.1} s", started.elapsed().as_secs_f64());

    let mut results = Vec::new();
    for (round, n) in counts.iter().enumerate() {
        // Each round starts from an empty queue, so no round inserts into a bigger table.
        sqlx::query("TRUNCATE deliveries, delivery_news")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("VACUUM ANALYZE deliveries")
            .execute(&pool)
            .await
            .unwrap();
        let mut cores = Vec::new();
        for _ in 0..*n {
            let store = candor_store_postgres::PostgresStore::connect(&db.url)
                .await
                .unwrap();
            let mut core = Core::new(Arc::new(store), Arc::new(SystemClock))
                .await
                .unwrap();
            core.allow_private_webhooks = true.into();
            cores.push(Arc::new(core));
        }
        let cpu_before = cpu_ticks();
        let own_ticks_before = own_ticks();
        let published = Instant::now();
        let (issue, _) = health::create_issue(
            &cores[0],
            &Actor::System,
            None,
            region_incident(&format!("Mail delays across Europe West, round {round}")),
        )
        .await
        .unwrap();
        let stored = published.elapsed();
        let change = format!("issue:{}:post:1", issue.id);
        let stop = tokio_util::sync::CancellationToken::new();
        let runners: Vec<_> = cores
            .iter()
            .map(|core| {
                let runner =
                    JobRunner::new(core.clone()).with_public_url("https://status.example".into());
                let stop = stop.clone();
                tokio::spawn(async move {
                    while !stop.is_cancelled() {
                        if runner.run_one().await.unwrap().is_none() {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    }
                })
            })
            .collect();
        let expected = (tenants * 2) as i64;
        loop {
            let (queued,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM deliveries WHERE change_key = $1")
                    .bind(&change)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            if queued >= expected {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let queued_in = published.elapsed();
        let cpu_after = cpu_ticks();
        let busy = busy_share(cpu_before, cpu_after);
        let ours = busy_share((own_ticks_before, cpu_before.1), (own_ticks(), cpu_after.1));
        stop.cancel();
        for r in runners {
            r.await.unwrap();
        }
        println!(
            "  {n} instance(s): published in {:.2} s, all {expected} deliveries queued {:.2} s after publishing; the machine's cores {:.0} % busy meanwhile, {:.0} % of the machine in Candor's process (the rest: PostgreSQL, the system)",
            stored.as_secs_f64(),
            queued_in.as_secs_f64(),
            busy * 100.0,
            ours * 100.0
        );
        results.push((*n, queued_in));
    }

    // Baseline: as many rows of the deliveries' average size, raw.
    let (avg_payload,): (f64,) =
        sqlx::query_as("SELECT AVG(LENGTH(payload) + LENGTH(news_id))::float8 FROM deliveries")
            .fetch_one(&pool)
            .await
            .unwrap();
    sqlx::query(
        "CREATE TABLE baseline (id TEXT PRIMARY KEY, tenant_id TEXT, change_key TEXT,
             channel TEXT, recipient TEXT, payload TEXT, status TEXT, run_at TIMESTAMPTZ)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let payload = "x".repeat(avg_payload as usize);
    let rows = tenants * 2;
    let base_started = Instant::now();
    let mut tx = pool.begin().await.unwrap();
    for chunk in (0..rows).collect::<Vec<_>>().chunks(500) {
        let mut q: sqlx::QueryBuilder<sqlx::Postgres> = sqlx::QueryBuilder::new(
            "INSERT INTO baseline (id, tenant_id, change_key, channel, recipient, payload, status, run_at) ",
        );
        q.push_values(chunk, |mut b, i| {
            b.push_bind(format!("{i:032x}"))
                .push_bind(format!("{:032x}", i / 2))
                .push_bind("issue:EX100000:post:1")
                .push_bind("email")
                .push_bind("noc@tenant.example")
                .push_bind(&payload)
                .push_bind("pending")
                .push_bind(now);
        });
        q.build().execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    let baseline = base_started.elapsed();
    println!(
        "  baseline, {rows} raw batched inserts of the same size: {:.2} s",
        baseline.as_secs_f64()
    );
    for (n, took) in &results {
        println!(
            "  {n} instance(s): Candor / baseline = {:.2}",
            took.as_secs_f64() / baseline.as_secs_f64()
        );
    }
    pool.close().await;
}

/// The machine's CPU ticks (busy, total) from `/proc/stat`, to tell a run limited by the
/// cores from one that waits.
fn cpu_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().sum();
    // idle and iowait
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// This process's CPU ticks (user and system), on the same clock as `/proc/stat`.
fn own_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command's closing parenthesis: utime and stime are the 12th and
    // 13th of them.
    let rest = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<u64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0)
}

fn busy_share((busy0, total0): (u64, u64), (busy1, total1): (u64, u64)) -> f64 {
    (busy1 - busy0) as f64 / (total1 - total0).max(1) as f64
}

/// A minimal SMTP server that accepts every message and counts them. Like Postfix's
/// `smtpd` (3.4 and later), it offers `PIPELINING` and `CHUNKING` (`BDAT`), and writes
/// its replies once it has read all that came: a client in lockstep (`smtp-source`)
/// gets each reply at once, a pipelining one gets a group's replies in one write.
async fn smtp_sink() -> (u16, Arc<AtomicU64>) {
    let count = Arc::new(AtomicU64::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let counter = count.clone();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let (read, write) = socket.into_split();
                let mut read = BufReader::new(read);
                let mut write = tokio::io::BufWriter::new(write);
                if write.write_all(b"220 sink ESMTP\r\n").await.is_err()
                    || write.flush().await.is_err()
                {
                    return;
                }
                let mut in_data = false;
                let mut line = String::new();
                loop {
                    line.clear();
                    if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let reply: &[u8] = if in_data {
                        if line == ".\r\n" {
                            in_data = false;
                            counter.fetch_add(1, Ordering::Relaxed);
                            b"250 queued\r\n"
                        } else {
                            continue;
                        }
                    } else {
                        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                        match verb.as_str() {
                            "EHLO" | "HELO" => {
                                b"250-sink\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 8BITMIME\r\n"
                            }
                            "BDAT" => {
                                let mut words = line.split_whitespace().skip(1);
                                let size: usize =
                                    words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
                                let mut chunk = vec![0; size];
                                if read.read_exact(&mut chunk).await.is_err() {
                                    return;
                                }
                                if words.next().is_some_and(|w| w.eq_ignore_ascii_case("LAST")) {
                                    counter.fetch_add(1, Ordering::Relaxed);
                                }
                                b"250 ok\r\n"
                            }
                            "DATA" => {
                                in_data = true;
                                b"354 go on\r\n"
                            }
                            "QUIT" => {
                                let _ = write.write_all(b"221 bye\r\n").await;
                                let _ = write.flush().await;
                                return;
                            }
                            _ => b"250 ok\r\n",
                        }
                    };
                    if write.write_all(reply).await.is_err() {
                        return;
                    }
                    if read.buffer().is_empty() && write.flush().await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, count)
}

/// A webhook receiver answering 204 and counting.
async fn receiver() -> (String, Arc<AtomicU64>) {
    let count = Arc::new(AtomicU64::new(0));
    let counter = count.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |_body: axum::body::Bytes| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::Relaxed);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, count)
}

/// A change's news as the fan-out stores it: the email without its recipient, and the
/// webhook's facts.
fn stored_news(change: &str, mut email: OutboundEmail) -> DeliveryNews {
    email.to = String::new();
    email.delivery_id = None;
    email.unsubscribe = None;
    email.html = None;
    let body = NewsBody {
        email,
        webhook: WebhookNews {
            event: "issue.posted".into(),
            occurred_date_time: time::OffsetDateTime::now_utc(),
            title: "Exchange Online: Mail delays across Europe West (Service degradation)".into(),
            text: "We're investigating delays in mail delivery.".into(),
            url: Some("https://status.example/portal/health/issues/EX100000".into()),
            data: serde_json::json!({"issueId": "EX100000", "status": "serviceDegradation"}),
        },
        language: candor_domain::language::Language::English,
    };
    DeliveryNews {
        id: candor_domain::health::news_id(change, "en", "UTC"),
        change: change.to_owned(),
        body: serde_json::to_value(body).unwrap(),
    }
}

/// A news email as the worker hands it to the mailer: with the HTML part the application
/// renders for each recipient (composing renders it on every delivery, so it is measured).
fn email(i: usize) -> OutboundEmail {
    let mut email = OutboundEmail {
        to: format!("noc{i}@tenant{}.example", i % 1000),
        subject: "[Exchange Online] Mail delays across Europe West (Service degradation)".into(),
        body: "Exchange Online: Mail delays across Europe West\nEX100000 · Service degradation\n\nWe're investigating delays in mail delivery.\n\nhttps://status.example/portal/health/issues/EX100000".into(),
        kind: "notify.issue".into(),
        tenant: None,
        delivery_id: Some(format!("{i:032x}")),
        unsubscribe: Some(format!("https://status.example/unsubscribe/{i:064x}")),
        html: None,
    };
    let tr = candor_app::i18n::Tr::new(candor_domain::language::Language::English, "UTC");
    email.html = candor_app::notify::news_html(&email, &tr).ok();
    email
}

async fn email_bench() {
    let messages = env_usize("DELIVERY_BENCH_MESSAGES", 20_000);
    println!("Email delivery to a local SMTP sink ({messages} messages, {CONCURRENCY} in flight)");
    let (port, sunk) = smtp_sink().await;
    let mailer = Arc::new(
        Mailer::smtp(
            &format!("smtp://127.0.0.1:{port}"),
            "Candor <candor@localhost>",
        )
        .unwrap(),
    );

    // Baseline: the same mailer, the same messages, no queue.
    let started = Instant::now();
    futures::stream::iter(0..messages)
        .map(|i| {
            let mailer = mailer.clone();
            async move { mailer.send(&email(i)).await.unwrap() }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    let baseline = messages as f64 / started.elapsed().as_secs_f64();
    assert_eq!(sunk.load(Ordering::Relaxed) as usize, messages);

    let (core, store_name, _keep) = delivery_core().await;
    println!("  store: {store_name}");
    import_world(&core, 1000).await;
    let now = time::OffsetDateTime::now_utc();
    let tenants: Vec<TenantId> = core
        .store
        .list_tenants(None, 1000)
        .await
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    // Queued as a fan-out queues them: the news stored once, each delivery holding its
    // recipient's own (address, unsubscribe link).
    let change = "issue:EX100000:post:1";
    let news = stored_news(change, email(0));
    core.store
        .store_news(std::slice::from_ref(&news), now)
        .await
        .unwrap();
    let deliveries: Vec<NewDelivery> = (0..messages)
        .map(|i| {
            let e = email(i);
            let mut d = NewDelivery::new(
                tenants[i % tenants.len()],
                change,
                Channel::Email,
                &i.to_string(),
                e.to.clone(),
                serde_json::json!({ "unsubscribe": e.unsubscribe }),
                now,
            );
            d.news = Some(news.id.clone());
            d
        })
        .collect();
    core.store.queue_deliveries(&deliveries, now).await.unwrap();
    let runner = DeliveryRunner::new(
        core.clone(),
        Some(mailer),
        DeliverySettings {
            lanes: every_lane(CONCURRENCY),
            batch: env_usize(
                "DELIVERY_BENCH_BATCH",
                DeliverySettings::default().batch as usize,
            ) as u32,
            ..DeliverySettings::default()
        },
    );
    sunk.store(0, Ordering::Relaxed);
    let (cpu_before, own_before) = (cpu_ticks(), own_ticks());
    let started = Instant::now();
    // A drain ends when nothing is due; deliveries deferred for their destination's
    // share are due again a moment later.
    let mut report = candor::deliveries::BatchReport::default();
    while report.sent < messages && started.elapsed() < Duration::from_secs(600) {
        let r = runner.drain().await.unwrap();
        if r.total() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        report.add(&r);
    }
    let candor = messages as f64 / started.elapsed().as_secs_f64();
    let cpu_after = cpu_ticks();
    let busy = busy_share(cpu_before, cpu_after);
    let ours = busy_share((own_before, cpu_before.1), (own_ticks(), cpu_after.1));
    assert_eq!(report.sent, messages, "{report:?}");
    assert_eq!(sunk.load(Ordering::Relaxed) as usize, messages);
    println!("  baseline, the mailer alone: {baseline:.0} emails/s");
    println!(
        "  through Candor's delivery queue: {candor:.0} emails/s (aim >= 2,000); Candor / baseline = {:.2}; the machine's cores {:.0} % busy meanwhile, {:.0} % of the machine in this process (queue, mailer and sink; the rest: the database server, if any, and the system)",
        candor / baseline,
        busy * 100.0,
        ours * 100.0
    );
    let size = {
        let e = email(0);
        // The headers lettre writes, about: From, To, Subject, Date, Message-ID,
        // List-Unsubscribe(-Post), MIME boundaries.
        e.body.len() + e.html.as_ref().map_or(0, String::len) + 700
    };
    sunk.store(0, Ordering::Relaxed);
    match smtp_source_rate(port, messages, size) {
        Some(wire) => {
            assert_eq!(sunk.load(Ordering::Relaxed) as usize, messages);
            println!(
                "  postfix smtp-source, {size}-byte messages, {CONCURRENCY} sessions: {wire:.0} emails/s; Candor / smtp-source = {:.2} (aim >= 0.5)",
                candor / wire
            );
        }
        None => println!("  smtp-source not measured (apt-get install postfix)"),
    }
}

/// Postfix's `smtp-source` sending `messages` of `size` bytes to the sink with
/// `CONCURRENCY` sessions, each kept open for its next message (`-d`): how fast the wire
/// and the sink go for a tuned SMTP client. `None` without the tool.
fn smtp_source_rate(port: u16, messages: usize, size: usize) -> Option<f64> {
    let started = Instant::now();
    let out = std::process::Command::new("smtp-source")
        .args([
            "-d",
            "-s",
            &CONCURRENCY.to_string(),
            "-m",
            &messages.to_string(),
            "-l",
            &size.to_string(),
            "-f",
            "candor@localhost",
            "-t",
            "noc@tenant.example",
            &format!("127.0.0.1:{port}"),
        ])
        .output()
        .ok()?;
    let elapsed = started.elapsed();
    if !out.status.success() {
        eprintln!(
            "  smtp-source failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    Some(messages as f64 / elapsed.as_secs_f64())
}

async fn webhook_bench() {
    let messages = env_usize("DELIVERY_BENCH_MESSAGES", 20_000);
    println!("Webhook delivery to a local receiver ({messages} messages, {CONCURRENCY} in flight)");
    let (url, received) = receiver().await;
    let message = |i: usize, tenant: TenantId| {
        serde_json::json!({
            "id": format!("{i:032x}"),
            "event": "issue.posted",
            "tenantId": tenant.to_string(),
            "occurredDateTime": "2026-11-30T09:00:00Z",
            "title": "Exchange Online: Mail delays across Europe West (Service degradation)",
            "text": "We're investigating delays in mail delivery.",
            "url": "https://status.example/portal/health/issues/EX100000",
            "data": {"issueId": "EX100000", "status": "serviceDegradation"},
        })
    };

    // Baseline: one client, the same bodies, no queue, no signature.
    let client = reqwest::Client::new();
    let started = Instant::now();
    futures::stream::iter(0..messages)
        .map(|i| {
            let client = client.clone();
            let url = url.clone();
            let body = message(i, TenantId(uuid::Uuid::nil()));
            async move {
                let res = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(serde_json::to_vec(&body).unwrap())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 204);
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    let baseline = messages as f64 / started.elapsed().as_secs_f64();
    assert_eq!(received.load(Ordering::Relaxed) as usize, messages);

    let bench = open().await;
    world(&bench, 1000).await;
    subscribers(&bench, &url).await;
    let endpoints: Vec<(WebhookEndpointId, TenantId)> =
        sqlx::query_as::<_, (String, String)>("SELECT id, tenant_id FROM webhook_endpoints")
            .fetch_all(&bench.pool)
            .await
            .unwrap()
            .into_iter()
            .map(|(e, t)| (e.parse().unwrap(), TenantId(t.parse().unwrap())))
            .collect();
    let now = time::OffsetDateTime::now_utc();
    let changes = messages.div_ceil(endpoints.len());
    let news: Vec<_> = (0..changes)
        .map(|c| stored_news(&format!("issue:EX100000:post:{c}"), email(0)))
        .collect();
    bench.core.store.store_news(&news, now).await.unwrap();
    let deliveries: Vec<NewDelivery> = (0..messages)
        .map(|i| {
            let (endpoint, tenant) = endpoints[i % endpoints.len()];
            let c = i / endpoints.len();
            let mut d = NewDelivery::new(
                tenant,
                &format!("issue:EX100000:post:{c}"),
                Channel::Webhook,
                &endpoint.to_string(),
                url.clone(),
                serde_json::json!({}),
                now,
            );
            d.endpoint = Some(endpoint);
            d.news = Some(news[c].id.clone());
            d
        })
        .collect();
    bench
        .core
        .store
        .queue_deliveries(&deliveries, now)
        .await
        .unwrap();
    let runner = DeliveryRunner::new(
        bench.core.clone(),
        None,
        DeliverySettings {
            lanes: every_lane(CONCURRENCY),
            ..DeliverySettings::default()
        },
    );
    received.store(0, Ordering::Relaxed);
    let started = Instant::now();
    let report = runner.drain().await.unwrap();
    let candor = messages as f64 / started.elapsed().as_secs_f64();
    assert_eq!(report.sent, messages, "{report:?}");
    assert_eq!(received.load(Ordering::Relaxed) as usize, messages);
    println!("  baseline, a bare HTTP client: {baseline:.0} webhooks/s");
    println!(
        "  through Candor's delivery queue (signed, each endpoint checked): {candor:.0} webhooks/s (aim >= 5,000); Candor / baseline = {:.2}",
        candor / baseline
    );
}

fn region_incident(title: &str) -> NewIssueInput {
    NewIssueInput {
        service: "Exchange".into(),
        classification: candor_domain::health::Classification::Incident,
        title: title.into(),
        impact_description: "Mail may arrive late.".into(),
        scope: Scope {
            regions: [RegionCode::parse("eu-west").unwrap()]
                .into_iter()
                .collect(),
            ..Default::default()
        },
        post: PostInput {
            body_html: "<p>We're investigating delays in mail delivery.</p>".into(),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// An SMTP relay that accepts connections and never says a word.
async fn silent_relay() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    port
}

/// Publishes a region-wide incident with `serve`'s lanes running and waits for the last
/// webhook; the relay is healthy or `stalled`.
async fn publish_to_last_webhook(tenants: usize, stalled: bool) -> Duration {
    let bench = open().await;
    world(&bench, tenants).await;
    let (hook, received) = receiver().await;
    subscribers(&bench, &hook).await;
    let port = if stalled {
        silent_relay().await
    } else {
        smtp_sink().await.0
    };
    let mailer = Mailer::smtp(
        &format!("smtp://127.0.0.1:{port}"),
        "Candor <candor@localhost>",
    )
    .unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let worker = DeliveryRunner::new(
        bench.core.clone(),
        Some(Arc::new(mailer)),
        DeliverySettings::default(),
    );
    let worker = tokio::spawn(worker.run(stop.clone()));
    let jobs = JobRunner::new(bench.core.clone())
        .with_public_url("https://status.example".into())
        .only(candor_domain::jobs::JobLane::General);
    let jobs = tokio::spawn(jobs.run(stop.clone()));
    let started = Instant::now();
    health::create_issue(
        &bench.core,
        &Actor::System,
        None,
        region_incident("Mail delays across Europe West"),
    )
    .await
    .unwrap();
    while (received.load(Ordering::Relaxed) as usize) < tenants {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "webhooks stopped arriving"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let took = started.elapsed();
    stop.cancel();
    // Sends held by the stalled relay end only at their deadline: not waited for.
    worker.abort();
    jobs.abort();
    took
}

async fn stall_bench() {
    let tenants = env_usize("STALL_BENCH_ENDPOINTS", 1000);
    let rounds = env_usize("STALL_BENCH_ROUNDS", 3);
    println!("Publish → last of {tenants} webhooks, healthy SMTP relay vs one that never answers ({rounds} rounds each, alternating)");
    let mut healthy = Vec::new();
    let mut stalled = Vec::new();
    for _ in 0..rounds {
        healthy.push(publish_to_last_webhook(tenants, false).await.as_secs_f64());
        stalled.push(publish_to_last_webhook(tenants, true).await.as_secs_f64());
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (h, s) = (median(&mut healthy), median(&mut stalled));
    println!("  healthy relay: median {h:.2} s ({healthy:.2?})");
    println!("  stalled relay: median {s:.2} s ({stalled:.2?})");
    println!(
        "  ratio (healthy / stalled time): {:.2}  (aim ≥ 0.9)",
        h / s
    );
}

async fn site_bench() {
    let changes = env_usize("SITE_BENCH_CHANGES", 1000);
    println!(
        "Backup status site lag over {changes} public changes (posts to 10 region-wide incidents)"
    );
    let bench = open().await;
    world(&bench, 100).await;
    let site = tempfile::tempdir().unwrap();
    let mut issues = Vec::new();
    for k in 0..10 {
        let (issue, _) = health::create_issue(
            &bench.core,
            &Actor::System,
            None,
            region_incident(&format!("Incident {k}")),
        )
        .await
        .unwrap();
        issues.push(issue.id);
    }
    // Baseline: one rebuild done directly, as the site job does it.
    let mut direct = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let status = candor_app::public::public_status(&bench.core)
            .await
            .unwrap();
        let files = candor_app::status_page::site_files(&status, "https://status.example").unwrap();
        let dir = site.path().join("baseline");
        let stamp = format!("{:020}", direct.len());
        tokio::task::spawn_blocking(move || {
            candor_delivery::site::publish_dir(&dir, &stamp, &files)
        })
        .await
        .unwrap()
        .unwrap();
        direct.push(started.elapsed().as_secs_f64());
    }
    direct.sort_by(f64::total_cmp);
    let rebuild = direct[direct.len() / 2];

    let stop = tokio_util::sync::CancellationToken::new();
    let runner = JobRunner::new(bench.core.clone())
        .with_status_site(site.path().join("site"), "https://status.example".into())
        .only(candor_domain::jobs::JobLane::StatusSite);
    let runner = tokio::spawn(runner.run(stop.clone()));
    // The reader: what `status.json` says its newest change is, as soon as it changes.
    let seen: Arc<std::sync::Mutex<Vec<(Instant, time::OffsetDateTime)>>> = Arc::default();
    let watcher = {
        let seen = seen.clone();
        let path = site.path().join("site").join("current").join("status.json");
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut last = None;
            while !stop.is_cancelled() {
                if let Ok(text) = tokio::fs::read_to_string(&path).await {
                    let at = serde_json::from_str::<serde_json::Value>(&text)
                        .ok()
                        .and_then(|v| v["lastChangeDateTime"].as_str().map(str::to_owned))
                        .and_then(|t| {
                            time::OffsetDateTime::parse(
                                &t,
                                &time::format_description::well_known::Rfc3339,
                            )
                            .ok()
                        });
                    if let Some(newest) = at.filter(|_| at != last) {
                        seen.lock().unwrap().push((Instant::now(), newest));
                        last = at;
                    }
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let mut made = Vec::with_capacity(changes);
    for i in 0..changes {
        let before = time::OffsetDateTime::now_utc();
        health::update_issue(
            &bench.core,
            &Actor::System,
            None,
            issues[i % issues.len()].clone(),
            candor_app::health::UpdateInput {
                post: Some(PostInput {
                    body_html: format!("<p>Update {i}.</p>"),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        made.push((Instant::now(), before));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let last_made = made.last().map(|m| m.1).unwrap();
    let waited = Instant::now();
    while seen.lock().unwrap().last().is_none_or(|s| s.1 < last_made) {
        assert!(
            waited.elapsed() < Duration::from_secs(120),
            "the site stopped following"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.cancel();
    let _ = watcher.await;
    runner.abort();
    let seen = seen.lock().unwrap().clone();
    let mut lags: Vec<f64> = made
        .iter()
        .map(|(committed, at)| {
            let shown = seen
                .iter()
                .find(|(when, newest)| when >= committed && newest >= at)
                .map(|(when, _)| *when)
                .unwrap();
            (shown - *committed).as_secs_f64() * 1000.0
        })
        .collect();
    lags.sort_by(f64::total_cmp);
    let pct = |p: f64| lags[((lags.len() as f64 * p) as usize).min(lags.len() - 1)];
    println!(
        "  lag: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms (aim: p99 < 2,000 ms); {} rebuilds for {changes} changes",
        pct(0.5),
        pct(0.99),
        lags[lags.len() - 1],
        seen.len()
    );
    println!(
        "  baseline, one direct rebuild: median {:.0} ms; p99 lag / rebuild: {:.1}",
        rebuild * 1000.0,
        pct(0.99) / (rebuild * 1000.0)
    );
}

#[tokio::main]
async fn main() {
    let which =
        std::env::var("NOTIFY_BENCH").unwrap_or_else(|_| "fanout,email,webhook,stall,site".into());
    for part in which.split(',').map(str::trim) {
        match part {
            "fanout" => fanout_bench().await,
            "email" => email_bench().await,
            "webhook" => webhook_bench().await,
            "stall" => stall_bench().await,
            "site" => site_bench().await,
            "instances" => instances_bench().await,
            "" => {}
            other => panic!(
                "unknown NOTIFY_BENCH part `{other}`: use fanout, email, webhook, stall, site, instances"
            ),
        }
    }
}
