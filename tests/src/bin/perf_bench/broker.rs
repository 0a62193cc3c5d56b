//! The broker under measurement: a child process on a port chosen here, its log sent to a file
//! (or nowhere) rather than through the harness, so that a busy access log costs the harness
//! nothing; its memory and threads read from `/proc/<pid>/status`; its time in adapter
//! processes read from its own Prometheus counters.

use crate::http::{Conn, Target};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How the broker is started.
pub struct Launch {
    /// The broker binary.
    pub binary: PathBuf,
    /// `serve` arguments (`--config <file>`).
    pub args: Vec<String>,
    /// The working directory (the embedded default keeps its database under `./data`).
    pub cwd: PathBuf,
    /// `RUST_LOG` for the broker, when set.
    pub log_level: Option<String>,
    /// Where its stdout and stderr go (`None`: discarded).
    pub log_file: Option<PathBuf>,
    /// Basic-auth credentials.
    pub username: String,
    /// Basic-auth password.
    pub password: String,
}

/// A running broker. Dropping it kills the process.
pub struct Broker {
    child: Child,
    /// Where it listens, with its credentials.
    pub target: Target,
}

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("cannot bind a probe socket");
    listener.local_addr().expect("probe address").port()
}

impl Broker {
    /// Starts the broker and waits until `GET /v2/catalog` answers `200`; returns the broker
    /// and the time from spawning the process to that first answer.
    pub fn start(launch: &Launch) -> (Broker, Duration) {
        let port = free_port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let target = Target::new(addr, &launch.username, &launch.password);
        let (stdout, stderr) = match &launch.log_file {
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
                let copy = file.try_clone().expect("log file handle");
                (Stdio::from(copy), Stdio::from(file))
            }
            None => (Stdio::null(), Stdio::null()),
        };
        let mut command = Command::new(&launch.binary);
        command
            .arg("serve")
            .args(&launch.args)
            .current_dir(&launch.cwd)
            .env("BROKER_HOST", "127.0.0.1")
            .env("BROKER_PORT", port.to_string())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        match &launch.log_level {
            Some(level) => command.env("RUST_LOG", level),
            None => command.env_remove("RUST_LOG"),
        };
        let request = target.request("GET", "/v2/catalog", None);
        let spawned = Instant::now();
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", launch.binary.display()));
        let deadline = spawned + Duration::from_secs(60);
        loop {
            // A refused connect costs a few microseconds: poll tightly so the figure is the
            // broker's, not the poll interval's.
            let mut conn = Conn::new(&target);
            if let Ok(reply) = conn.send_raw(&request) {
                let took = spawned.elapsed();
                assert_eq!(reply.status, 200, "first catalog: {}", reply.text());
                return (Broker { child, target }, took);
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "the broker exited with {status} before answering{}",
                    launch
                        .log_file
                        .as_ref()
                        .map(|p| format!("; its log: {}", p.display()))
                        .unwrap_or_else(|| "; rerun with --broker-log FILE to see why".into())
                );
            }
            assert!(Instant::now() < deadline, "the broker did not answer within 60 s");
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Memory and threads now.
    pub fn status(&self) -> ProcStatus {
        ProcStatus::read(self.pid())
    }

    /// Seconds the broker has spent running adapter processes and how many it ran, from its
    /// `GET /metrics` counters.
    pub fn adapter_totals(&self) -> AdapterTotals {
        let mut conn = Conn::new(&self.target);
        let reply = conn.send("GET", "/metrics", None).expect("GET /metrics failed");
        assert_eq!(reply.status, 200, "GET /metrics: {}", reply.text());
        AdapterTotals::parse(&reply.text())
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Figures from `/proc/<pid>/status`, in KiB as the kernel gives them.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcStatus {
    /// Resident set size now (`VmRSS`).
    pub rss_kib: u64,
    /// The largest resident set so far (`VmHWM`).
    pub hwm_kib: u64,
    /// Resident anonymous memory (heap, stacks).
    pub anon_kib: u64,
    /// Resident file-backed memory (mostly the binary's own pages).
    pub file_kib: u64,
    /// Threads.
    pub threads: u64,
}

impl ProcStatus {
    /// Reads the status of process `pid` (zeros when it is gone).
    pub fn read(pid: u32) -> Self {
        let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        ProcStatus {
            rss_kib: field("VmRSS:"),
            hwm_kib: field("VmHWM:"),
            anon_kib: field("RssAnon:"),
            file_kib: field("RssFile:"),
            threads: field("Threads:"),
        }
    }
}

/// The broker's adapter counters.
#[derive(Debug, Clone, Copy, Default)]
pub struct AdapterTotals {
    /// Adapter processes run.
    pub calls: u64,
    /// Seconds spent in them, from spawn to exit and the last output read.
    pub seconds: f64,
}

impl AdapterTotals {
    /// Sums `on_demand_broker_adapter_calls_total` and `..._call_seconds_total` over every
    /// subcommand and outcome.
    pub fn parse(metrics: &str) -> Self {
        let mut totals = AdapterTotals::default();
        for line in metrics.lines() {
            let value = || line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok());
            if line.starts_with("on_demand_broker_adapter_calls_total{") {
                totals.calls += value().unwrap_or(0.0) as u64;
            } else if line.starts_with("on_demand_broker_adapter_call_seconds_total{") {
                totals.seconds += value().unwrap_or(0.0);
            }
        }
        totals
    }

    /// What was added between `earlier` and `self`.
    pub fn since(&self, earlier: &AdapterTotals) -> AdapterTotals {
        AdapterTotals { calls: self.calls - earlier.calls, seconds: self.seconds - earlier.seconds }
    }
}

/// The embedded default config with `broker.enable_plan_schemas` as given, written to `dir`,
/// so start-up can be timed with and without asking the adapter for schemas.
pub fn embedded_default_config(binary: &Path, dir: &Path, plan_schemas: bool) -> PathBuf {
    let out = Command::new(binary)
        .arg("print-default-config")
        .output()
        .expect("cannot run print-default-config");
    let text = String::from_utf8(out.stdout).expect("the default config is UTF-8");
    let line = "  enable_plan_schemas: true\n";
    assert!(
        text.contains(line),
        "the embedded default no longer says `{}`: update the harness",
        line.trim()
    );
    let text = text.replace(line, &format!("  enable_plan_schemas: {plan_schemas}\n"));
    let path = dir.join(format!("default-schemas-{plan_schemas}.yml"));
    std::fs::write(&path, text).expect("cannot write the config");
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adapter_counters_are_summed_over_subcommands() {
        let text = "# HELP x\n\
            on_demand_broker_adapter_calls_total{subcommand=\"generate-manifest\",outcome=\"exit_0\"} 3\n\
            on_demand_broker_adapter_calls_total{subcommand=\"dashboard-url\",outcome=\"exit_0\"} 2\n\
            on_demand_broker_adapter_call_seconds_total{subcommand=\"generate-manifest\",outcome=\"exit_0\"} 0.250000\n\
            on_demand_broker_adapter_call_seconds_total{subcommand=\"dashboard-url\",outcome=\"exit_0\"} 0.125000\n\
            on_demand_broker_http_responses_total{method=\"GET\",status=\"200\"} 9\n";
        let t = AdapterTotals::parse(text);
        assert_eq!(t.calls, 5);
        assert!((t.seconds - 0.375).abs() < 1e-9);
    }
}
