//! Request and response bodies of the management API, and their conversions from
//! domain rows. Field docs here become the OpenAPI descriptions SDK users read.

use chrono::{DateTime, Utc};
use poem_openapi::{ApiResponse, Enum, Object, payload::Json, types::MaybeUndefined};
use secrecy::ExposeSecret;
use tenancy::{
    core::MfaPolicy,
    core::SettingsPatch,
    core::TenantSettings,
    entity::{api_keys, audit_events, clients, signing_keys, tenants, users},
};
use uuid::Uuid;

/// Second-factor policy of a tenant.
#[derive(Clone, Copy, Debug, Enum, serde::Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum MfaPolicyDto {
    /// No second factor is offered.
    Off,
    /// Users may enrol a second factor.
    Optional,
    /// Every user must complete a second factor.
    Required,
}

impl From<MfaPolicy> for MfaPolicyDto {
    fn from(p: MfaPolicy) -> Self {
        match p {
            MfaPolicy::Off => Self::Off,
            MfaPolicy::Optional => Self::Optional,
            MfaPolicy::Required => Self::Required,
        }
    }
}

impl From<MfaPolicyDto> for MfaPolicy {
    fn from(p: MfaPolicyDto) -> Self {
        match p {
            MfaPolicyDto::Off => Self::Off,
            MfaPolicyDto::Optional => Self::Optional,
            MfaPolicyDto::Required => Self::Required,
        }
    }
}

/// A tenant's settings.
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TenantSettingsResponse {
    /// Access-token lifetime, seconds.
    pub access_token_ttl_secs: u32,
    /// ID-token lifetime, seconds.
    pub id_token_ttl_secs: u32,
    /// Absolute refresh-token lifetime, seconds.
    pub refresh_token_ttl_secs: u32,
    /// Idle refresh-token lifetime, seconds.
    pub refresh_token_idle_ttl_secs: u32,
    /// Grace window for retrying a just-rotated refresh token, seconds (0 = strict).
    pub refresh_token_reuse_grace_secs: u32,
    /// Login-session lifetime, seconds.
    pub session_ttl_secs: u32,
    // No doc comment on enum-typed fields: poem-openapi would wrap the `$ref` in an
    // `allOf`, which SDK generators reject for enums. `MfaPolicyDto` documents itself.
    pub mfa_policy: MfaPolicyDto,
    /// Whether end users may sign themselves up.
    pub signup_allowed: bool,
    /// Addresses that receive security alerts.
    pub security_contacts: Vec<String>,
    /// JWS algorithms the tenant publishes keys for; the first signs tokens.
    pub signing_algs: Vec<String>,
    /// Days between automatic key rotations.
    pub key_rotation_days: u32,
    /// Seconds a new key is published before it signs.
    pub key_propagation_secs: u32,
    /// Failed logins of one login name tolerated within the window before it is locked.
    pub lockout_threshold: u32,
    /// How long failed logins are counted, seconds.
    pub lockout_window_secs: u32,
    /// How long a lockout lasts, seconds (lockouts are always temporary).
    pub lockout_duration_secs: u32,
    /// Failed sign-in steps (passwords, second factors, recovery codes) from one client
    /// address across all accounts tolerated within the window before the address is
    /// refused (0 = off).
    pub address_failure_threshold: u32,
    /// How long failures per address are counted, seconds.
    pub address_failure_window_secs: u32,
    /// Addresses and CIDR blocks never throttled.
    pub throttle_allow_list: Vec<String>,
    /// Per-endpoint limits per client address and per target.
    pub rate_limits: RateLimitsResponse,
    /// Days audit events are kept.
    pub audit_retention_days: u32,
}

impl From<TenantSettings> for TenantSettingsResponse {
    fn from(s: TenantSettings) -> Self {
        Self {
            access_token_ttl_secs: s.access_token_ttl_secs,
            id_token_ttl_secs: s.id_token_ttl_secs,
            refresh_token_ttl_secs: s.refresh_token_ttl_secs,
            refresh_token_idle_ttl_secs: s.refresh_token_idle_ttl_secs,
            refresh_token_reuse_grace_secs: s.refresh_token_reuse_grace_secs,
            session_ttl_secs: s.session_ttl_secs,
            mfa_policy: s.mfa_policy.into(),
            signup_allowed: s.signup_allowed,
            security_contacts: s.security_contacts,
            signing_algs: s.signing_algs,
            key_rotation_days: s.key_rotation_days,
            key_propagation_secs: s.key_propagation_secs,
            lockout_threshold: s.lockout_threshold,
            lockout_window_secs: s.lockout_window_secs,
            lockout_duration_secs: s.lockout_duration_secs,
            address_failure_threshold: s.address_failure_threshold,
            address_failure_window_secs: s.address_failure_window_secs,
            throttle_allow_list: s.throttle_allow_list,
            rate_limits: s.rate_limits.into(),
            audit_retention_days: s.audit_retention_days,
        }
    }
}

