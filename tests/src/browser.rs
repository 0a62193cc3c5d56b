//! [`Browser`]: headless Chromium for the tests of the operator console, run once per page
//! (`--dump-dom`, `--screenshot`) or driven over the DevTools protocol ([`DevTools`]) to
//! send headers, read the response the browser got and evaluate expressions in the page.
//!
//! Every run has a deadline after which the browser's whole process group is killed, and
//! runs in a fresh profile directory that is removed afterwards. The DevTools client speaks
//! just enough WebSocket (RFC 6455: one text message per frame or continued frames, client
//! frames masked) over a blocking `TcpStream` with read timeouts.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long one browser run, or one wait for a DevTools answer or event, may take.
pub const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);

/// Flags of every run: headless, as root in a container, and nothing fetched from outside —
/// no background services, and every host name but the loopback address left unresolved.
const FLAGS: [&str; 19] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-breakpad",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--disable-sync",
    "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
    "--no-pings",
    "--no-first-run",
    "--no-default-browser-check",
    "--hide-scrollbars",
    "--mute-audio",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
];

/// A Chromium executable.
#[derive(Clone, Debug)]
pub struct Browser {
    executable: PathBuf,
}

/// A running browser: its process group is killed and its profile removed on drop.
struct Running {
    child: Child,
    scratch: TempDir,
}

