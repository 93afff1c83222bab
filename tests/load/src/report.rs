//! The console table and the Markdown summary of medians.

use std::fmt::Write as _;

use crate::runner::Row;
use crate::stats::{kinds_summary, median};

/// The column headings of the per-run table.
pub fn header() -> String {
    format!(
        "{:<10} {:>4} {:>3} {:>9} {:>7} {:>8} {:>8} {:>8} {:>8} {:>6} {:>7} {:>9} {:>7} {:>7}",
        "scenario",
        "conc",
        "run",
        "ops/s",
        "errors",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "req/op",
        "srv cpu",
        "ops/cpu-s",
        "rss MB",
        "drv cpu"
    )
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "-".to_owned(), |x| format!("{x:.decimals$}"))
}

/// One run as a table line, plus error lines when it had errors.
pub fn line(r: &Row) -> String {
    let mut s = format!(
        "{:<10} {:>4} {:>3} {:>9.1} {:>7} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>6.1} {:>7} {:>9} {:>7} {:>7}",
        r.scenario,
        r.concurrency,
        r.run,
        r.throughput,
        r.errors,
        r.p50_ms,
        r.p90_ms,
        r.p99_ms,
        r.max_ms,
        r.http_per_op,
        opt(r.server_cpu_cores, 2),
        opt(r.ops_per_server_cpu_s, 0),
        opt(r.server_rss_mb, 0),
        opt(r.driver_cpu_cores, 2),
    );
    if r.errors > 0 {
        let _ = write!(s, "\n    errors: {}", kinds_summary(&r.errors_by_kind));
        if let Some(first) = r.first_errors.first() {
            let _ = write!(s, "\n    first:  {first}");
        }
    }
    s
}

/// A Markdown table with, per (scenario, concurrency), the medians over its runs.
pub fn markdown(rows: &[Row]) -> String {
    let mut keys: Vec<(&str, usize)> = Vec::new();
    for r in rows {
        let k = (r.scenario.as_str(), r.concurrency);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let mut s = String::from(
        "| scenario | conc | runs | ops/s | p50 ms | p90 ms | p99 ms | errors (total) | HTTP req/op | server CPU (cores) | ops per server CPU-s | server RSS MB |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (scenario, conc) in keys {
        let group: Vec<&Row> = rows
            .iter()
            .filter(|r| r.scenario == scenario && r.concurrency == conc)
            .collect();
        let col = |f: fn(&Row) -> Option<f64>| median(group.iter().filter_map(|r| f(r)));
        let errors: u64 = group.iter().map(|r| r.errors).sum();
        let _ = writeln!(
            s,
            "| {scenario} | {conc} | {} | {} | {} | {} | {} | {errors} | {} | {} | {} | {} |",
            group.len(),
            opt(col(|r| Some(r.throughput)), 0),
            opt(col(|r| Some(r.p50_ms)), 2),
            opt(col(|r| Some(r.p90_ms)), 2),
            opt(col(|r| Some(r.p99_ms)), 2),
            opt(col(|r| Some(r.http_per_op)), 1),
            opt(col(|r| r.server_cpu_cores), 2),
            opt(col(|r| r.ops_per_server_cpu_s), 0),
            opt(col(|r| r.server_rss_mb), 0),
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn row(scenario: &str, conc: usize, run: usize, ops: f64, errors: u64) -> Row {
        Row {
            label: String::new(),
            issuer: "http://127.0.0.1:3120/t/bench".into(),
            scenario: scenario.into(),
            concurrency: conc,
            run,
            window_s: 10.0,
            ok: 10,
            errors,
            errors_by_kind: if errors > 0 {
                BTreeMap::from([("token 429".to_owned(), errors)])
            } else {
                BTreeMap::new()
            },
            throughput: ops,
            p50_ms: ops / 100.0,
            p90_ms: 2.0,
            p99_ms: 3.0,
            max_ms: 4.0,
            http_per_op: 1.0,
            logins_per_op: 0.0,
            server_cpu_cores: (run != 2).then_some(0.5),
            ops_per_server_cpu_s: None,
            server_rss_mb: Some(100.0 + run as f64),
            driver_cpu_cores: None,
            first_errors: vec!["token 429: slow down".into()],
        }
    }

    #[test]
    fn medians_per_scenario_and_concurrency() {
        let rows = vec![
            row("cc", 4, 1, 300.0, 0),
            row("cc", 4, 2, 100.0, 2),
            row("cc", 4, 3, 200.0, 1),
            row("jwks", 4, 1, 5000.0, 0),
        ];
        let md = markdown(&rows);
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[2],
            "| cc | 4 | 3 | 200 | 2.00 | 2.00 | 3.00 | 3 | 1.0 | 0.50 | - | 102 |"
        );
        assert!(lines[3].starts_with("| jwks | 4 | 1 | 5000 |"));
    }

    #[test]
    fn lines_show_errors_by_kind() {
        let l = line(&row("cc", 4, 1, 300.0, 2));
        assert!(l.contains("errors: token 429 ×2"), "{l}");
        assert!(l.contains("first:  token 429: slow down"), "{l}");
        assert_eq!(line(&row("cc", 4, 1, 300.0, 0)).lines().count(), 1);
        assert_eq!(header().len(), line(&row("cc", 4, 1, 300.0, 0)).len());
    }
}
