//! Sustained mixed load on a real `candor serve` (the embedded store, the demo world):
//! readers on the Graph API, the portal dashboard and the public status page, writers
//! posting issue updates through the operator API (each one a fan-out) and changing
//! message viewpoints through the portal and Graph, all at once for ten minutes.
//!
//! Reported: requests and errors per kind, p50/p99/max latency, throughput, and the
//! server's resident memory after warm-up, at half-time and at the end (sampled every 5 s). The
//! baseline is `/healthz` measured in the same run: the ratio of a kind's p99 to it says
//! what Candor's own work costs, whatever the machine is doing meanwhile.
//!
//! Memory: the writers add data all along (posts, deliveries, audit records), and what
//! the server renders (the public status page and site, dashboards) grows with it, so
//! resident memory may grow with the data without anything leaking. To tell the two
//! apart, the run ends with a second server started fresh on the same database under the
//! same load (`LOAD_FRESH_SECONDS`): whatever the long-running server holds beyond the
//! fresh one came with uptime, not with data. SQLite's page caches are set to 1 MiB
//! (`LOAD_SQLITE_CACHE_MIB`) so that they are full within the warm-up and fill alike in
//! both servers.
//!
//! ```sh
//! cargo bench -p candor --bench sustained_load                  # 10 minutes
//! LOAD_SECONDS=20 cargo bench -p candor --bench sustained_load  # a short run
//! ```
//!
//! Settings: `LOAD_SECONDS` (600), `LOAD_READERS` (16 concurrent readers),
//! `LOAD_POSTS_PER_SECOND` (1 issue update a second), `LOAD_POSTS_PER_ISSUE` (24, a day
//! of hourly updates: the last restores service and the next update goes to a new issue;
//! 0 sends every update to one issue), `LOAD_VIEWPOINTS_PER_SECOND` (4);
//! 0 turns a writer off; `LOAD_ONLY=<text>` keeps only the reads whose name contains it;
//! `LOAD_FRESH_SECONDS` (60, 0 for none) for the fresh server's run;
//! `LOAD_SQLITE_CACHE_MIB` (1; the server's own default is 64).
//! Exits non-zero when any request failed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A whole-number setting from the environment; a value that is not one stops the run.
fn setting(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a whole number")),
        Err(_) => default,
    }
}

/// The period of something done `per_second` times a second (more than 1,000 included).
fn every(per_second: u64) -> Duration {
    Duration::from_secs_f64(1.0 / per_second as f64)
}

/// The text of a page, fetched with `client` (its cookies, if it keeps them).
async fn text_of(client: &reqwest::Client, url: String) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

fn candor() -> Command {
    Command::new(env!("CARGO_BIN_EXE_candor"))
}

/// Starts `candor serve` and returns it with the address it listens on.
fn serve(data_dir: &std::path::Path, demo: bool) -> (Child, String) {
    let mut cmd = candor();
    cmd.arg("serve")
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .arg("--sqlite-cache-mib")
        .arg(setting("LOAD_SQLITE_CACHE_MIB", 1).to_string())
        // Graph's per-app limits would throttle a load generator that is one app.
        .args(["--graph-requests-per-minute", "10000000"])
        .args(["--graph-requests-per-hour", "100000000"])
        .env("CANDOR_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if demo {
        cmd.arg("--demo");
    }
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split("listening on ").nth(1) {
                if let Some(t) = tx.take() {
                    let _ = t.send(rest.split_whitespace().next().unwrap_or("").to_owned());
                }
            } else if line.contains("ERROR") || line.contains("WARN") {
                eprintln!("  server: {line}");
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(300))
        .expect("candor serve says where it listens");
    (child, base)
}

