//! The bounds no Jive answer can push a poll past, over real HTTP on 127.0.0.1 (port 0): an
//! empty list that links a next page, requests and time per poll, the size of an answer, and
//! `links.next` to another origin.

// Test helpers outside `#[test]` functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tributary_core::{
    Checkpoint, ManualClock, MemoryObjectState, Provider, ProviderError, SourceId,
};
use tributary_jive::client::{Authorization, JiveClient};
use tributary_jive::{Credentials, JiveConfig, JiveError, JiveProvider};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const CONTENTS: &str = "/api/core/v3/contents";
const DELETED: &str = "/api/core/v3/deletedObjects/contents";

struct Harness {
    server: MockServer,
    clock: Arc<ManualClock>,
}

impl Harness {
    async fn new() -> Self {
        let server = MockServer::start().await;
        Mock::given(path("/api/version"))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({"jiveVersion": "2024.1", "jiveCoreVersions": [{"version": 3, "revision": 14}]}),
            ))
            .mount(&server)
            .await;
        let clock = Arc::new(ManualClock::new(
            tributary_core::time::parse("2026-01-05T09:20:00.000Z").unwrap(),
        ));
        Self { server, clock }
    }

    fn config(&self) -> JiveConfig {
        JiveConfig::new(self.server.uri(), Credentials::basic("u", "p"))
    }

    fn provider(&self, config: JiveConfig) -> JiveProvider {
        JiveProvider::new(
            SourceId::new("jive-acme").unwrap(),
            config,
            Arc::new(MemoryObjectState::new()),
            self.clock.clone(),
            tributary_http::Outbound::new(tributary_http::AddressPolicy::loopback()).unwrap(),
        )
        .unwrap()
    }

    /// The first poll (`latest`: the version check only), then an hour passes: the next poll
    /// reads the window of that hour.
    async fn started(&self, p: &JiveProvider) -> Checkpoint {
        let first = p.poll(None).await.unwrap();
        self.clock.advance(Duration::from_secs(3600));
        first.checkpoint
    }

    async fn count(&self, of: &str) -> usize {
        let requests = self.server.received_requests().await.unwrap();
        requests.iter().filter(|r| r.url.path() == of).count()
    }

    async fn total(&self) -> usize {
        self.server.received_requests().await.unwrap().len()
    }
}

fn transient(e: ProviderError) -> String {
    match e {
        ProviderError::Transient { message } => message,
        other => panic!("expected a transient error, got {other:?}"),
    }
}

/// A full page of `n` content items never seen before, that links a next page.
struct FreshItems {
    next_id: AtomicU64,
    base: String,
    /// Moves this clock on by `tick` per answer: a slow upstream, without waiting.
    clock: Option<(Arc<ManualClock>, Duration)>,
}

impl Respond for FreshItems {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        if let Some((clock, tick)) = &self.clock {
            clock.advance(*tick);
        }
        let list: Vec<Value> = (0..100)
            .map(|_| {
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                json!({"contentID": id.to_string(), "type": "document",
                    "published": "2026-01-05T09:30:00.000+0000", "updated": "2026-01-05T09:30:00.000+0000"})
            })
            .collect();
        let next = format!("{}{CONTENTS}?startIndex=100", self.base);
        ResponseTemplate::new(200).set_body_json(json!({"list": list, "links": {"next": next}}))
    }
}

/// The reproduction: a fake Jive answering every list with an empty page that links a
/// next one. Before, the window was halved to one millisecond and then paged forever, until
/// `max_requests_per_window` (10,000) ran out: one poll sent 10,000 requests and failed. Now an
/// empty page is the last whatever its `links.next` says: one request per list.
#[tokio::test]
async fn an_empty_list_that_links_a_next_page_ends_the_window() {
    let h = Harness::new().await;
    let next = format!("{}{CONTENTS}?startIndex=100", h.server.uri());
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"list": [], "links": {"next": next}})),
        )
        .mount(&h.server)
        .await;
    let p = h.provider(h.config());
    let checkpoint = h.started(&p).await;
    let page = p.poll(Some(&checkpoint)).await.unwrap();
    assert!(page.events.is_empty());
    assert!(!page.more);
    assert_eq!(h.count(CONTENTS).await, 1);
    assert_eq!(h.count(DELETED).await, 1);
    assert_eq!(
        h.total().await,
        3,
        "the version check, then one request per list"
    );
}

/// A list that always answers full pages of new items (so paging never meets an overlap) is cut
/// at `max_requests_per_poll`: exactly that many requests, then a transient error naming it.
#[tokio::test]
async fn a_poll_ends_at_max_requests_per_poll() {
    let h = Harness::new().await;
    Mock::given(path(CONTENTS))
        .respond_with(FreshItems {
            next_id: AtomicU64::new(1),
            base: h.server.uri(),
            clock: None,
        })
        .mount(&h.server)
        .await;
    let mut config = h.config();
    config.max_requests_per_poll = 50;
    let p = h.provider(config);
    let checkpoint = h.started(&p).await;
    let e = p.poll(Some(&checkpoint)).await.unwrap_err();
    assert_eq!(
        transient(e),
        "the poll reached its limit of 50 upstream requests \
         (max_requests_per_poll) and ends here; the next poll starts again"
    );
    assert_eq!(h.count(CONTENTS).await, 50);
    assert_eq!(
        h.total().await,
        51,
        "the first poll's version check, then 50"
    );
    assert_eq!(p.stats().calls, 51);

    // The next poll has a budget of its own (and meets the same bound).
    assert!(p.poll(Some(&checkpoint)).await.is_err());
    assert_eq!(h.count(CONTENTS).await, 100);
}

