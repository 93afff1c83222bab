//! A tenant's settings: token lifetimes, sign-in and second-factor policy, key
//! rotation, lockout and rate limits — stored as JSON on the tenant row, defaulted
//! field by field, validated as a whole.
//!
//! Every setting is declared once, in [`with_tenant_settings!`](crate::with_tenant_settings):
//! its name, type, default, bounds and description. From that one list come
//! [`TenantSettings`] and its defaults, [`SettingsPatch`], the range checks, the
//! catalogue [`SETTINGS`] that docs/configuration.md is generated from, and (in the
//! `api` crate) the management API's request and response bodies.

use serde::{Deserialize, Serialize};

use crate::{
    Error, Result,
    core::Algorithm,
    core::validate::{self, Problems},
    core::{RateLimits, RateLimitsPatch},
};

/// Whether users of a tenant must, may or cannot enrol a second factor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MfaPolicy {
    /// No second factor is offered.
    Off,
    /// Users may enrol a second factor.
    #[default]
    Optional,
    /// Every user must complete a second factor at login.
    Required,
}

/// Calls `$callback! { ... }` with every tenant setting, one braced entry each:
/// `{ name: Type = default, bounds, kind, "description" }`. Bounds is `[lo, hi]`, an
/// inclusive range checked on every change, or a literal naming the rule (checked
/// by the validation); kind is `plain` or `choice` (an enumeration). This is the one
/// list of settings: add a setting here and the struct, the patch, the defaults, the
/// range check, the API bodies and the documentation follow.
#[macro_export]
macro_rules! with_tenant_settings {
    ($callback:ident) => {
        $callback! {
            { access_token_ttl_secs: u32 = 600, [60, 86_400], plain,
              "Access-token lifetime, in seconds." }
            { id_token_ttl_secs: u32 = 3_600, [60, 86_400], plain,
              "ID-token lifetime, in seconds." }
            { refresh_token_ttl_secs: u32 = 30 * 86_400, [300, 31_536_000], plain,
              "Absolute lifetime of a refresh-token family, in seconds." }
            { refresh_token_idle_ttl_secs: u32 = 7 * 86_400, [300, 31_536_000], plain,
              "Idle lifetime of a refresh token, in seconds; at most `refresh_token_ttl_secs`." }
            { refresh_token_reuse_grace_secs: u32 = 0, [0, 60], plain,
              "Seconds during which a just-rotated refresh token may be retried (0 = strict; see the design notes on refresh-token grace)." }
            { session_ttl_secs: u32 = 12 * 3_600, [300, 2_592_000], plain,
              "Login-session lifetime, in seconds." }
            { mfa_policy: $crate::core::MfaPolicy = $crate::core::MfaPolicy::Optional,
              "`off`, `optional` or `required`", choice,
              "Second-factor policy: users cannot, may or must enrol a second factor." }
            { signup_allowed: bool = false, "", plain,
              "Whether end users may register themselves (stored, but no sign-up page exists yet: it has no effect today)." }
            { security_contacts: Vec<String> = Vec::new(), "at most 20 email addresses", plain,
              "Addresses that receive security alerts by email (a new list replaces the old)." }
            { signing_algs: Vec<String> = vec!["RS256".to_owned()],
              "1 to 4 of `RS256`, `PS256`, `ES256`, `EdDSA`, no repeats", plain,
              "JWS algorithms the tenant publishes keys for, preferred first: the first signs tokens. Keys for newly listed algorithms are generated." }
            { key_rotation_days: u32 = 90, [1, 3_650], plain,
              "Days between automatic signing-key rotations." }
            { key_propagation_secs: u32 = 360, [0, 86_400], plain,
              "Seconds a new key is published before it signs: the JWKS `max-age` (300) plus a margin, so every relying party knows a key before it sees a token." }
            { lockout_threshold: u32 = 10, [3, 100], plain,
              "Failed sign-ins of one account (by login name or account) tolerated within `lockout_window_secs` before it locks." }
            { lockout_window_secs: u32 = 900, [60, 86_400], plain,
              "How long failed sign-ins per account are counted, in seconds." }
            { lockout_duration_secs: u32 = 900, [60, 86_400], plain,
              "How long a lockout lasts, in seconds. Lockouts are always temporary, so an attacker cannot lock an owner out for good." }
            { address_failure_threshold: u32 = 100, [0, 100_000], plain,
              "Failed sign-in steps (passwords, second factors, recovery codes) from one client address (IPv6 by /64), across all accounts, tolerated within `address_failure_window_secs` before the address is refused until the window ends (credential stuffing); 0 turns it off." }
            { address_failure_window_secs: u32 = 3_600, [60, 86_400], plain,
              "How long failures per address are counted, in seconds." }
            { throttle_allow_list: Vec<String> = Vec::new(), "at most 100 IP addresses or CIDR blocks", plain,
              "Client addresses and CIDR blocks never throttled nor counted per address (an office's NAT, a monitoring probe; a new list replaces the old)." }
            { rate_limits: $crate::core::RateLimits = $crate::core::RateLimits::default(),
              "see the per-endpoint limits", plain,
              "Per-endpoint limits per client address and per target (endpoints and fields omitted from a change keep their value)." }
            { audit_retention_days: u32 = 365, [1, 3_650], plain,
              "Days audit events are kept before the retention job deletes them." }
            { default_api: String = String::new(), "an API identifier of the tenant, or empty", plain,
              "The API (its identifier) access tokens are for when a request names no `resource` (RFC 8707); empty: such tokens are for UserInfo only." }
        }
    };
}

