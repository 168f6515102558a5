// People who asked for news by email themselves, on either database: requests waiting
// for confirmation and the confirmed public subscribers.
//
// Written once, compiled twice: `include!`d by `candor-store-sqlite/src/subscribers.rs`
// and `candor-store-postgres/src/subscribers.rs`, where `crate::dialect` says how that
// database stores ids (`key`) and times (`at`) and which pool reads and writes.
// Placeholders are `$1`, `$2`, … in order of first use (see `shared/identity.rs`).

use crate::dialect::DbRow;
use async_trait::async_trait;
use candor_domain::audit::NewAuditRecord;
use candor_domain::health::subscriber::{
    RecentRequests, Subscriber, SubscriberId, SubscriptionRequest,
};
use candor_domain::health::{Contact, NewDelivery};
use candor_domain::identity::EmailAddress;
use candor_domain::store::{StoreResult, SubscriberStore};
use candor_domain::TenantId;
use time::OffsetDateTime;

use crate::audit::append_in_tx;
use crate::db_error;
use crate::deliveries::insert_deliveries;
use crate::dialect::{at, key, Store};
use crate::rows::{corrupt, from_json, get, id, json, opt_id, parsed, time};

const SUBSCRIBER_COLS: &str = "id, email, language, subscription, confirmed_at";
const REQUEST_COLS: &str =
    "id, token_hash, email, tenant_id, language, subscription, requested_by, requested_at";

fn email(row: &DbRow) -> StoreResult<EmailAddress> {
    let email: String = get(row, "email")?;
    EmailAddress::parse(&email).map_err(|e| corrupt("email", e))
}

fn subscriber(row: &DbRow) -> StoreResult<Subscriber> {
    Ok(Subscriber {
        id: id(row, "id", SubscriberId)?,
        email: email(row)?,
        language: parsed(row, "language")?,
        subscription: from_json(row, "subscription")?,
        confirmed_at: time(row, "confirmed_at")?,
    })
}

fn request(row: &DbRow) -> StoreResult<SubscriptionRequest> {
    Ok(SubscriptionRequest {
        id: id(row, "id", SubscriberId)?,
        token_hash: get(row, "token_hash")?,
        email: email(row)?,
        tenant: opt_id(row, "tenant_id", TenantId)?,
        language: parsed(row, "language")?,
        subscription: from_json(row, "subscription")?,
        requested_by: get(row, "requested_by")?,
        requested_at: time(row, "requested_at")?,
    })
}

