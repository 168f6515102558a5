//! Web Push: notifications to browsers (the installable portal on a phone), encrypted for
//! each browser (RFC 8291, `aes128gcm`) and signed with Candor's VAPID key (RFC 8292) so
//! push services know who sends. Requests go through the same address rules and pinned
//! connections as webhooks.

use base64::Engine as _;
use web_push::{ContentEncoding, SubscriptionInfo, VapidSignatureBuilder, WebPushMessageBuilder};

use crate::webhook::{resolve, WebhookError, WebhookSender};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Candor's VAPID key: a P-256 key pair.
#[derive(Clone)]
pub struct VapidKey {
    secret_b64: String,
    public: Vec<u8>,
}

impl std::fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidKey")
            .field("public", &self.public_b64())
            .finish_non_exhaustive()
    }
}

impl VapidKey {
    /// A new key pair: (the 32-byte private scalar, the 65-byte uncompressed public key).
    pub fn generate() -> (Vec<u8>, Vec<u8>) {
        let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let public = secret.public_key().to_sec1_bytes().to_vec();
        (secret.to_bytes().to_vec(), public)
    }

    pub fn from_secret(secret: &[u8]) -> Result<VapidKey, String> {
        let key = p256::SecretKey::from_slice(secret)
            .map_err(|e| format!("the VAPID key is not a P-256 private key ({e})"))?;
        Ok(VapidKey {
            secret_b64: b64(secret),
            public: key.public_key().to_sec1_bytes().to_vec(),
        })
    }

    /// What browsers pass as `applicationServerKey` (base64url).
    pub fn public_b64(&self) -> String {
        b64(&self.public)
    }
}

/// How a push went wrong.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The push service no longer knows this browser (404, 410): forget it.
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    Permanent(String),
    #[error("{0}")]
    Retry(String),
}

impl From<WebhookError> for PushError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::Permanent(m) => PushError::Permanent(m),
            WebhookError::Retry(m) => PushError::Retry(m),
        }
    }
}

/// One browser to notify.
pub struct Browser<'a> {
    pub endpoint: &'a str,
    pub p256dh: &'a str,
    pub auth: &'a str,
}

impl WebhookSender {
    /// Sends `payload` (a few hundred bytes of JSON) to a browser through its push service.
    /// `subject` is a `mailto:` or `https:` contact for the push service's operators.
    pub async fn push(
        &self,
        vapid: &VapidKey,
        subject: &str,
        browser: &Browser<'_>,
        payload: &[u8],
        ttl_seconds: u32,
    ) -> Result<u16, PushError> {
        let (parsed, host, addrs) = resolve(browser.endpoint, self.allows_private()).await?;
        let info = SubscriptionInfo::new(browser.endpoint, browser.p256dh, browser.auth);
        let mut signature = VapidSignatureBuilder::from_base64(&vapid.secret_b64, &info)
            .map_err(|e| PushError::Permanent(format!("the VAPID key cannot sign: {e}")))?;
        signature.add_claim("sub", subject);
        let signature = signature
            .build()
            .map_err(|e| PushError::Permanent(format!("cannot sign for {host}: {e}")))?;
        let mut message = WebPushMessageBuilder::new(&info);
        message.set_payload(ContentEncoding::Aes128Gcm, payload);
        message.set_vapid_signature(signature);
        message.set_ttl(ttl_seconds);
        let message = message.build().map_err(|e| {
            PushError::Permanent(format!("cannot encrypt for this browser (its keys?): {e}"))
        })?;
        let request = web_push::request_builder::build_request::<Vec<u8>>(message);
        let client = self.client(&host, &addrs)?;
        let mut outgoing = client.post(parsed);
        for (name, value) in request.headers() {
            if let Ok(v) = value.to_str() {
                outgoing = outgoing.header(name.as_str(), v);
            }
        }
        let res = outgoing
            .body(request.into_body())
            .send()
            .await
            .map_err(|e| PushError::Retry(format!("{host}: {e}")))?;
        let status = res.status().as_u16();
        match status {
            200..=299 => Ok(status),
            404 | 410 => Err(PushError::Gone(format!(
                "{host} answered {status}: the browser unsubscribed"
            ))),
            408 | 425 | 429 => Err(PushError::Retry(format!("{host} answered {status}"))),
            300..=499 => Err(PushError::Permanent(format!("{host} answered {status}"))),
            _ => Err(PushError::Retry(format!("{host} answered {status}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn vapid_keys_round_trip() {
        let (secret, public) = VapidKey::generate();
        assert_eq!(secret.len(), 32);
        assert_eq!(public.len(), 65);
        assert_eq!(public[0], 4, "uncompressed");
        let key = VapidKey::from_secret(&secret).unwrap();
        assert_eq!(key.public_b64(), b64(&public));
        assert!(VapidKey::from_secret(&[0u8; 32]).is_err());
        assert!(
            !format!("{key:?}").contains(&b64(&secret)),
            "no secret in logs"
        );
    }
}
