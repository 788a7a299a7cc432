//! Prometheus metrics: `GET /metrics` in the text exposition format, for operators.
//! This module is a foundation (it imports no feature, so `db` may record into it); the
//! endpoint that reads the features' state at scrape time is `routes.rs`.
//!
//! Figures are recorded where they happen through the `metrics` facade (requests in the
//! router's request log, database checkouts in `db`, webhook attempts in the worker, tier
//! recomputations, login throttling) and rendered by `metrics-exporter-prometheus`;
//! figures that are a state rather than an event (connections in use, the webhook
//! outbox) are read when scraped. Labels come from closed sets only: the route's template
//! (`/api/v1/tickets/{id}`, never the id), the method, the status class, an outcome. No
//! customer, user, shop or address ever becomes a label, so the number of series does not
//! grow with the data (tested).
//!
//! The endpoint is off unless `METRICS_TOKEN` is set, and then answers only to
//! `Authorization: Bearer <METRICS_TOKEN>`, so that it never leaks to the public internet
//! through the API's own address.

use std::sync::OnceLock;
use std::time::Duration;

use actix_web::http::Method;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub mod routes;

/// Who may scrape.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct MetricsSettings {
    /// Bearer token Prometheus sends to GET /metrics (unset: the endpoint answers 404).
    #[arg(long = "metrics-token", env = "METRICS_TOKEN")]
    pub token: Option<String>,
}

/// Latency buckets in seconds: a millisecond to ten seconds.
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed on first use. Every app built in the process (the
/// server's workers, the tests' apps) records into the same one.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
            .expect("the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Fails only if something else installed a recorder first; its figures then go
        // there and this endpoint shows the scrape-time ones.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed");
        }
        let upkeep = handle.clone();
        // Histograms are kept in bounded windows that need draining now and then.
        let _ = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            });
        handle
    })
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

fn status_class(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// One request served: `route` is the matched template, or `None` for a path no route
/// matched (those share one label, whatever the path).
pub fn record_request(route: Option<&str>, method: &Method, status: u16, seconds: f64) {
    let route = route.unwrap_or("unmatched").to_owned();
    let method = method_label(method);
    metrics::counter!("aftercare_http_requests_total",
        "route" => route.clone(), "method" => method, "status" => status_class(status))
    .increment(1);
    metrics::histogram!("aftercare_http_request_duration_seconds",
        "route" => route, "method" => method)
    .record(seconds);
}

/// How long a request waited for a database connection; `timed_out` when it got none.
pub fn record_checkout(seconds: f64, timed_out: bool) {
    metrics::histogram!("aftercare_db_checkout_seconds").record(seconds);
    if timed_out {
        metrics::counter!("aftercare_db_checkout_timeouts_total").increment(1);
    }
}

/// Database work handed to the blocking pool and not started yet (+1 on hand-off, -1 on
/// start): the blocking pool's queue.
pub fn blocking_queue(change: f64) {
    metrics::gauge!("aftercare_blocking_queue").increment(change);
}

/// One webhook delivery attempt and how it went (`delivered` or `failed`).
pub fn record_webhook_attempt(outcome: &'static str) {
    metrics::counter!("aftercare_webhook_attempts_total", "outcome" => outcome).increment(1);
}

/// A tier recomputation of `scope` (`all`: the whole shop; `customer`: one customer).
pub fn record_tier_recompute(scope: &'static str, seconds: f64) {
    metrics::histogram!("aftercare_tier_recompute_seconds", "scope" => scope).record(seconds);
}

/// A login or password change refused with 429 by the throttling rules.
pub fn record_throttled() {
    metrics::counter!("aftercare_login_throttled_total").increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_closed_sets() {
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "OTHER");
        assert_eq!(status_class(204), "2xx");
        assert_eq!(status_class(599), "5xx");
        assert_eq!(status_class(0), "5xx");
    }
}
