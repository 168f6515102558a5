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

use super::keys::Keys;
use crate::error::ApiError;

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

/// A key tokens may be signed with: its id, its public half as JWK `x`, and the
/// decoding key made from it.
struct Verifier {
    key_id: String,
    x: String,
    decoding: DecodingKey,
}

impl Verifier {
    fn new(key_id: String, public: &ed25519_dalek::VerifyingKey) -> Result<Verifier, ApiError> {
        let x = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            public.as_bytes(),
        );
        let decoding = DecodingKey::from_ed_components(&x).map_err(ApiError::internal)?;
        Ok(Verifier {
            key_id,
            x,
            decoding,
        })
    }
}

/// How often an unknown key id may send this instance to the store for new keys.
const LEARN_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

pub struct TokenService {
    issuer: String,
    key_id: String,
    encoding: EncodingKey,
    /// The key in use first, then keys retired within the grace period, then keys learnt
    /// from the store (another instance rotated).
    verifiers: std::sync::RwLock<Vec<Arc<Verifier>>>,
    last_learned: std::sync::Mutex<Option<std::time::Instant>>,
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
            .map(|(id, public)| Verifier::new(id.clone(), public).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TokenService {
            issuer,
            key_id: keys.token.key_id.clone(),
            encoding: EncodingKey::from_ed_der(&keys.token_der),
            verifiers: std::sync::RwLock::new(verifiers),
            last_learned: std::sync::Mutex::new(None),
            cache: quick_cache::sync::Cache::new(10_000),
        })
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
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.key_id.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding).map_err(ApiError::internal)
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
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.key_id.clone());
        header.typ = Some("lockbox-grant+jwt".into());
        let token =
            jsonwebtoken::encode(&header, &claims, &self.encoding).map_err(ApiError::internal)?;
        Ok((token, expires))
    }

    /// The JSON Web Key Set that verifies Candor's tokens: the key in use and those
    /// retired within the grace period (`keys::TOKEN_KEY_GRACE`).
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .verifiers()
            .iter()
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
            .find(|v| v.key_id == kid)
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

    /// Looks for token keys this instance does not know yet (another instance, restarted
    /// after `candor keys rotate`, signs with a new one); at most once per
    /// `LEARN_INTERVAL`, so forged key ids cannot make every request read the store.
    async fn learn_keys(
        &self,
        store: &Arc<dyn Store>,
        now: OffsetDateTime,
    ) -> Result<(), ApiError> {
        {
            let mut last = match self.last_learned.lock() {
                Ok(l) => l,
                Err(poisoned) => poisoned.into_inner(),
            };
            if last.is_some_and(|at| at.elapsed() < LEARN_INTERVAL) {
                return Ok(());
            }
            *last = Some(std::time::Instant::now());
        }
        let records = store
            .list_signing_keys(candor_domain::store::KeyPurpose::Token)
            .await?;
        let known: Vec<String> = self.verifiers().iter().map(|v| v.key_id.clone()).collect();
        let mut learnt = Vec::new();
        for r in super::keys::usable_token_keys(&records, now) {
            if known.contains(&r.key_id) {
                continue;
            }
            let Ok(bytes) = <[u8; 32]>::try_from(r.public.as_slice()) else {
                continue;
            };
            let Ok(public) = ed25519_dalek::VerifyingKey::from_bytes(&bytes) else {
                continue;
            };
            learnt.push(Arc::new(Verifier::new(r.key_id.clone(), &public)?));
        }
        if !learnt.is_empty() {
            tracing::info!(
                keys = learnt.len(),
                "learnt token keys another instance signs with"
            );
            let mut verifiers = match self.verifiers.write() {
                Ok(v) => v,
                Err(poisoned) => poisoned.into_inner(),
            };
            verifiers.extend(learnt);
        }
        Ok(())
    }

    /// Turns a bearer token into an actor, from the cache when possible.
    pub async fn authenticate(
        &self,
        store: &Arc<dyn Store>,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Actor, ApiError> {
        let key = super::sha256_hex(token);
        if let Some(hit) = self.cache.get(&key) {
            if now < hit.exp && now < hit.trusted_until {
                return Ok(hit.actor);
            }
            self.cache.remove(&key);
        }
        let claims = match self.try_verify(token, now) {
            Ok(c) => c,
            Err(Unverified::UnknownKey) => {
                self.learn_keys(store, now).await?;
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
