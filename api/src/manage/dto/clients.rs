//! OAuth clients.

use chrono::{DateTime, Utc};
use poem_openapi::{ApiResponse, Enum, Object, payload::Json};
use secrecy::ExposeSecret;
use tenancy::entity::clients;

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
    /// JWS algorithm of this client's ID tokens (OIDC Registration §2): one of the
    /// tenant's `signing_algs` (default: the tenant's first).
    pub id_token_signed_response_alg: Option<String>,
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
    /// New ID-token algorithm; `null`: the tenant's first.
    #[serde(default)]
    #[oai(nullable)]
    pub id_token_signed_response_alg: poem_openapi::types::MaybeUndefined<String>,
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
    /// JWS algorithm of its ID tokens; absent: the tenant's first.
    pub id_token_signed_response_alg: Option<String>,
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
            id_token_signed_response_alg: c.id_token_signed_response_alg,
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

/// `create_client` succeeded.
#[derive(ApiResponse)]
pub enum ClientCreated {
    /// The new client; `client_secret` is shown this once.
    #[oai(status = 201)]
    Created(Json<ClientResponse>),
}