/// Settings to change; omitted fields keep their value.
#[derive(Clone, Debug, Default, Object, serde::Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct TenantSettingsPatch {
    /// Access-token lifetime, seconds (60–86400).
    pub access_token_ttl_secs: Option<u32>,
    /// ID-token lifetime, seconds (60–86400).
    pub id_token_ttl_secs: Option<u32>,
    /// Absolute refresh-token lifetime, seconds (300–31536000).
    pub refresh_token_ttl_secs: Option<u32>,
    /// Idle refresh-token lifetime, seconds (at most the absolute one).
    pub refresh_token_idle_ttl_secs: Option<u32>,
    /// Refresh-token reuse grace window, seconds (0–60).
    pub refresh_token_reuse_grace_secs: Option<u32>,
    /// Login-session lifetime, seconds (300–2592000).
    pub session_ttl_secs: Option<u32>,
    // Enum-typed: documented by `MfaPolicyDto` (no `allOf` wrapper, see above).
    pub mfa_policy: Option<MfaPolicyDto>,
    /// Whether end users may sign themselves up.
    pub signup_allowed: Option<bool>,
    /// Addresses that receive security alerts (replaces the list; at most 20).
    pub security_contacts: Option<Vec<String>>,
    /// JWS algorithms to publish keys for, preferred first (`RS256`, `PS256`, `ES256`,
    /// `EdDSA`); keys for newly listed algorithms are generated.
    pub signing_algs: Option<Vec<String>>,
    /// Days between automatic key rotations (1–3650).
    pub key_rotation_days: Option<u32>,
    /// Seconds a new key is published before it signs (0–86400; default 360 = JWKS
    /// `max-age` plus a margin).
    pub key_propagation_secs: Option<u32>,
    /// Failed logins of one login name tolerated within `lockout_window_secs` before
    /// it is locked (3–100; default 10).
    pub lockout_threshold: Option<u32>,
    /// How long failed logins are counted, seconds (60–86400; default 900).
    pub lockout_window_secs: Option<u32>,
    /// How long a lockout lasts, seconds (60–86400; default 900).
    pub lockout_duration_secs: Option<u32>,
    /// Failed sign-in steps from one client address (IPv6 by /64) across all accounts
    /// tolerated within `address_failure_window_secs` before the address is refused
    /// until the window ends (0 = off, at most 100000; default 100).
    pub address_failure_threshold: Option<u32>,
    /// How long failures per address are counted, seconds (60–86400; default 3600).
    pub address_failure_window_secs: Option<u32>,
    /// Addresses and CIDR blocks never throttled (replaces the list; at most 100).
    pub throttle_allow_list: Option<Vec<String>>,
    /// Per-endpoint limits to change; endpoints and fields omitted keep their value.
    pub rate_limits: Option<RateLimitsPatch>,
    /// Days audit events are kept (1–3650; default 365).
    pub audit_retention_days: Option<u32>,
}

impl From<TenantSettingsPatch> for SettingsPatch {
    fn from(p: TenantSettingsPatch) -> Self {
        Self {
            access_token_ttl_secs: p.access_token_ttl_secs,
            id_token_ttl_secs: p.id_token_ttl_secs,
            refresh_token_ttl_secs: p.refresh_token_ttl_secs,
            refresh_token_idle_ttl_secs: p.refresh_token_idle_ttl_secs,
            refresh_token_reuse_grace_secs: p.refresh_token_reuse_grace_secs,
            session_ttl_secs: p.session_ttl_secs,
            mfa_policy: p.mfa_policy.map(Into::into),
            signup_allowed: p.signup_allowed,
            security_contacts: p.security_contacts,
            signing_algs: p.signing_algs,
            key_rotation_days: p.key_rotation_days,
            key_propagation_secs: p.key_propagation_secs,
            lockout_threshold: p.lockout_threshold,
            lockout_window_secs: p.lockout_window_secs,
            lockout_duration_secs: p.lockout_duration_secs,
            address_failure_threshold: p.address_failure_threshold,
            address_failure_window_secs: p.address_failure_window_secs,
            throttle_allow_list: p.throttle_allow_list,
            rate_limits: p.rate_limits.map(Into::into),
            audit_retention_days: p.audit_retention_days,
        }
    }
}

