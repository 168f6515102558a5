// Message Center messages, their reach, attachments and viewpoints, on either database.
//
// Written once, compiled twice: `include!`d by `candor-store-sqlite/src/messages.rs` and
// `candor-store-postgres/src/messages.rs`, where `crate::dialect` says how that database
// stores ids (`key`) and times (`at`) and which pool reads and writes. Placeholders are
// `$1`, `$2`, … in order of first use (see `shared/identity.rs`).

use std::collections::BTreeMap;

use crate::dialect::{at, each, key, list, DbConnection, DbRow, Store};
use async_trait::async_trait;
use candor_domain::audit::NewAuditRecord;
use candor_domain::health::{
    Attachment, Audience, ComponentId, Message, MessageId, Viewpoint, ViewpointChange,
};
use candor_domain::store::{Conflict, MessageStore, NewAttachment, Stale, StoreError, StoreResult};
use candor_domain::{TenantId, UserId};
use time::OffsetDateTime;

use crate::audit::append_in_tx;
use crate::db_error;
use crate::rows::{from_json, get, id, json, opt_time, parsed, time};

const MESSAGE_COLS: &str = "id, title, body_html, language, translations, category, severity, services, tags, is_major_change, action_required_by, start_at, end_at, last_modified_at, details, audience, author";

fn message(row: &DbRow) -> StoreResult<Message> {
    Ok(Message {
        id: MessageId::from_trusted(get::<String>(row, "id")?),
        title: get(row, "title")?,
        body_html: get(row, "body_html")?,
        language: parsed(row, "language")?,
        translations: from_json(row, "translations")?,
        category: parsed(row, "category")?,
        severity: parsed(row, "severity")?,
        services: from_json(row, "services")?,
        tags: from_json(row, "tags")?,
        is_major_change: get(row, "is_major_change")?,
        action_required_by: opt_time(row, "action_required_by")?,
        start: time(row, "start_at")?,
        end: opt_time(row, "end_at")?,
        last_modified: time(row, "last_modified_at")?,
        details: from_json(row, "details")?,
        audience: from_json::<Audience>(row, "audience")?,
        attachments: Vec::new(),
        author: get(row, "author")?,
    })
}

fn attachment(row: &DbRow) -> StoreResult<Attachment> {
    Ok(Attachment {
        id: id(row, "id", std::convert::identity)?,
        name: get(row, "name")?,
        content_type: get(row, "content_type")?,
        size: get(row, "size")?,
        last_modified: time(row, "last_modified_at")?,
    })
}

pub(crate) async fn reach(
    conn: &mut DbConnection,
    id: &MessageId,
    covered: &[ComponentId],
    explicit: &[TenantId],
    now: OffsetDateTime,
) -> StoreResult<i64> {
    let done = sqlx::query(&format!(
        "INSERT INTO message_tenants (tenant_id, message_id, since)
         SELECT tenant_id, $1, $2 FROM ({}) AS reached WHERE true
         ON CONFLICT DO NOTHING",
        crate::rows::reached_tenants(3, 4)
    ))
    .bind(id.as_str())
    .bind(at(now))
    .bind(list(covered))
    .bind(list(explicit))
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() as i64)
}

