//! Operator commands that drive a running broker over HTTP, as the Go broker's errands do:
//! `upgrade-all`, `recreate-all`, `orphan-deployments`, `delete-all` and `history`; and the adapter kit
//! for service authors (`adapter check`, `adapter call`, see [`adapter_kit`]).
//!
//! They use the management API (`/mgmt`) and, for polling and deletion, the OSB API, with the
//! broker's basic-auth credentials. Each prints one progress line per instance state change and
//! a summary, and exits non-zero when anything did not work, naming what.
//!
//! `rotate-keys` is the one command that works on the database directly, offline (see
//! [`rotate_keys`]).

pub mod adapter_kit;
pub mod client;
mod delete_all;
mod history;
mod iterate;
mod rotate_keys;

use clap::Args;
use client::{BrokerClient, ClientError};
use std::process::ExitCode;
use std::time::Duration;

pub use delete_all::delete_all;
pub use history::{history, HistoryArgs};
pub use iterate::{recreate_all, upgrade_all};
pub use rotate_keys::rotate_keys;

/// Exit code of `orphan-deployments` when there are orphans (as the Go errand).
pub const EXIT_ORPHANS: u8 = 10;

/// Exit code when the command line is refused.
pub const EXIT_USAGE: u8 = 2;

/// How to reach the broker.
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// The broker's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub broker_url: String,
    /// The broker's basic-auth user name.
    #[arg(long, env = "BROKER_USERNAME")]
    pub username: String,
    /// The broker's basic-auth password.
    #[arg(long, env = "BROKER_PASSWORD", hide_env_values = true)]
    pub password: String,
}

impl ConnectionArgs {
    fn client(&self) -> Result<BrokerClient, ClientError> {
        BrokerClient::new(&self.broker_url, &self.username, &self.password)
    }

    /// A client and the broker's live instances; on failure the error is printed after
    /// `command` and `None` returned.
    fn client_and_instances(
        &self, command: &str,
    ) -> Option<(BrokerClient, Vec<client::ListedInstance>)> {
        let listed = self.client().and_then(|client| client.instances().map(|l| (client, l)));
        listed.map_err(|e| eprintln!("{command}: {e}")).ok()
    }
}

/// Options of `upgrade-all` and `recreate-all`.
#[derive(Debug, Clone, Args)]
pub struct IterateArgs {
    /// How to reach the broker.
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Instances processed first, one at a time; if one fails, nothing else is touched.
    #[arg(long, default_value_t = 0)]
    pub canaries: usize,
    /// How many instances are processed at the same time after the canaries.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_in_flight: u64,
    /// How many times an instance that is busy (another operation in progress) is tried.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub attempts: u64,
    /// Seconds between attempts on a busy instance.
    #[arg(long, default_value_t = 60.0)]
    pub retry_interval: f64,
    /// Seconds between polls of an operation.
    #[arg(long, default_value_t = 60.0)]
    pub polling_interval: f64,
}

/// Options of `delete-all`.
#[derive(Debug, Clone, Args)]
pub struct DeleteAllArgs {
    /// How to reach the broker.
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Confirms that every service instance (and its bindings) is to be deleted.
    #[arg(long)]
    pub yes_delete_every_instance: bool,
    /// Seconds between polls of a delete.
    #[arg(long, default_value_t = 5.0)]
    pub polling_interval: f64,
}

/// A number of seconds from the command line as a duration (negative or invalid: zero).
fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or_default()
}

/// `orphan-deployments`: prints the orphan list as JSON; exit 10 when it is not empty.
pub fn orphan_deployments(args: &ConnectionArgs) -> ExitCode {
    let orphans = match args.client().and_then(|c| c.orphan_deployments()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("orphan-deployments: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", serde_json::to_string(&orphans).unwrap_or_else(|_| "[]".into()));
    if orphans.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "orphan-deployments: {} deployment(s) have no service instance: check them, then delete them with the BOSH CLI",
            orphans.len()
        );
        ExitCode::from(EXIT_ORPHANS)
    }
}
