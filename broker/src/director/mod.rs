//! The director seam: everything the broker asks of BOSH, behind one trait, with the
//! built-in simulated director as the embedded default.

pub mod answers;
pub mod bosh;
pub mod simulated;
pub mod simulated_config_server;
pub mod variables;
pub mod version;

use crate::config::BindingDnsConfig;
use async_trait::async_trait;
use std::collections::BTreeMap;

/// A director task id.
pub type TaskId = i64;

/// VMs of a deployment: instance group name → IP addresses.
pub type Vms = BTreeMap<String, Vec<String>>;

/// Errors talking to a director.
#[derive(Debug, thiserror::Error)]
pub enum DirectorError {
    /// The director answered in a way the broker cannot read (a body that is not the JSON
    /// expected, a task start without a task location).
    #[error("director request failed: unexpected answer to {what}: {reason}")]
    InvalidAnswer {
        /// The request (`GET /deployments/<name>`).
        what: String,
        /// What is wrong with the answer.
        reason: String,
    },
    /// The simulated director refused a manifest, as a real director's task would fail.
    #[error("director request failed: {0}")]
    InvalidManifest(String),
    /// A plan's `binding_with_dns` entry names a link provider the deployment does not share.
    #[error("no shared link provider '{provider}' on instance group '{instance_group}' in deployment {deployment} (binding_with_dns '{entry}')")]
    LinkProviderNotFound {
        /// The deployment.
        deployment: String,
        /// The link provider's name.
        provider: String,
        /// The instance group that should provide it.
        instance_group: String,
        /// The `binding_with_dns` entry's name.
        entry: String,
    },
    /// The director could not be reached (connection refused, TLS failure, timeout).
    #[error("cannot reach the BOSH director at {url}: {reason}")]
    Unreachable {
        /// The director's URL, without credentials.
        url: String,
        /// Which request, and why it got no answer.
        reason: String,
    },
    /// The director answered with a status other than 2xx or 302 (the Go broker's text).
    #[error("director request failed: {what}: Director responded with non-successful status code '{status}' response '{body}'")]
    UnexpectedStatus {
        /// The request (`DELETE /deployments/service-instance_x`).
        what: String,
        /// The status code.
        status: u16,
        /// The start of the answer's body.
        body: String,
    },
    /// The director does not know this task.
    #[error("director task {0} not found")]
    TaskNotFound(TaskId),
    /// The director or its UAA did not accept the broker's credentials.
    #[error("{0}")]
    Authentication(String),
    /// The director settings cannot be used (for example an unusable CA certificate).
    #[error("{0}")]
    Config(String),
    /// The named deployment does not exist.
    #[error("deployment '{0}' not found")]
    DeploymentNotFound(String),
    /// A name cannot be put in a director URL without changing which resource is called (an
    /// empty, `.` or `..` deployment, errand or link name).
    #[error("refusing to call the director: {0}")]
    UnusablePath(#[from] crate::url_path::UrlPathError),
    /// The broker's own state (for the simulated director) failed.
    #[error("simulated director state: {0}")]
    Store(#[from] crate::store::StoreError),
}

impl DirectorError {
    /// True when the director could not do what was asked right now (not reachable, an
    /// error status, an unreadable answer, an unknown task), as the Go broker's
    /// `RequestError`: an API caller is told to try again later. False for the broker's own
    /// configuration, credentials, names and state, and for a missing deployment.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::InvalidAnswer { .. }
                | Self::Unreachable { .. }
                | Self::UnexpectedStatus { .. }
                | Self::TaskNotFound(_)
        )
    }
}

/// A task's state as BOSH reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Waiting to run.
    Queued,
    /// Running.
    Processing,
    /// Being cancelled.
    Cancelling,
    /// Finished successfully.
    Done,
    /// Finished with an error.
    Error,
    /// Cancelled.
    Cancelled,
    /// Timed out.
    Timeout,
}

