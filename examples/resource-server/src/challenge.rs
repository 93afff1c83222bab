//! Reading the bearer token from a request and answering when it is not good enough:
//! the RFC 6750 §3 `WWW-Authenticate: Bearer` challenge, with the RFC 9728 §5.1
//! `resource_metadata` parameter, and the RFC 9728 §2 metadata document itself.

use serde::Serialize;

/// Why a request was refused, and so which answer it gets (RFC 6750 §3.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No bearer token at all: 401 with a challenge and no error code (RFC 6750 §3.1:
    /// "the resource server SHOULD NOT include an error code").
    #[error("no access token")]
    Missing,
    /// A malformed `Authorization` header: 400 `invalid_request`.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Expired, revoked, malformed, for another audience or issuer: 401 `invalid_token`.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// A valid token without the scope the endpoint needs: 403 `insufficient_scope`
    /// naming that scope.
    #[error("insufficient scope: {0} is needed")]
    InsufficientScope(String),
    /// The authorization server could not be asked (metadata, keys or introspection):
    /// 503, since the token may well be good.
    #[error("authorization server unavailable: {0}")]
    Unavailable(String),
}

impl Rejection {
    /// An `invalid_token` rejection.
    pub fn invalid(why: impl Into<String>) -> Self {
        Self::InvalidToken(why.into())
    }

    /// The HTTP status for this rejection.
    pub fn status(&self) -> u16 {
        match self {
            Self::Missing | Self::InvalidToken(_) => 401,
            Self::InvalidRequest(_) => 400,
            Self::InsufficientScope(_) => 403,
            Self::Unavailable(_) => 503,
        }
    }

    /// The RFC 6750 §3.1 error code, if this rejection has one.
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            Self::Missing | Self::Unavailable(_) => None,
            Self::InvalidRequest(_) => Some("invalid_request"),
            Self::InvalidToken(_) => Some("invalid_token"),
            Self::InsufficientScope(_) => Some("insufficient_scope"),
        }
    }

    /// The `WWW-Authenticate` value (RFC 6750 §3) pointing at `resource_metadata`
    /// (RFC 9728 §5.1), or `None` for a 503 that challenges nobody.
    pub fn www_authenticate(&self, resource_metadata: &str) -> Option<String> {
        let mut params = Vec::new();
        if let Some(code) = self.error_code() {
            params.push(format!("error=\"{code}\""));
        }
        match self {
            Self::Unavailable(_) => return None,
            Self::Missing => {}
            Self::InvalidRequest(why) | Self::InvalidToken(why) => {
                params.push(format!("error_description=\"{}\"", quotable(why)));
            }
            Self::InsufficientScope(scope) => {
                // RFC 6750 §3: `scope` lists what the request needs.
                params.push(format!("scope=\"{}\"", quotable(scope)));
            }
        }
        params.push(format!(
            "resource_metadata=\"{}\"",
            quotable(resource_metadata)
        ));
        Some(format!("Bearer {}", params.join(", ")))
    }
}

/// `value` with what may not stand in an RFC 6750 §3 quoted string (`"`, `\`, and
/// anything outside printable ASCII) left out.
fn quotable(value: &str) -> String {
    value
        .chars()
        .filter(|c| matches!(c, ' ' | '!' | '#'..='[' | ']'..='~'))
        .collect()
}

/// The token of an `Authorization: Bearer <token>` header value (RFC 6750 §2.1).
///
/// The scheme is case-insensitive (RFC 9110 §11.1); another scheme, like no header,
/// is [`Rejection::Missing`]; `Bearer` with no token or with something that is not a
/// token68 is `invalid_request`.
pub fn bearer_token(authorization: Option<&str>) -> Result<&str, Rejection> {
    let Some(value) = authorization else {
        return Err(Rejection::Missing);
    };
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Rejection::Missing);
    }
    let token = rest.trim_matches(' ');
    let token68 = |c: char| c.is_ascii_alphanumeric() || "-._~+/".contains(c);
    let body = token.trim_end_matches('=');
    if body.is_empty() || !body.chars().all(token68) {
        return Err(Rejection::InvalidRequest(
            "the Authorization header is not `Bearer <token>`".into(),
        ));
    }
    Ok(token)
}

