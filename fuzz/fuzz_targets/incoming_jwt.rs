//! Arbitrary JWTs presented to the server — as a bearer access token at UserInfo
//! (RFC 6750 §2.1), for introspection (RFC 7662) and as an `id_token_hint` at logout —
//! must never crash or 5xx it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use poem::{Request, http::Method};

fuzz_target!(|data: &[u8]| {
    let h = tessera_fuzz::harness();
    let token = String::from_utf8_lossy(&h.fill(data)).into_owned();
    if let Ok(value) = poem::http::HeaderValue::from_str(&format!("Bearer {token}")) {
        let req = Request::builder()
            .method(Method::GET)
            .uri_str(&format!("/t/{}/userinfo", h.slug))
            .header("authorization", value)
            .finish();
        h.expect_no_server_error(req, "userinfo");
    }
    let form = |name: &str| {
        let mut body = format!("{name}=");
        body.push_str(&urlencode(&token));
        body
    };
    let body = h.fill(format!("{}&client_id=@K&client_secret=@S", form("token")).as_bytes());
    let req = Request::builder()
        .method(Method::POST)
        .uri_str(&format!("/t/{}/introspect", h.slug))
        .content_type("application/x-www-form-urlencoded")
        .body(body);
    h.expect_no_server_error(req, "introspect");
    let req = Request::builder()
        .method(Method::POST)
        .uri_str(&format!("/t/{}/logout", h.slug))
        .content_type("application/x-www-form-urlencoded")
        .body(form("id_token_hint"));
    h.expect_no_server_error(req, "logout");
});

fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
