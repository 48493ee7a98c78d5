//! [`EgnyteSim`]: one simulated domain, shared by the HTTP handlers and by tests calling it directly.

use super::config::EgnyteSimConfig;
use super::domain::{OpError, Tree};
use super::event::{Action, ActorSpec, LoggedEvent};
use super::faults::{Fault, Faults};
use super::limits::{Limits, ThrottleMode};
use super::log::{CursorInfo, EventLog, Gc};
use super::oauth::{Auth, TokenMode};
use super::workload::Workload;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex, MutexGuard};
use tributary_core::Clock;

/// Why a simulator call failed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Op(#[from] OpError),
    #[error("unknown API client {0:?}")]
    UnknownClient(String),
    #[error("unknown user {0}")]
    UnknownUser(i64),
    #[error(transparent)]
    Bind(#[from] crate::BindError),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

/// One change to the domain, as `POST /_sim/egnyte/actions` takes it (`{"op": "create_file", ...}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operation {
    CreateFolder {
        path: String,
    },
    CreateFile {
        path: String,
    },
    /// A new version of an existing file: `create` with the same group id and a new entry id.
    NewVersion {
        path: String,
    },
    /// Changes the last segment of `path` to `new_name`.
    Rename {
        path: String,
        new_name: String,
    },
    /// Moves `path` into the folder `to_folder`, keeping its name.
    Move {
        path: String,
        to_folder: String,
    },
    /// Copies `path` to the full path `to`; the copy gets new ids.
    Copy {
        path: String,
        to: String,
    },
    Delete {
        path: String,
    },
    /// Restores the most recently deleted item at `path` from the trash.
    Restore {
        path: String,
    },
    /// Adds a note (comment) to the file at `path`.
    CreateNote {
        path: String,
    },
    DeleteNote {
        note_id: String,
    },
    /// v2-only `permission_change` on a folder; `privilege` `NONE` removes the permission.
    ChangePermission {
        path: String,
        subject_user: i64,
        privilege: String,
    },
}

/// What an operation made: its event id, and the ids it created or touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub event_id: i64,
    /// The file's group id (create, new version, copy of a file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// The version's entry id (create, new version, copy of a file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note_id: Option<String>,
}

#[derive(Debug)]
pub(crate) struct State {
    pub tree: Tree,
    pub log: EventLog,
    pub auth: Auth,
    pub limits: Limits,
    pub faults: Faults,
    pub workload: Workload,
    pub emit_restore: bool,
    pub inactive_on_bad_token: bool,
}

impl State {
    pub fn apply(
        &mut self,
        op: &Operation,
        by: &ActorSpec,
        at: DateTime<Utc>,
    ) -> Result<Outcome, OpError> {
        let t = &mut self.tree;
        let (change, file, note_id) = match op {
            Operation::CreateFolder { path } => (t.create_folder(path)?, None, None),
            Operation::CreateFile { path } => {
                let (c, f) = t.create_file(path)?;
                (c, Some(f), None)
            }
            Operation::NewVersion { path } => {
                let (c, f) = t.new_version(path)?;
                (c, Some(f), None)
            }
            Operation::Rename { path, new_name } => (t.rename(path, new_name)?, None, None),
            Operation::Move { path, to_folder } => (t.move_to(path, to_folder)?, None, None),
            Operation::Copy { path, to } => {
                let (c, f) = t.copy(path, to)?;
                (c, f, None)
            }
            Operation::Delete { path } => (t.delete(path)?, None, None),
            Operation::Restore { path } => {
                let action = if self.emit_restore {
                    Action::Restore
                } else {
                    Action::Create
                };
                (t.restore(path, action)?, None, None)
            }
            Operation::CreateNote { path } => {
                let (c, id) = t.create_note(path)?;
                (c, None, Some(id))
            }
            Operation::DeleteNote { note_id } => {
                (t.delete_note(note_id)?, None, Some(note_id.clone()))
            }
            Operation::ChangePermission {
                path,
                subject_user,
                privilege,
            } => (
                t.change_permission(path, *subject_user, privilege)?,
                None,
                None,
            ),
        };
        let event_id = self.log.append(change, by, at);
        Ok(Outcome {
            event_id,
            group_id: file.as_ref().map(|f| f.group_id.clone()),
            entry_id: file.map(|f| f.entry_id),
            note_id,
        })
    }

    /// Generates `n` workload events at the times `at` yields.
    pub fn generate(
        &mut self,
        n: usize,
        mut at: impl FnMut(&mut fastrand::Rng) -> DateTime<Utc>,
    ) -> Vec<i64> {
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            let time = at(self.workload.rng());
            let mut done = None;
            for _ in 0..16 {
                let (op, by) = self.workload.next(&self.tree);
                if let Ok(outcome) = self.apply(&op, &by, time) {
                    done = Some(outcome.event_id);
                    break;
                }
            }
            let id = match done {
                Some(id) => id,
                None => {
                    let (op, by) = self.workload.fallback();
                    match self.apply(&op, &by, time) {
                        Ok(outcome) => outcome.event_id,
                        Err(_) => continue,
                    }
                }
            };
            ids.push(id);
        }
        ids
    }
}

