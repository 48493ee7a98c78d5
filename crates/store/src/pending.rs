//! How pending events are stored: one value per ingested page, a *batch* of framed events.
//!
//! Each frame carries what the merge needs beside the event's JSON, so ingest writes one value
//! per page (not one per event) and the merge orders and publishes events without decoding them:
//!
//! ```text
//! frame = occurred_at (i64 ms, BE) | id_end (u32, BE) | len (u32, BE) | event JSON (len bytes)
//! ```
//!
//! The JSON is the event serialized with no `seq` and `late: false`. Serde writes an [`Event`]'s
//! fields in declaration order, so it starts `{"id":<id>` (`id_end` bytes) and ends
//! `"late":false}`; the merge splices `,"seq":N` after the id and flips `false` to `true` for a
//! late event, which yields exactly the bytes serializing the merged event would
//! (`log_json_equals_serializing_the_merged_event` holds it to that).

use crate::StoreError;
use tributary_core::{Event, Seq};

const HEADER: usize = 8 + 4 + 4;
const LATE_FALSE: &[u8] = b"\"late\":false}";

/// One event in a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Frame<'a> {
    pub(crate) occurred_ms: i64,
    id_end: usize,
    pub(crate) json: &'a [u8],
}

/// Appends `event` (its `seq` and `late` ignored) to a batch.
pub(crate) fn push(batch: &mut Vec<u8>, event: &Event) -> Result<(), StoreError> {
    let encode = |source| StoreError::Encode {
        what: "event",
        source,
    };
    let start = batch.len();
    batch.extend_from_slice(&[0; HEADER]);
    if event.seq.is_some() || event.late {
        let mut clean = event.clone();
        clean.seq = None;
        clean.late = false;
        serde_json::to_writer(&mut *batch, &clean).map_err(encode)?;
    } else {
        serde_json::to_writer(&mut *batch, event).map_err(encode)?;
    }
    let json = &batch[start + HEADER..];
    let id_end = b"{\"id\":".len() + serde_json::to_vec(&event.id).map_err(encode)?.len();
    if !json.ends_with(LATE_FALSE) || json.get(id_end) != Some(&b',') {
        return Err(StoreError::corrupt(
            "event encoding",
            "the event JSON does not start with its id or end with late",
        ));
    }
    let len = u32::try_from(json.len()).map_err(|_| StoreError::Invalid {
        what: "event",
        reason: format!("event {:?} is over 4 GiB", event.id.as_str()),
    })?;
    let id_end = u32::try_from(id_end).unwrap_or(u32::MAX);
    let header = &mut batch[start..start + HEADER];
    header[..8].copy_from_slice(&event.occurred_at.timestamp_millis().to_be_bytes());
    header[8..12].copy_from_slice(&id_end.to_be_bytes());
    header[12..].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// Reads the frame at `offset`; returns it and the offset of the next one.
pub(crate) fn frame_at(batch: &[u8], offset: usize) -> Result<(Frame<'_>, usize), StoreError> {
    let corrupt = || {
        StoreError::corrupt(
            "pending batch",
            format!("truncated frame at byte {offset} of {}", batch.len()),
        )
    };
    let header = batch.get(offset..offset + HEADER).ok_or_else(corrupt)?;
    let mut ms = [0u8; 8];
    ms.copy_from_slice(&header[..8]);
    let mut id_end = [0u8; 4];
    id_end.copy_from_slice(&header[8..12]);
    let mut len = [0u8; 4];
    len.copy_from_slice(&header[12..]);
    let (id_end, len) = (
        u32::from_be_bytes(id_end) as usize,
        u32::from_be_bytes(len) as usize,
    );
    let body = offset + HEADER;
    let json = batch.get(body..body + len).ok_or_else(corrupt)?;
    if id_end >= len {
        return Err(corrupt());
    }
    Ok((
        Frame {
            occurred_ms: i64::from_be_bytes(ms),
            id_end,
            json,
        },
        body + len,
    ))
}

/// The number of events in a batch.
pub(crate) fn count(batch: &[u8]) -> Result<u64, StoreError> {
    let (mut n, mut offset) = (0, 0);
    while offset < batch.len() {
        offset = frame_at(batch, offset)?.1;
        n += 1;
    }
    Ok(n)
}

/// The event's JSON as the unified log stores it: with its position, and `late` when it is.
pub(crate) fn log_json(frame: &Frame<'_>, seq: Seq, late: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(frame.json.len() + 24);
    out.extend_from_slice(&frame.json[..frame.id_end]);
    out.extend_from_slice(b",\"seq\":");
    out.extend_from_slice(seq.get().to_string().as_bytes());
    let rest = &frame.json[frame.id_end..];
    if late {
        // `push` checked that the JSON ends with `"late":false}`.
        out.extend_from_slice(&rest[..rest.len() - b"false}".len()]);
        out.extend_from_slice(b"true}");
    } else {
        out.extend_from_slice(rest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use tributary_core::*;

    fn event(id: &str, ms: i64, name: &str) -> Event {
        Event {
            id: EventId::new(id).unwrap(),
            seq: None,
            source: SourceId::new("s").unwrap(),
            provider: "p".into(),
            event_type: EventType::Move,
            occurred_at: chrono::Utc.timestamp_millis_opt(ms).unwrap(),
            observed_at: chrono::Utc.timestamp_millis_opt(ms).unwrap(),
            object: Object::new("o", ObjectKind::Other("x\"y".into()), name),
            previous: Some(Object::new("o", ObjectKind::File, "late\":false}")),
            actor: None,
            upstream: Upstream {
                id: id.into(),
                action: "move".into(),
                raw: Some(serde_json::json!({"late": false})),
            },
            late: false,
        }
    }

    proptest! {
        #[test]
        fn log_json_equals_serializing_the_merged_event(id in "\\PC{1,20}", name in "\\PC{0,20}", ms in -1_000_000_000_000i64..4_000_000_000_000, seq: u64, late: bool) {
            let e = event(&id, ms, &name);
            let mut batch = Vec::new();
            push(&mut batch, &e).unwrap();
            push(&mut batch, &event("second", 1, "b")).unwrap();
            let (frame, next) = frame_at(&batch, 0).unwrap();
            prop_assert_eq!(frame.occurred_ms, ms);
            let mut merged = e.clone();
            merged.seq = Some(Seq(seq));
            merged.late = late;
            prop_assert_eq!(log_json(&frame, Seq(seq), late), serde_json::to_vec(&merged).unwrap());
            let (second, end) = frame_at(&batch, next).unwrap();
            prop_assert_eq!(second.occurred_ms, 1);
            prop_assert_eq!(end, batch.len());
            prop_assert_eq!(count(&batch).unwrap(), 2);
        }
    }

    #[test]
    fn a_stored_seq_or_late_flag_is_dropped() {
        let mut e = event("1", 5, "a");
        e.seq = Some(Seq(9));
        e.late = true;
        let mut batch = Vec::new();
        push(&mut batch, &e).unwrap();
        let (frame, _) = frame_at(&batch, 0).unwrap();
        let back: Event = serde_json::from_slice(frame.json).unwrap();
        assert_eq!((back.seq, back.late), (None, false));
    }

    #[test]
    fn truncated_batches_are_reported() {
        let mut batch = Vec::new();
        push(&mut batch, &event("1", 5, "a")).unwrap();
        batch.pop();
        assert!(matches!(count(&batch), Err(StoreError::Corrupt { .. })));
        assert!(matches!(
            frame_at(&batch[..5], 0),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
