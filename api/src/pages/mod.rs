//! Server-rendered pages of a tenant's authorization flow: the authorization endpoint
//! itself, login, the second factor, consent, logout and the account page. HTML is
//! rendered by askama (escaped by default), every page is `Cache-Control: no-store`,
//! cannot be framed (CSP `frame-ancestors 'none'`), and works without JavaScript —
//! except passkeys: WebAuthn needs the one script, `/assets/passkeys.js`, which only
//! the pages offering a passkey load, and only their CSP allows (see
//! [`PasskeyScript`] and [`html_scripted`]). Forms carry a CSRF token bound to the
//! server-side session, and the session cookie is HttpOnly, SameSite=Lax, and Secure
//! with the `__Host-` prefix when the public URL is https.

pub mod account;
pub mod authorize;
pub mod consent;
pub mod flow;
pub mod login;
pub mod logout;
pub mod mfa;
pub mod passkeys;
pub mod password;
pub mod verify_email;

use std::sync::LazyLock;

use askama::Template;
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use poem::{
    IntoResponse, Request, Response,
    http::{HeaderValue, StatusCode, header},
};

use sha2::{Digest, Sha256};

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
    /// Whether to offer passwordless sign-in with a passkey.
    pub passkeys: bool,
    /// Where the passkey script gets its options.
    pub passkey_options: String,
    /// Where the passkey script posts the result.
    pub passkey_finish: String,
    /// How this response loads the passkey script.
    pub script: PasskeyScript,
}

/// The second-factor page: verify a factor, or enrol one first.
#[derive(Template)]
#[template(path = "mfa.html")]
pub struct MfaPage<'a> {
    /// Tenant display name.
    pub tenant_name: &'a str,
    /// Where the forms post.
    pub action: String,
    /// Pending interaction id.
    pub interaction: &'a str,
    /// CSRF token.
    pub csrf: &'a str,
    /// Error to show.
    pub error: Option<&'a str>,
    /// The user has no factor and must enrol one.
    pub enrol: bool,
    /// The TOTP enrolment to show (when enrolling).
    pub enrolment: Option<tenancy::accounts::mfa::totp::Enrolment>,
    /// Offer a TOTP code.
    pub totp: bool,
    /// Offer a recovery code.
    pub recovery: bool,
    /// Offer a passkey.
    pub passkey: bool,
    /// `get` (sign in with one) or `create` (register one).
    pub passkey_mode: &'a str,
    /// `mfa` or `enrol`.
    pub passkey_purpose: &'a str,
    /// Where the passkey script gets its options.
    pub passkey_options: String,
    /// Where the passkey script posts the result.
    pub passkey_finish: String,
    /// How this response loads the passkey script.
    pub script: PasskeyScript,
}

/// Freshly generated recovery codes, shown once.
#[derive(Template)]
#[template(path = "recovery_codes.html")]
pub struct RecoveryCodesPage<'a> {
    /// Tenant display name.
    pub tenant_name: &'a str,
    /// The codes.
    pub codes: Vec<String>,
    /// Where "continue" goes.
    pub action: String,
    /// The interaction to continue, during a login.
    pub interaction: Option<&'a str>,
    /// CSRF token.
    pub csrf: &'a str,
}

/// The consent form.
#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    /// Tenant display name.
    pub tenant_name: &'a str,
    /// Client display name.
    pub client_name: &'a str,
    /// Requested scopes of no API (OpenID Connect and the client's own), each with
    /// what it means in words (empty when there is nothing to say).
    pub scopes: Vec<(String, String)>,
    /// The APIs asked for, each with its requested permissions in words.
    pub apis: Vec<ConsentApi>,
    /// Where the form posts.
    pub action: String,
    /// Pending interaction id.
    pub interaction: &'a str,
    /// CSRF token.
    pub csrf: &'a str,
}

