//! Public news of broad issues: the live status page, the Atom feed (read back with an
//! independent parser), and the backup status site, published by the job runner and
//! served by a plain static web server after Candor has stopped.

use std::sync::Arc;

use candor::jobs::JobRunner;
use candor_app::health as svc;
use candor_domain::health::{ComponentId, Scope};
use candor_domain::identity::{OperatorRole, RegionCode};

use crate::common::TestApp;
use crate::health::{incident, operator, place};

async fn declare_broad_and_narrow(app: &TestApp) -> (String, String) {
    place(app).await;
    let im = operator(app, OperatorRole::IncidentManager);
    let mut broad = incident(Scope {
        regions: [RegionCode::parse("eu-west").unwrap()]
            .into_iter()
            .collect(),
        ..Default::default()
    });
    broad.title = "Mail delays across Europe West".into();
    let (broad, _) = svc::create_issue(&app.core, &im, None, broad)
        .await
        .unwrap();
    let mut narrow = incident(Scope {
        components: [ComponentId::parse("eu-west-su1-mbx01").unwrap()]
            .into_iter()
            .collect(),
        ..Default::default()
    });
    narrow.title = "One mailbox database is slow".into();
    let (narrow, _) = svc::create_issue(&app.core, &im, None, narrow)
        .await
        .unwrap();
    (broad.id.to_string(), narrow.id.to_string())
}