/// One endpoint's limit: counted events per client address (IPv6 by /64) and per
/// target in each window; 0 turns a limit off.
#[derive(Clone, Copy, Debug, Object)]
pub struct EndpointLimitResponse {
    /// Counted events allowed per client address and window.
    pub per_address: u32,
    /// Counted events allowed per target (login name, client, link, webhook...) and window.
    pub per_target: u32,
    /// The window, seconds.
    pub window_secs: u32,
}

/// Changes to one endpoint's limit; omitted fields keep their value.
#[derive(Clone, Copy, Debug, Default, Object, serde::Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct EndpointLimitPatch {
    /// Counted events allowed per client address and window (0 = off, at most 1000000).
    pub per_address: Option<u32>,
    /// Counted events allowed per target and window (0 = off, at most 1000000).
    pub per_target: Option<u32>,
    /// The window, seconds (1–86400).
    pub window_secs: Option<u32>,
}

impl From<tenancy::core::EndpointLimit> for EndpointLimitResponse {
    fn from(l: tenancy::core::EndpointLimit) -> Self {
        Self {
            per_address: l.per_address,
            per_target: l.per_target,
            window_secs: l.window_secs,
        }
    }
}

impl From<EndpointLimitPatch> for tenancy::core::EndpointLimitPatch {
    fn from(p: EndpointLimitPatch) -> Self {
        Self {
            per_address: p.per_address,
            per_target: p.per_target,
            window_secs: p.window_secs,
        }
    }
}

/// A tenant's per-endpoint limits. Failure budgets (a guess that went wrong) are
/// `password_reset`, `email_verify`, `token`, `introspection`, `revocation`; the others
/// count every request.
#[derive(Clone, Copy, Debug, Object)]
pub struct RateLimitsResponse {
    /// Forgot-password requests (each may send an email) per address and per login name.
    pub password_forgot: EndpointLimitResponse,
    /// Failed password resets per address and per link.
    pub password_reset: EndpointLimitResponse,
    /// Failed email verifications per address and per link.
    pub email_verify: EndpointLimitResponse,
    /// Failed token requests per address and per client id.
    pub token: EndpointLimitResponse,
    /// Failed introspection requests per address and per client id.
    pub introspection: EndpointLimitResponse,
    /// Failed revocation requests per address and per client id.
    pub revocation: EndpointLimitResponse,
    /// Authorization requests per address and per client id.
    pub authorize: EndpointLimitResponse,
    /// Account page requests per address and per browser session.
    pub account: EndpointLimitResponse,
    /// Passkey ceremony requests per address and per browser session.
    pub passkeys: EndpointLimitResponse,
    /// Signing-key rotations per address and per tenant.
    pub key_rotation: EndpointLimitResponse,
    /// Webhook test sends and manual redeliveries per address and per webhook.
    pub webhook_test: EndpointLimitResponse,
}

/// Changes to the per-endpoint limits; omitted endpoints keep their value.
#[derive(Clone, Copy, Debug, Default, Object, serde::Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct RateLimitsPatch {
    /// Forgot-password requests per address and per login name (default 20 and 5 an hour).
    pub password_forgot: Option<EndpointLimitPatch>,
    /// Failed password resets per address and per link (default 20 and 10 an hour).
    pub password_reset: Option<EndpointLimitPatch>,
    /// Failed email verifications per address and per link (default 20 and 10 an hour).
    pub email_verify: Option<EndpointLimitPatch>,
    /// Failed token requests per address and per client (default 60 and 300 a minute).
    pub token: Option<EndpointLimitPatch>,
    /// Failed introspections per address and per client (default 60 and 300 a minute).
    pub introspection: Option<EndpointLimitPatch>,
    /// Failed revocations per address and per client (default 60 and 300 a minute).
    pub revocation: Option<EndpointLimitPatch>,
    /// Authorization requests per address and per client (default 1200 and 12000 a
    /// minute).
    pub authorize: Option<EndpointLimitPatch>,
    /// Account page requests per address and per session (default 300 and 120 a minute).
    pub account: Option<EndpointLimitPatch>,
    /// Passkey ceremonies per address and per session (default 600 and 60 a minute).
    pub passkeys: Option<EndpointLimitPatch>,
    /// Key rotations per address and per tenant (default 30 and 10 an hour).
    pub key_rotation: Option<EndpointLimitPatch>,
    /// Webhook test sends and manual redeliveries per address and per webhook.(default 30 and 5 a minute).
    pub webhook_test: Option<EndpointLimitPatch>,
}