/// One API on the consent page: its name and the permissions asked, described.
pub struct ConsentApi {
    /// The API's display name.
    pub name: String,
    /// `(scope, description)` of each permission asked.
    pub permissions: Vec<(String, String)>,
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

/// The passkey script, served as a static file at `/assets/passkeys.js`.
const PASSKEY_SCRIPT: &str = include_str!("../../assets/passkeys.js");

/// `sha256-<base64>` of [`PASSKEY_SCRIPT`]: its Subresource Integrity metadata (SRI §3.1).
static PASSKEY_INTEGRITY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "sha256-{}",
        STANDARD.encode(Sha256::digest(PASSKEY_SCRIPT.as_bytes()))
    )
});

/// Where pages load the script from: versioned by its hash, so a browser's cached copy
/// of another version (the script is cacheable for minutes) is never the one a page's
/// `integrity` is checked against.
static PASSKEY_SRC: LazyLock<String> = LazyLock::new(|| {
    let digest = Sha256::digest(PASSKEY_SCRIPT.as_bytes());
    let prefix = digest.get(..9).unwrap_or_default();
    format!("/assets/passkeys.js?v={}", URL_SAFE_NO_PAD.encode(prefix))
});

/// How one response of a page offering a passkey loads the passkey script, and the
/// only script that page's CSP lets run.
///
/// Chosen against CSP Level 3: the script stays a static file (cacheable, no inline
/// code), and `script-src` holds nothing but a per-response `'nonce-…'`, which CSP
/// Level 3 ("Does element match source list for type and source?") matches against
/// the `nonce` of external `<script src>` elements in every browser with CSP Level 2 or
/// later. We do not allow `'self'`, which would let any script-typed URL of this origin
/// run; nor a `'sha256-…'` source alone, because CSP Level 3 matches a hash against an
/// *external* script only through its `integrity` metadata, which Firefox has
/// supported only since version 116 and Safari not at all. Instead the `<script>`
/// element also carries the SHA-256 `integrity` of the served bytes (Subresource
/// Integrity, supported everywhere), so the one element the server wrote runs, and
/// only with exactly these bytes. The nonce is 256 random bits, fresh per response,
/// and every page is `no-store`, so no cached page replays one (CSP Level 3, "Nonce
/// Reuse").
pub struct PasskeyScript {
    /// This response's nonce (base64url), in the CSP and on the `<script>` element.
    pub nonce: String,
    /// The script's SRI `integrity` attribute value.
    pub integrity: &'static str,
    /// The script's URL.
    pub src: &'static str,
}

impl PasskeyScript {
    /// A fresh nonce for one response.
    pub fn new() -> tenancy::Result<Self> {
        Ok(Self {
            nonce: tenancy::crypto::secrets::random_token("")?,
            integrity: PASSKEY_INTEGRITY.as_str(),
            src: PASSKEY_SRC.as_str(),
        })
    }
}

/// An HTML response with the page security headers of a page offering a passkey: the
/// CSP lets exactly `script` run (see [`PasskeyScript`]) and fetch this origin, and
/// lets its forms post to this origin and be answered with a redirect to
/// `redirect_target` (the client's registered redirect URI of the pending
/// authorization, or `None` when every answer stays on this origin).
///
/// `form-action` is also enforced on the redirects that follow a form submission
/// (CSP Level 3 §6.4.1; Chromium does, see w3c/webappsec-csp#8): under
/// `form-action 'self'` the 303 that sends the browser back to the client with its
/// code, after the password or a TOTP code was posted, is blocked. So the client's
/// redirect target is allowed too, as narrowly as CSP can name it
/// (`redirect_source`).
pub fn html_scripted(
    status: StatusCode,
    page: &impl Template,
    script: &PasskeyScript,
    redirect_target: Option<&str>,
) -> Response {
    let mut resp = html(status, page);
    let csp = scripted_csp(&script.nonce, redirect_target);
    match HeaderValue::from_str(&csp) {
        Ok(value) => {
            resp.headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, value);
        }
        // Cannot happen (base64url nonce, sanitised sources); the strict CSP stays.
        Err(err) => tracing::error!(error = %err, "passkey page CSP is not a header value"),
    }
    resp
}

fn scripted_csp(nonce: &str, redirect_target: Option<&str>) -> String {
    let mut form_action = String::from("'self'");
    if let Some(source) = redirect_target.and_then(redirect_source) {
        form_action.push(' ');
        form_action.push_str(&source);
    }
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-{nonce}'; \
         connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action {form_action}"
    )
}

