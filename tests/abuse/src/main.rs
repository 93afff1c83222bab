//! `tessera-abuse`: the proof suite of "no anonymous client can slow another tenant".
//!
//! It starts `tessera serve` (SQLite, a temporary data directory, the server's
//! default limits) on a free loopback port, or uses a running server given by
//! `--base-url` and `--pid`; provisions a victim tenant and an attacker-side tenant;
//! then floods the attacker-side tenant one way at a time (reset tokens, wrong
//! client secrets, random client ids, anonymous authorization requests, unknown
//! paths, bad-password logins), each flood bounded in requests and time, while a
//! user of the victim tenant signs in through the login form again and again. A
//! flood passes when its answers are only 4xx or 503 (2xx/3xx too for authorize),
//! every legitimate sign-in succeeded (and enough of them), and the server's resident
//! memory grew by less than the bound. Last, one user signs in 200 times within a
//! minute from one address and must never be refused. One line per check, then
//! `abuse: N passed, M failed`; the exit status is 1 when anything failed.
//!
//! Every request goes to 127.0.0.0/8. Clients speak from their own loopback
//! addresses (the *n*th flood 127.0.0.(2 + n), its legitimate user 127.0.0.(10 + n), the
//! repeated sign-ins 127.0.0.30), so the server tells them apart as it would tell
//! apart people on the Internet. See README.md beside this file.

#[path = "../../load/src/forms.rs"]
mod forms;
#[path = "../../load/src/pkce.rs"]
mod pkce;
#[path = "../../load/src/procfs.rs"]
mod procfs;

mod browser;
mod cli;
mod flood;
mod provision;
mod server;
mod verdict;

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use futures_util::{StreamExt, TryStreamExt, stream};
use reqwest::Client;
use tokio::task::JoinSet;

use cli::{Args, Check};
use flood::{Ctx, LegitUser, Limits};
use pkce::Rng;
use provision::Api;
use server::Server;
use verdict::{Allowed, Bounds, FloodOutcome, Legit};

/// The address the first flood comes from; the *n*th comes from the *n*th after it, so
/// a budget one flood spent (authorize's, say) never hides what the next one meets.
const ATTACKER_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// The legitimate user of the baseline (no flood).
const BASELINE_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 9);
/// The repeated sign-ins come from here.
const SIGN_INS_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 30);
/// The window of the repeated sign-ins.
const SIGN_IN_WINDOW: Duration = Duration::from_secs(60);
/// Pause between two checks, so one flood's leftovers do not meet the next.
const SETTLE: Duration = Duration::from_secs(1);

/// The legitimate user of the `n`th check: a user and an address of its own, so no
/// limit a previous check used up applies to it.
fn legit_ip(n: usize) -> IpAddr {
    loopback_after(10, n)
}

/// The address of the `n`th flood (at most 7 floods: 127.0.0.2 to 127.0.0.8).
fn attacker_ip(n: usize) -> IpAddr {
    loopback_after(ATTACKER_IP.octets()[3], n.min(6))
}

/// 127.0.0.(`first` + `n`).
fn loopback_after(first: u8, n: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        127,
        0,
        0,
        first.saturating_add(u8::try_from(n).unwrap_or(u8::MAX)),
    ))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tessera-abuse: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("tessera-abuse: {e:#}");
            println!("abuse: 0 passed, 1 failed (could not run: {e})");
            ExitCode::FAILURE
        }
    }
}

fn validate(args: &Args) -> Result<()> {
    if args.concurrency == 0 || args.flood_requests == 0 || args.sign_in_concurrency == 0 {
        bail!("--concurrency, --flood-requests and --sign-in-concurrency must be at least 1");
    }
    for (name, v) in [
        ("--flood-seconds", args.flood_seconds),
        ("--timeout", args.timeout),
        ("--max-rss-growth-mib", args.max_rss_growth_mib),
    ] {
        if !(v.is_finite() && v > 0.0) {
            bail!("{name} must be positive");
        }
    }
    if !(args.baseline_seconds.is_finite() && args.baseline_seconds >= 0.0) {
        bail!("--baseline-seconds must be zero or more");
    }
    // Floods are for this host only, and are bounded whatever the flags say.
    if args.flood_seconds > 600.0 || args.flood_requests > 1_000_000 || args.concurrency > 256 {
        bail!("a flood is at most 600 s, 1,000,000 requests and 256 in flight");
    }
    for ip in [
        attacker_ip(6),
        IpAddr::V4(BASELINE_IP),
        IpAddr::V4(SIGN_INS_IP),
    ] {
        UdpSocket::bind((ip, 0))
            .with_context(|| format!("cannot use the loopback address {ip} as a client address"))?;
    }
    Ok(())
}

