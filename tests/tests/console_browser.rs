//! The operator console in a real browser: headless Chromium loads `/mgmt/ui` from a broker
//! with a ready, an in-flight and a failed instance (whose adapter wrote markup to stderr).
//! The assertions look at what the browser made of the pages, not at the HTTP body: the DOM
//! it serialized (`--dump-dom`, credentials in the URL), and over the DevTools protocol
//! (credentials in an `Authorization` header it is told to send) the response it got, the
//! live DOM, the stylesheet it applied and the dialogs it opened (none).
//! Screenshots of the list and of the failed instance's page are kept under
//! `target/console-screenshots/` (or `$CONSOLE_SCREENSHOT_DIR`) and their paths printed.
//!
//! The browser is `$CONSOLE_BROWSER`, else `chromium` or `chromium-browser` on the `PATH`.
//! Without one the test says why and skips, unless `CONSOLE_BROWSER_REQUIRED=1` (CI sets it),
//! where a missing browser fails it.

mod common;

use base64::Engine as _;
use broker_tests::{unique_id, BrokerConfig, BrokerProcess, Browser, PLAN_LARGE, PLAN_SMALL};
use common::{provision_failed_with_stderr, provision_ready, provision_started};
use serde_json::{json, Value};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// What the failed instance's adapter wrote to stderr.
const MARKUP: &str = "<img src=x onerror=alert(1)>";

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
    provision_failed_with_stderr(&client, &failed, PLAN_SMALL, MARKUP);

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
    Fleet { broker, ready, in_flight, failed }
}

#[test]
fn the_console_in_a_browser_lists_failed_first_filters_and_shows_adapter_output_as_text() {
    let browser = match Browser::find() {
        Ok(browser) => browser,
        Err(why) if std::env::var("CONSOLE_BROWSER_REQUIRED").as_deref() == Ok("1") => {
            panic!("CONSOLE_BROWSER_REQUIRED=1 but there is no browser: {why}")
        }
        Err(why) => {
            announce(&format!("skipped: the console's browser test needs Chromium: {why}"));
            return;
        }
    };
    let Fleet { broker, ready, in_flight, failed } = fleet();
    let origin = broker.base_url().to_string();
    // Chromium answers the 401 challenge with the credentials of the URL.
    let base = origin.replacen("http://", "http://admin:password@", 1);

    // Without credentials the browser gets the 401 page, not the console.
    let anonymous = browser.dom(&format!("{origin}/mgmt/ui"));
    assert!(!anonymous.contains("id=\"instances\""), "{anonymous}");
    assert!(!anonymous.contains(&ready), "{anonymous}");

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
    assert_eq!(listed(&browser, &base, "/mgmt/ui?state=failed"), [failed.as_str()]);
    assert_eq!(
        listed(&browser, &base, &format!("/mgmt/ui?plan={PLAN_LARGE}")),
        [in_flight.as_str()]
    );
    assert_eq!(listed(&browser, &base, "/mgmt/ui?plan=small&state=ready"), [ready.as_str()]);
    assert_eq!(listed(&browser, &base, &format!("/mgmt/ui?q={}", &ready[..12])), [ready.as_str()]);
    assert_eq!(listed(&browser, &base, "/mgmt/ui?q=no-such-instance"), Vec::<String>::new());
    let filtered = browser.dom(&format!("{base}/mgmt/ui?state=failed"));
    assert!(
        filtered.contains("<option value=\"failed\" selected=\"\">"),
        "the form shows the chosen state: {filtered}"
    );

    let detail_path = format!("/mgmt/ui/service_instances/{failed}");
    let detail = browser.dom(&format!("{base}{detail_path}"));
    assert!(detail.contains(&format!("<h1>Service instance {failed}</h1>")), "{detail}");
    assert!(detail.contains("<h2>History</h2>"), "{detail}");
    let steps = between(&detail, "<ol class=\"steps\">", "</ol>")
        .unwrap_or_else(|| panic!("no timeline on the instance page:\n{detail}"));
    assert!(steps.contains("dashboard-url"), "{steps}");
    assert!(steps.contains("failed"), "{steps}");
    // The adapter's markup is a text node: serialized, its angle brackets are escaped, and
    // the browser made no element of it.
    assert!(steps.contains("stderr: &lt;img src=x onerror=alert(1)&gt;"), "{steps}");
    assert!(!detail.contains("<img"), "{detail}");
    assert!(!detail.contains("onerror=\""), "{detail}");

    devtools_checks(&browser, &origin, &detail_path, &failed);

    let dir = screenshot_dir();
    let list_png = dir.join("console-list.png");
    browser.screenshot(&format!("{base}/mgmt/ui"), &list_png);
    announce(&format!("console screenshot: {}", list_png.display()));
    let detail_png = dir.join("console-instance.png");
    browser.screenshot(&format!("{base}{detail_path}"), &detail_png);
    announce(&format!("console screenshot: {}", detail_png.display()));
}

