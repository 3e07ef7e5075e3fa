//! Metrics for Prometheus (README, "Monitoring"): the series of every request, connection and
//! store, kept in a registry of this server's own and written on each scrape, in the Prometheus
//! text format or in OpenMetrics.
//!
//! Every label value comes from a fixed set: an operationId from the route table (or `docs`,
//! `spec`, `other`), one of the methods HTTP defines (or `other`), a status the server sends. So
//! no request, however odd its path or method, adds a series, and a scrape costs the same
//! whatever the number of languages.

use std::{
    fs,
    sync::{Arc, OnceLock},
    time::Duration,
};

use poem::{
    IntoResponse, Request, Response,
    http::{
        HeaderValue, Method,
        header::{ACCEPT, ALLOW},
    },
};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, prometheus_text, text},
    metrics::{
        counter::{ConstCounter, Counter},
        family::Family,
        gauge::{ConstGauge, Gauge},
        histogram::Histogram,
    },
    registry::Registry,
};

use crate::{problem::Problem, store::Store};

/// The buckets of the request duration histogram, in seconds: 100 µs to 10 s.
const DURATION_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// What a request is counted under.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

/// The server's metrics: shared by the layers (requests), the server (connections) and the
/// metrics endpoint (everything else, read on each scrape).
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<OperationLabels, Histogram>,
    active_requests: Gauge,
    open_connections: Gauge,
    languages: Gauge,
    store: Store,
    rate_limited_clients: ClientCount,
}

/// How many clients the rate limiter counts, once limits are on: read at each scrape.
type ClientCount = Arc<OnceLock<Box<dyn Fn() -> usize + Send + Sync>>>;

