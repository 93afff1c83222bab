//! `application/x-www-form-urlencoded` protocol requests and client credentials.
//!
//! RFC 6749 §3.1/§3.2: parameters sent without a value are treated as omitted, and
//! request parameters must not be included more than once; a repeated parameter is an
//! `invalid_request`. Values are bounded so an oversized parameter is a clean 400, and
//! a parameter name or value with a control character (NUL included) is an
//! `invalid_request` too, before anything is looked up or stored: no protocol
//! parameter legitimately holds one, and NUL breaks Postgres text columns. Password
//! fields are exempt: they are only ever hashed, so a password may hold any character.

use std::collections::HashMap;

use base64::{Engine, engine::general_purpose::STANDARD};
use poem::http::{HeaderMap, header};
use tenancy::{
    core::oauth_error::{OAuthError, OAuthResult},
    core::validate::has_control_chars,
    oauth::client_auth::ClientCredentials,
};

/// Longest single parameter value accepted.
pub const MAX_PARAM_LEN: usize = 4096;

/// Form fields that are only ever hashed or compared with a hash (never stored,
/// logged or used in a query), so control characters are allowed in them.
const HASHED_ONLY: [&str; 4] = [
    "password",
    "password_confirm",
    "current_password",
    "new_password",
];

/// Parameters that may be sent more than once: `resource` (RFC 8707 §2).
const REPEATABLE: [&str; 1] = ["resource"];
/// Most values of a repeatable parameter kept.
const MAX_REPEATS: usize = 20;

/// Parsed form parameters.
#[derive(Clone, Debug, Default)]
pub struct Params(HashMap<String, String>, Vec<String>);

/// A form body already read and parsed by the rate-limit guard, kept in the request's
/// extensions so the handler does not read and parse it a second time.
#[derive(Clone, Debug)]
pub struct ParsedForm(pub std::sync::Arc<Params>);

impl Params {
    /// Parses a form body (or query string), refusing repeated or oversized parameters
    /// and control characters (outside password fields).
    pub fn parse(raw: &[u8]) -> OAuthResult<Self> {
        let params = Self::parse_allowing_control(raw)?;
        if let Some((key, _)) = params
            .0
            .iter()
            .find(|(k, v)| !HASHED_ONLY.contains(&k.as_str()) && has_control_chars(v))
        {
            return Err(OAuthError::invalid_request(format!(
                "parameter '{key}' contains a control character"
            )));
        }
        if params.1.iter().any(|v| has_control_chars(v)) {
            return Err(OAuthError::invalid_request(
                "parameter 'resource' contains a control character",
            ));
        }
        Ok(params)
    }

    /// [`Params::parse`] that leaves control characters in values for the caller to
    /// judge: the authorization endpoint must report them at the client's redirect
    /// URI once that is known to be good (RFC 6749 §4.1.2.1). Names still may not
    /// hold any.
    pub fn parse_allowing_control(raw: &[u8]) -> OAuthResult<Self> {
        let mut map = HashMap::new();
        let mut repeated = Vec::new();
        for (key, value) in url::form_urlencoded::parse(raw) {
            if has_control_chars(&key) {
                return Err(OAuthError::invalid_request(
                    "a parameter name contains a control character",
                ));
            }
            if value.is_empty() {
                continue;
            }
            if value.len() > MAX_PARAM_LEN || key.len() > 128 {
                return Err(OAuthError::invalid_request(format!(
                    "parameter '{key}' is too long"
                )));
            }
            if REPEATABLE.contains(&key.as_ref()) {
                if repeated.len() >= MAX_REPEATS {
                    return Err(OAuthError::invalid_request(format!(
                        "parameter '{key}' is repeated more than {MAX_REPEATS} times"
                    )));
                }
                repeated.push(value.clone().into_owned());
                map.entry(key.into_owned()).or_insert(value.into_owned());
                continue;
            }
            if map
                .insert(key.clone().into_owned(), value.into_owned())
                .is_some()
            {
                return Err(OAuthError::invalid_request(format!(
                    "parameter '{key}' is repeated"
                )));
            }
        }
        Ok(Self(map, repeated))
    }