async fn the_public_page_and_feed_show_broad_issues_only(app: TestApp) {
    let (broad, narrow) = declare_broad_and_narrow(&app).await;
    // Unclear where it stops, though it started on one scale unit: public.
    let im = operator(&app, OperatorRole::IncidentManager);
    let mut unclear = incident(Scope {
        scale_units: [candor_domain::health::ScaleUnitId::parse("eu-west-su1").unwrap()]
            .into_iter()
            .collect(),
        unclear: true,
        ..Default::default()
    });
    unclear.title = "Sign-ins fail, extent unknown".into();
    let (unclear, _) = svc::create_issue(&app.core, &im, None, unclear)
        .await
        .unwrap();
    let http = app.http();
    let page = http
        .get(app.url("/status"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Mail delays across Europe West"), "{page}");
    assert!(page.contains(&broad));
    assert!(!page.contains(&narrow), "a narrow issue is not public");
    assert!(
        page.contains(unclear.id.as_str()),
        "an unclear scope is public even where it names infrastructure"
    );
    assert!(!page.contains("<script>alert"), "post bodies are sanitized");
    let dutch = http
        .get(app.url("/status?lang=nl"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(dutch.contains("lang=\"nl\""));
    assert!(
        dutch.contains("We onderzoeken het."),
        "the Dutch translation of the post"
    );

    let res = http
        .get(app.url("/feeds/status.atom"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/atom+xml"));
    let bytes = res.bytes().await.unwrap();
    let feed = feed_rs::parser::parse(&bytes[..]).expect("a valid Atom feed");
    assert_eq!(feed.feed_type, feed_rs::model::FeedType::Atom);
    let ids: std::collections::BTreeSet<&str> =
        feed.entries.iter().map(|e| e.id.as_str()).collect();
    let expected = [
        format!("urn:candor:issue:{}", unclear.id),
        format!("urn:candor:issue:{broad}"),
    ];
    assert_eq!(
        ids,
        expected.iter().map(String::as_str).collect(),
        "the broad and the unclear issue; never the narrow one"
    );
    let entry = feed.entries.iter().find(|e| e.id == expected[1]).unwrap();
    assert!(entry
        .title
        .as_ref()
        .unwrap()
        .content
        .contains("Mail delays across Europe West"));
    assert!(entry.updated.is_some());
    let nl = http
        .get(app.url("/feeds/status.atom?lang=nl"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let nl = feed_rs::parser::parse(&nl[..]).unwrap();
    assert_eq!(nl.language.as_deref(), Some("nl"));
}

/// Python's static file server on a free port, serving `dir`.
struct StaticServer {
    child: std::process::Child,
    port: u16,
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn static_server(dir: &std::path::Path) -> StaticServer {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new("python3")
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ])
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3 (for its static file server)");
    let server = StaticServer { child, port };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return server;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("python3 -m http.server did not start");
}

async fn the_backup_site_is_published_and_readable_with_candor_stopped(app: TestApp) {
    let site = tempfile::tempdir().unwrap();
    let (broad, narrow) = declare_broad_and_narrow(&app).await;
    // Declaring queued a rebuild; the job runner publishes it.
    let runner =
        JobRunner::new(app.core.clone()).with_status_site(site.path().to_owned(), app.base.clone());
    let mut ran = 0;
    while let Some(outcome) = runner.run_one().await.unwrap() {
        assert!(
            matches!(outcome, candor::jobs::Outcome::Done(_)),
            "{outcome:?}"
        );
        ran += 1;
    }
    assert!(ran >= 1, "the change queued a rebuild");
    let current = site.path().join("current");
    assert!(current.join("index.html").exists());
    // Candor stops; a plain web server serves what was published.
    let core = Arc::clone(&app.core);
    let candor = app.base.clone();
    drop(app);
    let server = static_server(&current).await;
    let http = reqwest::Client::new();
    let get = |path: &str| {
        let url = format!("http://127.0.0.1:{}/{path}", server.port);
        let http = http.clone();
        async move {
            let res = http.get(&url).send().await.unwrap();
            assert_eq!(res.status(), 200, "{url}");
            res.text().await.unwrap()
        }
    };
    let index = get("index.html").await;
    assert!(index.contains("Mail delays across Europe West"), "{index}");
    assert!(!index.contains(&narrow));
    // Subscribing needs Candor: the copy's form link points back at it.
    assert!(
        index.contains(&format!("href=\"{candor}/status/subscribe?lang=en\"")),
        "{index}"
    );
    for lang in ["nl", "fr", "zh-TW", "ko"] {
        let page = get(&format!("{lang}/index.html")).await;
        assert!(page.contains(&format!("lang=\"{lang}\"")), "{lang}");
        assert!(page.contains(&broad), "{lang}");
        assert!(
            page.contains(&format!("{candor}/status/subscribe?lang={lang}")),
            "{lang}"
        );
    }
    let json: serde_json::Value = serde_json::from_str(&get("status.json").await).unwrap();
    assert_eq!(json["issues"][0]["id"], broad.as_str());
    let atom = get("status.atom").await;
    let feed = feed_rs::parser::parse(atom.as_bytes()).unwrap();
    assert_eq!(feed.entries.len(), 1);
    drop(core);
}

/// Rebuilds used to be keyed by the second, so a change in a second whose rebuild had
/// already run was dropped until the minute's rebuild. Now each change asks for its own
/// generation: every change of one frozen second reaches `status.json`, whether it came
/// before a rebuild or after one.
async fn every_change_of_one_second_reaches_the_backup_site(app: TestApp) {
    place(&app).await;
    let im = operator(&app, OperatorRole::IncidentManager);
    let site = tempfile::tempdir().unwrap();
    let runner =
        JobRunner::new(app.core.clone()).with_status_site(site.path().to_owned(), app.base.clone());
    let declare = |n: usize| {
        let mut broad = incident(Scope {
            regions: [RegionCode::parse("eu-west").unwrap()]
                .into_iter()
                .collect(),
            ..Default::default()
        });
        broad.title = format!("Region-wide problem number {n}");
        let (core, im) = (app.core.clone(), im.clone());
        async move {
            svc::create_issue(&core, &im, None, broad)
                .await
                .unwrap()
                .0
                .id
        }
    };
    let drain = || async {
        while let Some(outcome) = runner.run_one().await.unwrap() {
            assert!(
                matches!(outcome, candor::jobs::Outcome::Done(_)),
                "{outcome:?}"
            );
        }
    };
    let published = || {
        let path = site.path().join("current").join("status.json");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        json
    };
    // The clock stands still: every change below happens in the same second.
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(declare(n).await);
    }
    drain().await;
    ids.push(declare(3).await);
    drain().await;
    let json = published();
    let listed: Vec<&str> = json["issues"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["id"].as_str())
        .collect();
    for id in &ids {
        assert!(
            listed.contains(&id.as_str()),
            "{id} is published: {listed:?}"
        );
    }
    assert_eq!(
        json["lastChangeDateTime"],
        candor_domain::time_util::rfc3339(candor_domain::clock::Clock::now(app.clock.as_ref())),
        "the site says how recent the newest change it includes is"
    );
}

crate::both!(
    every_change_of_one_second_reaches_the_backup_site,
    the_public_page_and_feed_show_broad_issues_only,
    the_backup_site_is_published_and_readable_with_candor_stopped,
    a_private_feed_link_works_until_revoked,
);

async fn a_private_feed_link_works_until_revoked(app: TestApp) {
    let (broad, narrow) = declare_broad_and_narrow(&app).await;
    let ga = app
        .world
        .a
        .user(candor_domain::identity::TenantRole::GlobalAdministrator)
        .email
        .clone();
    let browser = app.sign_in(&ga, false).await;
    let csrf = app.csrf(&browser, "/portal/feeds").await;
    let page = browser
        .post(app.url("/portal/feeds"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("label", "Wallboard in the ops room"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let url = page
        .split("<code class=\"secret\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the new link is shown once")
        .to_owned();
    assert!(url.starts_with(&app.base), "{url}");
    let http = app.http();
    // The calendar of the same link is shown beside it.
    assert!(
        page.contains(&format!("id=\"calendar-link\">{url}/maintenance.ics<")),
        "{page}"
    );
    let calendar = http
        .get(format!("{url}/maintenance.ics"))
        .send()
        .await
        .unwrap();
    assert_eq!(calendar.status(), 200);
    assert!(calendar
        .text()
        .await
        .unwrap()
        .starts_with("BEGIN:VCALENDAR"));
    let res = http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let feed = feed_rs::parser::parse(&res.bytes().await.unwrap()[..]).expect("valid Atom");
    let ids: Vec<String> = feed.entries.iter().map(|e| e.id.clone()).collect();
    assert!(
        ids.contains(&format!("urn:candor:issue:{narrow}")),
        "{ids:?}"
    );
    assert!(
        ids.contains(&format!("urn:candor:issue:{broad}")),
        "{ids:?}"
    );
    assert!(
        !String::from_utf8_lossy(&http.get(&url).send().await.unwrap().bytes().await.unwrap())
            .contains(url.rsplit('/').next().unwrap()),
        "the token is not repeated inside the feed"
    );
    // Guessing does not work; the page lists the link without its token.
    let wrong = format!("{}/feeds/tenants/feed-not-a-real-token-at-all", app.base);
    assert_eq!(http.get(&wrong).send().await.unwrap().status(), 404);
    let listed = browser
        .get(app.url("/portal/feeds"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(listed.contains("Wallboard in the ops room"));
    assert!(!listed.contains(url.rsplit('/').next().unwrap()));
    // Only Global Administrators manage links.
    let reader = app
        .world
        .a
        .user(candor_domain::identity::TenantRole::ServiceSupportAdministrator)
        .email
        .clone();
    let other = app.sign_in(&reader, false).await;
    assert_eq!(
        other
            .get(app.url("/portal/feeds"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    // Revoked: gone at once.
    let id = listed
        .split("/portal/feeds/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_owned();
    let csrf = crate::common::csrf_of(&listed);
    let res = browser
        .post(app.url(&format!("/portal/feeds/{id}/revoke")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(http.get(&url).send().await.unwrap().status(), 404);
    let log = app
        .activities(candor_domain::audit::AuditChain::Tenant(app.world.a.id))
        .await;
    assert!(log.iter().any(|a| a == "New-FeedLink"));
    assert!(log.iter().any(|a| a == "Revoke-FeedLink"));
}

/// An S3-compatible server (moto's, from PyPI) on a free port.
struct S3Server {
    child: std::process::Child,
    port: u16,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn s3_server() -> Option<S3Server> {
    let available = std::process::Command::new("python3")
        .args(["-c", "import moto.server, flask"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        assert!(
            std::env::var("CI").is_err(),
            "moto's S3 server is missing; .ci/run installs it (pip install 'moto[server]')"
        );
        eprintln!(
            "skipping: python3 with moto[server] is not installed (pip install 'moto[server]')"
        );
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new("python3")
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let server = S3Server { child, port };
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Some(server);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("moto's S3 server did not start listening on port {port}");
}

/// `candor status-site publish --bucket` uploads the site to an S3-compatible bucket, from
/// where plain HTTP reads it, with the right content types; a bad bucket URL is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backup_site_is_published_to_an_s3_compatible_bucket() {
    let Some(s3) = s3_server().await else {
        return;
    };
    let app = crate::common::spawn(crate::common::Backend::Sqlite)
        .await
        .unwrap();
    let (broad, narrow) = declare_broad_and_narrow(&app).await;
    let data_dir = match &app.db {
        crate::common::DbGuard::Sqlite(db) => db.path.parent().unwrap().to_owned(),
        crate::common::DbGuard::Postgres(_) => unreachable!(),
    };
    let endpoint = format!("http://127.0.0.1:{}", s3.port);
    let http = reqwest::Client::new();
    let made = http
        .put(format!("{endpoint}/status-bucket"))
        .send()
        .await
        .unwrap();
    assert!(made.status().is_success(), "{:?}", made.text().await);
    // Public reads, as an operator sets up a bucket that serves a status site.
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                       "Resource": "arn:aws:s3:::status-bucket/*"}],
    });
    let res = http
        .put(format!("{endpoint}/status-bucket?policy"))
        .body(policy.to_string())
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{:?}", res.text().await);
    let site = tempfile::tempdir().unwrap();
    let publish = |bucket: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_candor"))
            .args(["status-site", "publish", "--data-dir"])
            .arg(&data_dir)
            .arg("--dir")
            .arg(site.path())
            .args(["--bucket", bucket])
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT", &endpoint)
            .env("AWS_ALLOW_HTTP", "true")
            .output()
            .unwrap()
    };
    let out = publish("s3://status-bucket/public");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("s3://status-bucket/public"), "{stdout}");
    let get = |path: &str| {
        let url = format!("{endpoint}/status-bucket/public/{path}");
        let http = http.clone();
        async move {
            let res = http.get(&url).send().await.unwrap();
            assert_eq!(res.status(), 200, "{url}");
            let kind = res
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            (kind, res.text().await.unwrap())
        }
    };
    let (kind, index) = get("index.html").await;
    assert!(kind.starts_with("text/html"), "{kind}");
    assert!(index.contains("Mail delays across Europe West"), "{index}");
    assert!(!index.contains(&narrow));
    let (_, dutch) = get("nl/index.html").await;
    assert!(dutch.contains("lang=\"nl\"") && dutch.contains(&broad));
    let (kind, json) = get("status.json").await;
    assert!(kind.starts_with("application/json"), "{kind}");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["issues"][0]["id"], broad.as_str());
    let (_, atom) = get("status.atom").await;
    assert_eq!(
        feed_rs::parser::parse(atom.as_bytes())
            .unwrap()
            .entries
            .len(),
        1
    );

    let bad = publish("ftp://status-bucket");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("s3://"));
}
