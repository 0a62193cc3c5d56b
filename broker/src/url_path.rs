//! [`UrlPath`]: the one way the broker builds the path and query of a URL it calls (the BOSH
//! director, a broker from the operator commands, CredHub), so that a name from a request, a
//! store or another service can never change which resource is called.
//!
//! Every [`segment`](UrlPath::segment) is percent-encoded: only `A-Z a-z 0-9 - . _ ~` stay as
//! they are, so `/ ? # % ;`, spaces, CR/LF, NUL, backslashes and non-ASCII text can neither add
//! a segment, start a query or fragment, nor be read as an escape. A segment that is empty, `.`
//! or `..` is refused: URL parsers (the WHATWG rules `reqwest` follows) collapse `..`, `%2E%2E`,
//! `.%2e` and friends, so no encoding of such a name survives the trip to the server. Path pieces
//! that are the broker's own (BOSH's recreate-everything path `jobs/*`, whose `*` the director
//! must see literally) go through [`literal`](UrlPath::literal), which only takes a
//! `&'static str`. Query pairs are form-encoded.
//!
//! [`UrlPath::to_url`] joins the result to a base URL and checks that the URL parser kept the
//! path and query exactly as built, so the path can never leave the base's path.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::Url;
use std::fmt;

/// What stays unencoded in a path segment: RFC 3986 unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// What stays unencoded in a form-encoded query key or value (as `application/x-www-form-urlencoded`
/// serialises; a space becomes `+`).
const FORM: &AsciiSet = &NON_ALPHANUMERIC.remove(b'*').remove(b'-').remove(b'.').remove(b'_');

/// The characters a [`UrlPath::literal`] may hold.
fn literal_char_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '*' | '/')
}

/// How long a piece of a path may be when an error message quotes it.
const QUOTE_LIMIT: usize = 120;

/// Why a [`UrlPath`] cannot be turned into a URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlPathError {
    /// A segment was empty, `.` or `..`: no URL can carry it without changing the path.
    #[error("'{0}' cannot be a URL path segment: an empty, '.' or '..' segment would change which resource is called")]
    UnusableSegment(String),
    /// A literal piece held something other than unreserved characters, `*` and inner `/`.
    #[error("the literal path piece '{0}' is not a plain relative path")]
    UnusableLiteral(&'static str),
    /// The base URL has no hierarchical path to append to (`mailto:`, `data:`).
    #[error("the base URL cannot have a path")]
    BaseCannotHavePath,
    /// The URL parser changed the path or query: it would not be the resource that was built.
    #[error("the path '{0}' would not stay as built under the base URL")]
    Escapes(String),
}

/// An encoded URL path with its query, built one segment at a time.
///
/// ```
/// use on_demand_broker::url_path::UrlPath;
/// let path = UrlPath::root()
///     .segment("deployments")
///     .segment("service-instance_a/../b")
///     .literal("jobs/*")
///     .query("state", "recreate");
/// assert_eq!(
///     path.to_relative().unwrap(),
///     "/deployments/service-instance_a%2F..%2Fb/jobs/*?state=recreate"
/// );
/// ```
///
/// [`Display`](fmt::Display) shows the same text, for messages; to call anything, use
/// [`to_url`](UrlPath::to_url) or [`to_relative`](UrlPath::to_relative), which refuse an
/// unusable segment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlPath {
    /// `/a/b`, encoded; empty for the root.
    path: String,
    /// Query pairs as given (encoded when rendered).
    query: Vec<(String, String)>,
    /// The first reason this path cannot be used.
    error: Option<UrlPathError>,
}

impl UrlPath {
    /// The root path `/`, with no query.
    pub fn root() -> Self {
        Self::default()
    }

    /// Appends one segment, percent-encoded, whatever it holds. An empty, `.` or `..` segment
    /// makes the path unusable ([`UrlPathError::UnusableSegment`]).
    pub fn segment(mut self, segment: impl AsRef<str>) -> Self {
        let segment = segment.as_ref();
        if matches!(segment, "" | "." | "..") {
            self.fail(UrlPathError::UnusableSegment(segment.to_string()));
        }
        self.path.push('/');
        self.path.extend(utf8_percent_encode(segment, SEGMENT).map(|s| s.to_string()));
        self
    }

    /// Appends the broker's own path piece verbatim (`jobs/*`): unreserved characters, `*`,
    /// and `/` between non-empty, non-dot segments. Anything else makes the path unusable
    /// ([`UrlPathError::UnusableLiteral`]).
    pub fn literal(mut self, piece: &'static str) -> Self {
        let plain = piece.chars().all(literal_char_ok)
            && piece.split('/').all(|s| !matches!(s, "" | "." | ".."));
        if !plain {
            self.fail(UrlPathError::UnusableLiteral(piece));
        }
        self.path.push('/');
        self.path.push_str(piece);
        self
    }

