//! One run: C closed-loop workers for warm-up + duration, then one result row.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;
use tokio::task::JoinSet;

use crate::cli::Scenario;
use crate::flows::{HttpConfig, Target, Worker};
use crate::procfs;
use crate::stats::{ErrorTally, Latencies};

/// The result of one (scenario, concurrency, run); one JSON line.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// `--label`.
    pub label: String,
    /// The issuer under test.
    pub issuer: String,
    /// Scenario name.
    pub scenario: String,
    /// Workers.
    pub concurrency: usize,
    /// Run number, from 1.
    pub run: usize,
    /// Measured seconds: first measured start to last measured completion.
    pub window_s: f64,
    /// Successful operations.
    pub ok: u64,
    /// Failed operations.
    pub errors: u64,
    /// Failed operations by kind.
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Successful operations per second.
    pub throughput: f64,
    /// Median latency of successful operations, ms.
    pub p50_ms: f64,
    /// 90th percentile, ms.
    pub p90_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Slowest successful operation, ms.
    pub max_ms: f64,
    /// HTTP requests per successful operation.
    pub http_per_op: f64,
    /// Password logins per successful operation.
    pub logins_per_op: f64,
    /// Server CPU use during the window, in cores.
    pub server_cpu_cores: Option<f64>,
    /// Successful operations per second of server CPU.
    pub ops_per_server_cpu_s: Option<f64>,
    /// Server resident memory after the run, MiB.
    pub server_rss_mb: Option<f64>,
    /// This driver's CPU use during the window, in cores.
    pub driver_cpu_cores: Option<f64>,
    /// The first few error messages.
    pub first_errors: Vec<String>,
}

/// CPU counters at the start of the measured window.
#[derive(Clone, Copy, Debug)]
struct Mark {
    at: Instant,
    server_ticks: Option<u64>,
    driver_ticks: Option<u64>,
}

/// One worker's measurements.
struct Tally {
    latencies: Latencies,
    errors: ErrorTally,
    ok: u64,
    requests: u64,
    logins: u64,
    last_done: Option<Instant>,
}

/// Settings of one run.
#[derive(Clone, Copy, Debug)]
pub struct RunSpec {
    /// Scenario.
    pub scenario: Scenario,
    /// Workers.
    pub concurrency: usize,
    /// Run number, from 1.
    pub run: usize,
    /// Clock ticks per second of `/proc/<pid>/stat`.
    pub clk_tck: f64,
}
fn per(n: u64, d: f64) -> f64 {
    if d > 0.0 { n as f64 / d } else { 0.0 }
}