macro_rules! rate_limit_fields {
    ($m:ident, $v:ident) => {
        $m!(
            $v,
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

impl From<tenancy::core::RateLimits> for RateLimitsResponse {
    fn from(l: tenancy::core::RateLimits) -> Self {
        macro_rules! build {
            ($v:ident, $($f:ident),*) => { Self { $( $f: $v.$f.into(), )* } };
        }
        rate_limit_fields!(build, l)
    }
}

impl From<RateLimitsPatch> for tenancy::core::RateLimitsPatch {
    fn from(p: RateLimitsPatch) -> Self {
        macro_rules! build {
            ($v:ident, $($f:ident),*) => { Self { $( $f: $v.$f.map(Into::into), )* } };
        }
        rate_limit_fields!(build, p)
    }
}

/// Body of `create_tenant`.
#[derive(Clone, Debug, Object, serde::Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct CreateTenantRequest {
    /// Lowercase DNS label (3–63 characters: a-z, 0-9, '-'); names the issuer
    /// `{PUBLIC_URL}/t/{slug}` and cannot be changed.
    pub slug: String,
    /// Human-readable name shown on login pages.
    pub display_name: String,
    /// Settings that differ from the defaults.
    pub settings: Option<TenantSettingsPatch>,
}

/// Body of `update_tenant`; omitted fields keep their value.
#[derive(Clone, Debug, Object, serde::Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenantRequest {
    /// New display name.
    pub display_name: Option<String>,
    /// `false` disables the tenant (platform admins only).
    pub enabled: Option<bool>,
    /// Settings to change.
    pub settings: Option<TenantSettingsPatch>,
}

/// A tenant.
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TenantResponse {
    /// Tenant id.
    pub id: Uuid,
    /// The tenant's slug.
    pub slug: String,
    /// Human-readable name.
    pub display_name: String,
    /// The OpenID Provider issuer identifier of this tenant.
    pub issuer: String,
    /// Disabled tenants refuse all logins and token requests.
    pub enabled: bool,
    /// Current settings.
    pub settings: TenantSettingsResponse,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl TenantResponse {
    /// Builds the response; the issuer needs the public base URL.
    pub fn new(t: tenants::Model, public_base: &str) -> Self {
        Self {
            id: t.id,
            issuer: format!("{public_base}/t/{}", t.slug),
            settings: TenantSettings::from_json(&t.settings).into(),
            slug: t.slug,
            display_name: t.display_name,
            enabled: t.enabled,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// A page of tenants.
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TenantPage {
    /// Tenants on this page, oldest first.
    pub items: Vec<TenantResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// RFC 6749 §2.1 client type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum, serde::Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ClientTypeDto {
    /// Can keep a secret; authenticates at the token endpoint.
    Confidential,
    /// Cannot keep a secret (SPA, native app); must use PKCE.
    Public,
}

impl ClientTypeDto {
    /// The domain name of the type.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confidential => "confidential",
            Self::Public => "public",
        }
    }
}

/// How a client authenticates at the token, introspection and revocation endpoints
/// (OIDC Dynamic Client Registration §2); only this one method is accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum, serde::Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuthMethodDto {
    /// The secret in HTTP Basic (the default for confidential clients).
    ClientSecretBasic,
    /// The secret in the form body as `client_secret`.
    ClientSecretPost,
    /// No secret: public clients (PKCE), and only they.
    None,
}

impl TokenEndpointAuthMethodDto {
    /// The domain name of the method.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => tenancy::clients::AUTH_BASIC,
            Self::ClientSecretPost => tenancy::clients::AUTH_POST,
            Self::None => tenancy::clients::AUTH_NONE,
        }
    }
}

