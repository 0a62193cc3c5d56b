//! The `adapter check` report: the rules, their outcome with evidence, the calls made, and the
//! two renderings (`text` for people, `json` for CI pipelines).

use clap::ValueEnum;
use serde::Serialize;
use std::fmt::Write as _;

/// How the report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A report for people.
    Text,
    /// One JSON document, for CI pipelines.
    Json,
}

/// The rules `adapter check` applies, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    /// Every call exits with a code the contract allows for it.
    ExitCodes,
    /// On success stdout holds the result and nothing else.
    StdoutIsOutput,
    /// Each result has the contract's shape.
    OutputShape,
    /// The manifest is YAML a BOSH manifest parser accepts.
    ManifestYaml,
    /// The manifest's `name` is the deployment name.
    DeploymentName,
    /// No release or stemcell version is `latest`.
    ExactVersions,
    /// Releases and stemcells are the configured ones.
    ReleasesAndStemcells,
    /// The manifest has an update block with a valid `max_in_flight`.
    UpdateBlock,
    /// No plain scalar that YAML 1.1 reads differently.
    Yaml11Scalars,
    /// Every `((odb_secret:K))` referenced has `K` in the returned secrets.
    OdbSecrets,
    /// The pending-changes regeneration reproduces the deployed manifest.
    PendingChanges,
    /// Given its own previous manifest, generate-manifest returns it again.
    Idempotent,
    /// ODB-managed secrets keep their values across update and upgrade.
    SecretsKeptOnUpdate,
    /// A service key (no app_guid) gets credentials, or exit 42.
    ServiceKey,
    /// Unbinding an unknown binding answers 0 or 41.
    UnbindUnknown,
    /// The plan schemas are draft-04 and accepted by the broker.
    PlanSchemas,
    /// No credential or secret value appears on stderr.
    StderrNoSecrets,
    /// Every call finishes within the configured timeout.
    CallTime,
}

impl Rule {
    /// Every rule, in report order.
    pub const ALL: [Rule; 18] = [
        Rule::ExitCodes,
        Rule::StdoutIsOutput,
        Rule::OutputShape,
        Rule::ManifestYaml,
        Rule::DeploymentName,
        Rule::ExactVersions,
        Rule::ReleasesAndStemcells,
        Rule::UpdateBlock,
        Rule::Yaml11Scalars,
        Rule::OdbSecrets,
        Rule::PendingChanges,
        Rule::Idempotent,
        Rule::SecretsKeptOnUpdate,
        Rule::ServiceKey,
        Rule::UnbindUnknown,
        Rule::PlanSchemas,
        Rule::StderrNoSecrets,
        Rule::CallTime,
    ];

    /// Whether the rule checks the manifest generate-manifest (create) gives, or calls that
    /// need it: these are the rules from `manifest-yaml` to `unbind-unknown`.
    pub fn needs_created_manifest(self) -> bool {
        (Rule::ManifestYaml..=Rule::UnbindUnknown).contains(&self)
    }