impl TaskState {
    /// Parses BOSH's state text; unknown states count as errors.
    pub fn parse(s: &str) -> Self {
        match s {
            "queued" => Self::Queued,
            "processing" => Self::Processing,
            "cancelling" => Self::Cancelling,
            "done" => Self::Done,
            "cancelled" => Self::Cancelled,
            "timeout" => Self::Timeout,
            _ => Self::Error,
        }
    }

    /// True while the task has not finished.
    pub fn is_running(self) -> bool {
        matches!(self, Self::Queued | Self::Processing | Self::Cancelling)
    }

    /// BOSH's name for the state.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Processing => "processing",
            Self::Cancelling => "cancelling",
            Self::Done => "done",
            Self::Error => "error",
            Self::Cancelled => "cancelled",
            Self::Timeout => "timeout",
        }
    }
}

/// A director task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// Its id.
    pub id: TaskId,
    /// Its state.
    pub state: TaskState,
    /// What it does.
    pub description: String,
    /// The result text (an error message for a failed task).
    pub result: String,
    /// The deployment it acts on.
    pub deployment: String,
    /// The context id it was started with.
    pub context_id: String,
}

/// Facts about the director, from `/info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectorInfo {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// A config-server variable a deployment uses, as `GET /deployments/<name>/variables` lists
/// it: the variable's absolute name and the id of the version the deployment runs with.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct DeploymentVariable {
    /// The config server's id of the version deployed.
    pub id: String,
    /// The absolute name, `/<director name>/<deployment>/<variable>` or an absolute reference.
    pub name: String,
}

/// What the broker needs from a BOSH director.
#[async_trait]
pub trait Director: Send + Sync {
    /// Name and version; also proves the director is reachable.
    async fn info(&self) -> Result<DirectorInfo, DirectorError>;
    /// Submits a deploy of `manifest`, tagged with `context_id`; returns the task id.
    async fn deploy(&self, manifest: &str, context_id: &str) -> Result<TaskId, DirectorError>;
    /// The task with this id.
    async fn task(&self, id: TaskId) -> Result<Task, DirectorError>;
    /// Tasks started with this context id, newest first.
    async fn tasks_by_context(&self, context_id: &str) -> Result<Vec<Task>, DirectorError>;
    /// Unfinished tasks of a deployment.
    async fn tasks_in_progress(&self, deployment: &str) -> Result<Vec<Task>, DirectorError>;
    /// The manifest of a deployment, or `None` when it does not exist.
    async fn manifest(&self, deployment: &str) -> Result<Option<String>, DirectorError>;
    /// The VMs of a deployment.
    async fn vms(&self, deployment: &str) -> Result<Vms, DirectorError>;
    /// Submits a delete of a deployment; returns the task id.
    async fn delete_deployment(
        &self, deployment: &str, force: bool, context_id: &str,
    ) -> Result<TaskId, DirectorError>;
    /// Starts an errand on a deployment (optionally on some instances only).
    async fn run_errand(
        &self, deployment: &str, errand: &str, instances: &[String], context_id: &str,
    ) -> Result<TaskId, DirectorError>;
    /// Names of all deployments.
    async fn deployments(&self) -> Result<Vec<String>, DirectorError>;
    /// Applies BOSH configs (config type → content) named after the deployment.
    async fn update_configs(
        &self, deployment: &str, configs: &BTreeMap<String, String>,
    ) -> Result<(), DirectorError>;
    /// Deletes every BOSH config named after the deployment (none is fine).
    async fn delete_configs(&self, deployment: &str) -> Result<(), DirectorError>;
    /// The DNS addresses of a plan's `binding_with_dns` entries, keyed by their `name`.
    async fn dns_addresses(
        &self, deployment: &str, dns: &[BindingDnsConfig],
    ) -> Result<BTreeMap<String, String>, DirectorError>;
    /// Recreates every VM of a deployment (`bosh recreate --fix`); returns the task id.
    async fn recreate(&self, deployment: &str, context_id: &str) -> Result<TaskId, DirectorError>;
    /// The config-server variables the deployment runs with (name and the id of the version
    /// deployed); empty for a deployment that uses none.
    async fn variables(&self, deployment: &str) -> Result<Vec<DeploymentVariable>, DirectorError>;
}
