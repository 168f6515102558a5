//! Elevations: operators' time-boxed privileged roles. The statements are written once for both databases and compiled here
//! against this crate's `dialect`.

include!("../../candor-store-common/shared/elevations.rs");
