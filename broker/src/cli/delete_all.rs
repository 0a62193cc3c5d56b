//! `delete-all`: unbinds and deprovisions every service instance through the OSB API, as a
//! platform would, and waits until each is gone.

use super::client::{BrokerClient, ListedInstance, Progress, Started};
use super::{seconds, DeleteAllArgs, EXIT_USAGE};
use std::process::ExitCode;

/// `delete-all --yes-delete-every-instance`.
pub fn delete_all(args: &DeleteAllArgs) -> ExitCode {
    if !args.yes_delete_every_instance {
        eprintln!(
            "delete-all deletes every service instance of this broker and all their bindings; \
             to do that, run it again with --yes-delete-every-instance"
        );
        return ExitCode::from(EXIT_USAGE);
    }
    let Some((client, instances)) = args.connection.client_and_instances("delete-all") else {
        return ExitCode::FAILURE;
    };
    println!("delete-all: {} instance(s)", instances.len());
    let mut deleted = 0;
    let mut failed: Vec<String> = Vec::new();
    for instance in &instances {
        let id = &instance.service_instance_id;
        match delete_one(&client, args, instance) {
            Ok(()) => {
                println!("[{id}] deleted");
                deleted += 1;
            }
            Err(why) => {
                println!("[{id}] failed: {why}");
                failed.push(id.clone());
            }
        }
    }
    println!("deleted {deleted}, failed {}", failed.len());
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("delete-all: could not delete: {}", failed.join(", "));
        ExitCode::FAILURE
    }
}

fn delete_one(
    client: &BrokerClient, args: &DeleteAllArgs, instance: &ListedInstance,
) -> Result<(), String> {
    let id = &instance.service_instance_id;
    let bindings = client.bindings(id).map_err(|e| e.to_string())?;
    for b in &bindings {
        client
            .unbind(instance, &b.binding_id)
            .map_err(|e| e.to_string())?
            .map_err(|why| format!("binding {}: {why}", b.binding_id))?;
        println!("[{id}] unbound {}", b.binding_id);
    }
    let operation = match client.deprovision(instance).map_err(|e| e.to_string())? {
        Started::Operation(op) => op,
        Started::Gone | Started::Done => return Ok(()),
        Started::Busy(why) => return Err(format!("busy: {why}")),
        Started::Rejected(status, why) => return Err(format!("delete answered {status}: {why}")),
    };
    println!("[{id}] delete started (operation {operation})");
    let mut errors = 0;
    loop {
        std::thread::sleep(seconds(args.polling_interval));
        match client.progress(id, &operation) {
            Ok(Progress::InProgress) => errors = 0,
            Ok(Progress::Succeeded | Progress::Gone) => return Ok(()),
            Ok(Progress::Failed(why)) => return Err(why),
            Err(e) => {
                errors += 1;
                if errors >= 5 {
                    return Err(format!("lost track of operation {operation}: {e}"));
                }
            }
        }
    }
}
