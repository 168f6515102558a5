//! Topology files: the catalog, topology and placements in bulk, from JSON or CSV, as
//! read by `candor topology import FILE`, the operator API and the console. Everything is parsed and checked first, every bad line is reported with its
//! number, and only a file without errors is applied, in one transaction.

use std::collections::{BTreeMap, BTreeSet};

use candor_domain::health::{
    Component, ComponentId, Feature, IssuePrefix, Placement, Region, ScaleUnit, ScaleUnitId,
    Service, ServiceId, TopologyChanges,
};
use candor_domain::identity::{InvalidValue, RegionCode};
use candor_domain::TenantId;
use serde::Deserialize;

/// At most this many problems are listed; a file with more is clearly the wrong file.
pub const MAX_REPORTED: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Line (CSV) or item (JSON) where it is.
    pub at: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsonFile {
    #[serde(default)]
    tenants: Vec<JsonTenant>,
    #[serde(default)]
    services: Vec<JsonService>,
    #[serde(default)]
    regions: Vec<JsonRegion>,
    #[serde(default)]
    scale_units: Vec<JsonScaleUnit>,
    #[serde(default)]
    components: Vec<JsonComponent>,
    #[serde(default)]
    placements: Vec<JsonPlacement>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsonTenant {
    id: String,
    name: String,
    home_region: String,
    #[serde(default)]
    default_language: Option<String>,
    #[serde(default)]
    time_zone: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsonService {
    id: String,
    display_name: String,
    issue_prefix: String,
    #[serde(default)]
    features: Vec<JsonFeature>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsonFeature {
    feature_group: String,
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsonRegion {
    code: String,
    display_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsonScaleUnit {
    id: String,
    region: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsonComponent {
    id: String,
    scale_unit: String,
    services: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsonPlacement {
    tenant: String,
    component: String,
}

/// Collects parsed items and problems side by side.
#[derive(Default)]
struct Collector {
    changes: TopologyChanges,
    problems: Vec<Problem>,
    features: BTreeMap<String, Vec<Feature>>,
}

impl Collector {
    fn problem(&mut self, at: impl Into<String>, message: impl Into<String>) {
        if self.problems.len() < MAX_REPORTED {
            self.problems.push(Problem {
                at: at.into(),
                message: message.into(),
            });
        }
    }

    fn check<T>(&mut self, at: &str, r: Result<T, InvalidValue>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.problem(at, e.to_string());
                None
            }
        }
    }

    fn text(&mut self, at: &str, field: &str, s: &str) -> Option<String> {
        let s = s.trim();
        if s.is_empty() {
            self.problem(at, format!("{field} is empty"));
            None
        } else if s.chars().count() > 200 {
            self.problem(at, format!("{field} is longer than 200 characters"));
            None
        } else {
            Some(s.to_owned())
        }
    }

    fn tenant(&mut self, at: &str, id: &str, name: &str, region: &str, language: &str, zone: &str) {
        let id = match id.trim().parse::<TenantId>() {
            Ok(t) => Some(t),
            Err(e) => {
                self.problem(at, e.to_string());
                None
            }
        };
        let name = self.check(at, candor_domain::identity::TenantName::parse(name));
        let region = self.check(at, RegionCode::parse(region));
        let language = match language.trim() {
            "" => Some(candor_domain::language::Language::English),
            l => match l.parse() {
                Ok(l) => Some(l),
                Err(e) => {
                    self.problem(at, format!("{e}"));
                    None
                }
            },
        };
        let zone = match zone.trim() {
            "" => Some(candor_domain::identity::TimeZoneName::utc()),
            z => self.check(at, candor_domain::identity::TimeZoneName::parse(z)),
        };
        if let (Some(id), Some(name), Some(home_region), Some(default_language), Some(time_zone)) =
            (id, name, region, language, zone)
        {
            self.changes
                .tenants
                .push(candor_domain::health::TenantRecord {
                    id,
                    tenant: candor_domain::identity::NewTenant {
                        name,
                        home_region,
                        default_language,
                        time_zone,
                        is_demo: false,
                    },
                });
        }
    }

    fn service(&mut self, at: &str, id: &str, name: &str, prefix: &str, features: Vec<Feature>) {
        let id = self.check(at, ServiceId::parse(id));
        let name = self.text(at, "display name", name);
        let prefix = self.check(at, IssuePrefix::parse(prefix));
        if let (Some(id), Some(display_name), Some(issue_prefix)) = (id, name, prefix) {
            self.changes.services.push(Service {
                id,
                display_name,
                issue_prefix,
                features,
            });
        }
    }

    fn region(&mut self, at: &str, code: &str, name: &str) {
        let code = self.check(at, RegionCode::parse(code));
        let name = self.text(at, "display name", name);
        if let (Some(code), Some(display_name)) = (code, name) {
            self.changes.regions.push(Region { code, display_name });
        }
    }

    fn scale_unit(&mut self, at: &str, id: &str, region: &str) {
        let id = self.check(at, ScaleUnitId::parse(id));
        let region = self.check(at, RegionCode::parse(region));
        if let (Some(id), Some(region)) = (id, region) {
            self.changes.scale_units.push(ScaleUnit { id, region });
        }
    }

    fn component(&mut self, at: &str, id: &str, scale_unit: &str, services: &[String]) {
        let id = self.check(at, ComponentId::parse(id));
        let su = self.check(at, ScaleUnitId::parse(scale_unit));
        let mut hosted = BTreeSet::new();
        for s in services {
            if let Some(s) = self.check(at, ServiceId::parse(s)) {
                hosted.insert(s);
            }
        }
        if hosted.is_empty() {
            self.problem(at, "a component must host at least one service");
            return;
        }
        if let (Some(id), Some(scale_unit)) = (id, su) {
            self.changes.components.push(Component {
                id,
                scale_unit,
                services: hosted,
            });
        }
    }

    fn placement(&mut self, at: &str, tenant: &str, component: &str) {
        let tenant = match tenant.trim().parse::<TenantId>() {
            Ok(t) => Some(t),
            Err(e) => {
                self.problem(at, e.to_string());
                None
            }
        };
        let component = self.check(at, ComponentId::parse(component));
        if let (Some(tenant_id), Some(component)) = (tenant, component) {
            self.changes.placements.push(Placement {
                tenant_id,
                component,
            });
        }
    }
}

fn parse_json(text: &str) -> Result<Collector, Vec<Problem>> {
    let file: JsonFile = serde_json::from_str(text).map_err(|e| {
        vec![Problem {
            at: format!("line {}, column {}", e.line(), e.column()),
            message: e.to_string(),
        }]
    })?;
    let mut c = Collector::default();
    for (i, t) in file.tenants.iter().enumerate() {
        c.tenant(
            &format!("tenants[{i}]"),
            &t.id,
            &t.name,
            &t.home_region,
            t.default_language.as_deref().unwrap_or(""),
            t.time_zone.as_deref().unwrap_or(""),
        );
    }
    for (i, s) in file.services.iter().enumerate() {
        let features = s
            .features
            .iter()
            .map(|f| Feature {
                feature_group: f.feature_group.clone(),
                name: f.name.clone(),
            })
            .collect();
        c.service(
            &format!("services[{i}]"),
            &s.id,
            &s.display_name,
            &s.issue_prefix,
            features,
        );
    }
    for (i, r) in file.regions.iter().enumerate() {
        c.region(&format!("regions[{i}]"), &r.code, &r.display_name);
    }
    for (i, s) in file.scale_units.iter().enumerate() {
        c.scale_unit(&format!("scaleUnits[{i}]"), &s.id, &s.region);
    }
    for (i, comp) in file.components.iter().enumerate() {
        c.component(
            &format!("components[{i}]"),
            &comp.id,
            &comp.scale_unit,
            &comp.services,
        );
    }
    for (i, p) in file.placements.iter().enumerate() {
        c.placement(&format!("placements[{i}]"), &p.tenant, &p.component);
    }
    Ok(c)
}

/// CSV: a header `kind,id,name,parent,services`, then one row per item:
/// `region,eu-west,Europe West,,` · `scale_unit,eu-west-su1,,eu-west,` ·
/// `component,eu-west-su1-mbx01,,eu-west-su1,Exchange` (services space-separated) ·
/// `tenant,<id>,Contoso,eu-west,,nl,Europe/Amsterdam` (with the optional header columns
/// `language,time_zone`) ·
/// `service,Exchange,Exchange Online,EX,` · `feature,Exchange,Sign-in,E-Mail and calendar access,`
/// (service, feature, feature group) · `placement,<tenant id>,,eu-west-su1-mbx01,`.
fn parse_csv(text: &str, mut progress: impl FnMut(usize)) -> Result<Collector, Vec<Problem>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| {
            vec![Problem {
                at: "line 1".into(),
                message: e.to_string(),
            }]
        })?
        .clone();
    let expected = [
        "kind",
        "id",
        "name",
        "parent",
        "services",
        "language",
        "time_zone",
    ];
    let got: Vec<String> = headers.iter().map(|h| h.to_ascii_lowercase()).collect();
    if got.len() < 5 || got.len() > expected.len() || got[..] != expected[..got.len()] {
        return Err(vec![Problem {
            at: "line 1".into(),
            message: format!(
                "the header must be `{}` (the last two only for tenant rows)",
                expected.join(",")
            ),
        }]);
    }
    let mut c = Collector::default();
    for (n, row) in reader.records().enumerate() {
        let line = n + 2;
        let at = format!("line {line}");
        if line % 100_000 == 0 {
            progress(line);
        }
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                c.problem(&at, e.to_string());
                continue;
            }
        };
        let field = |i: usize| row.get(i).unwrap_or("").to_owned();
        match field(0).to_ascii_lowercase().as_str() {
            "region" => c.region(&at, &field(1), &field(2)),
            "scale_unit" | "scaleunit" => c.scale_unit(&at, &field(1), &field(3)),
            "component" => {
                let services: Vec<String> = field(4).split_whitespace().map(str::to_owned).collect();
                c.component(&at, &field(1), &field(3), &services);
            }
            "service" => c.service(&at, &field(1), &field(2), &field(3), Vec::new()),
            "feature" => {
                let (service, name, group) = (field(1), field(2), field(3));
                if name.is_empty() || group.is_empty() {
                    c.problem(&at, "a feature needs a name and a feature group");
                } else {
                    c.features.entry(service).or_default().push(Feature { feature_group: group, name });
                }
            }
            "placement" => c.placement(&at, &field(1), &field(3)),
            "tenant" => c.tenant(&at, &field(1), &field(2), &field(3), &field(5), &field(6)),
            "" => c.problem(&at, "the kind is empty"),
            other => c.problem(&at, format!("`{}` is not a kind (region, scale_unit, component, service, feature, placement)", other.chars().take(30).collect::<String>())),
        }
    }
    let features = std::mem::take(&mut c.features);
    for (service, list) in features {
        match c
            .changes
            .services
            .iter_mut()
            .find(|s| s.id.as_str() == service)
        {
            Some(s) => s.features.extend(list),
            None => c.problem(
                "features",
                format!("features name service {service}, which the file does not define"),
            ),
        }
    }
    Ok(c)
}

/// Parses a file (JSON when it starts with `{` or is named *.json, CSV otherwise).
pub fn parse(
    name: &str,
    text: &str,
    progress: impl FnMut(usize),
) -> Result<TopologyChanges, Vec<Problem>> {
    let json = name.to_ascii_lowercase().ends_with(".json") || text.trim_start().starts_with('{');
    let c = if json {
        parse_json(text)?
    } else {
        parse_csv(text, progress)?
    };
    if !c.problems.is_empty() {
        return Err(c.problems);
    }
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut dupes = Vec::new();
    for id in c
        .changes
        .components
        .iter()
        .map(|x| format!("component {}", x.id))
        .chain(
            c.changes
                .scale_units
                .iter()
                .map(|x| format!("scale unit {}", x.id)),
        )
    {
        if !seen.insert(id.clone()) && dupes.len() < MAX_REPORTED {
            dupes.push(Problem {
                at: "file".into(),
                message: format!("{id} is defined twice"),
            });
        }
    }
    if !dupes.is_empty() {
        return Err(dupes);
    }
    Ok(c.changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_become_topology() {
        let text = "kind,id,name,parent,services\nservice,Exchange,Exchange Online,EX,\nfeature,Exchange,Sign-in,Access,\nregion,eu-west,Europe West,,\nscale_unit,eu-west-su1,,eu-west,\ncomponent,eu-west-su1-mbx01,,eu-west-su1,Exchange\n";
        let c = parse("t.csv", text, |_| {}).unwrap();
        assert_eq!(c.services[0].features.len(), 1);
        assert_eq!(c.components[0].services.len(), 1);
    }

    #[test]
    fn tenant_rows_create_tenants() {
        let text = "kind,id,name,parent,services,language,time_zone\ntenant,0190f7a4-8b1c-7c3e-9d2a-1f2e3d4c5b6a,Contoso,eu-west,,nl,Europe/Amsterdam\ntenant,0190f7a4-8b1c-7c3e-9d2a-1f2e3d4c5b6b,Fabrikam,eu-west,,xx,Mars/Base\n";
        let problems = parse("t.csv", text, |_| {}).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().all(|p| p.at == "line 3"));
        let ok = "kind,id,name,parent,services,language,time_zone\ntenant,0190f7a4-8b1c-7c3e-9d2a-1f2e3d4c5b6a,Contoso,eu-west,,nl,Europe/Amsterdam\n";
        assert_eq!(parse("t.csv", ok, |_| {}).unwrap().tenants.len(), 1);
    }

    #[test]
    fn every_bad_line_is_reported_with_its_number() {
        let text = "kind,id,name,parent,services\nregion,EU West,Europe,,\nscale_unit,eu-west-su1,,eu-west,\ncomponent,c1,,eu-west-su1,\nplacement,not-a-uuid,,c1,\nwidget,x,,,\n";
        let problems = parse("t.csv", text, |_| {}).unwrap_err();
        let at: Vec<&str> = problems.iter().map(|p| p.at.as_str()).collect();
        assert_eq!(at, ["line 2", "line 4", "line 5", "line 6"]);
        assert!(problems[0].message.contains("EU West"));
    }

    #[test]
    fn json_problems_name_the_item() {
        let text = r#"{"regions":[{"code":"eu-west","displayName":"Europe"}],"scaleUnits":[{"id":"Bad Id","region":"eu-west"}]}"#;
        let problems = parse("t.json", text, |_| {}).unwrap_err();
        assert_eq!(problems[0].at, "scaleUnits[0]");
        let problems = parse("t.json", "{\"regions\": [", |_| {}).unwrap_err();
        assert!(problems[0].at.starts_with("line 1"));
        let problems = parse("t.json", r#"{"zones":[]}"#, |_| {}).unwrap_err();
        assert!(problems[0].message.contains("zones"));
    }
}
