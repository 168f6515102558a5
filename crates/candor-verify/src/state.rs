//! What a tenant remembers between checks: the last verified checkpoint of each log
//! (origin, size, root). A JSON file the tenant keeps; a newer checkpoint must be
//! consistent with it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{unb64, Failure, TreeHead};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Seen {
    pub size: u64,
    /// Base64 root hash.
    pub root: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct State {
    /// By log origin.
    pub logs: BTreeMap<String, Seen>,
}

impl State {
    pub fn parse(text: &str) -> Result<State, Failure> {
        serde_json::from_str(text)
            .map_err(|e| Failure::Malformed(format!("the state file is not Candor's: {e}")))
    }

    pub fn to_text(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// The last checkpoint seen of `origin`, if any.
    pub fn last(&self, origin: &str) -> Result<Option<TreeHead>, Failure> {
        match self.logs.get(origin) {
            None => Ok(None),
            Some(seen) => Ok(Some(TreeHead {
                origin: origin.to_owned(),
                size: seen.size,
                root: unb64(&seen.root)?,
            })),
        }
    }

    pub fn remember(&mut self, head: &TreeHead) {
        self.logs.insert(
            head.origin.clone(),
            Seen {
                size: head.size,
                root: head.root_b64(),
            },
        );
    }
}
