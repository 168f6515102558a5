//! Witnesses of a log (C2SP `tlog-cosignature`): a tenant (for its log) or a Provider
//! Administrator (for the operator realm's) names the witnesses it trusts; a witness that
//! polled the log, checked it only grew and co-signed its checkpoint sends the cosigned
//! checkpoint back; Candor keeps each witness's newest cosignature and serves and
//! publishes every checkpoint with the cosignatures it has, so a tenant can refuse a
//! checkpoint nobody independent has seen (`candor verify --require-witness`).

use candor_domain::audit::witness::{self, WitnessKey};
use candor_domain::audit::{activity, AuditChain, AuditWitness, Cosignature, NewAuditRecord};
use candor_domain::identity::{authorize, Action, Actor, InvalidValue};
use candor_domain::time_util::rfc3339;
use serde_json::json;

use crate::error::{AppError, AppResult};
use crate::Core;

/// More witnesses than a log needs: a quorum is a handful.
pub const MAX_WITNESSES: usize = 20;

/// A witness of a log, as the API shows it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WitnessView {
    pub id: String,
    /// The witness's key name, e.g. `witness.example.com/w1`.
    pub name: String,
    /// The key id in cosignature lines, 8 hex digits.
    pub key_id: String,
    /// Its C2SP verifier key (type 0x04, Ed25519 cosignature/v1).
    pub verifier_key: String,
    pub added_at: String,
    /// The size of the newest checkpoint it co-signed, if any.
    pub cosigned_size: Option<u64>,
    /// When Candor received that cosignature.
    pub cosigned_at: Option<String>,
}

impl From<&AuditWitness> for WitnessView {
    fn from(w: &AuditWitness) -> Self {
        WitnessView {
            id: w.id.to_string(),
            name: w.name.clone(),
            key_id: format!("{:08x}", w.key_id),
            verifier_key: w.verifier_key.clone(),
            added_at: rfc3339(w.added_at),
            cosigned_size: w.cosigned.as_ref().map(|c| c.size),
            cosigned_at: w.cosigned.as_ref().map(|c| rfc3339(c.received_at)),
        }
    }
}

/// Who names a log's witnesses: the tenant's Global Administrators, or for the operator
/// realm's log a Provider Administrator.
fn manage_action(chain: AuditChain) -> Action {
    match chain {
        AuditChain::Tenant(t) => Action::ManageAuditWitnesses(t),
        AuditChain::Operator => Action::ManageOperators,
    }
}

/// Whether `actor` may name `chain`'s witnesses (asked before reading a request body).
pub fn may_manage(actor: &Actor, chain: AuditChain) -> AppResult<()> {
    Ok(authorize(actor, manage_action(chain))?)
}

pub async fn list(core: &Core, actor: &Actor, chain: AuditChain) -> AppResult<Vec<WitnessView>> {
    authorize(actor, crate::audit::read_action(chain))?;
    Ok(core
        .store
        .audit_witnesses(&chain.key())
        .await?
        .iter()
        .map(WitnessView::from)
        .collect())
}

pub async fn add(
    core: &Core,
    actor: &Actor,
    chain: AuditChain,
    verifier_key: &str,
    ip: Option<String>,
) -> AppResult<WitnessView> {
    authorize(actor, manage_action(chain))?;
    let key = WitnessKey::parse(verifier_key)
        .map_err(|e| AppError::Invalid(InvalidValue::new("verifierKey", e.to_string())))?;
    let chain_key = chain.key();
    let have = core.store.audit_witnesses(&chain_key).await?;
    if have.len() >= MAX_WITNESSES {
        return Err(AppError::Invalid(InvalidValue::new(
            "verifierKey",
            format!("a log has at most {MAX_WITNESSES} witnesses; remove one first"),
        )));
    }
    let now = core.clock.now();
    let witness = AuditWitness {
        id: uuid::Uuid::now_v7(),
        chain: chain_key.clone(),
        name: key.name.clone(),
        key_id: key.id,
        verifier_key: key.to_vkey(),
        added_at: candor_domain::time_util::truncate_to_micros(now),
        cosigned: None,
    };
    if !core.store.add_audit_witness(&witness).await? {
        return Err(AppError::Conflict(candor_domain::store::Conflict::NotNow(
            format!("{} is already a witness of this log", witness.name),
        )));
    }
    core.store
        .append_audit(vec![NewAuditRecord::by(
            actor,
            chain,
            now,
            activity::WITNESS_ADDED,
        )
        .ip(ip)
        .item(witness.name.clone())
        .details(
            json!({"VerifierKey": witness.verifier_key, "WitnessId": witness.id}),
        )])
        .await?;
    Ok(WitnessView::from(&witness))
}

pub async fn remove(
    core: &Core,
    actor: &Actor,
    chain: AuditChain,
    id: uuid::Uuid,
    ip: Option<String>,
) -> AppResult<()> {
    authorize(actor, manage_action(chain))?;
    let chain_key = chain.key();
    let witness = core
        .store
        .audit_witnesses(&chain_key)
        .await?
        .into_iter()
        .find(|w| w.id == id)
        .ok_or_else(|| AppError::NotFound("this log has no such witness".into()))?;
    if !core.store.remove_audit_witness(&chain_key, id).await? {
        return Err(AppError::NotFound("this log has no such witness".into()));
    }
    core.store
        .append_audit(vec![NewAuditRecord::by(
            actor,
            chain,
            core.clock.now(),
            activity::WITNESS_REMOVED,
        )
        .ip(ip)
        .item(witness.name)
        .details(json!({"VerifierKey": witness.verifier_key, "WitnessId": id}))])
        .await?;
    Ok(())
}

