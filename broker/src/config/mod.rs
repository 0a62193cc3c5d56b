//! The broker's configuration file: loading, environment overrides and validation.
//!
//! Keys follow the Go on-demand-service-broker's config where they exist, so an operator's
//! existing file loads. Keys this broker does not know are reported as warnings, never as
//! errors. Every problem found names the key and says how to fix it.

mod literal;
mod model;
mod validate;

pub use model::*;

use std::path::{Path, PathBuf};

/// The embedded default configuration, printed by `print-default-config` and used when the
/// broker starts without `--config`.
pub const DEFAULT_CONFIG_YAML: &str = include_str!("../../../config/default.yml");

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The dotted key the problem is about, e.g. `broker.port`.
    pub key: String,
    /// What is wrong and what to do about it.
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file's path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid YAML, or a value has the wrong type.
    #[error("config file {origin} is not valid: {message}")]
    Parse {
        /// Where the config came from.
        origin: String,
        /// What the parser said, with the key path.
        message: String,
    },
    /// The file parsed, but values are missing or invalid.
    #[error("config {origin} has {} problem(s):\n{}", problems.len(), problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// Where the config came from.
        origin: String,
        /// Every problem found.
        problems: Vec<ConfigProblem>,
    },
}

/// A loaded, validated configuration together with the warnings found while loading it.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The validated configuration.
    pub config: Config,
    /// Unknown keys and other non-fatal findings.
    pub warnings: Vec<String>,
    /// True when the broker runs on the embedded default configuration.
    pub is_embedded_default: bool,
}

/// Environment variables that override the broker's listen address and credentials.
#[derive(Debug, Clone, Default)]
pub struct EnvOverrides {
    /// `BROKER_HOST`.
    pub host: Option<String>,
    /// `BROKER_PORT`.
    pub port: Option<String>,
    /// `BROKER_USERNAME`.
    pub username: Option<String>,
    /// `BROKER_PASSWORD`.
    pub password: Option<String>,
    /// `BROKER_LOG_FORMAT` (`text` or `json`).
    pub log_format: Option<String>,
}

impl EnvOverrides {
    /// Reads the overrides from the process environment.
    pub fn from_env() -> Self {
        let get = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Self {
            host: get("BROKER_HOST"),
            port: get("BROKER_PORT"),
            username: get("BROKER_USERNAME"),
            password: get("BROKER_PASSWORD"),
            log_format: get("BROKER_LOG_FORMAT"),
        }
    }
}

/// Loads the configuration from `path`, or the embedded default when `path` is `None`, then
/// applies the environment overrides and validates the result.
pub fn load(path: Option<&Path>, env: &EnvOverrides) -> Result<LoadedConfig, ConfigError> {
    let (text, origin) = match path {
        Some(p) => (
            std::fs::read_to_string(p)
                .map_err(|source| ConfigError::Read { path: p.to_path_buf(), source })?,
            p.display().to_string(),
        ),
        None => (DEFAULT_CONFIG_YAML.to_string(), "(embedded default)".to_string()),
    };
    let base_dir = path.and_then(|p| p.parent()).map(Path::to_path_buf).unwrap_or_default();
    load_str(&text, &origin, path.is_none(), &base_dir, env, &|name| std::env::var(name).ok())
}

/// Loads a configuration from YAML text. `lookup_env` resolves `${NAME}` references.
pub fn load_str(
    text: &str, origin: &str, is_embedded_default: bool, base_dir: &Path, env: &EnvOverrides,
    lookup_env: &dyn Fn(&str) -> Option<String>,
) -> Result<LoadedConfig, ConfigError> {
    let mut value: serde_yaml::Value = serde_yaml::from_str(text)
        .map_err(|e| ConfigError::Parse { origin: origin.to_string(), message: e.to_string() })?;
    if value.is_null() {
        value = serde_yaml::Value::Mapping(Default::default());
    }
    // Before anything else looks at the values: `version: 621.10` must stay `621.10`.
    let mut warnings = literal::keep_literal_text(text, &mut value);
    let mut problems = Vec::new();
    validate::substitute_env(&mut value, "", lookup_env, &mut problems);
    validate::apply_overrides(&mut value, env, &mut problems);
    if !problems.is_empty() {
        return Err(ConfigError::Invalid { origin: origin.to_string(), problems });
    }

    let raw: RawConfig = {
        let mut ignored = Vec::new();
        let mut record = |path: serde_ignored::Path<'_>| ignored.push(path.to_string());
        let de = serde_ignored::Deserializer::new(value, &mut record);
        let parsed = serde_path_to_error::deserialize(de).map_err(|e| ConfigError::Parse {
            origin: origin.to_string(),
            message: format!("at key {}: {}", e.path(), e.inner()),
        })?;
        for key in ignored {
            warnings.push(format!(
                "unknown config key {key} is ignored (check its spelling if you meant to set it)"
            ));
        }
        parsed
    };
    let config =
        validate::validate(raw, base_dir, is_embedded_default, &mut problems, &mut warnings);
    match config {
        Some(config) if problems.is_empty() => {
            Ok(LoadedConfig { config, warnings, is_embedded_default })
        }
        _ => Err(ConfigError::Invalid { origin: origin.to_string(), problems }),
    }
}

#[cfg(test)]
mod tests;
