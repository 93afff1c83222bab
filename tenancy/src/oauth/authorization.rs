//! Authorization requests (RFC 6749 §4.1.1, OAuth 2.1 §4.1.1, OIDC Core §3.1.2.1):
//! validation, and what has to happen before a code can be issued.
//!
//! Order matters (RFC 6749 §4.1.2.1, RFC 9700 §4.1): `client_id` and `redirect_uri`
//! are checked first, and if either is bad the user sees an error page — we never
//! redirect to a URI we cannot vouch for. Every later error goes back to the client's
//! redirect URI with `state` and `iss` (RFC 9207).
//!
//! A validated request is stored while the user signs in, so what it keeps is bounded:
//! `state` at most [`MAX_STATE_LEN`] bytes, `nonce` [`MAX_NONCE_LEN`], `login_hint`
//! [`MAX_LOGIN_HINT_LEN`]; longer ones, and any parameter with a control character,
//! are an `invalid_request` (RFC 6749 §4.1.2.1) before anything is stored. A `state`
//! that itself holds a control character is not echoed back.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    Error,
    accounts::sessions::Session,
    clients as registry,
    core::oauth_error::{ErrorCode, OAuthError},
    core::scopes::ScopeSet,
    oauth::pkce,
};

/// The raw parameters of an authorization request.
#[derive(Clone, Debug, Default)]
pub struct AuthorizeParams {
    /// `client_id`.
    pub client_id: Option<String>,
    /// `redirect_uri`.
    pub redirect_uri: Option<String>,
    /// `response_type`.
    pub response_type: Option<String>,
    /// `scope`.
    pub scope: Option<String>,
    /// `state`.
    pub state: Option<String>,
    /// `nonce` (OIDC).
    pub nonce: Option<String>,
    /// `code_challenge` (PKCE).
    pub code_challenge: Option<String>,
    /// `code_challenge_method` (PKCE).
    pub code_challenge_method: Option<String>,
    /// `prompt` (OIDC Core §3.1.2.1).
    pub prompt: Option<String>,
    /// `max_age` (OIDC Core §3.1.2.1).
    pub max_age: Option<String>,
    /// `login_hint` (OIDC Core §3.1.2.1).
    pub login_hint: Option<String>,
    /// `acr_values` (OIDC Core §3.1.2.1).
    pub acr_values: Option<String>,
    /// `resource` values (RFC 8707 §2), in the order sent.
    pub resources: Vec<String>,
}

/// A validated authorization request, kept while the user logs in and consents.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuthorizationRequest {
    /// The client's `client_id`.
    pub client_id: String,
    /// The client's display name, for the consent page.
    pub client_name: String,
    /// First-party clients skip consent.
    pub first_party: bool,
    /// The exactly-registered redirect URI.
    pub redirect_uri: String,
    /// Requested scope, normalised.
    pub scope: String,
    /// The APIs (identifiers) the tokens are for (RFC 8707 §2): as requested, or the
    /// tenant's default API; empty for none.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Echoed back to the client.
    pub state: Option<String>,
    /// Carried into the ID token.
    pub nonce: Option<String>,
    /// The S256 PKCE challenge.
    pub code_challenge: Option<String>,
    /// `prompt=none`: never show a page.
    pub prompt_none: bool,
    /// `prompt=login`: authenticate again (cleared once done).
    pub prompt_login: bool,
    /// `prompt=consent`: ask again (cleared once done).
    pub prompt_consent: bool,
    /// Maximum authentication age in seconds.
    pub max_age: Option<i64>,
    /// Username hint for the login page.
    pub login_hint: Option<String>,
    /// `acr_values` listed [`crate::core::amr::ACR_MFA`]: the session must be multi-factor.
    #[serde(default)]
    pub mfa: bool,
    /// Not a client's request: the user is signing in to their own account page.
    #[serde(default)]
    pub account: bool,
    /// `auth_time` of the sign-in completed during this request, which satisfies
    /// `max_age` (even 0) and `prompt=login` for it, whatever time has passed since.
    #[serde(default)]
    pub signed_in_at: Option<i64>,
}

