//! `tributary events tail`: the unified stream read over the HTTP API, one line per event.
//!
//! Without `--follow` it pages `GET /v1/events` from the cursor (default: the oldest retained
//! event) until nothing remains. With `--follow` it then stays on `GET /v1/events/stream`
//! (server-sent events), resuming with `Last-Event-ID` after a dropped connection.

use serde::Deserialize;
use std::time::Duration;
use tributary_core::Event;

#[derive(Debug, clap::Args)]
pub struct TailArgs {
    /// The API's base URL (the `api` line `serve` and `demo` print).
    #[arg(long, env = "TRIBUTARY_API")]
    pub api: String,
    /// An API key.
    #[arg(long, env = "TRIBUTARY_API_KEY")]
    pub key: String,
    /// Start after this cursor (default: the oldest retained event).
    #[arg(long)]
    pub cursor: Option<String>,
    /// Keep following the live stream.
    #[arg(long)]
    pub follow: bool,
    /// Only these sources (repeat or comma-separate).
    #[arg(long)]
    pub source: Vec<String>,
}

#[derive(Debug, clap::Subcommand)]
pub enum EventsCommand {
    /// Print the unified stream.
    Tail(TailArgs),
}

#[derive(Debug, thiserror::Error)]
pub enum TailError {
    #[error("cannot reach the API at {url}: {message}")]
    Request { url: String, message: String },
    #[error("the API answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("unexpected answer from the API: {0}")]
    Malformed(String),
    #[error("the API ended the stream: {0}")]
    Stream(String),
}

/// One page of `GET /v1/events`.
#[derive(Debug, Deserialize)]
pub struct EventsPage {
    pub objects: Vec<Event>,
    pub cursor: String,
    pub remaining: u64,
}

/// A client of the events API.
#[derive(Debug, Clone)]
pub struct Tail {
    http: reqwest::Client,
    api: String,
    key: String,
    sources: Vec<String>,
}

