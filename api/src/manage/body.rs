//! Strict JSON request bodies with field-level errors.
//!
//! poem-openapi's `Json<T>` coerces numbers and booleans into string fields and reports
//! parse failures by type name only. Management API callers deserve better: a body is
//! parsed with serde (no coercion, unknown fields refused where the type says so), and
//! every failure names the field, e.g. `settings.access_token_ttl_secs: invalid type:
//! string "ten", expected u32`. The OpenAPI schema still comes from the poem-openapi
//! `Object` derive, so the document and the SDKs are unchanged.

use poem::{FromRequest, Request, RequestBody, error::ResponseError, http::StatusCode};
use poem_openapi::{
    payload::{ParsePayload, Payload},
    registry::{MetaSchemaRef, Registry},
    types::Type,
};
use serde::de::DeserializeOwned;

/// A JSON request body, parsed strictly.
pub struct JsonBody<T>(pub T);

/// Why a body could not be parsed: the field (dotted path, empty for the whole body)
/// and what was wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{}", describe(.field, .message))]
pub struct BodyError {
    /// Dotted path of the offending field; empty when the body as a whole is bad.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn describe(field: &str, message: &str) -> String {
    if field.is_empty() {
        format!("request body: {message}")
    } else {
        format!("{field}: {message}")
    }
}

impl ResponseError for BodyError {
    fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }
}

impl BodyError {
    fn from_serde(err: serde_path_to_error::Error<serde_json::Error>) -> Self {
        let path = err.path().to_string();
        let parent = if path == "." { String::new() } else { path };
        let inner = err.into_inner();
        let text = inner.to_string();
        // serde_json appends the position; the field path is more useful to a caller.
        let message = match text.find(" at line ") {
            Some(at) => text.get(..at).unwrap_or(&text).to_owned(),
            None => text,
        };
        if inner.is_syntax() || inner.is_eof() {
            return Self {
                field: String::new(),
                message: format!("malformed JSON ({message})"),
            };
        }
        // "missing field `x`" is reported at the parent object; name the field itself.
        // (Unknown fields are already reported at their own path.)
        let named = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next());
        let field = match named {
            Some(name) if parent.is_empty() => name.to_owned(),
            Some(name) => format!("{parent}.{name}"),
            None => parent,
        };
        Self { field, message }
    }
}

impl<T: Type> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        essence == "application/json"
            || (essence.starts_with("application/") && essence.ends_with("+json"))
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: DeserializeOwned + Send> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let data = Vec::<u8>::from_request(request, body).await?;
        if data.iter().all(u8::is_ascii_whitespace) {
            return Err(BodyError {
                field: String::new(),
                message: "a JSON body is required".into(),
            }
            .into());
        }
        let mut de = serde_json::Deserializer::from_slice(&data);
        let value = serde_path_to_error::deserialize(&mut de).map_err(BodyError::from_serde)?;
        de.end().map_err(|e| BodyError {
            field: String::new(),
            message: format!("malformed JSON ({e})"),
        })?;
        Ok(Self(value))
    }
}

poem_openapi::impl_apirequest_for_payload!(JsonBody<T>, T: Type + DeserializeOwned + Send);

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "fields exist to be deserialized")]
    struct Inner {
        ttl: u32,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "fields exist to be deserialized")]
    struct Outer {
        slug: String,
        inner: Option<Inner>,
    }

    fn parse(body: &str) -> BodyError {
        let mut de = serde_json::Deserializer::from_str(body);
        match serde_path_to_error::deserialize::<_, Outer>(&mut de) {
            Ok(v) => panic!("parsed {v:?}"),
            Err(e) => BodyError::from_serde(e),
        }
    }

    #[test]
    fn errors_name_the_field_at_any_depth() {
        let e = parse(r#"{"inner": {"ttl": 1}}"#);
        assert_eq!(
            (e.field.as_str(), e.message.as_str()),
            ("slug", "missing field `slug`")
        );
        let e = parse(r#"{"slug": 42}"#);
        assert_eq!(e.field, "slug");
        assert!(
            e.message.starts_with("invalid type: integer `42`"),
            "{}",
            e.message
        );
        let e = parse(r#"{"slug": "a", "inner": {"ttl": "ten"}}"#);
        assert_eq!(e.field, "inner.ttl");
        let e = parse(r#"{"slug": "a", "bogus": 1}"#);
        assert_eq!(e.field, "bogus");
        let e = parse(r#"{"slug": "a", "inner": {"ttl": 1, "x": 2}}"#);
        assert_eq!(e.field, "inner.x");
        let e = parse(r#"{"slug": "#);
        assert_eq!(e.field, "");
        assert!(e.message.starts_with("malformed JSON"), "{}", e.message);
    }

    #[test]
    fn json_content_types_are_recognised() {
        assert!(JsonBody::<String>::check_content_type("application/json"));
        assert!(JsonBody::<String>::check_content_type(
            "application/json; charset=utf-8"
        ));
        assert!(JsonBody::<String>::check_content_type(
            "application/merge-patch+json"
        ));
        assert!(!JsonBody::<String>::check_content_type("text/plain"));
    }
}
