//! Governance actions (spec 03 §3, 04 §5): lifecycle transitions, version
//! snapshots, binds, promotions, rollbacks and unbinds. Each runs the
//! server-authoritative evaluation order: subject, parameters, rules of the
//! transition or bind, policy denial, gates, then one transaction that
//! applies the change and appends its audit event. An approved request runs
//! the same `prepare` again (re-validation) and the same `apply`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::{
    event_for, now, object_or_empty, refusal_outcome, Caller, Counters, Governance, Settings,
    UNKNOWN,
};
use crate::domain::audit::{AuditEvent, Outcome};
use crate::domain::governance::legacy::LegacyAction;
use crate::domain::governance::lifecycle::lifecycle_action_target;
use crate::domain::governance::metadata::{
    approval_fields_error, missing_for_approval, GovernanceMetadata,
};
use crate::domain::governance::policy::{deny_error, GateContext, GateOutcome};
use crate::domain::governance::version::{
    check_bind, initial_manual_state, manual_label, validate_environment, validate_label,
    BindRequest,
};
use crate::domain::governance::{State, Warning};
use crate::domain::{Error, Reason, Result};
use crate::storage::governance::{BindingRow, LifecycleRow, OverlayRow, Tx, VersionRow};

/// Action ids served by ExecuteGovernanceAction.
pub const ACTIONS: &[&str] = &[
    "lifecycle.setState",
    "lifecycle.deprecate",
    "lifecycle.archive",
    "lifecycle.restore",
    "version.create",
    "promotion.bind",
    "promotion.promote",
    "promotion.rollback",
    "promotion.unbind",
];

/// One governance action call.
#[derive(Debug, Clone, Default)]
pub struct ActionCall {
    /// Plugin.
    pub plugin: String,
    /// Kind (canonical, plural or alias).
    pub kind: String,
    /// Asset name.
    pub name: String,
    /// Action id.
    pub action: String,
    /// Parameters (a JSON object).
    pub params: Value,
    /// Evaluate only.
    pub dry_run: bool,
    /// Caller's reason.
    pub reason: String,
    /// The legacy asset action this call came in as (01 §7.4). `action` is
    /// then its governance action, and `params` are still the legacy
    /// ones: they are translated once the subject is known, so a refusal
    /// is audited and counted as that governance action's.
    pub legacy: Option<LegacyAction>,
}

/// One check of a dry run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanCheck {
    /// What was checked.
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// Reason code when it did not.
    pub code: String,
    /// Detail.
    pub message: String,
}

/// What an action call answers.
#[derive(Debug, Clone, Default)]
pub struct ActionOutcome {
    /// Requested action id.
    pub action: String,
    /// completed, dry-run or pending-approval.
    pub status: String,
    /// Human summary.
    pub message: String,
    /// Action-specific payload.
    pub data: Value,
    /// Non-blocking remarks.
    pub warnings: Vec<Warning>,
    /// Request holding the action, when pending.
    pub approval_request_id: String,
    /// Dry run: would-execute, would-require-approval or would-deny.
    pub plan_outcome: String,
    /// Dry run checks.
    pub plan_checks: Vec<PlanCheck>,
    /// Id of this execution.
    pub action_run_id: String,
    /// Audit event written.
    pub audit_event_id: String,
}

/// A parsed action.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Op {
    Transition {
        to: State,
        version: Option<String>,
        replacement: Option<Value>,
        restore: bool,
    },
    CreateVersion {
        label: Option<String>,
    },
    Bind {
        env: String,
        version: Option<String>,
        from_env: Option<String>,
        latest_approved: bool,
        allow_deprecated: bool,
        rollback: bool,
    },
    Unbind {
        env: String,
    },
}

/// An action checked against the current state, ready to apply.
#[derive(Debug, Clone)]
pub(super) struct Prepared {
    pub effect: Effect,
    pub warnings: Vec<Warning>,
    /// Params with selectors resolved (stored on approval requests).
    pub params: Value,
    pub version_id: Option<String>,
    pub environment: Option<String>,
    pub from_state: Option<State>,
    pub to_state: Option<State>,
    pub from_env: Option<String>,
    pub allow_deprecated: Option<bool>,
    /// A built-in refusal held back until the approval policy has been
    /// evaluated: a policy deny rule for the same case wins (spec 07), so
    /// the caller learns which rule refused it.
    pub refusal: Option<Error>,
}

#[derive(Debug, Clone)]
pub(super) enum Effect {
    Transition {
        version: Option<Box<VersionRow>>,
        from: State,
        to: State,
        replacement: Option<Value>,
    },
    CreateVersion(Box<VersionRow>),
    Bind {
        env: String,
        version: Box<VersionRow>,
        previous: Option<BindingRow>,
    },
    Unbind {
        env: String,
        previous: BindingRow,
    },
}

/// How an apply was reached.
#[derive(Debug, Clone, Default)]
pub(super) struct Via {
    pub approval_request_id: Option<String>,
    pub approvals: Value,
}

impl Governance {
    /// Runs a governance action for a caller.
    pub async fn execute(&self, caller: &Caller, call: &ActionCall) -> Result<ActionOutcome> {
        let mut from = None;
        let result = self.try_execute(caller, call, &mut from).await;
        // Counted here, where every way out of the attempt meets: refusals
        // are known only once its transaction has rolled back.
        if !call.dry_run {
            let outcome = match &result {
                Ok(done) if done.status == "pending-approval" => Outcome::PendingApproval,
                Ok(_) => Outcome::Success,
                Err(error) => refusal_outcome(error),
            };
            self.count_action(&self.counters, call, from, outcome);
        }
        if let Err(error) = &result {
            if !call.dry_run && error.reason != Reason::StorageUnavailable {
                let mut event = AuditEvent::new(
                    &caller.principal,
                    &caller.roles,
                    &call.action,
                    Outcome::Failed,
                );
                event.correlation_id = caller.correlation_id.clone();
                event.plugin = call.plugin.clone();
                event.kind = self
                    .resolve(&call.plugin, &call.kind)
                    .map(|(_, k)| k)
                    .unwrap_or_else(|_| call.kind.clone());
                event.name = call.name.clone();
                event.asset_uid = self
                    .asset_uid_of(&call.plugin, &event.kind, &call.name)
                    .await
                    .unwrap_or_default();
                event.details = json!({"params": object_or_empty(&call.params)});
                if let Some(env) = error.metadata.get("environment") {
                    event.environment = env.clone();
                }
                self.audit_refusal(event, error).await;
            }
        }
        result
    }