impl Metrics {
    /// The metrics of a server over `store`.
    pub(crate) fn new(store: Store) -> Arc<Self> {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_server_requests",
            "Requests answered, by operation (operationId), method and status",
            requests.clone(),
        );
        let durations = Family::<OperationLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(DURATION_BUCKETS)) as fn() -> Histogram,
        );
        registry.register(
            "http_server_request_duration_seconds",
            "Time from a request's head to its response, by operation and method",
            durations.clone(),
        );
        let active_requests = Gauge::default();
        registry.register(
            "http_server_active_requests",
            "Requests being answered",
            active_requests.clone(),
        );
        let open_connections = Gauge::default();
        registry.register(
            "http_server_open_connections",
            "Client connections open",
            open_connections.clone(),
        );
        let languages = Gauge::default();
        registry.register(
            "prog_lang_api_languages",
            "Languages stored",
            languages.clone(),
        );
        registry.register_collector(Box::new(DatabaseCollector(store.clone())));
        let rate_limited_clients = ClientCount::default();
        registry.register_collector(Box::new(RateLimitCollector(Arc::clone(
            &rate_limited_clients,
        ))));
        registry.register_collector(Box::new(ProcessCollector::new()));
        Arc::new(Self {
            registry,
            requests,
            durations,
            active_requests,
            open_connections,
            languages,
            store,
            rate_limited_clients,
        })
    }

    /// Shows `count`, the clients the rate limiter counts, at each scrape (from the first call
    /// on; limits are off until then, and the series absent).
    pub(crate) fn count_rate_limited_clients(
        &self,
        count: impl Fn() -> usize + Send + Sync + 'static,
    ) {
        let _ = self.rate_limited_clients.set(Box::new(count));
    }

    /// Counts a request under way until the guard is dropped.
    pub(crate) fn request_started(&self) -> InFlight {
        self.active_requests.inc();
        InFlight(self.active_requests.clone())
    }

    /// The gauge of client connections open, which the server keeps.
    pub(crate) fn open_connections(&self) -> Gauge {
        self.open_connections.clone()
    }

    /// Records a request answered: `operation` as the route table names it (`None`: a path or a
    /// method the server does not answer).
    pub(crate) fn observe(
        &self,
        operation: Option<&'static str>,
        method: &Method,
        status: u16,
        took: Duration,
    ) {
        let operation = operation.unwrap_or("other");
        let method = method_label(method);
        self.requests
            .get_or_create(&RequestLabels {
                operation,
                method,
                status,
            })
            .inc();
        self.durations
            .get_or_create(&OperationLabels { operation, method })
            .observe(took.as_secs_f64());
    }

    /// Every series, in OpenMetrics text when `openmetrics`, else in the Prometheus text format;
    /// the store's size is read now, in one read whatever it holds.
    pub(crate) async fn scrape(&self, openmetrics: bool) -> String {
        if let Ok(count) = self.store.count().await {
            self.languages.set(i64::try_from(count).unwrap_or(i64::MAX));
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = if openmetrics {
            text::encode(&mut out, &self.registry)
        } else {
            prometheus_text::encode(&mut out, &self.registry)
        };
        out
    }

    /// The answer to a request on the metrics listener: the series for `GET /metrics` (OpenMetrics
    /// when `Accept` asks for it, else the Prometheus text format); a problem for anything else.
    pub(crate) async fn answer(&self, request: &Request) -> Response {
        let path = request.uri().path();
        if path != METRICS_PATH {
            return Problem::no_such_path(path).into_response();
        }
        if request.method() != Method::GET && request.method() != Method::HEAD {
            let mut response = Problem::method_not_allowed(path).into_response();
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        let openmetrics = request
            .headers()
            .get_all(ACCEPT)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .any(|value| value.contains("application/openmetrics-text"));
        let body = self.scrape(openmetrics).await;
        Response::builder()
            .content_type(if openmetrics {
                OPENMETRICS
            } else {
                PROMETHEUS_TEXT
            })
            .body(body)
    }
}

/// Where the metrics listener serves the series.
const METRICS_PATH: &str = "/metrics";

/// The Content-Types of the two formats.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROMETHEUS_TEXT: &str = prometheus_text::CONTENT_TYPE;

/// A request or connection counted in a gauge while it lasts.
pub(crate) struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// `method` as a label: the methods HTTP defines, by name; any other, `other`.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::TRACE,
        Method::CONNECT,
    ];
    KNOWN
        .iter()
        .find(|known| *known == method)
        .map_or("other", Method::as_str)
}

/// The PostgreSQL pool's connections and the store's errors, as the store has them at a scrape;
/// nothing for the in-memory store.
struct DatabaseCollector(Store);

impl std::fmt::Debug for DatabaseCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatabaseCollector")
    }
}

impl Collector for DatabaseCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(status) = self.0.database() else {
            return Ok(());
        };
        let connections = Family::<StateLabels, Gauge>::default();
        for (state, count) in [
            ("in_use", status.in_use),
            ("idle", status.idle),
            ("shared", status.shared),
        ] {
            connections
                .get_or_create(&StateLabels { state })
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
        connections.encode(encoder.encode_descriptor(
            "prog_lang_api_database_connections",
            "Connections to PostgreSQL, by state.",
            None,
            connections.metric_type(),
        )?)?;
        let waiting = ConstGauge::new(i64::try_from(status.waiting).unwrap_or(i64::MAX));
        waiting.encode(encoder.encode_descriptor(
            "prog_lang_api_database_connection_waits",
            "Operations waiting for a connection to PostgreSQL.",
            None,
            waiting.metric_type(),
        )?)?;
        let errors = ConstCounter::new(status.errors);
        errors.encode(encoder.encode_descriptor(
            "prog_lang_api_database_errors",
            "Store operations that failed: PostgreSQL out of reach, an error, or out of time.",
            None,
            errors.metric_type(),
        )?)?;
        Ok(())
    }
}

/// The clients the rate limiter counts at a scrape; nothing while limits are off.
struct RateLimitCollector(ClientCount);