impl AuthorizationRequest {
    /// Notes that the user has just signed in for this request with `session`: OIDC
    /// Core §3.1.2.1 `prompt=login` and `max_age` ask for a fresh authentication, and
    /// this was it. Without this, `max_age=0` would send the user back to the login
    /// page as soon as a second had passed (for instance on the consent page). It holds
    /// for this request only; the next one with `max_age=0` asks again.
    pub fn signed_in(&mut self, session: &Session) {
        self.prompt_login = false;
        self.signed_in_at = session.auth_time;
    }

    /// The requested scopes.
    pub fn scopes(&self) -> ScopeSet {
        ScopeSet::from_tokens(self.scope.split(' ').filter(|s| !s.is_empty()))
    }
}

/// Why an authorization request fails.
#[derive(Debug)]
pub enum AuthorizeError {
    /// Bad client or redirect URI: show an error page, never redirect.
    Page(String),
    /// Report to the client at its redirect URI.
    Redirect {
        /// Where to send the error.
        redirect_uri: String,
        /// The client's `state`.
        state: Option<String>,
        /// The error.
        error: OAuthError,
    },
    /// Storage failed (fail closed).
    Failed(Error),
}

/// Longest `state` kept, in bytes (it is echoed to the client, never interpreted).
pub const MAX_STATE_LEN: usize = 2048;
/// Longest `nonce` kept, in bytes (it goes into the ID token).
pub const MAX_NONCE_LEN: usize = 512;
/// Longest `login_hint` kept, in bytes (an email address is at most 254).
pub const MAX_LOGIN_HINT_LEN: usize = 256;
/// Most `resource` parameters one authorization request may name (RFC 8707 §2).
pub const MAX_RESOURCES: usize = 10;

/// The first parameter (after `client_id` and `redirect_uri`) that breaks a bound.
fn unacceptable_parameter(params: &AuthorizeParams) -> Option<String> {
    let fields = [
        ("response_type", &params.response_type, 64),
        ("scope", &params.scope, usize::MAX),
        ("state", &params.state, MAX_STATE_LEN),
        ("nonce", &params.nonce, MAX_NONCE_LEN),
        ("code_challenge", &params.code_challenge, usize::MAX),
        ("code_challenge_method", &params.code_challenge_method, 64),
        ("prompt", &params.prompt, 256),
        ("max_age", &params.max_age, 32),
        ("login_hint", &params.login_hint, MAX_LOGIN_HINT_LEN),
        ("acr_values", &params.acr_values, 1024),
    ];
    fields.iter().find_map(|(name, value, max)| {
        let value = value.as_deref()?;
        if crate::core::validate::has_control_chars(value) {
            Some(format!("{name} contains a control character"))
        } else if value.len() > *max {
            Some(format!("{name} is longer than {max} bytes"))
        } else {
            None
        }
    })
}

/// Whether the raw `scope` asks for `openid` (OIDC Core §3.1.2.1).
fn requests_openid(params: &AuthorizeParams) -> bool {
    params
        .scope
        .as_deref()
        .unwrap_or_default()
        .split(' ')
        .any(|s| s == "openid")
}