    /// The rule's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Rule::ExitCodes => "exit-codes",
            Rule::StdoutIsOutput => "stdout-is-output",
            Rule::OutputShape => "output-shape",
            Rule::ManifestYaml => "manifest-yaml",
            Rule::DeploymentName => "deployment-name",
            Rule::ExactVersions => "exact-versions",
            Rule::ReleasesAndStemcells => "releases-and-stemcells",
            Rule::UpdateBlock => "update-block",
            Rule::Yaml11Scalars => "yaml-1.1-scalars",
            Rule::OdbSecrets => "odb-secrets",
            Rule::PendingChanges => "pending-changes",
            Rule::Idempotent => "idempotent",
            Rule::SecretsKeptOnUpdate => "secrets-kept-on-update",
            Rule::ServiceKey => "service-key",
            Rule::UnbindUnknown => "unbind-unknown",
            Rule::PlanSchemas => "plan-schemas",
            Rule::StderrNoSecrets => "stderr-no-secrets",
            Rule::CallTime => "call-time",
        }
    }

    /// What the rule asks for, in one line.
    pub fn summary(self) -> &'static str {
        match self {
            Rule::ExitCodes => "every call exits with a code the contract allows for it (0; 10 for optional subcommands; 41 and 42 where they apply)",
            Rule::StdoutIsOutput => "on success stdout holds the result document and nothing else (logs go to stderr)",
            Rule::OutputShape => "every result has the shape the broker decodes",
            Rule::ManifestYaml => "the manifest is YAML that a BOSH manifest parser accepts",
            Rule::DeploymentName => "the manifest's name is the deployment name the broker gave",
            Rule::ExactVersions => "no release or stemcell version is 'latest'",
            Rule::ReleasesAndStemcells => "releases and stemcells are the ones in service_deployment, and instance groups use them",
            Rule::UpdateBlock => "an update block (top level, or on every instance group) with canaries, watch times and a valid max_in_flight",
            Rule::Yaml11Scalars => "no plain scalar that BOSH or Go (YAML 1.1) reads differently from YAML 1.2, and strings where BOSH expects strings",
            Rule::OdbSecrets => "every ((odb_secret:K)) the manifest references has K in the returned secrets",
            Rule::PendingChanges => "regenerating with the same plan, the deployed manifest and no parameters reproduces the deployed manifest (update blocks aside)",
            Rule::Idempotent => "given its own previous manifest, generate-manifest returns the same manifest again",
            Rule::SecretsKeptOnUpdate => "update and upgrade keep every ODB-managed secret and its value",
            Rule::ServiceKey => "a service key (no app_guid) gets credentials, or exit 42 when the service needs an app",
            Rule::UnbindUnknown => "delete-binding of a binding that does not exist succeeds or exits 41",
            Rule::PlanSchemas => "plan schemas are draft-04 JSON Schemas that the broker accepts",
            Rule::StderrNoSecrets => "no credential or secret value appears on stderr (it goes to the operator log)",
            Rule::CallTime => "every call finishes within service_adapter.timeout_seconds",
        }
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// How a rule came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Checked and fine.
    Pass,
    /// Checked and not fine.
    Fail,
    /// Not applicable, or not reachable because an earlier call failed.
    Skip,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        }
    }
}

/// One rule's outcome for one plan.
#[derive(Debug, Clone, Serialize)]
pub struct RuleOutcome {
    /// The rule.
    pub rule: Rule,
    /// How it came out.
    pub status: Status,
    /// What it checks.
    pub summary: &'static str,
    /// Why it failed (each item names the call), or what was checked / why it was skipped.
    pub evidence: Vec<String>,
}

/// One adapter call as reported.
#[derive(Debug, Clone, Serialize)]
pub struct CallSummary {
    /// What the call was for: `create`, `update`, `app binding`, ...
    pub role: String,
    /// The adapter subcommand.
    pub subcommand: &'static str,
    /// Exit code, if it exited.
    pub exit_code: Option<i32>,
    /// `exit N`, `signal N`, `killed at the timeout`, `not started`.
    pub status: String,
    /// Time taken, in milliseconds.
    pub millis: u64,
    /// Bytes on stdout.
    pub stdout_bytes: usize,
    /// Bytes on stderr.
    pub stderr_bytes: usize,
}

/// The check of one plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlanReport {
    /// The plan's name.
    pub plan: String,
    /// Its plan_id.
    pub plan_id: crate::ids::PlanId,
    /// The fake deployment used.
    pub deployment_name: String,
    /// Every call, in order.
    pub calls: Vec<CallSummary>,
    /// Every rule, in order.
    pub rules: Vec<RuleOutcome>,
}

