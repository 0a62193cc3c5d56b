//! `perf-bench`: measures the broker against its performance targets and prints one table,
//! each figure beside its target.
//!
//! It starts the release broker binary with the simulated director (instant tasks) and the
//! compiled `test-adapter` (or, with `--director fake`, the fake BOSH director of this crate
//! over HTTPS), and measures in turn:
//!
//! 1. start-up: from spawning the process to the first `200` of `GET /v2/catalog`, on the
//!    embedded default config without plan schemas (a fresh database, and a restart on an
//!    existing one), and with the plan schemas the embedded default asks the adapter for;
//! 2. memory when idle (`VmRSS` from `/proc/<pid>/status`);
//! 3. the catalog under a closed-loop load at concurrency 1 and 16: answers per second, p50
//!    and p99;
//! 4. the latency of each OSB call;
//! 5. sequential lifecycles (provision, poll, bind, unbind, deprovision, poll): the time of
//!    one, the time the broker spent in adapter processes (its own counters), and the
//!    difference, the broker's overhead;
//! 6. 50 lifecycles over 8 clients, wall time;
//! 7. 1,000 lifecycles over 8 clients, memory every 100, to show that it stays flat.
//!
//! Every figure with a spread is the median of `--runs` repetitions; the machine is shared
//! and noisy, so compare medians, and runs on the same machine only.
//!
//! ```sh
//! cargo build --release -p on-demand-broker -p broker-tests
//! target/release/perf-bench
//! ```

mod broker;
mod http;
mod lifecycle;
mod report;

use broker::{embedded_default_config, AdapterTotals, Broker, Launch, ProcStatus};
use broker_tests::{BrokerConfig, FakeDirector};
use http::{Conn, Target as HttpTarget};
use lifecycle::CallTimes;
use report::{mb, median, ms, Row, Section, Target};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const USAGE: &str = "usage: perf-bench [--runs N] [--seconds S] [--starts N] [--lifecycles N] \
[--clients N] [--soak N] [--director simulated|fake] [--log-level FILTER] [--broker-log FILE]
[--set KEY=VALUE ...]

  --runs N          repetitions of each timed phase; figures are medians (default 5)
  --seconds S       measured seconds per catalog load run, after 0.5 s of warm-up (default 2)
  --starts N        broker starts timed per start-up figure (default 7)
  --lifecycles N    lifecycles in the parallel phase (default 50)
  --clients N       client threads in the parallel and soak phases (default 8)
  --soak N          lifecycles in the memory soak (default 1000; 0 skips it)
  --director D      simulated (default): the broker's simulated director, instant tasks;
                    fake: this crate's fake BOSH director over HTTPS, instant tasks
  --log-level F     RUST_LOG for the broker (default: unset, the broker's own default)
  --broker-log FILE append the broker's log to FILE (default: discarded)
  --set KEY=VALUE   set a config key of the measured broker (dotted, YAML value), for
                    example --set broker.http_workers=1; repeatable";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DirectorKind {
    Simulated,
    Fake,
}

#[derive(Debug, Clone)]
struct Options {
    runs: usize,
    seconds: f64,
    starts: usize,
    lifecycles: usize,
    clients: usize,
    soak: usize,
    director: DirectorKind,
    log_level: Option<String>,
    broker_log: Option<PathBuf>,
    /// Config keys set on the measured broker, as one YAML document to merge.
    set: serde_yaml::Value,
}

