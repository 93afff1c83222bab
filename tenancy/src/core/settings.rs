//! A tenant's settings: token lifetimes, sign-in and second-factor policy, key
//! rotation, lockout and rate limits — stored as JSON on the tenant row, defaulted
//! field by field, validated as a whole.

use serde::{Deserialize, Serialize};

use crate::{
    Error, Result,
    core::Algorithm,
    core::validate::{self, Problems},
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

/// Per-tenant settings, stored as JSON on the tenant row. Unknown or missing fields
/// fall back to these defaults so later releases can add settings freely.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TenantSettings {
    /// Access-token lifetime in seconds (60–86,400; default 600).
    pub access_token_ttl_secs: u32,
    /// ID-token lifetime in seconds (60–86,400; default 3,600).
    pub id_token_ttl_secs: u32,
    /// Absolute refresh-token family lifetime in seconds (300–31,536,000; default 30 days).
    pub refresh_token_ttl_secs: u32,
    /// Idle refresh-token lifetime in seconds (at most the absolute one; default 7 days).
    pub refresh_token_idle_ttl_secs: u32,
    /// Seconds during which a just-rotated refresh token may be retried (0–60; default 0).
    pub refresh_token_reuse_grace_secs: u32,
    /// Login-session lifetime in seconds (300–2,592,000; default 12 hours).
    pub session_ttl_secs: u32,
    /// Second-factor policy.
    pub mfa_policy: MfaPolicy,
    /// Whether end users may register themselves.
    pub signup_allowed: bool,
    /// Addresses that receive security alerts by email.
    pub security_contacts: Vec<String>,
    /// JWS algorithms the tenant publishes keys for; the first signs tokens
    /// (`RS256`, `PS256`, `ES256`, `EdDSA`; default `["RS256"]`).
    pub signing_algs: Vec<String>,
    /// Days between automatic key rotations (1–3,650; default 90).
    pub key_rotation_days: u32,
    /// Seconds a new key is published before it signs: the JWKS `max-age` (300) plus a
    /// margin, so every relying party knows a key before it sees a token (default 360;
    /// 0–86,400).
    pub key_propagation_secs: u32,
    /// Failed logins of one login name tolerated within `lockout_window_secs` before
    /// the name is locked (3–100; default 10).
    pub lockout_threshold: u32,
    /// How long failed logins are counted, in seconds (60–86,400; default 900).
    pub lockout_window_secs: u32,
    /// How long a lockout lasts, in seconds (60–86,400; default 900). Lockouts are
    /// always temporary, so an attacker cannot lock an owner out for good.
    pub lockout_duration_secs: u32,
    /// Failed passwords, second factors and recovery codes from one client address
    /// (IPv6 by /64), across all accounts, tolerated within
    /// `address_failure_window_secs` before the address is refused until the window
    /// ends (credential stuffing; 0 turns it off, at most 100,000; default 100).
    pub address_failure_threshold: u32,
    /// How long failures per address are counted, in seconds (60–86,400; default 3,600).
    pub address_failure_window_secs: u32,
    /// Client addresses and CIDR blocks never throttled nor counted per address (an
    /// office's NAT, a monitoring probe); at most 100 entries.
    pub throttle_allow_list: Vec<String>,
    /// Per-endpoint limits per client address and per target.
    pub rate_limits: crate::core::RateLimits,
    /// Days audit events are kept before the retention job deletes them (1–3,650;
    /// default 365).
    pub audit_retention_days: u32,
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            access_token_ttl_secs: 600,
            id_token_ttl_secs: 3600,
            refresh_token_ttl_secs: 30 * 86_400,
            refresh_token_idle_ttl_secs: 7 * 86_400,
            refresh_token_reuse_grace_secs: 0,
            session_ttl_secs: 12 * 3600,
            mfa_policy: MfaPolicy::Optional,
            signup_allowed: false,
            security_contacts: Vec::new(),
            signing_algs: vec!["RS256".into()],
            key_rotation_days: 90,
            key_propagation_secs: 360,
            lockout_threshold: 10,
            lockout_window_secs: 900,
            lockout_duration_secs: 900,
            address_failure_threshold: 100,
            address_failure_window_secs: 3600,
            throttle_allow_list: Vec::new(),
            rate_limits: crate::core::RateLimits::default(),
            audit_retention_days: 365,
        }
    }
}

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

    /// The signing algorithms, in preference order (unknown names skipped).
    pub fn algorithms(&self) -> Vec<Algorithm> {
        self.signing_algs
            .iter()
            .filter_map(|a| Algorithm::parse(a))
            .collect()
    }

    pub(crate) fn validate(&self, problems: &mut Problems) {
        let range = |p: &mut Problems, field: &str, v: u32, lo: u32, hi: u32| {
            if !(lo..=hi).contains(&v) {
                p.add(
                    format!("settings.{field}"),
                    format!("must be between {lo} and {hi}"),
                );
            }
        };
        range(
            problems,
            "access_token_ttl_secs",
            self.access_token_ttl_secs,
            60,
            86_400,
        );
        range(
            problems,
            "id_token_ttl_secs",
            self.id_token_ttl_secs,
            60,
            86_400,
        );
        range(
            problems,
            "refresh_token_ttl_secs",
            self.refresh_token_ttl_secs,
            300,
            31_536_000,
        );
        range(
            problems,
            "refresh_token_idle_ttl_secs",
            self.refresh_token_idle_ttl_secs,
            300,
            31_536_000,
        );
        range(
            problems,
            "refresh_token_reuse_grace_secs",
            self.refresh_token_reuse_grace_secs,
            0,
            60,
        );
        range(
            problems,
            "session_ttl_secs",
            self.session_ttl_secs,
            300,
            2_592_000,
        );
        range(
            problems,
            "lockout_threshold",
            self.lockout_threshold,
            3,
            100,
        );
        range(
            problems,
            "lockout_window_secs",
            self.lockout_window_secs,
            60,
            86_400,
        );
        range(
            problems,
            "lockout_duration_secs",
            self.lockout_duration_secs,
            60,
            86_400,
        );
        range(
            problems,
            "address_failure_threshold",
            self.address_failure_threshold,
            0,
            100_000,
        );
        range(
            problems,
            "address_failure_window_secs",
            self.address_failure_window_secs,
            60,
            86_400,
        );
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
        range(
            problems,
            "audit_retention_days",
            self.audit_retention_days,
            1,
            3_650,
        );
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

/// Changes to settings; absent fields stay as they are.
#[derive(Clone, Debug, Default)]
pub struct SettingsPatch {
    /// See [`TenantSettings::access_token_ttl_secs`].
    pub access_token_ttl_secs: Option<u32>,
    /// See [`TenantSettings::id_token_ttl_secs`].
    pub id_token_ttl_secs: Option<u32>,
    /// See [`TenantSettings::refresh_token_ttl_secs`].
    pub refresh_token_ttl_secs: Option<u32>,
    /// See [`TenantSettings::refresh_token_idle_ttl_secs`].
    pub refresh_token_idle_ttl_secs: Option<u32>,
    /// See [`TenantSettings::refresh_token_reuse_grace_secs`].
    pub refresh_token_reuse_grace_secs: Option<u32>,
    /// See [`TenantSettings::session_ttl_secs`].
    pub session_ttl_secs: Option<u32>,
    /// See [`TenantSettings::mfa_policy`].
    pub mfa_policy: Option<MfaPolicy>,
    /// See [`TenantSettings::signup_allowed`].
    pub signup_allowed: Option<bool>,
    /// See [`TenantSettings::security_contacts`].
    pub security_contacts: Option<Vec<String>>,
    /// See [`TenantSettings::signing_algs`].
    pub signing_algs: Option<Vec<String>>,
    /// See [`TenantSettings::key_rotation_days`].
    pub key_rotation_days: Option<u32>,
    /// See [`TenantSettings::key_propagation_secs`].
    pub key_propagation_secs: Option<u32>,
    /// See [`TenantSettings::lockout_threshold`].
    pub lockout_threshold: Option<u32>,
    /// See [`TenantSettings::lockout_window_secs`].
    pub lockout_window_secs: Option<u32>,
    /// See [`TenantSettings::lockout_duration_secs`].
    pub lockout_duration_secs: Option<u32>,
    /// See [`TenantSettings::address_failure_threshold`].
    pub address_failure_threshold: Option<u32>,
    /// See [`TenantSettings::address_failure_window_secs`].
    pub address_failure_window_secs: Option<u32>,
    /// See [`TenantSettings::throttle_allow_list`].
    pub throttle_allow_list: Option<Vec<String>>,
    /// See [`TenantSettings::rate_limits`]; endpoints absent stay as they are.
    pub rate_limits: Option<crate::core::RateLimitsPatch>,
    /// See [`TenantSettings::audit_retention_days`].
    pub audit_retention_days: Option<u32>,
}

impl SettingsPatch {
    /// `base` with this patch applied.
    pub fn apply(self, mut base: TenantSettings) -> TenantSettings {
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = self.$f { base.$f = v; } )* };
        }
        set!(
            access_token_ttl_secs,
            id_token_ttl_secs,
            refresh_token_ttl_secs,
            refresh_token_idle_ttl_secs,
            refresh_token_reuse_grace_secs,
            session_ttl_secs,
            mfa_policy,
            signup_allowed,
            security_contacts,
            signing_algs,
            key_rotation_days,
            key_propagation_secs,
            lockout_threshold,
            lockout_window_secs,
            lockout_duration_secs,
            address_failure_threshold,
            address_failure_window_secs,
            throttle_allow_list,
            audit_retention_days
        );
        if let Some(limits) = self.rate_limits {
            base.rate_limits = limits.apply(base.rate_limits);
        }
        base.security_contacts = base
            .security_contacts
            .into_iter()
            .map(|c| c.trim().to_lowercase())
            .collect();
        base
    }
}
