//! One function per rule of the storage contract. Each takes a fresh, empty store.

use std::sync::Arc;

use candor_domain::audit::{
    ActorKind, AuditChain, AuditQuery, AuditQueryInput, ChainHead, ChainVerifier, Checkpoint,
    NewAuditRecord,
};
use candor_domain::identity::{
    ApiPermission, DisplayName, EmailAddress, NewApiClient, NewOperator, NewTenant, NewTenantUser,
    OperatorRole, RegionCode, Session, SessionPrincipal, TenantName, TenantRole, TimeZoneName,
};
use candor_domain::jobs::{AfterFailure, JobLane, JobStatus, NewJob};
use candor_domain::language::Language;
use candor_domain::store::{
    Conflict, IssueFilter, KeyPurpose, SigningKeyRecord, Store, StoreError,
};
use candor_domain::{ApiClientId, JobId, OperatorId, TenantId, UserId};
use serde_json::json;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const T0: OffsetDateTime = datetime!(2026-11-01 9:00 UTC);

fn system_audit(chain: AuditChain, activity: &str) -> NewAuditRecord {
    NewAuditRecord::new(chain, T0, "system", ActorKind::System, activity)
}

fn new_tenant(name: &str) -> NewTenant {
    NewTenant {
        name: TenantName::parse(name).unwrap(),
        home_region: RegionCode::parse("eu-west").unwrap(),
        default_language: Language::Dutch,
        time_zone: TimeZoneName::parse("Europe/Amsterdam").unwrap(),
        is_demo: false,
    }
}

async fn tenant(store: &Arc<dyn Store>, name: &str) -> TenantId {
    let id = TenantId::generate();
    store
        .create_tenant(
            id,
            new_tenant(name),
            T0,
            vec![system_audit(AuditChain::Tenant(id), "Add-Tenant")],
        )
        .await
        .unwrap();
    id
}

fn new_user(tenant: TenantId, email: &str, roles: &[TenantRole]) -> NewTenantUser {
    NewTenantUser {
        tenant_id: tenant,
        email: EmailAddress::parse(email).unwrap(),
        display_name: DisplayName::parse("Ada Lovelace").unwrap(),
        password_hash: "$argon2id$fake".into(),
        roles: roles.iter().copied().collect(),
        language: Some(Language::French),
    }
}

async fn all_records(
    store: &Arc<dyn Store>,
    chain: AuditChain,
) -> Vec<candor_domain::audit::AuditRecord> {
    store
        .audit_chain_records(&chain.key(), 0, 10_000)
        .await
        .unwrap()
}

pub async fn tenants_are_created_listed_and_updated(store: Arc<dyn Store>) {
    let a = tenant(&store, "Contoso").await;
    let b = tenant(&store, "Fabrikam").await;
    let c = tenant(&store, "Adatum").await;
    let got = store.get_tenant(a).await.unwrap().unwrap();
    assert_eq!(got.name, "Contoso");
    assert_eq!(got.default_language, Language::Dutch);
    assert_eq!(got.time_zone.as_str(), "Europe/Amsterdam");
    assert_eq!(got.created_at, T0);
    assert!(store
        .get_tenant(TenantId::generate())
        .await
        .unwrap()
        .is_none());
    assert_eq!(store.count_tenants().await.unwrap(), 3);

    let first = store.list_tenants(None, 2).await.unwrap();
    assert_eq!(first.iter().map(|t| t.id).collect::<Vec<_>>(), vec![c, a]);
    let last = first.last().unwrap();
    let rest = store
        .list_tenants(Some((last.name.clone(), last.id)), 2)
        .await
        .unwrap();
    assert_eq!(rest.iter().map(|t| t.id).collect::<Vec<_>>(), vec![b]);

    let updated = store
        .update_tenant_settings(
            a,
            Language::Korean,
            TimeZoneName::parse("Asia/Seoul").unwrap(),
            system_audit(AuditChain::Tenant(a), "Set-TenantSettings"),
        )
        .await
        .unwrap();
    assert_eq!(updated.default_language, Language::Korean);
    assert_eq!(updated.time_zone.as_str(), "Asia/Seoul");
    let activities: Vec<String> = all_records(&store, AuditChain::Tenant(a))
        .await
        .into_iter()
        .map(|r| r.activity)
        .collect();
    assert_eq!(activities, vec!["Add-Tenant", "Set-TenantSettings"]);

    let missing = store
        .update_tenant_settings(
            TenantId::generate(),
            Language::Korean,
            TimeZoneName::utc(),
            system_audit(AuditChain::Operator, "Set-TenantSettings"),
        )
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)));
}

pub async fn duplicate_tenant_name_is_a_conflict_and_leaves_no_audit_record(store: Arc<dyn Store>) {
    tenant(&store, "Contoso").await;
    let id = TenantId::generate();
    let err = store
        .create_tenant(
            id,
            new_tenant("Contoso"),
            T0,
            vec![
                system_audit(AuditChain::Tenant(id), "Add-Tenant"),
                system_audit(AuditChain::Operator, "Add-Tenant"),
            ],
        )
        .await
        .unwrap_err();
    match err {
        StoreError::Conflict(c) => {
            assert_eq!(c, Conflict::Unique("tenants_name".into()));
            assert!(c.to_string().contains("name"), "{c}");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(all_records(&store, AuditChain::Tenant(id)).await.is_empty());
    assert!(all_records(&store, AuditChain::Operator).await.is_empty());
}

pub async fn users_are_scoped_to_their_tenant(store: Arc<dyn Store>) {
    let a = tenant(&store, "Contoso").await;
    let b = tenant(&store, "Fabrikam").await;
    let uid = UserId::generate();
    let user = store
        .create_user(
            uid,
            new_user(a, "Ada@Contoso.example", &[TenantRole::GlobalAdministrator]),
            T0,
            system_audit(AuditChain::Tenant(a), "Add-User"),
        )
        .await
        .unwrap();
    assert_eq!(user.email.as_str(), "ada@contoso.example");
    assert!(store.get_user(a, uid).await.unwrap().is_some());
    assert!(
        store.get_user(b, uid).await.unwrap().is_none(),
        "user visible from another tenant"
    );
    let found = store
        .find_user_by_email(&EmailAddress::parse("ADA@contoso.example").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, uid);
    assert_eq!(found.tenant_id, a);
    assert_eq!(found.language, Some(Language::French));
    assert!(found.roles.contains(TenantRole::GlobalAdministrator));
    assert_eq!(store.list_users(a).await.unwrap().len(), 1);
    assert!(store.list_users(b).await.unwrap().is_empty());

    let dup = store
        .create_user(
            UserId::generate(),
            new_user(b, "ada@contoso.example", &[]),
            T0,
            system_audit(AuditChain::Tenant(b), "Add-User"),
        )
        .await;
    assert!(
        matches!(&dup, Err(StoreError::Conflict(c @ Conflict::Unique(rule)))
            if rule == "tenant_users_email" && c.to_string().contains("email")),
        "{dup:?}"
    );
    assert!(all_records(&store, AuditChain::Tenant(b))
        .await
        .iter()
        .all(|r| r.activity != "Add-User"));

    let roles = [TenantRole::AuditReader, TenantRole::MessageCenterReader]
        .into_iter()
        .collect();
    let changed = store
        .set_user_roles(
            a,
            uid,
            roles,
            system_audit(AuditChain::Tenant(a), "Set-UserRoles"),
        )
        .await
        .unwrap();
    assert!(changed.roles.contains(TenantRole::AuditReader));
    assert!(!changed.roles.contains(TenantRole::GlobalAdministrator));
    let cross = store
        .set_user_roles(
            b,
            uid,
            Default::default(),
            system_audit(AuditChain::Tenant(b), "Set-UserRoles"),
        )
        .await;
    assert!(matches!(cross, Err(StoreError::NotFound)));
    assert!(all_records(&store, AuditChain::Tenant(b))
        .await
        .iter()
        .all(|r| r.activity != "Set-UserRoles"));

    store
        .set_user_language(a, uid, Some(Language::Korean))
        .await
        .unwrap();
    assert_eq!(
        store.get_user(a, uid).await.unwrap().unwrap().language,
        Some(Language::Korean)
    );
    assert!(matches!(
        store.set_user_language(b, uid, None).await,
        Err(StoreError::NotFound)
    ));
}

/// An Incident Manager with this address, made by the system.
async fn incident_manager(
    store: &Arc<dyn Store>,
    id: OperatorId,
    email: &str,
) -> candor_domain::identity::Operator {
    store
        .create_operator(
            id,
            NewOperator {
                email: EmailAddress::parse(email).unwrap(),
                display_name: DisplayName::parse("Olga Operator").unwrap(),
                password_hash: "$argon2id$fake".into(),
                roles: [OperatorRole::IncidentManager].into_iter().collect(),
            },
            T0,
            system_audit(AuditChain::Operator, "Add-Operator"),
        )
        .await
        .unwrap()
}

pub async fn operators_are_created_and_found(store: Arc<dyn Store>) {
    let id = OperatorId::generate();
    let op = incident_manager(&store, id, "ops@provider.example").await;
    assert_eq!(op.id, id);
    let found = store
        .find_operator_by_email(&EmailAddress::parse("OPS@provider.example").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(found.roles.contains(OperatorRole::IncidentManager));
    assert_eq!(
        store.get_operator(id).await.unwrap().unwrap().email,
        found.email
    );
    assert_eq!(store.list_operators().await.unwrap().len(), 1);
    store
        .set_operator_language(id, Some(Language::Dutch))
        .await
        .unwrap();
    assert_eq!(
        store.get_operator(id).await.unwrap().unwrap().language,
        Some(Language::Dutch)
    );
    let chain = all_records(&store, AuditChain::Operator).await;
    assert_eq!(chain.len(), 1);
    assert_eq!(chain[0].tenant_id, None);
}

pub async fn api_clients_are_revoked_only_within_their_tenant(store: Arc<dyn Store>) {
    let a = tenant(&store, "Contoso").await;
    let b = tenant(&store, "Fabrikam").await;
    let id = ApiClientId::generate();
    let client = store
        .create_api_client(
            id,
            NewApiClient {
                tenant_id: a,
                display_name: DisplayName::parse("Dashboard").unwrap(),
                secret_hash: "$argon2id$secret".into(),
                permissions: [ApiPermission::ServiceHealthReadAll].into_iter().collect(),
            },
            T0,
            system_audit(AuditChain::Tenant(a), "Add-ApiClient"),
        )
        .await
        .unwrap();
    assert!(client.is_active());
    assert_eq!(
        store.get_api_client(id).await.unwrap().unwrap().tenant_id,
        a
    );
    assert_eq!(store.list_api_clients(a).await.unwrap().len(), 1);
    assert!(store.list_api_clients(b).await.unwrap().is_empty());

    let cross = store
        .revoke_api_client(
            b,
            id,
            T0,
            system_audit(AuditChain::Tenant(b), "Revoke-ApiClient"),
        )
        .await;
    assert!(matches!(cross, Err(StoreError::NotFound)));
    assert!(store.get_api_client(id).await.unwrap().unwrap().is_active());

    let later = T0 + Duration::hours(1);
    let revoked = store
        .revoke_api_client(
            a,
            id,
            later,
            system_audit(AuditChain::Tenant(a), "Revoke-ApiClient"),
        )
        .await
        .unwrap();
    assert_eq!(revoked.revoked_at, Some(later));
    let again = store
        .revoke_api_client(
            a,
            id,
            later + Duration::hours(1),
            system_audit(AuditChain::Tenant(a), "Revoke-ApiClient"),
        )
        .await
        .unwrap();
    assert_eq!(
        again.revoked_at,
        Some(later),
        "revoking twice keeps the first time"
    );
}

pub async fn sessions_live_and_expire(store: Arc<dyn Store>) {
    let a = tenant(&store, "Contoso").await;
    let s = Session {
        token_hash: "hash-1".into(),
        principal: SessionPrincipal::TenantUser {
            tenant_id: a,
            user_id: UserId::generate(),
        },
        csrf_token: "csrf".into(),
        created_at: T0,
        last_seen_at: T0,
        ip_address: Some("192.0.2.7".into()),
    };
    store.create_session(&s).await.unwrap();
    let op = Session {
        token_hash: "hash-2".into(),
        principal: SessionPrincipal::Operator {
            operator_id: OperatorId::generate(),
        },
        ..s.clone()
    };
    store.create_session(&op).await.unwrap();
    let got = store.get_session("hash-1").await.unwrap().unwrap();
    assert_eq!(got.principal, s.principal);
    assert_eq!(got.ip_address.as_deref(), Some("192.0.2.7"));
    assert_eq!(
        store
            .get_session("hash-2")
            .await
            .unwrap()
            .unwrap()
            .principal,
        op.principal
    );

    store
        .touch_session("hash-1", T0 + Duration::minutes(20))
        .await
        .unwrap();
    let removed = store
        .delete_expired_sessions(T0 + Duration::minutes(10), T0 - Duration::hours(12))
        .await
        .unwrap();
    assert_eq!(removed, 1, "only the idle session goes");
    assert!(store.get_session("hash-2").await.unwrap().is_none());
    store.delete_session("hash-1").await.unwrap();
    assert!(store.get_session("hash-1").await.unwrap().is_none());
}

pub async fn concurrent_appends_keep_every_chain_linear(store: Arc<dyn Store>) {
    let tenants: Vec<TenantId> = (0..3).map(|_| TenantId::generate()).collect();
    let mut tasks = Vec::new();
    for i in 0..60 {
        let store = store.clone();
        let chain = if i % 4 == 0 {
            AuditChain::Operator
        } else {
            AuditChain::Tenant(tenants[i % 3])
        };
        tasks.push(tokio::spawn(async move {
            let records = (0..5)
                .map(|j| {
                    NewAuditRecord::new(
                        chain,
                        T0 + Duration::seconds(j),
                        format!("user{i}@x.example"),
                        ActorKind::TenantUser,
                        "UserLoggedIn",
                    )
                    .details(json!({"i": i, "j": j}))
                })
                .collect();
            store.append_audit(records).await.unwrap()
        }));
    }
    let mut total = 0;
    for t in tasks {
        let sealed = t.await.unwrap();
        assert_eq!(sealed.len(), 5);
        total += sealed.len();
    }
    assert_eq!(total, 300);
    let tips = store.audit_tips().await.unwrap();
    assert_eq!(tips.len(), 4);
    let mut sum = 0;
    for (chain, tip) in tips {
        let head = tip.head;
        let records = store.audit_chain_records(&chain, 0, 10_000).await.unwrap();
        let mut v = ChainVerifier::new();
        for r in &records {
            v.push(r).unwrap();
        }
        v.finish(head).unwrap();
        sum += records.len();
    }
    assert_eq!(sum, 300);
}

/// Every chain the store holds verifies as a hash chain and a tree, and every record an
/// append returned is stored exactly so (the writer seals ahead of its commits; what a
/// caller was given must be what was kept). Returns how many records are stored.
async fn every_returned_record_is_stored(
    store: &Arc<dyn Store>,
    returned: &[candor_domain::audit::AuditRecord],
) -> usize {
    let mut stored = std::collections::HashMap::new();
    for (chain, tip) in store.audit_tips().await.unwrap() {
        let records = store.audit_chain_records(&chain, 0, 100_000).await.unwrap();
        let mut v = ChainVerifier::new();
        for r in &records {
            v.push(r).unwrap();
        }
        v.finish(tip.head).unwrap();
        assert_eq!(
            tip.tree.size(),
            records.len() as u64,
            "{chain}: its tree counts every record"
        );
        for r in records {
            stored.insert(r.id, r);
        }
    }
    for r in returned {
        let kept = stored
            .get(&r.id)
            .unwrap_or_else(|| panic!("record {} was returned but is not stored", r.id));
        assert_eq!(
            (&kept.chain, kept.seq, kept.hash, &kept.tree_hashes),
            (&r.chain, r.seq, r.hash, &r.tree_hashes),
            "record {} is stored as it was returned",
            r.id
        );
    }
    stored.len()
}

/// Appends through group commit and business writes that append in their own
/// transactions (here: tenants created, audited on the operator chain and a shared
/// tenant chain) move the same chains at once. Each group's records were sealed ahead on
/// the chains' tips as the writer last knew them; every chain stays one line.
pub async fn business_writes_between_group_commits_keep_chains_linear(store: Arc<dyn Store>) {
    let shared = tenant(&store, "Shared Chain").await;
    let chains = [AuditChain::Operator, AuditChain::Tenant(shared)];
    let mut appenders = Vec::new();
    for caller in 0..40 {
        let store = store.clone();
        appenders.push(tokio::spawn(async move {
            let mut returned = Vec::new();
            for round in 0..8 {
                let records = (0..3)
                    .map(|j| {
                        NewAuditRecord::new(
                            chains[(caller + j) % 2],
                            T0 + Duration::seconds(round),
                            format!("user{caller}@x.example"),
                            ActorKind::TenantUser,
                            "UserLoggedIn",
                        )
                        .details(json!({"caller": caller, "round": round, "j": j}))
                    })
                    .collect();
                returned.extend(store.append_audit(records).await.unwrap());
            }
            returned
        }));
    }
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..30 {
                let id = TenantId::generate();
                store
                    .create_tenant(
                        id,
                        new_tenant(&format!("Business Write {i}")),
                        T0,
                        vec![
                            system_audit(AuditChain::Operator, "Add-Tenant"),
                            system_audit(chains[1], "Add-Tenant"),
                            system_audit(AuditChain::Tenant(id), "Add-Tenant"),
                        ],
                    )
                    .await
                    .unwrap();
                tokio::task::yield_now().await;
            }
        })
    };
    let mut returned = Vec::new();
    for a in appenders {
        returned.extend(a.await.unwrap());
    }
    writer.await.unwrap();
    assert_eq!(returned.len(), 40 * 8 * 3);
    let stored = every_returned_record_is_stored(&store, &returned).await;
    // The shared tenant's own creation, 960 appended, 30 tenants' three records each.
    assert_eq!(stored, 1 + 960 + 30 * 3);
}

