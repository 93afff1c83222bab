//! Which API a token is for (RFC 8707 resource indicators) and what it may carry.
//!
//! A request names its APIs with `resource` (several at the authorization endpoint,
//! one at the token endpoint, RFC 8707 §2). None named: the tenant's `default_api`,
//! if set. Still none: the token is for UserInfo only (`aud` = [`userinfo_audience`]).
//!
//! An access token for an API carries `aud` = the API's identifier (with the UserInfo
//! audience beside it when `openid` was granted, so the same token serves UserInfo),
//! and `scope` = the grant's scopes that API defines plus the OpenID Connect ones.
//! A token is never for two APIs: a token one API accepts is refused by every other
//! (RFC 9700 §2.3).

use std::sync::Arc;

use crate::{
    core::TenantSettings,
    core::claims::Audience,
    core::oauth_error::{ErrorCode, OAuthError, OAuthResult},
    core::scopes::ScopeSet,
    resources::apis::{OIDC_SCOPES, check_identifier},
    resources::catalog::{Api, ApiCatalog},
    resources::roles::UserAccess,
};

/// The `aud` of tokens meant for the UserInfo endpoint: its URL.
pub fn userinfo_audience(issuer: &str) -> String {
    format!("{issuer}/userinfo")
}

fn invalid_target(message: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidTarget, message)
}

/// The APIs `requested` names (in order, without repeats), or the tenant's default
/// API when it names none. An unknown or malformed resource is `invalid_target`.
pub fn requested_apis(
    catalog: &ApiCatalog,
    settings: &TenantSettings,
    requested: &[String],
) -> OAuthResult<Vec<Arc<Api>>> {
    if requested.is_empty() {
        return Ok(catalog
            .get(&settings.default_api)
            .into_iter()
            .cloned()
            .collect());
    }
    let mut apis: Vec<Arc<Api>> = Vec::new();
    for resource in requested {
        if check_identifier(resource).is_err() {
            return Err(invalid_target(
                "resource must be an absolute URI without a fragment (RFC 8707 §2)",
            ));
        }
        let api = catalog
            .get(resource)
            .ok_or_else(|| invalid_target("the resource is not an API of this tenant"))?;
        if !apis.iter().any(|a| a.id == api.id) {
            apis.push(api.clone());
        }
    }
    Ok(apis)
}

/// The scope tokens of `scope` that neither the client may ask for by itself
/// (`allowed`, its registered scopes) nor one of `apis` defines.
pub fn refused_scopes(scope: &ScopeSet, allowed: &ScopeSet, apis: &[Arc<Api>]) -> Vec<String> {
    scope
        .iter()
        .filter(|s| !allowed.contains(s) && !apis.iter().any(|api| api.defines(s)))
        .map(str::to_owned)
        .collect()
}

/// The API a token request is for: the one it names (which must be among the grant's,
/// RFC 8707 §2.2), else the first of the grant's that still exists; none for a grant
/// of no API. An API deleted since the grant gets no more tokens.
pub fn token_api(
    catalog: &ApiCatalog,
    grant_resources: &[String],
    requested: Option<&str>,
) -> OAuthResult<Option<Arc<Api>>> {
    let gone = || invalid_target("the resource is no longer an API of this tenant");
    match requested {
        Some(resource) => {
            if !grant_resources.iter().any(|r| r == resource) {
                return Err(invalid_target(
                    "the resource was not part of the authorization grant",
                ));
            }
            catalog.get(resource).cloned().map(Some).ok_or_else(gone)
        }
        None if grant_resources.is_empty() => Ok(None),
        None => grant_resources
            .iter()
            .find_map(|r| catalog.get(r).cloned())
            .map(Some)
            .ok_or_else(gone),
    }
}

