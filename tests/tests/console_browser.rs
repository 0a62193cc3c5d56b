//! The operator console in a real browser: headless Chromium loads `/mgmt/ui` from a broker
//! with a ready, an in-flight and a failed instance (whose adapter wrote markup to stderr) and
//! the assertions look at the DOM the browser built (`--dump-dom`), not at the HTTP body.
//! Screenshots of the list and of the failed instance's page are kept under
//! `target/console-screenshots/` (or `$CONSOLE_SCREENSHOT_DIR`) and their paths printed.
//!
//! The browser is `$CONSOLE_BROWSER`, else `chromium` or `chromium-browser` on the `PATH`.
//! Without one the test says why and skips, unless `CONSOLE_BROWSER_REQUIRED=1` (CI sets it),
//! where a missing browser fails it. Every browser run has a deadline after which its whole
//! process group is killed, and runs in a fresh profile directory that is removed afterwards.

mod common;

use broker_tests::{
    provision_body, unique_id, BrokerConfig, BrokerProcess, PLAN_LARGE, PLAN_SMALL, SERVICE_ID,
};
use common::{provision_ready, provision_started, OPERATION_TIMEOUT};
use reqwest::Method;
use serde_json::json;
use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one browser run may take before it is killed.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);

/// What the failed instance's adapter wrote to stderr.
const MARKUP: &str = "<img src=x onerror=alert(1)>";

/// Headless Chromium, run once per page.
struct Browser {
    executable: PathBuf,
}

impl Browser {
    /// The browser to use, or why there is none.
    fn find() -> Result<Self, String> {
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
                    return Ok(Self {
                        executable: candidate,
                    });
                }
            }
        }
        Err("no chromium or chromium-browser on the PATH and CONSOLE_BROWSER is not set".into())
    }

    /// Runs the browser headless on `url` with `extra` flags and returns what it printed on
    /// stdout. Panics, with its stderr, if it fails or is still running after
    /// [`BROWSER_TIMEOUT`] (it is killed then, with every process it started).
    fn run(&self, url: &str, extra: &[String]) -> String {
        let scratch = tempfile::Builder::new()
            .prefix("console-browser-")
            .tempdir()
            .expect("cannot create the browser's temporary directory");
        let profile = scratch.path().join("profile");
        let (out_path, err_path) = (scratch.path().join("stdout"), scratch.path().join("stderr"));
        let out = std::fs::File::create(&out_path).expect("cannot create the stdout file");
        let err = std::fs::File::create(&err_path).expect("cannot create the stderr file");
        let mut child = Command::new(&self.executable)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-dev-shm-usage",
                "--disable-extensions",
                "--disable-sync",
                "--no-first-run",
                "--no-default-browser-check",
                "--hide-scrollbars",
                "--mute-audio",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
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
        let deadline = Instant::now() + BROWSER_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("cannot wait for the browser") {
                break Some(status);
            }
            if Instant::now() >= deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        // Helpers may outlive the main process; the group goes either way.
        kill_group(child.id());
        let _ = child.kill();
        let _ = child.wait();
        let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
        match status {
            None => panic!(
                "the browser did not finish {url} within {}s and was killed; stderr:\n{stderr}",
                BROWSER_TIMEOUT.as_secs()
            ),
            Some(status) if !status.success() => {
                panic!("the browser exited with {status} on {url}; stderr:\n{stderr}")
            }
            Some(_) => {
                std::fs::read_to_string(&out_path).expect("cannot read the browser's stdout")
            }
        }
    }

    /// The DOM the browser built for `url`, serialized.
    fn dom(&self, url: &str) -> String {
        self.run(url, &["--dump-dom".to_string()])
    }

    /// Saves a 1280×900 screenshot of `url` to `path`.
    fn screenshot(&self, url: &str, path: &Path) {
        let _ = std::fs::remove_file(path);
        self.run(
            url,
            &[
                format!("--screenshot={}", path.display()),
                "--window-size=1280,900".to_string(),
            ],
        );
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        assert!(
            size > 0,
            "the browser wrote no screenshot to {}",
            path.display()
        );
    }
}