/// Two stores on one database (two instances on PostgreSQL; the server and a CLI command
/// on one SQLite file) append to the same chains at once, some of them new to both
/// (their heads are created mid-append), each caller several times in a row so that
/// each store's writer seals ahead onto tips the other moves: every chain stays one line,
/// nothing is lost, and every record is stored as it was returned.
pub async fn two_stores_append_to_the_same_chains(first: Arc<dyn Store>, second: Arc<dyn Store>) {
    let tenants: Vec<TenantId> = (0..6).map(|_| TenantId::generate()).collect();
    let mut tasks = Vec::new();
    for (n, store) in [first.clone(), second].into_iter().enumerate() {
        for caller in 0..25 {
            let store = store.clone();
            let tenants = tenants.clone();
            tasks.push(tokio::spawn(async move {
                let mut returned = Vec::new();
                for round in 0..6 {
                    // Each append spans several chains, in an order that differs per caller.
                    let records: Vec<NewAuditRecord> = (0..4)
                        .map(|j| {
                            NewAuditRecord::new(
                                AuditChain::Tenant(tenants[(caller + j * (n + 1)) % tenants.len()]),
                                OffsetDateTime::now_utc(),
                                format!("user{caller}@instance{n}.example"),
                                ActorKind::TenantUser,
                                "UserLoggedIn",
                            )
                            .details(json!({"round": round, "j": j}))
                        })
                        .collect();
                    returned.extend(store.append_audit(records).await.unwrap());
                }
                returned
            }));
        }
    }
    let mut returned = Vec::new();
    for t in tasks {
        returned.extend(t.await.unwrap());
    }
    assert_eq!(returned.len(), 2 * 25 * 6 * 4);
    assert_eq!(
        every_returned_record_is_stored(&first, &returned).await,
        returned.len()
    );
}

/// The activity `a_failed_group_commit_fails_only_its_own_appends` makes the database
/// refuse (each store's test installs the refusal: a trigger, a constraint).
pub const REFUSED_ACTIVITY: &str = "Refuse-ThisRecord";

/// One group's transaction fails (the database refuses one of its records): the callers
/// in that group get the error, nothing of it is stored, and the groups gathered and
/// sealed ahead while it was in flight are sealed again from the stored heads and
/// committed. Nobody else loses a record, and every chain stays one line.
pub async fn a_failed_group_commit_fails_only_its_own_appends<F, Fut>(
    store: Arc<dyn Store>,
    refuse: F,
) where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let tenants: Vec<TenantId> = (0..3).map(|_| TenantId::generate()).collect();
    // The chains exist before the refusal is installed.
    store
        .append_audit(
            tenants
                .iter()
                .map(|t| system_audit(AuditChain::Tenant(*t), "Add-Tenant"))
                .collect(),
        )
        .await
        .unwrap();
    refuse().await;
    let mut tasks = Vec::new();
    for caller in 0..60usize {
        let store = store.clone();
        let tenants = tenants.clone();
        tasks.push(tokio::spawn(async move {
            let (mut returned, mut refused) = (Vec::new(), 0);
            for round in 0..10usize {
                let poisoned = caller % 20 == 7 && round == 4;
                let records = (0..2)
                    .map(|j| {
                        let activity = if poisoned && j == 1 {
                            REFUSED_ACTIVITY
                        } else {
                            "UserLoggedIn"
                        };
                        NewAuditRecord::new(
                            AuditChain::Tenant(tenants[(caller + j) % 3]),
                            T0,
                            format!("user{caller}@x.example"),
                            ActorKind::TenantUser,
                            activity,
                        )
                        .details(json!({"caller": caller, "round": round, "j": j}))
                    })
                    .collect();
                match store.append_audit(records).await {
                    Ok(sealed) => returned.extend(sealed),
                    Err(StoreError::Database(_)) => refused += 1,
                    Err(e) => panic!("unexpected error: {e}"),
                }
            }
            (returned, refused)
        }));
    }
    let (mut returned, mut refused) = (Vec::new(), 0);
    for t in tasks {
        let (r, n) = t.await.unwrap();
        returned.extend(r);
        refused += n;
    }
    assert!(
        refused >= 3,
        "the three poisoned appends are refused ({refused})"
    );
    assert_eq!(
        returned.len(),
        2 * (600 - refused),
        "every append not refused is returned whole"
    );
    assert!(returned.iter().all(|r| r.activity != REFUSED_ACTIVITY));
    let stored = every_returned_record_is_stored(&store, &returned).await;
    assert_eq!(stored, 3 + returned.len(), "nothing refused is stored");
    // And the log goes on.
    let after = store
        .append_audit(vec![system_audit(
            AuditChain::Tenant(tenants[0]),
            "UserLoggedIn",
        )])
        .await
        .unwrap();
    returned.extend(after);
    assert_eq!(
        every_returned_record_is_stored(&store, &returned).await,
        3 + returned.len()
    );
}

pub async fn audit_search_filters_and_pages_newest_first(store: Arc<dyn Store>) {
    let a = tenant(&store, "Contoso").await;
    let chain = AuditChain::Tenant(a);
    let mut records = Vec::new();
    for i in 0..30i64 {
        let activity = if i % 3 == 0 {
            "UserLoginFailed"
        } else {
            "UserLoggedIn"
        };
        let actor = if i % 2 == 0 {
            "Ada@contoso.example"
        } else {
            "bob@contoso.example"
        };
        records.push(
            NewAuditRecord::new(
                chain,
                T0 + Duration::hours(i),
                actor,
                ActorKind::TenantUser,
                activity,
            )
            .item(format!("item-{}", i % 5))
            .ip(Some("198.51.100.1".into())),
        );
    }
    store.append_audit(records).await.unwrap();
    // Another tenant's records never show up.
    let b = tenant(&store, "Fabrikam").await;
    store
        .append_audit(vec![NewAuditRecord::new(
            AuditChain::Tenant(b),
            T0,
            "eve@fabrikam.example",
            ActorKind::TenantUser,
            "UserLoggedIn",
        )])
        .await
        .unwrap();

    let query = |input: AuditQueryInput| AuditQuery::parse(chain, input).unwrap();
    let range = |from: i64, to: i64| AuditQueryInput {
        from: Some(T0 + Duration::hours(from)),
        to: Some(T0 + Duration::hours(to)),
        ..Default::default()
    };

    // Date range is half-open and includes the Add-Tenant record at T0.
    let all = store.search_audit(&query(range(0, 30))).await.unwrap();
    assert_eq!(all.len(), 31);
    assert!(all.windows(2).all(|w| w[0].seq > w[1].seq), "newest first");
    let window = store.search_audit(&query(range(5, 10))).await.unwrap();
    assert_eq!(window.len(), 5);

    let mut failed = range(0, 30);
    failed.activities = vec!["UserLoginFailed".into()];
    let got = store.search_audit(&query(failed)).await.unwrap();
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|r| r.activity == "UserLoginFailed"));

    let mut by_user = range(0, 30);
    by_user.users = vec!["ada@contoso.example".into()];
    let got = store.search_audit(&query(by_user)).await.unwrap();
    assert_eq!(got.len(), 15, "user match ignores case");

    let mut by_item = range(0, 30);
    by_item.item = Some("item-3".into());
    by_item.activities = vec!["UserLoggedIn".into(), "UserLoginFailed".into()];
    let got = store.search_audit(&query(by_item)).await.unwrap();
    assert_eq!(got.len(), 6);

    // Paging: limit + 1 rows come back; the cursor continues below the last seq shown.
    let mut paged = range(0, 30);
    paged.limit = Some(10);
    let page1 = store.search_audit(&query(paged.clone())).await.unwrap();
    assert_eq!(page1.len(), 11);
    paged.cursor = Some(page1[9].seq.to_string());
    let page2 = store.search_audit(&query(paged)).await.unwrap();
    assert_eq!(page2[0].seq, page1[9].seq - 1);
}

pub async fn checkpoints_are_stored_per_chain(store: Arc<dyn Store>) {
    let key = checkpoint_key_id();
    let sealed = store
        .append_audit(vec![system_audit(AuditChain::Operator, "Add-Operator")])
        .await
        .unwrap();
    let head = ChainHead {
        seq: sealed[0].seq,
        hash: sealed[0].hash,
    };
    let unsealed = |tips: Vec<(String, candor_domain::audit::ChainTip)>| {
        tips.into_iter().map(|(c, _)| c).collect::<Vec<_>>()
    };
    assert!(unsealed(store.audit_tips_unsealed().await.unwrap()).contains(&"operator".into()));
    let cp = Checkpoint {
        chain: "operator".into(),
        seq: head.seq,
        head_hash: head.hash,
        created_at: T0,
        key_id: key.clone(),
        signature: vec![1; 64],
        note: Some("log\n1\nAAAA\n".into()),
    };
    store.insert_checkpoint(&cp).await.unwrap();
    store.insert_checkpoint(&cp).await.unwrap();
    assert_eq!(
        store.list_checkpoints("operator").await.unwrap(),
        vec![cp.clone()]
    );
    assert_eq!(store.latest_checkpoint("operator").await.unwrap(), Some(cp));
    assert_eq!(store.latest_checkpoint("nope").await.unwrap(), None);
    // Sealed up to its head: not asked for again until it grows.
    assert!(!unsealed(store.audit_tips_unsealed().await.unwrap()).contains(&"operator".into()));
    store
        .append_audit(vec![system_audit(AuditChain::Operator, "Add-Operator")])
        .await
        .unwrap();
    assert!(unsealed(store.audit_tips_unsealed().await.unwrap()).contains(&"operator".into()));
}

pub async fn a_log_keeps_the_prefix_it_was_first_given(store: Arc<dyn Store>) {
    assert_eq!(store.audit_log_prefix("t1", "aaa").await.unwrap(), "aaa");
    assert_eq!(store.audit_log_prefix("t1", "bbb").await.unwrap(), "aaa");
    assert_eq!(store.audit_log_prefix("t2", "ccc").await.unwrap(), "ccc");
}

pub async fn a_witness_keeps_only_its_newest_cosignature(store: Arc<dyn Store>) {
    use candor_domain::audit::{AuditWitness, Cosignature};
    let witness = AuditWitness {
        id: uuid::Uuid::now_v7(),
        chain: "t1".into(),
        name: "witness.example/w1".into(),
        key_id: 0xdead_beef,
        verifier_key: "witness.example/w1+deadbeef+BAAA".into(),
        added_at: T0,
        cosigned: None,
    };
    assert!(store.add_audit_witness(&witness).await.unwrap());
    // The same key on the same log once; on another log it is another witness.
    let again = AuditWitness {
        id: uuid::Uuid::now_v7(),
        ..witness.clone()
    };
    assert!(!store.add_audit_witness(&again).await.unwrap());
    let elsewhere = AuditWitness {
        chain: "t2".into(),
        ..again
    };
    assert!(store.add_audit_witness(&elsewhere).await.unwrap());
    let cosign = |size: u64| Cosignature {
        size,
        line: format!("— witness.example/w1 line-{size}"),
        received_at: T0 + Duration::seconds(size as i64),
    };
    store
        .record_cosignature("t1", witness.id, &cosign(10))
        .await
        .unwrap();
    // An older checkpoint's cosignature arriving late does not replace a newer one.
    store
        .record_cosignature("t1", witness.id, &cosign(7))
        .await
        .unwrap();
    // A witness is its log's: the id on another log changes nothing.
    store
        .record_cosignature("t2", witness.id, &cosign(99))
        .await
        .unwrap();
    let listed = store.audit_witnesses("t1").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].cosigned, Some(cosign(10)));
    assert_eq!(store.audit_witnesses("t2").await.unwrap()[0].cosigned, None);
    assert_eq!(
        store.cosigned_sizes().await.unwrap(),
        vec![("t1".to_owned(), 10)]
    );
    assert!(!store.remove_audit_witness("t2", witness.id).await.unwrap());
    assert!(store.remove_audit_witness("t1", witness.id).await.unwrap());
    assert!(store.audit_witnesses("t1").await.unwrap().is_empty());
}

