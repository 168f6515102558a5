//! SMTP connections Candor opens itself, with Nagle's algorithm off, kept in a small pool.
//!
//! lettre 0.11.23 (the newest on crates.io) leaves `TCP_NODELAY` unset. It writes a
//! message's body and its closing `.` as two writes and then waits for the reply, so
//! Nagle holds the closing bytes until the relay's delayed ACK (40 ms at least on Linux).
//! Measured with the notify bench, the mailer alone sent 1,433 emails/s to a local sink
//! that Postfix's `smtp-source` fed at 47,634/s; with this module, 22,176–25,244/s.
//! lettre fixed this upstream (lettre#1159) but has not released it. Until it does,
//! Candor makes the TCP connection itself, sets `TCP_NODELAY`, and hands the stream to
//! lettre's `AsyncSmtpConnection`, which speaks the protocol: EHLO, STARTTLS, AUTH, MAIL,
//! RCPT, DATA. `smtps://` (TLS from the first byte) stays on lettre's own transport.

use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;

use crate::email::MailError;

/// How a connection is secured, from the URL's `tls` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Starttls {
    /// Plain (`smtp://host`): as lettre reads such a URL.
    Never,
    /// `?tls=opportunistic`: when the relay offers it.
    WhenOffered,
    /// `?tls=required`: a relay that does not offer it is refused.
    Required,
}

/// Where and how to connect, read from an `smtp://` URL.
#[derive(Clone)]
pub struct Relay {
    pub host: String,
    pub port: u16,
    pub starttls: Starttls,
    credentials: Option<Credentials>,
    hello: ClientId,
}

impl std::fmt::Debug for Relay {
    // Never the credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("starttls", &self.starttls)
            .finish_non_exhaustive()
    }
}

fn config(problem: impl std::fmt::Display) -> MailError {
    MailError::Config(format!(
        "the SMTP URL is not valid ({problem}); use smtp://host:port or smtps://host:port"
    ))
}

impl Relay {
    /// The relay an `smtp://` URL names; `None` for any other scheme.
    pub fn parse(url: &str) -> Result<Option<Relay>, MailError> {
        let parsed = url::Url::parse(url).map_err(config)?;
        if parsed.scheme() != "smtp" {
            return Ok(None);
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| config("it names no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let tls = parsed
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        let starttls = match tls.as_deref() {
            None => Starttls::Never,
            Some("opportunistic") => Starttls::WhenOffered,
            Some("required") => Starttls::Required,
            Some(other) => {
                return Err(config(format!(
                    "tls={other} is not one of required, opportunistic"
                )))
            }
        };
        // The ports lettre picks for the same URLs.
        let port = parsed.port().unwrap_or(match starttls {
            Starttls::Never => 25,
            _ => 587,
        });
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| config("its user or password is not UTF-8"))
        };
        let credentials = match parsed.password() {
            Some(password) => Some(Credentials::new(
                decode(parsed.username())?,
                decode(password)?,
            )),
            None => None,
        };
        let hello = match parsed.path().trim_matches('/') {
            "" => ClientId::default(),
            name => ClientId::Domain(name.to_owned()),
        };
        Ok(Some(Relay {
            host,
            port,
            starttls,
            credentials,
            hello,
        }))
    }
}

/// Why a send failed: the relay's answer or the SMTP exchange (lettre), or the
/// connection itself.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("{0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl Failure {
    /// The relay refused this message for good (5xx): retrying will not help.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Failure::Smtp(e) if e.is_permanent())
    }
}

