//! The example's settings, read from environment variables by `main` through
//! [`Config::from_vars`] (so tests pass a map instead of touching the process
//! environment).

use std::fmt;

use secrecy::SecretString;

use crate::jwt::Expected;

/// Default seconds an introspection answer is reused.
pub const DEFAULT_INTROSPECTION_CACHE_SECS: u64 = 30;

/// The API's own confidential client at the tenant, used to call introspection.
#[derive(Clone)]
pub struct ClientCredentials {
    /// The client's `client_id`.
    pub client_id: String,
    /// Its secret.
    pub client_secret: SecretString,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish()
    }
}

/// What the API checks tokens against.
#[derive(Debug, Clone)]
pub struct Config {
    /// The tenant's issuer, `{TESSERA_PUBLIC_URL}/t/{slug}` (`ISSUER`).
    pub issuer: String,
    /// The API's identifier as registered in Tessera, the `aud` of its tokens
    /// (`AUDIENCE`).
    pub audience: String,
    /// Credentials for introspecting reference tokens (`INTROSPECTION_CLIENT_ID`,
    /// `INTROSPECTION_CLIENT_SECRET`); without them only JWTs are accepted.
    pub introspection: Option<ClientCredentials>,
    /// How long an introspection answer is reused at most
    /// (`INTROSPECTION_CACHE_SECS`, default 30): the longest a revocation can go unseen.
    pub introspection_cache_secs: u64,
    /// Seconds of clock skew allowed on `exp`, `nbf` and `iat` (`CLOCK_LEEWAY_SECS`,
    /// default 30).
    pub leeway_secs: u64,
}

/// Why the settings are unusable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("{0} is required")]
    Missing(&'static str),
    /// A variable has a value that cannot be used.
    #[error("{0}: {1}")]
    Invalid(&'static str, String),
}

impl Config {
    /// Reads the settings through `var` (`std::env::var(..).ok()` in `main`).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| {
            var(name)
                .filter(|v| !v.is_empty())
                .ok_or(ConfigError::Missing(name))
        };
        let absolute = |name: &'static str, value: String| match url::Url::parse(&value) {
            Ok(u) if u.has_host() && u.fragment().is_none() => Ok(value),
            _ => Err(ConfigError::Invalid(
                name,
                format!("{value:?} is not an absolute URI without a fragment"),
            )),
        };
        let number = |name: &'static str, default: u64| match var(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<u64>()
                .map_err(|_| ConfigError::Invalid(name, format!("{v:?} is not a number"))),
        };
        let issuer = absolute("ISSUER", required("ISSUER")?)?;
        // Tessera issuers never end in `/`; a stray one would fail every `iss` check.
        let issuer = issuer.trim_end_matches('/').to_owned();
        let audience = absolute("AUDIENCE", required("AUDIENCE")?)?;
        let introspection = match (
            var("INTROSPECTION_CLIENT_ID"),
            var("INTROSPECTION_CLIENT_SECRET"),
        ) {
            (Some(client_id), Some(secret)) if !client_id.is_empty() && !secret.is_empty() => {
                Some(ClientCredentials {
                    client_id,
                    client_secret: SecretString::from(secret),
                })
            }
            (None, None) => None,
            _ => {
                return Err(ConfigError::Invalid(
                    "INTROSPECTION_CLIENT_ID",
                    "set both INTROSPECTION_CLIENT_ID and INTROSPECTION_CLIENT_SECRET, or neither"
                        .into(),
                ));
            }
        };
        Ok(Self {
            issuer,
            audience,
            introspection,
            introspection_cache_secs: number(
                "INTROSPECTION_CACHE_SECS",
                DEFAULT_INTROSPECTION_CACHE_SECS,
            )?,
            leeway_secs: number("CLOCK_LEEWAY_SECS", 30)?,
        })
    }

    /// What every token must show.
    pub fn expected(&self) -> Expected<'_> {
        Expected {
            issuer: &self.issuer,
            audience: &self.audience,
            leeway_secs: self.leeway_secs,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use secrecy::ExposeSecret;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn issuer_and_audience_are_required() {
        assert_eq!(
            Config::from_vars(vars(&[("AUDIENCE", "https://a.example/")])).unwrap_err(),
            ConfigError::Missing("ISSUER")
        );
        assert_eq!(
            Config::from_vars(vars(&[("ISSUER", "http://127.0.0.1:8000/t/acme")])).unwrap_err(),
            ConfigError::Missing("AUDIENCE")
        );
    }

    #[test]
    fn a_full_configuration_is_read() {
        let c = Config::from_vars(vars(&[
            ("ISSUER", "http://127.0.0.1:8000/t/acme/"),
            ("AUDIENCE", "https://a.example/"),
            ("INTROSPECTION_CLIENT_ID", "api-a"),
            ("INTROSPECTION_CLIENT_SECRET", "s3cret"),
            ("INTROSPECTION_CACHE_SECS", "5"),
        ]))
        .unwrap();
        assert_eq!(c.issuer, "http://127.0.0.1:8000/t/acme");
        assert_eq!(c.audience, "https://a.example/");
        assert_eq!(c.introspection_cache_secs, 5);
        assert_eq!(c.leeway_secs, 30);
        let creds = c.introspection.unwrap();
        assert_eq!(creds.client_id, "api-a");
        assert_eq!(creds.client_secret.expose_secret(), "s3cret");
        assert!(!format!("{creds:?}").contains("s3cret"), "secret redacted");
    }

    #[test]
    fn half_of_the_introspection_credentials_is_an_error() {
        let err = Config::from_vars(vars(&[
            ("ISSUER", "http://127.0.0.1:8000/t/acme"),
            ("AUDIENCE", "https://a.example/"),
            ("INTROSPECTION_CLIENT_ID", "api-a"),
        ]))
        .unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid("INTROSPECTION_CLIENT_ID", _)
        ));
    }

    #[test]
    fn a_relative_audience_is_refused() {
        let err = Config::from_vars(vars(&[
            ("ISSUER", "http://127.0.0.1:8000/t/acme"),
            ("AUDIENCE", "things-api"),
        ]))
        .unwrap_err();
        assert!(matches!(err, ConfigError::Invalid("AUDIENCE", _)));
    }
}
