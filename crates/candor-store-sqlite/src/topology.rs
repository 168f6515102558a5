//! The provider's topology: regions, scale units, components, services, placements. The statements are written once for both databases and compiled here
//! against this crate's `dialect`.

include!("../../candor-store-common/shared/topology.rs");
