// Service health issues, their posts, reach and post-incident reviews, on either database.
//
// Written once, compiled twice: `include!`d by `candor-store-sqlite/src/issues.rs` and
// `candor-store-postgres/src/issues.rs`, where `crate::dialect` says how that database
// stores ids (`key`) and times (`at`) and which pool reads and writes. Placeholders are
// `$1`, `$2`, … in order of first use (see `shared/identity.rs`).

use std::collections::BTreeMap;

use crate::dialect::{at, each, key, list, Db, DbConnection, DbRow, Store};
use async_trait::async_trait;
use candor_domain::audit::NewAuditRecord;
use candor_domain::health::alert::IssueDraft;
use candor_domain::health::{ComponentId, Issue, IssueId, Pir, Post, Scope, ServiceId};
use candor_domain::language::Language;
use candor_domain::store::{
    Conflict, ImpactPreview, IssueFilter, IssueStore, Stale, StoreError, StoreResult,
};
use candor_domain::TenantId;
use sqlx::QueryBuilder;
use time::{Duration, OffsetDateTime};

use crate::audit::append_in_tx;
use crate::rows::{corrupt, from_json, get, json, opt_id, opt_time, parsed, time};
use crate::{db_error, rows};

const ISSUE_COLS: &str = "id, service_id, classification, origin, feature, feature_group, title, impact_description, status, start_at, end_at, last_modified_at, details, scope, cadence_minutes, next_update_due, owner_operator_id, updates_total, updates_on_time";

const DRAFT_COLS: &str = "id, fingerprint, origin, service_id, classification, title, impact, scope, firing, affected_tenants, notes, link, starts_at, created_at, updated_at, issue_id";

fn draft(row: &DbRow) -> StoreResult<IssueDraft> {
    Ok(IssueDraft {
        id: rows::id(row, "id", candor_domain::DraftId)?,
        fingerprint: get(row, "fingerprint")?,
        origin: get(row, "origin")?,
        service: ServiceId::from_trusted(get::<String>(row, "service_id")?),
        classification: parsed(row, "classification")?,
        title: get(row, "title")?,
        impact_description: get(row, "impact")?,
        scope: from_json(row, "scope")?,
        firing: get(row, "firing")?,
        affected_tenants: get(row, "affected_tenants")?,
        notes: from_json(row, "notes")?,
        link: get(row, "link")?,
        starts_at: time(row, "starts_at")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        issue: get::<Option<String>>(row, "issue_id")?.map(IssueId::from_trusted),
    })
}

fn issue(row: &DbRow) -> StoreResult<Issue> {
    let details: String = get(row, "details")?;
    let scope: String = get(row, "scope")?;
    Ok(Issue {
        id: IssueId::from_trusted(get::<String>(row, "id")?),
        service: ServiceId::from_trusted(get::<String>(row, "service_id")?),
        classification: parsed(row, "classification")?,
        origin: parsed(row, "origin")?,
        feature: get(row, "feature")?,
        feature_group: get(row, "feature_group")?,
        title: get(row, "title")?,
        impact_description: get(row, "impact_description")?,
        status: parsed(row, "status")?,
        start: time(row, "start_at")?,
        end: opt_time(row, "end_at")?,
        last_modified: time(row, "last_modified_at")?,
        details: serde_json::from_str(&details).map_err(|e| corrupt("details", e))?,
        scope: serde_json::from_str::<Scope>(&scope).map_err(|e| corrupt("scope", e))?,
        cadence: Duration::minutes(i64::from(get::<i32>(row, "cadence_minutes")?)),
        next_update_due: opt_time(row, "next_update_due")?,
        owner: opt_id(row, "owner_operator_id", candor_domain::OperatorId)?,
        updates_total: get(row, "updates_total")?,
        updates_on_time: get(row, "updates_on_time")?,
    })
}

