//! Criterion micro-benchmarks of the per-request hot paths, through the same functions
//! the server calls:
//!
//! - `sign/*`: issuing an RFC 9068 access token (`access::claims` and `access::sign`: random `jti`,
//!   `jsonwebtoken::encode` through Tessera's crypto provider, which keeps RSA key
//!   pairs parsed) for RS256, PS256, ES256, EdDSA;
//! - `sign_bound/rs256_kept_keypair`: one bare RSA-2048 PKCS#1 v1.5 signature with a
//!   kept aws-lc-rs key pair: the bound `sign/RS256` is measured against;
//! - `verify/*`: `access::verify` (header, `kid` lookup, signature, claims, revoked-`jti`
//!   lookup in the in-process cache) per algorithm;
//! - `secrets/*`: Argon2id verification of a client secret or password (m=19 MiB, t=2,
//!   p=1, on the Argon2id workers with their kept memory, as the server does) and
//!   SHA-256 of a 43-character token;
//! - `storage/*`: an authorization code issued and taken from the in-process cache, and a
//!   refresh token stored and redeemed (rotated) on in-memory SQLite.
//!
//! Run with `cargo bench -p tenancy --bench hot_paths`; `cargo test --all-targets` runs
//! each benchmark once as a smoke test.

use std::{error::Error, hint::black_box, sync::Arc, time::Duration};

use aws_lc_rs::{rand::SystemRandom, signature::RSA_PKCS1_SHA256, signature::RsaKeyPair};
use chrono::{DateTime, TimeZone, Utc};
use criterion::Criterion;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use tenancy::{
    cache::memory::MemoryCache,
    core::Algorithm,
    core::SettingsPatch,
    core::TenantCtx,
    core::scopes::ScopeSet,
    crypto::secrets,
    crypto::{Keyring, MasterKey},
    journal::audit::Actor,
    keys::signing::{KeyStore, TenantKeys},
    keys::{self, KeyState, Schedule},
    oauth::codes::{self, CodeGrant},
    oauth::refresh::{self, NewRefresh, Redemption},
    oauth::tokens::access::{self, Subject},
    tenants::{self, NewTenant},
};
use uuid::Uuid;

type BoxResult<T> = Result<T, Box<dyn Error>>;

const ISSUER: &str = "http://127.0.0.1:8080/t/bench";

