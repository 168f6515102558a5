//! OAuth 2.0 client-credentials access tokens: Ed25519-signed JWTs carrying the tenant
//! (`tid`) and the application permissions (`roles`), verifiable by anyone against
//! `/.well-known/jwks.json`. Verified tokens are cached so a request does not pay a
//! signature check and a database read each time.

use std::sync::Arc;

use candor_domain::identity::{Actor, ApiClient, ApiPermissions, OperatorClient, OperatorRoles};
use candor_domain::store::Store;
use candor_domain::{ApiClientId, TenantId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::error::ApiError;
use candor_app::keys::Keys;

/// Access tokens live one hour, as Entra ID's do.
pub const TOKEN_LIFETIME: Duration = Duration::hours(1);
/// How long a verified token is trusted without looking at its client again; bounds how
/// long a revoked client's tokens keep working on instances that did not revoke it.
pub const CACHE_TTL: Duration = Duration::seconds(60);
pub const AUDIENCE: &str = "candor";
/// The `tid` of tokens issued to operator clients.
pub const PROVIDER_TENANT: &str = "provider";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub appid: String,
    pub tid: String,
    pub roles: Vec<String>,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
}

/// The audience of Lockbox grant tokens (never accepted as an access token).
pub const GRANT_AUDIENCE: &str = "candor-lockbox";
/// Grant tokens live at most this long, and never past the end of access.
pub const GRANT_TOKEN_LIFETIME: Duration = Duration::minutes(5);

/// What a Lockbox grant token says: this engineer may perform these operations on this
/// workload of this tenant, under this request, until `exp`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GrantClaims {
    pub iss: String,
    pub aud: String,
    /// The engineer's operator id.
    pub sub: String,
    pub tid: String,
    /// The Lockbox request id.
    pub grant: String,
    pub workload: String,
    pub operations: Vec<String>,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
}

#[derive(Clone)]
struct Cached {
    actor: Actor,
    exp: OffsetDateTime,
    trusted_until: OffsetDateTime,
}

/// A key tokens may be signed with: its id, its public half as JWK `x`, the decoding key
/// made from it, and when it was retired (it verifies for `keys::TOKEN_KEY_GRACE` more).
struct Verifier {
    key_id: String,
    x: String,
    decoding: DecodingKey,
    retired_at: Option<OffsetDateTime>,
}

impl Verifier {
    fn new(
        key_id: String,
        public: &ed25519_dalek::VerifyingKey,
        retired_at: Option<OffsetDateTime>,
    ) -> Result<Verifier, ApiError> {
        let x = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            public.as_bytes(),
        );
        let decoding = DecodingKey::from_ed_components(&x).map_err(ApiError::internal)?;
        Ok(Verifier {
            key_id,
            x,
            decoding,
            retired_at,
        })
    }

    fn usable_at(&self, now: OffsetDateTime) -> bool {
        self.retired_at
            .is_none_or(|at| now - at < candor_app::keys::TOKEN_KEY_GRACE)
    }
}

/// The key new tokens are signed with.
struct Signer {
    key_id: String,
    encoding: EncodingKey,
}

/// How often the keys are read again from the store in any case: a rotation reaches a
/// running instance within this time, without a restart.
const REFRESH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);
/// How often an unknown key id (or a JWKS fetch) may send this instance to the store for
/// new keys, so forged key ids cannot make every request read the store.
const LEARN_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

pub struct TokenService {
    issuer: String,
    signer: std::sync::RwLock<Arc<Signer>>,
    /// The key in use first, then keys retired within the grace period.
    verifiers: std::sync::RwLock<Vec<Arc<Verifier>>>,
    last_refresh: std::sync::Mutex<Option<std::time::Instant>>,
    cache: quick_cache::sync::Cache<String, Cached>,
}

/// Why a token did not verify.
enum Unverified {
    /// Signed by a key this instance does not know (yet).
    UnknownKey,
    Invalid(ApiError),
}