/// Sends SIGKILL to the process group `pgid`.
fn kill_group(pgid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Writes a line straight to the process's stdout: the test harness keeps what `println!`
/// prints in a passing test to itself, and these lines belong in the CI log.
fn announce(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

/// Where screenshots go: `$CONSOLE_SCREENSHOT_DIR`, else `target/console-screenshots/` of the
/// workspace.
fn screenshot_dir() -> PathBuf {
    let dir = std::env::var_os("CONSOLE_SCREENSHOT_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
                .join("console-screenshots")
        });
    std::fs::create_dir_all(&dir).expect("cannot create the screenshot directory");
    dir.canonicalize().unwrap_or(dir)
}

/// The rows of the `instances` table in a serialized DOM: (instance id, `data-state`), in
/// document order.
fn instance_rows(dom: &str) -> Vec<(String, String)> {
    let table = dom
        .split_once("id=\"instances\"")
        .unwrap_or_else(|| panic!("no instances table in the DOM:\n{dom}"))
        .1;
    let body = table
        .split_once("<tbody>")
        .and_then(|(_, rest)| rest.split_once("</tbody>"))
        .unwrap_or_else(|| panic!("no tbody in the instances table:\n{dom}"))
        .0;
    body.split("<tr")
        .skip(1)
        .map(|row| {
            let state = between(row, "data-state=\"", "\"").unwrap_or_default();
            let id = between(row, "\">", "</a>")
                .map(|link| link.rsplit('>').next().unwrap_or(link))
                .unwrap_or_default();
            (id.to_string(), state.to_string())
        })
        .collect()
}

/// The text between the first `start` and the next `end` after it.
fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(&text[from..from + len])
}

/// The ids of the rows the browser shows for `path` (a query string included).
fn listed(browser: &Browser, base: &str, path: &str) -> Vec<String> {
    let dom = browser.dom(&format!("{base}{path}"));
    instance_rows(&dom).into_iter().map(|(id, _)| id).collect()
}

/// The three instances the console shows, on a broker that keeps running.
struct Fleet {
    broker: BrokerProcess,
    ready: String,
    in_flight: String,
    failed: String,
}

/// A ready instance on the small plan, a failed one on the small plan whose adapter wrote
/// [`MARKUP`] to stderr, and one on the large plan whose deploy is still running. The ids
/// sort so that neither the failed nor the ready instance comes first by id.
fn fleet() -> Fleet {
    let config = BrokerConfig::new();
    let mut broker = BrokerProcess::start(&config);
    let client = broker.client();
    let ready = unique_id("aaa-ready");
    provision_ready(&client, &ready, PLAN_SMALL, json!({}));
    let failed = unique_id("zzz-failed");
    let script = json!({"adapter_script": {"dashboard-url": {
        "exit_code": 10, "stderr": MARKUP}},
        "simulate_task_failure": "deploy"});
    let r = client.provision(
        &failed,
        &provision_body(SERVICE_ID, PLAN_SMALL, script),
        true,
    );
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(
        client.wait_for_operation(&failed, None, OPERATION_TIMEOUT),
        "failed"
    );

    // Director tasks take ten minutes from here on, so the next deploy stays in flight for
    // as long as the test runs.
    let slow = config.clone().task_seconds(600).render();
    std::fs::write(
        broker.config_path(),
        serde_yaml::to_string(&slow).expect("cannot render the config"),
    )
    .expect("cannot rewrite the config");
    broker.restart();
    let in_flight = unique_id("mmm-in-flight");
    provision_started(&broker.client(), &in_flight, PLAN_LARGE, json!({}));
    Fleet {
        broker,
        ready,
        in_flight,
        failed,
    }
}

