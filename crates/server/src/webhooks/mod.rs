//! Webhooks: each subscription of a tenant gets that tenant's log delivered to its URL, signed
//! (Standard Webhooks), in order, at least once.
//!
//! - [`signature`]: secrets and the `webhook-signature` header.

pub mod signature;