fn post(row: &DbRow) -> StoreResult<Post> {
    let translations: String = get(row, "translations")?;
    let translations: BTreeMap<Language, String> =
        serde_json::from_str(&translations).map_err(|e| corrupt("translations", e))?;
    Ok(Post {
        seq: get(row, "seq")?,
        created_at: time(row, "created_at")?,
        post_type: parsed(row, "post_type")?,
        language: parsed(row, "language")?,
        body_html: get(row, "body_html")?,
        translations,
        status: parsed(row, "status")?,
        new_cadence: get::<Option<i32>>(row, "new_cadence_minutes")?
            .map(|m| Duration::minutes(i64::from(m))),
        author: get(row, "author")?,
    })
}

async fn insert_post(conn: &mut DbConnection, id: &IssueId, p: &Post) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO issue_posts (issue_id, seq, created_at, post_type, language, body_html, translations, status, new_cadence_minutes, author)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(id.as_str())
    .bind(p.seq)
    .bind(at(p.created_at))
    .bind(p.post_type.as_str())
    .bind(p.language.tag())
    .bind(&p.body_html)
    .bind(json(&p.translations))
    .bind(p.status.as_str())
    .bind(p.new_cadence.map(|d| d.whole_minutes() as i32))
    .bind(&p.author)
    .execute(&mut *conn)
    .await
    .map_err(|e| match db_error(e) {
        StoreError::Conflict(_) => StoreError::Conflict(Conflict::ConcurrentPost),
        other => other,
    })?;
    Ok(())
}

/// Records `covered` and the named tenants as the issue's reach; returns how many tenants
/// that newly affects. The reach is kept as components, not one row per tenant: a
/// region-wide incident over a million tenants writes a few rows, not hundreds of
/// thousands (see migration 0026).
async fn add_affected(
    conn: &mut DbConnection,
    id: &IssueId,
    covered: &[ComponentId],
    explicit: &[TenantId],
    now: OffsetDateTime,
    new_issue: bool,
) -> StoreResult<i64> {
    let reached = rows::reached_tenants(1, 2);
    let newly: i64 = if new_issue {
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM ({reached}) AS reached"))
            .bind(list(covered))
            .bind(list(explicit))
            .fetch_one(&mut *conn)
            .await
    } else {
        sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM ({reached}) AS reached
             WHERE reached.tenant_id NOT IN ({})",
            rows::affected_by_issue(3, &rows::every)
        ))
        .bind(list(covered))
        .bind(list(explicit))
        .bind(id.as_str())
        .fetch_one(&mut *conn)
        .await
    }
    .map_err(db_error)?;
    sqlx::query(&format!(
        "INSERT INTO issue_components (issue_id, component, since)
         SELECT $1, c.id, $2 FROM components c WHERE c.id IN (SELECT value FROM {})
         ON CONFLICT DO NOTHING",
        each(3)
    ))
    .bind(id.as_str())
    .bind(at(now))
    .bind(list(covered))
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    sqlx::query(&format!(
        "INSERT INTO issue_tenants (tenant_id, issue_id, since)
         SELECT t.id, $1, $2 FROM tenants t WHERE t.id IN (SELECT value FROM {})
         ON CONFLICT DO NOTHING",
        each(3)
    ))
    .bind(id.as_str())
    .bind(at(now))
    .bind(list(explicit))
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(newly)
}

/// Saves an issue's new state if nobody changed it since `expected_last_modified`.
async fn write_issue(
    conn: &mut DbConnection,
    i: &Issue,
    expected_last_modified: OffsetDateTime,
) -> StoreResult<()> {
    let done = sqlx::query(
        "UPDATE issues SET classification = $1, origin = $2, feature = $3, feature_group = $4, title = $5,
             impact_description = $6, status = $7, start_at = $8, end_at = $9, last_modified_at = $10, details = $11,
             scope = $12, cadence_minutes = $13, next_update_due = $14, owner_operator_id = $15, updates_total = $16,
             updates_on_time = $17
         WHERE id = $18 AND last_modified_at = $19",
    )
    .bind(i.classification.as_str())
    .bind(i.origin.as_str())
    .bind(&i.feature)
    .bind(&i.feature_group)
    .bind(&i.title)
    .bind(&i.impact_description)
    .bind(i.status.as_str())
    .bind(at(i.start))
    .bind(i.end.map(at))
    .bind(at(i.last_modified))
    .bind(json(&i.details))
    .bind(json(&i.scope))
    .bind(i.cadence.whole_minutes() as i32)
    .bind(i.next_update_due.map(at))
    .bind(i.owner.map(|o| key(o.0)))
    .bind(i.updates_total)
    .bind(i.updates_on_time)
    .bind(i.id.as_str())
    .bind(at(expected_last_modified))
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::Conflict(Conflict::Stale(Stale::Issue)));
    }
    Ok(())
}

