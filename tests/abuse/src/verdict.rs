//! What a flood's answers and the legitimate user's sign-ins are counted into, and the
//! rules that decide whether a check passed. Pure functions, unit-tested here.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Answers by HTTP status, and requests that got none (by kind of failure).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Responses per status code.
    pub by_status: BTreeMap<u16, u64>,
    /// Requests without a response, per kind (`timeout`, `connect`, ...).
    pub unanswered: BTreeMap<String, u64>,
}

impl Tally {
    /// Counts one response.
    pub fn status(&mut self, status: u16) {
        *self.by_status.entry(status).or_default() += 1;
    }

    /// Counts one request that got no response.
    pub fn unanswered(&mut self, kind: &str) {
        *self.unanswered.entry(kind.to_owned()).or_default() += 1;
    }

    /// Adds `other`'s counts.
    pub fn merge(&mut self, other: &Self) {
        for (s, n) in &other.by_status {
            *self.by_status.entry(*s).or_default() += n;
        }
        for (k, n) in &other.unanswered {
            *self.unanswered.entry(k.clone()).or_default() += n;
        }
    }

    /// Every request counted.
    pub fn total(&self) -> u64 {
        self.by_status.values().sum::<u64>() + self.unanswered.values().sum::<u64>()
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .by_status
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .chain(self.unanswered.iter().map(|(k, n)| format!("{k}: {n}")))
            .collect();
        if parts.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// Which answers a flood may get besides 4xx and 503.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allowed {
    /// Only 4xx (429 included) and 503: a 2xx or 3xx would mean the attack worked
    /// (a reset with a made-up token, a wrong secret accepted, a bad password let in).
    Refusals,
    /// Also 2xx and 3xx: an anonymous authorization request is normally answered with
    /// the login page or a redirect to it.
    AnyButServerErrors,
}

impl Allowed {
    /// Whether `status` is an acceptable answer to a flood request.
    pub fn permits(self, status: u16) -> bool {
        match status {
            503 => true,
            400..=499 => true,
            200..=399 => self == Self::AnyButServerErrors,
            _ => false,
        }
    }
}

/// The legitimate user's sign-ins during a flood.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Legit {
    /// Completed sign-ins (authorize to token).
    pub ok: u64,
    /// Failed ones, by the step and status that failed them (`login 429`, ...).
    pub failed: BTreeMap<String, u64>,
    /// The first failure in full, for the report.
    pub first_failure: Option<String>,
    /// Duration of each successful sign-in (reported, never asserted on).
    pub latencies: Vec<Duration>,
}

impl Legit {
    /// Failed sign-ins in all.
    pub fn failures(&self) -> u64 {
        self.failed.values().sum()
    }

    /// Adds `other`'s counts.
    pub fn merge(&mut self, other: Self) {
        self.ok += other.ok;
        for (k, n) in other.failed {
            *self.failed.entry(k).or_default() += n;
        }
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
        self.latencies.extend(other.latencies);
    }

    /// Median and maximum latency of the successful sign-ins, in milliseconds.
    pub fn p50_max_ms(&self) -> Option<(u128, u128)> {
        let mut l = self.latencies.clone();
        l.sort_unstable();
        let p50 = l.get(l.len() / 2)?.as_millis();
        let max = l.last()?.as_millis();
        Some((p50, max))
    }
}

/// The bounds a flood is held to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bounds {
    /// Sign-ins of the legitimate user that must succeed during the flood.
    pub min_legit_logins: u64,
    /// Largest growth of the server's resident memory, in MiB.
    pub max_rss_growth_mib: f64,
}

/// Everything observed during one flood.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FloodOutcome {
    /// Answers to the flood's requests.
    pub flood: Tally,
    /// Answers to the requests a flood worker needed first (the login page of the
    /// `logins` flood), held to "no 5xx but 503" only.
    pub setup: Tally,
    /// The legitimate user's sign-ins on the other tenant.
    pub legit: Legit,
    /// Server resident memory before and after, in MiB (`None`: not readable).
    pub rss_mib: Option<(f64, f64)>,
    /// Set when the server process was gone after the flood.
    pub server_gone: Option<String>,
    /// How long the flood ran.
    pub elapsed: std::time::Duration,
}