/// A connection unused for longer than this is checked (`NOOP`) before it is reused:
/// relays close idle ones.
const CHECK_IDLE_AFTER: Duration = Duration::from_secs(5);
/// How long connecting and greeting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Up to `max` connections to one relay, each used by one send at a time.
pub struct Pool {
    relay: Relay,
    slots: tokio::sync::Semaphore,
    idle: std::sync::Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

impl Pool {
    pub fn new(relay: Relay, max: usize) -> Pool {
        Pool {
            relay,
            slots: tokio::sync::Semaphore::new(max.max(1)),
            idle: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn take_idle(&self) -> Option<(AsyncSmtpConnection, Instant)> {
        self.idle.lock().ok()?.pop()
    }

    fn give_back(&self, connection: AsyncSmtpConnection) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push((connection, Instant::now()));
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, Failure> {
        let r = &self.relay;
        let timed_out = |_| std::io::Error::from(std::io::ErrorKind::TimedOut);
        let stream = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio::net::TcpStream::connect((r.host.as_str(), r.port)),
        )
        .await
        .map_err(timed_out)??;
        stream.set_nodelay(true)?;
        let mut connection = tokio::time::timeout(
            CONNECT_TIMEOUT,
            AsyncSmtpConnection::connect_with_transport(Box::new(stream), &r.hello),
        )
        .await
        .map_err(timed_out)??;
        let secure = match r.starttls {
            Starttls::Never => false,
            Starttls::WhenOffered => connection.can_starttls(),
            Starttls::Required => true,
        };
        if secure {
            connection
                .starttls(TlsParameters::new(r.host.clone())?, &r.hello)
                .await?;
        }
        if let Some(credentials) = &r.credentials {
            connection
                .auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await?;
        }
        Ok(connection)
    }

    /// Sends one message (`envelope`, and the message as its bytes) on an idle
    /// connection or a new one.
    pub async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<(), Failure> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| std::io::Error::other("the pool is closed"))?;
        let mut connection = loop {
            match self.take_idle() {
                Some((mut c, since)) => {
                    if since.elapsed() < CHECK_IDLE_AFTER || c.test_connected().await {
                        break c;
                    }
                    c.abort().await;
                }
                None => break self.connect().await?,
            }
        };
        match connection.send(envelope, message).await {
            Ok(_) => {
                self.give_back(connection);
                Ok(())
            }
            Err(e) => {
                // lettre ends the session on any error (a refused recipient included):
                // the next send opens another.
                connection.abort().await;
                Err(e.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    /// A relay that refuses `bad@` recipients for good, takes everything else, and
    /// counts connections and messages.
    async fn sink() -> (u16, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (connections, messages) =
            (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (c, m) = (connections.clone(), messages.clone());
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                let m = m.clone();
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut lines = BufReader::new(read).lines();
                    write.write_all(b"220 sink ESMTP\r\n").await.unwrap();
                    let mut data = false;
                    while let Ok(Some(line)) = lines.next_line().await {
                        let reply: &[u8] = if data {
                            if line != "." {
                                continue;
                            }
                            data = false;
                            m.fetch_add(1, Ordering::SeqCst);
                            b"250 queued\r\n"
                        } else if line.starts_with("EHLO") {
                            b"250-sink\r\n250 8BITMIME\r\n"
                        } else if line.starts_with("RCPT") && line.contains("bad@") {
                            b"550 no such user\r\n"
                        } else if line.starts_with("DATA") {
                            data = true;
                            b"354 go on\r\n"
                        } else if line.starts_with("QUIT") {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            return;
                        } else {
                            b"250 ok\r\n"
                        };
                        if write.write_all(reply).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (port, connections, messages)
    }

    fn envelope(to: &str) -> Envelope {
        Envelope::new(
            Some("candor@localhost".parse().unwrap()),
            vec![to.parse().unwrap()],
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_refused_recipient_fails_for_good_and_the_pool_goes_on() {
        let (port, connections, messages) = sink().await;
        let relay = Relay::parse(&format!("smtp://127.0.0.1:{port}"))
            .unwrap()
            .unwrap();
        let pool = Pool::new(relay, 4);
        let body = b"Subject: hi\r\n\r\nHello.\r\n";
        pool.send(&envelope("ok@example.org"), body).await.unwrap();
        let refused = pool
            .send(&envelope("bad@example.org"), body)
            .await
            .unwrap_err();
        assert!(refused.is_permanent(), "{refused}");
        pool.send(&envelope("ok@example.org"), body).await.unwrap();
        pool.send(&envelope("ok@example.org"), body).await.unwrap();
        assert_eq!(messages.load(Ordering::SeqCst), 3);
        assert_eq!(
            connections.load(Ordering::SeqCst),
            2,
            "reused, except after the refusal, which ends lettre's session"
        );
    }

    #[tokio::test]
    async fn starttls_required_refuses_a_relay_without_it() {
        let (port, _, messages) = sink().await;
        let relay = Relay::parse(&format!("smtp://127.0.0.1:{port}?tls=required"))
            .unwrap()
            .unwrap();
        let pool = Pool::new(relay, 1);
        let failed = pool
            .send(
                &envelope("ok@example.org"),
                b"Subject: hi\r\n\r\nHello.\r\n",
            )
            .await;
        assert!(failed.is_err());
        assert_eq!(
            messages.load(Ordering::SeqCst),
            0,
            "nothing sent in the clear"
        );
    }

    #[tokio::test]
    async fn a_relay_that_is_down_is_a_failure_worth_retrying() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let relay = Relay::parse(&format!("smtp://127.0.0.1:{port}"))
            .unwrap()
            .unwrap();
        let failed = Pool::new(relay, 1)
            .send(&envelope("ok@example.org"), b"x")
            .await
            .unwrap_err();
        assert!(!failed.is_permanent(), "{failed}");
    }

    #[test]
    fn relays_are_read_as_lettre_reads_them() {
        let plain = Relay::parse("smtp://mail.example:2525").unwrap().unwrap();
        assert_eq!(
            (plain.host.as_str(), plain.port, plain.starttls),
            ("mail.example", 2525, Starttls::Never)
        );
        assert!(plain.credentials.is_none());
        let submission = Relay::parse("smtp://user%40x:p%20w@mail.example?tls=required")
            .unwrap()
            .unwrap();
        assert_eq!(submission.port, 587);
        assert_eq!(submission.starttls, Starttls::Required);
        assert!(submission.credentials.is_some());
        assert!(
            !format!("{submission:?}").contains("p w"),
            "no password in Debug"
        );
        assert_eq!(
            Relay::parse("smtp://mail.example?tls=opportunistic")
                .unwrap()
                .unwrap()
                .starttls,
            Starttls::WhenOffered
        );
        assert!(Relay::parse("smtps://mail.example").unwrap().is_none());
        assert!(Relay::parse("smtp://mail.example?tls=maybe").is_err());
        assert!(Relay::parse("not a url").is_err());
    }
}
