//! Prometheus metrics, served as text at `/metrics`.
//!
//! One registry per running application (no process-wide global), so several servers
//! in one test process count separately. Route labels are URL templates
//! (`/t/{slug}/token`), never raw paths, so the number of series does not grow with
//! the number of tenants, clients or users.

use std::cell::Cell;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// Every metric Tessera exports.
pub struct Metrics {
    registry: Registry,
    /// Requests by route template, method and status.
    pub http_requests: IntCounterVec,
    /// Request latency by route template.
    pub http_duration: HistogramVec,
    /// Tokens issued by grant type.
    pub tokens_issued: IntCounterVec,
    /// Failed logins (wrong password, unknown user, bad second factor).
    pub login_failures: IntCounter,
    /// Requests refused by a rate limit or lockout, by kind.
    pub throttled: IntCounterVec,
    /// Webhook delivery attempts by outcome (`delivered`, `failed`, `retry`).
    pub webhook_deliveries: IntCounterVec,
    /// Signing-key events: `rotated` and `revoked` through the API, `lifecycle_step`
    /// for each promotion, scheduled rotation or removal by the background job.
    pub key_events: IntCounterVec,
    /// SQL statements each request ran, by route template (BEGIN and COMMIT are not
    /// statements here): the budget the performance work is held to.
    pub db_statements: HistogramVec,
    /// Open database connections in the pool.
    pub db_pool_connections: IntGauge,
    /// Idle database connections in the pool.
    pub db_pool_idle: IntGauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new_custom(Some("tessera".into()), None)?;
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route, method and status",
            ),
            &["route", "method", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["route"],
        )?;
        let tokens_issued = IntCounterVec::new(
            Opts::new("tokens_issued_total", "Token responses by grant type"),
            &["grant_type"],
        )?;
        let login_failures = IntCounter::new("login_failures_total", "Failed login attempts")?;
        let throttled = IntCounterVec::new(
            Opts::new(
                "throttled_total",
                "Requests refused by rate limits or lockouts",
            ),
            &["kind"],
        )?;
        let webhook_deliveries = IntCounterVec::new(
            Opts::new(
                "webhook_deliveries_total",
                "Webhook delivery attempts by outcome",
            ),
            &["outcome"],
        )?;
        let key_events = IntCounterVec::new(
            Opts::new("signing_key_events_total", "Signing-key lifecycle steps"),
            &["event"],
        )?;
        let db_statements = HistogramVec::new(
            HistogramOpts::new(
                "db_statements_per_request",
                "SQL statements run while serving a request, by route",
            )
            .buckets(vec![0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 32.0]),
            &["route"],
        )?;
        let db_pool_connections =
            IntGauge::new("db_pool_connections", "Open database connections")?;
        let db_pool_idle = IntGauge::new("db_pool_idle_connections", "Idle database connections")?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_duration.clone()))?;
        registry.register(Box::new(tokens_issued.clone()))?;
        registry.register(Box::new(login_failures.clone()))?;
        registry.register(Box::new(throttled.clone()))?;
        registry.register(Box::new(webhook_deliveries.clone()))?;
        registry.register(Box::new(key_events.clone()))?;
        registry.register(Box::new(db_statements.clone()))?;
        registry.register(Box::new(db_pool_connections.clone()))?;
        registry.register(Box::new(db_pool_idle.clone()))?;
        Ok(Self {
            registry,
            http_requests,
            http_duration,
            tokens_issued,
            login_failures,
            throttled,
            webhook_deliveries,
            key_events,
            db_statements,
            db_pool_connections,
            db_pool_idle,
        })
    }

    /// Counts one finished HTTP request and the SQL statements it ran.
    pub fn observe_request(
        &self,
        path: &str,
        method: &str,
        status: u16,
        seconds: f64,
        statements: u32,
    ) {
        let route = route_template(path);
        self.http_requests
            .with_label_values(&[route.as_str(), method, &status.to_string()])
            .inc();
        self.http_duration
            .with_label_values(&[route.as_str()])
            .observe(seconds);
        self.db_statements
            .with_label_values(&[route.as_str()])
            .observe(f64::from(statements));
    }

    /// The exposition text (Prometheus text format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(err) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %err, "encoding metrics failed");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