pub async fn records_past_retention_keep_their_place_and_hashes(store: Arc<dyn Store>) {
    let t = TenantId::generate();
    let chain = AuditChain::Tenant(t);
    let records: Vec<NewAuditRecord> = (0..5)
        .map(|i| {
            NewAuditRecord::new(
                chain,
                T0 + Duration::days(i),
                "admin@contoso.example",
                ActorKind::TenantUser,
                "Set-Thing",
            )
            .item(format!("thing {i}"))
        })
        .collect();
    let sealed = store.append_audit(records).await.unwrap();
    assert_eq!(store.audit_retentions().await.unwrap(), vec![]);
    store
        .set_audit_retention(&chain.key(), Some(30))
        .await
        .unwrap();
    store
        .set_audit_retention(&chain.key(), Some(45))
        .await
        .unwrap();
    assert_eq!(
        store.audit_retentions().await.unwrap(),
        vec![(chain.key(), 45)]
    );
    assert_eq!(store.audit_retention(&chain.key()).await.unwrap(), Some(45));
    assert_eq!(store.audit_retention("elsewhere").await.unwrap(), None);
    // Oldest first, at most the limit, only before the cut-off.
    let cut = T0 + Duration::days(3);
    assert_eq!(
        store
            .prune_audit_records(&chain.key(), cut, 2)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .prune_audit_records(&chain.key(), cut, 9)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .prune_audit_records(&chain.key(), cut, 9)
            .await
            .unwrap(),
        0
    );
    let all = store
        .audit_chain_records(&chain.key(), 0, 10)
        .await
        .unwrap();
    for (r, before) in all.iter().zip(&sealed) {
        let past = r.occurred_at < cut;
        assert_eq!(r.pruned, past, "{}", r.seq);
        assert_eq!(
            (
                r.seq,
                r.id,
                r.hash,
                r.prev_hash,
                &r.tree_hashes,
                r.occurred_at
            ),
            (
                before.seq,
                before.id,
                before.hash,
                before.prev_hash,
                &before.tree_hashes,
                before.occurred_at
            )
        );
        if past {
            assert!(r.actor.is_empty() && r.activity.is_empty() && r.item.is_none());
            assert_eq!(r.details, "{}");
        } else {
            assert_eq!(r.item, before.item);
        }
    }
    // The search finds only what is left.
    let found = store
        .search_audit(
            &AuditQuery::parse(
                chain,
                AuditQueryInput {
                    from: Some(T0 - Duration::days(1)),
                    to: Some(T0 + Duration::days(10)),
                    ..Default::default()
                },
            )
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
    store.set_audit_retention(&chain.key(), None).await.unwrap();
    assert!(store.audit_retentions().await.unwrap().is_empty());
}

fn checkpoint_key_id() -> String {
    "audit-key-1".into()
}

pub async fn the_first_signing_key_wins(store: Arc<dyn Store>) {
    let first = SigningKeyRecord {
        key_id: "k1".into(),
        purpose: KeyPurpose::Token,
        secret: vec![1; 32],
        public: vec![2; 32],
        created_at: T0,
        retired_at: None,
    };
    let second = SigningKeyRecord {
        key_id: "k2".into(),
        secret: vec![3; 32],
        ..first.clone()
    };
    assert_eq!(
        store.ensure_signing_key(first.clone()).await.unwrap(),
        first
    );
    assert_eq!(store.ensure_signing_key(second).await.unwrap(), first);
    let audit = SigningKeyRecord {
        key_id: "a1".into(),
        purpose: KeyPurpose::Audit,
        ..first.clone()
    };
    assert_eq!(
        store.ensure_signing_key(audit.clone()).await.unwrap(),
        audit
    );
    assert_eq!(
        store.list_signing_keys(KeyPurpose::Token).await.unwrap(),
        vec![first.clone()]
    );

    // Rotation: the new key is in use, the old one retired at that moment, the step in
    // the operator log; the audit key is untouched.
    let at = T0 + Duration::hours(1);
    let third = SigningKeyRecord {
        key_id: "k3".into(),
        secret: vec![5; 32],
        public: vec![6; 32],
        created_at: at,
        ..first.clone()
    };
    let record = NewAuditRecord::by(
        &candor_domain::identity::Actor::System,
        AuditChain::Operator,
        at,
        "Set-SigningKey",
    )
    .item("k3");
    store
        .rotate_signing_key(third.clone(), at, vec![record])
        .await
        .unwrap();
    let other = SigningKeyRecord {
        key_id: "k4".into(),
        ..first.clone()
    };
    assert_eq!(store.ensure_signing_key(other).await.unwrap(), third);
    let retired = SigningKeyRecord {
        retired_at: Some(at),
        ..first
    };
    assert_eq!(
        store.list_signing_keys(KeyPurpose::Token).await.unwrap(),
        vec![retired, third]
    );
    assert_eq!(
        store.list_signing_keys(KeyPurpose::Audit).await.unwrap(),
        vec![audit]
    );
    let log = all_records(&store, AuditChain::Operator).await;
    assert!(log
        .iter()
        .any(|r| r.activity == "Set-SigningKey" && r.item.as_deref() == Some("k3")));
}

pub async fn jobs_are_claimed_when_due_and_deduplicated(store: Arc<dyn Store>) {
    let later =
        NewJob::new("checkpoint", json!({"n": 1}), T0 + Duration::minutes(5)).dedupe("cp:1");
    let id = store
        .enqueue_job(JobId::generate(), later.clone(), T0)
        .await
        .unwrap();
    assert!(id.is_some());
    assert_eq!(
        store
            .enqueue_job(JobId::generate(), later, T0)
            .await
            .unwrap(),
        None,
        "same dedupe key"
    );
    assert!(
        store
            .claim_job(T0, Duration::seconds(30), "w1", JobLane::General)
            .await
            .unwrap()
            .is_none(),
        "not due yet"
    );

    let due = T0 + Duration::minutes(5);
    let job = store
        .claim_job(due, Duration::seconds(30), "w1", JobLane::General)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.kind, "checkpoint");
    assert_eq!(job.payload, json!({"n": 1}));
    assert_eq!(job.attempts, 1);
    assert_eq!(job.status, JobStatus::Running);
    assert!(
        store
            .claim_job(due, Duration::seconds(30), "w2", JobLane::General)
            .await
            .unwrap()
            .is_none(),
        "leased"
    );

    // Failure: retried later, with the error kept.
    store
        .fail_job(
            job.id,
            "w1",
            "boom",
            AfterFailure::RetryAt(due + Duration::seconds(10)),
            due,
        )
        .await
        .unwrap();
    let stored = store.get_job(job.id).await.unwrap().unwrap();
    assert_eq!(stored.status, JobStatus::Queued);
    assert_eq!(stored.last_error.as_deref(), Some("boom"));
    assert!(store
        .claim_job(due, Duration::seconds(30), "w1", JobLane::General)
        .await
        .unwrap()
        .is_none());
    let again = store
        .claim_job(
            due + Duration::seconds(10),
            Duration::seconds(30),
            "w2",
            JobLane::General,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.attempts, 2);

    // A lapsed lease (a crashed worker) lets another worker take the job over, and the
    // old worker can no longer complete it.
    let lapsed = due + Duration::minutes(5);
    let taken = store
        .claim_job(lapsed, Duration::seconds(30), "w3", JobLane::General)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.id, job.id);
    assert_eq!(taken.attempts, 3);
    assert!(matches!(
        store.complete_job(job.id, "w2", lapsed).await,
        Err(StoreError::Conflict(_))
    ));
    store.complete_job(job.id, "w3", lapsed).await.unwrap();
    assert_eq!(
        store.get_job(job.id).await.unwrap().unwrap().status,
        JobStatus::Done
    );

    let doomed = store
        .enqueue_job(JobId::generate(), NewJob::new("x", json!(null), T0), T0)
        .await
        .unwrap()
        .unwrap();
    let claimed = store
        .claim_job(lapsed, Duration::seconds(30), "w1", JobLane::General)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, doomed);
    store
        .fail_job(doomed, "w1", "gave up", AfterFailure::Dead, lapsed)
        .await
        .unwrap();
    let counts = store.job_counts().await.unwrap();
    assert_eq!(
        (counts.done, counts.dead, counts.queued, counts.running),
        (1, 1, 0, 0)
    );
}

pub async fn each_job_lane_is_claimed_on_its_own(store: Arc<dyn Store>) {
    for kind in ["status_site.publish", "bucket.status_site", "notify.fanout"] {
        store
            .enqueue_job(JobId::generate(), NewJob::new(kind, json!({}), T0), T0)
            .await
            .unwrap();
    }
    let lease = Duration::seconds(30);
    for (lane, kind) in [
        (JobLane::Bucket, "bucket.status_site"),
        (JobLane::General, "notify.fanout"),
        (JobLane::StatusSite, "status_site.publish"),
    ] {
        let claimed = store
            .claim_job(T0, lease, "w", lane)
            .await
            .unwrap()
            .map(|j| j.kind);
        assert_eq!(claimed.as_deref(), Some(kind), "{lane:?}");
        assert!(
            store
                .claim_job(T0, lease, "w", lane)
                .await
                .unwrap()
                .is_none(),
            "{lane:?} holds one job"
        );
    }
}

pub async fn drafts_are_one_per_open_fingerprint(store: Arc<dyn Store>) {
    use candor_domain::health::alert::IssueDraft;
    let draft = |fingerprint: &str| IssueDraft {
        id: candor_domain::DraftId::generate(),
        fingerprint: fingerprint.into(),
        origin: "alertmanager".into(),
        service: candor_domain::health::ServiceId::parse("Exchange").unwrap(),
        classification: candor_domain::health::Classification::Incident,
        title: "Slow".into(),
        impact_description: "Mail is slow.".into(),
        scope: candor_domain::health::Scope::default(),
        firing: true,
        affected_tenants: 3,
        notes: Vec::new(),
        link: None,
        starts_at: T0,
        created_at: T0,
        updated_at: T0,
        issue: None,
    };
    let mut first = draft("fp-1");
    store.save_draft(&first, Vec::new()).await.unwrap();
    assert_eq!(store.open_draft("fp-1").await.unwrap(), Some(first.clone()));
    let err = store
        .save_draft(&draft("fp-1"), Vec::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::Unique(_))),
        "one open draft per fingerprint: {err:?}"
    );
    first.firing = false;
    first.note(T0 + Duration::minutes(5), "resolved");
    first.updated_at = T0 + Duration::minutes(5);
    store.save_draft(&first, Vec::new()).await.unwrap();
    assert_eq!(
        store.get_draft(first.id).await.unwrap(),
        Some(first.clone())
    );
    let issue = candor_domain::health::IssueId::parse("EX100001").unwrap();
    assert!(store
        .draft_published(first.id, &issue, T0 + Duration::minutes(6))
        .await
        .unwrap());
    assert!(!store
        .draft_published(first.id, &issue, T0 + Duration::minutes(7))
        .await
        .unwrap());
    assert!(store.open_draft("fp-1").await.unwrap().is_none());
    // Published, it no longer holds the fingerprint.
    store.save_draft(&draft("fp-1"), Vec::new()).await.unwrap();
    assert_eq!(store.list_drafts(true, 10).await.unwrap().len(), 1);
    let all = store.list_drafts(false, 10).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].issue.as_ref(), Some(&issue), "newest change first");
    assert!(all[1].issue.is_none());
}

