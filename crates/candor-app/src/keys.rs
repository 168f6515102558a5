//! Candor's Ed25519 keys: one signs access tokens (published as JWKS), one signs audit
//! checkpoints. Both live in the store so every instance uses the same keys; the first
//! instance to start creates them.
//!
//! Rotation: a new key takes over at once in the store. A new key takes over at once in the store. Running
//! instances read the token keys again every minute (at once when a token signed with an
//! unknown key arrives) and sign with the new one; the old one verifies for
//! `TOKEN_KEY_GRACE`. A new audit key is used from each instance's next start;
//! audit keys verify for good (old checkpoints and Lockbox decisions).

use std::collections::HashMap;

use base64::Engine;
use candor_domain::audit::{activity, AuditChain, NewAuditRecord};
use candor_domain::identity::{authorize, Action, Actor, InvalidValue};
use candor_domain::store::{KeyPurpose, SigningKeyRecord, Store};
use ed25519_dalek::pkcs8::EncodePrivateKey;
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde_json::json;
use time::OffsetDateTime;

use crate::error::{AppError, AppResult};
use crate::Core;

pub struct KeyPair {
    pub key_id: String,
    pub signing: SigningKey,
}

impl KeyPair {
    pub fn from_record(r: &SigningKeyRecord) -> anyhow::Result<KeyPair> {
        let seed: [u8; 32] = r
            .secret
            .as_slice()
            .try_into()
            .map_err(|_| anyhow::anyhow!("signing key {} is not 32 bytes", r.key_id))?;
        Ok(KeyPair {
            key_id: r.key_id.clone(),
            signing: SigningKey::from_bytes(&seed),
        })
    }

    /// The private key as PKCS#8 DER, as `jsonwebtoken` takes it.
    pub fn pkcs8_der(&self) -> anyhow::Result<Vec<u8>> {
        Ok(self
            .signing
            .to_pkcs8_der()
            .map_err(|e| anyhow::anyhow!("encoding key {}: {e}", self.key_id))?
            .as_bytes()
            .to_vec())
    }

    pub fn public_b64url(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(self.signing.verifying_key().as_bytes())
    }
}

pub struct Keys {
    pub token: KeyPair,
    pub token_der: Vec<u8>,
    /// Token keys that verify: the one in use first, then those retired less than
    /// `TOKEN_KEY_GRACE` ago (tokens they signed are still in clients' hands), each with
    /// when it was retired.
    pub token_verifying: Vec<(String, VerifyingKey, Option<OffsetDateTime>)>,
    pub audit: KeyPair,
    /// Every audit key ever used, by id, so old checkpoints still verify after rotation.
    pub audit_verifiers: HashMap<String, VerifyingKey>,
    /// Identifies Candor to browsers' push services (Web Push).
    pub vapid: candor_delivery::push::VapidKey,
}

/// How long a retired token key still verifies: tokens live an hour, and instances not yet
/// restarted after a rotation go on signing with the old key until they are.
pub const TOKEN_KEY_GRACE: time::Duration = time::Duration::hours(24);

/// The token keys that verify at `now`: the key in use, then those retired less than
/// `TOKEN_KEY_GRACE` ago, newest first.
pub fn usable_token_keys(
    records: &[SigningKeyRecord],
    now: OffsetDateTime,
) -> Vec<&SigningKeyRecord> {
    let mut usable: Vec<&SigningKeyRecord> = records
        .iter()
        .filter(|r| r.retired_at.is_none_or(|at| now - at < TOKEN_KEY_GRACE))
        .collect();
    usable.sort_by_key(|r| (r.retired_at.is_some(), std::cmp::Reverse(r.created_at)));
    usable
}

pub fn verifying_key(r: &SigningKeyRecord) -> anyhow::Result<VerifyingKey> {
    let bytes: [u8; 32] = r
        .public
        .as_slice()
        .try_into()
        .map_err(|_| anyhow::anyhow!("public key {} is not 32 bytes", r.key_id))?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("public key {}: {e}", r.key_id))
}

