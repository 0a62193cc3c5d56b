//! Logging set-up: human-readable lines (or JSON lines, `logging.format: json`) on stderr,
//! level from `RUST_LOG` (default `info`).
//!
//! Every event is one line, whatever its fields hold: the writer escapes line breaks and
//! other control characters inside an event, so neither a caller's string nor an adapter's
//! output can forge a log line.

use crate::config::LogFormat;
use std::io::{self, Write};
use tracing_subscriber::EnvFilter;

/// Lines the log writer thread queues before a logging call waits for it.
const LOG_QUEUE_LINES: usize = 1024;

/// Keeps the log writer's thread alive; drop it last, when the process ends, so that the
/// lines still queued are written.
pub type LogGuard = Option<tracing_appender::non_blocking::WorkerGuard>;

/// Installs the global subscriber writing `format` lines, through a writer thread so that a
/// slow stderr never stalls a request. Safe to call more than once (later calls do nothing
/// and return `None`).
pub fn init(format: LogFormat) -> LogGuard {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,actix_server=warn"));
    let ansi = format == LogFormat::Text
        && std::env::var_os("NO_COLOR").is_none()
        && std::io::IsTerminal::is_terminal(&std::io::stderr());
    // A queue of 1,024 lines is enough for bursts; the crate's default (128k lines) reserves
    // megabytes the broker never uses. When full, the writer blocks rather than drop lines:
    // audit and error lines must not be lost.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .lossy(false)
        .finish(OneLinePerEvent { keep_ansi: ansi });
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(ansi);
    let installed = match format {
        LogFormat::Text => builder.with_target(false).try_init(),
        // JSON lines carry the target, so that audit lines (target `audit`) can be routed,
        // and the fields of the request span (request id, ...) next to the event's own.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    installed.ok().map(|()| guard)
}

/// Escapes an event's text so that it stays one line: CR, LF (except the event's final
/// newline), and other control characters become visible escapes. Tabs stay; the escape
/// character stays only when the log is coloured (it starts the colour codes).
pub fn escape_event(event: &[u8], keep_ansi: bool) -> Vec<u8> {
    let (body, newline) = match event.strip_suffix(b"\n") {
        Some(body) => (body, true),
        None => (event, false),
    };
    let mut out = Vec::with_capacity(event.len() + 8);
    for &b in body {
        match b {
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.push(b),
            0x1b if keep_ansi => out.push(b),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
            _ => out.push(b),
        }
    }
    if newline {
        out.push(b'\n');
    }
    out
}

/// The stderr writer behind [`init`]'s writer thread: it receives one whole event per
/// write and escapes it into one line.
struct OneLinePerEvent {
    keep_ansi: bool,
}

impl Write for OneLinePerEvent {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        io::stderr().lock().write_all(&escape_event(buf, self.keep_ansi))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_stays_one_line() {
        let event = b"INFO service adapter stderr: a\r\n2026-12-02T00:00:00Z INFO forged\x00\x7f\n";
        let out = escape_event(event, false);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "INFO service adapter stderr: a\\r\\n2026-12-02T00:00:00Z INFO forged\\x00\\x7f\n"
        );
    }

    #[test]
    fn colour_codes_and_tabs_survive_only_where_they_belong() {
        assert_eq!(escape_event(b"\x1b[32mok\x1b[0m\t!\n", true), b"\x1b[32mok\x1b[0m\t!\n");
        assert_eq!(escape_event(b"\x1b[31m\n", false), b"\\x1b[31m\n".to_vec());
        assert_eq!(escape_event("ünïcode\n".as_bytes(), false), "ünïcode\n".as_bytes());
    }
}
