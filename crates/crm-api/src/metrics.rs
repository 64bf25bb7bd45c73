//! Prometheus metrics: request counts and latency by route and status, pool usage.

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool: IntGaugeVec,
}

impl Metrics {
    pub fn new() -> prometheus::Result<Metrics> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route, method and status"),
            &["route", "method", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency by route and method")
                .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]),
            &["route", "method"],
        )?;
        let pool =
            IntGaugeVec::new(Opts::new("db_pool_connections", "Database pool connections by state"), &["state"])?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(pool.clone()))?;
        Ok(Metrics { registry, requests, latency, pool })
    }

    pub fn observe(&self, route: &str, method: &str, status: &str, seconds: f64) {
        self.requests.with_label_values(&[route, method, status]).inc();
        self.latency.with_label_values(&[route, method]).observe(seconds);
    }

    /// The exposition text, with pool usage sampled now.
    pub fn render(&self, pool: (usize, usize, usize)) -> String {
        let (open, idle, max) = pool;
        self.pool.with_label_values(&["open"]).set(open as i64);
        self.pool.with_label_values(&["idle"]).set(idle as i64);
        self.pool.with_label_values(&["max"]).set(max as i64);
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}
