//! The server under test: a `tessera serve` this program starts (SQLite, a temporary
//! data directory, the server's default limits) or one already running on loopback.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use reqwest::Client;
use url::Url;

/// How long a started server may take to answer `/readyz`.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The server: where it listens, its process, and (when started here) its files.
pub struct Server {
    /// Base URL (no trailing slash), e.g. `http://127.0.0.1:40123`.
    pub base: String,
    /// Process id, for `/proc`.
    pub pid: u32,
    /// The platform admin token.
    pub admin_token: String,
    child: Option<tokio::process::Child>,
    dir: Option<tempfile::TempDir>,
}

/// Whether `url` names an IPv4 loopback address (127.0.0.0/8): the suite floods
/// nothing else, and its clients use other loopback addresses as their own.
pub fn is_loopback(url: &Url) -> bool {
    matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
}

/// The `tessera` binary next to this program (both are built into one target dir).
pub fn default_binary() -> Result<PathBuf> {
    let me = std::env::current_exe().context("locating this program")?;
    let dir = me.parent().context("this program has no directory")?;
    Ok(dir.join(format!("tessera{}", std::env::consts::EXE_SUFFIX)))
}

/// A TCP port free on 127.0.0.1 right now (the server binds it a moment later; the
/// public URL must name the port, so port 0 would not do).
fn free_port() -> Result<u16> {
    let l = TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
        .context("finding a free loopback port")?;
    Ok(l.local_addr()?.port())
}

impl Server {
    /// Starts `bin serve` with every `TESSERA_*` variable of this environment
    /// removed, so the server runs with its defaults, plus a listen address, public
    /// URL, data directory and admin token of its own; waits until it is ready.
    pub async fn start(bin: &Path, admin_token: String, keep: bool) -> Result<Self> {
        if !bin.is_file() {
            bail!(
                "no server binary at {} (build it: cargo build --workspace --bins, or pass --server-bin)",
                bin.display()
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("tessera-abuse-")
            .tempdir()
            .context("creating a temporary directory")?;
        let port = free_port()?;
        let base = format!("http://127.0.0.1:{port}");
        let log = std::fs::File::create(dir.path().join("server.log"))
            .context("creating the server log")?;
        let mut cmd = tokio::process::Command::new(bin);
        cmd.arg("serve");
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("TESSERA_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("TESSERA_LISTEN", format!("127.0.0.1:{port}"))
            .env("TESSERA_PUBLIC_URL", &base)
            .env("TESSERA_DATA_DIR", dir.path().join("data"))
            .env("TESSERA_ADMIN_TOKEN", &admin_token)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let mut server = Self {
            base,
            pid,
            admin_token,
            child: Some(child),
            dir: Some(dir),
        };
        if keep {
            // Leave the directory behind for a look at the log afterwards.
            if let Some(d) = server.dir.as_mut() {
                d.disable_cleanup(true);
            }
        }
        server.wait_ready().await?;
        Ok(server)
    }

    /// A server already running at `base` as process `pid`.
    pub fn attach(base: &str, pid: u32, admin_token: String) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            pid,
            admin_token,
            child: None,
            dir: None,
        }
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let http = Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()?;
        let started = Instant::now();
        let url = format!("{}/readyz", self.base);
        loop {
            if let Some(why) = self.gone() {
                bail!("the server exited ({why}):\n{}", self.log_tail(30));
            }
            if let Ok(r) = http.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "the server was not ready within {} s:\n{}",
                    START_TIMEOUT.as_secs(),
                    self.log_tail(30)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Why the server is not running any more, if it is not.
    pub fn gone(&mut self) -> Option<String> {
        match self.child.as_mut() {
            Some(child) => match child.try_wait() {
                Ok(Some(status)) => Some(status.to_string()),
                Ok(None) => None,
                Err(e) => Some(e.to_string()),
            },
            None if Path::new(&format!("/proc/{}", self.pid)).exists() => None,
            None => Some(format!("process {} not found", self.pid)),
        }
    }

    /// The server log file, for a server started here.
    pub fn log_path(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.path().join("server.log"))
    }

    /// The last `n` lines of the log of a server started here.
    pub fn log_tail(&self, n: usize) -> String {
        let Some(text) = self
            .log_path()
            .and_then(|p| std::fs::read_to_string(p).ok())
        else {
            return String::new();
        };
        let lines: Vec<&str> = text.lines().collect();
        lines
            .get(lines.len().saturating_sub(n)..)
            .unwrap_or_default()
            .join("\n")
    }

    /// Lines of the server log that record a panic.
    pub fn panics_logged(&self) -> usize {
        self.log_path()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map_or(0, |t| t.lines().filter(|l| l.contains("panicked")).count())
    }

    /// Stops a server started here (a server attached to is left running).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_urls_are_accepted() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(is_loopback(&u("http://127.0.0.1:8080")));
        assert!(is_loopback(&u("http://127.1.2.3")));
        assert!(!is_loopback(&u("http://localhost:1")));
        assert!(!is_loopback(&u("http://10.0.0.1")));
        assert!(!is_loopback(&u("https://id.example.com")));
        assert!(!is_loopback(&u("http://[::1]:8080")));
    }
}
