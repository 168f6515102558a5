//! Candor's Ed25519 keys: one signs access tokens (published as JWKS), one signs audit
//! checkpoints and Lockbox decisions. The token key lives in the store so every instance
//! uses the same one; the first instance to start creates it. The audit key's secret does
//! not: it comes from a key file or an environment variable (`AuditKeySource`), so that
//! whoever can edit the database cannot sign a rewritten history. The store keeps only
//! its public part and id, for good.
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

    /// Loads the keys in use, creating them on first start; the audit key from `source`,
    /// or (tests and tools only, with `None`) from the store as older versions kept it.
    pub async fn load(
        store: &dyn Store,
        now: OffsetDateTime,
        source: Option<&AuditKeySource>,
    ) -> anyhow::Result<Keys> {
        let token_record = store
            .ensure_signing_key(candidate(KeyPurpose::Token, now))
            .await?;
        let token = KeyPair::from_record(&token_record)?;
        let token_der = token
            .signing
            .to_pkcs8_der()
            .map_err(|e| anyhow::anyhow!("encoding the token key: {e}"))?
            .as_bytes()
            .to_vec();
        let audit = match source {
            Some(source) => load_audit_key(store, now, source).await?,
            None => KeyPair::from_record(
                &store
                    .ensure_signing_key(candidate(KeyPurpose::Audit, now))
                    .await?,
            )?,
        };
        let audit_verifiers = audit_verifiers(store).await?;
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

async fn audit_verifiers(store: &dyn Store) -> anyhow::Result<HashMap<String, VerifyingKey>> {
    let mut verifiers = HashMap::new();
    for r in store.list_signing_keys(KeyPurpose::Audit).await? {
        verifiers.insert(r.key_id.clone(), verifying_key(&r)?);
    }
    Ok(verifiers)
}

/// Where the audit signing key's secret is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditKeySource {
    /// A key file (`--signing-key-file`). Written, mode 0600, when the database has no
    /// audit key yet, or still holds the secret of its key, which is then moved out.
    File(std::path::PathBuf),
    /// A key file's text itself (`CANDOR_SIGNING_KEY`), for secret stores that hand
    /// values to processes as environment variables.
    Text(String),
}

impl AuditKeySource {
    /// Where the key is, for messages: the file's path or the variable's name.
    pub fn describe(&self) -> String {
        match self {
            AuditKeySource::File(path) => path.display().to_string(),
            AuditKeySource::Text(_) => "CANDOR_SIGNING_KEY".to_owned(),
        }
    }
}

/// An audit key as its key file holds it: comments, then `<key id> <base64 seed>`.
pub fn key_file_text(key: &KeyPair) -> String {
    format!(
        "# Candor's audit signing key: it signs audit checkpoints and Lockbox decisions.\n\
         # Keep it secret, outside the data directory, and backed up. Losing it means a\n\
         # rotation (candor keys rotate --purpose audit); what it signed stays verifiable.\n\
         {} {}\n",
        key.key_id,
        base64::engine::general_purpose::STANDARD.encode(key.signing.to_bytes())
    )
}

/// Reads a key file's text; the key id must be the one its key has.
pub fn parse_key_file(text: &str) -> anyhow::Result<KeyPair> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or_else(|| anyhow::anyhow!("it holds no key (a line `<key id> <base64 key>`)"))?;
    let (key_id, seed) = line
        .split_once(char::is_whitespace)
        .ok_or_else(|| anyhow::anyhow!("its key line is not `<key id> <base64 key>`"))?;
    let seed = base64::engine::general_purpose::STANDARD
        .decode(seed.trim())
        .map_err(|_| anyhow::anyhow!("its key is not base64"))?;
    let seed: [u8; 32] = seed
        .as_slice()
        .try_into()
        .map_err(|_| anyhow::anyhow!("its key is not a 32-byte Ed25519 key"))?;
    let signing = SigningKey::from_bytes(&seed);
    let expected = format!(
        "{}-{}",
        KeyPurpose::Audit.as_str(),
        key_id_of(&signing.verifying_key())
    );
    if key_id != expected {
        anyhow::bail!("its key id {key_id} is not its key's ({expected})");
    }
    Ok(KeyPair {
        key_id: key_id.to_owned(),
        signing,
    })
}

/// Writes a new key file, readable by its owner only; refuses to replace one.
pub fn write_key_file(path: &std::path::Path, key: &KeyPair) -> anyhow::Result<()> {
    use std::io::Write as _;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot create the key file {}: {e}", path.display()))?;
    file.write_all(key_file_text(key).as_bytes())
        .and_then(|_| file.sync_all())
        .map_err(|e| anyhow::anyhow!("cannot write the key file {}: {e}", path.display()))
}

/// A new audit key, with the id its public key gives it.
pub fn new_audit_key(now: OffsetDateTime) -> anyhow::Result<KeyPair> {
    KeyPair::from_record(&candidate(KeyPurpose::Audit, now))
}

