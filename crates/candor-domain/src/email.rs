//! Outbound email as Candor composes it, and the rule for Lockbox mail: **no links of any
//! form**. A Lockbox email asks someone to grant access to their data, which is exactly
//! what a phishing mail imitates; if real ones never carry a link, a mail that does is
//! fake. Mail clients turn more than `https://…` into links (bare domains, `www.`,
//! addresses, IP addresses), so all of those count.

use serde::{Deserialize, Serialize};

use crate::TenantId;

/// One email to send: plain text only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundEmail {
    pub to: String,
    pub subject: String,
    pub body: String,
    /// What it is about, e.g. `lockbox.pending` (for logs and the outbox listing).
    pub kind: String,
    pub tenant: Option<TenantId>,
    /// The delivery's stable id: the same on every retry, sent as the Message-ID, so a
    /// receiver can tell a repeated delivery from a new one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<String>,
    /// A one-click unsubscribe URL (`List-Unsubscribe`, RFC 8058), for subscriptions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsubscribe: Option<String>,
    /// The HTML alternative, rendered by the application in the reader's language (news;
    /// Lockbox mail has none, so no mail client can make a link of anything in it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '-' || c == '_'
}

/// Whether a run of name characters (letters, digits, `-`, `_`, `.`, `@`) is something a
/// mail client might link: an email address, a domain name, or an IPv4 address.
fn name_is_linkish(token: &str) -> bool {
    let t = token.trim_matches(|c: char| !c.is_alphanumeric());
    if t.is_empty() {
        return false;
    }
    if let Some((local, domain)) = t.split_once('@') {
        if !local.is_empty() && domain.contains('.') {
            return true;
        }
    }
    let host = t.rsplit('@').next().unwrap_or(t);
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.chars().all(is_word))
    {
        let last = labels.last().copied().unwrap_or("");
        if last.chars().count() >= 2 && last.chars().all(char::is_alphabetic) {
            return true;
        }
        if labels.len() == 4 && labels.iter().all(|l| l.parse::<u8>().is_ok()) {
            return true;
        }
    }
    false
}

/// Whether `text` holds anything a mail client could turn into a link: a scheme
/// (`https:`, `mailto:`, `tel:`, `x://`…), `www.`, an email address, a domain name, an IPv4
/// address, a UNC path or an international phone number. Invisible characters are
/// removed first, so `evil<zero-width space>.com` counts too.
pub fn contains_link(text: &str) -> bool {
    let visible: String = text
        .chars()
        .filter(|c| {
            !matches!(*c,
                '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}'
                | '\u{17B5}' | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}')
        })
        .collect();
    let lower = visible.to_lowercase();
    if lower.contains("://") || lower.contains("www.") || lower.contains("\\\\") {
        return true;
    }
    for scheme in [
        "http:",
        "https:",
        "mailto:",
        "tel:",
        "sms:",
        "data:",
        "javascript:",
        "file:",
        "ftp:",
        "callto:",
        "facetime:",
        "skype:",
    ] {
        if lower.match_indices(scheme).any(|(i, _)| {
            // At the start of a word, so `note:` or `key:value` do not count.
            lower[..i]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_alphanumeric())
        }) {
            return true;
        }
    }
    // Phone numbers in international form: `+` then seven or more digits, with spaces,
    // dashes, dots or brackets between them.
    let chars: Vec<char> = lower.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if *c == '+' {
            let digits = chars[i + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')'))
                .filter(|c| c.is_ascii_digit())
                .count();
            if digits >= 7 {
                return true;
            }
        }
    }
    visible
        .split(|c: char| !(c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '@')))
        .any(name_is_linkish)
}

/// `text` if it is link-free, otherwise `instead`: for values that come from people
/// (names, case numbers) and end up in a link-free email.
pub fn link_free_or<'a>(text: &'a str, instead: &'a str) -> &'a str {
    if contains_link(text) {
        instead
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn links_of_every_form_are_found() {
        for linkish in [
            "https://candor.example/lockbox",
            "see http://x",
            "ftp://files",
            "mailto:someone",
            "tel:+31201234567",
            "javascript:alert(1)",
            "www.contoso",
            "contoso.com",
            "portal.candor.example/requests",
            "(evil.example)",
            "ops@provider.example",
            "10.0.0.1",
            "<https://a.b>",
            "custom+scheme://thing",
            "Visit evil.com.",
            "\\\\fileserver\\share",
            "xn--80ak6aa92e.com",
            "SR-1;evil.com",
            "SR-1/evil.com",
            "SR-1:evil.com",
            "SR-1|evil.com",
            "SR-1[evil.com]",
            "evil\u{200B}.com",
            "call +1-800-555-0100",
            "+31 20 123 4567",
            "see tel:0201234567",
        ] {
            assert!(contains_link(linkish), "{linkish}");
        }
    }

    #[test]
    fn ordinary_text_is_not_a_link() {
        for plain in [
            "Customer Lockbox request 0193a5f2-7c1e-7000-8000-000000000001",
            "Exchange Online: Get-Mailbox, Export-MailboxDiagnosticLogs",
            "Access for 2 hours, until 2026-11-22T11:00:00Z.",
            "Sign in to the Candor portal and open Customer Lockbox, then Requests.",
            "Service request SR-20261122-1",
            "Version 1.2 is 3.5 times faster.",
            "Time 09:30 UTC",
            "Approver: Megan Bowen",
            "Note: the request expires in 12 hours.",
            "...",
            "e.g. the mailbox, i.e. one user",
            "Request 0193a5f2-7c1e-7000-8000-000000000001 for 240 minutes",
            "Access: 2026-11-22 11:00 CET to 2026-11-22 15:00 CET",
        ] {
            assert!(!contains_link(plain), "{plain}");
        }
    }

    #[test]
    fn replacement_only_when_needed() {
        assert_eq!(link_free_or("SR-1", "(see portal)"), "SR-1");
        assert_eq!(link_free_or("evil.com", "(see portal)"), "(see portal)");
    }

    proptest! {
        /// However a URL is dressed up in surrounding text, it is found.
        #[test]
        fn a_url_inside_text_is_always_found(
            before in "[A-Za-z ]{0,20}",
            host in "[a-z]{1,10}",
            tld in "[a-z]{2,6}",
            path in "[a-z0-9/]{0,10}",
            after in "[A-Za-z ]{0,20}",
        ) {
            let text = format!("{before} https://{host}.{tld}/{path} {after}");
            prop_assert!(contains_link(&text));
            let bare = format!("{before} {host}.{tld} {after}");
            prop_assert!(contains_link(&bare));
        }
    }
}