fn stop(mut child: Child) {
    // SIGTERM: a graceful stop, so the embedded store is released cleanly.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

#[derive(Default)]
struct Tally {
    micros: Vec<u32>,
    errors: BTreeMap<String, u64>,
}

type Tallies = Arc<Mutex<BTreeMap<&'static str, Tally>>>;

fn record(tallies: &Tallies, kind: &'static str, started: Instant, outcome: Result<u16, String>) {
    let micros = started.elapsed().as_micros().min(u32::MAX as u128) as u32;
    let mut all = tallies.lock().unwrap();
    let t = all.entry(kind).or_default();
    t.micros.push(micros);
    // A read must be answered; only a form post is answered with a redirect (303).
    let redirect_ok = kind.starts_with("POST") && kind.contains("portal form");
    match outcome {
        Ok(s) if (200..300).contains(&s) => {}
        Ok(303) if redirect_ok => {}
        Ok(s) => *t.errors.entry(format!("HTTP {s}")).or_default() += 1,
        Err(e) => *t.errors.entry(e).or_default() += 1,
    }
}

async fn status_of(res: Result<reqwest::Response, reqwest::Error>) -> Result<u16, String> {
    match res {
        Ok(r) => {
            let s = r.status().as_u16();
            // Read the whole body: a response is served when it has arrived.
            match r.bytes().await {
                Ok(_) => Ok(s),
                Err(e) => Err(format!("body: {e}")),
            }
        }
        Err(e) => Err(format!("transport: {}", e.without_url())),
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn csrf_of(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_default()
        .to_owned()
}

/// Asks for a token with an app's client credentials.
async fn token(http: &reqwest::Client, base: &str, id: &str, secret: &str) -> String {
    let res: Value = http
        .post(format!("{base}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    res["access_token"].as_str().expect("a token").to_owned()
}

/// A tenant's reader on one server: the Graph app's token and a person signed in to the
/// portal (a cookie-keeping client and the form token of that session).
#[derive(Clone)]
struct Reader {
    base: String,
    http: reqwest::Client,
    app_token: String,
    browser: reqwest::Client,
    csrf: String,
}

impl Reader {
    async fn connect(base: &str, http: &reqwest::Client, tenant: &Value) -> Reader {
        let client = &tenant["apiClient"];
        let app_token = token(
            http,
            base,
            client["clientId"].as_str().unwrap(),
            client["clientSecret"].as_str().unwrap(),
        )
        .await;
        // A person of that tenant who reads service health and messages.
        let person = tenant["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| {
                u["roles"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|r| r == "GlobalAdministrator"))
            })
            .expect("a Global Administrator in the demo tenant");
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let page = text_of(&browser, format!("{base}/signin")).await;
        let res = browser
            .post(format!("{base}/signin"))
            .form(&[
                ("csrf", csrf_of(&page).as_str()),
                ("email", person["email"].as_str().unwrap()),
                ("password", person["password"].as_str().unwrap()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "the demo administrator signs in");
        let page = text_of(&browser, format!("{base}/portal/messages")).await;
        Reader {
            base: base.to_owned(),
            http: http.clone(),
            app_token,
            browser,
            csrf: csrf_of(&page),
        }
    }
}

const READS: [(&str, u32); 5] = [
    ("GET Graph issues", 40),
    ("GET Graph messages", 20),
    ("GET portal dashboard", 15),
    ("GET status page", 15),
    ("GET /healthz (baseline)", 10),
];

/// `count` readers without pause, each picking a kind of read by its weight.
fn spawn_readers(
    count: usize,
    reads: &[(&'static str, u32)],
    reader: &Reader,
    tallies: &Tallies,
    running: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let total_weight: u32 = reads.iter().map(|(_, w)| w).sum();
    (0..count)
        .map(|r| {
            let reads = reads.to_vec();
            let (me, tallies, running) = (reader.clone(), tallies.clone(), running.clone());
            tokio::spawn(async move {
                let base = &me.base;
                let mut x: u32 = 0x9E37_79B9 ^ (r as u32 + 1).wrapping_mul(0x85EB_CA6B);
                while running.load(Ordering::Relaxed) {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    let mut pick = x % total_weight;
                    let kind = reads
                        .iter()
                        .find(|(_, w)| {
                            if pick < *w {
                                true
                            } else {
                                pick -= w;
                                false
                            }
                        })
                        .map(|(k, _)| *k)
                        .unwrap_or(reads[0].0);
                    let t = Instant::now();
                    let res = match kind {
                        "GET Graph issues" => {
                            me.http
                                .get(format!("{base}/v1.0/admin/serviceAnnouncement/issues"))
                                .bearer_auth(&me.app_token)
                                .send()
                                .await
                        }
                        "GET Graph messages" => {
                            me.http
                                .get(format!("{base}/v1.0/admin/serviceAnnouncement/messages"))
                                .bearer_auth(&me.app_token)
                                .send()
                                .await
                        }
                        "GET portal dashboard" => {
                            me.browser.get(format!("{base}/portal/health")).send().await
                        }
                        "GET status page" => me.http.get(format!("{base}/status")).send().await,
                        _ => me.http.get(format!("{base}/healthz")).send().await,
                    };
                    record(&tallies, kind, t, status_of(res).await);
                }
            })
        })
        .collect()
}

/// Resident memory samples: (seconds since the start, KiB).
type RssSamples = Arc<Mutex<Vec<(u64, u64)>>>;

/// The server's resident memory every 5 s.
fn sample_rss(
    pid: u32,
    started: Instant,
    running: &Arc<AtomicBool>,
) -> (tokio::task::JoinHandle<()>, RssSamples) {
    let samples: RssSamples = Arc::default();
    let task = {
        let samples = samples.clone();
        let running = running.clone();
        tokio::spawn(async move {
            while running.load(Ordering::Relaxed) {
                samples
                    .lock()
                    .unwrap()
                    .push((started.elapsed().as_secs(), rss_kib(pid)));
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        })
    };
    (task, samples)
}

/// Runs until `seconds` have passed since `started`, with a progress line every 30 s.
async fn hold(seconds: u64, started: Instant, pid: u32, tallies: &Tallies) {
    let total = Duration::from_secs(seconds);
    let mut last_report = Instant::now();
    while started.elapsed() < total {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if last_report.elapsed() >= Duration::from_secs(30) {
            last_report = Instant::now();
            let (n, errors) = {
                let all = tallies.lock().unwrap();
                (
                    all.values().map(|t| t.micros.len()).sum::<usize>(),
                    all.values().flat_map(|t| t.errors.values()).sum::<u64>(),
                )
            };
            eprintln!(
                "  {:>4} s: {n} requests, {errors} errors, RSS {} MiB",
                started.elapsed().as_secs(),
                rss_kib(pid) / 1024
            );
        }
    }
}

/// Prints the table of one phase; returns its requests and errors.
fn report(tallies: &Tallies) -> (usize, u64) {
    let all = std::mem::take(&mut *tallies.lock().unwrap());
    let baseline_p99 = all
        .get("GET /healthz (baseline)")
        .map(|t| {
            let mut s = t.micros.clone();
            s.sort_unstable();
            percentile(&s, 0.99)
        })
        .unwrap_or(0.0);
    let mut total_requests = 0usize;
    let mut total_errors = 0u64;
    println!("\n| kind | requests | errors | p50 ms | p99 ms | max ms | p99 / baseline p99 |");
    println!("|---|---|---|---|---|---|---|");
    for (kind, t) in &all {
        let mut s = t.micros.clone();
        s.sort_unstable();
        let errors: u64 = t.errors.values().sum();
        total_requests += s.len();
        total_errors += errors;
        let p99 = percentile(&s, 0.99);
        println!(
            "| {kind} | {} | {errors} | {:.1} | {:.1} | {:.1} | {:.1} |",
            s.len(),
            percentile(&s, 0.5),
            p99,
            percentile(&s, 1.0),
            if baseline_p99 > 0.0 {
                p99 / baseline_p99
            } else {
                0.0
            }
        );
        for (what, n) in &t.errors {
            println!("|   ↳ {what} | | {n} | | | | |");
        }
    }
    (total_requests, total_errors)
}

/// Declares the `n`th load issue through the operator API: its id, or what went wrong.
async fn declare_issue(
    http: &reqwest::Client,
    base: &str,
    op_token: &str,
    n: u64,
) -> Result<String, String> {
    let res = http
        .post(format!("{base}/api/v1/operator/issues"))
        .bearer_auth(op_token)
        .json(&json!({
            "service": "Exchange Online",
            "classification": "advisory",
            "title": format!("Load test {n}: mail flow is slower than usual"),
            "impactDescription": "Some messages may take longer to arrive.",
            "scope": {"regions": ["eu-west"]},
            "post": {"content": "<p>We're looking into it.</p>"},
            // The demo world's Incident Manager owns what monitoring declares.
            "owner": "incidents@provider.example"
        }))
        .send()
        .await
        .map_err(|e| format!("transport: {}", e.without_url()))?;
    let status = res.status().as_u16();
    let issue: Value = res
        .json()
        .await
        .map_err(|e| format!("HTTP {status}, body: {e}"))?;
    match issue["id"].as_str() {
        Some(id) if status == 201 => Ok(id.to_owned()),
        _ => Err(format!("HTTP {status}")),
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[tokio::main]
async fn main() {
    let seconds = setting("LOAD_SECONDS", 600);
    let readers = setting("LOAD_READERS", 16) as usize;
    // 0 turns a writer off (a read-only run shows what memory does without new data).
    let posts_per_second = setting("LOAD_POSTS_PER_SECOND", 1);
    let viewpoints_per_second = setting("LOAD_VIEWPOINTS_PER_SECOND", 4);
    // 0: every update goes to one issue, which gathers them all.
    let posts_per_issue = setting("LOAD_POSTS_PER_ISSUE", 24);
    let fresh_seconds = setting("LOAD_FRESH_SECONDS", 60);
    // Set for the fresh server's run: the database to use, and where the long run ended.
    let given_dir = std::env::var_os("LOAD_DATA_DIR").map(std::path::PathBuf::from);
    let long_run_kib = setting("LOAD_LONG_RUN_RSS_KIB", 0);
    let dir = tempfile::tempdir().unwrap();
    let data = given_dir.as_deref().unwrap_or(dir.path());

    if !data.join("demo-credentials.json").exists() {
        eprintln!("seeding the demo world in {}", data.display());
        let (seeding, _) = serve(data, true);
        stop(seeding);
    }
    let out = candor()
        .args([
            "operator-client",
            "create",
            "--name",
            "Load",
            "--roles",
            "IncidentManager",
        ])
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("no {name} in: {text}"))
    };
    let (op_id, op_secret) = (field("client_id:"), field("client_secret:"));
    let creds: Value =
        serde_json::from_slice(&std::fs::read(data.join("demo-credentials.json")).unwrap())
            .unwrap();
    let tenant = &creds["tenants"][0];
    let db_mib = |name: &str| {
        std::fs::metadata(data.join(name)).map_or(0.0, |m| m.len() as f64 / 1_048_576.0)
    };

    let (server, base) = serve(data, false);
    let pid = server.id();
    let db_start = db_mib("candor.db") + db_mib("candor.db-wal");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(readers + 8)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let reader = Reader::connect(&base, &http, tenant).await;
    let op_token = token(&http, &base, &op_id, &op_secret).await;

    // What the writers work on: issues to post to, messages to mark.
    let first_issue = declare_issue(&http, &base, &op_token, 1)
        .await
        .expect("the first load issue");
    let messages: Value = http
        .get(format!(
            "{base}/v1.0/admin/serviceAnnouncement/messages?$top=20"
        ))
        .bearer_auth(&reader.app_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let message_ids: Vec<String> = messages["value"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|m| m["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    assert!(!message_ids.is_empty(), "the demo tenant has messages");

    // LOAD_ONLY=<text>: readers send only the kinds whose name contains it (to see
    // which one a change in memory or latency comes from).
    let only = std::env::var("LOAD_ONLY").unwrap_or_default();
    let reads: Vec<(&'static str, u32)> = READS
        .iter()
        .copied()
        .filter(|(k, _)| k.contains(only.as_str()))
        .collect();
    assert!(
        !reads.is_empty(),
        "LOAD_ONLY={only} matches no kind of read"
    );

    let tallies: Tallies = Arc::default();
    let running = Arc::new(AtomicBool::new(true));
    let started = Instant::now();
    eprintln!(
        "load on {base} for {seconds} s: {readers} readers, {posts_per_second} issue update(s)/s ({posts_per_issue} per issue), {viewpoint_rate} viewpoint change(s)/s", viewpoint_rate = viewpoints_per_second
    );
    let (sampler, rss_samples) = sample_rss(pid, started, &running);
    let mut tasks = spawn_readers(readers, &reads, &reader, &tallies, &running);
    if posts_per_second > 0 {
        let (http, base, op_token, tallies, running) = (
            http.clone(),
            base.clone(),
            op_token.clone(),
            tallies.clone(),
            running.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every(posts_per_second));
            let (mut issue_id, mut issues, mut n) = (first_issue, 1u64, 0u64);
            while running.load(Ordering::Relaxed) {
                tick.tick().await;
                n += 1;
                // The last update of an issue restores service; the next one opens another.
                let last = posts_per_issue > 0 && n % posts_per_issue == 0;
                let body = if last {
                    json!({"status": "serviceRestored", "post": {"content": format!("<p>Update {n}: service is restored.</p>")}})
                } else {
                    json!({"post": {"content": format!("<p>Update {n}: still looking into it.</p>")}})
                };
                let t = Instant::now();
                let res = http
                    .post(format!("{base}/api/v1/operator/issues/{issue_id}/posts"))
                    .bearer_auth(&op_token)
                    .json(&body)
                    .send()
                    .await;
                record(&tallies, "POST issue update (API, fan-out)", t, status_of(res).await);
                if last {
                    issues += 1;
                    let t = Instant::now();
                    let declared = declare_issue(&http, &base, &op_token, issues).await;
                    let outcome = declared.as_ref().map(|_| 201).map_err(Clone::clone);
                    record(&tallies, "POST new issue (API, fan-out)", t, outcome);
                    if let Ok(id) = declared {
                        issue_id = id;
                    }
                }
            }
        }));
    }
    if viewpoints_per_second > 0 {
        let (browser, base, csrf, tallies, running) = (
            reader.browser.clone(),
            base.clone(),
            reader.csrf.clone(),
            tallies.clone(),
            running.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every(viewpoints_per_second));
            let mut n = 0usize;
            while running.load(Ordering::Relaxed) {
                tick.tick().await;
                n += 1;
                let id = &message_ids[n % message_ids.len()];
                let read = (n / message_ids.len()).is_multiple_of(2);
                let t = Instant::now();
                let res = if n.is_multiple_of(2) {
                    browser
                        .post(format!("{base}/portal/messages/{id}/viewpoint"))
                        .form(&[
                            ("csrf", csrf.as_str()),
                            ("change", if read { "markRead" } else { "markUnread" }),
                        ])
                        .send()
                        .await
                } else {
                    let action = if read { "markRead" } else { "markUnread" };
                    browser
                        .post(format!(
                            "{base}/v1.0/admin/serviceAnnouncement/messages/{action}"
                        ))
                        .json(&json!({"messageIds": [id]}))
                        .send()
                        .await
                };
                let kind = if n.is_multiple_of(2) {
                    "POST viewpoint (portal form)"
                } else {
                    "POST viewpoint (Graph action)"
                };
                record(&tallies, kind, t, status_of(res).await);
            }
        }));
    }

    hold(seconds, started, pid, &tallies).await;
    running.store(false, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _ = sampler.await;
    let rss_end = rss_kib(pid);
    stop(server);
    let db_end = db_mib("candor.db") + db_mib("candor.db-wal");

    let (total_requests, total_errors) = report(&tallies);
    let samples = rss_samples.lock().unwrap().clone();
    // Memory after warm-up: the first sample at least a tenth of the way in (or 10 s).
    let warm = (seconds / 10).max(10).min(seconds);
    let rss_start = samples
        .iter()
        .find(|(t, _)| *t >= warm)
        .or(samples.first())
        .map(|(_, r)| *r)
        .unwrap_or(0);
    // A leak goes on growing; caches and the allocator settle. So the second half of
    // the run is what says whether memory is flat.
    let rss_half = samples
        .iter()
        .find(|(t, _)| *t >= seconds / 2)
        .map_or(rss_start, |(_, r)| *r);
    let rss_max = samples.iter().map(|(_, r)| *r).max().unwrap_or(0);
    println!(
        "\n{total_requests} requests in {elapsed:.0} s ({:.0}/s), {total_errors} errors; \
         server RSS {:.1} MiB after warm-up ({warm} s), {:.1} MiB at half-time, \
         {:.1} MiB at the end ({:+.1} MiB over the second half), {:.1} MiB at most",
        total_requests as f64 / elapsed,
        mib(rss_start),
        mib(rss_half),
        mib(rss_end),
        mib(rss_end) - mib(rss_half),
        mib(rss_max),
    );
    println!(
        "database (candor.db and its WAL) {db_start:.1} MiB at the start, {db_end:.1} MiB at the end"
    );

    if long_run_kib > 0 {
        println!(
            "memory: the long run ended at {:.1} MiB; a server started fresh on its database \
             holds {:.1} MiB after {seconds} s of the same load: {:+.1} MiB came with uptime",
            mib(long_run_kib),
            mib(rss_end),
            mib(long_run_kib) - mib(rss_end),
        );
    }
    if total_errors > 0 {
        eprintln!("{total_errors} requests failed");
        std::process::exit(1);
    }
    if fresh_seconds > 0 && given_dir.is_none() {
        println!("\nThe same load on a server started fresh on this database, {fresh_seconds} s:");
        let fresh = Command::new(std::env::current_exe().unwrap())
            .args(std::env::args_os().skip(1))
            .env("LOAD_DATA_DIR", data)
            .env("LOAD_SECONDS", fresh_seconds.to_string())
            .env("LOAD_LONG_RUN_RSS_KIB", rss_end.to_string())
            .status()
            .unwrap();
        if !fresh.success() {
            std::process::exit(fresh.code().unwrap_or(1));
        }
    }
}
