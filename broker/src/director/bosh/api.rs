//! The director API's names and shapes: the paths the client calls, each name one
//! percent-encoded segment, the task document, and what is read out of task results.

use super::super::answers::ErrandResult;
use super::super::{Task, TaskId, TaskState};
use crate::url_path::UrlPath;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
pub(super) struct TaskJson {
    id: TaskId,
    state: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    result: Option<String>,
    #[serde(default)]
    deployment: Option<String>,
    #[serde(default)]
    context_id: Option<String>,
}

impl From<TaskJson> for Task {
    fn from(t: TaskJson) -> Self {
        Task {
            id: t.id,
            state: TaskState::parse(&t.state),
            description: t.description,
            result: t.result.unwrap_or_default(),
            deployment: t.deployment.unwrap_or_default(),
            context_id: t.context_id.unwrap_or_default(),
        }
    }
}

/// `/<name>`: one of the director's top-level collections (`tasks`, `configs`, `links`).
pub(super) fn top(name: &'static str) -> UrlPath {
    UrlPath::root().segment(name)
}

/// `/deployments/<deployment>`, the deployment name one encoded segment.
pub(super) fn deployment_path(deployment: &str) -> UrlPath {
    top("deployments").segment(deployment)
}

/// `/tasks/<id>`.
pub(super) fn task_path(id: TaskId) -> UrlPath {
    top("tasks").segment(id.to_string())
}

/// A task id from a `Location: .../tasks/<id>` header.
pub(super) fn task_id_from_location(location: &str) -> Option<TaskId> {
    let path = location.split(['?', '#']).next()?;
    let (rest, id) = path.trim_end_matches('/').rsplit_once('/')?;
    rest.ends_with("tasks").then_some(())?;
    id.parse().ok()
}

/// `group` or `group/id` → the errand API's instance slug.
pub(super) fn instance_slug(instance: &str) -> Value {
    match instance.split_once('/') {
        Some((group, id)) => json!({"group": group, "id": id}),
        None => json!({"group": instance}),
    }
}

/// The first non-zero `exit_code` in an errand task's result (one JSON document per line).
pub(super) fn errand_exit_code(result: &str) -> Option<i64> {
    result
        .lines()
        .filter_map(|l| serde_json::from_str::<ErrandResult>(l.trim()).ok())
        .filter_map(|r| r.exit_code)
        .find(|code| *code != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_come_from_the_location_header() {
        assert_eq!(task_id_from_location("/tasks/42"), Some(42));
        assert_eq!(task_id_from_location("https://10.0.0.6:25555/tasks/7?x=1"), Some(7));
        assert_eq!(task_id_from_location("/deployments/7"), None);
        assert_eq!(task_id_from_location(""), None);
    }

    #[test]
    fn errand_instances_become_slugs() {
        assert_eq!(instance_slug("g/0"), json!({"group": "g", "id": "0"}));
        assert_eq!(instance_slug("g"), json!({"group": "g"}));
    }

    #[test]
    fn a_non_zero_errand_exit_code_is_found_in_any_line() {
        assert_eq!(errand_exit_code("{\"exit_code\":0}\n{\"exit_code\":3}\n"), Some(3));
        assert_eq!(errand_exit_code("{\"exit_code\":0}"), None);
        assert_eq!(errand_exit_code(""), None);
    }
}