/// `text` as a LIKE pattern matching any address containing it.
fn containing_pattern(text: &str) -> String {
    let mut p = String::from("%");
    for c in text.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

#[async_trait]
impl SubscriberStore for Store {
    async fn recent_subscription_requests(
        &self,
        requested_by: &str,
        email: &EmailAddress,
        since: OffsetDateTime,
    ) -> StoreResult<RecentRequests> {
        let row = sqlx::query(
            "SELECT
                 (SELECT COUNT(DISTINCT email) FROM subscription_requests
                   WHERE requested_by = $1 AND requested_at >= $2) AS from_ip,
                 (SELECT COUNT(*) FROM subscription_requests
                   WHERE requested_by = $1 AND requested_at >= $2 AND email = $3) AS ip_asked,
                 (SELECT COUNT(*) FROM subscription_requests
                   WHERE email = $3 AND requested_at >= $2) AS for_address",
        )
        .bind(requested_by)
        .bind(at(since))
        .bind(email.to_string())
        .fetch_one(self.reader())
        .await
        .map_err(db_error)?;
        let count = |col: &str| -> StoreResult<u32> {
            let n: i64 = get(&row, col)?;
            Ok(u32::try_from(n).unwrap_or(u32::MAX))
        };
        Ok(RecentRequests {
            unconfirmed_from_ip: count("from_ip")?,
            ip_asked_for_address: count("ip_asked")? > 0,
            for_address: count("for_address")?,
        })
    }

    async fn request_subscription(
        &self,
        r: &SubscriptionRequest,
        confirmation: &NewDelivery,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO subscription_requests (id, token_hash, email, tenant_id, language,
                 subscription, requested_by, requested_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(key(r.id.0))
        .bind(&r.token_hash)
        .bind(r.email.to_string())
        .bind(r.tenant.map(|t| key(t.0)))
        .bind(r.language.tag())
        .bind(json(&r.subscription))
        .bind(&r.requested_by)
        .bind(at(r.requested_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        insert_deliveries(&mut tx, std::slice::from_ref(confirmation), r.requested_at).await?;
        append_in_tx(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn subscription_request(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<SubscriptionRequest>> {
        sqlx::query(&format!(
            "SELECT {REQUEST_COLS} FROM subscription_requests WHERE token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?
        .as_ref()
        .map(request)
        .transpose()
    }

    async fn confirm_subscriber(
        &self,
        request: SubscriberId,
        s: &Subscriber,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<Option<Subscriber>> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        let used = sqlx::query("DELETE FROM subscription_requests WHERE id = $1")
            .bind(key(request.0))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        if used.rows_affected() == 0 {
            return Ok(None);
        }
        let row = sqlx::query(&format!(
            "INSERT INTO subscribers ({SUBSCRIBER_COLS}) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (email) DO UPDATE
                SET language = excluded.language, subscription = excluded.subscription
             RETURNING {SUBSCRIBER_COLS}"
        ))
        .bind(key(s.id.0))
        .bind(s.email.to_string())
        .bind(s.language.tag())
        .bind(json(&s.subscription))
        .bind(at(s.confirmed_at))
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
        let stored = subscriber(&row)?;
        append_in_tx(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(Some(stored))
    }

    async fn confirm_invitation(
        &self,
        request: SubscriberId,
        c: &Contact,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<bool> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        let used = sqlx::query("DELETE FROM subscription_requests WHERE id = $1")
            .bind(key(request.0))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        if used.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO contacts (id, tenant_id, email, language, subscription, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (tenant_id, email) DO UPDATE
                SET language = excluded.language, subscription = excluded.subscription",
        )
        .bind(key(c.id.0))
        .bind(key(c.tenant.0))
        .bind(c.email.to_string())
        .bind(c.language.tag())
        .bind(json(&c.subscription))
        .bind(at(c.created_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        append_in_tx(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn get_subscriber(&self, id: SubscriberId) -> StoreResult<Option<Subscriber>> {
        sqlx::query(&format!(
            "SELECT {SUBSCRIBER_COLS} FROM subscribers WHERE id = $1"
        ))
        .bind(key(id.0))
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?
        .as_ref()
        .map(subscriber)
        .transpose()
    }

    async fn find_subscriber(&self, email: &EmailAddress) -> StoreResult<Option<Subscriber>> {
        sqlx::query(&format!(
            "SELECT {SUBSCRIBER_COLS} FROM subscribers WHERE email = $1"
        ))
        .bind(email.to_string())
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?
        .as_ref()
        .map(subscriber)
        .transpose()
    }

    async fn save_subscriber(
        &self,
        s: &Subscriber,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<bool> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        let done =
            sqlx::query("UPDATE subscribers SET language = $1, subscription = $2 WHERE id = $3")
                .bind(s.language.tag())
                .bind(json(&s.subscription))
                .bind(key(s.id.0))
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

    async fn remove_subscriber(
        &self,
        id: SubscriberId,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<bool> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        let done = sqlx::query("DELETE FROM subscribers WHERE id = $1")
            .bind(key(id.0))
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

    async fn list_subscribers(
        &self,
        containing: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Subscriber>> {
        sqlx::query(&format!(
            "SELECT {SUBSCRIBER_COLS} FROM subscribers
             WHERE email > $1 AND email LIKE $2 ESCAPE '\\'
             ORDER BY email LIMIT $3"
        ))
        .bind(after.unwrap_or(""))
        .bind(containing_pattern(containing.unwrap_or("")))
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?
        .iter()
        .map(subscriber)
        .collect()
    }

    async fn purge_subscription_requests(&self, before: OffsetDateTime) -> StoreResult<u64> {
        Ok(
            sqlx::query("DELETE FROM subscription_requests WHERE requested_at < $1")
                .bind(at(before))
                .execute(self.writer())
                .await
                .map_err(db_error)?
                .rows_affected(),
        )
    }
}
