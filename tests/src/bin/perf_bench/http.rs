//! A minimal HTTP/1.1 client for loopback benchmarks: requests are built once as bytes and
//! sent over keep-alive connections, and responses are framed by `Content-Length` or chunked
//! encoding. Two drivers share the framing code: [`Conn`], one blocking socket per caller
//! (lifecycles, and the catalog at concurrency 1), and [`load`], one thread that drives many
//! connections through tokio's current-thread reactor (the catalog at concurrency 16).
//!
//! Why not a general client: on a two-core machine the load generator competes with the
//! broker for the same cores, so every microsecond the client spends is one the broker does
//! not get. A prebuilt request and a header scan cost a few microseconds per request; reqwest
//! (with hyper, header maps and a runtime thread per blocking client) costs several times
//! that and would show up in the broker's figures.

use base64::Engine as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
}

/// A parsed status line and headers.
#[derive(Debug, Clone, Copy)]
struct Head {
    status: u16,
    /// Bytes of the status line and headers, with the blank line.
    len: usize,
    framing: Framing,
    close: bool,
}

/// A whole response.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The HTTP status code.
    pub status: u16,
    /// The decoded body.
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The body as text, for error messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn bad(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// The head of the response at the start of `buf`, once all of it has arrived.
fn parse_head(buf: &[u8]) -> io::Result<Option<Head>> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let text = std::str::from_utf8(&buf[..end]).map_err(|_| bad("response head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("bad status line in {text:?}")))?;
    let mut framing = Framing::Length(0);
    let mut close = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let n = value.parse().map_err(|_| bad(format!("bad content-length {value:?}")))?;
            framing = Framing::Length(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.eq_ignore_ascii_case("chunked")
        {
            framing = Framing::Chunked;
        } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
            close = true;
        }
    }
    Ok(Some(Head { status, len: end + 4, framing, close }))
}

/// The body that follows `head` in `buf` and the bytes the whole response takes, once all of
/// it has arrived.
fn take_body(buf: &[u8], head: &Head) -> io::Result<Option<(Vec<u8>, usize)>> {
    let rest = &buf[head.len..];
    match head.framing {
        Framing::Length(n) => Ok((rest.len() >= n).then(|| (rest[..n].to_vec(), head.len + n))),
        Framing::Chunked => {
            let mut body = Vec::new();
            let mut at = 0;
            loop {
                let Some(eol) = rest[at..].windows(2).position(|w| w == b"\r\n") else {
                    return Ok(None);
                };
                let size_text =
                    std::str::from_utf8(&rest[at..at + eol]).map_err(|_| bad("bad chunk size"))?;
                let size =
                    usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                        .map_err(|_| bad(format!("bad chunk size {size_text:?}")))?;
                let data = at + eol + 2;
                if rest.len() < data + size + 2 {
                    return Ok(None);
                }
                if size == 0 {
                    return Ok(Some((body, head.len + data + 2)));
                }
                body.extend_from_slice(&rest[data..data + size]);
                at = data + size + 2;
            }
        }
    }
}

/// Credentials and the API version header, for every request.
#[derive(Clone, Debug)]
pub struct Target {
    /// The broker's address.
    pub addr: SocketAddr,
    authorization: String,
}

impl Target {
    /// A broker at `addr` with basic-auth `username` / `password`.
    pub fn new(addr: SocketAddr, username: &str, password: &str) -> Self {
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        Target { addr, authorization: format!("Basic {token}") }
    }

    /// The bytes of one request, as a platform sends it (basic auth, `X-Broker-API-Version:
    /// 2.17`, a JSON body when given).
    pub fn request(&self, method: &str, path: &str, body: Option<&str>) -> Vec<u8> {
        let mut out = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nX-Broker-API-Version: 2.17\r\n",
            self.addr, self.authorization
        );
        if let Some(body) = body {
            out.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ));
        } else {
            out.push_str("\r\n");
        }
        out.into_bytes()
    }
}

/// One keep-alive connection, blocking; reconnects when the broker closed it.
pub struct Conn {
    target: Target,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

impl Conn {
    /// A connection to `target` (opened on the first request).
    pub fn new(target: &Target) -> Self {
        Conn { target: target.clone(), stream: None, buf: Vec::with_capacity(16 * 1024) }
    }

    /// Sends `method path` with an optional JSON body and reads the whole answer.
    pub fn send(&mut self, method: &str, path: &str, body: Option<&str>) -> io::Result<Reply> {
        let request = self.target.request(method, path, body);
        self.send_raw(&request)
    }

    /// Sends prebuilt request bytes and reads the whole answer. A connection the broker has
    /// closed since the last answer is reopened once.
    pub fn send_raw(&mut self, request: &[u8]) -> io::Result<Reply> {
        let reused = self.stream.is_some();
        match self.exchange(request) {
            Err(e) if reused && is_stale(&e) => {
                self.stream = None;
                self.exchange(request)
            }
            other => other,
        }
    }

