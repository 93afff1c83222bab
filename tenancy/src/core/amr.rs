//! Authentication methods (`amr`, RFC 8176) and the authentication context class
//! (`acr`, OIDC Core §2) they add up to.

/// RFC 8176 `pwd`: a password.
pub const AMR_PWD: &str = "pwd";

/// RFC 8176 `otp`: a one-time password (TOTP or recovery code).
pub const AMR_OTP: &str = "otp";

/// RFC 8176 `hwk`: a hardware-bound key (a device-bound passkey).
pub const AMR_HWK: &str = "hwk";

/// RFC 8176 `swk`: a software-held key (a synced passkey).
pub const AMR_SWK: &str = "swk";

/// RFC 8176 `mfa`: more than one factor.
pub const AMR_MFA: &str = "mfa";

/// The `acr` of a multi-factor authentication, and the `acr_values` entry demanding it.
pub const ACR_MFA: &str = "urn:tessera:acr:mfa";

/// The `acr` of a single-factor authentication.
pub const ACR_NONE: &str = "0";

/// What discovery advertises as `acr_values_supported`.
pub const ACR_VALUES_SUPPORTED: [&str; 2] = [ACR_NONE, ACR_MFA];

/// The `acr` that a session authenticated with `amr` earns.
pub fn acr_for(amr: &[String]) -> &'static str {
    if amr.iter().any(|m| m == AMR_MFA) {
        ACR_MFA
    } else {
        ACR_NONE
    }
}

/// Whether a session authenticated with `amr` is multi-factor.
pub fn is_mfa(amr: &[String]) -> bool {
    amr.iter().any(|m| m == AMR_MFA)
}

/// `amr` after a further method: the union, plus `mfa` when a password and a second
/// factor have both been used (or `multi_factor` says the new method is one by itself).
pub fn add_methods(amr: &[String], added: &[&str], multi_factor: bool) -> Vec<String> {
    let mut out: Vec<String> = amr.to_vec();
    for m in added {
        if !out.iter().any(|x| x == m) {
            out.push((*m).to_owned());
        }
    }
    let has = |m: &str| out.iter().any(|x| x == m);
    let second = has(AMR_OTP) || has(AMR_HWK) || has(AMR_SWK);
    if (multi_factor || (has(AMR_PWD) && second)) && !has(AMR_MFA) {
        out.push(AMR_MFA.to_owned());
    }
    out
}
