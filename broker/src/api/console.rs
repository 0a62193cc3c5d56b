//! The operator console under `/mgmt/ui`, behind the broker's credentials: server-rendered
//! pages with no script and no external asset (it works on an air-gapped foundation), read
//! only — it changes nothing, so it needs no CSRF machinery.
//!
//! * `GET /mgmt/ui?plan=&state=&q=`: the fleet, failed instances first, then those in
//!   flight, with a filter by plan and state and a search by id (a plain GET form), and quota
//!   use per plan.
//! * `GET /mgmt/ui/service_instances/{id}`: one instance — its bindings (ids only, never
//!   credentials) and its history from the operations journal, step by step.
//! * `GET /mgmt/ui/style.css`: the stylesheet.
//!
//! Every value is HTML-escaped: adapter output is text written by the service's code and may
//! hold markup. Answers carry a strict `Content-Security-Policy` (no script at all, styles
//! from this origin only), `X-Content-Type-Options: nosniff` and `Cache-Control: no-store`.
//! The pages are built from strings with one escaping function rather than a template
//! engine: they are small, and every dynamic value goes through [`esc`].

use super::error::{answer, ApiError};
use super::extract::InstancePath;
use super::middleware::RequestMeta;
use super::AppState;
use crate::journal::{describe_step, field_text, StepMarkup};
use crate::service::{FleetRow, HistoryEntry, InstanceDetail};
use crate::store::{InstanceState, OperationState};
use actix_web::{web, HttpResponse};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Write as _;

/// The console's Content-Security-Policy: nothing but styles from this origin.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#1d2733}
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #c8d0d8;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#eef2f6}tr.attention td{background:#fff3e0}.failed{color:#b00020;font-weight:bold}
.in-progress{color:#8a5a00}pre{white-space:pre-wrap;background:#f6f8fa;padding:.4rem;margin:.2rem 0;max-width:70rem}
form label{margin-right:1rem}ol.steps li{margin:.3rem 0}.muted{color:#5b6774}";

/// Escapes text for HTML content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> HttpResponse {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><link rel=\"stylesheet\" href=\"/mgmt/ui/style.css\"></head>\n<body>\n{body}</body></html>\n",
        esc(title)
    );
    HttpResponse::Ok()
        .insert_header(("Content-Security-Policy", CSP))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .content_type("text/html; charset=utf-8")
        .body(html)
}

/// `GET /mgmt/ui/style.css`.
pub async fn style() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Cache-Control", "no-store"))
        .content_type("text/css; charset=utf-8")
        .body(STYLE)
}

/// The style of a state: instance and operation states, and BOSH task states in the timeline.
fn state_class(state: &str) -> &'static str {
    match state {
        "failed" | "error" | "cancelled" | "timeout" => "failed",
        "in progress" | "provisioning" | "updating" | "deprovisioning" | "queued"
        | "processing" | "cancelling" => "in-progress",
        _ => "",
    }
}

/// What the filter form asks for.
struct Filter {
    plan: String,
    state: String,
    q: String,
}

impl Filter {
    fn of(query: &HashMap<String, String>) -> Self {
        let get = |k: &str| query.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
        Self { plan: get("plan"), state: get("state"), q: get("q") }
    }

    fn keeps(&self, row: &FleetRow) -> bool {
        (self.plan.is_empty() || row.plan_id == self.plan.as_str() || self.plan == row.plan_name)
            && (self.state.is_empty() || self.state == row.state.as_str())
            && (self.q.is_empty() || row.id.as_str().contains(self.q.as_str()))
    }
}

fn select(name: &str, label: &str, chosen: &str, options: &[(String, String)]) -> String {
    let mut out = format!(
        "<label>{} <select name=\"{}\"><option value=\"\">any</option>",
        esc(label),
        esc(name)
    );
    for (value, text) in options {
        let selected = if value == chosen { " selected" } else { "" };
        let _ = write!(out, "<option value=\"{}\"{selected}>{}</option>", esc(value), esc(text));
    }
    out.push_str("</select></label>");
    out
}

