//! `tessera-load`: Tessera's own load driver, for sizing a deployment.
//!
//! A closed loop: each of C workers owns one keep-alive connection and runs
//! one scenario's operation back to back, unmeasured for `--warmup` seconds and
//! measured for `--duration` seconds. Endpoints come from discovery, so any
//! OAuth 2.1 / OpenID Connect server with password login works; `--provision`
//! sets up a tenant, a client and users on a Tessera deployment first. The
//! scenario definitions match the reference driver of the project's benchmark
//! harness, so figures are comparable. See README.md beside this file.

mod cli;
mod cookies;
mod error;
mod flows;
mod forms;
mod pkce;
mod procfs;
mod provision;
mod report;
mod runner;
mod stats;

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;

use cli::Args;
use flows::{HttpConfig, Target, discover};
use runner::{RunSpec, run_once};

fn main() -> ExitCode {
    let args = Args::parse();
    match validate(&args).and_then(|()| start(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tessera-load: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn start(args: Args) -> Result<()> {
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(run(args))
}

fn validate(args: &Args) -> Result<()> {
    if args.concurrency.is_empty() || args.concurrency.contains(&0) {
        bail!("--concurrency needs positive numbers");
    }
    if args.runs == 0 || args.users == 0 {
        bail!("--runs and --users must be at least 1");
    }
    if !(args.duration.is_finite() && args.duration > 0.0) {
        bail!("--duration must be positive");
    }
    if !(args.warmup.is_finite() && args.warmup >= 0.0) {
        bail!("--warmup must be zero or more");
    }
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        bail!("--timeout must be positive");
    }
    if let Some(pid) = args.server_pid
        && procfs::cpu_ticks(pid).is_none()
    {
        bail!("--server-pid {pid}: no such process on this host (/proc/{pid}/stat)");
    }
    Ok(())
}

async fn run(mut args: Args) -> Result<()> {
    let http = HttpConfig::from_args(&args)?;
    let client = http.client()?;
    if args.provision {
        let p = provision::provision(&client, &args).await?;
        eprintln!(
            "provision: issuer {}; to rerun without --provision: --issuer {} --client-id {} \
             --client-secret <secret> --users {}",
            p.issuer, p.issuer, p.client_id, args.users
        );
        args.issuer = Some(p.issuer);
        args.client_id = p.client_id;
        args.client_secret = p.client_secret;
    }
    let issuer = args
        .issuer
        .clone()
        .context("--issuer is required without --provision")?;
    let ep = discover(&client, &issuer).await?;
    drop(client);
    let target = Arc::new(Target::new(args.clone(), ep)?);
    let clk_tck = procfs::clock_ticks_per_second();

    let mut json_out = match &args.json {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening {}", path.display()))?,
        ),
        None => None,
    };
    let runs_total = args.scenarios.len() * args.concurrency.len() * args.runs;
    eprintln!(
        "target {issuer}: {runs_total} run(s) of {:.0} s + {:.0} s warm-up, client {}",
        args.duration, args.warmup, args.client_id
    );
    println!("{}", report::header());
    let mut rows = Vec::new();
    let mut failed = 0usize;
    for &scenario in &args.scenarios {
        for &concurrency in &args.concurrency {
            for run in 1..=args.runs {
                let spec = RunSpec {
                    scenario,
                    concurrency,
                    run,
                    clk_tck,
                };
                match run_once(target.clone(), &http, spec).await {
                    Ok(row) => {
                        println!("{}", report::line(&row));
                        if row.ok == 0 {
                            failed += 1;
                        }
                        if let Some(f) = json_out.as_mut() {
                            writeln!(f, "{}", serde_json::to_string(&row)?)?;
                            f.flush()?;
                        }
                        rows.push(row);
                    }
                    Err(e) => {
                        failed += 1;
                        println!("{scenario:<10} {concurrency:>4} {run:>3} FAILED: {e:#}");
                    }
                }
                // Let the server settle (connections in TIME_WAIT, background work).
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    if args.markdown || args.runs > 1 {
        println!();
        println!("Medians over {} run(s) per row:", args.runs);
        print!("{}", report::markdown(&rows));
    }
    if failed > 0 {
        bail!("{failed} run(s) failed to start or completed no operation");
    }
    Ok(())
}
