use std::pin::Pin;

use candor_domain::audit::tiles::{self, TileKind, TilePath};
use candor_domain::audit::{
    activity, AuditChain, AuditQuery, AuditQueryInput, AuditRecord, ChainFault, ChainTip,
    ChainVerifier, Checkpoint, NewAuditRecord,
};
use candor_domain::audit::{note, tree};
use candor_domain::identity::{authorize, Action, Actor, InvalidValue};
use candor_domain::page::Page;
use candor_domain::time_util::rfc3339;
use futures::Stream;
use serde_json::json;

use super::Core;
use crate::error::{AppError, AppResult};

/// The chain an actor searches: their tenant's, or the operator realm's.
pub fn chain_for(actor: &Actor) -> AppResult<AuditChain> {
    let chain = match actor.tenant_id() {
        Some(t) => AuditChain::Tenant(t),
        None => AuditChain::Operator,
    };
    authorize(actor, read_action(chain))?;
    Ok(chain)
}

pub(crate) fn read_action(chain: AuditChain) -> Action {
    match chain {
        AuditChain::Tenant(t) => Action::ReadAuditLog(t),
        AuditChain::Operator => Action::ReadOperatorAuditLog,
    }
}

pub async fn search(
    core: &Core,
    actor: &Actor,
    chain: AuditChain,
    input: AuditQueryInput,
) -> AppResult<Page<AuditRecord>> {
    authorize(actor, read_action(chain))?;
    let query = AuditQuery::parse(chain, input)?;
    let mut items = core.store.search_audit(&query).await?;
    let next_cursor = if items.len() > query.limit as usize {
        items.truncate(query.limit as usize);
        items.last().map(|r| r.seq.to_string())
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Json,
}

impl ExportFormat {
    pub fn parse(s: Option<&str>) -> AppResult<ExportFormat> {
        match s.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") | Some("csv") => Ok(ExportFormat::Csv),
            Some("json") => Ok(ExportFormat::Json),
            Some(other) => Err(AppError::Invalid(InvalidValue::new(
                "format",
                format!("`{other}` is not an export format; use csv or json"),
            ))),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Json => "application/json",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Json => "json",
        }
    }
}

pub const CSV_HEADER: [&str; 10] = [
    "Date",
    "IPAddress",
    "User",
    "ActorKind",
    "Activity",
    "Item",
    "Details",
    "RecordId",
    "Seq",
    "LeafIndex",
];

pub fn csv_row(r: &AuditRecord) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record([
        rfc3339(r.occurred_at).as_str(),
        r.ip_address.as_deref().unwrap_or(""),
        r.actor.as_str(),
        r.actor_kind.as_str(),
        r.activity.as_str(),
        r.item.as_deref().unwrap_or(""),
        r.details.as_str(),
        r.id.to_string().as_str(),
        r.seq.to_string().as_str(),
        leaf_index(r).to_string().as_str(),
    ]);
    w.into_inner().unwrap_or_default()
}

pub fn csv_header() -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(CSV_HEADER);
    w.into_inner().unwrap_or_default()
}

pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Vec<u8>, AppError>> + Send>>;

/// Exports everything a search matches, page by page, so memory stays flat however large
/// the result. The export itself is recorded before the first byte goes out.
pub async fn export(
    core: &Core,
    actor: &Actor,
    ip: Option<String>,
    chain: AuditChain,
    mut input: AuditQueryInput,
    format: ExportFormat,
) -> AppResult<ByteStream> {
    authorize(actor, read_action(chain))?;
    input.limit = Some(candor_domain::page::MAX_PAGE_SIZE);
    input.cursor = None;
    let query = AuditQuery::parse(chain, input)?;
    let record = NewAuditRecord::by(actor, chain, core.clock.now(), activity::AUDIT_EXPORTED)
        .ip(ip)
        .details(json!({
            "format": format.extension(),
            "from": rfc3339(query.from),
            "to": rfc3339(query.to),
            "activities": query.activities,
            "users": query.users,
            "item": query.item,
        }));
    core.store.append_audit(vec![record]).await?;
    let store = core.store.clone();
    let stream = async_stream(store, query, format);
    Ok(Box::pin(stream))
}