    /// Appends a query pair; key and value are form-encoded.
    pub fn query(mut self, key: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.query.push((key.as_ref().to_string(), value.as_ref().to_string()));
        self
    }

    /// The encoded path (`/` for the root), without the query.
    pub fn path(&self) -> &str {
        if self.path.is_empty() {
            "/"
        } else {
            &self.path
        }
    }

    /// The form-encoded query without `?`; empty when there are no pairs.
    pub fn query_string(&self) -> String {
        self.query
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Why the path cannot be used, if it cannot.
    pub fn error(&self) -> Option<&UrlPathError> {
        self.error.as_ref()
    }

    /// `path[?query]`, to append to a base URL that has no path of its own; refused when a
    /// segment is unusable.
    pub fn to_relative(&self) -> Result<String, UrlPathError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        Ok(self.to_string())
    }

    /// This path under `base`'s path (`https://d:25555/bosh` + `/tasks/1` →
    /// `https://d:25555/bosh/tasks/1`), with this query; `base`'s own query and fragment are
    /// dropped. Refused when a segment is unusable or the URL parser would not keep the path
    /// and query exactly as built.
    pub fn to_url(&self, base: &Url) -> Result<Url, UrlPathError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if base.cannot_be_a_base() {
            return Err(UrlPathError::BaseCannotHavePath);
        }
        let full = format!("{}{}", base.path().trim_end_matches('/'), self.path());
        let mut url = base.clone();
        url.set_fragment(None);
        url.set_query(None);
        url.set_path(&full);
        if url.path() != full {
            return Err(UrlPathError::Escapes(quote(self.path())));
        }
        let query = self.query_string();
        if !query.is_empty() {
            url.set_query(Some(&query));
            if url.query() != Some(query.as_str()) {
                return Err(UrlPathError::Escapes(quote(&self.to_string())));
            }
        }
        Ok(url)
    }

    fn fail(&mut self, error: UrlPathError) {
        self.error.get_or_insert(error);
    }
}

impl fmt::Display for UrlPath {
    /// `path[?query]`, encoded. For messages: an unusable path shows too.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.path())?;
        if !self.query.is_empty() {
            write!(f, "?{}", self.query_string())?;
        }
        Ok(())
    }
}

/// `application/x-www-form-urlencoded` serialisation of one key or value.
fn form_encode(text: &str) -> String {
    text.split(' ')
        .map(|part| utf8_percent_encode(part, FORM).to_string())
        .collect::<Vec<_>>()
        .join("+")
}

/// At most [`QUOTE_LIMIT`] characters of `text`, for an error message.
fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTE_LIMIT) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