/// A new key for `purpose`, to be put in place by `KeyStore::rotate_signing_key`.
pub fn new_key(purpose: KeyPurpose, now: OffsetDateTime) -> SigningKeyRecord {
    candidate(purpose, now)
}

fn key_id_of(public: &VerifyingKey) -> String {
    let digest = {
        use sha2::Digest;
        sha2::Sha256::digest(public.as_bytes())
    };
    hex::encode(&digest[..8])
}

fn candidate(purpose: KeyPurpose, now: OffsetDateTime) -> SigningKeyRecord {
    let signing = SigningKey::generate(&mut rand::rngs::OsRng);
    let public = signing.verifying_key();
    SigningKeyRecord {
        key_id: format!("{}-{}", purpose.as_str(), key_id_of(&public)),
        purpose,
        secret: signing.to_bytes().to_vec(),
        public: public.as_bytes().to_vec(),
        created_at: now,
        retired_at: None,
    }
}

impl Keys {
    /// Fresh keys held only in memory, never stored: for fuzz targets and tools that
    /// check token handling without a database.
    pub fn ephemeral(now: OffsetDateTime) -> anyhow::Result<Keys> {
        let token = KeyPair::from_record(&candidate(KeyPurpose::Token, now))?;
        let token_der = token
            .signing
            .to_pkcs8_der()
            .map_err(|e| anyhow::anyhow!("encoding the token key: {e}"))?
            .as_bytes()
            .to_vec();
        let token_verifying = vec![(token.key_id.clone(), token.signing.verifying_key(), None)];
        let audit = KeyPair::from_record(&candidate(KeyPurpose::Audit, now))?;
        let audit_verifiers = [(audit.key_id.clone(), audit.signing.verifying_key())]
            .into_iter()
            .collect();
        let (secret, _) = candor_delivery::push::VapidKey::generate();
        let vapid = candor_delivery::push::VapidKey::from_secret(&secret)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Keys {
            token,
            token_der,
            token_verifying,
            audit,
            audit_verifiers,
            vapid,
        })
    }

    /// Loads the keys in use, creating them on first start.
    pub async fn load_or_create(store: &dyn Store, now: OffsetDateTime) -> anyhow::Result<Keys> {
        let token_record = store
            .ensure_signing_key(candidate(KeyPurpose::Token, now))
            .await?;
        let audit_record = store
            .ensure_signing_key(candidate(KeyPurpose::Audit, now))
            .await?;
        let token = KeyPair::from_record(&token_record)?;
        let token_der = token
            .signing
            .to_pkcs8_der()
            .map_err(|e| anyhow::anyhow!("encoding the token key: {e}"))?
            .as_bytes()
            .to_vec();
        let audit = KeyPair::from_record(&audit_record)?;
        let mut audit_verifiers = HashMap::new();
        for r in store.list_signing_keys(KeyPurpose::Audit).await? {
            audit_verifiers.insert(r.key_id.clone(), verifying_key(&r)?);
        }
        let token_records = store.list_signing_keys(KeyPurpose::Token).await?;
        let mut token_verifying = vec![(token.key_id.clone(), token.signing.verifying_key(), None)];
        for r in usable_token_keys(&token_records, now) {
            if r.key_id != token.key_id {
                token_verifying.push((r.key_id.clone(), verifying_key(r)?, r.retired_at));
            }
        }
        let (secret, public) = candor_delivery::push::VapidKey::generate();
        let digest = {
            use sha2::Digest;
            sha2::Sha256::digest(&public)
        };
        let vapid_record = store
            .ensure_signing_key(SigningKeyRecord {
                key_id: format!("vapid-{}", hex::encode(&digest[..8])),
                purpose: KeyPurpose::Vapid,
                secret,
                public,
                created_at: now,
                retired_at: None,
            })
            .await?;
        let vapid = candor_delivery::push::VapidKey::from_secret(&vapid_record.secret)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Keys {
            token,
            token_der,
            token_verifying,
            audit,
            audit_verifiers,
            vapid,
        })
    }
}

