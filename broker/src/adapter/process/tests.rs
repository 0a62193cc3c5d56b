//! Tests of the adapter runner against real processes (`sh -c` scripts): exit codes and
//! signals, the stdout/stderr split and caps, stdin that is not read, the clean environment,
//! and the process-group kill at the timeout, after an exit and on cancellation.

use super::{run, Capped, Invocation, Outcome, RunError, CLEAN_PATH};
use std::time::Duration;

/// A timeout no test here should reach unless it means to.
const LONG: Duration = Duration::from_secs(60);

fn sh(script: &str) -> Invocation {
    Invocation {
        program: "sh".into(),
        args: vec!["-c".into(), script.into()],
        stdin: None,
        timeout: LONG,
        max_output_bytes: 1024 * 1024,
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The pids a script printed, whitespace-separated, in order.
fn pids(stdout: &[u8]) -> Vec<u32> {
    text(stdout)
        .split_whitespace()
        .map(|p| p.parse().unwrap_or_else(|_| panic!("not a pid: {p:?}")))
        .collect()
}

/// Alive and not a zombie (a killed process whose parent has not reaped it yet is dead).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            // The state follows the parenthesised command name: `pid (comm) S ...`.
            let state =
                stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
            !matches!(state, Some('Z') | Some('X') | None)
        }
    }
}

/// Waits (up to 10 s: signals are delivered asynchronously) for `pid` to be gone.
async fn assert_dies(pid: u32, what: &str) {
    for _ in 0..1000 {
        if !alive(pid) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what} (pid {pid}) is still alive");
}

/// `sh -c script` with 1 MiB of `x` on its stdin.
fn with_a_mib_of_stdin(script: &str) -> Invocation {
    Invocation { stdin: Some(vec![b'x'; 1024 * 1024]), ..sh(script) }
}

async fn ok(inv: &Invocation) -> Outcome {
    match run(inv).await {
        Ok(outcome) => outcome,
        Err(e) => panic!("{:?} failed: {e}", inv.args),
    }
}

