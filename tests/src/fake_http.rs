//! The HTTPS plumbing the fake servers of the harness share ([`crate::FakeDirector`],
//! [`crate::FakeCredhub`]): a throw-away CA and server certificate for 127.0.0.1 (rcgen,
//! rustls), a minimal HTTP/1.1 reader (one request at a time per connection, keep-alive), and
//! a server that can be stopped and resumed on the same port to simulate an outage.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What answers each request.
pub type Handler = Arc<dyn Fn(Request) -> Response + Send + Sync>;

struct Running {
    stop: Arc<AtomicBool>,
    acceptor: JoinHandle<()>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
}

/// An HTTPS server on 127.0.0.1 with its own CA. Dropping it stops it.
pub struct HttpsServer {
    addr: SocketAddr,
    tls: Arc<rustls::ServerConfig>,
    ca_pem: String,
    handler: Handler,
    running: Mutex<Option<Running>>,
}

impl HttpsServer {
    /// Starts serving `handler` on a free port.
    pub fn start(handler: Handler) -> Self {
        let (tls, ca_pem) = tls_config();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a fake server");
        let server = HttpsServer {
            addr: listener.local_addr().expect("local addr"),
            tls,
            ca_pem,
            handler,
            running: Mutex::new(None),
        };
        server.serve(listener);
        server
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }

    /// The PEM of the CA that signed the server certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    fn serve(&self, listener: TcpListener) {
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let acceptor = {
            let (stop, connections) = (stop.clone(), connections.clone());
            let (tls, handler) = (self.tls.clone(), self.handler.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let _ = stream.set_nonblocking(false);
                            // Real servers answer without Nagle delays.
                            let _ = stream.set_nodelay(true);
                            if let Ok(clone) = stream.try_clone() {
                                connections.lock().unwrap().push(clone);
                            }
                            let (tls, handler) = (tls.clone(), handler.clone());
                            std::thread::spawn(move || serve_connection(tls, handler, stream));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        *self.running.lock().unwrap() = Some(Running { stop, acceptor, connections });
    }

    /// Stops serving: closes the listener and every open connection ("server down").
    pub fn stop(&self) {
        if let Some(running) = self.running.lock().unwrap().take() {
            running.stop.store(true, Ordering::SeqCst);
            let _ = running.acceptor.join();
            for conn in running.connections.lock().unwrap().drain(..) {
                let _ = conn.shutdown(Shutdown::Both);
            }
        }
    }

    /// Serves again on the same port, after [`HttpsServer::stop`].
    pub fn resume(&self) {
        if self.running.lock().unwrap().is_some() {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(self.addr) {
                Ok(l) => break l,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(e) => panic!("cannot re-bind the fake server on {}: {e}", self.addr),
            }
        };
        self.serve(listener);
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A throw-away CA certificate and its key.
pub fn new_ca() -> (rcgen::Certificate, KeyPair) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, "fake-bosh-director test CA");
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().expect("CA key");
    let cert = params.self_signed(&key).expect("CA certificate");
    (cert, key)
}

/// A server certificate for 127.0.0.1 and localhost signed by a new throw-away CA: the
/// certificate, its key and the CA certificate.
fn localhost_certificate() -> (rcgen::Certificate, KeyPair, rcgen::Certificate) {
    let (ca, ca_key) = new_ca();
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .expect("server params");
    params.distinguished_name.push(DnType::CommonName, "fake-bosh-director");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().expect("server key");
    let cert = params.signed_by(&key, &ca, &ca_key).expect("server certificate");
    (cert, key, ca)
}

/// [`localhost_certificate`] as PEM: (certificate, key, CA certificate), for servers that
/// read files (PostgreSQL).
pub fn localhost_certificate_pem() -> (String, String, String) {
    let (cert, key, ca) = localhost_certificate();
    (cert.pem(), key.serialize_pem(), ca.pem())
}

/// A server TLS config with a certificate for 127.0.0.1 and localhost, and the CA's PEM.
pub fn tls_config() -> (Arc<rustls::ServerConfig>, String) {
    let (cert, key, ca) = localhost_certificate();
    let chain: Vec<CertificateDer<'static>> = vec![cert.der().clone(), ca.der().clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("server TLS config");
    (Arc::new(config), ca.pem())
}

/// A parsed request.
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, percent-decoded.
    pub path: String,
    /// The path as sent.
    pub raw_path: String,
    /// The query pairs, decoded.
    pub query: Vec<(String, String)>,
    /// The headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// The first header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The first value of query parameter `key`.
    pub fn query(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// A response.
pub struct Response {
    /// The status.
    pub status: u16,
    /// The content type.
    pub content_type: &'static str,
    /// A `Location` header.
    pub location: Option<String>,
    /// The body.
    pub body: String,
}

/// A JSON answer.
pub fn json_response(status: u16, body: Value) -> Response {
    Response { status, content_type: "application/json", location: None, body: body.to_string() }
}

/// A text answer.
pub fn text(status: u16, body: &str) -> Response {
    Response { status, content_type: "text/plain", location: None, body: body.to_string() }
}

fn serve_connection(tls: Arc<rustls::ServerConfig>, handler: Handler, tcp: TcpStream) {
    let Ok(conn) = rustls::ServerConnection::new(tls) else {
        return;
    };
    let stream = rustls::StreamOwned::new(conn, tcp);
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader) {
        let response = handler(request);
        let reason = match response.status {
            200 => "OK",
            201 => "Created",
            204 => "No Content",
            302 => "Found",
            400 => "Bad Request",
            401 => "Unauthorized",
            404 => "Not Found",
            409 => "Conflict",
            _ => "Status",
        };
        let mut head = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
            response.status,
            response.content_type,
            response.body.len()
        );
        if let Some(location) = &response.location {
            head.push_str(&format!("Location: {location}\r\n"));
        }
        head.push_str("\r\n");
        let stream = reader.get_mut();
        if stream.write_all(head.as_bytes()).is_err()
            || stream.write_all(response.body.as_bytes()).is_err()
            || stream.flush().is_err()
        {
            return;
        }
    }
}