/// The scope and audience of an access token for `api` (or for UserInfo only) from
/// the grant's `granted` scope. With RBAC on, the API's scopes are cut down to those
/// the user's roles grant (`access`; none for a client acting for itself).
pub fn token_scope(
    issuer: &str,
    api: Option<&Api>,
    apis_of_grant: &[Arc<Api>],
    granted: &ScopeSet,
    access: Option<&UserAccess>,
) -> (ScopeSet, Audience) {
    let oidc = |s: &str| OIDC_SCOPES.contains(&s);
    match api {
        Some(api) => {
            let scope = ScopeSet::from_tokens(granted.iter().filter(|s| {
                oidc(s)
                    || (api.defines(s)
                        && (!api.rbac || access.is_some_and(|a| a.allows(api.id, s))))
            }));
            let audience = if granted.contains("openid") {
                Audience::of(vec![api.identifier.clone(), userinfo_audience(issuer)])
            } else {
                Audience::one(api.identifier.clone())
            };
            (scope, audience)
        }
        None => {
            // Scopes of the grant's APIs stay out of a token no API accepts.
            let scope = ScopeSet::from_tokens(
                granted
                    .iter()
                    .filter(|s| !apis_of_grant.iter().any(|api| api.defines(s))),
            );
            (scope, Audience::one(userinfo_audience(issuer)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::apis::{ApiScope, TokenFormat};

    fn api(identifier: &str, scopes: &[&str], rbac: bool) -> Arc<Api> {
        Arc::new(Api {
            id: uuid::Uuid::new_v4(),
            name: "API".into(),
            identifier: identifier.into(),
            scopes: scopes
                .iter()
                .map(|s| ApiScope {
                    value: (*s).into(),
                    description: String::new(),
                })
                .collect(),
            token_format: TokenFormat::Jwt,
            signing_alg: None,
            access_token_ttl_secs: None,
            allow_offline_access: true,
            rbac,
            include_roles: false,
        })
    }

    const ISSUER: &str = "https://id.example/t/acme";

    #[test]
    fn a_token_for_one_api_carries_only_its_scopes_and_its_audience() {
        let a = api("https://a.example/", &["a:read", "a:write"], false);
        let b = api("https://b.example/", &["b:read"], false);
        let granted = ScopeSet::parse("openid a:read b:read offline_access").unwrap();
        let both = [a.clone(), b.clone()];
        let (scope, aud) = token_scope(ISSUER, Some(&a), &both, &granted, None);
        assert_eq!(scope.to_string(), "a:read offline_access openid");
        assert_eq!(
            aud.values(),
            ["https://a.example/", "https://id.example/t/acme/userinfo"]
        );
        let without_openid = ScopeSet::parse("b:read").unwrap();
        let (scope, aud) = token_scope(ISSUER, Some(&b), &both, &without_openid, None);
        assert_eq!(scope.to_string(), "b:read");
        assert_eq!(aud.values(), ["https://b.example/"]);
        let (scope, aud) = token_scope(ISSUER, None, &both, &granted, None);
        assert_eq!(scope.to_string(), "offline_access openid");
        assert_eq!(aud.values(), ["https://id.example/t/acme/userinfo"]);
    }

    #[test]
    fn with_rbac_only_what_the_roles_grant_is_issued() {
        let a = api("https://a.example/", &["a:read", "a:write"], true);
        let granted = ScopeSet::parse("a:read a:write").unwrap();
        let (scope, _) = token_scope(ISSUER, Some(&a), std::slice::from_ref(&a), &granted, None);
        assert!(scope.is_empty());
        let mut access = UserAccess::default();
        access
            .permissions
            .insert(crate::resources::roles::Permission {
                api_id: a.id,
                scope: "a:read".into(),
            });
        let (scope, _) = token_scope(
            ISSUER,
            Some(&a),
            std::slice::from_ref(&a),
            &granted,
            Some(&access),
        );
        assert_eq!(scope.to_string(), "a:read");
    }

    #[test]
    fn a_token_request_may_name_only_a_resource_of_its_grant() {
        let a = api("https://a.example/", &["a:read"], false);
        let b = api("https://b.example/", &["b:read"], false);
        let mut catalog = ApiCatalog::default();
        catalog.insert(a.clone());
        catalog.insert(b.clone());
        let grant = vec![a.identifier.clone()];
        assert_eq!(token_api(&catalog, &grant, None).unwrap().unwrap().id, a.id);
        let err = token_api(&catalog, &grant, Some("https://b.example/")).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidTarget);
        assert!(token_api(&catalog, &[], None).unwrap().is_none());
        // The first API of the grant that still exists.
        let with_deleted = vec!["https://deleted.example/".to_owned(), b.identifier.clone()];
        assert_eq!(
            token_api(&catalog, &with_deleted, None)
                .unwrap()
                .unwrap()
                .id,
            b.id
        );
        let all_gone = vec!["https://deleted.example/".to_owned()];
        assert_eq!(
            token_api(&catalog, &all_gone, None).unwrap_err().code,
            ErrorCode::InvalidTarget
        );
        let err = requested_apis(
            &catalog,
            &TenantSettings::default(),
            &["https://c.example/".into()],
        )
        .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidTarget);
        let err =
            requested_apis(&catalog, &TenantSettings::default(), &["urn:x#f".into()]).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidTarget);
    }
}
