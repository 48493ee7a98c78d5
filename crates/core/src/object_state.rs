//! What a provider remembers about the objects it has seen, beside its checkpoint.
//!
//! Some upstreams do not say whether a change is new: Egnyte reports a new file and a new version of
//! it alike as `create`, and Jive has no event stream at all, so a provider must remember which
//! objects it has seen to tell `add` from `update`, `rename` from `move`. That memory can be large
//! (one entry per object), so it does not live in the checkpoint: the engine keeps it per source,
//! the provider reads it through [`ObjectStateRead`], and changes it only by returning
//! [`ObjectChange`]s in its [`Page`](crate::Page), which the store commits in the same transaction
//! as the page's events and checkpoint. A crash therefore never leaves the memory ahead of, or
//! behind, the events.

use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Reading the memory failed (storage trouble).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read the provider's object state: {0}")]
pub struct ObjectStateError(pub String);

/// One change to a source's object memory: set `key` to `value`, or forget it when `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectChange {
    pub key: String,
    pub value: Option<Value>,
}

impl ObjectChange {
    pub fn set(key: impl Into<String>, value: Value) -> Self {
        Self {
            key: key.into(),
            value: Some(value),
        }
    }

    pub fn forget(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: None,
        }
    }
}

/// Read access to one source's committed object memory.
pub trait ObjectStateRead: Send + Sync {
    fn get(&self, key: &str) -> Result<Option<Value>, ObjectStateError>;
}

/// An in-memory object memory: for tests, and for running a provider without a store.
#[derive(Debug, Default)]
pub struct MemoryObjectState {
    entries: Mutex<BTreeMap<String, Value>>,
}

impl MemoryObjectState {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies a committed page's changes, in order.
    pub fn apply(&self, changes: &[ObjectChange]) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        for change in changes {
            match &change.value {
                Some(v) => entries.insert(change.key.clone(), v.clone()),
                None => entries.remove(&change.key),
            };
        }
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ObjectStateRead for MemoryObjectState {
    fn get(&self, key: &str) -> Result<Option<Value>, ObjectStateError> {
        Ok(self
            .entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_changes_in_order() {
        let m = MemoryObjectState::new();
        m.apply(&[
            ObjectChange::set("g1", serde_json::json!({"path": "/a"})),
            ObjectChange::set("g2", serde_json::json!(1)),
            ObjectChange::forget("g2"),
            ObjectChange::set("g1", serde_json::json!({"path": "/b"})),
        ]);
        assert_eq!(
            m.get("g1").unwrap(),
            Some(serde_json::json!({"path": "/b"}))
        );
        assert_eq!(m.get("g2").unwrap(), None);
        assert_eq!(m.len(), 1);
    }
}
