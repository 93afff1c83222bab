//! Who calls the management API (the bootstrap admin token or an API key) and what
//! it may touch.

use uuid::Uuid;

use crate::{Error, Result};

/// What a key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Everything, on every tenant.
    PlatformAdmin,
    /// Read and write one tenant.
    TenantAdmin,
    /// Read one tenant.
    TenantRead,
}

/// Whether an operation reads or changes a tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Reads only.
    Read,
    /// Creates, changes or deletes.
    Write,
}

/// An authenticated caller of the management API.
#[derive(Clone, Debug)]
pub struct Principal {
    /// Audit actor id (`api_key:<id>` or `admin_token`).
    pub actor_id: String,
    /// The tenant a tenant-scoped key is limited to; none for platform principals.
    pub(crate) tenant: Option<Uuid>,
    pub(crate) scope: Scope,
}

impl Principal {
    /// The principal of the configured `TESSERA_ADMIN_TOKEN`.
    pub fn admin_token() -> Self {
        Self {
            actor_id: "admin_token".into(),
            tenant: None,
            scope: Scope::PlatformAdmin,
        }
    }

    /// The tenant this principal is limited to, if any.
    pub fn tenant_id(&self) -> Option<Uuid> {
        self.tenant
    }

    /// Whether the principal may see the tenant at all.
    pub fn can_see(&self, tenant_id: Uuid) -> bool {
        self.scope == Scope::PlatformAdmin || self.tenant == Some(tenant_id)
    }

    /// Checks access to a tenant the principal can see (see [`Principal::can_see`]).
    pub fn authorize(&self, tenant_id: Uuid, access: Access) -> Result<()> {
        if !self.can_see(tenant_id) {
            return Err(Error::NotFound("tenant"));
        }
        match (self.scope, access) {
            (Scope::TenantRead, Access::Write) => {
                Err(Error::Forbidden("this API key is read-only"))
            }
            _ => Ok(()),
        }
    }

    /// Checks that the principal is a platform administrator.
    pub fn require_platform(&self) -> Result<()> {
        match self.scope {
            Scope::PlatformAdmin => Ok(()),
            _ => Err(Error::Forbidden(
                "this operation needs a platform admin key",
            )),
        }
    }
}