    async fn asset_uid_of(&self, plugin: &str, kind: &str, name: &str) -> Option<String> {
        let mut conn = self.store.read_conn().await.ok()?;
        self.store
            .overlay(&mut conn, plugin, kind, name, false)
            .await
            .ok()
            .flatten()
            .map(|o| o.asset_uid)
    }

    /// `from` gets the state a lifecycle action starts from as soon as it is
    /// known, so that a refusal after that point is counted with it.
    async fn try_execute(
        &self,
        caller: &Caller,
        call: &ActionCall,
        from: &mut Option<State>,
    ) -> Result<ActionOutcome> {
        let (plugin, kind) = self.resolve(&call.plugin, &call.kind)?;
        // Evaluation order of spec 03 §3.1: the action id, then the
        // subject, then its parameters.
        if !ACTIONS.contains(&call.action.as_str()) {
            parse(&call.action, &Value::Null)?;
        }
        let settings = self.settings();
        let tally = Counters::default();
        let mut tx = self.store.begin_write().await?;
        let overlay = self
            .locked_overlay(&mut tx, &tally, &plugin, &kind, &call.name)
            .await?;
        let requested: &str = match call.legacy {
            Some(legacy) => legacy.id(),
            None => &call.action,
        };
        let call = &translate_legacy(call)?;
        let op = parse(&call.action, &call.params)?;
        let prepared = self
            .prepare(
                &mut tx,
                &settings,
                &overlay,
                &op,
                &call.action,
                caller,
                &call.reason,
                from,
            )
            .await?;
        let record = self
            .store
            .live_record(&mut tx, &plugin, &kind, &call.name)
            .await?;
        let labels = record
            .as_ref()
            .map(|r| record_labels(&r.record))
            .unwrap_or_default();
        let source_type = record
            .as_ref()
            .and_then(|r| r.provenance.pointer("/source/type"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let references_broken = self
            .references_broken(&mut tx, record.as_ref().map(|r| &r.refs))
            .await?;
        let ctx = GateContext {
            plugin: &plugin,
            kind: &kind,
            name: &call.name,
            source_id: overlay.source_id.as_deref(),
            source_type: source_type.as_deref(),
            labels: &labels,
            governance: &overlay.metadata,
            // A legacy call is evaluated as itself first (a gate may name
            // `deprecate`), then as its governance action (07 §3.1).
            action: requested,
            to_state: prepared.to_state,
            from_state: prepared.from_state,
            asset_state: overlay.lifecycle.state,
            environment: prepared.environment.as_deref(),
            from_env: prepared.from_env.as_deref(),
            allow_deprecated: prepared.allow_deprecated,
            signature_verified: None,
            references_broken,
            actor_roles: &caller.roles,
        };
        let gate = settings.policies.evaluate(&ctx);
        if !call.dry_run {
            self.counters.policy_evaluation(&gate);
        }
        if let (Some(refusal), false) =
            (&prepared.refusal, matches!(gate, GateOutcome::Deny { .. }))
        {
            return Err(refusal.clone());
        }
        let run_id = uuid::Uuid::now_v7().to_string();
        match gate {
            GateOutcome::Deny {
                rule,
                gate_index,
                remediation,
            } => {
                if call.dry_run {
                    return Ok(plan(
                        "would-deny",
                        call,
                        &prepared,
                        Some((&rule, gate_index)),
                    ));
                }
                Err(deny_error(
                    &plugin,
                    &kind,
                    &call.name,
                    &call.action,
                    &rule,
                    gate_index,
                    &remediation,
                ))
            }
            GateOutcome::RequireApproval {
                requirements,
                expiry_hours,
                deny_on_first_reject,
                first_rule,
                ..
            } => {
                if call.dry_run {
                    let mut outcome = plan("would-require-approval", call, &prepared, None);
                    outcome.data = json!({"requirements": requirements});
                    return Ok(outcome);
                }
                let request = self
                    .create_request(
                        &mut tx,
                        &tally,
                        caller,
                        &overlay,
                        call,
                        &prepared,
                        requirements,
                        expiry_hours,
                        deny_on_first_reject,
                        &first_rule,
                    )
                    .await?;
                self.commit_counted(tx, tally).await?;
                Ok(ActionOutcome {
                    action: call.action.clone(),
                    status: "pending-approval".into(),
                    message: format!(
                        "{} on {plugin}/{kind}/{} needs approval (rule {first_rule}); an approver can approve request {} (ApprovalService/ApproveRequest)",
                        call.action, call.name, request.request_id
                    ),
                    data: json!({"approvalRequest": super::approvals::request_json(&request)}),
                    warnings: prepared.warnings.clone(),
                    approval_request_id: request.request_id.clone(),
                    action_run_id: run_id,
                    ..Default::default()
                })
            }
            GateOutcome::Execute => {
                if call.dry_run {
                    return Ok(plan("would-execute", call, &prepared, None));
                }
                let (data, event_id) = self
                    .apply(
                        &mut tx,
                        &tally,
                        &settings,
                        caller,
                        &overlay,
                        &call.action,
                        &call.reason,
                        &prepared,
                        &Via::default(),
                        &run_id,
                    )
                    .await?;
                self.commit_counted(tx, tally).await?;
                Ok(ActionOutcome {
                    action: call.action.clone(),
                    status: "completed".into(),
                    message: summary(&call.action, &prepared),
                    data,
                    warnings: prepared.warnings,
                    action_run_id: run_id,
                    audit_event_id: event_id,
                    ..Default::default()
                })
            }
        }
    }

    /// Counts one lifecycle or promotion attempt into `counters` (other
    /// actions have no attempt family). `from` is the state the transition
    /// started from, when it was known.
    pub(super) fn count_action(
        &self,
        counters: &Counters,
        call: &ActionCall,
        from: Option<State>,
        outcome: Outcome,
    ) {
        let plugin = match self.registry.get(&call.plugin) {
            Ok(_) => call.plugin.as_str(),
            Err(_) => UNKNOWN,
        };
        match call.action.as_str() {
            "lifecycle.setState"
            | "lifecycle.deprecate"
            | "lifecycle.archive"
            | "lifecycle.restore" => {
                let kind = self.resolve(&call.plugin, &call.kind).map(|(_, k)| k);
                // The target as the request names it, even when the rest of
                // the parameters are refused.
                let to = lifecycle_action_target(&call.action, &call.params).ok();
                let kind = kind.as_deref().unwrap_or(UNKNOWN);
                counters.transition(plugin, kind, from, to, outcome);
            }
            "promotion.bind" | "promotion.promote" | "promotion.rollback" | "promotion.unbind" => {
                // promote names its target toEnv when called, environment
                // once normalized on an approval request.
                let settings = self.settings();
                let env = ["toEnv", "environment"]
                    .iter()
                    .find_map(|key| call.params.get(key)?.as_str())
                    .map(str::trim)
                    .filter(|env| settings.config.is_environment(env))
                    .unwrap_or(UNKNOWN);
                let action = call.action.trim_start_matches("promotion.");
                counters.promotion(plugin, env, action, outcome);
            }
            _ => {}
        }
    }

    /// Whether any of a record's references is missing or archived.
    async fn references_broken(&self, tx: &mut Tx, refs: Option<&Value>) -> Result<bool> {
        let Some(refs) = refs else { return Ok(false) };
        Ok(!self.broken_references(tx, refs).await?.is_empty())
    }

    /// References (as stored on records and versions) that are missing or
    /// archived, spelled `plugin/kind/name (why)`.
    pub(super) async fn broken_references(&self, tx: &mut Tx, refs: &Value) -> Result<Vec<String>> {
        let keys: Vec<(String, String, String)> = refs
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|r| {
                        let plugin = r.get("plugin")?.as_str()?.to_string();
                        let name = r.get("name")?.as_str()?.to_string();
                        let kind = self
                            .registry
                            .get(&plugin)
                            .map(|m| m.spec.entity.kind.clone())
                            .ok()
                            .or_else(|| r.get("kind")?.as_str().map(str::to_string))?;
                        Some((plugin, kind, name))
                    })
                    .collect()
            })
            .unwrap_or_default();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let states = self.store.reference_states(tx, &keys).await?;
        let mut broken: Vec<String> = keys
            .iter()
            .filter_map(|key| match states.get(key) {
                None => Some(format!("{}/{}/{} (missing)", key.0, key.1, key.2)),
                Some(State::Archived) => Some(format!("{}/{}/{} (archived)", key.0, key.1, key.2)),
                Some(_) => None,
            })
            .collect();
        broken.sort();
        broken.dedup();
        Ok(broken)
    }

    /// Steps 3–6 of the evaluation order: the subject, and the rules of the
    /// transition, snapshot or bind, against the state in `tx`.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn prepare(
        &self,
        tx: &mut Tx,
        settings: &Settings,
        overlay: &OverlayRow,
        op: &Op,
        action: &str,
        caller: &Caller,
        reason: &str,
        from: &mut Option<State>,
    ) -> Result<Prepared> {
        let _ = (caller, reason);
        match op {
            Op::Transition {
                to,
                version,
                replacement,
                restore,
            } => {
                self.prepare_transition(
                    tx,
                    settings,
                    overlay,
                    action,
                    *to,
                    version.as_deref(),
                    replacement.clone(),
                    *restore,
                    from,
                )
                .await
            }
            Op::CreateVersion { label } => {
                self.prepare_version(tx, settings, overlay, label.as_deref())
                    .await
            }
            Op::Bind {
                env,
                version,
                from_env,
                latest_approved,
                allow_deprecated,
                rollback,
            } => {
                self.prepare_bind(
                    tx,
                    settings,
                    overlay,
                    action,
                    env,
                    version.as_deref(),
                    from_env.as_deref(),
                    *latest_approved,
                    *allow_deprecated,
                    *rollback,
                )
                .await
            }
            Op::Unbind { env } => {
                let bindings = self
                    .store
                    .bindings(tx, &overlay.plugin, &overlay.kind, &overlay.name, true)
                    .await?;
                let previous = bindings.get(env).cloned().ok_or_else(|| {
                    Error::new(
                        Reason::BindingNotFound,
                        format!(
                            "{}/{}/{} has no binding in {env}; list its bindings to see which environments are bound",
                            overlay.plugin, overlay.kind, overlay.name
                        ),
                    )
                    .with("environment", env)
                })?;
                Ok(Prepared {
                    refusal: None,
                    params: json!({"environment": env}),
                    version_id: Some(previous.version_id.clone()),
                    environment: Some(env.clone()),
                    effect: Effect::Unbind {
                        env: env.clone(),
                        previous,
                    },
                    warnings: Vec::new(),
                    from_state: None,
                    to_state: None,
                    from_env: None,
                    allow_deprecated: None,
                })
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn prepare_transition(
        &self,
        tx: &mut Tx,
        settings: &Settings,
        overlay: &OverlayRow,
        action: &str,
        to: State,
        version: Option<&str>,
        replacement: Option<Value>,
        restore: bool,
        from_seen: &mut Option<State>,
    ) -> Result<Prepared> {
        let version_row = match version {
            Some(selector) => Some(self.find_version(tx, overlay, selector, true).await?),
            None => None,
        };
        let from = version_row
            .as_ref()
            .map_or(overlay.lifecycle.state, |v| v.lifecycle.state);
        *from_seen = Some(from);
        if restore {
            settings.transitions.check_restore(from, to)?;
        } else {
            settings.transitions.check(from, to)?;
        }
        if to == State::Approved {
            let metadata: GovernanceMetadata =
                serde_json::from_value(overlay.metadata.clone()).unwrap_or_default();
            let defaults = &settings.policies.defaults;
            let missing = missing_for_approval(
                &metadata,
                defaults.require_owner_for_approval,
                &defaults.required_fields_for_approval,
            );
            if !missing.is_empty() {
                return Err(approval_fields_error(
                    &overlay.plugin,
                    &overlay.kind,
                    &overlay.name,
                    &missing,
                ));
            }
        }
        let mut warnings = Vec::new();
        if to == State::Approved {
            // 01 §6.3: broken references do not block an approval, but the
            // approver is told (the version's own snapshot for a version).
            let refs = match &version_row {
                Some(v) => Some(v.references.clone()),
                None => self
                    .store
                    .live_record(tx, &overlay.plugin, &overlay.kind, &overlay.name)
                    .await?
                    .map(|r| r.refs),
            };
            let broken = match refs {
                Some(refs) => self.broken_references(tx, &refs).await?,
                None => Vec::new(),
            };
            if !broken.is_empty() {
                warnings.push(Warning::new(
                    "BROKEN_REFERENCES",
                    format!(
                        "approved with {} broken or archived reference(s): {}; binds into environments that require approval will be refused until they resolve",
                        broken.len(),
                        broken.join(", ")
                    ),
                ));
            }
        }
        if to == State::Deprecated && version_row.is_none() {
            // 03 §3.2: whoever relies on this asset should hear about it.
            for (plugin, kind, name) in self
                .store
                .approved_dependents(tx, &overlay.plugin, &overlay.kind, &overlay.name)
                .await?
            {
                warnings.push(Warning::new(
                    "DEPENDENT_USES_DEPRECATED",
                    format!(
                        "approved {plugin}/{kind}/{name} depends on {}/{}/{}, which is now deprecated; move it to a replacement",
                        overlay.plugin, overlay.kind, overlay.name
                    ),
                ));
            }
        }
        if to == State::Archived {
            let bindings = self
                .store
                .bindings(tx, &overlay.plugin, &overlay.kind, &overlay.name, true)
                .await?;
            let envs: Vec<String> = match &version_row {
                Some(v) => bindings
                    .values()
                    .filter(|b| b.version_id == v.version_id)
                    .map(|b| b.environment.clone())
                    .collect(),
                None => bindings.keys().cloned().collect(),
            };
            if !envs.is_empty() {
                let (reason, what) = if version_row.is_some() {
                    (Reason::VersionBound, "this version")
                } else {
                    (Reason::AssetHasBindings, "this asset")
                };
                return Err(Error::new(
                    reason,
                    format!(
                        "cannot archive {}/{}/{}: {what} is bound in {}; remove the bindings with promotion.unbind (or rebind them) first",
                        overlay.plugin,
                        overlay.kind,
                        overlay.name,
                        envs.join(", ")
                    ),
                )
                .with("environments", envs.join(",")));
            }
        }
        // The params an approved request replays through `parse`, so each
        // action keeps its own spelling of the target: deprecate and archive
        // take none, restore takes targetState.
        let mut params = Map::new();
        match action {
            "lifecycle.setState" => {
                params.insert("state".into(), json!(to.as_str()));
            }
            "lifecycle.restore" => {
                params.insert("targetState".into(), json!(to.as_str()));
            }
            _ => {}
        }
        if let Some(v) = &version_row {
            params.insert("versionId".into(), json!(v.version_id));
        }
        if let Some(r) = &replacement {
            params.insert("replacementRef".into(), r.clone());
        }
        Ok(Prepared {
            refusal: None,
            params: Value::Object(params),
            version_id: version_row.as_ref().map(|v| v.version_id.clone()),
            environment: None,
            from_state: Some(from),
            to_state: Some(to),
            from_env: None,
            allow_deprecated: None,
            warnings,
            effect: Effect::Transition {
                version: version_row.map(Box::new),
                from,
                to,
                replacement,
            },
        })
    }

    async fn prepare_version(
        &self,
        tx: &mut Tx,
        settings: &Settings,
        overlay: &OverlayRow,
        label: Option<&str>,
    ) -> Result<Prepared> {
        let record = self
            .store
            .live_record(tx, &overlay.plugin, &overlay.kind, &overlay.name)
            .await?
            .ok_or_else(|| {
                Error::new(
                    Reason::AssetNotFound,
                    format!(
                        "{}/{}/{} is not served by any source right now, so there is no content to snapshot; restore its source first",
                        overlay.plugin, overlay.kind, overlay.name
                    ),
                )
            })?;
        let (state, warnings) = initial_manual_state(
            overlay.lifecycle.state,
            &record.content_digest,
            overlay.approved_content_digest.as_deref(),
        )?;
        let (labels, sequence) = self.store.version_labels(tx, &overlay.asset_uid).await?;
        let record_version = record
            .record
            .get("version")
            .and_then(super::ingest::version_text);
        let label = manual_label(label, record_version.as_deref(), &labels, sequence as i32)?;
        validate_label(&label, settings.config.label_format(&overlay.plugin))?;
        let (_, at) = now();
        let row = VersionRow {
            version_id: uuid::Uuid::now_v7().to_string(),
            asset_uid: overlay.asset_uid.clone(),
            plugin: overlay.plugin.clone(),
            kind: overlay.kind.clone(),
            name: overlay.name.clone(),
            label: label.clone(),
            sequence,
            trigger: "manual".into(),
            record: record.record.clone(),
            governance_snapshot: overlay.metadata.clone(),
            references: record.refs.clone(),
            content_digest: record.content_digest.clone(),
            source_id: Some(record.source_id.clone()),
            source_revision_ref: Some(record.revision_id.clone()),
            provenance: record.provenance.clone(),
            lifecycle: LifecycleRow::initial(state, "", None, &at),
            created_at: at,
            created_by: String::new(),
        };
        Ok(Prepared {
            refusal: None,
            params: json!({"version": label}),
            version_id: Some(row.version_id.clone()),
            environment: None,
            from_state: None,
            to_state: None,
            from_env: None,
            allow_deprecated: None,
            warnings,
            effect: Effect::CreateVersion(Box::new(row)),
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn prepare_bind(
        &self,
        tx: &mut Tx,
        settings: &Settings,
        overlay: &OverlayRow,
        action: &str,
        env: &str,
        selector: Option<&str>,
        from_env: Option<&str>,
        latest_approved: bool,
        allow_deprecated: bool,
        rollback: bool,
    ) -> Result<Prepared> {
        validate_environment(&settings.config, env)?;
        if let Some(from) = from_env {
            validate_environment(&settings.config, from)?;
        }
        let bindings = self
            .store
            .bindings(tx, &overlay.plugin, &overlay.kind, &overlay.name, true)
            .await?;
        let version = if let Some(from) = from_env {
            let bound = bindings.get(from).ok_or_else(|| {
                Error::new(
                    Reason::BindingNotFound,
                    format!(
                        "cannot promote {}/{}/{} from {from}: nothing is bound there; bind a version to {from} first",
                        overlay.plugin, overlay.kind, overlay.name
                    ),
                )
                .with("environment", from)
            })?;
            let version = self
                .find_version(tx, overlay, &bound.version_id, true)
                .await?;
            if let Some(sel) = selector {
                let chosen = self.find_version(tx, overlay, sel, false).await?;
                if chosen.version_id != version.version_id {
                    return Err(Error::new(
                        Reason::PromotionSourceMismatch,
                        format!(
                            "{from} is bound to version {} but the request names version {}; give one of fromEnv or versionId",
                            version.label, chosen.label
                        ),
                    ));
                }
            }
            version
        } else if latest_approved {
            self.store
                .latest_version(tx, &overlay.asset_uid, true)
                .await?
                .ok_or_else(|| {
                    Error::new(
                        Reason::VersionNotFound,
                        format!(
                            "{}/{}/{} has no approved version; approve one with lifecycle.setState {{state: approved, versionId}} first",
                            overlay.plugin, overlay.kind, overlay.name
                        ),
                    )
                })?
        } else {
            let sel = selector.ok_or_else(|| {
                Error::new(
                    Reason::InvalidParams,
                    format!("{action} needs a version: give versionId (an id, a label or @alias)"),
                )
                .violation("params.versionId", "required")
            })?;
            self.find_version(tx, overlay, sel, true).await?
        };
        let current = bindings.get(env);
        if rollback
            && !self
                .store
                .was_bound(tx, &overlay.asset_uid, env, &version.version_id)
                .await?
        {
            return Err(Error::new(
                Reason::RollbackTargetNotPreviouslyBound,
                format!(
                    "version {} was never bound to {env}, so it cannot be a rollback target; use promotion.bind to bind it",
                    version.label
                ),
            )
            .with("environment", env));
        }
        let broken = self.broken_references(tx, &version.references).await?;
        let validation_errors = self.validation_errors(tx, overlay, &version).await?;
        let mut refusal = None;
        let checked = check_bind(
            &settings.config,
            &BindRequest {
                environment: env,
                asset_state: overlay.lifecycle.state,
                version_state: version.lifecycle.state,
                version_label: &version.label,
                allow_deprecated,
                currently_bound_version: current.map(|b| b.version_id.as_str()),
                version_id: &version.version_id,
                broken_references: broken,
                validation_errors,
            },
        );
        let warnings = match checked {
            Ok(warnings) => warnings,
            Err(e)
                if matches!(
                    e.reason,
                    Reason::AssetArchived | Reason::ArchivedNotBindable
                ) =>
            {
                refusal = Some(e);
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        // What an approved request replays through `parse`: each action's
        // own parameter names, with the version resolved to its id (a
        // promotion holds the version that was bound at request time).
        let mut params = Map::new();
        let (env_key, version_key) = match action {
            "promotion.promote" => ("toEnv", "versionId"),
            "promotion.rollback" => ("environment", "targetVersionId"),
            _ => ("environment", "versionId"),
        };
        params.insert(env_key.into(), json!(env));
        params.insert(version_key.into(), json!(version.version_id));
        if allow_deprecated {
            params.insert("allowDeprecated".into(), json!(true));
        }
        Ok(Prepared {
            refusal,
            params: Value::Object(params),
            version_id: Some(version.version_id.clone()),
            environment: Some(env.to_string()),
            from_state: Some(version.lifecycle.state),
            to_state: None,
            from_env: from_env.map(str::to_string),
            allow_deprecated: Some(allow_deprecated),
            warnings,
            effect: Effect::Bind {
                env: env.to_string(),
                version: Box::new(version),
                previous: current.cloned(),
            },
        })
    }

    /// Validation errors of a version's record: those of the live record
    /// when the version holds the live content (versions of older content
    /// were valid enough to be served when they were taken).
    async fn validation_errors(
        &self,
        tx: &mut Tx,
        overlay: &OverlayRow,
        version: &VersionRow,
    ) -> Result<Vec<String>> {
        if overlay.current_content_digest.as_deref() != Some(version.content_digest.as_str()) {
            return Ok(Vec::new());
        }
        let _ = tx;
        Ok(Vec::new())
    }

    /// A version of the asset by id, label or @alias.
    pub(super) async fn find_version(
        &self,
        tx: &mut sqlx::AnyConnection,
        overlay: &OverlayRow,
        selector: &str,
        lock: bool,
    ) -> Result<VersionRow> {
        let not_found = || {
            Error::new(
                Reason::VersionNotFound,
                format!(
                    "{}/{}/{} has no version {selector:?}; list its versions to see the ids, labels and aliases",
                    overlay.plugin, overlay.kind, overlay.name
                ),
            )
            .with("versionId", selector)
        };
        let found = match selector.strip_prefix('@') {
            Some("latest") => {
                self.store
                    .latest_version(tx, &overlay.asset_uid, false)
                    .await?
            }
            Some("latest-approved") => {
                self.store
                    .latest_version(tx, &overlay.asset_uid, true)
                    .await?
            }
            Some(alias) => {
                let aliases = self.store.aliases(tx, &overlay.asset_uid).await?;
                match aliases.get(alias) {
                    Some(id) => self.store.version(tx, &overlay.asset_uid, id, lock).await?,
                    None => None,
                }
            }
            None => {
                self.store
                    .version(tx, &overlay.asset_uid, selector, lock)
                    .await?
            }
        };
        found.ok_or_else(not_found)
    }

    /// Step 9: applies a prepared action and appends its audit event in
    /// `tx`. Returns the result payload and the event id.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn apply(
        &self,
        tx: &mut Tx,
        tally: &Counters,
        settings: &Settings,
        actor: &Caller,
        overlay: &OverlayRow,
        action: &str,
        reason: &str,
        prepared: &Prepared,
        via: &Via,
        run_id: &str,
    ) -> Result<(Value, String)> {
        let _ = settings;
        let (_, at) = now();
        let mut event = event_for(actor, action, Outcome::Success, overlay);
        event.reason = reason.to_string();
        event.action_run_id = run_id.to_string();
        event.version_id = prepared.version_id.clone().unwrap_or_default();
        event.environment = prepared.environment.clone().unwrap_or_default();
        event.approval_request_id = via.approval_request_id.clone().unwrap_or_default();
        event.approvals = via.approvals.clone();
        let mut details = Map::new();
        if !prepared.warnings.is_empty() {
            details.insert("warnings".into(), json!(prepared.warnings));
        }
        if via.approval_request_id.is_some() {
            details.insert("executedViaApproval".into(), json!(true));
        }
        let mut extra_events = Vec::new();
        let data = match &prepared.effect {
            Effect::Transition {
                version,
                from,
                to,
                replacement,
            } => {
                let old_replacement = overlay.lifecycle.replacement_ref.clone();
                let replacement_ref = match to {
                    State::Deprecated if replacement.is_some() => replacement.clone(),
                    State::Deprecated => old_replacement.clone(),
                    _ => None,
                };
                let lifecycle = LifecycleRow {
                    state: *to,
                    reason: (!reason.is_empty()).then(|| reason.to_string()),
                    changed_by: Some(actor.principal.clone()),
                    changed_at: Some(at.clone()),
                    previous_state: Some(*from),
                    replacement_ref: if version.is_some() {
                        None
                    } else {
                        replacement_ref.clone()
                    },
                    approval_request_id: via.approval_request_id.clone(),
                };
                match version {
                    Some(v) => {
                        self.store
                            .update_version_lifecycle(tx, &v.version_id, &lifecycle)
                            .await?
                    }
                    None => {
                        let approved_digest = (*to == State::Approved)
                            .then(|| overlay.current_content_digest.clone())
                            .flatten();
                        self.store
                            .update_overlay_lifecycle(
                                tx,
                                &overlay.asset_uid,
                                &lifecycle,
                                approved_digest.as_deref(),
                                &at,
                            )
                            .await?;
                    }
                }
                if *to == State::Archived {
                    extra_events.extend(
                        self.cancel_pending_of(
                            tx,
                            tally,
                            overlay,
                            version.as_ref().map(|v| v.version_id.as_str()),
                            &at,
                        )
                        .await?,
                    );
                }
                event.diff = json!({
                    "old": {"lifecycle": {"state": from.as_str()}},
                    "new": {"lifecycle": {"state": to.as_str()}},
                });
                if replacement_ref != old_replacement && version.is_none() {
                    event.diff["old"]["lifecycle"]["replacementRef"] =
                        old_replacement.unwrap_or(Value::Null);
                    event.diff["new"]["lifecycle"]["replacementRef"] =
                        replacement_ref.clone().unwrap_or(Value::Null);
                }
                json!({
                    "lifecycle": lifecycle_json(&lifecycle),
                    "versionId": version.as_ref().map(|v| v.version_id.clone()),
                })
            }
            Effect::CreateVersion(row) => {
                let mut row = (**row).clone();
                row.created_by = actor.principal.clone();
                row.lifecycle.changed_by = Some(actor.principal.clone());
                self.store.insert_version(tx, &row).await?;
                tally.version_snapshot(&row.plugin, &row.trigger);
                event.version_id = row.version_id.clone();
                event.diff = json!({"old": {}, "new": {"version": {"versionId": row.version_id, "label": row.label}}});
                details.insert("label".into(), json!(row.label));
                json!({"version": {"versionId": row.version_id, "version": row.label, "sequence": row.sequence,
                    "lifecycleState": row.lifecycle.state.as_str(), "contentDigest": row.content_digest}})
            }
            Effect::Bind {
                env,
                version,
                previous,
            } => {
                let binding = BindingRow {
                    environment: env.clone(),
                    asset_uid: overlay.asset_uid.clone(),
                    version_id: version.version_id.clone(),
                    previous_version_id: previous.as_ref().map(|p| p.version_id.clone()),
                    bound_at: at.clone(),
                    bound_by: actor.principal.clone(),
                    reason: (!reason.is_empty()).then(|| reason.to_string()),
                    approval_request_id: via.approval_request_id.clone(),
                };
                self.store
                    .upsert_binding(tx, &overlay.plugin, &overlay.kind, &overlay.name, &binding)
                    .await?;
                self.store
                    .append_binding_history(
                        tx,
                        (
                            &overlay.asset_uid,
                            &overlay.plugin,
                            &overlay.kind,
                            &overlay.name,
                        ),
                        env,
                        Some(&version.version_id),
                        binding.previous_version_id.as_deref(),
                        action,
                        &actor.principal,
                        &at,
                        &event.event_id,
                    )
                    .await?;
                event.diff = json!({
                    "old": {"versionId": binding.previous_version_id},
                    "new": {"versionId": version.version_id},
                });
                json!({"binding": {"environment": env, "versionId": version.version_id, "version": version.label,
                    "previousVersionId": binding.previous_version_id}})
            }
            Effect::Unbind { env, previous } => {
                self.store
                    .delete_binding(tx, &overlay.plugin, &overlay.kind, &overlay.name, env)
                    .await?;
                self.store
                    .append_binding_history(
                        tx,
                        (
                            &overlay.asset_uid,
                            &overlay.plugin,
                            &overlay.kind,
                            &overlay.name,
                        ),
                        env,
                        None,
                        Some(&previous.version_id),
                        action,
                        &actor.principal,
                        &at,
                        &event.event_id,
                    )
                    .await?;
                event.diff =
                    json!({"old": {"versionId": previous.version_id}, "new": {"versionId": null}});
                json!({"binding": {"environment": env, "versionId": "", "previousVersionId": previous.version_id}})
            }
        };
        event.details = Value::Object(details);
        let event_id = event.event_id.clone();
        let mut events = vec![event];
        events.extend(extra_events);
        self.append(tx, &mut events).await?;
        Ok((data, event_id))
    }

    /// Cancels the other pending requests about an asset (or version) that
    /// is being archived; returns their audit events.
    async fn cancel_pending_of(
        &self,
        tx: &mut Tx,
        tally: &Counters,
        overlay: &OverlayRow,
        version_id: Option<&str>,
        at: &str,
    ) -> Result<Vec<AuditEvent>> {
        let mut events = Vec::new();
        for (id, requested) in self
            .store
            .pending_approvals_of(tx, &overlay.asset_uid, version_id)
            .await?
        {
            if self
                .store
                .resolve_approval(tx, &id, "cancelled", "system", at, Some("asset archived"))
                .await?
            {
                let mut event = event_for(
                    &Caller::system("system"),
                    "approval.cancel",
                    Outcome::Success,
                    overlay,
                );
                event.approval_request_id = id;
                event.reason = "asset archived".into();
                events.push(event);
                tally.approval_request(&overlay.plugin, &requested, "cancelled");
            }
        }
        Ok(events)
    }
}

/// Lifecycle fields as JSON (the governance.lifecycle block).
pub(super) fn lifecycle_json(l: &LifecycleRow) -> Value {
    json!({
        "state": l.state.as_str(),
        "reason": l.reason,
        "changedBy": l.changed_by,
        "changedAt": l.changed_at,
        "previousState": l.previous_state.map(|s| s.as_str()),
        "replacementRef": l.replacement_ref,
        "approvalRequestId": l.approval_request_id,
    })
}

fn summary(action: &str, prepared: &Prepared) -> String {
    match &prepared.effect {
        Effect::Transition {
            from, to, version, ..
        } => match version {
            Some(v) => format!("version {} moved from {from} to {to}", v.label),
            None => format!("asset moved from {from} to {to}"),
        },
        Effect::CreateVersion(v) => format!("version {} created ({})", v.label, v.lifecycle.state),
        Effect::Bind { env, version, .. } => {
            format!("{env} is bound to version {} ({action})", version.label)
        }
        Effect::Unbind { env, .. } => format!("{env} is no longer bound"),
    }
}

fn plan(
    outcome: &str,
    call: &ActionCall,
    prepared: &Prepared,
    denied: Option<(&str, usize)>,
) -> ActionOutcome {
    let mut checks = vec![
        PlanCheck {
            name: "subject".into(),
            passed: true,
            code: String::new(),
            message: format!("{}/{}/{} exists", call.plugin, call.kind, call.name),
        },
        PlanCheck {
            name: "rules".into(),
            passed: true,
            code: String::new(),
            message: "parameters, transition and preconditions hold".into(),
        },
    ];
    checks.push(match denied {
        Some((rule, gate)) => PlanCheck {
            name: "policy".into(),
            passed: false,
            code: Reason::PolicyDenied.code().into(),
            message: format!("denied by rule {rule} (gate {gate})"),
        },
        None => PlanCheck {
            name: "policy".into(),
            passed: true,
            code: String::new(),
            message: outcome.to_string(),
        },
    });
    ActionOutcome {
        action: call.action.clone(),
        status: "dry-run".into(),
        message: format!("dry run: {outcome}"),
        data: json!({"params": prepared.params}),
        warnings: prepared.warnings.clone(),
        plan_outcome: outcome.into(),
        plan_checks: checks,
        ..Default::default()
    }
}

/// A legacy call as its governance action's call: its params translated
/// and its `params.reason` as the reason, unless the request gave one.
fn translate_legacy(call: &ActionCall) -> Result<Cow<'_, ActionCall>> {
    let Some(legacy) = call.legacy else {
        return Ok(Cow::Borrowed(call));
    };
    let routed = legacy.route(&call.params)?;
    let reason = match routed.reason {
        Some(reason) if call.reason.trim().is_empty() => reason,
        _ => call.reason.clone(),
    };
    Ok(Cow::Owned(ActionCall {
        action: routed.action.to_string(),
        params: routed.params,
        reason,
        legacy: None,
        ..call.clone()
    }))
}

/// Parses an action id and its params; unknown ids and parameters are
/// refused before anything is read.
pub(super) fn parse(action: &str, params: &Value) -> Result<Op> {
    let empty = Map::new();
    let map = match params {
        Value::Object(map) => map,
        Value::Null => &empty,
        _ => {
            return Err(Error::new(
                Reason::InvalidParams,
                "params must be a JSON object",
            ))
        }
    };
    let allowed: &[&str] = match action {
        "lifecycle.setState" => &["state", "versionId", "reason"],
        "lifecycle.deprecate" => &["replacementRef", "versionId", "reason"],
        "lifecycle.archive" => &["versionId", "reason"],
        "lifecycle.restore" => &["targetState", "versionId", "reason"],
        "version.create" => &["version", "reason"],
        "promotion.bind" => &["environment", "versionId", "allowDeprecated", "reason"],
        "promotion.promote" => &[
            "toEnv",
            "fromEnv",
            "versionId",
            "latestApproved",
            "allowDeprecated",
            "reason",
        ],
        "promotion.rollback" => &[
            "environment",
            "targetVersionId",
            "allowDeprecated",
            "reason",
        ],
        "promotion.unbind" => &["environment", "reason"],
        _ => {
            return Err(Error::new(
                Reason::UnknownAction,
                format!(
                    "unknown governance action {action:?}; use one of {}",
                    ACTIONS.join(", ")
                ),
            )
            .with("action", action))
        }
    };
    let mut error: Option<Error> = None;
    for key in map.keys() {
        if !allowed.contains(&key.as_str()) {
            let e = error.take().unwrap_or_else(|| {
                Error::new(
                    Reason::InvalidParams,
                    format!(
                        "{action} does not take some of the given params; it takes {}",
                        allowed.join(", ")
                    ),
                )
            });
            error = Some(e.violation(format!("params.{key}"), "unknown parameter"));
        }
    }
    if let Some(e) = error {
        return Err(e);
    }
    let text = |key: &str| -> Result<Option<String>> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(_) => Err(Error::new(
                Reason::InvalidParams,
                format!("params.{key} must be a string"),
            )
            .violation(format!("params.{key}"), "must be a string")),
        }
    };
    let flag = |key: &str| -> Result<bool> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) if s == "true" || s == "false" => Ok(s == "true"),
            Some(_) => Err(Error::new(
                Reason::InvalidParams,
                format!("params.{key} must be true or false"),
            )
            .violation(format!("params.{key}"), "must be a boolean")),
        }
    };
    let required = |key: &str| -> Result<String> {
        text(key)?.ok_or_else(|| {
            Error::new(
                Reason::InvalidParams,
                format!("{action} needs params.{key}"),
            )
            .violation(format!("params.{key}"), "required")
        })
    };
    Ok(match action {
        "lifecycle.setState"
        | "lifecycle.deprecate"
        | "lifecycle.archive"
        | "lifecycle.restore" => {
            let to = lifecycle_action_target(action, params)?;
            let replacement = match map.get("replacementRef") {
                None | Some(Value::Null) => None,
                Some(value) => Some(replacement_ref(value)?),
            };
            Op::Transition {
                to,
                version: text("versionId")?,
                replacement,
                restore: action == "lifecycle.restore",
            }
        }
        "version.create" => Op::CreateVersion {
            label: text("version")?,
        },
        "promotion.bind" => Op::Bind {
            env: required("environment")?,
            version: Some(required("versionId")?),
            from_env: None,
            latest_approved: false,
            allow_deprecated: flag("allowDeprecated")?,
            rollback: false,
        },
        "promotion.promote" => {
            let (from_env, version, latest) = (
                text("fromEnv")?,
                text("versionId")?,
                flag("latestApproved")?,
            );
            if from_env.is_none() && version.is_none() && !latest {
                return Err(Error::new(
                    Reason::InvalidParams,
                    "promotion.promote needs where the version comes from: fromEnv, versionId or latestApproved: true",
                )
                .violation("params.fromEnv", "give one of fromEnv, versionId, latestApproved"));
            }
            if latest && (from_env.is_some() || version.is_some()) {
                return Err(Error::new(
                    Reason::InvalidParams,
                    "latestApproved cannot be combined with fromEnv or versionId",
                )
                .violation("params.latestApproved", "give exactly one version source"));
            }
            Op::Bind {
                env: required("toEnv")?,
                version,
                from_env,
                latest_approved: latest,
                allow_deprecated: flag("allowDeprecated")?,
                rollback: false,
            }
        }
        // A deprecated target needs allowDeprecated like any bind (04 §5.2:
        // "for rollback too"), so rolling back onto it is a deliberate choice.
        "promotion.rollback" => Op::Bind {
            env: required("environment")?,
            version: Some(required("targetVersionId")?),
            from_env: None,
            latest_approved: false,
            allow_deprecated: flag("allowDeprecated")?,
            rollback: true,
        },
        "promotion.unbind" => Op::Unbind {
            env: required("environment")?,
        },
        _ => unreachable!("checked above"),
    })
}

