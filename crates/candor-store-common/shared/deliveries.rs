// The delivery queue: deliveries, their news, webhook endpoints and push subscriptions, on either database.
//
// Written once, compiled twice: `include!`d by `candor-store-sqlite/src/deliveries.rs` and
// `candor-store-postgres/src/deliveries.rs`, where `crate::dialect` says how that database
// stores ids (`key`) and times (`at`) and which pool reads and writes. Placeholders are
// `$1`, `$2`, … in order of first use (see `shared/identity.rs`).

use crate::dialect::{
    at, each, key, list, Db, DbRow, Store, DELIVERY_ROWS_PER_INSERT as INSERT_CHUNK, DUE_DELIVERIES,
};
use async_trait::async_trait;
use candor_domain::audit::NewAuditRecord;
use candor_domain::health::{
    BrowserOwner, ChangeDeliveries, Channel, Delivery, DeliveryNews, DeliveryOutcome,
    DeliveryStatus, IssueId, MessageId, NewDelivery, PushSubscription, PushSubscriptionId,
    WebhookEndpoint, WebhookEndpointId,
};
use candor_domain::store::{Conflict, DeliveryStore, StoreError, StoreResult, TenantRange};
use candor_domain::TenantId;
use sqlx::{QueryBuilder, Row};
use time::{Duration, OffsetDateTime};

use crate::audit::append_in_tx;
use crate::db_error;
use crate::rows::{corrupt, from_json, get, id, json, opt_id, opt_time, parsed, time};

const DELIVERY_COLS: &str = "id, tenant_id, change_key, channel, recipient, endpoint_id, realm, payload, news_id, status, attempts, max_attempts, run_at, last_error, created_at, updated_at, sent_at";
const ENDPOINT_COLS: &str = "id, tenant_id, url, format, secret, previous_secret, previous_until, subscription, enabled, failures, disabled_reason, created_at";

fn delivery(row: &DbRow) -> StoreResult<Delivery> {
    let payload: String = get(row, "payload")?;
    Ok(Delivery {
        id: get(row, "id")?,
        tenant: id(row, "tenant_id", TenantId)?,
        change: get(row, "change_key")?,
        channel: parsed(row, "channel")?,
        recipient: get(row, "recipient")?,
        endpoint: opt_id(row, "endpoint_id", WebhookEndpointId)?,
        realm: parsed(row, "realm")?,
        payload: serde_json::from_str(&payload).map_err(|e| corrupt("payload", e))?,
        news: get(row, "news_id")?,
        status: parsed(row, "status")?,
        attempts: get(row, "attempts")?,
        max_attempts: get(row, "max_attempts")?,
        run_at: time(row, "run_at")?,
        last_error: get(row, "last_error")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        sent_at: opt_time(row, "sent_at")?,
    })
}

fn endpoint(row: &DbRow) -> StoreResult<WebhookEndpoint> {
    Ok(WebhookEndpoint {
        id: id(row, "id", WebhookEndpointId)?,
        tenant: id(row, "tenant_id", TenantId)?,
        url: get(row, "url")?,
        format: parsed(row, "format")?,
        secret: get(row, "secret")?,
        previous_secret: get(row, "previous_secret")?,
        previous_until: opt_time(row, "previous_until")?,
        subscription: from_json(row, "subscription")?,
        enabled: get(row, "enabled")?,
        failures: get(row, "failures")?,
        disabled_reason: get(row, "disabled_reason")?,
        created_at: time(row, "created_at")?,
    })
}

const PUSH_COLS: &str =
    "id, tenant_id, user_id, endpoint, p256dh, auth, subscription, label, created_at";
const OPERATOR_PUSH_COLS: &str = "id, operator_id, endpoint, p256dh, auth, label, created_at";

fn push(row: &DbRow) -> StoreResult<PushSubscription> {
    Ok(PushSubscription {
        id: id(row, "id", PushSubscriptionId)?,
        owner: BrowserOwner::TenantUser {
            tenant: id(row, "tenant_id", TenantId)?,
            user: id(row, "user_id", candor_domain::UserId)?,
        },
        endpoint: get(row, "endpoint")?,
        p256dh: get(row, "p256dh")?,
        auth: get(row, "auth")?,
        subscription: from_json(row, "subscription")?,
        label: get(row, "label")?,
        created_at: time(row, "created_at")?,
    })
}

