//! OAuth 2.0 protocol errors: the `error` codes of RFC 6749 §4.1.2.1 / §5.2, RFC 6750
//! §3.1, RFC 7009 §2.2.1 and OIDC Core §3.1.2.6, each with a human-readable
//! description. `Display` is the code itself, as the protocol sends it.

use crate::Error;

/// An `error` code defined by the OAuth and OpenID Connect specifications.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// RFC 6749 §5.2: malformed or missing parameter.
    InvalidRequest,
    /// RFC 6749 §5.2: client authentication failed (401).
    InvalidClient,
    /// RFC 6749 §5.2: the code, refresh token or credentials are invalid.
    InvalidGrant,
    /// RFC 6749 §5.2: this client may not use this grant type.
    UnauthorizedClient,
    /// RFC 6749 §5.2: the grant type is not supported.
    UnsupportedGrantType,
    /// RFC 6749 §5.2: the scope is invalid or exceeds what was granted.
    InvalidScope,
    /// RFC 8707 §2: the `resource` is malformed, unknown, or not for this client.
    InvalidTarget,
    /// RFC 6749 §4.1.2.1: the user or server denied the request.
    AccessDenied,
    /// RFC 6749 §4.1.2.1: only `response_type=code` is supported.
    UnsupportedResponseType,
    /// RFC 7009 §2.2.1: revocation of this token type is not supported.
    UnsupportedTokenType,
    /// RFC 6750 §3.1: the access token is invalid (401).
    InvalidToken,
    /// RFC 6750 §3.1: the token lacks the needed scope (403).
    InsufficientScope,
    /// OIDC Core §3.1.2.6: `prompt=none` but the user must log in.
    LoginRequired,
    /// OIDC Core §3.1.2.6: `prompt=none` but the user must consent.
    ConsentRequired,
    /// RFC 6749 §4.1.2.1: an unexpected condition.
    ServerError,
    /// RFC 6749 §4.1.2.1: storage is unavailable or the server is busy; try again
    /// later (503 with `Retry-After`).
    TemporarilyUnavailable,
}

impl ErrorCode {
    /// The code as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

/// A protocol error with its description.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", code.as_str())]
pub struct OAuthError {
    /// The error code.
    pub code: ErrorCode,
    /// What went wrong, for the developer reading the response.
    pub description: String,
}

impl OAuthError {
    /// An error with `code` and `description`.
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }

    /// `invalid_request` with a description.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// `invalid_grant` with a description.
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    /// `invalid_client`: the same answer whatever was wrong with the credentials.
    pub fn invalid_client() -> Self {
        Self::new(ErrorCode::InvalidClient, "client authentication failed")
    }
}

impl From<Error> for OAuthError {
    fn from(err: Error) -> Self {
        match err {
            Error::Unavailable(cause) => {
                tracing::error!(error = %cause, "storage unavailable");
                Self::new(
                    ErrorCode::TemporarilyUnavailable,
                    "a backing service is unavailable; retry later",
                )
            }
            Error::Busy(queue) => {
                // Not an error of ours: a flood, or a burst above capacity.
                tracing::debug!(queue, "work queue full; request refused");
                Self::new(
                    ErrorCode::TemporarilyUnavailable,
                    "the server is busy; retry later",
                )
            }
            other => {
                tracing::error!(error = %other, "internal error in a protocol endpoint");
                Self::new(ErrorCode::ServerError, "internal error")
            }
        }
    }
}

/// Result of a protocol operation.
pub type OAuthResult<T> = std::result::Result<T, OAuthError>;