struct Inner {
    clock: Arc<dyn Clock>,
    config: EgnyteSimConfig,
    state: Mutex<State>,
}

/// One simulated Egnyte domain. Cheap to clone: clones share the domain.
#[derive(Clone)]
pub struct EgnyteSim {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EgnyteSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgnyteSim")
            .field("domain", &self.inner.config.domain)
            .finish_non_exhaustive()
    }
}

impl EgnyteSim {
    /// A domain as `config` describes it, with `config.backlog` workload events already in the
    /// log (timestamped over the seconds before `clock.now()`).
    pub fn new(config: EgnyteSimConfig, clock: Arc<dyn Clock>) -> Self {
        let now = clock.now();
        let seed = config.seed;
        let mut auth = Auth::new(
            config.token_mode,
            config.users.clone(),
            config.clients.clone(),
            seed ^ 0x0a07,
        );
        for t in &config.tokens {
            auth.add_token(&t.token, t.user, &t.client_id, None);
        }
        let own_client = config
            .tokens
            .first()
            .map_or_else(|| "tributary-app".to_owned(), |t| t.client_id.clone());
        let mut state = State {
            tree: Tree::new(config.base_url(), seed),
            log: EventLog::new(config.first_event_id, config.retention, now),
            auth,
            limits: Limits::new(
                config.throttle,
                config.qps,
                config.daily_quota,
                config.token_requests_per_hour,
            ),
            faults: Faults::new(seed ^ 0xfa17),
            workload: Workload::new(&config, own_client, seed ^ 0x3017),
            emit_restore: config.emit_restore,
            inactive_on_bad_token: config.inactive_on_bad_token,
        };
        if config.backlog > 0 {
            let span = i64::try_from(config.backlog).unwrap_or(i64::MAX / 4);
            let mut t = now - chrono::Duration::seconds(span);
            state.generate(config.backlog, |rng| {
                t += chrono::Duration::seconds(rng.i64(0..=2));
                t.min(now)
            });
        }
        Self {
            inner: Arc::new(Inner {
                clock,
                config,
                state: Mutex::new(state),
            }),
        }
    }