/// Why a flood check failed; empty when it passed.
pub fn flood_problems(o: &FloodOutcome, allowed: Allowed, b: Bounds) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(why) = &o.server_gone {
        problems.push(format!("server gone: {why}"));
    }
    let refused: Vec<String> = o
        .flood
        .by_status
        .iter()
        .filter(|(s, _)| !allowed.permits(**s))
        .map(|(s, n)| format!("{s} x{n}"))
        .collect();
    if !refused.is_empty() {
        problems.push(format!("flood answers not allowed: {}", refused.join(", ")));
    }
    let setup_5xx: Vec<String> = o
        .setup
        .by_status
        .iter()
        .filter(|(s, _)| (500..=599).contains(*s) && **s != 503)
        .map(|(s, n)| format!("{s} x{n}"))
        .collect();
    if !setup_5xx.is_empty() {
        problems.push(format!("server errors on setup: {}", setup_5xx.join(", ")));
    }
    let mut unanswered = o.flood.clone();
    unanswered.merge(&o.setup);
    if !unanswered.unanswered.is_empty() {
        let list: Vec<String> = unanswered
            .unanswered
            .iter()
            .map(|(k, n)| format!("{k} x{n}"))
            .collect();
        problems.push(format!("unanswered requests: {}", list.join(", ")));
    }
    if o.flood.total() == 0 {
        problems.push("the flood sent no request".to_owned());
    }
    if o.legit.failures() > 0 {
        let list: Vec<String> = o
            .legit
            .failed
            .iter()
            .map(|(k, n)| format!("{k} x{n}"))
            .collect();
        problems.push(format!(
            "legitimate sign-ins failed: {}{}",
            list.join(", "),
            o.legit
                .first_failure
                .as_deref()
                .map(|f| format!(" (first: {f})"))
                .unwrap_or_default()
        ));
    }
    // A flood that spends its request budget in a second or two leaves room for few
    // sign-ins: one per whole second of flood is needed (at least one), up to the minimum.
    let needed = b.min_legit_logins.min(o.elapsed.as_secs().max(1));
    if o.legit.ok < needed {
        problems.push(format!(
            "only {} legitimate sign-ins succeeded in {:.1} s, {needed} needed",
            o.legit.ok,
            o.elapsed.as_secs_f64()
        ));
    }
    if let Some((before, after)) = o.rss_mib
        && after - before > b.max_rss_growth_mib
    {
        problems.push(format!(
            "server memory grew by {:.1} MiB (more than {:.0})",
            after - before,
            b.max_rss_growth_mib
        ));
    }
    problems
}