impl Running {
    fn stderr(&self) -> String {
        std::fs::read_to_string(self.scratch.path().join("stderr")).unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Helpers may outlive the main process; the group goes either way.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    /// The browser to use: `$CONSOLE_BROWSER`, else `chromium` or `chromium-browser` on the
    /// `PATH`; or why there is none.
    pub fn find() -> Result<Self, String> {
        if let Some(path) = std::env::var_os("CONSOLE_BROWSER").filter(|p| !p.is_empty()) {
            let path = PathBuf::from(path);
            return if path.is_file() {
                Ok(Self { executable: path })
            } else {
                Err(format!("CONSOLE_BROWSER={} is not a file", path.display()))
            };
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        for dir in std::env::split_paths(&path) {
            for name in ["chromium", "chromium-browser"] {
                let candidate = dir.join(name);
                if candidate.is_file() {
                    return Ok(Self { executable: candidate });
                }
            }
        }
        Err("no chromium or chromium-browser on the PATH and CONSOLE_BROWSER is not set".into())
    }

    /// Starts the browser headless on `url` with `extra` flags, stdout and stderr to files in
    /// its scratch directory.
    fn spawn(&self, url: &str, extra: &[String]) -> Running {
        let scratch = tempfile::Builder::new()
            .prefix("console-browser-")
            .tempdir()
            .expect("cannot create the browser's temporary directory");
        let out = std::fs::File::create(scratch.path().join("stdout"))
            .expect("cannot create the browser's stdout file");
        let err = std::fs::File::create(scratch.path().join("stderr"))
            .expect("cannot create the browser's stderr file");
        let child = Command::new(&self.executable)
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", scratch.path().join("profile").display()))
            .args(extra)
            .arg(url)
            // Its own process group, so that a hung browser goes with all its helpers.
            .process_group(0)
            .env("HOME", scratch.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.executable.display()));
        Running { child, scratch }
    }

    /// Runs the browser on `url` with `extra` flags and returns what it printed on stdout.
    /// Panics, with its stderr, if it fails or is still running after [`BROWSER_TIMEOUT`]
    /// (it is killed then).
    pub fn run(&self, url: &str, extra: &[String]) -> String {
        let mut running = self.spawn(url, extra);
        let deadline = Instant::now() + BROWSER_TIMEOUT;
        let status = loop {
            if let Some(status) = running.child.try_wait().expect("cannot wait for the browser") {
                break Some(status);
            }
            if Instant::now() >= deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        match status {
            None => panic!(
                "the browser did not finish {url} within {}s and was killed; stderr:\n{}",
                BROWSER_TIMEOUT.as_secs(),
                running.stderr()
            ),
            Some(status) if !status.success() => {
                panic!("the browser exited with {status} on {url}; stderr:\n{}", running.stderr())
            }
            Some(_) => std::fs::read_to_string(running.scratch.path().join("stdout"))
                .expect("cannot read the browser's stdout"),
        }
    }

    /// The DOM the browser built for `url`, serialized.
    pub fn dom(&self, url: &str) -> String {
        self.run(url, &["--dump-dom".to_string()])
    }

    /// Saves a 1280×900 screenshot of `url` to `path`; panics if none was written.
    pub fn screenshot(&self, url: &str, path: &Path) {
        let _ = std::fs::remove_file(path);
        self.run(
            url,
            &[format!("--screenshot={}", path.display()), "--window-size=1280,900".to_string()],
        );
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        assert!(size > 0, "the browser wrote no screenshot to {}", path.display());
    }

    /// Starts the browser on a blank page with a DevTools endpoint and connects to the page.
    pub fn devtools(&self) -> DevTools {
        let running = self.spawn("about:blank", &["--remote-debugging-port=0".to_string()]);
        // With port 0 the browser writes the port it chose to the profile directory.
        let active = running.scratch.path().join("profile").join("DevToolsActivePort");
        let deadline = Instant::now() + BROWSER_TIMEOUT;
        let page = loop {
            let port = std::fs::read_to_string(&active)
                .ok()
                .and_then(|text| text.lines().next()?.trim().parse::<u16>().ok());
            if let Some(page) = port.and_then(page_socket) {
                break page;
            }
            if Instant::now() >= deadline {
                panic!(
                    "the browser opened no DevTools page within {}s; stderr:\n{}",
                    BROWSER_TIMEOUT.as_secs(),
                    running.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let socket = WebSocket::connect(&page);
        DevTools { socket, next_id: 0, events: Vec::new(), _running: running }
    }
}

/// The WebSocket address of the first page target of the browser listening on `port`.
fn page_socket(port: u16) -> Option<String> {
    let client =
        reqwest::blocking::Client::builder().timeout(Duration::from_secs(5)).build().ok()?;
    let targets: Value =
        client.get(format!("http://127.0.0.1:{port}/json/list")).send().ok()?.json().ok()?;
    targets.as_array()?.iter().find(|t| t["type"] == "page")?["webSocketDebuggerUrl"]
        .as_str()
        .map(str::to_string)
}

/// A minimal WebSocket client: text messages only.
struct WebSocket {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl WebSocket {
    /// Connects to `ws://host:port/path` and completes the opening handshake.
    fn connect(url: &str) -> Self {
        let rest =
            url.strip_prefix("ws://").unwrap_or_else(|| panic!("not a ws:// address: {url}"));
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let stream =
            TcpStream::connect(host).unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
        stream.set_read_timeout(Some(BROWSER_TIMEOUT)).expect("cannot set a read timeout");
        let mut writer = stream.try_clone().expect("cannot clone the socket");
        // The key is a nonce for proxies; nothing between here and the browser checks it.
        write!(
            writer,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: Y29uc29sZS1icm93c2VyLTE=\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .expect("cannot send the WebSocket handshake");
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        reader.read_line(&mut status).expect("no answer to the WebSocket handshake");
        assert!(status.starts_with("HTTP/1.1 101"), "the browser refused the WebSocket: {status}");
        loop {
            let mut line = String::new();
            let n = reader.read_line(&mut line).expect("cannot read the handshake's headers");
            if n == 0 || line == "\r\n" {
                break;
            }
        }
        Self { reader, writer }
    }

    /// Sends `text` as one masked text frame.
    fn send(&mut self, text: &str) {
        let payload = text.as_bytes();
        let mut frame = vec![0x81u8];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= usize::from(u16::MAX) => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask: [u8; 4] = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0x5eed)
            .to_be_bytes();
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.writer.write_all(&frame).expect("cannot write to the DevTools socket");
    }

    /// Reads the next text message (joining continued frames).
    fn receive(&mut self) -> String {
        let mut message = Vec::new();
        loop {
            let mut head = [0u8; 2];
            self.read_exact(&mut head);
            let (fin, opcode) = (head[0] & 0x80 != 0, head[0] & 0x0f);
            let len = match head[1] & 0x7f {
                126 => {
                    let mut ext = [0u8; 2];
                    self.read_exact(&mut ext);
                    u64::from(u16::from_be_bytes(ext))
                }
                127 => {
                    let mut ext = [0u8; 8];
                    self.read_exact(&mut ext);
                    u64::from_be_bytes(ext)
                }
                n => u64::from(n),
            };
            let mut payload = vec![0u8; usize::try_from(len).expect("a frame too large")];
            self.read_exact(&mut payload);
            match opcode {
                0x8 => panic!("the browser closed the DevTools socket"),
                0x9 | 0xa => continue,
                _ => message.extend_from_slice(&payload),
            }
            if fin {
                return String::from_utf8(message).expect("a DevTools message is UTF-8");
            }
        }
    }

    fn read_exact(&mut self, buf: &mut [u8]) {
        self.reader.read_exact(buf).unwrap_or_else(|e| {
            panic!("no DevTools message within the read timeout, or the socket broke: {e}")
        });
    }
}

/// A DevTools protocol session with one page of a running browser.
pub struct DevTools {
    socket: WebSocket,
    next_id: u64,
    /// Events received so far and not yet taken, oldest first.
    events: Vec<Value>,
    _running: Running,
}

impl DevTools {
    /// Calls `method` with `params` and returns its result; panics on a protocol error.
    /// Events that arrive meanwhile are kept (see [`DevTools::events`]).
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.socket.send(&json!({"id": id, "method": method, "params": params}).to_string());
        loop {
            let message: Value =
                serde_json::from_str(&self.socket.receive()).expect("a DevTools message is JSON");
            if message["id"] == id {
                if let Some(error) = message.get("error") {
                    panic!("DevTools {method} failed: {error}");
                }
                return message["result"].clone();
            }
            if message.get("method").is_some() {
                self.events.push(message);
            }
        }
    }

    /// Waits for an event named `method` (one already received counts) and returns it, with
    /// every event before it left in [`DevTools::events`].
    pub fn wait_for_event(&mut self, method: &str) -> Value {
        let deadline = Instant::now() + BROWSER_TIMEOUT;
        loop {
            if let Some(found) = self.events.iter().find(|e| e["method"] == method) {
                return found.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no DevTools event {method} within {}s",
                BROWSER_TIMEOUT.as_secs()
            );
            let message: Value =
                serde_json::from_str(&self.socket.receive()).expect("a DevTools message is JSON");
            if message.get("method").is_some() {
                self.events.push(message);
            }
        }
    }

    /// Takes the events received so far.
    pub fn events(&mut self) -> Vec<Value> {
        std::mem::take(&mut self.events)
    }

    /// Navigates to `url`, waits for the load event and returns every event of the load.
    /// Panics if the navigation fails.
    pub fn load(&mut self, url: &str) -> Vec<Value> {
        self.try_load(url).unwrap_or_else(|(error, events)| {
            panic!("the browser could not load {url}: {error}; events: {events:?}")
        })
    }

    /// Like [`DevTools::load`], but a failed navigation is the browser's error text with the
    /// events received until then.
    pub fn try_load(&mut self, url: &str) -> Result<Vec<Value>, (String, Vec<Value>)> {
        self.events.clear();
        let navigated = self.call("Page.navigate", json!({"url": url}));
        if let Some(error) = navigated.get("errorText").and_then(Value::as_str) {
            return Err((error.to_string(), self.events()));
        }
        self.wait_for_event("Page.loadEventFired");
        Ok(self.events())
    }

    /// Evaluates `expression` in the page and returns its value.
    pub fn evaluate(&mut self, expression: &str) -> Value {
        let result =
            self.call("Runtime.evaluate", json!({"expression": expression, "returnByValue": true}));
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("{expression} threw: {exception}");
        }
        result["result"]["value"].clone()
    }
}
