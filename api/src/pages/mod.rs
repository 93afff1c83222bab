//! Server-rendered pages of a tenant's authorization flow: the authorization endpoint
//! itself, login, consent and logout. HTML is rendered by askama (escaped by default),
//! every page is `Cache-Control: no-store`, cannot be framed (CSP `frame-ancestors
//! 'none'`), and works without JavaScript. Forms carry a CSRF token bound to the
//! server-side session, and the session cookie is HttpOnly, SameSite=Lax, and Secure
//! with the `__Host-` prefix when the public URL is https.

pub mod authorize;
pub mod consent;
pub mod flow;
pub mod login;
pub mod logout;
pub mod password;
pub mod verify_email;

use askama::Template;
use poem::{
    IntoResponse, Request, Response,
    http::{HeaderValue, StatusCode, header},
};

use crate::config::Settings;

/// The login form.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    /// Tenant display name.
    pub tenant_name: &'a str,
    /// Where the form posts.
    pub action: String,
    /// Pending interaction id.
    pub interaction: &'a str,
    /// CSRF token.
    pub csrf: &'a str,
    /// Prefilled username.
    pub username: &'a str,
    /// Error to show.
    pub error: Option<&'a str>,
}

/// The consent form.
#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    /// Tenant display name.
    pub tenant_name: &'a str,
    /// Client display name.
    pub client_name: &'a str,
    /// Requested scopes.
    pub scopes: Vec<String>,
    /// Where the form posts.
    pub action: String,
    /// Pending interaction id.
    pub interaction: &'a str,
    /// CSRF token.
    pub csrf: &'a str,
}

/// A page with a heading and a message (errors, "signed out").
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    /// Tenant display name.
    pub tenant_name: &'a str,
    /// Heading.
    pub heading: &'a str,
    /// Message.
    pub message: &'a str,
}

/// An HTML response with the page security headers.
pub fn html(status: StatusCode, page: &impl Template) -> Response {
    let body = match page.render() {
        Ok(body) => body,
        Err(err) => {
            tracing::error!(error = %err, "template rendering failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut resp = poem::web::Html(body).with_status(status).into_response();
    secure_headers(&mut resp);
    resp
}

/// An error page that never redirects (RFC 6749 §4.1.2.1).
pub fn error_page(tenant_name: &str, status: StatusCode, message: &str) -> Response {
    html(
        status,
        &MessagePage {
            tenant_name,
            heading: "This request cannot be completed",
            message,
        },
    )
}

fn secure_headers(resp: &mut Response) {
    let headers = resp.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

/// A `303 See Other` to `location`.
pub fn redirect(location: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    secure_headers(&mut resp);
    resp
}

/// A redirect to a client's (already validated) redirect URI with `params` added to
/// its query (RFC 6749 §4.1.2: keep the URI's own query component).
pub fn redirect_to_client(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut query = url.query_pairs_mut();
                for (k, v) in params {
                    query.append_pair(k, v);
                }
            }
            redirect(url.as_str())
        }
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// The session cookie's name for a tenant: `__Host-` prefixed on https (which also
/// requires `Path=/`), else path-scoped to the tenant.
pub fn cookie_name(settings: &Settings, slug: &str) -> String {
    if settings.is_https() {
        format!("__Host-tessera-{slug}")
    } else {
        format!("tessera-{slug}")
    }
}

/// The value of cookie `name` in the request, if any.
pub fn read_cookie(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Adds a `Set-Cookie` for the session (`max_age = 0` clears it).
pub fn set_session_cookie(
    resp: &mut Response,
    settings: &Settings,
    slug: &str,
    value: &str,
    max_age: u64,
) {
    let name = cookie_name(settings, slug);
    let cookie = if settings.is_https() {
        format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Lax")
    } else {
        format!("{name}={value}; Path=/t/{slug}; Max-Age={max_age}; HttpOnly; SameSite=Lax")
    };
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

#[cfg(test)]
mod tests {
    use poem::Response;

    use super::*;

    fn cookie_for(public_url: &str) -> String {
        let settings = Settings {
            public_url: public_url.into(),
            ..Settings::default()
        };
        let mut resp = Response::default();
        set_session_cookie(&mut resp, &settings, "acme", "abc", 60);
        resp.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn https_sessions_use_a_secure_host_prefixed_cookie() {
        let cookie = cookie_for("https://id.example.com");
        assert!(cookie.starts_with("__Host-tessera-acme=abc;"), "{cookie}");
        for attr in ["Path=/;", "Secure", "HttpOnly", "SameSite=Lax"] {
            assert!(cookie.contains(attr), "{attr} missing: {cookie}");
        }
        assert!(!cookie.contains("Domain"));
    }

    #[test]
    fn http_sessions_are_scoped_to_the_tenant_path() {
        let cookie = cookie_for("http://127.0.0.1:8080");
        assert!(cookie.starts_with("tessera-acme=abc;"), "{cookie}");
        assert!(
            cookie.contains("Path=/t/acme;")
                && cookie.contains("HttpOnly")
                && !cookie.contains("Secure")
        );
    }

    #[test]
    fn client_redirects_keep_the_registered_query_and_encode_parameters() {
        let resp = redirect_to_client(
            "https://app.example.com/cb?tenant=1",
            &[("code", "a b&c"), ("state", "x")],
        );
        let location = resp.headers()[header::LOCATION].to_str().unwrap();
        assert_eq!(
            location,
            "https://app.example.com/cb?tenant=1&code=a+b%26c&state=x"
        );
    }
}