/// A plain-HTTP server on 127.0.0.1 that records each request's method and request target
/// exactly as they arrived, for tests that prove what a client puts on the wire.
#[cfg(test)]
pub(crate) mod wire {
    use percent_encoding::percent_decode_str;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};

    /// One request as received.
    #[derive(Debug, Clone)]
    pub struct Recorded {
        /// `GET`, `POST`, ...
        pub method: String,
        /// The request target: path and query, as sent.
        pub target: String,
        /// The body, as text.
        pub body: String,
    }

    impl Recorded {
        /// The target without its query.
        pub fn path(&self) -> &str {
            self.target.split('?').next().unwrap_or_default()
        }

        /// The path's segments, each percent-decoded after splitting, as a server routes them.
        /// Panics unless the target is plain printable ASCII that a URL parser leaves as it is,
        /// with no fragment.
        pub fn segments(&self) -> Vec<String> {
            assert!(
                self.target.bytes().all(|b| b.is_ascii_graphic()) && !self.target.contains('#'),
                "{}",
                self.target
            );
            let url = reqwest::Url::parse(&format!("http://server{}", self.target)).unwrap();
            assert_eq!(url.path(), self.path(), "the target is not in normal form");
            self.path()
                .trim_start_matches('/')
                .split('/')
                .map(|s| percent_decode_str(s).decode_utf8().unwrap().into_owned())
                .collect()
        }

        /// The query, form-decoded.
        pub fn query_pairs(&self) -> Vec<(String, String)> {
            reqwest::Url::parse(&format!("http://server{}", self.target))
                .unwrap()
                .query_pairs()
                .into_owned()
                .collect()
        }

        /// The request as method, decoded segments and query pairs, to compare with
        /// [`expected`].
        pub fn decoded(&self) -> Request {
            (self.method.clone(), self.segments(), self.query_pairs())
        }
    }

    /// A request as method, decoded path segments and query pairs.
    pub type Request = (String, Vec<String>, Vec<(String, String)>);

    /// The request a test expects, in the form of [`Recorded::decoded`].
    pub fn expected(method: &str, segments: &[&str], query: &[(&str, &str)]) -> Request {
        (
            method.to_string(),
            segments.iter().map(|s| s.to_string()).collect(),
            query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        )
    }

    /// What the server answers.
    pub struct Answer {
        /// Status code.
        pub status: u16,
        /// A `Location` header.
        pub location: Option<String>,
        /// A JSON body.
        pub body: String,
    }

    impl Answer {
        /// 200 with a JSON body.
        pub fn json(body: serde_json::Value) -> Self {
            Self { status: 200, location: None, body: body.to_string() }
        }

        /// 302 to `/tasks/<id>`.
        pub fn task(id: i64) -> Self {
            Self { status: 302, location: Some(format!("/tasks/{id}")), body: String::new() }
        }

        /// A status with a text body.
        pub fn status(status: u16, body: &str) -> Self {
            Self { status, location: None, body: body.to_string() }
        }
    }

    type Responder = dyn Fn(&Recorded) -> Answer + Send + Sync;

    /// A running recorder; its threads end with the test process.
    pub struct Recorder {
        /// `http://127.0.0.1:<port>`.
        pub base: String,
        requests: Arc<Mutex<Vec<Recorded>>>,
    }

    impl Recorder {
        /// Starts a recorder that answers each request with `answer`.
        pub fn start(answer: impl Fn(&Recorded) -> Answer + Send + Sync + 'static) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
            let base = format!("http://{}", listener.local_addr().expect("local address"));
            let requests = Arc::new(Mutex::new(Vec::new()));
            let answer: Arc<Responder> = Arc::new(answer);
            let recorded = requests.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    let (recorded, answer) = (recorded.clone(), answer.clone());
                    std::thread::spawn(move || serve(stream, &recorded, &*answer));
                }
            });
            Self { base, requests }
        }

        /// The requests so far, in arrival order.
        pub fn requests(&self) -> Vec<Recorded> {
            self.requests.lock().unwrap().clone()
        }
    }

    /// Reads one request, records it, answers and closes the connection.
    fn serve(stream: TcpStream, recorded: &Mutex<Vec<Recorded>>, answer: &Responder) {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).is_err() {
            return;
        }
        let line = String::from_utf8_lossy(&line).into_owned();
        let mut parts = line.trim_end().splitn(3, ' ');
        let mut request = Recorded {
            method: parts.next().unwrap_or_default().to_string(),
            target: parts.next().unwrap_or_default().to_string(),
            body: String::new(),
        };
        let mut length = 0;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        request.body = String::from_utf8_lossy(&body).into_owned();
        recorded.lock().unwrap().push(request.clone());
        let answer = answer(&request);
        let mut head = format!(
            "HTTP/1.1 {} Answer\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
            answer.status,
            answer.body.len()
        );
        if let Some(location) = &answer.location {
            head.push_str(&format!("Location: {location}\r\n"));
        }
        head.push_str("\r\n");
        let mut stream = reader.into_inner();
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(answer.body.as_bytes());
        let _ = stream.flush();
    }

    /// Names a caller could send, each of which must stay one segment.
    pub(crate) fn hostile_names() -> Vec<String> {
        let mut names: Vec<String> = [
            "x/../../deployments/cf",
            "x%2F..%2F..%2Fdeployments%2Fcf",
            "/",
            "a/b",
            "../cf",
            "..%2Fcf",
            "%2e%2e",
            "%2E%2E",
            ".%2e",
            "%2e",
            "...",
            "a#b",
            "a?x=1",
            "a?x=1#y",
            "a?x=1#/../cf",
            "a;b=c",
            "a;jsessionid=1",
            "a b",
            "a+b",
            "a%20b",
            "a%",
            "a%zz",
            "a\r\nHost: evil",
            "a\nb",
            "a\0b",
            "a\\..\\cf",
            "..\\..\\cf",
            "a b+c%",
            "\0",
            "雪/..",
            "a\t b",
            "ä/ü",
            "инстанс",
            "雪/../cf",
            "😀",
            "a\u{202e}b",
            "*",
            "jobs/*",
            "@evil.example",
            "//evil.example/x",
            ":8080",
            "a&b=c",
            "~user",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        names.push("a".repeat(10 * 1024));
        names.push((0u8..=127).map(char::from).collect());
        names.push(format!("{}/..", "x/".repeat(5000)));
        names.push("a/".repeat(5 * 1024));
        names
    }
}