    pub fn config(&self) -> &EgnyteSimConfig {
        &self.inner.config
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The first configured token's user acting through its client over the public API.
    pub fn default_actor(&self) -> ActorSpec {
        match self.inner.config.tokens.first() {
            Some(t) => ActorSpec::api(t.user, t.client_id.clone()),
            None => ActorSpec::web(1001),
        }
    }

    /// Applies `op` by `by` now.
    pub fn apply(&self, op: Operation, by: &ActorSpec) -> Result<Outcome, SimError> {
        let now = self.now();
        Ok(self.state().apply(&op, by, now)?)
    }

    pub fn create_folder(&self, path: &str, by: &ActorSpec) -> Result<Outcome, SimError> {
        self.apply(
            Operation::CreateFolder {
                path: path.to_owned(),
            },
            by,
        )
    }

    pub fn create_file(&self, path: &str, by: &ActorSpec) -> Result<Outcome, SimError> {
        self.apply(
            Operation::CreateFile {
                path: path.to_owned(),
            },
            by,
        )
    }

    pub fn new_version(&self, path: &str, by: &ActorSpec) -> Result<Outcome, SimError> {
        self.apply(
            Operation::NewVersion {
                path: path.to_owned(),
            },
            by,
        )
    }

    pub fn rename(&self, path: &str, new_name: &str, by: &ActorSpec) -> Result<Outcome, SimError> {
        self.apply(
            Operation::Rename {
                path: path.to_owned(),
                new_name: new_name.to_owned(),
            },
            by,
        )
    }

    pub fn move_to(
        &self,
        path: &str,
        to_folder: &str,
        by: &ActorSpec,
    ) -> Result<Outcome, SimError> {
        self.apply(
            Operation::Move {
                path: path.to_owned(),
                to_folder: to_folder.to_owned(),
            },
            by,
        )
    }

    pub fn copy(&self, path: &str, to: &str, by: &ActorSpec) -> Result<Outcome, SimError> {
        self.apply(
            Operation::Copy {
                path: path.to_owned(),
                to: to.to_owned(),
            },
            by,
        )
    }

    pub fn delete(&self, path: &str, by: &ActorSpec) -> Result<Outcome, SimError> {
        self.apply(
            Operation::Delete {
                path: path.to_owned(),
            },
            by,
        )
    }

    pub fn restore(&self, path: &str, by: &ActorSpec) -> Result<Outcome, SimError> {
        self.apply(
            Operation::Restore {
                path: path.to_owned(),
            },
            by,
        )
    }

    pub fn create_note(&self, path: &str, by: &ActorSpec) -> Result<Outcome, SimError> {
        self.apply(
            Operation::CreateNote {
                path: path.to_owned(),
            },
            by,
        )
    }

    pub fn delete_note(&self, note_id: &str, by: &ActorSpec) -> Result<Outcome, SimError> {
        self.apply(
            Operation::DeleteNote {
                note_id: note_id.to_owned(),
            },
            by,
        )
    }

    /// A v2 `permission_change` on the folder at `path`; `privilege` `NONE` removes it.
    pub fn change_permission(
        &self,
        path: &str,
        subject_user: i64,
        privilege: &str,
        by: &ActorSpec,
    ) -> Result<Outcome, SimError> {
        self.apply(
            Operation::ChangePermission {
                path: path.to_owned(),
                subject_user,
                privilege: privilege.to_owned(),
            },
            by,
        )
    }

    /// Generates `n` workload events now; returns their ids.
    pub fn generate(&self, n: usize) -> Vec<i64> {
        let now = self.now();
        self.state().generate(n, |_| now)
    }

    pub fn inject(&self, fault: Fault) {
        self.state().faults.inject(fault);
    }

    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    pub fn faults(&self) -> Vec<Fault> {
        self.state().faults.active().to_vec()
    }

    /// Forces a garbage collection; returns the cursor after it.
    pub fn gc(&self, gc: Gc) -> CursorInfo {
        let mut state = self.state();
        state.log.gc(gc);
        state.log.cursor()
    }

    /// Resets the event store: retained events are forgotten and ids restart at `to`.
    pub fn reset_ids(&self, to: i64) -> CursorInfo {
        let now = self.now();
        let mut state = self.state();
        state.log.reset(to, now);
        state.log.cursor()
    }

    /// What `/events/cursor` would answer now.
    pub fn cursor(&self) -> CursorInfo {
        let now = self.now();
        let mut state = self.state();
        state.log.apply_retention(now);
        state.log.cursor()
    }

    /// The ground truth: every event ever generated, in order, including collected ones.
    pub fn log(&self) -> Vec<LoggedEvent> {
        self.state()
            .log
            .all()
            .iter()
            .map(|e| LoggedEvent::clone(e))
            .collect()
    }

    /// The log's epoch: 0, plus one per [`reset_ids`](Self::reset_ids).
    pub fn epoch(&self) -> u32 {
        self.state().log.epoch()
    }

    pub fn set_throttle(&self, mode: ThrottleMode) {
        self.state().limits.mode = mode;
    }

    pub fn set_qps(&self, qps: u32) {
        self.state().limits.qps = qps;
    }

    pub fn set_daily_quota(&self, quota: Option<u32>) {
        self.state().limits.daily_quota = quota;
    }

    /// `true`: bad or missing tokens answer `403` + `ERR_403_DEVELOPER_INACTIVE`; `false`: `401`.
    pub fn set_inactive_on_bad_token(&self, on: bool) {
        self.state().inactive_on_bad_token = on;
    }

    pub fn set_token_mode(&self, mode: TokenMode) {
        self.state().auth.mode = mode;
    }

    /// `true`: each refresh (in the expiring mode) answers a new refresh token and voids the old.
    pub fn set_rotate_refresh_tokens(&self, on: bool) {
        self.state().auth.rotate_refresh = on;
    }

    pub fn set_emit_restore(&self, on: bool) {
        self.state().emit_restore = on;
    }

    /// Adds a token acting as `user` through `client_id`, expiring after `lifetime` if given.
    pub fn add_token(
        &self,
        token: &str,
        user: i64,
        client_id: &str,
        lifetime: Option<std::time::Duration>,
    ) {
        let expires_at = lifetime
            .and_then(|l| chrono::Duration::from_std(l).ok())
            .map(|l| self.now() + l);
        self.state()
            .auth
            .add_token(token, user, client_id, expires_at);
    }

    /// Revokes an access or refresh token; returns whether it existed.
    pub fn revoke_token(&self, token: &str) -> bool {
        self.state().auth.revoke(token)
    }

    pub(crate) fn issue_implicit(&self, user: i64, client_id: &str) -> String {
        self.state().auth.issue_implicit(user, client_id)
    }

    /// Mints an authorization code, as if `user` had approved `client_id` in the browser.
    pub fn mint_code(
        &self,
        client_id: &str,
        redirect_uri: &str,
        user: i64,
    ) -> Result<String, SimError> {
        let now = self.now();
        let mut state = self.state();
        if !state.auth.client_exists(client_id) {
            return Err(SimError::UnknownClient(client_id.to_owned()));
        }
        if !state.auth.user_exists(user) {
            return Err(SimError::UnknownUser(user));
        }
        Ok(state.auth.mint_code(client_id, redirect_uri, user, now))
    }
}
