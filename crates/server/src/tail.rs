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
            let mut resp = req.send().await.map_err(|e| TailError::Request {
                url: url.clone(),
                message: e.without_url().to_string(),
            })?;
            if !resp.status().is_success() {
                let status = resp.status().as_u16();
                let body = resp.text().await.unwrap_or_default();
                return Err(TailError::Status { status, body });
            }
            let mut buffer = String::new();
            loop {
                let chunk = match resp.chunk().await {
                    Ok(Some(chunk)) => chunk,
                    Ok(None) | Err(_) => break, // dropped: reconnect from the last cursor
                };
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let message: String = buffer.drain(..end + 2).collect();
                    let (mut id, mut data) = (None, String::new());
                    for line in message.lines() {
                        if let Some(v) = line.strip_prefix("id:") {
                            id = Some(v.trim().to_owned());
                        } else if let Some(v) = line.strip_prefix("data:") {
                            data.push_str(v.trim_start());
                        }
                    }
                    let Some(id) = id else { continue }; // a keep-alive or an error event
                    let event: Event = serde_json::from_str(&data)
                        .map_err(|e| TailError::Malformed(format!("{e}: {data}")))?;
                    cursor = Some(id.clone());
                    if !each(&event, &id) {
                        return Ok(());
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
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
