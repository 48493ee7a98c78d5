//! The way out for every request to an address a tenant chose (a provider's base URL or domain,
//! an OAuth token URL): an [`Outbound`] is an HTTP client and the [`AddressPolicy`] it enforces.
//!
//! - Names are resolved by the client's own resolver, which drops forbidden addresses **at
//!   connect time**: a name that passed a check at creation and resolves to `127.0.0.1` later
//!   (DNS rebinding) still reaches nothing.
//! - The resolver is not asked about IP literals (`http://127.0.0.1/`, `http://[::1]/`; the URL
//!   parser already turns `0x7f000001` and `2130706433` into `127.0.0.1`): [`Outbound::send`]
//!   checks them before each request.
//! - Redirects are never followed (a `3xx` is the caller's answer to report), and no proxy from
//!   the environment is used (a proxy would resolve names where the policy cannot see them).

use crate::address::{AddressNotAllowed, AddressPolicy};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::{RequestBuilder, Response, Url};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// An HTTP client that reaches only the addresses its policy allows. Built once per policy (a
/// client's connection pool is shared by every source using it); cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbound {
    client: reqwest::Client,
    policy: Arc<AddressPolicy>,
}

/// Why a request was not answered.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The host is, or resolves only to, an address the policy forbids. Nothing was sent.
    #[error(transparent)]
    NotAllowed(#[from] AddressNotAllowed),
    #[error(transparent)]
    Http(reqwest::Error),
}

impl From<reqwest::Error> for SendError {
    /// The resolver's refusal comes back wrapped in the connector's error: found in the chain.
    fn from(e: reqwest::Error) -> Self {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(cause) = source {
            if let Some(refused) = cause.downcast_ref::<AddressNotAllowed>() {
                return SendError::NotAllowed(refused.clone());
            }
            source = cause.source();
        }
        SendError::Http(e)
    }
}

impl Outbound {
    /// A client for `policy`: the guarded resolver, no redirects, no proxy.
    pub fn new(policy: AddressPolicy) -> Result<Self, reqwest::Error> {
        let policy = Arc::new(policy);
        let client = reqwest::Client::builder()
            .user_agent(concat!("tributary/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver {
                policy: Arc::clone(&policy),
            }))
            .build()?;
        Ok(Self { client, policy })
    }

    /// The client to build requests with; send them with [`Outbound::send`], which checks IP
    /// literals.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub fn policy(&self) -> &AddressPolicy {
        &self.policy
    }

    /// Refuses a URL whose host is an IP literal in a forbidden range. A name passes: the
    /// resolver judges what it resolves to when a connection is made.
    pub fn check_url(&self, url: &Url) -> Result<(), AddressNotAllowed> {
        match literal(url) {
            Some(ip) => self.check_ip(url.host_str().unwrap_or_default(), ip),
            None => Ok(()),
        }
    }

    fn check_ip(&self, host: &str, address: IpAddr) -> Result<(), AddressNotAllowed> {
        self.policy
            .check(address)
            .map_err(|range| AddressNotAllowed {
                host: host.to_owned(),
                address,
                range,
            })
    }

    /// The check made when a tenant names a URL (creating a source, starting an OAuth flow), for
    /// a clear refusal at once: an IP literal in a forbidden range, or a name that resolves only
    /// to forbidden addresses. A name that does not resolve within `timeout` (or at all) passes
    /// here; the resolver checks it again at every connection.
    pub async fn check_target(
        &self,
        url: &Url,
        timeout: Duration,
    ) -> Result<(), AddressNotAllowed> {
        self.check_url(url)?;
        match url.host_str() {
            Some(name) if literal(url).is_none() => {
                self.check_name(name, timeout, lookup(name)).await
            }
            _ => Ok(()),
        }
    }

    /// [`Outbound::check_target`] for a name, with the lookup given.
    async fn check_name(
        &self,
        name: &str,
        timeout: Duration,
        lookup: impl std::future::Future<Output = std::io::Result<Vec<IpAddr>>>,
    ) -> Result<(), AddressNotAllowed> {
        match tokio::time::timeout(timeout, lookup).await {
            Ok(Ok(addrs)) => self.filter(name, addrs).map(|_| ()),
            // Unresolved (now): the resolver judges it at every connection.
            Ok(Err(_)) | Err(_) => Ok(()),
        }
    }

    /// Checks the URL's host if it is an IP literal, then sends `req` on this client (whichever
    /// client built it). A refusal by the resolver is told apart as [`SendError::NotAllowed`].
    pub async fn send(&self, req: RequestBuilder) -> Result<Response, SendError> {
        let (_, request) = req.build_split();
        let request = request?;
        self.check_url(request.url())?;
        Ok(self.client.execute(request).await?)
    }

    /// The allowed addresses among `addrs`, or the refusal of the first one when none is.
    fn filter(&self, host: &str, addrs: Vec<IpAddr>) -> Result<Vec<IpAddr>, AddressNotAllowed> {
        let mut refused = None;
        let mut allowed = Vec::with_capacity(addrs.len());
        for ip in addrs {
            match self.check_ip(host, ip) {
                Ok(()) => allowed.push(ip),
                Err(e) => {
                    refused.get_or_insert(e);
                }
            }
        }
        match refused {
            Some(e) if allowed.is_empty() => Err(e),
            _ => Ok(allowed),
        }
    }
}

