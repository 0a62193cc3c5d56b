//! Runs one adapter process: clean environment, own process group, stdin written then closed,
//! stdout and stderr read concurrently with a size cap, and a timeout that kills the whole
//! process group.
//!
//! # How a run ends
//! The child is spawned as the leader of a new process group, with an environment holding only
//! `PATH`. Writing stdin, reading stdout and reading stderr go on at the same time, so an
//! adapter that writes a lot before it reads cannot deadlock against the broker. Output past
//! the cap is read and thrown away (and flagged as truncated), so a chatty adapter never blocks
//! on a full pipe. The child's exit is noticed without reaping it; while it is a zombie its pid
//! cannot be reused, so the broker can then safely `SIGKILL` the whole group, taking down
//! anything the adapter left behind (which would otherwise hold the pipes open), and only then
//! reaps it. One deadline bounds everything, the readers included: at the timeout the group is
//! killed, the child reaped and [`RunError::TimedOut`] returned. A process that left the group
//! (`setsid`) while holding the adapter's stdout or stderr therefore keeps a call waiting until
//! the timeout at the latest, never forever. Dropping the future of [`run`] kills the group too.
//!
//! # What changed and why
//! This runner used to be blocking: each call took a `spawn_blocking` thread plus three OS
//! threads (a stdin writer and two readers), and the exit was found by polling `try_wait` every
//! 5 ms, so every adapter call waited up to 5 ms after the adapter had already exited. The
//! group kill was a hand-written `unsafe` `libc::kill`, issued after the child was reaped (when
//! its pid could in principle have been reused), and the reader threads were joined without a
//! bound, so an escaped process holding a pipe made the call hang for good. It is now a single
//! future on `tokio::process`: the writer and both readers are polled in the caller's task, the
//! exit is noticed on `SIGCHLD` (checked with `waitid(WNOWAIT)`) instead of by polling, the
//! group kill is `rustix::process::kill_process_group` before the reap, and one deadline covers
//! the whole run.

use rustix::process::{kill_process_group, waitid, Pid, Signal, WaitId, WaitIdOptions};
use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, Command};
use tokio::signal::unix::{signal, SignalKind};
use tokio::time::{timeout_at, Instant};

#[cfg(test)]
mod tests;

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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The exit code, or `None` when a signal ended it.
    pub exit_code: Option<i32>,
    /// The signal that ended it, if any.
    pub signal: Option<i32>,
    /// Its stdout: at most the cap, and whether it was longer.
    pub stdout: Capped,
    /// Its stderr: at most the cap, and whether it was longer.
    pub stderr: Capped,
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

/// Size of one read from a pipe.
const READ_CHUNK: usize = 16 * 1024;

/// One output stream as read: at most the cap, and whether more came.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capped {
    /// The bytes kept: the first `max_output_bytes`.
    pub kept: Vec<u8>,
    /// True when the stream was longer than the cap (the rest was read and thrown away).
    pub truncated: bool,
}

impl From<Vec<u8>> for Capped {
    /// Bytes kept whole.
    fn from(kept: Vec<u8>) -> Self {
        Self { kept, truncated: false }
    }
}

/// Reads `reader` to EOF, keeping the first `cap` bytes and discarding the rest, so the writer
/// never blocks on a full pipe.
async fn read_capped(mut reader: impl AsyncRead + Unpin, cap: usize, into: &mut Capped) {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                let room = cap.saturating_sub(into.kept.len());
                if n > room {
                    into.truncated = true;
                }
                into.kept.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
}

/// Writes `data` to the child's stdin, then closes it (the SDK reads stdin to EOF).
async fn write_stdin(stdin: Option<ChildStdin>, data: &[u8]) {
    if let Some(mut stdin) = stdin {
        // A broken pipe only means the adapter stopped reading; its exit code tells the rest.
        let _ = stdin.write_all(data).await;
        // Dropped here: the pipe is closed.
    }
}