/// Where a row goes in the list: failed instances (or a failed last operation) first, then
/// instances with an operation in flight, then the rest.
fn rank(row: &FleetRow) -> u8 {
    let last = row.last_operation.map(|(_, s)| s);
    if row.state == InstanceState::Failed || last == Some(OperationState::Failed) {
        0
    } else if last == Some(OperationState::InProgress)
        || matches!(
            row.state,
            InstanceState::Provisioning | InstanceState::Updating | InstanceState::Deprovisioning
        )
    {
        1
    } else {
        2
    }
}

/// The rows `filter` keeps, ranked; within a rank they keep the fleet's order (by id).
fn shown<'a>(rows: &'a [FleetRow], filter: &Filter) -> Vec<&'a FleetRow> {
    let mut shown: Vec<&FleetRow> = rows.iter().filter(|r| filter.keeps(r)).collect();
    shown.sort_by_key(|r| rank(r));
    shown
}

/// The quota table: use and limit per plan and quota.
fn quota_section(gauges: &crate::metrics::Gauges) -> String {
    let mut out = String::from("<section><h2>Quotas</h2>");
    if gauges.quota_limit.is_empty() {
        out.push_str("<p class=\"muted\">No quotas are configured.</p>");
    } else {
        out.push_str("<table id=\"quotas\"><thead><tr><th>Plan</th><th>Quota</th><th>Used</th><th>Limit</th></tr></thead><tbody>");
        for ((plan, quota), limit) in &gauges.quota_limit {
            let used = gauges.quota_used.get(&(plan.clone(), quota.clone())).copied().unwrap_or(0);
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{used}</td><td>{limit}</td></tr>",
                esc(if plan == "_all" { "all plans" } else { plan }),
                esc(quota)
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</section>\n");
    out
}

/// The filter form: plan, state and id search, showing the current choice.
fn filter_form(config: &crate::config::Config, filter: &Filter) -> String {
    let mut out = String::from("<form method=\"get\" action=\"/mgmt/ui\">");
    let plans: Vec<(String, String)> =
        config.catalog.plans.iter().map(|p| (p.plan_id.to_string(), p.name.clone())).collect();
    out.push_str(&select("plan", "Plan", &filter.plan, &plans));
    let states: Vec<(String, String)> =
        ["provisioning", "ready", "failed", "updating", "deprovisioning"]
            .iter()
            .map(|s| (s.to_string(), s.to_string()))
            .collect();
    out.push_str(&select("state", "State", &filter.state, &states));
    let _ = write!(
        out,
        "<label>Id <input name=\"q\" value=\"{}\"></label><button type=\"submit\">Filter</button></form>",
        esc(&filter.q)
    );
    out
}

/// One row of the instance table.
fn instance_row(row: &FleetRow) -> String {
    let last = row.last_operation.map_or_else(String::new, |(kind, s)| {
        format!(
            "{} <span class=\"{}\">{}</span>",
            esc(kind),
            state_class(s.as_str()),
            esc(s.as_str())
        )
    });
    let attention = row.state.as_str() == "failed"
        || row.last_operation.is_some_and(|(_, s)| s.as_str() != "succeeded");
    format!(
        "<tr class=\"{}\" data-state=\"{}\"><td><a href=\"/mgmt/ui/service_instances/{}\">{}</a></td><td>{}</td><td class=\"{}\">{}</td><td>{last}</td><td>{}</td></tr>",
        if attention { "attention" } else { "" },
        esc(row.state.as_str()),
        esc(row.id.as_str()),
        esc(row.id.as_str()),
        esc(&row.plan_name),
        state_class(row.state.as_str()),
        esc(row.state.as_str()),
        if row.upgrade_pending { "pending" } else { "" }
    )
}

fn fleet_body(
    state: &AppState, rows: &[FleetRow], gauges: &crate::metrics::Gauges, filter: &Filter,
) -> String {
    let config = state.broker.config();
    let mut out = format!(
        "<header><h1>Service instances</h1><p class=\"muted\">service {} ({})</p></header>\n",
        esc(&config.catalog.service_name),
        esc(&config.catalog.id)
    );
    out.push_str(&quota_section(gauges));
    out.push_str("<section><h2>Instances</h2>");
    out.push_str(&filter_form(config, filter));
    let shown = shown(rows, filter);
    out.push_str("<table id=\"instances\"><thead><tr><th>Instance</th><th>Plan</th><th>State</th><th>Last operation</th><th>Upgrade</th></tr></thead><tbody>");
    for row in &shown {
        out.push_str(&instance_row(row));
    }
    let _ = writeln!(
        out,
        "</tbody></table><p class=\"muted\" id=\"count\">{} of {} instances</p></section>",
        shown.len(),
        rows.len()
    );
    out
}

/// `GET /mgmt/ui`: the fleet.
pub async fn fleet(
    state: web::Data<AppState>, query: web::Query<HashMap<String, String>>,
    meta: web::ReqData<RequestMeta>,
) -> Result<HttpResponse, ApiError> {
    let fail = |e| answer(&state.broker, &meta.request_id, e);
    let rows = state.broker.fleet().await.map_err(fail)?;
    let gauges = state.broker.metric_gauges().await.map_err(fail)?;
    let body = fleet_body(&state, &rows, &gauges, &Filter::of(&query));
    Ok(page("Service instances", &body))
}

fn step_item(step: &Value) -> String {
    format!(
        "<li><span class=\"muted\">{}</span> {}</li>",
        esc(&field_text(step, "at")),
        step_detail(step)
    )
}

/// Steps as HTML: every value escaped, the subcommand bold, states coloured, excerpts as
/// preformatted text.
struct Html;

impl StepMarkup for Html {
    const ARROW: &'static str = "→";

    fn value(&self, text: &str) -> String {
        esc(text)
    }

    fn subcommand(&self, text: &str) -> String {
        format!("<b>{}</b>", esc(text))
    }

    fn state(&self, text: &str) -> String {
        format!("<span class=\"{}\">{}</span>", state_class(text), esc(text))
    }

    fn excerpt(&self, stream: &str, text: &str) -> String {
        format!("<pre class=\"{stream}\">{stream}: {}</pre>", esc(text))
    }
}

/// What a journal step says, by kind, every value escaped.
fn step_detail(step: &Value) -> String {
    describe_step(step, &Html)
}

fn history_section(history: &[HistoryEntry]) -> String {
    let mut out = String::from("<section><h2>History</h2>");
    if history.is_empty() {
        out.push_str("<p class=\"muted\">No operations recorded.</p>");
    }
    for entry in history {
        let state = entry.state.unwrap_or("");
        let _ = write!(
            out,
            "<article class=\"entry\"><h3>{}{} <span class=\"{}\">{}</span></h3><p class=\"muted\">started {}</p>",
            esc(&entry.activity),
            entry
                .operation
                .as_ref()
                .map_or_else(String::new, |op| format!(" (operation {})", esc(op.as_str()))),
            state_class(state),
            esc(state),
            esc(&entry.started_at)
        );
        if let Some(d) = &entry.description {
            let _ = write!(out, "<p>{}</p>", esc(d));
        }
        if let Some(e) = &entry.error {
            let _ = write!(out, "<p class=\"failed\">{}</p>", esc(e));
        }
        out.push_str("<ol class=\"steps\">");
        for step in &entry.steps {
            out.push_str(&step_item(step));
        }
        out.push_str("</ol></article>");
    }
    out.push_str("</section>\n");
    out
}

fn instance_body(detail: &InstanceDetail) -> String {
    let row = &detail.row;
    let mut out = format!(
        "<p><a href=\"/mgmt/ui\">All instances</a></p><header><h1>Service instance {}</h1></header>\n<table id=\"instance\"><tbody><tr><th>Plan</th><td>{}</td></tr><tr><th>State</th><td class=\"{}\">{}</td></tr><tr><th>Upgrade</th><td>{}</td></tr></tbody></table>\n",
        esc(row.id.as_str()),
        esc(&row.plan_name),
        state_class(row.state.as_str()),
        esc(row.state.as_str()),
        if row.upgrade_pending { "pending" } else { "up to date" }
    );
    out.push_str("<section><h2>Bindings</h2>");
    if detail.bindings.is_empty() {
        out.push_str("<p class=\"muted\">No bindings.</p>");
    } else {
        out.push_str("<ul id=\"bindings\">");
        for b in &detail.bindings {
            let _ = write!(out, "<li>{}</li>", esc(&b.binding_id));
        }
        out.push_str("</ul>");
    }
    out.push_str("</section>\n");
    out.push_str(&history_section(&detail.history));
    out
}

/// `GET /mgmt/ui/service_instances/{id}`: one instance.
pub async fn instance(
    state: web::Data<AppState>, InstancePath(id): InstancePath, meta: web::ReqData<RequestMeta>,
) -> Result<HttpResponse, ApiError> {
    let detail = state
        .broker
        .instance_detail(&id)
        .await
        .map_err(|e| answer(&state.broker, &meta.request_id, e))?;
    Ok(page(&format!("Service instance {id}"), &instance_body(&detail)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_values_is_text() {
        assert_eq!(
            esc("<img src=x onerror=alert(1)> & \"'"),
            "&lt;img src=x onerror=alert(1)&gt; &amp; &quot;&#39;"
        );
    }

    #[test]
    fn adapter_output_in_a_step_is_escaped() {
        let step = serde_json::json!({
            "at": "t", "kind": "adapter", "subcommand": "generate-manifest",
            "outcome": "exit_1", "duration_ms": 3, "stdout": "<b>bold</b>",
            "stderr": "<img src=x onerror=alert(1)>"
        });
        let html = step_item(&step);
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"), "{html}");
        assert!(!html.contains("<b>bold"), "{html}");
    }

    fn row(id: &str, state: InstanceState, last: Option<OperationState>) -> FleetRow {
        FleetRow {
            id: crate::ids::InstanceId::parse(id).unwrap(),
            plan_id: crate::ids::parsed("p"),
            plan_name: "small".into(),
            state,
            last_operation: last.map(|s| ("create", s)),
            upgrade_pending: false,
        }
    }

    #[test]
    fn failed_instances_come_before_those_in_flight_whatever_their_ids() {
        use InstanceState as I;
        use OperationState as O;
        let rows = [
            row("a-ready", I::Ready, Some(O::Succeeded)),
            row("b-updating", I::Updating, Some(O::InProgress)),
            row("c-provisioning", I::Provisioning, None),
            row("d-update-failed", I::Ready, Some(O::Failed)),
            row("e-failed", I::Failed, Some(O::Failed)),
        ];
        let ids: Vec<&str> =
            shown(&rows, &Filter::of(&HashMap::new())).iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["d-update-failed", "e-failed", "b-updating", "c-provisioning", "a-ready"]);
    }

    #[test]
    fn a_failed_director_task_in_the_timeline_is_marked_failed() {
        let step = |state: &str| {
            step_item(&serde_json::json!({
                "at": "t", "kind": "task", "task": 2, "what": "deploying", "state": state
            }))
        };
        for state in ["error", "cancelled", "timeout"] {
            assert!(
                step(state).contains(&format!("<span class=\"failed\">{state}</span>")),
                "{}",
                step(state)
            );
        }
        assert!(step("processing").contains("<span class=\"in-progress\">processing</span>"));
        assert!(step("done").contains("<span class=\"\">done</span>"));
    }

    #[test]
    fn the_policy_allows_no_script() {
        assert!(CSP.contains("default-src 'none'"));
        assert!(!CSP.contains("script-src"));
        assert!(!CSP.contains("unsafe"));
    }
}