tokio::task_local! {
    /// SQL statements run so far by the request this task serves.
    static STATEMENTS: Cell<u32>;
}

/// Makes `db` count each statement it runs against the request being served (work
/// outside a request, such as background jobs, is not counted).
pub fn count_statements(db: &mut tenancy::DatabaseConnection) {
    db.set_metric_callback(|_| {
        let _ = STATEMENTS.try_with(|n| n.set(n.get().saturating_add(1)));
    });
}

/// Runs `request` with a statement counter; returns its output and the count.
pub async fn counting_statements<T>(request: impl Future<Output = T>) -> (T, u32) {
    STATEMENTS
        .scope(Cell::new(0), async {
            let out = request.await;
            (out, STATEMENTS.with(Cell::get))
        })
        .await
}

/// Counts `statements` run elsewhere (on the database lane) against this request.
pub fn add_statements(statements: u32) {
    let _ = STATEMENTS.try_with(|n| n.set(n.get().saturating_add(statements)));
}

/// Collections of the management API whose next path segment is an identifier.
const COLLECTIONS: &[&str] = &[
    "tenants",
    "clients",
    "users",
    "keys",
    "api-keys",
    "webhooks",
    "audit-events",
    "deliveries",
    "factors",
    "passkeys",
];

/// The route template of a request path: tenant slugs and resource ids become
/// placeholders, and anything unknown collapses to `other`.
pub fn route_template(path: &str) -> String {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut out: Vec<String> = Vec::with_capacity(segments.len());
    let mut previous = "";
    for (i, segment) in segments.iter().enumerate() {
        let templated = if i > 0 && previous == "t" {
            "{slug}".to_owned()
        } else if out.first().is_some_and(|f| f == "api") && COLLECTIONS.contains(&previous) {
            "{id}".to_owned()
        } else {
            (*segment).to_owned()
        };
        previous = segment;
        out.push(templated);
    }
    let route = format!("/{}", out.join("/"));
    // Bound the label set: very long or odd paths are not a route of ours.
    if route.len() > 96 || segments.len() > 8 {
        "other".into()
    } else {
        route
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_hide_slugs_and_ids() {
        assert_eq!(route_template("/t/acme/token"), "/t/{slug}/token");
        assert_eq!(
            route_template("/t/acme/.well-known/openid-configuration"),
            "/t/{slug}/.well-known/openid-configuration"
        );
        assert_eq!(
            route_template("/api/v1/tenants/acme/users/0190-abc/password"),
            "/api/v1/tenants/{id}/users/{id}/password"
        );
        assert_eq!(
            route_template("/.well-known/oauth-authorization-server/t/acme"),
            "/.well-known/oauth-authorization-server/t/{slug}"
        );
        assert_eq!(route_template("/healthz"), "/healthz");
        assert_eq!(route_template(&"/x".repeat(20)), "other");
    }

    #[test]
    fn the_text_format_lists_every_family() {
        let metrics = Metrics::new().unwrap();
        metrics.observe_request("/t/acme/token", "POST", 200, 0.01, 3);
        metrics
            .tokens_issued
            .with_label_values(&["client_credentials"])
            .inc();
        let text = metrics.render();
        assert!(text.contains(
            r#"tessera_http_requests_total{method="POST",route="/t/{slug}/token",status="200"} 1"#
        ));
        assert!(text.contains("tessera_http_request_duration_seconds_bucket"));
        assert!(
            text.contains(r#"tessera_db_statements_per_request_sum{route="/t/{slug}/token"} 3"#)
        );
        assert!(text.contains(r#"tessera_tokens_issued_total{grant_type="client_credentials"} 1"#));
    }
}