/// The RFC 9728 §2 protected resource metadata an API serves at its
/// `/.well-known/oauth-protected-resource` URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ResourceMetadata {
    /// The API's resource identifier: the `aud` of its tokens.
    pub resource: String,
    /// Issuers whose tokens the API accepts (RFC 8414 issuer identifiers).
    pub authorization_servers: Vec<String>,
    /// Scopes the API understands.
    #[serde(default)]
    pub scopes_supported: Vec<String>,
    /// How tokens are sent: only the header (RFC 6750 §2.1).
    pub bearer_methods_supported: Vec<String>,
    /// Everything else the document carries (`resource_name`, ...), served back
    /// unchanged.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl ResourceMetadata {
    /// The document for an API with identifier `resource` trusting `issuer`.
    pub fn new(resource: &str, issuer: &str, scopes: &[String]) -> Self {
        Self {
            resource: resource.to_owned(),
            authorization_servers: vec![issuer.to_owned()],
            scopes_supported: scopes.to_vec(),
            bearer_methods_supported: vec!["header".into()],
            other: serde_json::Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MD: &str = "https://a.example/.well-known/oauth-protected-resource";

    #[test]
    fn no_header_and_other_schemes_are_a_missing_token() {
        assert_eq!(bearer_token(None), Err(Rejection::Missing));
        assert_eq!(bearer_token(Some("Basic dTpw")), Err(Rejection::Missing));
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token(Some("bearer abc.def")), Ok("abc.def"));
        assert_eq!(bearer_token(Some("BEARER tra_x-y")), Ok("tra_x-y"));
    }

    #[test]
    fn bearer_without_a_token68_is_an_invalid_request() {
        for bad in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer ==",
            "Bearer a\"b",
        ] {
            assert!(
                matches!(bearer_token(Some(bad)), Err(Rejection::InvalidRequest(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_missing_token_is_challenged_without_an_error_code() {
        let r = Rejection::Missing;
        assert_eq!(r.status(), 401);
        assert_eq!(
            r.www_authenticate(MD).unwrap(),
            format!("Bearer resource_metadata=\"{MD}\"")
        );
    }

    #[test]
    fn an_invalid_token_is_401_invalid_token_with_a_description() {
        let r = Rejection::invalid("expired \"really\"");
        assert_eq!(r.status(), 401);
        assert_eq!(
            r.www_authenticate(MD).unwrap(),
            format!(
                "Bearer error=\"invalid_token\", error_description=\"expired really\", resource_metadata=\"{MD}\""
            )
        );
    }

    #[test]
    fn insufficient_scope_is_403_naming_the_scope() {
        let r = Rejection::InsufficientScope("write:things".into());
        assert_eq!(r.status(), 403);
        assert_eq!(
            r.www_authenticate(MD).unwrap(),
            format!(
                "Bearer error=\"insufficient_scope\", scope=\"write:things\", resource_metadata=\"{MD}\""
            )
        );
    }

    #[test]
    fn an_unavailable_server_is_503_without_a_challenge() {
        let r = Rejection::Unavailable("down".into());
        assert_eq!(r.status(), 503);
        assert_eq!(r.www_authenticate(MD), None);
    }

    #[test]
    fn metadata_keeps_fields_it_does_not_know() {
        let doc = serde_json::json!({
            "resource": "https://a.example/",
            "authorization_servers": ["http://127.0.0.1:8000/t/acme"],
            "scopes_supported": ["read:things"],
            "bearer_methods_supported": ["header"],
            "resource_signing_alg_values_supported": ["RS256"],
        });
        let md: ResourceMetadata = serde_json::from_value(doc.clone()).unwrap();
        assert_eq!(md.resource, "https://a.example/");
        assert_eq!(serde_json::to_value(&md).unwrap(), doc);
    }
}