fn operator_push(row: &DbRow) -> StoreResult<PushSubscription> {
    Ok(PushSubscription {
        id: id(row, "id", PushSubscriptionId)?,
        owner: BrowserOwner::Operator(id(row, "operator_id", candor_domain::OperatorId)?),
        endpoint: get(row, "endpoint")?,
        p256dh: get(row, "p256dh")?,
        auth: get(row, "auth")?,
        subscription: candor_domain::health::Subscription::nothing(),
        label: get(row, "label")?,
        created_at: time(row, "created_at")?,
    })
}

fn summary(row: &DbRow) -> StoreResult<ChangeDeliveries> {
    Ok(ChangeDeliveries {
        change: get(row, "change_key")?,
        tenants: get(row, "tenants")?,
        pending: get(row, "pending")?,
        sent: get(row, "sent")?,
        failed: get(row, "failed")?,
        first_queued: time(row, "first_queued")?,
        last_activity: time(row, "last_activity")?,
    })
}

impl Store {
    /// The tenants `reached` selects (one column, `tenant_id`, its key bound as `$1`) in
    /// id order. `reached` is given the condition that keeps one part's range of ids,
    /// for each of its selects to apply to its own tenant column, so a part reads only
    /// its range through the indexes instead of the whole reach.
    async fn reached_tenants(
        &self,
        reached: impl Fn(&dyn Fn(&str) -> String) -> String,
        key: &str,
        within: Option<TenantRange>,
    ) -> StoreResult<Vec<TenantId>> {
        let range = |column: &str| match within {
            None => String::new(),
            Some((_, None)) => format!(" AND {column} >= $2"),
            Some((_, Some(_))) => format!(" AND {column} >= $2 AND {column} < $3"),
        };
        let sql = format!(
            "SELECT tenant_id FROM ({}) AS reached ORDER BY tenant_id",
            reached(&range)
        );
        let mut query = sqlx::query(&sql).bind(key);
        if let Some((from, until)) = within {
            query = query.bind(crate::dialect::key(from.0));
            if let Some(until) = until {
                query = query.bind(crate::dialect::key(until.0));
            }
        }
        query
            .fetch_all(self.reader())
            .await
            .map_err(db_error)?
            .iter()
            .map(|r| id(r, "tenant_id", TenantId))
            .collect()
    }
}

/// Queues `deliveries` in `tx` (a delivery already queued is left as it is); returns how
/// many were new. Every message Candor sends enters the queue here, inside the
/// transaction of the change it reports.
pub(crate) async fn insert_deliveries(
    tx: &mut sqlx::Transaction<'_, Db>,
    deliveries: &[NewDelivery],
    now: OffsetDateTime,
) -> StoreResult<u64> {
    let now = at(now);
    let mut queued = 0;
    for chunk in deliveries.chunks(INSERT_CHUNK) {
        let mut q: QueryBuilder<Db> = QueryBuilder::new(
            "INSERT INTO deliveries (id, tenant_id, change_key, channel, recipient, endpoint_id,
                 realm, payload, news_id, status, max_attempts, run_at, created_at, updated_at) ",
        );
        q.push_values(chunk, |mut row, d| {
            row.push_bind(d.id.clone())
                .push_bind(key(d.tenant.0))
                .push_bind(d.change.clone())
                .push_bind(d.channel.as_str())
                .push_bind(d.recipient.clone())
                .push_bind(d.endpoint.map(|e| key(e.0)))
                .push_bind(d.realm.as_str())
                .push_bind(d.payload.to_string())
                .push_bind(d.news.clone())
                .push("'pending'")
                .push_bind(d.max_attempts)
                .push_bind(at(d.run_at))
                .push_bind(now)
                .push_bind(now);
        });
        q.push(" ON CONFLICT (id) DO NOTHING");
        queued += q
            .build()
            .execute(&mut **tx)
            .await
            .map_err(db_error)?
            .rows_affected();
    }
    Ok(queued)
}

#[async_trait]
impl DeliveryStore for Store {
    async fn queue_deliveries(
        &self,
        deliveries: &[NewDelivery],
        now: OffsetDateTime,
    ) -> StoreResult<u64> {
        if deliveries.is_empty() {
            return Ok(0);
        }
        let mut tx = self.write_tx().await.map_err(db_error)?;
        let queued = insert_deliveries(&mut tx, deliveries, now).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(queued)
    }