/// Validates an authorization request against the tenant's client registry.
pub async fn validate(
    db: &impl sea_orm::ConnectionTrait,
    tenant: &crate::tenants::directory::Resolved,
    params: &AuthorizeParams,
) -> Result<AuthorizationRequest, AuthorizeError> {
    let client_id = params
        .client_id
        .as_deref()
        .ok_or_else(|| AuthorizeError::Page("the request has no client_id".into()))?;
    // Before the lookup: NUL cannot even be sent to Postgres.
    if crate::core::validate::has_control_chars(client_id) {
        return Err(AuthorizeError::Page("unknown client_id".into()));
    }
    let client = match tenant.client(db, client_id).await {
        Ok(c) => c,
        Err(Error::NotFound(_)) => return Err(AuthorizeError::Page("unknown client_id".into())),
        Err(e) => return Err(AuthorizeError::Failed(e)),
    };
    let redirect_uri = params
        .redirect_uri
        .clone()
        .ok_or_else(|| AuthorizeError::Page("the request has no redirect_uri".into()))?;
    // RFC 9700 §4.1.3 / OAuth 2.1 §2.3.1: exact string comparison, nothing else.
    if !registry::redirect_uris(&client).contains(&redirect_uri) {
        return Err(AuthorizeError::Page(
            "redirect_uri is not registered for this client".into(),
        ));
    }
    // A state with control characters is not echoed (RFC 6749 §4.1.2.1 asks for the
    // exact value, which we will not put into a redirect).
    let state = params
        .state
        .clone()
        .filter(|s| !crate::core::validate::has_control_chars(s));
    let fail = |code: ErrorCode, msg: &str| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        error: OAuthError::new(code, msg),
    };
    if let Some(problem) = unacceptable_parameter(params) {
        return Err(fail(ErrorCode::InvalidRequest, &problem));
    }
    match params.response_type.as_deref() {
        None => return Err(fail(ErrorCode::InvalidRequest, "missing response_type")),
        Some("code") => {}
        Some(_) => {
            return Err(fail(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ));
        }
    }
    if !registry::grant_types(&client)
        .iter()
        .any(|g| g == "authorization_code")
    {
        return Err(fail(
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization code flow",
        ));
    }
    // PKCE (RFC 7636; OAuth 2.1 §4.1.1): S256 only; an absent method means `plain`.
    let code_challenge = match (
        &params.code_challenge,
        params.code_challenge_method.as_deref(),
    ) {
        (Some(challenge), Some("S256")) if pkce::is_well_formed(challenge) => {
            Some(challenge.clone())
        }
        (Some(_), Some("S256")) => {
            return Err(fail(ErrorCode::InvalidRequest, "malformed code_challenge"));
        }
        (Some(_), _) => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "code_challenge_method must be S256 (plain is not allowed)",
            ));
        }
        (None, Some(_)) => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "code_challenge_method without code_challenge",
            ));
        }
        (None, None) if client.require_pkce => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "PKCE is required: send code_challenge with S256",
            ));
        }
        // RFC 9700 §2.1.1: a confidential client may go without PKCE only if it uses
        // the OpenID Connect `nonce` instead, and a nonce protects only an OpenID
        // request (it travels in the ID token, which only `openid` gets).
        (None, None) if params.nonce.is_none() || !requests_openid(params) => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "without PKCE, an OpenID request (scope openid) with a nonce is required",
            ));
        }
        (None, None) => None,
    };
    let scope = ScopeSet::parse(params.scope.as_deref().unwrap_or_default()).map_err(|e| {
        AuthorizeError::Redirect {
            redirect_uri: redirect_uri.clone(),
            state: state.clone(),
            error: e,
        }
    })?;
    if scope.is_empty() {
        return Err(fail(ErrorCode::InvalidScope, "scope is required"));
    }
    if params.resources.len() > MAX_RESOURCES {
        return Err(fail(
            ErrorCode::InvalidTarget,
            &format!("at most {MAX_RESOURCES} resource parameters"),
        ));
    }
    let catalog = tenant.apis(db).await.map_err(AuthorizeError::Failed)?;
    let apis =
        crate::oauth::audience::requested_apis(&catalog, &tenant.settings, &params.resources)
            .map_err(|error| AuthorizeError::Redirect {
                redirect_uri: redirect_uri.clone(),
                state: state.clone(),
                error,
            })?;
    // A scope is the client's to ask for (registered) or one of a requested API's.
    let refused = crate::oauth::audience::refused_scopes(
        &scope,
        &ScopeSet::from_tokens(registry::allowed_scopes(&client)),
        &apis,
    );
    if !refused.is_empty() {
        return Err(fail(
            ErrorCode::InvalidScope,
            &format!("scope not allowed for this client: {}", refused.join(" ")),
        ));
    }
    let prompts: Vec<&str> = params
        .prompt
        .as_deref()
        .unwrap_or_default()
        .split(' ')
        .filter(|p| !p.is_empty())
        .collect();
    if prompts
        .iter()
        .any(|p| !matches!(*p, "none" | "login" | "consent" | "select_account"))
    {
        return Err(fail(ErrorCode::InvalidRequest, "unsupported prompt value"));
    }
    let prompt_none = prompts.contains(&"none");
    if prompt_none && prompts.len() > 1 {
        return Err(fail(
            ErrorCode::InvalidRequest,
            "prompt=none cannot be combined with other values",
        ));
    }
    let max_age = match &params.max_age {
        None => None,
        Some(v) => Some(v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            fail(
                ErrorCode::InvalidRequest,
                "max_age must be a non-negative integer",
            )
        })?),
    };
    Ok(AuthorizationRequest {
        client_id: client.client_id,
        client_name: client.name,
        first_party: client.first_party,
        redirect_uri,
        scope: scope.to_string(),
        resources: apis.iter().map(|api| api.identifier.clone()).collect(),
        state,
        nonce: params.nonce.clone(),
        code_challenge,
        prompt_none,
        prompt_login: prompts.contains(&"login"),
        prompt_consent: prompts.contains(&"consent"),
        max_age,
        login_hint: params.login_hint.clone(),
        // OIDC Core §3.1.2.1: acr_values are requested in order of preference; values
        // we do not know are ignored, and ours for MFA is honoured as a requirement.
        mfa: params
            .acr_values
            .as_deref()
            .unwrap_or_default()
            .split(' ')
            .any(|v| v == crate::core::amr::ACR_MFA),
        account: false,
        signed_in_at: None,
    })
}

