//! Small input rules shared by several resources (names, emails, scopes, slugs).

use crate::FieldError;

/// Collects field errors so a request reports every broken rule at once.
#[derive(Default, Debug)]
pub struct Problems(Vec<FieldError>);

impl Problems {
    /// Records a broken rule.
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// Records `result`'s error, if any.
    pub fn check(&mut self, field: impl Into<String>, result: Result<(), String>) {
        if let Err(message) = result {
            self.add(field, message);
        }
    }

    /// `Ok` when no rule was broken, else [`crate::Error::Invalid`] with all of them.
    pub fn finish(self) -> crate::Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(crate::Error::Invalid(self.0))
        }
    }
}

/// Whether `value` holds a control character (C0 including NUL, DEL, or C1). Protocol
/// parameters never legitimately do, and NUL cannot even be stored in Postgres text.
pub fn has_control_chars(value: &str) -> bool {
    value.chars().any(char::is_control)
}

/// A display name: 1–200 characters, no control characters.
pub fn display_name(value: &str) -> Result<(), String> {
    let len = value.chars().count();
    if value.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if len > 200 {
        return Err("must be at most 200 characters".into());
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// A tenant slug: a lowercase DNS label of 3–63 characters (RFC 1035 §2.3.1).
pub fn slug(value: &str) -> Result<(), String> {
    let bytes = value.as_bytes();
    if !(3..=63).contains(&bytes.len()) {
        return Err("must be 3 to 63 characters long".into());
    }
    if !bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
    {
        return Err("may contain only lowercase letters, digits and '-'".into());
    }
    if bytes.first() == Some(&b'-') || bytes.last() == Some(&b'-') {
        return Err("must start and end with a letter or digit".into());
    }
    Ok(())
}

/// An email address: a pragmatic subset of RFC 5321 (one `@`, non-empty local part
/// of at most 64 octets, a domain with no spaces; 254 octets in all).
pub fn email(value: &str) -> Result<(), String> {
    if value.len() > 254 {
        return Err("must be at most 254 characters".into());
    }
    let Some((local, domain)) = value.rsplit_once('@') else {
        return Err("must be an email address".into());
    };
    let bad_char = |c: char| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',');
    if local.is_empty()
        || local.len() > 64
        || domain.is_empty()
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains('@')
        || value.chars().any(bad_char)
    {
        return Err("must be an email address".into());
    }
    Ok(())
}

/// A scope token (RFC 6749 §3.3: `1*( %x21 / %x23-5B / %x5D-7E )`), at most 128 bytes.
pub fn scope_token(value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > 128 {
        return Err("must be 1 to 128 characters".into());
    }
    if !value
        .bytes()
        .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
    {
        return Err(
            "must be a scope token (RFC 6749 §3.3): printable ASCII without spaces, '\"' or '\\'"
                .into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lowercase_dns_labels() {
        for ok in ["abc", "acme-corp", "a1b", &"a".repeat(63)] {
            assert!(slug(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "Acme",
            "-abc",
            "abc-",
            "a_b",
            "a.b",
            "ünï",
            &"a".repeat(64),
            "",
        ] {
            assert!(slug(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails_need_one_at_and_no_spaces() {
        assert!(email("ann@example.com").is_ok());
        for bad in [
            "ann",
            "@example.com",
            "ann@",
            "a b@example.com",
            "ann@.com",
            "ann@example.com.",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scope_tokens_follow_rfc_6749() {
        assert!(scope_token("api:read").is_ok());
        for bad in ["", "a b", "a\"b", "a\\b", "é"] {
            assert!(scope_token(bad).is_err(), "{bad}");
        }
    }
}
