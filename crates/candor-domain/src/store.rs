//! The storage traits the rest of Candor depends on. Each store crate (SQLite,
//! PostgreSQL) implements them and both pass the same contract suite. Every method that
//! changes state takes the audit record(s) describing the change and writes them in the
//! same transaction, so no path changes state without recording who did it.

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

use crate::audit::{AuditQuery, AuditRecord, Checkpoint, NewAuditRecord};
use crate::health::{
    Attachment, Component, ComponentId, Issue, IssueId, Message, MessageId, Pir, Post, Region,
    ScaleUnit, Service, TopologyChanges, TopologySummary, Viewpoint, ViewpointChange,
};
use crate::identity::{
    ApiClient, EmailAddress, NewApiClient, NewOperator, NewTenant, NewTenantUser, Operator,
    OperatorClient, Session, Tenant, TenantRoles, TenantUser, TimeZoneName,
};
use crate::jobs::{AfterFailure, JobCounts, NewJob, StoredJob};
use crate::language::Language;
use crate::{ApiClientId, JobId, OperatorId, TenantId, UserId};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// The change collides with what is stored: a uniqueness rule, or a newer version.
    #[error("conflict: {0}")]
    Conflict(Conflict),
    /// Data in the database that Candor cannot read back (hand-edited rows, say).
    #[error("corrupt data: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What a refused change collided with, by kind: callers match on the kind, people read
/// the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    /// A uniqueness rule: the named database constraint (both stores name them alike).
    #[error("{}", unique_message(.0))]
    Unique(String),
    /// A contact with this address exists in the organization.
    #[error("{0} is already a contact of this organization")]
    ContactExists(String),
    /// A webhook endpoint with this URL exists in the organization.
    #[error("{0} is already a webhook endpoint of this organization")]
    WebhookExists(String),
    /// What the change was based on changed before it was written (optimistic
    /// concurrency): reload and try again.
    #[error("{}", stale_message(*.0))]
    Stale(Stale),
    /// Two posts to one issue at the same moment took the same sequence number.
    #[error("another update was posted at the same moment; reload the issue and try again")]
    ConcurrentPost,
    /// A job's lease passed to another worker.
    #[error("job {job} is no longer leased to {worker}")]
    LeaseLost { job: String, worker: String },
    #[error("the post-incident review is already published")]
    ReviewAlreadyPublished,
    #[error("there is no draft review to publish")]
    NoDraftReview,
    /// A step the thing's present state does not allow; the domain's reason.
    #[error("{0}")]
    NotNow(String),
}

/// The things changed under optimistic concurrency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stale {
    Issue,
    Message,
    LockboxRequest,
    Elevation,
    Maintenance,
}

/// Constraints whose breach a person can act on, in words; others are named generically.
pub const EMAIL_CONSTRAINTS: [&str; 2] = ["tenant_users_email", "operators_email"];
pub const TENANT_NAME_CONSTRAINT: &str = "tenants_name";

fn unique_message(constraint: &str) -> &'static str {
    if EMAIL_CONSTRAINTS.contains(&constraint) {
        "that email address is already in use"
    } else if constraint == TENANT_NAME_CONSTRAINT {
        "a tenant with that name already exists"
    } else {
        "that already exists"
    }
}

fn stale_message(what: Stale) -> &'static str {
    match what {
        Stale::Issue => "the issue changed since it was loaded; reload it and try again",
        Stale::Message => "the message changed since it was loaded; reload it and try again",
        Stale::LockboxRequest => {
            "the request changed since it was loaded (someone else decided first); reload it"
        }
        Stale::Elevation => {
            "the elevation changed since it was loaded (someone else decided first); reload it"
        }
        Stale::Maintenance => {
            "the maintenance changed since it was loaded (its window moved it on, or someone else changed it); reload it and try again"
        }
    }
}

impl StoreError {
    /// The store's error for a broken uniqueness rule, from the constraint's name.
    pub fn unique(constraint: Option<&str>) -> StoreError {
        StoreError::Conflict(Conflict::Unique(constraint.unwrap_or("").to_owned()))
    }
}

/// A signing key kept by the store so every instance signs with the same key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub key_id: String,
    pub purpose: KeyPurpose,
    /// The 32-byte Ed25519 seed.
    pub secret: Vec<u8>,
    pub public: Vec<u8>,
    pub created_at: OffsetDateTime,
    /// When a newer key took over (`candor keys rotate`); `None` for the key in use.
    pub retired_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyPurpose {
    /// Signs access tokens (published at /.well-known/jwks.json).
    Token,
    /// Signs audit checkpoints.
    Audit,
    /// Identifies Candor to browsers' push services (VAPID, a P-256 key).
    Vapid,
}

impl KeyPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyPurpose::Token => "token",
            KeyPurpose::Audit => "audit",
            KeyPurpose::Vapid => "vapid",
        }
    }
}