#[async_trait]
impl IssueStore for Store {
    async fn open_draft(&self, fingerprint: &str) -> StoreResult<Option<IssueDraft>> {
        sqlx::query(&format!(
            "SELECT {DRAFT_COLS} FROM issue_drafts WHERE fingerprint = $1 AND issue_id IS NULL"
        ))
        .bind(fingerprint)
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?
        .map(|r| draft(&r))
        .transpose()
    }

    async fn get_draft(&self, id: candor_domain::DraftId) -> StoreResult<Option<IssueDraft>> {
        sqlx::query(&format!(
            "SELECT {DRAFT_COLS} FROM issue_drafts WHERE id = $1"
        ))
        .bind(key(id.0))
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?
        .map(|r| draft(&r))
        .transpose()
    }

    async fn save_draft(&self, d: &IssueDraft, audit: Vec<NewAuditRecord>) -> StoreResult<()> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        sqlx::query(&format!(
            "INSERT INTO issue_drafts ({DRAFT_COLS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
             ON CONFLICT (id) DO UPDATE SET service_id = excluded.service_id,
                 classification = excluded.classification, title = excluded.title,
                 impact = excluded.impact, scope = excluded.scope, firing = excluded.firing,
                 affected_tenants = excluded.affected_tenants, notes = excluded.notes,
                 link = excluded.link, updated_at = excluded.updated_at"
        ))
        .bind(key(d.id.0))
        .bind(&d.fingerprint)
        .bind(&d.origin)
        .bind(d.service.as_str())
        .bind(d.classification.as_str())
        .bind(&d.title)
        .bind(&d.impact_description)
        .bind(json(&d.scope))
        .bind(d.firing)
        .bind(d.affected_tenants)
        .bind(json(&d.notes))
        .bind(&d.link)
        .bind(at(d.starts_at))
        .bind(at(d.created_at))
        .bind(at(d.updated_at))
        .bind(d.issue.as_ref().map(|i| i.to_string()))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        append_in_tx(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn list_drafts(&self, open_only: bool, limit: u32) -> StoreResult<Vec<IssueDraft>> {
        sqlx::query(&format!(
            "SELECT {DRAFT_COLS} FROM issue_drafts WHERE ($1 = 0 OR issue_id IS NULL)
             ORDER BY updated_at DESC, id LIMIT $2"
        ))
        .bind(i64::from(open_only))
        .bind(i64::from(limit.clamp(1, 500)))
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?
        .iter()
        .map(draft)
        .collect()
    }

    async fn draft_published(
        &self,
        id: candor_domain::DraftId,
        issue: &IssueId,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE issue_drafts SET issue_id = $1, updated_at = $2 WHERE id = $3 AND issue_id IS NULL",
        )
        .bind(issue.to_string())
        .bind(at(now))
        .bind(key(id.0))
        .execute(self.writer())
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn next_number(&self, counter: &str, start: i64) -> StoreResult<i64> {
        sqlx::query_scalar(
            "INSERT INTO id_counters (name, value) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET value = id_counters.value + 1 RETURNING value",
        )
        .bind(counter)
        .bind(start)
        .fetch_one(self.writer())
        .await
        .map_err(db_error)
    }

    async fn current_number(&self, counter: &str) -> StoreResult<i64> {
        let value: Option<i64> =
            sqlx::query_scalar("SELECT value FROM id_counters WHERE name = $1")
                .bind(counter)
                .fetch_optional(self.reader())
                .await
                .map_err(db_error)?;
        Ok(value.unwrap_or(0))
    }

    async fn raise_number(&self, counter: &str, value: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO id_counters (name, value) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET value = CASE
                 WHEN excluded.value > id_counters.value THEN excluded.value
                 ELSE id_counters.value END",
        )
        .bind(counter)
        .bind(value)
        .execute(self.writer())
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn create_issue(
        &self,
        i: &Issue,
        first: &Post,
        covered: &[ComponentId],
        audit: Vec<NewAuditRecord>,
        jobs: Vec<candor_domain::jobs::NewJob>,
    ) -> StoreResult<i64> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        sqlx::query(&format!(
            "INSERT INTO issues ({ISSUE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
        ))
        .bind(i.id.as_str())
        .bind(i.service.as_str())
        .bind(i.classification.as_str())
        .bind(i.origin.as_str())
        .bind(&i.feature)
        .bind(&i.feature_group)
        .bind(&i.title)
        .bind(&i.impact_description)
        .bind(i.status.as_str())
        .bind(at(i.start))
        .bind(i.end.map(at))
        .bind(at(i.last_modified))
        .bind(json(&i.details))
        .bind(json(&i.scope))
        .bind(i.cadence.whole_minutes() as i32)
        .bind(i.next_update_due.map(at))
        .bind(i.owner.map(|o| key(o.0)))
        .bind(i.updates_total)
        .bind(i.updates_on_time)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        insert_post(&mut tx, &i.id, first).await?;
        let explicit: Vec<TenantId> = i.scope.tenants.iter().copied().collect();
        let affected =
            add_affected(&mut tx, &i.id, covered, &explicit, i.last_modified, true).await?;
        append_in_tx(&mut tx, audit).await?;
        for job in &jobs {
            crate::jobs::insert_job(&mut tx, candor_domain::JobId::generate(), job, job.run_at)
                .await?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(affected)
    }

    async fn update_issue(
        &self,
        i: &Issue,
        expected_last_modified: OffsetDateTime,
        new_post: Option<&Post>,
        covered: Option<&[ComponentId]>,
        audit: Vec<NewAuditRecord>,
        jobs: Vec<candor_domain::jobs::NewJob>,
    ) -> StoreResult<i64> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        write_issue(&mut tx, i, expected_last_modified).await?;
        if let Some(p) = new_post {
            insert_post(&mut tx, &i.id, p).await?;
        }
        let added = match covered {
            Some(covered) => {
                let explicit: Vec<TenantId> = i.scope.tenants.iter().copied().collect();
                add_affected(&mut tx, &i.id, covered, &explicit, i.last_modified, false).await?
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

    async fn get_issue(&self, id: &IssueId) -> StoreResult<Option<Issue>> {
        sqlx::query(&format!("SELECT {ISSUE_COLS} FROM issues WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(self.reader())
            .await
            .map_err(db_error)?
            .map(|r| issue(&r))
            .transpose()
    }

    async fn list_issues(&self, f: &IssueFilter) -> StoreResult<Vec<Issue>> {
        let mut qb: QueryBuilder<Db> =
            QueryBuilder::new(format!("SELECT {ISSUE_COLS} FROM issues WHERE 1 = 1"));
        if f.active_only {
            qb.push(" AND status NOT IN ('serviceRestored', 'falsePositive', 'postIncidentReviewPublished', 'resolved', 'resolvedExternal', 'mitigated', 'mitigatedExternal')");
        }
        if let Some(since) = f.modified_since {
            qb.push(" AND last_modified_at >= ").push_bind(at(since));
        }
        qb.push(" ORDER BY last_modified_at DESC, id LIMIT ")
            .push_bind(i64::from(f.limit.max(1)));
        qb.build()
            .fetch_all(self.reader())
            .await
            .map_err(db_error)?
            .iter()
            .map(issue)
            .collect()
    }

    async fn issue_posts(&self, id: &IssueId) -> StoreResult<Vec<Post>> {
        sqlx::query(
            "SELECT seq, created_at, post_type, language, body_html, translations, status, new_cadence_minutes, author
             FROM issue_posts WHERE issue_id = $1 ORDER BY seq",
        )
        .bind(id.as_str())
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?
        .iter()
        .map(post)
        .collect()
    }

    async fn posts_of_issues(&self, ids: &[IssueId]) -> StoreResult<BTreeMap<IssueId, Vec<Post>>> {
        let mut out: BTreeMap<IssueId, Vec<Post>> =
            ids.iter().map(|i| (i.clone(), Vec::new())).collect();
        let rows = sqlx::query(&format!(
            "SELECT issue_id, seq, created_at, post_type, language, body_html, translations, status, new_cadence_minutes, author
             FROM issue_posts WHERE issue_id IN (SELECT value FROM {}) ORDER BY issue_id, seq",
            each(1)
        ))
        .bind(list(ids))
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?;
        for row in rows {
            let id = IssueId::from_trusted(get::<String>(&row, "issue_id")?);
            out.entry(id).or_default().push(post(&row)?);
        }
        Ok(out)
    }

    async fn tenant_issues(
        &self,
        tenant: TenantId,
        since: OffsetDateTime,
    ) -> StoreResult<Vec<Issue>> {
        let cols = ISSUE_COLS
            .split(", ")
            .map(|c| format!("i.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        sqlx::query(&format!(
            "SELECT {cols} FROM issues i
             WHERE i.id IN (SELECT issue_id FROM issue_tenants WHERE tenant_id = $1
                 UNION SELECT c.issue_id FROM placements p JOIN issue_components c ON c.component = p.component
                 WHERE p.tenant_id = $1)
             AND (i.last_modified_at >= $2 OR i.next_update_due IS NOT NULL
                 OR i.status NOT IN ('serviceRestored', 'falsePositive', 'postIncidentReviewPublished', 'resolved', 'resolvedExternal', 'mitigated', 'mitigatedExternal'))
             ORDER BY i.last_modified_at DESC"
        ))
        .bind(key(tenant.0))
        .bind(at(since))
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?
        .iter()
        .map(issue)
        .collect()
    }

    async fn tenant_is_affected(&self, tenant: TenantId, id: &IssueId) -> StoreResult<bool> {
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM ({}) AS affected",
            rows::affected_by_issue(1, &|column| format!(" AND {column} = $2"))
        ))
        .bind(id.as_str())
        .bind(key(tenant.0))
        .fetch_one(self.reader())
        .await
        .map_err(db_error)?;
        Ok(n > 0)
    }

    async fn affected_count(&self, id: &IssueId) -> StoreResult<i64> {
        sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM ({}) AS affected",
            rows::affected_by_issue(1, &rows::every)
        ))
        .bind(id.as_str())
        .fetch_one(self.reader())
        .await
        .map_err(db_error)
    }

    async fn preview_impact(
        &self,
        covered: &[ComponentId],
        explicit: &[TenantId],
        limit: u32,
    ) -> StoreResult<ImpactPreview> {
        // Two statements on a reader, however long the lists: each travels as one
        // parameter, and the database builds the reached set from the placements index.
        let components = list(covered);
        let tenants = list(explicit);
        let reached = rows::reached_tenants(1, 2);
        let by_region: Vec<(String, i64)> = sqlx::query_as(&format!(
            "SELECT t.home_region, COUNT(*) FROM ({reached}) a JOIN tenants t ON t.id = a.tenant_id
             GROUP BY t.home_region ORDER BY t.home_region"
        ))
        .bind(&components)
        .bind(&tenants)
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?;
        let tenants = sqlx::query(&format!(
            "SELECT t.id, t.name, t.home_region, t.default_language, t.time_zone, t.is_demo, t.created_at
             FROM tenants t WHERE t.id IN ({reached}) ORDER BY t.name LIMIT $3"
        ))
        .bind(&components)
        .bind(&tenants)
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?
        .iter()
        .map(rows::tenant)
        .collect::<StoreResult<Vec<_>>>()?;
        Ok(ImpactPreview {
            total: by_region.iter().map(|(_, n)| n).sum(),
            by_region,
            tenants,
        })
    }

    async fn overdue_issues(&self, now: OffsetDateTime) -> StoreResult<Vec<Issue>> {
        sqlx::query(&format!(
            "SELECT {ISSUE_COLS} FROM issues WHERE next_update_due IS NOT NULL AND next_update_due < $1 ORDER BY next_update_due"
        ))
        .bind(at(now))
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?
        .iter()
        .map(issue)
        .collect()
    }

    async fn save_pir(&self, pir: &Pir, audit: Vec<NewAuditRecord>) -> StoreResult<()> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        let done = sqlx::query(
            "INSERT INTO pirs (issue_id, user_impact, scope_of_impact, start_at, end_at, root_cause, actions_taken, next_steps, author, updated_at, published_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL)
             ON CONFLICT (issue_id) DO UPDATE SET user_impact = excluded.user_impact, scope_of_impact = excluded.scope_of_impact,
                 start_at = excluded.start_at, end_at = excluded.end_at, root_cause = excluded.root_cause,
                 actions_taken = excluded.actions_taken, next_steps = excluded.next_steps, author = excluded.author,
                 updated_at = excluded.updated_at
             WHERE pirs.published_at IS NULL",
        )
        .bind(pir.issue_id.as_str())
        .bind(&pir.user_impact)
        .bind(&pir.scope_of_impact)
        .bind(at(pir.start))
        .bind(at(pir.end))
        .bind(&pir.root_cause)
        .bind(&pir.actions_taken)
        .bind(&pir.next_steps)
        .bind(&pir.author)
        .bind(at(pir.updated_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(Conflict::ReviewAlreadyPublished));
        }
        append_in_tx(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn get_pir(&self, issue: &IssueId) -> StoreResult<Option<Pir>> {
        let row = sqlx::query(
            "SELECT issue_id, user_impact, scope_of_impact, start_at, end_at, root_cause, actions_taken, next_steps, author, updated_at, published_at
             FROM pirs WHERE issue_id = $1",
        )
        .bind(issue.as_str())
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?;
        row.map(|r| {
            Ok(Pir {
                issue_id: IssueId::from_trusted(get::<String>(&r, "issue_id")?),
                user_impact: get(&r, "user_impact")?,
                scope_of_impact: get(&r, "scope_of_impact")?,
                start: time(&r, "start_at")?,
                end: time(&r, "end_at")?,
                root_cause: get(&r, "root_cause")?,
                actions_taken: get(&r, "actions_taken")?,
                next_steps: get(&r, "next_steps")?,
                author: get(&r, "author")?,
                updated_at: time(&r, "updated_at")?,
                published_at: opt_time(&r, "published_at")?,
            })
        })
        .transpose()
    }

    async fn publish_pir(
        &self,
        pir: &Pir,
        issue: &Issue,
        expected_last_modified: OffsetDateTime,
        audit: Vec<NewAuditRecord>,
        jobs: Vec<candor_domain::jobs::NewJob>,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        write_issue(&mut tx, issue, expected_last_modified).await?;
        let done = sqlx::query("UPDATE pirs SET published_at = $1, updated_at = $2 WHERE issue_id = $3 AND published_at IS NULL")
            .bind(pir.published_at.map(at))
            .bind(at(pir.updated_at))
            .bind(pir.issue_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(Conflict::NoDraftReview));
        }
        append_in_tx(&mut tx, audit).await?;
        for job in &jobs {
            crate::jobs::insert_job(&mut tx, candor_domain::JobId::generate(), job, job.run_at)
                .await?;
        }
        tx.commit().await.map_err(db_error)
    }
}