/// The slowest call of the whole check.
#[derive(Debug, Clone, Serialize)]
pub struct Slowest {
    /// The plan.
    pub plan: String,
    /// The call's role.
    pub role: String,
    /// The subcommand.
    pub subcommand: &'static str,
    /// Milliseconds.
    pub millis: u64,
}

/// How the calls carried their input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputMode {
    /// A JSON envelope on stdin.
    Stdin,
    /// Legacy positional arguments.
    Argv,
}

impl InputMode {
    /// The mode in words, for the text report.
    fn describe(self) -> &'static str {
        match self {
            Self::Stdin => "stdin (JSON envelope)",
            Self::Argv => "argv (legacy positional arguments)",
        }
    }
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The config file.
    pub config: String,
    /// The adapter command.
    pub adapter: String,
    /// `stdin` or `argv` (legacy positional arguments).
    pub input_mode: InputMode,
    /// One entry per plan checked.
    pub plans: Vec<PlanReport>,
    /// The slowest call.
    pub slowest_call: Option<Slowest>,
    /// Rules passed, over all plans.
    pub passed: usize,
    /// Rules failed, over all plans.
    pub failed: usize,
    /// Rules skipped, over all plans.
    pub skipped: usize,
    /// True when no rule failed.
    pub ok: bool,
}

impl Report {
    /// Totals and the slowest call, from the plans.
    pub fn new(
        config: String, adapter: String, input_mode: InputMode, plans: Vec<PlanReport>,
    ) -> Self {
        let count =
            |s: Status| plans.iter().flat_map(|p| &p.rules).filter(|r| r.status == s).count();
        let slowest_call = plans
            .iter()
            .flat_map(|p| p.calls.iter().map(move |c| (p, c)))
            .max_by_key(|(_, c)| c.millis)
            .map(|(p, c)| Slowest {
                plan: p.plan.clone(),
                role: c.role.clone(),
                subcommand: c.subcommand,
                millis: c.millis,
            });
        let (passed, failed, skipped) =
            (count(Status::Pass), count(Status::Fail), count(Status::Skip));
        Self {
            config,
            adapter,
            input_mode,
            plans,
            slowest_call,
            passed,
            failed,
            skipped,
            ok: failed == 0,
        }
    }

    /// The report in the requested format.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Json => {
                let mut s = serde_json::to_string_pretty(self).unwrap_or_else(|e| {
                    format!("{{\"error\": \"cannot render the report: {e}\"}}")
                });
                s.push('\n');
                s
            }
            Format::Text => self.text(),
        }
    }

    fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "adapter check of {}", self.adapter);
        let _ = writeln!(out, "config {}, input on {}", self.config, self.input_mode.describe());
        for plan in &self.plans {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "plan {} ({}), deployment {}",
                plan.plan, plan.plan_id, plan.deployment_name
            );
            let _ = writeln!(out, "  calls:");
            for c in &plan.calls {
                let _ = writeln!(
                    out,
                    "    {:<22} {:<21} {:<22} {:>6} ms  stdout {} B, stderr {} B",
                    c.subcommand, c.role, c.status, c.millis, c.stdout_bytes, c.stderr_bytes
                );
            }
            let _ = writeln!(out, "  rules:");
            for r in &plan.rules {
                let _ =
                    writeln!(out, "    {} {:<23} {}", r.status.label(), r.rule.name(), r.summary);
                if r.status != Status::Pass {
                    for e in &r.evidence {
                        let _ = writeln!(out, "         - {e}");
                    }
                }
            }
        }
        let _ = writeln!(out);
        if let Some(s) = &self.slowest_call {
            let _ = writeln!(
                out,
                "slowest call: {} ({}) of plan {}, {} ms",
                s.subcommand, s.role, s.plan, s.millis
            );
        }
        let _ = writeln!(
            out,
            "{} rules passed, {} failed, {} skipped: {}",
            self.passed,
            self.failed,
            self.skipped,
            if self.ok { "the adapter follows the contract" } else { "fix the failures above" }
        );
        out
    }
}
