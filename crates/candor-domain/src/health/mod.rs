//! Service health: the catalog (services, feature groups, features), the topology
//! (regions, scale units, components) and placement (which components each tenant lives
//! on). Issues, posts and targeting build on these.

mod catalog;
mod issue;
mod pir;
mod scope;
mod status;

pub use catalog::*;
pub use issue::*;
pub use pir::*;
pub use scope::*;
pub use status::*;
