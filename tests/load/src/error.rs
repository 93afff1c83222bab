//! Operation errors, classified into a few stable kinds for the report.

use std::fmt;

use reqwest::StatusCode;

/// Why one operation failed: a short `kind` (counted in the report, e.g.
/// `token 400 invalid_grant` or `authorize timeout`) and a longer detail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpError {
    /// Low-cardinality class of the failure.
    pub kind: String,
    /// Human-readable specifics (first bytes of the body, the URL, ...).
    pub detail: String,
}

/// Result of one operation step.
pub type OpResult<T> = Result<T, OpError>;

impl OpError {
    /// An error of `kind` with `detail`.
    pub fn new(kind: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            detail: detail.into(),
        }
    }

    /// A failure below HTTP (connect, timeout, reading the body) talking to `what`.
    pub fn transport(what: &str, e: &reqwest::Error) -> Self {
        let class = if e.is_timeout() {
            "timeout"
        } else if e.is_connect() {
            "connect"
        } else if e.is_body() || e.is_decode() {
            "body"
        } else {
            "transport"
        };
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            detail.push_str(": ");
            detail.push_str(&s.to_string());
            source = s.source();
        }
        Self::new(format!("{what} {class}"), detail)
    }

    /// An unexpected HTTP status from `what`; the OAuth `error` code of a JSON
    /// body becomes part of the kind.
    pub fn status(what: &str, status: StatusCode, body: &[u8]) -> Self {
        let code = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .filter(|e| e.len() <= 40 && e.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        let kind = match code {
            Some(code) => format!("{what} {} {code}", status.as_u16()),
            None => format!("{what} {}", status.as_u16()),
        };
        Self::new(kind, snippet(body))
    }
}

/// At most 200 characters of a body, on one line.
pub fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.detail.is_empty() {
            f.write_str(&self.kind)
        } else {
            write!(f, "{}: {}", self.kind, self.detail)
        }
    }
}

impl std::error::Error for OpError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_kinds_carry_the_oauth_error_code() {
        let e = OpError::status(
            "token",
            StatusCode::BAD_REQUEST,
            br#"{"error":"invalid_grant","error_description":"used"}"#,
        );
        assert_eq!(e.kind, "token 400 invalid_grant");
        let e = OpError::status("token", StatusCode::TOO_MANY_REQUESTS, b"slow\ndown");
        assert_eq!(e.kind, "token 429");
        assert_eq!(e.to_string(), "token 429: slow down");
        let weird = OpError::status("token", StatusCode::BAD_REQUEST, br#"{"error":"a b"}"#);
        assert_eq!(weird.kind, "token 400");
    }
}