fn async_stream(
    store: std::sync::Arc<dyn candor_domain::store::Store>,
    query: AuditQuery,
    format: ExportFormat,
) -> impl Stream<Item = Result<Vec<u8>, AppError>> + Send {
    enum State {
        Start,
        More(Option<i64>, bool),
        Done,
    }
    futures::stream::unfold(State::Start, move |state| {
        let store = store.clone();
        let mut query = query.clone();
        async move {
            match state {
                State::Done => None,
                State::Start => {
                    let head = match format {
                        ExportFormat::Csv => csv_header(),
                        ExportFormat::Json => b"[".to_vec(),
                    };
                    Some((Ok(head), State::More(None, true)))
                }
                State::More(before, first) => {
                    query.before_seq = before;
                    let mut rows = match store.search_audit(&query).await {
                        Ok(rows) => rows,
                        Err(e) => return Some((Err(AppError::from(e)), State::Done)),
                    };
                    let more = rows.len() > query.limit as usize;
                    rows.truncate(query.limit as usize);
                    let mut out = Vec::new();
                    let mut first = first;
                    for r in &rows {
                        match format {
                            ExportFormat::Csv => out.extend(csv_row(r)),
                            ExportFormat::Json => {
                                if !first {
                                    out.push(b',');
                                }
                                out.push(b'\n');
                                out.extend(
                                    serde_json::to_vec(&AuditRecordView::from(r))
                                        .unwrap_or_default(),
                                );
                            }
                        }
                        first = false;
                    }
                    if more {
                        let next = rows.last().map(|r| r.seq);
                        Some((Ok(out), State::More(next, first)))
                    } else {
                        if format == ExportFormat::Json {
                            out.extend(b"\n]\n");
                        }
                        Some((Ok(out), State::Done))
                    }
                }
            }
        }
    })
}

/// The outcome of verifying one chain.
#[derive(Debug, Clone)]
pub struct ChainReport {
    pub chain: AuditChain,
    pub records: u64,
    pub checkpoints: usize,
    pub fault: Option<ChainFault>,
}

const VERIFY_PAGE: u32 = 5_000;

/// Walks every chain (or one) from the first record, checking links, hashes, each
/// record's Merkle tree hashes, the recorded head and tree, and every signed checkpoint.
pub async fn verify(
    core: &Core,
    only: Option<AuditChain>,
    mut progress: impl FnMut(&AuditChain, u64),
) -> AppResult<Vec<ChainReport>> {
    // Each chain's head and tree, read together, so they describe the same records.
    let tips = core.store.audit_tips().await?;
    let mut reports = Vec::new();
    let mut wanted: Vec<(AuditChain, ChainTip)> = tips
        .into_iter()
        .filter_map(|(key, tip)| AuditChain::from_key(&key).map(|c| (c, tip)))
        .filter(|(c, _)| only.is_none_or(|o| o == *c))
        .collect();
    if let Some(o) = only {
        if wanted.is_empty() {
            wanted.push((o, ChainTip::default()));
        }
    }
    for (chain, tip) in wanted {
        reports.push(verify_chain(core, chain, tip, &mut progress).await?);
    }
    Ok(reports)
}

