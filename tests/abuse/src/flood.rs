//! The floods, and the legitimate user who signs in on the other tenant meanwhile.
//!
//! A flood is C workers, each with its own keep-alive connection from the attacker's
//! address, sending its kind of request back to back until the flood's request
//! budget or time is used up; then it stops by itself. Every answer is counted by
//! status.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Client, Method};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::browser::{self, Page, client, fetch, sign_in, transport_kind};
use crate::cli::Check;
use crate::forms::{Credentials, plan_submission};
use crate::pkce::Rng;
use crate::provision::Tenant;
use crate::verdict::{Legit, Tally};

/// What the floods aim at and who signs in meanwhile.
#[derive(Clone)]
pub struct Ctx {
    /// Server base URL.
    pub base: String,
    /// The tenant the floods hit.
    pub attacker: Tenant,
    /// A real user of the attacker-side tenant (some bad-password logins name it).
    pub attacker_user: String,
    /// The other tenant, where the legitimate user signs in.
    pub victim: Tenant,
    /// Password of every provisioned user.
    pub password: String,
    /// The address this flood comes from.
    pub attacker_ip: IpAddr,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// How long and how hard one flood runs.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Longest run.
    pub duration: Duration,
    /// Most requests.
    pub requests: u64,
    /// Workers (requests in flight at once).
    pub concurrency: usize,
}

/// The legitimate user of one flood.
#[derive(Clone, Debug)]
pub struct LegitUser {
    /// Login name on the victim tenant.
    pub username: String,
    /// The address the user signs in from.
    pub ip: IpAddr,
    /// Least time between the starts of two sign-ins.
    pub interval: Duration,
}

/// The answers to one flood, and the legitimate user's sign-ins during it.
#[derive(Debug, Default)]
pub struct Run {
    /// Answers to the flood's own requests.
    pub flood: Tally,
    /// Answers to the requests workers needed first (login pages).
    pub setup: Tally,
    /// The legitimate user's sign-ins.
    pub legit: Legit,
    /// How long the flood ran.
    pub elapsed: Duration,
}

/// Runs flood `kind` within `limits` while `user` signs in on the victim tenant.
pub async fn run(kind: Check, ctx: Arc<Ctx>, limits: Limits, user: LegitUser) -> Run {
    let started = Instant::now();
    let deadline = started + limits.duration;
    let budget = Arc::new(AtomicU64::new(0));
    let (stop, stopped) = watch::channel(false);
    let legit = tokio::spawn(legit_loop(ctx.clone(), user, stopped));
    let mut workers = JoinSet::new();
    for id in 0..limits.concurrency {
        let (ctx, budget) = (ctx.clone(), budget.clone());
        workers.spawn(worker(
            kind,
            ctx,
            id as u64,
            budget,
            limits.requests,
            deadline,
        ));
    }
    let mut out = Run::default();
    while let Some(done) = workers.join_next().await {
        match done {
            Ok((flood, setup)) => {
                out.flood.merge(&flood);
                out.setup.merge(&setup);
            }
            Err(e) => out.setup.unanswered(&format!("worker crashed: {e}")),
        }
    }
    out.elapsed = started.elapsed();
    let _ = stop.send(true);
    match legit.await {
        Ok(l) => out.legit = l,
        Err(e) => {
            out.legit.failed.insert("legit loop crashed".into(), 1);
            out.legit.first_failure = Some(e.to_string());
        }
    }
    out
}

/// Signs `user` in on the victim tenant again and again, a new browser each time, at
/// most once per `interval`, until told to stop. The first sign-in starts after a
/// short delay, so that every counted one meets the flood at full strength.
pub async fn legit_loop(ctx: Arc<Ctx>, user: LegitUser, mut stop: watch::Receiver<bool>) -> Legit {
    let mut rng = Rng::for_worker(u64::from(ip_tail(user.ip)) << 20);
    let mut out = Legit::default();
    let ramp = user.interval.min(Duration::from_millis(500));
    tokio::select! {
        () = tokio::time::sleep(ramp) => {}
        _ = stop.changed() => return out,
    }
    loop {
        if *stop.borrow() {
            break;
        }
        let began = Instant::now();
        let signed = sign_in(
            &ctx.victim,
            &user.username,
            &ctx.password,
            user.ip,
            ctx.timeout,
            &mut rng,
        )
        .await;
        match signed {
            Ok(_) => {
                out.ok += 1;
                out.latencies.push(began.elapsed());
            }
            Err(f) => {
                *out.failed.entry(f.kind.clone()).or_default() += 1;
                out.first_failure.get_or_insert_with(|| f.to_string());
            }
        }
        tokio::select! {
            () = tokio::time::sleep_until((began + user.interval).into()) => {}
            _ = stop.changed() => break,
        }
    }
    out
}