/// The URL's host as an IP address, when it is one (the parser has normalised numeric hosts such
/// as `0x7f000001` to dotted IPv4; IPv6 literals come in brackets).
fn literal(url: &Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse()
        .ok()
}

async fn lookup(name: &str) -> std::io::Result<Vec<IpAddr>> {
    Ok(tokio::net::lookup_host((name, 0))
        .await?
        .map(|a| a.ip())
        .collect())
}

/// The system resolver, minus the addresses the policy forbids.
struct GuardedResolver {
    policy: Arc<AddressPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = lookup(&host).await?;
            if addrs.is_empty() {
                return Err(format!("{host}: the name resolved to no address").into());
            }
            let mut refused = None;
            let mut allowed = Vec::with_capacity(addrs.len());
            for address in addrs {
                match policy.check(address) {
                    Ok(()) => allowed.push(SocketAddr::new(address, 0)),
                    Err(range) => {
                        refused.get_or_insert(AddressNotAllowed {
                            host: host.clone(),
                            address,
                            range,
                        });
                    }
                }
            }
            match refused {
                Some(e) if allowed.is_empty() => Err(Box::new(e) as _),
                _ => Ok(Box::new(allowed.into_iter()) as Addrs),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::ForbiddenRange;

    #[test]
    fn the_url_parser_turns_numeric_hosts_into_the_ip_literals_that_are_checked() {
        let strict = Outbound::new(AddressPolicy::strict()).unwrap();
        for (url, host) in [
            ("http://0x7f000001:8080/", "127.0.0.1"),
            ("http://2130706433/", "127.0.0.1"),
            ("http://0177.0.0.1/", "127.0.0.1"),
            ("http://127.1/", "127.0.0.1"),
            ("http://127.0.0.1./", "127.0.0.1"),
            ("http://[::ffff:127.0.0.1]/", "[::ffff:7f00:1]"),
            ("http://[::1]:9/", "[::1]"),
            ("http://169.254.169.254/latest/meta-data", "169.254.169.254"),
        ] {
            let url = Url::parse(url).unwrap();
            assert_eq!(url.host_str(), Some(host), "{url}");
            let refused = strict.check_url(&url).unwrap_err();
            assert_eq!(refused.host, host);
        }
        let url = Url::parse("http://[::ffff:127.0.0.1]/").unwrap();
        assert_eq!(
            strict.check_url(&url).unwrap_err().range,
            ForbiddenRange::Loopback
        );
        let public = Url::parse("https://acme.egnyte.com/").unwrap();
        assert_eq!(strict.check_url(&public), Ok(()));
        let allowed = Outbound::new(AddressPolicy::loopback()).unwrap();
        assert_eq!(
            allowed.check_url(&Url::parse("http://2130706433/").unwrap()),
            Ok(())
        );
    }

    #[tokio::test]
    async fn names_resolving_only_to_forbidden_addresses_are_refused_at_creation() {
        let strict = Outbound::new(AddressPolicy::strict()).unwrap();
        let url = Url::parse("http://localhost:9/").unwrap();
        let refused = strict
            .check_target(&url, Duration::from_secs(2))
            .await
            .unwrap_err();
        assert_eq!(refused.host, "localhost");
        assert_eq!(refused.range, ForbiddenRange::Loopback);
        // What does not resolve passes here (the resolver decides at connect time).
        let unknown = Url::parse("http://no-such-host.invalid/").unwrap();
        assert_eq!(
            strict.check_target(&unknown, Duration::from_secs(2)).await,
            Ok(())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_lookup_that_never_answers_passes_creation_after_the_timeout() {
        let strict = Outbound::new(AddressPolicy::strict()).unwrap();
        let started = tokio::time::Instant::now();
        let hung = std::future::pending::<std::io::Result<Vec<IpAddr>>>();
        let checked = strict
            .check_name("slow.example", Duration::from_secs(3), hung)
            .await;
        assert_eq!(checked, Ok(()));
        assert_eq!(started.elapsed(), Duration::from_secs(3));
        // What a name resolves to decides: only forbidden addresses are refused.
        let loopback = || async { Ok(vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()]) };
        let refused = strict
            .check_name("rebind.example", Duration::from_secs(3), loopback())
            .await
            .unwrap_err();
        assert_eq!(refused.address, "127.0.0.1".parse::<IpAddr>().unwrap());
        let mixed = async {
            Ok(vec![
                "10.0.0.1".parse().unwrap(),
                "8.8.8.8".parse().unwrap(),
            ])
        };
        assert_eq!(
            strict
                .check_name("mixed.example", Duration::from_secs(3), mixed)
                .await,
            Ok(())
        );
    }

    async fn counting_server() -> wiremock::MockServer {
        let server = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::any())
            .respond_with(wiremock::ResponseTemplate::new(200).set_body_string("internal secret"))
            .mount(&server)
            .await;
        server
    }

    async fn hits(server: &wiremock::MockServer) -> usize {
        server.received_requests().await.map_or(0, |r| r.len())
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_at_connect_time_unless_allowed() {
        let server = counting_server().await;
        let url = format!("http://localhost:{}/", server.address().port());
        let strict = Outbound::new(AddressPolicy::strict()).unwrap();
        let refused = strict.send(strict.client().get(&url)).await.unwrap_err();
        let SendError::NotAllowed(refused) = refused else {
            panic!("not refused by the policy: {refused}");
        };
        assert_eq!(refused.host, "localhost");
        assert_eq!(refused.range, ForbiddenRange::Loopback);
        assert_eq!(hits(&server).await, 0);

        let allowed = Outbound::new(AddressPolicy::loopback()).unwrap();
        let resp = allowed.send(allowed.client().get(&url)).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(hits(&server).await, 1);
    }

    #[tokio::test]
    async fn ip_literals_are_refused_before_anything_is_sent() {
        let server = counting_server().await;
        let strict = Outbound::new(AddressPolicy::strict()).unwrap();
        let url = format!("http://0x7f000001:{}/", server.address().port());
        let refused = strict.send(strict.client().get(&url)).await.unwrap_err();
        assert!(
            matches!(&refused, SendError::NotAllowed(e) if e.host == "127.0.0.1"),
            "{refused}"
        );
        assert_eq!(hits(&server).await, 0);
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        let target = counting_server().await;
        let origin = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::any())
            .respond_with(
                wiremock::ResponseTemplate::new(302)
                    .insert_header("location", format!("{}/latest/meta-data", target.uri())),
            )
            .mount(&origin)
            .await;
        let outbound = Outbound::new(AddressPolicy::loopback()).unwrap();
        let resp = outbound
            .send(outbound.client().get(origin.uri()))
            .await
            .unwrap();
        assert_eq!(resp.status(), 302);
        assert_eq!(hits(&target).await, 0);
    }
}
