//! The composition root: builds the identity set-up, registry, store, sync
//! engine and services, serves them on one listener with health and
//! reflection behind the auth layer (and `/metrics` in front of it), keeps
//! sources in sync in the background and shuts down cleanly on SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic_health::ServingStatus;

use crate::telemetry::probes::{InitialLoad, Readiness};

use crate::auth::{AuthLayer, DevCredentials, LogRefusals, Refusal, RefusalSink};
use crate::catalog::{Catalog, ReadCache};
use crate::config::ServerConfig;
use crate::governance::settings::ReloadStats;
use crate::governance::{Governance, Settings};
use crate::plugins::Registry;
use crate::proto::catalog::governance::v1alpha1 as gpb;
use crate::proto::catalog::v1alpha1 as pb;
use crate::sources::engine::{Engine, EngineSettings};
use crate::storage::{OpenError, Store};
use crate::telemetry::metrics::Metrics;
use crate::telemetry::rpc::{RpcMetrics, RpcMetricsLayer};
use crate::telemetry::CorrelationLayer;
use crate::transport::gateway::{Gateway, GatewayOptions};
use crate::transport::grpc::{
    assets::AssetApi, encoded::AssetServiceFront, governance::GovernanceApi, plugins::PluginApi,
    sources::SourceApi,
};

/// Fully qualified names of the served API services (health reports each).
pub const SERVICES: &[&str] = &[
    "catalog.v1alpha1.PluginService",
    "catalog.v1alpha1.AssetService",
    "catalog.v1alpha1.SourceService",
    "catalog.governance.v1alpha1.GovernanceService",
    "catalog.governance.v1alpha1.ApprovalService",
    "catalog.governance.v1alpha1.AuditService",
];

/// Why the server could not start; each maps to the exit code of spec 12.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Configuration (exit 2).
    #[error("configuration error: {0}")]
    Config(String),
    /// Migration (exit 3).
    #[error("{0}")]
    Migration(String),
    /// Database unreachable (exit 4).
    #[error("{0}")]
    Database(String),
    /// Listener (exit 2).
    #[error("cannot listen: {0}")]
    Listen(String),
}

impl StartError {
    /// Process exit code.
    pub fn exit_code(&self) -> i32 {
        match self {
            StartError::Config(_) | StartError::Listen(_) => 2,
            StartError::Migration(_) => 3,
            StartError::Database(_) => 4,
        }
    }
}

/// A running server.
pub struct RunningServer {
    /// Bound address.
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
    /// The application layer, for tests and embedding.
    pub catalog: Catalog,
    /// The governance service, for tests and embedding.
    pub governance: Governance,
    /// Where the local development tokens are, when the server made them.
    pub dev_credentials: Option<DevCredentials>,
}

impl RunningServer {
    /// Stops accepting, lets in-flight calls finish, stops background work.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.handle.await;
    }

    /// Waits until the server stops by itself (signal).
    pub async fn wait(self) {
        let _ = self.handle.await;
    }
}