#[test]
fn the_console_in_a_browser_lists_failed_first_filters_and_shows_adapter_output_as_text() {
    let browser = match Browser::find() {
        Ok(browser) => browser,
        Err(why) if std::env::var("CONSOLE_BROWSER_REQUIRED").as_deref() == Ok("1") => {
            panic!("CONSOLE_BROWSER_REQUIRED=1 but there is no browser: {why}")
        }
        Err(why) => {
            announce(&format!(
                "skipped: the console's browser test needs Chromium: {why}"
            ));
            return;
        }
    };
    let Fleet {
        broker,
        ready,
        in_flight,
        failed,
    } = fleet();
    let client = broker.client();
    let origin = broker.base_url().to_string();
    // Chromium answers the 401 challenge with the credentials of the URL.
    let base = origin.replacen("http://", "http://admin:password@", 1);

    // Without credentials the browser gets the 401 page, not the console.
    let anonymous = browser.dom(&format!("{origin}/mgmt/ui"));
    assert!(!anonymous.contains("id=\"instances\""), "{anonymous}");
    assert!(!anonymous.contains(&ready), "{anonymous}");

    // The headers the browser was given (the policy forbids every script).
    let page = client.send(Method::GET, "/mgmt/ui", &[], None);
    let csp = page.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("default-src 'none'"), "{csp}");

    let dom = browser.dom(&format!("{base}/mgmt/ui"));
    assert!(dom.contains("<h1>Service instances</h1>"), "{dom}");
    let rows = instance_rows(&dom);
    assert_eq!(
        rows,
        vec![
            (failed.clone(), "failed".to_string()),
            (in_flight.clone(), "provisioning".to_string()),
            (ready.clone(), "ready".to_string()),
        ],
        "the failed instance first, then the one in flight, then the ready one"
    );
    assert!(dom.contains("3 of 3 instances"), "{dom}");

    // The filter form is a GET form: its query string is what the browser submits.
    assert_eq!(
        listed(&browser, &base, "/mgmt/ui?state=failed"),
        [failed.as_str()]
    );
    assert_eq!(
        listed(&browser, &base, &format!("/mgmt/ui?plan={PLAN_LARGE}")),
        [in_flight.as_str()]
    );
    assert_eq!(
        listed(&browser, &base, "/mgmt/ui?plan=small&state=ready"),
        [ready.as_str()]
    );
    assert_eq!(
        listed(&browser, &base, &format!("/mgmt/ui?q={}", &ready[..12])),
        [ready.as_str()]
    );
    assert_eq!(
        listed(&browser, &base, "/mgmt/ui?q=no-such-instance"),
        Vec::<String>::new()
    );
    let filtered = browser.dom(&format!("{base}/mgmt/ui?state=failed"));
    assert!(
        filtered.contains("<option value=\"failed\" selected=\"\">"),
        "the form shows the chosen state: {filtered}"
    );

    let detail_path = format!("/mgmt/ui/service_instances/{failed}");
    let detail = browser.dom(&format!("{base}{detail_path}"));
    assert!(
        detail.contains(&format!("<h1>Service instance {failed}</h1>")),
        "{detail}"
    );
    assert!(detail.contains("<h2>History</h2>"), "{detail}");
    let steps = between(&detail, "<ol class=\"steps\">", "</ol>")
        .unwrap_or_else(|| panic!("no timeline on the instance page:\n{detail}"));
    assert!(steps.contains("dashboard-url"), "{steps}");
    assert!(steps.contains("failed"), "{steps}");
    // The adapter's markup is a text node: serialized, its angle brackets are escaped, and
    // the browser made no element of it.
    assert!(
        steps.contains("stderr: &lt;img src=x onerror=alert(1)&gt;"),
        "{steps}"
    );
    assert!(!detail.contains("<img"), "{detail}");
    assert!(!detail.contains("onerror=\""), "{detail}");

    let dir = screenshot_dir();
    let list_png = dir.join("console-list.png");
    browser.screenshot(&format!("{base}/mgmt/ui"), &list_png);
    announce(&format!("console screenshot: {}", list_png.display()));
    let detail_png = dir.join("console-instance.png");
    browser.screenshot(&format!("{base}{detail_path}"), &detail_png);
    announce(&format!("console screenshot: {}", detail_png.display()));
}
