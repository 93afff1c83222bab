//! Scope sets (RFC 6749 §3.3): space-delimited, case-sensitive, order-free.

use std::collections::BTreeSet;

use crate::{
    core::oauth_error::{ErrorCode, OAuthError, OAuthResult},
    core::validate,
};

/// Longest `scope` parameter accepted.
pub const MAX_SCOPE_LEN: usize = 2048;

/// A set of scope tokens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<String>);

impl ScopeSet {
    /// Parses a `scope` parameter; every token must follow RFC 6749 §3.3.
    pub fn parse(value: &str) -> OAuthResult<Self> {
        if value.len() > MAX_SCOPE_LEN {
            return Err(OAuthError::new(
                ErrorCode::InvalidScope,
                "scope is too long",
            ));
        }
        let mut set = BTreeSet::new();
        for token in value.split(' ').filter(|t| !t.is_empty()) {
            validate::scope_token(token).map_err(|m| {
                OAuthError::new(ErrorCode::InvalidScope, format!("scope '{token}' {m}"))
            })?;
            set.insert(token.to_owned());
        }
        Ok(Self(set))
    }

    /// The set of the given tokens (already validated at registration).
    pub fn from_tokens<S: AsRef<str>>(tokens: impl IntoIterator<Item = S>) -> Self {
        Self(tokens.into_iter().map(|t| t.as_ref().to_owned()).collect())
    }

    /// Whether `token` is in the set.
    pub fn contains(&self, token: &str) -> bool {
        self.0.contains(token)
    }

    /// Whether every token of `self` is in `other`.
    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Tokens of `self` missing from `other`.
    pub fn missing_from(&self, other: &ScopeSet) -> Vec<String> {
        self.0.difference(&other.0).cloned().collect()
    }

    /// The tokens, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl std::fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let joined: Vec<&str> = self.iter().collect();
        f.write_str(&joined.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_space_delimited_tokens_as_a_set() {
        let s = ScopeSet::parse("openid  email openid api:read").unwrap();
        assert_eq!(s.to_string(), "api:read email openid");
        assert!(s.contains("email"));
        assert!(ScopeSet::parse("").unwrap().is_empty());
    }

    #[test]
    fn refuses_invalid_tokens_and_oversized_values() {
        assert_eq!(
            ScopeSet::parse("a\"b").unwrap_err().code,
            ErrorCode::InvalidScope
        );
        assert!(ScopeSet::parse(&"a ".repeat(2000)).is_err());
    }

    #[test]
    fn subset_and_difference() {
        let granted = ScopeSet::parse("openid email").unwrap();
        let asked = ScopeSet::parse("openid profile").unwrap();
        assert!(!asked.is_subset(&granted));
        assert_eq!(asked.missing_from(&granted), vec!["profile"]);
    }
}
