//! A throw-away PostgreSQL cluster for the tests: `initdb` in a temporary directory, one
//! server on 127.0.0.1 at a free port, a fresh database per test ([`PgCluster::database`]).
//!
//! The server is started once per test process ([`shared`]) from Debian's binaries
//! (`/usr/lib/postgresql/<version>/bin`, or `initdb` on the `PATH`). PostgreSQL refuses to run
//! as root, so under root it runs as the `postgres` user (or `nobody`) through `setpriv`.
//! It is stopped, and its directory removed, when the test process ends: a small shell
//! watches its standard input, which closes with the process, however it ends.
//!
//! Without PostgreSQL binaries the tests that need it skip, saying why, unless
//! `POSTGRES_REQUIRED=1` is set (as in CI), which makes a missing server a failure.
//!
//! The server speaks TLS too, with a certificate for 127.0.0.1 from a throw-away CA
//! ([`PgCluster::ca_file`]); [`PgCluster::url`] connects without it.

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The environment variable that makes a missing PostgreSQL a test failure.
pub const REQUIRED_VAR: &str = "POSTGRES_REQUIRED";

/// A running throw-away cluster.
pub struct PgCluster {
    port: u16,
    /// The PEM file of the CA that signed the server's certificate (TLS is on).
    ca_file: PathBuf,
    bin: PathBuf,
    /// The watcher shell; its standard input closing stops the server.
    _watcher: Child,
    _dir: tempfile::TempDir,
    next: AtomicUsize,
}

/// The cluster of this test process, started on first use; `None` (with the reason printed)
/// when PostgreSQL is not installed and not required.
pub fn shared() -> Option<&'static PgCluster> {
    static CLUSTER: OnceLock<Result<PgCluster, String>> = OnceLock::new();
    match CLUSTER.get_or_init(PgCluster::start) {
        Ok(cluster) => Some(cluster),
        Err(why) if std::env::var(REQUIRED_VAR).as_deref() == Ok("1") => {
            panic!("PostgreSQL is required ({REQUIRED_VAR}=1) but cannot start: {why}")
        }
        Err(why) => {
            eprintln!("skipped: no PostgreSQL for this test ({why}); install the postgresql package to run it");
            None
        }
    }
}

/// The directory of the PostgreSQL server binaries, if installed.
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .find(|d| d.join("initdb").exists() && d.join("postgres").exists())
}

/// Under root: the user to run the server as, for `setpriv`.
fn unprivileged_user() -> Option<(u32, u32)> {
    if effective_uid() != 0 {
        return None;
    }
    for name in ["postgres", "nobody"] {
        let ids = |flag: &str| -> Option<u32> {
            let out = Command::new("id").arg(flag).arg(name).output().ok()?;
            String::from_utf8(out.stdout).ok()?.trim().parse().ok()
        };
        if let (Some(uid), Some(gid)) = (ids("-u"), ids("-g")) {
            return Some((uid, gid));
        }
    }
    None
}

/// The effective user id, from `id -u` (no libc binding in this crate).
fn effective_uid() -> u32 {
    Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(u32::MAX)
}

/// `program` with `args`, as `user` when given.
fn command_as(user: Option<(u32, u32)>, program: &Path) -> Command {
    match user {
        Some((uid, gid)) => {
            let mut c = Command::new("setpriv");
            c.arg(format!("--reuid={uid}"))
                .arg(format!("--regid={gid}"))
                .arg("--clear-groups")
                .arg(program);
            c
        }
        None => Command::new(program),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl PgCluster {
    /// Creates and starts a cluster.
    pub fn start() -> Result<Self, String> {
        let bin = bin_dir().ok_or("initdb not found in /usr/lib/postgresql/*/bin or on PATH")?;
        let user = unprivileged_user();
        let dir = tempfile::Builder::new()
            .prefix("odb-postgres-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let data = dir.path().join("data");
        std::fs::create_dir(&data).map_err(|e| e.to_string())?;
        if let Some((uid, gid)) = user {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
                .map_err(|e| e.to_string())?;
            std::os::unix::fs::chown(&data, Some(uid), Some(gid)).map_err(|e| e.to_string())?;
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .map_err(|e| e.to_string())?;
        }
        let out = command_as(user, &bin.join("initdb"))
            .args(["-D"])
            .arg(&data)
            .args(["-U", "odb", "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C.UTF-8"])
            .output()
            .map_err(|e| format!("initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!("initdb failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        // TLS on, with a certificate for 127.0.0.1 from a throw-away CA.
        let (cert, key, ca) = crate::fake_http::localhost_certificate_pem();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca).map_err(|e| e.to_string())?;
        for (name, pem) in [("server.crt", cert), ("server.key", key)] {
            use std::os::unix::fs::PermissionsExt as _;
            let path = data.join(name);
            std::fs::write(&path, pem).map_err(|e| e.to_string())?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| e.to_string())?;
            if let Some((uid, gid)) = user {
                std::os::unix::fs::chown(&path, Some(uid), Some(gid)).map_err(|e| e.to_string())?;
            }
        }
        let port = free_port();
        let mut server = command_as(user, &bin.join("postgres"));
        server
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", dir.path().display()))
            .args(["-c", "max_connections=400"])
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off"])
            .args([
                "-c",
                "ssl=on",
                "-c",
                "ssl_cert_file=server.crt",
                "-c",
                "ssl_key_file=server.key",
            ]);
        // The watcher: starts the server, and stops it (and removes the directory) when its
        // standard input closes, which it does when this process ends.
        let line = format!(
            "{} & pid=$!; echo started; read _; kill -INT $pid; wait $pid; rm -rf '{}'",
            shell_words(&server),
            dir.path().display()
        );
        let mut watcher = Command::new("sh")
            .args(["-c", &line])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting postgres: {e}"))?;
        let mut first = String::new();
        BufReader::new(watcher.stdout.take().expect("stdout"))
            .read_line(&mut first)
            .map_err(|e| e.to_string())?;
        let cluster =
            Self { port, ca_file, bin, _watcher: watcher, _dir: dir, next: AtomicUsize::new(0) };
        cluster.wait_ready()?;
        Ok(cluster)
    }

    fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = Command::new(self.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "odb"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("the server did not accept connections within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The PEM file of the CA that signed the server's certificate.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs SQL with `psql` on database `db`.
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "odb"])
            .args(["-d", db, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// A new, empty database; returns its URL.
    pub fn database(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let name = format!("t{}_{n}", std::process::id());
        self.psql("postgres", &format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        self.url(&name)
    }

    /// The URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://odb@127.0.0.1:{}/{name}?sslmode=disable", self.port)
    }
}

/// `cmd` as one shell line, each word single-quoted.
fn shell_words(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|w| format!("'{}'", w.to_string_lossy().replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}
