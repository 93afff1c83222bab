//! Per-endpoint rate limits as a tenant configures them, and how client addresses are
//! grouped for counting (the counting itself is [`crate::cache::rate_limit`]).

use std::net::{IpAddr, Ipv6Addr};

use serde::{Deserialize, Serialize};

/// One limit: at most `per_address` counted events per client address and
/// `per_target` per target, in each window of `window_secs`. A limit of 0 is off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointLimit {
    /// Counted events allowed per tenant and client address (IPv6 by /64) per window.
    pub per_address: u32,
    /// Counted events allowed per tenant and target per window.
    pub per_target: u32,
    /// The window, in seconds.
    pub window_secs: u32,
}

impl Default for EndpointLimit {
    fn default() -> Self {
        Self::new(60, 60, 60)
    }
}

impl EndpointLimit {
    /// A limit of `per_address` and `per_target` per `window_secs`.
    pub const fn new(per_address: u32, per_target: u32, window_secs: u32) -> Self {
        Self {
            per_address,
            per_target,
            window_secs,
        }
    }
}

/// A tenant's per-endpoint limits (see the module doc for what each counts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimits {
    /// Forgot-password requests (emails) per address and per login name typed.
    pub password_forgot: EndpointLimit,
    /// Failed password resets (unknown, used or expired link) per address and per link.
    pub password_reset: EndpointLimit,
    /// Failed email verifications per address and per link.
    pub email_verify: EndpointLimit,
    /// Failed token requests per address and per client id.
    pub token: EndpointLimit,
    /// Failed introspection requests per address and per client id.
    pub introspection: EndpointLimit,
    /// Failed revocation requests per address and per client id.
    pub revocation: EndpointLimit,
    /// Authorization requests per address and per client id.
    pub authorize: EndpointLimit,
    /// Account page requests per address and per browser session.
    pub account: EndpointLimit,
    /// Passkey ceremony requests per address and per browser session.
    pub passkeys: EndpointLimit,
    /// Signing-key rotations through the management API per address and per tenant.
    pub key_rotation: EndpointLimit,
    /// Webhook test sends and manual redeliveries per address and per webhook.
    pub webhook_test: EndpointLimit,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            password_forgot: EndpointLimit::new(20, 5, 3600),
            password_reset: EndpointLimit::new(20, 10, 3600),
            email_verify: EndpointLimit::new(20, 10, 3600),
            token: EndpointLimit::new(60, 300, 60),
            introspection: EndpointLimit::new(60, 300, 60),
            revocation: EndpointLimit::new(60, 300, 60),
            authorize: EndpointLimit::new(1200, 12_000, 60),
            account: EndpointLimit::new(300, 120, 60),
            passkeys: EndpointLimit::new(600, 60, 60),
            key_rotation: EndpointLimit::new(30, 10, 3600),
            webhook_test: EndpointLimit::new(60, 30, 60),
        }
    }
}

/// Changes to one endpoint's limit; absent fields stay as they are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndpointLimitPatch {
    /// See [`EndpointLimit::per_address`].
    pub per_address: Option<u32>,
    /// See [`EndpointLimit::per_target`].
    pub per_target: Option<u32>,
    /// See [`EndpointLimit::window_secs`].
    pub window_secs: Option<u32>,
}

impl EndpointLimitPatch {
    fn apply(self, base: EndpointLimit) -> EndpointLimit {
        EndpointLimit {
            per_address: self.per_address.unwrap_or(base.per_address),
            per_target: self.per_target.unwrap_or(base.per_target),
            window_secs: self.window_secs.unwrap_or(base.window_secs),
        }
    }
}

macro_rules! endpoint_fields {
    ($m:ident) => {
        $m!(
            password_forgot,
            password_reset,
            email_verify,
            token,
            introspection,
            revocation,
            authorize,
            account,
            passkeys,
            key_rotation,
            webhook_test
        )
    };
}

