//! The emails Tessera sends to end users (password reset, email verification, a new
//! second factor on their account), built
//! from askama text templates. Links always start from the configured `PUBLIC_URL`,
//! never from request headers, so a forged `Host` cannot point a reset link at an
//! attacker's site.
//!
//! Sending happens in the background: the page answers at once, and its timing does
//! not reveal whether an email went out (enumeration resistance).

use askama::Template;
use secrecy::{ExposeSecret, SecretString};
use webhooks::mail::Email;

use crate::state::AppState;

#[derive(Template)]
#[template(path = "email/password_reset.txt")]
struct PasswordResetText<'a> {
    username: &'a str,
    tenant_name: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "email/verify_email.txt")]
struct VerifyEmailText<'a> {
    username: &'a str,
    tenant_name: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "email/mfa_added.txt")]
struct MfaAddedText<'a> {
    username: &'a str,
    tenant_name: &'a str,
    factor: &'a str,
}

/// Tells `user` in the background that `factor` ("An authenticator app", "A passkey
/// named …") was added to their account, so an owner whose password was stolen learns
/// of an attacker's factor. Nothing is sent to a user without an address.
pub fn send_mfa_added(
    state: &AppState,
    tenant_name: &str,
    user: &tenancy::entity::users::Model,
    factor: &str,
) {
    let Some(to) = user.email.clone() else {
        return;
    };
    let text = MfaAddedText {
        username: &user.username,
        tenant_name,
        factor,
    }
    .render();
    send(
        state,
        to,
        format!("A sign-in method was added to your {tenant_name} account"),
        text,
    );
}

/// `{PUBLIC_URL}/t/{slug}{path}?token=…`.
fn link(state: &AppState, slug: &str, path: &str, token: &SecretString) -> String {
    let mut url = format!("{}/t/{slug}{path}?", state.settings.public_base());
    url.push_str(
        &url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token.expose_secret())
            .finish(),
    );
    url
}

/// Sends the password-reset email for `mail` in the background.
pub fn send_password_reset(
    state: &AppState,
    slug: &str,
    tenant_name: &str,
    mail: tenancy::accounts::email_tokens::LinkMail,
) {
    let link = link(state, slug, "/password/reset", &mail.token);
    let text = PasswordResetText {
        username: &mail.username,
        tenant_name,
        link: &link,
    }
    .render();
    send(
        state,
        mail.to,
        format!("Reset your {tenant_name} password"),
        text,
    );
}

/// Sends the email-verification email for `mail` in the background.
pub fn send_verification(
    state: &AppState,
    slug: &str,
    tenant_name: &str,
    mail: tenancy::accounts::email_tokens::LinkMail,
) {
    let link = link(state, slug, "/email/verify", &mail.token);
    let text = VerifyEmailText {
        username: &mail.username,
        tenant_name,
        link: &link,
    }
    .render();
    send(
        state,
        mail.to,
        format!("Confirm your email address for {tenant_name}"),
        text,
    );
}

fn send(state: &AppState, to: String, subject: String, text: askama::Result<String>) {
    let text = match text {
        Ok(text) => text,
        Err(err) => {
            tracing::error!(error = %err, "email template rendering failed");
            return;
        }
    };
    let mailer = state.mailer.clone();
    tokio::spawn(async move {
        if let Err(err) = mailer.send(&Email { to, subject, text }).await {
            tracing::error!(error = %err, "sending an account email failed");
        }
    });
}
