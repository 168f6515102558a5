//! SMTP connections Candor opens itself: Nagle's algorithm off, commands pipelined
//! (RFC 2920) when the relay offers it, kept in a small pool.
//!
//! lettre 0.11.23 (the newest on crates.io) leaves `TCP_NODELAY` unset and writes a
//! message's body and its closing `.` as two writes, so Nagle held the closing bytes until
//! the relay's delayed ACK (40 ms at least on Linux): 1,433 emails/s to a local sink that
//! Postfix's `smtp-source` fed at 47,634/s. lettre fixed that upstream (lettre#1159) but
//! has not released it. Its connection also speaks in lockstep, one command and then its
//! reply: four round trips per message. A profile of the delivery queue showed the
//! kernel's TCP path, not Candor, taking half the CPU. So this module speaks the few
//! commands of a send itself: `MAIL`, `RCPT` and `DATA` go in one write when the relay
//! offers `PIPELINING`, and the message with its closing `.` in another, two round trips
//! per message. lettre still provides what is not Candor's own: the command syntax
//! (`Ehlo`, `Mail`, `Rcpt`, `Data`), addresses and envelopes, and TLS for `STARTTLS`.
//! `smtps://` (TLS from the first byte) stays on lettre's own transport.

use std::time::{Duration, Instant};

use base64::Engine;
use futures::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use lettre::address::Envelope;
// lettre marks its stream type deprecated for its own reasons (it plans to make it
// private); it is still the one way to reach lettre's TLS for STARTTLS.
#[allow(deprecated)]
use lettre::transport::smtp::client::AsyncNetworkStream;
use lettre::transport::smtp::client::TlsParameters;
use lettre::transport::smtp::commands::{Data, Ehlo, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, MailBodyParameter, MailParameter};

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

/// A user name and password for `AUTH`.
#[derive(Clone)]
struct Credentials {
    user: String,
    password: String,
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
            Some(password) => Some(Credentials {
                user: decode(parsed.username())?,
                password: decode(password)?,
            }),
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

/// Why a send failed.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The relay said no: for good (5xx) or for now (4xx).
    #[error("it answered {code} {text}")]
    Refused { code: u16, text: String },
    /// This message needs something the relay does not offer; retrying will not help.
    #[error("{0}")]
    Unsupported(String),
    /// The relay does not answer as SMTP says it should, or lacks what the URL asks for.
    #[error("{0}")]
    Broken(String),
    #[error("{0}")]
    Tls(#[from] lettre::transport::smtp::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl Failure {
    /// Retrying this message will not help.
    pub fn is_permanent(&self) -> bool {
        match self {
            Failure::Refused { code, .. } => *code >= 500,
            Failure::Unsupported(_) => true,
            _ => false,
        }
    }
}

/// A connection unused for longer than this is checked (`NOOP`) before it is reused:
/// relays close idle ones.
const CHECK_IDLE_AFTER: Duration = Duration::from_secs(5);
/// How long connecting, greeting and logging in may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest reply line and whole reply taken from a relay (Postfix's
/// `line_length_limit` and `smtp_response_limit`, as lettre uses them).
const MAX_REPLY_LINE: usize = 1000;
const MAX_REPLY: usize = 100_000;

/// One reply: its code and its lines' text.
#[derive(Debug)]
struct Reply {
    code: u16,
    lines: Vec<String>,
}

impl Reply {
    fn text(&self) -> String {
        self.lines.join(" ")
    }

