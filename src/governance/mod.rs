//! The governance service: applies the domain rules of
//! `crate::domain::governance` to the overlay in storage. Every mutation
//! runs in one database transaction together with its audit event; every
//! refusal is audited too. Transports call this service and only convert.
//!
//! - [`ingest`]: keeps the overlay in step with the live catalog (overlay
//!   rows, automatic versions, content-change events);
//! - [`actions`]: lifecycle, version and promotion actions, gates;
//! - [`asset_actions`]: the legacy asset actions, run as governance actions;
//! - [`approvals`]: approval requests, decisions and their execution;
//! - [`reads`]: governance views, versions, bindings, history, audit.

pub mod actions;
pub mod approvals;
pub mod asset_actions;
pub mod ingest;
pub mod reads;
pub mod settings;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::domain::audit::{micros, AuditEvent, Outcome};
use crate::domain::error::StatusClass;
use crate::domain::governance::approval::DecisionKind;
use crate::domain::governance::policy::GateOutcome;
use crate::domain::governance::State;
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

/// The label value for what is not known when a count is made (an asset
/// that was not found, an action that did not parse), and for what the
/// caller named but the server does not know (a misspelt plugin or
/// environment): labels never carry the caller's text as given, so a typo
/// cannot start a new series.
pub(crate) const UNKNOWN: &str = "unknown";

/// One counter family: a count per combination of its `N` label values.
#[derive(Debug, Default)]
pub struct Series<const N: usize>(Mutex<BTreeMap<[String; N], u64>>);

impl<const N: usize> Series<N> {
    fn map(&self) -> MutexGuard<'_, BTreeMap<[String; N], u64>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn add(&self, labels: [&str; N]) {
        *self.map().entry(labels.map(str::to_string)).or_default() += 1;
    }

    /// A copy of the counts, so the lock is held only for the copy.
    pub fn snapshot(&self) -> BTreeMap<[String; N], u64> {
        self.map().clone()
    }

    fn absorb(&self, tally: Series<N>) {
        let tally = tally.0.into_inner().unwrap_or_else(|e| e.into_inner());
        if tally.is_empty() {
            return;
        }
        let mut map = self.map();
        for (labels, n) in tally {
            *map.entry(labels).or_default() += n;
        }
    }
}

/// Counters the metrics endpoint exposes (spec 12 §7), per replica.
///
/// What a write counts is held in a tally of its own (a `Counters` too)
/// and added to the service's counters only once its transaction commits
/// ([`Governance::commit_counted`]), so a write that rolls back (a refused
/// action that had created an overlay on the way, a failed commit) counts
/// nothing. What is known only once the transaction has ended (refusals,
/// the end of a request by cancellation or expiry, counted after their
/// commit) and policy evaluations (which happened whatever follows) are
/// counted directly.
#[derive(Debug, Default)]
pub struct Counters {
    /// lifecycle_transition_total: plugin, kind, from, to, outcome.
    pub(crate) transitions: Series<5>,
    /// promotion_total: plugin, env, action, outcome.
    pub(crate) promotions: Series<4>,
    /// approval_requests_total: plugin, action, result.
    pub(crate) approval_requests: Series<3>,
    /// approval_decisions_total: decision.
    pub(crate) approval_decisions: Series<1>,
    /// approval_execution_total: action, status.
    pub(crate) approval_executions: Series<2>,
    /// policy_evaluations_total: result.
    pub(crate) policy_evaluations: Series<1>,
    /// version_snapshots_total: plugin, trigger.
    pub(crate) version_snapshots: Series<2>,
    /// backfill_assets_total: plugin, result.
    pub(crate) backfill_assets: Series<2>,
    /// audit_events_total: action, outcome.
    pub(crate) audit_events: Series<2>,
    /// signature_verification_total: method, result. Nothing verifies
    /// signatures yet (that arrives with provenance, a later issue); the
    /// metrics endpoint exports method `cosign` with every result at 0
    /// meanwhile so alerts and dashboards can be written against it now.
    pub(crate) signature_verifications: Series<2>,
}

impl Counters {
    /// One lifecycle action attempt (asset or version level); a state that
    /// is not known counts as `unknown`.
    pub(crate) fn transition(
        &self,
        plugin: &str,
        kind: &str,
        from: Option<State>,
        to: Option<State>,
        outcome: Outcome,
    ) {
        let state = |s: Option<State>| s.map_or(UNKNOWN, State::as_str);
        self.transitions
            .add([plugin, kind, state(from), state(to), outcome.as_str()]);
    }

    /// One promotion action attempt; `action` without its `promotion.`
    /// prefix.
    pub(crate) fn promotion(&self, plugin: &str, env: &str, action: &str, outcome: Outcome) {
        self.promotions.add([plugin, env, action, outcome.as_str()]);
    }

    /// An approval request created, or ended with `result` (its status).
    pub(crate) fn approval_request(&self, plugin: &str, action: &str, result: &str) {
        self.approval_requests.add([plugin, action, result]);
    }

    /// One recorded decision.
    pub(crate) fn approval_decision(&self, decision: DecisionKind) {
        self.approval_decisions.add([decision.as_str()]);
    }

    /// One run of the action an approved request held.
    pub(crate) fn approval_execution(&self, action: &str, succeeded: bool) {
        let status = if succeeded { "succeeded" } else { "failed" };
        self.approval_executions.add([action, status]);
    }

    /// One policy evaluation of an action that was not a dry run.
    pub(crate) fn policy_evaluation(&self, gate: &GateOutcome) {
        self.policy_evaluations.add([match gate {
            GateOutcome::Execute => "execute",
            GateOutcome::RequireApproval { .. } => "require-approval",
            GateOutcome::Deny { .. } => "deny",
        }]);
    }

    /// One version written, by its trigger.
    pub(crate) fn version_snapshot(&self, plugin: &str, trigger: &str) {
        self.version_snapshots.add([plugin, trigger]);
    }

    /// One asset handled by the backfill.
    pub(crate) fn backfill_asset(&self, plugin: &str, result: &str) {
        self.backfill_assets.add([plugin, result]);
    }

    fn count_events(&self, events: &[AuditEvent]) {
        for e in events {
            self.audit_events.add([&e.action, e.outcome.as_str()]);
        }
    }

    /// Adds a committed write's tally.
    pub(crate) fn absorb(&self, tally: Counters) {
        let Counters {
            transitions,
            promotions,
            approval_requests,
            approval_decisions,
            approval_executions,
            policy_evaluations,
            version_snapshots,
            backfill_assets,
            audit_events,
            signature_verifications,
        } = tally;
        self.transitions.absorb(transitions);
        self.promotions.absorb(promotions);
        self.approval_requests.absorb(approval_requests);
        self.approval_decisions.absorb(approval_decisions);
        self.approval_executions.absorb(approval_executions);
        self.policy_evaluations.absorb(policy_evaluations);
        self.version_snapshots.absorb(version_snapshots);
        self.backfill_assets.absorb(backfill_assets);
        self.audit_events.absorb(audit_events);
        self.signature_verifications.absorb(signature_verifications);
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
        store.set_trusted_sources(&settings.config.trusted_sources);
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
        self.store
            .set_trusted_sources(&settings.config.trusted_sources);
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
        tally: &Counters,
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
                tally,
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

    /// Commits a write and adds what it counted to the service's counters.
    async fn commit_counted(&self, tx: Tx, tally: Counters) -> Result<()> {
        self.commit(tx).await?;
        self.counters.absorb(tally);
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
