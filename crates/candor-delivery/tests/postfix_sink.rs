//! Email through a real SMTP server that pipelines: Postfix's `smtp-sink` (Debian's
//! `postfix` package), which offers PIPELINING and AUTH PLAIN and dumps each
//! transaction to a file. `.ci/run` installs it; elsewhere the test says it skipped.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use candor_delivery::email::Mailer;
use candor_domain::email::OutboundEmail;

/// Stops the sink when the test ends, however it ends.
struct Sink(Child);

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn program() -> Option<&'static str> {
    ["/usr/sbin/smtp-sink", "/usr/bin/smtp-sink"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

async fn start(dump: &Path) -> Option<(Sink, u16)> {
    let Some(program) = program() else {
        assert!(
            std::env::var("CI").is_err(),
            "smtp-sink is missing: .ci/run installs Debian's postfix package"
        );
        eprintln!("skipped: smtp-sink not installed (apt-get install postfix)");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut args: Vec<String> = Vec::new();
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if root {
        // smtp-sink refuses to run as root; the dump directory is open to its user.
        args.extend(["-u".into(), "nobody".into()]);
        Command::new("chmod")
            .args(["0777", &dump.display().to_string()])
            .status()
            .unwrap();
    }
    args.extend([
        "-d".into(),
        format!("{}/%M.", dump.display()),
        format!("127.0.0.1:{port}"),
        "64".into(),
    ]);
    let child = Command::new(program)
        .args(&args)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let sink = Sink(child);
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Some((sink, port));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("smtp-sink did not start listening on port {port}");
}

fn email(i: usize) -> OutboundEmail {
    OutboundEmail {
        to: format!("noc{i}@tenant.example"),
        subject: format!("News {i}"),
        body: format!("Mail delays in Europe West.\n.a line that starts with a dot\nnumber {i}"),
        kind: "notify.issue".into(),
        tenant: None,
        delivery_id: Some(format!("d{i}")),
        unsubscribe: Some(format!("https://status.example/unsubscribe/{i}")),
        html: Some(format!("<p>Mail delays, number {i}</p>")),
    }
}

#[tokio::test]
async fn pipelined_mail_with_a_login_reaches_postfix_whole() {
    let dump = tempfile::tempdir().unwrap();
    let Some((_sink, port)) = start(dump.path()).await else {
        return;
    };
    let mailer = std::sync::Arc::new(
        Mailer::smtp(
            &format!("smtp://candor:secret@127.0.0.1:{port}"),
            "Candor <candor@localhost>",
        )
        .unwrap(),
    );
    let sends: Vec<_> = (0..40)
        .map(|i| {
            let mailer = mailer.clone();
            tokio::spawn(async move { mailer.send(&email(i)).await })
        })
        .collect();
    for send in sends {
        send.await.unwrap().unwrap();
    }
    // smtp-sink writes a transaction's file after it has answered it.
    let mut dumped = Vec::new();
    for _ in 0..100 {
        dumped = std::fs::read_dir(dump.path())
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
            .collect();
        if dumped.len() == 40 && dumped.iter().all(|d| d.contains("number ")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(dumped.len(), 40, "one transaction per message");
    for i in 0..40 {
        let mine: Vec<&String> = dumped
            .iter()
            // smtp-sink writes its dump with plain line feeds.
            .filter(|d| d.contains(&format!("Subject: News {i}\n")))
            .collect();
        assert_eq!(
            mine.len(),
            1,
            "message {i} arrived once: {:?}",
            dumped.first()
        );
        let text = mine[0];
        assert!(text.contains(&format!("noc{i}@tenant.example")), "{text}");
        assert!(
            text.contains(&format!("<d{i}@deliveries.candor>")),
            "{text}"
        );
        assert!(
            text.contains("\n.a line that starts with a dot"),
            "the transparency dot is taken off again: {text}"
        );
    }
}