    /// This reply when its code is `wanted` (any 2xx where a 2xx is wanted: Postfix's
    /// `smtp-sink` answers `AUTH` with 250, not 235); a refusal for 4xx and 5xx, and a
    /// broken relay for any other code.
    fn require(self, wanted: u16, after: &str) -> Result<Reply, Failure> {
        if self.code == wanted || (wanted / 100 == 2 && self.code / 100 == 2) {
            Ok(self)
        } else if self.code >= 400 {
            Err(Failure::Refused {
                code: self.code,
                text: self.text(),
            })
        } else {
            Err(Failure::Broken(format!(
                "it answered {after} with {} {} where SMTP says {wanted}",
                self.code,
                self.text()
            )))
        }
    }
}

/// One connection to the relay, past its greeting and `EHLO`.
#[allow(deprecated)]
struct Session {
    io: BufReader<AsyncNetworkStream>,
    /// What the relay offered in its last `EHLO` reply.
    offers: Offers,
}

/// The extensions of an `EHLO` reply that a send looks at, read once per `EHLO`
/// rather than on every message.
#[derive(Default)]
struct Offers {
    pipelining: bool,
    chunking: bool,
    starttls: bool,
    smtputf8: bool,
    eight_bit_mime: bool,
    /// The `AUTH` mechanisms, upper-cased.
    auth: Vec<String>,
}

impl Offers {
    fn read(reply: &Reply) -> Offers {
        let mut offers = Offers::default();
        for line in reply.lines.iter().skip(1) {
            let line = line.to_ascii_uppercase();
            let mut words = line.split_whitespace();
            match words.next() {
                Some("PIPELINING") => offers.pipelining = true,
                Some("CHUNKING") => offers.chunking = true,
                Some("STARTTLS") => offers.starttls = true,
                Some("SMTPUTF8") => offers.smtputf8 = true,
                Some("8BITMIME") => offers.eight_bit_mime = true,
                Some("AUTH") => offers.auth = words.map(str::to_owned).collect(),
                _ => {}
            }
        }
        offers
    }
}

#[allow(deprecated)]
impl Session {
    async fn write(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        let stream = self.io.get_mut();
        stream.write_all(bytes).await?;
        stream.flush().await?;
        Ok(())
    }

    /// Appends one line, its CRLF included, to `into`.
    async fn line(&mut self, into: &mut Vec<u8>) -> Result<(), Failure> {
        loop {
            let available = self.io.fill_buf().await?;
            if available.is_empty() {
                return Err(Failure::Broken("it closed the connection".into()));
            }
            let (taken, complete) = match available.iter().position(|&b| b == b'\n') {
                Some(end) => (end + 1, true),
                None => (available.len(), false),
            };
            into.extend(available.iter().take(taken));
            self.io.consume_unpin(taken);
            if into.len() > MAX_REPLY_LINE + 2 {
                return Err(Failure::Broken(format!(
                    "it sent a reply line longer than {MAX_REPLY_LINE} bytes"
                )));
            }
            if complete {
                return Ok(());
            }
        }
    }

    /// The next reply, all its lines (`250-…` continues, `250 …` ends).
    async fn reply(&mut self) -> Result<Reply, Failure> {
        let mut lines = Vec::new();
        let mut total = 0;
        loop {
            let mut raw = Vec::new();
            self.line(&mut raw).await?;
            total += raw.len();
            if total > MAX_REPLY {
                return Err(Failure::Broken(format!(
                    "it sent a reply longer than {MAX_REPLY} bytes"
                )));
            }
            let text = String::from_utf8_lossy(&raw);
            let text = text.trim_end_matches(['\r', '\n']);
            let code = text
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .filter(|c| (200..600).contains(c))
                .ok_or_else(|| {
                    let start: String = text.chars().take(60).collect();
                    Failure::Broken(format!("its reply `{start}` has no SMTP reply code"))
                })?;
            lines.push(text.get(4..).unwrap_or_default().to_owned());
            if text.get(3..4) != Some("-") {
                return Ok(Reply { code, lines });
            }
        }
    }

    async fn command(&mut self, command: &str, wanted: u16) -> Result<Reply, Failure> {
        self.write(command.as_bytes()).await?;
        let verb = command.split_whitespace().next().unwrap_or_default();
        self.reply().await?.require(wanted, verb)
    }