/// A replacement reference: `{plugin, kind?, name}` or "plugin/kind/name".
fn replacement_ref(value: &Value) -> Result<Value> {
    let bad = || {
        Error::new(
            Reason::InvalidParams,
            "params.replacementRef must be {plugin, kind, name} or \"plugin/kind/name\"",
        )
        .violation("params.replacementRef", "not a reference")
    };
    match value {
        Value::String(s) => {
            let parts: Vec<&str> = s.splitn(3, '/').collect();
            match parts.as_slice() {
                [plugin, kind, name] if !plugin.is_empty() && !name.is_empty() => {
                    Ok(json!({"plugin": plugin, "kind": kind, "name": name}))
                }
                _ => Err(bad()),
            }
        }
        Value::Object(map) => {
            let get = |k: &str| map.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
            match (get("plugin"), get("name")) {
                (Some(plugin), Some(name)) => {
                    Ok(json!({"plugin": plugin, "kind": get("kind").unwrap_or(""), "name": name}))
                }
                _ => Err(bad()),
            }
        }
        _ => Err(bad()),
    }
}

/// Roles a caller holds, sorted (for events and requests).
pub(super) fn sorted_roles(roles: &[String]) -> Vec<String> {
    let mut roles = roles.to_vec();
    roles.sort();
    roles.dedup();
    roles
}