async fn run(args: Args) -> Result<bool> {
    validate(&args)?;
    let mut rng = Rng::for_worker(u64::from(std::process::id()));
    let mut server = match &args.base_url {
        Some(base) => {
            let url = url::Url::parse(base).with_context(|| format!("--base-url {base:?}"))?;
            if !server::is_loopback(&url) {
                bail!("--base-url must be on 127.0.0.0/8: the suite floods only this host");
            }
            let token = args
                .admin_token
                .clone()
                .filter(|t| !t.is_empty())
                .context("--base-url needs --admin-token or TESSERA_ADMIN_TOKEN")?;
            let pid = args.pid.context("--base-url needs --pid")?;
            Server::attach(base, pid, token)
        }
        None => {
            let bin = match &args.server_bin {
                Some(b) => b.clone(),
                None => server::default_binary()?,
            };
            Server::start(&bin, format!("abuse-{}", rng.token(24)), args.keep_data).await?
        }
    };
    let outcome = suite(&args, &mut server, &mut rng).await;
    let panics = server.panics_logged();
    if panics > 0 {
        println!("note: the server log records {panics} panic(s)");
    }
    if args.keep_data
        && let Some(log) = server.log_path()
    {
        println!("server log: {}", log.display());
    }
    server.stop().await;
    outcome
}

async fn suite(args: &Args, server: &mut Server, rng: &mut Rng) -> Result<bool> {
    let timeout = Duration::from_secs_f64(args.timeout);
    let http = Client::builder().no_proxy().timeout(timeout).build()?;
    let api = Api::new(&http, &server.base, &server.admin_token);
    let tag = format!("{:08x}", rng.next_u64() & 0xffff_ffff);
    let victim = api.tenant(&format!("abuse-victim-{tag}"), false).await?;
    let attacker = api.tenant(&format!("abuse-attacker-{tag}"), true).await?;
    let password = format!("pw-{}", rng.token(12));
    let floods = args.checks.iter().filter(|c| **c != Check::SignIns).count();
    let mut users: Vec<(String, String)> = (0..floods)
        .map(|n| (victim.slug.clone(), format!("victim-{n}")))
        .collect();
    users.push((victim.slug.clone(), "victim-baseline".into()));
    users.push((victim.slug.clone(), "kiosk".into()));
    users.push((attacker.slug.clone(), "target".into()));
    create_users(&api, &users, &password).await?;
    println!(
        "abuse: server {} (pid {}); victim tenant {}, attacker-side tenant {}; floods of at \
         most {} requests / {:.0} s, {} in flight, from {ATTACKER_IP} on",
        server.base,
        server.pid,
        victim.slug,
        attacker.slug,
        args.flood_requests,
        args.flood_seconds,
        args.concurrency
    );
    let ctx = Arc::new(Ctx {
        base: server.base.clone(),
        attacker,
        attacker_user: "target".into(),
        victim,
        password,
        attacker_ip: IpAddr::V4(ATTACKER_IP),
        timeout,
    });
    let interval = Duration::from_millis(args.legit_interval_ms);
    if args.baseline_seconds > 0.0 {
        baseline(&ctx, args, interval).await;
        tokio::time::sleep(SETTLE).await;
    }
    let bounds = Bounds {
        min_legit_logins: args.min_legit_logins,
        max_rss_growth_mib: args.max_rss_growth_mib,
    };
    let limits = Limits {
        duration: Duration::from_secs_f64(args.flood_seconds),
        requests: args.flood_requests,
        concurrency: args.concurrency,
    };
    let clk_tck = procfs::clock_ticks_per_second();
    let (mut passed, mut failed) = (0u32, 0u32);
    let mut flood_no = 0;
    for &check in &args.checks {
        let problems = if check == Check::SignIns {
            sign_ins_check(&ctx, args).await
        } else {
            let user = LegitUser {
                username: format!("victim-{flood_no}"),
                ip: legit_ip(flood_no),
                interval,
            };
            let flood_ctx = Arc::new(Ctx {
                attacker_ip: attacker_ip(flood_no),
                ..(*ctx).clone()
            });
            flood_no += 1;
            flood_check(
                check, &flood_ctx, server, &http, limits, user, bounds, clk_tck,
            )
            .await
        };
        if problems.is_empty() {
            passed += 1;
            println!("    PASS");
        } else {
            failed += 1;
            println!("    FAIL: {}", problems.join("; "));
        }
        tokio::time::sleep(SETTLE).await;
    }
    println!("abuse: {passed} passed, {failed} failed");
    Ok(failed == 0)
}

/// Creates `users` (tenant slug, name), as many at a time as there are cores, which
/// also warms every Argon2id worker of a server on this host before memory is read.
async fn create_users(api: &Api<'_>, users: &[(String, String)], password: &str) -> Result<()> {
    let parallel = std::thread::available_parallelism().map_or(2, |n| n.get().min(8));
    stream::iter(users)
        .map(|(slug, name)| api.user(slug, name, password))
        .buffer_unordered(parallel)
        .try_collect::<()>()
        .await
}