    async fn hello(&mut self, hello: &ClientId) -> Result<(), Failure> {
        let reply = self
            .command(&Ehlo::new(hello.clone()).to_string(), 250)
            .await?;
        self.offers = Offers::read(&reply);
        Ok(())
    }

    async fn log_in(&mut self, credentials: &Credentials) -> Result<(), Failure> {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let mechanisms = &self.offers.auth;
        if mechanisms.iter().any(|m| m == "PLAIN") {
            let token = b64(&format!("\0{}\0{}", credentials.user, credentials.password));
            self.command(&format!("AUTH PLAIN {token}\r\n"), 235)
                .await?;
        } else if mechanisms.iter().any(|m| m == "LOGIN") {
            self.command("AUTH LOGIN\r\n", 334).await?;
            self.command(&format!("{}\r\n", b64(&credentials.user)), 334)
                .await?;
            self.command(&format!("{}\r\n", b64(&credentials.password)), 235)
                .await?;
        } else {
            return Err(Failure::Broken(
                "the URL has credentials and the relay offers neither AUTH PLAIN nor AUTH LOGIN"
                    .into(),
            ));
        }
        Ok(())
    }

    async fn open(relay: &Relay) -> Result<Session, Failure> {
        let tcp = tokio::net::TcpStream::connect((relay.host.as_str(), relay.port)).await?;
        tcp.set_nodelay(true)?;
        let mut session = Session {
            io: BufReader::new(AsyncNetworkStream::use_existing_tokio1(Box::new(tcp))),
            offers: Offers::default(),
        };
        session.reply().await?.require(220, "the connection")?;
        session.hello(&relay.hello).await?;
        let secure = match relay.starttls {
            Starttls::Never => false,
            Starttls::WhenOffered => session.offers.starttls,
            Starttls::Required if !session.offers.starttls => {
                return Err(Failure::Broken(
                    "it does not offer STARTTLS, which the URL requires (tls=required)".into(),
                ))
            }
            Starttls::Required => true,
        };
        if secure {
            session.command("STARTTLS\r\n", 220).await?;
            // Whatever came before the handshake is not covered by TLS: a relay (or a
            // man in the middle) that sends it is not to be believed.
            if !session.io.buffer().is_empty() {
                return Err(Failure::Broken(
                    "it sent more after agreeing to STARTTLS".into(),
                ));
            }
            let mut stream = session.io.into_inner();
            stream
                .upgrade_tls(TlsParameters::new(relay.host.clone())?)
                .await?;
            session = Session {
                io: BufReader::new(stream),
                offers: Offers::default(),
            };
            session.hello(&relay.hello).await?;
        }
        if let Some(credentials) = &relay.credentials {
            session.log_in(credentials).await?;
        }
        Ok(session)
    }

    /// Is the relay still there?
    async fn noop(&mut self) -> bool {
        self.command("NOOP\r\n", 250).await.is_ok()
    }

    /// The replies to a pipelined group of `count` commands: `MAIL`, each `RCPT`, and
    /// the `last` (`DATA`, which wants 354, or `BDAT`, which wants 250), as its verb and
    /// the code it wants. Every reply is read, so the connection stays in step; the
    /// first refusal is the one reported.
    async fn replies(&mut self, count: usize, last: (&str, u16)) -> Result<(), Failure> {
        let mut refused = None;
        for i in 1..=count {
            let reply = self.reply().await?;
            let outcome = if i == count {
                reply.require(last.1, last.0)
            } else {
                reply.require(250, "MAIL or RCPT")
            };
            if let Err(e) = outcome {
                refused.get_or_insert(e);
            }
        }
        refused.map_or(Ok(()), Err)
    }

