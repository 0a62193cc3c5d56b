//! Process-wide counters for the Prometheus endpoint (`GET /metrics`): HTTP answers, adapter
//! calls (count, outcome, time spent) and finished operations. Gauges (instances per plan and
//! state, operations in flight) are read from the store when scraped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Adapter runs by (subcommand, outcome): (count, seconds).
type AdapterRuns = BTreeMap<(&'static str, String), (u64, f64)>;

/// The counters.
#[derive(Debug, Default)]
pub struct Metrics {
    http: Mutex<BTreeMap<(&'static str, u16), u64>>,
    adapter: Mutex<AdapterRuns>,
    operations: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

/// The process's counters.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::default)
}

/// The metrics label of an HTTP method: one of the standard methods, else `OTHER`.
pub fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
    ];
    KNOWN
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("OTHER")
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// One HTTP answer. The method label comes from a closed set (any method the broker
    /// does not know counts as `OTHER`), so callers cannot add series.
    pub fn http_answered(&self, method: &str, status: u16) {
        *self
            .http
            .lock()
            .expect("metrics")
            .entry((method_label(method), status))
            .or_default() += 1;
    }

    /// One adapter call: its subcommand, outcome (`exit_0`, `exit_10`, `timeout`, ...) and duration.
    pub fn adapter_called(&self, subcommand: &'static str, outcome: String, took: Duration) {
        let mut adapter = self.adapter.lock().expect("metrics");
        let entry = adapter.entry((subcommand, outcome)).or_default();
        entry.0 += 1;
        entry.1 += took.as_secs_f64();
    }

    /// One operation reached a terminal state.
    pub fn operation_finished(&self, kind: &'static str, state: &'static str) {
        *self
            .operations
            .lock()
            .expect("metrics")
            .entry((kind, state))
            .or_default() += 1;
    }

    /// The Prometheus text exposition of the counters, plus the given gauges
    /// (`instances`: (plan name, state) → count; `in_flight`: operations in progress).
    pub fn render(&self, instances: &BTreeMap<(String, String), u64>, in_flight: u64) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP on_demand_broker_http_responses_total HTTP responses, by method and status."
        );
        let _ = writeln!(out, "# TYPE on_demand_broker_http_responses_total counter");
        for ((method, status), n) in self.http.lock().expect("metrics").iter() {
            let _ = writeln!(
                out,
                "on_demand_broker_http_responses_total{{method=\"{}\",status=\"{status}\"}} {n}",
                escape(method)
            );
        }
        let adapter = self.adapter.lock().expect("metrics");
        let _ = writeln!(out, "# HELP on_demand_broker_adapter_calls_total Service adapter runs, by subcommand and outcome.");
        let _ = writeln!(out, "# TYPE on_demand_broker_adapter_calls_total counter");
        for ((sub, outcome), (n, _)) in adapter.iter() {
            let _ = writeln!(
                out,
                "on_demand_broker_adapter_calls_total{{subcommand=\"{sub}\",outcome=\"{}\"}} {n}",
                escape(outcome)
            );
        }
        let _ = writeln!(out, "# HELP on_demand_broker_adapter_call_seconds_total Time spent in service adapter runs, by subcommand and outcome.");
        let _ = writeln!(
            out,
            "# TYPE on_demand_broker_adapter_call_seconds_total counter"
        );
        for ((sub, outcome), (_, secs)) in adapter.iter() {
            let _ = writeln!(
                out,
                "on_demand_broker_adapter_call_seconds_total{{subcommand=\"{sub}\",outcome=\"{}\"}} {secs:.6}",
                escape(outcome)
            );
        }
        drop(adapter);
        let _ = writeln!(out, "# HELP on_demand_broker_operations_finished_total Instance operations that reached a terminal state, by kind and state.");
        let _ = writeln!(
            out,
            "# TYPE on_demand_broker_operations_finished_total counter"
        );
        for ((kind, state), n) in self.operations.lock().expect("metrics").iter() {
            let _ = writeln!(out, "on_demand_broker_operations_finished_total{{kind=\"{kind}\",state=\"{state}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP on_demand_broker_operations_in_flight Instance operations in progress."
        );
        let _ = writeln!(out, "# TYPE on_demand_broker_operations_in_flight gauge");
        let _ = writeln!(out, "on_demand_broker_operations_in_flight {in_flight}");
        let _ = writeln!(out, "# HELP on_demand_broker_instances Service instances that are not deleted, by plan and state.");
        let _ = writeln!(out, "# TYPE on_demand_broker_instances gauge");
        for ((plan, state), n) in instances {
            let _ = writeln!(
                out,
                "on_demand_broker_instances{{plan=\"{}\",state=\"{}\"}} {n}",
                escape(plan),
                escape(state)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_gauges_in_prometheus_text_format() {
        let m = Metrics::default();
        m.http_answered("PUT", 202);
        m.http_answered("PUT", 202);
        m.adapter_called(
            "generate-manifest",
            "exit_0".into(),
            Duration::from_millis(1500),
        );
        m.operation_finished("create", "succeeded");
        let gauges = BTreeMap::from([(("small".to_string(), "ready".to_string()), 3)]);
        let text = m.render(&gauges, 1);
        for line in [
            "on_demand_broker_http_responses_total{method=\"PUT\",status=\"202\"} 2",
            "on_demand_broker_adapter_calls_total{subcommand=\"generate-manifest\",outcome=\"exit_0\"} 1",
            "on_demand_broker_adapter_call_seconds_total{subcommand=\"generate-manifest\",outcome=\"exit_0\"} 1.500000",
            "on_demand_broker_operations_finished_total{kind=\"create\",state=\"succeeded\"} 1",
            "on_demand_broker_operations_in_flight 1",
            "on_demand_broker_instances{plan=\"small\",state=\"ready\"} 3",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in:\n{text}");
        }
        assert_eq!(escape("a\"b\\c"), "a\\\"b\\\\c");
        m.http_answered("MADEUP", 401);
        m.http_answered(&"X".repeat(16_000), 401);
        let text = m.render(&gauges, 1);
        assert!(text.lines().any(
            |l| l == "on_demand_broker_http_responses_total{method=\"OTHER\",status=\"401\"} 2"
        ));
        assert!(!text.contains("MADEUP"));
    }
}