/// Body of `create_client`.
#[derive(Clone, Debug, Object, serde::Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct CreateClientRequest {
    /// Display name shown on the consent page.
    pub name: String,
    // Enum-typed: documented by `ClientTypeDto` (no `allOf` wrapper, see above).
    pub client_type: ClientTypeDto,
    /// Redirect URIs, matched exactly: https, http on loopback, or a reverse-domain
    /// private-use scheme (RFC 8252); no fragments or wildcards.
    #[oai(default)]
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may return to (same rules).
    #[oai(default)]
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Grant types (default: authorization_code, refresh_token).
    pub grant_types: Option<Vec<String>>,
    /// Scopes the client may request (default: openid profile email offline_access).
    pub allowed_scopes: Option<Vec<String>>,
    /// First-party clients skip the consent page (default false).
    #[oai(default)]
    #[serde(default)]
    pub first_party: bool,
    /// Require PKCE (default true; only confidential clients may turn it off, and must
    /// then send a nonce with an `openid` scope).
    pub require_pkce: Option<bool>,
    // Enum-typed: documented by `TokenEndpointAuthMethodDto` (no `allOf` wrapper, see
    // above). Default: `client_secret_basic` for confidential clients, `none` for public.
    pub token_endpoint_auth_method: Option<TokenEndpointAuthMethodDto>,
}

/// Body of `update_client`; omitted fields keep their value.
#[derive(Clone, Debug, Object, serde::Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct UpdateClientRequest {
    /// New display name.
    pub name: Option<String>,
    /// New redirect URIs (replaces the list).
    pub redirect_uris: Option<Vec<String>>,
    /// New post-logout redirect URIs (replaces the list).
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// New grant types.
    pub grant_types: Option<Vec<String>>,
    /// New allowed scopes.
    pub allowed_scopes: Option<Vec<String>>,
    /// First-party flag.
    pub first_party: Option<bool>,
    /// PKCE requirement.
    pub require_pkce: Option<bool>,
    // Enum-typed: documented by `TokenEndpointAuthMethodDto` (no `allOf` wrapper).
    pub token_endpoint_auth_method: Option<TokenEndpointAuthMethodDto>,
}

