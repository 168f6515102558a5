//! Rotating Candor's signing keys. A new key takes over at once in the store. Running
//! instances read the token keys again every minute (at once when a token signed with an
//! unknown key arrives) and sign with the new one; the old one verifies for
//! `auth::keys::TOKEN_KEY_GRACE`. A new audit key is used from each instance's next start;
//! audit keys verify for good (old checkpoints and Lockbox decisions).

use candor_domain::audit::{activity, AuditChain, NewAuditRecord};
use candor_domain::identity::{authorize, Action, Actor};
use candor_domain::store::{KeyPurpose, SigningKeyRecord};
use serde_json::json;

use super::Core;
use crate::error::{ApiError, ApiResult};

/// What a rotation did.
pub struct Rotated {
    pub retired: Option<String>,
    pub key_id: String,
}

fn purpose_of(name: &str) -> ApiResult<KeyPurpose> {
    match name.trim().to_ascii_lowercase().as_str() {
        "token" => Ok(KeyPurpose::Token),
        "audit" => Ok(KeyPurpose::Audit),
        "vapid" => Err(ApiError::BadRequest(
            "the Web Push (VAPID) key is not rotated: every browser subscription is bound to it".into(),
        )),
        other => Err(ApiError::BadRequest(format!(
            "no key called `{}`; rotate token (access and grant tokens) or audit (checkpoints and Lockbox decisions)",
            other.chars().take(40).collect::<String>()
        ))),
    }
}

/// Puts a new key in place for `purpose` (`token` or `audit`), retiring the one in use.
pub async fn rotate(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    purpose: &str,
) -> ApiResult<Rotated> {
    authorize(actor, Action::ManageOperators)?;
    let purpose = purpose_of(purpose)?;
    let now = core.clock.now();
    let before = core.store.list_signing_keys(purpose).await?;
    let retired = before
        .iter()
        .find(|k| k.retired_at.is_none())
        .map(|k| k.key_id.clone());
    let next: SigningKeyRecord = crate::auth::keys::new_key(purpose, now);
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
pub async fn list(core: &Core, actor: &Actor, purpose: &str) -> ApiResult<Vec<SigningKeyRecord>> {
    authorize(actor, Action::ManageOperators)?;
    let purpose = purpose_of(purpose)?;
    Ok(core.store.list_signing_keys(purpose).await?)
}