/// A setting's value type: how a change to it applies (most are replaced whole; the
/// rate limits are patched endpoint by endpoint).
pub trait SettingValue: Sized {
    /// What a change carries.
    type Patch;
    /// `self` after `patch`.
    fn patched(self, patch: Self::Patch) -> Self;
}

macro_rules! replaced_whole {
    ($($t:ty),*) => {$(
        impl SettingValue for $t {
            type Patch = Self;
            fn patched(self, patch: Self) -> Self {
                patch
            }
        }
    )*};
}
replaced_whole!(u32, bool, String, Vec<String>, MfaPolicy);

impl SettingValue for RateLimits {
    type Patch = RateLimitsPatch;
    fn patched(self, patch: RateLimitsPatch) -> Self {
        patch.apply(self)
    }
}

/// What values a setting accepts, for the catalogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bounds {
    /// An inclusive range, checked on every change.
    Range(u32, u32),
    /// A rule in words (checked by the validation); empty when there is none.
    Rule(&'static str),
}

/// One entry of the catalogue of settings.
#[derive(Clone, Copy, Debug)]
pub struct SettingDoc {
    /// The setting's JSON name.
    pub name: &'static str,
    /// The values it accepts.
    pub bounds: Bounds,
    /// What it does.
    pub description: &'static str,
}

macro_rules! bounds {
    ([$lo:expr, $hi:expr]) => {
        Bounds::Range($lo, $hi)
    };
    ($rule:literal) => {
        Bounds::Rule($rule)
    };
}

macro_rules! check_bounds {
    ($problems:ident, $name:ident, $value:expr, [$lo:expr, $hi:expr]) => {
        if !($lo..=$hi).contains(&$value) {
            $problems.add(
                concat!("settings.", stringify!($name)),
                format!("must be between {} and {}", $lo, $hi),
            );
        }
    };
    ($problems:ident, $name:ident, $value:expr, $rule:literal) => {};
}

macro_rules! define_settings {
    ($({ $name:ident : $ty:ty = $default:expr, $bounds:tt, $kind:ident, $doc:literal })*) => {
        /// Per-tenant settings, stored as JSON on the tenant row. Unknown or missing
        /// fields fall back to the defaults so later releases can add settings freely.
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(default)]
        pub struct TenantSettings {
            $(
                #[doc = $doc]
                pub $name: $ty,
            )*
        }

        impl Default for TenantSettings {
            fn default() -> Self {
                Self { $($name: $default,)* }
            }
        }

        /// Changes to settings; absent fields stay as they are.
        #[derive(Clone, Debug, Default)]
        pub struct SettingsPatch {
            $(
                #[doc = $doc]
                pub $name: Option<<$ty as SettingValue>::Patch>,
            )*
        }

        impl SettingsPatch {
            /// `base` with this patch applied (security contacts folded to lower case).
            pub fn apply(self, mut base: TenantSettings) -> TenantSettings {
                $(
                    if let Some(change) = self.$name {
                        base.$name = base.$name.patched(change);
                    }
                )*
                base.security_contacts = base
                    .security_contacts
                    .into_iter()
                    .map(|c| c.trim().to_lowercase())
                    .collect();
                base
            }
        }

        /// Every tenant setting, in declaration order: what docs/configuration.md
        /// lists.
        pub const SETTINGS: &[SettingDoc] = &[
            $(SettingDoc { name: stringify!($name), bounds: bounds!($bounds), description: $doc },)*
        ];

        impl TenantSettings {
            /// Records every setting outside its declared range.
            fn check_ranges(&self, problems: &mut Problems) {
                $(check_bounds!(problems, $name, self.$name, $bounds);)*
            }
        }
    };
}

crate::with_tenant_settings!(define_settings);

impl TenantSettings {
    /// Reads settings from a tenant row; malformed JSON falls back to defaults.
    pub fn from_json(value: &serde_json::Value) -> Self {
        serde_json::from_value(value.clone()).unwrap_or_default()
    }