/// The request behind a visit to the account page (`{issuer}/account`): no client, no
/// consent; after login the browser comes back to `account_url`.
pub fn account_request(account_url: &str) -> AuthorizationRequest {
    AuthorizationRequest {
        client_id: String::new(),
        client_name: String::new(),
        first_party: true,
        redirect_uri: account_url.to_owned(),
        scope: "openid".into(),
        resources: Vec::new(),
        state: None,
        nonce: None,
        code_challenge: None,
        prompt_none: false,
        prompt_login: false,
        prompt_consent: false,
        max_age: None,
        login_hint: None,
        mfa: false,
        account: true,
        signed_in_at: None,
    }
}

/// What must happen next for a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Show the login page.
    Login,
    /// Show the second-factor page (verify, step up, or enrol first).
    SecondFactor,
    /// Show the consent page.
    Consent,
    /// Issue the code.
    Issue,
    /// `prompt=none` cannot be satisfied: report this error to the client.
    Fail(ErrorCode),
}

/// Decides the next step from the request, the browser's session, the stored consent
/// and whether the result must be multi-factor (tenant policy or `acr_values`).
pub fn decide(
    request: &AuthorizationRequest,
    session: Option<&Session>,
    consent_covers_scope: bool,
    mfa_required: bool,
    now: DateTime<Utc>,
) -> Next {
    // A password is proven and a second factor is due: finish that first.
    if session.is_some_and(|s| s.pending.is_some() && s.user_id.is_none()) && !request.prompt_login
    {
        return if request.prompt_none {
            Next::Fail(ErrorCode::LoginRequired)
        } else {
            Next::SecondFactor
        };
    }
    let authenticated = session
        .and_then(|s| s.auth_time.filter(|_| s.user_id.is_some()))
        .is_some_and(|auth_time| {
            let fresh = request.signed_in_at == Some(auth_time);
            !request.prompt_login
                && (fresh
                    || request
                        .max_age
                        .is_none_or(|max| now.timestamp() - auth_time <= max))
        });
    if !authenticated {
        return if request.prompt_none {
            Next::Fail(ErrorCode::LoginRequired)
        } else {
            Next::Login
        };
    }
    // Step-up (OIDC Core §3.1.2.1 acr_values; tenant policy): a single-factor session
    // must add a second factor first. `prompt=none` cannot show that page. A sign-in
    // that has just enrolled its first factor goes on (with `acr` `0`: the new factor
    // proves nothing yet, see `sessions::log_in`) instead of asking for it again.
    if mfa_required && !session.is_some_and(crate::accounts::mfa::meets_mfa_requirement) {
        return if request.prompt_none {
            Next::Fail(ErrorCode::LoginRequired)
        } else {
            Next::SecondFactor
        };
    }
    let needs_consent = !request.first_party && (request.prompt_consent || !consent_covers_scope);
    match (needs_consent, request.prompt_none) {
        (true, true) => Next::Fail(ErrorCode::ConsentRequired),
        (true, false) => Next::Consent,
        (false, _) => Next::Issue,
    }
}
