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

/// Calls `$callback! { ... }` with every rate-limited endpoint, one braced entry each:
/// `{ Variant, field, Counts, (per_address, per_target, window_secs), "target",
/// "route", "description" }`. The defaults are the tuple; "target" names what the
/// per-target counter is keyed by. The description is a plain literal because
/// poem-openapi reads only literal doc comments into the OpenAPI document. This is
/// the one list of rate limits: add an endpoint here and [`RateLimits`], its
/// defaults, [`RateLimitsPatch`], the validation, [`Endpoint`], the catalogue
/// [`ENDPOINTS`] (docs/configuration.md) and the management API's bodies follow.
#[macro_export]
macro_rules! with_rate_limit_endpoints {
    ($callback:ident) => {
        $callback! {
            { PasswordForgot, password_forgot, Requests, (20, 5, 3600), "login name typed",
              "`POST /password/forgot`", "Forgot-password requests (each may send an email) per client address and per login name typed." }
            { PasswordReset, password_reset, Failures, (20, 10, 3600), "link",
              "`POST /password/reset`", "Failed password resets (unknown, used or expired link) per client address and per link." }
            { EmailVerify, email_verify, Failures, (20, 10, 3600), "link",
              "`/email/verify`", "Failed email verifications per client address and per link." }
            { Token, token, Failures, (60, 300, 60), "client id",
              "`POST /token`", "Failed token requests per client address and per client id." }
            { Introspection, introspection, Failures, (60, 300, 60), "client id",
              "`POST /introspect`", "Failed introspection requests per client address and per client id." }
            { Revocation, revocation, Failures, (60, 300, 60), "client id",
              "`POST /revoke`", "Failed revocation requests per client address and per client id." }
            { Authorize, authorize, Requests, (1200, 12000, 60), "client id",
              "`/authorize`", "Authorization requests per client address and per client id." }
            { Account, account, Requests, (300, 120, 60), "browser session",
              "`/account` pages", "Account page requests per client address and per browser session." }
            { Passkeys, passkeys, Requests, (600, 60, 60), "browser session",
              "passkey options and results", "Passkey ceremony requests per client address and per browser session." }
            { KeyRotation, key_rotation, Requests, (30, 10, 3600), "tenant",
              "`POST /api/v1/tenants/{tenant}/keys/rotate`",
              "Signing-key rotations through the management API per client address and per tenant." }
            { WebhookTest, webhook_test, Requests, (60, 30, 60), "webhook",
              "`POST /api/v1/tenants/{tenant}/webhooks/{id}/test` and `…/deliveries/{id}/redeliver`",
              "Webhook test sends and manual redeliveries per client address and per webhook." }
        }
    };
}

/// What an endpoint's budget counts (see [`crate::cache::rate_limit`] for why).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counts {
    /// Every request, counted before it is served.
    Requests,
    /// Only requests that failed (a wrong guess), counted afterwards.
    Failures,
}

impl Counts {
    /// `requests` or `failures`, as the documentation says it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Requests => "requests",
            Self::Failures => "failures",
        }
    }
}

/// One entry of the catalogue of rate-limited endpoints.
#[derive(Clone, Copy, Debug)]
pub struct EndpointDoc {
    /// The endpoint's field in `settings.rate_limits`.
    pub name: &'static str,
    /// The route(s) it guards.
    pub route: &'static str,
    /// What its budget counts.
    pub counts: Counts,
    /// What the per-target counter is keyed by.
    pub target: &'static str,
    /// Its default limit.
    pub default: EndpointLimit,
}

macro_rules! define_rate_limits {
    ($({ $variant:ident, $field:ident, $counts:ident, ($addr:literal, $target:literal, $window:literal),
         $target_doc:literal, $route:literal, $doc:literal })*) => {
        /// A tenant's per-endpoint limits (see [`crate::cache::rate_limit`] for what
        /// each counts).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(default)]
        pub struct RateLimits {
            $(
                #[doc = $doc]
                pub $field: EndpointLimit,
            )*
        }

        impl Default for RateLimits {
            fn default() -> Self {
                Self { $($field: EndpointLimit::new($addr, $target, $window),)* }
            }
        }

        /// Changes to [`RateLimits`]; endpoints absent stay as they are.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct RateLimitsPatch {
            $(
                #[doc = concat!("See [`RateLimits::", stringify!($field), "`].")]
                pub $field: Option<EndpointLimitPatch>,
            )*
        }

        impl RateLimitsPatch {
            /// `base` with this patch applied.
            pub fn apply(self, mut base: RateLimits) -> RateLimits {
                $(
                    if let Some(p) = self.$field {
                        base.$field = p.apply(base.$field);
                    }
                )*
                base
            }
        }

        /// An endpoint with a rate limit.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Endpoint {
            $(
                #[doc = concat!($route, ".")]
                $variant,
            )*
        }

        impl Endpoint {
            /// The name used in settings, cache keys, metrics and audit details.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => stringify!($field),)*
                }
            }

            /// What this endpoint counts.
            pub fn counts(self) -> Counts {
                match self {
                    $(Self::$variant => Counts::$counts,)*
                }
            }

            /// This endpoint's limit in `limits`.
            pub fn limit(self, limits: &RateLimits) -> EndpointLimit {
                match self {
                    $(Self::$variant => limits.$field,)*
                }
            }
        }

        /// Every rate-limited endpoint, in declaration order: what
        /// docs/configuration.md lists.
        pub const ENDPOINTS: &[EndpointDoc] = &[
            $(EndpointDoc {
                name: stringify!($field),
                route: $route,
                counts: Counts::$counts,
                target: $target_doc,
                default: EndpointLimit::new($addr, $target, $window),
            },)*
        ];

        impl RateLimits {
            /// Every endpoint's name and limit.
            fn each(&self) -> [(&'static str, EndpointLimit); ENDPOINTS.len()] {
                [$((stringify!($field), self.$field),)*]
            }
        }
    };
}

crate::with_rate_limit_endpoints!(define_rate_limits);

impl RateLimits {
    /// Records each limit out of range: counts 0 (off) to 1,000,000, windows 1 s to
    /// a day.
    pub fn validate(&self, problems: &mut crate::core::validate::Problems) {
        for (name, limit) in self.each() {
            for (field, value, lo, hi) in [
                ("per_address", limit.per_address, 0, MAX_COUNT),
                ("per_target", limit.per_target, 0, MAX_COUNT),
                ("window_secs", limit.window_secs, 1, MAX_WINDOW_SECS),
            ] {
                if !(lo..=hi).contains(&value) {
                    problems.add(
                        format!("settings.rate_limits.{name}.{field}"),
                        format!("must be between {lo} and {hi}"),
                    );
                }
            }
        }
    }
}

/// The largest count a limit accepts.
pub const MAX_COUNT: u32 = 1_000_000;
/// The longest window a limit accepts, in seconds (a day).
pub const MAX_WINDOW_SECS: u32 = 86_400;

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
