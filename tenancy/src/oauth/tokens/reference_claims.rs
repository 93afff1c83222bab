//! How the cache keeps a reference access token's claims: JSON with one-letter names,
//! without the issuer (the key is already the tenant's) and with the tenant's UserInfo
//! audience as an empty string: a quarter smaller than the claims themselves (334
//! bytes instead of 447 for the user's token of this module's tests), and a live
//! reference token is most of what the in-process cache holds under load
//! (`docs/performance.md`).
//!
//! Values stored before this form (the claims as JSON, with `iss`) are still read.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::{core::AccessClaims, core::claims::Audience, oauth::audience::userinfo_audience};

/// Stands for the issuer's UserInfo audience in [`Stored::aud`]; never an audience of
/// its own (audiences are absolute URIs).
const USERINFO: &str = "";

#[derive(Serialize, Deserialize)]
struct Stored<'a> {
    #[serde(rename = "s", borrow)]
    sub: Cow<'a, str>,
    #[serde(rename = "a", borrow)]
    aud: Vec<Cow<'a, str>>,
    #[serde(rename = "c", borrow)]
    client_id: Cow<'a, str>,
    #[serde(rename = "p", borrow)]
    scope: Cow<'a, str>,
    #[serde(rename = "e")]
    exp: i64,
    #[serde(rename = "t")]
    iat: i64,
    #[serde(rename = "j", borrow)]
    jti: Cow<'a, str>,
    #[serde(rename = "at", default, skip_serializing_if = "Option::is_none")]
    auth_time: Option<i64>,
    #[serde(rename = "d", borrow, default, skip_serializing_if = "Option::is_none")]
    sid: Option<Cow<'a, str>>,
    #[serde(rename = "g", borrow, default, skip_serializing_if = "Option::is_none")]
    gid: Option<Cow<'a, str>>,
    #[serde(rename = "r", borrow, default, skip_serializing_if = "Option::is_none")]
    roles: Option<Vec<Cow<'a, str>>>,
}

/// The cache value for `claims` (issued by `claims.iss`).
pub fn encode(claims: &AccessClaims) -> crate::Result<Vec<u8>> {
    // The UserInfo audience is `{iss}/userinfo` (`userinfo_audience`), matched without
    // building it for every token.
    let is_userinfo = |a: &str| a.strip_prefix(claims.iss.as_str()) == Some("/userinfo");
    let stored = Stored {
        sub: Cow::Borrowed(&claims.sub),
        aud: claims
            .aud
            .values()
            .iter()
            .map(|a| Cow::Borrowed(if is_userinfo(a) { USERINFO } else { a }))
            .collect(),
        client_id: Cow::Borrowed(&claims.client_id),
        scope: Cow::Borrowed(&claims.scope),
        exp: claims.exp,
        iat: claims.iat,
        jti: Cow::Borrowed(&claims.jti),
        auth_time: claims.auth_time,
        sid: claims.sid.as_deref().map(Cow::Borrowed),
        gid: claims.gid.as_deref().map(Cow::Borrowed),
        roles: claims
            .roles
            .as_ref()
            .map(|roles| roles.iter().map(|r| Cow::Borrowed(r.as_str())).collect()),
    };
    serde_json::to_vec(&stored).map_err(|e| crate::Error::Internal(e.to_string()))
}

/// The claims a cache value of this tenant holds, issued by `issuer`; `None` if it is
/// not one.
pub fn decode(bytes: &[u8], issuer: &str) -> Option<AccessClaims> {
    let Ok(stored) = serde_json::from_slice::<Stored<'_>>(bytes) else {
        // The earlier form: the claims themselves.
        return serde_json::from_slice::<AccessClaims>(bytes)
            .ok()
            .filter(|claims| claims.iss == issuer);
    };
    let userinfo = userinfo_audience(issuer);
    Some(AccessClaims {
        iss: issuer.to_owned(),
        sub: stored.sub.into_owned(),
        aud: Audience::of(
            stored
                .aud
                .into_iter()
                .map(|a| {
                    if a == USERINFO {
                        userinfo.clone()
                    } else {
                        a.into_owned()
                    }
                })
                .collect(),
        ),
        client_id: stored.client_id.into_owned(),
        scope: stored.scope.into_owned(),
        exp: stored.exp,
        iat: stored.iat,
        jti: stored.jti.into_owned(),
        auth_time: stored.auth_time,
        sid: stored.sid.map(Cow::into_owned),
        gid: stored.gid.map(Cow::into_owned),
        roles: stored
            .roles
            .map(|roles| roles.into_iter().map(Cow::into_owned).collect()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUER: &str = "https://id.example.com/t/acme";

    fn user_token() -> AccessClaims {
        AccessClaims {
            iss: ISSUER.into(),
            sub: "0193a1f2-7c4e-7d2b-9a8e-3f1c2b4d5e6f".into(),
            aud: Audience::of(vec![
                "https://invoices.example.com/".into(),
                userinfo_audience(ISSUER),
            ]),
            client_id: "VTiLWb21zs9dPa8-CxV0xI".into(),
            scope: "openid offline_access invoices:read".into(),
            exp: 1_765_150_000,
            iat: 1_765_149_400,
            jti: "q3Yl0cW1rQ2b8X9Zx1y2zA".into(),
            auth_time: Some(1_765_149_000),
            sid: Some("Hk2a9Qm3Xv7Lp0Rt5Wz8Cb1Nd4Fg6Jh".into()),
            gid: Some("0193a1f27c4e7d2b9a8e3f1c2b4d5e70".into()),
            roles: Some(vec!["billing \"admin\"".into()]),
        }
    }

    #[test]
    fn claims_come_back_as_they_went_in_and_take_a_quarter_less_room() {
        let claims = user_token();
        let stored = encode(&claims).unwrap();
        assert_eq!(decode(&stored, ISSUER), Some(claims.clone()));
        let plain = serde_json::to_vec(&claims).unwrap();
        assert!(
            stored.len() * 4 <= plain.len() * 3,
            "{} bytes stored for {} bytes of claims",
            stored.len(),
            plain.len()
        );
    }

    #[test]
    fn a_machine_token_without_a_user_comes_back_too() {
        let mut claims = user_token();
        claims.sub = claims.client_id.clone();
        claims.aud = Audience::one(userinfo_audience(ISSUER));
        claims.scope = String::new();
        claims.auth_time = None;
        claims.sid = None;
        claims.gid = None;
        claims.roles = None;
        assert_eq!(decode(&encode(&claims).unwrap(), ISSUER), Some(claims));
    }

    #[test]
    fn the_earlier_form_is_read_for_its_own_issuer_only() {
        let claims = user_token();
        let earlier = serde_json::to_vec(&claims).unwrap();
        assert_eq!(decode(&earlier, ISSUER), Some(claims));
        assert_eq!(decode(&earlier, "https://other.example.com/t/acme"), None);
        assert_eq!(decode(b"not json", ISSUER), None);
    }
}