/// Changes to [`RateLimits`]; endpoints absent stay as they are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimitsPatch {
    /// See [`RateLimits::password_forgot`].
    pub password_forgot: Option<EndpointLimitPatch>,
    /// See [`RateLimits::password_reset`].
    pub password_reset: Option<EndpointLimitPatch>,
    /// See [`RateLimits::email_verify`].
    pub email_verify: Option<EndpointLimitPatch>,
    /// See [`RateLimits::token`].
    pub token: Option<EndpointLimitPatch>,
    /// See [`RateLimits::introspection`].
    pub introspection: Option<EndpointLimitPatch>,
    /// See [`RateLimits::revocation`].
    pub revocation: Option<EndpointLimitPatch>,
    /// See [`RateLimits::authorize`].
    pub authorize: Option<EndpointLimitPatch>,
    /// See [`RateLimits::account`].
    pub account: Option<EndpointLimitPatch>,
    /// See [`RateLimits::passkeys`].
    pub passkeys: Option<EndpointLimitPatch>,
    /// See [`RateLimits::key_rotation`].
    pub key_rotation: Option<EndpointLimitPatch>,
    /// See [`RateLimits::webhook_test`].
    pub webhook_test: Option<EndpointLimitPatch>,
}

impl RateLimitsPatch {
    /// `base` with this patch applied.
    pub fn apply(self, mut base: RateLimits) -> RateLimits {
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(p) = self.$f { base.$f = p.apply(base.$f); } )* };
        }
        endpoint_fields!(set);
        base
    }
}

impl RateLimits {
    /// Records each limit out of range: counts 0 (off) to 1,000,000, windows 1 s to
    /// a day.
    pub fn validate(&self, problems: &mut crate::core::validate::Problems) {
        let check = |p: &mut crate::core::validate::Problems, name: &str, l: EndpointLimit| {
            for (field, value, lo) in [
                ("per_address", l.per_address, 0),
                ("per_target", l.per_target, 0),
                ("window_secs", l.window_secs, 1),
            ] {
                let hi = if field == "window_secs" {
                    86_400
                } else {
                    1_000_000
                };
                if !(lo..=hi).contains(&value) {
                    p.add(
                        format!("settings.rate_limits.{name}.{field}"),
                        format!("must be between {lo} and {hi}"),
                    );
                }
            }
        };
        macro_rules! each {
            ($($f:ident),*) => { $( check(problems, stringify!($f), self.$f); )* };
        }
        endpoint_fields!(each);
    }
}

/// The address `ip` is counted under: IPv4 as is, IPv6 by its /64 (RFC 4291 §2.5.4
/// interface identifiers are the low 64 bits; one subscriber usually holds a whole /64).
pub fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let prefix = u128::from(v6) & !u128::from(u64::MAX);
                format!("{}/64", Ipv6Addr::from(prefix))
            }
        },
    }
}

/// Whether `ip` is in one of `allow_list`'s addresses or CIDR blocks
/// (`203.0.113.7`, `198.51.100.0/24`, `2001:db8::/48`). Malformed entries match nothing
/// (settings validation refuses them, see [`parse_cidr`]).
pub fn is_allowed(ip: IpAddr, allow_list: &[String]) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    allow_list
        .iter()
        .filter_map(|entry| parse_cidr(entry))
        .any(|(net, len)| contains(net, len, ip))
}

/// Parses an address or `address/prefix` block; `None` when malformed.
pub fn parse_cidr(entry: &str) -> Option<(IpAddr, u8)> {
    let entry = entry.trim();
    let (addr, len) = match entry.split_once('/') {
        Some((addr, len)) => (addr, Some(len)),
        None => (entry, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(len) => len.parse::<u8>().ok().filter(|l| *l <= max)?,
        None => max,
    };
    Some((addr, len))
}

fn contains(net: IpAddr, len: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(net), IpAddr::V4(ip)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(net) & mask == u32::from(ip) & mask
        }
        (IpAddr::V6(net), IpAddr::V6(ip)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(net) & mask == u128::from(ip) & mask
        }
        _ => false,
    }
}
