//! The live stream (`/v1/events/stream`) over a socket: replay, live events, resumption,
//! filters, keep-alive and shutdown.

use super::*;
use tributary_core::{Cursor, Seq};

/// One server-sent event.
#[derive(Debug, Default)]
pub(super) struct Frame {
    pub(super) id: Option<String>,
    pub(super) event: Option<String>,
    pub(super) data: String,
}

impl Frame {
    pub(super) fn event_id(&self) -> String {
        let json: Value = serde_json::from_str(&self.data).unwrap();
        json["id"].as_str().unwrap().to_owned()
    }
}

/// Reads an SSE body incrementally; every wait is bounded.
struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

impl SseReader {
    async fn open(server: &Listening, query: &str, last_event_id: Option<&str>) -> Self {
        Self::connect(
            &format!("{}/v1/events/stream?{query}", server.url),
            KEY_A,
            last_event_id,
        )
        .await
    }

    /// Opens the stream at `url` (a full `/v1/events/stream` URL) with `key`.
    async fn connect(url: &str, key: &str, last_event_id: Option<&str>) -> Self {
        let mut request = reqwest::Client::new().get(url).bearer_auth(key);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        // The client's overall timeout would cut a long stream: this request has none.
        let response = reqwest::Client::new()
            .execute(request.build().unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event (keep-alive comments skipped); `None` when the stream ends.
    async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.block().await? {
                return Some(frame);
            }
        }
    }

    /// The next block: `Some(Some(event))`, `Some(None)` for a comment, `None` when the stream
    /// ends.
    async fn block(&mut self) -> Option<Option<Frame>> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut frame = Frame::default();
                let mut fields = false;
                for line in block.lines() {
                    let (name, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
                    match name {
                        "id" => frame.id = Some(value),
                        "event" => frame.event = Some(value),
                        "data" => frame.data.push_str(&value),
                        _ => continue,
                    }
                    fields = true;
                }
                if fields {
                    return Some(Some(frame));
                }
                if block.starts_with(':') {
                    return Some(None);
                }
                continue;
            }
            let chunk = tokio::time::timeout(WAIT, self.response.chunk())
                .await
                .expect("the stream sends within the wait")
                .unwrap()?;
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    async fn take(&mut self, n: usize) -> Vec<Frame> {
        let mut frames = Vec::new();
        while frames.len() < n {
            frames.push(self.next().await.expect("the stream goes on"));
        }
        frames
    }
}

#[tokio::test]
async fn the_stream_replays_follows_live_and_resumes_after_last_event_id() {
    let store = fixture().await;
    // No periodic re-read within the test: the live event must come from the notification.
    let api = api_with(
        &store,
        ApiConfig {
            stream_recheck: Duration::from_secs(3600),
            ..ApiConfig::default()
        },
    );
    let server = api.listen().await;
    let mut stream = SseReader::open(&server, "", None).await;
    let replay = stream.take(10).await;
    assert_eq!(
        replay.iter().map(Frame::event_id).collect::<Vec<_>>(),
        a_ids(0..15)
    );
    for frame in &replay {
        assert_eq!(frame.event, None);
        let json: Value = serde_json::from_str(&frame.data).unwrap();
        let seq = Seq(json["seq"].as_u64().unwrap());
        assert_eq!(
            frame.id.as_deref(),
            Some(Cursor::new(store.stream_key("a"), seq).encode().as_str())
        );
    }

    // A merge while the stream waits: b's event (in b's log) is not sent, a's is.
    for (tenant, report) in add_events(&store, [20, 21], 2).await {
        api.state.notify_merged(&tenant, report.last);
    }
    let live = stream.next().await.unwrap();
    assert_eq!(live.event_id(), "e21");
    let json: Value = serde_json::from_str(&live.data).unwrap();
    assert_eq!(json["seq"], 11);

    // Reconnecting with the id of the fourth event resumes right after it; the header wins over
    // the (older) cursor in the URL.
    let fourth = replay[3].id.clone().unwrap();
    let older = Cursor::new(store.stream_key("a"), Seq(0)).encode();
    let mut resumed = SseReader::open(&server, &format!("cursor={older}"), Some(&fourth)).await;
    let frames = resumed.take(7).await;
    let mut expected = a_ids(0..15)[4..].to_vec();
    expected.push("e21".into());
    assert_eq!(
        frames.iter().map(Frame::event_id).collect::<Vec<_>>(),
        expected
    );
    drop(stream);
    drop(resumed);
    server.stop().await;
}

#[tokio::test]
async fn the_stream_applies_filters_and_ends_at_shutdown() {
    let store = fixture().await;
    let api = api_with(
        &store,
        ApiConfig {
            keep_alive: Duration::from_millis(50),
            ..ApiConfig::default()
        },
    );
    let mut server = api.listen().await;
    let start = Cursor::new(store.stream_key("a"), Seq(2)).encode();
    let mut stream =
        SseReader::open(&server, &format!("cursor={start}&type=delete,move"), None).await;
    let frames = stream.take(2).await;
    assert_eq!(
        frames.iter().map(Frame::event_id).collect::<Vec<_>>(),
        ["e4", "e6"]
    );
    // A keep-alive comment arrives while idle (and is skipped by the reader).
    let comment = tokio::time::timeout(WAIT, stream.response.chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(comment.starts_with(b":"), "{comment:?}");

    server.signal();
    assert!(stream.next().await.is_none(), "the stream ends at shutdown");
    server.stop().await;
}