fn ratio(n: u64, d: u64) -> f64 {
    per(n, d as f64)
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// Runs one (scenario, concurrency) and measures it.
pub async fn run_once(target: Arc<Target>, http: &HttpConfig, spec: RunSpec) -> Result<Row> {
    let args = &target.args;
    let sc = spec.scenario;
    let warmup = Duration::from_secs_f64(args.warmup.max(0.0));
    let duration = Duration::from_secs_f64(args.duration.max(0.001));

    // Unmeasured setup: one shared access token for `introspect` (as the
    // reference driver does), then every worker's own preparation.
    let shared_token = if sc == Scenario::Introspect {
        let w = Worker::new(u64::MAX, http.client()?, None);
        Some(
            target
                .mint_introspect_token(&w)
                .await
                .context("getting the access token to introspect")?,
        )
    } else {
        None
    };
    let mut setups = JoinSet::new();
    for id in 0..spec.concurrency {
        let mut w = Worker::new(id as u64, http.client()?, shared_token.clone());
        let target = target.clone();
        setups.spawn(async move { target.setup(sc, &mut w).await.map(|()| w) });
    }
    let mut workers = Vec::with_capacity(spec.concurrency);
    while let Some(joined) = setups.join_next().await {
        workers.push(joined?.with_context(|| format!("setting up {sc} workers"))?);
    }

    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let server_pid = args.server_pid;
    let max_ops = args.max_requests;
    let mark: Arc<OnceLock<Mark>> = Arc::new(OnceLock::new());
    let started_ops = Arc::new(AtomicU64::new(0));

    let mut tasks = JoinSet::new();
    for mut w in workers {
        let (target, mark, started_ops) = (target.clone(), mark.clone(), started_ops.clone());
        let mut tally = Tally {
            latencies: Latencies::new()?,
            errors: ErrorTally::default(),
            ok: 0,
            requests: 0,
            logins: 0,
            last_done: None,
        };
        tasks.spawn(async move {
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let measured = t0 >= measure_from;
                if measured {
                    mark.get_or_init(|| Mark {
                        at: t0,
                        server_ticks: server_pid.and_then(procfs::cpu_ticks),
                        driver_ticks: procfs::cpu_ticks(std::process::id()),
                    });
                    if max_ops > 0 && started_ops.fetch_add(1, Ordering::Relaxed) >= max_ops {
                        break;
                    }
                }
                let result = target.op(sc, &mut w).await;
                let elapsed = t0.elapsed();
                if measured {
                    tally.last_done = Some(Instant::now());
                }
                match result {
                    Ok(done) if measured => {
                        tally.ok += 1;
                        tally.requests += done.requests;
                        tally.logins += done.logins;
                        tally.latencies.record(elapsed);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        if measured {
                            tally.errors.record(&e);
                        }
                        target.recover(sc, &mut w, &e).await;
                    }
                }
            }
            tally
        });
    }

    let mut latencies = Latencies::new()?;
    let mut errors = ErrorTally::default();
    let (mut ok, mut requests, mut logins) = (0u64, 0u64, 0u64);
    let mut last = None::<Instant>;
    while let Some(joined) = tasks.join_next().await {
        let t = joined?;
        latencies.merge(&t.latencies)?;
        errors.merge(&t.errors);
        ok += t.ok;
        requests += t.requests;
        logins += t.logins;
        last = last.max(t.last_done);
    }
    let clk = spec.clk_tck;
    let mark = mark.get().copied();
    let window = match (mark, last) {
        (Some(m), Some(l)) => l.saturating_duration_since(m.at).as_secs_f64(),
        _ => 0.0,
    }
    .max(1e-3);
    let cpu_s = |before: Option<u64>, after: Option<u64>| match (before, after) {
        (Some(b), Some(a)) => Some(a.saturating_sub(b) as f64 / clk),
        _ => None,
    };
    let server_cpu = cpu_s(
        mark.and_then(|m| m.server_ticks),
        server_pid.and_then(procfs::cpu_ticks),
    );
    let driver_cpu = cpu_s(
        mark.and_then(|m| m.driver_ticks),
        procfs::cpu_ticks(std::process::id()),
    );
    Ok(Row {
        label: args.label.clone(),
        issuer: args.issuer.clone().unwrap_or_default(),
        scenario: sc.name().to_owned(),
        concurrency: spec.concurrency,
        run: spec.run,
        window_s: round(window, 3),
        ok,
        errors: errors.total(),
        errors_by_kind: errors.by_kind.clone(),
        throughput: round(per(ok, window), 1),
        p50_ms: latencies.quantile_ms(0.50),
        p90_ms: latencies.quantile_ms(0.90),
        p99_ms: latencies.quantile_ms(0.99),
        max_ms: latencies.max_ms(),
        http_per_op: round(ratio(requests, ok), 2),
        logins_per_op: round(ratio(logins, ok), 2),
        server_cpu_cores: server_cpu.map(|c| round(c / window, 2)),
        ops_per_server_cpu_s: server_cpu
            .filter(|c| *c > 0.0)
            .map(|c| round(per(ok, c), 0)),
        server_rss_mb: server_pid.and_then(procfs::rss_mib).map(|m| round(m, 1)),
        driver_cpu_cores: driver_cpu.map(|c| round(c / window, 2)),
        first_errors: errors.samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_rounding() {
        assert_eq!(per(10, 4.0), 2.5);
        assert_eq!(per(10, 0.0), 0.0);
        assert_eq!(ratio(9, 3), 3.0);
        assert_eq!(ratio(9, 0), 0.0);
        assert_eq!(round(2.345_678, 2), 2.35);
        assert_eq!(round(1234.5, 0), 1235.0);
    }
}
