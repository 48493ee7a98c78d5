//! Injected faults on the `/pubapi/` endpoints: server errors, slow responses, malformed JSON,
//! JSON served as `text/plain`.

use serde::{Deserialize, Serialize};

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum FaultKind {
    /// Answer with this 5xx status (default 503) and a small HTML body, without handling the call.
    ServerError {
        #[serde(default = "default_status")]
        status: u16,
    },
    /// Wait this long (wall time) before handling the call.
    Delay { ms: u64 },
    /// Cut a JSON body in half (status 200, `application/json`).
    MalformedJson,
    /// Serve a JSON body as `text/plain;charset=UTF-8`.
    TextPlain,
}

fn default_status() -> u16 {
    503
}

/// How often a fault fires.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultScope {
    /// The next this many eligible responses.
    Next(u32),
    /// This fraction (0.0–1.0) of eligible responses, drawn from the seeded RNG, until cleared.
    Fraction(f64),
}

/// One injected fault. A body fault (`malformed_json`, `text_plain`) is eligible only on responses
/// that carry a JSON body (200s); `server_error` and `delay` on every `/pubapi/` call that passed
/// authentication and rate limiting.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    #[serde(flatten)]
    pub kind: FaultKind,
    #[serde(flatten)]
    pub scope: FaultScope,
    /// Eligible responses to let through untouched before the fault starts (default 0): a fault
    /// on the third page of a poll is `next(kind, 1).after(2)`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub after: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Fault {
    /// `kind` on the next `n` eligible responses.
    pub fn next(kind: FaultKind, n: u32) -> Self {
        Self {
            kind,
            scope: FaultScope::Next(n),
            after: 0,
        }
    }

    /// `kind` on a `fraction` of eligible responses.
    pub fn fraction(kind: FaultKind, fraction: f64) -> Self {
        Self {
            kind,
            scope: FaultScope::Fraction(fraction),
            after: 0,
        }
    }

    /// The same fault, starting after `n` eligible responses have passed untouched.
    pub fn after(self, n: u32) -> Self {
        Self { after: n, ..self }
    }
}

/// The faults to apply to one call, decided when it arrives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CallFaults {
    pub delay_ms: u64,
    pub server_error: Option<u16>,
}

/// What to do to a JSON body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct BodyFaults {
    pub malformed: bool,
    pub text_plain: bool,
}

#[derive(Debug)]
pub(crate) struct Faults {
    active: Vec<Fault>,
    rng: fastrand::Rng,
}

impl Faults {
    pub fn new(seed: u64) -> Self {
        Self {
            active: Vec::new(),
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    pub fn inject(&mut self, fault: Fault) {
        self.active.push(fault);
    }

    pub fn clear(&mut self) {
        self.active.clear();
    }

    pub fn active(&self) -> &[Fault] {
        &self.active
    }

    pub fn on_call(&mut self) -> CallFaults {
        let mut out = CallFaults::default();
        let eligible =
            |k: &FaultKind| matches!(k, FaultKind::Delay { .. } | FaultKind::ServerError { .. });
        self.fire(eligible, |kind| match kind {
            FaultKind::Delay { ms } => {
                out.delay_ms = out.delay_ms.max(*ms);
                true
            }
            FaultKind::ServerError { status } if out.server_error.is_none() => {
                out.server_error = Some(*status);
                true
            }
            _ => false,
        });
        out
    }

    pub fn on_json_body(&mut self) -> BodyFaults {
        let mut out = BodyFaults::default();
        let eligible = |k: &FaultKind| matches!(k, FaultKind::MalformedJson | FaultKind::TextPlain);
        self.fire(eligible, |kind| match kind {
            FaultKind::MalformedJson if !out.malformed => {
                out.malformed = true;
                true
            }
            FaultKind::TextPlain if !out.text_plain => {
                out.text_plain = true;
                true
            }
            _ => false,
        });
        out
    }

    /// Offers each eligible active fault that fires this time to `take`, which returns whether it
    /// applied; spends `Next` counts of those that did.
    fn fire(
        &mut self,
        eligible: impl Fn(&FaultKind) -> bool,
        mut take: impl FnMut(&FaultKind) -> bool,
    ) {
        let rng = &mut self.rng;
        self.active.retain_mut(|fault| {
            if !eligible(&fault.kind) {
                return true;
            }
            if fault.after > 0 {
                fault.after -= 1;
                return true;
            }
            let fires = match fault.scope {
                FaultScope::Next(0) => return false,
                FaultScope::Next(_) => true,
                FaultScope::Fraction(f) => rng.f64() < f,
            };
            if fires
                && take(&fault.kind)
                && let FaultScope::Next(n) = &mut fault.scope
            {
                *n -= 1;
                return *n > 0;
            }
            true
        });
    }
}
