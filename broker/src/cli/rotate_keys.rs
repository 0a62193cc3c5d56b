//! `rotate-keys --config <file>`: re-encrypts, offline, every value in the database that is
//! sealed with a key other than the configured primary one, as a broker does when it starts.
//!
//! It opens the database the config names with the config's `database.encryption.keys` (or
//! the generated key file), which checks every key's canary and re-encrypts in one
//! transaction, and prints how many values were re-encrypted. Run it with the broker
//! stopped, or restart the broker afterwards: a running broker keeps sealing with the
//! primary key it started with.

use crate::config;
use crate::store::Store;
use std::path::Path;
use std::process::ExitCode;

/// Runs `rotate-keys` for the config file at `path`.
pub fn rotate_keys(path: &Path) -> ExitCode {
    let loaded = match config::load(Some(path), &config::EnvOverrides::from_env()) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("rotate-keys: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = loaded.config;
    // The store reports what it finds (a generated key, forgotten keys) in the log.
    let _log_guard = crate::telemetry::init(config.logging.format);
    let db = &config.database;
    if let crate::store::Location::Sqlite(file) = db {
        if !file.exists() {
            eprintln!(
                "rotate-keys: the database {} does not exist: check database.path in {}",
                file.display(),
                path.display()
            );
            return ExitCode::FAILURE;
        }
    }
    match Store::open_location(db, config.encryption.as_ref()) {
        Ok(store) => {
            println!(
                "rotate-keys: re-encrypted {} value(s) in {db} with the primary key '{}'",
                store.resealed_at_open(),
                store.primary_key_label()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rotate-keys: cannot open the database {db}: {e}");
            ExitCode::FAILURE
        }
    }
}
