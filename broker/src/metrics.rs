//! The broker's Prometheus metrics (`GET /metrics`), kept with `prometheus-client` in one
//! [`Metrics`] value that the HTTP layer, the adapter client and the engine share (no
//! process-wide singleton).
//!
//! Every label comes from a closed set: HTTP methods outside the standard ones count as
//! `OTHER`, routes are the route templates (never a raw path with ids), adapter subcommands
//! and outcomes, operation kinds and states, plan names from the catalog. Gauges of
//! instances and quotas are read from the store when scraped.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Metric, Registry};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::time::Duration;

/// `method`, `status`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: &'static str,
    status: u16,
}

/// `method`, `route`, `status`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
    status: u16,
}

/// `subcommand`, `outcome`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AdapterLabels {
    subcommand: &'static str,
    outcome: String,
}

/// `call`, `outcome`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectorLabels {
    call: String,
    outcome: String,
}

/// `outcome`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

/// `kind`, `state`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    kind: &'static str,
    state: &'static str,
}

/// `plan`, `state`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InstanceLabels {
    plan: String,
    state: String,
}

/// `plan` (`_all` for the whole service), `quota`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QuotaLabels {
    plan: String,
    quota: String,
}

/// `version`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Request, adapter and operation durations: 1 ms to about 33 s.
fn short_durations() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// Operation durations: 100 ms to about 55 minutes.
fn long_durations() -> Histogram {
    Histogram::new(exponential_buckets(0.1, 2.0, 16))
}

/// The metrics and their registry.
pub struct Metrics {
    registry: Registry,
    http_responses: Family<HttpLabels, Counter>,
    http_duration: Histograms<RouteLabels>,
    adapter_calls: Family<AdapterLabels, Counter>,
    adapter_seconds: Family<AdapterLabels, Counter<f64, AtomicU64>>,
    adapter_duration: Histograms<AdapterLabels>,
    operations_finished: Family<OperationLabels, Counter>,
    operation_duration: Histograms<OperationLabels>,
    director_calls: Family<DirectorLabels, Counter>,
    director_duration: Histograms<DirectorLabels>,
    uaa_tokens: Family<OutcomeLabels, Counter>,
    operations_in_flight: Gauge<i64, AtomicI64>,
    instances: Family<InstanceLabels, Gauge>,
    quota_used: Family<QuotaLabels, Gauge>,
    quota_limit: Family<QuotaLabels, Gauge>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The metrics label of an HTTP method: one of the standard methods, else `OTHER`.
pub fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 9] =
        ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"];
    KNOWN.iter().find(|m| **m == method).copied().unwrap_or("OTHER")
}

/// Registers metrics in one registry and hands back the handles to keep (metrics are handles:
/// the clone kept is the same series as the one registered).
struct Registrar(Registry);

impl Registrar {
    /// A metric that starts from its default: a counter or gauge, or a family of them.
    fn metric<M: Metric + Clone + Default>(&mut self, name: &str, help: &str) -> M {
        let metric = M::default();
        self.0.register(name, help, metric.clone());
        metric
    }

    /// A family of histograms with the buckets that `buckets` makes.
    fn histograms<L>(&mut self, name: &str, help: &str, buckets: fn() -> Histogram) -> Histograms<L>
    where
        L: Clone + std::hash::Hash + Eq,
        Histograms<L>: Metric,
    {
        let family = Family::new_with_constructor(buckets);
        self.0.register(name, help, family.clone());
        family
    }

    /// The registry, with the broker's version registered last.
    fn finish(mut self) -> Registry {
        self.0.register(
            "build",
            "The broker's version",
            Info::new(BuildLabels { version: env!("CARGO_PKG_VERSION") }),
        );
        self.0
    }
}

