//! Sending email: through an SMTP relay when one is configured, otherwise into a pickup
//! directory (one `.eml` file per message) so a demo or a fresh install loses nothing and
//! shows what would have been sent.

use std::path::PathBuf;

use candor_domain::email::OutboundEmail;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Configuration that cannot work (bad URL or sender address).
    #[error("{0}")]
    Config(String),
    /// This message can never be sent (bad recipient address); retrying will not help.
    #[error("{0}")]
    Rejected(String),
    /// The relay or the disk failed; worth retrying.
    #[error("{0}")]
    Transport(String),
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Pickup(AsyncFileTransport<Tokio1Executor>),
}

/// SMTP connections kept open to the relay at most.
pub const SMTP_CONNECTIONS: u32 = 32;

/// Where mail goes, and from whom it says it is.
pub struct Mailer {
    from: Mailbox,
    transport: Transport,
    description: String,
}

fn sender(from: &str) -> Result<Mailbox, MailError> {
    from.parse().map_err(|e| {
        MailError::Config(format!(
            "the sender `{from}` is not an email address such as \"Candor <candor@provider.example>\" ({e})"
        ))
    })
}

/// Checks a sender address before anything starts.
pub fn check_sender(from: &str) -> Result<(), MailError> {
    sender(from).map(|_| ())
}

