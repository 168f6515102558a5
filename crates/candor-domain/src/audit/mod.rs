//! The unified audit log: records, the per-chain hash chain, signed checkpoints, search.
//!
//! Each tenant has its own chain, and the operator realm has one. A record's hash covers
//! a canonical encoding of all its fields plus the previous record's hash, so altering,
//! inserting or removing a record breaks the chain at that point; checkpoints signed with
//! Candor's Ed25519 key pin the head so that cutting off the tail is detected as well.

mod chain;
mod checkpoint;
pub mod note;
mod query;
pub mod tree;

/// The C2SP tlog-tiles layout logs are served and published in.
pub use candor_verify::tiles;
pub use candor_verify::witness;

pub use chain::*;
pub use checkpoint::*;
pub use query::*;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{AuditRecordId, TenantId};

/// The kind of actor behind a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ActorKind {
    TenantUser,
    Operator,
    ApiClient,
    System,
    /// Someone who has not (yet) proven who they are, e.g. a failed sign-in.
    Anonymous,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::TenantUser => "tenantUser",
            ActorKind::Operator => "operator",
            ActorKind::ApiClient => "apiClient",
            ActorKind::System => "system",
            ActorKind::Anonymous => "anonymous",
        }
    }
}

impl fmt::Display for ActorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ActorKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            ActorKind::TenantUser,
            ActorKind::Operator,
            ActorKind::ApiClient,
            ActorKind::System,
            ActorKind::Anonymous,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| format!("unknown actor kind `{s}`"))
    }
}

/// Which chain a record belongs to: one per tenant, one for the operator realm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AuditChain {
    Tenant(TenantId),
    Operator,
}

impl AuditChain {
    /// The stored key of the chain.
    pub fn key(self) -> String {
        match self {
            AuditChain::Tenant(t) => t.to_string(),
            AuditChain::Operator => "operator".to_owned(),
        }
    }

    pub fn from_key(key: &str) -> Option<AuditChain> {
        if key == "operator" {
            Some(AuditChain::Operator)
        } else {
            key.parse().ok().map(AuditChain::Tenant)
        }
    }

    pub fn tenant_id(self) -> Option<TenantId> {
        match self {
            AuditChain::Tenant(t) => Some(t),
            AuditChain::Operator => None,
        }
    }
}

impl fmt::Display for AuditChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditChain::Tenant(t) => write!(f, "tenant {t}"),
            AuditChain::Operator => f.write_str("operator realm"),
        }
    }
}

/// Well-known activity names, so the same words appear in code, search and exports.
pub mod activity {
    pub const SIGN_IN_SUCCEEDED: &str = "UserLoggedIn";
    pub const SIGN_IN_FAILED: &str = "UserLoginFailed";
    pub const SIGN_OUT: &str = "UserLoggedOut";
    pub const TENANT_CREATED: &str = "Add-Tenant";
    pub const SIGNING_KEY_ROTATED: &str = "Set-SigningKey";
    pub const TENANT_SETTINGS_CHANGED: &str = "Set-TenantSettings";
    pub const USER_CREATED: &str = "Add-User";
    pub const USER_ROLES_CHANGED: &str = "Set-UserRoles";
    pub const OPERATOR_CREATED: &str = "Add-Operator";
    /// An operator created with a standing privileged role, outside elevation.
    pub const BREAK_GLASS_OPERATOR_CREATED: &str = "Add-BreakGlassOperator";
    pub const API_CLIENT_CREATED: &str = "Add-ApiClient";
    pub const API_CLIENT_REVOKED: &str = "Revoke-ApiClient";
    pub const TOKEN_ISSUED: &str = "Issue-AccessToken";
    pub const TOKEN_REFUSED: &str = "Refuse-AccessToken";
    pub const AUDIT_EXPORTED: &str = "Export-AuditLog";
    pub const DEMO_SEEDED: &str = "Seed-DemoWorld";
    pub const WITNESS_ADDED: &str = "Add-AuditLogWitness";
    pub const WITNESS_REMOVED: &str = "Remove-AuditLogWitness";
    pub const RETENTION_SET: &str = "Set-AuditLogRetention";
}