/// The last octet of an IPv4 address (a seed; 0 for IPv6).
fn ip_tail(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(v4) => {
            let [.., last] = v4.octets();
            last
        }
        IpAddr::V6(_) => 0,
    }
}

/// One flood worker: its own connection from the attacker's address; returns the
/// answers to flood requests and to setup requests.
async fn worker(
    kind: Check,
    ctx: Arc<Ctx>,
    id: u64,
    budget: Arc<AtomicU64>,
    limit: u64,
    deadline: Instant,
) -> (Tally, Tally) {
    let (mut flood, mut setup) = (Tally::default(), Tally::default());
    // The bad-password worker is one browser retrying, so it keeps its cookies; the
    // other floods are anonymous: no cookie is ever sent.
    let http = match client(ctx.attacker_ip, kind == Check::Logins, ctx.timeout) {
        Ok(http) => http,
        Err(e) => {
            setup.unanswered(&format!("client: {e}"));
            return (flood, setup);
        }
    };
    let mut rng = Rng::for_worker(id.wrapping_add((kind as u64) << 32));
    let mut login_page: Option<Page> = None;
    while Instant::now() < deadline && budget.fetch_add(1, Ordering::Relaxed) < limit {
        if kind == Check::Logins {
            login_page = match login_page.take() {
                None => open_login_page(&http, &ctx, &mut rng, &mut setup).await,
                Some(page) => bad_login(&http, &ctx, page, &mut rng, &mut flood).await,
            };
            continue;
        }
        let Some(rb) = request(kind, &http, &ctx, &mut rng) else {
            break;
        };
        match rb.send().await {
            Ok(resp) => {
                flood.status(resp.status().as_u16());
                // Read the whole body so the connection is reused.
                if let Err(e) = resp.bytes().await {
                    flood.unanswered(&format!("body {}", transport_kind(&e)));
                }
            }
            Err(e) => flood.unanswered(transport_kind(&e)),
        }
    }
    (flood, setup)
}

/// One request of flood `kind` (not `logins`, which is a conversation).
fn request(
    kind: Check,
    http: &Client,
    ctx: &Ctx,
    rng: &mut Rng,
) -> Option<reqwest::RequestBuilder> {
    let a = &ctx.attacker;
    Some(match kind {
        Check::Reset => {
            let password = "Abuse-new-password-1";
            http.post(format!("{}/t/{}/password/reset", ctx.base, a.slug))
                .form(&[
                    ("token", rng.token(32).as_str()),
                    ("password", password),
                    ("password_confirm", password),
                ])
        }
        Check::Introspect => http
            .post(format!("{}/introspect", a.issuer))
            .basic_auth(&a.client_id, Some(rng.token(24)))
            .form(&[("token", rng.token(32))]),
        Check::Token => http
            .post(format!("{}/token", a.issuer))
            .basic_auth(rng.token(16), Some(rng.token(24)))
            .form(&[("grant_type", "client_credentials")]),
        Check::Authorize => {
            let (url, _) = browser::authorize_url(a, &rng.token(32), rng).ok()?;
            http.get(url)
        }
        Check::Paths => {
            let (method, path) = random_path(&a.slug, rng);
            http.request(method, format!("{}{path}", ctx.base))
        }
        Check::Logins | Check::SignIns => return None,
    })
}

/// A path no route serves, and now and then a method no route knows: the kinds of
/// URL a scanner sends.
fn random_path(slug: &str, rng: &mut Rng) -> (Method, String) {
    let r = rng.token(6);
    let path = match rng.next_u64() % 7 {
        0 => format!("/{r}"),
        1 => format!("/{r}/{}", rng.token(4)),
        2 => format!("/t/{slug}/{r}"),
        3 => format!("/t/{r}/authorize"),
        4 => format!("/api/v1/{r}"),
        5 => format!("/assets/{r}.js"),
        _ => format!("/t/{slug}/.well-known/{r}"),
    };
    let method = if rng.next_u64().is_multiple_of(8) {
        let name: String = rng
            .token(6)
            .chars()
            .filter(char::is_ascii_alphabetic)
            .map(|c| c.to_ascii_uppercase())
            .collect();
        Method::from_bytes(format!("X{name}").as_bytes()).unwrap_or(Method::GET)
    } else {
        Method::GET
    };
    (method, path)
}

