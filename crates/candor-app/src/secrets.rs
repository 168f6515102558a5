//! Random tokens and their hashes: session and CSRF tokens, client secrets, feed and
//! unsubscribe links.

use rand::RngCore;

/// 32 random bytes, base64url: session tokens, CSRF tokens, client secrets.
pub fn random_token() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Hex SHA-256, for storing tokens we only ever need to look up.
pub fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

/// Constant-time comparison for secrets such as CSRF tokens.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The key of one kind of link (`purpose`, e.g. `b"candor unsubscribe links v1"`):
/// derived from Candor's audit key, so it needs no storage and survives restarts, and
/// each kind of link has a key of its own.
fn link_key(keys: &crate::keys::Keys, purpose: &[u8]) -> Option<HmacSha256> {
    use hmac::Mac;
    let mut derive = HmacSha256::new_from_slice(&keys.audit.signing.to_bytes()).ok()?;
    derive.update(purpose);
    let key = derive.finalize().into_bytes();
    HmacSha256::new_from_slice(&key).ok()
}

/// A link token that names `subject` and proves Candor made it: `<subject>.<hex mac>`.
pub fn signed_link(keys: &crate::keys::Keys, purpose: &[u8], subject: &str) -> String {
    use hmac::Mac;
    let mac = link_key(keys, purpose)
        .map(|mut m| {
            m.update(subject.as_bytes());
            hex::encode(m.finalize().into_bytes())
        })
        .unwrap_or_default();
    format!("{subject}.{mac}")
}

/// The subject of a token `signed_link` made for `purpose`; `None` for anything else.
pub fn link_subject<'t>(
    keys: &crate::keys::Keys,
    purpose: &[u8],
    token: &'t str,
) -> Option<&'t str> {
    use hmac::Mac;
    let (subject, mac) = token.trim().rsplit_once('.')?;
    let mut m = link_key(keys, purpose)?;
    m.update(subject.as_bytes());
    m.verify_slice(&hex::decode(mac).ok()?).ok()?;
    Some(subject)
}

#[cfg(test)]
mod link_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn signed_links_name_their_subject_and_only_for_their_purpose() {
        let keys = crate::keys::Keys::ephemeral(time::OffsetDateTime::UNIX_EPOCH).unwrap();
        let token = signed_link(&keys, b"purpose a", "t1.c1");
        assert_eq!(link_subject(&keys, b"purpose a", &token), Some("t1.c1"));
        assert_eq!(link_subject(&keys, b"purpose b", &token), None);
        let tampered = token.replacen("t1", "t2", 1);
        assert_eq!(link_subject(&keys, b"purpose a", &tampered), None);
        assert_eq!(link_subject(&keys, b"purpose a", "no-mac"), None);
        assert_eq!(link_subject(&keys, b"purpose a", "t1.c1.zz"), None);
    }

    /// Unsubscribe links already in people's mailboxes were made this way before the
    /// helper existed: they must keep working.
    #[test]
    fn tokens_are_what_the_links_already_sent_carry() {
        use hmac::Mac;
        let keys = crate::keys::Keys::ephemeral(time::OffsetDateTime::UNIX_EPOCH).unwrap();
        let purpose = b"candor unsubscribe links v1";
        let mut derive = HmacSha256::new_from_slice(&keys.audit.signing.to_bytes()).unwrap();
        derive.update(purpose);
        let mut mac = HmacSha256::new_from_slice(&derive.finalize().into_bytes()).unwrap();
        mac.update(b"aaaa.bbbb");
        let before = format!("aaaa.bbbb.{}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(signed_link(&keys, purpose, "aaaa.bbbb"), before);
    }
}