/// A record as the caller describes it; sealing adds sequence, id and hashes.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditRecord {
    pub chain: AuditChain,
    pub occurred_at: OffsetDateTime,
    pub actor: String,
    pub actor_kind: ActorKind,
    pub ip_address: Option<String>,
    pub activity: String,
    pub item: Option<String>,
    pub details: serde_json::Value,
}

impl NewAuditRecord {
    pub fn new(
        chain: AuditChain,
        occurred_at: OffsetDateTime,
        actor: impl Into<String>,
        actor_kind: ActorKind,
        activity: impl Into<String>,
    ) -> Self {
        Self {
            chain,
            occurred_at: crate::time_util::truncate_to_micros(occurred_at),
            actor: actor.into(),
            actor_kind,
            ip_address: None,
            activity: activity.into(),
            item: None,
            details: serde_json::Value::Object(Default::default()),
        }
    }

    pub fn by(
        actor: &crate::identity::Actor,
        chain: AuditChain,
        occurred_at: OffsetDateTime,
        activity: impl Into<String>,
    ) -> Self {
        Self::new(
            chain,
            occurred_at,
            actor.audit_name(),
            actor.kind(),
            activity,
        )
    }

    pub fn ip(mut self, ip: Option<String>) -> Self {
        self.ip_address = ip;
        self
    }

    pub fn item(mut self, item: impl Into<String>) -> Self {
        self.item = Some(item.into());
        self
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// A sealed record, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    pub id: AuditRecordId,
    #[serde(skip)]
    pub chain: String,
    pub seq: i64,
    pub tenant_id: Option<TenantId>,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    pub actor: String,
    pub actor_kind: ActorKind,
    pub ip_address: Option<String>,
    pub activity: String,
    pub item: Option<String>,
    /// Canonical JSON text (object keys sorted); this exact text is hashed.
    pub details: String,
    #[serde(with = "hex_bytes")]
    pub prev_hash: [u8; 32],
    #[serde(with = "hex_bytes")]
    pub hash: [u8; 32],
    /// The Merkle tree hashes stored with this record (`tree.rs`): its leaf hash, then the
    /// root of each subtree it completed. Empty until the store has appended it.
    #[serde(skip)]
    pub tree_hashes: Vec<[u8; 32]>,
    /// Past its log's retention: the body (actor, address, activity, item, details) is
    /// gone; its place, time, hashes and tree hashes are kept, so proofs still verify.
    #[serde(skip)]
    pub pruned: bool,
}

mod hex_bytes {
    pub fn serialize<S: serde::Serializer>(b: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }
}

/// The head of a chain: its last sequence number and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: [u8; 32],
}

impl ChainHead {
    /// The head of a chain with no records yet.
    pub const GENESIS: ChainHead = ChainHead {
        seq: 0,
        hash: [0u8; 32],
    };
}

/// Where an append continues a chain: its hash-chain head and its Merkle tree's
/// frontier (whose size trails the head's seq only for records older than the tree).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChainTip {
    pub head: ChainHead,
    pub tree: tree::Frontier,
}

impl Default for ChainHead {
    fn default() -> Self {
        ChainHead::GENESIS
    }
}

impl ChainTip {
    /// Seals `new` as the next record, with its tree hashes.
    pub fn seal(&mut self, new: NewAuditRecord, id: crate::AuditRecordId) -> AuditRecord {
        let (mut record, next, leaf) = seal_with_leaf(new, id, self.head);
        self.head = next;
        record.tree_hashes = self.tree.append(leaf).into_iter().map(|h| h.0).collect();
        record
    }

    /// Seals `record` again as the next record here (it was sealed onto another tip):
    /// same id and contents, new seq, hashes and tree hashes.
    pub fn reseal(&mut self, record: AuditRecord) -> AuditRecord {
        let (mut record, next, leaf) = chain::reseal_with_leaf(record, self.head);
        self.head = next;
        record.tree_hashes = self.tree.append(leaf).into_iter().map(|h| h.0).collect();
        record
    }

    /// Brings the tree up to a record older than it (one the chain has and the tree has
    /// not yet counted), returning that record's tree hashes.
    pub fn catch_up(&mut self, record: &AuditRecord) -> Vec<[u8; 32]> {
        self.tree
            .append(tree::leaf_hash(record))
            .into_iter()
            .map(|h| h.0)
            .collect()
    }
}