/// Everything the benchmarks share: one tenant with a current key of every algorithm.
struct Fixture {
    db: DatabaseConnection,
    tenant: TenantCtx,
    cache: MemoryCache,
    /// Parsed keys per algorithm, each with that algorithm signing.
    keys: Vec<(Algorithm, Arc<TenantKeys>)>,
    /// The tenant's RS256 private key (PKCS#8 DER), for the kept-key-pair bound.
    rsa_pkcs8: Vec<u8>,
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

impl Fixture {
    async fn new() -> BoxResult<Self> {
        let mut options = ConnectOptions::new("sqlite::memory:");
        // One connection: every connection to `sqlite::memory:` is its own database.
        options.max_connections(1).sqlx_logging(false);
        let db = Database::connect(options).await?;
        Migrator::up(&db, None).await?;
        let keyring = Arc::new(Keyring::new(MasterKey::from_bytes(&[7; 32]), []));
        let model = tenants::create(
            &db,
            &keyring,
            &Actor::system(),
            NewTenant {
                slug: "bench".into(),
                display_name: "Bench".into(),
                settings: SettingsPatch::default(),
            },
            now(),
        )
        .await?;
        let tenant = TenantCtx::from(&model);
        // A new tenant has a current RS256 key; add one current key of each other kind.
        for alg in [Algorithm::Ps256, Algorithm::Es256, Algorithm::EdDsa] {
            let key = keys::generate(alg).await?;
            keys::store(
                &db,
                &keyring,
                tenant.id,
                key,
                KeyState::Current,
                Schedule::default(),
                now(),
            )
            .await?;
        }
        let rsa = keys::list(&db, tenant.id)
            .await?
            .into_iter()
            .find(|k| k.alg == Algorithm::Rs256.as_str())
            .ok_or("the new tenant has no RS256 key")?;
        let rsa_pkcs8 = keys::decrypt_private_key(&keyring, &rsa)?;
        let mut parsed = Vec::new();
        for alg in Algorithm::ALL {
            // One store per algorithm: the store caches a tenant's keys whatever the order.
            let store = KeyStore::new(keyring.clone());
            let keys = store.get(&db, tenant.id, &[alg], now()).await?;
            if keys.signing_alg() != Some(alg) {
                return Err(format!("{} does not sign first", alg.as_str()).into());
            }
            parsed.push((alg, keys));
        }
        Ok(Self {
            db,
            tenant,
            cache: MemoryCache::new("bench"),
            keys: parsed,
            rsa_pkcs8,
        })
    }
}

fn subject() -> Subject {
    Subject {
        id: Uuid::now_v7().to_string(),
        auth_time: Some(now()),
        sid: Some("sid-0123456789".into()),
        grant_id: Some(Uuid::now_v7()),
    }
}

fn issue(keys: &TenantKeys, scope: &ScopeSet) -> tenancy::Result<String> {
    let claims = access::claims(
        ISSUER,
        "bench-client",
        &subject(),
        tenancy::core::claims::Audience::one("https://api.example/"),
        scope,
        300,
        now(),
    )?;
    access::sign(keys, &claims)
}

fn bench_signing(c: &mut Criterion, fx: &Fixture) -> BoxResult<()> {
    let scope = ScopeSet::from_tokens(["openid", "profile", "offline_access"]);
    let mut group = c.benchmark_group("sign");
    for (alg, keys) in &fx.keys {
        issue(keys, &scope)?;
        group.bench_function(alg.as_str(), |b| b.iter(|| black_box(issue(keys, &scope))));
    }
    group.finish();

    // A bare RS256 signature with a kept key pair: the bound for `sign/RS256`.
    let pair = RsaKeyPair::from_pkcs8(&fx.rsa_pkcs8).map_err(|e| e.to_string())?;
    let rng = SystemRandom::new();
    let message = issue(
        fx.keys
            .first()
            .map(|(_, k)| k.as_ref())
            .ok_or("no RS256 keys")?,
        &scope,
    )?;
    let signing_input = message.rsplit_once('.').map_or("", |(input, _)| input);
    let mut signature = vec![0; pair.public_modulus_len()];
    c.bench_function("sign_bound/rs256_kept_keypair", |b| {
        b.iter(|| {
            black_box(pair.sign(
                &RSA_PKCS1_SHA256,
                &rng,
                signing_input.as_bytes(),
                &mut signature,
            ))
        })
    });
    Ok(())
}

fn bench_verification(
    c: &mut Criterion,
    fx: &Fixture,
    rt: &tokio::runtime::Runtime,
) -> BoxResult<()> {
    let scope = ScopeSet::from_tokens(["openid", "profile"]);
    let mut group = c.benchmark_group("verify");
    for (alg, keys) in &fx.keys {
        let token = issue(keys, &scope)?;
        // A token's first presentation: the signature check and decoding.
        let first = || {
            keys.verify::<tenancy::core::AccessClaims>(
                &token,
                access::ACCESS_TOKEN_TYP,
                ISSUER,
                None,
                now(),
            )
        };
        first().map_err(|e| format!("{}: {e}", alg.as_str()))?;
        group.bench_function(alg.as_str(), |b| b.iter(|| black_box(first())));
        if *alg == Algorithm::Rs256 {
            // Every later one, as a resource server's calls present it: the memo of
            // verified tokens, the expiry check and the revoked-`jti` lookup.
            let check = || access::verify(keys, &fx.cache, fx.tenant.id, ISSUER, &token, now());
            rt.block_on(check())?
                .map_err(|e| format!("{}: {e}", alg.as_str()))?;
            group.bench_function("remembered_RS256", |b| {
                b.to_async(rt).iter(|| async { black_box(check().await) })
            });
        }
    }
    group.finish();
    Ok(())
}

fn bench_secrets(c: &mut Criterion, rt: &tokio::runtime::Runtime) -> BoxResult<()> {
    let secret = "a client secret of forty or so characters";
    let workers = tenancy::runtime::Workers::start(&tenancy::runtime::WorkerSettings::default());
    let phc = rt.block_on(secrets::hash_password(&workers, secret.into()))?;
    if !rt.block_on(secrets::verify_password(
        &workers,
        secret.into(),
        phc.clone(),
    ))? {
        return Err("argon2id does not verify its own hash".into());
    }
    let mut group = c.benchmark_group("secrets");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4));
    group.bench_function("argon2id_verify", |b| {
        b.to_async(rt)
            .iter(|| secrets::verify_password(&workers, secret.into(), phc.clone()))
    });
    group.finish();

    let token = secrets::random_token("")?;
    c.bench_function("secrets/sha256_hex_token", |b| {
        b.iter(|| secrets::sha256_hex(black_box(&token)))
    });
    Ok(())
}