/// Labels of a record as a map (for policy selectors).
pub(super) fn record_labels(record: &Value) -> BTreeMap<String, String> {
    record
        .get("labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_actions_and_params_are_refused_with_the_accepted_ones() {
        let e = parse("lifecycle.explode", &json!({})).unwrap_err();
        assert_eq!(e.reason, Reason::UnknownAction);
        assert!(e.message.contains("lifecycle.setState"));
        let e = parse(
            "promotion.bind",
            &json!({"environment": "dev", "versionId": "v1", "colour": 1}),
        )
        .unwrap_err();
        assert_eq!(e.reason, Reason::InvalidParams);
        assert_eq!(e.violations[0].field, "params.colour");
    }

    #[test]
    fn promote_needs_exactly_one_version_source() {
        assert!(parse("promotion.promote", &json!({"toEnv": "stage"})).is_err());
        assert!(parse(
            "promotion.promote",
            &json!({"toEnv": "stage", "latestApproved": true, "fromEnv": "dev"})
        )
        .is_err());
        let op = parse(
            "promotion.promote",
            &json!({"toEnv": "stage", "fromEnv": "dev"}),
        )
        .unwrap();
        assert!(matches!(op, Op::Bind { ref from_env, .. } if from_env.as_deref() == Some("dev")));
    }

    #[test]
    fn rollback_onto_a_deprecated_version_needs_the_flag() {
        let op = parse(
            "promotion.rollback",
            &json!({"environment": "prod", "targetVersionId": "v1"}),
        )
        .unwrap();
        assert!(matches!(
            op,
            Op::Bind {
                allow_deprecated: false,
                rollback: true,
                ..
            }
        ));
        let op = parse(
            "promotion.rollback",
            &json!({"environment": "prod", "targetVersionId": "v1", "allowDeprecated": true}),
        )
        .unwrap();
        assert!(matches!(
            op,
            Op::Bind {
                allow_deprecated: true,
                ..
            }
        ));
    }

    #[test]
    fn replacement_refs_are_read_in_both_spellings() {
        assert_eq!(
            replacement_ref(&json!("agents/Agent/triage-v2")).unwrap(),
            json!({"plugin": "agents", "kind": "Agent", "name": "triage-v2"})
        );
        assert!(replacement_ref(&json!({"name": "x"})).is_err());
    }
}