/// Reads one HTTP/1.1 request (`None` at the end of the connection).
pub fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    Some(Request {
        method,
        path: percent_decode(path),
        raw_path: path.to_string(),
        query: parse_query(query),
        headers,
        body,
    })
}

/// `a=1&b=x%20y` → pairs, percent- and `+`-decoded.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(&k.replace('+', " ")), percent_decode(&v.replace('+', " ")))
        })
        .collect()
}

/// Percent-decodes `s` (invalid escapes stay as they are).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 3 <= bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The first value of query parameter `key` in a recorded request's query.
pub fn query_value<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The user and password of a `Basic` authorization header.
pub fn decode_basic(header: &str) -> Option<(String, String)> {
    use base64_lite::decode;
    let encoded = header.strip_prefix("Basic ")?;
    let raw = decode(encoded.trim())?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// A tiny standard-alphabet base64 decoder (the harness needs it for one header).
mod base64_lite {
    pub fn decode(s: &str) -> Option<Vec<u8>> {
        let value = |c: u8| -> Option<u32> {
            Some(match c {
                b'A'..=b'Z' => (c - b'A') as u32,
                b'a'..=b'z' => (c - b'a' + 26) as u32,
                b'0'..=b'9' => (c - b'0' + 52) as u32,
                b'+' => 62,
                b'/' => 63,
                _ => return None,
            })
        };
        let s = s.trim_end_matches('=').as_bytes();
        let mut out = Vec::new();
        let mut acc = 0u32;
        let mut bits = 0;
        for &c in s {
            acc = (acc << 6) | value(c)?;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
                acc &= (1 << bits) - 1;
            }
        }
        Some(out)
    }
}
