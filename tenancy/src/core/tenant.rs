//! The tenant a request is about.

use entity::tenants;
use sea_orm::{ConnectionTrait, EntityTrait};
use uuid::Uuid;

use crate::{Error, Result, core::TenantSettings};

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

impl TenantCtx {
    /// The tenant's settings as stored now (read inside a change's transaction, so a
    /// rule checked against them holds when the change commits).
    pub async fn stored_settings(&self, db: &impl ConnectionTrait) -> Result<TenantSettings> {
        let row = tenants::Entity::find_by_id(self.id)
            .one(db)
            .await?
            .ok_or(Error::NotFound("tenant"))?;
        Ok(TenantSettings::from_json(&row.settings))
    }
}
