//! The provider conformance suite: checks a [`ProviderFactory`] and the providers it builds
//! against the [`Provider`] contract, over the provider's own test upstream.
//!
//! A provider crate implements [`Harness`] for its simulator (or test server) and calls
//! [`run`] from a test; the [`Report`] says which [`Check`]s passed, failed (with what was found)
//! or were skipped (the harness cannot throttle, say). The suite plays the engine: it commits
//! each page the way the store does (checkpoint, watermark, object changes, deduplication by id
//! or by position) and runs two sources side by side over the same upstream activity:
//!
//! - the **plain** run polls the way the registry's engine drains: it fetches the next page from
//!   the checkpoint of the page being committed, reading the object memory through
//!   [`InFlightObjects`], and commits every page;
//! - the **crashing** run, at every page, polls twice from the committed checkpoint (a replay),
//!   then "crashes": drops the page, rebuilds the provider from the factory over the committed
//!   object memory, polls once more and commits that.
//!
//! Both must end with the same stream (same ids, order and content; `observed_at` aside) and the
//! same object memory. See `docs/providers-conformance.md` for what each check means.
//!
//! The suite never sleeps: time moves only when the harness moves its clock.

mod harness;
mod model;
mod report;

pub use harness::Harness;
pub use report::{Check, CheckResult, Exercised, MAX_FINDINGS, Outcome, Report};

use crate::{BuildContext, BuildError, ProviderFactory, SourceSpec};
use model::{Dedupe, Memory, ModelSource, normalized};
use report::Findings;
use std::sync::Arc;
use tributary_core::{
    Checkpoint, EventType, InFlightObjects, NoCredentialWriter, ObjectStateRead, Page, Provider,
    ProviderError, SourceId,
};

/// The source id every provider under test is built for.
pub const SOURCE_ID: &str = "conformance";

/// A field no provider takes: a config with it must be refused.
pub const UNKNOWN_FIELD: &str = "conformance_unknown_field";

/// How much activity a run makes.
#[derive(Debug, Clone)]
pub struct Options {
    /// Rounds of [`Harness::change`] (each followed by a drain of both runs).
    pub rounds: usize,
    /// The `n` given to [`Harness::change`].
    pub changes_per_round: usize,
    /// Polls one drain may take before it counts as not catching up.
    pub max_polls_per_drain: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            rounds: 3,
            changes_per_round: 12,
            max_polls_per_drain: 500,
        }
    }
}

/// Runs every check with the default [`Options`].
pub async fn run<F, H>(factory: &F, harness: &mut H) -> Report
where
    F: ProviderFactory + ?Sized,
    H: Harness + ?Sized,
{
    run_with(factory, harness, &Options::default()).await
}

/// Runs every check with `options`.
pub async fn run_with<F, H>(factory: &F, harness: &mut H, options: &Options) -> Report
where
    F: ProviderFactory + ?Sized,
    H: Harness + ?Sized,
{
    let mut suite = Suite {
        factory,
        config: harness.config(),
        harness,
        options: options.clone(),
        id: SourceId::new(SOURCE_ID).unwrap_or_else(|e| unreachable!("{e}")),
        findings: Findings::default(),
        exercised: Exercised::default(),
    };
    suite.check_config();
    if suite.findings.has_failed(Check::ConfigBuilds) {
        for check in STREAM_CHECKS {
            suite.findings.skip(
                check,
                "the provider could not be built from the harness's config",
            );
        }
    } else if suite.streams().await.is_err() {
        for check in STREAM_CHECKS {
            suite
                .findings
                .skip(check, "the run stopped early (see polls_succeed)");
        }
    }
    suite.findings.report(factory.name(), suite.exercised)
}

/// The checks that need the provider running.
const STREAM_CHECKS: [Check; 11] = [
    Check::PollsSucceed,
    Check::EventsNameTheirSource,
    Check::IdsUnique,
    Check::PositionsIncrease,
    Check::WatermarkHolds,
    Check::ReplayGivesSameEvents,
    Check::ReplayIsAbsorbed,
    Check::CrashesLeaveTheSameStream,
    Check::ActionsMapToUnifiedTypes,
    Check::UnmappedActionsCounted,
    Check::ThrottleHonoured,
];