    /// One message: the envelope's commands, then the message.
    async fn send(&mut self, envelope: &Envelope, message: &[u8]) -> Result<(), Failure> {
        let mut parameters = Vec::new();
        let non_ascii = |a: &lettre::Address| !AsRef::<str>::as_ref(a).is_ascii();
        if envelope.from().is_some_and(non_ascii) || envelope.to().iter().any(non_ascii) {
            if !self.offers.smtputf8 {
                return Err(Failure::Unsupported(
                    "an address is not ASCII and the relay does not offer SMTPUTF8".into(),
                ));
            }
            parameters.push(MailParameter::SmtpUtfEight);
        }
        if !message.is_ascii() {
            if !self.offers.eight_bit_mime {
                return Err(Failure::Unsupported(
                    "the message is not ASCII and the relay does not offer 8BITMIME".into(),
                ));
            }
            parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        let mail = Mail::new(envelope.from().cloned(), parameters).to_string();
        let rcpts: Vec<String> = envelope
            .to()
            .iter()
            .map(|to| Rcpt::new(to.clone(), Vec::new()).to_string())
            .collect();
        let pipelining = self.offers.pipelining;
        if pipelining && self.offers.chunking {
            // RFC 3030: the message goes as one `BDAT … LAST` chunk, as it is, behind
            // the envelope, and the whole send is one write and one round trip.
            let mut group = mail.into_bytes();
            for rcpt in &rcpts {
                group.extend_from_slice(rcpt.as_bytes());
            }
            group.extend_from_slice(format!("BDAT {} LAST\r\n", message.len()).as_bytes());
            group.extend_from_slice(message);
            self.write(&group).await?;
            return self.replies(rcpts.len() + 2, ("BDAT", 250)).await;
        }
        if pipelining {
            let mut group = mail;
            for rcpt in &rcpts {
                group.push_str(rcpt);
            }
            group.push_str(&Data.to_string());
            self.write(group.as_bytes()).await?;
            self.replies(rcpts.len() + 2, ("DATA", 354)).await?;
        } else {
            self.command(&mail, 250).await?;
            for rcpt in &rcpts {
                self.command(rcpt, 250).await?;
            }
            self.command(&Data.to_string(), 354).await?;
        }
        self.write(&data_block(message)).await?;
        self.reply().await?.require(250, "the message")?;
        Ok(())
    }
}

/// The message as `DATA` carries it: a `.` that starts a line doubled (RFC 5321
/// §4.5.2), ended by a line with a lone `.`.
fn data_block(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 64 + 5);
    let mut line_start = true;
    for &b in message {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = b == b'\n';
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Up to `max` connections to one relay, each used by one send at a time.
pub struct Pool {
    relay: Relay,
    slots: tokio::sync::Semaphore,
    idle: std::sync::Mutex<Vec<(Session, Instant)>>,
}

impl Pool {
    pub fn new(relay: Relay, max: usize) -> Pool {
        Pool {
            relay,
            slots: tokio::sync::Semaphore::new(max.max(1)),
            idle: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn take_idle(&self) -> Option<(Session, Instant)> {
        self.idle.lock().ok()?.pop()
    }

    fn give_back(&self, session: Session) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push((session, Instant::now()));
        }
    }

    async fn connect(&self) -> Result<Session, Failure> {
        tokio::time::timeout(CONNECT_TIMEOUT, Session::open(&self.relay))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
    }

    /// Sends one message (`envelope`, and the message as its bytes) on an idle
    /// connection or a new one.
    pub async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<(), Failure> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| std::io::Error::other("the pool is closed"))?;
        let mut session = loop {
            match self.take_idle() {
                Some((mut s, since)) => {
                    if since.elapsed() < CHECK_IDLE_AFTER || s.noop().await {
                        break s;
                    }
                }
                None => break self.connect().await?,
            }
        };
        let sent = session.send(envelope, message).await;
        // After a failure the session may be mid-transaction: the next send opens
        // another rather than trusting it.
        if sent.is_ok() {
            self.give_back(session);
        }
        sent
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

    /// What a test relay saw.
    #[derive(Default)]
    struct Seen {
        connections: AtomicUsize,
        messages: Mutex<Vec<String>>,
        /// For each `MAIL`: whether the rest of the envelope had come with it.
        pipelined: Mutex<Vec<bool>>,
        /// How many times a client asked for STARTTLS.
        starttls: AtomicUsize,
        /// The user and password of each `AUTH LOGIN`, decoded.
        logins: Mutex<Vec<(String, String)>>,
    }

    impl Seen {
        fn messages(&self) -> Vec<String> {
            self.messages.lock().unwrap().clone()
        }
    }

    /// A relay that refuses `bad@` recipients for good (and then `DATA` or `BDAT`, as
    /// RFC 2920 asks), takes everything else, offers `AUTH LOGIN`, 8BITMIME and the
    /// `extensions` it is given (`PIPELINING`, `CHUNKING`), and answers a pipelined
    /// group in one write as Postfix does: it flushes when it has read all that came.
    async fn relay(extensions: &'static [&'static str]) -> (u16, Arc<Seen>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Seen::default());
        let s = seen.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                s.connections.fetch_add(1, Ordering::SeqCst);
                let s = s.clone();
                tokio::spawn(async move {
                    let (read, write) = socket.into_split();
                    let mut read = BufReader::new(read);
                    let mut write = tokio::io::BufWriter::new(write);
                    write.write_all(b"220 relay ESMTP\r\n").await.unwrap();
                    write.flush().await.unwrap();
                    let (mut data, mut body, mut recipients) = (false, String::new(), 0);
                    let mut login: Vec<String> = Vec::new();
                    let mut in_login = false;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let decode = |l: &str| {
                            let raw = base64::engine::general_purpose::STANDARD.decode(l.trim());
                            String::from_utf8(raw.unwrap_or_default()).unwrap_or_default()
                        };
                        let reply: &[u8] = if in_login {
                            login.push(decode(&line));
                            if login.len() == 1 {
                                b"334 UGFzc3dvcmQ6\r\n"
                            } else {
                                in_login = false;
                                let (user, password) = (login[0].clone(), login[1].clone());
                                s.logins.lock().unwrap().push((user, password));
                                b"235 2.7.0 ok\r\n"
                            }
                        } else if line.starts_with("AUTH LOGIN") {
                            in_login = true;
                            login.clear();
                            b"334 VXNlcm5hbWU6\r\n"
                        } else if data {
                            if line != ".\r\n" {
                                body.push_str(&line);
                                continue;
                            }
                            data = false;
                            s.messages.lock().unwrap().push(std::mem::take(&mut body));
                            b"250 queued\r\n"
                        } else if line.starts_with("EHLO") {
                            let mut hello = String::from("250-relay\r\n250-AUTH LOGIN\r\n");
                            for extension in extensions {
                                hello.push_str(&format!("250-{extension}\r\n"));
                            }
                            hello.push_str("250 8BITMIME\r\n");
                            let _ = write.write_all(hello.as_bytes()).await;
                            let _ = write.flush().await;
                            continue;
                        } else if let Some(size) = line.strip_prefix("BDAT ") {
                            let size: usize =
                                size.split_whitespace().next().unwrap().parse().unwrap();
                            let mut chunk = vec![0; size];
                            read.read_exact(&mut chunk).await.unwrap();
                            if recipients == 0 {
                                b"554 no valid recipients\r\n"
                            } else {
                                let chunk = String::from_utf8(chunk).unwrap();
                                s.messages.lock().unwrap().push(chunk);
                                b"250 queued\r\n"
                            }
                        } else if line.starts_with("MAIL") {
                            s.pipelined.lock().unwrap().push(!read.buffer().is_empty());
                            recipients = 0;
                            b"250 ok\r\n"
                        } else if line.starts_with("RCPT") && line.contains("bad@") {
                            b"550 5.1.1 no such user\r\n"
                        } else if line.starts_with("RCPT") {
                            recipients += 1;
                            b"250 ok\r\n"
                        } else if line.starts_with("DATA") && recipients == 0 {
                            b"554 no valid recipients\r\n"
                        } else if line.starts_with("DATA") {
                            data = true;
                            b"354 go on\r\n"
                        } else if line.starts_with("QUIT") {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            let _ = write.flush().await;
                            return;
                        } else if line.starts_with("STARTTLS") {
                            // Agrees, then answers the TLS handshake with plain text.
                            let _ = write.write_all(b"220 go ahead\r\n").await;
                            let _ = write.flush().await;
                            s.starttls.fetch_add(1, Ordering::SeqCst);
                            let mut hello = [0u8; 512];
                            let _ = read.read(&mut hello).await;
                            let _ = write.write_all(b"250 this is not TLS\r\n").await;
                            let _ = write.flush().await;
                            return;
                        } else {
                            b"250 ok\r\n"
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
        (port, seen)
    }

    fn pool(port: u16, query: &str, max: usize) -> Pool {
        let relay = Relay::parse(&format!("smtp://127.0.0.1:{port}{query}"))
            .unwrap()
            .unwrap();
        Pool::new(relay, max)
    }

    /// A message for tests that look at everything but the message.
    const HELLO: &[u8] = b"Subject: hi\r\n\r\nHello.\r\n";

    fn envelope(to: &str) -> Envelope {
        Envelope::new(
            Some("candor@localhost".parse().unwrap()),
            vec![to.parse().unwrap()],
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_refused_recipient_fails_for_good_and_the_pool_goes_on() {
        for extensions in EVERY_WAY {
            let (port, seen) = relay(extensions).await;
            let pool = pool(port, "", 4);
            pool.send(&envelope("ok@example.org"), HELLO).await.unwrap();
            let refused = pool
                .send(&envelope("bad@example.org"), HELLO)
                .await
                .unwrap_err();
            assert!(refused.is_permanent(), "{refused}");
            assert!(
                refused.to_string().contains("550 5.1.1 no such user"),
                "the relay's own words: {refused}"
            );
            pool.send(&envelope("ok@example.org"), HELLO).await.unwrap();
            pool.send(&envelope("ok@example.org"), HELLO).await.unwrap();
            assert_eq!(seen.messages().len(), 3);
            assert_eq!(
                seen.connections.load(Ordering::SeqCst),
                2,
                "reused, except after the refusal ({extensions:?})"
            );
        }
    }

    /// A relay in lockstep, one that pipelines, one that also takes `BDAT`.
    const EVERY_WAY: [&[&str]; 3] = [&[], &["PIPELINING"], &["PIPELINING", "CHUNKING"]];

    #[tokio::test]
    async fn the_envelope_goes_in_one_write_only_to_a_relay_that_offers_pipelining() {
        for extensions in EVERY_WAY {
            let pipelining = !extensions.is_empty();
            let (port, seen) = relay(extensions).await;
            let pool = pool(port, "", 2);
            for _ in 0..3 {
                pool.send(&envelope("ok@example.org"), HELLO).await.unwrap();
            }
            assert_eq!(seen.messages().len(), 3);
            assert_eq!(
                *seen.pipelined.lock().unwrap(),
                vec![pipelining; 3],
                "RCPT and DATA came with MAIL exactly when the relay offered PIPELINING"
            );
        }
    }

    #[tokio::test]
    async fn a_message_in_one_chunk_arrives_as_it_is() {
        let (port, seen) = relay(&["PIPELINING", "CHUNKING"]).await;
        let message = b"Subject: dots\r\n\r\n.\r\n..two\r\nno CRLF at the end";
        pool(port, "", 1)
            .send(&envelope("ok@example.org"), message)
            .await
            .unwrap();
        assert_eq!(
            seen.messages(),
            vec![String::from_utf8(message.to_vec()).unwrap()],
            "BDAT carries the bytes as they are: no dots doubled, nothing added"
        );
    }

    #[tokio::test]
    async fn a_line_starting_with_a_dot_arrives_whole() {
        let (port, seen) = relay(&["PIPELINING"]).await;
        let message = b"Subject: dots\r\n\r\n.\r\n..two\r\n.hidden\r\nlast line without CRLF";
        pool(port, "", 1)
            .send(&envelope("ok@example.org"), message)
            .await
            .unwrap();
        // The relay keeps the transparency dots (RFC 5321 §4.5.2): each line that
        // started with one has one more, and the message is closed with a CRLF.
        assert_eq!(
            seen.messages(),
            vec!["Subject: dots\r\n\r\n..\r\n...two\r\n..hidden\r\nlast line without CRLF\r\n"]
        );
        assert_eq!(
            data_block(b".\r\n"),
            b"..\r\n.\r\n",
            "a lone dot never ends the message early"
        );
    }

    #[tokio::test]
    async fn credentials_in_the_url_log_in_before_the_first_message() {
        let (port, seen) = relay(&["PIPELINING", "CHUNKING"]).await;
        let relay = Relay::parse(&format!("smtp://candor:p%40ss%20word@127.0.0.1:{port}"))
            .unwrap()
            .unwrap();
        let pool = Pool::new(relay, 1);
        for _ in 0..2 {
            pool.send(&envelope("ok@example.org"), HELLO).await.unwrap();
        }
        assert_eq!(
            *seen.logins.lock().unwrap(),
            vec![("candor".to_owned(), "p@ss word".to_owned())],
            "once per connection, the password decoded from the URL"
        );
        assert_eq!(seen.messages().len(), 2);
    }

    #[tokio::test]
    async fn starttls_required_refuses_a_relay_without_it() {
        let (port, seen) = relay(&["PIPELINING"]).await;
        let failed = pool(port, "?tls=required", 1)
            .send(&envelope("ok@example.org"), HELLO)
            .await
            .unwrap_err();
        assert!(failed.to_string().contains("STARTTLS"), "{failed}");
        assert!(seen.messages().is_empty(), "nothing sent in the clear");
    }

    #[tokio::test]
    async fn a_failed_starttls_handshake_sends_nothing_and_is_worth_retrying() {
        for query in ["?tls=required", "?tls=opportunistic"] {
            let (port, seen) = relay(&["PIPELINING", "STARTTLS"]).await;
            let failed = pool(port, query, 1)
                .send(&envelope("ok@example.org"), HELLO)
                .await
                .unwrap_err();
            assert!(!failed.is_permanent(), "{query}: {failed}");
            // rustls's own words for a peer that does not speak TLS.
            assert!(
                failed.to_string().contains("corrupt message"),
                "{query}: {failed}"
            );
            assert_eq!(seen.starttls.load(Ordering::SeqCst), 1, "{query}");
            assert!(seen.messages().is_empty(), "{query}: nothing in the clear");
        }
    }

    #[tokio::test]
    async fn opportunistic_tls_sends_in_the_clear_to_a_relay_without_starttls() {
        let (port, seen) = relay(&["PIPELINING"]).await;
        pool(port, "?tls=opportunistic", 1)
            .send(&envelope("ok@example.org"), HELLO)
            .await
            .unwrap();
        assert_eq!(seen.starttls.load(Ordering::SeqCst), 0);
        assert_eq!(seen.messages().len(), 1);
    }

    #[tokio::test]
    async fn a_relay_that_answers_nonsense_is_a_failure_worth_retrying() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let _ = socket.write_all(b"HTTP/1.1 400 Bad Request\r\n").await;
            }
        });
        let failed = pool(port, "", 1)
            .send(&envelope("ok@example.org"), b"x")
            .await
            .unwrap_err();
        assert!(!failed.is_permanent(), "{failed}");
        assert!(
            failed.to_string().contains("no SMTP reply code"),
            "{failed}"
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
