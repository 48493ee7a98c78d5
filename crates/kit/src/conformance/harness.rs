//! [`Harness`]: what a provider crate gives the suite about its test upstream.

use std::sync::Arc;
use std::time::Duration;
use tributary_core::{Clock, EventType};
use tributary_http::Outbound;

/// A provider's test upstream (its simulator, or a test server) as the suite drives it.
///
/// The suite builds the provider from the factory with [`config`](Harness::config),
/// [`clock`](Harness::clock) and [`outbound`](Harness::outbound), then asks for upstream
/// activity in rounds: [`change`](Harness::change), [`settle`](Harness::settle), drain. Everything
/// the harness does happens between polls, never during one; the suite never sleeps, so any
/// waiting is the harness's clock moving.
#[async_trait::async_trait]
pub trait Harness: Send {
    /// The source's `config` as the server would store it: with its credentials under
    /// `"credentials"`, reaching the test upstream, reading everything changed after the source's
    /// first poll.
    fn config(&self) -> serde_json::Value;

    /// The clock the providers are built with; the upstream should read the same one, so the
    /// harness controls time on both sides (a [`ManualClock`](tributary_core::ManualClock)).
    fn clock(&self) -> Arc<dyn Clock>;

    /// The client providers send requests through (`AddressPolicy::loopback()` for a test
    /// upstream on 127.0.0.1).
    fn outbound(&self) -> Outbound;

    /// Makes about `n` upstream changes (at least one) and answers the unified type of each event
    /// the provider must publish for them, in the order it must publish them. A provider that
    /// synthesizes events from state (Jive) sees only the last state of an object per round: the
    /// harness then changes each object at most once per call.
    async fn change(&mut self, n: usize) -> Vec<EventType>;

    /// Makes everything changed so far readable by the next poll (moves the clock past the
    /// provider's skew, say). The default does nothing.
    async fn settle(&mut self) {}

    /// Arranges that the provider's next upstream request is throttled (`429` with a
    /// `Retry-After`), and answers the `Retry-After` it carries; `None` when the upstream cannot
    /// throttle (the check is then skipped). The default cannot.
    async fn throttle_next(&mut self) -> Option<Duration> {
        None
    }

    /// Lets `retry_after` pass after a throttle (moves the clock) and lifts the throttle. The
    /// default does nothing.
    async fn wait(&mut self, retry_after: Duration) {
        let _ = retry_after;
    }

    /// Makes one upstream action the provider has no unified type for, and answers the types of
    /// the events it must publish for it (usually one `update`); `None` when the upstream has no
    /// such action (every change maps by construction: the check is then skipped). The default
    /// has none.
    async fn unmappable(&mut self) -> Option<Vec<EventType>> {
        None
    }
}
