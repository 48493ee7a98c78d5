//! A faithful simulator of one Egnyte domain's Events API, written from the protocol notes
//! (`shared/protocols/egnyte.md`), never from the provider crate.
//!
//! # Egnyte surface
//! - `GET /pubapi/{v1,v2}/events/cursor` → `{timestamp, latest_event_id, oldest_event_id}`.
//!   `timestamp` is the latest event's (`…T…:…:….000Z`). With no retained event both ids are the id
//!   before the next one and `timestamp` is the time of the last event dropped (or of the start or
//!   the last reset).
//! - `GET /pubapi/{v1,v2}/events?id=&count=&folder=&type=&suppress=` → events with ids strictly
//!   greater than `id`, ascending, at most `count`, as `{count, latest_id, oldest_id, events}` where
//!   `latest_id`/`oldest_id` are the ids of the page's last/first event.
//!   - `204` with an empty body when nothing matches.
//!   - `404 {"errorMessage"}` when `id < oldest_event_id`. **Rule:** `id = oldest_event_id` is valid
//!     (it returns the events after the oldest one), `oldest_event_id - 1` is not (notes §7: the
//!     reset is lossy by one event). An `id` beyond `latest_event_id` (after an id reset) is `204`.
//!   - `400 {"errorMessage"}`: `id` missing or not an integer; `count` not an integer in 1..=100
//!     (default [`DEFAULT_COUNT`] = 50, the notes' best guess); an unknown `type`; `suppress` other
//!     than `app`, `user`, `none`; a `folder` that is not absolute. Unknown parameters (`reverse`)
//!     are ignored.
//!   - `folder` matches the folder and everything below it, segment-aware and case-insensitive (as
//!     Egnyte paths are), on `target_path` or `source_path`; notes match on their file's path.
//!   - `type` is pipe-separated `file_system|note|permission_change`. v1 never returns
//!     `permission_change` events (it accepts the value and matches nothing).
//!   - `suppress=app` hides events whose acting client is the token's client; `suppress=user` those
//!     with the token's client *and* user. Web, desktop and mobile actions have no client.
//! - Every `/pubapi/` call needs `Authorization: Bearer …`: a missing, unknown, revoked or expired
//!   token is `401 {"errorMessage"}` (with `WWW-Authenticate`), or, when switched,
//!   `403` + `X-Mashery-Error-Code: ERR_403_DEVELOPER_INACTIVE` + `<h1>Developer Inactive</h1>`.
//! - Rate limits per token on the sim's clock: `qps` calls per whole second and `daily_quota` per UTC
//!   day; refused calls are not counted. Answers carry `X-Accesstoken-Qps-Allotted/-Current` and
//!   `X-Accesstoken-Quota-Allotted/-Current` (the quota pair is left out when the quota is off).
//!   Throttled: `mashery` → `403` + `X-Mashery-Error-Code: ERR_403_DEVELOPER_OVER_QPS` /
//!   `ERR_403_DEVELOPER_OVER_RATE`, `Retry-After` (seconds to the next second / next 00:00 UTC),
//!   HTML `<h1>Developer Over Qps</h1>` / `<h1>Developer Over Rate</h1>`; `http429` → `429` +
//!   `Retry-After` + Apigee `{"fault":{"faultstring","detail":{"errorcode"}}}` with error codes
//!   `policies.ratelimit.SpikeArrestViolation` / `policies.ratelimit.QuotaViolation`; `off` counts
//!   but never refuses.
//! - `POST /puboauth/token` (form): grants `password`, `authorization_code`, `refresh_token`; the
//!   client secret is always required. `{access_token, token_type: "bearer", expires_in}`:
//!   `expires_in: -1` and no refresh token by default; in the expiring mode `expires_in` seconds and a
//!   `refresh_token` (reusable, kept on refresh). Errors are RFC 6749 `{"error",
//!   "error_description"}` (`401` for `invalid_client`, else `400`); over 100 requests per client per
//!   hour: `409` + `Retry-After`. Codes are single-use and live 10 minutes.
//! - `GET /puboauth/token?client_id&redirect_uri&response_type=code|token[&state][&username]`: the
//!   browser step, consented at once; `302` to `redirect_uri?code=…` or `#access_token=…`.
//!
//! # Events
//! `data` per action follows the notes' §4.3 table: file events carry `target_id` (version) and
//! `target_group_id` (file); folder events no ids; deletes no `object_detail`; copies new ids plus
//! `source_id`/`source_group_id`; a new version is `create` with the same group id. Restoring from
//! the trash emits `restore` (or `create` when `emit_restore` is off) with the item's old ids.
//! Deleting, moving or copying a folder emits one event for the folder (no fan-out). Notes are
//! `type: note`, `create`/`delete`, `data: {note_id, target_path}` (the file's path, an assumption),
//! `object_detail` `…/pubapi/v1/notes/{note_id}` on create. `permission_change` (v2) follows §4.4.
//!
//! # Control API (no auth; errors `{"error": {"code", "message"}}`)
//! | endpoint | body | does |
//! | --- | --- | --- |
//! | `GET /_sim/egnyte/state` | | cursor, epoch, counts, settings, active faults |
//! | `GET /_sim/egnyte/log[?origin=true]` | | `{count, events}`: every event ever generated (GC'd and pre-reset too) as wire JSON; `origin` adds `_sim: {client_id, epoch}` |
//! | `POST /_sim/egnyte/actions` | `{"op": …, …, "user"?, "source"?, "client_id"?}` ([`Operation`]) | applies it; `201` [`Outcome`]; `404`/`409`/`400` when refused |
//! | `POST /_sim/egnyte/generate` | `{"count": N}` | N workload events now; `{count, first_id, last_id}` |
//! | `POST /_sim/egnyte/faults` | [`Fault`], e.g. `{"kind":"server_error","status":503,"next":2}`, `{"kind":"delay","ms":300,"fraction":0.5}`, `{"kind":"malformed_json","next":1}`, `{"kind":"text_plain","next":1}` | adds a fault |
//! | `GET`/`DELETE /_sim/egnyte/faults` | | lists / clears the faults |
//! | `POST /_sim/egnyte/gc` | `{"before_id": X}` or `{"keep_last": N}` | forced GC; answers the cursor |
//! | `POST /_sim/egnyte/reset` | `{"to": id}` | drops the retained log; ids restart at `id`; answers the cursor |
//! | `PUT /_sim/egnyte/settings` | any of `throttle` (`mashery`/`http429`/`off`), `qps`, `daily_quota` (`null` = off), `inactive_on_bad_token`, `token_mode` (`{"mode":"non_expiring"}` / `{"mode":"expiring","lifetime_secs":N}`), `emit_restore`, `rotate_refresh_tokens` (each refresh answers a new refresh token and voids the old) | runtime switches; `204` |
//! | `POST /_sim/egnyte/oauth/codes` | `{client_id, redirect_uri, user?}` | mints a code; `{code}` |
//! | `POST /_sim/egnyte/tokens` | `{token, user, client_id, expires_in?}` | adds an access token |
//! | `DELETE /_sim/egnyte/tokens/{token}` | | revokes an access or refresh token |
//!
//! The same operations are methods of [`EgnyteSim`].

mod cli;
mod config;
mod control;
mod domain;
mod event;
mod faults;
mod http;
mod limits;
mod log;
mod oauth;
mod server;
mod simulator;
mod workload;

#[cfg(test)]
mod tests;

pub use cli::{EgnyteSimArgs, run};
pub use config::{ClientSpec, EgnyteSimConfig, Retention, TokenSpec, UserSpec};
pub use domain::OpError;
pub use event::{Action, ActionSource, ActorSpec, EventData, EventKind, LoggedEvent, WireEvent};
pub use faults::{Fault, FaultKind, FaultScope};
pub use http::{DEFAULT_COUNT, MAX_COUNT};
pub use limits::ThrottleMode;
pub use log::{CursorInfo, Gc};
pub use oauth::{TokenMode, TokenResponse};
pub use simulator::{EgnyteSim, Operation, Outcome, SimError};
