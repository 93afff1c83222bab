//! Arbitrary authorization requests (RFC 6749 §4.1.1 parameters as a form body,
//! which `/authorize` accepts like a query) must never crash or 5xx the server.
#![no_main]

use libfuzzer_sys::fuzz_target;
use poem::{Request, http::Method};

fuzz_target!(|data: &[u8]| {
    let h = tessera_fuzz::harness();
    let body = h.fill(data);
    let req = Request::builder()
        .method(Method::POST)
        .uri_str(&format!("/t/{}/authorize", h.slug))
        .content_type("application/x-www-form-urlencoded")
        .body(body);
    h.expect_no_server_error(req, "authorize");
});
