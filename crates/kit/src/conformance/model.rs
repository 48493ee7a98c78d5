//! The engine as the suite plays it: one source's committed state (checkpoint, watermark, object
//! memory, the store's deduplication by id or by position, the stream), and what committing a
//! page checks on the way.

use super::report::{Check, Findings};
use chrono::DateTime;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use tributary_core::{
    Checkpoint, Event, ObjectChange, ObjectStateError, ObjectStateRead, Page, SourceId, Watermark,
};

/// A source's committed object memory, readable by the provider and comparable between runs.
#[derive(Debug, Default)]
pub(crate) struct Memory {
    entries: Mutex<BTreeMap<String, Value>>,
}

impl Memory {
    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Value>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn apply(&self, changes: &[ObjectChange]) {
        let mut entries = self.entries();
        for change in changes {
            match &change.value {
                Some(v) => entries.insert(change.key.clone(), v.clone()),
                None => entries.remove(&change.key),
            };
        }
    }

    pub fn snapshot(&self) -> BTreeMap<String, Value> {
        self.entries().clone()
    }
}

impl ObjectStateRead for Memory {
    fn get(&self, key: &str) -> Result<Option<Value>, ObjectStateError> {
        Ok(self.entries().get(key).cloned())
    }
}

/// The store's deduplication: by position for a source that gives them, else by event id.
#[derive(Debug, Clone, Default)]
pub(crate) struct Dedupe {
    ids: HashSet<String>,
    max_position: Option<u64>,
}

impl Dedupe {
    /// The indices of the page's events the store would take as new.
    pub fn accept(&mut self, page: &Page) -> Vec<usize> {
        let mut accepted = Vec::new();
        match &page.positions {
            Some(positions) => {
                for (i, &p) in positions.iter().enumerate().take(page.events.len()) {
                    if self.max_position.is_none_or(|max| p > max) {
                        accepted.push(i);
                    }
                }
                self.max_position = positions.last().copied().max(self.max_position);
            }
            None => {
                for (i, e) in page.events.iter().enumerate() {
                    if self.ids.insert(e.id.as_str().to_owned()) {
                        accepted.push(i);
                    }
                }
            }
        }
        accepted
    }
}

/// An event with what only the poll's time decides (`observed_at`) and the store's `seq` cleared,
/// for comparing runs.
pub(crate) fn normalized(e: &Event) -> Event {
    let mut e = e.clone();
    e.observed_at = DateTime::UNIX_EPOCH;
    e.seq = None;
    e
}

/// One source's committed state, as the store would hold it after each commit.
pub(crate) struct ModelSource {
    /// `plain` or `crashing`, in messages.
    pub run: &'static str,
    pub source: SourceId,
    pub provider: String,
    pub checkpoint: Option<Checkpoint>,
    pub watermark: Option<Watermark>,
    pub memory: std::sync::Arc<Memory>,
    pub dedupe: Dedupe,
    /// Every event committed so far, by id (for telling a repeat from a loss).
    committed_ids: HashMap<String, Event>,
    /// Whether the source gives positions (set by its first page with events).
    uses_positions: Option<bool>,
    /// The events the store took, in commit order.
    pub stream: Vec<Event>,
    pub pages: usize,
}

impl ModelSource {
    pub fn new(run: &'static str, source: SourceId, provider: &str) -> Self {
        Self {
            run,
            source,
            provider: provider.to_owned(),
            checkpoint: None,
            watermark: None,
            memory: std::sync::Arc::default(),
            dedupe: Dedupe::default(),
            committed_ids: HashMap::new(),
            uses_positions: None,
            stream: Vec::new(),
            pages: 0,
        }
    }

    /// Commits `page` as the store does (all of it), checking what the contract promises of it;
    /// answers how many events were new.
    pub fn commit(&mut self, page: &Page, findings: &mut Findings) -> usize {
        self.pages += 1;
        let at = format!("{} run, page {}", self.run, self.pages);
        self.check_names(page, &at, findings);
        self.check_positions(page, &at, findings);
        self.check_ids(page, &at, findings);
        self.check_watermark(page, &at, findings);

        let accepted = self.dedupe.accept(page);
        for &i in &accepted {
            let event = &page.events[i];
            self.committed_ids
                .insert(event.id.as_str().to_owned(), event.clone());
            self.stream.push(event.clone());
        }
        self.memory.apply(&page.objects);
        self.checkpoint = Some(page.checkpoint.clone());
        self.watermark = match (self.watermark, page.watermark) {
            (Some(old), Some(new)) => Some(old.max(new)),
            (old, new) => new.or(old),
        };
        accepted.len()
    }