#[async_trait]
pub trait IdentityStore: Send + Sync {
    async fn create_tenant(
        &self,
        id: TenantId,
        tenant: NewTenant,
        now: OffsetDateTime,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<Tenant>;
    async fn get_tenant(&self, id: TenantId) -> StoreResult<Option<Tenant>>;
    /// The tenants among `ids` that exist, in no particular order.
    async fn get_tenants(&self, ids: &[TenantId]) -> StoreResult<Vec<Tenant>>;
    /// Tenants ordered by name, then id; `after` is the (name, id) of the last one seen.
    async fn list_tenants(
        &self,
        after: Option<(String, TenantId)>,
        limit: u32,
    ) -> StoreResult<Vec<Tenant>>;
    async fn count_tenants(&self) -> StoreResult<i64>;
    async fn update_tenant_settings(
        &self,
        id: TenantId,
        default_language: Language,
        time_zone: TimeZoneName,
        audit: NewAuditRecord,
    ) -> StoreResult<Tenant>;

    async fn create_user(
        &self,
        id: UserId,
        user: NewTenantUser,
        now: OffsetDateTime,
        audit: NewAuditRecord,
    ) -> StoreResult<TenantUser>;
    async fn get_user(&self, tenant: TenantId, id: UserId) -> StoreResult<Option<TenantUser>>;
    /// Sign-in names are unique across tenants.
    async fn find_user_by_email(&self, email: &EmailAddress) -> StoreResult<Option<TenantUser>>;
    async fn list_users(&self, tenant: TenantId) -> StoreResult<Vec<TenantUser>>;
    async fn set_user_roles(
        &self,
        tenant: TenantId,
        id: UserId,
        roles: TenantRoles,
        audit: NewAuditRecord,
    ) -> StoreResult<TenantUser>;
    async fn set_user_language(
        &self,
        tenant: TenantId,
        id: UserId,
        language: Option<Language>,
    ) -> StoreResult<()>;

    async fn create_operator(
        &self,
        id: OperatorId,
        operator: NewOperator,
        now: OffsetDateTime,
        audit: NewAuditRecord,
    ) -> StoreResult<Operator>;
    async fn get_operator(&self, id: OperatorId) -> StoreResult<Option<Operator>>;
    async fn find_operator_by_email(&self, email: &EmailAddress) -> StoreResult<Option<Operator>>;
    async fn list_operators(&self) -> StoreResult<Vec<Operator>>;
    async fn set_operator_language(
        &self,
        id: OperatorId,
        language: Option<Language>,
    ) -> StoreResult<()>;

    async fn create_api_client(
        &self,
        id: ApiClientId,
        client: NewApiClient,
        now: OffsetDateTime,
        audit: NewAuditRecord,
    ) -> StoreResult<ApiClient>;
    async fn get_api_client(&self, id: ApiClientId) -> StoreResult<Option<ApiClient>>;
    async fn list_api_clients(&self, tenant: TenantId) -> StoreResult<Vec<ApiClient>>;
    async fn revoke_api_client(
        &self,
        tenant: TenantId,
        id: ApiClientId,
        now: OffsetDateTime,
        audit: NewAuditRecord,
    ) -> StoreResult<ApiClient>;

    async fn create_session(&self, session: &Session) -> StoreResult<()>;
    async fn get_session(&self, token_hash: &str) -> StoreResult<Option<Session>>;
    async fn touch_session(&self, token_hash: &str, now: OffsetDateTime) -> StoreResult<()>;
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;
    /// Removes sessions idle since `idle_before` or created before `created_before`.
    async fn delete_expired_sessions(
        &self,
        idle_before: OffsetDateTime,
        created_before: OffsetDateTime,
    ) -> StoreResult<u64>;
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends records that accompany no other change (sign-ins, exports, token issue).
    /// Concurrent calls are committed together (group commit).
    async fn append_audit(&self, records: Vec<NewAuditRecord>) -> StoreResult<Vec<AuditRecord>>;
    /// Newest first (by seq). Returns at most `query.limit + 1` records so the caller can
    /// tell whether another page exists.
    async fn search_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>>;
    /// A chain's records in seq order, from `after_seq + 1`, for verification and export.
    async fn audit_chain_records(
        &self,
        chain: &str,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<AuditRecord>>;
    /// Every chain with records: its head and its tree, read together.
    async fn audit_tips(&self) -> StoreResult<Vec<(String, crate::audit::ChainTip)>>;
    /// The chains that grew since their latest checkpoint (in one query, so checkpointing
    /// every few seconds costs one read however many chains there are).
    async fn audit_tips_unsealed(&self) -> StoreResult<Vec<(String, crate::audit::ChainTip)>>;
    /// The prefix a chain's log is published under: the one it has, or else `candidate`,
    /// kept from now on.
    async fn audit_log_prefix(&self, chain: &str, candidate: &str) -> StoreResult<String>;
    /// One record of a chain, by id.
    async fn audit_record(
        &self,
        chain: &str,
        id: crate::AuditRecordId,
    ) -> StoreResult<Option<AuditRecord>>;
    /// A chain's Merkle tree as its head records it (empty for a chain with no records).
    async fn audit_tree(&self, chain: &str) -> StoreResult<crate::audit::tree::Frontier>;
    /// Stored hashes of a chain's Merkle tree, by stored hash index; an index the tree
    /// does not have (yet) is left out.
    async fn audit_tree_hashes(
        &self,
        chain: &str,
        indexes: &[u64],
    ) -> StoreResult<std::collections::HashMap<u64, crate::audit::tree::TreeHash>>;
    async fn insert_checkpoint(&self, checkpoint: &Checkpoint) -> StoreResult<()>;
    async fn list_checkpoints(&self, chain: &str) -> StoreResult<Vec<Checkpoint>>;
    async fn latest_checkpoint(&self, chain: &str) -> StoreResult<Option<Checkpoint>>;
    /// The signed note of a chain's checkpoint of `size` records, if one was made.
    async fn checkpoint_note_at(&self, chain: &str, size: u64) -> StoreResult<Option<String>>;
    /// Adds a witness to its chain; false when the chain has that key already.
    async fn add_audit_witness(&self, witness: &crate::audit::AuditWitness) -> StoreResult<bool>;
    /// A chain's witnesses, oldest first.
    async fn audit_witnesses(&self, chain: &str) -> StoreResult<Vec<crate::audit::AuditWitness>>;
    /// Removes a chain's witness; false when it has no such witness.
    async fn remove_audit_witness(&self, chain: &str, id: uuid::Uuid) -> StoreResult<bool>;
    /// Keeps a witness's cosignature unless it already holds one of a larger checkpoint.
    async fn record_cosignature(
        &self,
        chain: &str,
        witness: uuid::Uuid,
        cosignature: &crate::audit::Cosignature,
    ) -> StoreResult<()>;
    /// For every chain any witness co-signed: the largest size co-signed.
    async fn cosigned_sizes(&self) -> StoreResult<Vec<(String, u64)>>;
    /// Sets (or with None, lifts) how many days a chain keeps its records' bodies.
    async fn set_audit_retention(&self, chain: &str, days: Option<u32>) -> StoreResult<()>;
    /// How many days `chain` keeps its records' bodies, if it has a retention period.
    async fn audit_retention(&self, chain: &str) -> StoreResult<Option<u32>>;
    /// Every chain with a retention period, with its days.
    async fn audit_retentions(&self) -> StoreResult<Vec<(String, u32)>>;
    /// Deletes the bodies of up to `limit` of a chain's records that happened before
    /// `before` (oldest first), keeping their place, time, hashes and tree hashes.
    /// Returns how many were pruned.
    async fn prune_audit_records(
        &self,
        chain: &str,
        before: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<u64>;
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Stores `candidate` unless a key for its purpose exists; returns the key in use.
    async fn ensure_signing_key(
        &self,
        candidate: SigningKeyRecord,
    ) -> StoreResult<SigningKeyRecord>;
    async fn list_signing_keys(&self, purpose: KeyPurpose) -> StoreResult<Vec<SigningKeyRecord>>;
    /// Empties a key's secret: it is kept outside the database from now on.
    async fn forget_signing_secret(&self, key_id: &str) -> StoreResult<()>;
    /// Retires the key in use for `next.purpose` at `now` and puts `next` in its place, with
    /// `audit`, in one transaction.
    async fn rotate_signing_key(
        &self,
        next: SigningKeyRecord,
        now: OffsetDateTime,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<()>;
}

#[async_trait]
pub trait JobStore: Send + Sync {
    /// Enqueues a job; returns `None` when a job with the same dedupe key exists.
    async fn enqueue_job(
        &self,
        id: JobId,
        job: NewJob,
        now: OffsetDateTime,
    ) -> StoreResult<Option<JobId>>;
    /// Claims the next due job of `lane` (queued and due, or running with a lapsed
    /// lease).
    async fn claim_job(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        worker: &str,
        lane: crate::jobs::JobLane,
    ) -> StoreResult<Option<StoredJob>>;
    async fn complete_job(&self, id: JobId, worker: &str, now: OffsetDateTime) -> StoreResult<()>;
    async fn fail_job(
        &self,
        id: JobId,
        worker: &str,
        error: &str,
        after: AfterFailure,
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    async fn get_job(&self, id: JobId) -> StoreResult<Option<StoredJob>>;
    /// Removes jobs that finished (done) before `before`; dead jobs stay for a person to
    /// look at. Their dedupe keys are released with them.
    async fn purge_finished_jobs(&self, before: OffsetDateTime) -> StoreResult<u64>;
    async fn job_counts(&self) -> StoreResult<JobCounts>;
}

#[async_trait]
pub trait TopologyStore: Send + Sync {
    /// Creates or updates (by id) everything in `changes`, in one transaction with
    /// `audit`. A component's services and a service's features are replaced by the
    /// ones given; placements are added.
    async fn apply_topology(
        &self,
        changes: &TopologyChanges,
        now: OffsetDateTime,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<()>;
    /// The ids that exist, for checking references before writing.
    async fn topology_summary(&self) -> StoreResult<TopologySummary>;
    /// Services with their features, by display name.
    async fn list_services(&self) -> StoreResult<Vec<Service>>;
    async fn list_regions(&self) -> StoreResult<Vec<Region>>;
    async fn list_scale_units(&self) -> StoreResult<Vec<ScaleUnit>>;
    /// Components with the services they host.
    async fn list_components(&self) -> StoreResult<Vec<Component>>;
    /// The components a tenant is placed on.
    async fn tenant_placements(&self, tenant: TenantId) -> StoreResult<Vec<ComponentId>>;
    async fn count_placements(&self) -> StoreResult<i64>;
    /// Every tenant (by name, as the database sorts names) and every placement, compactly,
    /// to build the placement index from; read as streams in one read transaction.
    async fn placement_index_rows(
        &self,
    ) -> StoreResult<crate::health::placement_index::PlacementRows>;
}

/// Which issues to list in the console.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssueFilter {
    pub active_only: bool,
    pub modified_since: Option<OffsetDateTime>,
    pub limit: u32,
}

/// Who a scope would reach, before it is published.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImpactPreview {
    pub total: i64,
    /// (home region, tenants), by region.
    pub by_region: Vec<(String, i64)>,
    /// The first tenants by name.
    pub tenants: Vec<Tenant>,
}

#[async_trait]
pub trait IssueStore: Send + Sync {
    /// The open (unpublished) draft of an alert's fingerprint.
    async fn open_draft(
        &self,
        fingerprint: &str,
    ) -> StoreResult<Option<crate::health::alert::IssueDraft>>;
    async fn get_draft(
        &self,
        id: crate::DraftId,
    ) -> StoreResult<Option<crate::health::alert::IssueDraft>>;
    /// Writes a draft (new or changed), with its audit records. A second open draft of
    /// the same fingerprint is a conflict (`Unique`).
    async fn save_draft(
        &self,
        draft: &crate::health::alert::IssueDraft,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<()>;
    /// Newest first; `open_only` leaves out the published ones.
    async fn list_drafts(
        &self,
        open_only: bool,
        limit: u32,
    ) -> StoreResult<Vec<crate::health::alert::IssueDraft>>;
    /// Records that the draft became `issue`; false if it was already published.
    async fn draft_published(
        &self,
        id: crate::DraftId,
        issue: &crate::health::IssueId,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// The next value of a named counter (issue numbers), starting at `start`.
    async fn next_number(&self, counter: &str, start: i64) -> StoreResult<i64>;
    /// A named counter's value, 0 before it is first set.
    async fn current_number(&self, counter: &str) -> StoreResult<i64>;
    /// Raises a named counter to `value`; a counter already higher keeps its value, so
    /// writers that race leave the highest.
    async fn raise_number(&self, counter: &str, value: i64) -> StoreResult<()>;
    /// Stores a new issue with its first post. The affected tenants are those placed on
    /// `covered` plus the scope's named tenants. Returns how many are affected.
    async fn create_issue(
        &self,
        issue: &Issue,
        post: &Post,
        covered: &[ComponentId],
        audit: Vec<NewAuditRecord>,
        jobs: Vec<NewJob>,
    ) -> StoreResult<i64>;
    /// Saves the issue's new state (if it still was last modified at
    /// `expected_last_modified`), an optional post, and, when `covered` is given, adds the
    /// tenants placed there (tenants once affected stay affected). Returns how many
    /// tenants were newly affected.
    async fn update_issue(
        &self,
        issue: &Issue,
        expected_last_modified: OffsetDateTime,
        post: Option<&Post>,
        covered: Option<&[ComponentId]>,
        audit: Vec<NewAuditRecord>,
        jobs: Vec<NewJob>,
    ) -> StoreResult<i64>;
    async fn get_issue(&self, id: &IssueId) -> StoreResult<Option<Issue>>;
    /// Most recently modified first.
    async fn list_issues(&self, filter: &IssueFilter) -> StoreResult<Vec<Issue>>;
    /// Posts in order.
    async fn issue_posts(&self, id: &IssueId) -> StoreResult<Vec<Post>>;
    /// Posts of several issues in one round trip, each issue's in order.
    async fn posts_of_issues(
        &self,
        ids: &[IssueId],
    ) -> StoreResult<std::collections::BTreeMap<IssueId, Vec<Post>>>;
    /// Issues affecting `tenant` that are active or were modified since `since`.
    async fn tenant_issues(
        &self,
        tenant: TenantId,
        since: OffsetDateTime,
    ) -> StoreResult<Vec<Issue>>;
    async fn tenant_is_affected(&self, tenant: TenantId, issue: &IssueId) -> StoreResult<bool>;
    async fn affected_count(&self, issue: &IssueId) -> StoreResult<i64>;
    /// Who would be told: tenants placed on `covered` plus `explicit`.
    async fn preview_impact(
        &self,
        covered: &[ComponentId],
        explicit: &[TenantId],
        limit: u32,
    ) -> StoreResult<ImpactPreview>;
    /// Active issues whose next update was due before `now`.
    async fn overdue_issues(&self, now: OffsetDateTime) -> StoreResult<Vec<Issue>>;
    /// Creates or replaces the draft review of an issue (refused once published).
    async fn save_pir(&self, pir: &Pir, audit: Vec<NewAuditRecord>) -> StoreResult<()>;
    async fn get_pir(&self, issue: &IssueId) -> StoreResult<Option<Pir>>;
    /// Publishes the review and saves the issue's new status, in one transaction.
    async fn publish_pir(
        &self,
        pir: &Pir,
        issue: &Issue,
        expected_last_modified: OffsetDateTime,
        audit: Vec<NewAuditRecord>,
        jobs: Vec<NewJob>,
    ) -> StoreResult<()>;
}

/// A claim on an idempotency key that has neither answered nor been given up for this
/// long belonged to a request whose instance died (killed mid-request): a retry with the
/// same key and body then takes it over rather than being told "in progress" for good.
/// Longer than any request runs (declaring for a million tenants takes seconds); the cost
/// of the rule is that a request killed between committing its work and recording its
/// answer is done twice, once per claim.
pub const IDEMPOTENCY_CLAIM_ABANDONED_AFTER: time::Duration = time::Duration::seconds(30);

/// What an idempotency key says about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Idempotency {
    /// First time: go ahead, then record the response.
    New,
    /// Done before: here is what was answered.
    Replay { status: u16, body: String },
    /// The first request with this key is still running (claimed less than
    /// [`IDEMPOTENCY_CLAIM_ABANDONED_AFTER`] ago).
    InProgress,
    /// The key was used for a different request.
    Mismatch,
}

#[async_trait]
pub trait OperatorApiStore: Send + Sync {
    async fn create_operator_client(
        &self,
        client: &OperatorClient,
        audit: NewAuditRecord,
    ) -> StoreResult<()>;
    async fn get_operator_client(&self, id: ApiClientId) -> StoreResult<Option<OperatorClient>>;
    async fn revoke_operator_client(
        &self,
        id: ApiClientId,
        now: OffsetDateTime,
        audit: NewAuditRecord,
    ) -> StoreResult<OperatorClient>;
    /// Claims `key` (within `scope`, the caller) for a request with `request_hash`; a
    /// claim left unanswered for [`IDEMPOTENCY_CLAIM_ABANDONED_AFTER`] is taken over.
    async fn begin_idempotent(
        &self,
        scope: &str,
        key: &str,
        request_hash: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Idempotency>;
    /// Records the answer given to the request that claimed `key`.
    async fn finish_idempotent(
        &self,
        scope: &str,
        key: &str,
        status: u16,
        body: &str,
    ) -> StoreResult<()>;
    /// Releases a key whose request failed, so a retry runs again.
    async fn abandon_idempotent(&self, scope: &str, key: &str) -> StoreResult<()>;
}

/// Planned maintenance, each with the Message Center message that carries it.
#[async_trait]
pub trait MaintenanceStore: Send + Sync {
    /// Stores a maintenance and its message, which reaches the tenants placed on
    /// `covered` plus the message audience's named tenants. Returns how many it reached.
    async fn create_maintenance(
        &self,
        maintenance: &crate::health::maintenance::ScheduledMaintenance,
        message: &crate::health::Message,
        covered: &[ComponentId],
        audit: Vec<NewAuditRecord>,
        jobs: Vec<NewJob>,
    ) -> StoreResult<i64>;
    /// Saves a changed maintenance, if it was still last modified at
    /// `expected_last_modified`, with its message's new text and dates.
    async fn update_maintenance(
        &self,
        maintenance: &crate::health::maintenance::ScheduledMaintenance,
        expected_last_modified: OffsetDateTime,
        message: &crate::health::Message,
        audit: Vec<NewAuditRecord>,
        jobs: Vec<NewJob>,
    ) -> StoreResult<()>;
    async fn get_maintenance(
        &self,
        id: &crate::health::maintenance::MaintenanceId,
    ) -> StoreResult<Option<crate::health::maintenance::ScheduledMaintenance>>;
    /// Latest window first.
    async fn list_maintenances(
        &self,
        limit: u32,
    ) -> StoreResult<Vec<crate::health::maintenance::ScheduledMaintenance>>;
    /// Those the clock moves on at or before `now` (a reminder, a start or an end due).
    async fn due_maintenances(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<crate::health::maintenance::ScheduledMaintenance>>;
    /// Those whose message reached `tenant`, latest window first.
    async fn tenant_maintenances(
        &self,
        tenant: TenantId,
        limit: u32,
    ) -> StoreResult<Vec<crate::health::maintenance::ScheduledMaintenance>>;
}

/// A new attachment with its bytes.
#[derive(Debug, Clone)]
pub struct NewAttachment {
    pub meta: Attachment,
    pub content: Vec<u8>,
}

#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Stores a message with its attachments and reaches the tenants placed on `covered`
    /// plus the audience's named tenants. Returns how many tenants it reached.
    async fn create_message(
        &self,
        message: &Message,
        attachments: &[NewAttachment],
        covered: &[ComponentId],
        audit: Vec<NewAuditRecord>,
        jobs: Vec<NewJob>,
    ) -> StoreResult<i64>;
    /// Saves a changed message (if it was still last modified at `expected_last_modified`)
    /// and, when `covered` is given, reaches more tenants (a tenant once reached stays
    /// reached). Returns how many tenants were newly reached.
    async fn update_message(
        &self,
        message: &Message,
        expected_last_modified: OffsetDateTime,
        covered: Option<&[ComponentId]>,
        audit: Vec<NewAuditRecord>,
        jobs: Vec<NewJob>,
    ) -> StoreResult<i64>;
    /// With its attachments' descriptions.
    async fn get_message(&self, id: &MessageId) -> StoreResult<Option<Message>>;
    /// Most recently modified first.
    async fn list_messages(&self, limit: u32) -> StoreResult<Vec<Message>>;
    /// Every message that reached `tenant`, most recently modified first.
    async fn tenant_messages(&self, tenant: TenantId) -> StoreResult<Vec<Message>>;
    async fn tenant_has_message(&self, tenant: TenantId, id: &MessageId) -> StoreResult<bool>;
    async fn message_reach(&self, id: &MessageId) -> StoreResult<i64>;
    /// An attachment's bytes.
    async fn attachment_content(
        &self,
        message: &MessageId,
        attachment: uuid::Uuid,
    ) -> StoreResult<Option<(Attachment, Vec<u8>)>>;
    /// One user's viewpoints on the given messages; messages never touched are absent.
    async fn viewpoints(
        &self,
        user: UserId,
        ids: &[MessageId],
    ) -> StoreResult<std::collections::BTreeMap<MessageId, Viewpoint>>;
    async fn change_viewpoints(
        &self,
        user: UserId,
        ids: &[MessageId],
        change: ViewpointChange,
        now: OffsetDateTime,
    ) -> StoreResult<()>;
}

#[async_trait]
pub trait LockboxStore: Send + Sync {
    /// A number every saved Lockbox change raises, in the change's own transaction: an
    /// instance that reads a new one knows its in-memory grants may be stale.
    async fn lockbox_generation(&self) -> StoreResult<i64>;
    /// Off unless a Global Administrator turned it on.
    async fn lockbox_enabled(&self, tenant: TenantId) -> StoreResult<bool>;
    async fn set_lockbox_enabled(
        &self,
        tenant: TenantId,
        enabled: bool,
        now: OffsetDateTime,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<()>;
    /// Creates or replaces a workload and its pre-approved operations.
    async fn put_workload(
        &self,
        workload: &crate::lockbox::Workload,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<()>;
    async fn list_workloads(&self) -> StoreResult<Vec<crate::lockbox::Workload>>;
    async fn create_lockbox_request(
        &self,
        request: &crate::lockbox::LockboxRequest,
        audit: Vec<NewAuditRecord>,
        notices: Vec<crate::health::NewDelivery>,
    ) -> StoreResult<()>;
    /// Saves a request's new state if its recorded status is still `expected`
    /// (otherwise a conflict: someone decided first). `notices` (its emails) are
    /// queued as deliveries in the same transaction.
    async fn save_lockbox_request(
        &self,
        request: &crate::lockbox::LockboxRequest,
        expected: crate::lockbox::LockboxStatus,
        audit: Vec<NewAuditRecord>,
        notices: Vec<crate::health::NewDelivery>,
    ) -> StoreResult<()>;
    async fn get_lockbox_request(
        &self,
        id: crate::lockbox::LockboxRequestId,
    ) -> StoreResult<Option<crate::lockbox::LockboxRequest>>;
    /// Newest first.
    async fn list_lockbox_requests(
        &self,
        filter: &crate::lockbox::LockboxFilter,
    ) -> StoreResult<Vec<crate::lockbox::LockboxRequest>>;
    /// Requests waiting or active whose next deadline is at or before `now`, for the job
    /// that records expiry and completion.
    async fn lockbox_requests_past_deadline(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<crate::lockbox::LockboxRequest>>;
}

/// A private feed link of a tenant (the token itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedToken {
    pub id: uuid::Uuid,
    pub tenant: TenantId,
    pub label: String,
    pub created_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

/// Private per-tenant feeds.
#[async_trait]
pub trait FeedStore {
    async fn create_feed_token(
        &self,
        token: &FeedToken,
        token_hash: &str,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<()>;
    /// The tenant of an active (not revoked) link.
    async fn tenant_of_feed_token(&self, token_hash: &str) -> StoreResult<Option<TenantId>>;
    /// A tenant's links, newest first, revoked ones included.
    async fn list_feed_tokens(&self, tenant: TenantId) -> StoreResult<Vec<FeedToken>>;
    /// Revokes one of the tenant's links; false if there is no such active link.
    async fn revoke_feed_token(
        &self,
        tenant: TenantId,
        id: uuid::Uuid,
        now: OffsetDateTime,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<bool>;
}

/// The contacts tenants want notified.
#[async_trait]
pub trait ContactStore {
    /// Adds a contact; the same address twice in one tenant is a conflict.
    async fn add_contact(
        &self,
        contact: &crate::health::Contact,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<()>;
    /// By email address.
    async fn list_contacts(&self, tenant: TenantId) -> StoreResult<Vec<crate::health::Contact>>;
    /// Saves a contact's language and subscription (its address is who it is); false if
    /// the tenant has no such contact.
    async fn save_contact(
        &self,
        contact: &crate::health::Contact,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<bool>;
    /// False if the tenant has no such contact.
    async fn delete_contact(
        &self,
        tenant: TenantId,
        id: crate::health::ContactId,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<bool>;
}

/// Tenants whose ids are at least the first and, if there is a second, below it: the
/// reached tenants one part of a fan-out covers.
pub type TenantRange = (TenantId, Option<TenantId>);

/// Deliveries of news to recipients, and the webhook endpoints tenants register. The
/// deliveries table is itself the delivery queue: workers claim due rows in batches.
#[async_trait]
pub trait DeliveryStore {
    /// Queues deliveries in one transaction; those whose id is already queued (the same
    /// change to the same recipient over the same channel) are skipped. Returns how many
    /// were new.
    async fn queue_deliveries(
        &self,
        deliveries: &[crate::health::NewDelivery],
        now: OffsetDateTime,
    ) -> StoreResult<u64>;
    /// Stores news that deliveries share; news already stored (by id) is left as it is.
    async fn store_news(
        &self,
        news: &[crate::health::DeliveryNews],
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// The stored news with these ids (those still kept).
    async fn get_news(&self, ids: &[String]) -> StoreResult<Vec<crate::health::DeliveryNews>>;
    /// Claims up to `limit` due deliveries of one channel (pending and due, or sending
    /// with a lapsed lease) for `worker` until `now + lease`, counting an attempt on
    /// each. Each channel is claimed on its own, so one that is stuck cannot fill the
    /// others' claims.
    async fn claim_deliveries(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        worker: &str,
        limit: u32,
        channel: crate::health::Channel,
    ) -> StoreResult<Vec<crate::health::Delivery>>;
    /// Records how attempts went, in one transaction. A delivery no longer leased to
    /// `worker` (another took it over) is left alone.
    async fn finish_deliveries(
        &self,
        worker: &str,
        results: &[(String, crate::health::DeliveryOutcome)],
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Puts every delivery and job in flight back in the queue: only for a store that
    /// one process owns (the embedded one), at its start, when nothing can be running.
    async fn release_all_leases(&self) -> StoreResult<u64>;
    async fn get_delivery(&self, id: &str) -> StoreResult<Option<crate::health::Delivery>>;
    /// Per change, newest first; changes whose key starts with `prefix` when given.
    async fn change_deliveries(
        &self,
        prefix: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<crate::health::ChangeDeliveries>>;
    /// One change's deliveries in a status (e.g. the failed ones, with their errors).
    async fn deliveries_of_change(
        &self,
        change: &str,
        status: Option<crate::health::DeliveryStatus>,
        limit: u32,
    ) -> StoreResult<Vec<crate::health::Delivery>>;
    /// A tenant's own deliveries (not the operator realm's mail about it), newest first,
    /// before the (created_at, id) cursor.
    async fn tenant_deliveries(
        &self,
        tenant: TenantId,
        before: Option<(OffsetDateTime, String)>,
        limit: u32,
    ) -> StoreResult<Vec<crate::health::Delivery>>;
    /// Removes finished (sent or dead) deliveries last touched before `before`.
    async fn purge_finished_deliveries(&self, before: OffsetDateTime) -> StoreResult<u64>;

    /// Adds an endpoint; the same URL twice in one tenant is a conflict.
    async fn add_webhook(
        &self,
        endpoint: &crate::health::WebhookEndpoint,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<()>;
    /// A tenant's endpoints, by URL.
    async fn list_webhooks(
        &self,
        tenant: TenantId,
    ) -> StoreResult<Vec<crate::health::WebhookEndpoint>>;
    async fn get_webhook(
        &self,
        id: crate::health::WebhookEndpointId,
    ) -> StoreResult<Option<crate::health::WebhookEndpoint>>;
    /// The endpoints among `ids` that exist, in no particular order.
    async fn get_webhooks(
        &self,
        ids: &[crate::health::WebhookEndpointId],
    ) -> StoreResult<Vec<crate::health::WebhookEndpoint>>;
    /// Saves the tenant's endpoint as given (secret rotation, enabling); false if the
    /// tenant has no such endpoint.
    async fn save_webhook(
        &self,
        endpoint: &crate::health::WebhookEndpoint,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<bool>;
    async fn delete_webhook(
        &self,
        tenant: TenantId,
        id: crate::health::WebhookEndpointId,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<bool>;
    /// Saves a browser's push subscription; the same endpoint again replaces the old one
    /// (a browser re-subscribing, or moving to another user of the same tenant).
    async fn save_push_subscription(
        &self,
        subscription: &crate::health::PushSubscription,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<()>;
    /// One person's push subscriptions (a tenant user's or an operator's), newest first.
    async fn list_push_subscriptions(
        &self,
        owner: crate::health::BrowserOwner,
    ) -> StoreResult<Vec<crate::health::PushSubscription>>;
    async fn get_push_subscriptions(
        &self,
        ids: &[crate::health::PushSubscriptionId],
    ) -> StoreResult<Vec<crate::health::PushSubscription>>;
    /// Removes one of `owner`'s subscriptions; false if `owner` has no such
    /// subscription.
    async fn delete_push_subscription(
        &self,
        owner: crate::health::BrowserOwner,
        id: crate::health::PushSubscriptionId,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<bool>;
    /// Every tenant an issue reached, in id order; with `within` = (from, until), only
    /// those whose id is at least `from` and below `until` (if given): one part of a
    /// fan-out.
    async fn tenants_reached_by_issue(
        &self,
        issue: &crate::health::IssueId,
        within: Option<TenantRange>,
    ) -> StoreResult<Vec<TenantId>>;
    /// Every tenant a message reached, in id order; `within` as for issues.
    async fn tenants_reached_by_message(
        &self,
        message: &crate::health::MessageId,
        within: Option<TenantRange>,
    ) -> StoreResult<Vec<TenantId>>;
    /// The contacts of these tenants.
    async fn contacts_of_tenants(
        &self,
        tenants: &[TenantId],
    ) -> StoreResult<Vec<crate::health::Contact>>;
    /// The enabled webhook endpoints of these tenants.
    async fn webhooks_of_tenants(
        &self,
        tenants: &[TenantId],
    ) -> StoreResult<Vec<crate::health::WebhookEndpoint>>;
    /// The push subscriptions of these tenants.
    async fn push_of_tenants(
        &self,
        tenants: &[TenantId],
    ) -> StoreResult<Vec<crate::health::PushSubscription>>;
    /// Endpoints that answered: their run of failures is over.
    async fn webhooks_succeeded(&self, ids: &[crate::health::WebhookEndpointId])
        -> StoreResult<()>;
    /// One more failed attempt on an endpoint. When that makes `disable_after` in a row,
    /// the endpoint is disabled with `reason`, and `on_disable` (the emails that tell its
    /// tenant, the audit record) are written in the same transaction. Returns whether
    /// this call disabled it.
    async fn webhook_failed(
        &self,
        id: crate::health::WebhookEndpointId,
        disable_after: i32,
        reason: &str,
        on_disable: (Vec<crate::health::NewDelivery>, Vec<NewAuditRecord>),
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
}

/// Internal elevations: operators' time-boxed privileged roles.
#[async_trait]
pub trait ElevationStore {
    async fn create_elevation(
        &self,
        elevation: &crate::elevation::Elevation,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<()>;
    /// Saves a new state if the recorded status is still `expected` (otherwise a
    /// conflict: someone decided first).
    async fn save_elevation(
        &self,
        elevation: &crate::elevation::Elevation,
        expected: crate::elevation::ElevationStatus,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<()>;
    async fn get_elevation(
        &self,
        id: crate::elevation::ElevationId,
    ) -> StoreResult<Option<crate::elevation::Elevation>>;
    /// Newest first, optionally one operator's and/or one recorded status.
    async fn list_elevations(
        &self,
        operator: Option<OperatorId>,
        status: Option<crate::elevation::ElevationStatus>,
        limit: u32,
    ) -> StoreResult<Vec<crate::elevation::Elevation>>;
}

/// People who asked for news by email themselves: requests waiting for confirmation
/// (public ones, and tenants' invitations) and the confirmed public subscribers.
#[async_trait]
pub trait SubscriberStore: Send + Sync {
    /// What `requested_by` and requests for `email` asked since `since`.
    async fn recent_subscription_requests(
        &self,
        requested_by: &str,
        email: &EmailAddress,
        since: OffsetDateTime,
    ) -> StoreResult<crate::health::subscriber::RecentRequests>;
    /// Stores a request and queues its confirmation email in one transaction.
    async fn request_subscription(
        &self,
        request: &crate::health::subscriber::SubscriptionRequest,
        confirmation: &crate::health::NewDelivery,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<()>;
    /// The request whose token has this SHA-256 (hex).
    async fn subscription_request(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<crate::health::subscriber::SubscriptionRequest>>;
    /// Uses up a public request: the subscriber is stored, or, when the address is
    /// already subscribed, takes the request's language and subscription. `None` when
    /// the request was already used.
    async fn confirm_subscriber(
        &self,
        request: crate::health::subscriber::SubscriberId,
        subscriber: &crate::health::subscriber::Subscriber,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<Option<crate::health::subscriber::Subscriber>>;
    /// Uses up an invitation: the contact is added to its tenant (or, when the address
    /// is one of its contacts already, takes the invitation's language and
    /// subscription). False when the invitation was already used.
    async fn confirm_invitation(
        &self,
        request: crate::health::subscriber::SubscriberId,
        contact: &crate::health::Contact,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<bool>;
    async fn get_subscriber(
        &self,
        id: crate::health::subscriber::SubscriberId,
    ) -> StoreResult<Option<crate::health::subscriber::Subscriber>>;
    async fn find_subscriber(
        &self,
        email: &EmailAddress,
    ) -> StoreResult<Option<crate::health::subscriber::Subscriber>>;
    /// Changes a subscriber's language and subscription. False when it is gone.
    async fn save_subscriber(
        &self,
        subscriber: &crate::health::subscriber::Subscriber,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<bool>;
    /// False when it was gone already.
    async fn remove_subscriber(
        &self,
        id: crate::health::subscriber::SubscriberId,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<bool>;
    /// Subscribers by address, those after `after`, at most `limit`; `containing` keeps
    /// the addresses with that text in them.
    async fn list_subscribers(
        &self,
        containing: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<crate::health::subscriber::Subscriber>>;
    /// Deletes requests made before `before` (expired: their links no longer work).
    async fn purge_subscription_requests(&self, before: OffsetDateTime) -> StoreResult<u64>;
}

/// Everything Candor stores.
#[async_trait]
pub trait Store:
    IdentityStore
    + AuditStore
    + KeyStore
    + JobStore
    + TopologyStore
    + IssueStore
    + OperatorApiStore
    + MessageStore
    + MaintenanceStore
    + LockboxStore
    + ElevationStore
    + FeedStore
    + ContactStore
    + SubscriberStore
    + DeliveryStore
    + Send
    + Sync
    + 'static
{
    /// `sqlite` or `postgres`, for diagnostics only: behaviour follows the capabilities
    /// below, never the name.
    fn backend(&self) -> &'static str;
    /// Whether every write to this database goes through this process, so an in-memory
    /// cache that this process invalidates on its own writes is complete (the embedded
    /// store, which `serve` locks to one process). Where it is false, other instances
    /// write too, and a cache must hear their announcements or not be trusted.
    fn sees_every_write(&self) -> bool;
    /// Cheap round trip, for `/readyz`.
    async fn ping(&self) -> StoreResult<()>;
    /// Applied migrations as (version, description), for diagnostics.
    async fn applied_migrations(&self) -> StoreResult<Vec<(i64, String)>>;
    /// Tells every instance serving from this database that `what` changed, so they drop
    /// their in-memory views of it (PostgreSQL `NOTIFY`). The embedded store has one
    /// serving instance, which drops its own views: it announces nothing.
    async fn announce(&self, what: Announcement) -> StoreResult<()>;
    /// What other instances announce, as it arrives; `None` where nothing is ever
    /// announced (the embedded store).
    async fn listen(&self) -> StoreResult<Option<Box<dyn Announcements>>>;
}

/// What changed, as far as in-memory views care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announcement {
    /// Issues, posts, scopes or reviews: what the health views show.
    Health,
    /// A Lockbox request changed: approved grants kept in memory may be stale.
    Lockbox,
    /// Tenants or placements changed: the placement index may be stale.
    Topology,
}

impl Announcement {
    pub fn as_str(self) -> &'static str {
        match self {
            Announcement::Health => "health",
            Announcement::Lockbox => "lockbox",
            Announcement::Topology => "topology",
        }
    }

    pub fn parse(s: &str) -> Option<Announcement> {
        match s {
            "health" => Some(Announcement::Health),
            "lockbox" => Some(Announcement::Lockbox),
            "topology" => Some(Announcement::Topology),
            _ => None,
        }
    }
}

/// What a listener hears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    Changed(Announcement),
    /// The connection was lost and made again: announcements may have been missed, so
    /// everything must be taken as changed.
    Gap,
}

/// A subscription to the announcements of every instance on the database.
#[async_trait]
pub trait Announcements: Send {
    /// Waits for the next announcement.
    async fn next(&mut self) -> StoreResult<Heard>;
}