/// Inserts a message's row (its attachments and reach are the caller's).
pub(crate) async fn insert_message(conn: &mut DbConnection, m: &Message) -> StoreResult<()> {
    sqlx::query(&format!(
            "INSERT INTO messages ({MESSAGE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
        ))
        .bind(m.id.as_str())
        .bind(&m.title)
        .bind(&m.body_html)
        .bind(m.language.tag())
        .bind(json(&m.translations))
        .bind(m.category.as_str())
        .bind(m.severity.as_str())
        .bind(json(&m.services))
        .bind(json(&m.tags))
        .bind(m.is_major_change)
        .bind(m.action_required_by.map(at))
        .bind(at(m.start))
        .bind(m.end.map(at))
        .bind(at(m.last_modified))
        .bind(json(&m.details))
        .bind(json(&m.audience))
        .bind(&m.author)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Saves a message's fields if it was still last modified at `expected_last_modified`.
pub(crate) async fn save_message(
    conn: &mut DbConnection,
    m: &Message,
    expected_last_modified: OffsetDateTime,
) -> StoreResult<()> {
    let done = sqlx::query(
            "UPDATE messages SET title = $1, body_html = $2, language = $3, translations = $4, category = $5,
                 severity = $6, services = $7, tags = $8, is_major_change = $9, action_required_by = $10,
                 start_at = $11, end_at = $12, last_modified_at = $13, details = $14, audience = $15
             WHERE id = $16 AND last_modified_at = $17",
        )
        .bind(&m.title)
        .bind(&m.body_html)
        .bind(m.language.tag())
        .bind(json(&m.translations))
        .bind(m.category.as_str())
        .bind(m.severity.as_str())
        .bind(json(&m.services))
        .bind(json(&m.tags))
        .bind(m.is_major_change)
        .bind(m.action_required_by.map(at))
        .bind(at(m.start))
        .bind(m.end.map(at))
        .bind(at(m.last_modified))
        .bind(json(&m.details))
        .bind(json(&m.audience))
        .bind(m.id.as_str())
        .bind(at(expected_last_modified))
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::Conflict(Conflict::Stale(Stale::Message)));
    }
    Ok(())
}

impl Store {
    /// Fills in the attachment descriptions of `messages` in one query.
    async fn with_attachments(&self, mut messages: Vec<Message>) -> StoreResult<Vec<Message>> {
        let ids: Vec<MessageId> = messages.iter().map(|m| m.id.clone()).collect();
        let rows = sqlx::query(&format!(
            "SELECT message_id, id, name, content_type, size, last_modified_at FROM message_attachments
             WHERE message_id IN (SELECT value FROM {}) ORDER BY message_id, name, id",
            each(1)
        ))
        .bind(list(&ids))
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?;
        let mut by_message: BTreeMap<String, Vec<Attachment>> = BTreeMap::new();
        for row in rows {
            by_message
                .entry(get::<String>(&row, "message_id")?)
                .or_default()
                .push(attachment(&row)?);
        }
        for m in &mut messages {
            m.attachments = by_message.remove(m.id.as_str()).unwrap_or_default();
        }
        Ok(messages)
    }
}

#[async_trait]
impl MessageStore for Store {
    async fn create_message(
        &self,
        m: &Message,
        attachments: &[NewAttachment],
        covered: &[ComponentId],
        audit: Vec<NewAuditRecord>,
        jobs: Vec<candor_domain::jobs::NewJob>,
    ) -> StoreResult<i64> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        insert_message(&mut tx, m).await?;
        for a in attachments {
            sqlx::query(
                "INSERT INTO message_attachments (id, message_id, name, content_type, size, last_modified_at, content)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(key(a.meta.id))
            .bind(m.id.as_str())
            .bind(&a.meta.name)
            .bind(&a.meta.content_type)
            .bind(a.meta.size)
            .bind(at(a.meta.last_modified))
            .bind(&a.content)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        let explicit: Vec<TenantId> = m.audience.tenants.iter().copied().collect();
        let reached = reach(&mut tx, &m.id, covered, &explicit, m.last_modified).await?;
        append_in_tx(&mut tx, audit).await?;
        for job in &jobs {
            crate::jobs::insert_job(&mut tx, candor_domain::JobId::generate(), job, job.run_at)
                .await?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(reached)
    }

    async fn update_message(
        &self,
        m: &Message,
        expected_last_modified: OffsetDateTime,
        covered: Option<&[ComponentId]>,
        audit: Vec<NewAuditRecord>,
        jobs: Vec<candor_domain::jobs::NewJob>,
    ) -> StoreResult<i64> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        save_message(&mut tx, m, expected_last_modified).await?;
        let added = match covered {
            Some(covered) => {
                let explicit: Vec<TenantId> = m.audience.tenants.iter().copied().collect();
                reach(&mut tx, &m.id, covered, &explicit, m.last_modified).await?
            }
            None => 0,
        };
        append_in_tx(&mut tx, audit).await?;
        for job in &jobs {
            crate::jobs::insert_job(&mut tx, candor_domain::JobId::generate(), job, job.run_at)
                .await?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(added)
    }

    async fn get_message(&self, id: &MessageId) -> StoreResult<Option<Message>> {
        let Some(row) = sqlx::query(&format!(
            "SELECT {MESSAGE_COLS} FROM messages WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?
        else {
            return Ok(None);
        };
        Ok(self
            .with_attachments(vec![message(&row)?])
            .await?
            .into_iter()
            .next())
    }

    async fn list_messages(&self, limit: u32) -> StoreResult<Vec<Message>> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLS} FROM messages ORDER BY last_modified_at DESC, id LIMIT $1"
        ))
        .bind(i64::from(limit.max(1)))
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?;
        let messages = rows.iter().map(message).collect::<StoreResult<Vec<_>>>()?;
        self.with_attachments(messages).await
    }

