//! The bodies the dispatcher sends. A `full` body splices each event's stored JSON in as it is
//! (no event is parsed or serialized again); a `notify` body names the sources with new events.

use chrono::{DateTime, SecondsFormat, Utc};
use tributary_core::Cursor;
use tributary_store::StoredEvent;

/// `{"type":"events","timestamp":…,"data":{"events":[…],"cursor":…}}`: `cursor` is the
/// tenant's cursor after the last event, what `/v1/events` answers for the same page.
pub fn full(timestamp: DateTime<Utc>, events: &[StoredEvent], cursor: &Cursor) -> Vec<u8> {
    let size: usize = events.iter().map(|e| e.json().len() + 1).sum();
    let mut body = Vec::with_capacity(size + 160);
    body.extend_from_slice(br#"{"type":"events","timestamp":"#);
    push_str(&mut body, &rfc3339(timestamp));
    body.extend_from_slice(br#","data":{"events":["#);
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(event.json());
    }
    body.extend_from_slice(br#"],"cursor":"#);
    push_str(&mut body, &cursor.encode());
    body.extend_from_slice(b"}}");
    body
}

/// `{"type":"events.available","timestamp":…,"data":{"sources":[…],"cursor":…}}`: `cursor` is
/// the tenant's cursor of the last position delivered before these events, so a receiver reading
/// `/v1/events` from it gets exactly what is new.
pub fn notify(timestamp: DateTime<Utc>, sources: &[String], cursor: &Cursor) -> Vec<u8> {
    let value = serde_json::json!({
        "type": "events.available",
        "timestamp": rfc3339(timestamp),
        "data": {"sources": sources, "cursor": cursor.encode()},
    });
    value.to_string().into_bytes()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn push_str(body: &mut Vec<u8>, s: &str) {
    body.extend_from_slice(serde_json::Value::from(s).to_string().as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use tributary_core::Seq;

    #[test]
    fn a_full_body_carries_the_stored_bytes_as_they_are() {
        let at = Utc.with_ymd_and_hms(2026, 12, 5, 9, 0, 0).unwrap();
        let events = vec![
            StoredEvent::new(Seq(3), br#"{"id":"e1",  "seq":3}"#.to_vec()),
            StoredEvent::new(Seq(4), br#"{"id":"e2","seq":4}"#.to_vec()),
        ];
        let cursor = Cursor::new(7, Seq(4));
        let body = full(at, &events, &cursor);
        let text = String::from_utf8(body.clone()).unwrap();
        assert!(
            text.contains(r#"[{"id":"e1",  "seq":3},{"id":"e2","seq":4}]"#),
            "{text}"
        );
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["type"], "events");
        assert_eq!(value["timestamp"], "2026-12-05T09:00:00.000Z");
        assert_eq!(value["data"]["cursor"], cursor.encode());
        assert_eq!(value["data"]["events"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn a_notify_body_names_the_sources_and_the_cursor_to_read_from() {
        let at = Utc.with_ymd_and_hms(2026, 12, 5, 9, 0, 0).unwrap();
        let cursor = Cursor::new(7, Seq(2));
        let body = notify(at, &["a1".into(), "a2".into()], &cursor);
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"type":"events.available","timestamp":"2026-12-05T09:00:00.000Z",
                "data":{"sources":["a1","a2"],"cursor":cursor.encode()}})
        );
    }
}