pub async fn concurrent_workers_claim_each_job_once(store: Arc<dyn Store>) {
    for i in 0..40 {
        store
            .enqueue_job(
                JobId::generate(),
                NewJob::new("work", json!({"i": i}), T0),
                T0,
            )
            .await
            .unwrap();
    }
    let mut workers = Vec::new();
    for w in 0..4 {
        let store = store.clone();
        workers.push(tokio::spawn(async move {
            let name = format!("w{w}");
            let mut claimed = Vec::new();
            while let Some(job) = store
                .claim_job(T0, Duration::minutes(1), &name, JobLane::General)
                .await
                .unwrap()
            {
                store.complete_job(job.id, &name, T0).await.unwrap();
                claimed.push(job.id);
            }
            claimed
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(n, 40);
    assert_eq!(all.len(), 40, "a job was claimed twice");
}

pub async fn migrations_are_recorded(store: Arc<dyn Store>) {
    let applied = store.applied_migrations().await.unwrap();
    assert!(!applied.is_empty());
    assert_eq!(applied[0], (1, "foundation".to_owned()));
    store.ping().await.unwrap();
}

/// On PostgreSQL every listener hears each announcement, its own instance's included; the
/// embedded store has nothing to hear and announcing is harmless.
pub async fn announcements_reach_every_listener(store: Arc<dyn Store>) {
    use candor_domain::store::{Announcement, Heard};
    let first = store.listen().await.unwrap();
    let second = store.listen().await.unwrap();
    store.announce(Announcement::Health).await.unwrap();
    match (first, second) {
        // Nothing to hear only where no other process writes.
        (None, None) => assert!(store.sees_every_write(), "{}", store.backend()),
        (Some(mut first), Some(mut second)) => {
            assert!(!store.sees_every_write(), "{}", store.backend());
            for listener in [&mut first, &mut second] {
                let heard =
                    tokio::time::timeout(std::time::Duration::from_secs(5), listener.next())
                        .await
                        .expect("an announcement within 5 s")
                        .unwrap();
                assert_eq!(heard, Heard::Changed(Announcement::Health));
            }
            // Nothing else was announced.
            assert!(
                tokio::time::timeout(std::time::Duration::from_millis(200), first.next())
                    .await
                    .is_err()
            );
        }
        _ => panic!("either every listener hears or none does"),
    }
}

fn sample_topology(tenant: TenantId) -> candor_domain::health::TopologyChanges {
    use candor_domain::health::*;
    let exchange = Service {
        id: ServiceId::parse("Exchange").unwrap(),
        display_name: "Exchange Online".into(),
        issue_prefix: IssuePrefix::parse("EX").unwrap(),
        features: vec![
            Feature {
                feature_group: "E-Mail and calendar access".into(),
                name: "E-Mail and calendar access".into(),
            },
            Feature {
                feature_group: "E-Mail timely delivery".into(),
                name: "Mailflow - delayed delivery from Internet".into(),
            },
        ],
    };
    let sharepoint = Service {
        id: ServiceId::parse("SharePoint").unwrap(),
        display_name: "SharePoint Online".into(),
        issue_prefix: IssuePrefix::parse("SP").unwrap(),
        features: vec![],
    };
    TopologyChanges {
        tenants: vec![],
        services: vec![exchange, sharepoint],
        regions: vec![Region {
            code: RegionCode::parse("eu-west").unwrap(),
            display_name: "Europe West".into(),
        }],
        scale_units: vec![ScaleUnit {
            id: ScaleUnitId::parse("eu-west-su1").unwrap(),
            region: RegionCode::parse("eu-west").unwrap(),
        }],
        components: vec![
            Component {
                id: ComponentId::parse("eu-west-su1-mbx01").unwrap(),
                scale_unit: ScaleUnitId::parse("eu-west-su1").unwrap(),
                services: [ServiceId::parse("Exchange").unwrap()]
                    .into_iter()
                    .collect(),
            },
            Component {
                id: ComponentId::parse("eu-west-su1-spo01").unwrap(),
                scale_unit: ScaleUnitId::parse("eu-west-su1").unwrap(),
                services: [ServiceId::parse("SharePoint").unwrap()]
                    .into_iter()
                    .collect(),
            },
        ],
        placements: vec![Placement {
            tenant_id: tenant,
            component: ComponentId::parse("eu-west-su1-mbx01").unwrap(),
        }],
    }
}

pub async fn topology_is_applied_and_read_back(store: Arc<dyn Store>) {
    use candor_domain::health::*;
    let t = tenant(&store, "Contoso").await;
    let changes = sample_topology(t);
    store
        .apply_topology(
            &changes,
            T0,
            vec![system_audit(AuditChain::Operator, "Set-Topology")],
        )
        .await
        .unwrap();
    let services = store.list_services().await.unwrap();
    assert_eq!(
        services
            .iter()
            .map(|s| s.display_name.as_str())
            .collect::<Vec<_>>(),
        ["Exchange Online", "SharePoint Online"]
    );
    assert_eq!(services[0].features.len(), 2);
    assert_eq!(store.list_regions().await.unwrap().len(), 1);
    assert_eq!(
        store.list_scale_units().await.unwrap()[0].region.as_str(),
        "eu-west"
    );
    let components = store.list_components().await.unwrap();
    assert_eq!(components.len(), 2);
    assert!(components[0]
        .services
        .contains(&ServiceId::parse("Exchange").unwrap()));
    assert_eq!(
        store.tenant_placements(t).await.unwrap(),
        vec![ComponentId::parse("eu-west-su1-mbx01").unwrap()]
    );

    // Applying again updates in place: new features replace old ones, a component's
    // services are replaced, placements are added once.
    let mut again = changes.clone();
    again.services[0].features.truncate(1);
    again.services[0].display_name = "Exchange Online (renamed)".into();
    again.components[0]
        .services
        .insert(ServiceId::parse("SharePoint").unwrap());
    again.placements.push(Placement {
        tenant_id: t,
        component: ComponentId::parse("eu-west-su1-spo01").unwrap(),
    });
    store
        .apply_topology(
            &again,
            T0,
            vec![system_audit(AuditChain::Operator, "Set-Topology")],
        )
        .await
        .unwrap();
    let services = store.list_services().await.unwrap();
    assert_eq!(services[0].display_name, "Exchange Online (renamed)");
    assert_eq!(services[0].features.len(), 1);
    assert_eq!(store.list_components().await.unwrap()[0].services.len(), 2);
    assert_eq!(store.tenant_placements(t).await.unwrap().len(), 2);
    assert_eq!(store.count_placements().await.unwrap(), 2);
    let summary = store.topology_summary().await.unwrap();
    assert_eq!(summary.components.len(), 2);
    assert_eq!(all_records(&store, AuditChain::Operator).await.len(), 2);
}

pub async fn a_topology_change_that_breaks_a_rule_writes_nothing(store: Arc<dyn Store>) {
    use candor_domain::health::*;
    let t = tenant(&store, "Contoso").await;
    let mut changes = sample_topology(t);
    // Placing a tenant that does not exist violates a foreign key at the very end.
    changes.placements.push(Placement {
        tenant_id: TenantId::generate(),
        component: ComponentId::parse("eu-west-su1-spo01").unwrap(),
    });
    let result = store
        .apply_topology(
            &changes,
            T0,
            vec![system_audit(AuditChain::Operator, "Set-Topology")],
        )
        .await;
    assert!(result.is_err());
    assert!(store.list_services().await.unwrap().is_empty());
    assert!(store.list_components().await.unwrap().is_empty());
    assert!(all_records(&store, AuditChain::Operator).await.is_empty());
}

fn sample_issue(
    id: &str,
    now: OffsetDateTime,
    scope: candor_domain::health::Scope,
) -> (candor_domain::health::Issue, candor_domain::health::Post) {
    use candor_domain::health::*;
    let issue = Issue {
        id: IssueId::parse(id).unwrap(),
        service: ServiceId::parse("Exchange").unwrap(),
        classification: Classification::Incident,
        origin: Origin::Provider,
        feature: Some("E-Mail and calendar access".into()),
        feature_group: Some("E-Mail and calendar access".into()),
        title: "Users can't reach their mailboxes".into(),
        impact_description: "Users may be unable to open mail.".into(),
        status: Status::Investigating,
        start: now,
        end: None,
        last_modified: now,
        details: [("NotifyInApp".to_owned(), "True".to_owned())]
            .into_iter()
            .collect(),
        scope,
        cadence: DEFAULT_CADENCE,
        next_update_due: Some(now + DEFAULT_CADENCE),
        owner: Some(OperatorId::generate()),
        updates_total: 0,
        updates_on_time: 0,
    };
    let post = Post {
        seq: 1,
        created_at: now,
        post_type: PostType::Regular,
        language: Language::English,
        body_html: "<p>We're investigating.</p>".into(),
        translations: [(Language::Dutch, "<p>We onderzoeken het.</p>".to_owned())]
            .into_iter()
            .collect(),
        status: Status::Investigating,
        new_cadence: None,
        author: "incidents@provider.example".into(),
    };
    (issue, post)
}

pub async fn issues_reach_exactly_the_placed_tenants_and_keep_them(store: Arc<dyn Store>) {
    use candor_domain::health::*;
    let a = tenant(&store, "Contoso").await;
    let b = tenant(&store, "Fabrikam").await;
    let c = tenant(&store, "Adatum").await;
    let mut topo = sample_topology(a);
    topo.placements.push(Placement {
        tenant_id: b,
        component: ComponentId::parse("eu-west-su1-spo01").unwrap(),
    });
    store.apply_topology(&topo, T0, vec![]).await.unwrap();

    assert_eq!(store.next_number("issue", 100_000).await.unwrap(), 100_000);
    assert_eq!(store.next_number("issue", 100_000).await.unwrap(), 100_001);
    assert_eq!(store.current_number("issue").await.unwrap(), 100_001);
    // A counter only rises: the highest of racing writers stays, a lower one is ignored.
    assert_eq!(
        store.current_number("built").await.unwrap(),
        0,
        "unset reads 0"
    );
    store.raise_number("built", 7).await.unwrap();
    store.raise_number("built", 5).await.unwrap();
    assert_eq!(store.current_number("built").await.unwrap(), 7);
    store.raise_number("built", 9).await.unwrap();
    assert_eq!(store.current_number("built").await.unwrap(), 9);

    let mbx = ComponentId::parse("eu-west-su1-mbx01").unwrap();
    let scope = Scope {
        components: [mbx.clone()].into_iter().collect(),
        tenants: [c].into_iter().collect(),
        ..Default::default()
    };
    let (issue, post) = sample_issue("EX100000", T0, scope);
    let affected = store
        .create_issue(
            &issue,
            &post,
            std::slice::from_ref(&mbx),
            vec![system_audit(AuditChain::Operator, "New-ServiceHealthIssue")],
            vec![
                NewJob::new("notify.fanout", json!({"issue": "EX100000", "seq": 1}), T0)
                    .dedupe("notify.fanout:EX100000:1"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        store.job_counts().await.unwrap().queued,
        1,
        "the fan-out is queued with the issue"
    );
    assert_eq!(
        affected, 2,
        "the tenant on the mailbox database and the named tenant"
    );
    assert!(store.tenant_is_affected(a, &issue.id).await.unwrap());
    assert!(store.tenant_is_affected(c, &issue.id).await.unwrap());
    assert!(!store.tenant_is_affected(b, &issue.id).await.unwrap());
    let got = store.get_issue(&issue.id).await.unwrap().unwrap();
    assert_eq!(got, issue);
    assert_eq!(
        store.issue_posts(&issue.id).await.unwrap(),
        vec![post.clone()]
    );
    assert_eq!(store.tenant_issues(a, T0).await.unwrap().len(), 1);
    assert!(store
        .tenant_issues(b, T0 - Duration::days(30))
        .await
        .unwrap()
        .is_empty());

    // Preview of a wider scope: counts per home region, tenants by name.
    let spo = ComponentId::parse("eu-west-su1-spo01").unwrap();
    let preview = store
        .preview_impact(&[mbx.clone(), spo.clone()], &[c], 10)
        .await
        .unwrap();
    assert_eq!(preview.total, 3);
    assert_eq!(preview.by_region, vec![("eu-west".to_owned(), 3)]);
    assert_eq!(
        preview
            .tenants
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        ["Adatum", "Contoso", "Fabrikam"]
    );

    // Widening the scope adds tenants; an update posted against a stale copy is refused.
    let later = T0 + Duration::minutes(40);
    let mut next = got.clone();
    next.status = Status::ServiceDegradation;
    next.last_modified = later;
    next.scope.components.insert(spo.clone());
    next.updates_total = 1;
    next.updates_on_time = 1;
    let second = Post {
        seq: 2,
        created_at: later,
        status: Status::ServiceDegradation,
        ..post.clone()
    };
    let added = store
        .update_issue(
            &next,
            got.last_modified,
            Some(&second),
            Some(&[mbx.clone(), spo.clone()]),
            vec![system_audit(AuditChain::Operator, "Set-ServiceHealthIssue")],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(added, 1);
    assert!(store.tenant_is_affected(b, &issue.id).await.unwrap());
    let stale = store
        .update_issue(&next, got.last_modified, None, None, vec![], vec![])
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))));

    // Narrowing keeps everyone who was told.
    let mut narrowed = next.clone();
    narrowed.last_modified = later + Duration::minutes(1);
    narrowed.scope.components.remove(&spo);
    store
        .update_issue(
            &narrowed,
            next.last_modified,
            None,
            Some(std::slice::from_ref(&mbx)),
            vec![],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(store.affected_count(&issue.id).await.unwrap(), 3);
    assert_eq!(store.issue_posts(&issue.id).await.unwrap().len(), 2);

    // The topology changes under the issue: the mailbox database no longer hosts
    // Exchange, so its scope would not cover it today. Its tenant stays affected.
    let mut moved = sample_topology(a);
    moved.placements.clear();
    moved.tenants.clear();
    for c in &mut moved.components {
        if c.id == mbx {
            c.services.clear();
        }
    }
    store.apply_topology(&moved, later, vec![]).await.unwrap();
    assert!(store.tenant_is_affected(a, &issue.id).await.unwrap());
    assert_eq!(store.tenant_issues(a, T0).await.unwrap().len(), 1);
    assert_eq!(store.affected_count(&issue.id).await.unwrap(), 3);
    let reached = store
        .tenants_reached_by_issue(&issue.id, None)
        .await
        .unwrap();
    let mut expected = vec![a, b, c];
    expected.sort_by_key(|t| t.0);
    assert_eq!(reached, expected, "in id order");
    // Parts of a fan-out: from one id (included) until another (excluded), or to the end.
    assert_eq!(
        store
            .tenants_reached_by_issue(&issue.id, Some((expected[0], Some(expected[2]))))
            .await
            .unwrap(),
        expected[..2]
    );
    assert_eq!(
        store
            .tenants_reached_by_issue(&issue.id, Some((expected[2], None)))
            .await
            .unwrap(),
        expected[2..]
    );
    let many = store
        .posts_of_issues(&[issue.id.clone(), IssueId::parse("EX1").unwrap()])
        .await
        .unwrap();
    assert_eq!(
        many[&issue.id].iter().map(|p| p.seq).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert!(many[&IssueId::parse("EX1").unwrap()].is_empty());

    // Overdue once its next update time has passed.
    assert!(store
        .overdue_issues(T0 + Duration::minutes(59))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .overdue_issues(T0 + Duration::minutes(61))
            .await
            .unwrap()
            .len(),
        1
    );
    let listed = store
        .list_issues(&IssueFilter {
            active_only: true,
            modified_since: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
}

pub async fn operator_clients_and_idempotency_keys(store: Arc<dyn Store>) {
    use candor_domain::identity::OperatorClient;
    use candor_domain::store::Idempotency;
    let c = OperatorClient {
        id: ApiClientId::generate(),
        display_name: "Monitoring".into(),
        secret_hash: "hash".into(),
        roles: [OperatorRole::IncidentManager].into_iter().collect(),
        created_at: T0,
        revoked_at: None,
    };
    store
        .create_operator_client(&c, system_audit(AuditChain::Operator, "Add-OperatorClient"))
        .await
        .unwrap();
    assert_eq!(
        store.get_operator_client(c.id).await.unwrap(),
        Some(c.clone())
    );
    let revoked = store
        .revoke_operator_client(
            c.id,
            T0 + Duration::hours(1),
            system_audit(AuditChain::Operator, "Revoke-OperatorClient"),
        )
        .await
        .unwrap();
    assert!(!revoked.is_active());
    assert!(matches!(
        store
            .revoke_operator_client(
                ApiClientId::generate(),
                T0,
                system_audit(AuditChain::Operator, "x")
            )
            .await,
        Err(StoreError::NotFound)
    ));

    assert_eq!(
        store
            .begin_idempotent("op:1", "k1", "h1", T0)
            .await
            .unwrap(),
        Idempotency::New
    );
    assert_eq!(
        store
            .begin_idempotent("op:1", "k1", "h1", T0)
            .await
            .unwrap(),
        Idempotency::InProgress
    );
    assert_eq!(
        store
            .begin_idempotent("op:1", "k1", "h2", T0)
            .await
            .unwrap(),
        Idempotency::Mismatch
    );
    assert_eq!(
        store
            .begin_idempotent("op:2", "k1", "h2", T0)
            .await
            .unwrap(),
        Idempotency::New,
        "keys are per caller"
    );
    // A claim whose request died unanswered is taken over once it is old enough, only by
    // the same request, and only once.
    let later = T0 + candor_domain::store::IDEMPOTENCY_CLAIM_ABANDONED_AFTER;
    assert_eq!(
        store
            .begin_idempotent("op:1", "k2", "h1", T0)
            .await
            .unwrap(),
        Idempotency::New
    );
    assert_eq!(
        store
            .begin_idempotent("op:1", "k2", "h1", later - time::Duration::seconds(1))
            .await
            .unwrap(),
        Idempotency::InProgress,
        "not yet abandoned"
    );
    assert_eq!(
        store
            .begin_idempotent("op:1", "k2", "h2", later + time::Duration::seconds(1))
            .await
            .unwrap(),
        Idempotency::Mismatch,
        "another request never takes it over"
    );
    assert_eq!(
        store
            .begin_idempotent("op:1", "k2", "h1", later + time::Duration::seconds(1))
            .await
            .unwrap(),
        Idempotency::New,
        "the same request takes over an abandoned claim"
    );
    assert_eq!(
        store
            .begin_idempotent("op:1", "k2", "h1", later + time::Duration::seconds(2))
            .await
            .unwrap(),
        Idempotency::InProgress,
        "the claim taken over is fresh again"
    );
    store
        .finish_idempotent("op:1", "k1", 201, "{\"id\":\"EX1\"}")
        .await
        .unwrap();
    assert_eq!(
        store
            .begin_idempotent("op:1", "k1", "h1", T0)
            .await
            .unwrap(),
        Idempotency::Replay {
            status: 201,
            body: "{\"id\":\"EX1\"}".into()
        }
    );
    store.abandon_idempotent("op:2", "k1").await.unwrap();
    assert_eq!(
        store
            .begin_idempotent("op:2", "k1", "h3", T0)
            .await
            .unwrap(),
        Idempotency::New,
        "a failed request's key is free again"
    );
    store.abandon_idempotent("op:1", "k1").await.unwrap();
    assert!(
        matches!(
            store
                .begin_idempotent("op:1", "k1", "h1", T0)
                .await
                .unwrap(),
            Idempotency::Replay { .. }
        ),
        "finished keys stay"
    );
}

pub async fn reviews_are_drafted_then_published_with_the_issue(store: Arc<dyn Store>) {
    use candor_domain::health::*;
    let a = tenant(&store, "Contoso").await;
    store
        .apply_topology(&sample_topology(a), T0, vec![])
        .await
        .unwrap();
    let mbx = ComponentId::parse("eu-west-su1-mbx01").unwrap();
    let (mut issue, post) = sample_issue(
        "EX100000",
        T0,
        Scope {
            components: [mbx.clone()].into_iter().collect(),
            ..Default::default()
        },
    );
    issue.status = Status::ServiceRestored;
    issue.next_update_due = None;
    store
        .create_issue(&issue, &post, &[mbx], vec![], vec![])
        .await
        .unwrap();
    let mut pir = Pir {
        issue_id: issue.id.clone(),
        user_impact: "Mail was delayed.".into(),
        scope_of_impact: "One scale unit.".into(),
        start: T0,
        end: T0 + Duration::hours(2),
        root_cause: "".into(),
        actions_taken: "".into(),
        next_steps: "".into(),
        author: "im@provider.example".into(),
        updated_at: T0 + Duration::hours(3),
        published_at: None,
    };
    store
        .save_pir(
            &pir,
            vec![system_audit(AuditChain::Operator, "Set-PostIncidentReview")],
        )
        .await
        .unwrap();
    pir.root_cause = "A full disk.".into();
    store.save_pir(&pir, vec![]).await.unwrap();
    assert_eq!(
        store.get_pir(&issue.id).await.unwrap().unwrap().root_cause,
        "A full disk."
    );

    let published_at = T0 + Duration::hours(4);
    let mut reviewed = issue.clone();
    reviewed.status = Status::PostIncidentReviewPublished;
    reviewed.last_modified = published_at;
    pir.published_at = Some(published_at);
    pir.updated_at = published_at;
    store
        .publish_pir(
            &pir,
            &reviewed,
            issue.last_modified,
            vec![system_audit(
                AuditChain::Operator,
                "Publish-PostIncidentReview",
            )],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        store.get_issue(&issue.id).await.unwrap().unwrap().status,
        Status::PostIncidentReviewPublished
    );
    assert_eq!(
        store
            .get_pir(&issue.id)
            .await
            .unwrap()
            .unwrap()
            .published_at,
        Some(published_at)
    );
    assert!(
        matches!(
            store.save_pir(&pir, vec![]).await,
            Err(StoreError::Conflict(_))
        ),
        "a published review is final"
    );
    assert!(matches!(
        store
            .publish_pir(&pir, &reviewed, reviewed.last_modified, vec![], vec![])
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .get_pir(&IssueId::parse("EX1").unwrap())
            .await
            .unwrap(),
        None
    );
}

fn sample_message(
    id: &str,
    at: OffsetDateTime,
    audience: candor_domain::health::Audience,
) -> candor_domain::health::Message {
    use candor_domain::health::*;
    Message {
        id: MessageId::parse(id).unwrap(),
        title: "Retiring basic authentication".into(),
        body_html: "<p>Basic authentication ends on 1 March.</p>".into(),
        language: Language::English,
        translations: [(
            Language::Dutch,
            MessageText {
                title: "Basisverificatie verdwijnt".into(),
                body_html: "<p>Basisverificatie stopt op 1 maart.</p>".into(),
            },
        )]
        .into_iter()
        .collect(),
        category: Category::PlanForChange,
        severity: Severity::High,
        services: [ServiceId::parse("Exchange").unwrap()]
            .into_iter()
            .collect(),
        tags: vec!["Retirement".into(), "Admin impact".into()],
        is_major_change: true,
        action_required_by: Some(at + Duration::days(90)),
        start: at,
        end: Some(at + Duration::days(120)),
        last_modified: at,
        details: [(
            "ExternalLink".to_owned(),
            "https://example.com/basic-auth".to_owned(),
        )]
        .into_iter()
        .collect(),
        audience,
        attachments: vec![],
        author: "operator:im@provider.example".into(),
    }
}

pub async fn messages_reach_their_audience_with_attachments_and_viewpoints(store: Arc<dyn Store>) {
    use candor_domain::health::*;
    use candor_domain::store::NewAttachment;
    let a = tenant(&store, "Contoso").await;
    let b = tenant(&store, "Fabrikam").await;
    let c = tenant(&store, "Adatum").await;
    let mut topo = sample_topology(a);
    topo.placements.push(Placement {
        tenant_id: b,
        component: ComponentId::parse("eu-west-su1-spo01").unwrap(),
    });
    store.apply_topology(&topo, T0, vec![]).await.unwrap();
    let mbx = ComponentId::parse("eu-west-su1-mbx01").unwrap();
    let audience = Audience {
        tenants: [c].into_iter().collect(),
        ..Audience::default()
    };
    let mut message = sample_message("MC100001", T0, audience);
    let attachment = Attachment {
        id: uuid::Uuid::now_v7(),
        name: "affected-mailboxes.csv".into(),
        content_type: "text/csv".into(),
        size: 14,
        last_modified: T0,
    };
    let reached = store
        .create_message(
            &message,
            &[NewAttachment {
                meta: attachment.clone(),
                content: b"mailbox,count\n".to_vec(),
            }],
            std::slice::from_ref(&mbx),
            vec![system_audit(AuditChain::Operator, "New-ServiceMessage")],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(reached, 2, "the Exchange tenant and the named tenant");
    assert_eq!(store.message_reach(&message.id).await.unwrap(), 2);
    assert!(store.tenant_has_message(a, &message.id).await.unwrap());
    assert!(store.tenant_has_message(c, &message.id).await.unwrap());
    assert!(!store.tenant_has_message(b, &message.id).await.unwrap());
    let mut both = vec![a, c];
    both.sort_by_key(|t| t.0);
    assert_eq!(
        store
            .tenants_reached_by_message(&message.id, None)
            .await
            .unwrap(),
        both,
        "in id order"
    );
    assert_eq!(
        store
            .tenants_reached_by_message(&message.id, Some((both[0], Some(both[1]))))
            .await
            .unwrap(),
        both[..1],
        "one part: from the first id until the second"
    );
    assert_eq!(
        store
            .tenants_reached_by_message(&message.id, Some((both[1], None)))
            .await
            .unwrap(),
        both[1..]
    );

    message.attachments = vec![attachment.clone()];
    assert_eq!(
        store.get_message(&message.id).await.unwrap().unwrap(),
        message
    );
    assert_eq!(
        store.tenant_messages(a).await.unwrap(),
        vec![message.clone()]
    );
    assert!(store.tenant_messages(b).await.unwrap().is_empty());
    assert_eq!(store.list_messages(10).await.unwrap().len(), 1);
    let (meta, bytes) = store
        .attachment_content(&message.id, attachment.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(meta, attachment);
    assert_eq!(bytes, b"mailbox,count\n");
    assert!(store
        .attachment_content(&MessageId::parse("MC1").unwrap(), attachment.id)
        .await
        .unwrap()
        .is_none());

    // An update that widens the audience reaches more tenants; nobody is dropped.
    let before = message.last_modified;
    message.last_modified = T0 + Duration::hours(1);
    message.tags.push(UPDATED_TAG.into());
    message.audience.tenants.insert(b);
    let added = store
        .update_message(&message, before, Some(&[]), vec![], vec![])
        .await
        .unwrap();
    assert_eq!(added, 1);
    assert!(store.tenant_has_message(b, &message.id).await.unwrap());
    let stale = store
        .update_message(&message, before, None, vec![], vec![])
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");

    // Viewpoints are per user and each change touches one flag.
    let user = UserId::generate();
    let other = UserId::generate();
    let ids = vec![message.id.clone()];
    assert!(store.viewpoints(user, &ids).await.unwrap().is_empty());
    store
        .change_viewpoints(user, &ids, ViewpointChange::MarkRead, T0)
        .await
        .unwrap();
    store
        .change_viewpoints(user, &ids, ViewpointChange::Favorite, T0)
        .await
        .unwrap();
    store
        .change_viewpoints(user, &ids, ViewpointChange::Archive, T0)
        .await
        .unwrap();
    store
        .change_viewpoints(user, &ids, ViewpointChange::Unarchive, T0)
        .await
        .unwrap();
    let mine = store.viewpoints(user, &ids).await.unwrap();
    assert_eq!(
        mine.get(&message.id),
        Some(&Viewpoint {
            is_read: true,
            is_archived: false,
            is_favorited: true
        })
    );
    assert!(store.viewpoints(other, &ids).await.unwrap().is_empty());
}

pub async fn lockbox_requests_are_stored_decided_once_and_found_by_deadline(store: Arc<dyn Store>) {
    use candor_domain::health::{Channel, NewDelivery};
    use candor_domain::lockbox::*;
    let a = tenant(&store, "Contoso").await;
    let b = tenant(&store, "Fabrikam").await;
    assert!(!store.lockbox_enabled(a).await.unwrap(), "off by default");
    store
        .set_lockbox_enabled(
            a,
            true,
            T0,
            vec![system_audit(
                AuditChain::Tenant(a),
                "Set-AccessToCustomerDataSetting",
            )],
        )
        .await
        .unwrap();
    assert!(store.lockbox_enabled(a).await.unwrap());
    assert!(!store.lockbox_enabled(b).await.unwrap());

    let exchange = Workload {
        name: "Exchange Online".into(),
        operations: vec!["Get-Mailbox".into(), "Export-MailboxDiagnosticLogs".into()],
    };
    store.put_workload(&exchange, vec![]).await.unwrap();
    store.put_workload(&exchange, vec![]).await.unwrap();
    assert_eq!(store.list_workloads().await.unwrap(), vec![exchange]);

    let engineer = OperatorId::generate();
    let request = LockboxRequest {
        id: LockboxRequestId::generate(),
        tenant: a,
        workload: "Exchange Online".into(),
        operations: ["Get-Mailbox".to_owned()].into_iter().collect(),
        service_request: "SR-1001".into(),
        justification: "The mailbox will not open".into(),
        duration: Duration::hours(2),
        requester: engineer,
        requester_name: "engineer@provider.example".into(),
        created_at: T0,
        needs_customer: true,
        status: LockboxStatus::AwaitingInternalApproval,
        internal_decision: None,
        pending_since: None,
        customer_decision: None,
        access_start: None,
        access_end: None,
        ended: None,
    };
    store
        .create_lockbox_request(
            &request,
            vec![system_audit(
                AuditChain::Operator,
                "New-AccessToCustomerDataRequest",
            )],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .get_lockbox_request(request.id)
            .await
            .unwrap()
            .unwrap(),
        request
    );

    let approved_internally = request
        .apply(
            &LockboxEvent::ApproveInternally {
                by: OperatorId::generate(),
                name: "manager@provider.example".into(),
            },
            T0 + Duration::hours(1),
        )
        .unwrap();
    let notify = |who: &str| {
        NewDelivery::new(
            request.tenant,
            "lockbox:step",
            Channel::Email,
            who,
            format!("{who}@contoso.example"),
            serde_json::json!({"to": format!("{who}@contoso.example")}),
            T0 + Duration::hours(1),
        )
    };
    let queued = || async {
        store
            .deliveries_of_change("lockbox:step", None, 10)
            .await
            .unwrap()
            .len()
    };
    store
        .save_lockbox_request(
            &approved_internally,
            LockboxStatus::AwaitingInternalApproval,
            vec![],
            vec![
                notify("approver-1"),
                notify("approver-2"),
                NewDelivery {
                    realm: candor_domain::health::Realm::Operator,
                    ..notify("engineer")
                },
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        queued().await,
        3,
        "the notifications are queued with the change"
    );
    let told: Vec<String> = store
        .tenant_deliveries(request.tenant, None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.recipient)
        .collect();
    assert_eq!(
        told.len(),
        2,
        "the engineer's mail is not in the tenant's log: {told:?}"
    );
    assert!(told.iter().all(|r| r.starts_with("approver")), "{told:?}");
    // A second decision based on the old state loses, and queues nothing.
    let stale = store
        .save_lockbox_request(
            &approved_internally,
            LockboxStatus::AwaitingInternalApproval,
            vec![],
            vec![notify("approver-3")],
        )
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    assert_eq!(queued().await, 3);
    let got = store
        .get_lockbox_request(request.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, approved_internally);
    assert_eq!(got.status, LockboxStatus::Pending);

    // Lists filter by tenant, requester, status and creation time, newest first.
    let mut later = request.clone();
    later.id = LockboxRequestId::generate();
    later.created_at = T0 + Duration::hours(2);
    store
        .create_lockbox_request(&later, vec![], vec![])
        .await
        .unwrap();
    let all = store
        .list_lockbox_requests(&LockboxFilter {
            tenant: Some(a),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![later.id, request.id]
    );
    let next_page = store
        .list_lockbox_requests(&LockboxFilter {
            tenant: Some(a),
            before: Some((later.created_at, later.id)),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        next_page.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![request.id],
        "keyset paging continues after the last one listed"
    );
    let pending = store
        .list_lockbox_requests(&LockboxFilter {
            status: Some(LockboxStatus::Pending),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    let recent = store
        .list_lockbox_requests(&LockboxFilter {
            requester: Some(engineer),
            created_after: Some(T0 + Duration::minutes(1)),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        recent.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![later.id]
    );
    assert!(store
        .list_lockbox_requests(&LockboxFilter {
            tenant: Some(b),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .is_empty());

    // The deadline query finds what time alone has decided.
    assert!(store
        .lockbox_requests_past_deadline(T0 + Duration::hours(11), 10)
        .await
        .unwrap()
        .is_empty());
    let due = store
        .lockbox_requests_past_deadline(T0 + Duration::hours(13), 10)
        .await
        .unwrap();
    assert_eq!(
        due.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![request.id],
        "the pending one expired; the later one not yet"
    );
}

pub async fn elevations_are_stored_and_decided_once(store: Arc<dyn Store>) {
    use candor_domain::elevation::{Elevation, ElevationStatus};
    use candor_domain::identity::{OperatorRole, OperatorRoles};
    let me = OperatorId::generate();
    let approver = OperatorId::generate();
    let e = Elevation::new(
        me,
        OperatorRole::ProviderAdmin,
        "INC-7: rotate the signing keys",
        60,
        T0,
    )
    .unwrap();
    store
        .create_elevation(
            &e,
            vec![system_audit(AuditChain::Operator, "New-Elevation")],
        )
        .await
        .unwrap();
    assert_eq!(store.get_elevation(e.id).await.unwrap().unwrap(), e);
    let holders: OperatorRoles = [OperatorRole::ProviderAdmin].into_iter().collect();
    let active = e
        .decide(
            approver,
            "root@provider.example",
            &holders,
            true,
            Some("ok".into()),
            T0 + Duration::minutes(5),
        )
        .unwrap();
    store
        .save_elevation(&active, ElevationStatus::Requested, vec![])
        .await
        .unwrap();
    let again = store
        .save_elevation(&active, ElevationStatus::Requested, vec![])
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(store.get_elevation(e.id).await.unwrap().unwrap(), active);
    let other = Elevation::new(
        approver,
        OperatorRole::ProviderAdmin,
        "Routine: review operator accounts",
        30,
        T0 + Duration::minutes(10),
    )
    .unwrap();
    store.create_elevation(&other, vec![]).await.unwrap();
    let mine = store.list_elevations(Some(me), None, 10).await.unwrap();
    assert_eq!(mine.iter().map(|x| x.id).collect::<Vec<_>>(), vec![e.id]);
    let waiting = store
        .list_elevations(None, Some(ElevationStatus::Requested), 10)
        .await
        .unwrap();
    assert_eq!(
        waiting.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![other.id]
    );
    let all = store.list_elevations(None, None, 10).await.unwrap();
    assert_eq!(
        all.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![other.id, e.id],
        "newest first"
    );
}

pub async fn feed_tokens_resolve_until_revoked_and_only_for_their_tenant(store: Arc<dyn Store>) {
    use candor_domain::store::FeedToken;
    let a = store
        .create_tenant(TenantId::generate(), new_tenant("Feedco"), T0, vec![])
        .await
        .unwrap()
        .id;
    let b = store
        .create_tenant(TenantId::generate(), new_tenant("Otherco"), T0, vec![])
        .await
        .unwrap()
        .id;
    let token = FeedToken {
        id: uuid::Uuid::now_v7(),
        tenant: a,
        label: "Team dashboard".into(),
        created_at: T0,
        revoked_at: None,
    };
    store
        .create_feed_token(
            &token,
            "hash-1",
            vec![system_audit(AuditChain::Tenant(a), "New-FeedLink")],
        )
        .await
        .unwrap();
    assert_eq!(store.tenant_of_feed_token("hash-1").await.unwrap(), Some(a));
    assert_eq!(store.tenant_of_feed_token("hash-2").await.unwrap(), None);
    assert_eq!(
        store.list_feed_tokens(a).await.unwrap(),
        vec![token.clone()]
    );
    assert!(store.list_feed_tokens(b).await.unwrap().is_empty());
    // Another tenant cannot revoke it.
    assert!(!store
        .revoke_feed_token(b, token.id, T0, vec![])
        .await
        .unwrap());
    assert!(store
        .revoke_feed_token(a, token.id, T0 + Duration::hours(1), vec![])
        .await
        .unwrap());
    assert_eq!(store.tenant_of_feed_token("hash-1").await.unwrap(), None);
    assert!(!store
        .revoke_feed_token(a, token.id, T0, vec![])
        .await
        .unwrap());
    assert_eq!(
        store.list_feed_tokens(a).await.unwrap()[0].revoked_at,
        Some(T0 + Duration::hours(1))
    );
}

pub async fn contacts_are_per_tenant_and_unique_by_address(store: Arc<dyn Store>) {
    use candor_domain::health::{Contact, ContactId, ServiceId, Subscription, Topic};
    let a = store
        .create_tenant(TenantId::generate(), new_tenant("Contactco"), T0, vec![])
        .await
        .unwrap()
        .id;
    let b = store
        .create_tenant(TenantId::generate(), new_tenant("Elsewhere"), T0, vec![])
        .await
        .unwrap()
        .id;
    let contact = |tenant, email: &str| Contact {
        id: ContactId::generate(),
        tenant,
        email: EmailAddress::parse(email).unwrap(),
        language: Language::Dutch,
        subscription: Subscription {
            topics: [Topic::Incidents, Topic::Reviews].into_iter().collect(),
            services: [ServiceId::from_trusted("Exchange")].into_iter().collect(),
        },
        created_at: T0,
    };
    let ops = contact(a, "ops@contactco.example");
    store
        .add_contact(
            &ops,
            vec![system_audit(
                AuditChain::Tenant(a),
                "Add-NotificationContact",
            )],
        )
        .await
        .unwrap();
    let again = store
        .add_contact(&contact(a, "ops@contactco.example"), vec![])
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    // The same address in another tenant is another contact.
    store
        .add_contact(&contact(b, "ops@contactco.example"), vec![])
        .await
        .unwrap();
    let noc = contact(a, "noc@contactco.example");
    store.add_contact(&noc, vec![]).await.unwrap();
    let listed = store.list_contacts(a).await.unwrap();
    assert_eq!(
        listed,
        vec![noc.clone(), ops.clone()],
        "by address, read back whole"
    );
    assert!(
        !store.delete_contact(b, ops.id, vec![]).await.unwrap(),
        "not b's"
    );
    assert!(store.delete_contact(a, ops.id, vec![]).await.unwrap());
    assert_eq!(store.list_contacts(a).await.unwrap(), vec![noc]);
}

pub async fn contacts_reached_by_an_issue_are_its_tenants_contacts(store: Arc<dyn Store>) {
    use candor_domain::health::{Contact, ContactId, Scope, Subscription};
    let a = tenant(&store, "Reachco").await;
    let b = tenant(&store, "Unreached").await;
    store
        .apply_topology(&sample_topology(a), T0, vec![])
        .await
        .unwrap();
    let contact = |tenant, email: &str| Contact {
        id: ContactId::generate(),
        tenant,
        email: EmailAddress::parse(email).unwrap(),
        language: Language::English,
        subscription: Subscription::everything(),
        created_at: T0,
    };
    let mut mine = Vec::new();
    for i in 0..5 {
        let c = contact(a, &format!("ops{i}@a.example"));
        store.add_contact(&c, vec![]).await.unwrap();
        mine.push(c.id);
    }
    store
        .add_contact(&contact(b, "ops@b.example"), vec![])
        .await
        .unwrap();
    let scope = Scope {
        tenants: [a].into_iter().collect(),
        ..Default::default()
    };
    let (issue, post) = sample_issue("EX100077", T0, scope);
    store
        .create_issue(&issue, &post, &[], vec![], vec![])
        .await
        .unwrap();
    let reached = store
        .tenants_reached_by_issue(&issue.id, None)
        .await
        .unwrap();
    assert_eq!(reached, vec![a]);
    let first = store.contacts_of_tenants(&reached).await.unwrap();
    let mut got: Vec<ContactId> = first.iter().map(|c| c.id).collect();
    got.sort();
    mine.sort();
    assert_eq!(
        got, mine,
        "every contact of the reached tenant, none of the other's"
    );
}

fn webhook(tenant: TenantId, url: &str) -> candor_domain::health::WebhookEndpoint {
    use candor_domain::health::{Subscription, WebhookEndpoint, WebhookEndpointId, WebhookFormat};
    WebhookEndpoint {
        id: WebhookEndpointId::generate(),
        tenant,
        url: url.into(),
        format: WebhookFormat::Slack,
        secret: "s3cret".into(),
        previous_secret: None,
        previous_until: None,
        subscription: Subscription::everything(),
        enabled: true,
        failures: 0,
        disabled_reason: None,
        created_at: T0,
    }
}

/// A claim takes what has waited longest, whether it was never tried (due since its
/// `run_at`) or taken by a worker whose lease lapsed (due since `lease_until`), and
/// never what is not due yet or still leased.
pub async fn deliveries_are_claimed_longest_waiting_first(store: Arc<dyn Store>) {
    use candor_domain::health::{Channel, NewDelivery};
    let a = tenant(&store, "Waitco").await;
    let at = |who: &str, run_at: OffsetDateTime| NewDelivery {
        run_at,
        ..NewDelivery::new(
            a,
            "issue:EX7:post:1",
            Channel::Email,
            who,
            format!("{who}@wait.example"),
            json!({}),
            T0 - Duration::hours(1),
        )
    };
    let minutes = Duration::minutes;
    // Claimed long ago by a worker that vanished: its lease lapsed 8 minutes before T0.
    store
        .queue_deliveries(&[at("lapsed", T0 - minutes(20))], T0 - minutes(30))
        .await
        .unwrap();
    let lapsed = store
        .claim_deliveries(T0 - minutes(20), minutes(12), "gone", 10, Channel::Email)
        .await
        .unwrap();
    assert_eq!(lapsed.len(), 1);
    // Claimed by a worker still at it: leased until well after T0.
    store
        .queue_deliveries(&[at("leased", T0 - minutes(19))], T0 - minutes(30))
        .await
        .unwrap();
    let leased = store
        .claim_deliveries(T0 - minutes(19), minutes(60), "busy", 10, Channel::Email)
        .await
        .unwrap();
    assert_eq!(leased.len(), 1);
    let waiting = [
        at("ten", T0 - minutes(10)),
        at("three", T0 - minutes(3)),
        at("one", T0 - minutes(1)),
        at("later", T0 + minutes(60)),
    ];
    store
        .queue_deliveries(&waiting, T0 - minutes(30))
        .await
        .unwrap();

    let mut order = Vec::new();
    for limit in [2, 1, 5, 5] {
        let claimed = store
            .claim_deliveries(T0, minutes(1), "w", limit, Channel::Email)
            .await
            .unwrap();
        let mut names: Vec<String> = claimed
            .iter()
            .map(|d| d.recipient.split('@').next().unwrap_or_default().to_owned())
            .collect();
        names.sort();
        order.push(names);
    }
    assert_eq!(
        order,
        vec![
            vec!["lapsed".to_owned(), "ten".to_owned()],
            vec!["three".to_owned()],
            vec!["one".to_owned()],
            Vec::<String>::new(),
        ],
        "oldest due first (ten: 10 min, lapsed: 8 min, three, one), never the leased or the later one"
    );
}

pub async fn deliveries_are_queued_once_claimed_in_batches_and_finished(store: Arc<dyn Store>) {
    use candor_domain::health::{Channel, DeliveryOutcome, DeliveryStatus, NewDelivery};
    let a = tenant(&store, "Deliverco").await;
    let b = tenant(&store, "Otherco").await;
    let news = |tenant, change: &str, who: &str| {
        NewDelivery::new(
            tenant,
            change,
            Channel::Email,
            who,
            format!("{who}@x.example"),
            json!({"to": format!("{who}@x.example")}),
            T0,
        )
    };
    let batch: Vec<_> = (0..1200)
        .map(|i| {
            news(
                if i % 2 == 0 { a } else { b },
                "issue:EX1:post:1",
                &format!("c{i}"),
            )
        })
        .collect();
    assert_eq!(store.queue_deliveries(&batch, T0).await.unwrap(), 1200);
    assert_eq!(
        store.queue_deliveries(&batch[..10], T0).await.unwrap(),
        0,
        "the same delivery is never queued twice"
    );
    let late = NewDelivery {
        run_at: T0 + Duration::hours(1),
        ..news(a, "issue:EX1:post:2", "c0")
    };
    store.queue_deliveries(&[late], T0).await.unwrap();

    let lease = Duration::minutes(1);
    let first = store
        .claim_deliveries(T0, lease, "w1", 1000, Channel::Email)
        .await
        .unwrap();
    let second = store
        .claim_deliveries(T0, lease, "w2", 1000, Channel::Email)
        .await
        .unwrap();
    assert_eq!(first.len(), 1000);
    assert_eq!(second.len(), 200, "only what is due, each once");
    assert!(first
        .iter()
        .all(|d| d.attempts == 1 && d.status == DeliveryStatus::Sending));
    assert!(store
        .claim_deliveries(T0, lease, "w3", 10, Channel::Email)
        .await
        .unwrap()
        .is_empty());

    // w1 sends most, fails one for a retry, gives up on one; w2 vanishes.
    let mut results: Vec<(String, DeliveryOutcome)> = first[2..]
        .iter()
        .map(|d| (d.id.clone(), DeliveryOutcome::Sent))
        .collect();
    results.push((
        first[0].id.clone(),
        DeliveryOutcome::RetryAt(T0 + Duration::seconds(30), "relay down".into()),
    ));
    results.push((
        first[1].id.clone(),
        DeliveryOutcome::Dead("no such user".into()),
    ));
    store.finish_deliveries("w1", &results, T0).await.unwrap();
    // A worker that lost its lease changes nothing.
    store
        .finish_deliveries("w9", &[(second[0].id.clone(), DeliveryOutcome::Sent)], T0)
        .await
        .unwrap();
    let d = store.get_delivery(&second[0].id).await.unwrap().unwrap();
    assert_eq!(d.status, DeliveryStatus::Sending);
    let dead = store.get_delivery(&first[1].id).await.unwrap().unwrap();
    assert_eq!(dead.status, DeliveryStatus::Dead);
    assert_eq!(dead.last_error.as_deref(), Some("no such user"));
    let sent = store.get_delivery(&first[5].id).await.unwrap().unwrap();
    assert_eq!(sent.sent_at, Some(T0));

    // After w2's lease lapses, its deliveries and the retry come back.
    let later = T0 + Duration::minutes(2);
    let again = store
        .claim_deliveries(later, lease, "w4", 1000, Channel::Email)
        .await
        .unwrap();
    let mut ids: Vec<_> = again.iter().map(|d| d.id.clone()).collect();
    ids.sort();
    let mut expected: Vec<_> = second.iter().map(|d| d.id.clone()).collect();
    expected.push(first[0].id.clone());
    expected.sort();
    assert_eq!(ids, expected);
    assert!(again.iter().any(|d| d.attempts == 2));

    // Each channel is claimed on its own; one put back untried keeps its attempts.
    let hook = NewDelivery::new(
        a,
        "issue:EX2:post:1",
        Channel::Webhook,
        "hook",
        "https://hooks.example/a".into(),
        json!({}),
        T0,
    );
    store.queue_deliveries(&[hook], later).await.unwrap();
    assert!(store
        .claim_deliveries(later, lease, "w5", 10, Channel::Email)
        .await
        .unwrap()
        .is_empty());
    let hooks = store
        .claim_deliveries(later, lease, "w5", 10, Channel::Webhook)
        .await
        .unwrap();
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].attempts, 1);
    let back = later + Duration::seconds(30);
    store
        .finish_deliveries(
            "w5",
            &[(
                hooks[0].id.clone(),
                DeliveryOutcome::Deferred(back, "breaker open".into()),
            )],
            later,
        )
        .await
        .unwrap();
    let deferred = store.get_delivery(&hooks[0].id).await.unwrap().unwrap();
    assert_eq!(deferred.status, DeliveryStatus::Pending);
    assert_eq!(
        deferred.attempts, 0,
        "an untried delivery counts no attempt"
    );
    assert_eq!(deferred.run_at, back);
    assert_eq!(deferred.last_error.as_deref(), Some("breaker open"));

    let summary = store
        .change_deliveries(Some("issue:EX1:"), 10)
        .await
        .unwrap();
    assert_eq!(summary.len(), 2);
    let post1 = summary
        .iter()
        .find(|s| s.change == "issue:EX1:post:1")
        .unwrap();
    assert_eq!(
        (post1.tenants, post1.sent, post1.failed, post1.pending),
        (2, 998, 1, 201)
    );
    assert!(store
        .change_deliveries(Some("message:"), 10)
        .await
        .unwrap()
        .is_empty());
    let failed = store
        .deliveries_of_change("issue:EX1:post:1", Some(DeliveryStatus::Dead), 10)
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);

    // A tenant's log: its own only, newest first, paged by cursor.
    let page1 = store.tenant_deliveries(b, None, 400).await.unwrap();
    let last = page1.last().unwrap();
    let page2 = store
        .tenant_deliveries(b, Some((last.created_at, last.id.clone())), 400)
        .await
        .unwrap();
    assert_eq!(page1.len() + page2.len(), 600);
    assert!(page1.iter().chain(page2.iter()).all(|d| d.tenant == b));
    let mut all: Vec<_> = page1.iter().chain(page2.iter()).map(|d| &d.id).collect();
    all.dedup();
    assert_eq!(all.len(), 600, "no delivery on two pages");
    assert_eq!(
        store.tenant_deliveries(a, None, 1000).await.unwrap().len(),
        602,
        "600 of the first change, the late one and the webhook"
    );

    assert_eq!(
        store
            .purge_finished_deliveries(T0 + Duration::days(1))
            .await
            .unwrap(),
        999
    );
}

pub async fn delivery_news_is_stored_once_and_purged_after_its_deliveries(store: Arc<dyn Store>) {
    use candor_domain::health::{news_id, Channel, DeliveryNews, DeliveryOutcome, NewDelivery};
    let a = tenant(&store, "Newsco").await;
    let change = "issue:EX7:post:1";
    let news = DeliveryNews {
        id: news_id(change, "nl", "Europe/Amsterdam"),
        change: change.into(),
        body: json!({"email": {"subject": "Storing"}}),
    };
    store
        .store_news(std::slice::from_ref(&news), T0)
        .await
        .unwrap();
    // Stored again (a fan-out run twice): the first stays.
    let again = DeliveryNews {
        body: json!({"email": {"subject": "changed"}}),
        ..news.clone()
    };
    store.store_news(&[again], T0).await.unwrap();
    let other = DeliveryNews {
        id: news_id("message:MC1", "en", "UTC"),
        change: "message:MC1".into(),
        body: json!({}),
    };
    store
        .store_news(std::slice::from_ref(&other), T0)
        .await
        .unwrap();
    let mut found = store
        .get_news(&[news.id.clone(), other.id.clone(), "missing".into()])
        .await
        .unwrap();
    found.sort_by(|x, y| x.change.cmp(&y.change));
    assert_eq!(found, vec![news.clone(), other.clone()]);
    assert!(store.get_news(&[]).await.unwrap().is_empty());

    let mut d = NewDelivery::new(
        a,
        change,
        Channel::Email,
        "c1",
        "noc@newsco.example".into(),
        json!({"unsubscribe": null}),
        T0,
    );
    d.news = Some(news.id.clone());
    store.queue_deliveries(&[d.clone()], T0).await.unwrap();
    let stored = store.get_delivery(&d.id).await.unwrap().unwrap();
    assert_eq!(stored.news.as_deref(), Some(news.id.as_str()));
    assert_eq!(stored.payload, json!({"unsubscribe": null}));

    // News outlives nothing that needs it: the change with no deliveries goes at the
    // next purge, the one whose delivery is still kept stays until that one goes.
    let later = T0 + Duration::days(40);
    store.purge_finished_deliveries(later).await.unwrap();
    assert_eq!(
        store
            .get_news(&[news.id.clone(), other.id.clone()])
            .await
            .unwrap(),
        vec![news.clone()]
    );
    let claimed = store
        .claim_deliveries(T0, Duration::minutes(1), "w", 10, Channel::Email)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    store
        .finish_deliveries("w", &[(d.id.clone(), DeliveryOutcome::Sent)], T0)
        .await
        .unwrap();
    assert_eq!(store.purge_finished_deliveries(later).await.unwrap(), 1);
    assert!(store
        .get_news(std::slice::from_ref(&news.id))
        .await
        .unwrap()
        .is_empty());
}

pub async fn webhook_endpoints_are_per_tenant_and_disabled_after_failures(store: Arc<dyn Store>) {
    use candor_domain::health::Scope;
    use candor_domain::health::{Channel, NewDelivery};
    let a = tenant(&store, "Hookco").await;
    let b = tenant(&store, "Nohook").await;
    store
        .apply_topology(&sample_topology(a), T0, vec![])
        .await
        .unwrap();
    let e = webhook(a, "https://hooks.a.example/x");
    store
        .add_webhook(
            &e,
            vec![system_audit(AuditChain::Tenant(a), "Add-WebhookEndpoint")],
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .add_webhook(&webhook(a, "https://hooks.a.example/x"), vec![])
            .await,
        Err(StoreError::Conflict(_))
    ));
    store
        .add_webhook(&webhook(b, "https://hooks.a.example/x"), vec![])
        .await
        .unwrap();
    assert_eq!(store.list_webhooks(a).await.unwrap(), vec![e.clone()]);

    // Another tenant can neither change nor remove it.
    let mut stolen = e.clone();
    stolen.tenant = b;
    assert!(!store.save_webhook(&stolen, vec![]).await.unwrap());
    assert!(!store.delete_webhook(b, e.id, vec![]).await.unwrap());

    let rotated = e.rotated("n3w".into(), T0);
    assert!(store.save_webhook(&rotated, vec![]).await.unwrap());
    assert_eq!(store.get_webhook(e.id).await.unwrap().unwrap(), rotated);

    let scope = Scope {
        tenants: [a].into_iter().collect(),
        ..Default::default()
    };
    let (issue, post) = sample_issue("EX100078", T0, scope);
    store
        .create_issue(&issue, &post, &[], vec![], vec![])
        .await
        .unwrap();
    let tenants = store
        .tenants_reached_by_issue(&issue.id, None)
        .await
        .unwrap();
    let reached = store.webhooks_of_tenants(&tenants).await.unwrap();
    assert_eq!(reached.iter().map(|w| w.id).collect::<Vec<_>>(), vec![e.id]);

    // Failures in a row disable it (once), with its effects; a success resets the run.
    let disabled_change = format!("webhook:{}:disabled", e.id);
    let tell = || {
        (
            vec![NewDelivery::new(
                a,
                &disabled_change,
                Channel::Email,
                "ga",
                "ga@a.example".into(),
                json!({"to": "ga@a.example"}),
                T0,
            )],
            vec![system_audit(
                AuditChain::Tenant(a),
                "Disable-WebhookEndpoint",
            )],
        )
    };
    assert!(!store
        .webhook_failed(e.id, 3, "down", tell(), T0)
        .await
        .unwrap());
    store.webhooks_succeeded(&[e.id]).await.unwrap();
    assert_eq!(store.get_webhook(e.id).await.unwrap().unwrap().failures, 0);
    assert!(!store
        .webhook_failed(e.id, 3, "down", tell(), T0)
        .await
        .unwrap());
    assert!(!store
        .webhook_failed(e.id, 3, "down", tell(), T0)
        .await
        .unwrap());
    assert!(store
        .webhook_failed(e.id, 3, "down", tell(), T0)
        .await
        .unwrap());
    assert!(!store
        .webhook_failed(e.id, 3, "down", tell(), T0)
        .await
        .unwrap());
    let disabled = store.get_webhook(e.id).await.unwrap().unwrap();
    assert!(!disabled.enabled);
    assert_eq!(disabled.disabled_reason.as_deref(), Some("down"));
    assert!(store
        .webhooks_of_tenants(&tenants)
        .await
        .unwrap()
        .is_empty());
    let notices = store
        .deliveries_of_change(&disabled_change, None, 10)
        .await
        .unwrap();
    assert_eq!(notices.len(), 1, "told once, when it was disabled");
    assert_eq!(notices[0].recipient, "ga@a.example");
    assert!(all_records(&store, AuditChain::Tenant(a))
        .await
        .iter()
        .any(|r| r.activity == "Disable-WebhookEndpoint"));

    assert!(store.delete_webhook(a, e.id, vec![]).await.unwrap());
    assert!(store.list_webhooks(a).await.unwrap().is_empty());
}

pub async fn browsers_are_kept_per_owner_tenant_user_or_operator(store: Arc<dyn Store>) {
    use candor_domain::health::{BrowserOwner, PushSubscription, PushSubscriptionId, Subscription};
    let t = tenant(&store, "Contoso").await;
    let user = UserId::generate();
    let operator = OperatorId::generate();
    incident_manager(&store, operator, "im@provider.example").await;
    let browser = |owner: BrowserOwner, endpoint: &str, label: &str| PushSubscription {
        id: PushSubscriptionId::generate(),
        owner,
        endpoint: endpoint.into(),
        p256dh: "key".into(),
        auth: "secret".into(),
        subscription: Subscription::everything(),
        label: label.into(),
        created_at: T0,
    };
    let as_user = BrowserOwner::TenantUser { tenant: t, user };
    let as_operator = BrowserOwner::Operator(operator);
    let phone = browser(as_user, "https://push.example/user-phone", "phone");
    let pager = browser(as_operator, "https://push.example/on-call", "pager");
    store
        .save_push_subscription(
            &phone,
            vec![system_audit(AuditChain::Tenant(t), "Add-PushSubscription")],
        )
        .await
        .unwrap();
    store
        .save_push_subscription(
            &pager,
            vec![system_audit(AuditChain::Operator, "Add-PushSubscription")],
        )
        .await
        .unwrap();
    // Each owner sees their own only.
    let users = store.list_push_subscriptions(as_user).await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].owner, as_user);
    assert_eq!(users[0].label, "phone");
    let operators = store.list_push_subscriptions(as_operator).await.unwrap();
    assert_eq!(operators.len(), 1);
    assert_eq!(operators[0].owner, as_operator);
    assert_eq!(operators[0].endpoint, "https://push.example/on-call");
    assert!(operators[0].subscription.topics.is_empty());
    // The delivery worker finds either by id.
    let mut found = store
        .get_push_subscriptions(&[phone.id, pager.id])
        .await
        .unwrap();
    found.sort_by_key(|b| b.label.clone());
    assert_eq!(
        found.iter().map(|b| b.owner).collect::<Vec<_>>(),
        vec![as_operator, as_user]
    );
    // The same browser subscribing again replaces itself.
    let again = browser(
        as_operator,
        "https://push.example/on-call",
        "pager, renewed",
    );
    store
        .save_push_subscription(&again, Vec::new())
        .await
        .unwrap();
    let operators = store.list_push_subscriptions(as_operator).await.unwrap();
    assert_eq!(operators.len(), 1);
    assert_eq!(operators[0].id, again.id);
    // Only the owner removes it: the other owner's removal does nothing and records nothing.
    let before = all_records(&store, AuditChain::Operator).await.len();
    assert!(!store
        .delete_push_subscription(
            as_user,
            again.id,
            vec![system_audit(
                AuditChain::Operator,
                "Remove-PushSubscription"
            )]
        )
        .await
        .unwrap());
    assert_eq!(
        all_records(&store, AuditChain::Operator).await.len(),
        before
    );
    assert!(store
        .delete_push_subscription(
            as_operator,
            again.id,
            vec![system_audit(
                AuditChain::Operator,
                "Remove-PushSubscription"
            )]
        )
        .await
        .unwrap());
    assert_eq!(
        all_records(&store, AuditChain::Operator).await.len(),
        before + 1
    );
    assert!(store
        .list_push_subscriptions(as_operator)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.list_push_subscriptions(as_user).await.unwrap().len(),
        1
    );
}

pub async fn every_chain_is_a_merkle_tree_with_proofs(store: Arc<dyn Store>) {
    use candor_domain::audit::tree::{self, StoredHashes};
    let tenant = TenantId::generate();
    let chain = AuditChain::Tenant(tenant);
    // Appends of uneven sizes, concurrently with another chain's, as group commit sees them.
    let mut tasks = Vec::new();
    for i in 0..23 {
        let store = store.clone();
        let chain = if i % 5 == 0 {
            AuditChain::Operator
        } else {
            chain
        };
        tasks.push(tokio::spawn(async move {
            let records = (0..(i % 4 + 1))
                .map(|j| {
                    NewAuditRecord::new(
                        chain,
                        T0 + Duration::seconds(j),
                        format!("user{i}@x.example"),
                        ActorKind::TenantUser,
                        "UserLoggedIn",
                    )
                    .details(json!({"i": i, "j": j}))
                })
                .collect();
            store.append_audit(records).await.unwrap()
        }));
    }
    for t in tasks {
        for r in t.await.unwrap() {
            assert!(!r.tree_hashes.is_empty(), "sealed with its tree hashes");
        }
    }
    let records = all_records(&store, chain).await;
    let n = records.len() as u64;
    assert!(n > 20);
    // The tree the head records is the tree of the records' leaves, in seq order.
    let frontier = store.audit_tree(&chain.key()).await.unwrap();
    assert_eq!(frontier.size(), n);
    let tips = store.audit_tips().await.unwrap();
    let (_, tip) = tips.iter().find(|(c, _)| *c == chain.key()).unwrap();
    assert_eq!((tip.head.seq as u64, &tip.tree), (n, &frontier));
    let mut rebuilt = tree::Frontier::empty();
    for r in &records {
        let stored: Vec<[u8; 32]> = rebuilt
            .append(tree::leaf_hash(r))
            .into_iter()
            .map(|h| h.0)
            .collect();
        assert_eq!(
            stored, r.tree_hashes,
            "record {} keeps its own tree hashes",
            r.seq
        );
    }
    assert_eq!(rebuilt.root(), frontier.root());
    // Inclusion of every record in an older and the current tree, from stored hashes only.
    for size in [n / 2, n] {
        for r in records.iter().take(size as usize) {
            let index = (r.seq - 1) as u64;
            let needs = tree::inclusion_needs(index, size).unwrap();
            let hashes = store.audit_tree_hashes(&chain.key(), &needs).await.unwrap();
            assert_eq!(
                hashes.len(),
                needs.len(),
                "every hash a proof needs is stored"
            );
            let proof = tree::prove_inclusion(index, size, &StoredHashes(&hashes)).unwrap();
            tree::verify_inclusion(&proof.path, index, size, proof.root, tree::leaf_hash(r))
                .unwrap();
        }
    }
    // The older tree is a prefix of the newer.
    let needs = tree::consistency_needs(n / 2, n).unwrap();
    let hashes = store.audit_tree_hashes(&chain.key(), &needs).await.unwrap();
    let proof = tree::prove_consistency(n / 2, n, &StoredHashes(&hashes)).unwrap();
    assert_eq!(proof.to_root, frontier.root());
    tree::verify_consistency(&proof.path, n / 2, proof.from_root, n, proof.to_root).unwrap();
    // A record is found by id within its chain, whether it happened when it was sealed
    // (found through the time index) or on another clock (T0, a month before its id's
    // time: found by reading the chain); never in another chain.
    let now = store
        .append_audit(vec![NewAuditRecord::new(
            chain,
            OffsetDateTime::now_utc(),
            "now@x.example",
            ActorKind::TenantUser,
            "UserLoggedIn",
        )])
        .await
        .unwrap();
    for r in [&records[3], &now[0]] {
        let found = store
            .audit_record(&chain.key(), r.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.seq, r.seq);
    }
    assert!(store
        .audit_record(&AuditChain::Operator.key(), records[3].id)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .audit_record(&chain.key(), candor_domain::AuditRecordId::generate())
        .await
        .unwrap()
        .is_none());
    // A hash past the tree's end is simply not there; a chain with no records is empty.
    let beyond = tree::first_index_of_leaf(n + 5);
    assert!(store
        .audit_tree_hashes(&chain.key(), &[beyond])
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .audit_tree(&AuditChain::Tenant(TenantId::generate()).key())
            .await
            .unwrap()
            .size(),
        0
    );
}

/// Appends records to one tenant's chain, has `forget` make the database look as an older
/// Candor left it (records and heads without tree hashes), appends once more, and checks
/// that every record then has its tree hashes and the tree is the records' tree.
pub async fn older_records_get_their_tree_on_the_next_append<F, Fut>(
    store: Arc<dyn Store>,
    forget: F,
) where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use candor_domain::audit::tree;
    let chain = AuditChain::Tenant(TenantId::generate());
    let record = |i: i64| {
        NewAuditRecord::new(
            chain,
            T0 + Duration::seconds(i),
            "old@x.example",
            ActorKind::System,
            "Old",
        )
        .details(json!({"i": i}))
    };
    for i in 0..7 {
        store.append_audit(vec![record(i)]).await.unwrap();
    }
    forget().await;
    assert_eq!(store.audit_tree(&chain.key()).await.unwrap().size(), 0);
    assert!(all_records(&store, chain).await[0].tree_hashes.is_empty());
    store
        .append_audit(vec![record(7), record(8)])
        .await
        .unwrap();
    let records = all_records(&store, chain).await;
    assert_eq!(records.len(), 9);
    let mut rebuilt = tree::Frontier::empty();
    for r in &records {
        let stored: Vec<[u8; 32]> = rebuilt
            .append(tree::leaf_hash(r))
            .into_iter()
            .map(|h| h.0)
            .collect();
        assert_eq!(stored, r.tree_hashes, "record {}", r.seq);
    }
    let frontier = store.audit_tree(&chain.key()).await.unwrap();
    assert_eq!(frontier.size(), 9);
    assert_eq!(frontier.root(), rebuilt.root());
    // The hash chain is untouched: what verified before still verifies.
    let mut v = ChainVerifier::new();
    for r in &records {
        v.push(r).unwrap();
    }
}

pub async fn maintenances_keep_their_state_and_reach_through_their_message(store: Arc<dyn Store>) {
    use candor_domain::health::maintenance::*;
    use candor_domain::health::*;
    let a = tenant(&store, "Contoso").await;
    let b = tenant(&store, "Fabrikam").await;
    store
        .apply_topology(&sample_topology(a), T0, vec![])
        .await
        .unwrap();
    let mbx = ComponentId::parse("eu-west-su1-mbx01").unwrap();
    let (maintenance, _) = Maintenance::schedule(
        NewMaintenance {
            services: [ServiceId::parse("Exchange").unwrap()].into(),
            scope: Scope::default(),
            text: [(
                Language::English,
                ("Upgrade".to_owned(), "Mail may be slow.".to_owned()),
            )]
            .into(),
            window: Window::new(T0 + Duration::hours(3), T0 + Duration::hours(5)).unwrap(),
            impact: ExpectedImpact::Degraded,
            reminder: DEFAULT_REMINDER,
        },
        T0,
    )
    .unwrap();
    let message = sample_message("MC100002", T0, Audience::default());
    let scheduled = ScheduledMaintenance {
        id: MaintenanceId::new(1000),
        message: message.id.clone(),
        maintenance,
        broad: true,
        created_by: "im@provider.example".into(),
        created_at: T0,
        last_modified: T0,
    };
    let reached = store
        .create_maintenance(
            &scheduled,
            &message,
            std::slice::from_ref(&mbx),
            vec![system_audit(AuditChain::Operator, "New-PlannedMaintenance")],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(reached, 1);
    assert_eq!(
        store.get_maintenance(&scheduled.id).await.unwrap(),
        Some(scheduled.clone())
    );
    assert_eq!(
        store.tenant_maintenances(a, 10).await.unwrap(),
        vec![scheduled.clone()]
    );
    assert!(store.tenant_maintenances(b, 10).await.unwrap().is_empty());
    // Due when its reminder is: not before.
    assert!(store
        .due_maintenances(T0 + Duration::minutes(119), 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .due_maintenances(T0 + Duration::hours(2), 10)
            .await
            .unwrap()
            .len(),
        1
    );

    let mut after = scheduled.clone();
    after.maintenance.tick(T0 + Duration::hours(3));
    after.last_modified = T0 + Duration::hours(3);
    let mut moved = message.clone();
    moved.body_html = "<p>In progress.</p>".into();
    moved.last_modified = after.last_modified;
    store
        .update_maintenance(
            &after,
            scheduled.last_modified,
            &moved,
            vec![system_audit(AuditChain::Operator, "Set-PlannedMaintenance")],
            vec![],
        )
        .await
        .unwrap();
    let stored = store.get_maintenance(&after.id).await.unwrap().unwrap();
    assert_eq!(stored.maintenance.state, MaintenanceState::InProgress);
    assert_eq!(stored, after);
    assert_eq!(
        store
            .get_message(&message.id)
            .await
            .unwrap()
            .unwrap()
            .body_html,
        "<p>In progress.</p>"
    );
    // A second writer that loaded the old version loses, and changes nothing.
    let err = store
        .update_maintenance(
            &scheduled,
            scheduled.last_modified,
            &message,
            vec![],
            vec![],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict(Conflict::Stale(candor_domain::store::Stale::Maintenance))
        ),
        "{err:?}"
    );
    assert_eq!(
        store.get_maintenance(&after.id).await.unwrap().unwrap(),
        after
    );
    assert_eq!(store.list_maintenances(10).await.unwrap(), vec![after]);
}

/// Subscription requests are counted per asker and address within a window, confirm
/// once (a public one into the subscribers, upserting by address; an invitation into
/// its tenant's contacts), and are purged once expired. Subscribers are listed by
/// address, searched with LIKE's special characters taken literally.
pub async fn subscription_requests_confirm_once_and_subscribers_are_unique_by_address(
    store: Arc<dyn Store>,
) {
    use candor_domain::health::subscriber::{Subscriber, SubscriberId, SubscriptionRequest};
    use candor_domain::health::{
        Channel, Contact, ContactId, NewDelivery, Realm, Subscription, Topic, OPERATOR_REALM_TENANT,
    };
    let tenant = store
        .create_tenant(TenantId::generate(), new_tenant("Invitingco"), T0, vec![])
        .await
        .unwrap()
        .id;
    let request =
        |email: &str, by: &str, at: OffsetDateTime, tenant: Option<TenantId>| SubscriptionRequest {
            id: SubscriberId::generate(),
            token_hash: format!("{:x}", uuid::Uuid::now_v7().as_u128()),
            email: EmailAddress::parse(email).unwrap(),
            tenant,
            language: Language::French,
            subscription: Subscription {
                topics: [Topic::Incidents].into_iter().collect(),
                services: Default::default(),
            },
            requested_by: by.into(),
            requested_at: at,
        };
    let confirmation = |r: &SubscriptionRequest| {
        let mut d = NewDelivery::new(
            r.tenant.unwrap_or(OPERATOR_REALM_TENANT),
            &format!("subscription:{}", r.id),
            Channel::Email,
            r.email.as_ref(),
            r.email.to_string(),
            serde_json::json!({"to": r.email.to_string()}),
            r.requested_at,
        );
        d.realm = Realm::Public;
        d
    };
    let first = request("fan_1@example.org", "192.0.2.1", T0, None);
    let again = request(
        "fan_1@example.org",
        "192.0.2.1",
        T0 + Duration::minutes(1),
        None,
    );
    let other = request(
        "fan%2@example.org",
        "192.0.2.1",
        T0 + Duration::minutes(2),
        None,
    );
    let elsewhere = request(
        "fan_1@example.org",
        "198.51.100.7",
        T0 + Duration::minutes(3),
        None,
    );
    for r in [&first, &again, &other, &elsewhere] {
        store
            .request_subscription(r, &confirmation(r), vec![])
            .await
            .unwrap();
    }
    let recent = store
        .recent_subscription_requests(
            "192.0.2.1",
            &EmailAddress::parse("fan_1@example.org").unwrap(),
            T0,
        )
        .await
        .unwrap();
    assert_eq!(recent.unconfirmed_from_ip, 2, "two addresses from there");
    assert!(recent.ip_asked_for_address);
    assert_eq!(recent.for_address, 3, "three requests for the address");
    let later = store
        .recent_subscription_requests(
            "192.0.2.1",
            &EmailAddress::parse("new@example.org").unwrap(),
            T0 + Duration::seconds(90),
        )
        .await
        .unwrap();
    assert_eq!(
        later.unconfirmed_from_ip, 1,
        "only what is inside the window"
    );
    assert!(!later.ip_asked_for_address);
    assert_eq!(later.for_address, 0);
    // Each request queued its confirmation email with it.
    let queued = store
        .get_delivery(&confirmation(&first).id)
        .await
        .unwrap()
        .expect("the confirmation is queued");
    assert_eq!(queued.realm, Realm::Public);

    let found = store
        .subscription_request(&first.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, first);
    assert!(store.subscription_request("nope").await.unwrap().is_none());
    let subscriber = |r: &SubscriptionRequest, language| Subscriber {
        id: SubscriberId::generate(),
        email: r.email.clone(),
        language,
        subscription: r.subscription.clone(),
        confirmed_at: T0 + Duration::minutes(10),
    };
    let made = store
        .confirm_subscriber(
            first.id,
            &subscriber(&first, Language::French),
            vec![system_audit(AuditChain::Operator, "Add-StatusSubscriber")],
        )
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .confirm_subscriber(first.id, &subscriber(&first, Language::French), vec![])
            .await
            .unwrap()
            .is_none(),
        "a request confirms once"
    );
    // The same address confirmed again keeps its id and takes the new choices.
    let kept = store
        .confirm_subscriber(again.id, &subscriber(&again, Language::Korean), vec![])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.id, made.id);
    assert_eq!(kept.language, Language::Korean);
    store
        .confirm_subscriber(other.id, &subscriber(&other, Language::Dutch), vec![])
        .await
        .unwrap()
        .unwrap();
    let all = store.list_subscribers(None, None, 10).await.unwrap();
    let emails: Vec<String> = all.iter().map(|s| s.email.to_string()).collect();
    assert_eq!(emails, ["fan%2@example.org", "fan_1@example.org"]);
    let page = store
        .list_subscribers(None, Some("fan%2@example.org"), 10)
        .await
        .unwrap();
    assert_eq!(page.len(), 1, "after the first");
    let searched = store.list_subscribers(Some("N_1"), None, 10).await.unwrap();
    assert_eq!(searched.len(), 1, "`_` is a character, not a wildcard");
    assert_eq!(searched[0].email.as_ref(), "fan_1@example.org");
    assert_eq!(
        store
            .list_subscribers(Some("%"), None, 10)
            .await
            .unwrap()
            .len(),
        1
    );

    // Changing and removing.
    let mut changed = kept.clone();
    changed.language = Language::English;
    assert!(store.save_subscriber(&changed, vec![]).await.unwrap());
    assert_eq!(
        store
            .get_subscriber(kept.id)
            .await
            .unwrap()
            .unwrap()
            .language,
        Language::English
    );
    assert_eq!(
        store
            .find_subscriber(&EmailAddress::parse("fan_1@example.org").unwrap())
            .await
            .unwrap()
            .unwrap()
            .id,
        kept.id
    );
    assert!(store.remove_subscriber(kept.id, vec![]).await.unwrap());
    assert!(!store.remove_subscriber(kept.id, vec![]).await.unwrap());
    assert!(!store.save_subscriber(&changed, vec![]).await.unwrap());

    // An invitation becomes a contact of its tenant, once.
    let invited = request("desk@invitingco.example", "tenant:x", T0, Some(tenant));
    store
        .request_subscription(&invited, &confirmation(&invited), vec![])
        .await
        .unwrap();
    let contact = Contact {
        id: ContactId::generate(),
        tenant,
        email: invited.email.clone(),
        language: invited.language,
        subscription: invited.subscription.clone(),
        created_at: T0,
    };
    assert!(store
        .confirm_invitation(invited.id, &contact, vec![])
        .await
        .unwrap());
    assert!(!store
        .confirm_invitation(invited.id, &contact, vec![])
        .await
        .unwrap());
    let contacts = store.list_contacts(tenant).await.unwrap();
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0].email, invited.email);

    // Only the request not yet confirmed is left, and it goes when it expires.
    assert_eq!(
        store
            .purge_subscription_requests(T0 + Duration::minutes(3))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .purge_subscription_requests(T0 + Duration::hours(25))
            .await
            .unwrap(),
        1
    );
    assert!(store
        .subscription_request(&elsewhere.token_hash)
        .await
        .unwrap()
        .is_none());
}
