//! Command-line options.

use std::fmt;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// One kind of operation the driver repeats.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Scenario {
    /// GET {issuer}/.well-known/openid-configuration
    Discovery,
    /// GET jwks_uri
    Jwks,
    /// POST token endpoint, grant_type=client_credentials (client_secret_basic)
    Cc,
    /// POST token endpoint, grant_type=refresh_token, always with the newest refresh token
    Refresh,
    /// POST introspection endpoint with a valid access token
    Introspect,
    /// authorize -> code -> token, reusing a login session cookie (PKCE S256)
    Code,
    /// authorize -> login form (password) -> consent if asked -> code -> token, fresh cookies every flow
    Login,
}

impl Scenario {
    /// The name used on the command line and in the results.
    pub fn name(self) -> &'static str {
        match self {
            Self::Discovery => "discovery",
            Self::Jwks => "jwks",
            Self::Cc => "cc",
            Self::Refresh => "refresh",
            Self::Introspect => "introspect",
            Self::Code => "code",
            Self::Login => "login",
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Closed-loop load driver for Tessera and other OAuth 2.1 / OpenID Connect servers.
///
/// Each of C workers owns one keep-alive connection and runs operations back to
/// back: `--warmup` seconds unmeasured, then `--duration` seconds measured. One
/// row per (scenario, concurrency, run).
#[derive(Parser, Clone, Debug)]
#[command(version, about, long_about = None)]
pub struct Args {
    /// Issuer URL; endpoints come from {issuer}/.well-known/openid-configuration.
    /// Not needed with --provision.
    #[arg(long, required_unless_present = "provision")]
    pub issuer: Option<String>,

    /// Create (or reuse) a tenant, a first-party confidential client and the
    /// users through the management API at --base-url, then run.
    #[arg(long, requires = "base_url")]
    pub provision: bool,
    /// Base URL of the Tessera deployment for --provision (the part before /api/v1)
    #[arg(long)]
    pub base_url: Option<String>,
    /// Admin API token for --provision.
    #[arg(long, env = "TESSERA_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Tenant slug to create or reuse with --provision.
    #[arg(long, default_value = "bench")]
    pub tenant: String,
    /// Users created in parallel with --provision (password hashing is slow by design).
    #[arg(long, default_value_t = 4)]
    pub provision_parallelism: usize,

    /// Client id (ignored with --provision, which creates a client).
    #[arg(long, default_value = "bench-client")]
    pub client_id: String,
    /// Client secret, sent with client_secret_basic.
    #[arg(
        long,
        env = "TESSERA_LOAD_CLIENT_SECRET",
        hide_env_values = true,
        default_value = "bench-secret"
    )]
    pub client_secret: String,
    /// Redirect URI registered for the client; never contacted.
    #[arg(long, default_value = "http://127.0.0.1:3199/cb")]
    pub redirect_uri: String,
    /// Scope of the code flows (must yield a refresh token for `refresh`).
    #[arg(long, default_value = "openid offline_access")]
    pub scope: String,
    /// RFC 8707 resource for the code flows.
    #[arg(long)]
    pub resource: Option<String>,
    /// Scope for client_credentials.
    #[arg(long)]
    pub cc_scope: Option<String>,
    /// RFC 8707 resource for client_credentials.
    #[arg(long)]
    pub cc_resource: Option<String>,
    /// RFC 8707 resource of the token the `introspect` scenario checks.
    #[arg(long)]
    pub introspect_resource: Option<String>,

    /// Username template; {n} becomes the user number (0..users).
    #[arg(long, default_value = "user{n}")]
    pub username: String,
    /// Password of every user.
    #[arg(
        long,
        env = "TESSERA_LOAD_PASSWORD",
        hide_env_values = true,
        default_value = "bench-pass"
    )]
    pub password: String,
    /// Number of users; flows cycle through them.
    #[arg(long, default_value_t = 1000)]
    pub users: u64,
    /// Name of the username input on the login form.
    #[arg(long, default_value = "username")]
    pub user_field: String,
    /// Name of the password input on the login form.
    #[arg(long, default_value = "password")]
    pub pass_field: String,

    /// Scenarios to run, in this order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "discovery,jwks,cc,refresh,introspect,code,login"
    )]
    pub scenarios: Vec<Scenario>,
    /// Concurrent workers (connections); a comma list runs each level.
    #[arg(long, value_delimiter = ',', default_value = "16,64")]
    pub concurrency: Vec<usize>,
    /// Measured seconds per run.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Unmeasured seconds before each run.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Repetitions of every (scenario, concurrency); the summary shows medians.
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
    /// Stop a run after this many measured operations (0: no limit).
    #[arg(long, default_value_t = 0)]
    pub max_requests: u64,
    /// Driver threads (1 leaves the other cores to a server on the same host).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Per-request timeout, seconds.
    #[arg(long, default_value_t = 30.0)]
    pub timeout: f64,
    /// Extra CA certificate (PEM) to trust for https.
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    /// Accept any TLS certificate (test deployments with self-signed certificates).
    #[arg(long)]
    pub insecure: bool,

    /// PID of the server process on this host, to report its CPU use and RSS.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Append one JSON object per row to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Label stored with the JSON rows (e.g. "tessera-sqlite").
    #[arg(long, default_value = "")]
    pub label: String,
    /// Print a Markdown table of medians over runs at the end.
    #[arg(long)]
    pub markdown: bool,
}

impl Args {
    /// The login name of user `n` (taken modulo `--users`).
    pub fn user(&self, n: u64) -> String {
        self.username
            .replace("{n}", &(n % self.users.max(1)).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn scenario_names_pad_in_tables() {
        assert_eq!(format!("{:<6}|", Scenario::Cc), "cc    |");
        assert_eq!(Scenario::Introspect.to_string(), "introspect");
    }

    #[test]
    fn cli_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn parses_lists_and_requires_an_issuer() {
        let a = Args::try_parse_from([
            "tessera-load",
            "--issuer",
            "http://127.0.0.1:3120/t/bench",
            "--scenarios",
            "cc,login",
            "--concurrency",
            "4,8",
            "--users",
            "3",
        ])
        .unwrap();
        assert_eq!(a.scenarios, vec![Scenario::Cc, Scenario::Login]);
        assert_eq!(a.concurrency, vec![4, 8]);
        assert_eq!(a.user(7), "user1");
        assert!(Args::try_parse_from(["tessera-load"]).is_err());
        assert!(Args::try_parse_from(["tessera-load", "--provision"]).is_err());
        let p = Args::try_parse_from([
            "tessera-load",
            "--provision",
            "--base-url",
            "https://id.example.com",
        ])
        .unwrap();
        assert!(p.provision && p.issuer.is_none());
    }
}