#[cfg(test)]
mod tests {
    use super::wire::{hostile_names, Answer, Recorder};
    use super::*;
    use percent_encoding::percent_decode_str;
    use serde_json::json;

    fn decode(segment: &str) -> String {
        percent_decode_str(segment).decode_utf8().unwrap().into_owned()
    }

    #[test]
    fn the_root_is_a_slash() {
        assert_eq!(UrlPath::root().path(), "/");
        assert_eq!(UrlPath::root().to_relative().unwrap(), "/");
    }

    #[test]
    fn plain_names_are_unchanged() {
        let path = UrlPath::root()
            .segment("deployments")
            .segment("service-instance_0f1e2d3c-aaaa-4bbb-8ccc-123456789abc")
            .segment("errands")
            .segment("smoke.tests~1")
            .segment("runs");
        assert_eq!(
            path.path(),
            "/deployments/service-instance_0f1e2d3c-aaaa-4bbb-8ccc-123456789abc/errands/smoke.tests~1/runs"
        );
    }

    #[test]
    fn every_hostile_name_stays_one_segment_and_decodes_back() {
        for name in hostile_names() {
            let path = UrlPath::root().segment("deployments").segment(&name);
            let encoded = path.path().strip_prefix("/deployments/").unwrap();
            assert!(
                encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)),
                "{name:?} encoded as {encoded:?}"
            );
            assert_eq!(decode(encoded), name, "round trip of {name:?}");
            assert!(path.error().is_none(), "{name:?} refused");
            assert_eq!(path.to_relative().unwrap(), path.path());
        }
    }

    #[test]
    fn reserved_characters_are_encoded() {
        let reserved = ":/?#[]@!$&'()*+,;=% \"<>\\^`{|}";
        let path = UrlPath::root().segment(reserved);
        assert_eq!(
            path.path(),
            "/%3A%2F%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2B%2C%3B%3D%25%20%22%3C%3E%5C%5E%60%7B%7C%7D"
        );
    }

    #[test]
    fn control_characters_and_unicode_are_encoded() {
        assert_eq!(UrlPath::root().segment("a\r\nb").path(), "/a%0D%0Ab");
        assert_eq!(UrlPath::root().segment("a\0b").path(), "/a%00b");
        assert_eq!(UrlPath::root().segment("é").path(), "/%C3%A9");
        assert_eq!(UrlPath::root().segment("😀").path(), "/%F0%9F%98%80");
    }

    #[test]
    fn escapes_in_names_are_encoded_again() {
        assert_eq!(UrlPath::root().segment("%2e%2e").path(), "/%252e%252e");
        assert_eq!(UrlPath::root().segment("a%2Fb").path(), "/a%252Fb");
    }

    #[test]
    fn dot_and_empty_segments_are_refused() {
        for name in ["", ".", ".."] {
            let path = UrlPath::root().segment("deployments").segment(name).segment("instances");
            let expected = UrlPathError::UnusableSegment(name.to_string());
            assert_eq!(path.error(), Some(&expected));
            assert_eq!(path.to_relative(), Err(expected.clone()));
            let base = Url::parse("https://director:25555").unwrap();
            assert_eq!(path.to_url(&base), Err(expected));
        }
        // Dots inside a longer name are fine.
        assert!(UrlPath::root().segment("...").error().is_none());
        assert!(UrlPath::root().segment("a..").error().is_none());
    }

    #[test]
    fn the_first_problem_is_the_one_reported() {
        let path = UrlPath::root().segment("..").segment("");
        assert_eq!(path.error(), Some(&UrlPathError::UnusableSegment("..".into())));
    }

    #[test]
    fn literals_are_verbatim() {
        let path = UrlPath::root().segment("deployments").segment("d").literal("jobs/*");
        assert_eq!(path.path(), "/deployments/d/jobs/*");
        let base = Url::parse("https://director:25555").unwrap();
        assert_eq!(
            path.to_url(&base).unwrap().as_str(),
            "https://director:25555/deployments/d/jobs/*"
        );
    }

    #[test]
    fn literals_that_are_not_plain_paths_are_refused() {
        for piece in
            ["", "/jobs", "jobs/", "a//b", "..", "a/../b", "./a", "a?b", "a#b", "a b", "a%2F", "é"]
        {
            let path = UrlPath::root().literal(piece);
            assert_eq!(path.error(), Some(&UrlPathError::UnusableLiteral(piece)), "{piece:?}");
        }
    }

    #[test]
    fn queries_are_form_encoded() {
        let path = UrlPath::root()
            .segment("tasks")
            .query("state", "processing,cancelling,queued")
            .query("deployment", "a&b=c#d e+f%")
            .query("azs[]", "z1");
        assert_eq!(
            path.query_string(),
            "state=processing%2Ccancelling%2Cqueued&deployment=a%26b%3Dc%23d+e%2Bf%25&azs%5B%5D=z1"
        );
        assert_eq!(path.to_string(), format!("/tasks?{}", path.query_string()));
    }

    #[test]
    fn hostile_query_values_stay_one_value() {
        for name in hostile_names() {
            let path = UrlPath::root().query("name", &name).query("latest", "true");
            let url = path.to_url(&Url::parse("https://director:25555").unwrap()).unwrap();
            let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
            assert_eq!(
                pairs,
                vec![
                    ("name".to_string(), name.clone()),
                    ("latest".to_string(), "true".to_string())
                ],
                "{name:?}"
            );
            assert_eq!(url.fragment(), None);
        }
    }

    #[test]
    fn urls_stay_under_the_base_path() {
        let path = UrlPath::root().segment("tasks").segment("1").query("type", "result");
        for (base, expected) in [
            ("https://d:25555", "https://d:25555/tasks/1?type=result"),
            ("https://d:25555/", "https://d:25555/tasks/1?type=result"),
            ("https://d/bosh", "https://d/bosh/tasks/1?type=result"),
            ("https://d/bosh/", "https://d/bosh/tasks/1?type=result"),
            ("https://d/bosh?x=1#f", "https://d/bosh/tasks/1?type=result"),
        ] {
            let url = path.to_url(&Url::parse(base).unwrap()).unwrap();
            assert_eq!(url.as_str(), expected, "{base}");
        }
        for name in hostile_names() {
            let base = Url::parse("https://d:25555/bosh").unwrap();
            let url = UrlPath::root()
                .segment("deployments")
                .segment(&name)
                .segment("instances")
                .to_url(&base)
                .unwrap();
            assert_eq!(url.host_str(), Some("d"), "{name:?}");
            assert_eq!(url.port(), Some(25555), "{name:?}");
            let segments: Vec<&str> = url.path_segments().unwrap().collect();
            assert_eq!(segments.len(), 4, "{name:?} → {url}");
            assert_eq!(segments[0], "bosh");
            assert_eq!(segments[1], "deployments");
            assert_eq!(decode(segments[2]), name);
            assert_eq!(segments[3], "instances");
            assert_eq!(url.query(), None, "{name:?}");
            assert_eq!(url.fragment(), None, "{name:?}");
        }
    }

    #[test]
    fn a_base_without_a_path_is_refused() {
        let base = Url::parse("mailto:ops@example.com").unwrap();
        assert_eq!(
            UrlPath::root().segment("x").to_url(&base),
            Err(UrlPathError::BaseCannotHavePath)
        );
    }

    #[test]
    fn long_names_are_quoted_short_in_errors() {
        let long = "é".repeat(1000);
        let quoted = quote(&long);
        assert_eq!(quoted.chars().count(), QUOTE_LIMIT + 3);
        assert!(quoted.ends_with("..."));
        assert_eq!(quote("short"), "short");
    }

    #[test]
    fn the_server_receives_each_hostile_name_as_one_segment() {
        let recorder = Recorder::start(|_| Answer::json(json!({})));
        let base = Url::parse(&recorder.base).unwrap();
        let http = reqwest::blocking::Client::new();
        let names = hostile_names();
        for name in &names {
            let url = UrlPath::root()
                .segment("deployments")
                .segment(name)
                .literal("jobs/*")
                .query("name", name)
                .to_url(&base)
                .unwrap();
            http.put(url).send().unwrap();
        }
        let requests = recorder.requests();
        assert_eq!(requests.len(), names.len());
        for (request, name) in requests.iter().zip(&names) {
            assert_eq!(request.method, "PUT");
            let path = request.path();
            let rest = path.strip_prefix("/deployments/").unwrap();
            let (segment, tail) = rest.split_once('/').unwrap();
            assert_eq!(tail, "jobs/*", "{name:?} → {}", request.target);
            assert_eq!(decode(segment), *name);
            let query = request.target.split_once('?').unwrap().1;
            assert!(query.starts_with("name=") && !query.contains('#'));
        }
    }
}
