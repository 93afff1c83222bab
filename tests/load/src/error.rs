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

/// At most 200 characters of a body, on one line; the text of an HTML page.
pub fn snippet(body: &[u8]) -> String {
    let raw = String::from_utf8_lossy(body);
    let head = raw
        .trim_start()
        .get(..15)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let text = if head.starts_with("<!doctype html") || head.starts_with("<html") {
        html_text(&raw)
    } else {
        raw.into_owned()
    };
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    one_line
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(200)
        .collect()
}

/// The visible text of an HTML page (tags, scripts and styles removed).
fn html_text(html: &str) -> String {
    // ASCII lower-casing keeps byte offsets, so positions found in `lower` apply to `html`.
    let lower = html.to_ascii_lowercase();
    let mut out = String::with_capacity(html.len() / 2);
    let mut pos = 0;
    while let Some(lt) = lower.get(pos..).and_then(|r| r.find('<')).map(|i| i + pos) {
        out.push_str(html.get(pos..lt).unwrap_or_default());
        out.push(' ');
        let tag = lower.get(lt..).unwrap_or_default();
        let close = if tag.starts_with("<script") {
            "</script>"
        } else if tag.starts_with("<style") {
            "</style>"
        } else {
            ">"
        };
        pos = tag.find(close).map_or(html.len(), |i| lt + i + close.len());
    }
    out.push_str(html.get(pos..).unwrap_or_default());
    crate::forms::decode_entities(&out)
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

    #[test]
    fn html_error_pages_become_their_text() {
        let page = b"<!doctype html>\n<html><head><title>Bad request &middot; Bench</title>\
            <style>main { color: red }</style><script>let a = '<p>';</script></head>\
            <body><main><h1>Bad request</h1><p>The redirect_uri is not registered &amp; so on.</p></main></body></html>";
        assert_eq!(
            snippet(page),
            "Bad request &middot; Bench Bad request The redirect_uri is not registered & so on."
        );
        assert_eq!(snippet(&[b'x'; 300]).len(), 200);
    }
}
