// The provider's topology: regions, scale units, components, services, placements, on either database.
//
// Written once, compiled twice: `include!`d by `candor-store-sqlite/src/topology.rs` and
// `candor-store-postgres/src/topology.rs`, where `crate::dialect` says how that database
// stores ids (`key`) and times (`at`) and which pool reads and writes. Placeholders are
// `$1`, `$2`, … in order of first use (see `shared/identity.rs`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::dialect::{at, key, Db, Store, ROWS_PER_INSERT as ROWS};
use async_trait::async_trait;
use candor_domain::audit::NewAuditRecord;
use candor_domain::health::placement_index::PlacementRows;
use candor_domain::health::{
    Component, ComponentId, Feature, IssuePrefix, Region, ScaleUnit, ScaleUnitId, Service,
    ServiceId, TopologyChanges, TopologySummary,
};
use candor_domain::identity::RegionCode;
use candor_domain::store::{StoreResult, TopologyStore};
use candor_domain::TenantId;
use sqlx::QueryBuilder;
use time::OffsetDateTime;

use crate::audit::append_in_tx;
use crate::db_error;
use crate::rows::{get, id};

#[async_trait]
impl TopologyStore for Store {
    async fn apply_topology(
        &self,
        changes: &TopologyChanges,
        now: OffsetDateTime,
        audit: Vec<NewAuditRecord>,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await.map_err(db_error)?;
        let now_us = at(now);
        for chunk in changes.tenants.chunks(ROWS / 2) {
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(
                "INSERT INTO tenants (id, name, home_region, default_language, time_zone, is_demo, created_at) ",
            );
            qb.push_values(chunk, |mut b, t| {
                b.push_bind(key(t.id.0))
                    .push_bind(t.tenant.name.as_str())
                    .push_bind(t.tenant.home_region.as_str())
                    .push_bind(t.tenant.default_language.tag())
                    .push_bind(t.tenant.time_zone.as_str())
                    .push_bind(t.tenant.is_demo)
                    .push_bind(now_us);
            });
            qb.push(" ON CONFLICT (id) DO UPDATE SET name = excluded.name, home_region = excluded.home_region, default_language = excluded.default_language, time_zone = excluded.time_zone");
            qb.build().execute(&mut *tx).await.map_err(db_error)?;
        }
        for chunk in changes.services.chunks(ROWS) {
            let mut qb: QueryBuilder<Db> =
                QueryBuilder::new("INSERT INTO services (id, display_name, issue_prefix) ");
            qb.push_values(chunk, |mut b, s| {
                b.push_bind(s.id.as_str())
                    .push_bind(&s.display_name)
                    .push_bind(s.issue_prefix.as_str());
            });
            qb.push(" ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name, issue_prefix = excluded.issue_prefix");
            qb.build().execute(&mut *tx).await.map_err(db_error)?;
        }
        for s in &changes.services {
            sqlx::query("DELETE FROM service_features WHERE service_id = $1")
                .bind(s.id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            for chunk in s.features.chunks(ROWS) {
                let mut qb: QueryBuilder<Db> = QueryBuilder::new(
                    "INSERT INTO service_features (service_id, feature_group, name) ",
                );
                qb.push_values(chunk, |mut b, f| {
                    b.push_bind(s.id.as_str())
                        .push_bind(&f.feature_group)
                        .push_bind(&f.name);
                });
                qb.push(" ON CONFLICT DO NOTHING");
                qb.build().execute(&mut *tx).await.map_err(db_error)?;
            }
        }
        for chunk in changes.regions.chunks(ROWS) {
            let mut qb: QueryBuilder<Db> =
                QueryBuilder::new("INSERT INTO regions (code, display_name) ");
            qb.push_values(chunk, |mut b, r| {
                b.push_bind(r.code.as_str()).push_bind(&r.display_name);
            });
            qb.push(" ON CONFLICT (code) DO UPDATE SET display_name = excluded.display_name");
            qb.build().execute(&mut *tx).await.map_err(db_error)?;
        }
        for chunk in changes.scale_units.chunks(ROWS) {
            let mut qb: QueryBuilder<Db> =
                QueryBuilder::new("INSERT INTO scale_units (id, region) ");
            qb.push_values(chunk, |mut b, su| {
                b.push_bind(su.id.as_str()).push_bind(su.region.as_str());
            });
            qb.push(" ON CONFLICT (id) DO UPDATE SET region = excluded.region");
            qb.build().execute(&mut *tx).await.map_err(db_error)?;
        }
        for chunk in changes.components.chunks(ROWS) {
            let mut qb: QueryBuilder<Db> =
                QueryBuilder::new("INSERT INTO components (id, scale_unit) ");
            qb.push_values(chunk, |mut b, c| {
                b.push_bind(c.id.as_str()).push_bind(c.scale_unit.as_str());
            });
            qb.push(" ON CONFLICT (id) DO UPDATE SET scale_unit = excluded.scale_unit");
            qb.build().execute(&mut *tx).await.map_err(db_error)?;
        }
        for c in &changes.components {
            sqlx::query("DELETE FROM component_services WHERE component = $1")
                .bind(c.id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        let hosted: Vec<(&ComponentId, &ServiceId)> = changes
            .components
            .iter()
            .flat_map(|c| c.services.iter().map(move |s| (&c.id, s)))
            .collect();
        for chunk in hosted.chunks(ROWS) {
            let mut qb: QueryBuilder<Db> =
                QueryBuilder::new("INSERT INTO component_services (component, service_id) ");
            qb.push_values(chunk, |mut b, (c, s)| {
                b.push_bind(c.as_str()).push_bind(s.as_str());
            });
            qb.build().execute(&mut *tx).await.map_err(db_error)?;
        }
        for chunk in changes.placements.chunks(ROWS) {
            let mut qb: QueryBuilder<Db> =
                QueryBuilder::new("INSERT INTO placements (tenant_id, component) ");
            qb.push_values(chunk, |mut b, p| {
                b.push_bind(key(p.tenant_id.0))
                    .push_bind(p.component.as_str());
            });
            qb.push(" ON CONFLICT DO NOTHING");
            qb.build().execute(&mut *tx).await.map_err(db_error)?;
        }
        append_in_tx(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn topology_summary(&self) -> StoreResult<TopologySummary> {
        let ids = |sql: &'static str| {
            let pool = self.reader().clone();
            async move {
                sqlx::query_scalar::<_, String>(sql)
                    .fetch_all(&pool)
                    .await
                    .map_err(db_error)
            }
        };
        Ok(TopologySummary {
            services: ids("SELECT id FROM services").await?,
            regions: ids("SELECT code FROM regions").await?,
            scale_units: ids("SELECT id FROM scale_units").await?,
            components: ids("SELECT id FROM components").await?,
        })
    }

    async fn list_services(&self) -> StoreResult<Vec<Service>> {
        let services: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT id, display_name, issue_prefix FROM services ORDER BY display_name",
        )
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?;
        let features: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT service_id, feature_group, name FROM service_features ORDER BY service_id, feature_group, name",
        )
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?;
        let mut by_service: BTreeMap<String, Vec<Feature>> = BTreeMap::new();
        for (service, feature_group, name) in features {
            by_service.entry(service).or_default().push(Feature {
                feature_group,
                name,
            });
        }
        Ok(services
            .into_iter()
            .map(|(id, display_name, prefix)| Service {
                features: by_service.remove(&id).unwrap_or_default(),
                id: ServiceId::from_trusted(id),
                display_name,
                issue_prefix: IssuePrefix::from_trusted(prefix),
            })
            .collect())
    }

    async fn list_regions(&self) -> StoreResult<Vec<Region>> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT code, display_name FROM regions ORDER BY code")
                .fetch_all(self.reader())
                .await
                .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|(code, display_name)| Region {
                code: RegionCode::from_trusted(code),
                display_name,
            })
            .collect())
    }

    async fn list_scale_units(&self) -> StoreResult<Vec<ScaleUnit>> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT id, region FROM scale_units ORDER BY id")
                .fetch_all(self.reader())
                .await
                .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|(id, region)| ScaleUnit {
                id: ScaleUnitId::from_trusted(id),
                region: RegionCode::from_trusted(region),
            })
            .collect())
    }

    async fn list_components(&self) -> StoreResult<Vec<Component>> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT id, scale_unit FROM components ORDER BY id")
                .fetch_all(self.reader())
                .await
                .map_err(db_error)?;
        let hosted: Vec<(String, String)> =
            sqlx::query_as("SELECT component, service_id FROM component_services")
                .fetch_all(self.reader())
                .await
                .map_err(db_error)?;
        let mut services: BTreeMap<String, BTreeSet<ServiceId>> = BTreeMap::new();
        for (component, service) in hosted {
            services
                .entry(component)
                .or_default()
                .insert(ServiceId::from_trusted(service));
        }
        Ok(rows
            .into_iter()
            .map(|(id, scale_unit)| Component {
                services: services.remove(&id).unwrap_or_default(),
                id: ComponentId::from_trusted(id),
                scale_unit: ScaleUnitId::from_trusted(scale_unit),
            })
            .collect())
    }

    async fn tenant_placements(&self, tenant: TenantId) -> StoreResult<Vec<ComponentId>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT component FROM placements WHERE tenant_id = $1 ORDER BY component",
        )
        .bind(key(tenant.0))
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?;
        Ok(rows.into_iter().map(ComponentId::from_trusted).collect())
    }

    async fn count_placements(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM placements")
            .fetch_one(self.reader())
            .await
            .map_err(db_error)
    }

    async fn placement_index_rows(&self) -> StoreResult<PlacementRows> {
        use futures::TryStreamExt;
        // On one connection, in one read transaction, so the placements agree with the
        // tenants; streamed, so a million rows never sit in memory as rows.
        let mut tx = self.reader().begin().await.map_err(db_error)?;
        let mut rows = PlacementRows::default();
        let mut regions: HashMap<String, u16> = HashMap::new();
        {
            let mut tenants = sqlx::query("SELECT id, home_region FROM tenants ORDER BY name, id")
                .fetch(&mut *tx);
            while let Some(row) = tenants.try_next().await.map_err(db_error)? {
                let region: String = get(&row, "home_region")?;
                let number = match regions.get(&region) {
                    Some(n) => *n,
                    None => {
                        let n = u16::try_from(rows.regions.len()).unwrap_or(u16::MAX);
                        rows.regions.push(region.clone());
                        regions.insert(region, n);
                        n
                    }
                };
                rows.tenants.push((id(&row, "id", TenantId)?, number));
            }
        }
        let components: Vec<String> = sqlx::query_scalar("SELECT id FROM components ORDER BY id")
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?;
        let numbers: HashMap<&str, u32> = components
            .iter()
            .enumerate()
            .filter_map(|(n, c)| Some((c.as_str(), u32::try_from(n).ok()?)))
            .collect();
        {
            let mut placements =
                sqlx::query("SELECT tenant_id, component FROM placements").fetch(&mut *tx);
            while let Some(row) = placements.try_next().await.map_err(db_error)? {
                let component: String = get(&row, "component")?;
                if let Some(n) = numbers.get(component.as_str()) {
                    rows.placements.push((id(&row, "tenant_id", TenantId)?, *n));
                }
            }
        }
        rows.components = components
            .into_iter()
            .map(ComponentId::from_trusted)
            .collect();
        tx.commit().await.map_err(db_error)?;
        Ok(rows)
    }
}
