//! `{issuer}/account`: the user's own account page, on the same session as the login.
//! Without a (sufficiently strong) session the browser goes through the login — as an
//! interaction with no client — and comes back here.
//!
//! Forms post to `{issuer}/account/<action>` with the session's CSRF token and answer
//! with a redirect back to the page (post/redirect/get) or the page with an error:
//! set up or remove the authenticator app, rename or remove passkeys (added with the
//! passkey script, see [`super::passkeys`]), regenerate recovery codes, change the
//! password (the current one is required, and failures count toward the lockout), end
//! sessions, and revoke consents (which revokes the app's refresh tokens too).
//!
//! Adding a second factor (authenticator app or passkey) needs a fresh proof
//! (`tenancy::accounts::mfa::may_add_factor`): a sign-in within the last five minutes that used
//! one of the user's existing factors, or, for the first factor, the password. Without
//! one, the browser signs in again (`prompt=login`) and comes back. A factor added
//! here raises an `mfa.added` alert, emails the user, and leaves the session's
//! assurance as it was (a new factor proves nothing about this sign-in).

use std::time::Duration;

use askama::Template;
use poem::{
    Body, IntoResponse, Request, Response, handler,
    http::StatusCode,
    web::{Data, Path},
};
use secrecy::SecretString;
use tenancy::{
    accounts::lockout,
    accounts::mfa::{self, passkeys, recovery, totp},
    accounts::sessions::{self, Session},
    core::MfaPolicy,
    core::TenantCtx,
    entity::users,
    oauth::authorization,
    oauth::interactions::{self, Interaction},
};

use super::{
    PasskeyScript, RecoveryCodesPage, error_page, flow, html, html_scripted, redirect,
    set_session_cookie,
};
use crate::{oauth::form::Params, protocol::Issuer, state::AppState};

/// A signed-in browser on the account page.
pub struct Signed {
    /// The session cookie's value.
    pub cookie: String,
    /// The session.
    pub session: Session,
    /// Its user.
    pub user: users::Model,
}

/// The browser's session if it is signed in strongly enough for the account page (a
/// second factor when the policy requires one).
pub async fn signed_in(
    state: &AppState,
    issuer: &Issuer,
    req: &Request,
) -> tenancy::Result<Option<Signed>> {
    let Some((cookie, session)) = flow::current_session(state, issuer, req).await? else {
        return Ok(None);
    };
    let Some(user_id) = session.user_id else {
        return Ok(None);
    };
    if mfa::mfa_required(issuer.settings().mfa_policy, false)
        && !mfa::meets_mfa_requirement(&session)
    {
        return Ok(None);
    }
    let tenant = TenantCtx::from(issuer.tenant());
    match tenancy::accounts::users::get(state.db(), &tenant, user_id).await {
        Ok(user) if user.enabled => Ok(Some(Signed {
            cookie,
            session,
            user,
        })),
        Ok(_) | Err(tenancy::Error::NotFound(_)) => Ok(None),
        Err(err) => Err(err),
    }
}

struct PasskeyView {
    id: String,
    name: String,
    created: String,
}

struct SessionView {
    sid: String,
    when: String,
    methods: String,
    current: bool,
}

struct ConsentView {
    client_id: String,
    client_name: String,
    scopes: String,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    tenant_name: &'a str,
    username: &'a str,
    notice: Option<&'a str>,
    error: Option<&'a str>,
    base: String,
    csrf: &'a str,
    mfa_offered: bool,
    totp: bool,
    passkeys: Vec<PasskeyView>,
    passkeys_available: bool,
    passkey_options: String,
    passkey_finish: String,
    script: PasskeyScript,
    recovery_left: u64,
    sessions: Vec<SessionView>,
    consents: Vec<ConsentView>,
}

#[derive(Template)]
#[template(path = "totp_setup.html")]
struct TotpSetupPage<'a> {
    tenant_name: &'a str,
    error: Option<&'a str>,
    qr_svg: &'a str,
    secret: &'a str,
    action: String,
    csrf: &'a str,
    back: String,
}