/// The child's process group, killed on drop while the child has not been reaped: that covers
/// a run whose future is dropped half way.
struct Group {
    /// The group id, which is the child's pid (`process_group(0)` makes it the leader).
    pgid: Pid,
    /// Once the child is reaped its pid, and so the group id, may be reused: no more kills.
    reaped: bool,
}

impl Group {
    /// `SIGKILL` to every process in the group. Safe while the child is not reaped: a live or
    /// zombie leader keeps the id from being reused.
    fn kill(&self) {
        if !self.reaped {
            // Failure only means nothing is left in the group.
            let _ = kill_process_group(self.pgid, Signal::KILL);
        }
    }

    /// Kills the group, then reaps the child.
    async fn kill_and_reap(&mut self, child: &mut Child) -> Option<ExitStatus> {
        self.kill();
        let status = child.wait().await.ok();
        self.reaped = true;
        status
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Returns once the child has exited, without reaping it. `sigchld` must have been registered
/// before the child was spawned, so that its exit cannot go unnoticed.
async fn exited(pid: Pid, sigchld: &mut tokio::signal::unix::Signal) {
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
    loop {
        match waitid(WaitId::Pid(pid), options) {
            Ok(None) => {}
            Err(rustix::io::Errno::INTR) => continue,
            // Exited, or not waitable any more: either way there is nothing left to wait for.
            Ok(Some(_)) | Err(_) => return,
        }
        // Any child's exit wakes this up; the loop checks whether it was ours.
        if sigchld.recv().await.is_none() {
            return;
        }
    }
}

/// Runs the invocation to completion, or to its timeout.
///
/// Cancel-safe in the sense that matters here: dropping the future kills the adapter's whole
/// process group (tokio then reaps the child in the background).
pub async fn run(inv: &Invocation) -> Result<Outcome, RunError> {
    let spawn_error =
        |source| RunError::Spawn { program: inv.program.display().to_string(), source };
    // Registered before the spawn, so the child's exit cannot happen unseen.
    let mut sigchld = signal(SignalKind::child()).map_err(spawn_error)?;
    let mut cmd = Command::new(&inv.program);
    cmd.args(&inv.args)
        .env_clear()
        .env("PATH", CLEAN_PATH)
        .stdin(if inv.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(spawn_error)?;
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(Pid::from_raw)
        .ok_or_else(|| spawn_error(std::io::Error::other("the started process has no pid")))?;
    // Declared after `child`, so dropped before it: the group goes before tokio's own kill.
    let mut group = Group { pgid: pid, reaped: false };
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().expect("stdout piped");
    let stderr = child.stderr.take().expect("stderr piped");

    let cap = inv.max_output_bytes;
    // A timeout too large to add to the clock is as good as none (rather than a panic).
    let deadline = Instant::now().checked_add(inv.timeout);
    let mut out = Capped::default();
    let mut err = Capped::default();
    let mut status = None;
    let work = async {
        tokio::join!(
            write_stdin(stdin, inv.stdin.as_deref().unwrap_or_default()),
            read_capped(stdout, cap, &mut out),
            read_capped(stderr, cap, &mut err),
            async {
                exited(pid, &mut sigchld).await;
                // Whatever the adapter left in its group goes now, so no pipe stays open.
                status = group.kill_and_reap(&mut child).await;
            },
        )
    };
    let finished = match deadline {
        Some(deadline) => timeout_at(deadline, work).await.is_ok(),
        None => {
            work.await;
            true
        }
    };
    if !finished {
        if group.reaped {
            tracing::warn!(
                adapter.program = %inv.program.display(),
                adapter.exit_code = ?status.and_then(|s| s.code()),
                "the service adapter exited, but a process it started outside its process group \
                 kept its stdout or stderr open until the timeout"
            );
        } else {
            status = group.kill_and_reap(&mut child).await;
        }
    }
    let outcome = Outcome {
        exit_code: status.and_then(|s| s.code()),
        signal: status.and_then(|s| s.signal()),
        stdout: out,
        stderr: err,
    };
    if !finished {
        return Err(RunError::TimedOut(inv.timeout, Box::new(outcome)));
    }
    Ok(outcome)
}