/// Starts the server on `config.listen`, or on `listener` when given.
pub async fn start(
    config: ServerConfig,
    listener: Option<TcpListener>,
) -> Result<RunningServer, StartError> {
    // Identity first: a listener that would be open to anyone fails before
    // the database is touched.
    let listen_ip = match &listener {
        Some(l) => l
            .local_addr()
            .map_err(|e| StartError::Listen(e.to_string()))?
            .ip(),
        None => config.listen.ip(),
    };
    let identity = crate::auth::configure(&config, listen_ip).map_err(StartError::Config)?;
    let registry =
        Registry::load(config.plugins_dir.as_deref()).map_err(|e| StartError::Config(e.message))?;
    let store = Store::open(
        &config.database_url,
        config.db_max_connections,
        Duration::from_secs(config.db_connect_timeout_seconds),
    )
    .await
    .map_err(|e| match e {
        OpenError::Config(m) => StartError::Config(m),
        OpenError::Migration(m) => StartError::Migration(format!("migration failed: {m}")),
        OpenError::Unreachable(m) => StartError::Database(format!("database unreachable: {m}")),
    })?;
    let sources_files: Vec<PathBuf> = config.sources.clone();
    for file in &sources_files {
        if !file.exists() {
            return Err(StartError::Config(format!(
                "sources file {} does not exist (set CATALOG_SOURCES)",
                file.display()
            )));
        }
    }
    let source_roots = if config.source_roots.is_empty() {
        sources_files
            .iter()
            .filter_map(|f| f.canonicalize().ok()?.parent().map(|p| p.to_path_buf()))
            .collect()
    } else {
        config.source_roots.clone()
    };
    let engine = Engine::new(
        registry.clone(),
        store.clone(),
        EngineSettings {
            sources_files,
            source_roots,
            reconcile_interval: Duration::from_secs(config.reconcile_seconds.max(1)),
        },
    );
    let warnings = engine
        .load_config()
        .await
        .map_err(|e| StartError::Config(format!("{} (line {})", e.message, e.line)))?;
    for warning in warnings {
        tracing::warn!(warning = %warning, "sources configuration");
    }
    let settings = governance_settings(&config)?;
    let governance = Governance::new(store.clone(), registry.clone(), settings);
    let plugins_for_legacy_paths: Vec<(String, String)> = registry
        .all()
        .iter()
        .map(|p| (p.name().to_string(), p.spec.entity.plural.clone()))
        .collect();
    let catalog = Catalog::new(registry, store.clone(), engine.clone());

    let listener = match listener {
        Some(l) => l,
        None => TcpListener::bind(config.listen)
            .await
            .map_err(|e| StartError::Listen(format!("{}: {e}", config.listen)))?,
    };
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Listen(e.to_string()))?;
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "listening beyond loopback without TLS: bearer tokens cross the network in clear text unless a proxy terminates TLS");
    }

    let (health, health_service) = tonic_health::server::health_reporter();
    for name in std::iter::once("").chain(SERVICES.iter().copied()) {
        health
            .set_service_status(name, ServingStatus::NotServing)
            .await;
    }
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| StartError::Config(format!("reflection: {e}")))?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(|e| StartError::Config(format!("reflection: {e}")))?;

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let answers = Arc::new(ReadCache::new(
        config.asset_cache_mb.saturating_mul(1 << 20),
    ));
    let routes = tonic::service::Routes::new(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(pb::plugin_service_server::PluginServiceServer::new(
            PluginApi::new(catalog.clone(), governance.clone()),
        ))
        .add_service(AssetServiceFront::new(AssetApi::new(
            catalog.clone(),
            governance.clone(),
            answers.clone(),
        )))
        .add_service(pb::source_service_server::SourceServiceServer::new(
            SourceApi::new(catalog.clone()),
        ))
        .add_service(
            gpb::governance_service_server::GovernanceServiceServer::new(GovernanceApi::new(
                governance.clone(),
            )),
        )
        .add_service(gpb::approval_service_server::ApprovalServiceServer::new(
            GovernanceApi::new(governance.clone()),
        ))
        .add_service(gpb::audit_service_server::AuditServiceServer::new(
            GovernanceApi::new(governance.clone()),
        ))
        .prepare();
    // The descriptor sets reflection serves name every method there is, so
    // the per-RPC metrics label exactly those.
    let rpc_metrics = Arc::new(
        RpcMetrics::from_descriptor_sets(&[
            crate::proto::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
        ])
        .map_err(|e| StartError::Config(format!("descriptor sets: {e}")))?,
    );
    // Layers added first wrap the ones added later. Metrics outermost, so
    // refusals are counted and timed; then correlation, so refusals
    // already carry the request's correlation id.
    let grpc = tower::ServiceBuilder::new()
        .layer(RpcMetricsLayer::new(rpc_metrics.clone()))
        .layer(CorrelationLayer)
        .layer(AuthLayer::new(
            identity.authenticator.clone(),
            Arc::new(AuditRefusals {
                governance: governance.clone(),
            }),
        ))
        .service(routes);
    let reloads = Arc::new(ReloadStats::default());
    let gateway = Gateway::new(
        crate::proto::FILE_DESCRIPTOR_SET,
        GatewayOptions {
            strict: config.http_strict,
            max_body_bytes: config.http_max_body_bytes,
            plugins: plugins_for_legacy_paths,
        },
    )
    .map_err(|e| StartError::Config(format!("HTTP routes from google.api.http: {e}")))?;
    let readiness = Readiness::new(store.clone());
    let app = crate::transport::http::router(
        grpc,
        Metrics::new(
            rpc_metrics,
            governance.clone(),
            reloads.clone(),
            answers.clone(),
        ),
        gateway,
        readiness.clone(),
    );

    crate::governance::settings::watch(governance.clone(), reloads, Duration::from_secs(2));
    let background = tokio::spawn(sync_loop(
        engine.clone(),
        governance.clone(),
        health,
        readiness,
        shutdown_rx.clone(),
        Duration::from_secs(config.reconcile_seconds.max(1)),
    ));
    let mut serve_shutdown = shutdown_rx.clone();
    // Without TCP_NODELAY a multi-frame response waits on delayed ACKs
    // (about 40 ms per call on Linux loopback).
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let handle = tokio::spawn(async move {
        let signal = async move {
            tokio::select! {
                _ = serve_shutdown.wait_for(|stop| *stop) => {}
                _ = terminate_signal() => tracing::info!("shutdown signal received; draining"),
            }
        };
        // HTTP/1.1 is accepted for the plain-HTTP endpoints (a scraper or
        // curl speaks it); gRPC keeps arriving over HTTP/2 on the same port.
        let server = tonic::transport::Server::builder().accept_http1(true);
        if let Err(e) = server
            .serve_with_incoming_shutdown(app, incoming, signal)
            .await
        {
            tracing::error!(error = %e, "server stopped with an error");
        }
        background.abort();
        store.close().await;
        tracing::info!("server stopped");
    });
    tracing::info!(%addr, "catalog server listening (gRPC, gRPC-Web, HTTP/JSON, health, reflection, /metrics)");
    Ok(RunningServer {
        addr,
        shutdown: shutdown_tx,
        handle,
        catalog,
        governance,
        dev_credentials: identity.dev_credentials,
    })
}

