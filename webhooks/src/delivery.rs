//! The delivery worker: takes due deliveries from the outbox (`tenancy::journal::alerts`) and
//! attempts them — a signed POST to a webhook endpoint, or an email to the tenant's
//! security contacts — then records the outcome, which schedules a retry with
//! backoff when the attempt failed.
//!
//! Every node runs one; the outbox leases each attempt to exactly one worker, and no
//! tenant has more than [`MAX_IN_FLIGHT_PER_TENANT`] attempts in flight, so one
//! tenant's slow or failing receivers cannot hold up another tenant's alerts.

use std::{sync::Arc, time::Instant};

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use secrecy::ExposeSecret;
use tenancy::{
    DatabaseConnection,
    crypto::Keyring,
    crypto::secrets,
    journal::alerts::{
        channel, kinds,
        outbox::{self, AttemptOutcome, Claimed},
    },
};

use crate::{
    mail::{Email, Mailer},
    signing,
    ssrf::{self, Resolve, SystemResolver},
};

/// How many deliveries one pass takes at most.
pub const BATCH: u64 = 16;
/// Most attempts of one tenant in flight at a time, on all nodes together: a tenant
/// whose receivers are slow or failing takes at most this share of a pass, and the
/// rest of the batch goes round robin to the other tenants with due alerts (see
/// `tenancy::journal::alerts::outbox::claim_due`).
pub const MAX_IN_FLIGHT_PER_TENANT: u64 = 4;

/// One node's delivery worker.
pub struct Worker {
    db: DatabaseConnection,
    keyring: Arc<Keyring>,
    mail: Arc<Mailer>,
    allow_private: bool,
    owner: String,
    resolver: Arc<dyn Resolve>,
}

/// The result of one attempt before it is timed.
struct Attempted {
    succeeded: bool,
    status_code: Option<u16>,
    error: Option<String>,
}

impl Attempted {
    fn failed(status_code: Option<u16>, error: impl Into<String>) -> Self {
        Self {
            succeeded: false,
            status_code,
            error: Some(error.into()),
        }
    }
}

/// What one delivery pass did (for metrics and the loop's pacing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// Attempts that were delivered.
    pub delivered: u64,
    /// Attempts that failed (to be retried, or given up).
    pub failed: u64,
}

impl Pass {
    /// How many attempts the pass made.
    pub fn attempts(&self) -> u64 {
        self.delivered + self.failed
    }
}

impl Worker {
    /// A worker over `db`; `allow_private` disables the SSRF address check
    /// (`TESSERA_WEBHOOK_ALLOW_PRIVATE`).
    pub fn new(
        db: DatabaseConnection,
        keyring: Arc<Keyring>,
        mail: Arc<Mailer>,
        allow_private: bool,
    ) -> Self {
        Self {
            db,
            keyring,
            mail,
            allow_private,
            // Leases name their holder; a fresh id per process is enough.
            owner: format!("worker-{}", uuid::Uuid::new_v4().simple()),
            resolver: Arc::new(SystemResolver),
        }
    }

    /// One pass: claims up to [`BATCH`] due deliveries, fairly across tenants (at
    /// most [`MAX_IN_FLIGHT_PER_TENANT`] each), attempts them concurrently and records
    /// each outcome. Returns how many were attempted.
    pub async fn run_once(&self, now: DateTime<Utc>) -> tenancy::Result<Pass> {
        let claimed =
            outbox::claim_due(&self.db, &self.owner, BATCH, MAX_IN_FLIGHT_PER_TENANT, now).await?;
        let mut pass = Pass::default();
        let results = join_all(claimed.into_iter().map(|c| self.attempt(c, now))).await;
        for result in results {
            if result? {
                pass.delivered += 1;
            } else {
                pass.failed += 1;
            }
        }
        Ok(pass)
    }

