//! Ids as they arrive in a URL or on a command line, parsed once where they arrive, so
//! every service takes typed ids.
//!
//! How a malformed id is answered is part of the rule the id belongs to. An issue, a
//! message, a Lockbox request or an elevation has a documented shape, and a caller who
//! gets it wrong is told so (invalid, naming the field). A tenant's own things (a contact,
//! a webhook endpoint, a browser, a feed link) are reported as not found, the same answer
//! as for another tenant's, so the answer never tells whether such a thing exists.

use candor_domain::elevation::ElevationId;
use candor_domain::health::{ContactId, IssueId, MessageId, PushSubscriptionId, WebhookEndpointId};
use candor_domain::lockbox::LockboxRequestId;

use crate::error::{AppError, AppResult};

/// A typed id read from text, answered as its rule above says.
pub trait ParseId: Sized {
    fn parse_id(s: &str) -> AppResult<Self>;
}

/// Parses an id from a path segment, a form field or an argument.
pub fn id<T: ParseId>(s: &str) -> AppResult<T> {
    T::parse_id(s)
}

/// Runs `use_case` with the id `raw` names, or answers as that id's rule says when it
/// cannot name one: for handlers that turn the outcome into a page, not a `?`.
pub async fn with_id<T, R, F>(raw: &str, use_case: impl FnOnce(T) -> F) -> AppResult<R>
where
    T: ParseId,
    F: std::future::Future<Output = AppResult<R>>,
{
    with_parsed(T::parse_id(raw), use_case).await
}

/// Runs `use_case` with an id parsed by one of the parsers below, or answers with the
/// parser's error.
pub async fn with_parsed<T, R, F>(
    parsed: AppResult<T>,
    use_case: impl FnOnce(T) -> F,
) -> AppResult<R>
where
    F: std::future::Future<Output = AppResult<R>>,
{
    use_case(parsed?).await
}

impl ParseId for IssueId {
    fn parse_id(s: &str) -> AppResult<Self> {
        Ok(IssueId::parse(s)?)
    }
}

impl ParseId for candor_domain::health::maintenance::MaintenanceId {
    fn parse_id(s: &str) -> AppResult<Self> {
        Ok(candor_domain::health::maintenance::MaintenanceId::parse(s)?)
    }
}

impl ParseId for MessageId {
    fn parse_id(s: &str) -> AppResult<Self> {
        Ok(MessageId::parse(s)?)
    }
}

impl ParseId for LockboxRequestId {
    fn parse_id(s: &str) -> AppResult<Self> {
        Ok(s.parse()?)
    }
}

impl ParseId for candor_domain::DraftId {
    fn parse_id(s: &str) -> AppResult<Self> {
        s.trim().parse().map_err(|e: candor_domain::IdParseError| {
            AppError::Invalid(candor_domain::identity::InvalidValue::new(
                "id",
                e.to_string(),
            ))
        })
    }
}

impl ParseId for ElevationId {
    fn parse_id(s: &str) -> AppResult<Self> {
        Ok(s.parse()?)
    }
}

fn hidden<T: std::str::FromStr>(s: &str, missing: &str) -> AppResult<T> {
    s.trim()
        .parse()
        .map_err(|_| AppError::NotFound(missing.to_owned()))
}

pub(crate) const NO_SUCH_CONTACT: &str = "there is no such contact";
pub(crate) const NO_SUCH_WEBHOOK: &str = "there is no such webhook endpoint";
pub(crate) const NO_SUCH_BROWSER: &str = "there is no such browser";
pub(crate) const NO_SUCH_FEED_LINK: &str = "there is no such feed link";
pub(crate) const NO_SUCH_AUDIT_RECORD: &str = "there is no such audit record in this log";

impl ParseId for candor_domain::AuditRecordId {
    fn parse_id(s: &str) -> AppResult<Self> {
        hidden(s, NO_SUCH_AUDIT_RECORD)
    }
}

impl ParseId for ContactId {
    fn parse_id(s: &str) -> AppResult<Self> {
        hidden(s, NO_SUCH_CONTACT)
    }
}

impl ParseId for candor_domain::health::subscriber::SubscriberId {
    fn parse_id(s: &str) -> AppResult<Self> {
        hidden(s, "there is no such subscriber")
    }
}

impl ParseId for WebhookEndpointId {
    fn parse_id(s: &str) -> AppResult<Self> {
        hidden(s, NO_SUCH_WEBHOOK)
    }
}

impl ParseId for PushSubscriptionId {
    fn parse_id(s: &str) -> AppResult<Self> {
        hidden(s, NO_SUCH_BROWSER)
    }
}

/// Said to a tenant about an issue that does not affect it, or that cannot exist.
pub fn no_issue_for_tenant(id: &str) -> AppError {
    AppError::NotFound(format!(
        "there is no issue {} for this tenant",
        id.trim().chars().take(20).collect::<String>()
    ))
}

/// Said to a tenant about a message that did not reach it, or that cannot exist.
pub fn no_message_for_tenant(id: &str) -> AppError {
    AppError::NotFound(format!(
        "there is no message {} for this tenant",
        id.trim().chars().take(20).collect::<String>()
    ))
}

/// An issue id as a tenant names it. To a tenant, an id that cannot be an issue's is
/// one of the many it has no issue by: not found, like another tenant's issue.
pub fn tenant_issue(s: &str) -> AppResult<IssueId> {
    IssueId::parse(s).map_err(|_| no_issue_for_tenant(s))
}

/// A message id as a tenant names it, answered like `tenant_issue`.
pub fn tenant_message(s: &str) -> AppResult<MessageId> {
    MessageId::parse(s).map_err(|_| no_message_for_tenant(s))
}

/// Said about an attachment a message does not have.
pub fn no_attachment(message: &MessageId, attachment: &str) -> AppError {
    AppError::NotFound(format!(
        "message {message} has no attachment {}",
        attachment.trim().chars().take(40).collect::<String>()
    ))
}

/// An attachment id of `message`, answered like the attachment it cannot be.
pub fn attachment(message: &MessageId, s: &str) -> AppResult<uuid::Uuid> {
    s.trim().parse().map_err(|_| no_attachment(message, s))
}

/// A private feed link, named by its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedLinkId(pub uuid::Uuid);

impl ParseId for FeedLinkId {
    fn parse_id(s: &str) -> AppResult<Self> {
        hidden(s, NO_SUCH_FEED_LINK).map(FeedLinkId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shaped_id_that_is_malformed_is_invalid_and_says_so() {
        let e = id::<IssueId>("not an issue").unwrap_err();
        assert!(matches!(e, AppError::Invalid(_)), "{e:?}");
        assert!(e.to_string().contains("EX123456"), "{e}");
        let e = id::<LockboxRequestId>("42").unwrap_err();
        assert!(matches!(e, AppError::Invalid(_)), "{e:?}");
        assert_eq!(id::<IssueId>(" EX12 ").unwrap().as_str(), "EX12");
    }

    #[test]
    fn a_tenant_thing_with_a_malformed_id_is_simply_not_found() {
        for e in [
            id::<ContactId>("x").unwrap_err(),
            id::<WebhookEndpointId>("../etc").unwrap_err(),
            id::<PushSubscriptionId>("").unwrap_err(),
            id::<FeedLinkId>("1").unwrap_err(),
        ] {
            assert!(matches!(e, AppError::NotFound(_)), "{e:?}");
        }
        let good = uuid::Uuid::now_v7();
        assert_eq!(id::<ContactId>(&good.to_string()).unwrap(), ContactId(good));
    }
}
