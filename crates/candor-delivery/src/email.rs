//! Sending email: through an SMTP relay when one is configured, otherwise into a pickup
//! directory (one `.eml` file per message) so a demo or a fresh install loses nothing and
//! shows what would have been sent.

use std::path::PathBuf;

use candor_domain::email::OutboundEmail;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::Mailbox;
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
        Ok(Mailer {
            from: sender(from)?,
            transport: Transport::Smtp(builder.build()),
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
            .subject(email.subject.clone())
            .header(ContentType::TEXT_PLAIN);
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
        let message = builder
            .body(email.body.clone())
            .map_err(|e| MailError::Rejected(format!("the message cannot be built: {e}")))?;
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