    /// Every value of a repeatable parameter (`resource`), in the order sent; empty
    /// for any other name.
    pub fn all(&self, name: &str) -> &[String] {
        if REPEATABLE.contains(&name) {
            &self.1
        } else {
            &[]
        }
    }

    /// A parameter's value, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The names of the parameters present (for forms with one field per item).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// A required parameter.
    pub fn require(&self, name: &str) -> OAuthResult<&str> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("missing parameter '{name}'")))
    }
}

/// The client's credentials from the `Authorization: Basic` header or the form body.
/// Using both methods at once is refused (RFC 6749 §2.3: one method per request).
pub fn client_credentials(headers: &HeaderMap, params: &Params) -> OAuthResult<ClientCredentials> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("basic")
                .then(|| rest.trim().to_owned())
        });
    let form_id = params.get("client_id");
    let form_secret = params.get("client_secret");
    match basic {
        Some(encoded) => {
            if form_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not two",
                ));
            }
            let decoded = STANDARD
                .decode(encoded)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(OAuthError::invalid_client)?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(OAuthError::invalid_client)?;
            // RFC 6749 §2.3.1: both halves are form-urlencoded before Basic encoding.
            let id = form_decode(id);
            if has_control_chars(&id) {
                return Err(OAuthError::invalid_request(
                    "client_id contains a control character",
                ));
            }
            if form_id.is_some_and(|f| f != id) {
                return Err(OAuthError::invalid_request(
                    "client_id differs from the authenticated client",
                ));
            }
            Ok(ClientCredentials::Basic {
                client_id: id,
                secret: form_decode(secret),
            })
        }
        None => match (form_id, form_secret) {
            (Some(id), Some(secret)) => Ok(ClientCredentials::Post {
                client_id: id.to_owned(),
                secret: secret.to_owned(),
            }),
            (Some(id), None) => Ok(ClientCredentials::None {
                client_id: id.to_owned(),
            }),
            (None, _) => Err(OAuthError::invalid_client()),
        },
    }
}

fn form_decode(value: &str) -> String {
    url::form_urlencoded::parse(format!("v={value}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused_and_empty_ones_ignored() {
        assert!(Params::parse(b"a=1&a=2").is_err());
        let p = Params::parse(b"a=1&b=&c=x+y").unwrap();
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("x y"));
        assert!(Params::parse(format!("a={}", "x".repeat(MAX_PARAM_LEN + 1)).as_bytes()).is_err());
    }

    #[test]
    fn control_characters_are_refused_except_in_password_fields() {
        for raw in [
            "client_id=a%00b",
            "grant_type=client_credentials%0A",
            "scope=x%7F",
            "state=%C2%85",
            "a%00=1",
        ] {
            assert!(Params::parse(raw.as_bytes()).is_err(), "{raw}");
        }
        let p = Params::parse(b"username=ann&password=p%00w%09d").unwrap();
        assert_eq!(p.get("password"), Some("p\0w\td"));
        let lenient = Params::parse_allowing_control(b"state=a%00b").unwrap();
        assert_eq!(lenient.get("state"), Some("a\0b"));
        assert!(Params::parse_allowing_control(b"a%00=1").is_err());
    }

    #[test]
    fn a_basic_client_id_with_a_control_character_is_refused() {
        let mut headers = HeaderMap::new();
        let raw = STANDARD.encode("my%00client:secret");
        headers.insert(
            header::AUTHORIZATION,
            format!("Basic {raw}").parse().unwrap(),
        );
        let err = client_credentials(&headers, &Params::parse(b"").unwrap())
            .err()
            .unwrap();
        assert_eq!(err.code.as_str(), "invalid_request");
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let mut headers = HeaderMap::new();
        let raw = STANDARD.encode("my%3Aclient:s%2Bcret");
        headers.insert(
            header::AUTHORIZATION,
            format!("Basic {raw}").parse().unwrap(),
        );
        let creds = client_credentials(&headers, &Params::parse(b"").unwrap()).unwrap();
        let ClientCredentials::Basic { client_id, secret } = creds else {
            panic!("expected basic")
        };
        assert_eq!(
            (client_id.as_str(), secret.as_str()),
            ("my:client", "s+cret")
        );
        assert!(client_credentials(&headers, &Params::parse(b"client_secret=x").unwrap()).is_err());
    }
}
