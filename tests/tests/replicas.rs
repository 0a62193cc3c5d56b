//! Several broker replicas on one PostgreSQL database, deploying to one fake director: any
//! replica answers any request; many lifecycles spread over the replicas deploy each
//! instance exactly once; a replica killed in the middle of an operation is replaced by
//! another once its lease expires; and a replica paused past its lease writes nothing for
//! the operation another one took over (fencing), and says so.
//!
//! The tests skip when PostgreSQL is not installed (and fail then with `POSTGRES_REQUIRED=1`,
//! as in CI).

mod common;

use broker_tests::{
    bind_body, postgres, provision_body, BrokerConfig, BrokerProcess, FakeDirector, OsbClient,
    PLAN_SMALL, SERVICE_ID,
};
use common::wait_for;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// The lease of the replicas here: short, so take-overs happen within the tests.
const LEASE_MILLIS: u64 = 1500;

/// A config for replicas on a fresh database of the shared cluster, deploying to `director`;
/// `None` when PostgreSQL is not installed.
fn replica_config(director: &FakeDirector, plan_properties: Value) -> Option<BrokerConfig> {
    let cluster = postgres::shared()?;
    let mut config =
        BrokerConfig::new().postgres(cluster.database()).bosh(director.bosh_config()).extra_yaml(
            serde_yaml::to_value(json!({"broker": {
                "operation_lease_millis": LEASE_MILLIS,
                "worker_interval_millis": 100,
            }}))
            .unwrap(),
        );
    if let Value::Object(props) = plan_properties {
        for (key, value) in props {
            config = config.plan_property(PLAN_SMALL, &key, value);
        }
    }
    Some(config)
}

fn replicas(config: &BrokerConfig, n: usize) -> Vec<BrokerProcess> {
    (0..n).map(|_| BrokerProcess::start(config)).collect()
}

/// How many deploys of `instance_id`'s deployment the director received.
fn deploys_of(director: &FakeDirector, instance_id: &str) -> usize {
    let name = format!("service-instance_{instance_id}");
    director
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/deployments")
        .filter(|r| {
            serde_yaml::from_str::<serde_yaml::Value>(&r.body)
                .ok()
                .and_then(|m| m.get("name").and_then(|n| n.as_str()).map(str::to_string))
                .as_deref()
                == Some(name.as_str())
        })
        .count()
}

fn signal(broker: &BrokerProcess, sig: &str) {
    let pid = broker.pid().expect("running").to_string();
    let status = std::process::Command::new("kill").args([sig, &pid]).status().unwrap();
    assert!(status.success(), "kill {sig} {pid}");
}

#[test]
fn any_replica_answers_any_request() {
    let director = FakeDirector::start_basic("admin", "admin-secret");
    let Some(config) = replica_config(&director, json!({})) else {
        return;
    };
    let brokers = replicas(&config, 3);
    let (a, b, c) = (brokers[0].client(), brokers[1].client(), brokers[2].client());
    let id = "spread-1";
    let r = a.provision(id, &provision_body(SERVICE_ID, PLAN_SMALL, json!({})), true);
    assert_eq!(r.status, 202, "{}", r.text);
    let op = r.str_field("operation").unwrap().to_string();
    assert_eq!(b.wait_for_operation(id, Some(&op), WAIT), "succeeded");
    let r = c.bind(id, "b1", &bind_body(SERVICE_ID, PLAN_SMALL, json!({})));
    assert_eq!(r.status, 201, "{}", r.text);
    let r = a.get_binding(id, "b1");
    assert_eq!(r.status, 200, "{}", r.text);
    let r = b.unbind(id, "b1", SERVICE_ID, PLAN_SMALL);
    assert_eq!(r.status, 200, "{}", r.text);
    let r = c.deprovision(id, SERVICE_ID, PLAN_SMALL, true);
    assert_eq!(r.status, 202, "{}", r.text);
    let op = r.str_field("operation").unwrap().to_string();
    assert_eq!(a.wait_for_operation(id, Some(&op), WAIT), "succeeded");
    assert_eq!(deploys_of(&director, id), 1);
}