async fn verify_chain(
    core: &Core,
    chain: AuditChain,
    ChainTip { head, tree }: ChainTip,
    progress: &mut impl FnMut(&AuditChain, u64),
) -> AppResult<ChainReport> {
    let key = chain.key();
    let checkpoints = core.store.list_checkpoints(&key).await?;
    let mut verifier = ChainVerifier::new();
    for cp in &checkpoints {
        verifier.pin(cp.seq);
        verifier.pin_tree(cp.seq as u64);
    }
    verifier.pin_tree(tree.size());
    let mut report = ChainReport {
        chain,
        records: 0,
        checkpoints: checkpoints.len(),
        fault: None,
    };
    let mut tip = ChainTip { head, tree };
    let mut rereads = 0;
    let mut after = 0;
    'walk: loop {
        let page = core
            .store
            .audit_chain_records(&key, after, VERIFY_PAGE)
            .await?;
        if page.is_empty() {
            // Records appended while the walk went on (a live fleet, or a commit that
            // landed after its process died) run past the head read at the start: the
            // head as it is now covers them. A head that never catches up is a fault.
            let seen = i64::try_from(verifier.records_seen()).unwrap_or(i64::MAX);
            if seen > tip.head.seq && rereads < 3 {
                rereads += 1;
                if let Some((_, now)) = core
                    .store
                    .audit_tips()
                    .await?
                    .into_iter()
                    .find(|(k, _)| *k == key)
                {
                    tip = now;
                }
                if tip.head.seq > seen {
                    continue;
                }
            }
            break;
        }
        for r in &page {
            if let Err(fault) = verifier.push(r) {
                report.fault = Some(fault);
                break 'walk;
            }
        }
        after = page.last().map_or(after, |r| r.seq);
        progress(&chain, verifier.records_seen());
    }
    report.records = verifier.records_seen();
    if report.fault.is_none() {
        report.fault = verifier.finish(tip.head).err();
    }
    if report.fault.is_none() {
        report.fault = verifier.finish_tree(&tip.tree).err();
    }
    if report.fault.is_none() {
        report.fault = check_checkpoints(core, chain, &checkpoints, &verifier);
    }
    Ok(report)
}

/// What is wrong with a checkpoint's signed tree head, if anything: it must verify with
/// one of Candor's audit keys under its own origin (which names this chain), be of the
/// checkpoint's size, and have the root of the tree the walk rebuilt at that size.
fn check_note(
    keys: &[ed25519_dalek::VerifyingKey],
    chain: AuditChain,
    cp: &Checkpoint,
    verifier: &ChainVerifier,
) -> Option<String> {
    let text = cp.note.as_deref()?;
    let origin = text.lines().next().unwrap_or_default();
    if !origin.ends_with(&note::origin("", chain)) {
        return Some(format!("its signed tree head names another log ({origin})"));
    }
    let head = match note::verify_checkpoint(text, origin, keys) {
        Ok(head) => head,
        Err(e) => return Some(format!("its signed tree head: {e}")),
    };
    if head.size != cp.seq as u64 {
        return Some(format!(
            "its signed tree head is of {} records, not {}",
            head.size, cp.seq
        ));
    }
    match verifier.pinned_root(head.size) {
        Some(root) if root == head.root => None,
        _ => Some("the tree of the records no longer has the signed root".into()),
    }
}

fn check_checkpoints(
    core: &Core,
    chain: AuditChain,
    checkpoints: &[Checkpoint],
    verifier: &ChainVerifier,
) -> Option<ChainFault> {
    let keys: Vec<_> = core.keys.audit_verifiers.values().copied().collect();
    for cp in checkpoints {
        let problem = match core.keys.audit_verifiers.get(&cp.key_id) {
            None => Some(format!("signed with unknown key {}", cp.key_id)),
            Some(key) => cp.verify_signature(key).err(),
        }
        .or_else(|| match verifier.pinned_hash(cp.seq) {
            None => {
                Some("the chain no longer reaches this checkpoint: records were removed".into())
            }
            Some(h) if h != cp.head_hash => {
                Some("the chain's record at this point differs from the signed one".into())
            }
            Some(_) => None,
        })
        .or_else(|| check_note(&keys, chain, cp, verifier));
        if let Some(problem) = problem {
            return Some(ChainFault::Checkpoint {
                seq: cp.seq,
                problem,
            });
        }
    }
    None
}

/// Signs a checkpoint for every chain that has grown since its last one: over the hash
/// chain's head, and, as a C2SP signed note, over the chain's Merkle tree head. Returns
/// how many were written.
pub async fn checkpoint_all(core: &Core) -> AppResult<usize> {
    Ok(checkpoint_chains(core).await?.len())
}

