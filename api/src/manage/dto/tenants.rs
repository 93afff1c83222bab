//! Tenants and their settings (token lifetimes, policies, rate limits).

use chrono::{DateTime, Utc};
use poem_openapi::{ApiResponse, Enum, Object, payload::Json};
use tenancy::{
    core::MfaPolicy, core::SettingValue, core::SettingsPatch, core::TenantSettings, entity::tenants,
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

/// How a setting's domain type appears in the management API.
pub trait SettingDto: SettingValue {
    /// The type in responses.
    type Response;
    /// The type in a change request.
    type Change;
    /// The value as a response shows it.
    fn response(self) -> Self::Response;
    /// The domain's change from the API's.
    fn change(change: Self::Change) -> Self::Patch;
}

macro_rules! same_in_the_api {
    ($($t:ty),*) => {$(
        impl SettingDto for $t {
            type Response = Self;
            type Change = Self;
            fn response(self) -> Self {
                self
            }
            fn change(change: Self) -> Self {
                change
            }
        }
    )*};
}
same_in_the_api!(u32, bool, String, Vec<String>);

impl SettingDto for MfaPolicy {
    type Response = MfaPolicyDto;
    type Change = MfaPolicyDto;
    fn response(self) -> MfaPolicyDto {
        self.into()
    }
    fn change(change: MfaPolicyDto) -> Self {
        change.into()
    }
}

impl SettingDto for tenancy::core::RateLimits {
    type Response = RateLimitsResponse;
    type Change = RateLimitsPatch;
    fn response(self) -> RateLimitsResponse {
        self.into()
    }
    fn change(change: RateLimitsPatch) -> tenancy::core::RateLimitsPatch {
        change.into()
    }
}

/// Builds the settings bodies from the domain's one list of settings
/// ([`tenancy::with_tenant_settings`]). A `choice` field carries no description: on
/// an enum-typed field poem-openapi would wrap the `$ref` in an `allOf`, which SDK
/// generators reject; the enum documents itself.
macro_rules! settings_bodies {
    ($({ $name:ident : $ty:ty = $default:expr, $bounds:tt, $kind:ident, $doc:literal })*) => {
        settings_bodies!(@fields [] [] $({ $name, $ty, $kind, $doc })*);

        impl From<TenantSettings> for TenantSettingsResponse {
            fn from(s: TenantSettings) -> Self {
                Self { $($name: SettingDto::response(s.$name),)* }
            }
        }

        impl From<TenantSettingsPatch> for SettingsPatch {
            fn from(p: TenantSettingsPatch) -> Self {
                Self { $($name: p.$name.map(<$ty as SettingDto>::change),)* }
            }
        }
    };
    (@fields [$($response:tt)*] [$($change:tt)*] { $name:ident, $ty:ty, plain, $doc:literal } $($rest:tt)*) => {
        settings_bodies!(@fields
            [$($response)* #[doc = $doc] pub $name: <$ty as SettingDto>::Response,]
            [$($change)* #[doc = $doc] pub $name: Option<<$ty as SettingDto>::Change>,]
            $($rest)*);
    };
    (@fields [$($response:tt)*] [$($change:tt)*] { $name:ident, $ty:ty, choice, $doc:literal } $($rest:tt)*) => {
        settings_bodies!(@fields
            [$($response)* pub $name: <$ty as SettingDto>::Response,]
            [$($change)* pub $name: Option<<$ty as SettingDto>::Change>,]
            $($rest)*);
    };
    (@fields [$($response:tt)*] [$($change:tt)*]) => {
        /// A tenant's settings.
        #[derive(Clone, Debug, Object)]
        #[oai(skip_serializing_if_is_none)]
        pub struct TenantSettingsResponse {
            $($response)*
        }

        /// Settings to change; omitted fields keep their value.
        #[derive(Clone, Debug, Default, Object, serde::Deserialize)]
        #[oai(deny_unknown_fields)]
        #[serde(deny_unknown_fields)]
        pub struct TenantSettingsPatch {
            $($change)*
        }
    };
}

tenancy::with_tenant_settings!(settings_bodies);

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

/// Builds the rate-limit bodies from the domain's one list of endpoints
/// ([`tenancy::with_rate_limit_endpoints`]).
macro_rules! rate_limit_bodies {
    ($({ $variant:ident, $field:ident, $counts:ident, ($addr:literal, $target:literal, $window:literal),
         $target_doc:literal, $route:literal, $doc:literal })*) => {
        /// A tenant's per-endpoint limits. Failure budgets (a guess that went wrong)
        /// are `password_reset`, `email_verify`, `token`, `introspection`,
        /// `revocation`; the others count every request.
        #[derive(Clone, Copy, Debug, Object)]
        pub struct RateLimitsResponse {
            $(
                #[doc = $doc]
                pub $field: EndpointLimitResponse,
            )*
        }

        /// Changes to the per-endpoint limits; omitted endpoints keep their value. The
        /// defaults are in the response of a tenant created without changes.
        #[derive(Clone, Copy, Debug, Default, Object, serde::Deserialize)]
        #[oai(deny_unknown_fields)]
        #[serde(deny_unknown_fields)]
        pub struct RateLimitsPatch {
            $(
                #[doc = $doc]
                pub $field: Option<EndpointLimitPatch>,
            )*
        }

        impl From<tenancy::core::RateLimits> for RateLimitsResponse {
            fn from(l: tenancy::core::RateLimits) -> Self {
                Self { $($field: l.$field.into(),)* }
            }
        }

        impl From<RateLimitsPatch> for tenancy::core::RateLimitsPatch {
            fn from(p: RateLimitsPatch) -> Self {
                Self { $($field: p.$field.map(Into::into),)* }
            }
        }
    };
}

tenancy::with_rate_limit_endpoints!(rate_limit_bodies);

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

/// `create_tenant` succeeded.
#[derive(ApiResponse)]
pub enum TenantCreated {
    /// The new tenant, with its first signing key generated.
    #[oai(status = 201)]
    Created(Json<TenantResponse>),
}