impl Metrics {
    /// Fresh metrics, registered under the `on_demand_broker` prefix (in the order written
    /// here, which is the order of the exposition).
    pub fn new() -> Self {
        let mut r = Registrar(Registry::with_prefix("on_demand_broker"));
        Self {
            http_responses: r.metric("http_responses", "HTTP responses, by method and status"),
            http_duration: r.histograms(
                "http_request_duration_seconds",
                "Time to answer an HTTP request, by method, route template and status",
                short_durations,
            ),
            adapter_calls: r.metric(
                "adapter_calls",
                "Service adapter runs, by subcommand and outcome",
            ),
            adapter_seconds: r.metric(
                "adapter_call_seconds",
                "Time spent in service adapter runs, by subcommand and outcome",
            ),
            adapter_duration: r.histograms(
                "adapter_call_duration_seconds",
                "Duration of one service adapter run, by subcommand and outcome",
                short_durations,
            ),
            operations_finished: r.metric(
                "operations_finished",
                "Instance operations that reached a terminal state, by kind and state",
            ),
            operation_duration: r.histograms(
                "operation_duration_seconds",
                "Time from an operation's request to its terminal state, by kind and state",
                long_durations,
            ),
            director_calls: r.metric(
                "director_calls",
                "Calls to the BOSH director's API, by call (method and first path segment) and outcome",
            ),
            director_duration: r.histograms(
                "director_call_duration_seconds",
                "Duration of one call to the BOSH director's API, by call and outcome",
                short_durations,
            ),
            uaa_tokens: r.metric(
                "uaa_token_fetches",
                "UAA token requests for the director, by outcome",
            ),
            operations_in_flight: r.metric(
                "operations_in_flight",
                "Instance operations in progress",
            ),
            instances: r.metric(
                "instances",
                "Service instances that are not deleted, by plan and state",
            ),
            quota_used: r.metric(
                "quota_used",
                "Quota use, by plan (_all for the service) and quota (instances or a resource)",
            ),
            quota_limit: r.metric(
                "quota_limit",
                "Quota limits, by plan (_all for the service) and quota",
            ),
            registry: r.finish(),
        }
    }

    /// One HTTP answer; `route` is the route template (`unmatched` when none matched).
    pub fn http_answered(&self, method: &str, route: &str, status: u16, took: Duration) {
        let method = method_label(method);
        self.http_responses.get_or_create(&HttpLabels { method, status }).inc();
        self.http_duration
            .get_or_create(&RouteLabels { method, route: route.to_string(), status })
            .observe(took.as_secs_f64());
    }

    /// One adapter call: its subcommand, outcome (`exit_0`, `exit_10`, `timeout`, ...) and
    /// duration.
    pub fn adapter_called(&self, subcommand: &'static str, outcome: String, took: Duration) {
        let labels = AdapterLabels { subcommand, outcome };
        self.adapter_calls.get_or_create(&labels).inc();
        self.adapter_seconds.get_or_create(&labels).inc_by(took.as_secs_f64());
        self.adapter_duration.get_or_create(&labels).observe(took.as_secs_f64());
    }

    /// One operation reached a terminal state, `took` after it was requested.
    pub fn operation_finished(&self, kind: &'static str, state: &'static str, took: Duration) {
        let labels = OperationLabels { kind, state };
        self.operations_finished.get_or_create(&labels).inc();
        self.operation_duration.get_or_create(&labels).observe(took.as_secs_f64());
    }

    /// One call to the director: its kind (`GET /deployments`, ...), outcome (`2xx`, `4xx`,
    /// `unreachable`, ...) and duration.
    pub fn director_called(&self, call: &str, outcome: &str, took: Duration) {
        let labels = DirectorLabels { call: call.to_string(), outcome: outcome.to_string() };
        self.director_calls.get_or_create(&labels).inc();
        self.director_duration.get_or_create(&labels).observe(took.as_secs_f64());
    }

    /// One UAA token request, by outcome.
    pub fn uaa_token_fetched(&self, outcome: &str) {
        self.uaa_tokens.get_or_create(&OutcomeLabels { outcome: outcome.to_string() }).inc();
    }

