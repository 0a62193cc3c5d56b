//! Builds the whole broker from a configuration: store, director, adapter client, engine,
//! catalog and HTTP server. `Application::build` binds the listener first, so callers (and
//! tests) learn the real port before serving.

use crate::adapter::AdapterClient;
use crate::api::{self, middleware::Credentials, AppState};
use crate::config::{BoshSettings, Config, DirectorSettings, LoadedConfig};
use crate::director::{bosh::BoshDirector, simulated::SimulatedDirector, Director};
use crate::engine::Engine;
use crate::ids::PlanId;
use crate::schemas::PlanSchemas;
use crate::store::Store;
use actix_web::{web, App, HttpServer};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::Arc;

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened.
    #[error("cannot open the database {path}: {source}")]
    Store {
        /// Its path.
        path: String,
        /// Why.
        source: crate::store::StoreError,
    },
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The adapter command could not be resolved.
    #[error("cannot locate the service adapter: {0}")]
    Adapter(std::io::Error),
    /// The director is not usable.
    #[error("{0}")]
    Director(String),
    /// A CredHub is not usable.
    #[error("{0}")]
    CredHub(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// Builds the BOSH director client and checks, before serving, that the director answers and
/// accepts the configured credentials. The message names the URL, never the secret.
async fn connect_bosh(
    settings: &BoshSettings, config: &Config, metrics: Arc<crate::metrics::Metrics>,
) -> Result<BoshDirector, StartError> {
    let director = BoshDirector::new(settings)
        .map_err(|e| {
            StartError::Director(format!("error creating bosh client for {}: {e}", settings.url))
        })?
        .with_metrics(metrics);
    let report = director.check_access().await.map_err(|e| {
        StartError::Director(format!(
            "BOSH director check failed for {} ({} authentication): {e}",
            settings.url,
            settings.auth.mode()
        ))
    })?;
    tracing::info!(
        url = %settings.url,
        director = %report.name,
        version = %report.version,
        auth = report.auth_mode,
        user = %report.user,
        "BOSH director reachable and authenticated"
    );
    let problems = crate::director::version::check(&report.version, config);
    if !problems.is_empty() {
        return Err(StartError::Director(format!(
            "The following broker startup checks failed: {}",
            problems.join("; ")
        )));
    }
    Ok(director)
}

/// A CredHub client for `settings`, checked before serving: `/info` answers and its UAA grants
/// the broker a token. Like the director, a CredHub that cannot be reached at start-up stops
/// the broker (the service manager restarts it): serving without it would fail every request
/// that needs a secret. The message names the URL and the config section, never the secret.
async fn connect_credhub(
    settings: &crate::config::CredhubSettings,
) -> Result<crate::credhub::CredhubClient, StartError> {
    let client = crate::credhub::CredhubClient::new(settings).map_err(|e| {
        StartError::CredHub(format!(
            "error creating the CredHub client for {} ({}): {e}",
            settings.url, settings.section
        ))
    })?;
    let facts = client.check().await.map_err(|e| {
        StartError::CredHub(format!(
            "CredHub check failed for {} ({}): {e}",
            settings.url, settings.section
        ))
    })?;
    tracing::info!(
        url = %client.url(),
        section = settings.section,
        version = %crate::ids::log_safe(&facts.version, 64),
        "CredHub reachable and authenticated"
    );
    Ok(client)
}

/// With `broker.enable_plan_schemas`, asks the adapter for every plan's schemas and checks
/// them; any problem stops the broker at start-up rather than failing requests later.
async fn fetch_plan_schemas(
    config: &Config, engine: &Engine,
) -> Result<BTreeMap<PlanId, PlanSchemas>, StartError> {
    let mut schemas = BTreeMap::new();
    if !config.broker.enable_plan_schemas {
        return Ok(schemas);
    }
    for plan in &config.catalog.plans {
        let adapter_plan = crate::engine::plans::adapter_plan(config, plan);
        match engine.adapter().generate_plan_schemas(&adapter_plan).await {
            Ok(Some(schema)) => {
                let compiled = PlanSchemas::new(&plan.name, &schema).map_err(StartError::Other)?;
                schemas.insert(plan.plan_id.clone(), compiled);
            }
            Ok(None) => {
                return Err(StartError::Other(
                    "enable_plan_schemas is set to true, but the service adapter does not implement generate-plan-schemas: implement it, or set broker.enable_plan_schemas: false".to_string(),
                ))
            }
            Err(e) => {
                return Err(StartError::Other(format!(
                    "generate-plan-schemas failed for plan {}: {}",
                    plan.name,
                    e.user_message().map(str::to_string).unwrap_or_else(|| e.to_string())
                )))
            }
        }
    }
    tracing::info!(plans = schemas.len(), "plan schemas loaded from the service adapter");
    Ok(schemas)
}

/// Opens the configured database. A SQLite file is opened right here, before anything
/// else runs: a thread of the blocking pool would start just for it and leave a malloc
/// arena behind, holding the memory of the migration and the first connection, for the
/// life of the process. The PostgreSQL back end drives its connections from a runtime of
/// its own, which must not be entered from the executor: it connects on a blocking thread.
async fn open_store(config: &Arc<Config>) -> Result<Store, crate::store::StoreError> {
    match &config.database {
        crate::store::Location::Sqlite(_) => {
            Store::open_location(&config.database, config.encryption.as_ref())
        }
        crate::store::Location::Postgres(_) => {
            let opening = config.clone();
            tokio::task::spawn_blocking(move || {
                Store::open_location(&opening.database, opening.encryption.as_ref())
            })
            .await
            .map_err(|e| crate::store::StoreError::Task(e.to_string()))?
        }
    }
}

/// A broker ready to serve.
pub struct Application {
    port: u16,
    host: String,
    scheme: &'static str,
    server: actix_web::dev::Server,
    engine: Arc<Engine>,
    readiness: Arc<crate::health::Readiness>,
}

impl Application {
    /// Builds the broker and binds its listener.
    pub async fn build(loaded: LoadedConfig) -> Result<Self, StartError> {
        let config = Arc::new(loaded.config);
        let store = open_store(&config)
            .await
            .map_err(|source| StartError::Store { path: config.database.to_string(), source })?;
        let metrics = Arc::new(crate::metrics::Metrics::new());
        let director: Arc<dyn Director> = match &config.director {
            DirectorSettings::Simulated { task_duration } => {
                Arc::new(SimulatedDirector::new(store.clone(), *task_duration))
            }
            DirectorSettings::Bosh(settings) => {
                Arc::new(connect_bosh(settings, &config, metrics.clone()).await?)
            }
        };
        if let DirectorSettings::Simulated { .. } = &config.director {
            let info = director.info().await.map_err(|e| StartError::Director(e.to_string()))?;
            tracing::info!(director = %info.name, version = %info.version, "director reachable");
        }
        let adapter = AdapterClient::new(config.adapter.clone())
            .map_err(StartError::Adapter)?
            .with_metrics(metrics.clone());
        tracing::info!(adapter = %adapter.describe(), use_stdin = config.adapter.use_stdin, "service adapter");
        let readiness = Arc::new(crate::health::Readiness::new(
            config.clone(),
            store.clone(),
            director.clone(),
        ));
        let mut engine =
            Engine::new(config.clone(), store, director, adapter).with_metrics(metrics.clone());
        if let Some(settings) = &config.bosh_credhub {
            engine = engine.with_config_server(Arc::new(connect_credhub(settings).await?));
        }
        let binding_credentials = match &config.credhub {
            Some(settings) => Some(Arc::new(connect_credhub(settings).await?)),
            None => None,
        };
        let engine = Arc::new(engine);
        let schemas = fetch_plan_schemas(&config, &engine).await?;
        let published = schemas.iter().map(|(id, s)| (id.clone(), s.published().clone())).collect();
        let catalog = api::CatalogBody::new(&crate::catalog::build(&config, &published));

        let addr = format!("{}:{}", config.broker.host, config.broker.port);
        let listener = TcpListener::bind(&addr)
            .map_err(|source| StartError::Listen { addr: addr.clone(), source })?;
        let port = listener.local_addr().map_err(|e| StartError::Other(e.to_string()))?.port();
        let state = web::Data::new(AppState {
            broker: {
                let broker = crate::service::Broker::new(config.clone(), engine.clone(), schemas);
                match binding_credentials {
                    Some(credhub) => broker.with_binding_credentials(credhub),
                    None => broker,
                }
            },
            catalog,
        });
        readiness.check().await;
        let readiness_data = web::Data::from(readiness.clone());
        let metrics_data = web::Data::from(metrics);
        let credentials = web::Data::new(Credentials {
            username: config.broker.username.clone(),
            password: config.broker.password.clone().into(),
        });
        // actix counts connections per worker: share the broker-wide cap among them.
        let workers = config.broker.http_workers;
        let per_worker = config.broker.max_connections.div_ceil(workers).max(1);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(credentials.clone())
                .app_data(readiness_data.clone())
                .app_data(metrics_data.clone())
                .configure(api::routes)
                .wrap(actix_web::middleware::from_fn(api::middleware::echo_request_identity))
                .wrap(tracing_actix_web::TracingLogger::<api::middleware::RequestSpan>::new())
        })
        .workers(workers)
        // Each worker runs its own tokio runtime with its own blocking pool (512 threads
        // shared among the workers, by default): bound it, since all it runs is SQLite calls,
        // which take one writer at a time, and every extra thread keeps a stack and a malloc
        // arena.
        .worker_max_blocking_threads(config.broker.blocking_threads)
        .max_connections(per_worker)
        .shutdown_timeout(config.broker.shutdown_timeout.as_secs())
        // Longer than the usual load-balancer and client idle timeouts, so a platform never
        // sends a request on a connection the broker is just closing.
        .keep_alive(std::time::Duration::from_secs(75));
        let server = match &config.broker.tls {
            Some(files) => {
                let tls = crate::tls::server_config(files).map_err(StartError::Other)?;
                server.listen_rustls_0_23(listener, tls)
            }
            None => server.listen(listener),
        }
        .map_err(|source| StartError::Listen { addr: addr.clone(), source })?
        .run();
        Ok(Self {
            port,
            host: config.broker.host.clone(),
            scheme: if config.broker.tls.is_some() { "https" } else { "http" },
            server,
            engine,
            readiness,
        })
    }

    /// The port the broker listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the process is asked to stop, driving operations in the background.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        tracing::info!("listening on {}://{}:{}", self.scheme, self.host, self.port);
        let worker = actix_web::rt::spawn(self.engine.clone().run_worker());
        let checker = actix_web::rt::spawn(self.readiness.clone().run());
        let result = self.server.await;
        worker.abort();
        checker.abort();
        result
    }
}
