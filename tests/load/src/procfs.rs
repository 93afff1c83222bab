//! Server CPU time and memory from Linux `/proc`, for a server on this host.

/// CPU time (user + system) of `pid` in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    parse_stat_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// `utime + stime` from the text of `/proc/<pid>/stat`.
fn parse_stat_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may hold spaces or ')'.
    let after = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = after.split_whitespace();
    // Field 3 (state) comes first; utime and stime are fields 14 and 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Resident set size of `pid` in MiB.
pub fn rss_mib(pid: u32) -> Option<f64> {
    parse_status_rss(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// `VmRSS` (kB) from the text of `/proc/<pid>/status`, in MiB.
fn parse_status_rss(status: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on every common Linux).
pub fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields() {
        let stat = "4242 (tessera (x) y) S 1 4242 4242 0 -1 4194560 1838 0 0 0 \
                    731 269 0 0 20 0 9 0 123 456 789 18446744073709551615";
        assert_eq!(parse_stat_ticks(stat), Some(1000));
        assert_eq!(parse_stat_ticks("garbage"), None);
    }

    #[test]
    fn status_rss() {
        let status = "Name:\ttessera\nVmPeak:\t  900 kB\nVmRSS:\t  204800 kB\nThreads:\t9\n";
        assert_eq!(parse_status_rss(status), Some(200.0));
        assert_eq!(parse_status_rss("Name:\tx\n"), None);
    }

    #[test]
    fn this_process_is_visible() {
        if std::path::Path::new("/proc/self/stat").exists() {
            assert!(cpu_ticks(std::process::id()).is_some());
            assert!(rss_mib(std::process::id()).is_some_and(|m| m > 0.0));
        }
    }
}
