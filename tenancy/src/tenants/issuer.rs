//! What every protocol request of a tenant starts from: the tenant named in the URL,
//! its issuer identifier and its keys.

use std::sync::Arc;

use entity::tenants;

use crate::{core::TenantSettings, keys::signing::TenantKeys, tenants::directory::Resolved};

/// A resolved tenant as the issuer of one protocol request.
#[derive(Clone)]
pub struct Issuer {
    resolved: Arc<Resolved>,
    /// `{PUBLIC_URL}/t/{slug}` (OIDC Discovery §3: the `iss` of every token). Built
    /// from configuration, never from request headers.
    pub url: String,
    /// The tenant's parsed keys.
    pub keys: Arc<TenantKeys>,
}

impl Issuer {
    /// The issuer `url` of `resolved`, signing with `keys`.
    pub fn new(resolved: Arc<Resolved>, url: String, keys: Arc<TenantKeys>) -> Self {
        Self {
            resolved,
            url,
            keys,
        }
    }

    /// The tenant row.
    pub fn tenant(&self) -> &tenants::Model {
        &self.resolved.tenant
    }

    /// The tenant's settings.
    pub fn settings(&self) -> &TenantSettings {
        &self.resolved.settings
    }

    /// The resolved tenant, through which its clients are looked up.
    pub fn resolved(&self) -> &Resolved {
        &self.resolved
    }
}
