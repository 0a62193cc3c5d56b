//! Harness for the broker's black-box tests.
//!
//! The tests in `tests/tests/` start the real `on-demand-broker` binary as a child process, with a
//! config written into a fresh temporary directory ([`BrokerConfig`], [`BrokerProcess`]), and drive
//! it over HTTP as a platform would ([`OsbClient`]). The broker runs the `test-adapter` binary of
//! this crate as its service adapter; see `src/bin/test_adapter.rs` for how tests script it.
//! [`Browser`] drives headless Chromium for the tests of the operator console.
//! Everything here is blocking (std threads and `reqwest::blocking`), so tests are plain `#[test]`
//! functions.

mod binaries;
mod bodies;
mod browser;
mod client;
mod config;
pub mod db_files;
pub mod fake_credhub;
pub mod fake_director;
pub mod fake_http;
pub mod postgres;
mod process;

pub use binaries::{broker_binary, run_broker, test_adapter_binary};
pub use bodies::{
    bind_body, context, provision_body, unique_id, update_body, ORGANIZATION_GUID, SPACE_GUID,
};
pub use browser::{Browser, DevTools, BROWSER_TIMEOUT};
pub use client::{OsbClient, Response, API_VERSION};
pub use config::{
    read_child_pids, read_invocations, suite_on_postgres, BrokerConfig, InstanceGroupConfig,
    PlanConfig, PLAN_LARGE, PLAN_SMALL, SERVICE_ID, SERVICE_NAME,
};
pub use fake_credhub::FakeCredhub;
pub use fake_director::{FakeDirector, FakeLinkProvider, RecordedRequest};
pub use process::BrokerProcess;
pub use reqwest::header::HeaderMap;
