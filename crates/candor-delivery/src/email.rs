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
    /// `smtp://`: connections Candor opens itself (see `smtp`).
    Relay(crate::smtp::Pool),
    /// `smtps://`: lettre's own pooled transport.
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
        let transport = match crate::smtp::Relay::parse(url)? {
            Some(relay) => {
                Transport::Relay(crate::smtp::Pool::new(relay, SMTP_CONNECTIONS as usize))
            }
            None => {
                let pool = lettre::transport::smtp::PoolConfig::new().max_size(SMTP_CONNECTIONS);
                Transport::Smtp(builder.pool_config(pool).build())
            }
        };
        Ok(Mailer {
            from: sender(from)?,
            transport,
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
        // News goes out as plain text and the HTML the application rendered; Lockbox mail
        // has no HTML and stays plain text, where no mail client can make a link of anything.
        let built = if let Some(html) = &email.html {
            builder.multipart(MultiPart::alternative_plain_html(
                email.body.clone(),
                html.clone(),
            ))
        } else {
            builder
                .header(ContentType::TEXT_PLAIN)
                .body(email.body.clone())
        };
        let message =
            built.map_err(|e| MailError::Rejected(format!("the message cannot be built: {e}")))?;
        let smtp_error = |permanent: bool, e: &dyn std::fmt::Display| {
            if permanent {
                MailError::Rejected(format!("{} refused the message: {e}", self.description))
            } else {
                MailError::Transport(format!("{} failed: {e}", self.description))
            }
        };
        match &self.transport {
            Transport::Relay(pool) => pool
                .send(message.envelope(), &message.formatted())
                .await
                .map_err(|e| smtp_error(e.is_permanent(), &e)),
            Transport::Smtp(t) => t
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| smtp_error(e.is_permanent(), &e)),
            Transport::Pickup(t) => t.send(message).await.map(|_| ()).map_err(|e| {
                MailError::Transport(format!("writing to {} failed: {e}", self.description))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn news_is_sent_as_plain_text_and_its_html_and_lockbox_mail_as_plain_text() {
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
            html: Some("<h1>Title</h1><p>Text</p>".into()),
        };
        mailer.send(&email).await.unwrap();
        email.kind = "lockbox.pending".into();
        email.delivery_id = Some("d2".into());
        email.html = None;
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