    /// The Prometheus text exposition, with the gauges read from the store now:
    /// `instances` by (plan name, state), operations in flight, and quota use and limits
    /// by (plan name or `_all`, quota name).
    pub fn render(&self, gauges: &Gauges) -> String {
        self.instances.clear();
        for ((plan, state), n) in &gauges.instances {
            self.instances
                .get_or_create(&InstanceLabels { plan: plan.clone(), state: state.clone() })
                .set(*n as i64);
        }
        self.operations_in_flight.set(gauges.in_flight as i64);
        for (family, values) in
            [(&self.quota_used, &gauges.quota_used), (&self.quota_limit, &gauges.quota_limit)]
        {
            family.clear();
            for ((plan, quota), n) in values {
                family
                    .get_or_create(&QuotaLabels { plan: plan.clone(), quota: quota.clone() })
                    .set(*n as i64);
            }
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// The outcome label of an HTTP status: `2xx`, `3xx`, `4xx`, `5xx`.
pub fn status_class(status: u16) -> String {
    format!("{}xx", status / 100)
}

/// What the store says when `/metrics` is scraped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gauges {
    /// Live instances by (plan name, state).
    pub instances: BTreeMap<(String, String), u64>,
    /// Operations in progress.
    pub in_flight: u64,
    /// Quota use by (plan name or `_all`, quota name).
    pub quota_used: BTreeMap<(String, String), u64>,
    /// Quota limits by (plan name or `_all`, quota name).
    pub quota_limit: BTreeMap<(String, String), u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Metrics, String) {
        let m = Metrics::new();
        m.http_answered(
            "PUT",
            "/v2/service_instances/{instance_id}",
            202,
            Duration::from_millis(3),
        );
        m.http_answered(
            "PUT",
            "/v2/service_instances/{instance_id}",
            202,
            Duration::from_millis(5),
        );
        m.http_answered("MADEUP", "/v2/catalog", 401, Duration::ZERO);
        m.http_answered(&"X".repeat(16_000), "/v2/catalog", 401, Duration::ZERO);
        m.adapter_called("generate-manifest", "exit_0".into(), Duration::from_millis(1500));
        m.operation_finished("create", "succeeded", Duration::from_secs(2));
        m.director_called("POST /deployments", "3xx", Duration::from_millis(20));
        m.uaa_token_fetched("2xx");
        let gauges = Gauges {
            instances: BTreeMap::from([(("small".to_string(), "ready".to_string()), 3)]),
            in_flight: 1,
            quota_used: BTreeMap::from([(("small".to_string(), "instances".to_string()), 3)]),
            quota_limit: BTreeMap::from([(("small".to_string(), "instances".to_string()), 5)]),
        };
        let text = m.render(&gauges);
        (m, text)
    }

    #[test]
    fn renders_counters_gauges_and_histograms() {
        let (_, text) = sample();
        for line in [
            "on_demand_broker_http_responses_total{method=\"PUT\",status=\"202\"} 2",
            "on_demand_broker_http_responses_total{method=\"OTHER\",status=\"401\"} 2",
            "on_demand_broker_adapter_calls_total{subcommand=\"generate-manifest\",outcome=\"exit_0\"} 1",
            "on_demand_broker_adapter_call_seconds_total{subcommand=\"generate-manifest\",outcome=\"exit_0\"} 1.5",
            "on_demand_broker_operations_finished_total{kind=\"create\",state=\"succeeded\"} 1",
            "on_demand_broker_operations_in_flight 1",
            "on_demand_broker_instances{plan=\"small\",state=\"ready\"} 3",
            "on_demand_broker_quota_used{plan=\"small\",quota=\"instances\"} 3",
            "on_demand_broker_quota_limit{plan=\"small\",quota=\"instances\"} 5",
            "on_demand_broker_http_request_duration_seconds_count{method=\"PUT\",route=\"/v2/service_instances/{instance_id}\",status=\"202\"} 2",
            "on_demand_broker_adapter_call_duration_seconds_count{subcommand=\"generate-manifest\",outcome=\"exit_0\"} 1",
            "on_demand_broker_operation_duration_seconds_count{kind=\"create\",state=\"succeeded\"} 1",
            "on_demand_broker_director_calls_total{call=\"POST /deployments\",outcome=\"3xx\"} 1",
            "on_demand_broker_director_call_duration_seconds_count{call=\"POST /deployments\",outcome=\"3xx\"} 1",
            "on_demand_broker_uaa_token_fetches_total{outcome=\"2xx\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in:\n{text}");
        }
        assert!(text.contains("on_demand_broker_build_info{version=\""));
        assert!(text.contains("_bucket{"), "{text}");
        assert!(!text.contains("MADEUP"));
        assert!(!text.contains("XXXX"));
    }

    #[test]
    fn gauges_show_the_latest_scrape_only() {
        let (m, _) = sample();
        let text = m.render(&Gauges::default());
        assert!(!text.contains("on_demand_broker_instances{"), "{text}");
        assert!(text.lines().any(|l| l == "on_demand_broker_operations_in_flight 0"));
    }

    #[test]
    fn unknown_methods_are_other() {
        assert_eq!(method_label("GET"), "GET");
        assert_eq!(method_label("get"), "OTHER");
        assert_eq!(method_label("BREW"), "OTHER");
    }
}
