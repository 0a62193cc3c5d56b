//! On-demand service broker: an Open Service Broker API server that deploys one BOSH
//! deployment per service instance, with a service adapter generating the manifests and
//! binding credentials.

pub mod adapter;
pub mod api;
pub mod app;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod config_server;
pub mod credhub;
pub mod director;
pub mod engine;
pub mod health;
pub mod ids;
pub mod journal;
pub mod metrics;
pub mod quotas;
pub mod redacted;
pub mod schemas;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod uaa;
pub mod url_path;