fn notice_text(key: &str) -> Option<&'static str> {
    Some(match key {
        "password_changed" => "Your password was changed. Your other sessions were ended.",
        "totp_added" => "Your authenticator app is set up.",
        "totp_removed" => "Your authenticator app was removed.",
        "passkey_added" => "Your passkey was added.",
        "passkey_renamed" => "Your passkey was renamed.",
        "passkey_removed" => "Your passkey was removed.",
        "session_ended" => "The session was ended.",
        "consent_revoked" => "The app's access was revoked.",
        _ => return None,
    })
}

fn session_ttl(issuer: &Issuer) -> Duration {
    Duration::from_secs(u64::from(issuer.settings().session_ttl_secs))
}

fn format_time(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

async fn render(
    state: &AppState,
    issuer: &Issuer,
    signed: &Signed,
    notice: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let tenant = TenantCtx::from(issuer.tenant());
    let loaded = async {
        let factors = mfa::factors(state.db(), &tenant, signed.user.id).await?;
        let live = sessions::list_for_user(
            state.cache.as_ref(),
            tenant.id,
            signed.user.id,
            session_ttl(issuer),
        )
        .await?;
        let mut consents = Vec::new();
        for c in
            tenancy::oauth::consents::list_for_user(state.db(), &tenant, signed.user.id).await?
        {
            let client_name = match tenancy::clients::get(state.db(), &tenant, &c.client_id).await {
                Ok(client) => client.name,
                Err(tenancy::Error::NotFound(_)) => c.client_id.clone(),
                Err(err) => return Err(err),
            };
            let scopes: Vec<String> = serde_json::from_value(c.scopes.clone()).unwrap_or_default();
            let mut scopes = scopes.join(" ");
            if !c.resource.is_empty() {
                scopes = format!("{scopes} (for {})", c.resource);
            }
            // One line per client: its consents for each API follow one another.
            match consents
                .iter_mut()
                .find(|v: &&mut ConsentView| v.client_id == c.client_id)
            {
                Some(view) => view.scopes = format!("{}; {scopes}", view.scopes),
                None => consents.push(ConsentView {
                    client_id: c.client_id,
                    client_name,
                    scopes,
                }),
            }
        }
        Ok::<_, tenancy::Error>((factors, live, consents))
    };
    let (factors, live, consents) = match loaded.await {
        Ok(found) => found,
        Err(err) => return flow::unavailable(issuer, &err),
    };
    let passkeys_available = super::passkeys::available(issuer, state);
    let script = match PasskeyScript::new() {
        Ok(script) => script,
        Err(err) => return flow::unavailable(issuer, &err),
    };
    let page = AccountPage {
        tenant_name: &issuer.tenant().display_name,
        username: &signed.user.username,
        notice,
        error,
        base: format!("{}/account", issuer.url),
        csrf: &signed.session.csrf,
        mfa_offered: issuer.settings().mfa_policy != MfaPolicy::Off,
        totp: factors.totp,
        passkeys: factors
            .passkeys
            .iter()
            .map(|p| PasskeyView {
                id: p.id.to_string(),
                name: p.name.clone(),
                created: format_time(p.created_at.timestamp()),
            })
            .collect(),
        passkeys_available,
        passkey_options: format!("{}/passkeys/register/options", issuer.url),
        passkey_finish: format!("{}/passkeys/register", issuer.url),
        script,
        recovery_left: factors.recovery_codes_left,
        sessions: live
            .into_iter()
            .map(|s| SessionView {
                current: s.sid == signed.session.sid,
                when: format_time(s.auth_time),
                methods: s.amr.join(", "),
                sid: s.sid,
            })
            .collect(),
        consents,
    };
    if passkeys_available {
        // Every form here is answered on this origin: `form-action 'self'`.
        html_scripted(status, &page, &page.script, None)
    } else {
        html(status, &page)
    }
}

/// Sends the browser through a new sign-in (`prompt=login`: the password, and the
/// second factor if the user has one) and back to `return_to`: the fresh proof that
/// adding a factor needs.
pub async fn sign_in_again(
    state: &AppState,
    issuer: &Issuer,
    signed: &Signed,
    return_to: &str,
) -> Response {
    let tenant = TenantCtx::from(issuer.tenant());
    let mut request = authorization::account_request(return_to);
    request.prompt_login = true;
    let interaction = Interaction {
        request,
        sid: signed.session.sid.clone(),
    };
    match interactions::save_for_session(state.cache.as_ref(), tenant.id, &interaction).await {
        Ok(id) => flow::resume(state, issuer, &id, interaction, Some(&signed.session)).await,
        Err(err) => flow::unavailable(issuer, &err),
    }
}

/// Whether `signed` may add a second factor now (a fresh enough proof).
pub async fn may_add_factor(
    state: &AppState,
    issuer: &Issuer,
    signed: &Signed,
) -> tenancy::Result<bool> {
    let tenant = TenantCtx::from(issuer.tenant());
    let has_factor = mfa::factors(state.db(), &tenant, signed.user.id)
        .await?
        .any();
    Ok(mfa::may_add_factor(
        &signed.session,
        has_factor,
        state.now(),
    ))
}

/// Sends the browser through the login and back here.
async fn sign_in_first(state: &AppState, issuer: &Issuer, req: &Request) -> Response {
    let tenant = TenantCtx::from(issuer.tenant());
    let cache = state.cache.as_ref();
    let ttl = interactions::INTERACTION_TTL;
    let started = async {
        let (new_cookie, session) = match flow::current_session(state, issuer, req).await? {
            Some((_, session)) => (None, session),
            None => {
                let (cookie, session) = sessions::start(cache, tenant.id, ttl).await?;
                (Some(cookie), session)
            }
        };
        let interaction = Interaction {
            request: authorization::account_request(&format!("{}/account", issuer.url)),
            sid: session.sid.clone(),
        };
        let id = interactions::save_for_session(cache, tenant.id, &interaction).await?;
        Ok::<_, tenancy::Error>((new_cookie, session, interaction, id))
    };
    let (new_cookie, session, interaction, id) = match started.await {
        Ok(found) => found,
        Err(err) => return flow::unavailable(issuer, &err),
    };
    let mut resp = flow::resume(state, issuer, &id, interaction, Some(&session)).await;
    if let Some(cookie) = new_cookie {
        set_session_cookie(
            &mut resp,
            &state.settings,
            &issuer.tenant().slug,
            &cookie,
            ttl.as_secs(),
        );
    }
    resp
}

/// `GET {issuer}/account`.
#[handler]
pub async fn show(state: Data<&AppState>, Path(slug): Path<String>, req: &Request) -> Response {
    let issuer = match crate::protocol::resolve(&state, &slug).await {
        Ok(issuer) => issuer,
        Err(unresolved) => return unresolved.into_response(),
    };
    match signed_in(&state, &issuer, req).await {
        Ok(Some(signed)) => {
            let query = Params::parse(req.uri().query().unwrap_or_default().as_bytes()).ok();
            if query.as_ref().and_then(|q| q.get("reauth")).is_some() {
                let back = format!("{}/account", issuer.url);
                return sign_in_again(&state, &issuer, &signed, &back).await;
            }
            let notice = query
                .as_ref()
                .and_then(|q| q.get("notice"))
                .and_then(notice_text);
            render(&state, &issuer, &signed, notice, None, StatusCode::OK).await
        }
        Ok(None) => sign_in_first(&state, &issuer, req).await,
        Err(err) => flow::unavailable(&issuer, &err),
    }
}

async fn totp_setup(
    state: &AppState,
    issuer: &Issuer,
    req: &Request,
    signed: &Signed,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let tenant = TenantCtx::from(issuer.tenant());
    let ip = crate::client_ip::client_ip(req, &state.settings.trusted_proxies);
    let actor = crate::client_ip::actor(req, ip, format!("user:{}", signed.user.id));
    let enrolment = match totp::enrolment_for(
        state.db(),
        state.cache.as_ref(),
        &state.keyring,
        &tenant,
        &actor,
        &signed.user,
        &signed.session.sid,
        &issuer.tenant().display_name,
        state.now(),
    )
    .await
    {
        Ok(e) => e,
        Err(tenancy::Error::Conflict(_)) => {
            return redirect(&format!("{}/account?notice=totp_added", issuer.url));
        }
        Err(err) => return flow::unavailable(issuer, &err),
    };
    html(
        status,
        &TotpSetupPage {
            tenant_name: &issuer.tenant().display_name,
            error,
            qr_svg: &enrolment.qr_svg,
            secret: &enrolment.secret_base32,
            action: format!("{}/account/totp", issuer.url),
            csrf: &signed.session.csrf,
            back: format!("{}/account", issuer.url),
        },
    )
}

/// `GET {issuer}/account/totp`: the authenticator-app setup page.
#[handler]
pub async fn totp_page(
    state: Data<&AppState>,
    Path(slug): Path<String>,
    req: &Request,
) -> Response {
    let issuer = match crate::protocol::resolve(&state, &slug).await {
        Ok(issuer) => issuer,
        Err(unresolved) => return unresolved.into_response(),
    };
    if issuer.settings().mfa_policy == MfaPolicy::Off {
        return redirect(&format!("{}/account", issuer.url));
    }
    match signed_in(&state, &issuer, req).await {
        Ok(Some(signed)) => match may_add_factor(&state, &issuer, &signed).await {
            Ok(true) => totp_setup(&state, &issuer, req, &signed, None, StatusCode::OK).await,
            Ok(false) => {
                let back = format!("{}/account/totp", issuer.url);
                sign_in_again(&state, &issuer, &signed, &back).await
            }
            Err(err) => flow::unavailable(&issuer, &err),
        },
        Ok(None) => sign_in_first(&state, &issuer, req).await,
        Err(err) => flow::unavailable(&issuer, &err),
    }
}

/// `POST {issuer}/account/<action>`: one change to the account.
#[handler]
pub async fn act(
    state: Data<&AppState>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let issuer = match crate::protocol::resolve(&state, &slug).await {
        Ok(issuer) => issuer,
        Err(unresolved) => return unresolved.into_response(),
    };
    let name = &issuer.tenant().display_name;
    let form = match body.into_bytes_limit(state.settings.max_body_bytes).await {
        Ok(bytes) => match Params::parse(&bytes) {
            Ok(form) => form,
            Err(_) => return error_page(name, StatusCode::BAD_REQUEST, "The form is malformed."),
        },
        Err(_) => return error_page(name, StatusCode::BAD_REQUEST, "The form is too large."),
    };
    let signed = match signed_in(&state, &issuer, req).await {
        Ok(Some(signed)) => signed,
        Ok(None) => return redirect(&format!("{}/account", issuer.url)),
        Err(err) => return flow::unavailable(&issuer, &err),
    };
    if !sessions::csrf_matches(&signed.session, form.get("csrf_token").unwrap_or_default()) {
        return error_page(
            name,
            StatusCode::FORBIDDEN,
            "The form has expired. Please go back and try again.",
        );
    }
    let prefix = format!("/t/{slug}/account/");
    let action = req
        .uri()
        .path()
        .strip_prefix(&prefix)
        .unwrap_or_default()
        .to_owned();
    let outcome = Action {
        state: &state,
        issuer: &issuer,
        req,
        signed: &signed,
        form: &form,
    }
    .run(&action)
    .await;
    match outcome {
        Ok(resp) => resp,
        Err(Failure::Page(resp)) => *resp,
        Err(Failure::Refused(status, message)) => {
            render(&state, &issuer, &signed, None, Some(message), status).await
        }
        Err(Failure::Broken(err)) => flow::unavailable(&issuer, &err),
    }
}

enum Failure {
    Page(Box<Response>),
    Refused(StatusCode, &'static str),
    Broken(tenancy::Error),
}

impl From<tenancy::Error> for Failure {
    fn from(err: tenancy::Error) -> Self {
        match err {
            tenancy::Error::Conflict(_) => Self::Refused(
                StatusCode::CONFLICT,
                "This is your last second factor, and this organisation requires one.",
            ),
            tenancy::Error::NotFound(_) => Self::Refused(StatusCode::NOT_FOUND, "Not found."),
            tenancy::Error::Invalid(_) => {
                Self::Refused(StatusCode::BAD_REQUEST, "That value is not acceptable.")
            }
            other => Self::Broken(other),
        }
    }
}

struct Action<'a> {
    state: &'a AppState,
    issuer: &'a Issuer,
    req: &'a Request,
    signed: &'a Signed,
    form: &'a Params,
}

impl Action<'_> {
    fn back(&self, notice: &str) -> Response {
        redirect(&format!("{}/account?notice={notice}", self.issuer.url))
    }

    fn actor(&self) -> tenancy::journal::audit::Actor {
        let ip = crate::client_ip::client_ip(self.req, &self.state.settings.trusted_proxies);
        crate::client_ip::actor(self.req, ip, format!("user:{}", self.signed.user.id))
    }

    async fn run(&self, action: &str) -> Result<Response, Failure> {
        let tenant = TenantCtx::from(self.issuer.tenant());
        let user_id = self.signed.user.id;
        let now = self.state.now();
        let db = self.state.db();
        let policy = self.issuer.settings().mfa_policy;
        let mfa_action = matches!(
            action,
            "totp" | "totp/remove" | "passkeys/rename" | "passkeys/remove" | "recovery-codes"
        );
        if mfa_action && policy == MfaPolicy::Off {
            return Err(Failure::Refused(
                StatusCode::BAD_REQUEST,
                "Second factors are not offered here.",
            ));
        }
        let passkey_id = || {
            self.form
                .get("id")
                .and_then(|id| id.parse::<uuid::Uuid>().ok())
                .ok_or(Failure::Refused(StatusCode::BAD_REQUEST, "Not found."))
        };
        match action {
            "totp" => self.confirm_totp().await,
            "totp/remove" => {
                totp::remove(db, &tenant, &self.actor(), policy, user_id, now).await?;
                Ok(self.back("totp_removed"))
            }
            "passkeys/rename" => {
                let name = self.form.get("name").unwrap_or_default();
                passkeys::rename(
                    db,
                    &tenant,
                    &self.actor(),
                    user_id,
                    passkey_id()?,
                    name,
                    now,
                )
                .await?;
                Ok(self.back("passkey_renamed"))
            }
            "passkeys/remove" => {
                passkeys::remove(
                    db,
                    &tenant,
                    &self.actor(),
                    policy,
                    user_id,
                    passkey_id()?,
                    now,
                )
                .await?;
                Ok(self.back("passkey_removed"))
            }
            "recovery-codes" => {
                let codes = recovery::regenerate(db, &tenant, &self.actor(), user_id, now).await?;
                Ok(self.codes_page(codes))
            }
            "password" => self.change_password().await,
            "sessions/end" => {
                let sid = self.form.get("sid").unwrap_or_default();
                let ended = sessions::end_by_sid(
                    self.state.cache.as_ref(),
                    tenant.id,
                    user_id,
                    sid,
                    session_ttl(self.issuer),
                )
                .await?;
                if !ended {
                    return Err(Failure::Refused(StatusCode::NOT_FOUND, "Not found."));
                }
                tenancy::journal::audit::record(
                    db,
                    &self.actor(),
                    tenancy::journal::audit::Event::success(
                        Some(tenant.id),
                        "session.ended",
                        format!("user:{user_id}"),
                    ),
                    now,
                )
                .await?;
                if sid == self.signed.session.sid {
                    let mut resp = redirect(&format!("{}/account", self.issuer.url));
                    set_session_cookie(
                        &mut resp,
                        &self.state.settings,
                        &self.issuer.tenant().slug,
                        "",
                        0,
                    );
                    return Ok(resp);
                }
                Ok(self.back("session_ended"))
            }
            "consents/revoke" => {
                let client_id = self.form.get("client_id").unwrap_or_default();
                if !tenancy::oauth::consents::revoke(
                    db,
                    &tenant,
                    &self.actor(),
                    user_id,
                    client_id,
                    now,
                )
                .await?
                {
                    return Err(Failure::Refused(StatusCode::NOT_FOUND, "Not found."));
                }
                Ok(self.back("consent_revoked"))
            }
            _ => Err(Failure::Refused(StatusCode::NOT_FOUND, "Not found.")),
        }
    }

    fn codes_page(&self, codes: Vec<String>) -> Response {
        html(
            StatusCode::OK,
            &RecoveryCodesPage {
                tenant_name: &self.issuer.tenant().display_name,
                codes,
                action: format!("{}/account", self.issuer.url),
                interaction: None,
                csrf: &self.signed.session.csrf,
            },
        )
    }

    async fn confirm_totp(&self) -> Result<Response, Failure> {
        let tenant = TenantCtx::from(self.issuer.tenant());
        let user = &self.signed.user;
        let cache = self.state.cache.as_ref();
        if lockout::is_locked(
            cache,
            tenant.id,
            &lockout::Subjects::user(user),
            self.state.now(),
        )
        .await?
        {
            return Err(Failure::Page(Box::new(
                totp_setup(
                    self.state,
                    self.issuer,
                    self.req,
                    self.signed,
                    Some("Too many failed attempts. Please wait a few minutes and try again."),
                    StatusCode::TOO_MANY_REQUESTS,
                )
                .await,
            )));
        }
        let actor = self.actor();
        let code = self.form.get("code").unwrap_or_default();
        let now = self.state.now();
        if !totp::confirm(
            self.state.db(),
            cache,
            &self.state.keyring,
            &tenant,
            &actor,
            user.id,
            &self.signed.session.sid,
            code,
            now,
        )
        .await?
        {
            super::mfa::failed_attempt(self.state, self.issuer, &actor, user, "totp").await?;
            return Err(Failure::Page(Box::new(
                totp_setup(
                    self.state,
                    self.issuer,
                    self.req,
                    self.signed,
                    Some("That code is not valid. Please try again."),
                    StatusCode::UNAUTHORIZED,
                )
                .await,
            )));
        }
        // The new factor proves nothing about this sign-in: the session keeps its level
        // and is marked so that a step-up with the new factor cannot raise it either.
        sessions::mark_enrolled(
            cache,
            tenant.id,
            &self.signed.cookie,
            session_ttl(self.issuer),
        )
        .await?;
        crate::emails::send_mfa_added(
            self.state,
            &self.issuer.tenant().display_name,
            user,
            "An authenticator app",
        );
        if recovery::remaining(self.state.db(), &tenant, user.id).await? == 0 {
            let codes =
                recovery::regenerate(self.state.db(), &tenant, &actor, user.id, now).await?;
            Ok(self.codes_page(codes))
        } else {
            Ok(self.back("totp_added"))
        }
    }

    async fn change_password(&self) -> Result<Response, Failure> {
        let tenant = TenantCtx::from(self.issuer.tenant());
        let user = &self.signed.user;
        let cache = self.state.cache.as_ref();
        let current = self.form.get("current_password").unwrap_or_default();
        let new = self.form.get("new_password").unwrap_or_default();
        if lockout::is_locked(
            cache,
            tenant.id,
            &lockout::Subjects::user(user),
            self.state.now(),
        )
        .await?
        {
            return Err(Failure::Refused(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many failed attempts. Please wait a few minutes and try again.",
            ));
        }
        let actor = self.actor();
        let verified = tenancy::accounts::login::verify(
            self.state.db(),
            &self.state.workers,
            &tenant,
            &user.username,
            current,
        )
        .await?
        .is_some_and(|u| u.id == user.id);
        if !verified {
            super::mfa::failed_attempt(self.state, self.issuer, &actor, user, "pwd").await?;
            return Err(Failure::Refused(
                StatusCode::UNAUTHORIZED,
                "Your current password is not right.",
            ));
        }
        if tenancy::accounts::users::validate_password(new).is_err() {
            return Err(Failure::Refused(
                StatusCode::BAD_REQUEST,
                "The new password must be 8 to 128 characters.",
            ));
        }
        let now = self.state.now();
        tenancy::accounts::users::change_password(
            self.state.db(),
            &self.state.workers,
            &tenant,
            &actor,
            user.id,
            SecretString::from(new.to_owned()),
            now,
        )
        .await?;
        // Whoever else holds a session of this account must sign in with the new one.
        sessions::end_all_for_user(
            cache,
            tenant.id,
            user.id,
            Some(&self.signed.session.sid),
            session_ttl(self.issuer),
        )
        .await?;
        Ok(self.back("password_changed"))
    }
}
