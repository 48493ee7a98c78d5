//! `tributary sim egnyte …`: the simulator as a process, over HTTP or (`--tls`) HTTPS with a
//! self-signed certificate from [`crate::tls`].

use super::config::{EgnyteSimConfig, Retention, TokenSpec};
use super::limits::ThrottleMode;
use super::oauth::TokenMode;
use super::simulator::{EgnyteSim, SimError};
use crate::cli;
use crate::tls::TlsListener;
use std::path::PathBuf;
use std::sync::Arc;
use tributary_core::SystemClock;

/// Options of `tributary sim egnyte`.
#[derive(Debug, Clone, clap::Args)]
pub struct EgnyteSimArgs {
    /// Address to listen on; port 0 picks a free port. The base URL is printed as the first line.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    /// The access token that works from the start (user 1001 through client `tributary-app`).
    #[arg(long, default_value = "test-token")]
    pub token: String,
    /// Workload events in the log at startup.
    #[arg(long, default_value_t = 0)]
    pub backlog: usize,
    /// Seed of every random choice (ids, workload).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Workload events per second while running.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// The Egnyte domain name (`acme` for acme.egnyte.com).
    #[arg(long, default_value = "acme")]
    pub domain: String,
    /// Base of `object_detail` URLs; default `https://{domain}.egnyte.com`.
    #[arg(long)]
    pub public_base_url: Option<String>,
    /// How throttled calls are answered.
    #[arg(long, value_enum, default_value = "mashery")]
    pub throttle: ThrottleMode,
    /// Calls per second per token.
    #[arg(long, default_value_t = 2)]
    pub qps: u32,
    /// Calls per UTC day per token; 0 disables the quota.
    #[arg(long, default_value_t = 1000)]
    pub daily_quota: u32,
    /// Id of the first event.
    #[arg(long, default_value_t = 1)]
    pub first_id: i64,
    /// How many events the log retains (Egnyte's cookbook: "only latest 300000 events"); 0 keeps
    /// every event. Events older than 30 days are dropped either way.
    #[arg(long, default_value_t = super::config::DEFAULT_RETAINED_EVENTS)]
    pub retain_events: usize,
    /// Lifetime of tokens issued by /puboauth/token, in seconds; absent: they never expire.
    #[arg(long)]
    pub token_lifetime: Option<u64>,
    /// Serve HTTPS with a fresh self-signed certificate (for 127.0.0.1, ::1 and localhost).
    #[arg(long)]
    pub tls: bool,
    /// Where `--tls` writes its certificate as PEM, for clients to trust; default
    /// `tributary-sim-egnyte.pem` in the temporary directory.
    #[arg(long, requires = "tls")]
    pub cert: Option<PathBuf>,
}

impl EgnyteSimArgs {
    /// The simulator configuration these options describe.
    pub fn config(&self) -> EgnyteSimConfig {
        let defaults = EgnyteSimConfig::default();
        EgnyteSimConfig {
            domain: self.domain.clone(),
            public_base_url: self.public_base_url.clone(),
            first_event_id: self.first_id,
            tokens: vec![TokenSpec {
                token: self.token.clone(),
                user: 1001,
                client_id: "tributary-app".to_owned(),
            }],
            token_mode: match self.token_lifetime {
                Some(lifetime_secs) => TokenMode::Expiring { lifetime_secs },
                None => TokenMode::NonExpiring,
            },
            throttle: self.throttle,
            qps: self.qps,
            daily_quota: (self.daily_quota > 0).then_some(self.daily_quota),
            seed: self.seed,
            backlog: self.backlog,
            rate: self.rate,
            retention: Retention {
                max_events: (self.retain_events > 0).then_some(self.retain_events),
                ..defaults.retention
            },
            ..defaults
        }
    }

    /// Where `--tls` writes its certificate.
    pub fn cert_path(&self) -> PathBuf {
        self.cert
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("tributary-sim-egnyte.pem"))
    }
}

/// Binds, prints the base URL (`http://127.0.0.1:PORT`, or `https://…` with `--tls`) as the first
/// line of stdout, and serves until Ctrl-C. With `--tls` the certificate is written before the URL
/// is printed, and its path goes to stderr.
pub async fn run(args: EgnyteSimArgs) -> Result<(), SimError> {
    let tcp = cli::bind(&args.listen).await?;
    let addr = tcp.local_addr()?;
    let sim = EgnyteSim::new(args.config(), Arc::new(SystemClock));
    if args.tls {
        let cert = args.cert_path();
        let listener = TlsListener::bind(tcp, &cert)?;
        cli::announce(&format!("https://{addr}"))?;
        eprintln!("certificate: {}", cert.display());
        tracing::info!(%addr, domain = %args.domain, backlog = args.backlog, cert = %cert.display(), "egnyte simulator listening (https)");
        sim.serve(listener, cli::ctrl_c()).await?;
    } else {
        cli::announce(&format!("http://{addr}"))?;
        tracing::info!(%addr, domain = %args.domain, backlog = args.backlog, "egnyte simulator listening");
        sim.serve(tcp, cli::ctrl_c()).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::parse;

    #[test]
    fn flags_become_a_config() {
        let args = parse::<EgnyteSimArgs>(&[
            "sim",
            "--listen",
            "127.0.0.1:9000",
            "--token",
            "tok",
            "--backlog",
            "10",
            "--seed",
            "9",
            "--rate",
            "2.5",
            "--domain",
            "beta",
            "--throttle",
            "http429",
            "--daily-quota",
            "0",
            "--token-lifetime",
            "60",
        ])
        .unwrap();
        let c = args.config();
        assert_eq!(
            (c.tokens[0].token.as_str(), c.tokens[0].user),
            ("tok", 1001)
        );
        assert_eq!((c.backlog, c.seed, c.rate), (10, 9, 2.5));
        assert_eq!(c.base_url(), "https://beta.egnyte.com");
        assert_eq!((c.throttle, c.daily_quota), (ThrottleMode::Http429, None));
        assert_eq!(c.token_mode, TokenMode::Expiring { lifetime_secs: 60 });
        let defaults = parse::<EgnyteSimArgs>(&["sim"]).unwrap().config();
        assert_eq!(
            (defaults.throttle, defaults.daily_quota),
            (ThrottleMode::Mashery, Some(1000))
        );
        assert!(parse::<EgnyteSimArgs>(&["sim", "--throttle", "loud"]).is_err());
        // Egnyte's cookbook: the latest 300,000 events, at most 30 days (see `Retention`).
        assert_eq!(
            defaults.retention,
            Retention {
                max_events: Some(300_000),
                max_age: Some(std::time::Duration::from_secs(30 * 24 * 3600)),
            }
        );
        assert_eq!(defaults.retention, Retention::default());
        let unbounded = parse::<EgnyteSimArgs>(&["sim", "--retain-events", "0"]).unwrap();
        assert_eq!(unbounded.config().retention.max_events, None);
    }

    #[test]
    fn tls_flags_pick_the_certificate_path() {
        let plain = parse::<EgnyteSimArgs>(&["sim"]).unwrap();
        assert!(!plain.tls);
        assert_eq!(
            plain.cert_path(),
            std::env::temp_dir().join("tributary-sim-egnyte.pem")
        );
        let tls = parse::<EgnyteSimArgs>(&["sim", "--tls", "--cert", "/x/sim.pem"]).unwrap();
        assert!(tls.tls);
        assert_eq!(tls.cert_path(), PathBuf::from("/x/sim.pem"));
        assert!(parse::<EgnyteSimArgs>(&["sim", "--cert", "/x/sim.pem"]).is_err());
    }
}