/// Governance settings from their files; an invalid file stops start-up.
fn governance_settings(config: &ServerConfig) -> Result<Settings, StartError> {
    let policies = match config.approval_policies.trim() {
        "" | "builtin" => None,
        path => Some(PathBuf::from(path)),
    };
    Settings::load(config.governance_config.as_deref(), policies.as_deref()).map_err(|e| {
        let details: Vec<String> = e
            .violations
            .iter()
            .map(|v| format!("{}: {}", v.field, v.description))
            .collect();
        StartError::Config(if details.is_empty() {
            e.message
        } else {
            format!("{} ({})", e.message, details.join("; "))
        })
    })
}

async fn terminate_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// First load, then periodic reconciliation: re-reads the sources files and
/// the overrides other replicas stored, and re-syncs every source whose
/// data changed. Health turns SERVING once the first load was attempted
/// for every enabled source.
/// Sets every served service (and "") to SERVING or NOT_SERVING.
async fn set_serving(health: &tonic_health::server::HealthReporter, ready: bool) {
    let status = if ready {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    for name in std::iter::once("").chain(SERVICES.iter().copied()) {
        health.set_service_status(name, status).await;
    }
}

async fn sync_loop(
    engine: Arc<Engine>,
    governance: Governance,
    health: tonic_health::server::HealthReporter,
    readiness: Readiness,
    mut stop: watch::Receiver<bool>,
    every: Duration,
) {
    // Records already in the database from before governance existed are
    // backfilled before the server is ready; what the first sync
    // discovers is ingested right after.
    reconcile_governance(&governance, "system:backfill").await;
    let failed = engine.reconcile().await;
    let total = engine
        .effective_sources(None)
        .await
        .iter()
        .filter(|s| s.enabled)
        .count();
    tracing::info!(sources = total, failed, "initial load finished");
    readiness.initial_load_done(InitialLoad { total, failed });
    set_serving(&health, readiness.is_ready()).await;
    // What the initial sync discovered gets its overlay after the server
    // is ready: reads treat an asset without an overlay row as a draft
    // and an action creates the row first, as for sources added at run
    // time. Holding readiness for it cost 35 s at 100k assets against
    // issue 2's 10 s (spec 12 §3 holds readiness; the issue wins).
    tokio::spawn(discover_then_follow(
        governance.clone(),
        readiness.clone(),
        stop.clone(),
    ));
    tokio::spawn(expire_approvals(governance.clone(), stop.clone()));
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(every) => {}
        }
        // gRPC health follows readiness: NOT_SERVING while the database
        // does not answer (spec 12 §3).
        if readiness.check_database().await {
            let ready = readiness.is_ready();
            tracing::warn!(ready, "readiness changed");
            set_serving(&health, ready).await;
        }
        if let Err(e) = engine.store().observe_generation().await {
            tracing::warn!(error = %e, "could not read the catalog generation");
        }
        if let Err(e) = engine.reload_config().await {
            tracing::warn!(error = %e, "could not reload the source configuration");
            continue;
        }
        engine.reconcile().await;
    }
}

