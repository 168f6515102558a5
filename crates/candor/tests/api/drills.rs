//! Failure drills: one channel's destination breaks during a region-wide incident, and
//! the others still carry the news at once. Each drill runs the worker and the job
//! lanes as `candor serve` does, against real servers on loopback that misbehave on
//! purpose (an SMTP relay that never answers, closes mid-DATA or refuses connections; a
//! webhook host that hangs, answers slowly or resets; an S3 endpoint that is down).
//! In each: every other delivery arrives (asserted by id) while the broken one is still
//! broken; once it comes back its deliveries are retried and arrive; nothing is left in
//! "sending".

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use candor::deliveries::{Deadlines, DeliveryRunner, DeliverySettings};
use candor::jobs::JobRunner;
use candor_app::health::{self as svc};
use candor_domain::health::{Channel, Delivery, DeliveryStatus, Scope, Topic, WebhookEndpointId};
use candor_domain::identity::{Actor, OperatorRole, RegionCode, TenantRole};
use candor_domain::jobs::JobLane;
use candor_domain::language::Language;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::common::{TenantFixture, TestApp};
use crate::health::{incident, operator, place};

/// How a drill server behaves right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Mode {
    Healthy = 0,
    /// Accepts and never says a word.
    Silent = 1,
    /// SMTP: answers every command, then closes the connection in the middle of DATA.
    CloseMidData = 2,
    /// HTTP: answers after `SLOW`.
    Slow = 3,
    /// HTTP: resets the connection once the request is read.
    Reset = 4,
}

impl Mode {
    fn of(n: u8) -> Mode {
        [
            Mode::Healthy,
            Mode::Silent,
            Mode::CloseMidData,
            Mode::Slow,
            Mode::Reset,
        ]
        .into_iter()
        .find(|m| *m as u8 == n)
        .unwrap_or(Mode::Healthy)
    }
}

/// How long the slow webhook host takes to answer (inside the drill's deadline).
const SLOW: StdDuration = StdDuration::from_secs(4);

/// A server on a fixed loopback port that can be taken down (connections refused) and
/// brought back, and whose behaviour can be changed while it runs. `got` holds the
/// delivery ids it answered with success, in order.
struct DrillServer {
    port: u16,
    mode: Arc<AtomicU8>,
    got: Arc<Mutex<Vec<String>>>,
    /// Requests it received but did not answer with success.
    unanswered: Arc<Mutex<usize>>,
    smtp: bool,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl DrillServer {
    async fn start(smtp: bool, mode: Mode) -> DrillServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = DrillServer {
            port,
            mode: Arc::new(AtomicU8::new(mode as u8)),
            got: Arc::default(),
            unanswered: Arc::default(),
            smtp,
            task: Mutex::new(None),
        };
        server.up().await;
        server
    }

    fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::Relaxed);
    }

    /// Listens again on the same port.
    async fn up(&self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        let (mode, got, unanswered, smtp) = (
            self.mode.clone(),
            self.got.clone(),
            self.unanswered.clone(),
            self.smtp,
        );
        let task = tokio::spawn(async move {
            // Dropped with the task: taking the server down closes every connection.
            let mut connections = JoinSet::new();
            while let Ok((socket, _)) = listener.accept().await {
                let (mode, got, unanswered) = (mode.clone(), got.clone(), unanswered.clone());
                connections.spawn(async move {
                    if smtp {
                        smtp_session(socket, mode, got, unanswered).await;
                    } else {
                        http_session(socket, mode, got, unanswered).await;
                    }
                });
            }
        });
        *self.task.lock().unwrap() = Some(task);
    }

    /// Stops listening and drops every connection: new ones are refused.
    async fn down(&self) {
        let task = self.task.lock().unwrap().take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }

    fn got(&self) -> BTreeSet<String> {
        self.got.lock().unwrap().iter().cloned().collect()
    }

    fn got_count(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    fn unanswered(&self) -> usize {
        *self.unanswered.lock().unwrap()
    }
}

impl Drop for DrillServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().unwrap().take() {
            task.abort();
        }
    }
}

