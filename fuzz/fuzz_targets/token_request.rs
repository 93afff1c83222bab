//! Arbitrary token requests (RFC 6749 §3.2: form body, optional Basic client
//! authentication on the first line) must never crash or 5xx the server.
#![no_main]

use libfuzzer_sys::fuzz_target;
use poem::{Request, http::Method};

fuzz_target!(|data: &[u8]| {
    let h = tessera_fuzz::harness();
    let filled = h.fill(data);
    // An optional first line is the Authorization header value.
    let (header, body) = match filled.iter().position(|b| *b == b'\n') {
        Some(i) => (filled.get(..i), filled.get(i + 1..).unwrap_or_default()),
        None => (None, filled.as_slice()),
    };
    let mut req = Request::builder()
        .method(Method::POST)
        .uri_str(&format!("/t/{}/token", h.slug))
        .content_type("application/x-www-form-urlencoded");
    if let Some(value) = header.and_then(|v| poem::http::HeaderValue::from_bytes(v).ok()) {
        req = req.header("authorization", value);
    }
    h.expect_no_server_error(req.body(body.to_vec()), "token");
});
