//! Storage key layouts. Source ids never contain a NUL byte (see `SourceId`), so
//! `source \0 suffix` keys group by source and sort by suffix.

use crate::StoreError;
use tributary_core::{Seq, SourceId};

pub(crate) const SEP: u8 = 0;

/// `source \0` — the prefix of every per-source key.
pub(crate) fn source_prefix(source: &SourceId) -> Vec<u8> {
    let mut k = Vec::with_capacity(source.as_str().len() + 1);
    k.extend_from_slice(source.as_str().as_bytes());
    k.push(SEP);
    k
}

/// `source \0 n` with `n` big-endian, so keys sort in `n` order within a source.
pub(crate) fn source_u64(source: &SourceId, n: u64) -> Vec<u8> {
    let mut k = source_prefix(source);
    k.extend_from_slice(&n.to_be_bytes());
    k
}

/// `source \0 text`.
pub(crate) fn source_str(source: &SourceId, text: &str) -> Vec<u8> {
    let mut k = source_prefix(source);
    k.extend_from_slice(text.as_bytes());
    k
}

/// The smallest key after every `source \0 ...` key: where the next source's keys start.
pub(crate) fn after_source(source_bytes: &[u8]) -> Vec<u8> {
    let mut k = source_bytes.to_vec();
    k.push(SEP + 1);
    k
}

/// Splits `source \0 n` back into its parts.
pub(crate) fn split_source_u64(key: &[u8]) -> Option<(&[u8], u64)> {
    let at = key.iter().position(|&b| b == SEP)?;
    let (source, rest) = (&key[..at], &key[at + 1..]);
    let n: [u8; 8] = rest.try_into().ok()?;
    Some((source, u64::from_be_bytes(n)))
}

pub(crate) fn seq_key(seq: Seq) -> [u8; 8] {
    seq.to_be_bytes()
}

pub(crate) fn seq_from_key(key: &[u8]) -> Option<Seq> {
    let n: [u8; 8] = key.try_into().ok()?;
    Some(Seq(u64::from_be_bytes(n)))
}

/// The value of a `by_source` index entry: the entry's ordinal among its source's entries in
/// the log (1 for the source's first, counting on through retention), so the entries of a
/// source between two positions are counted from two lookups.
pub(crate) fn ordinal(index_key: &[u8], value: &[u8]) -> Result<u64, StoreError> {
    let n: [u8; 8] = value.try_into().map_err(|_| {
        StoreError::corrupt(
            "source index entry",
            format!("{index_key:?} has the value {value:?}, not an 8-byte ordinal"),
        )
    })?;
    Ok(u64::from_be_bytes(n))
}
