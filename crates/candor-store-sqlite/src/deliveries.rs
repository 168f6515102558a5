use async_trait::async_trait;
use candor_domain::audit::NewAuditRecord;
use candor_domain::health::{
    ChangeDeliveries, Delivery, DeliveryNews, DeliveryOutcome, DeliveryStatus, IssueId, MessageId,
    NewDelivery, WebhookEndpoint, WebhookEndpointId,
};
use candor_domain::jobs::NewJob;
use candor_domain::store::{Conflict, DeliveryStore, StoreError, StoreResult};
use candor_domain::time_util::{from_unix_micros, to_unix_micros};
use candor_domain::{JobId, TenantId};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};
use time::{Duration, OffsetDateTime};

use crate::audit::append_in_tx;
use crate::jobs::insert_job;
use crate::rows::{corrupt, from_json, get, json, opt_parsed, opt_time, parsed, time};
use crate::{db_error, SqliteStore};

const DELIVERY_COLS: &str = "id, tenant_id, change_key, channel, recipient, endpoint_id, payload, news_id, status, attempts, max_attempts, run_at, last_error, created_at, updated_at, sent_at";
const ENDPOINT_COLS: &str = "id, tenant_id, url, format, secret, previous_secret, previous_until, subscription, enabled, failures, disabled_reason, created_at";
/// Rows per INSERT: 12 parameters each, inside SQLite's limit of 32,766.
const INSERT_CHUNK: usize = 2000;