    fn exchange(&mut self, request: &[u8]) -> io::Result<Reply> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(self.target.addr)?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(Duration::from_secs(120)))?;
            self.stream = Some(stream);
        }
        let stream = self.stream.as_mut().expect("connected above");
        let result = (|| {
            stream.write_all(request)?;
            self.buf.clear();
            let mut chunk = [0u8; 16 * 1024];
            loop {
                if let Some(head) = parse_head(&self.buf)? {
                    if let Some((body, used)) = take_body(&self.buf, &head)? {
                        if used != self.buf.len() {
                            return Err(bad("bytes after the response"));
                        }
                        return Ok((head, body));
                    }
                }
                let n = stream.read(&mut chunk)?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed before a whole response",
                    ));
                }
                self.buf.extend_from_slice(&chunk[..n]);
            }
        })();
        match result {
            Ok((head, body)) => {
                if head.close {
                    self.stream = None;
                }
                Ok(Reply { status: head.status, body })
            }
            Err(e) => {
                self.stream = None;
                Err(e)
            }
        }
    }
}

/// Whether `e` is what a keep-alive connection closed by the server looks like.
fn is_stale(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted
    )
}

/// What a load run measured.
#[derive(Debug, Clone)]
pub struct LoadRun {
    /// Answers completed inside the measured window.
    pub completed: u64,
    /// The measured window.
    pub window: Duration,
    /// Latency of each answer in the window, in nanoseconds, sorted.
    pub latencies_ns: Vec<u64>,
}

impl LoadRun {
    /// Answers per second.
    pub fn rate(&self) -> f64 {
        self.completed as f64 / self.window.as_secs_f64()
    }

    /// The `p` quantile (0..=1) of the latencies.
    pub fn quantile(&self, p: f64) -> Duration {
        Duration::from_nanos(quantile(&self.latencies_ns, p))
    }
}

/// The `p` quantile of sorted values (nearest rank).
pub fn quantile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Sends `request` over `connections` keep-alive connections, each waiting for its answer
/// before sending again (a closed loop), for `warmup` and then `window`; every answer must be
/// `200`. One connection runs on the calling thread with a blocking socket; more run on one
/// thread under tokio's current-thread reactor.
pub fn load(
    target: &Target, request: &[u8], connections: usize, warmup: Duration, window: Duration,
) -> io::Result<LoadRun> {
    let started = Instant::now();
    let measure_from = started + warmup;
    let until = measure_from + window;
    let mut latencies = if connections == 1 {
        blocking_loop(target, request, measure_from, until)?
    } else {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
        let request: Arc<[u8]> = request.into();
        runtime.block_on(async {
            let tasks: Vec<_> = (0..connections)
                .map(|_| {
                    tokio::task::spawn(async_loop(
                        target.addr,
                        request.clone(),
                        measure_from,
                        until,
                    ))
                })
                .collect();
            let mut all = Vec::new();
            for task in tasks {
                all.extend(task.await.map_err(io::Error::other)??);
            }
            Ok::<_, io::Error>(all)
        })?
    };
    latencies.sort_unstable();
    Ok(LoadRun { completed: latencies.len() as u64, window, latencies_ns: latencies })
}

fn blocking_loop(
    target: &Target, request: &[u8], measure_from: Instant, until: Instant,
) -> io::Result<Vec<u64>> {
    let mut conn = Conn::new(target);
    let mut latencies = Vec::with_capacity(1 << 16);
    loop {
        let sent = Instant::now();
        if sent >= until {
            return Ok(latencies);
        }
        let reply = conn.send_raw(request)?;
        let done = Instant::now();
        if reply.status != 200 {
            return Err(bad(format!("answer {}: {}", reply.status, reply.text())));
        }
        if sent >= measure_from && done <= until {
            latencies.push((done - sent).as_nanos() as u64);
        }
    }
}

async fn async_loop(
    addr: SocketAddr, request: Arc<[u8]>, measure_from: Instant, until: Instant,
) -> io::Result<Vec<u64>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 16 * 1024];
    let mut latencies = Vec::with_capacity(1 << 16);
    loop {
        let sent = Instant::now();
        if sent >= until {
            return Ok(latencies);
        }
        stream.write_all(&request).await?;
        buf.clear();
        let head = loop {
            if let Some(head) = parse_head(&buf)? {
                if let Some((_, used)) = take_body(&buf, &head)? {
                    if used != buf.len() {
                        return Err(bad("bytes after the response"));
                    }
                    break head;
                }
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed before a whole response",
                ));
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let done = Instant::now();
        if head.status != 200 {
            return Err(bad(format!("answer {}", head.status)));
        }
        if head.close {
            return Err(bad("the broker closed a keep-alive connection"));
        }
        if sent >= measure_from && done <= until {
            latencies.push((done - sent).as_nanos() as u64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_and_chunked_bodies_are_framed() {
        let plain = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
        let head = parse_head(plain).unwrap().unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(take_body(plain, &head).unwrap().unwrap(), (b"ok".to_vec(), plain.len()));
        assert!(take_body(&plain[..plain.len() - 1], &head).unwrap().is_none());

        let chunked = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let head = parse_head(chunked).unwrap().unwrap();
        assert!(head.close);
        assert_eq!(take_body(chunked, &head).unwrap().unwrap(), (b"abcde".to_vec(), chunked.len()));
        assert!(take_body(&chunked[..chunked.len() - 2], &head).unwrap().is_none());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n").unwrap().is_none());
    }

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), 50);
        assert_eq!(quantile(&v, 0.99), 99);
        assert_eq!(quantile(&v, 1.0), 100);
        assert_eq!(quantile(&[], 0.5), 0);
    }
}
