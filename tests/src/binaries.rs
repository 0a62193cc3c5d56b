//! Locating the binaries under test: the broker and the test adapter, built by cargo into the same
//! target directory as the running test executable.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// The directory that holds the workspace's binaries for the current profile
/// (`target/<profile>/`), derived from the running executable
/// (`target/<profile>/deps/<test>-<hash>`).
fn binary_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("cannot determine the current executable's path");
    let mut dir =
        exe.parent().expect("the current executable has no parent directory").to_path_buf();
    if dir.file_name().is_some_and(|name| name == "deps") {
        dir.pop();
    }
    dir
}

/// The path of a workspace binary next to the tests, or a panic that says how to build it.
fn binary(name: &str) -> PathBuf {
    let path = binary_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !path.is_file() {
        panic!(
            "{name} binary not found at {}: run the tests with `cargo test --workspace` so that the {} binary is built",
            path.display(),
            if name == "on-demand-broker" { "broker" } else { name },
        );
    }
    path
}

/// The `on-demand-broker` binary built by `cargo test --workspace`.
///
/// Panics with a message that says how to build it when it is missing.
pub fn broker_binary() -> PathBuf {
    let path = binary("on-demand-broker");
    if let Some(newer) = newer_source_than(&path) {
        panic!(
            "the on-demand-broker binary at {} is older than {}: rebuild it with `cargo build --workspace` \
             (or run the tests with `cargo test --workspace`, which builds it)",
            path.display(),
            newer.display()
        );
    }
    path
}

/// A source file of the broker (or of a crate built into it) changed after `binary` was
/// built: `cargo test -p broker-tests` alone does not rebuild the broker.
///
/// Test-only modules (`tests.rs`, which the crates include as `#[cfg(test)] mod tests;`) are
/// not part of the binary: cargo does not relink it when only they change, so they are not
/// counted.
fn newer_source_than(binary: &std::path::Path) -> Option<PathBuf> {
    let built = std::fs::metadata(binary).and_then(|m| m.modified()).ok()?;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
    let mut stack: Vec<PathBuf> = ["broker/src", "adapter-sdk/src", "example-adapter/src"]
        .iter()
        .map(|d| root.join(d))
        .collect();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).ok()?.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|name| name == "tests.rs") {
                continue;
            } else if entry.metadata().and_then(|m| m.modified()).is_ok_and(|m| m > built) {
                return Some(path);
            }
        }
    }
    None
}

/// The `test-adapter` binary of this crate.
///
/// Panics with a message that says how to build it when it is missing.
pub fn test_adapter_binary() -> PathBuf {
    binary("test-adapter")
}

/// Runs the broker binary to completion with `args` (for example `["check-config", "--config",
/// path]`), stdin closed, and returns its exit status and output.
pub fn run_broker(args: &[&str]) -> Output {
    Command::new(broker_binary())
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("cannot run the broker binary")
}