impl Tail {
    pub fn new(api: &str, key: &str, sources: Vec<String>) -> Result<Self, TailError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| TailError::Request {
                url: api.to_owned(),
                message: e.to_string(),
            })?;
        Ok(Self {
            http,
            api: api.trim_end_matches('/').to_owned(),
            key: key.to_owned(),
            sources,
        })
    }

    /// The page after `cursor` (from the oldest event when `None`).
    pub async fn page(
        &self,
        cursor: Option<&str>,
        page_size: u32,
    ) -> Result<EventsPage, TailError> {
        let url = format!("{}/v1/events", self.api);
        let mut query = vec![("page_size", page_size.to_string())];
        if let Some(c) = cursor {
            query.push(("cursor", c.to_owned()));
        }
        if !self.sources.is_empty() {
            query.push(("source", self.sources.join(",")));
        }
        let resp = self
            .http
            .get(&url)
            .bearer_auth(&self.key)
            .query(&query)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| TailError::Request {
                url: url.clone(),
                message: e.without_url().to_string(),
            })?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| TailError::Request {
            url: url.clone(),
            message: e.without_url().to_string(),
        })?;
        if !status.is_success() {
            return Err(TailError::Status {
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        serde_json::from_slice(&body).map_err(|e| TailError::Malformed(e.to_string()))
    }

    /// Follows `/v1/events/stream` after `cursor`, calling `each` for every event with the cursor
    /// after it; reconnects (from the last cursor) when the connection drops. Returns when `each`
    /// says stop.
    pub async fn follow(
        &self,
        mut cursor: Option<String>,
        mut each: impl FnMut(&Event, &str) -> bool,
    ) -> Result<(), TailError> {
        let url = format!("{}/v1/events/stream", self.api);
        loop {
            let mut req = self.http.get(&url).bearer_auth(&self.key);
            if let Some(c) = &cursor {
                req = req.header("Last-Event-ID", c);
            }
            if !self.sources.is_empty() {
                req = req.query(&[("source", self.sources.join(","))]);
            }
            let resp = req.send().await.map_err(|e| TailError::Request {
                url: url.clone(),
                message: e.without_url().to_string(),
            })?;
            if !resp.status().is_success() {
                let status = resp.status().as_u16();
                let body = resp.text().await.unwrap_or_default();
                return Err(TailError::Status { status, body });
            }
            match read_stream(resp.bytes_stream(), &mut cursor, &mut each).await? {
                Flow::Stop => return Ok(()),
                // Dropped: reconnect from the last cursor.
                Flow::Dropped => {}
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// How reading one connection's stream ended.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    /// `each` said stop.
    Stop,
    /// The connection ended or dropped.
    Dropped,
}

/// Reads the server-sent events of one connection (`body`, as the network delivers it), calling
/// `each` for every event and keeping `cursor` at the last one's `id`. The bytes are decoded by a
/// maintained SSE parser, whole messages at a time, so a character split across network chunks
/// arrives whole. A `stream_error` event (the server cannot go on) is an error.
async fn read_stream<S, B, E>(
    body: S,
    cursor: &mut Option<String>,
    each: &mut impl FnMut(&Event, &str) -> bool,
) -> Result<Flow, TailError>
where
    S: futures_util::Stream<Item = Result<B, E>> + Unpin,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    use eventsource_stream::{EventStreamError, Eventsource};
    use futures_util::StreamExt;
    let mut messages = body.eventsource();
    while let Some(message) = messages.next().await {
        let message = match message {
            Ok(message) => message,
            Err(EventStreamError::Transport(_)) => return Ok(Flow::Dropped),
            Err(e) => return Err(TailError::Malformed(format!("the event stream: {e}"))),
        };
        if message.event == "stream_error" {
            return Err(TailError::Stream(message.data));
        }
        if message.id.is_empty() {
            continue;
        }
        let event: Event = serde_json::from_str(&message.data)
            .map_err(|e| TailError::Malformed(format!("{e}: {}", message.data)))?;
        *cursor = Some(message.id.clone());
        if !each(&event, &message.id) {
            return Ok(Flow::Stop);
        }
    }
    Ok(Flow::Dropped)
}

/// One line for an event: position, time, source, type, and what changed.
pub fn line(e: &Event) -> String {
    let name = |o: &tributary_core::Object| o.path.clone().unwrap_or_else(|| o.name.clone());
    format!(
        "{:>6}  {}  {:<14}  {:<7}  {}{}{}",
        e.seq.map(|s| s.to_string()).unwrap_or_default(),
        tributary_core::time::format(&e.occurred_at),
        e.source,
        e.event_type,
        e.previous
            .as_ref()
            .map(|p| format!("{} -> ", name(p)))
            .unwrap_or_default(),
        name(&e.object),
        if e.late { "  (late)" } else { "" },
    )
}

/// `tributary events tail`.
pub async fn run(args: TailArgs) -> Result<(), TailError> {
    let sources = args
        .source
        .iter()
        .flat_map(|s| s.split(','))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let tail = Tail::new(&args.api, &args.key, sources)?;
    let mut cursor = args.cursor.clone();
    loop {
        let page = tail.page(cursor.as_deref(), 1000).await?;
        for e in &page.objects {
            println!("{}", line(e));
        }
        cursor = Some(page.cursor);
        if page.remaining == 0 {
            break;
        }
    }
    if args.follow {
        tail.follow(cursor, |e, _| {
            println!("{}", line(e));
            true
        })
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use tributary_core::{EventId, EventType, Object, ObjectKind, Seq, SourceId, Upstream};

    fn event(name: &str) -> Event {
        let at = chrono::Utc.with_ymd_and_hms(2026, 12, 4, 9, 0, 0).unwrap();
        Event {
            id: EventId::new("e1").unwrap(),
            seq: Some(Seq(1)),
            source: SourceId::new("s").unwrap(),
            provider: "egnyte".into(),
            event_type: EventType::Add,
            occurred_at: at,
            observed_at: at,
            object: Object::new("o", ObjectKind::File, name),
            previous: None,
            actor: None,
            upstream: Upstream {
                id: "1".into(),
                action: "create".into(),
                raw: None,
            },
            late: false,
        }
    }

    /// Splits `body` into network chunks at the given byte offsets.
    fn chunks(body: &[u8], at: &[usize]) -> Vec<Result<Vec<u8>, std::io::Error>> {
        let mut out = Vec::new();
        let mut from = 0;
        for &cut in at.iter().chain([&body.len()]) {
            out.push(Ok(body[from..cut].to_vec()));
            from = cut;
        }
        out
    }

    #[tokio::test]
    async fn a_character_split_across_chunks_arrives_whole() {
        let json = serde_json::to_string(&event("résumé.txt")).unwrap();
        let body = format!(": keep-alive\n\nid: c1\ndata: {json}\n\nid: c2\ndata: {json}\n\n");
        // Cut inside the first `é` (two bytes in UTF-8) of each event, and between `\n` and `\n`.
        let bytes = body.as_bytes();
        let first = body.find('é').unwrap() + 1;
        let second = body.rfind("ré").unwrap() + 2;
        let end_of_first = body.find("\n\nid: c2").unwrap() + 1;
        let stream = futures_util::stream::iter(chunks(bytes, &[first, end_of_first, second]));
        let (mut cursor, mut seen) = (None, Vec::new());
        let flow = read_stream(stream, &mut cursor, &mut |e: &Event, id: &str| {
            seen.push((id.to_owned(), e.object.name.clone()));
            true
        })
        .await
        .unwrap();
        assert_eq!(flow, Flow::Dropped);
        assert_eq!(
            seen,
            [
                ("c1".to_owned(), "résumé.txt".to_owned()),
                ("c2".to_owned(), "résumé.txt".to_owned())
            ]
        );
        assert_eq!(cursor.as_deref(), Some("c2"));
    }

    #[tokio::test]
    async fn a_stream_error_event_ends_the_tail_with_its_message() {
        let json = serde_json::to_string(&event("a.txt")).unwrap();
        let body = format!(
            "id: c1\ndata: {json}\n\nevent: stream_error\ndata: {{\"error\":{{\"code\":\"cursor_expired\"}}}}\n\n"
        );
        let stream = futures_util::stream::iter(chunks(body.as_bytes(), &[]));
        let mut cursor = None;
        let got = read_stream(stream, &mut cursor, &mut |_: &Event, _: &str| true).await;
        match got {
            Err(TailError::Stream(data)) => assert!(data.contains("cursor_expired"), "{data}"),
            other => panic!("expected the stream's error, got {other:?}"),
        }
        assert_eq!(cursor.as_deref(), Some("c1"));
    }

    #[tokio::test]
    async fn each_may_stop_the_tail() {
        let json = serde_json::to_string(&event("a.txt")).unwrap();
        let body = format!("id: c1\ndata: {json}\n\nid: c2\ndata: {json}\n\n");
        let stream = futures_util::stream::iter(chunks(body.as_bytes(), &[]));
        let mut cursor = None;
        let flow = read_stream(stream, &mut cursor, &mut |_: &Event, _: &str| false)
            .await
            .unwrap();
        assert_eq!((flow, cursor.as_deref()), (Flow::Stop, Some("c1")));
    }
}
