//! Lifecycle benchmark: starts the broker (simulated director, test adapter) and drives many
//! full lifecycles (provision, poll, bind, unbind, deprovision, poll) from several client
//! threads, then reports latency percentiles per endpoint, lifecycles per second and the
//! broker's peak memory.
//!
//! ```sh
//! cargo build --release -p on-demand-broker -p broker-tests
//! target/release/lifecycle-bench --instances 200 --concurrency 8
//! ```
//!
//! Numbers depend on the machine and its load: compare runs on the same machine only.

use broker_tests::{
    bind_body, provision_body, BrokerConfig, BrokerProcess, PLAN_SMALL, SERVICE_ID,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Latencies per request kind.
type Samples = Arc<Mutex<BTreeMap<&'static str, Vec<Duration>>>>;

struct Options {
    instances: usize,
    concurrency: usize,
}

fn parse_options() -> Options {
    let mut options = Options {
        instances: 100,
        concurrency: 4,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).and_then(|v| v.parse::<usize>().ok());
        match (args[i].as_str(), value) {
            ("--instances", Some(v)) if v > 0 => options.instances = v,
            ("--concurrency", Some(v)) if v > 0 => options.concurrency = v,
            _ => {
                eprintln!("usage: lifecycle-bench [--instances N] [--concurrency C]");
                std::process::exit(2);
            }
        }
        i += 2;
    }
    options
}

fn timed<T>(samples: &Samples, kind: &'static str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    samples
        .lock()
        .unwrap()
        .entry(kind)
        .or_default()
        .push(started.elapsed());
    out
}

fn lifecycle(client: &broker_tests::OsbClient, samples: &Samples, n: usize) {
    let id = format!("bench-{n}");
    let r = timed(samples, "provision", || {
        client.provision(
            &id,
            &provision_body(SERVICE_ID, PLAN_SMALL, json!({})),
            true,
        )
    });
    assert_eq!(r.status, 202, "{}", r.text);
    loop {
        let r = timed(samples, "last_operation", || {
            client.last_operation(&id, None)
        });
        match r.str_field("state") {
            Some("succeeded") => break,
            Some("in progress") => std::thread::sleep(Duration::from_millis(20)),
            _ => panic!("provision of {id}: {}", r.text),
        }
    }
    let r = timed(samples, "bind", || {
        client.bind(&id, "b", &bind_body(SERVICE_ID, PLAN_SMALL, json!({})))
    });
    assert_eq!(r.status, 201, "{}", r.text);
    let r = timed(samples, "unbind", || {
        client.unbind(&id, "b", SERVICE_ID, PLAN_SMALL)
    });
    assert_eq!(r.status, 200, "{}", r.text);
    let r = timed(samples, "deprovision", || {
        client.deprovision(&id, SERVICE_ID, PLAN_SMALL, true)
    });
    assert_eq!(r.status, 202, "{}", r.text);
    loop {
        let r = timed(samples, "last_operation", || {
            client.last_operation(&id, None)
        });
        match r.str_field("state") {
            Some("succeeded") => break,
            Some("in progress") => std::thread::sleep(Duration::from_millis(20)),
            _ => panic!("deprovision of {id}: {}", r.text),
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

fn main() {
    let options = parse_options();
    let config = BrokerConfig::new().task_seconds(0);
    let broker = BrokerProcess::start(&config);
    let samples: Samples = Arc::default();
    let next = Arc::new(Mutex::new(0usize));
    let started = Instant::now();
    let workers: Vec<_> = (0..options.concurrency)
        .map(|_| {
            let (client, samples, next) = (broker.client(), samples.clone(), next.clone());
            let total = options.instances;
            std::thread::spawn(move || loop {
                let n = {
                    let mut next = next.lock().unwrap();
                    if *next >= total {
                        return;
                    }
                    *next += 1;
                    *next
                };
                lifecycle(&client, &samples, n);
            })
        })
        .collect();
    for w in workers {
        w.join().expect("a client thread failed");
    }
    let elapsed = started.elapsed();
    println!(
        "{} lifecycles, {} client threads, {:.2} s: {:.1} lifecycles/s",
        options.instances,
        options.concurrency,
        elapsed.as_secs_f64(),
        options.instances as f64 / elapsed.as_secs_f64()
    );
    println!(
        "{:<16} {:>7} {:>10} {:>10} {:>10}",
        "request", "count", "p50 ms", "p95 ms", "max ms"
    );
    for (kind, list) in samples.lock().unwrap().iter_mut() {
        list.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{:<16} {:>7} {:>10.2} {:>10.2} {:>10.2}",
            kind,
            list.len(),
            ms(percentile(list, 0.5)),
            ms(percentile(list, 0.95)),
            ms(*list.last().unwrap())
        );
    }
    if let Some(kib) = broker.pid().and_then(peak_rss_kib) {
        println!("broker peak RSS: {:.1} MiB", kib as f64 / 1024.0);
    }
}