fn parse_options() -> Options {
    let mut o = Options {
        runs: 5,
        seconds: 2.0,
        starts: 7,
        lifecycles: 50,
        clients: 8,
        soak: 1000,
        director: DirectorKind::Simulated,
        log_level: None,
        broker_log: None,
        set: serde_yaml::Value::Mapping(Default::default()),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let fail = |why: &str| -> ! {
        eprintln!("perf-bench: {why}\n{USAGE}");
        std::process::exit(2)
    };
    let mut i = 0;
    while i < args.len() {
        let flag = args[i].as_str();
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let Some(value) = args.get(i + 1) else { fail(&format!("{flag} needs a value")) };
        let count = || match value.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => fail(&format!("{flag} takes a positive whole number, not {value:?}")),
        };
        match flag {
            "--runs" => o.runs = count(),
            "--starts" => o.starts = count(),
            "--lifecycles" => o.lifecycles = count(),
            "--clients" => o.clients = count(),
            "--soak" => {
                o.soak = value
                    .parse()
                    .unwrap_or_else(|_| fail(&format!("--soak takes a number, not {value:?}")))
            }
            "--seconds" => match value.parse::<f64>() {
                Ok(s) if s > 0.0 && s <= 60.0 => o.seconds = s,
                _ => fail(&format!("--seconds takes 0 < S <= 60, not {value:?}")),
            },
            "--director" => {
                o.director = match value.as_str() {
                    "simulated" => DirectorKind::Simulated,
                    "fake" => DirectorKind::Fake,
                    _ => fail(&format!("--director is simulated or fake, not {value:?}")),
                }
            }
            "--log-level" => o.log_level = Some(value.clone()),
            "--broker-log" => o.broker_log = Some(PathBuf::from(value)),
            "--set" => {
                let Some((key, text)) = value.split_once('=') else {
                    fail(&format!("--set takes KEY=VALUE, not {value:?}"))
                };
                let parsed: serde_yaml::Value = serde_yaml::from_str(text)
                    .unwrap_or_else(|e| fail(&format!("--set {key}: {e}")));
                let mut at = &mut o.set;
                for part in key.split('.') {
                    let map = at.as_mapping_mut().expect("--set keys are mappings");
                    at = map
                        .entry(part.into())
                        .or_insert_with(|| serde_yaml::Value::Mapping(Default::default()));
                }
                *at = parsed;
            }
            _ => fail(&format!("unknown option {flag}")),
        }
        i += 2;
    }
    o
}

fn launch_for(options: &Options, config: PathBuf, cwd: PathBuf) -> Launch {
    Launch {
        binary: broker_tests::broker_binary(),
        args: vec!["--config".into(), config.to_string_lossy().into_owned()],
        cwd,
        log_level: options.log_level.clone(),
        log_file: options.broker_log.clone(),
        username: "admin".into(),
        password: "password".into(),
    }
}

/// Start-up to the first catalog answer, in ms: `starts` fresh starts and as many restarts on
/// the database the fresh start made, with or without plan schemas.
fn startup(options: &Options, plan_schemas: bool) -> (Vec<f64>, Vec<f64>) {
    let binary = broker_tests::broker_binary();
    let (mut fresh, mut again) = (Vec::new(), Vec::new());
    for _ in 0..options.starts {
        let dir = tempfile::Builder::new()
            .prefix("perf-bench-start-")
            .tempdir()
            .expect("temporary directory");
        let config = embedded_default_config(&binary, dir.path(), plan_schemas);
        let launch = launch_for(options, config, dir.path().to_path_buf());
        let (broker, took) = Broker::start(&launch);
        drop(broker);
        fresh.push(ms(took));
        let (broker, took) = Broker::start(&launch);
        drop(broker);
        again.push(ms(took));
    }
    (fresh, again)
}

