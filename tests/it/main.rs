//! Integration tests: one binary, a module per area. Every test runs a real
//! server on a loopback port over a fresh database (SQLite by default,
//! PostgreSQL when CATALOG_TEST_DATABASE_URL points at one).

mod asset_actions;
mod assets;
mod auth;
mod capabilities_schema;
mod cli;
mod gateway;
mod governance;
mod governance_crash;
mod governance_model;
mod governance_replicas;
mod kubeflow;
mod metrics;
mod plugins;
mod sources;
mod support;
