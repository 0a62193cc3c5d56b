//! What CredHub says about itself, learnt once per client: the UAA its tokens come from
//! (`GET /info` → `auth-server.url`, no authentication) and its major version (`app.version`,
//! or `GET /version` when `/info` has none), which decides the two version-dependent details
//! of the API (`"mode": "overwrite"` on a set, and the permissions API).

use crate::config_server::ConfigServerError;
use crate::url_path::UrlPath;
use reqwest::Url;
use serde::Deserialize;

/// What `/info` (and `/version`) told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFacts {
    /// `<uaa>/oauth/token`.
    pub token_url: Url,
    /// The version text, as CredHub gave it.
    pub version: String,
    /// Its major version (0 when it cannot be read).
    pub major: u64,
}

impl ServerFacts {
    /// CredHub 1.x: sets need `"mode": "overwrite"`, permissions use the v1 API.
    pub fn is_v1(&self) -> bool {
        self.major < 2
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct InfoJson {
    #[serde(rename = "auth-server")]
    auth_server: AuthServer,
    app: App,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AuthServer {
    url: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct App {
    version: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct VersionJson {
    version: String,
}

/// The leading number of a version text (`2.12.0` → 2, `1.9.3-build.1` → 1).
pub fn major_of(version: &str) -> u64 {
    version
        .trim()
        .trim_start_matches('v')
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Asks `base`'s `/info` (and `/version` if needed), unauthenticated.
pub async fn discover(
    http: &reqwest::Client, base: &Url, shown: &str,
) -> Result<ServerFacts, ConfigServerError> {
    let info: InfoJson = get_json(http, base, shown, "info").await?;
    let uaa = info.auth_server.url.trim();
    if uaa.is_empty() {
        return Err(ConfigServerError::InvalidAnswer {
            url: format!("{shown}/info"),
            reason: "it names no auth-server.url (the UAA that issues CredHub tokens)".into(),
        });
    }
    let uaa = Url::parse(uaa).map_err(|e| ConfigServerError::InvalidAnswer {
        url: format!("{shown}/info"),
        reason: format!("auth-server.url '{uaa}' is not a URL: {e}"),
    })?;
    let token_url = crate::uaa::token_url(&uaa).map_err(|e| ConfigServerError::InvalidAnswer {
        url: format!("{shown}/info"),
        reason: e.to_string(),
    })?;
    let version = match info.app.version.filter(|v| !v.trim().is_empty()) {
        Some(v) => v,
        None => {
            let answer: VersionJson = get_json(http, base, shown, "version").await?;
            answer.version
        }
    };
    Ok(ServerFacts { token_url, major: major_of(&version), version })
}

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client, base: &Url, shown: &str, what: &'static str,
) -> Result<T, ConfigServerError> {
    let url_text = format!("{shown}/{what}");
    let url = UrlPath::root().segment(what).to_url(base).map_err(|e| {
        ConfigServerError::InvalidAnswer { url: url_text.clone(), reason: e.to_string() }
    })?;
    let resp = http.get(url).send().await.map_err(|e| super::http::unreachable(&url_text, e))?;
    super::http::json_answer(resp, &url_text).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn major_versions() {
        assert_eq!(major_of("2.12.0"), 2);
        assert_eq!(major_of("1.9.3-build.1"), 1);
        assert_eq!(major_of("v3"), 3);
        assert_eq!(major_of(""), 0);
        assert_eq!(major_of("x"), 0);
    }
}
