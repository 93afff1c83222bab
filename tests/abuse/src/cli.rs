//! Command-line options.

use std::fmt;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// One check of the suite: six floods, then the repeated sign-ins.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Check {
    /// POST /t/{slug}/password/reset with made-up tokens and a new password
    Reset,
    /// POST /t/{slug}/introspect with a real client id and wrong secrets
    Introspect,
    /// POST /t/{slug}/token with random client ids
    Token,
    /// GET /t/{slug}/authorize without a cookie, for a valid client
    Authorize,
    /// Random unknown paths (and now and then an unknown method)
    Paths,
    /// Bad-password logins from one address against many usernames
    Logins,
    /// One user signs in successfully --sign-ins times within a minute from one address
    SignIns,
}

impl Check {
    /// The name used on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Self::Reset => "reset",
            Self::Introspect => "introspect",
            Self::Token => "token",
            Self::Authorize => "authorize",
            Self::Paths => "paths",
            Self::Logins => "logins",
            Self::SignIns => "sign-ins",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Floods a Tessera server on loopback, one flood at a time, while a user of another
/// tenant signs in; see README.md beside this file.
///
/// By default it starts `tessera serve` itself (SQLite, a temporary data directory,
/// the server's default limits); `--base-url` and `--pid` point it at a running one.
#[derive(Parser, Clone, Debug)]
#[command(version, about, long_about = None)]
pub struct Args {
    /// The `tessera` binary to start (default: `tessera` next to this program).
    #[arg(long, conflicts_with = "base_url")]
    pub server_bin: Option<PathBuf>,
    /// A running server on loopback instead (the part before /t/...), e.g.
    /// http://127.0.0.1:8080; needs --pid and an admin token.
    #[arg(long, requires = "pid")]
    pub base_url: Option<String>,
    /// Process id of the server at --base-url (memory and CPU come from /proc).
    #[arg(long, requires = "base_url")]
    pub pid: Option<u32>,
    /// Admin token of the server at --base-url (a started server gets a random one).
    #[arg(long, env = "TESSERA_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Checks to run, in this order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "reset,introspect,token,authorize,paths,logins,sign-ins"
    )]
    pub checks: Vec<Check>,
    /// Longest a flood runs, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub flood_seconds: f64,
    /// Most requests a flood sends.
    #[arg(long, default_value_t = 20_000)]
    pub flood_requests: u64,
    /// Flood requests in flight at once.
    #[arg(long, default_value_t = 24)]
    pub concurrency: usize,
    /// Legitimate sign-ins that must succeed during each flood (one per whole
    /// second of a shorter flood, at least one; none may fail).
    #[arg(long, default_value_t = 3)]
    pub min_legit_logins: u64,
    /// The legitimate user starts a sign-in at most this often, in milliseconds (a
    /// person, not a second flood; it stays well under every per-user limit).
    #[arg(long, default_value_t = 1000)]
    pub legit_interval_ms: u64,
    /// Largest growth of the server's resident memory during one flood, in MiB.
    #[arg(long, default_value_t = 64.0)]
    pub max_rss_growth_mib: f64,
    /// Sign-ins of the `sign-ins` check, all within a minute, all from one address.
    #[arg(long, default_value_t = 200)]
    pub sign_ins: u64,
    /// Sign-ins of the `sign-ins` check in flight at once.
    #[arg(long, default_value_t = 4)]
    pub sign_in_concurrency: usize,
    /// Seconds of legitimate sign-ins without a flood first, for comparison (0: none).
    #[arg(long, default_value_t = 3.0)]
    pub baseline_seconds: f64,
    /// Per-request timeout in seconds; an unanswered request counts against a check.
    #[arg(long, default_value_t = 30.0)]
    pub timeout: f64,
    /// Keep the started server's data directory and log (printed at the end).
    #[arg(long)]
    pub keep_data: bool,
}
