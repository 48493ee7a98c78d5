//! `tributary sim jive …`: the simulator as a process.

use super::config::JiveSimConfig;
use super::simulator::{JiveSim, SimError};
use crate::cli;
use std::sync::Arc;
use tributary_core::SystemClock;

/// Options of `tributary sim jive`.
#[derive(Debug, Clone, clap::Args)]
pub struct JiveSimArgs {
    /// Address to listen on; port 0 picks a free port. The base URL is printed as the first line.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    /// The Basic-auth user.
    #[arg(long, default_value = "admin")]
    pub user: String,
    /// The Basic-auth password.
    #[arg(long, default_value = "admin-password")]
    pub password: String,
    /// Content items that exist at startup (created over the hours before it).
    #[arg(long, default_value_t = 0)]
    pub items: usize,
    /// Seed of every random choice (content, lags, UUIDs, workload).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Workload operations per second while running.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Leave out the `throw 'allowIllegalResourceCall is false.';` prefix.
    #[arg(long)]
    pub no_prefix: bool,
    /// The core v3 revision `/api/version` reports (below 12: no deletedObjects).
    #[arg(long, default_value_t = 14)]
    pub core_revision: u32,
    /// Number of places (groups, spaces, projects).
    #[arg(long, default_value_t = 8)]
    pub places: usize,
    /// Base of absolute URLs; default `http://` + the address listened on.
    #[arg(long)]
    pub public_base_url: Option<String>,
    /// The OAuth add-on's client id.
    #[arg(long, default_value = "tributary-addon")]
    pub client_id: String,
    /// The OAuth add-on's client secret.
    #[arg(long, default_value = "tributary-addon-secret")]
    pub client_secret: String,
    /// Lifetime of access tokens from /oauth2/token, in seconds.
    #[arg(long, default_value_t = 48 * 3600)]
    pub token_lifetime: u64,
}

impl JiveSimArgs {
    /// The simulator configuration these options describe.
    pub fn config(&self) -> JiveSimConfig {
        JiveSimConfig {
            base_url: self.public_base_url.clone(),
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            token_lifetime: std::time::Duration::from_secs(self.token_lifetime),
            items: self.items,
            places: self.places,
            seed: self.seed,
            rate: self.rate,
            prefix: !self.no_prefix,
            core_revision: self.core_revision,
            ..JiveSimConfig::new(self.user.clone(), self.password.clone())
        }
    }
}

/// Binds, builds the community, prints the base URL (`http://127.0.0.1:PORT`) as the first line
/// of stdout, and serves until Ctrl-C.
pub async fn run(args: JiveSimArgs) -> Result<(), SimError> {
    let tcp = cli::bind(&args.listen).await?;
    let addr = tcp.local_addr()?;
    let sim = JiveSim::new(args.config(), Arc::new(SystemClock));
    cli::announce(&format!("http://{addr}"))?;
    tracing::info!(%addr, items = args.items, "jive simulator listening");
    sim.serve(tcp, cli::ctrl_c()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::parse;

    #[test]
    fn flags_become_a_config() {
        let args = parse::<JiveSimArgs>(&[
            "sim",
            "--listen",
            "127.0.0.1:9000",
            "--user",
            "u",
            "--password",
            "p",
            "--items",
            "10",
            "--seed",
            "9",
            "--rate",
            "2.5",
            "--no-prefix",
            "--core-revision",
            "11",
        ])
        .unwrap();
        let c = args.config();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("u", "p"));
        assert_eq!((c.items, c.seed, c.rate), (10, 9, 2.5));
        assert_eq!((c.prefix, c.core_revision), (false, 11));
        let d = parse::<JiveSimArgs>(&["sim"]).unwrap().config();
        assert_eq!((d.prefix, d.core_revision, d.items), (true, 14, 0));
        assert_eq!(d.token_lifetime.as_secs(), 48 * 3600);
    }
}