    fn check_names(&self, page: &Page, at: &str, findings: &mut Findings) {
        for e in &page.events {
            if e.source != self.source {
                findings.fail(
                    Check::EventsNameTheirSource,
                    format!(
                        "{at}: event {} names source {:?}, built for {:?} (the store refuses the page)",
                        e.id, e.source, self.source
                    ),
                );
            }
            if e.provider != self.provider {
                findings.fail(
                    Check::EventsNameTheirSource,
                    format!(
                        "{at}: event {} names provider {:?}, the factory is {:?}",
                        e.id, e.provider, self.provider
                    ),
                );
            }
        }
    }

    fn check_positions(&mut self, page: &Page, at: &str, findings: &mut Findings) {
        let fail = |findings: &mut Findings, m: String| findings.fail(Check::PositionsIncrease, m);
        let gives = page.positions.is_some();
        if !page.events.is_empty() || gives {
            match self.uses_positions {
                Some(before) if before != gives => fail(
                    findings,
                    format!(
                        "{at}: positions {} on this page but {} on earlier ones (a source gives them on every page or none)",
                        if gives { "given" } else { "absent" },
                        if before { "given" } else { "absent" },
                    ),
                ),
                _ => self.uses_positions = Some(gives),
            }
        }
        let Some(positions) = &page.positions else {
            return;
        };
        if positions.len() != page.events.len() {
            fail(
                findings,
                format!(
                    "{at}: {} positions for {} events (the store refuses the page)",
                    positions.len(),
                    page.events.len()
                ),
            );
            return;
        }
        if let Some(w) = positions.windows(2).find(|w| w[0] >= w[1]) {
            fail(
                findings,
                format!(
                    "{at}: positions must strictly increase within a page, found {} then {} (the store refuses the page)",
                    w[0], w[1]
                ),
            );
        }
        for (e, &p) in page.events.iter().zip(positions) {
            let known = self.committed_ids.contains_key(e.id.as_str());
            let at_or_below = self.dedupe.max_position.is_some_and(|max| p <= max);
            if at_or_below && !known {
                fail(
                    findings,
                    format!(
                        "{at}: new event {} at position {p}, at or below the highest committed position {}: the store drops it as a repeat (lost)",
                        e.id,
                        self.dedupe.max_position.unwrap_or_default()
                    ),
                );
            } else if known && !at_or_below {
                fail(
                    findings,
                    format!(
                        "{at}: event {} was committed before but comes again at a new position {p}: the store keeps it twice",
                        e.id
                    ),
                );
            }
        }
    }

    fn check_ids(&self, page: &Page, at: &str, findings: &mut Findings) {
        let mut in_page: HashMap<&str, &Event> = HashMap::new();
        for e in &page.events {
            let earlier = in_page
                .insert(e.id.as_str(), e)
                .map(|first| (first, "earlier on the same page"))
                .or_else(|| {
                    self.committed_ids
                        .get(e.id.as_str())
                        .map(|first| (first, "on a committed page"))
                });
            if let Some((first, where_)) = earlier {
                let lost = if normalized(first) == normalized(e) {
                    "the same event again"
                } else {
                    "a different event: the store absorbs it, so it is lost"
                };
                findings.fail(
                    Check::IdsUnique,
                    format!("{at}: event id {} was given {where_}; this is {lost}", e.id),
                );
            }
        }
    }

    fn check_watermark(&self, page: &Page, at: &str, findings: &mut Findings) {
        let Some(committed) = self.watermark else {
            return;
        };
        if let Some(w) = page.watermark
            && w < committed
        {
            findings.fail(
                Check::WatermarkHolds,
                format!(
                    "{at}: watermark {} is before the committed {}: a watermark never moves back",
                    w.time(),
                    committed.time()
                ),
            );
        }
        for e in &page.events {
            if e.occurred_at < committed.time() && !self.committed_ids.contains_key(e.id.as_str()) {
                findings.fail(
                    Check::WatermarkHolds,
                    format!(
                        "{at}: event {} occurred at {}, before the committed watermark {}: it is merged late",
                        e.id,
                        e.occurred_at,
                        committed.time()
                    ),
                );
            }
        }
    }
}