/// The public record of an audit key: what the store keeps (no secret).
fn public_record(key: &KeyPair, now: OffsetDateTime) -> SigningKeyRecord {
    SigningKeyRecord {
        key_id: key.key_id.clone(),
        purpose: KeyPurpose::Audit,
        secret: Vec::new(),
        public: key.signing.verifying_key().as_bytes().to_vec(),
        created_at: now,
        retired_at: None,
    }
}

/// The audit key from `source`, checked against the key the store says is in use. A
/// database with no audit key gets the source's (made when the file does not exist); a
/// database that still holds its key's secret has it moved to the file and forgotten.
async fn load_audit_key(
    store: &dyn Store,
    now: OffsetDateTime,
    source: &AuditKeySource,
) -> anyhow::Result<KeyPair> {
    let keys = store.list_signing_keys(KeyPurpose::Audit).await?;
    let current = keys.iter().find(|k| k.retired_at.is_none());
    let from_source = match source {
        AuditKeySource::Text(text) => {
            Some(parse_key_file(text).map_err(|e| anyhow::anyhow!("CANDOR_SIGNING_KEY: {e}"))?)
        }
        AuditKeySource::File(path) if path.exists() => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read the key file {}: {e}", path.display()))?;
            Some(
                parse_key_file(&text)
                    .map_err(|e| anyhow::anyhow!("the key file {}: {e}", path.display()))?,
            )
        }
        AuditKeySource::File(_) => None,
    };
    let key = match (from_source, current) {
        (Some(key), _) => key,
        (None, Some(record)) if !record.secret.is_empty() => {
            // An older Candor kept the secret in the database: move it out.
            let key = KeyPair::from_record(record)?;
            if let AuditKeySource::File(path) = source {
                write_key_file(path, &key)?;
                tracing::warn!(key = %key.key_id, file = %path.display(), "the audit signing key was in the database; it is now in the key file and no longer in the database: keep the file safe and backed up");
            }
            key
        }
        (None, Some(record)) => anyhow::bail!(
            "this database's audit signing key ({}) is kept outside it, and {} does not exist; \
             give its key file with --signing-key-file (or its text in CANDOR_SIGNING_KEY)",
            record.key_id,
            source.describe()
        ),
        (None, None) => {
            let key = new_audit_key(now)?;
            if let AuditKeySource::File(path) = source {
                write_key_file(path, &key)?;
                // `serve` says where the key is as it starts; a CLI command stays quiet.
                tracing::debug!(key = %key.key_id, file = %path.display(), "made the audit signing key");
            }
            key
        }
    };
    match current {
        Some(record) if record.key_id == key.key_id => {
            if !record.secret.is_empty() {
                store.forget_signing_secret(&record.key_id).await?;
            }
        }
        Some(record) => {
            let retired = keys.iter().any(|k| k.key_id == key.key_id);
            anyhow::bail!(
                "{} holds the audit key {}, but this database signs with {}{}",
                source.describe(),
                key.key_id,
                record.key_id,
                if retired {
                    " (the file's key was retired by a rotation: use the newer key file)"
                } else {
                    " (is it another installation's key file?)"
                }
            );
        }
        None => {
            let registered = store.ensure_signing_key(public_record(&key, now)).await?;
            if registered.key_id != key.key_id {
                anyhow::bail!(
                    "another instance registered the audit key {} first; give this one its key file",
                    registered.key_id
                );
            }
        }
    }
    Ok(key)
}

/// Rotates the audit key kept in `source`: a new key file (the old one is kept beside it,
/// renamed, for the record), and the new public key in the store. Only a file can be
/// rotated here; a key held in an environment variable is rotated by the secret store.
pub async fn rotate_audit_key(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    path: &std::path::Path,
) -> AppResult<Rotated> {
    authorize(actor, Action::ManageOperators)?;
    let now = core.clock.now();
    let next = new_audit_key(now).map_err(AppError::internal)?;
    let before = core.store.list_signing_keys(KeyPurpose::Audit).await?;
    let retired = before
        .iter()
        .find(|k| k.retired_at.is_none())
        .map(|k| k.key_id.clone());
    if path.exists() {
        let kept = path.with_extension(format!(
            "retired-{}",
            retired.as_deref().unwrap_or("unknown")
        ));
        std::fs::rename(path, &kept).map_err(|e| {
            AppError::internal(anyhow::anyhow!(
                "cannot set the old key file aside as {}: {e}",
                kept.display()
            ))
        })?;
    }
    write_key_file(path, &next).map_err(AppError::internal)?;
    let key_id = next.key_id.clone();
    let record = NewAuditRecord::by(
        actor,
        AuditChain::Operator,
        now,
        activity::SIGNING_KEY_ROTATED,
    )
    .ip(ip)
    .item(key_id.clone())
    .details(json!({"Purpose": "audit", "Retired": retired, "KeptIn": "key file"}));
    core.store
        .rotate_signing_key(public_record(&next, now), now, vec![record])
        .await?;
    Ok(Rotated { retired, key_id })
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
    if purpose == KeyPurpose::Audit {
        return Err(AppError::Refused(
            "the audit key is kept outside the database: rotate it with its key file \
             (rotate_audit_key, `candor keys rotate --purpose audit --signing-key-file …`)"
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