/// What a submission of cosignatures did.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CosignedView {
    /// The log (its checkpoints' origin line).
    pub origin: String,
    pub tree_size: u64,
    /// The witnesses whose cosignatures were kept.
    pub accepted: Vec<String>,
}

/// The chain a checkpoint's origin names, if it is one of this installation's logs.
fn chain_of(core: &Core, origin: &str) -> Option<AuditChain> {
    let operator = candor_domain::audit::note::origin(&core.log_origin, AuditChain::Operator);
    let rest = origin.strip_prefix(operator.strip_suffix("operator")?)?;
    if rest == "operator" {
        return Some(AuditChain::Operator);
    }
    uuid::Uuid::parse_str(rest)
        .ok()
        .map(|u| AuditChain::Tenant(candor_domain::TenantId(u)))
}

/// Takes a checkpoint a witness co-signed (the signed note, with the witness's line):
/// the checkpoint must be one this log signed, and each line by a witness of the log must
/// verify; those are kept. Needs no sign-in: only the log's own witnesses' signatures
/// are kept, and nothing else is changed.
pub async fn submit(core: &Core, note: &str) -> AppResult<CosignedView> {
    let invalid = |problem: String| AppError::Invalid(InvalidValue::new("checkpoint", problem));
    let text = witness::note_text(note).map_err(|e| invalid(e.to_string()))?;
    let origin = text.lines().next().unwrap_or_default().to_owned();
    let size = crate::audit::note_size(&text)
        .ok_or_else(|| invalid("the checkpoint's second line is not its size".into()))?;
    let not_ours = || {
        AppError::NotFound(format!(
            "{origin} signed no checkpoint of {size} records with that root here"
        ))
    };
    let chain = chain_of(core, &origin).ok_or_else(not_ours)?;
    let key = chain.key();
    let ours = core
        .store
        .checkpoint_note_at(&key, size)
        .await?
        .ok_or_else(not_ours)?;
    if witness::note_text(&ours).map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))? != text {
        return Err(not_ours());
    }
    let witnesses = core.store.audit_witnesses(&key).await?;
    let keys: Vec<WitnessKey> = witnesses
        .iter()
        .filter_map(|w| WitnessKey::parse(&w.verifier_key).ok())
        .collect();
    let found = witness::cosignatures(note, &keys).map_err(|e| invalid(e.to_string()))?;
    if found.is_empty() {
        return Err(AppError::Refused(format!(
            "no signature on this checkpoint is by a witness of {origin}; the log's owner names its witnesses at /api/v1/audit/witnesses"
        )));
    }
    let now = core.clock.now();
    let mut accepted = Vec::new();
    for c in found {
        let Some(w) = witnesses
            .iter()
            .find(|w| w.name == c.witness && w.key_id == c.id)
        else {
            continue;
        };
        core.store
            .record_cosignature(
                &key,
                w.id,
                &Cosignature {
                    size,
                    line: c.line,
                    received_at: candor_domain::time_util::truncate_to_micros(now),
                },
            )
            .await?;
        accepted.push(c.witness);
    }
    Ok(CosignedView {
        origin,
        tree_size: size,
        accepted,
    })
}

/// A log's checkpoints as served and published, with the cosignatures its witnesses
/// sent: `latest` with the lines for its size, and the newest checkpoint any witness
/// co-signed with its lines (none before the first cosignature). The witnesses are
/// read once for both.
pub struct Cosigned {
    pub latest: String,
    pub newest_cosigned: Option<String>,
}

/// `note` with the lines of `witnesses` that co-signed its size.
fn with_lines_of(witnesses: &[AuditWitness], note: String) -> String {
    let Some(size) = crate::audit::note_size(&note) else {
        return note;
    };
    let lines: Vec<String> = witnesses
        .iter()
        .filter_map(|w| w.cosigned.as_ref().filter(|c| c.size == size))
        .map(|c| c.line.clone())
        .collect();
    witness::with_lines(&note, &lines)
}

async fn newest_of(
    core: &Core,
    chain: &str,
    witnesses: &[AuditWitness],
) -> AppResult<Option<String>> {
    let Some(size) = witnesses
        .iter()
        .filter_map(|w| w.cosigned.as_ref().map(|c| c.size))
        .max()
    else {
        return Ok(None);
    };
    Ok(core
        .store
        .checkpoint_note_at(chain, size)
        .await?
        .map(|note| with_lines_of(witnesses, note)))
}

/// `latest` (a checkpoint of `chain`) with its cosignatures, and the newest co-signed one.
pub async fn cosigned(core: &Core, chain: &str, latest: String) -> AppResult<Cosigned> {
    let witnesses = core.store.audit_witnesses(chain).await?;
    Ok(Cosigned {
        newest_cosigned: newest_of(core, chain, &witnesses).await?,
        latest: with_lines_of(&witnesses, latest),
    })
}

/// `note` (a checkpoint of `chain`) with the cosignature lines its witnesses sent for it.
pub async fn with_cosignatures(core: &Core, chain: &str, note: String) -> AppResult<String> {
    let witnesses = core.store.audit_witnesses(chain).await?;
    Ok(with_lines_of(&witnesses, note))
}

/// The caller's log's newest co-signed checkpoint (`checkpoint.cosigned`).
pub async fn cosigned_checkpoint(
    core: &Core,
    actor: &Actor,
    chain: AuditChain,
) -> AppResult<String> {
    authorize(actor, crate::audit::read_action(chain))?;
    let key = chain.key();
    let witnesses = core.store.audit_witnesses(&key).await?;
    newest_of(core, &key, &witnesses).await?.ok_or_else(|| {
        AppError::NotFound(
            "no witness has co-signed a checkpoint of this log yet (see /api/v1/audit/witnesses)"
                .into(),
        )
    })
}
