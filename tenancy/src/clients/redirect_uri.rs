//! Registration rules for redirect URIs (OAuth 2.1 §2.3.1, RFC 9700 §2.1, RFC 8252).
//!
//! At authorization time redirect URIs are compared by exact string equality against
//! what was registered (RFC 9700 §4.1.3), so the rules here only decide what may be
//! registered at all:
//! - absolute URI, at most 2,000 bytes, no fragment (RFC 6749 §3.1.2), no userinfo,
//!   no wildcard anywhere;
//! - `https` with a host; or
//! - `http` only on a loopback host (`127.0.0.0/8`, `[::1]`, `localhost`) for native
//!   apps (RFC 8252 §7.3, §8.3); or
//! - a private-use scheme in reverse-domain form containing a period, e.g.
//!   `com.example.app:/callback` (RFC 8252 §7.1); schemes that execute or read local
//!   content (`javascript`, `data`, `file`, ...) are always refused.

use std::net::IpAddr;

use url::{Host, Url};

/// Longest redirect URI accepted at registration.
pub const MAX_LEN: usize = 2000;

const FORBIDDEN_SCHEMES: &[&str] = &[
    "javascript",
    "data",
    "file",
    "vbscript",
    "about",
    "blob",
    "filesystem",
    "ftp",
    "ws",
    "wss",
];

/// Checks one redirect URI against the registration rules; the error says which rule.
pub fn validate(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    if value.len() > MAX_LEN {
        return Err(format!("must be at most {MAX_LEN} characters"));
    }
    if value.contains('#') {
        return Err("must not contain a fragment (RFC 6749 §3.1.2)".into());
    }
    if value.contains('*') {
        return Err("must not contain wildcards; redirect URIs are matched exactly".into());
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain whitespace".into());
    }
    let url = Url::parse(value).map_err(|_| "must be an absolute URI".to_string())?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain user information".into());
    }
    let scheme = url.scheme();
    match scheme {
        "https" => match url.host() {
            Some(_) => Ok(()),
            None => Err("https redirect URIs need a host".into()),
        },
        "http" => match url.host() {
            Some(host) if is_loopback(&host) => Ok(()),
            _ => Err("http is allowed only for loopback hosts (RFC 8252 §7.3); use https".into()),
        },
        s if FORBIDDEN_SCHEMES.contains(&s) => Err(format!("the '{s}' scheme is not allowed")),
        s if s.contains('.') => Ok(()),
        _ => Err(
            "must use https, http on a loopback host, or a private-use scheme in \
             reverse-domain form such as com.example.app (RFC 8252 §7.1)"
                .into(),
        ),
    }
}

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        Host::Ipv6(ip) => IpAddr::V6(*ip).is_loopback(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_https_loopback_http_and_private_use_schemes() {
        for ok in [
            "https://app.example.com/callback",
            "https://app.example.com:8443/cb?tenant=1",
            "http://127.0.0.1:4000/cb",
            "http://[::1]/cb",
            "http://localhost:3000/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_each_broken_rule() {
        for (bad, why) in [
            ("", "empty"),
            ("/relative/cb", "relative"),
            ("https://app.example.com/cb#frag", "fragment"),
            ("https://*.example.com/cb", "wildcard"),
            ("http://app.example.com/cb", "plain http on a public host"),
            ("http://10.0.0.1/cb", "plain http on a private host"),
            ("javascript:alert(1)", "javascript"),
            ("data:text/html,hi", "data"),
            ("myapp://cb", "private scheme without a period"),
            ("https://user:pw@app.example.com/cb", "userinfo"),
            ("https://app.example.com/a b", "whitespace"),
        ] {
            assert!(validate(bad).is_err(), "{why}: {bad}");
        }
        assert!(validate(&format!("https://a.example/{}", "x".repeat(MAX_LEN))).is_err());
    }
}
