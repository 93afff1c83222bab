//! The claims of an access token, shared by the token issuer and the memo of
//! verified tokens in the key store.

use serde::{Deserialize, Serialize};

/// The `aud` of an access token (RFC 7519 §4.1.3): one value is sent as a string,
/// several as an array; both are read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Audience(Vec<String>);

impl Audience {
    /// An audience of one.
    pub fn one(value: impl Into<String>) -> Self {
        Self(vec![value.into()])
    }

    /// An audience of several (the first is the primary one).
    pub fn of(values: Vec<String>) -> Self {
        Self(values)
    }

    /// Whether `value` is among the audiences.
    pub fn contains(&self, value: &str) -> bool {
        self.0.iter().any(|a| a == value)
    }

    /// The values, primary first.
    pub fn values(&self) -> &[String] {
        &self.0
    }

    /// As JSON: a string for one value, an array for several.
    pub fn to_json(&self) -> serde_json::Value {
        match self.0.as_slice() {
            [one] => serde_json::Value::String(one.clone()),
            many => serde_json::json!(many),
        }
    }
}

impl Serialize for Audience {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => serializer.serialize_str(one),
            many => many.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        Ok(match OneOrMany::deserialize(deserializer)? {
            OneOrMany::One(one) => Self(vec![one]),
            OneOrMany::Many(many) => Self(many),
        })
    }
}

/// The claims of an access token (RFC 9068 §2.2).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    /// Issuer: the tenant's issuer identifier.
    pub iss: String,
    /// Subject: the user id, or the client id for `client_credentials`.
    pub sub: String,
    /// Audience: the API's identifier (RFC 8707), with the UserInfo audience when
    /// `openid` was granted too; or the UserInfo audience alone for a token of no API.
    pub aud: Audience,
    /// The client the token was issued to.
    pub client_id: String,
    /// Granted scopes, space-delimited.
    pub scope: String,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issue time.
    pub iat: i64,
    /// Unique id, used for revocation.
    pub jti: String,
    /// When the user authenticated (absent for `client_credentials`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// The login session the token came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The grant (refresh-token family) the token was issued under, so revoking the
    /// grant revokes it too (RFC 7009 §2.1). Absent without a refresh token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    /// The user's role names, for an API that asks for them (RFC 9068 §2.2.3.1, the
    /// registered `roles` claim of RFC 7643 §4.1.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_audience_is_a_string_several_are_an_array_and_both_are_read() {
        let one = Audience::one("https://api.example/");
        assert_eq!(
            serde_json::to_string(&one).unwrap(),
            r#""https://api.example/""#
        );
        let two = Audience::of(vec![
            "https://api.example/".into(),
            "https://id/userinfo".into(),
        ]);
        let json = serde_json::to_string(&two).unwrap();
        assert_eq!(json, r#"["https://api.example/","https://id/userinfo"]"#);
        assert_eq!(serde_json::from_str::<Audience>(&json).unwrap(), two);
        assert_eq!(
            serde_json::from_str::<Audience>(r#""https://api.example/""#).unwrap(),
            one
        );
        assert!(two.contains("https://id/userinfo") && !one.contains("https://id/userinfo"));
    }
}
