//! The tenant a request is about.

use entity::tenants;
use uuid::Uuid;

/// The tenant a request is about, resolved once and passed to every domain call.
#[derive(Clone, Debug)]
pub struct TenantCtx {
    /// The tenant's id: the value every tenant-owned query filters on.
    pub id: Uuid,
    /// The tenant's slug.
    pub slug: String,
}

impl From<&tenants::Model> for TenantCtx {
    fn from(t: &tenants::Model) -> Self {
        Self {
            id: t.id,
            slug: t.slug.clone(),
        }
    }
}