    async fn tenant_messages(&self, tenant: TenantId) -> StoreResult<Vec<Message>> {
        let cols = MESSAGE_COLS
            .split(", ")
            .map(|c| format!("m.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = sqlx::query(&format!(
            "SELECT {cols} FROM message_tenants t JOIN messages m ON m.id = t.message_id
             WHERE t.tenant_id = $1 ORDER BY m.last_modified_at DESC, m.id"
        ))
        .bind(key(tenant.0))
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?;
        let messages = rows.iter().map(message).collect::<StoreResult<Vec<_>>>()?;
        self.with_attachments(messages).await
    }

    async fn tenant_has_message(&self, tenant: TenantId, id: &MessageId) -> StoreResult<bool> {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM message_tenants WHERE tenant_id = $1 AND message_id = $2)",
        )
        .bind(key(tenant.0))
        .bind(id.as_str())
        .fetch_one(self.reader())
        .await
        .map_err(db_error)
    }

    async fn message_reach(&self, id: &MessageId) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM message_tenants WHERE message_id = $1")
            .bind(id.as_str())
            .fetch_one(self.reader())
            .await
            .map_err(db_error)
    }

    async fn attachment_content(
        &self,
        message_id: &MessageId,
        attachment_id: uuid::Uuid,
    ) -> StoreResult<Option<(Attachment, Vec<u8>)>> {
        let Some(row) = sqlx::query(
            "SELECT id, name, content_type, size, last_modified_at, content FROM message_attachments
             WHERE message_id = $1 AND id = $2",
        )
        .bind(message_id.as_str())
        .bind(key(attachment_id))
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?
        else {
            return Ok(None);
        };
        Ok(Some((attachment(&row)?, get(&row, "content")?)))
    }

    async fn viewpoints(
        &self,
        user: UserId,
        ids: &[MessageId],
    ) -> StoreResult<BTreeMap<MessageId, Viewpoint>> {
        let rows = sqlx::query(&format!(
            "SELECT message_id, is_read, is_archived, is_favorited FROM message_viewpoints
             WHERE user_id = $1 AND message_id IN (SELECT value FROM {})",
            each(2)
        ))
        .bind(key(user.0))
        .bind(list(ids))
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?;
        let mut out = BTreeMap::new();
        for row in rows {
            out.insert(
                MessageId::from_trusted(get::<String>(&row, "message_id")?),
                Viewpoint {
                    is_read: get(&row, "is_read")?,
                    is_archived: get(&row, "is_archived")?,
                    is_favorited: get(&row, "is_favorited")?,
                },
            );
        }
        Ok(out)
    }

    async fn change_viewpoints(
        &self,
        user: UserId,
        ids: &[MessageId],
        change: ViewpointChange,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        // Only the one flag is written, so concurrent changes to other flags survive.
        let (flag, value) = change.flag();
        let column = format!("is_{flag}");
        sqlx::query(&format!(
            "INSERT INTO message_viewpoints (user_id, message_id, {column}, updated_at)
             SELECT DISTINCT $1, value, $2, $3 FROM {} WHERE true
             ON CONFLICT (user_id, message_id) DO UPDATE SET {column} = excluded.{column},
                 updated_at = excluded.updated_at",
            each(4)
        ))
        .bind(key(user.0))
        .bind(value)
        .bind(at(now))
        .bind(list(ids))
        .execute(self.writer())
        .await
        .map_err(db_error)?;
        Ok(())
    }
}
