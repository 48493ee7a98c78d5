//! The providers of the `tributary` binary: registering a provider is one line in
//! [`factories`]. The server names none of them; each source's `provider` picks one by name.

use tributary_provider_kit::ProviderFactory;

/// Every provider this build runs, each with its defaults (`[providers.<name>]` adjusts them).
pub fn factories() -> Vec<Box<dyn ProviderFactory>> {
    vec![
        Box::new(tributary_egnyte::EgnyteFactory::new()),
        Box::new(tributary_jive::JiveFactory),
        Box::new(tributary_rest::RestFactory),
    ]
}
