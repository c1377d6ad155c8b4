//! The governance service: applies the domain rules of
//! `crate::domain::governance` to the overlay in storage. Every mutation
//! runs in one database transaction together with its audit event; every
//! refusal is audited too. Transports call this service and only convert.
//!
//! - [`ingest`]: keeps the overlay in step with the live catalog (overlay
//!   rows, automatic versions, content-change events);
//! - [`actions`]: lifecycle, version and promotion actions, gates;
//! - [`approvals`]: approval requests, decisions and their execution;
//! - [`reads`]: governance views, versions, bindings, history, audit.

pub mod actions;
pub mod approvals;
pub mod ingest;
pub mod reads;
pub mod settings;

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::domain::audit::{micros, AuditEvent, Outcome};
use crate::domain::error::StatusClass;
use crate::domain::{Error, Reason, Result};
use crate::plugins::Registry;
use crate::storage::governance::{OverlayRow, Tx};
use crate::storage::Store;

pub use settings::Settings;

/// Who is calling, as the governance rules see it.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Principal (token subject) or system:<component>.
    pub principal: String,
    /// Effective roles (implications applied).
    pub roles: Vec<String>,
    /// Correlation id of the call.
    pub correlation_id: String,
}

impl Caller {
    /// An internal actor such as system:ingest.
    pub fn system(name: &str) -> Self {
        Caller {
            principal: name.to_string(),
            roles: Vec::new(),
            correlation_id: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// Whether the caller holds a role.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// Counters the metrics endpoint exposes.
#[derive(Debug, Default)]
pub struct Counters {
    /// lifecycle_transition_total by (from, to, outcome).
    pub transitions: std::sync::Mutex<std::collections::BTreeMap<(String, String, String), u64>>,
    /// promotion_total by (environment, action, outcome).
    pub promotions: std::sync::Mutex<std::collections::BTreeMap<(String, String, String), u64>>,
    /// audit_events_total by (action, outcome).
    pub audit_events: std::sync::Mutex<std::collections::BTreeMap<(String, String), u64>>,
    /// signature_verification_total by result. Nothing verifies signatures
    /// yet (that arrives with provenance, a later issue); the metrics
    /// endpoint exports `verified` and `failed` at 0 meanwhile so alerts
    /// and dashboards can be written against it now.
    pub signature_verifications: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
}

impl Counters {
    fn count_events(&self, events: &[AuditEvent]) {
        let mut map = self.audit_events.lock().unwrap_or_else(|e| e.into_inner());
        for e in events {
            *map.entry((e.action.clone(), e.outcome.as_str().to_string()))
                .or_default() += 1;
        }
    }
}

/// The governance application service.
#[derive(Clone)]
pub struct Governance {
    store: Store,
    registry: Registry,
    settings: Arc<RwLock<Arc<Settings>>>,
    counters: Arc<Counters>,
}

impl Governance {
    /// A service over `store` with the given settings.
    pub fn new(store: Store, registry: Registry, settings: Settings) -> Self {
        Governance {
            store,
            registry,
            settings: Arc::new(RwLock::new(Arc::new(settings))),
            counters: Arc::default(),
        }
    }

    /// The settings in force for one call.
    pub fn settings(&self) -> Arc<Settings> {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the settings (after a successful reload).
    pub fn replace_settings(&self, settings: Settings) {
        *self.settings.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(settings);
    }

    /// The metrics counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The store (for metrics gauges).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Plugin and canonical kind of a request.
    fn resolve(&self, plugin: &str, kind: &str) -> Result<(String, String)> {
        let manifest = self.registry.resolve_kind(plugin, kind)?;
        Ok((plugin.to_string(), manifest.spec.entity.kind.clone()))
    }

    /// The overlay row of an asset, locked for the transaction. An asset
    /// that is live but not yet reconciled gets its overlay now, so that a
    /// freshly synced asset is governable at once.
    async fn locked_overlay(
        &self,
        tx: &mut Tx,
        plugin: &str,
        kind: &str,
        name: &str,
    ) -> Result<OverlayRow> {
        if let Some(row) = self.store.overlay(tx, plugin, kind, name, true).await? {
            return Ok(row);
        }
        if let Some(item) = self.store.live_record(tx, plugin, kind, name).await? {
            let settings = self.settings();
            let mut events = Vec::new();
            ingest::create_overlay(
                &self.store,
                tx,
                &settings,
                &item,
                "system:ingest",
                &mut events,
            )
            .await?;
            self.append(tx, &mut events).await?;
            if let Some(row) = self.store.overlay(tx, plugin, kind, name, true).await? {
                return Ok(row);
            }
        }
        Err(asset_not_found(plugin, kind, name))
    }

    /// Appends events in the current transaction and counts them. Every
    /// governance write appends an event, so this is also where the write
    /// is counted for the other replicas' caches.
    async fn append(&self, tx: &mut Tx, events: &mut [AuditEvent]) -> Result<()> {
        self.store.append_audit(tx, events).await?;
        self.store.bump_overlay_generation(tx).await?;
        self.counters.count_events(events);
        Ok(())
    }

    /// Commits a governance write and marks cached asset views stale.
    async fn commit(&self, tx: Tx) -> Result<()> {
        tx.commit().await.map_err(Error::storage)?;
        self.store.overlay_changed();
        Ok(())
    }

    /// Writes the audit event of a refused or failed attempt, in its own
    /// transaction (the attempt's transaction has rolled back).
    async fn audit_refusal(&self, mut event: AuditEvent, error: &Error) {
        event.outcome = refusal_outcome(error);
        event.reason = error.message.clone();
        event.reason_code = error.reason.code().to_string();
        if let Some(rule) = error.metadata.get("rule") {
            event.policy_rule = rule.clone();
        }
        let result = async {
            let mut tx = self.store.begin_write().await?;
            self.append(&mut tx, std::slice::from_mut(&mut event))
                .await?;
            self.commit(tx).await
        }
        .await;
        if let Err(e) = result {
            tracing::error!(error = %e, action = %event.action, "could not audit a refused attempt");
        }
    }

    /// Audits a refused call made outside the governance actions
    /// (UNAUTHENTICATED or ROLE_REQUIRED at the edge).
    pub async fn audit_auth_refusal(
        &self,
        rpc: &str,
        principal: Option<&str>,
        roles: &[String],
        reason: Reason,
        message: &str,
        correlation_id: &str,
    ) {
        let mut event = AuditEvent::new(
            principal.unwrap_or("anonymous"),
            roles,
            "auth.denied",
            Outcome::Denied,
        );
        event.correlation_id = correlation_id.to_string();
        event.details = json!({"rpc": rpc});
        self.audit_refusal(event, &Error::new(reason, message))
            .await;
    }
}

/// denied for refusals by rule, role or precondition; failed for unknown
/// subjects, bad parameters and faults (spec 03 §7).
fn refusal_outcome(error: &Error) -> Outcome {
    match error.reason.class() {
        StatusClass::PermissionDenied
        | StatusClass::Unauthenticated
        | StatusClass::FailedPrecondition
        | StatusClass::AlreadyExists
        | StatusClass::Aborted
            if error.reason != Reason::GovernanceNotSupported =>
        {
            Outcome::Denied
        }
        _ => Outcome::Failed,
    }
}

fn asset_not_found(plugin: &str, kind: &str, name: &str) -> Error {
    Error::new(
        Reason::AssetNotFound,
        format!("no {kind} named {name:?} in plugin {plugin}; list assets to see what exists"),
    )
    .with("plugin", plugin)
    .with("kind", kind)
    .with("name", name)
}

/// The current time, and its stored form.
fn now() -> (DateTime<Utc>, String) {
    let at = Utc::now();
    (at, micros(at))
}

/// An event about an asset by a caller.
fn event_for(caller: &Caller, action: &str, outcome: Outcome, overlay: &OverlayRow) -> AuditEvent {
    let mut event = AuditEvent::new(&caller.principal, &caller.roles, action, outcome).subject(
        &overlay.asset_uid,
        &overlay.plugin,
        &overlay.kind,
        &overlay.name,
    );
    event.correlation_id = caller.correlation_id.clone();
    event
}

/// JSON object or empty object.
fn object_or_empty(value: &Value) -> Value {
    if value.is_object() {
        value.clone()
    } else {
        json!({})
    }
}
