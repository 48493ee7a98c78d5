//! A faithful simulator of one Jive community's REST API v3, written from the protocol notes
//! (`shared/protocols/jive.md`), never from the provider crate.
//!
//! # Jive surface
//! Every body, errors included, starts with `throw 'allowIllegalResourceCall is false.';\n` while
//! the prefix is on (default; [`JiveSim::set_prefix`]), except the OAuth endpoint's. Content type
//! `application/json;charset=utf-8`. Dates are always `2024-05-01T09:15:02.511+0000`.
//! - `GET /api/version` (no auth) → `{jiveVersion, jiveCoreVersions: [{version: 3, revision,
//!   uri: "/api/core/v3", documentation}]}`; `revision` is `config.core_revision` (default 14).
//! - `GET /api/core/v3/contents`: repeatable `filter=` params, ANDed:
//!   - `modificationDate(<before>,<after>)` on `updated` and `creationDate(<before>,<after>)` on
//!     `published`: upper bound first, both inclusive, either may be `null`. Arguments in the
//!     wrong order (after > before) match nothing. Dates: `…T…:…:….SSS+0000`, `…+00:00`, `…Z`,
//!     `….SSSZ`; a `+` sent unencoded arrives as a space and is a `400 filterInvalid`.
//!   - `type(a,b,…)`; `place(<uri>)` with exactly one absolute or partial (`/places/N`) URI
//!     (two values → `400 filterInvalid`, as the notes' sample; an unknown placeID matches
//!     nothing); `author(<person uri>,…)`; `status(published)`.
//!   - Backslash escapes `\, \( \) \\` inside values. Any other filter name (`tag`, `search`,
//!     `entityDescriptor`, `relationship`, flags) or a malformed expression →
//!     `400 {"error":{"message":"Invalid filter expression <expr>","status":400,"code":"filterInvalid"}}`.
//!   - `sort`: `dateCreatedDesc` (default) / `dateCreatedAsc` by `published`,
//!     `latestActivityAsc|Desc` by `lastActivityDate`, `titleAsc` by subject (case-insensitive);
//!     ties by numeric contentID in the same direction. Another sort → `400` `invalidSort`
//!     naming the accepted ones.
//!   - `startIndex` (default 0), `count` (default 25; above 100 clamped to 100; `0` or not a
//!     number → `400` `invalidParameter`).
//!   - `fields`: absent or `@all` → every field; a comma list of (dotted) paths keeps only those,
//!     plus `id` and `type` always; `-path` removes a (dotted) path.
//!   - `abridged`, `includeBlogs` and unknown params are ignored (but repeated in `links`).
//!   - Envelope `{itemsPerPage, links?, list, startIndex}`: `itemsPerPage` is the effective
//!     count; `links.next` (absolute; every request param re-encoded in order, then
//!     `count=&startIndex=`) only when more matching items exist, so **an exactly-full last page
//!     has no `next`**; `links.previous` when `startIndex > 0`; no `links` key without either.
//! - `GET /api/core/v3/contents/{contentID}`: one entity; deleted or unknown → `404`.
//! - `GET /api/core/v3/deletedObjects/contents`: `filter=since(<date>)` (inclusive),
//!   `filter=type(…)`; `sort=eventDateDesc` (**default**, newest first) or `eventDateAsc`, ties by
//!   order of deletion; `startIndex`, `count`, `fields` and the envelope as above. Markers are
//!   `{id (UUID), type: "deletedObject", objectType, objectId (= contentID), url, eventDate,
//!   resources.self}`. Every delete adds one (soft deletes included); a restore does **not**
//!   remove it, so a restored-then-deleted item has two. Kept forever. When `core_revision < 12`
//!   the endpoint is `404` (JSON error envelope).
//! - Authentication on `/api/core/v3/*`: `Authorization: Basic base64(user:password)` or
//!   `Bearer <token>`. Missing, wrong, unknown or expired → `401 {"error":{"message","status":401}}`
//!   with `WWW-Authenticate: Basic realm="Jive"`.
//! - `POST /oauth2/token` (form; client by `Authorization: Basic base64(client_id:secret)`, or
//!   `client_id`/`client_secret` form fields): grants `password`, `authorization_code` (codes from
//!   [`JiveSim::mint_code`], single-use, 10 minutes) and `refresh_token` (reusable; answers a new
//!   access token and the same refresh token, or, with `rotate_refresh_tokens` on, a new refresh
//!   token that voids the old). `{access_token, refresh_token, token_type:
//!   "bearer", expires_in}` (default 48 h). Errors RFC 6749 `{"error", "error_description"}`:
//!   `invalid_client` `401`, else `400`. **Assumption:** no security prefix on these answers.
//! - App throttling (off by default): calls per credential (Basic user or bearer token), refused
//!   ones included, over a sliding 10 s window of the sim's clock; above `upper` every call is
//!   `503` (JSON error envelope) until the count is below `lower`.
//! - Anything else → `404` with the JSON error envelope (and the prefix).
//!
//! # Content
//! Entities carry `id` (type-specific, always < `contentID`), `contentID`, `type`, `subject`,
//! `content{text, type: "text/html", editable: false}`, `author{id, displayName, jive{username},
//! resources}`, `published`, `updated`, `lastActivityDate`, `status: "published"`,
//! `parentPlace{id (≠ placeID), html, name, type, uri}`, `resources{self, html}`,
//! `followerCount`, `likeCount`, `replyCount`, `viewCount`, `tags`. What each operation does:
//! - create: `published = now − lag` (lag from `create_update_lag_ms`, default 7–38 ms),
//!   `updated = lastActivityDate = now`.
//! - edit, rename, move, restore: `updated = lastActivityDate = now`.
//! - comment: `lastActivityDate = now`, `replyCount + 1`; `updated` unchanged.
//! - delete: gone from `/contents`; a marker with a fresh UUID and `eventDate = now`.
//!
//! Every timestamp is the clock's time at the operation, in whole milliseconds; nothing is ever
//! after the clock. Absolute URLs use `config.base_url`, else the address [`JiveSim::serve`]
//! listens on, else the request's `Host`.
//!
//! # Control API (no auth; errors `{"error": {"code", "message"}}`)
//! | endpoint | body | does |
//! | --- | --- | --- |
//! | `GET /_sim/jive/state` | | counts, settings, faults, pending mutations, places |
//! | `GET /_sim/jive/log` | | `{count, changes}`: every [`Change`], initial items included |
//! | `POST /_sim/jive/actions` | [`Operation`], e.g. `{"op":"create","content_type":"document","subject":"Q2","place":1100}`, `{"op":"edit","content_id":"10001"}`; optional `"user"` | applies it now; `201` [`Outcome`]; `404`/`409`/`400` when refused |
//! | `POST /_sim/jive/generate` | `{"count": N}` | N workload operations now; `{count}` |
//! | `POST /_sim/jive/faults` | [`JiveFault`]: `{"kind":"status","status":503,"retry_after"?:2,"next"?:1}`, `{"kind":"delay","ms":300}`, `{"kind":"malformed_json"}`, `{"kind":"html404"}` | adds a fault for the next `next` (default 1) authenticated `/api/core/v3/` calls |
//! | `GET`/`DELETE /_sim/jive/faults` | | lists / clears the faults |
//! | `POST /_sim/jive/mutate` | `{"on_request": n, "ops": [Operation…]}` | runs `ops` just before the n-th next `/contents` answer |
//! | `PUT /_sim/jive/settings` | any of `prefix`, `throttle` (`{"lower","upper"}` or `null`), `token_lifetime_secs`, `core_revision`, `rotate_refresh_tokens` | runtime switches; `204` |
//! | `POST /_sim/jive/tokens` | `{token, user?, expires_in?}` | adds a bearer token |
//! | `POST /_sim/jive/oauth/codes` | `{user?}` | mints an authorization code: `{code}` |
//!
//! The same operations are methods of [`JiveSim`].

mod change;
mod cli;
mod community;
mod config;
mod control;
mod faults;
mod http;
mod oauth;
mod query;
mod server;
mod simulator;
mod wire;
mod workload;

#[cfg(test)]
mod tests;

pub use change::{Change, ChangeKind};
pub use cli::{JiveSimArgs, run};
pub use community::{ContentId, ContentSnapshot, OpError, PlaceId, PlaceInfo};
pub use config::{AppThrottle, DEFAULT_TOKEN_LIFETIME, JiveSimConfig};
pub use faults::JiveFault;
pub use http::JIVE_VERSION;
pub use oauth::TokenResponse;
pub use query::{DEFAULT_COUNT, MAX_COUNT, QueryError};
pub use simulator::{JiveSim, Operation, Outcome, SimError};
pub use wire::{PREFIX, format_date, parse_date};
pub use workload::CONTENT_TYPES;