/// Why the repeated sign-ins check failed; empty when it passed.
pub fn sign_in_problems(l: &Legit, wanted: u64, window: Duration, took: Duration) -> Vec<String> {
    let mut problems = Vec::new();
    if l.failures() > 0 {
        let list: Vec<String> = l.failed.iter().map(|(k, n)| format!("{k} x{n}")).collect();
        problems.push(format!(
            "sign-ins refused or failed: {}{}",
            list.join(", "),
            l.first_failure
                .as_deref()
                .map(|f| format!(" (first: {f})"))
                .unwrap_or_default()
        ));
    }
    if l.ok < wanted {
        problems.push(format!(
            "{} of {wanted} sign-ins succeeded within {:.0} s",
            l.ok,
            window.as_secs_f64()
        ));
    } else if took > window {
        problems.push(format!(
            "the {wanted} sign-ins took {:.1} s, longer than {:.0} s: not shown within the window",
            took.as_secs_f64(),
            window.as_secs_f64()
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: Bounds = Bounds {
        min_legit_logins: 3,
        max_rss_growth_mib: 64.0,
    };

    fn passing() -> FloodOutcome {
        let mut o = FloodOutcome::default();
        for _ in 0..10 {
            o.flood.status(400);
        }
        o.flood.status(429);
        o.flood.status(503);
        o.legit.ok = 5;
        o.rss_mib = Some((40.0, 50.0));
        o.elapsed = std::time::Duration::from_secs(10);
        o
    }

    #[test]
    fn refusals_and_503_with_every_legitimate_sign_in_succeeding_pass() {
        assert_eq!(
            flood_problems(&passing(), Allowed::Refusals, BOUNDS),
            Vec::<String>::new()
        );
        assert_eq!(passing().flood.to_string(), "400: 10, 429: 1, 503: 1");
    }

    #[test]
    fn a_server_error_other_than_503_fails_the_flood() {
        let mut o = passing();
        o.flood.status(500);
        let p = flood_problems(&o, Allowed::AnyButServerErrors, BOUNDS);
        assert_eq!(p, vec!["flood answers not allowed: 500 x1".to_owned()]);
    }

    #[test]
    fn a_success_answer_fails_a_flood_that_must_be_refused_but_not_authorize() {
        let mut o = passing();
        o.flood.status(302);
        o.flood.status(200);
        assert_eq!(
            flood_problems(&o, Allowed::Refusals, BOUNDS),
            vec!["flood answers not allowed: 200 x1, 302 x1".to_owned()]
        );
        assert!(flood_problems(&o, Allowed::AnyButServerErrors, BOUNDS).is_empty());
    }

    #[test]
    fn one_failed_legitimate_sign_in_fails_the_flood() {
        let mut o = passing();
        o.legit.failed.insert("login 429".into(), 1);
        o.legit.first_failure = Some("login 429: too many".into());
        let p = flood_problems(&o, Allowed::Refusals, BOUNDS);
        assert_eq!(
            p,
            vec![
                "legitimate sign-ins failed: login 429 x1 (first: login 429: too many)".to_owned()
            ]
        );
    }

    #[test]
    fn too_few_legitimate_sign_ins_fail_the_flood() {
        let mut o = passing();
        o.legit.ok = 2;
        assert_eq!(flood_problems(&o, Allowed::Refusals, BOUNDS).len(), 1);
    }

    #[test]
    fn memory_growth_over_the_bound_fails_the_flood() {
        let mut o = passing();
        o.rss_mib = Some((40.0, 104.5));
        assert_eq!(
            flood_problems(&o, Allowed::Refusals, BOUNDS),
            vec!["server memory grew by 64.5 MiB (more than 64)".to_owned()]
        );
        o.rss_mib = None;
        assert!(flood_problems(&o, Allowed::Refusals, BOUNDS).is_empty());
    }

    #[test]
    fn unanswered_requests_a_gone_server_and_setup_errors_fail_the_flood() {
        let mut o = passing();
        o.flood.unanswered("timeout");
        o.setup.status(500);
        o.setup.status(503);
        o.server_gone = Some("exit status: 101".into());
        let p = flood_problems(&o, Allowed::Refusals, BOUNDS);
        assert_eq!(
            p,
            vec![
                "server gone: exit status: 101".to_owned(),
                "server errors on setup: 500 x1".to_owned(),
                "unanswered requests: timeout x1".to_owned(),
            ]
        );
    }

    #[test]
    fn a_flood_that_sent_nothing_fails() {
        let mut o = passing();
        o.flood = Tally::default();
        assert_eq!(
            flood_problems(&o, Allowed::Refusals, BOUNDS),
            vec!["the flood sent no request".to_owned()]
        );
    }

    #[test]
    fn sign_ins_pass_only_when_all_succeed_within_the_window() {
        let minute = Duration::from_secs(60);
        let all = Legit {
            ok: 200,
            ..Legit::default()
        };
        assert!(sign_in_problems(&all, 200, minute, Duration::from_secs(20)).is_empty());
        assert_eq!(
            sign_in_problems(&all, 200, minute, Duration::from_secs(61)).len(),
            1
        );
        let mut refused = Legit {
            ok: 20,
            ..Legit::default()
        };
        refused.failed.insert("login 429".into(), 180);
        let p = sign_in_problems(&refused, 200, minute, Duration::from_secs(9));
        assert_eq!(
            p,
            vec![
                "sign-ins refused or failed: login 429 x180".to_owned(),
                "20 of 200 sign-ins succeeded within 60 s".to_owned(),
            ]
        );
    }

    #[test]
    fn latencies_are_summarised_as_median_and_maximum() {
        let mut l = Legit::default();
        assert_eq!(l.p50_max_ms(), None);
        l.latencies = [30, 10, 20].map(Duration::from_millis).to_vec();
        assert_eq!(l.p50_max_ms(), Some((20, 30)));
    }
}
