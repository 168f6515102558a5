//! Runs every contract rule against SQLite (a temp file per test) and PostgreSQL (a fresh
//! database per test on the local server, dropped afterwards).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use candor_store_tests::harness::{sqlite_store, PostgresTestDb};

macro_rules! contract {
    ($($rule:ident),+ $(,)?) => {
        mod sqlite {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $rule() {
                    let db = sqlite_store().await;
                    candor_store_tests::contract::$rule(db.store.clone()).await;
                }
            )+
        }
        mod postgres {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $rule() {
                    let Some(db) = PostgresTestDb::create().await else { return };
                    candor_store_tests::contract::$rule(db.store()).await;
                    db.store.close().await;
                }
            )+
        }
    };
}

contract!(
    tenants_are_created_listed_and_updated,
    duplicate_tenant_name_is_a_conflict_and_leaves_no_audit_record,
    users_are_scoped_to_their_tenant,
    operators_are_created_and_found,
    api_clients_are_revoked_only_within_their_tenant,
    sessions_live_and_expire,
    concurrent_appends_keep_every_chain_linear,
    business_writes_between_group_commits_keep_chains_linear,
    every_chain_is_a_merkle_tree_with_proofs,
    audit_search_filters_and_pages_newest_first,
    checkpoints_are_stored_per_chain,
    a_log_keeps_the_prefix_it_was_first_given,
    a_witness_keeps_only_its_newest_cosignature,
    records_past_retention_keep_their_place_and_hashes,
    the_first_signing_key_wins,
    jobs_are_claimed_when_due_and_deduplicated,
    each_job_lane_is_claimed_on_its_own,
    drafts_are_one_per_open_fingerprint,
    concurrent_workers_claim_each_job_once,
    migrations_are_recorded,
    announcements_reach_every_listener,
    topology_is_applied_and_read_back,
    a_topology_change_that_breaks_a_rule_writes_nothing,
    issues_reach_exactly_the_placed_tenants_and_keep_them,
    operator_clients_and_idempotency_keys,
    reviews_are_drafted_then_published_with_the_issue,
    messages_reach_their_audience_with_attachments_and_viewpoints,
    maintenances_keep_their_state_and_reach_through_their_message,
    lockbox_requests_are_stored_decided_once_and_found_by_deadline,
    elevations_are_stored_and_decided_once,
    feed_tokens_resolve_until_revoked_and_only_for_their_tenant,
    contacts_are_per_tenant_and_unique_by_address,
    subscription_requests_confirm_once_and_subscribers_are_unique_by_address,
    browsers_are_kept_per_owner_tenant_user_or_operator,
    contacts_reached_by_an_issue_are_its_tenants_contacts,
    deliveries_are_queued_once_claimed_in_batches_and_finished,
    deliveries_are_claimed_longest_waiting_first,
    delivery_news_is_stored_once_and_purged_after_its_deliveries,
    webhook_endpoints_are_per_tenant_and_disabled_after_failures,
);

/// What an older Candor left: records without tree hashes, heads without a tree.
const FORGET_TREES: [&str; 2] = [
    "UPDATE audit_records SET tree_hashes = NULL",
    "UPDATE audit_chain_heads SET tree_size = 0, frontier = NULL",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_older_records_get_their_tree_on_the_next_append() {
    use sqlx::Connection;
    let db = sqlite_store().await;
    let path = db.path.clone();
    candor_store_tests::contract::older_records_get_their_tree_on_the_next_append(
        db.store.clone(),
        || async move {
            let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            for statement in FORGET_TREES {
                sqlx::query(statement).execute(&mut conn).await.unwrap();
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_older_records_get_their_tree_on_the_next_append() {
    use sqlx::Connection;
    let Some(db) = PostgresTestDb::create().await else {
        return;
    };
    let url = db.url.clone();
    candor_store_tests::contract::older_records_get_their_tree_on_the_next_append(
        db.store(),
        || async move {
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            for statement in FORGET_TREES {
                sqlx::query(statement).execute(&mut conn).await.unwrap();
            }
        },
    )
    .await;
    db.store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_failed_group_commit_fails_only_its_own_appends() {
    use sqlx::Connection;
    let db = sqlite_store().await;
    let path = db.path.clone();
    candor_store_tests::contract::a_failed_group_commit_fails_only_its_own_appends(
        db.store.clone(),
        || async move {
            let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            sqlx::query(&format!(
                "CREATE TRIGGER refuse BEFORE INSERT ON audit_records WHEN NEW.activity = '{}'
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
                candor_store_tests::contract::REFUSED_ACTIVITY
            ))
            .execute(&mut conn)
            .await
            .unwrap();
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_failed_group_commit_fails_only_its_own_appends() {
    use sqlx::Connection;
    let Some(db) = PostgresTestDb::create().await else {
        return;
    };
    let url = db.url.clone();
    candor_store_tests::contract::a_failed_group_commit_fails_only_its_own_appends(
        db.store(),
        || async move {
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query(&format!(
                "ALTER TABLE audit_records ADD CONSTRAINT refuse CHECK (activity <> '{}')",
                candor_store_tests::contract::REFUSED_ACTIVITY
            ))
            .execute(&mut conn)
            .await
            .unwrap();
        },
    )
    .await;
    db.store.close().await;
}

/// Two instances on one PostgreSQL append to the same chains at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_instances_append_to_the_same_chains() {
    let Some(db) = PostgresTestDb::create().await else {
        return;
    };
    let other = std::sync::Arc::new(
        candor_store_postgres::PostgresStore::connect(&db.url)
            .await
            .unwrap(),
    );
    candor_store_tests::contract::two_stores_append_to_the_same_chains(db.store(), other).await;
    db.store.close().await;
}

/// The server and a CLI command on one SQLite file append to the same chains at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_two_stores_on_one_file_append_to_the_same_chains() {
    let db = sqlite_store().await;
    let other = std::sync::Arc::new(
        candor_store_sqlite::SqliteStore::open(&db.path)
            .await
            .unwrap(),
    );
    candor_store_tests::contract::two_stores_append_to_the_same_chains(db.store.clone(), other)
        .await;
}