/// What a rotation did.
pub struct Rotated {
    pub retired: Option<String>,
    pub key_id: String,
}

/// A key's purpose by name, as the CLI takes it: token, audit or vapid.
pub fn purpose(name: &str) -> AppResult<KeyPurpose> {
    match name.trim().to_ascii_lowercase().as_str() {
        "token" => Ok(KeyPurpose::Token),
        "audit" => Ok(KeyPurpose::Audit),
        "vapid" => Ok(KeyPurpose::Vapid),
        other => Err(AppError::Invalid(InvalidValue::new("purpose", format!(
            "no key called `{}`; the keys are token (access and grant tokens), audit (checkpoints and Lockbox decisions) and vapid (Web Push)",
            other.chars().take(40).collect::<String>()
        )))),
    }
}

/// Puts a new key in place for `purpose` (token or audit), retiring the one in use.
pub async fn rotate(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    purpose: KeyPurpose,
) -> AppResult<Rotated> {
    authorize(actor, Action::ManageOperators)?;
    if purpose == KeyPurpose::Vapid {
        return Err(AppError::Refused(
            "the Web Push (VAPID) key is not rotated: every browser subscription is bound to it"
                .into(),
        ));
    }
    let now = core.clock.now();
    let before = core.store.list_signing_keys(purpose).await?;
    let retired = before
        .iter()
        .find(|k| k.retired_at.is_none())
        .map(|k| k.key_id.clone());
    let next: SigningKeyRecord = new_key(purpose, now);
    let key_id = next.key_id.clone();
    let record = NewAuditRecord::by(
        actor,
        AuditChain::Operator,
        now,
        activity::SIGNING_KEY_ROTATED,
    )
    .ip(ip)
    .item(key_id.clone())
    .details(json!({"Purpose": purpose.as_str(), "Retired": retired}));
    core.store
        .rotate_signing_key(next, now, vec![record])
        .await?;
    Ok(Rotated { retired, key_id })
}

/// The keys of `purpose`, oldest first.
pub async fn list(
    core: &Core,
    actor: &Actor,
    purpose: KeyPurpose,
) -> AppResult<Vec<SigningKeyRecord>> {
    authorize(actor, Action::ManageOperators)?;
    Ok(core.store.list_signing_keys(purpose).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn key(id: &str, created: OffsetDateTime, retired: Option<OffsetDateTime>) -> SigningKeyRecord {
        SigningKeyRecord {
            key_id: id.into(),
            purpose: KeyPurpose::Token,
            secret: vec![1; 32],
            public: vec![2; 32],
            created_at: created,
            retired_at: retired,
        }
    }

    #[test]
    fn retired_token_keys_verify_for_the_grace_period_only() {
        let t0 = datetime!(2026-12-01 0:00 UTC);
        let keys = vec![
            key("oldest", t0, Some(t0 + time::Duration::days(1))),
            key(
                "previous",
                t0 + time::Duration::days(1),
                Some(t0 + time::Duration::days(3)),
            ),
            key("current", t0 + time::Duration::days(3), None),
        ];
        let ids = |now| {
            usable_token_keys(&keys, now)
                .iter()
                .map(|k| k.key_id.clone())
                .collect::<Vec<_>>()
        };
        let rotated = t0 + time::Duration::days(3);
        assert_eq!(
            ids(rotated),
            ["current", "previous"],
            "the key in use first"
        );
        assert_eq!(
            ids(rotated + TOKEN_KEY_GRACE - time::Duration::seconds(1)),
            ["current", "previous"]
        );
        assert_eq!(ids(rotated + TOKEN_KEY_GRACE), ["current"]);
    }
}