/// Runs `count` lifecycles over `clients` threads, instance ids `<prefix>-<n>`; returns the
/// wall time and the call times.
fn parallel(
    target: &HttpTarget, prefix: &str, count: usize, clients: usize,
) -> (Duration, CallTimes) {
    let next = Arc::new(AtomicUsize::new(0));
    let times = Arc::new(Mutex::new(CallTimes::new()));
    let started = Instant::now();
    let threads: Vec<_> = (0..clients.min(count))
        .map(|_| {
            let (next, times, target) = (next.clone(), times.clone(), target.clone());
            let prefix = prefix.to_string();
            std::thread::spawn(move || {
                let mut conn = Conn::new(&target);
                let mut mine = CallTimes::new();
                loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    if n >= count {
                        break;
                    }
                    lifecycle::run(&mut conn, &format!("{prefix}-{n}"), &mut mine);
                }
                let mut all = times.lock().unwrap();
                for (k, v) in mine {
                    all.entry(k).or_default().extend(v);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a client thread failed");
    }
    let wall = started.elapsed();
    let times = Arc::try_unwrap(times).unwrap().into_inner().unwrap();
    (wall, times)
}

fn quantile_ms(values: &mut [Duration], p: f64) -> f64 {
    values.sort_unstable();
    let ns: Vec<u64> = values.iter().map(|d| d.as_nanos() as u64).collect();
    http::quantile(&ns, p) as f64 / 1e6
}

fn memory_rows(rows: &mut Vec<Row>, when: &str, s: &ProcStatus, target: Target) {
    rows.push(Row::one(format!("RSS {when} (VmRSS)"), mb(s.rss_kib), "MB", target));
    rows.push(Row::one(
        format!("  anonymous (heap, stacks), {when}"),
        mb(s.anon_kib),
        "MB",
        Target::None,
    ));
    rows.push(Row::one(
        format!("  file-backed (binary pages), {when}"),
        mb(s.file_kib),
        "MB",
        Target::None,
    ));
    rows.push(Row::one(format!("  threads, {when}"), s.threads as f64, "", Target::None));
}

/// Sequential lifecycles per run.
const SEQUENTIAL: usize = 20;

/// A directory on tmpfs for a database that never waits for a disk, when there is one.
fn tmpfs_dir() -> Option<tempfile::TempDir> {
    let shm = std::path::Path::new("/dev/shm");
    shm.is_dir()
        .then(|| tempfile::Builder::new().prefix("perf-bench-db-").tempdir_in(shm).ok())
        .flatten()
}

/// Starts the broker for the load phases: the test adapter, instant tasks on the simulated
/// director (or `fake`), its database in `db_dir` when given (else beside the config).
fn start_bench_broker(
    options: &Options, fake: Option<&FakeDirector>, db_dir: Option<&tempfile::TempDir>,
) -> (Broker, BrokerConfig, Option<PathBuf>) {
    let mut config = BrokerConfig::new().task_seconds(0).extra_yaml(options.set.clone());
    if let Some(fake) = fake {
        config = config.bosh(fake.bosh_config());
    }
    let db = db_dir.map(|d| d.path().join("broker.db"));
    if let Some(db) = &db {
        config = config.extra_yaml(
            serde_yaml::to_value(serde_json::json!({"database": {"path": db}})).expect("YAML"),
        );
    }
    let yaml = serde_yaml::to_string(&config.render()).expect("config YAML");
    std::fs::write(config.config_path(), yaml).expect("cannot write the broker config");
    let launch = launch_for(options, config.config_path(), config.dir().to_path_buf());
    let (broker, _) = Broker::start(&launch);
    (broker, config, db)
}

/// The catalog under load at concurrency 1 and 16.
fn catalog(options: &Options, broker: &Broker) -> Section {
    let request = broker.target.request("GET", "/v2/catalog", None);
    let mut rows = Vec::new();
    for connections in [1usize, 16] {
        let (mut rate, mut p50, mut p99) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..options.runs {
            let run = http::load(
                &broker.target,
                &request,
                connections,
                Duration::from_millis(500),
                Duration::from_secs_f64(options.seconds),
            )
            .unwrap_or_else(|e| panic!("catalog load at concurrency {connections}: {e}"));
            rate.push(run.rate());
            p50.push(ms(run.quantile(0.5)));
            p99.push(ms(run.quantile(0.99)));
        }
        let floor = if connections == 1 { 12_000.0 } else { 80_000.0 };
        rows.push(Row::runs(
            format!("concurrency {connections}: answers per second"),
            &rate,
            "req/s",
            Target::AtLeast(floor),
        ));
        rows.push(Row::runs(format!("concurrency {connections}: p50"), &p50, "ms", Target::None));
        rows.push(Row::runs(
            format!("concurrency {connections}: p99"),
            &p99,
            "ms",
            if connections == 16 { Target::AtMost(1.0) } else { Target::None },
        ));
    }
    Section {
        title: format!(
            "GET /v2/catalog, closed loop, {} s per run after 0.5 s warm-up",
            options.seconds
        ),
        rows,
    }
}

/// What the sequential lifecycles measured, one value per run.
struct Sequential {
    one: Vec<f64>,
    adapter: Vec<f64>,
    overhead: Vec<f64>,
    polls: Vec<f64>,
    adapter_calls: u64,
}

impl Sequential {
    fn rows(&self, suffix: &str) -> Vec<Row> {
        vec![
            Row::runs(
                format!("one lifecycle, sequential (median){suffix}"),
                &self.one,
                "ms",
                Target::None,
            ),
            Row::runs(
                format!("  time in adapter processes ({} runs){suffix}", self.adapter_calls),
                &self.adapter,
                "ms",
                Target::None,
            ),
            Row::runs(
                format!("  broker overhead (lifecycle minus adapter time){suffix}"),
                &self.overhead,
                "ms",
                if suffix.is_empty() { Target::AtMost(5.0) } else { Target::None },
            ),
            Row::runs(
                format!("  last_operation polls per lifecycle{suffix}"),
                &self.polls,
                "",
                Target::None,
            ),
        ]
    }
}

/// `--runs` runs of [`SEQUENTIAL`] lifecycles on one connection. The overhead of a run is its
/// time in requests minus the broker's time in adapter processes, per lifecycle.
fn sequential(
    options: &Options, broker: &Broker, prefix: &str, call_times: &mut CallTimes,
) -> Sequential {
    let mut conn = Conn::new(&broker.target);
    let mut out = Sequential {
        one: Vec::new(),
        adapter: Vec::new(),
        overhead: Vec::new(),
        polls: Vec::new(),
        adapter_calls: 0,
    };
    for run in 0..options.runs {
        let before = broker.adapter_totals();
        let mut busy = Vec::new();
        let mut polls = 0;
        for n in 0..SEQUENTIAL {
            let l = lifecycle::run(&mut conn, &format!("{prefix}-{run}-{n}"), call_times);
            busy.push(ms(l.busy));
            polls += l.polls;
        }
        let spent: AdapterTotals = broker.adapter_totals().since(&before);
        let per = SEQUENTIAL as f64;
        out.adapter_calls = spent.calls / SEQUENTIAL as u64;
        out.one.push(median(&busy));
        out.adapter.push(spent.seconds * 1000.0 / per);
        out.overhead.push((busy.iter().sum::<f64>() - spent.seconds * 1000.0) / per);
        out.polls.push(f64::from(polls) / per);
    }
    out
}

/// `--runs` runs of `--lifecycles` lifecycles over `--clients` clients: wall seconds.
fn parallel_runs(options: &Options, broker: &Broker, prefix: &str) -> Vec<f64> {
    (0..options.runs)
        .map(|run| {
            let (wall, _) = parallel(
                &broker.target,
                &format!("{prefix}-{run}"),
                options.lifecycles,
                options.clients,
            );
            wall.as_secs_f64()
        })
        .collect()
}

fn main() {
    let options = parse_options();
    let began = Instant::now();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let set = serde_yaml::to_string(&options.set).unwrap_or_default();
    println!(
        "perf-bench: {cores} cores, load average {}, director {:?}, broker log level {}, {} runs per figure{}",
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        options.director,
        options.log_level.as_deref().unwrap_or("(default)"),
        options.runs,
        if options.set.as_mapping().is_some_and(|m| !m.is_empty()) {
            format!(", config set: {}", set.trim().replace('\n', "; "))
        } else {
            String::new()
        }
    );
    let mut sections = Vec::new();

    // 1. Start-up.
    eprintln!("[perf-bench] start-up ...");
    let (fresh, again) = startup(&options, false);
    let starts = options.starts.div_ceil(2);
    let (schemas, _) = startup(&Options { starts, ..options.clone() }, true);
    sections.push(Section {
        title: format!(
            "start-up to the first catalog answer, embedded default ({} starts each)",
            options.starts
        ),
        rows: vec![
            Row::runs("without plan schemas, fresh database", &fresh, "ms", Target::AtMost(10.0)),
            Row::runs(
                "without plan schemas, existing database",
                &again,
                "ms",
                Target::AtMost(10.0),
            ),
            Row::runs(
                format!("with plan schemas (as shipped), fresh database ({starts} starts)"),
                &schemas,
                "ms",
                Target::None,
            ),
        ],
    });

    // The broker under load.
    let fake = (options.director == DirectorKind::Fake)
        .then(|| FakeDirector::start_basic("director", "director-secret"));
    let (broker, _config, _db) = start_bench_broker(&options, fake.as_ref(), None);
    std::thread::sleep(Duration::from_secs(1));
    let idle = broker.status();

    // 3. Catalog.
    eprintln!("[perf-bench] catalog load ...");
    sections.push(catalog(&options, &broker));
    let after_catalog = broker.status();

    // 4, 5 and 6. Per-call latency, sequential and parallel lifecycles.
    eprintln!("[perf-bench] lifecycles ...");
    let mut call_times = CallTimes::new();
    lifecycle::reads(&mut Conn::new(&broker.target), "reads", 200, &mut call_times);
    let seq = sequential(&options, &broker, "seq", &mut call_times);
    let walls = parallel_runs(&options, &broker, "par");
    let mut latency_rows = Vec::new();
    for (name, values) in call_times.iter_mut() {
        let count = values.len();
        latency_rows.push(Row::one(
            format!("{name}: p50 ({count} calls)"),
            quantile_ms(values, 0.5),
            "ms",
            Target::None,
        ));
        latency_rows.push(Row::one(
            format!("{name}: p99"),
            quantile_ms(values, 0.99),
            "ms",
            Target::None,
        ));
    }
    sections.push(Section {
        title: "latency per OSB call, one client (lifecycle calls include adapter runs)".into(),
        rows: latency_rows,
    });
    let mut rows = seq.rows("");
    rows.push(Row::runs(
        format!("{} lifecycles over {} clients, wall time", options.lifecycles, options.clients),
        &walls,
        "s",
        Target::AtMost(1.0),
    ));
    let after_lifecycles = broker.status();

    // The same with the database in memory: what is left is the broker's own work, and the
    // difference is the time spent waiting for the disk to confirm writes.
    if let Some(shm) = tmpfs_dir() {
        eprintln!("[perf-bench] lifecycles, database on tmpfs ...");
        let (mem_broker, _c, _d) = start_bench_broker(&options, fake.as_ref(), Some(&shm));
        let seq = sequential(&options, &mem_broker, "seq", &mut CallTimes::new());
        let walls = parallel_runs(&options, &mem_broker, "par");
        rows.extend(seq.rows(" (database on tmpfs)").into_iter().skip(1).take(2));
        rows.push(Row::runs(
            format!(
                "{} lifecycles over {} clients, wall time (database on tmpfs)",
                options.lifecycles, options.clients
            ),
            &walls,
            "s",
            Target::None,
        ));
    }
    sections.push(Section {
        title: format!(
            "lifecycles (provision, poll, bind, unbind, deprovision, poll), {SEQUENTIAL} sequential per run"
        ),
        rows,
    });

    // 7. Soak.
    let mut memory = Vec::new();
    memory_rows(&mut memory, "idle", &idle, Target::AtMost(8.0));
    memory_rows(&mut memory, "after catalog load", &after_catalog, Target::AtMost(16.0));
    memory_rows(&mut memory, "after the lifecycles above", &after_lifecycles, Target::AtMost(16.0));
    if options.soak > 0 {
        eprintln!("[perf-bench] soak of {} lifecycles ...", options.soak);
        let step = options.soak.div_ceil(10).max(1);
        let mut samples = Vec::new();
        let mut done = 0;
        let soak_started = Instant::now();
        while done < options.soak {
            let n = step.min(options.soak - done);
            parallel(&broker.target, &format!("soak-{done}"), n, options.clients);
            done += n;
            samples.push((done, broker.status()));
        }
        let soak_time = soak_started.elapsed();
        let (first_n, first) = samples[0];
        let (last_n, last) = *samples.last().unwrap();
        memory.push(Row::one(
            format!("RSS after {first_n} soak lifecycles"),
            mb(first.rss_kib),
            "MB",
            Target::None,
        ));
        memory.push(Row::one(
            format!("RSS after {last_n} soak lifecycles"),
            mb(last.rss_kib),
            "MB",
            Target::AtMost(16.0),
        ));
        memory.push(Row::one(
            format!("  growth from {first_n} to {last_n} lifecycles (flat: ≤ 1 MB)"),
            mb(last.rss_kib.saturating_sub(first.rss_kib)),
            "MB",
            Target::AtMost(1.0),
        ));
        memory.push(Row::one(
            format!("  soak throughput over {} clients", options.clients),
            last_n as f64 / soak_time.as_secs_f64(),
            "lifecycles/s",
            Target::None,
        ));
        let trace: Vec<String> =
            samples.iter().map(|(n, s)| format!("{n}: {:.1}", mb(s.rss_kib))).collect();
        eprintln!("[perf-bench] RSS (MB) by lifecycles: {}", trace.join(", "));
    }
    let end = broker.status();
    memory.push(Row::one(
        "peak RSS over the whole run (VmHWM)",
        mb(end.hwm_kib),
        "MB",
        Target::AtMost(16.0),
    ));
    sections.push(Section {
        title: "memory of the broker process (/proc/<pid>/status)".into(),
        rows: memory,
    });
    drop(broker);

    println!("{}", report::render(&sections));
    let missed: Vec<&str> = sections
        .iter()
        .flat_map(|s| &s.rows)
        .filter(|r| r.met() == Some(false))
        .map(|r| r.figure.as_str())
        .collect();
    println!(
        "{} targets met, {} missed{}; the whole run took {:.0} s",
        sections.iter().flat_map(|s| &s.rows).filter(|r| r.met() == Some(true)).count(),
        missed.len(),
        if missed.is_empty() { String::new() } else { format!(" ({})", missed.join("; ")) },
        began.elapsed().as_secs_f64()
    );
}