/// A slow upstream: each answer takes 50 s on the source's clock. With `max_poll_time_ms` at
/// 120 s, the third request starts at 100 s and the fourth is never sent.
#[tokio::test]
async fn a_poll_ends_at_max_poll_time() {
    let h = Harness::new().await;
    Mock::given(path(CONTENTS))
        .respond_with(FreshItems {
            next_id: AtomicU64::new(1),
            base: h.server.uri(),
            clock: Some((h.clock.clone(), Duration::from_secs(50))),
        })
        .mount(&h.server)
        .await;
    let mut config = h.config();
    config.max_poll_time_ms = 120_000;
    let p = h.provider(config);
    let checkpoint = h.started(&p).await;
    let e = p.poll(Some(&checkpoint)).await.unwrap_err();
    assert_eq!(
        transient(e),
        "the poll reached its time limit of 120000 ms \
         (max_poll_time_ms) and ends here; the next poll starts again"
    );
    assert_eq!(h.count(CONTENTS).await, 3);
}

/// An answer whose `Content-Length` passes `max_response_bytes` is refused before it is read.
#[tokio::test]
async fn an_answer_declared_larger_than_max_response_bytes_is_refused() {
    let h = Harness::new().await;
    let big = json!({"list": [], "padding": "x".repeat(4096)}).to_string();
    Mock::given(path(CONTENTS))
        .respond_with(ResponseTemplate::new(200).set_body_string(big.clone()))
        .mount(&h.server)
        .await;
    let mut config = h.config();
    config.max_response_bytes = 1024;
    let p = h.provider(config);
    let checkpoint = h.started(&p).await;
    let e = p.poll(Some(&checkpoint)).await.unwrap_err();
    assert_eq!(
        transient(e),
        format!(
            "GET {CONTENTS}: the answer is larger than the limit of \
             1024 bytes (Content-Length {}), set by max_response_bytes; the rest was not read",
            big.len()
        )
    );
    assert_eq!(h.count(CONTENTS).await, 1);
}

/// An answer without a `Content-Length` (chunked, 64 MiB offered) is refused once what was read
/// passes `max_response_bytes`.
#[tokio::test]
async fn an_unsized_answer_is_refused_once_it_passes_max_response_bytes() {
    let base = tributary_http::testing::chunked_server(1024, 65_536)
        .await
        .unwrap();
    let clock = Arc::new(ManualClock::new(
        tributary_core::time::parse("2026-01-05T09:20:00.000Z").unwrap(),
    ));
    let mut config = JiveConfig::new(base, Credentials::basic("u", "p"));
    config.max_response_bytes = 1024 * 1024;
    let p = JiveProvider::new(
        SourceId::new("jive-acme").unwrap(),
        config,
        Arc::new(MemoryObjectState::new()),
        clock,
        tributary_http::Outbound::new(tributary_http::AddressPolicy::loopback()).unwrap(),
    )
    .unwrap();
    // The first poll's version check is the answer that never ends.
    let e = p.poll(None).await.unwrap_err();
    assert_eq!(
        transient(e),
        "GET /api/version: the answer is larger than the limit of \
         1048576 bytes, set by max_response_bytes; the rest was not read"
    );
}

/// `links.next` is followed only on the configured base URL's origin: a link to another host is
/// refused with an error that says so, and that host receives nothing.
#[tokio::test]
async fn a_links_next_to_another_origin_is_refused_unfetched() {
    let ours = MockServer::start().await;
    let other = MockServer::start().await;
    for server in [&ours, &other] {
        Mock::given(path(CONTENTS))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"list": []})))
            .mount(server)
            .await;
    }
    let config = JiveConfig::new(ours.uri(), Credentials::basic("u", "p"));
    let budget = tributary_http::PollBudget::new(
        config.poll_limits(),
        Arc::new(tributary_core::SystemClock),
    );
    let client = JiveClient::new(
        ours.uri(),
        Duration::from_secs(5),
        config.max_response_bytes,
        budget,
        tributary_http::Outbound::new(tributary_http::AddressPolicy::loopback()).unwrap(),
    )
    .unwrap();
    let auth = Authorization::Basic {
        username: "u".into(),
        password: tributary_jive::Secret::new("p"),
    };

    let foreign = format!("{}{CONTENTS}?startIndex=100", other.uri());
    let e = client.follow(&auth, &foreign).await.unwrap_err();
    assert!(matches!(e, JiveError::ForeignLink { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!(
            "GET links.next: links.next points to {}, not to the configured base URL's origin {}; \
             not followed",
            other.uri(),
            ours.uri()
        )
    );
    assert_eq!(other.received_requests().await.unwrap().len(), 0);
    assert_eq!(client.calls(), 0);

    // The same port on another host name is another origin too.
    let renamed = format!("{}{CONTENTS}", ours.uri().replace("127.0.0.1", "localhost"));
    assert!(matches!(
        client.follow(&auth, &renamed).await,
        Err(JiveError::ForeignLink { .. })
    ));

    // A link on our own origin is followed verbatim.
    let own = format!("{}{CONTENTS}?startIndex=100", ours.uri());
    assert!(client.follow(&auth, &own).await.unwrap().list.is_empty());
    assert_eq!(ours.received_requests().await.unwrap().len(), 1);
    assert_eq!(other.received_requests().await.unwrap().len(), 0);
}