/// The main document's response among the events of a load.
fn document_response(events: &[Value]) -> Value {
    events
        .iter()
        .find(|e| e["method"] == "Network.responseReceived" && e["params"]["type"] == "Document")
        .map(|e| e["params"]["response"].clone())
        .unwrap_or_else(|| panic!("no document response among {events:?}"))
}

/// A header of a DevTools response, by name in any case.
fn header(response: &Value, name: &str) -> String {
    response["headers"]
        .as_object()
        .and_then(|headers| {
            headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| v.as_str())
        })
        .unwrap_or_default()
        .to_string()
}

/// Over the DevTools protocol: the browser gets a 401 without credentials; with them in an
/// `Authorization` header it gets the console with its policy, applies the stylesheet the
/// policy allows, lists the failed instance first, and shows the adapter's markup on the
/// failed instance's page as text: no `img` element, no element with `onerror`, no dialog.
fn devtools_checks(browser: &Browser, origin: &str, detail_path: &str, failed: &str) {
    let mut devtools = browser.devtools();
    devtools.call("Page.enable", json!({}));
    devtools.call("Network.enable", json!({}));

    // Headless, the browser answers the challenge by giving up: the navigation fails after
    // the 401, and no page of the console is shown.
    let denied = match devtools.try_load(&format!("{origin}/mgmt/ui")) {
        Ok(events) | Err((_, events)) => document_response(&events),
    };
    assert_eq!(denied["status"], 401, "{denied}");
    assert_eq!(devtools.evaluate("document.querySelectorAll('#instances').length"), json!(0));

    let credentials = base64::engine::general_purpose::STANDARD.encode("admin:password");
    devtools.call(
        "Network.setExtraHTTPHeaders",
        json!({"headers": {"Authorization": format!("Basic {credentials}")}}),
    );
    let list = devtools.load(&format!("{origin}/mgmt/ui"));
    let response = document_response(&list);
    assert_eq!(response["status"], 200, "{response}");
    let csp = header(&response, "content-security-policy");
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script"),
        "the browser got the console without its policy: {response}"
    );
    assert_eq!(
        devtools.evaluate(
            "[...document.querySelectorAll('#instances tbody tr')].map(r => r.dataset.state)"
        ),
        json!(["failed", "provisioning", "ready"])
    );
    // The stylesheet came from this origin, as the policy allows: failed states are red.
    assert_eq!(
        devtools.evaluate("getComputedStyle(document.querySelector('#instances td.failed')).color"),
        json!("rgb(176, 0, 32)")
    );

    let events = devtools.load(&format!("{origin}{detail_path}"));
    let response = document_response(&events);
    assert_eq!(response["status"], 200, "{response}");
    assert!(
        header(&response, "content-security-policy").contains("default-src 'none'"),
        "{response}"
    );
    assert_eq!(
        devtools.evaluate("document.querySelector('h1').textContent"),
        json!(format!("Service instance {failed}"))
    );
    assert_eq!(devtools.evaluate("document.querySelectorAll('img').length"), json!(0));
    assert_eq!(devtools.evaluate("document.querySelectorAll('[onerror]').length"), json!(0));
    let shown = devtools.evaluate(
        "[...document.querySelectorAll('ol.steps li')].map(li => li.innerText).join('\\n')",
    );
    let shown = shown.as_str().unwrap_or_default();
    assert!(
        shown.contains(&format!("stderr: {MARKUP}")),
        "the timeline does not show the adapter's stderr as text: {shown}"
    );
    // The director task that ended in error is marked as failed, like the operation.
    assert_eq!(
        devtools.evaluate(
            "[...document.querySelectorAll('ol.steps li')].filter(li => / error$/.test(li.textContent))\
             .map(li => getComputedStyle(li.querySelector('span.failed')).color)"
        ),
        json!(["rgb(176, 0, 32)"])
    );
    let later = devtools.events();
    let dialogs: Vec<&Value> = events
        .iter()
        .chain(later.iter())
        .filter(|e| e["method"] == "Page.javascriptDialogOpening")
        .collect();
    assert!(dialogs.is_empty(), "the page opened dialogs: {dialogs:?}");
}
