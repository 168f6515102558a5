// Tenants' notification contacts, on either database.
//
// Written once, compiled twice: `include!`d by `candor-store-sqlite/src/contacts.rs` and
// `candor-store-postgres/src/contacts.rs`, where `crate::dialect` says how that database
// stores ids (`key`) and times (`at`) and which pool reads and writes. Placeholders are
// `$1`, `$2`, … in order of first use (see `shared/identity.rs`).

use crate::dialect::DbRow;
use async_trait::async_trait;
use candor_domain::audit::NewAuditRecord;
use candor_domain::health::{Contact, ContactId};
use candor_domain::identity::EmailAddress;
use candor_domain::store::{Conflict, ContactStore, StoreError, StoreResult};
use candor_domain::TenantId;

use crate::audit::append_in_tx;
use crate::db_error;
use crate::dialect::{at, key, Store};
use crate::rows::{corrupt, from_json, get, id, json, parsed, time};

pub(crate) fn contact(row: &DbRow) -> StoreResult<Contact> {
    let email: String = get(row, "email")?;
    Ok(Contact {
        id: id(row, "id", ContactId)?,
        tenant: id(row, "tenant_id", TenantId)?,
        email: EmailAddress::parse(&email).map_err(|e| corrupt("email", e))?,
        language: parsed(row, "language")?,
        subscription: from_json(row, "subscription")?,
        created_at: time(row, "created_at")?,
    })
}

#[async_trait]
impl ContactStore for Store {
    async fn add_contact(&self, c: &Contact, audit: Vec<NewAuditRecord>) -> StoreResult<()> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        let done = sqlx::query(
            "INSERT INTO contacts (id, tenant_id, email, language, subscription, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, email) DO NOTHING",
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
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(Conflict::ContactExists(
                c.email.to_string(),
            )));
        }
        append_in_tx(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn save_contact(&self, c: &Contact, audit: Vec<NewAuditRecord>) -> StoreResult<bool> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        let done = sqlx::query(
            "UPDATE contacts SET language = $1, subscription = $2 WHERE id = $3 AND tenant_id = $4",
        )
        .bind(c.language.tag())
        .bind(json(&c.subscription))
        .bind(key(c.id.0))
        .bind(key(c.tenant.0))
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

    async fn list_contacts(&self, tenant: TenantId) -> StoreResult<Vec<Contact>> {
        sqlx::query(
            "SELECT id, tenant_id, email, language, subscription, created_at FROM contacts
             WHERE tenant_id = $1 ORDER BY email",
        )
        .bind(key(tenant.0))
        .fetch_all(self.reader())
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
        let mut tx = self.write_tx().await.map_err(db_error)?;
        let done = sqlx::query("DELETE FROM contacts WHERE id = $1 AND tenant_id = $2")
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
}