/// Legitimate sign-ins with no flood, for comparison (reported, not a check).
async fn baseline(ctx: &Arc<Ctx>, args: &Args, interval: Duration) {
    let user = LegitUser {
        username: "victim-baseline".into(),
        ip: IpAddr::V4(BASELINE_IP),
        interval,
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut set = JoinSet::new();
    set.spawn(flood::legit_loop(ctx.clone(), user, stopped));
    tokio::time::sleep(Duration::from_secs_f64(args.baseline_seconds)).await;
    let _ = stop.send(true);
    if let Some(Ok(legit)) = set.join_next().await {
        println!(
            "{:<10} no flood: legit sign-ins {}",
            "baseline",
            legit_summary(&legit)
        );
    }
}

fn legit_summary(l: &Legit) -> String {
    let latency = l
        .p50_max_ms()
        .map(|(p50, max)| format!(" (p50 {p50} ms, max {max} ms)"))
        .unwrap_or_default();
    let failures = if l.failed.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = l.failed.iter().map(|(k, n)| format!("{k}: {n}")).collect();
        format!(" [{}]", list.join(", "))
    };
    format!("{} ok, {} failed{failures}{latency}", l.ok, l.failures())
}

/// Non-comment lines of `/metrics`: the number of series (reported, not a check).
async fn metric_series(http: &Client, base: &str) -> Option<usize> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    Some(
        text.lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .count(),
    )
}

#[expect(
    clippy::too_many_arguments,
    reason = "one call site; the pieces are unrelated"
)]
async fn flood_check(
    check: Check,
    ctx: &Arc<Ctx>,
    server: &mut Server,
    http: &Client,
    limits: Limits,
    user: LegitUser,
    bounds: Bounds,
    clk_tck: f64,
) -> Vec<String> {
    let series_before = metric_series(http, &server.base).await;
    let rss_before = procfs::rss_mib(server.pid);
    let cpu_before = procfs::cpu_ticks(server.pid);
    let legit_ip = user.ip;
    let run = flood::run(check, ctx.clone(), limits, user).await;
    let rss_after = procfs::rss_mib(server.pid);
    let cpu_after = procfs::cpu_ticks(server.pid);
    let server_gone = server.gone();
    let series_after = if server_gone.is_none() {
        metric_series(http, &server.base).await
    } else {
        None
    };
    let outcome = FloodOutcome {
        flood: run.flood,
        setup: run.setup,
        legit: run.legit,
        rss_mib: rss_before.zip(rss_after),
        server_gone,
        elapsed: run.elapsed,
    };
    let allowed = if check == Check::Authorize {
        Allowed::AnyButServerErrors
    } else {
        Allowed::Refusals
    };
    let mut line = format!(
        "{:<10} {} requests in {:.1} s ({})",
        check.name(),
        outcome.flood.total(),
        run.elapsed.as_secs_f64(),
        outcome.flood
    );
    if outcome.setup.total() > 0 {
        line.push_str(&format!("; setup ({})", outcome.setup));
    }
    line.push_str(&format!(
        " | legit sign-ins from {legit_ip}: {}",
        legit_summary(&outcome.legit)
    ));
    match outcome.rss_mib {
        Some((b, a)) => line.push_str(&format!(" | rss {b:.1} -> {a:.1} MiB ({:+.1})", a - b)),
        None => line.push_str(" | rss n/a"),
    }
    if let (Some(b), Some(a)) = (cpu_before, cpu_after) {
        line.push_str(&format!(
            " | server cpu {:.1} s",
            a.saturating_sub(b) as f64 / clk_tck
        ));
    }
    if let (Some(b), Some(a)) = (series_before, series_after) {
        line.push_str(&format!(" | metric series {b} -> {a}"));
    }
    println!("{line}");
    verdict::flood_problems(&outcome, allowed, bounds)
}

async fn sign_ins_check(ctx: &Arc<Ctx>, args: &Args) -> Vec<String> {
    let (legit, took) = flood::sign_ins(
        ctx.clone(),
        "kiosk".into(),
        IpAddr::V4(SIGN_INS_IP),
        args.sign_ins,
        args.sign_in_concurrency,
        SIGN_IN_WINDOW,
    )
    .await;
    println!(
        "{:<10} one user, {} sign-ins wanted within {} s from {SIGN_INS_IP}, {} at a time: {} in {:.1} s",
        Check::SignIns.name(),
        args.sign_ins,
        SIGN_IN_WINDOW.as_secs(),
        args.sign_in_concurrency,
        legit_summary(&legit),
        took.as_secs_f64()
    );
    verdict::sign_in_problems(&legit, args.sign_ins, SIGN_IN_WINDOW, took)
}
