//! Webhook subscriptions and their delivery positions (the webhook dispatcher fills the behaviour).

use crate::Filter;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tributary_core::Seq;

/// What a subscription's requests carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryMode {
    /// The events themselves, in batches.
    Full,
    /// A small "new events for source X" ping; the receiver reads the events with its cursor.
    Notify,
}

/// A webhook subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionRecord {
    pub id: String,
    pub tenant: String,
    pub url: String,
    /// The signing secret.
    pub secret: String,
    #[serde(default)]
    pub filter: Filter,
    pub mode: DeliveryMode,
    #[serde(default)]
    pub disabled: bool,
    #[serde(with = "tributary_core::time::millis")]
    pub created_at: DateTime<Utc>,
}

/// Where a subscription's deliveries stand: its own cursor into the unified log and its retry
/// schedule, persisted so a restart resumes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryState {
    /// The last log position delivered and acknowledged.
    pub delivered: Seq,
    /// Failed attempts since the last success.
    #[serde(default)]
    pub attempts: u32,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "tributary_core::time::millis_opt"
    )]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}
