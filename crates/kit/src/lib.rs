//! The provider kit: what a provider crate exports and what it is built from.
//!
//! A provider crate exports one [`ProviderFactory`]. The server holds a list of factories (the
//! binary's list: registering a provider is one line there) and never names a provider itself:
//! it finds the factory by a source's `provider`, hands it the source's config and a
//! [`BuildContext`] (the shared, address-guarded HTTP client, the clock, the source's object
//! memory, where rotated credentials go), and runs the [`Provider`](tributary_core::Provider) it
//! gets back. OAuth start and callback work for every factory that describes its OAuth
//! ([`ProviderFactory::oauth`]); settings shared by all sources of a provider (rate limits per
//! credential, say) come from `[providers.<name>]` ([`ProviderFactory::configure`]).
//!
//! With the `conformance` feature (for provider crates' tests), [`conformance`] checks a factory
//! and the providers it builds against the [`Provider`](tributary_core::Provider) contract over
//! the provider's own test upstream.

mod factory;

pub use factory::{
    BuildContext, BuildError, BuiltProvider, ClientAuth, OAuthEndpoints, ProviderFactory,
    SourceSpec, WithoutRefresh,
};

#[cfg(feature = "conformance")]
pub mod conformance;
pub mod failure;
pub mod oauth;
pub mod schema;
pub mod window;