/// As `checkpoint_all`, returning the chains that got a signed note (what is worth
/// publishing).
pub async fn checkpoint_chains(core: &Core) -> AppResult<Vec<AuditChain>> {
    let now = core.clock.now();
    let mut noted = Vec::new();
    for (key, tip) in core.store.audit_tips_unsealed().await? {
        let Some(chain) = AuditChain::from_key(&key) else {
            continue;
        };
        let mut cp = Checkpoint::sign(
            chain,
            tip.head,
            now,
            &core.keys.audit.key_id,
            &core.keys.audit.signing,
        );
        // A chain whose older records are not yet in its tree gets its note once its
        // next append has caught them up.
        if tip.tree.size() == tip.head.seq as u64 {
            let origin = note::origin(&core.log_origin, chain);
            cp.note = Some(
                note::sign_checkpoint(
                    &origin,
                    tip.tree.size(),
                    tip.tree.root(),
                    &core.keys.audit.signing,
                )
                .map_err(|e| AppError::internal(anyhow::anyhow!("signing {origin}: {e}")))?,
            );
        }
        core.store.insert_checkpoint(&cp).await?;
        if cp.note.is_some() {
            noted.push(chain);
        }
    }
    Ok(noted)
}

/// Where a chain's log is published, relative to the backup status site: `log/operator`
/// for the operator realm's (public), `log/<unguessable prefix>` for a tenant's.
pub async fn publication_path(core: &Core, chain: AuditChain) -> AppResult<String> {
    match chain {
        AuditChain::Operator => Ok("log/operator".into()),
        AuditChain::Tenant(_) => {
            let prefix = core
                .store
                .audit_log_prefix(&chain.key(), &crate::secrets::random_token())
                .await?;
            Ok(format!("log/{prefix}"))
        }
    }
}

/// The files that bring a published copy of a log, whose checkpoint reads `published`,
/// to its latest signed checkpoint: the new tiles, the keys, the newest checkpoint
/// witnesses co-signed (`checkpoint.cosigned`), then the checkpoint with the
/// cosignatures it has (last, so a reader never sees a checkpoint whose tiles are not
/// there yet). Paths are relative to the site; `base` is the log's `publication_path`.
/// `None` when the log has no signed checkpoint yet or the copy is current.
pub async fn publication(
    core: &Core,
    chain: AuditChain,
    base: &str,
    published: Option<&str>,
) -> AppResult<Option<Vec<(String, Vec<u8>)>>> {
    let key = chain.key();
    let Some(note) = latest_note(core, &key).await? else {
        return Ok(None);
    };
    let crate::audit_witnesses::Cosigned {
        latest: note,
        newest_cosigned: cosigned,
    } = crate::audit_witnesses::cosigned(core, &key, note).await?;
    let size = note_size(&note)
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("{key}: an unreadable checkpoint")))?;
    if published == Some(note.as_str()) && cosigned.is_none() {
        return Ok(None);
    }
    // A copy that claims more than the log has is not ours to extend: rewritten whole.
    let from = published
        .and_then(note_size)
        .filter(|p| *p <= size)
        .unwrap_or(0);
    let mut files = Vec::new();
    for tile in tiles::new_tiles(from, size) {
        files.push((
            format!("{base}/{}", tile.path()),
            tile_bytes(core, &key, &tile).await?,
        ));
    }
    let keys: String = keys_of(core, chain)
        .keys
        .iter()
        .map(|k| k.verifier_key.clone() + "\n")
        .collect();
    files.push((format!("{base}/keys"), keys.into_bytes()));
    if let Some(cosigned) = cosigned {
        files.push((format!("{base}/checkpoint.cosigned"), cosigned.into_bytes()));
    }
    files.push((format!("{base}/checkpoint"), note.into_bytes()));
    Ok(Some(files))
}

/// The size a checkpoint note states (its second line), unverified: what a published
/// copy says it holds.
pub fn note_size(note: &str) -> Option<u64> {
    note.lines().nth(1)?.trim().parse().ok()
}

