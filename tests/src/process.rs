//! [`BrokerProcess`]: the broker binary running as a child process on a free port, with every line
//! it logs captured for assertions.

use crate::{BrokerConfig, OsbClient};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long `start` waits for the broker to report its listening address.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// What the broker logs once it accepts connections; the port follows.
const LISTENING: &str = "listening on http://127.0.0.1:";

/// Log lines of every run of one broker, shared with the reader threads.
#[derive(Default)]
struct LogBook {
    lines: Mutex<Vec<String>>,
    changed: Condvar,
}

impl LogBook {
    fn push(&self, line: String) {
        self.lines.lock().unwrap().push(line);
        self.changed.notify_all();
    }

    /// Waits until a line at index `from` or later satisfies `find`, or `timeout` passes, or
    /// `stop` says to give up. Returns what `find` extracted.
    fn wait_for<T>(
        &self, from: usize, timeout: Duration, mut find: impl FnMut(&str) -> Option<T>,
        mut stop: impl FnMut() -> bool,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let mut lines = self.lines.lock().unwrap();
        let mut checked = from;
        loop {
            while checked < lines.len() {
                if let Some(found) = find(&lines[checked]) {
                    return Some(found);
                }
                checked += 1;
            }
            let now = Instant::now();
            if now >= deadline || stop() {
                return None;
            }
            let wait = (deadline - now).min(Duration::from_millis(100));
            lines = self.changed.wait_timeout(lines, wait).unwrap().0;
        }
    }
}

/// The broker binary running as `on-demand-broker serve --config <file>` on 127.0.0.1 with a port
/// chosen by the OS. Dropping it kills the process.
pub struct BrokerProcess {
    child: Option<Child>,
    dir: Arc<TempDir>,
    config_path: PathBuf,
    username: String,
    password: String,
    base_url: String,
    logs: Arc<LogBook>,
}

impl BrokerProcess {
    /// Writes `config` and starts the broker; panics (with the broker's output) if it does not
    /// report its listening address within 60 s.
    pub fn start(config: &BrokerConfig) -> Self {
        Self::start_with_yaml(config, config.render())
    }

    /// Like [`BrokerProcess::start`], but writes `yaml` as the config file instead of
    /// `config.render()` (`config` still supplies the directory and the credentials).
    pub fn start_with_yaml(config: &BrokerConfig, yaml: serde_yaml::Value) -> Self {
        Self::try_start_with_yaml(config, yaml).unwrap_or_else(|message| panic!("{message}"))
    }

    /// Starts the broker, returning a description of the failure (exit status and every log
    /// line) if it exits or does not report its listening address within 60 s.
    pub fn try_start(config: &BrokerConfig) -> Result<Self, String> {
        Self::try_start_with_yaml(config, config.render())
    }

    /// Like [`BrokerProcess::try_start`] with an explicit config document.
    pub fn try_start_with_yaml(
        config: &BrokerConfig, yaml: serde_yaml::Value,
    ) -> Result<Self, String> {
        let config_path = config.config_path();
        let text = serde_yaml::to_string(&yaml).expect("cannot render the broker config");
        std::fs::write(&config_path, text).expect("cannot write the broker config");
        let mut broker = BrokerProcess {
            child: None,
            dir: config.dir_handle(),
            config_path,
            username: config.username.clone(),
            password: config.password.clone(),
            base_url: String::new(),
            logs: Arc::new(LogBook::default()),
        };
        broker.spawn()?;
        Ok(broker)
    }

    /// Starts the process and waits for its listening address.
    fn spawn(&mut self) -> Result<(), String> {
        let first_line = self.logs.lines.lock().unwrap().len();
        let mut child = Command::new(crate::broker_binary())
            .arg("serve")
            .arg("--config")
            .arg(&self.config_path)
            .env("BROKER_HOST", "127.0.0.1")
            .env("BROKER_PORT", "0")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the broker binary: {e}"))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        read_lines_into(stdout, Arc::clone(&self.logs));
        read_lines_into(stderr, Arc::clone(&self.logs));
        self.child = Some(child);

        let mut exited: Option<ExitStatus> = None;
        let port = self.logs.wait_for(first_line, START_TIMEOUT, parse_port, || {
            exited = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            exited.is_some()
        });
        match port {
            Some(port) => {
                self.base_url = format!("http://127.0.0.1:{port}");
                Ok(())
            }
            None => {
                // Give the readers a moment to collect the last lines of a failed start.
                std::thread::sleep(Duration::from_millis(200));
                let how = match exited {
                    Some(status) => format!("exited with {status}"),
                    None => {
                        self.kill();
                        format!(
                            "did not log `{LISTENING}<port>` within {}s",
                            START_TIMEOUT.as_secs()
                        )
                    }
                };
                self.child = None;
                Err(format!(
                    "the broker {how}; config {}; its output:\n{}",
                    self.config_path.display(),
                    self.logs().join("\n")
                ))
            }
        }
    }

    /// The broker's base URL, `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// A client for this broker with the configured credentials.
    pub fn client(&self) -> OsbClient {
        OsbClient::new(&self.base_url, &self.username, &self.password)
    }

    /// The config file the broker was started with.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The temporary directory that holds the config and the database.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Waits up to `timeout` for the process to exit on its own; returns its status if it did.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut()?;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the process hard (SIGKILL, like a crash) and reaps it. Does nothing if it is not
    /// running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the process if it runs, then starts it again with the same config file and data
    /// directory; the new process listens on a new port ([`BrokerProcess::base_url`] changes).
    /// Log lines of earlier runs are kept.
    pub fn restart(&mut self) {
        self.kill();
        if let Err(message) = self.spawn() {
            panic!("{message}");
        }
    }

    /// Every line the broker has written to stdout or stderr so far, over all its runs, with
    /// terminal colour codes removed.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lines.lock().unwrap().clone()
    }

    /// Waits up to `timeout` for a log line containing `needle` (looking at earlier lines too);
    /// returns whether one appeared.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        self.logs
            .wait_for(0, timeout, |line| line.contains(needle).then_some(()), || false)
            .is_some()
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Extracts the port from a `listening on http://127.0.0.1:<port>` line.
fn parse_port(line: &str) -> Option<u16> {
    let rest = &line[line.find(LISTENING)? + LISTENING.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Reads `stream` line by line on a background thread into `logs`, echoing each line to the test's
/// output (shown when a test fails).
fn read_lines_into(stream: impl Read + Send + 'static, logs: Arc<LogBook>) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            match reader.read_until(b'\n', &mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line =
                        strip_ansi(String::from_utf8_lossy(&buffer).trim_end_matches(['\n', '\r']));
                    eprintln!("[broker] {line}");
                    logs.push(line);
                }
            }
        }
    });
}

/// Removes ANSI escape sequences (`ESC [ ... letter`) from a log line.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_is_parsed_from_a_coloured_log_line() {
        let line =
            strip_ansi("\u{1b}[2m2025\u{1b}[0m INFO listening on http://127.0.0.1:43117\u{1b}[0m");
        assert_eq!(parse_port(&line), Some(43117));
        assert_eq!(parse_port("listening on http://127.0.0.1:"), None);
        assert_eq!(parse_port("something else"), None);
    }
}
