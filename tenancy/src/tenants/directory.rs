//! Enabled tenants by slug, kept parsed in memory for a few seconds.
//!
//! Every protocol request names its tenant in the URL. Reading the row and parsing its
//! settings on each request was the largest cost of the cheap endpoints (discovery,
//! JWKS, introspection), so a resolved tenant is reused for [`TENANT_CACHE_TTL`]. A
//! change made through the management API is seen at once on this node
//! ([`Directory::forget_all`]) and, through the cross-node notice, on the others; if a
//! notice is lost, within the same bound as a key change ([`crate::keys::signing::KEY_CACHE_TTL`]).

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use chrono::{DateTime, Utc};
use entity::{clients, tenants};
use sea_orm::ConnectionTrait;

use crate::{Result, core::TenantCtx, core::TenantSettings, resources::catalog::ApiCatalog};

/// How long a resolved tenant is reused before the database is asked again.
pub const TENANT_CACHE_TTL: Duration = crate::keys::signing::KEY_CACHE_TTL;
/// How many tenants stay resolved in memory at most.
pub const TENANT_CACHE_CAPACITY: u64 = 10_000;

/// Clients remembered per resolved tenant at most.
const CLIENTS_KEPT_MAX: usize = 1_000;

/// An enabled tenant with its settings parsed, and the clients and APIs looked up
/// through it.
///
/// Clients live exactly as long as their tenant's entry: the same lifetime bounds how
/// long another node may use a client this node changed, and a client change through
/// the management API drops the entry (and, by notice, the other nodes').
pub struct Resolved {
    /// The tenant row.
    pub tenant: tenants::Model,
    /// Its settings.
    pub settings: TenantSettings,
    loaded_at: DateTime<Utc>,
    clients: RwLock<HashMap<String, Arc<clients::Model>>>,
    apis: tokio::sync::OnceCell<Arc<ApiCatalog>>,
    client_grants: RwLock<HashMap<(String, uuid::Uuid), KeptGrant>>,
}

/// A client grant's scopes as kept per resolved tenant; none: no grant.
type KeptGrant = Option<Arc<Vec<String>>>;

impl Resolved {
    /// The tenant's APIs, read from the database once per entry lifetime (an API
    /// change through the management API drops the entry, like a client change).
    pub async fn apis(&self, db: &impl ConnectionTrait) -> Result<Arc<ApiCatalog>> {
        self.apis
            .get_or_try_init(|| async {
                ApiCatalog::load(db, &TenantCtx::from(&self.tenant))
                    .await
                    .map(Arc::new)
            })
            .await
            .cloned()
    }

    /// The scopes of API `api_id` client `client_id` was granted for client
    /// credentials, or none without a grant; read from the database at most once per
    /// entry lifetime (a grant change drops the entry).
    pub async fn client_grant(
        &self,
        db: &impl ConnectionTrait,
        client_id: &str,
        api_id: uuid::Uuid,
    ) -> Result<KeptGrant> {
        let key = (client_id.to_owned(), api_id);
        if let Ok(kept) = self.client_grants.read()
            && let Some(grant) = kept.get(&key)
        {
            return Ok(grant.clone());
        }
        let found = crate::resources::client_grants::find(
            db,
            &TenantCtx::from(&self.tenant),
            client_id,
            api_id,
        )
        .await?
        .map(|g| Arc::new(crate::resources::client_grants::scopes(&g)));
        keep(&self.client_grants, key, found.clone());
        Ok(found)
    }

    /// The tenant's client `client_id` (an error `NotFound` if there is none), read
    /// from the database at most once per entry lifetime.
    pub async fn client(
        &self,
        db: &impl ConnectionTrait,
        client_id: &str,
    ) -> Result<clients::Model> {
        if let Ok(kept) = self.clients.read()
            && let Some(client) = kept.get(client_id)
        {
            return Ok(clients::Model::clone(client));
        }
        let client = crate::clients::get(db, &TenantCtx::from(&self.tenant), client_id).await?;
        keep(
            &self.clients,
            client_id.to_owned(),
            Arc::new(client.clone()),
        );
        Ok(client)
    }
}

/// Remembers `value` under `key` in one of an entry's maps, which hold at most
/// [`CLIENTS_KEPT_MAX`] values (all are dropped when full: they are reread on demand).
fn keep<K: std::hash::Hash + Eq, V>(map: &RwLock<HashMap<K, V>>, key: K, value: V) {
    if let Ok(mut kept) = map.write() {
        if kept.len() >= CLIENTS_KEPT_MAX {
            kept.clear();
        }
        kept.insert(key, value);
    }
}

/// The shared cache of resolved tenants; cheap to clone.
#[derive(Clone)]
pub struct Directory {
    cache: moka::future::Cache<String, Arc<Resolved>>,
}

impl Default for Directory {
    fn default() -> Self {
        Self {
            cache: moka::future::Cache::builder()
                .max_capacity(TENANT_CACHE_CAPACITY)
                .time_to_live(TENANT_CACHE_TTL)
                .build(),
        }
    }
}

impl Directory {
    /// The enabled tenant `slug`, from memory or the database. An entry also expires by
    /// the server clock, so a test clock moved forward sees changes made elsewhere.
    /// Absence is not remembered: a tenant created on another node is found at once.
    pub async fn find_enabled(
        &self,
        db: &impl ConnectionTrait,
        slug: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Arc<Resolved>>> {
        if let Some(entry) = self.cache.get(slug).await
            && crate::keys::signing::fresh(entry.loaded_at, now)
        {
            return Ok(Some(entry));
        }
        let Some(tenant) = crate::tenants::find_enabled(db, slug).await? else {
            self.cache.invalidate(slug).await;
            return Ok(None);
        };
        let entry = Arc::new(Resolved {
            settings: TenantSettings::from_json(&tenant.settings),
            tenant,
            loaded_at: now,
            clients: RwLock::default(),
            apis: tokio::sync::OnceCell::new(),
            client_grants: RwLock::default(),
        });
        self.cache.insert(slug.to_owned(), entry.clone()).await;
        Ok(Some(entry))
    }

    /// Forgets every resolved tenant (one was changed, here or on another node).
    pub fn forget_all(&self) {
        self.cache.invalidate_all();
    }
}