/// Runs the server until a signal; returns the process exit code.
pub async fn run(config: ServerConfig) -> i32 {
    match start(config, None).await {
        Ok(server) => {
            server.wait().await;
            0
        }
        Err(error) => {
            tracing::error!(error = %error, "catalog server cannot start");
            eprintln!("catalog-server: {error}");
            error.exit_code()
        }
    }
}

async fn reconcile_governance(governance: &Governance, actor: &str) {
    if let Err(e) = governance.reconcile(actor).await {
        tracing::error!(error = %e, "could not bring the governance overlay up to date; retrying later");
    }
}

/// Writes the overlay of what the first sync discovered, retrying with
/// back-off until it succeeds (`/readyz` says `failed` meanwhile), then
/// follows the catalog. A failed first pass must not wait for the next
/// catalog change to be retried: that change may never come.
async fn discover_then_follow(
    governance: Governance,
    readiness: Readiness,
    mut stop: watch::Receiver<bool>,
) {
    let mut wait = Duration::from_secs(1);
    while let Err(e) = governance.reconcile("system:ingest").await {
        tracing::error!(error = %e, retry_in_seconds = wait.as_secs(), "could not write the governance overlay of the first load; retrying");
        readiness.discovery_failed();
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(Duration::from_secs(30));
    }
    readiness.discovery_done();
    follow_catalog(governance, stop).await;
}

/// Brings the governance overlay up to date whenever the live catalog
/// changes (syncs, source actions, other replicas).
async fn follow_catalog(governance: Governance, mut stop: watch::Receiver<bool>) {
    let mut seen = governance.store().generation();
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
        let now = governance.store().generation();
        if now != seen {
            seen = now;
            reconcile_governance(&governance, "system:ingest").await;
        }
    }
}

/// Expires overdue approval requests every minute (reads and decisions
/// also expire them on the spot).
async fn expire_approvals(governance: Governance, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
        }
        if let Err(e) = governance.expire_overdue().await {
            tracing::warn!(error = %e, "approval expiry sweep failed");
        }
    }
}

/// Refusals at the edge go to the log and to the audit trail
/// (`auth.denied`), never with the token.
struct AuditRefusals {
    governance: Governance,
}

impl RefusalSink for AuditRefusals {
    fn refused(&self, refusal: Refusal) {
        LogRefusals.refused(refusal.clone());
        let governance = self.governance.clone();
        tokio::spawn(async move {
            governance
                .audit_auth_refusal(
                    &refusal.method,
                    refusal.principal.as_deref(),
                    &refusal.roles,
                    refusal.reason,
                    &refusal.message,
                    &refusal.correlation_id,
                )
                .await;
        });
    }
}
