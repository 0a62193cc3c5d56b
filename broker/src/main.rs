//! The `on-demand-broker` command: serve, check a config, print the default config, run
//! the built-in example adapter, check or call a service adapter (adapter check, adapter
//! call), operate a running broker (upgrade-all, recreate-all, orphan-deployments,
//! delete-all), or re-encrypt its database with a new primary key (rotate-keys).

use clap::{Parser, Subcommand};
use on_demand_broker::{app::Application, cli, config, telemetry};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "on-demand-broker",
    version,
    about = "An on-demand Open Service Broker for BOSH-deployed services"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the OSB API (the default). Without --config, runs on the embedded default:
    /// simulated director, built-in example adapter, SQLite under ./data.
    Serve {
        /// The broker's YAML config file.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Check a config file, print every problem, and exit non-zero if there are any.
    CheckConfig {
        /// The broker's YAML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Print the embedded default config, with comments, to save and edit.
    PrintDefaultConfig,
    /// Upgrade every service instance of a running broker (new manifest from its current plan).
    UpgradeAll(cli::IterateArgs),
    /// Recreate the VMs of every service instance of a running broker.
    RecreateAll(cli::IterateArgs),
    /// List director deployments of a running broker that have no service instance; exit 10
    /// when there are any.
    OrphanDeployments(cli::ConnectionArgs),
    /// Delete every service instance (and its bindings) of a running broker.
    DeleteAll(cli::DeleteAllArgs),
    /// Show what happened to one service instance: its operations, binds and unbinds, newest
    /// first, with every adapter run, director call and task change.
    History(cli::HistoryArgs),
    /// Re-encrypt, with the broker stopped, every value in the database sealed with a key
    /// other than the primary one in `database.encryption.keys`; prints how many.
    RotateKeys {
        /// The broker's YAML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Check a service adapter against the contract (`adapter check`), or make one call with
    /// the envelope the broker would send (`adapter call`).
    Adapter(cli::adapter_kit::AdapterArgs),
    /// Run the built-in example service adapter (the broker runs it this way as a child process).
    #[command(hide = true)]
    ExampleAdapter {
        /// The adapter's subcommand and arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve { config: None }) {
        Command::ExampleAdapter { args } => {
            let mut argv = vec!["example-service-adapter".to_string()];
            argv.extend(args);
            let code = example_adapter::main_with_args(argv);
            ExitCode::from(code.clamp(0, 255) as u8)
        }
        Command::PrintDefaultConfig => {
            print!("{}", config::DEFAULT_CONFIG_YAML);
            ExitCode::SUCCESS
        }
        Command::CheckConfig { config: path } => {
            match config::load(Some(&path), &config::EnvOverrides::from_env()) {
                Ok(loaded) => {
                    for w in &loaded.warnings {
                        println!("warning: {w}");
                    }
                    println!("{}: OK", path.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve { config: path } => serve(path),
        Command::UpgradeAll(args) => cli::upgrade_all(&args),
        Command::RecreateAll(args) => cli::recreate_all(&args),
        Command::OrphanDeployments(args) => cli::orphan_deployments(&args),
        Command::DeleteAll(args) => cli::delete_all(&args),
        Command::History(args) => cli::history(&args),
        Command::Adapter(args) => cli::adapter_kit::adapter(&args),
        Command::RotateKeys { config: path } => cli::rotate_keys(&path),
    }
}

fn serve(path: Option<PathBuf>) -> ExitCode {
    cap_malloc_arenas();
    let loaded = match config::load(path.as_deref(), &config::EnvOverrides::from_env()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let _log_guard = telemetry::init(loaded.config.logging.format);
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    if loaded.is_embedded_default {
        tracing::info!("no --config given: running on the embedded default (see `on-demand-broker print-default-config`)");
    }
    // The system runtime drives operations in the background; like the HTTP workers' (see
    // `Application::build`), its blocking pool only runs database calls, so it gets the same
    // small bound instead of tokio's 512 threads.
    let blocking_threads = loaded.config.broker.blocking_threads;
    let runtime = actix_web::rt::System::with_tokio_rt(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .max_blocking_threads(blocking_threads)
            .build()
            .expect("cannot start the async runtime")
    });
    let result = runtime.block_on(async move {
        let app = Application::build(loaded).await.map_err(|e| e.to_string())?;
        app.run_until_stopped().await.map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("on-demand-broker: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Caps glibc's malloc arenas at the cores plus two (at least four) before the broker starts
/// its threads. glibc gives every thread that allocates an arena of its own, up to eight per
/// core: the HTTP workers, the blocking threads that run the database calls and the
/// background threads each keep one, with its own free memory that no other thread reuses.
/// Threads that share the arenas reuse each other's free memory instead (about 1 MB less
/// after the lifecycle load on two cores), and as long as there are as many arenas as cores
/// two threads seldom wait for the same one; small blocks come from each thread's own cache
/// anyway. An operator's own `MALLOC_ARENA_MAX` or `glibc.malloc.arena_max` tunable is left
/// in force.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn cap_malloc_arenas() {
    let set_by_operator = std::env::var_os("MALLOC_ARENA_MAX").is_some()
        || std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("arena_max"));
    if set_by_operator {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let arenas = libc::c_int::try_from(cores + 2).unwrap_or(libc::c_int::MAX).max(4);
    // SAFETY: mallopt only sets a parameter of the allocator, which takes its own lock; it
    // is called before the runtimes and the HTTP workers start.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas);
    }
}

/// Elsewhere the allocator's own arena policy stays.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn cap_malloc_arenas() {}
