//! Runs one adapter process: clean environment, own process group, stdin written then closed,
//! stdout and stderr read concurrently with a size cap, and a timeout that kills the whole
//! process group.

use rustix::process::{kill_process_group, Pid, Signal};
use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// What to run.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The executable.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Bytes for stdin, which is closed after writing; `None` gives an empty stdin.
    pub stdin: Option<Vec<u8>>,
    /// How long it may run.
    pub timeout: Duration,
    /// Largest stdout or stderr kept.
    pub max_output_bytes: usize,
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The exit code, or `None` when a signal ended it.
    pub exit_code: Option<i32>,
    /// The signal that ended it, if any.
    pub signal: Option<i32>,
    /// Its stdout (at most the cap).
    pub stdout: Vec<u8>,
    /// Its stderr (at most the cap).
    pub stderr: Vec<u8>,
    /// True when stdout was longer than the cap.
    pub stdout_truncated: bool,
    /// True when stderr was longer than the cap.
    pub stderr_truncated: bool,
}

/// Why a process could not be run to completion.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// It could not be started.
    #[error("could not start {program}: {source}")]
    Spawn {
        /// The executable.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// It ran past its timeout and was killed, with its process group.
    #[error("timed out after {0:?} and was killed")]
    TimedOut(Duration, Box<Outcome>),
}

/// The environment adapters get: nothing of the broker's but a standard `PATH`.
const CLEAN_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn read_capped(mut reader: impl Read, cap: usize) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut truncated = false;
    let mut buf = [0u8; 16 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let room = cap.saturating_sub(kept.len());
                if n > room {
                    truncated = true;
                }
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    (kept, truncated)
}

fn kill_group(pgid: u32) {
    // The child leads its own group (`process_group(0)`), so its pid is the group id. Failure
    // only means nothing is left in the group.
    if let Some(pgid) = i32::try_from(pgid).ok().and_then(Pid::from_raw) {
        let _ = kill_process_group(pgid, Signal::KILL);
    }
}

/// Runs the invocation to completion (blocking).
pub fn run(inv: &Invocation) -> Result<Outcome, RunError> {
    let mut cmd = Command::new(&inv.program);
    cmd.args(&inv.args)
        .env_clear()
        .env("PATH", CLEAN_PATH)
        .stdin(if inv.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn().map_err(|source| RunError::Spawn {
        program: inv.program.display().to_string(),
        source,
    })?;
    let pgid = child.id();

    let writer = child.stdin.take().map(|mut stdin| {
        let data = inv.stdin.clone().unwrap_or_default();
        thread::spawn(move || {
            // A broken pipe only means the adapter stopped reading; its exit code tells the rest.
            let _ = stdin.write_all(&data);
            drop(stdin);
        })
    });
    let cap = inv.max_output_bytes;
    let stdout = child.stdout.take().expect("stdout piped");
    let stderr = child.stderr.take().expect("stderr piped");
    let out_reader = thread::spawn(move || read_capped(stdout, cap));
    let err_reader = thread::spawn(move || read_capped(stderr, cap));

    let deadline = Instant::now() + inv.timeout;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                timed_out = true;
                kill_group(pgid);
                break child.wait().ok();
            }
            Ok(None) => thread::sleep(Duration::from_millis(5)),
            Err(_) => break None,
        }
    };
    // Anything the adapter left behind in its group goes too, so no pipe stays open.
    kill_group(pgid);
    if let Some(w) = writer {
        let _ = w.join();
    }
    let (stdout, stdout_truncated) = out_reader.join().unwrap_or_default();
    let (stderr, stderr_truncated) = err_reader.join().unwrap_or_default();
    let outcome = Outcome {
        exit_code: status.and_then(|s| s.code()),
        signal: status.and_then(|s| s.signal()),
        stdout,
        stderr,
        stdout_truncated,
        stderr_truncated,
    };
    if timed_out {
        return Err(RunError::TimedOut(inv.timeout, Box::new(outcome)));
    }
    Ok(outcome)
}