    pub(crate) fn to_json(&self) -> Result<serde_json::Value> {
        serde_json::to_value(self).map_err(|e| Error::Internal(e.to_string()))
    }

    /// How long after its last use a retired key must stay published: the longest
    /// lifetime of a token it signed, plus a minute of clock skew.
    pub fn max_signed_token_lifetime(&self) -> chrono::Duration {
        chrono::Duration::seconds(
            i64::from(self.access_token_ttl_secs.max(self.id_token_ttl_secs)) + 60,
        )
    }

    /// Records a problem on `field` unless `alg` is one the tenant publishes keys for
    /// (an API's `signing_alg`, a client's `id_token_signed_response_alg`).
    pub fn check_signing_alg(&self, field: &str, alg: &str, problems: &mut Problems) {
        if !self.signing_algs.iter().any(|a| a == alg) {
            problems.add(
                field,
                format!(
                    "must be one of the tenant's signing_algs ({})",
                    self.signing_algs.join(", ")
                ),
            );
        }
    }

    /// The signing algorithms, in preference order (unknown names skipped).
    pub fn algorithms(&self) -> Vec<Algorithm> {
        self.signing_algs
            .iter()
            .filter_map(|a| Algorithm::parse(a))
            .collect()
    }

    pub(crate) fn validate(&self, problems: &mut Problems) {
        self.check_ranges(problems);
        if self.throttle_allow_list.len() > 100 {
            problems.add("settings.throttle_allow_list", "at most 100 entries");
        }
        for (i, entry) in self.throttle_allow_list.iter().enumerate() {
            if crate::core::limits::parse_cidr(entry).is_none() {
                problems.add(
                    format!("settings.throttle_allow_list[{i}]"),
                    "must be an IP address or a CIDR block",
                );
            }
        }
        self.rate_limits.validate(problems);
        if self.refresh_token_idle_ttl_secs > self.refresh_token_ttl_secs {
            problems.add(
                "settings.refresh_token_idle_ttl_secs",
                "must not exceed refresh_token_ttl_secs",
            );
        }
        if self.signing_algs.is_empty() || self.signing_algs.len() > 4 {
            problems.add("settings.signing_algs", "list one to four algorithms");
        }
        for (i, alg) in self.signing_algs.iter().enumerate() {
            if Algorithm::parse(alg).is_none() {
                problems.add(
                    format!("settings.signing_algs[{i}]"),
                    "must be RS256, PS256, ES256 or EdDSA",
                );
            } else if self.signing_algs.iter().take(i).any(|a| a == alg) {
                problems.add(format!("settings.signing_algs[{i}]"), "is listed twice");
            }
        }
        if self.security_contacts.len() > 20 {
            problems.add("settings.security_contacts", "at most 20 addresses");
        }
        for (i, contact) in self.security_contacts.iter().enumerate() {
            problems.check(
                format!("settings.security_contacts[{i}]"),
                validate::email(contact),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_is_in_the_catalogue_and_every_default_is_in_range() {
        let json = serde_json::to_value(TenantSettings::default()).unwrap();
        let mut names: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        let mut catalogued: Vec<_> = SETTINGS.iter().map(|s| s.name.to_owned()).collect();
        names.sort();
        catalogued.sort();
        assert_eq!(names, catalogued);
        for setting in SETTINGS {
            if let Bounds::Range(lo, hi) = setting.bounds {
                let default = json[setting.name].as_u64().unwrap();
                assert!(
                    (u64::from(lo)..=u64::from(hi)).contains(&default),
                    "{}",
                    setting.name
                );
            }
        }
    }

    #[test]
    fn the_defaults_are_valid_and_a_value_out_of_range_is_refused_by_name() {
        let mut problems = Problems::default();
        TenantSettings::default().validate(&mut problems);
        assert!(problems.finish().is_ok());
        let out_of_range = TenantSettings {
            key_rotation_days: 0,
            key_propagation_secs: 86_401,
            ..TenantSettings::default()
        };
        let mut problems = Problems::default();
        out_of_range.validate(&mut problems);
        let Err(Error::Invalid(found)) = problems.finish() else {
            panic!("out-of-range settings were accepted");
        };
        let fields: Vec<_> = found.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "settings.key_rotation_days",
                "settings.key_propagation_secs"
            ]
        );
    }

    #[test]
    fn a_patch_replaces_what_it_names_and_keeps_the_rest() {
        let patched = SettingsPatch {
            lockout_threshold: Some(5),
            security_contacts: Some(vec![" Sec@Example.COM ".into()]),
            ..SettingsPatch::default()
        }
        .apply(TenantSettings::default());
        assert_eq!(patched.lockout_threshold, 5);
        assert_eq!(patched.security_contacts, ["sec@example.com"]);
        assert_eq!(
            patched.access_token_ttl_secs,
            TenantSettings::default().access_token_ttl_secs
        );
    }
}