    /// Makes one attempt; true when it was delivered.
    async fn attempt(&self, claimed: Claimed, now: DateTime<Utc>) -> tenancy::Result<bool> {
        let started = Instant::now();
        let attempted = match claimed.delivery.channel.as_str() {
            channel::WEBHOOK => self.webhook(&claimed, now).await,
            channel::EMAIL => self.email(&claimed).await,
            other => Attempted::failed(None, format!("unknown channel '{other}'")),
        };
        let elapsed = started.elapsed();
        let latency_ms = i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX);
        if let Some(error) = &attempted.error {
            tracing::info!(
                delivery_id = %claimed.delivery.id,
                attempt = claimed.delivery.attempts,
                error = %error,
                "alert delivery attempt failed"
            );
        }
        let succeeded = attempted.succeeded;
        let outcome = AttemptOutcome {
            succeeded,
            status_code: attempted.status_code,
            error: attempted.error,
            latency_ms,
            started_at: now,
        };
        let finished_at = now + chrono::Duration::from_std(elapsed).unwrap_or_default();
        outbox::finish(&self.db, &claimed.delivery, outcome, jitter(), finished_at).await?;
        Ok(succeeded)
    }

    async fn webhook(&self, claimed: &Claimed, now: DateTime<Utc>) -> Attempted {
        let Some(endpoint) = &claimed.endpoint else {
            return Attempted::failed(None, "the endpoint no longer exists");
        };
        if !endpoint.enabled && claimed.event.kind != kinds::WEBHOOK_TEST {
            return Attempted::failed(None, "the endpoint is disabled");
        }
        // Checked again at every attempt: DNS may have changed since the endpoint was saved.
        let target =
            match ssrf::vet_with(self.resolver.as_ref(), &endpoint.url, self.allow_private).await {
                Ok(target) => target,
                Err(err) => return Attempted::failed(None, format!("target refused: {err}")),
            };
        let Ok(secret) = tenancy::journal::webhooks::secret(&self.keyring, endpoint) else {
            return Attempted::failed(None, "the endpoint's secret cannot be decrypted");
        };
        let Ok(body) = serde_json::to_vec(&outbox::payload(&claimed.event, &claimed.tenant)) else {
            return Attempted::failed(None, "the event cannot be serialised");
        };
        let msg_id = outbox::message_id(&claimed.event);
        let timestamp = now.timestamp();
        let Ok(signature) = signing::sign(secret.expose_secret(), &msg_id, timestamp, &body) else {
            return Attempted::failed(None, "the endpoint's secret is malformed");
        };
        let Ok(client) = ssrf::client_for(&target) else {
            return Attempted::failed(None, "cannot build the HTTP client");
        };
        let sent = client
            .post(target.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &msg_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(resp) if resp.status().is_success() => Attempted {
                succeeded: true,
                status_code: Some(resp.status().as_u16()),
                error: None,
            },
            Ok(resp) if resp.status().is_redirection() => Attempted::failed(
                Some(resp.status().as_u16()),
                "the receiver redirected; redirects are not followed",
            ),
            Ok(resp) => Attempted::failed(
                Some(resp.status().as_u16()),
                format!("the receiver answered HTTP {}", resp.status().as_u16()),
            ),
            Err(err) if err.is_timeout() => Attempted::failed(None, "the request timed out"),
            Err(err) => Attempted::failed(None, describe(&err.without_url())),
        }
    }

    async fn email(&self, claimed: &Claimed) -> Attempted {
        let to: Vec<String> =
            serde_json::from_value(claimed.delivery.recipients.clone()).unwrap_or_default();
        if to.is_empty() {
            return Attempted::failed(None, "no recipients");
        }
        let (subject, text) = email_text(claimed);
        // One delivery per contact (see `tenancy::journal::alerts::raise`), so a retry never
        // repeats a message another contact already got.
        for recipient in to {
            let email = Email {
                to: recipient,
                subject: subject.clone(),
                text: text.clone(),
            };
            if let Err(err) = self.mail.send(&email).await {
                return Attempted::failed(None, err.to_string());
            }
        }
        Attempted {
            succeeded: true,
            status_code: None,
            error: None,
        }
    }
}

/// The subject and plain-text body of an alert email.
pub fn email_text(claimed: &Claimed) -> (String, String) {
    let tenant = &claimed.tenant;
    let event = &claimed.event;
    let subject = format!(
        "[Tessera] Security alert for {}: {}",
        tenant.display_name, event.kind
    );
    let details = serde_json::to_string_pretty(&event.details).unwrap_or_else(|_| "{}".to_owned());
    let body = format!(
        "A security event was recorded for tenant {name} ({slug}).\n\n\
         Event:    {kind}\n\
         When:     {when}\n\
         Event id: {id}\n\n\
         Details:\n{details}\n\n\
         You receive this because you are listed as a security contact of this tenant.\n",
        name = tenant.display_name,
        slug = tenant.slug,
        kind = event.kind,
        when = event.occurred_at.to_rfc3339(),
        id = outbox::message_id(event),
    );
    (subject, body)
}

/// A uniformly random fraction in `[0, 1)` for retry jitter.
fn jitter() -> f64 {
    let bytes = secrets::random_bytes::<8>().unwrap_or_default();
    // 53 random bits: exactly representable in an f64.
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1_u64 << 53) as f64
}

/// An error and its causes, without the URL (which may carry a receiver's token).
fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.chars().take(500).collect()
}
