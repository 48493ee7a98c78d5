//! What a conformance run found: one [`CheckResult`] per [`Check`].

use std::collections::BTreeMap;
use std::fmt;

/// One promise of the [`Provider`](tributary_core::Provider) contract the suite checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Check {
    /// The harness's config validates against the factory's `config_schema()`.
    ConfigMatchesSchema,
    /// `build` succeeds with the harness's config, and the provider has the factory's name.
    ConfigBuilds,
    /// A config with a field the provider does not take is refused by `build` and by the schema.
    UnknownFieldRefused,
    /// Every poll of a quiet, unthrottled upstream succeeds, and a drain catches up in bounded
    /// polls.
    PollsSucceed,
    /// Every event names the source it was built for and the factory's provider name.
    EventsNameTheirSource,
    /// No event id is given twice in a run without crashes (the second would be absorbed).
    IdsUnique,
    /// Positions, when given, pair with the events, are given on every page, strictly increase
    /// within and across pages, and never put a new event at or below a committed position.
    PositionsIncrease,
    /// The watermark never moves back, and no event is dated before a committed watermark.
    WatermarkHolds,
    /// Polled again from the same checkpoint and object memory (same provider, or one rebuilt
    /// from the factory), the provider gives the same events: same ids, same content.
    ReplayGivesSameEvents,
    /// A replayed page committed after the original adds nothing (the store absorbs it).
    ReplayIsAbsorbed,
    /// A run with a crash at every page (the page dropped, the provider rebuilt) leaves the
    /// same stream and object memory as a run without crashes.
    CrashesLeaveTheSameStream,
    /// Every upstream change the harness made came out as the unified type it names, in order.
    ActionsMapToUnifiedTypes,
    /// An upstream action without a unified type is still published and counted by
    /// [`Provider::unmapped`](tributary_core::Provider::unmapped).
    UnmappedActionsCounted,
    /// A throttled request comes back as `RateLimited` with the `Retry-After` asked (or is waited
    /// out), and the next polls resume with nothing lost.
    ThrottleHonoured,
}

impl Check {
    pub const ALL: [Check; 14] = [
        Check::ConfigMatchesSchema,
        Check::ConfigBuilds,
        Check::UnknownFieldRefused,
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

    /// A stable snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Check::ConfigMatchesSchema => "config_matches_schema",
            Check::ConfigBuilds => "config_builds",
            Check::UnknownFieldRefused => "unknown_field_refused",
            Check::PollsSucceed => "polls_succeed",
            Check::EventsNameTheirSource => "events_name_their_source",
            Check::IdsUnique => "ids_unique",
            Check::PositionsIncrease => "positions_increase",
            Check::WatermarkHolds => "watermark_holds",
            Check::ReplayGivesSameEvents => "replay_gives_same_events",
            Check::ReplayIsAbsorbed => "replay_is_absorbed",
            Check::CrashesLeaveTheSameStream => "crashes_leave_the_same_stream",
            Check::ActionsMapToUnifiedTypes => "actions_map_to_unified_types",
            Check::UnmappedActionsCounted => "unmapped_actions_counted",
            Check::ThrottleHonoured => "throttle_honoured",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How one check came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    /// What went wrong, one message per finding (at most [`MAX_FINDINGS`] kept, then a count).
    Failed(Vec<String>),
    /// Not run, and why (the harness cannot throttle, an earlier check failed, ...).
    Skipped(String),
}

/// Findings kept per check; the rest are counted.
pub const MAX_FINDINGS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub check: Check,
    pub outcome: Outcome,
}

/// How much the run exercised, so a test can tell a pass from a run that saw nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exercised {
    /// Events the plain run committed (its whole stream).
    pub events: usize,
    /// Pages the plain run committed.
    pub pages: usize,
    /// Crashes the crashing run went through (one per page it committed).
    pub crashes: usize,
    /// Whether a throttled poll came back as `RateLimited` (rather than waited out).
    pub rate_limited: bool,
}

/// Every check's outcome for one provider, in [`Check::ALL`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The factory's name.
    pub provider: String,
    pub results: Vec<CheckResult>,
    pub exercised: Exercised,
}

impl Report {
    pub fn outcome(&self, check: Check) -> &Outcome {
        self.results
            .iter()
            .find(|r| r.check == check)
            .map_or(&Outcome::Passed, |r| &r.outcome)
    }

    /// The checks that failed.
    pub fn failed(&self) -> Vec<Check> {
        self.results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
            .map(|r| r.check)
            .collect()
    }

    pub fn passed(&self) -> bool {
        self.failed().is_empty()
    }

    /// The checks that were skipped.
    pub fn skipped(&self) -> Vec<Check> {
        self.results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Skipped(_)))
            .map(|r| r.check)
            .collect()
    }

    /// Panics with the whole report unless every check passed or was skipped.
    #[track_caller]
    pub fn assert_passed(&self) {
        assert!(
            self.passed(),
            "{} fails the provider conformance suite:\n{self}",
            self.provider
        );
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.exercised;
        writeln!(
            f,
            "  ({} events in {} pages, {} crashes, rate limited: {})",
            e.events, e.pages, e.crashes, e.rate_limited
        )?;
        for r in &self.results {
            match &r.outcome {
                Outcome::Passed => writeln!(f, "  ok      {}", r.check)?,
                Outcome::Skipped(why) => writeln!(f, "  skipped {}: {why}", r.check)?,
                Outcome::Failed(findings) => {
                    writeln!(f, "  FAILED  {}", r.check)?;
                    for finding in findings {
                        writeln!(f, "          - {finding}")?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Findings gathered while the suite runs, turned into a [`Report`] at the end.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    failed: BTreeMap<Check, (Vec<String>, usize)>,
    skipped: BTreeMap<Check, String>,
}

impl Findings {
    pub fn fail(&mut self, check: Check, message: impl Into<String>) {
        let (kept, more) = self.failed.entry(check).or_default();
        if kept.len() < MAX_FINDINGS {
            kept.push(message.into());
        } else {
            *more += 1;
        }
    }

    pub fn skip(&mut self, check: Check, why: impl Into<String>) {
        self.skipped.entry(check).or_insert_with(|| why.into());
    }

    pub fn has_failed(&self, check: Check) -> bool {
        self.failed.contains_key(&check)
    }

    pub fn report(self, provider: &str, exercised: Exercised) -> Report {
        let mut failed = self.failed;
        let mut skipped = self.skipped;
        let results = Check::ALL
            .iter()
            .map(|&check| {
                let outcome = if let Some((mut kept, more)) = failed.remove(&check) {
                    if more > 0 {
                        kept.push(format!("... and {more} more"));
                    }
                    Outcome::Failed(kept)
                } else if let Some(why) = skipped.remove(&check) {
                    Outcome::Skipped(why)
                } else {
                    Outcome::Passed
                };
                CheckResult { check, outcome }
            })
            .collect();
        Report {
            provider: provider.to_owned(),
            results,
            exercised,
        }
    }
}