/// An OAuth client.
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ClientResponse {
    /// The public client identifier.
    pub client_id: String,
    /// Display name.
    pub name: String,
    /// `confidential` or `public`.
    pub client_type: String,
    /// Registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Registered post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// Allowed grant types.
    pub grant_types: Vec<String>,
    /// Allowed scopes.
    pub allowed_scopes: Vec<String>,
    /// Skips the consent page.
    pub first_party: bool,
    /// PKCE required.
    pub require_pkce: bool,
    /// The only client authentication method accepted: `client_secret_basic`,
    /// `client_secret_post` or `none`.
    pub token_endpoint_auth_method: String,
    /// The client secret: present only in the response that created it. Store it now.
    #[oai(skip_serializing_if_is_none)]
    pub client_secret: Option<String>,
    /// Until when the previous secret still works after a rotation with grace.
    #[oai(skip_serializing_if_is_none)]
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl ClientResponse {
    /// Builds the response, with the plaintext secret when one was just generated.
    pub fn new(c: clients::Model, secret: Option<secrecy::SecretString>) -> Self {
        use tenancy::clients as domain;
        Self {
            redirect_uris: domain::redirect_uris(&c),
            post_logout_redirect_uris: domain::post_logout_redirect_uris(&c),
            grant_types: domain::grant_types(&c),
            allowed_scopes: domain::allowed_scopes(&c),
            client_id: c.client_id,
            name: c.name,
            client_type: c.client_type,
            first_party: c.first_party,
            require_pkce: c.require_pkce,
            token_endpoint_auth_method: c.token_endpoint_auth_method,
            client_secret: secret.map(|s| s.expose_secret().to_owned()),
            previous_secret_expires_at: c.previous_secret_expires_at,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A page of clients.
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ClientPage {
    /// Clients on this page, oldest first.
    pub items: Vec<ClientResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Body of `create_user`.
#[derive(Clone, Object, serde::Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// Login name (1–64 characters: letters, digits, . _ - @ +; case-insensitive).
    pub username: String,
    /// Email address (case-insensitive, unique in the tenant).
    pub email: Option<String>,
    /// Initial password (8–128 characters). Never returned.
    #[oai(write_only)]
    pub password: Option<String>,
    /// Whether the email address is already verified (default false).
    #[oai(default)]
    #[serde(default)]
    pub email_verified: bool,
}

/// Body of `update_user`; omitted fields keep their value.
#[derive(Clone, Debug, Object, serde::Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// New login name.
    pub username: Option<String>,
    /// New email address; `null` removes it. A changed address becomes unverified
    /// unless `email_verified` is also sent.
    #[serde(default)]
    #[oai(nullable)]
    pub email: MaybeUndefined<String>,
    /// Email verification flag.
    pub email_verified: Option<bool>,
    /// `false` disables the user (no logins).
    pub enabled: Option<bool>,
}

/// Body of `set_user_password`.
#[derive(Clone, Object, serde::Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct SetPasswordRequest {
    /// The new password (8–128 characters).
    #[oai(write_only)]
    pub password: String,
}

/// An end user. Passwords are never returned.
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct UserResponse {
    /// User id; also the OIDC `sub`.
    pub id: Uuid,
    /// Login name (lowercase).
    pub username: String,
    /// Email address (lowercase).
    pub email: Option<String>,
    /// Whether the email address is verified.
    pub email_verified: bool,
    /// Disabled users cannot log in.
    pub enabled: bool,
    /// Whether a password is set.
    pub has_password: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<users::Model> for UserResponse {
    fn from(u: users::Model) -> Self {
        Self {
            id: u.id,
            has_password: u.password_hash.is_some(),
            username: u.username,
            email: u.email,
            email_verified: u.email_verified,
            enabled: u.enabled,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// A page of users.
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct UserPage {
    /// Users on this page, oldest first.
    pub items: Vec<UserResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A tenant's signing key (public half only).
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SigningKeyResponse {
    /// JWS key id (RFC 7638 thumbprint).
    pub kid: String,
    /// JWS algorithm.
    pub alg: String,
    /// `next`, `current` or `retired`.
    pub state: String,
    /// The public key as a JWK.
    pub public_jwk: serde_json::Value,
    /// Generation time.
    pub created_at: DateTime<Utc>,
    /// When it started signing.
    pub activated_at: Option<DateTime<Utc>>,
    /// When it stopped signing.
    pub retired_at: Option<DateTime<Utc>>,
    /// For a `next` key: when it starts signing.
    pub activates_at: Option<DateTime<Utc>>,
    /// For a `current` key: when it is rotated automatically.
    pub rotates_at: Option<DateTime<Utc>>,
    /// For a `retired` key: when it leaves the JWKS.
    pub removed_at: Option<DateTime<Utc>>,
}

impl From<signing_keys::Model> for SigningKeyResponse {
    fn from(k: signing_keys::Model) -> Self {
        Self {
            kid: k.kid,
            alg: k.alg,
            state: k.state,
            public_jwk: k.public_jwk,
            created_at: k.created_at,
            activated_at: k.activated_at,
            retired_at: k.retired_at,
            activates_at: k.activate_after,
            rotates_at: k.rotate_after,
            removed_at: k.remove_after,
        }
    }
}

/// A tenant's signing keys.
#[derive(Clone, Debug, Object)]
pub struct SigningKeyList {
    /// Keys, oldest first.
    pub items: Vec<SigningKeyResponse>,
}

/// What an API key may do: `tenant_admin` or `tenant_read` for tenant keys,
/// `platform_admin` for platform keys.
#[derive(Clone, Copy, Debug, Enum, serde::Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ApiKeyScopeDto {
    /// Everything on every tenant (platform keys only).
    PlatformAdmin,
    /// Read and write one tenant.
    TenantAdmin,
    /// Read one tenant.
    TenantRead,
}

impl ApiKeyScopeDto {
    /// The domain name of the scope.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PlatformAdmin => "platform_admin",
            Self::TenantAdmin => "tenant_admin",
            Self::TenantRead => "tenant_read",
        }
    }
}

/// Body of `create_api_key` and `create_platform_api_key`.
#[derive(Clone, Debug, Object, serde::Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// A label to recognise the key by.
    pub name: String,
    // Enum-typed: documented by `ApiKeyScopeDto` (no `allOf` wrapper, see above).
    pub scope: ApiKeyScopeDto,
}

/// A management API key (its secret only in the response that created it).
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ApiKeyResponse {
    /// Key id.
    pub id: Uuid,
    /// Label.
    pub name: String,
    /// What the key may do.
    pub scope: String,
    /// The tenant the key is limited to; absent for platform keys.
    pub tenant_id: Option<Uuid>,
    /// First characters of the key, to recognise it.
    pub prefix: String,
    /// The key itself: present only in the response that created it. Store it now.
    #[oai(skip_serializing_if_is_none)]
    pub key: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last use (to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Revocation time; revoked keys never authenticate.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKeyResponse {
    /// Builds the response, with the plaintext key when it was just created.
    pub fn new(k: api_keys::Model, secret: Option<secrecy::SecretString>) -> Self {
        Self {
            id: k.id,
            name: k.name,
            scope: k.scope,
            tenant_id: k.tenant_id,
            prefix: k.prefix,
            key: secret.map(|s| s.expose_secret().to_owned()),
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A page of API keys.
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ApiKeyPage {
    /// Keys on this page, oldest first.
    pub items: Vec<ApiKeyResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// One audit event.
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AuditEventResponse {
    /// Event id.
    pub id: Uuid,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// Who acted (`api_key:<id>`, `admin_token`, `system`, `user:<id>`).
    pub actor: String,
    /// What was done, e.g. `client.created`.
    pub action: String,
    /// What it was done to.
    pub target: Option<String>,
    /// `success` or `failure`.
    pub outcome: String,
    /// Client IP address.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Non-secret details.
    pub details: serde_json::Value,
}

impl From<audit_events::Model> for AuditEventResponse {
    fn from(e: audit_events::Model) -> Self {
        Self {
            id: e.id,
            occurred_at: e.occurred_at,
            actor: e.actor,
            action: e.action,
            target: e.target,
            outcome: e.outcome,
            ip: e.ip,
            user_agent: e.user_agent,
            details: e.details,
        }
    }
}

/// A page of audit events.
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AuditEventPage {
    /// Events on this page, oldest first.
    pub items: Vec<AuditEventResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `create_tenant` succeeded.
#[derive(ApiResponse)]
pub enum TenantCreated {
    /// The new tenant, with its first signing key generated.
    #[oai(status = 201)]
    Created(Json<TenantResponse>),
}

/// `create_client` succeeded.
#[derive(ApiResponse)]
pub enum ClientCreated {
    /// The new client; `client_secret` is shown this once.
    #[oai(status = 201)]
    Created(Json<ClientResponse>),
}

/// `create_user` succeeded.
#[derive(ApiResponse)]
pub enum UserCreated {
    /// The new user.
    #[oai(status = 201)]
    Created(Json<UserResponse>),
}

/// `create_api_key` succeeded.
#[derive(ApiResponse)]
pub enum ApiKeyCreated {
    /// The new key; `key` is shown this once.
    #[oai(status = 201)]
    Created(Json<ApiKeyResponse>),
}

/// A resource was deleted or changed and there is nothing to return.
#[derive(ApiResponse)]
pub enum NoContent {
    /// Done; no body.
    #[oai(status = 204)]
    Done,
}

/// Body of `create_webhook`.
#[derive(Clone, Debug, Object, serde::Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// The receiver's URL (`https://...`). It must resolve to public addresses only
    /// (unless the server allows private targets).
    pub url: String,
    /// Free text for your operators (at most 500 characters).
    pub description: Option<String>,
    /// Event types to deliver (e.g. `account.locked`); omitted or empty for all.
    pub event_types: Option<Vec<String>>,
    /// Whether the endpoint receives events (default true).
    pub enabled: Option<bool>,
}

/// Body of `update_webhook`; omitted fields keep their value.
#[derive(Clone, Debug, Object, serde::Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    /// New receiver URL.
    pub url: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New event-type filter (empty for all).
    pub event_types: Option<Vec<String>>,
    /// Enable or disable the endpoint.
    pub enabled: Option<bool>,
}

/// A webhook endpoint.
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WebhookResponse {
    /// Endpoint id.
    pub id: Uuid,
    /// The receiver's URL.
    pub url: String,
    /// Free text.
    pub description: String,
    /// Event types delivered; empty means all.
    pub event_types: Vec<String>,
    /// Whether it receives events.
    pub enabled: bool,
    /// The signing secret (`whsec_...`): present only in the response that created
    /// the endpoint or rotated its secret. Verify deliveries with it as described by
    /// Standard Webhooks.
    #[oai(skip_serializing_if_is_none)]
    pub secret: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl WebhookResponse {
    /// Builds the response; `secret` only right after creation or rotation.
    pub fn new(
        e: tenancy::entity::webhook_endpoints::Model,
        secret: Option<secrecy::SecretString>,
    ) -> Self {
        Self {
            event_types: tenancy::journal::webhooks::event_types(&e),
            id: e.id,
            url: e.url,
            description: e.description,
            enabled: e.enabled,
            secret: secret.map(|s| s.expose_secret().to_owned()),
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// A page of webhook endpoints.
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WebhookPage {
    /// Endpoints on this page, oldest first.
    pub items: Vec<WebhookResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// One event's delivery to one endpoint.
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WebhookDeliveryResponse {
    /// Delivery id.
    pub id: Uuid,
    /// The Standard Webhooks message id sent as `webhook-id` (the same on every attempt).
    pub message_id: String,
    /// The event type.
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts made so far.
    pub attempts: i32,
    /// When the next attempt is due (for pending deliveries).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The receiver's HTTP status at the last attempt.
    pub last_status_code: Option<i32>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the event was queued.
    pub created_at: DateTime<Utc>,
    /// When it was delivered or given up.
    pub completed_at: Option<DateTime<Utc>>,
}

impl WebhookDeliveryResponse {
    /// Builds the response from a delivery and its event.
    pub fn new(
        d: tenancy::entity::alert_deliveries::Model,
        event: Option<tenancy::entity::security_events::Model>,
    ) -> Self {
        Self {
            message_id: event
                .as_ref()
                .map(tenancy::journal::alerts::message_id)
                .unwrap_or_default(),
            event_type: event.map(|e| e.kind).unwrap_or_default(),
            next_attempt_at: (d.status == tenancy::journal::alerts::status::PENDING)
                .then_some(d.next_attempt_at),
            id: d.id,
            status: d.status,
            attempts: d.attempts,
            last_status_code: d.last_status,
            last_error: d.last_error,
            created_at: d.created_at,
            completed_at: d.completed_at,
        }
    }
}

/// A page of deliveries.
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WebhookDeliveryPage {
    /// Deliveries on this page, oldest first.
    pub items: Vec<WebhookDeliveryResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// One delivery attempt (the delivery log).
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WebhookAttemptResponse {
    /// Attempt id.
    pub id: Uuid,
    /// Attempt number, from 1.
    pub attempt: i32,
    /// When it started.
    pub attempted_at: DateTime<Utc>,
    /// Whether the receiver accepted it (a 2xx answer).
    pub succeeded: bool,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<i32>,
    /// How long the attempt took, in milliseconds.
    pub latency_ms: i64,
    /// What went wrong.
    pub error: Option<String>,
}

impl From<tenancy::entity::alert_attempts::Model> for WebhookAttemptResponse {
    fn from(a: tenancy::entity::alert_attempts::Model) -> Self {
        Self {
            id: a.id,
            attempt: a.attempt,
            attempted_at: a.attempted_at,
            succeeded: a.succeeded,
            status_code: a.status_code,
            latency_ms: a.latency_ms,
            error: a.error,
        }
    }
}

/// A page of delivery attempts.
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WebhookAttemptPage {
    /// Attempts on this page, oldest first.
    pub items: Vec<WebhookAttemptResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `create_webhook` succeeded.
#[derive(ApiResponse)]
pub enum WebhookCreated {
    /// The new endpoint; `secret` is shown this once.
    #[oai(status = 201)]
    Created(Json<WebhookResponse>),
}

/// A delivery was queued (`send_test_webhook`, `redeliver_webhook`).
#[derive(ApiResponse)]
pub enum DeliveryQueued {
    /// Queued; the worker attempts it within seconds.
    #[oai(status = 202)]
    Accepted(Json<WebhookDeliveryResponse>),
}

/// The audit log as newline-delimited JSON.
#[derive(ApiResponse)]
pub enum AuditExport {
    /// One audit event (as in `list_audit_events`) per line, oldest first.
    #[oai(status = 200, content_type = "application/x-ndjson")]
    Ndjson(poem_openapi::payload::Binary<poem::Body>),
}

/// Work was accepted and happens in the background (e.g. an email being sent).
#[derive(ApiResponse)]
pub enum Accepted {
    /// Accepted; no body.
    #[oai(status = 202)]
    Accepted,
}

/// One registered passkey (public information only).
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PasskeyResponse {
    /// Passkey id.
    pub id: Uuid,
    /// The user's name for it.
    pub name: String,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it last signed in.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A user's second factors.
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct UserFactorsResponse {
    /// Whether an authenticator app (TOTP) is set up.
    pub totp: bool,
    /// When the authenticator app was set up.
    pub totp_confirmed_at: Option<DateTime<Utc>>,
    /// Registered passkeys, oldest first.
    pub passkeys: Vec<PasskeyResponse>,
    /// Unused recovery codes.
    pub recovery_codes_remaining: u64,
}

impl From<tenancy::accounts::mfa::Factors> for UserFactorsResponse {
    fn from(f: tenancy::accounts::mfa::Factors) -> Self {
        Self {
            totp: f.totp,
            totp_confirmed_at: f.totp_confirmed_at,
            passkeys: f
                .passkeys
                .into_iter()
                .map(|p| PasskeyResponse {
                    id: p.id,
                    name: p.name,
                    created_at: p.created_at,
                    last_used_at: p.last_used_at,
                })
                .collect(),
            recovery_codes_remaining: f.recovery_codes_left,
        }
    }
}