fn delivery(row: &SqliteRow) -> StoreResult<Delivery> {
    let payload: String = get(row, "payload")?;
    Ok(Delivery {
        id: get(row, "id")?,
        tenant: parsed(row, "tenant_id")?,
        change: get(row, "change_key")?,
        channel: parsed(row, "channel")?,
        recipient: get(row, "recipient")?,
        endpoint: opt_parsed(row, "endpoint_id")?,
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

fn endpoint(row: &SqliteRow) -> StoreResult<WebhookEndpoint> {
    let enabled: i64 = get(row, "enabled")?;
    Ok(WebhookEndpoint {
        id: parsed(row, "id")?,
        tenant: parsed(row, "tenant_id")?,
        url: get(row, "url")?,
        format: parsed(row, "format")?,
        secret: get(row, "secret")?,
        previous_secret: get(row, "previous_secret")?,
        previous_until: opt_time(row, "previous_until")?,
        subscription: from_json(row, "subscription")?,
        enabled: enabled != 0,
        failures: get(row, "failures")?,
        disabled_reason: get(row, "disabled_reason")?,
        created_at: time(row, "created_at")?,
    })
}

fn summary(row: &SqliteRow) -> StoreResult<ChangeDeliveries> {
    let first: i64 = get(row, "first_queued")?;
    let last: i64 = get(row, "last_activity")?;
    Ok(ChangeDeliveries {
        change: get(row, "change_key")?,
        tenants: get(row, "tenants")?,
        pending: get(row, "pending")?,
        sent: get(row, "sent")?,
        failed: get(row, "failed")?,
        first_queued: from_unix_micros(first),
        last_activity: from_unix_micros(last),
    })
}

impl SqliteStore {
    async fn reached_tenants(
        &self,
        table: &str,
        key_col: &str,
        key: &str,
    ) -> StoreResult<Vec<TenantId>> {
        let ids: Vec<(String,)> = sqlx::query_as(&format!(
            "SELECT tenant_id FROM {table} WHERE {key_col} = ? ORDER BY tenant_id"
        ))
        .bind(key)
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?;
        ids.into_iter()
            .map(|(t,)| t.parse().map_err(|e| corrupt("tenant_id", e)))
            .collect()
    }
}

#[async_trait]
impl DeliveryStore for SqliteStore {
    async fn queue_deliveries(
        &self,
        deliveries: &[NewDelivery],
        now: OffsetDateTime,
    ) -> StoreResult<u64> {
        if deliveries.is_empty() {
            return Ok(0);
        }
        let now = to_unix_micros(now);
        let mut tx = self.writer.begin().await.map_err(db_error)?;
        let mut queued = 0;
        for chunk in deliveries.chunks(INSERT_CHUNK) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO deliveries (id, tenant_id, change_key, channel, recipient, endpoint_id,
                     payload, news_id, status, max_attempts, run_at, created_at, updated_at) ",
            );
            q.push_values(chunk, |mut row, d| {
                row.push_bind(d.id.clone())
                    .push_bind(d.tenant.to_string())
                    .push_bind(d.change.clone())
                    .push_bind(d.channel.as_str())
                    .push_bind(d.recipient.clone())
                    .push_bind(d.endpoint.map(|e| e.to_string()))
                    .push_bind(d.payload.to_string())
                    .push_bind(d.news.clone())
                    .push("'pending'")
                    .push_bind(d.max_attempts)
                    .push_bind(to_unix_micros(d.run_at))
                    .push_bind(now)
                    .push_bind(now);
            });
            q.push(" ON CONFLICT (id) DO NOTHING");
            queued += q
                .build()
                .execute(&mut *tx)
                .await
                .map_err(db_error)?
                .rows_affected();
        }
        tx.commit().await.map_err(db_error)?;
        Ok(queued)
    }

    async fn store_news(&self, news: &[DeliveryNews], now: OffsetDateTime) -> StoreResult<()> {
        if news.is_empty() {
            return Ok(());
        }
        let now = to_unix_micros(now);
        let mut tx = self.writer.begin().await.map_err(db_error)?;
        for n in news {
            sqlx::query(
                "INSERT INTO delivery_news (id, change_key, body, created_at) VALUES (?, ?, ?, ?)
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
    ) -> StoreResult<Vec<Delivery>> {
        let now_us = to_unix_micros(now);
        // Two index range scans (status, run_at), not one scan of every delivery kept.
        sqlx::query(&format!(
            "UPDATE deliveries SET status = 'sending', attempts = attempts + 1, lease_owner = ?,
                 lease_until = ?, updated_at = ?
             WHERE id IN (
                 SELECT id FROM (
                     SELECT id, run_at AS due FROM deliveries
                     WHERE status = 'pending' AND run_at <= ?
                     UNION ALL
                     SELECT id, lease_until AS due FROM deliveries
                     WHERE status = 'sending' AND lease_until < ?)
                 ORDER BY due LIMIT ?)
             RETURNING {DELIVERY_COLS}"
        ))
        .bind(worker)
        .bind(to_unix_micros(now + lease))
        .bind(now_us)
        .bind(now_us)
        .bind(now_us)
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.writer)
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
        let now = to_unix_micros(now);
        let mut tx = self.writer.begin().await.map_err(db_error)?;
        // Most attempts succeed: those are one statement per few hundred deliveries.
        let sent: Vec<&str> = results
            .iter()
            .filter(|(_, o)| *o == DeliveryOutcome::Sent)
            .map(|(id, _)| id.as_str())
            .collect();
        for chunk in sent.chunks(INSERT_CHUNK) {
            let mut q: QueryBuilder<Sqlite> =
                QueryBuilder::new("UPDATE deliveries SET status = 'sent', sent_at = ");
            q.push_bind(now)
                .push(", lease_owner = NULL, lease_until = NULL, updated_at = ")
                .push_bind(now)
                .push(" WHERE status = 'sending' AND lease_owner = ")
                .push_bind(worker)
                .push(" AND id IN (");
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            q.push(")");
            q.build().execute(&mut *tx).await.map_err(db_error)?;
        }
        for (id, outcome) in results {
            let (status, run_at, error) = match outcome {
                DeliveryOutcome::Sent => continue,
                DeliveryOutcome::RetryAt(at, e) => {
                    ("pending", Some(to_unix_micros(*at)), e.as_str())
                }
                DeliveryOutcome::Dead(e) => ("dead", None, e.as_str()),
            };
            sqlx::query(
                "UPDATE deliveries SET status = ?, run_at = COALESCE(?, run_at),
                     last_error = ?, sent_at = NULL, lease_owner = NULL,
                     lease_until = NULL, updated_at = ?
                 WHERE id = ? AND status = 'sending' AND lease_owner = ?",
            )
            .bind(status)
            .bind(run_at)
            .bind(error)
            .bind(now)
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
        let mut tx = self.writer.begin().await.map_err(db_error)?;
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
            "SELECT {DELIVERY_COLS} FROM deliveries WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.reader)
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
        // The prefix is matched with substr, not LIKE, so `%` and `_` in it mean themselves.
        let prefix = prefix.unwrap_or("");
        sqlx::query(
            "SELECT change_key, COUNT(DISTINCT tenant_id) AS tenants,
                 SUM(CASE WHEN status IN ('pending', 'sending') THEN 1 ELSE 0 END) AS pending,
                 SUM(CASE WHEN status = 'sent' THEN 1 ELSE 0 END) AS sent,
                 SUM(CASE WHEN status = 'dead' THEN 1 ELSE 0 END) AS failed,
                 MIN(created_at) AS first_queued, MAX(updated_at) AS last_activity
             FROM deliveries WHERE substr(change_key, 1, ?) = ?
             GROUP BY change_key ORDER BY first_queued DESC, change_key LIMIT ?",
        )
        .bind(prefix.chars().count() as i64)
        .bind(prefix)
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.reader)
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
             WHERE change_key = ? AND (? IS NULL OR status = ?)
             ORDER BY updated_at DESC, id LIMIT ?"
        ))
        .bind(change)
        .bind(status.map(|s| s.as_str()))
        .bind(status.map(|s| s.as_str()))
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.reader)
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
        let (at, id) = before
            .map(|(t, id)| (to_unix_micros(t), id))
            .unwrap_or((i64::MAX, String::new()));
        sqlx::query(&format!(
            "SELECT {DELIVERY_COLS} FROM deliveries
             WHERE tenant_id = ? AND (created_at < ? OR (created_at = ? AND id < ?))
             ORDER BY created_at DESC, id DESC LIMIT ?"
        ))
        .bind(tenant.to_string())
        .bind(at)
        .bind(at)
        .bind(&id)
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?
        .iter()
        .map(delivery)
        .collect()
    }

    async fn purge_finished_deliveries(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let before = to_unix_micros(before);
        let mut tx = self.writer.begin().await.map_err(db_error)?;
        let purged = sqlx::query(
            "DELETE FROM deliveries WHERE status IN ('sent', 'dead') AND updated_at < ?",
        )
        .bind(before)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected();
        // News no delivery needs any more.
        sqlx::query(
            "DELETE FROM delivery_news WHERE created_at < ? AND NOT EXISTS
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
        let mut tx = self.writer.begin().await.map_err(db_error)?;
        let done = sqlx::query(&format!(
            "INSERT INTO webhook_endpoints ({ENDPOINT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (tenant_id, url) DO NOTHING"
        ))
        .bind(e.id.to_string())
        .bind(e.tenant.to_string())
        .bind(&e.url)
        .bind(e.format.as_str())
        .bind(&e.secret)
        .bind(&e.previous_secret)
        .bind(e.previous_until.map(to_unix_micros))
        .bind(json(&e.subscription))
        .bind(i64::from(e.enabled))
        .bind(e.failures)
        .bind(&e.disabled_reason)
        .bind(to_unix_micros(e.created_at))
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
            "SELECT {ENDPOINT_COLS} FROM webhook_endpoints WHERE tenant_id = ? ORDER BY url"
        ))
        .bind(tenant.to_string())
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?
        .iter()
        .map(endpoint)
        .collect()
    }

    async fn get_webhook(&self, id: WebhookEndpointId) -> StoreResult<Option<WebhookEndpoint>> {
        sqlx::query(&format!(
            "SELECT {ENDPOINT_COLS} FROM webhook_endpoints WHERE id = ?"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.reader)
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
        let mut tx = self.writer.begin().await.map_err(db_error)?;
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET format = ?, secret = ?, previous_secret = ?,
                 previous_until = ?, subscription = ?, enabled = ?, failures = ?,
                 disabled_reason = ?
             WHERE id = ? AND tenant_id = ?",
        )
        .bind(e.format.as_str())
        .bind(&e.secret)
        .bind(&e.previous_secret)
        .bind(e.previous_until.map(to_unix_micros))
        .bind(json(&e.subscription))
        .bind(i64::from(e.enabled))
        .bind(e.failures)
        .bind(&e.disabled_reason)
        .bind(e.id.to_string())
        .bind(e.tenant.to_string())
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
        let mut tx = self.writer.begin().await.map_err(db_error)?;
        let done = sqlx::query("DELETE FROM webhook_endpoints WHERE id = ? AND tenant_id = ?")
            .bind(id.to_string())
            .bind(tenant.to_string())
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
        p: &candor_domain::health::PushSubscription,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<()> {
        self.save_push(p, audit).await
    }

    async fn list_push_subscriptions(
        &self,
        tenant: TenantId,
        user: candor_domain::UserId,
    ) -> StoreResult<Vec<candor_domain::health::PushSubscription>> {
        self.list_push(tenant, user).await
    }

    async fn get_push_subscriptions(
        &self,
        ids: &[candor_domain::health::PushSubscriptionId],
    ) -> StoreResult<Vec<candor_domain::health::PushSubscription>> {
        self.get_push(ids).await
    }

    async fn delete_push_subscription(
        &self,
        tenant: TenantId,
        user: Option<candor_domain::UserId>,
        id: candor_domain::health::PushSubscriptionId,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<bool> {
        self.delete_push(tenant, user, id, audit).await
    }

    async fn tenants_reached_by_issue(&self, issue: &IssueId) -> StoreResult<Vec<TenantId>> {
        self.reached_tenants("issue_tenants", "issue_id", issue.as_str())
            .await
    }

    async fn tenants_reached_by_message(&self, message: &MessageId) -> StoreResult<Vec<TenantId>> {
        self.reached_tenants("message_tenants", "message_id", message.as_str())
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
            " AND enabled = 1",
        )
        .await?
        .iter()
        .map(endpoint)
        .collect()
    }

    async fn push_of_tenants(
        &self,
        tenants: &[TenantId],
    ) -> StoreResult<Vec<candor_domain::health::PushSubscription>> {
        self.push_of(tenants).await
    }

    async fn webhooks_succeeded(&self, ids: &[WebhookEndpointId]) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "UPDATE webhook_endpoints SET failures = 0 WHERE failures > 0 AND id IN (",
        );
        let mut list = q.separated(", ");
        for id in ids {
            list.push_bind(id.to_string());
        }
        q.push(")");
        q.build().execute(&self.writer).await.map_err(db_error)?;
        Ok(())
    }

    async fn webhook_failed(
        &self,
        id: WebhookEndpointId,
        disable_after: i32,
        reason: &str,
        on_disable: (Vec<NewJob>, Vec<NewAuditRecord>),
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let mut tx = self.writer.begin().await.map_err(db_error)?;
        let row = sqlx::query(
            "UPDATE webhook_endpoints SET failures = failures + 1 WHERE id = ? AND enabled = 1
             RETURNING failures",
        )
        .bind(id.to_string())
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
        sqlx::query("UPDATE webhook_endpoints SET enabled = 0, disabled_reason = ? WHERE id = ?")
            .bind(reason)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        let (jobs, audit) = on_disable;
        for job in &jobs {
            insert_job(&mut tx, JobId::generate(), job, now).await?;
        }
        append_in_tx(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }
}