async fn latest_note(core: &Core, key: &str) -> AppResult<Option<String>> {
    Ok(match core.store.latest_checkpoint(key).await? {
        Some(cp) if cp.note.is_some() => cp.note,
        // The newest was signed before the chain's older records were in its tree (or
        // before trees): the newest that has a note, if any.
        Some(_) => core
            .store
            .list_checkpoints(key)
            .await?
            .into_iter()
            .rev()
            .find_map(|cp| cp.note),
        None => None,
    })
}

/// An audit record as the API, the JSON export and the CLI show it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecordView {
    pub id: String,
    pub seq: i64,
    /// When it happened (RFC 3339, UTC).
    pub date: String,
    pub ip_address: Option<String>,
    /// Who did it: an email address, `Operator`, `app:<client id>` or `system`.
    pub user: String,
    pub actor_kind: String,
    pub activity: String,
    pub item: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub hash: String,
    pub prev_hash: String,
    /// Where the record is in its log's Merkle tree (RFC 9162): leaf `seq − 1`.
    pub leaf_index: u64,
    /// The record's leaf hash, SHA-256(0x00 ‖ its canonical bytes), base64.
    pub leaf_hash: String,
}

impl From<&candor_domain::audit::AuditRecord> for AuditRecordView {
    fn from(r: &candor_domain::audit::AuditRecord) -> Self {
        AuditRecordView {
            id: r.id.to_string(),
            seq: r.seq,
            date: candor_domain::time_util::rfc3339(r.occurred_at),
            ip_address: r.ip_address.clone(),
            user: r.actor.clone(),
            actor_kind: r.actor_kind.to_string(),
            activity: r.activity.clone(),
            item: r.item.clone(),
            details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null),
            hash: hex::encode(r.hash),
            prev_hash: hex::encode(r.prev_hash),
            leaf_index: leaf_index(r),
            leaf_hash: b64(&tree::leaf_hash(r)),
        }
    }
}

/// A record's place in its log's Merkle tree.
pub fn leaf_index(r: &AuditRecord) -> u64 {
    u64::try_from(r.seq - 1).unwrap_or(0)
}

fn b64(h: &tree::TreeHash) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(h.0)
}

/// That an audit record is in its log: its leaf, the tree it is proved in, and the path.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InclusionProofView {
    pub record_id: String,
    pub leaf_index: u64,
    /// Base64 of SHA-256(0x00 ‖ the record's canonical bytes).
    pub leaf_hash: String,
    /// The size of the tree the proof is against (a checkpoint's size).
    pub tree_size: u64,
    /// Base64 of that tree's root hash (RFC 9162).
    pub root_hash: String,
    /// The audit path, base64 hashes, bottom up (RFC 9162 §2.1.3).
    pub inclusion_path: Vec<String>,
}

/// That a log of `fromSize` records is a prefix of the log of `toSize` records.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsistencyProofView {
    pub from_size: u64,
    pub from_root_hash: String,
    pub to_size: u64,
    pub to_root_hash: String,
    /// The consistency path, base64 hashes (RFC 9162 §2.1.4).
    pub consistency_path: Vec<String>,
}

fn tree_problem(field: &'static str, e: tree::TreeError) -> AppError {
    match e {
        tree::TreeError::Missing(_) | tree::TreeError::BadFrontier(_) => {
            AppError::internal(anyhow::anyhow!("the audit tree is missing hashes: {e}"))
        }
        other => AppError::Invalid(InvalidValue::new(field, other.to_string())),
    }
}

/// The size a proof is asked against, checked against the tree as it is now.
fn proof_size(field: &'static str, asked: Option<u64>, have: u64) -> AppResult<u64> {
    match asked {
        None => Ok(have),
        Some(n) if n > have => Err(AppError::Invalid(InvalidValue::new(
            field,
            format!("the log has {have} records; no tree of {n} has been published"),
        ))),
        Some(n) => Ok(n),
    }
}

