//! The client's IP address, for audit events and rate limits.
//!
//! `X-Forwarded-For` is believed only when the connection comes from a configured
//! trusted proxy; then the address is the right-most entry that is not itself a
//! trusted proxy (the left-most entries are whatever the client chose to send).
//! From anyone else the header is ignored, so a client cannot forge its address.

use std::net::IpAddr;

use poem::Request;

/// The address of the client behind `req`.
pub fn client_ip(req: &Request, trusted_proxies: &[IpAddr]) -> Option<IpAddr> {
    let peer = req.remote_addr().as_socket_addr().map(|a| a.ip())?;
    if !trusted_proxies.contains(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|part| part.trim().parse::<IpAddr>().ok())
        .collect();
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !trusted_proxies.contains(ip))
            .unwrap_or(peer),
    )
}

/// The audit actor `id` acting through `req` from `ip` (see [`client_ip`]).
pub fn actor(
    req: &Request,
    ip: Option<IpAddr>,
    id: impl Into<String>,
) -> tenancy::journal::audit::Actor {
    tenancy::journal::audit::Actor {
        id: id.into(),
        ip: ip.map(|ip| ip.to_string()),
        user_agent: req.header("user-agent").map(str::to_owned),
    }
}