/// A run stopped: a poll failed or a drain did not catch up (recorded under `polls_succeed`).
struct Stopped;

/// The plain run's source: its model and provider, the memory read through the in-flight overlay.
struct Plain {
    model: ModelSource,
    objects: Arc<InFlightObjects>,
    provider: Arc<dyn Provider>,
}

/// The crashing run's source.
struct Crashing {
    model: ModelSource,
    provider: Arc<dyn Provider>,
}

struct Suite<'a, F: ?Sized, H: ?Sized> {
    factory: &'a F,
    harness: &'a mut H,
    config: serde_json::Value,
    options: Options,
    id: SourceId,
    findings: Findings,
    exercised: Exercised,
}

impl<F, H> Suite<'_, F, H>
where
    F: ProviderFactory + ?Sized,
    H: Harness + ?Sized,
{
    fn build_with(
        &self,
        config: serde_json::Value,
        objects: Arc<dyn ObjectStateRead>,
    ) -> Result<Arc<dyn Provider>, BuildError> {
        let context = BuildContext {
            outbound: self.harness.outbound(),
            clock: self.harness.clock(),
            objects,
            credentials: Arc::new(NoCredentialWriter),
        };
        let spec = SourceSpec {
            id: &self.id,
            config,
        };
        self.factory
            .build(spec, context)
            .map(|built| built.provider)
    }

    fn build(&self, objects: Arc<dyn ObjectStateRead>) -> Result<Arc<dyn Provider>, BuildError> {
        self.build_with(self.config.clone(), objects)
    }

    fn check_config(&mut self) {
        let with_unknown = match &self.config {
            serde_json::Value::Object(map) => {
                let mut map = map.clone();
                map.insert(UNKNOWN_FIELD.to_owned(), serde_json::Value::Bool(true));
                Some(serde_json::Value::Object(map))
            }
            _ => None,
        };
        let schema = self.factory.config_schema();
        match jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&schema)
        {
            Err(e) => self.findings.fail(
                Check::ConfigMatchesSchema,
                format!("config_schema() is not a valid JSON Schema: {e}"),
            ),
            Ok(validator) => {
                for e in validator.iter_errors(&self.config) {
                    self.findings.fail(
                        Check::ConfigMatchesSchema,
                        format!(
                            "the harness's config does not match config_schema() at {:?}: {e}",
                            e.instance_path().to_string()
                        ),
                    );
                }
                if let Some(with_unknown) = &with_unknown
                    && validator.is_valid(with_unknown)
                {
                    self.findings.fail(
                        Check::UnknownFieldRefused,
                        format!(
                            "config_schema() accepts a config with the unknown field {UNKNOWN_FIELD:?} (no additionalProperties: false)"
                        ),
                    );
                }
            }
        }

        match self.build(Arc::new(Memory::default())) {
            Err(e) => self.findings.fail(
                Check::ConfigBuilds,
                format!("build refused the harness's config: {e}"),
            ),
            Ok(provider) if provider.name() != self.factory.name() => self.findings.fail(
                Check::ConfigBuilds,
                format!(
                    "the provider is named {:?}, its factory {:?}",
                    provider.name(),
                    self.factory.name()
                ),
            ),
            Ok(_) => {}
        }

        match with_unknown {
            None => self.findings.fail(
                Check::UnknownFieldRefused,
                "the harness's config is not a JSON object",
            ),
            Some(config) => match self.build_with(config, Arc::new(Memory::default())) {
                Ok(_) => self.findings.fail(
                    Check::UnknownFieldRefused,
                    format!(
                        "build accepted a config with the unknown field {UNKNOWN_FIELD:?}: a misspelt option would be ignored silently"
                    ),
                ),
                Err(BuildError::Config(message)) if !message.contains(UNKNOWN_FIELD) => {
                    self.findings.fail(
                        Check::UnknownFieldRefused,
                        format!(
                            "build refused a config with the unknown field {UNKNOWN_FIELD:?}, but its message does not name it: {message}"
                        ),
                    );
                }
                Err(BuildError::Config(_)) => {}
                Err(e) => self.findings.fail(
                    Check::UnknownFieldRefused,
                    format!("build refused an unknown field with something else than a config error: {e}"),
                ),
            },
        }
    }

    /// Everything that needs the provider running: both runs through the rounds, the unmappable
    /// action, the throttle; then the runs compared.
    async fn streams(&mut self) -> Result<(), Stopped> {
        let name = self.factory.name();
        let plain_model = ModelSource::new("plain", self.id.clone(), name);
        let objects = Arc::new(InFlightObjects::new(plain_model.memory.clone()));
        let mut plain = Plain {
            provider: self.build(objects.clone()).map_err(|_| Stopped)?,
            objects,
            model: plain_model,
        };
        let crashing_model = ModelSource::new("crashing", self.id.clone(), name);
        let mut crashing = Crashing {
            provider: self
                .build(crashing_model.memory.clone())
                .map_err(|_| Stopped)?,
            model: crashing_model,
        };

        let exercised = self.exercise(&mut plain, &mut crashing).await;
        self.exercised.events = plain.model.stream.len();
        self.exercised.pages = plain.model.pages;
        self.exercised.crashes = crashing.model.pages;
        exercised?;
        self.compare(&plain.model, &crashing.model);
        Ok(())
    }

    /// Both runs through the first polls, the rounds, the unmappable action and the throttle.
    async fn exercise(
        &mut self,
        plain: &mut Plain,
        crashing: &mut Crashing,
    ) -> Result<(), Stopped> {
        // The first polls: each source starts (and reads what the upstream already holds).
        self.drain_plain(plain).await?;
        self.drain_crashing(crashing).await?;

        for round in 1..=self.options.rounds {
            let expected = self.harness.change(self.options.changes_per_round).await;
            self.harness.settle().await;
            let from = plain.model.stream.len();
            self.drain_plain(plain).await?;
            self.drain_crashing(crashing).await?;
            self.expect_types(
                Check::ActionsMapToUnifiedTypes,
                &format!("round {round}"),
                &expected,
                &plain.model.stream[from..],
            );
        }

        self.unmappable(plain, crashing).await?;
        self.throttle(plain, crashing).await
    }

    async fn unmappable(
        &mut self,
        plain: &mut Plain,
        crashing: &mut Crashing,
    ) -> Result<(), Stopped> {
        let Some(expected) = self.harness.unmappable().await else {
            self.findings.skip(
                Check::UnmappedActionsCounted,
                "the harness has no upstream action the provider cannot map",
            );
            return Ok(());
        };
        self.harness.settle().await;
        let before = plain.provider.unmapped();
        let from = plain.model.stream.len();
        self.drain_plain(plain).await?;
        self.drain_crashing(crashing).await?;
        match (before, plain.provider.unmapped()) {
            (Some(before), Some(after)) if after.saturating_sub(before) == 1 => {}
            (Some(before), Some(after)) => self.findings.fail(
                Check::UnmappedActionsCounted,
                format!(
                    "one unmappable action made Provider::unmapped go from {before} to {after}"
                ),
            ),
            (before, after) => self.findings.fail(
                Check::UnmappedActionsCounted,
                format!(
                    "Provider::unmapped is {before:?} before and {after:?} after an unmappable action: the provider does not count what it cannot map"
                ),
            ),
        }
        self.expect_types(
            Check::UnmappedActionsCounted,
            "the unmappable action",
            &expected,
            &plain.model.stream[from..],
        );
        Ok(())
    }

    async fn throttle(
        &mut self,
        plain: &mut Plain,
        crashing: &mut Crashing,
    ) -> Result<(), Stopped> {
        let expected = self.harness.change(self.options.changes_per_round).await;
        self.harness.settle().await;
        let from = plain.model.stream.len();
        let Some(asked) = self.harness.throttle_next().await else {
            self.findings
                .skip(Check::ThrottleHonoured, "the harness cannot throttle");
            self.drain_plain(plain).await?;
            self.drain_crashing(crashing).await?;
            self.expect_types(
                Check::ActionsMapToUnifiedTypes,
                "the last round",
                &expected,
                &plain.model.stream[from..],
            );
            return Ok(());
        };
        match plain.provider.poll(plain.model.checkpoint.as_ref()).await {
            Err(ProviderError::RateLimited { retry_after, .. }) => {
                self.exercised.rate_limited = true;
                if retry_after != Some(asked) {
                    self.findings.fail(
                        Check::ThrottleHonoured,
                        format!(
                            "the upstream asked Retry-After {asked:?}; the provider reported retry_after {retry_after:?}"
                        ),
                    );
                }
            }
            // The provider waited the throttle out itself (on the harness's clock).
            Ok(page) => {
                plain.model.commit(&page, &mut self.findings);
            }
            Err(e) => self.findings.fail(
                Check::ThrottleHonoured,
                format!(
                    "a throttled request came back as {e:?}; the scheduler waits Retry-After only for RateLimited"
                ),
            ),
        }
        self.harness.wait(asked).await;
        self.drain_plain(plain).await?;
        self.drain_crashing(crashing).await?;
        self.expect_types(
            Check::ThrottleHonoured,
            "the changes polled through a throttle",
            &expected,
            &plain.model.stream[from..],
        );
        Ok(())
    }

    /// The plain run: polls until caught up, fetching each next page before committing the
    /// previous one (as the engine's pipelined drain does).
    async fn drain_plain(&mut self, run: &mut Plain) -> Result<(), Stopped> {
        let max = self.options.max_polls_per_drain.max(1);
        run.objects.clear();
        let mut page = self
            .poll(&run.provider, run.model.checkpoint.as_ref(), "plain")
            .await?;
        for _ in 1..max {
            if !page.more {
                run.model.commit(&page, &mut self.findings);
                return Ok(());
            }
            run.objects.push(&page.objects);
            let next = self
                .poll(&run.provider, Some(&page.checkpoint), "plain")
                .await;
            run.model.commit(&page, &mut self.findings);
            run.objects.pop_committed();
            page = next?;
        }
        run.model.commit(&page, &mut self.findings);
        self.not_caught_up("plain")
    }

    /// The crashing run: at every page, a replay from the same checkpoint, then a crash (the
    /// page dropped, the provider rebuilt) and the page polled again and committed.
    async fn drain_crashing(&mut self, run: &mut Crashing) -> Result<(), Stopped> {
        for _ in 0..self.options.max_polls_per_drain.max(1) {
            let checkpoint = run.model.checkpoint.clone();
            let at = format!("crashing run, after page {}", run.model.pages);
            let first = self
                .poll(&run.provider, checkpoint.as_ref(), "crashing")
                .await?;
            let again = self
                .poll(&run.provider, checkpoint.as_ref(), "crashing")
                .await?;
            self.compare_replay(&at, "polled twice from the same checkpoint", &first, &again);
            self.check_absorbed(&at, &run.model.dedupe, &first, &again);
            // The crash: `first` is never committed; a new provider starts from the checkpoint.
            run.provider = match self.build(run.model.memory.clone()) {
                Ok(provider) => provider,
                Err(e) => {
                    self.findings.fail(
                        Check::PollsSucceed,
                        format!("{at}: rebuilding the provider after a crash failed: {e}"),
                    );
                    return Err(Stopped);
                }
            };
            let replayed = self
                .poll(&run.provider, checkpoint.as_ref(), "crashing")
                .await?;
            self.compare_replay(&at, "rebuilt after a crash", &first, &replayed);
            self.check_absorbed(&at, &run.model.dedupe, &first, &replayed);
            run.model.commit(&replayed, &mut self.findings);
            if !replayed.more {
                return Ok(());
            }
        }
        self.not_caught_up("crashing")
    }

    async fn poll(
        &mut self,
        provider: &Arc<dyn Provider>,
        checkpoint: Option<&Checkpoint>,
        run: &str,
    ) -> Result<Page, Stopped> {
        provider.poll(checkpoint).await.map_err(|e| {
            self.findings.fail(
                Check::PollsSucceed,
                format!("{run} run: a poll failed: {e}"),
            );
            Stopped
        })
    }

    fn not_caught_up(&mut self, run: &str) -> Result<(), Stopped> {
        self.findings.fail(
            Check::PollsSucceed,
            format!(
                "{run} run: still `more` after {} polls in a row",
                self.options.max_polls_per_drain
            ),
        );
        Err(Stopped)
    }

    /// A replay may end earlier or later (its page boundaries are the provider's), but the
    /// events the two pages share must be the same, in the same order.
    fn compare_replay(&mut self, at: &str, how: &str, first: &Page, replay: &Page) {
        let shared = first.events.len().min(replay.events.len());
        let differs =
            (0..shared).find(|&i| normalized(&first.events[i]) != normalized(&replay.events[i]));
        if let Some(i) = differs {
            let (a, b) = (&first.events[i], &replay.events[i]);
            let what = if a.id == b.id {
                format!("event {} has different content: {a:?} then {b:?}", a.id)
            } else {
                format!("event #{i} was {} and is now {}", a.id, b.id)
            };
            self.findings
                .fail(Check::ReplayGivesSameEvents, format!("{at}, {how}: {what}"));
        }
    }

    /// Commits `first` then `replay` over a copy of the committed deduplication state: every
    /// event the two share must be absorbed the second time.
    fn check_absorbed(&mut self, at: &str, committed: &Dedupe, first: &Page, replay: &Page) {
        let mut scratch = committed.clone();
        scratch.accept(first);
        let shared = first.events.len().min(replay.events.len());
        for i in scratch.accept(replay).into_iter().filter(|&i| i < shared) {
            self.findings.fail(
                Check::ReplayIsAbsorbed,
                format!(
                    "{at}: event {} of a replayed page would be stored a second time (a new id or position)",
                    replay.events[i].id
                ),
            );
        }
    }

    fn expect_types(
        &mut self,
        check: Check,
        what: &str,
        expected: &[EventType],
        got: &[tributary_core::Event],
    ) {
        let types: Vec<EventType> = got.iter().map(|e| e.event_type).collect();
        if types != expected {
            self.findings.fail(
                check,
                format!(
                    "{what}: the harness expected {} events {expected:?}; the provider published {} {types:?}",
                    expected.len(),
                    types.len()
                ),
            );
        }
    }

    fn compare(&mut self, plain: &ModelSource, crashing: &ModelSource) {
        let (a, b) = (&plain.stream, &crashing.stream);
        let differs = (0..a.len().max(b.len()))
            .find(|&i| a.get(i).map(normalized) != b.get(i).map(normalized));
        if let Some(i) = differs {
            let id = |e: Option<&tributary_core::Event>| {
                e.map_or_else(|| "nothing".to_owned(), |e| format!("event {}", e.id))
            };
            self.findings.fail(
                Check::CrashesLeaveTheSameStream,
                format!(
                    "the streams ({} and {} events) differ at #{i}: the plain run has {}, the crashing run {}",
                    a.len(),
                    b.len(),
                    id(a.get(i)),
                    id(b.get(i))
                ),
            );
        }
        let (ma, mb) = (plain.memory.snapshot(), crashing.memory.snapshot());
        if ma != mb {
            let key = ma
                .iter()
                .find(|(k, v)| mb.get(*k) != Some(*v))
                .or_else(|| mb.iter().find(|(k, _)| !ma.contains_key(*k)))
                .map(|(k, _)| k.clone())
                .unwrap_or_default();
            self.findings.fail(
                Check::CrashesLeaveTheSameStream,
                format!(
                    "the object memories ({} and {} keys) differ, first at key {key:?}",
                    ma.len(),
                    mb.len()
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests;
