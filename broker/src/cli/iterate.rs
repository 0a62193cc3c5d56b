//! `upgrade-all` and `recreate-all`: one management-API operation per instance, canaries
//! first, then the rest with a bounded number in flight; busy instances are retried.

use super::client::{BrokerClient, Progress, Started};
use super::{seconds, IterateArgs};
use std::collections::VecDeque;
use std::process::ExitCode;
use std::sync::Mutex;

/// Which operation to run on every instance.
#[derive(Debug, Clone, Copy)]
struct Kind {
    command: &'static str,
    operation_type: &'static str,
    past: &'static str,
}

const UPGRADE: Kind = Kind { command: "upgrade-all", operation_type: "upgrade", past: "upgraded" };

const RECREATE: Kind =
    Kind { command: "recreate-all", operation_type: "recreate", past: "recreated" };

/// How one instance ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Succeeded,
    Failed(String),
    Busy,
    Deleted,
}

/// `upgrade-all`: upgrades every instance (new manifest from its current plan).
pub fn upgrade_all(args: &IterateArgs) -> ExitCode {
    run(args, UPGRADE)
}

/// `recreate-all`: recreates every instance's VMs.
pub fn recreate_all(args: &IterateArgs) -> ExitCode {
    run(args, RECREATE)
}

fn run(args: &IterateArgs, kind: Kind) -> ExitCode {
    let Some((client, instances)) = args.connection.client_and_instances(kind.command) else {
        return ExitCode::FAILURE;
    };
    println!(
        "{}: {} instance(s), {} canary(ies), max in flight {}",
        kind.command,
        instances.len(),
        args.canaries.min(instances.len()),
        args.max_in_flight
    );
    let mut queue: VecDeque<String> =
        instances.into_iter().map(|i| i.service_instance_id).collect();
    let mut results: Vec<(String, Outcome)> = Vec::new();

    let mut canaries_done = 0;
    while canaries_done < args.canaries {
        let Some(id) = queue.pop_front() else { break };
        println!("[{id}] canary");
        let outcome = process(&client, args, kind, &id);
        results.push((id.clone(), outcome.clone()));
        match outcome {
            Outcome::Succeeded => canaries_done += 1,
            Outcome::Deleted => {}
            Outcome::Failed(_) | Outcome::Busy => {
                eprintln!(
                    "{}: canary {id} did not succeed: stopping; {} instance(s) not processed",
                    kind.command,
                    queue.len()
                );
                return report(kind, &results, queue.len());
            }
        }
    }

    let queue = Mutex::new(queue);
    let shared = Mutex::new(results);
    std::thread::scope(|scope| {
        for _ in 0..args.max_in_flight {
            scope.spawn(|| loop {
                let next = queue.lock().expect("queue").pop_front();
                let Some(id) = next else { break };
                let outcome = process(&client, args, kind, &id);
                shared.lock().expect("results").push((id, outcome));
            });
        }
    });
    let results = shared.into_inner().expect("results");
    report(kind, &results, 0)
}

/// Starts the operation on one instance (retrying while busy) and polls it to the end.
fn process(client: &BrokerClient, args: &IterateArgs, kind: Kind, id: &str) -> Outcome {
    let mut attempt = 1;
    let operation = loop {
        match client.start(id, kind.operation_type) {
            Ok(Started::Operation(op)) => break op,
            Ok(Started::Done) => {
                println!("[{id}] succeeded (nothing to do)");
                return Outcome::Succeeded;
            }
            Ok(Started::Gone) => {
                println!("[{id}] skipped: deleted");
                return Outcome::Deleted;
            }
            Ok(Started::Busy(why)) if attempt < args.attempts => {
                println!(
                    "[{id}] busy (attempt {attempt} of {}): {why}; retrying in {}s",
                    args.attempts, args.retry_interval
                );
                attempt += 1;
                std::thread::sleep(seconds(args.retry_interval));
            }
            Ok(Started::Busy(why)) => {
                println!("[{id}] busy: gave up after {} attempt(s): {why}", args.attempts);
                return Outcome::Busy;
            }
            Ok(Started::Rejected(status, why)) => {
                let why =
                    format!("the broker refused the {} ({status}): {why}", kind.operation_type);
                println!("[{id}] failed: {why}");
                return Outcome::Failed(why);
            }
            Err(e) => {
                println!("[{id}] failed: {e}");
                return Outcome::Failed(e.to_string());
            }
        }
    };
    println!("[{id}] {} started (operation {operation})", kind.operation_type);
    let mut errors = 0;
    loop {
        std::thread::sleep(seconds(args.polling_interval));
        match client.progress(id, &operation) {
            Ok(Progress::InProgress) => errors = 0,
            Ok(Progress::Succeeded) => {
                println!("[{id}] succeeded");
                return Outcome::Succeeded;
            }
            Ok(Progress::Failed(why)) => {
                println!("[{id}] failed: {why}");
                return Outcome::Failed(why);
            }
            Ok(Progress::Gone) => {
                println!("[{id}] skipped: deleted");
                return Outcome::Deleted;
            }
            Err(e) => {
                errors += 1;
                println!("[{id}] cannot poll the operation ({errors} of 5): {e}");
                if errors >= 5 {
                    println!("[{id}] failed: lost track of operation {operation}");
                    return Outcome::Failed(e.to_string());
                }
            }
        }
    }
}

/// Prints the summary; non-zero exit (naming the instances) when any failed, stayed busy or
/// was not processed.
fn report(kind: Kind, results: &[(String, Outcome)], not_processed: usize) -> ExitCode {
    let ids = |want: fn(&Outcome) -> bool| -> Vec<&str> {
        results.iter().filter(|(_, o)| want(o)).map(|(id, _)| id.as_str()).collect()
    };
    let succeeded = ids(|o| *o == Outcome::Succeeded);
    let failed = ids(|o| matches!(o, Outcome::Failed(_)));
    let busy = ids(|o| *o == Outcome::Busy);
    let deleted = ids(|o| *o == Outcome::Deleted);
    let mut summary = format!(
        "{} {}, failed {}, busy {}, deleted {}",
        kind.past,
        succeeded.len(),
        failed.len(),
        busy.len(),
        deleted.len()
    );
    if not_processed > 0 {
        summary.push_str(&format!(", not processed {not_processed}"));
    }
    println!("{summary}");
    if failed.is_empty() && busy.is_empty() && not_processed == 0 {
        return ExitCode::SUCCESS;
    }
    if !failed.is_empty() {
        eprintln!("{}: {} failed for: {}", kind.command, kind.operation_type, failed.join(", "));
    }
    if !busy.is_empty() {
        eprintln!(
            "{}: still busy (another operation in progress) after every attempt: {}; run {} again later",
            kind.command,
            busy.join(", "),
            kind.command
        );
    }
    if not_processed > 0 {
        eprintln!(
            "{}: {not_processed} instance(s) not processed because a canary did not succeed",
            kind.command
        );
    }
    ExitCode::FAILURE
}
