//! One full service-instance lifecycle as a platform drives it — provision, poll, bind,
//! unbind, deprovision, poll — with the time of every call, and the other OSB reads (fetch an
//! instance, fetch a binding) for the per-call figures.

use crate::http::{Conn, Reply};
use broker_tests::{bind_body, provision_body, PLAN_SMALL, SERVICE_ID};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Call durations by OSB call name.
pub type CallTimes = BTreeMap<&'static str, Vec<Duration>>;

/// What one lifecycle took.
#[derive(Debug, Default)]
pub struct Lifecycle {
    /// Time in requests, from the first byte sent to the last byte of the last answer; the
    /// pauses between polls are not in it.
    pub busy: Duration,
    /// Polls of `last_operation` (both operations together).
    pub polls: u32,
}

/// Times `f` as call `name`.
fn timed(
    times: &mut CallTimes, busy: &mut Duration, name: &'static str, f: impl FnOnce() -> Reply,
) -> Reply {
    let started = Instant::now();
    let reply = f();
    let took = started.elapsed();
    *busy += took;
    times.entry(name).or_default().push(took);
    reply
}

fn expect(reply: &Reply, status: u16, what: &str) {
    assert_eq!(
        reply.status,
        status,
        "{what}: expected {status}, got {}: {}",
        reply.status,
        reply.text()
    );
}

fn send(conn: &mut Conn, method: &str, path: &str, body: Option<&str>) -> Reply {
    conn.send(method, path, body).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// Polls `last_operation` until it says `succeeded`: at once, then every millisecond.
fn poll(conn: &mut Conn, id: &str, times: &mut CallTimes, out: &mut Lifecycle, what: &str) {
    let path = format!("/v2/service_instances/{id}/last_operation");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        out.polls += 1;
        let reply =
            timed(times, &mut out.busy, "last_operation", || send(conn, "GET", &path, None));
        expect(&reply, 200, what);
        match reply.json()["state"].as_str() {
            Some("succeeded") => return,
            Some("in progress") if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1))
            }
            _ => panic!("{what} of {id}: {}", reply.text()),
        }
    }
}

/// Runs one lifecycle of instance `id` on `conn`, adding each call's time to `times`.
pub fn run(conn: &mut Conn, id: &str, times: &mut CallTimes) -> Lifecycle {
    let mut out = Lifecycle::default();
    let instance = format!("/v2/service_instances/{id}");
    let binding = format!("{instance}/service_bindings/b-{id}");
    let ids = format!("service_id={SERVICE_ID}&plan_id={PLAN_SMALL}");
    let provision = provision_body(SERVICE_ID, PLAN_SMALL, json!({})).to_string();
    let reply = timed(times, &mut out.busy, "provision", || {
        send(conn, "PUT", &format!("{instance}?accepts_incomplete=true"), Some(&provision))
    });
    expect(&reply, 202, "provision");
    poll(conn, id, times, &mut out, "provision");
    let bind = bind_body(SERVICE_ID, PLAN_SMALL, json!({})).to_string();
    let reply = timed(times, &mut out.busy, "bind", || send(conn, "PUT", &binding, Some(&bind)));
    expect(&reply, 201, "bind");
    let reply = timed(times, &mut out.busy, "unbind", || {
        send(conn, "DELETE", &format!("{binding}?{ids}"), None)
    });
    expect(&reply, 200, "unbind");
    let reply = timed(times, &mut out.busy, "deprovision", || {
        send(conn, "DELETE", &format!("{instance}?{ids}&accepts_incomplete=true"), None)
    });
    expect(&reply, 202, "deprovision");
    poll(conn, id, times, &mut out, "deprovision");
    out
}

/// Provisions and binds instance `id`, then times `rounds` fetches of the instance and of
/// the binding, and `rounds` polls of the finished operation; unbinds and deprovisions after.
pub fn reads(conn: &mut Conn, id: &str, rounds: usize, times: &mut CallTimes) {
    let mut scratch = CallTimes::new();
    let instance = format!("/v2/service_instances/{id}");
    let binding = format!("{instance}/service_bindings/b-{id}");
    let provision = provision_body(SERVICE_ID, PLAN_SMALL, json!({})).to_string();
    let reply = send(conn, "PUT", &format!("{instance}?accepts_incomplete=true"), Some(&provision));
    expect(&reply, 202, "provision");
    poll(conn, id, &mut scratch, &mut Lifecycle::default(), "provision");
    let bind = bind_body(SERVICE_ID, PLAN_SMALL, json!({})).to_string();
    expect(&send(conn, "PUT", &binding, Some(&bind)), 201, "bind");
    let last_operation = format!("{instance}/last_operation");
    let mut busy = Duration::ZERO;
    for _ in 0..rounds {
        let r = timed(times, &mut busy, "fetch instance", || send(conn, "GET", &instance, None));
        expect(&r, 200, "fetch instance");
        let r = timed(times, &mut busy, "fetch binding", || send(conn, "GET", &binding, None));
        expect(&r, 200, "fetch binding");
        let r = timed(times, &mut busy, "last_operation (done)", || {
            send(conn, "GET", &last_operation, None)
        });
        expect(&r, 200, "last_operation");
    }
    let ids = format!("service_id={SERVICE_ID}&plan_id={PLAN_SMALL}");
    expect(&send(conn, "DELETE", &format!("{binding}?{ids}"), None), 200, "unbind");
    let reply = send(conn, "DELETE", &format!("{instance}?{ids}&accepts_incomplete=true"), None);
    expect(&reply, 202, "deprovision");
    poll(conn, id, &mut scratch, &mut Lifecycle::default(), "deprovision");
}
