//! What one simulated Egnyte domain starts with: users, API clients, tokens, limits, retention.

use super::limits::ThrottleMode;
use super::oauth::TokenMode;
use std::time::Duration;

/// Everything [`EgnyteSim::new`](super::EgnyteSim::new) needs. `Default` is a small, ready domain:
/// `acme`, users 1001–1004, clients `tributary-app` and `partner-sync`, and the token `test-token`
/// for user 1001 through `tributary-app`.
#[derive(Debug, Clone)]
pub struct EgnyteSimConfig {
    /// The domain name: `acme` stands for `acme.egnyte.com`.
    pub domain: String,
    /// The base of every `object_detail` URL. `None`: `https://{domain}.egnyte.com`.
    pub public_base_url: Option<String>,
    /// The id of the first event (and of the first after construction). Default 1.
    pub first_event_id: i64,
    pub retention: Retention,
    pub users: Vec<UserSpec>,
    pub clients: Vec<ClientSpec>,
    /// Tokens that exist from the start. They never expire.
    pub tokens: Vec<TokenSpec>,
    /// How tokens issued by `/puboauth/token` behave. Default: non-expiring (`expires_in: -1`).
    pub token_mode: TokenMode,
    pub throttle: ThrottleMode,
    /// Calls per second per token. Default 2.
    pub qps: u32,
    /// Calls per UTC day per token; `None` disables the daily quota. Default `Some(1000)`.
    pub daily_quota: Option<u32>,
    /// Token requests per hour per client on `/puboauth/token`; `None` disables. Default `Some(100)`.
    pub token_requests_per_hour: Option<u32>,
    /// Whether a bad or missing token answers `403` + `ERR_403_DEVELOPER_INACTIVE` instead of `401`.
    pub inactive_on_bad_token: bool,
    /// Restoring from trash emits `restore` (true, default) or `create` (false).
    pub emit_restore: bool,
    /// Whether the workload generator makes v2-only `permission_change` events. Default false.
    pub emit_permission_change: bool,
    /// Seed of every random choice: ids, workload, tokens, fault fractions.
    pub seed: u64,
    /// Workload events generated at construction.
    pub backlog: usize,
    /// Workload events per second while [`serve`](super::EgnyteSim::serve) runs; 0 = none.
    pub rate: f64,
}

/// The event log keeps at most `max_events` and nothing older than `max_age`; whichever removes more
/// wins. `None` disables a bound.
///
/// The default follows Egnyte's Events recipe, which this project follows (integrations cookbook,
/// `book/events-app.md`, "Tips", egnyte/integrations-cookbook@8c6afd3, served at
/// <https://egnyte.github.io/integrations-cookbook/>): "Only latest 300000 events are available
/// through Events API. Also, events older than 30 days may be garbage-collected before the limit of
/// 300K is reached". The API reference says 500,000 (notes §7); the
/// smaller bound is the one a client must survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub max_events: Option<usize>,
    pub max_age: Option<Duration>,
}

/// Events the log keeps by default: 300,000 (see [`Retention`]).
pub const DEFAULT_RETAINED_EVENTS: usize = 300_000;
/// How old an event the log keeps by default: 30 days (see [`Retention`]).
pub const DEFAULT_RETAINED_AGE: Duration = Duration::from_secs(30 * 24 * 3600);

impl Default for Retention {
    fn default() -> Self {
        Self {
            max_events: Some(DEFAULT_RETAINED_EVENTS),
            max_age: Some(DEFAULT_RETAINED_AGE),
        }
    }
}

/// A user of the domain: numeric id (the events' `actor`) and password-grant credentials.
#[derive(Debug, Clone)]
pub struct UserSpec {
    pub id: i64,
    pub username: String,
    pub password: String,
}

/// A registered API key.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    pub client_id: String,
    pub client_secret: String,
}

/// A token that exists from the start: `token` acts as `user` through `client_id`.
#[derive(Debug, Clone)]
pub struct TokenSpec {
    pub token: String,
    pub user: i64,
    pub client_id: String,
}

impl EgnyteSimConfig {
    /// The base of `object_detail` URLs, without a trailing slash.
    pub fn base_url(&self) -> String {
        match &self.public_base_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("https://{}.egnyte.com", self.domain),
        }
    }
}

impl Default for EgnyteSimConfig {
    fn default() -> Self {
        let user = |id: i64, name: &str| UserSpec {
            id,
            username: name.to_owned(),
            password: format!("{name}-password"),
        };
        Self {
            domain: "acme".to_owned(),
            public_base_url: None,
            first_event_id: 1,
            retention: Retention::default(),
            users: vec![
                user(1001, "alice"),
                user(1002, "bob"),
                user(1003, "carol"),
                user(1004, "dave"),
            ],
            clients: vec![
                ClientSpec {
                    client_id: "tributary-app".to_owned(),
                    client_secret: "tributary-secret".to_owned(),
                },
                ClientSpec {
                    client_id: "partner-sync".to_owned(),
                    client_secret: "partner-secret".to_owned(),
                },
            ],
            tokens: vec![TokenSpec {
                token: "test-token".to_owned(),
                user: 1001,
                client_id: "tributary-app".to_owned(),
            }],
            token_mode: TokenMode::NonExpiring,
            throttle: ThrottleMode::Mashery,
            qps: 2,
            daily_quota: Some(1000),
            token_requests_per_hour: Some(100),
            inactive_on_bad_token: false,
            emit_restore: true,
            emit_permission_change: false,
            seed: 1,
            backlog: 0,
            rate: 0.0,
        }
    }
}
