//! Prometheus metrics, served as text at `/metrics`.
//!
//! One registry per running application (no process-wide global), so several servers
//! in one test process count separately. Route labels are the template of the route
//! that matched (`/t/{slug}/token`, taken from the router, never from the raw path),
//! and a request no route matched is one `other` series; method labels come from a
//! fixed list (anything else is `other`). So the number of series is bounded by the
//! route table: it does not grow with tenants, clients, users or random paths.

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

    /// Counts one finished HTTP request and the SQL statements it ran. `route` is the
    /// matched route's template ([`route_label`]), `method` the request method.
    pub fn observe_request(
        &self,
        route: &str,
        method: &str,
        status: u16,
        seconds: f64,
        statements: u32,
    ) {
        let method = method_label(method);
        self.http_requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
        self.http_duration
            .with_label_values(&[route])
            .observe(seconds);
        self.db_statements
            .with_label_values(&[route])
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

/// The label of requests no route matched (unknown paths): one series for all.
pub const OTHER: &str = "other";

/// The methods that get their own label value; any other method is [`OTHER`].
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// The label value of a request method: one of the fixed list of methods, else [`OTHER`].
pub fn method_label(method: &str) -> &'static str {
    METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or(OTHER)
}

/// The route label of a matched route template, as the router reports it
/// (`poem::route::PathPattern`, e.g. `/t/:slug/token`): parameters are written
/// `{name}` (`/t/{slug}/token`). No template (no route matched) is [`OTHER`].
pub fn route_label(pattern: Option<&str>) -> String {
    let Some(pattern) = pattern else {
        return OTHER.to_owned();
    };
    let route = pattern
        .split('/')
        .map(|segment| match segment.strip_prefix(':') {
            Some(name) => format!("{{{name}}}"),
            None => match segment.strip_prefix('*') {
                Some(name) => format!("{{*{name}}}"),
                None => segment.to_owned(),
            },
        })
        .collect::<Vec<_>>()
        .join("/");
    if route.is_empty() {
        "/".to_owned()
    } else {
        route
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_labels_are_templates_and_unmatched_requests_are_other() {
        assert_eq!(route_label(Some("/t/:slug/token")), "/t/{slug}/token");
        assert_eq!(
            route_label(Some("/api/v1/tenants/:tenant/users/:user_id")),
            "/api/v1/tenants/{tenant}/users/{user_id}"
        );
        assert_eq!(route_label(Some("/healthz")), "/healthz");
        assert_eq!(route_label(None), "other");
    }

    #[test]
    fn only_known_methods_get_their_own_label() {
        assert_eq!(method_label("GET"), "GET");
        assert_eq!(method_label("DELETE"), "DELETE");
        assert_eq!(method_label("PROPFIND"), "other");
        assert_eq!(method_label("get"), "other");
    }

    #[test]
    fn the_text_format_lists_every_family() {
        let metrics = Metrics::new().unwrap();
        metrics.observe_request("/t/{slug}/token", "POST", 200, 0.01, 3);
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