async fn timed_out(inv: &Invocation) -> Outcome {
    match run(inv).await {
        Err(RunError::TimedOut(after, outcome)) => {
            assert_eq!(after, inv.timeout);
            *outcome
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn a_child_that_exits_at_once_gives_its_code_and_both_outputs() {
    let outcome = ok(&sh("printf out; printf err >&2; exit 3")).await;
    assert_eq!(
        outcome,
        Outcome {
            exit_code: Some(3),
            signal: None,
            stdout: Capped::from(b"out".to_vec()),
            stderr: Capped::from(b"err".to_vec()),
        }
    );
}

#[tokio::test]
async fn concurrent_runs_each_get_their_own_exit_code() {
    // Every run wakes on any child's SIGCHLD; each must still report its own child.
    let mut runs = tokio::task::JoinSet::new();
    for code in 0..24 {
        runs.spawn(async move {
            let outcome = ok(&sh(&format!("echo {code}; exit {code}"))).await;
            (code, outcome)
        });
    }
    while let Some(done) = runs.join_next().await {
        let (code, outcome) = done.expect("the run did not panic");
        assert_eq!(outcome.exit_code, Some(code));
        assert_eq!(text(&outcome.stdout.kept), format!("{code}\n"));
    }
}

#[tokio::test]
async fn stdout_and_stderr_are_kept_apart_and_capped_while_the_child_runs_on() {
    // Far more than a pipe buffer on each stream: the child can only reach `exit 7` if the
    // runner keeps reading (and discarding) past the cap.
    let mut inv = sh("head -c 300000 /dev/zero | tr '\\0' o; \
         head -c 200000 /dev/zero | tr '\\0' e >&2; exit 7");
    inv.max_output_bytes = 1000;
    let outcome = ok(&inv).await;
    assert_eq!(outcome.exit_code, Some(7));
    assert_eq!(outcome.stdout.kept, vec![b'o'; 1000]);
    assert_eq!(outcome.stderr.kept, vec![b'e'; 1000]);
    assert!(outcome.stdout.truncated);
    assert!(outcome.stderr.truncated);
}

#[tokio::test]
async fn output_of_exactly_the_cap_is_not_truncated() {
    let mut inv = sh("printf 12345; printf abc >&2");
    inv.max_output_bytes = 5;
    let outcome = ok(&inv).await;
    assert_eq!(outcome.stdout.kept, b"12345");
    assert!(!outcome.stdout.truncated);
    assert_eq!(outcome.stderr.kept, b"abc");
    assert!(!outcome.stderr.truncated);
}

#[tokio::test]
async fn a_child_that_never_reads_stdin_does_not_block_a_1_mib_write() {
    // It fills its stdout pipe while the broker is still stuck writing stdin: both must go on
    // at once, and the unread stdin must not keep the call waiting after the exit.
    let outcome = ok(&with_a_mib_of_stdin("head -c 300000 /dev/zero; exit 4")).await;
    assert_eq!(outcome.exit_code, Some(4));
    assert_eq!(outcome.stdout.kept.len(), 300_000);
    assert!(!outcome.stdout.truncated);
}

#[tokio::test]
async fn a_child_that_writes_before_reading_gets_all_of_stdin_and_eof() {
    let outcome = ok(&with_a_mib_of_stdin("head -c 300000 /dev/zero; wc -c")).await;
    assert_eq!(outcome.exit_code, Some(0));
    let (zeros, count) = outcome.stdout.kept.split_at(300_000);
    assert!(zeros.iter().all(|b| *b == 0));
    assert_eq!(text(count).trim(), "1048576");
}

#[tokio::test]
async fn without_stdin_the_child_reads_eof_at_once() {
    let outcome = ok(&sh("wc -c")).await;
    assert_eq!(outcome.exit_code, Some(0));
    assert_eq!(text(&outcome.stdout.kept).trim(), "0");
}

#[tokio::test]
async fn a_child_killed_by_a_signal_reports_the_signal_and_no_code() {
    let outcome = ok(&sh("printf before; kill -TERM $$; echo after")).await;
    assert_eq!(outcome.exit_code, None);
    assert_eq!(outcome.signal, Some(15));
    assert_eq!(outcome.stdout.kept, b"before");
}

#[tokio::test]
async fn the_child_sees_only_path() {
    // The test process has plenty of variables (HOME, CARGO_*, ...); none may leak through.
    assert!(std::env::vars_os().count() > 1);
    let outcome = ok(&Invocation {
        program: "env".into(),
        args: vec![],
        stdin: None,
        timeout: LONG,
        max_output_bytes: 64 * 1024,
    })
    .await;
    assert_eq!(outcome.exit_code, Some(0));
    assert_eq!(text(&outcome.stdout.kept), format!("PATH={CLEAN_PATH}\n"));
}

#[tokio::test]
async fn a_timeout_too_large_for_the_clock_means_no_timeout() {
    let mut inv = sh("exit 6");
    inv.timeout = Duration::MAX;
    assert_eq!(ok(&inv).await.exit_code, Some(6));
}

#[tokio::test]
async fn a_missing_program_is_a_spawn_error() {
    let inv = Invocation { program: "/nonexistent/service-adapter".into(), ..sh("") };
    match run(&inv).await {
        Err(RunError::Spawn { program, source }) => {
            assert_eq!(program, "/nonexistent/service-adapter");
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected a spawn error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_hung_child_and_its_grandchild_are_killed_at_the_timeout() {
    let mut inv = sh("sleep 1000 & echo $! $$; printf waiting >&2; sleep 1000");
    inv.timeout = Duration::from_millis(500);
    let outcome = timed_out(&inv).await;
    // The child was reaped after the group kill, and what it wrote before is kept.
    assert_eq!(outcome.exit_code, None);
    assert_eq!(outcome.signal, Some(9));
    assert_eq!(outcome.stderr.kept, b"waiting");
    let [grandchild, child] = pids(&outcome.stdout.kept)[..] else {
        panic!("expected two pids: {:?}", text(&outcome.stdout.kept));
    };
    assert_dies(child, "the hung child").await;
    assert_dies(grandchild, "the grandchild").await;
}

#[tokio::test]
async fn a_grandchild_holding_stdout_open_after_the_exit_is_killed_and_does_not_hold_the_call() {
    // The background sleep inherits stdout and would keep it open for 1000 s; the call must
    // come back with the child's exit code long before the 60 s timeout.
    let outcome = ok(&sh("sleep 1000 & echo $!; exit 5")).await;
    assert_eq!(outcome.exit_code, Some(5));
    let [grandchild] = pids(&outcome.stdout.kept)[..] else {
        panic!("expected one pid: {:?}", text(&outcome.stdout.kept));
    };
    assert_dies(grandchild, "the grandchild left behind").await;
}

#[tokio::test]
async fn a_process_that_left_the_group_holding_stdout_keeps_the_call_only_until_the_timeout() {
    // `setsid` takes the sleep out of the adapter's process group, out of reach of the group
    // kill, with the adapter's stdout still open. The adapter exits only once that is done.
    // The call ends at the timeout, with the adapter's own exit code.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ready = dir.path().join("ready");
    let ready = ready.display();
    let mut inv = sh(&format!(
        "setsid sh -c 'echo $$; : > {ready}; exec sleep 1000' & \
         while [ ! -e {ready} ]; do sleep 0.01; done; exit 0"
    ));
    inv.timeout = Duration::from_millis(1500);
    let outcome = timed_out(&inv).await;
    assert_eq!(outcome.exit_code, Some(0));
    let [escaped] = pids(&outcome.stdout.kept)[..] else {
        panic!("expected one pid: {:?}", text(&outcome.stdout.kept));
    };
    assert!(alive(escaped), "the escaped process is outside the group");
    let pid = rustix::process::Pid::from_raw(escaped as i32).expect("a pid");
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).expect("kill it");
    assert_dies(escaped, "the escaped process").await;
}

#[tokio::test]
async fn dropping_a_run_kills_the_group() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("pids");
    let inv = sh(&format!("sleep 1000 & echo $! $$ > '{}'; sleep 1000", file.display()));
    let pids_written = async {
        loop {
            match std::fs::read_to_string(&file) {
                Ok(s) if s.ends_with('\n') => return s,
                _ => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    };
    let written = tokio::select! {
        result = run(&inv) => panic!("the run ended by itself: {result:?}"),
        written = pids_written => written,
    };
    // The run's future is gone now.
    let [grandchild, child] = pids(written.as_bytes())[..] else {
        panic!("expected two pids: {written:?}");
    };
    assert_dies(child, "the child of a dropped run").await;
    assert_dies(grandchild, "the grandchild of a dropped run").await;
}