/// A small SMTP server: enough of RFC 5321 for lettre, recording each message's
/// delivery id (its Message-ID is `<delivery id@deliveries.candor>`).
async fn smtp_session(
    socket: tokio::net::TcpStream,
    mode: Arc<AtomicU8>,
    got: Arc<Mutex<Vec<String>>>,
    unanswered: Arc<Mutex<usize>>,
) {
    if Mode::of(mode.load(Ordering::Relaxed)) == Mode::Silent {
        *unanswered.lock().unwrap() += 1;
        let _held = socket;
        std::future::pending::<()>().await;
        return;
    }
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    if write.write_all(b"220 drill ESMTP\r\n").await.is_err() {
        return;
    }
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let verb = line.trim().to_ascii_uppercase();
        let reply: &[u8] = if verb.starts_with("EHLO") || verb.starts_with("HELO") {
            b"250 drill\r\n"
        } else if verb.starts_with("DATA") {
            if write.write_all(b"354 go ahead\r\n").await.is_err() {
                return;
            }
            let mut message = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                if Mode::of(mode.load(Ordering::Relaxed)) == Mode::CloseMidData {
                    *unanswered.lock().unwrap() += 1;
                    return;
                }
                if line == ".\r\n" {
                    break;
                }
                message.push_str(&line);
            }
            if let Some(id) = message.lines().find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("message-id").then(|| {
                    value
                        .trim()
                        .trim_start_matches('<')
                        .split('@')
                        .next()
                        .unwrap_or_default()
                        .to_owned()
                })
            }) {
                got.lock().unwrap().push(id);
            }
            b"250 queued\r\n"
        } else if verb.starts_with("QUIT") {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else {
            b"250 ok\r\n"
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}

/// A small HTTP/1.1 server taking one POST per connection, recording its
/// `Candor-Delivery-Id` when it answers 200.
async fn http_session(
    mut socket: tokio::net::TcpStream,
    mode: Arc<AtomicU8>,
    got: Arc<Mutex<Vec<String>>>,
    unanswered: Arc<Mutex<usize>>,
) {
    let mut request = Vec::new();
    let mut buf = [0u8; 8192];
    let (head, body_start) = loop {
        let n = match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        request.extend_from_slice(&buf[..n]);
        if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break (
                String::from_utf8_lossy(&request[..end]).to_string(),
                end + 4,
            );
        }
    };
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while request.len() - body_start < length {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    match Mode::of(mode.load(Ordering::Relaxed)) {
        Mode::Silent => {
            *unanswered.lock().unwrap() += 1;
            std::future::pending::<()>().await;
        }
        Mode::Reset => {
            *unanswered.lock().unwrap() += 1;
            // A zero linger makes the close a reset (and so it never blocks).
            #[allow(deprecated)]
            let _ = socket.set_linger(Some(StdDuration::ZERO));
            return;
        }
        Mode::Slow => tokio::time::sleep(SLOW).await,
        Mode::Healthy | Mode::CloseMidData => {}
    }
    let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
    if socket.write_all(answer).await.is_ok() {
        if let Some(id) = header("candor-delivery-id") {
            got.lock().unwrap().push(id);
        }
    }
}

/// What breaks in a drill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Broken {
    /// The relay in this mode (`None`: refusing connections).
    Smtp(Option<Mode>),
    /// One webhook host in this mode; the tenants' other host stays healthy.
    WebhookHost(Mode),
    /// The status site's bucket: nothing listens on its endpoint.
    Bucket,
}

fn global_admin(t: &TenantFixture) -> Actor {
    let p = t.user(TenantRole::GlobalAdministrator);
    Actor::TenantUser {
        tenant_id: t.id,
        user_id: p.id.parse().unwrap(),
        email: p.email.clone(),
        roles: [TenantRole::GlobalAdministrator].into_iter().collect(),
    }
}

/// Every tenant's contacts and webhook endpoints: three addresses, two endpoints on the
/// healthy host and one on the other. Returns the endpoints on the other host.
async fn subscribe(
    app: &TestApp,
    healthy: &DrillServer,
    other: &DrillServer,
) -> BTreeSet<WebhookEndpointId> {
    let mut on_other = BTreeSet::new();
    for t in [&app.world.a, &app.world.b] {
        let ga = global_admin(t);
        for n in 0..3 {
            candor_app::contacts::add(
                &app.core,
                &ga,
                None,
                t.id,
                candor_app::contacts::ContactInput {
                    email: format!("noc{n}@{}.example", t.id),
                    language: Language::English,
                    topics: [Topic::Incidents].into(),
                    services: Vec::new(),
                },
            )
            .await
            .unwrap();
        }
        for (n, host) in [healthy, healthy, other].into_iter().enumerate() {
            let endpoint = candor_app::webhooks::add(
                &app.core,
                &ga,
                None,
                t.id,
                candor_app::webhooks::WebhookInput {
                    url: format!("http://127.0.0.1:{}/hook/{n}", host.port),
                    format: None,
                    topics: [Topic::Incidents].into(),
                    services: Vec::new(),
                },
            )
            .await
            .unwrap()
            .endpoint;
            if std::ptr::eq(host, other) {
                on_other.insert(endpoint.id);
            }
        }
    }
    on_other
}