#[test]
fn many_lifecycles_over_three_replicas_deploy_each_instance_once_without_a_server_error() {
    let director = FakeDirector::start_basic("admin", "admin-secret");
    let Some(config) = replica_config(&director, json!({})) else {
        return;
    };
    let brokers = replicas(&config, 3);
    let clients: Vec<OsbClient> = brokers.iter().map(BrokerProcess::client).collect();
    const LIFECYCLES: usize = 100;
    const THREADS: usize = 20;
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let clients = clients.clone();
            std::thread::spawn(move || {
                let mut turn = t;
                let mut next = || {
                    turn += 1;
                    clients[turn % clients.len()].clone()
                };
                for n in (t..LIFECYCLES).step_by(THREADS) {
                    let id = format!("many-{n}");
                    let r = next().provision(
                        &id,
                        &provision_body(SERVICE_ID, PLAN_SMALL, json!({})),
                        true,
                    );
                    assert_eq!(r.status, 202, "provision {id}: {}", r.text);
                    let op = r.str_field("operation").unwrap().to_string();
                    assert_eq!(next().wait_for_operation(&id, Some(&op), WAIT), "succeeded");
                    let r = next().bind(&id, "b", &bind_body(SERVICE_ID, PLAN_SMALL, json!({})));
                    assert_eq!(r.status, 201, "bind {id}: {}", r.text);
                    let r = next().unbind(&id, "b", SERVICE_ID, PLAN_SMALL);
                    assert_eq!(r.status, 200, "unbind {id}: {}", r.text);
                    let r = next().deprovision(&id, SERVICE_ID, PLAN_SMALL, true);
                    assert_eq!(r.status, 202, "deprovision {id}: {}", r.text);
                    let op = r.str_field("operation").unwrap().to_string();
                    assert_eq!(next().wait_for_operation(&id, Some(&op), WAIT), "succeeded");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a lifecycle failed");
    }
    for n in 0..LIFECYCLES {
        assert_eq!(deploys_of(&director, &format!("many-{n}")), 1, "many-{n}");
    }
    let in_flight = config
        .postgres_query("SELECT count(*) FROM operations WHERE state = 'in progress'")
        .unwrap();
    assert_eq!(in_flight, vec!["0".to_string()]);
    for broker in &brokers {
        assert!(
            !broker.logs().iter().any(|l| l.contains("status=5")),
            "a replica answered with a server error"
        );
    }
}

#[test]
fn a_replica_killed_in_the_middle_of_a_provision_is_replaced_once_its_lease_expires() {
    let director = FakeDirector::start_basic("admin", "admin-secret");
    let Some(config) = replica_config(&director, json!({"adapter_delay_seconds": 2})) else {
        return;
    };
    let mut brokers = replicas(&config, 2);
    let a = brokers[0].client();
    let b = brokers[1].client();
    let id = "killed-1";
    // The provision's first step runs in the request on replica A: kill A while its adapter
    // generates the manifest, holding the operation's lease.
    let request = std::thread::spawn(move || {
        a.provision(id, &provision_body(SERVICE_ID, PLAN_SMALL, json!({})), true)
    });
    wait_for("the provision recorded", WAIT, || {
        (b.last_operation(id, None).status == 200).then_some(())
    });
    brokers[0].kill();
    let _ = request.join();
    // B takes it over after the lease expires and finishes it.
    assert_eq!(b.wait_for_operation(id, None, WAIT), "succeeded");
    assert!(
        brokers[1].wait_for_log("took the operation over from replica", WAIT),
        "B did not say it took the operation over"
    );
    assert_eq!(deploys_of(&director, id), 1);
    // The platform retries its provision on B: the same operation, accepted.
    let r = b.provision(id, &provision_body(SERVICE_ID, PLAN_SMALL, json!({})), true);
    assert!(matches!(r.status, 200 | 202), "{}", r.text);
}

#[test]
fn a_replica_paused_past_its_lease_writes_nothing_for_the_operation_taken_over() {
    let director = FakeDirector::start_basic("admin", "admin-secret");
    let Some(config) = replica_config(&director, json!({"adapter_delay_seconds": 3})) else {
        return;
    };
    let brokers = replicas(&config, 2);
    let a = brokers[0].client();
    let b = brokers[1].client();
    let id = "paused-1";
    let request = std::thread::spawn(move || {
        a.provision(id, &provision_body(SERVICE_ID, PLAN_SMALL, json!({})), true)
    });
    wait_for("the provision recorded", WAIT, || {
        (b.last_operation(id, None).status == 200).then_some(())
    });
    // A is stopped while its adapter runs; B takes the operation over and finishes it.
    signal(&brokers[0], "-STOP");
    assert_eq!(b.wait_for_operation(id, None, WAIT), "succeeded");
    let finished =
        config.postgres_query("SELECT stage, state, updated_at FROM operations").unwrap();
    // A goes on: its adapter has answered, and its lease is lost.
    signal(&brokers[0], "-CONT");
    assert!(
        brokers[0].wait_for_log("lost the lease of the operation", WAIT),
        "A did not say it lost the lease"
    );
    let r = request.join().expect("the provision request");
    assert_eq!(r.status, 202, "A answers the platform as accepted: {}", r.text);
    std::thread::sleep(Duration::from_millis(LEASE_MILLIS));
    assert_eq!(deploys_of(&director, id), 1, "A deployed after it lost its lease");
    assert_eq!(
        config.postgres_query("SELECT stage, state, updated_at FROM operations").unwrap(),
        finished,
        "A wrote to the operation after it lost its lease"
    );
    assert_eq!(b.wait_for_operation(id, None, WAIT), "succeeded");
}

#[test]
fn readiness_fails_while_the_database_cannot_be_reached() {
    let director = FakeDirector::start_basic("admin", "admin-secret");
    let Some(cluster) = postgres::shared() else {
        return;
    };
    let Some(config) = replica_config(&director, json!({})) else {
        return;
    };
    let config = config.extra_yaml(
        serde_yaml::to_value(json!({"broker": {
            "operation_lease_millis": LEASE_MILLIS,
            "worker_interval_millis": 100,
            "readiness_interval_millis": 200,
        }}))
        .unwrap(),
    );
    let broker = BrokerProcess::start(&config);
    let client = broker.client();
    let ready = || client.request("GET", "/health/ready", &[], None).status;
    wait_for("ready", WAIT, || (ready() == 200).then_some(()));
    let name = config.database_name().expect("on PostgreSQL");
    // The database refuses new connections, and the broker's are cut.
    cluster
        .psql(
            "postgres",
            &format!(
                "ALTER DATABASE {name} ALLOW_CONNECTIONS false; \
                 SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            ),
        )
        .unwrap();
    wait_for("unready", WAIT, || (ready() == 503).then_some(()));
    assert_eq!(
        client.request("GET", "/health/live", &[], None).status,
        200,
        "liveness does not depend on the database"
    );
    cluster.psql("postgres", &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true")).unwrap();
    wait_for("ready again", WAIT, || (ready() == 200).then_some(()));
    let r =
        client.provision("after-outage", &provision_body(SERVICE_ID, PLAN_SMALL, json!({})), true);
    assert_eq!(r.status, 202, "{}", r.text);
}

/// `config` on `cluster`'s database `name` with the query `tls` (and a password in the URL).
fn over_tls(
    config: BrokerConfig, cluster: &postgres::PgCluster, name: &str, tls: &str,
) -> BrokerConfig {
    config.postgres(format!(
        "postgres://odb:pw-not-to-be-shown@127.0.0.1:{}/{name}?{tls}",
        cluster.port()
    ))
}

#[test]
fn tls_to_postgres_follows_sslmode_and_checks_the_certificate() {
    let Some(cluster) = postgres::shared() else {
        return;
    };
    let base = BrokerConfig::new();
    let name = base.clone().postgres(cluster.database()).database_name().unwrap();
    let ca = cluster.ca_file().display().to_string();
    // verify-full against the cluster's CA: connects, over TLS.
    let config =
        over_tls(base.clone(), cluster, &name, &format!("sslmode=verify-full&sslrootcert={ca}"));
    let broker = BrokerProcess::start(&config);
    let client = broker.client();
    let r = client.provision("tls-1", &provision_body(SERVICE_ID, PLAN_SMALL, json!({})), true);
    assert_eq!(r.status, 202, "{}", r.text);
    let encrypted = cluster
        .psql(
            "postgres",
            &format!(
                "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
                 WHERE a.datname = '{name}' AND s.ssl"
            ),
        )
        .unwrap();
    assert_ne!(encrypted.trim(), "0", "the broker's connections are not encrypted");
    drop(broker);
    // verify-full against a CA that did not sign the server's certificate: refused at start.
    let other_ca = base.dir().join("other-ca.pem");
    std::fs::write(&other_ca, broker_tests::fake_director::unrelated_ca_pem()).unwrap();
    let config = over_tls(
        base.clone(),
        cluster,
        &name,
        &format!("sslmode=verify-full&sslrootcert={}", other_ca.display()),
    );
    let failure = match BrokerProcess::try_start(&config) {
        Err(message) => message,
        Ok(_) => panic!("the broker trusted a certificate its sslrootcert did not sign"),
    };
    assert!(failure.contains("PostgreSQL database postgres://odb@127.0.0.1"), "{failure}");
    assert!(!failure.contains("pw-not-to-be-shown"), "the password is shown: {failure}");
    // verify-ca: the chain is checked (the other CA is refused), the host name is not.
    let config = over_tls(
        base.clone(),
        cluster,
        &name,
        &format!("sslmode=verify-ca&sslrootcert={}", other_ca.display()),
    );
    assert!(
        BrokerProcess::try_start(&config).is_err(),
        "verify-ca trusted a certificate its sslrootcert did not sign"
    );
    let config =
        over_tls(base.clone(), cluster, &name, &format!("sslmode=verify-ca&sslrootcert={ca}"));
    drop(BrokerProcess::start(&config));
    // require without a CA: encrypted, the certificate not checked (as libpq).
    let config = over_tls(base, cluster, &name, "sslmode=require");
    let broker = BrokerProcess::start(&config);
    assert_eq!(
        broker.client().last_operation("tls-1", None).status,
        200,
        "the same database, over TLS"
    );
}

#[test]
fn a_quota_holds_across_replicas_provisioning_at_the_same_moment() {
    let director = FakeDirector::start_basic("admin", "admin-secret");
    let Some(mut config) = replica_config(&director, json!({})) else {
        return;
    };
    config.plan_mut(PLAN_SMALL).extra.insert(
        "quotas".into(),
        serde_yaml::to_value(json!({"service_instance_limit": 2})).unwrap(),
    );
    let brokers = replicas(&config, 3);
    let clients: Vec<OsbClient> = brokers.iter().map(BrokerProcess::client).collect();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(12));
    let answers: Vec<u16> = (0..12)
        .map(|n| {
            let client = clients[n % clients.len()].clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                client
                    .provision(
                        &format!("quota-{n}"),
                        &provision_body(SERVICE_ID, PLAN_SMALL, json!({})),
                        true,
                    )
                    .status
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let accepted = answers.iter().filter(|s| **s == 202).count();
    let refused = answers.iter().filter(|s| **s == 422).count();
    assert_eq!((accepted, refused), (2, 10), "answers: {answers:?}");
    let live =
        config.postgres_query("SELECT count(*) FROM instances WHERE state != 'deleted'").unwrap();
    assert_eq!(live, vec!["2".to_string()]);
}