impl TokenService {
    pub fn new(keys: &Keys, issuer: String) -> Result<TokenService, ApiError> {
        let verifiers = keys
            .token_verifying
            .iter()
            .map(|(id, public, retired)| Verifier::new(id.clone(), public, *retired).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TokenService {
            issuer,
            signer: std::sync::RwLock::new(Arc::new(Signer {
                key_id: keys.token.key_id.clone(),
                encoding: EncodingKey::from_ed_der(&keys.token_der),
            })),
            verifiers: std::sync::RwLock::new(verifiers),
            last_refresh: std::sync::Mutex::new(None),
            cache: quick_cache::sync::Cache::new(10_000),
        })
    }

    fn signer(&self) -> Arc<Signer> {
        match self.signer.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The id of the key new tokens are signed with.
    pub fn signing_key_id(&self) -> String {
        self.signer().key_id.clone()
    }

    pub fn issue(&self, client: &ApiClient, now: OffsetDateTime) -> Result<String, ApiError> {
        self.sign(
            client.id,
            client.tenant_id.to_string(),
            client.permissions.names(),
            now,
        )
    }

    /// A token for an operator client: `tid` is the provider realm, `roles` its operator roles.
    pub fn issue_for_operator(
        &self,
        client: &OperatorClient,
        now: OffsetDateTime,
    ) -> Result<String, ApiError> {
        self.sign(
            client.id,
            PROVIDER_TENANT.to_owned(),
            client.roles.names(),
            now,
        )
    }

    fn sign(
        &self,
        client: ApiClientId,
        tid: String,
        roles: Vec<String>,
        now: OffsetDateTime,
    ) -> Result<String, ApiError> {
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: AUDIENCE.to_owned(),
            sub: client.to_string(),
            appid: client.to_string(),
            tid,
            roles,
            iat: now.unix_timestamp(),
            nbf: now.unix_timestamp(),
            exp: (now + TOKEN_LIFETIME).unix_timestamp(),
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let signer = self.signer();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(signer.key_id.clone());
        jsonwebtoken::encode(&header, &claims, &signer.encoding).map_err(ApiError::internal)
    }

    /// A grant token for an approved request: at most five minutes, never past the end
    /// of access. Returns the token and when it expires.
    pub fn issue_grant(
        &self,
        request: &candor_domain::lockbox::LockboxRequest,
        now: OffsetDateTime,
    ) -> Result<(String, OffsetDateTime), ApiError> {
        let end = request
            .access_end
            .ok_or_else(|| ApiError::Conflict("the request grants no access".into()))?;
        let expires = (now + GRANT_TOKEN_LIFETIME).min(end);
        let claims = GrantClaims {
            iss: self.issuer.clone(),
            aud: GRANT_AUDIENCE.to_owned(),
            sub: request.requester.to_string(),
            tid: request.tenant.to_string(),
            grant: request.id.to_string(),
            workload: request.workload.clone(),
            operations: request.operations.iter().cloned().collect(),
            iat: now.unix_timestamp(),
            nbf: now.unix_timestamp(),
            exp: expires.unix_timestamp(),
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let signer = self.signer();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(signer.key_id.clone());
        header.typ = Some("lockbox-grant+jwt".into());
        let token =
            jsonwebtoken::encode(&header, &claims, &signer.encoding).map_err(ApiError::internal)?;
        Ok((token, expires))
    }

    /// The JSON Web Key Set that verifies Candor's tokens: the key in use and those
    /// retired within the grace period (`keys::TOKEN_KEY_GRACE`).
    pub fn jwks(&self, now: OffsetDateTime) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .verifiers()
            .iter()
            .filter(|v| v.usable_at(now))
            .map(|v| {
                serde_json::json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "alg": "EdDSA",
                    "use": "sig",
                    "kid": v.key_id,
                    "x": v.x,
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }

    fn verifiers(&self) -> Vec<Arc<Verifier>> {
        match self.verifiers.read() {
            Ok(v) => v.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Checks signature, issuer and audience; times are checked against `now` (Candor's
    /// clock) rather than the system clock.
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Result<Claims, ApiError> {
        self.try_verify(token, now).map_err(|e| match e {
            Unverified::UnknownKey => ApiError::Unauthenticated(
                "the access token is signed by a key Candor does not know".into(),
            ),
            Unverified::Invalid(e) => e,
        })
    }

    fn try_verify(&self, token: &str, now: OffsetDateTime) -> Result<Claims, Unverified> {
        let invalid = |e: jsonwebtoken::errors::Error| {
            Unverified::Invalid(ApiError::Unauthenticated(format!(
                "the access token is not valid ({e})"
            )))
        };
        let header = jsonwebtoken::decode_header(token).map_err(invalid)?;
        let kid = header.kid.ok_or_else(|| {
            Unverified::Invalid(ApiError::Unauthenticated(
                "the access token names no signing key (kid)".into(),
            ))
        })?;
        let verifier = self
            .verifiers()
            .into_iter()
            .find(|v| v.key_id == kid && v.usable_at(now))
            .ok_or(Unverified::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[&self.issuer]);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Claims>(token, &verifier.decoding, &validation)
            .map_err(invalid)?;
        let claims = data.claims;
        let ts = now.unix_timestamp();
        if ts >= claims.exp {
            return Err(Unverified::Invalid(ApiError::Unauthenticated(
                "the access token has expired; request a new one from /oauth2/v2.0/token".into(),
            )));
        }
        if ts + 60 < claims.nbf {
            return Err(Unverified::Invalid(ApiError::Unauthenticated(
                "the access token is not valid yet".into(),
            )));
        }
        Ok(claims)
    }

    /// Reads the token keys again when the last read is older than `REFRESH_INTERVAL`:
    /// a rotation reaches this instance within that time.
    pub async fn refresh_if_due(&self, store: &Arc<dyn Store>, now: OffsetDateTime) {
        if let Err(e) = self.refresh(store, now, REFRESH_INTERVAL).await {
            tracing::warn!(error = %e, "could not read the token keys again; keeping the ones loaded");
        }
    }

    /// Reads the token keys from the store, unless that was done less than `min_interval`
    /// ago: verifies with the keys in use or retired within the grace period (and no
    /// others), and signs with the key in use, which another instance or `candor keys
    /// rotate` may have put in place.
    async fn refresh(
        &self,
        store: &Arc<dyn Store>,
        now: OffsetDateTime,
        min_interval: std::time::Duration,
    ) -> Result<(), ApiError> {
        {
            let mut last = match self.last_refresh.lock() {
                Ok(l) => l,
                Err(poisoned) => poisoned.into_inner(),
            };
            if last.is_some_and(|at| at.elapsed() < min_interval) {
                return Ok(());
            }
            *last = Some(std::time::Instant::now());
        }
        let records = store
            .list_signing_keys(candor_domain::store::KeyPurpose::Token)
            .await?;
        let usable = candor_app::keys::usable_token_keys(&records, now);
        let mut verifiers = Vec::with_capacity(usable.len());
        for r in &usable {
            let public = candor_app::keys::verifying_key(r).map_err(ApiError::internal)?;
            verifiers.push(Arc::new(Verifier::new(
                r.key_id.clone(),
                &public,
                r.retired_at,
            )?));
        }
        if verifiers.is_empty() {
            // A store with no token key at all: keep what was loaded rather than refuse all.
            return Ok(());
        }
        let current = usable.iter().find(|r| r.retired_at.is_none());
        if let Some(current) = current {
            if current.key_id != self.signer().key_id {
                let pair =
                    candor_app::keys::KeyPair::from_record(current).map_err(ApiError::internal)?;
                let der = pair.pkcs8_der().map_err(ApiError::internal)?;
                tracing::info!(key = %current.key_id, "signing tokens with the token key now in use");
                let signer = Arc::new(Signer {
                    key_id: current.key_id.clone(),
                    encoding: EncodingKey::from_ed_der(&der),
                });
                match self.signer.write() {
                    Ok(mut s) => *s = signer,
                    Err(poisoned) => *poisoned.into_inner() = signer,
                }
            }
        }
        match self.verifiers.write() {
            Ok(mut v) => *v = verifiers,
            Err(poisoned) => *poisoned.into_inner() = verifiers,
        }
        Ok(())
    }

    /// The JWKS with the keys of the store, read again at most every `LEARN_INTERVAL`.
    pub async fn current_jwks(
        &self,
        store: &Arc<dyn Store>,
        now: OffsetDateTime,
    ) -> serde_json::Value {
        if let Err(e) = self.refresh(store, now, LEARN_INTERVAL).await {
            tracing::warn!(error = %e, "could not read the token keys again; publishing the ones loaded");
        }
        self.jwks(now)
    }

    /// Turns a bearer token into an actor, from the cache when possible.
    pub async fn authenticate(
        &self,
        store: &Arc<dyn Store>,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Actor, ApiError> {
        let key = candor_app::secrets::sha256_hex(token);
        if let Some(hit) = self.cache.get(&key) {
            if now < hit.exp && now < hit.trusted_until {
                return Ok(hit.actor);
            }
            self.cache.remove(&key);
        }
        self.refresh_if_due(store, now).await;
        let claims = match self.try_verify(token, now) {
            Ok(c) => c,
            Err(Unverified::UnknownKey) => {
                // Another instance may sign with a key this one has not read yet.
                self.refresh(store, now, LEARN_INTERVAL).await?;
                self.verify(token, now)?
            }
            Err(Unverified::Invalid(e)) => return Err(e),
        };
        let client_id: ApiClientId = claims
            .sub
            .parse()
            .map_err(|_| ApiError::Unauthenticated("the access token names no client".into()))?;
        if claims.tid == PROVIDER_TENANT {
            let actor = self.operator_actor(store, client_id, &claims).await?;
            self.remember(key, actor.clone(), &claims, now);
            return Ok(actor);
        }
        let tenant_id: TenantId = claims
            .tid
            .parse()
            .map_err(|_| ApiError::Unauthenticated("the access token names no tenant".into()))?;
        let client = store
            .get_api_client(client_id)
            .await?
            .filter(|c| c.tenant_id == tenant_id)
            .ok_or_else(|| {
                ApiError::Unauthenticated("the client of this token no longer exists".into())
            })?;
        if !client.is_active() {
            return Err(ApiError::Unauthenticated(
                "the client of this token has been revoked".into(),
            ));
        }
        // The token's roles, narrowed to what the client still holds.
        let permissions: ApiPermissions = claims
            .roles
            .iter()
            .filter_map(|r| r.parse().ok())
            .filter(|p| client.permissions.contains(*p))
            .collect();
        let actor = Actor::ApiClient {
            tenant_id,
            client_id,
            permissions,
        };
        self.remember(key, actor.clone(), &claims, now);
        Ok(actor)
    }

    fn remember(&self, key: String, actor: Actor, claims: &Claims, now: OffsetDateTime) {
        let exp = OffsetDateTime::from_unix_timestamp(claims.exp).unwrap_or(now);
        self.cache.insert(
            key,
            Cached {
                actor,
                exp,
                trusted_until: now + CACHE_TTL,
            },
        );
    }

    async fn operator_actor(
        &self,
        store: &Arc<dyn Store>,
        client_id: ApiClientId,
        claims: &Claims,
    ) -> Result<Actor, ApiError> {
        let client = store.get_operator_client(client_id).await?.ok_or_else(|| {
            ApiError::Unauthenticated("the client of this token no longer exists".into())
        })?;
        if !client.is_active() {
            return Err(ApiError::Unauthenticated(
                "the client of this token has been revoked".into(),
            ));
        }
        let roles: OperatorRoles = claims
            .roles
            .iter()
            .filter_map(|r| r.parse().ok())
            .filter(|r| client.roles.contains(*r))
            .collect();
        Ok(Actor::Operator {
            operator_id: candor_domain::OperatorId(client.id.0),
            email: format!("svc:{}", client.id),
            roles,
        })
    }

    /// Forgets cached tokens (after a client is revoked on this instance).
    pub fn forget_all(&self) {
        self.cache.clear();
    }
}
