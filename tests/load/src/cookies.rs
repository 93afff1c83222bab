//! A small cookie jar: the part of RFC 6265 an authorization flow needs.
//!
//! Cookies are kept per host (or per `Domain`), per path, honour `Secure`
//! (sent over https, and to loopback hosts as browsers do), and are removed by
//! `Max-Age<=0` or an `Expires` date in the past.

use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, SET_COOKIE};
use url::Url;

/// One stored cookie.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Cookie {
    name: String,
    value: String,
    /// Lower-case host (host-only cookie) or domain (`Domain` attribute).
    domain: String,
    host_only: bool,
    path: String,
    secure: bool,
    /// Unix seconds after which the cookie is gone; `None` for a session cookie.
    expires: Option<u64>,
}

/// Cookies of one simulated browser.
#[derive(Clone, Debug, Default)]
pub struct CookieJar {
    cookies: Vec<Cookie>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl CookieJar {
    /// Forgets every cookie (a fresh browser).
    pub fn clear(&mut self) {
        self.cookies.clear();
    }

    /// Whether the jar holds no cookie.
    pub fn is_empty(&self) -> bool {
        self.cookies.is_empty()
    }

    /// Takes in the `Set-Cookie` headers of a response to `request_url`.
    pub fn store(&mut self, request_url: &Url, headers: &HeaderMap) {
        let now = unix_now();
        for raw in headers.get_all(SET_COOKIE) {
            if let Ok(raw) = raw.to_str() {
                self.store_one(request_url, raw, now);
            }
        }
    }

    fn store_one(&mut self, request_url: &Url, raw: &str, now: u64) {
        let Some(host) = request_url.host_str().map(str::to_ascii_lowercase) else {
            return;
        };
        let mut parts = raw.split(';');
        let Some((name, value)) = parts.next().and_then(|nv| nv.split_once('=')) else {
            return;
        };
        let name = name.trim();
        if name.is_empty() {
            return;
        }
        let mut cookie = Cookie {
            name: name.to_owned(),
            value: value.trim().trim_matches('"').to_owned(),
            domain: host.clone(),
            host_only: true,
            path: default_path(request_url.path()),
            secure: false,
            expires: None,
        };
        let mut max_age: Option<i64> = None;
        let mut expires: Option<u64> = None;
        for attr in parts {
            let (key, val) = attr.split_once('=').unwrap_or((attr, ""));
            let val = val.trim();
            match key.trim().to_ascii_lowercase().as_str() {
                "path" if val.starts_with('/') => cookie.path = val.to_owned(),
                "domain" => {
                    let d = val.trim_start_matches('.').to_ascii_lowercase();
                    if !d.is_empty() {
                        if !domain_matches(&host, &d) {
                            return; // a server may not set cookies for another site
                        }
                        cookie.domain = d;
                        cookie.host_only = false;
                    }
                }
                "secure" => cookie.secure = true,
                "max-age" => max_age = val.parse().ok(),
                "expires" => expires = parse_http_date(val),
                _ => {}
            }
        }
        // Max-Age wins over Expires (RFC 6265 §5.3 step 3).
        cookie.expires = match max_age {
            Some(n) if n <= 0 => Some(0),
            Some(n) => Some(now.saturating_add(n.unsigned_abs())),
            None => expires,
        };
        self.cookies.retain(|c| {
            !(c.name == cookie.name && c.domain == cookie.domain && c.path == cookie.path)
        });
        if cookie.expires.is_none_or(|t| t > now) {
            self.cookies.push(cookie);
        }
    }

    /// The `Cookie` header value to send with a request to `url`, if any.
    pub fn header_for(&self, url: &Url) -> Option<String> {
        let host = url.host_str()?.to_ascii_lowercase();
        let secure_channel = url.scheme() == "https" || is_loopback(url);
        let now = unix_now();
        let mut matching: Vec<&Cookie> = self
            .cookies
            .iter()
            .filter(|c| {
                (if c.host_only {
                    c.domain == host
                } else {
                    domain_matches(&host, &c.domain)
                }) && path_matches(url.path(), &c.path)
                    && (!c.secure || secure_channel)
                    && c.expires.is_none_or(|t| t > now)
            })
            .collect();
        if matching.is_empty() {
            return None;
        }
        // Longer paths first (RFC 6265 §5.4 step 2); the sort is stable.
        matching.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        let parts: Vec<String> = matching
            .iter()
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        Some(parts.join("; "))
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// RFC 6265 §5.1.3.
fn domain_matches(host: &str, domain: &str) -> bool {
    host == domain
        || (host.ends_with(domain)
            && host
                .strip_suffix(domain)
                .is_some_and(|prefix| prefix.ends_with('.'))
            && host.parse::<std::net::IpAddr>().is_err())
}

/// RFC 6265 §5.1.4: the directory of the request path.
fn default_path(path: &str) -> String {
    match path.rfind('/') {
        Some(0) | None => "/".to_owned(),
        Some(i) => path.get(..i).unwrap_or("/").to_owned(),
    }
}

/// RFC 6265 §5.1.4 path-match.
fn path_matches(request: &str, cookie: &str) -> bool {
    request == cookie
        || request
            .strip_prefix(cookie)
            .is_some_and(|rest| cookie.ends_with('/') || rest.starts_with('/'))
}

/// Parses the usual `Expires` form, `Thu, 01 Jan 1970 00:00:00 GMT` (also with
/// dashes, as in `01-Jan-1970`), to Unix seconds. Anything else gives `None`,
/// which makes the cookie a session cookie.
fn parse_http_date(s: &str) -> Option<u64> {
    let s = s.split_once(',').map_or(s, |(_, rest)| rest);
    let mut it = s
        .split(|c: char| c.is_ascii_whitespace() || c == '-')
        .filter(|p| !p.is_empty());
    let day: u64 = it.next()?.parse().ok()?;
    let month = it.next()?.to_ascii_lowercase();
    let month = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ]
    .iter()
    .position(|m| month.starts_with(m))?;
    let mut year: i64 = it.next()?.parse().ok()?;
    if year < 100 {
        year += if year < 70 { 2000 } else { 1900 };
    }
    let mut hms = it.next()?.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if !(1601..=9999).contains(&year) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(year, u32::try_from(month).ok()? + 1, day)?;
    let secs = days.checked_mul(86_400)? + i64::try_from(h * 3600 + m * 60 + sec).ok()?;
    u64::try_from(secs).ok().or(Some(0))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u64) -> Option<i64> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (i64::from(month) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::try_from(day).ok()? - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(SET_COOKIE, v.parse().unwrap());
        }
        h
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn paths_default_and_match() {
        let mut jar = CookieJar::default();
        jar.store(
            &url("http://idp.test/t/bench/authorize"),
            &headers(&["sid=1; Path=/t/bench; HttpOnly", "flow=2"]),
        );
        // `flow` has the default path /t/bench as well.
        assert_eq!(
            jar.header_for(&url("http://idp.test/t/bench/login"))
                .unwrap(),
            "sid=1; flow=2"
        );
        assert_eq!(jar.header_for(&url("http://idp.test/t/bench2/login")), None);
        assert_eq!(jar.header_for(&url("http://idp.test/")), None);
        assert_eq!(
            jar.header_for(&url("http://idp.test/t/bench")).unwrap(),
            "sid=1; flow=2"
        );
    }

    #[test]
    fn replaced_and_deleted() {
        let mut jar = CookieJar::default();
        let u = url("http://idp.test/login");
        jar.store(&u, &headers(&["a=1; Path=/", "b=2; Path=/"]));
        jar.store(&u, &headers(&["a=3; Path=/"]));
        assert_eq!(jar.header_for(&u).unwrap(), "b=2; a=3");
        jar.store(&u, &headers(&["a=; Path=/; Max-Age=0"]));
        jar.store(
            &u,
            &headers(&["b=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT"]),
        );
        assert!(jar.is_empty());
        assert_eq!(jar.header_for(&u), None);
    }

    #[test]
    fn hosts_domains_and_secure() {
        let mut jar = CookieJar::default();
        jar.store(
            &url("https://login.example.com/"),
            &headers(&[
                "host=1; Path=/",
                "dom=2; Path=/; Domain=.example.com",
                "evil=3; Path=/; Domain=other.test",
                "__Host-s=4; Path=/; Secure",
            ]),
        );
        assert_eq!(jar.cookies.len(), 3);
        assert_eq!(
            jar.header_for(&url("https://login.example.com/x")).unwrap(),
            "host=1; dom=2; __Host-s=4"
        );
        assert_eq!(
            jar.header_for(&url("https://api.example.com/")).unwrap(),
            "dom=2"
        );
        // Secure cookies stay off plain http, except on loopback.
        assert_eq!(
            jar.header_for(&url("http://login.example.com/")).unwrap(),
            "host=1; dom=2"
        );
        let mut local = CookieJar::default();
        let l = url("http://127.0.0.1:3120/t/x");
        local.store(&l, &headers(&["s=1; Path=/; Secure"]));
        assert_eq!(local.header_for(&l).unwrap(), "s=1");
    }

    #[test]
    fn http_dates() {
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("soon"), None);
        let mut jar = CookieJar::default();
        let u = url("http://idp.test/");
        jar.store(
            &u,
            &headers(&["keep=1; Expires=Fri, 01 Jan 2100 00:00:00 GMT"]),
        );
        assert_eq!(jar.header_for(&u).unwrap(), "keep=1");
    }
}