/// Proves that record `id` of the caller's log is in the tree of `size` records (the
/// current tree when not named).
pub async fn inclusion_proof(
    core: &Core,
    actor: &Actor,
    chain: AuditChain,
    id: candor_domain::AuditRecordId,
    size: Option<u64>,
) -> AppResult<InclusionProofView> {
    authorize(actor, read_action(chain))?;
    let key = chain.key();
    let record = core
        .store
        .audit_record(&key, id)
        .await?
        .ok_or_else(|| AppError::NotFound(crate::ids::NO_SUCH_AUDIT_RECORD.into()))?;
    let tree_now = core.store.audit_tree(&key).await?;
    let size = proof_size("size", size, tree_now.size())?;
    let index = leaf_index(&record);
    let needs = tree::inclusion_needs(index, size).map_err(|e| tree_problem("size", e))?;
    let hashes = core.store.audit_tree_hashes(&key, &needs).await?;
    let proof = tree::prove_inclusion(index, size, &tree::StoredHashes(&hashes))
        .map_err(|e| tree_problem("size", e))?;
    Ok(InclusionProofView {
        record_id: record.id.to_string(),
        leaf_index: index,
        leaf_hash: b64(&tree::leaf_hash(&record)),
        tree_size: size,
        root_hash: b64(&proof.root),
        inclusion_path: proof.path.iter().map(b64).collect(),
    })
}

/// Proves the caller's log of `from` records a prefix of its log of `to` records (the
/// current log when not named).
pub async fn consistency_proof(
    core: &Core,
    actor: &Actor,
    chain: AuditChain,
    from: u64,
    to: Option<u64>,
) -> AppResult<ConsistencyProofView> {
    authorize(actor, read_action(chain))?;
    let key = chain.key();
    let tree_now = core.store.audit_tree(&key).await?;
    let to = proof_size("to", to, tree_now.size())?;
    if from > to {
        return Err(AppError::Invalid(InvalidValue::new(
            "from",
            format!("`from` ({from}) must not be larger than `to` ({to})"),
        )));
    }
    let needs = tree::consistency_needs(from, to).map_err(|e| tree_problem("from", e))?;
    let hashes = core.store.audit_tree_hashes(&key, &needs).await?;
    let proof = tree::prove_consistency(from, to, &tree::StoredHashes(&hashes))
        .map_err(|e| tree_problem("from", e))?;
    Ok(ConsistencyProofView {
        from_size: from,
        from_root_hash: b64(&proof.from_root),
        to_size: to,
        to_root_hash: b64(&proof.to_root),
        consistency_path: proof.path.iter().map(b64).collect(),
    })
}

/// The caller's log's latest checkpoint, as the C2SP signed note it was published as.
pub async fn latest_checkpoint(core: &Core, actor: &Actor, chain: AuditChain) -> AppResult<String> {
    authorize(actor, read_action(chain))?;
    let key = chain.key();
    let note = latest_note(core, &key).await?.ok_or_else(|| {
        AppError::NotFound(
            "this log has no signed checkpoint yet; one is made within seconds of its first \
             records"
                .into(),
        )
    })?;
    crate::audit_witnesses::with_cosignatures(core, &key, note).await
}

/// One key that signs (or signed) a log's checkpoints.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogKeyView {
    /// Candor's id of the key, as Lockbox decisions name it (`signingKeyId`).
    pub key_id: String,
    /// The C2SP verifier key for this log (`<origin>+<key hash>+<base64>`), as
    /// `candor verify` and witnesses take it.
    pub verifier_key: String,
    /// The Ed25519 public key, base64.
    pub public_key: String,
    /// Whether it signs new checkpoints (older keys stay here for good).
    pub in_use: bool,
}

/// The caller's log: its origin and the keys its checkpoints verify with.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogKeysView {
    /// The origin line of the log's checkpoints.
    pub origin: String,
    pub keys: Vec<LogKeyView>,
    /// Where the log is published beside the backup status site (`checkpoint`,
    /// `tile/…`, `keys`), relative to it: for a tenant, a prefix nobody else is told.
    pub published_at: Option<String>,
}

