//! Reading a time window whole when the upstream promises no order among items with equal
//! timestamps.
//!
//! A list filtered to a window and paged (by offset, page number, cursor or link) can lose an
//! item between two requests: items that tie on the sort key may come back in another order on
//! the next request, and an item edited meanwhile leaves the window and shifts the rest. Nothing
//! in the answers says so. [`read_until_stable`] reads the window in passes (one pass = every
//! page, as the caller reads them) until two passes in a row give the same set of versions,
//! `(id, version)` pairs: then no item was missed by both. A pass that took one request is whole
//! on its own (nothing can move between pages when there is one page). When the passes never
//! agree within the bound, the caller records a gap ([`tributary_core::Gap`]) rather than lose an
//! item silently.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;

/// One pass over a window: its items in the order read, and how many requests it took.
#[derive(Debug, Clone, PartialEq)]
pub struct Pass<T> {
    pub items: Vec<T>,
    pub requests: u32,
}

/// A window read whole: every item once (the copy of the last pass, in its order of first
/// reading), with the passes and requests it took.
#[derive(Debug, Clone, PartialEq)]
pub struct Whole<T> {
    pub items: Vec<T>,
    pub passes: u32,
    pub requests: u32,
}

/// Why a window could not be read whole.
#[derive(Debug, thiserror::Error)]
pub enum WindowError<E, T> {
    #[error(transparent)]
    Upstream(E),
    /// `passes` passes in a row disagreed: items moved while they were paged. `items` holds the
    /// union of what every pass read, for the caller to emit with a gap.
    #[error("the window changed under {passes} passes in a row; some items may be missing")]
    Unstable {
        passes: u32,
        items: Vec<T>,
        requests: u32,
    },
}

/// Reads a window by calling `read_pass` until two passes in a row read the same set of
/// `key(item)` (an id with its version, such as its modification time), at most `max_passes`
/// times (at least 2). A pass of a single request is whole by itself.
pub async fn read_until_stable<T, K, E, F, Fut>(
    max_passes: u32,
    key: impl Fn(&T) -> K,
    mut read_pass: F,
) -> Result<Whole<T>, WindowError<E, T>>
where
    K: Ord + Clone + std::hash::Hash,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Pass<T>, E>>,
{
    let max_passes = max_passes.max(2);
    let mut requests = 0u32;
    let mut previous: Option<BTreeSet<K>> = None;
    // Every item read, by key, in order of first reading: the answer when passes never agree.
    let mut order: Vec<K> = Vec::new();
    let mut union: HashMap<K, T> = HashMap::new();
    for pass_number in 1..=max_passes {
        let pass = read_pass().await.map_err(WindowError::Upstream)?;
        requests = requests.saturating_add(pass.requests);
        let keys: BTreeSet<K> = pass.items.iter().map(&key).collect();
        let single_request = pass.requests <= 1;
        for item in pass.items {
            let k = key(&item);
            if union.insert(k.clone(), item).is_none() {
                order.push(k);
            }
        }
        if single_request || previous.as_ref() == Some(&keys) {
            let items = order
                .into_iter()
                .filter(|k| keys.contains(k))
                .filter_map(|k| union.remove(&k))
                .collect();
            return Ok(Whole {
                items,
                passes: pass_number,
                requests,
            });
        }
        previous = Some(keys);
    }
    Err(WindowError::Unstable {
        passes: max_passes,
        items: order.into_iter().filter_map(|k| union.remove(&k)).collect(),
        requests,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// Passes whose items are given in advance; each pass takes `requests` requests.
    fn passes(
        script: Vec<Vec<(u32, u32)>>,
        requests: u32,
    ) -> impl FnMut() -> std::future::Ready<Result<Pass<(u32, u32)>, String>> {
        let script = RefCell::new(script.into_iter());
        move || {
            let items = script.borrow_mut().next().expect("no more passes scripted");
            std::future::ready(Ok(Pass { items, requests }))
        }
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        // No I/O: every future here is ready at once.
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("a scripted pass is always ready"),
        }
    }

    #[test]
    fn one_request_is_whole_alone() {
        let whole = block_on(read_until_stable(
            3,
            |i| *i,
            passes(vec![vec![(1, 1), (2, 1)]], 1),
        ))
        .unwrap();
        assert_eq!(whole.items, vec![(1, 1), (2, 1)]);
        assert_eq!((whole.passes, whole.requests), (1, 1));
    }

    #[test]
    fn two_agreeing_passes_end_the_read_in_any_order() {
        let script = vec![vec![(1, 1), (2, 1), (3, 1)], vec![(3, 1), (1, 1), (2, 1)]];
        let whole = block_on(read_until_stable(3, |i| *i, passes(script, 2))).unwrap();
        assert_eq!(whole.items, vec![(1, 1), (2, 1), (3, 1)]);
        assert_eq!((whole.passes, whole.requests), (2, 4));
    }

    #[test]
    fn an_item_missed_by_one_pass_is_read_again_until_two_agree() {
        // Pass 2 missed item 2 (ties reordered between its pages); passes 3 and 4 agree.
        let script = vec![
            vec![(1, 1), (2, 1), (3, 1)],
            vec![(1, 1), (3, 1)],
            vec![(1, 1), (2, 1), (3, 1)],
            vec![(2, 1), (1, 1), (3, 1)],
        ];
        let whole = block_on(read_until_stable(5, |i| *i, passes(script, 2))).unwrap();
        assert_eq!(whole.items, vec![(1, 1), (2, 1), (3, 1)]);
        assert_eq!(whole.passes, 4);
    }

    #[test]
    fn a_new_version_is_a_change_and_the_agreeing_copy_is_kept() {
        let script = vec![
            vec![(1, 1), (2, 1)],
            vec![(1, 1), (2, 2)],
            vec![(1, 1), (2, 2)],
        ];
        let whole = block_on(read_until_stable(3, |i| *i, passes(script, 2))).unwrap();
        assert_eq!(whole.items, vec![(1, 1), (2, 2)]);
    }

    #[test]
    fn passes_that_never_agree_are_unstable_with_everything_read() {
        let script = vec![vec![(1, 1)], vec![(2, 1)], vec![(3, 1)]];
        match block_on(read_until_stable(3, |i| *i, passes(script, 2))) {
            Err(WindowError::Unstable {
                passes,
                items,
                requests,
            }) => {
                assert_eq!(passes, 3);
                assert_eq!(items, vec![(1, 1), (2, 1), (3, 1)]);
                assert_eq!(requests, 6);
            }
            other => panic!("expected Unstable, got {other:?}"),
        }
    }

    #[test]
    fn an_upstream_error_ends_the_read() {
        let mut calls = 0;
        let read = || {
            calls += 1;
            std::future::ready(if calls == 1 {
                Ok(Pass {
                    items: vec![1u32],
                    requests: 2,
                })
            } else {
                Err("502")
            })
        };
        assert!(matches!(
            block_on(read_until_stable(3, |i| *i, read)),
            Err(WindowError::Upstream("502"))
        ));
    }
}