impl std::fmt::Debug for RateLimitCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RateLimitCollector")
    }
}

impl Collector for RateLimitCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(count) = self.0.get() else {
            return Ok(());
        };
        let clients = ConstGauge::new(i64::try_from(count()).unwrap_or(i64::MAX));
        clients.encode(encoder.encode_descriptor(
            "prog_lang_api_rate_limit_clients",
            "Clients the rate limiter counts (a token, an address, or a crowd's shared count).",
            None,
            clients.metric_type(),
        )?)?;
        Ok(())
    }
}

/// The usual process series, read from `/proc` at each scrape (Linux; elsewhere, none).
#[derive(Debug)]
struct ProcessCollector {
    /// Clock ticks per second, and the page size, in which `/proc` counts.
    ticks_per_second: f64,
    page_size: u64,
    /// When the process started, in seconds since the Unix epoch.
    start_time: Option<f64>,
}

impl ProcessCollector {
    fn new() -> Self {
        let ticks_per_second = rustix::param::clock_ticks_per_second() as f64;
        let mut collector = Self {
            ticks_per_second,
            page_size: rustix::param::page_size() as u64,
            start_time: None,
        };
        collector.start_time = collector.start_time();
        collector
    }

    /// The fields of `/proc/self/stat` after the command's closing parenthesis, which may itself
    /// hold spaces and parentheses: field 3 (state) is the first.
    fn stat() -> Option<Vec<u64>> {
        let stat = fs::read_to_string("/proc/self/stat").ok()?;
        let (_, after) = stat.rsplit_once(')')?;
        Some(
            after
                .split_whitespace()
                .map(|field| field.parse().unwrap_or(0))
                .collect(),
        )
    }

    fn start_time(&self) -> Option<f64> {
        // Field 22: the start, in ticks since boot; `btime` in /proc/stat: the boot, since the
        // epoch.
        let started = *Self::stat()?.get(22 - 3)?;
        let boot: u64 = fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|line| line.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()?;
        Some(boot as f64 + started as f64 / self.ticks_per_second)
    }
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(stat) = Self::stat() else {
            return Ok(());
        };
        // Fields 14 and 15: user and system time, in ticks; 24: resident pages.
        let field = |number: usize| stat.get(number - 3).copied().unwrap_or(0);
        let cpu = ConstCounter::new((field(14) + field(15)) as f64 / self.ticks_per_second);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "User and system CPU time spent, in seconds.",
            None,
            cpu.metric_type(),
        )?)?;
        let resident = ConstGauge::new((field(24) * self.page_size) as f64);
        resident.encode(encoder.encode_descriptor(
            "process_resident_memory_bytes",
            "Resident memory size, in bytes.",
            None,
            resident.metric_type(),
        )?)?;
        if let Ok(fds) = fs::read_dir("/proc/self/fd") {
            let open = ConstGauge::new(fds.count() as f64);
            open.encode(encoder.encode_descriptor(
                "process_open_fds",
                "Open file descriptors.",
                None,
                open.metric_type(),
            )?)?;
        }
        let dropped = ConstCounter::new(crate::logging::dropped_lines());
        dropped.encode(encoder.encode_descriptor(
            "prog_lang_api_log_lines_dropped",
            "Log lines dropped because standard error did not keep up.",
            None,
            dropped.metric_type(),
        )?)?;
        if let Some(start_time) = self.start_time {
            let start = ConstGauge::new(start_time);
            start.encode(encoder.encode_descriptor(
                "process_start_time_seconds",
                "When the process started, in seconds since the Unix epoch.",
                None,
                start.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_http_s_are_other() {
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
    }

    #[test]
    fn the_process_started_within_the_hour() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after the epoch")
            .as_secs_f64();
        let started = ProcessCollector::new()
            .start_time
            .expect("a start time on Linux");
        assert!(
            started > now - 3600.0 && started <= now + 1.0,
            "{started} {now}"
        );
    }
}