pub async fn log_keys(core: &Core, actor: &Actor, chain: AuditChain) -> AppResult<LogKeysView> {
    authorize(actor, read_action(chain))?;
    let mut view = keys_of(core, chain);
    view.published_at = Some(publication_path(core, chain).await? + "/");
    Ok(view)
}

fn keys_of(core: &Core, chain: AuditChain) -> LogKeysView {
    use base64::Engine as _;
    let origin = note::origin(&core.log_origin, chain);
    let mut keys: Vec<LogKeyView> = core
        .keys
        .audit_verifiers
        .iter()
        .map(|(id, key)| LogKeyView {
            key_id: id.clone(),
            verifier_key: note::verifier_key(&origin, key),
            public_key: base64::engine::general_purpose::STANDARD.encode(key.as_bytes()),
            in_use: *id == core.keys.audit.key_id,
        })
        .collect();
    keys.sort_by(|a, b| b.in_use.cmp(&a.in_use).then(a.key_id.cmp(&b.key_id)));
    LogKeysView {
        origin,
        keys,
        published_at: None,
    }
}
/// One tile of the caller's log, in the C2SP `tlog-tiles` layout (`tile/<L>/<N>[.p/<W>]`
/// or `tile/entries/<N>[.p/<W>]`), as served at `/api/v1/audit/log/<path>` and published.
pub async fn log_tile(
    core: &Core,
    actor: &Actor,
    chain: AuditChain,
    path: &str,
) -> AppResult<LogTile> {
    authorize(actor, read_action(chain))?;
    let tile = TilePath::parse(path)
        .map_err(|e| AppError::Invalid(InvalidValue::new("path", e.to_string())))?;
    let key = chain.key();
    let size = core.store.audit_tree(&key).await?.size();
    if !tile.within(size) {
        return Err(AppError::NotFound(format!(
            "this log has {size} records: it has no {} yet",
            tile.path()
        )));
    }
    Ok(LogTile {
        bytes: tile_bytes(core, &key, &tile).await?,
        full: tile.width == tiles::FULL,
    })
}

/// A tile's bytes, and whether it is full (so never changes).
#[derive(Debug)]
pub struct LogTile {
    pub bytes: Vec<u8>,
    pub full: bool,
}

/// The bytes of a tile the chain's tree has: hashes read by their stored index, or the
/// entries' canonical bytes (each record's leaf is the hash of them).
pub async fn tile_bytes(core: &Core, key: &str, tile: &TilePath) -> AppResult<Vec<u8>> {
    let missing = |what: String| AppError::internal(anyhow::anyhow!("{key}: {what}"));
    match tile.kind {
        TileKind::Hashes { .. } => {
            let indexes = tile.stored_hash_indexes();
            let hashes = core.store.audit_tree_hashes(key, &indexes).await?;
            let mut out = Vec::with_capacity(indexes.len() * 32);
            for i in &indexes {
                let h = hashes.get(i).ok_or_else(|| {
                    missing(format!("stored hash {i} of {} is missing", tile.path()))
                })?;
                out.extend_from_slice(&h.0);
            }
            Ok(out)
        }
        TileKind::Entries => {
            let start = i64::try_from(tile.start()).map_err(|e| missing(e.to_string()))?;
            let records = core
                .store
                .audit_chain_records(key, start, tile.width)
                .await?;
            let entries: Vec<Vec<u8>> = records
                .iter()
                .filter(|r| r.seq > start && r.seq <= start + i64::from(tile.width))
                // Past retention a record has no body: its entry is empty, and its leaf
                // is read from the level-0 hash tile instead.
                .map(|r| {
                    if r.pruned {
                        Vec::new()
                    } else {
                        candor_domain::audit::canonical_bytes(r)
                    }
                })
                .collect();
            if entries.len() != tile.width as usize {
                return Err(missing(format!(
                    "{} has {} of its {} records",
                    tile.path(),
                    entries.len(),
                    tile.width
                )));
            }
            tiles::bundle(entries.iter().map(Vec::as_slice))
                .map_err(|e| missing(format!("{}: {e}", tile.path())))
        }
    }
}