impl Mailer {
    /// An SMTP relay: `smtp://host:port` (STARTTLS when offered is not required),
    /// `smtp://host:port?tls=required`, or `smtps://host:port`; credentials as
    /// `smtp://user:password@host`.
    pub fn smtp(url: &str, from: &str) -> Result<Mailer, MailError> {
        let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|e| {
            MailError::Config(format!(
                "the SMTP URL is not valid ({e}); use smtp://host:port or smtps://host:port"
            ))
        })?;
        let host = url
            .split_once("://")
            .map(|(_, rest)| rest.rsplit('@').next().unwrap_or(rest))
            .unwrap_or(url)
            .split(['/', '?'])
            .next()
            .unwrap_or("")
            .to_owned();
        // Enough pooled connections for the delivery worker's concurrency: SMTP sends one
        // message at a time per connection.
        let pool = lettre::transport::smtp::PoolConfig::new().max_size(SMTP_CONNECTIONS);
        Ok(Mailer {
            from: sender(from)?,
            transport: Transport::Smtp(builder.pool_config(pool).build()),
            description: format!("the SMTP relay at {host}"),
        })
    }

    /// A pickup directory: each message becomes a `.eml` file there.
    pub fn pickup(dir: PathBuf, from: &str) -> Result<Mailer, MailError> {
        std::fs::create_dir_all(&dir).map_err(|e| {
            MailError::Config(format!(
                "cannot create the mail directory {}: {e}",
                dir.display()
            ))
        })?;
        let description = format!("files in {}", dir.display());
        Ok(Mailer {
            from: sender(from)?,
            transport: Transport::Pickup(AsyncFileTransport::new(dir)),
            description,
        })
    }

    /// Where mail goes, for the log (never with credentials).
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// Sends one plain-text message.
    pub async fn send(&self, email: &OutboundEmail) -> Result<(), MailError> {
        let to: Mailbox = email.to.parse().map_err(|e| {
            MailError::Rejected(format!("`{}` is not an email address ({e})", email.to))
        })?;
        let mut builder = Message::builder()
            .message_id(
                email
                    .delivery_id
                    .as_ref()
                    .map(|id| format!("<{id}@deliveries.candor>")),
            )
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone());
        if let Some(url) = &email.unsubscribe {
            // RFC 2369 and the one-click form of RFC 8058: mail clients offer a button.
            builder = builder
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe"),
                    format!("<{url}>"),
                ))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".to_owned(),
                ));
        }
        // News goes out as plain text and HTML; Lockbox mail stays plain text, where no
        // mail client can make a link of anything.
        let built = if email.kind.starts_with("notify.") {
            builder.multipart(MultiPart::alternative_plain_html(
                email.body.clone(),
                html_alternative(&email.subject, &email.body, email.unsubscribe.as_deref()),
            ))
        } else {
            builder
                .header(ContentType::TEXT_PLAIN)
                .body(email.body.clone())
        };
        let message =
            built.map_err(|e| MailError::Rejected(format!("the message cannot be built: {e}")))?;
        match &self.transport {
            Transport::Smtp(t) => t.send(message).await.map(|_| ()).map_err(|e| {
                if e.is_permanent() {
                    MailError::Rejected(format!("{} refused the message: {e}", self.description))
                } else {
                    MailError::Transport(format!("{} failed: {e}", self.description))
                }
            }),
            Transport::Pickup(t) => t.send(message).await.map(|_| ()).map_err(|e| {
                MailError::Transport(format!("writing to {} failed: {e}", self.description))
            }),
        }
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The HTML part of a news email: the same text, its paragraphs kept, the first line as a
/// heading, lines that are web addresses made links, and the unsubscribe link at the foot.
pub fn html_alternative(subject: &str, body: &str, unsubscribe: Option<&str>) -> String {
    let mut html = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body style=\"font-family: system-ui, sans-serif; line-height: 1.5; max-width: 40em\">",
        escape(subject)
    );
    let line_html = |line: &str| {
        let t = line.trim();
        if (t.starts_with("https://") || t.starts_with("http://"))
            && !t.contains(char::is_whitespace)
        {
            format!("<a href=\"{0}\">{0}</a>", escape(t))
        } else {
            escape(line)
        }
    };
    for (i, paragraph) in body.split("\n\n").enumerate() {
        let lines: Vec<String> = paragraph
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(line_html)
            .collect();
        if lines.is_empty() {
            continue;
        }
        if i == 0 {
            html.push_str(&format!(
                "<h1 style=\"font-size: 1.2em\">{}</h1>",
                lines.join("<br>")
            ));
        } else {
            html.push_str(&format!("<p>{}</p>", lines.join("<br>")));
        }
    }
    if let Some(url) = unsubscribe {
        html.push_str(&format!(
            "<hr><p style=\"font-size: 0.85em; color: #555\"><a href=\"{}\">Unsubscribe</a></p>",
            escape(url)
        ));
    }
    html.push_str("</body></html>");
    html
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_html_part_escapes_text_and_links_addresses() {
        let html = html_alternative(
            "Mail <delays>",
            "Exchange: delays & retries\nEX1 · degraded\n\nWe're on it <b>now</b>.\n\nhttps://status.example/x?a=1&b=2",
            Some("https://status.example/unsubscribe/t"),
        );
        assert!(html.contains("<title>Mail &lt;delays&gt;</title>"));
        assert!(html.contains(
            "<h1 style=\"font-size: 1.2em\">Exchange: delays &amp; retries<br>EX1 · degraded</h1>"
        ));
        assert!(
            html.contains("We&#39;re on it &lt;b&gt;now&lt;/b&gt;."),
            "{html}"
        );
        assert!(html.contains("<a href=\"https://status.example/x?a=1&amp;b=2\">"));
        assert!(html.contains("unsubscribe/t\">Unsubscribe</a>"));
    }

    #[tokio::test]
    async fn news_is_sent_as_plain_text_and_html_and_lockbox_mail_as_plain_text() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = Mailer::pickup(dir.path().to_owned(), "Candor <candor@localhost>").unwrap();
        let mut email = OutboundEmail {
            to: "noc@contoso.example".into(),
            subject: "News".into(),
            body: "Title\n\nText".into(),
            kind: "notify.issue".into(),
            tenant: None,
            delivery_id: Some("d1".into()),
            unsubscribe: None,
        };
        mailer.send(&email).await.unwrap();
        email.kind = "lockbox.pending".into();
        email.delivery_id = Some("d2".into());
        mailer.send(&email).await.unwrap();
        let mut files: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        assert_eq!(files.len(), 2);
        files.sort_by_key(|f| f.contains("multipart/alternative"));
        assert!(
            !files[0].contains("text/html"),
            "Lockbox mail is plain text"
        );
        assert!(files[1].contains("multipart/alternative"));
        assert!(files[1].contains("text/html"));
        assert!(files[1].contains("text/plain"));
    }
}