    async fn store_news(&self, news: &[DeliveryNews], now: OffsetDateTime) -> StoreResult<()> {
        if news.is_empty() {
            return Ok(());
        }
        let now = at(now);
        let mut tx = self.write_tx().await.map_err(db_error)?;
        for n in news {
            sqlx::query(
                "INSERT INTO delivery_news (id, change_key, body, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&n.id)
            .bind(&n.change)
            .bind(n.body.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)
    }

    async fn get_news(&self, ids: &[String]) -> StoreResult<Vec<DeliveryNews>> {
        self.rows_where_in(
            "SELECT id, change_key, body FROM delivery_news",
            "id",
            ids,
            "",
        )
        .await?
        .iter()
        .map(|row| {
            let body: String = get(row, "body")?;
            Ok(DeliveryNews {
                id: get(row, "id")?,
                change: get(row, "change_key")?,
                body: serde_json::from_str(&body).map_err(|e| corrupt("body", e))?,
            })
        })
        .collect()
    }

    async fn claim_deliveries(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        worker: &str,
        limit: u32,
        channel: Channel,
    ) -> StoreResult<Vec<Delivery>> {
        sqlx::query(&format!(
            "UPDATE deliveries SET status = 'sending', attempts = attempts + 1, lease_owner = $1,
                 lease_until = $2, updated_at = $3
             WHERE id IN (
                 {DUE_DELIVERIES})
             RETURNING {DELIVERY_COLS}"
        ))
        .bind(worker)
        .bind(at(now + lease))
        .bind(at(now))
        .bind(channel.as_str())
        .bind(i64::from(limit.max(1)))
        .fetch_all(self.writer())
        .await
        .map_err(db_error)?
        .iter()
        .map(delivery)
        .collect()
    }

    async fn finish_deliveries(
        &self,
        worker: &str,
        results: &[(String, DeliveryOutcome)],
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        if results.is_empty() {
            return Ok(());
        }
        let now = at(now);
        let mut tx = self.write_tx().await.map_err(db_error)?;
        // Most attempts succeed: those are one statement.
        let sent: Vec<&str> = results
            .iter()
            .filter(|(_, o)| *o == DeliveryOutcome::Sent)
            .map(|(id, _)| id.as_str())
            .collect();
        if !sent.is_empty() {
            sqlx::query(&format!(
                "UPDATE deliveries SET status = 'sent', sent_at = $1, lease_owner = NULL,
                     lease_until = NULL, updated_at = $1
                 WHERE status = 'sending' AND lease_owner = $2 AND id IN (SELECT value FROM {})",
                each(3)
            ))
            .bind(now)
            .bind(worker)
            .bind(list(&sent))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        for (id, outcome) in results {
            // A deferred delivery was not attempted: the claim's count is taken back.
            let (status, run_at, error, counted) = match outcome {
                DeliveryOutcome::Sent => continue,
                DeliveryOutcome::RetryAt(when, e) => ("pending", Some(at(*when)), e.as_str(), 0),
                DeliveryOutcome::Dead(e) => ("dead", None, e.as_str(), 0),
                DeliveryOutcome::Deferred(when, e) => ("pending", Some(at(*when)), e.as_str(), 1),
            };
            sqlx::query(
                "UPDATE deliveries SET status = $1, run_at = COALESCE($2, run_at),
                     last_error = $3, sent_at = NULL, lease_owner = NULL,
                     lease_until = NULL, updated_at = $4, attempts = attempts - $5
                 WHERE id = $6 AND status = 'sending' AND lease_owner = $7",
            )
            .bind(status)
            .bind(run_at)
            .bind(error)
            .bind(now)
            .bind(counted)
            .bind(id)
            .bind(worker)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn release_all_leases(&self) -> StoreResult<u64> {
        // Only where this process sees every write is everything in flight abandoned at
        // start; with several instances, another may be working on it, so leases lapse.
        if !candor_domain::store::Store::sees_every_write(self) {
            return Ok(0);
        }
        let mut tx = self.write_tx().await.map_err(db_error)?;
        let d = sqlx::query(
            "UPDATE deliveries SET status = 'pending', lease_owner = NULL, lease_until = NULL
             WHERE status = 'sending'",
        )
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected();
        let j = sqlx::query(
            "UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_until = NULL
             WHERE status = 'running'",
        )
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected();
        tx.commit().await.map_err(db_error)?;
        Ok(d + j)
    }

    async fn get_delivery(&self, id: &str) -> StoreResult<Option<Delivery>> {
        sqlx::query(&format!(
            "SELECT {DELIVERY_COLS} FROM deliveries WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?
        .map(|r| delivery(&r))
        .transpose()
    }

    async fn change_deliveries(
        &self,
        prefix: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<ChangeDeliveries>> {
        // substr, not LIKE, so `%` and `_` in the prefix mean themselves.
        let prefix = prefix.unwrap_or("");
        sqlx::query(
            "SELECT change_key, COUNT(DISTINCT tenant_id) AS tenants,
                 SUM(CASE WHEN status IN ('pending', 'sending') THEN 1 ELSE 0 END) AS pending,
                 SUM(CASE WHEN status = 'sent' THEN 1 ELSE 0 END) AS sent,
                 SUM(CASE WHEN status = 'dead' THEN 1 ELSE 0 END) AS failed,
                 MIN(created_at) AS first_queued, MAX(updated_at) AS last_activity
             FROM deliveries WHERE substr(change_key, 1, $1) = $2
             GROUP BY change_key ORDER BY first_queued DESC, change_key LIMIT $3",
        )
        .bind(prefix.chars().count() as i32)
        .bind(prefix)
        .bind(i64::from(limit.max(1)))
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?
        .iter()
        .map(summary)
        .collect()
    }

    async fn deliveries_of_change(
        &self,
        change: &str,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>> {
        sqlx::query(&format!(
            "SELECT {DELIVERY_COLS} FROM deliveries
             WHERE change_key = $1 AND ($2 IS NULL OR status = $2)
             ORDER BY updated_at DESC, id LIMIT $3"
        ))
        .bind(change)
        .bind(status.map(|s| s.as_str()))
        .bind(i64::from(limit.max(1)))
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?
        .iter()
        .map(delivery)
        .collect()
    }

    async fn tenant_deliveries(
        &self,
        tenant: TenantId,
        before: Option<(OffsetDateTime, String)>,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>> {
        let (when, id) = match before {
            Some((t, id)) => (Some(at(t)), id),
            None => (None, String::new()),
        };
        sqlx::query(&format!(
            "SELECT {DELIVERY_COLS} FROM deliveries
             WHERE tenant_id = $1 AND realm = 'tenant' AND ($2 IS NULL OR created_at < $2 OR (created_at = $2 AND id < $3))
             ORDER BY created_at DESC, id DESC LIMIT $4"
        ))
        .bind(key(tenant.0))
        .bind(when)
        .bind(&id)
        .bind(i64::from(limit.max(1)))
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?
        .iter()
        .map(delivery)
        .collect()
    }

    async fn purge_finished_deliveries(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let before = at(before);
        let mut tx = self.write_tx().await.map_err(db_error)?;
        let purged = sqlx::query(
            "DELETE FROM deliveries WHERE status IN ('sent', 'dead') AND updated_at < $1",
        )
        .bind(before)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected();
        // News no delivery needs any more.
        sqlx::query(
            "DELETE FROM delivery_news WHERE created_at < $1 AND NOT EXISTS
                 (SELECT 1 FROM deliveries d WHERE d.change_key = delivery_news.change_key)",
        )
        .bind(before)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(purged)
    }

    async fn add_webhook(
        &self,
        e: &WebhookEndpoint,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        let done = sqlx::query(&format!(
            "INSERT INTO webhook_endpoints ({ENDPOINT_COLS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (tenant_id, url) DO NOTHING"
        ))
        .bind(key(e.id.0))
        .bind(key(e.tenant.0))
        .bind(&e.url)
        .bind(e.format.as_str())
        .bind(&e.secret)
        .bind(&e.previous_secret)
        .bind(e.previous_until.map(at))
        .bind(json(&e.subscription))
        .bind(e.enabled)
        .bind(e.failures)
        .bind(&e.disabled_reason)
        .bind(at(e.created_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(Conflict::WebhookExists(
                e.url.to_string(),
            )));
        }
        append_in_tx(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn list_webhooks(&self, tenant: TenantId) -> StoreResult<Vec<WebhookEndpoint>> {
        sqlx::query(&format!(
            "SELECT {ENDPOINT_COLS} FROM webhook_endpoints WHERE tenant_id = $1 ORDER BY url"
        ))
        .bind(key(tenant.0))
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?
        .iter()
        .map(endpoint)
        .collect()
    }

    async fn get_webhook(&self, id: WebhookEndpointId) -> StoreResult<Option<WebhookEndpoint>> {
        sqlx::query(&format!(
            "SELECT {ENDPOINT_COLS} FROM webhook_endpoints WHERE id = $1"
        ))
        .bind(key(id.0))
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?
        .map(|r| endpoint(&r))
        .transpose()
    }

    async fn get_webhooks(&self, ids: &[WebhookEndpointId]) -> StoreResult<Vec<WebhookEndpoint>> {
        self.rows_where_in(
            &format!("SELECT {ENDPOINT_COLS} FROM webhook_endpoints"),
            "id",
            ids,
            "",
        )
        .await?
        .iter()
        .map(endpoint)
        .collect()
    }

    async fn save_webhook(
        &self,
        e: &WebhookEndpoint,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<bool> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET format = $1, secret = $2, previous_secret = $3,
                 previous_until = $4, subscription = $5, enabled = $6, failures = $7,
                 disabled_reason = $8
             WHERE id = $9 AND tenant_id = $10",
        )
        .bind(e.format.as_str())
        .bind(&e.secret)
        .bind(&e.previous_secret)
        .bind(e.previous_until.map(at))
        .bind(json(&e.subscription))
        .bind(e.enabled)
        .bind(e.failures)
        .bind(&e.disabled_reason)
        .bind(key(e.id.0))
        .bind(key(e.tenant.0))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        append_in_tx(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn delete_webhook(
        &self,
        tenant: TenantId,
        id: WebhookEndpointId,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<bool> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        let done = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1 AND tenant_id = $2")
            .bind(key(id.0))
            .bind(key(tenant.0))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        append_in_tx(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn save_push_subscription(
        &self,
        p: &PushSubscription,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        let for_user = format!(
            "INSERT INTO push_subscriptions ({PUSH_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (endpoint) DO UPDATE SET id = excluded.id, tenant_id = excluded.tenant_id,
                 user_id = excluded.user_id, p256dh = excluded.p256dh, auth = excluded.auth,
                 subscription = excluded.subscription, label = excluded.label,
                 created_at = excluded.created_at"
        );
        let for_operator = format!(
            "INSERT INTO operator_push_subscriptions ({OPERATOR_PUSH_COLS})
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (endpoint) DO UPDATE SET id = excluded.id,
                 operator_id = excluded.operator_id, p256dh = excluded.p256dh,
                 auth = excluded.auth, label = excluded.label, created_at = excluded.created_at"
        );
        match p.owner {
            BrowserOwner::TenantUser { tenant, user } => sqlx::query(&for_user)
                .bind(key(p.id.0))
                .bind(key(tenant.0))
                .bind(key(user.0))
                .bind(&p.endpoint)
                .bind(&p.p256dh)
                .bind(&p.auth)
                .bind(json(&p.subscription))
                .bind(&p.label)
                .bind(at(p.created_at)),
            BrowserOwner::Operator(operator) => sqlx::query(&for_operator)
                .bind(key(p.id.0))
                .bind(key(operator.0))
                .bind(&p.endpoint)
                .bind(&p.p256dh)
                .bind(&p.auth)
                .bind(&p.label)
                .bind(at(p.created_at)),
        }
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        append_in_tx(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn list_push_subscriptions(
        &self,
        owner: BrowserOwner,
    ) -> StoreResult<Vec<PushSubscription>> {
        match owner {
            BrowserOwner::TenantUser { tenant, user } => sqlx::query(&format!(
                "SELECT {PUSH_COLS} FROM push_subscriptions WHERE tenant_id = $1 AND user_id = $2
                 ORDER BY created_at DESC"
            ))
            .bind(key(tenant.0))
            .bind(key(user.0))
            .fetch_all(self.reader())
            .await
            .map_err(db_error)?
            .iter()
            .map(push)
            .collect(),
            BrowserOwner::Operator(operator) => sqlx::query(&format!(
                "SELECT {OPERATOR_PUSH_COLS} FROM operator_push_subscriptions
                 WHERE operator_id = $1 ORDER BY created_at DESC"
            ))
            .bind(key(operator.0))
            .fetch_all(self.reader())
            .await
            .map_err(db_error)?
            .iter()
            .map(operator_push)
            .collect(),
        }
    }

    async fn get_push_subscriptions(
        &self,
        ids: &[PushSubscriptionId],
    ) -> StoreResult<Vec<PushSubscription>> {
        let mut found: Vec<PushSubscription> = self
            .rows_where_in(
                &format!("SELECT {PUSH_COLS} FROM push_subscriptions"),
                "id",
                ids,
                "",
            )
            .await?
            .iter()
            .map(push)
            .collect::<StoreResult<_>>()?;
        if found.len() < ids.len() {
            let operators = self
                .rows_where_in(
                    &format!("SELECT {OPERATOR_PUSH_COLS} FROM operator_push_subscriptions"),
                    "id",
                    ids,
                    "",
                )
                .await?;
            for row in &operators {
                found.push(operator_push(row)?);
            }
        }
        Ok(found)
    }

    async fn delete_push_subscription(
        &self,
        owner: BrowserOwner,
        id: PushSubscriptionId,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<bool> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        let done = match owner {
            BrowserOwner::TenantUser { tenant, user } => sqlx::query(
                "DELETE FROM push_subscriptions WHERE id = $1 AND tenant_id = $2 AND user_id = $3",
            )
            .bind(key(id.0))
            .bind(key(tenant.0))
            .bind(key(user.0)),
            BrowserOwner::Operator(operator) => sqlx::query(
                "DELETE FROM operator_push_subscriptions WHERE id = $1 AND operator_id = $2",
            )
            .bind(key(id.0))
            .bind(key(operator.0)),
        }
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        append_in_tx(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn tenants_reached_by_issue(
        &self,
        issue: &IssueId,
        within: Option<TenantRange>,
    ) -> StoreResult<Vec<TenantId>> {
        self.reached_tenants(
            |range| crate::rows::affected_by_issue(1, range),
            issue.as_str(),
            within,
        )
        .await
    }

    async fn tenants_reached_by_message(
        &self,
        message: &MessageId,
        within: Option<TenantRange>,
    ) -> StoreResult<Vec<TenantId>> {
        self.reached_tenants(
            |range| {
                format!(
                    "SELECT tenant_id FROM message_tenants WHERE message_id = $1{}",
                    range("tenant_id")
                )
            },
            message.as_str(),
            within,
        )
        .await
    }

    async fn contacts_of_tenants(
        &self,
        tenants: &[TenantId],
    ) -> StoreResult<Vec<candor_domain::health::Contact>> {
        self.rows_where_in(
            "SELECT id, tenant_id, email, language, subscription, created_at FROM contacts",
            "tenant_id",
            tenants,
            "",
        )
        .await?
        .iter()
        .map(crate::contacts::contact)
        .collect()
    }

    async fn webhooks_of_tenants(&self, tenants: &[TenantId]) -> StoreResult<Vec<WebhookEndpoint>> {
        self.rows_where_in(
            &format!("SELECT {ENDPOINT_COLS} FROM webhook_endpoints"),
            "tenant_id",
            tenants,
            " AND enabled",
        )
        .await?
        .iter()
        .map(endpoint)
        .collect()
    }

    async fn push_of_tenants(&self, tenants: &[TenantId]) -> StoreResult<Vec<PushSubscription>> {
        self.rows_where_in(
            &format!("SELECT {PUSH_COLS} FROM push_subscriptions"),
            "tenant_id",
            tenants,
            "",
        )
        .await?
        .iter()
        .map(push)
        .collect()
    }

    async fn webhooks_succeeded(&self, ids: &[WebhookEndpointId]) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        sqlx::query(&format!(
            "UPDATE webhook_endpoints SET failures = 0 WHERE failures > 0 AND id IN (SELECT value FROM {})",
            each(1)
        ))
        .bind(list(ids))
        .execute(self.writer())
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn webhook_failed(
        &self,
        id: WebhookEndpointId,
        disable_after: i32,
        reason: &str,
        on_disable: (Vec<NewDelivery>, Vec<NewAuditRecord>),
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        let row = sqlx::query(
            "UPDATE webhook_endpoints SET failures = failures + 1 WHERE id = $1 AND enabled
             RETURNING failures",
        )
        .bind(key(id.0))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some(row) = row else {
            return Ok(false);
        };
        let failures: i32 = row.try_get("failures").map_err(db_error)?;
        if failures < disable_after.max(1) {
            tx.commit().await.map_err(db_error)?;
            return Ok(false);
        }
        sqlx::query(
            "UPDATE webhook_endpoints SET enabled = FALSE, disabled_reason = $1 WHERE id = $2",
        )
        .bind(reason)
        .bind(key(id.0))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let (notices, audit) = on_disable;
        insert_deliveries(&mut tx, &notices, now).await?;
        append_in_tx(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }
}