/// authorize (no session yet) -> redirects -> the login page of a new interaction.
async fn open_login_page(
    http: &Client,
    ctx: &Ctx,
    rng: &mut Rng,
    setup: &mut Tally,
) -> Option<Page> {
    let (mut url, _) = browser::authorize_url(&ctx.attacker, &rng.token(32), rng).ok()?;
    for _ in 0..4 {
        let page = match fetch(http, &url, None).await {
            Ok(page) => page,
            Err(e) => {
                setup.unanswered(transport_kind(&e));
                return None;
            }
        };
        setup.status(page.status.as_u16());
        if page.status.is_redirection() {
            url = page.location?;
            continue;
        }
        return (page.status.is_success() && page.html).then_some(page);
    }
    None
}

/// Submits the login form of `page` with a wrong password for a name that mostly
/// does not exist (every fourth: the tenant's real user); the page that comes back
/// is the next form when it has one.
async fn bad_login(
    http: &Client,
    ctx: &Ctx,
    page: Page,
    rng: &mut Rng,
    flood: &mut Tally,
) -> Option<Page> {
    let username = if rng.next_u64().is_multiple_of(4) {
        ctx.attacker_user.clone()
    } else {
        format!("user-{}", rng.token(6))
    };
    let password = format!("wrong-{}", rng.token(9));
    let creds = Credentials {
        username: &username,
        password: &password,
        user_field: "username",
        pass_field: "password",
    };
    let sub = plan_submission(&page.url, &page.body, &creds).ok()?;
    if !sub.is_login {
        return None;
    }
    match fetch(http, &sub.url, sub.body.as_deref()).await {
        Ok(next) => {
            flood.status(next.status.as_u16());
            let again = next.html
                && plan_submission(&next.url, &next.body, &creds).is_ok_and(|s| s.is_login);
            again.then_some(next)
        }
        Err(e) => {
            flood.unanswered(transport_kind(&e));
            None
        }
    }
}

/// `n` sign-ins of `username` from `ip`, `concurrency` at a time, each in a new
/// browser, started within `window`; returns them and how long they took.
pub async fn sign_ins(
    ctx: Arc<Ctx>,
    username: String,
    ip: IpAddr,
    n: u64,
    concurrency: usize,
    window: Duration,
) -> (Legit, Duration) {
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut set = JoinSet::new();
    for id in 0..concurrency.max(1) {
        let (ctx, next, username) = (ctx.clone(), next.clone(), username.clone());
        set.spawn(async move {
            let mut rng = Rng::for_worker(0x5157 + id as u64);
            let mut out = Legit::default();
            while started.elapsed() < window && next.fetch_add(1, Ordering::Relaxed) < n {
                let began = Instant::now();
                match sign_in(
                    &ctx.victim,
                    &username,
                    &ctx.password,
                    ip,
                    ctx.timeout,
                    &mut rng,
                )
                .await
                {
                    Ok(_) => {
                        out.ok += 1;
                        out.latencies.push(began.elapsed());
                    }
                    Err(f) => {
                        *out.failed.entry(f.kind.clone()).or_default() += 1;
                        out.first_failure.get_or_insert_with(|| f.to_string());
                    }
                }
            }
            out
        });
    }
    let mut all = Legit::default();
    while let Some(done) = set.join_next().await {
        match done {
            Ok(l) => all.merge(l),
            Err(e) => {
                *all.failed.entry("worker crashed".into()).or_default() += 1;
                all.first_failure.get_or_insert_with(|| e.to_string());
            }
        }
    }
    (all, started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_paths_are_unknown_and_vary() {
        let mut rng = Rng::for_worker(7);
        let mut seen = std::collections::HashSet::new();
        let mut odd_methods = 0;
        for _ in 0..400 {
            let (m, p) = random_path("acme", &mut rng);
            assert!(p.starts_with('/'));
            assert!(!p.ends_with("/authorize") || !p.starts_with("/t/acme/"));
            if m != Method::GET {
                odd_methods += 1;
                assert!(m.as_str().starts_with('X'));
            }
            seen.insert(p);
        }
        assert!(seen.len() > 390, "paths repeat: {}", seen.len());
        assert!((20..=90).contains(&odd_methods), "{odd_methods}");
    }
}
