//! The `tessera` binary: `serve` (default), `migrate`, `openapi`, `admin create-key`.

use std::sync::Arc;

use api::{LogFormat, Settings, startup};
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;

/// Tessera: a multi-tenant OAuth 2.1 and OpenID Connect server.
#[derive(Parser)]
#[command(
    name = "tessera",
    version,
    about = "Tessera: a multi-tenant OAuth 2.1 and OpenID Connect server"
)]
struct Cli {
    #[command(flatten)]
    settings: Settings,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the management API's OpenAPI document.
    Openapi,
    /// Re-encrypt every secret at rest under the current master key
    /// (`TESSERA_MASTER_KEY`), reading old ciphertexts with `TESSERA_PREVIOUS_MASTER_KEYS`.
    RotateMasterKey,
    /// Administrative tasks that work without a running server.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Mint a platform admin API key directly in the database and print it once.
    CreateKey {
        /// A label for the key.
        #[arg(long, default_value = "cli")]
        name: String,
    },
}

/// The server's allocator: jemalloc, which (configured in `.cargo/config.toml`) hands
/// freed memory back to the system from a background thread; glibc's malloc kept a
/// load test's freed memory resident (docs/performance.md: 37 MB less after four rows).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(cli.settings.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cli.settings).await,
        Command::Migrate => {
            let db = startup::connect_database(&cli.settings).await?;
            startup::migrate(&cli.settings, &db).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::RotateMasterKey => {
            let db = startup::connect_database(&cli.settings).await?;
            startup::migrate(&cli.settings, &db).await?;
            let keyring = startup::load_keyring(&cli.settings)?;
            let count = tenancy::keys::reencrypt_all(&db, &keyring)
                .await
                .map_err(|e| anyhow::anyhow!("re-encrypting signing keys: {e}"))?;
            let seeds = tenancy::accounts::mfa::totp::reencrypt_all(&db, &keyring)
                .await
                .map_err(|e| anyhow::anyhow!("re-encrypting TOTP seeds: {e}"))?;
            let secrets = tenancy::journal::webhooks::reencrypt_all(&db, &keyring)
                .await
                .map_err(|e| anyhow::anyhow!("re-encrypting webhook secrets: {e}"))?;
            println!(
                "re-encrypted {count} signing keys, {seeds} TOTP seeds and {secrets} webhook secrets under master key {}",
                keyring.current_id()
            );
            Ok(())
        }
        Command::Openapi => {
            print!("{}", openapi_document().await?);
            Ok(())
        }
        Command::Admin {
            command: AdminCommand::CreateKey { name },
        } => {
            let db = startup::connect_database(&cli.settings).await?;
            startup::migrate(&cli.settings, &db).await?;
            let created = tenancy::management::api_keys::create(
                &db,
                None,
                &tenancy::journal::audit::Actor::system(),
                name,
                "platform_admin",
                now(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("creating the key: {e}"))?;
            println!("{}", created.secret.expose_secret());
            Ok(())
        }
    }
}

#[expect(clippy::disallowed_methods, reason = "the CLI's one wall-clock read")]
fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

/// The document needs no storage: build it over throwaway in-memory state.
async fn openapi_document() -> anyhow::Result<String> {
    let dir = tempdir()?;
    let settings = Settings {
        data_dir: dir.clone(),
        listen: "127.0.0.1:0".into(),
        master_key: Some(
            tenancy::crypto::MasterKey::generate_encoded()
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .expose_secret()
                .to_owned(),
        ),
        ..Settings::default()
    };
    let app = api::Application::build(settings).await?;
    let doc = api::manage::document(app.state().clone());
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(doc)
}

fn tempdir() -> anyhow::Result<std::path::PathBuf> {
    let dir =
        std::env::temp_dir().join(format!("tessera-openapi-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let public = settings.public_base().to_owned();
    let mut app =
        api::Application::build_with_clock(settings, Arc::new(api::state::SystemClock)).await?;
    println!(
        "Tessera is listening on port {} — public URL {public}",
        app.port()
    );
    println!("  management API: {public}/api/v1   docs: {public}/api/docs");
    if let Some(key) = app.take_bootstrap_key() {
        println!();
        println!("  Bootstrap platform admin key (shown once — store it now):");
        println!("    {}", key.expose_secret());
        println!();
    }
    app.run_until(shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::{EnvFilter, fmt};
    let filter = EnvFilter::try_from_env("TESSERA_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