async fn deliveries(app: &TestApp) -> Vec<Delivery> {
    let mut all = Vec::new();
    for t in [app.world.a.id, app.world.b.id] {
        all.extend(
            app.core
                .store
                .tenant_deliveries(t, None, 500)
                .await
                .unwrap(),
        );
    }
    all
}

fn ids<'a>(ds: impl IntoIterator<Item = &'a Delivery>) -> BTreeSet<String> {
    ds.into_iter().map(|d| d.id.clone()).collect()
}

/// Waits (real time, up to a minute) until `done` holds.
async fn until<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..600 {
        if done().await {
            return;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    panic!("gave up waiting: {what}");
}

/// An S3-compatible server's endpoint, not started yet: the bucket is down.
pub(crate) struct DrillBucket {
    pub(crate) endpoint: String,
    port: u16,
    server: Option<std::process::Child>,
}

impl DrillBucket {
    /// On a free port, not started.
    pub(crate) fn new() -> DrillBucket {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        DrillBucket {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            server: None,
        }
    }

    pub(crate) fn open(&self) -> candor_delivery::site::Bucket {
        candor_delivery::site::Bucket::open(
            "s3://drill-bucket/site",
            &[
                ("aws_endpoint", self.endpoint.as_str()),
                ("aws_access_key_id", "test"),
                ("aws_secret_access_key", "test"),
                ("aws_region", "us-east-1"),
                ("aws_allow_http", "true"),
            ],
        )
        .unwrap()
    }

    /// Starts moto's S3 server on the endpoint's port and makes the bucket.
    pub(crate) async fn up(&mut self) {
        let child = std::process::Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        self.server = Some(child);
        until("moto's S3 server listens", || async {
            tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
        })
        .await;
        let made = reqwest::Client::new()
            .put(format!("{}/drill-bucket", self.endpoint))
            .send()
            .await
            .unwrap();
        assert!(made.status().is_success());
        // Public reads, as a bucket that serves a status site is set up.
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                           "Resource": "arn:aws:s3:::drill-bucket/*"}],
        });
        let res = reqwest::Client::new()
            .put(format!("{}/drill-bucket?policy", self.endpoint))
            .body(policy.to_string())
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
    }

    async fn status_json(&self) -> Option<serde_json::Value> {
        let res = reqwest::Client::new()
            .get(format!("{}/drill-bucket/site/status.json", self.endpoint))
            .send()
            .await
            .ok()?;
        res.status().is_success().then_some(res.json().await.ok()?)
    }
}

impl Drop for DrillBucket {
    fn drop(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn moto_available() -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import moto.server, flask"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").is_err(),
            "moto's S3 server is missing; .ci/run installs it (pip install 'moto[server]')"
        );
        eprintln!("skipping: python3 with moto[server] is not installed");
    }
    ok
}

fn site_issues(json: &serde_json::Value) -> BTreeSet<String> {
    json["issues"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["id"].as_str().map(str::to_owned))
        .collect()
}