fn code_grant() -> CodeGrant {
    CodeGrant {
        client_id: "bench-client".into(),
        redirect_uri: "http://127.0.0.1:3199/cb".into(),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        user_id: Uuid::now_v7(),
        scope: "openid offline_access".into(),
        resources: Vec::new(),
        nonce: Some("n-0S6_WzA2Mj".into()),
        auth_time: now().timestamp(),
        sid: "sid-0123456789".into(),
        amr: vec!["pwd".into()],
        expires_at: now().timestamp() + 60,
    }
}

fn bench_storage(c: &mut Criterion, fx: &Fixture, rt: &tokio::runtime::Runtime) -> BoxResult<()> {
    let grant = code_grant();
    let code_round_trip = || async {
        let code = codes::issue(&fx.cache, fx.tenant.id, &grant).await?;
        codes::take(&fx.cache, fx.tenant.id, &code).await
    };
    if rt.block_on(code_round_trip())?.as_ref() != Some(&grant) {
        return Err("a stored code does not come back".into());
    }
    c.bench_function("storage/code_issue_take_memory_cache", |b| {
        b.to_async(rt)
            .iter(|| async { black_box(code_round_trip().await) })
    });

    let new_refresh = || NewRefresh {
        family_id: Uuid::now_v7(),
        client_id: "bench-client".into(),
        user_id: Uuid::nil(),
        scope: "openid offline_access".into(),
        resources: Vec::new(),
        sid: Some("sid-0123456789".into()),
        auth_time: now(),
        amr: vec!["pwd".into()],
        family_expires_at: now() + chrono::Duration::days(30),
    };
    let refresh_round_trip = || async {
        let token = refresh::issue(&fx.db, &fx.tenant, new_refresh(), 86_400, now()).await?;
        let rows = tenancy::runtime::deferred::DeferredRows::immediate();
        refresh::redeem(&fx.db, &rows, &fx.tenant, &token, "bench-client", 0, now()).await
    };
    if !matches!(rt.block_on(refresh_round_trip())?, Redemption::Rotated(_)) {
        return Err("a stored refresh token does not rotate".into());
    }
    c.bench_function("storage/refresh_issue_redeem_sqlite_memory", |b| {
        b.to_async(rt)
            .iter(|| async { black_box(refresh_round_trip().await) })
    });
    Ok(())
}

fn main() -> BoxResult<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let fx = rt.block_on(Fixture::new())?;
    let mut c = Criterion::default().configure_from_args();
    bench_signing(&mut c, &fx)?;
    bench_verification(&mut c, &fx, &rt)?;
    bench_secrets(&mut c, &rt)?;
    bench_storage(&mut c, &fx, &rt)?;
    c.final_summary();
    Ok(())
}
