use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use crate::identity::{InvalidValue, RegionCode};
use crate::TenantId;

macro_rules! code {
    ($(#[$meta:meta])* $name:ident, $field:literal, $example:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Lowercase letters, digits, `-`, `_` and `.`, at most 64 characters.
            pub fn parse(s: &str) -> Result<Self, InvalidValue> {
                let s = s.trim();
                let ok = !s.is_empty()
                    && s.len() <= 64
                    && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
                    && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
                if ok {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(InvalidValue::new(
                        $field,
                        format!(
                            "`{}` is not a valid {} (lowercase letters, digits, '-', '_' or '.', such as {})",
                            s.chars().take(64).collect::<String>(),
                            $field,
                            $example
                        ),
                    ))
                }
            }

            pub fn from_trusted(s: impl Into<String>) -> Self {
                Self(s.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

impl<'de> serde::Deserialize<'de> for ServiceId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

code!(
    /// A scale unit, e.g. `eu-west-su1`.
    ScaleUnitId,
    "scale unit",
    "eu-west-su1"
);
code!(
    /// A component, e.g. one mailbox database `eu-west-su1-mbx01`.
    ComponentId,
    "component",
    "eu-west-su1-mbx01"
);

/// A service's id as Microsoft Graph spells it (`Exchange`, `SharePoint`, `OrgLiveID`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ServiceId(String);

impl ServiceId {
    /// Letters and digits (Graph ids are PascalCase words), at most 64 characters.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let s = s.trim();
        if s.is_empty() || s.len() > 64 || !s.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(InvalidValue::new(
                "service",
                format!(
                    "`{}` is not a service id (letters and digits, such as Exchange or SharePoint)",
                    s.chars().take(64).collect::<String>()
                ),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn from_trusted(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Two uppercase letters that start the ids of a service's issues (`EX` in `EX123456`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct IssuePrefix(String);

impl IssuePrefix {
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let s = s.trim();
        if s.len() != 2 || !s.chars().all(|c| c.is_ascii_uppercase()) || s == "MC" {
            return Err(InvalidValue::new(
                "issue prefix",
                format!("`{s}` is not an issue prefix (two capital letters such as EX; MC is for Message Center)"),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn from_trusted(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A feature of a service, within a feature group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Feature {
    pub feature_group: String,
    pub name: String,
}

/// A service in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub id: ServiceId,
    pub display_name: String,
    pub issue_prefix: IssuePrefix,
    pub features: Vec<Feature>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Region {
    pub code: RegionCode,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleUnit {
    pub id: ScaleUnitId,
    pub region: RegionCode,
}

/// The smallest unit of infrastructure an issue can name; hosts one or more services.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Component {
    pub id: ComponentId,
    pub scale_unit: ScaleUnitId,
    pub services: BTreeSet<ServiceId>,
}

/// A tenant lives on a component.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    pub tenant_id: TenantId,
    pub component: ComponentId,
}

/// A tenant created (or updated) by a bulk import.
#[derive(Debug, Clone)]
pub struct TenantRecord {
    pub id: TenantId,
    pub tenant: crate::identity::NewTenant,
}

/// Catalog and topology changes applied together (create or update by id).
#[derive(Debug, Clone, Default)]
pub struct TopologyChanges {
    pub tenants: Vec<TenantRecord>,
    pub services: Vec<Service>,
    pub regions: Vec<Region>,
    pub scale_units: Vec<ScaleUnit>,
    pub components: Vec<Component>,
    pub placements: Vec<Placement>,
}

impl TopologyChanges {
    pub fn is_empty(&self) -> bool {
        self.tenants.is_empty()
            && self.services.is_empty()
            && self.regions.is_empty()
            && self.scale_units.is_empty()
            && self.components.is_empty()
            && self.placements.is_empty()
    }
}

/// Checks that a set of changes refers only to things that exist in it or in `known`
/// (the current topology), so nothing is written when one reference is wrong.
pub fn check_references(
    changes: &TopologyChanges,
    known: &TopologySummary,
) -> Result<(), InvalidValue> {
    let services: BTreeSet<&str> = known
        .services
        .iter()
        .map(String::as_str)
        .chain(changes.services.iter().map(|s| s.id.as_str()))
        .collect();
    let regions: BTreeSet<&str> = known
        .regions
        .iter()
        .map(String::as_str)
        .chain(changes.regions.iter().map(|r| r.code.as_str()))
        .collect();
    let scale_units: BTreeSet<&str> = known
        .scale_units
        .iter()
        .map(String::as_str)
        .chain(changes.scale_units.iter().map(|s| s.id.as_str()))
        .collect();
    let components: BTreeSet<&str> = known
        .components
        .iter()
        .map(String::as_str)
        .chain(changes.components.iter().map(|c| c.id.as_str()))
        .collect();
    for su in &changes.scale_units {
        if !regions.contains(su.region.as_str()) {
            return Err(InvalidValue::new(
                "scale unit",
                format!("{} names region {}, which does not exist", su.id, su.region),
            ));
        }
    }
    for c in &changes.components {
        if !scale_units.contains(c.scale_unit.as_str()) {
            return Err(InvalidValue::new(
                "component",
                format!(
                    "{} names scale unit {}, which does not exist",
                    c.id, c.scale_unit
                ),
            ));
        }
        if let Some(s) = c.services.iter().find(|s| !services.contains(s.as_str())) {
            return Err(InvalidValue::new(
                "component",
                format!("{} hosts service {s}, which is not in the catalog", c.id),
            ));
        }
    }
    for p in &changes.placements {
        if !components.contains(p.component.as_str()) {
            return Err(InvalidValue::new(
                "placement",
                format!(
                    "tenant {} is placed on component {}, which does not exist",
                    p.tenant_id, p.component
                ),
            ));
        }
    }
    Ok(())
}

/// The ids that exist, for reference checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopologySummary {
    pub services: Vec<String>,
    pub regions: Vec<String>,
    pub scale_units: Vec<String>,
    pub components: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(code: &str) -> Region {
        Region {
            code: RegionCode::parse(code).unwrap(),
            display_name: code.to_uppercase(),
        }
    }

    #[test]
    fn codes_are_checked() {
        assert!(ComponentId::parse("eu-west-su1-mbx01").is_ok());
        assert!(ComponentId::parse("EU West").is_err());
        assert!(ComponentId::parse("-x").is_err());
        assert!(ServiceId::parse("OrgLiveID").is_ok());
        assert!(ServiceId::parse("Exchange Online").is_err());
        assert!(IssuePrefix::parse("EX").is_ok());
        assert!(IssuePrefix::parse("MC").is_err());
        assert!(IssuePrefix::parse("ex").is_err());
    }

    #[test]
    fn dangling_references_are_refused_with_the_culprit_named() {
        let changes = TopologyChanges {
            regions: vec![region("eu-west")],
            scale_units: vec![ScaleUnit {
                id: ScaleUnitId::parse("us-east-su1").unwrap(),
                region: RegionCode::parse("us-east").unwrap(),
            }],
            ..Default::default()
        };
        let err = check_references(&changes, &TopologySummary::default()).unwrap_err();
        assert!(err.problem.contains("us-east"), "{err}");

        let known = TopologySummary {
            regions: vec!["us-east".into()],
            ..Default::default()
        };
        assert!(check_references(&changes, &known).is_ok());

        let placement = TopologyChanges {
            placements: vec![Placement {
                tenant_id: TenantId::generate(),
                component: ComponentId::parse("nowhere").unwrap(),
            }],
            ..Default::default()
        };
        let err = check_references(&placement, &known).unwrap_err();
        assert!(err.problem.contains("nowhere"));
    }
}
