//! Candor's Ed25519 keys: one signs access tokens (published as JWKS), one signs audit
//! checkpoints. Both live in the store so every instance uses the same keys; the first
//! instance to start creates them.

use std::collections::HashMap;

use base64::Engine;
use candor_domain::store::{KeyPurpose, SigningKeyRecord, Store};
use ed25519_dalek::pkcs8::EncodePrivateKey;
use ed25519_dalek::{SigningKey, VerifyingKey};
use time::OffsetDateTime;

pub struct KeyPair {
    pub key_id: String,
    pub signing: SigningKey,
}

impl KeyPair {
    fn from_record(r: &SigningKeyRecord) -> anyhow::Result<KeyPair> {
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

    pub fn public_b64url(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(self.signing.verifying_key().as_bytes())
    }
}

pub struct Keys {
    pub token: KeyPair,
    pub token_der: Vec<u8>,
    pub audit: KeyPair,
    /// Every audit key ever used, by id, so old checkpoints still verify after rotation.
    pub audit_verifiers: HashMap<String, VerifyingKey>,
    /// Identifies Candor to browsers' push services (Web Push).
    pub vapid: candor_delivery::push::VapidKey,
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
            let bytes: [u8; 32] = r
                .public
                .as_slice()
                .try_into()
                .map_err(|_| anyhow::anyhow!("public key {} is not 32 bytes", r.key_id))?;
            let key = VerifyingKey::from_bytes(&bytes)
                .map_err(|e| anyhow::anyhow!("public key {}: {e}", r.key_id))?;
            audit_verifiers.insert(r.key_id, key);
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
            })
            .await?;
        let vapid = candor_delivery::push::VapidKey::from_secret(&vapid_record.secret)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Keys {
            token,
            token_der,
            audit,
            audit_verifiers,
            vapid,
        })
    }
}
