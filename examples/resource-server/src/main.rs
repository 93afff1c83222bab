//! `resource-server-example`: a small API protected by Tessera access tokens.
//!
//! | route | needs |
//! |---|---|
//! | `GET /.well-known/oauth-protected-resource{path of AUDIENCE}` | nothing: the RFC 9728 metadata |
//! | `GET /whoami` | any valid token for this API; answers what the token says |
//! | `GET /things` | scope `read:things` |
//! | `POST /things` | scope `write:things` |
//! | `GET /healthz` | nothing |
//!
//! Configured by environment variables (see `README.md`): `ISSUER`, `AUDIENCE`,
//! optional `INTROSPECTION_CLIENT_ID` / `INTROSPECTION_CLIENT_SECRET`,
//! `RESOURCE_METADATA_FILE`, `LISTEN` (default `127.0.0.1:9090`).

use std::{
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::Context as _;
use poem::{
    EndpointExt, IntoResponse, Request, Response, Route, Server, get, handler,
    http::{HeaderValue, StatusCode, header},
    listener::TcpListener,
    web::{Data, Json},
};
use resource_server_example::{
    AccessToken, Config, Rejection, Validator, challenge::ResourceMetadata, well_known,
};
use serde_json::json;

/// The scope `GET /things` needs.
const READ_SCOPE: &str = "read:things";
/// The scope `POST /things` needs.
const WRITE_SCOPE: &str = "write:things";

struct App {
    validator: Validator,
    metadata: ResourceMetadata,
    /// Where `metadata` is served, for the `resource_metadata` challenge parameter.
    metadata_url: String,
}

impl App {
    /// The request's token, validated and holding `scope` when one is given.
    async fn guard(&self, req: &Request, scope: Option<&str>) -> Result<AccessToken, Denied> {
        let authorization = req.header(header::AUTHORIZATION);
        let result = match self.validator.authenticate(authorization, unix_now()).await {
            Ok(token) => match scope {
                Some(scope) => token.require_scope(scope).map(|()| token),
                None => Ok(token),
            },
            Err(e) => Err(e),
        };
        result.map_err(|rejection| {
            tracing::debug!(%rejection, path = req.uri().path(), "request refused");
            Denied {
                rejection,
                metadata_url: self.metadata_url.clone(),
            }
        })
    }
}

/// A refused request, answered as RFC 6750 §3 says.
#[derive(Debug, thiserror::Error)]
#[error("{rejection}")]
struct Denied {
    rejection: Rejection,
    metadata_url: String,
}

impl poem::error::ResponseError for Denied {
    fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.rejection.status()).unwrap_or(StatusCode::UNAUTHORIZED)
    }

    fn as_response(&self) -> Response {
        let body = match self.rejection.error_code() {
            Some(code) => json!({ "error": code, "error_description": self.rejection.to_string() }),
            None => json!({ "error_description": self.rejection.to_string() }),
        };
        let mut resp = Json(body).with_status(self.status()).into_response();
        if let Some(value) = self
            .rejection
            .www_authenticate(&self.metadata_url)
            .and_then(|v| HeaderValue::from_str(&v).ok())
        {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
        if matches!(self.rejection, Rejection::Unavailable(_)) {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        resp
    }
}

/// The time tokens are checked at.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

#[handler]
fn protected_resource_metadata(app: Data<&Arc<App>>) -> Response {
    Json(&app.metadata)
        .with_header(header::CACHE_CONTROL, "public, max-age=3600")
        .into_response()
}

#[handler]
async fn whoami(req: &Request, app: Data<&Arc<App>>) -> poem::Result<Json<AccessToken>> {
    Ok(Json(app.guard(req, None).await?))
}

#[handler]
async fn list_things(req: &Request, app: Data<&Arc<App>>) -> poem::Result<Json<serde_json::Value>> {
    let token = app.guard(req, Some(READ_SCOPE)).await?;
    Ok(Json(json!({
        "things": ["a teapot", "a tessera"],
        "for": token.subject,
    })))
}

#[handler]
async fn create_thing(req: &Request, app: Data<&Arc<App>>) -> poem::Result<Response> {
    let token = app.guard(req, Some(WRITE_SCOPE)).await?;
    Ok(Json(json!({ "created": true, "by": token.subject }))
        .with_status(StatusCode::CREATED)
        .into_response())
}

#[handler]
fn healthz() -> &'static str {
    "ok"
}

/// The metadata document: from `RESOURCE_METADATA_FILE` (as the management API's
/// `GET /api/v1/tenants/{t}/apis/{id}/protected-resource-metadata` returns it) or
/// built from the configuration.
fn metadata(config: &Config, file: Option<String>) -> anyhow::Result<ResourceMetadata> {
    let Some(path) = file else {
        return Ok(ResourceMetadata::new(
            &config.audience,
            &config.issuer,
            &[READ_SCOPE.to_owned(), WRITE_SCOPE.to_owned()],
        ));
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let md: ResourceMetadata =
        serde_json::from_str(&text).with_context(|| format!("parsing {path}"))?;
    // RFC 9728 §3.3: `resource` must be the identifier the metadata URL was built from.
    anyhow::ensure!(
        md.resource == config.audience,
        "{path} describes {}, but AUDIENCE is {}",
        md.resource,
        config.audience
    );
    anyhow::ensure!(
        md.authorization_servers.contains(&config.issuer),
        "{path} does not list ISSUER {} in authorization_servers",
        config.issuer
    );
    Ok(md)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,resource_server_example=debug".into()),
        )
        .init();
    let config = Config::from_vars(|name| std::env::var(name).ok())?;
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:9090".into());
    let metadata = metadata(&config, std::env::var("RESOURCE_METADATA_FILE").ok())?;
    let metadata_url = well_known(&config.audience, "oauth-protected-resource")?;
    let metadata_path = metadata_url.path().to_owned();
    tracing::info!(
        issuer = %config.issuer,
        audience = %config.audience,
        introspection = config.introspection.is_some(),
        %listen,
        metadata = %metadata_url,
        "resource server starting"
    );
    let app = Arc::new(App {
        validator: Validator::new(config)?,
        metadata,
        metadata_url: metadata_url.to_string(),
    });
    let routes = Route::new()
        .at(&metadata_path, get(protected_resource_metadata))
        .at("/whoami", get(whoami))
        .at("/things", get(list_things).post(create_thing))
        .at("/healthz", get(healthz))
        .data(app);
    Server::new(TcpListener::bind(listen))
        .run_with_graceful_shutdown(
            routes,
            async {
                let _ = tokio::signal::ctrl_c().await;
            },
            Some(std::time::Duration::from_secs(5)),
        )
        .await?;
    Ok(())
}
