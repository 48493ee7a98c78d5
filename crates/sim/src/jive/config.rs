//! What one simulated Jive community starts with: the API user, the OAuth add-on, its size and
//! its quirks.

use std::time::Duration;

/// The default access-token lifetime of `/oauth2/token`: 48 hours (notes §5, DOC-224715).
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(48 * 3600);

/// Everything [`JiveSim::new`](super::JiveSim::new) needs. [`JiveSimConfig::new`] (and
/// `Default`, as `admin` / `admin-password`) is a small, empty community: 8 places, no content,
/// prefix on, core v3 revision 14.
#[derive(Debug, Clone)]
pub struct JiveSimConfig {
    /// The base of every absolute URL the simulator writes (`links`, `resources`, `parentPlace.uri`,
    /// marker `url`s), without a trailing slash. `None`: the address [`serve`](super::JiveSim::serve)
    /// listens on (`http://127.0.0.1:PORT`), or, before that is known (the router used on its own),
    /// `http://` + the request's `Host` header.
    pub base_url: Option<String>,
    /// The Basic-auth user (also the one the `password` grant accepts).
    pub user: String,
    pub password: String,
    /// The OAuth 2.0 add-on's client credentials for `POST /oauth2/token`.
    pub client_id: String,
    pub client_secret: String,
    /// Lifetime of access tokens issued by `/oauth2/token` (`expires_in`). Default 48 h.
    pub token_lifetime: Duration,
    /// Content items that exist at construction, created at seeded times before the clock's start.
    pub items: usize,
    /// Places (groups, spaces, projects) content lives in. At least 1 is always made.
    pub places: usize,
    /// Seed of every random choice: content, lags, marker UUIDs, tokens, the workload.
    pub seed: u64,
    /// Workload operations per second while [`serve`](super::JiveSim::serve) runs; 0 = none.
    pub rate: f64,
    /// Whether bodies start with `throw 'allowIllegalResourceCall is false.';\n`. Default true.
    pub prefix: bool,
    /// The v3 `revision` `GET /api/version` reports. Below 12, `/deletedObjects/contents` is 404.
    pub core_revision: u32,
    /// `published = now − lag` on create, the lag drawn uniformly from this inclusive range of
    /// milliseconds (notes §2.7: 7–38 ms). `(0, 0)` makes `published == updated`.
    pub create_update_lag_ms: (u64, u64),
    /// App throttling (notes §6), off by default.
    pub throttle: Option<AppThrottle>,
}

/// Jive's app throttling (DOC-68846): calls per credential counted over a sliding 10 s window;
/// above `upper` every call is `503` until the count drops below `lower`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AppThrottle {
    pub lower: u32,
    pub upper: u32,
}

impl Default for AppThrottle {
    /// The documented thresholds: 70 and 150.
    fn default() -> Self {
        Self {
            lower: 70,
            upper: 150,
        }
    }
}

impl JiveSimConfig {
    /// An empty community whose Basic-auth credentials are `user` / `password`.
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            base_url: None,
            user: user.into(),
            password: password.into(),
            client_id: "tributary-addon".to_owned(),
            client_secret: "tributary-addon-secret".to_owned(),
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            items: 0,
            places: 8,
            seed: 1,
            rate: 0.0,
            prefix: true,
            core_revision: 14,
            create_update_lag_ms: (7, 38),
            throttle: None,
        }
    }
}

impl Default for JiveSimConfig {
    fn default() -> Self {
        Self::new("admin", "admin-password")
    }
}