async fn drill(app: TestApp, broken: Broken) {
    if broken == Broken::Bucket && !moto_available() {
        return;
    }
    place(&app).await;
    // Both tenants on the mailbox database, so both hear of an Exchange incident.
    let both = candor_domain::health::TopologyChanges {
        placements: vec![candor_domain::health::Placement {
            tenant_id: app.world.b.id,
            component: candor_domain::health::ComponentId::parse("eu-west-su1-mbx01").unwrap(),
        }],
        ..Default::default()
    };
    candor_app::topology::apply(&app.core, &Actor::System, None, &both)
        .await
        .unwrap();
    app.core
        .allow_private_webhooks
        .store(true, Ordering::Relaxed);
    let smtp_mode = match broken {
        Broken::Smtp(Some(mode)) => mode,
        _ => Mode::Healthy,
    };
    let smtp = DrillServer::start(true, smtp_mode).await;
    if broken == Broken::Smtp(None) {
        smtp.down().await;
    }
    let healthy_host = DrillServer::start(false, Mode::Healthy).await;
    let other_mode = match broken {
        Broken::WebhookHost(mode) => mode,
        _ => Mode::Healthy,
    };
    let other_host = DrillServer::start(false, other_mode).await;
    let on_other = subscribe(&app, &healthy_host, &other_host).await;

    let mut bucket = (broken == Broken::Bucket).then(DrillBucket::new);
    let site = tempfile::tempdir().unwrap();

    // Everything `candor serve` runs: the delivery lanes and one job runner per lane.
    let stop = CancellationToken::new();
    let mailer = candor_delivery::email::Mailer::smtp(
        &format!("smtp://127.0.0.1:{}", smtp.port),
        "Candor <candor@localhost>",
    )
    .unwrap();
    let deadline = if other_mode == Mode::Slow {
        SLOW * 3
    } else {
        StdDuration::from_secs(2)
    };
    let worker = DeliveryRunner::new(
        app.core.clone(),
        Some(Arc::new(mailer)),
        DeliverySettings {
            deadlines: Deadlines {
                email: deadline,
                webhook: deadline,
                push: deadline,
            },
            ..DeliverySettings::default()
        },
    );
    let mut running = vec![tokio::spawn(worker.run(stop.clone()))];
    for lane in JobLane::ALL {
        let mut runner = JobRunner::new(app.core.clone()).with_public_url(app.base.clone());
        if let Some(b) = &bucket {
            runner = runner.with_bucket(b.open());
        }
        let runner = runner
            .with_status_site(site.path().to_owned(), app.base.clone())
            .only(lane);
        running.push(tokio::spawn(runner.run(stop.clone())));
    }

    // A region-wide incident: every tenant in Europe West is told.
    let im = operator(&app, OperatorRole::IncidentManager);
    let scope = Scope {
        regions: [RegionCode::parse("eu-west").unwrap()]
            .into_iter()
            .collect(),
        ..Default::default()
    };
    let (issue, _) = svc::create_issue(&app.core, &im, None, incident(scope))
        .await
        .unwrap();
    let issue_id = issue.id.to_string();
    let is_broken = |d: &Delivery| match broken {
        Broken::Smtp(_) => d.channel == Channel::Email,
        Broken::WebhookHost(_) => d.endpoint.is_some_and(|e| on_other.contains(&e)),
        Broken::Bucket => false,
    };
    // 2 tenants × (3 addresses + 3 endpoints).
    until("every delivery of the incident is queued", || async {
        deliveries(&app).await.len() >= 12
    })
    .await;
    assert_eq!(deliveries(&app).await.len(), 12);
    let all = deliveries(&app).await;
    let (broken_ones, others): (Vec<&Delivery>, Vec<&Delivery>) =
        all.iter().partition(|d| is_broken(d));
    let expect_emails = ids(others
        .iter()
        .copied()
        .filter(|d| d.channel == Channel::Email));
    let expect_hooks = ids(others
        .iter()
        .copied()
        .filter(|d| d.channel == Channel::Webhook));

    // The others arrive while the broken destination is still broken.
    until("the other channels' deliveries arrive", || async {
        smtp.got().is_superset(&expect_emails)
            && healthy_host
                .got()
                .union(&other_host.got())
                .cloned()
                .collect::<BTreeSet<_>>()
                .is_superset(&expect_hooks)
    })
    .await;
    let site_status = || async {
        let path = site.path().join("current").join("status.json");
        let text = tokio::fs::read_to_string(path).await.ok()?;
        serde_json::from_str::<serde_json::Value>(&text).ok()
    };
    until("the backup site shows the incident", || async {
        site_status()
            .await
            .is_some_and(|j| site_issues(&j).contains(&issue_id))
    })
    .await;
    // A receiver has a message a moment before the worker records it as sent: wait for
    // the records, then check that no broken one is among them.
    let expect_sent = ids(others.iter().copied());
    let sent_now = || async {
        ids(deliveries(&app)
            .await
            .iter()
            .filter(|d| d.status == DeliveryStatus::Sent))
    };
    until("the others are recorded as sent", || async {
        sent_now().await.is_superset(&expect_sent)
    })
    .await;
    assert_eq!(
        sent_now().await,
        expect_sent,
        "{broken:?}: every other delivery is sent, and no broken one"
    );
    if let Broken::Smtp(_) = broken {
        // Six failures in a row: the relay is backed off as a whole, and operators see it.
        until("the relay's circuit breaker opens", || async {
            app.core
                .destinations
                .snapshot(candor_domain::clock::Clock::now(app.clock.as_ref()))
                .iter()
                .any(|d| d.channel == Channel::Email && d.open && d.failed >= 5)
        })
        .await;
        let console = app
            .sign_in(
                &app.world.operator(OperatorRole::IncidentManager).email,
                true,
            )
            .await;
        let page = console
            .get(app.url("/console/deliveries"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let relay = format!("127.0.0.1:{}", smtp.port);
        let table = page
            .split("id=\"destination-breakers\"")
            .nth(1)
            .expect("the Deliveries page lists destinations");
        let row = table
            .split("<tr")
            .find(|r| r.contains(&relay))
            .expect("the relay is listed");
        assert!(
            row.contains("breaker-open") && row.contains("Open until"),
            "{row}"
        );
        let metrics = reqwest::get(app.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("candor_delivery_breaker_open")
                    && l.contains("channel=\"email\"")
                    && l.contains(&relay)
                    && l.ends_with(" 1")),
            "{metrics}"
        );
    }
    match broken {
        Broken::Smtp(_) => assert!(
            smtp.got().is_empty(),
            "no email got through the broken relay"
        ),
        Broken::WebhookHost(Mode::Slow) => assert_eq!(
            other_host.got_count(),
            0,
            "the others arrived before the slow host answered once"
        ),
        Broken::WebhookHost(_) => assert!(other_host.got().is_empty()),
        Broken::Bucket => {
            let b = bucket.as_ref().unwrap();
            assert!(b.status_json().await.is_none(), "the bucket is down");
        }
    }

    // The broken one comes back: its deliveries are retried (past their backoff and the
    // breaker's cool-down, on the clock the test controls) and arrive.
    match broken {
        Broken::Smtp(None) => smtp.up().await,
        Broken::Smtp(Some(_)) => smtp.set(Mode::Healthy),
        Broken::WebhookHost(_) => other_host.set(Mode::Healthy),
        Broken::Bucket => bucket.as_mut().unwrap().up().await,
    }
    if !matches!(broken, Broken::WebhookHost(Mode::Slow)) {
        if let Broken::WebhookHost(_) | Broken::Smtp(_) = broken {
            // Attempts that were still out when it came back fail first.
            until("the broken destination's attempts are recorded", || async {
                deliveries(&app)
                    .await
                    .iter()
                    .all(|d| d.status != DeliveryStatus::Sending)
            })
            .await;
        }
    }
    let expect_broken = ids(broken_ones.iter().copied());
    until(
        "the broken destination's deliveries arrive once it is back",
        || async {
            app.clock.advance(time::Duration::minutes(10));
            let got = match broken {
                Broken::Smtp(_) => smtp.got(),
                Broken::WebhookHost(_) => other_host.got(),
                Broken::Bucket => {
                    let b = bucket.as_ref().unwrap();
                    return b
                        .status_json()
                        .await
                        .is_some_and(|j| site_issues(&j).contains(&issue_id));
                }
            };
            got.is_superset(&expect_broken)
        },
    )
    .await;
    until("nothing is left sending", || async {
        deliveries(&app)
            .await
            .iter()
            .all(|d| d.status == DeliveryStatus::Sent)
    })
    .await;
    if let Broken::WebhookHost(mode) = broken {
        if mode != Mode::Slow {
            assert!(other_host.unanswered() > 0, "the drill did break the host");
        }
    }
    stop.cancel();
    for task in running {
        let _ = task.await;
    }
}

async fn a_relay_that_never_answers_holds_up_nothing_else(app: TestApp) {
    drill(app, Broken::Smtp(Some(Mode::Silent))).await;
}

async fn a_relay_that_closes_mid_data_holds_up_nothing_else(app: TestApp) {
    drill(app, Broken::Smtp(Some(Mode::CloseMidData))).await;
}

async fn a_relay_that_refuses_connections_holds_up_nothing_else(app: TestApp) {
    drill(app, Broken::Smtp(None)).await;
}

async fn a_webhook_host_that_hangs_holds_up_nothing_else(app: TestApp) {
    drill(app, Broken::WebhookHost(Mode::Silent)).await;
}

async fn a_slow_webhook_host_holds_up_nothing_else(app: TestApp) {
    drill(app, Broken::WebhookHost(Mode::Slow)).await;
}

async fn a_webhook_host_that_resets_holds_up_nothing_else(app: TestApp) {
    drill(app, Broken::WebhookHost(Mode::Reset)).await;
}

async fn a_bucket_that_is_down_holds_up_nothing_else(app: TestApp) {
    drill(app, Broken::Bucket).await;
}

crate::both!(
    a_relay_that_never_answers_holds_up_nothing_else,
    a_relay_that_closes_mid_data_holds_up_nothing_else,
    a_relay_that_refuses_connections_holds_up_nothing_else,
    a_webhook_host_that_hangs_holds_up_nothing_else,
    a_slow_webhook_host_holds_up_nothing_else,
    a_webhook_host_that_resets_holds_up_nothing_else,
    a_bucket_that_is_down_holds_up_nothing_else,
);
