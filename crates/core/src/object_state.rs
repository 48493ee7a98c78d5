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

/// The object memory a provider reads while pages it returned are still being committed: the
/// committed memory with those pages' changes on top. The engine fetches a source's next page
/// while the store commits the previous one; without this, the next page would be mapped against
/// memory that does not have the previous page's changes yet (an object first seen there would be
/// taken for new twice).
///
/// The engine [`InFlightObjects::push`]es a page's changes before it starts fetching the next page,
/// and [`InFlightObjects::pop_committed`]s them once the page is committed, or
/// [`InFlightObjects::clear`]s them all when a commit fails (what was fetched after it is then
/// thrown away).
pub struct InFlightObjects {
    committed: std::sync::Arc<dyn ObjectStateRead>,
    /// Each page in flight: its last change of each key.
    pages: Mutex<std::collections::VecDeque<PageChanges>>,
}

type PageChanges = std::collections::HashMap<String, Option<Value>>;

impl InFlightObjects {
    pub fn new(committed: std::sync::Arc<dyn ObjectStateRead>) -> Self {
        Self {
            committed,
            pages: Mutex::default(),
        }
    }

    fn pages(&self) -> std::sync::MutexGuard<'_, std::collections::VecDeque<PageChanges>> {
        self.pages.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A page's changes, from when it was handed to the store until it is committed.
    pub fn push(&self, changes: &[ObjectChange]) {
        let mut last = PageChanges::with_capacity(changes.len());
        for change in changes {
            last.insert(change.key.clone(), change.value.clone());
        }
        self.pages().push_back(last);
    }

    /// Forgets the oldest page pushed: it is committed, so the committed memory has it.
    pub fn pop_committed(&self) {
        self.pages().pop_front();
    }

    /// Forgets every page pushed (a commit failed).
    pub fn clear(&self) {
        self.pages().clear();
    }

    /// Pages pushed and not yet committed.
    pub fn in_flight(&self) -> usize {
        self.pages().len()
    }
}

impl ObjectStateRead for InFlightObjects {
    fn get(&self, key: &str) -> Result<Option<Value>, ObjectStateError> {
        {
            let pages = self.pages();
            if let Some(value) = pages.iter().rev().find_map(|page| page.get(key)) {
                return Ok(value.clone());
            }
        }
        self.committed.get(key)
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

    #[test]
    fn in_flight_pages_are_read_over_the_committed_memory_newest_first() {
        let committed = std::sync::Arc::new(MemoryObjectState::new());
        committed.apply(&[
            ObjectChange::set("a", serde_json::json!("committed")),
            ObjectChange::set("b", serde_json::json!("committed")),
        ]);
        let m = InFlightObjects::new(committed.clone());
        m.push(&[
            ObjectChange::set("a", serde_json::json!("page 1")),
            ObjectChange::set("c", serde_json::json!("page 0")),
            ObjectChange::set("c", serde_json::json!("page 1")),
        ]);
        m.push(&[
            ObjectChange::forget("b"),
            ObjectChange::set("c", serde_json::json!("page 2")),
        ]);
        assert_eq!(m.get("a").unwrap(), Some(serde_json::json!("page 1")));
        assert_eq!(m.get("b").unwrap(), None);
        assert_eq!(m.get("c").unwrap(), Some(serde_json::json!("page 2")));
        assert_eq!(m.get("d").unwrap(), None);
        // Page 1 committed: the store has it, the overlay drops it.
        committed.apply(&[
            ObjectChange::set("a", serde_json::json!("page 1")),
            ObjectChange::set("c", serde_json::json!("page 1")),
        ]);
        m.pop_committed();
        assert_eq!(m.in_flight(), 1);
        assert_eq!(m.get("a").unwrap(), Some(serde_json::json!("page 1")));
        assert_eq!(m.get("c").unwrap(), Some(serde_json::json!("page 2")));
        // A failed commit: nothing in flight any more, the committed memory alone.
        m.clear();
        assert_eq!(m.get("b").unwrap(), Some(serde_json::json!("committed")));
        assert_eq!(m.get("c").unwrap(), Some(serde_json::json!("page 1")));
    }
}