/// The narrowest CSP source expression that matches a redirect to `uri` (a client's
/// registered redirect URI): `scheme://host[:port]` for a host name (CSP Level 3
/// compares no path once a request was redirected), only the scheme for a
/// private-use scheme (RFC 8252 §7.1) or an IP-literal loopback host (RFC 8252 §7.3),
/// which CSP Level 3 "host-part match" never matches, and only the scheme too for a
/// host with characters outside CSP's `host-char` grammar, so a redirect URI can
/// never add directives to the header.
fn redirect_source(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    let scheme = url.scheme();
    if !scheme
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    match url.host() {
        Some(url::Host::Domain(host))
            if matches!(scheme, "http" | "https")
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.')) =>
        {
            Some(match url.port() {
                Some(port) => format!("{scheme}://{host}:{port}"),
                None => format!("{scheme}://{host}"),
            })
        }
        _ => Some(format!("{scheme}:")),
    }
}

/// Pages without a passkey run no script at all.
const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";

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
        HeaderValue::from_static(CSP),
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

/// `/assets/passkeys.js`: the WebAuthn glue of the passkey buttons.
#[poem::handler]
pub fn passkeys_js() -> Response {
    let mut resp = PASSKEY_SCRIPT
        .with_content_type("text/javascript; charset=utf-8")
        .into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    resp.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
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
    fn a_redirect_to_a_named_host_is_allowed_by_its_origin_only() {
        assert_eq!(
            redirect_source("https://app.example.com/cb?x=1").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(
            redirect_source("http://localhost:8400/callback").as_deref(),
            Some("http://localhost:8400")
        );
    }

    #[test]
    fn redirects_csp_cannot_name_by_host_are_allowed_by_their_scheme() {
        // Private-use scheme (RFC 8252 §7.1) and IP-literal loopback (RFC 8252 §7.3).
        assert_eq!(
            redirect_source("com.example.app:/callback").as_deref(),
            Some("com.example.app:")
        );
        assert_eq!(
            redirect_source("http://127.0.0.1:18999/cb").as_deref(),
            Some("http:")
        );
        assert_eq!(
            redirect_source("http://[::1]:8080/cb").as_deref(),
            Some("http:")
        );
    }

    #[test]
    fn a_redirect_uri_cannot_add_directives_to_the_policy() {
        let source = redirect_source("https://a;script-src*;b.example/cb").unwrap();
        assert_eq!(source, "https:");
        let csp = scripted_csp("n0nce", Some("https://a;script-src*;b.example/cb"));
        assert_eq!(csp.matches("script-src").count(), 1, "{csp}");
    }

    #[test]
    fn a_passkey_page_runs_only_its_nonced_script_and_may_post_back_to_the_client() {
        let csp = scripted_csp("n0nce", Some("https://app.example.com/cb"));
        let directives: Vec<&str> = csp.split(';').map(str::trim).collect();
        assert!(directives.contains(&"script-src 'nonce-n0nce'"), "{csp}");
        assert!(
            directives.contains(&"form-action 'self' https://app.example.com"),
            "{csp}"
        );
        assert!(directives.contains(&"frame-ancestors 'none'"), "{csp}");
        assert!(directives.contains(&"default-src 'none'"), "{csp}");
        let account = scripted_csp("n0nce", None);
        assert!(account.ends_with("form-action 'self'"), "{account}");
    }

    #[test]
    fn the_integrity_and_the_versioned_url_follow_the_served_bytes() {
        let script = PasskeyScript::new().unwrap();
        let digest = Sha256::digest(PASSKEY_SCRIPT.as_bytes());
        assert_eq!(
            script.integrity,
            format!("sha256-{}", STANDARD.encode(digest))
        );
        assert!(script.src.starts_with("/assets/passkeys.js?v="));
        assert_ne!(script.nonce, PasskeyScript::new().unwrap().nonce);
        assert!(script.nonce.len() >= 43, "256 bits: {}", script.nonce);
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
