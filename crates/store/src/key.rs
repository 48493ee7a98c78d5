//! Storage key layouts (format 3). Every key starts with a fixed-width number, big-endian so keys
//! sort as the numbers do:
//!
//! - a tenant's number (given when the tenant first has a source, never reused): its log
//!   (`tenant | seq`), its sources (`tenant | source id`), its pending queues
//!   (`tenant | incarnation | n`), so one tenant's data is one contiguous range;
//! - a source's incarnation (given when the source is created, never reused): its state, dedup
//!   index, gaps, object memory and log index (`incarnation | …`).

use crate::StoreError;
use tributary_core::Seq;

/// Width of a number in a key.
pub(crate) const N: usize = 8;

/// `a | b`.
pub(crate) fn pair(a: u64, b: u64) -> [u8; 2 * N] {
    let mut k = [0u8; 2 * N];
    k[..N].copy_from_slice(&a.to_be_bytes());
    k[N..].copy_from_slice(&b.to_be_bytes());
    k
}

/// `a | b | c`.
pub(crate) fn triple(a: u64, b: u64, c: u64) -> [u8; 3 * N] {
    let mut k = [0u8; 3 * N];
    k[..2 * N].copy_from_slice(&pair(a, b));
    k[2 * N..].copy_from_slice(&c.to_be_bytes());
    k
}

/// `n | text`.
pub(crate) fn num_str(n: u64, text: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(N + text.len());
    k.extend_from_slice(&n.to_be_bytes());
    k.extend_from_slice(text.as_bytes());
    k
}

/// The number at `at` (in numbers, not bytes) of a key, if the key is long enough.
pub(crate) fn num_at(key: &[u8], at: usize) -> Option<u64> {
    let bytes: [u8; N] = key.get(at * N..(at + 1) * N)?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// The number at `at` of a key, or a corruption error naming the tree.
pub(crate) fn need_num(key: &[u8], at: usize, tree: &str) -> Result<u64, StoreError> {
    num_at(key, at).ok_or_else(|| StoreError::corrupt(format!("{tree} key"), format!("{key:?}")))
}

/// A log key of `tenant`.
pub(crate) fn log_key(tenant: u64, seq: Seq) -> [u8; 2 * N] {
    pair(tenant, seq.get())
}

/// Decodes a big-endian number stored as a value.
pub(crate) fn u64_value(value: &[u8], what: &str) -> Result<u64, StoreError> {
    let n: [u8; N] = value.try_into().map_err(|_| {
        StoreError::corrupt(what, format!("expected 8 bytes, found {}", value.len()))
    })?;
    Ok(u64::from_be_bytes(n))
}

/// The value of a `by_source` index entry: the entry's ordinal among its incarnation's entries
/// in the log (1 for the first, counting on through retention), so the entries of a source
/// between two positions are counted from two lookups.
pub(crate) fn ordinal(index_key: &[u8], value: &[u8]) -> Result<u64, StoreError> {
    let n: [u8; N] = value.try_into().map_err(|_| {
        StoreError::corrupt(
            "source index entry",
            format!("{index_key:?} has the value {value:?}, not an 8-byte ordinal"),
        )
    })?;
    Ok(u64::from_be_bytes(n))
}

/// What a log value carries before the event's JSON: the incarnation of its source and its
/// `occurred_at` (ms), so reads check the source and retention the age without parsing JSON.
pub(crate) const ENTRY_HEADER: usize = 2 * N;

/// A log value: the header, then the JSON.
pub(crate) fn entry(incarnation: u64, occurred_ms: i64, json: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(ENTRY_HEADER + json.len());
    v.extend_from_slice(&incarnation.to_be_bytes());
    v.extend_from_slice(&occurred_ms.to_be_bytes());
    v.extend_from_slice(json);
    v
}

/// The header of a log value: `(incarnation, occurred_at ms)`.
pub(crate) fn entry_header(value: &[u8]) -> Option<(u64, i64)> {
    let inc = num_at(value, 0)?;
    let ms = num_at(value, 1)? as i64;
    (value.len() >= ENTRY_HEADER).then_some((inc, ms))
}
