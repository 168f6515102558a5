use async_trait::async_trait;
use candor_domain::audit::NewAuditRecord;
use candor_domain::health::{Contact, ContactId};
use candor_domain::identity::EmailAddress;
use candor_domain::store::{Conflict, ContactStore, StoreError, StoreResult};
use candor_domain::TenantId;
use sqlx::postgres::PgRow;

use crate::audit::append_in_tx;
use crate::rows::{corrupt, from_json, get, json, parsed};
use crate::{db_error, PostgresStore};

pub(crate) fn contact(row: &PgRow) -> StoreResult<Contact> {
    let email: String = get(row, "email")?;
    Ok(Contact {
        id: ContactId(get(row, "id")?),
        tenant: TenantId(get(row, "tenant_id")?),
        email: EmailAddress::parse(&email).map_err(|e| corrupt("email", e))?,
        language: parsed(row, "language")?,
        subscription: from_json(row, "subscription")?,
        created_at: get(row, "created_at")?,
    })
}

#[async_trait]
impl ContactStore for PostgresStore {
    async fn add_contact(&self, c: &Contact, audit: Vec<NewAuditRecord>) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let done = sqlx::query(
            "INSERT INTO contacts (id, tenant_id, email, language, subscription, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, email) DO NOTHING",
        )
        .bind(c.id.0)
        .bind(c.tenant.0)
        .bind(c.email.to_string())
        .bind(c.language.tag())
        .bind(json(&c.subscription))
        .bind(c.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(Conflict::ContactExists(
                c.email.to_string(),
            )));
        }
        append_in_tx(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn list_contacts(&self, tenant: TenantId) -> StoreResult<Vec<Contact>> {
        sqlx::query(
            "SELECT id, tenant_id, email, language, subscription, created_at FROM contacts
             WHERE tenant_id = $1 ORDER BY email",
        )
        .bind(tenant.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?
        .iter()
        .map(contact)
        .collect()
    }

    async fn delete_contact(
        &self,
        tenant: TenantId,
        id: ContactId,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let done = sqlx::query("DELETE FROM contacts WHERE id = $1 AND tenant_id = $2")
            .bind(id.0)
            .bind(tenant.0)
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
}
