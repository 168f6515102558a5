//! Service health: the catalog (services, feature groups, features), the topology
//! (regions, scale units, components) and placement (which components each tenant lives
//! on). Issues, posts and targeting build on these.

/// A closed set of Graph enum members: camelCase on the wire, parsed case-insensitively
/// because Graph clients send both spellings.
macro_rules! wire_enum {
    ($name:ident, $what:literal, [$($variant:ident => $wire:literal),+ $(,)?]) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $wire)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = InvalidValue;
            /// Case-insensitive, as Graph clients send both spellings.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let s = s.trim();
                $name::ALL.iter().copied().find(|v| v.as_str().eq_ignore_ascii_case(s)).ok_or_else(|| {
                    InvalidValue::new(
                        $what,
                        format!(
                            "`{}` is not one of {}",
                            s.chars().take(40).collect::<String>(),
                            $name::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    )
                })
            }
        }
    };
}

pub mod alert;
pub mod availability;
pub mod breaker;
mod catalog;
mod delivery;
mod issue;
pub mod maintenance;
mod message;
mod notify;
mod pir;
pub mod placement_index;
mod scope;
mod status;
pub mod subscriber;

pub use catalog::*;
pub use delivery::*;
pub use issue::*;
pub use message::*;
pub use notify::*;
pub use pir::*;
pub use scope::*;
pub use status::*;
