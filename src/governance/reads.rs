//! Governance reads and the metadata update: the overlay of an asset with
//! its bindings and conditions, versions, bindings in promotion order,
//! history and the audit trail with chain verification, and the merge-patch
//! of governance metadata (the only non-action write).

use chrono::Utc;
use serde_json::{json, Value};

use super::actions::lifecycle_json;
use super::{event_for, now, Caller, Counters, Governance};
use crate::domain::audit::{check_link, AuditEvent, BrokenLink, Outcome};
use crate::domain::governance::metadata::{
    apply_patch, derived, missing_for_approval, GovernanceMetadata,
};
use crate::domain::governance::{State, Warning};
use crate::domain::paging::{page_size, query_hash, Cursor};
use crate::domain::{Error, Reason, Result};
use crate::storage::governance::{AuditFilter, BindingRow, OverlayFilter, OverlayRow, VersionRow};

/// The governance overlay of one asset as served.
#[derive(Debug, Clone)]
pub struct GovernanceView {
    /// The overlay row.
    pub overlay: OverlayRow,
    /// Metadata with derived fields and lifecycle, as JSON (camelCase).
    pub governance: Value,
    /// Bindings in promotion order.
    pub bindings: Vec<BindingView>,
    /// Pending approval requests about the asset.
    pub pending_approvals: i64,
    /// Governance conditions: (type, status, reason, message).
    pub conditions: Vec<(String, String, String, String)>,
}

/// One environment row of ListBindings.
#[derive(Debug, Clone)]
pub struct BindingView {
    /// Environment.
    pub environment: String,
    /// The binding, if the environment is bound.
    pub binding: Option<BindingRow>,
    /// Its version's label and state.
    pub version: Option<(String, State)>,
    /// Computed warnings.
    pub warnings: Vec<Warning>,
    /// Whether the environment is configured.
    pub configured: bool,
}

/// A version with its derived fields.
#[derive(Debug, Clone)]
pub struct VersionView {
    /// The row.
    pub row: VersionRow,
    /// Aliases pointing at it (latest, latest-approved included).
    pub aliases: Vec<String>,
    /// Environments bound to it.
    pub bound_environments: Vec<String>,
}

/// Filters of ListVersions.
#[derive(Debug, Clone, Default)]
pub struct VersionQuery {
    /// States.
    pub states: Vec<String>,
    /// Label.
    pub label: String,
    /// Alias.
    pub alias: String,
    /// Trigger.
    pub trigger: String,
    /// sequence, createdAt or version.
    pub order_by: String,
    /// ASC or DESC.
    pub sort_order: String,
    /// Page size.
    pub page_size: i32,
    /// Page token.
    pub page_token: String,
}

/// Filters of audit lists.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Subject (plugin, kind, name), for history.
    pub asset: Option<(String, String, String)>,
    /// Plugin.
    pub plugin: String,
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Actor.
    pub actor: String,
    /// Action ids or globs.
    pub actions: Vec<String>,
    /// Outcome.
    pub outcome: String,
    /// Correlation id.
    pub correlation_id: String,
    /// Approval request.
    pub approval_request_id: String,
    /// Version.
    pub version_id: String,
    /// At or after.
    pub since: Option<String>,
    /// Before.
    pub until: Option<String>,
    /// Page size.
    pub page_size: i32,
    /// Page token.
    pub page_token: String,
}

/// Filters of ListGovernedAssets (and the governance part of ListAssets).
#[derive(Debug, Clone, Default)]
pub struct GovernedQuery {
    /// Plugin.
    pub plugin: String,
    /// Kind.
    pub kind: String,
    /// States.
    pub states: Vec<String>,
    /// Risk levels.
    pub risk_levels: Vec<String>,
    /// Compliance tags (all of).
    pub compliance_tags: Vec<String>,
    /// Owner.
    pub owner: String,
    /// Team.
    pub team: String,
    /// Include archived.
    pub include_archived: bool,
    /// Page size.
    pub page_size: i32,
    /// Page token.
    pub page_token: String,
}

/// Outcome of a chain verification.
#[derive(Debug, Clone)]
pub struct ChainReport {
    /// Every link holds.
    pub verified: bool,
    /// Events checked.
    pub checked: i64,
    /// First broken link.
    pub first_broken: Option<BrokenLink>,
}

impl Governance {
    /// The governance overlay of an asset.
    pub async fn get(&self, plugin: &str, kind: &str, name: &str) -> Result<GovernanceView> {
        let (plugin, kind) = self.resolve(plugin, kind)?;
        let overlay = self.overlay_or_create(&plugin, &kind, name).await?;
        self.view(overlay).await
    }

    async fn overlay_or_create(&self, plugin: &str, kind: &str, name: &str) -> Result<OverlayRow> {
        {
            let mut conn = self.store.read_conn().await?;
            if let Some(row) = self
                .store
                .overlay(&mut conn, plugin, kind, name, false)
                .await?
            {
                return Ok(row);
            }
        }
        let tally = Counters::default();
        let mut tx = self.store.begin_write().await?;
        let row = self
            .locked_overlay(&mut tx, &tally, plugin, kind, name)
            .await?;
        self.commit_counted(tx, tally).await?;
        Ok(row)
    }

    async fn view(&self, overlay: OverlayRow) -> Result<GovernanceView> {
        let settings = self.settings();
        let bindings = self.binding_views(&overlay).await?;
        let mut conn = self.store.read_conn().await?;
        let pending = self
            .store
            .pending_count(&mut conn, &overlay.asset_uid)
            .await?;
        let metadata: GovernanceMetadata =
            serde_json::from_value(overlay.metadata.clone()).unwrap_or_default();
        let mut governance = derived(&metadata, Utc::now());
        if !governance.is_object() {
            governance = json!({});
        }
        governance["lifecycle"] = lifecycle_json(&overlay.lifecycle);
        governance["resourceVersion"] = json!(overlay.resource_version.to_string());
        governance["updatedAt"] = json!(overlay.updated_at);
        governance["updatedBy"] = json!(overlay.updated_by);
        let mut conditions = Vec::new();
        let owner_missing = !missing_for_approval(&metadata, true, &[]).is_empty();
        conditions.push((
            "OwnerMissing".to_string(),
            if owner_missing { "True" } else { "False" }.to_string(),
            if owner_missing { "NoOwner" } else { "OwnerSet" }.to_string(),
            if owner_missing {
                "set governance owner.principal before approving".to_string()
            } else {
                String::new()
            },
        ));
        let changed = overlay.lifecycle.state == State::Approved
            && overlay.approved_content_digest.is_some()
            && overlay.approved_content_digest != overlay.current_content_digest;
        conditions.push((
            "ContentChangedSinceApproval".to_string(),
            if changed { "True" } else { "False" }.to_string(),
            if changed {
                "DigestDiffers"
            } else {
                "DigestMatches"
            }
            .to_string(),
            String::new(),
        ));
        let _ = settings;
        Ok(GovernanceView {
            overlay,
            governance,
            bindings,
            pending_approvals: pending,
            conditions,
        })
    }

    /// Bindings in configured order, then unconfigured ones still bound.
    pub async fn binding_views(&self, overlay: &OverlayRow) -> Result<Vec<BindingView>> {
        let settings = self.settings();
        let mut conn = self.store.read_conn().await?;
        let bindings = self
            .store
            .bindings(
                &mut conn,
                &overlay.plugin,
                &overlay.kind,
                &overlay.name,
                false,
            )
            .await?;
        let mut out = Vec::new();
        let mut envs: Vec<(String, bool)> = settings
            .config
            .environments
            .iter()
            .map(|e| (e.clone(), true))
            .collect();
        envs.extend(
            bindings
                .keys()
                .filter(|k| !settings.config.environments.contains(k))
                .map(|k| (k.clone(), false)),
        );
        for (env, configured) in envs {
            let binding = bindings.get(&env).cloned();
            let mut version = None;
            let mut warnings = Vec::new();
            if let Some(b) = &binding {
                if let Some(v) = self
                    .store
                    .version(&mut conn, &overlay.asset_uid, &b.version_id, false)
                    .await?
                {
                    if v.lifecycle.state == State::Deprecated {
                        warnings.push(Warning::new(
                            "BOUND_VERSION_DEPRECATED",
                            format!("version {} is deprecated", v.label),
                        ));
                    }
                    version = Some((v.label.clone(), v.lifecycle.state));
                }
                if overlay.lifecycle.state == State::Deprecated {
                    warnings.push(Warning::new("ASSET_DEPRECATED", "the asset is deprecated"));
                }
                if overlay.source_missing_since.is_some() {
                    warnings.push(Warning::new(
                        "SOURCE_MISSING",
                        "the asset is no longer served by any source",
                    ));
                }
            }
            out.push(BindingView {
                environment: env,
                binding,
                version,
                warnings,
                configured,
            });
        }
        Ok(out)
    }

    /// Merge-patches governance metadata.
    pub async fn update(
        &self,
        caller: &Caller,
        plugin: &str,
        kind: &str,
        name: &str,
        patch: &Value,
        expected_version: Option<i64>,
    ) -> Result<GovernanceView> {
        let result = self
            .try_update(caller, plugin, kind, name, patch, expected_version)
            .await;
        if let Err(error) = &result {
            if error.reason != Reason::StorageUnavailable {
                let mut event = AuditEvent::new(
                    &caller.principal,
                    &caller.roles,
                    "governance.update",
                    Outcome::Failed,
                );
                event.correlation_id = caller.correlation_id.clone();
                event.plugin = plugin.to_string();
                event.kind = kind.to_string();
                event.name = name.to_string();
                self.audit_refusal(event, error).await;
            }
        }
        result
    }

    async fn try_update(
        &self,
        caller: &Caller,
        plugin: &str,
        kind: &str,
        name: &str,
        patch: &Value,
        expected_version: Option<i64>,
    ) -> Result<GovernanceView> {
        let (plugin, kind) = self.resolve(plugin, kind)?;
        let settings = self.settings();
        let tally = Counters::default();
        let mut tx = self.store.begin_write().await?;
        let overlay = self
            .locked_overlay(&mut tx, &tally, &plugin, &kind, name)
            .await?;
        if let Some(expected) = expected_version {
            if expected != overlay.resource_version {
                return Err(Error::new(
                    Reason::ConcurrentModification,
                    format!(
                        "{plugin}/{kind}/{name} is at resource version {}, not {expected}; read it again and reapply your change",
                        overlay.resource_version
                    ),
                )
                .with("resourceVersion", overlay.resource_version));
            }
        }
        let current: GovernanceMetadata =
            serde_json::from_value(overlay.metadata.clone()).unwrap_or_default();
        let (_, at) = now();
        let next = apply_patch(&current, patch, &settings.config, Utc::now())?;
        if overlay.lifecycle.state == State::Approved {
            let defaults = &settings.policies.defaults;
            let before = missing_for_approval(
                &current,
                defaults.require_owner_for_approval,
                &defaults.required_fields_for_approval,
            );
            let after = missing_for_approval(
                &next,
                defaults.require_owner_for_approval,
                &defaults.required_fields_for_approval,
            );
            let cleared: Vec<&String> = after.iter().filter(|f| !before.contains(f)).collect();
            if !cleared.is_empty() {
                let fields: Vec<String> = cleared.iter().map(|s| s.to_string()).collect();
                return Err(Error::new(
                    Reason::GovernanceValidationFailed,
                    format!(
                        "{plugin}/{kind}/{name} is approved, so {} cannot be cleared; deprecate it first",
                        fields.join(", ")
                    ),
                )
                .violation(fields[0].clone(), "required while the asset is approved"));
            }
        }
        let new_json = serde_json::to_value(&next).map_err(Error::internal)?;
        if new_json == overlay.metadata || (overlay.metadata.is_null() && new_json == json!({})) {
            self.commit_counted(tx, tally).await?;
            return self.view(overlay).await;
        }
        if !self
            .store
            .update_overlay_metadata(
                &mut tx,
                &overlay.asset_uid,
                &new_json,
                overlay.resource_version,
                &caller.principal,
                &at,
            )
            .await?
        {
            return Err(Error::new(
                Reason::ConcurrentModification,
                format!("{plugin}/{kind}/{name} changed while this update ran; retry"),
            ));
        }
        let mut event = event_for(caller, "governance.update", Outcome::Success, &overlay);
        event.diff = crate::domain::audit::diff(&overlay.metadata, &new_json);
        self.append(&mut tx, &mut [event]).await?;
        let updated = self
            .store
            .overlay(&mut tx, &plugin, &kind, name, false)
            .await?
            .ok_or_else(|| Error::internal("overlay vanished inside its own transaction"))?;
        self.commit_counted(tx, tally).await?;
        self.view(updated).await
    }

    /// Versions of an asset, with the next page token.
    pub async fn versions(
        &self,
        plugin: &str,
        kind: &str,
        name: &str,
        q: &VersionQuery,
    ) -> Result<(Vec<VersionView>, String)> {
        let (plugin, kind) = self.resolve(plugin, kind)?;
        let overlay = self.overlay_or_create(&plugin, &kind, name).await?;
        let mut states = Vec::new();
        for s in &q.states {
            states.push(State::parse(s).ok_or_else(|| {
                Error::new(Reason::InvalidParams, format!("unknown lifecycle state {s:?}; use draft, approved, deprecated or archived"))
            })?);
        }
        let order = match q.order_by.as_str() {
            "" | "sequence" => "sequence",
            "createdAt" | "created_at" => "createdAt",
            "version" => "version",
            other => {
                return Err(Error::new(
                    Reason::InvalidOrderBy,
                    format!(
                        "cannot order versions by {other:?}; use sequence, createdAt or version"
                    ),
                ))
            }
        };
        let descending = !q.sort_order.eq_ignore_ascii_case("asc");
        let limit = page_size(q.page_size);
        let hash = query_hash(&[
            &overlay.asset_uid,
            &q.states.join(","),
            &q.label,
            &q.alias,
            &q.trigger,
            order,
            &descending.to_string(),
        ]);
        let after = if q.page_token.is_empty() {
            None
        } else {
            let c = Cursor::decode(&q.page_token, &hash)?;
            Some((
                c.sort_value.as_str().unwrap_or_default().to_string(),
                c.tie.first().and_then(|t| t.parse().ok()).unwrap_or(0),
            ))
        };
        let mut conn = self.store.read_conn().await?;
        let label = if !q.alias.is_empty() {
            let alias = format!("@{}", q.alias.trim_start_matches('@'));
            let found = self
                .find_version(&mut conn, &overlay, &alias, false)
                .await?;
            Some(found.label)
        } else {
            (!q.label.is_empty()).then(|| q.label.clone())
        };
        let mut rows = self
            .store
            .list_versions(
                &mut conn,
                &overlay.asset_uid,
                &states,
                label.as_deref(),
                (!q.trigger.is_empty()).then_some(q.trigger.as_str()),
                order,
                descending,
                after,
                limit + 1,
            )
            .await?;
        let next = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            let last = rows.last().expect("non-empty page");
            let sort_value = match order {
                "createdAt" => json!(last.created_at),
                "version" => json!(last.label),
                _ => json!(""),
            };
            Cursor {
                sort_value,
                tie: vec![last.sequence.to_string()],
                query_hash: hash,
            }
            .encode()
        } else {
            String::new()
        };
        let views = self.version_views(&overlay, rows).await?;
        Ok((views, next))
    }

    /// One version by id, label or @alias.
    pub async fn version(
        &self,
        plugin: &str,
        kind: &str,
        name: &str,
        selector: &str,
    ) -> Result<VersionView> {
        let (plugin, kind) = self.resolve(plugin, kind)?;
        let overlay = self.overlay_or_create(&plugin, &kind, name).await?;
        // A read: a pooled connection, not a write transaction (which on
        // SQLite would take the database's write lock).
        let row = {
            let mut conn = self.store.read_conn().await?;
            self.find_version(&mut conn, &overlay, selector, false)
                .await?
        };
        Ok(self.version_views(&overlay, vec![row]).await?.remove(0))
    }

    async fn version_views(
        &self,
        overlay: &OverlayRow,
        rows: Vec<VersionRow>,
    ) -> Result<Vec<VersionView>> {
        let mut conn = self.store.read_conn().await?;
        let mut aliases = self.store.aliases(&mut conn, &overlay.asset_uid).await?;
        if let Some(v) = self
            .store
            .latest_version(&mut conn, &overlay.asset_uid, false)
            .await?
        {
            aliases.insert("latest".into(), v.version_id);
        }
        if let Some(v) = self
            .store
            .latest_version(&mut conn, &overlay.asset_uid, true)
            .await?
        {
            aliases.insert("latest-approved".into(), v.version_id);
        }
        let bindings = self
            .store
            .bindings(
                &mut conn,
                &overlay.plugin,
                &overlay.kind,
                &overlay.name,
                false,
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| VersionView {
                aliases: aliases
                    .iter()
                    .filter(|(_, id)| **id == row.version_id)
                    .map(|(a, _)| a.clone())
                    .collect(),
                bound_environments: bindings
                    .values()
                    .filter(|b| b.version_id == row.version_id)
                    .map(|b| b.environment.clone())
                    .collect(),
                row,
            })
            .collect())
    }

    /// ListBindings.
    pub async fn bindings(&self, plugin: &str, kind: &str, name: &str) -> Result<Vec<BindingView>> {
        let (plugin, kind) = self.resolve(plugin, kind)?;
        let overlay = self.overlay_or_create(&plugin, &kind, name).await?;
        self.binding_views(&overlay).await
    }

    /// Audit events (of one asset when `q.asset` is set), newest first.
    pub async fn audit(&self, q: &AuditQuery) -> Result<(Vec<AuditEvent>, String)> {
        let mut filter = AuditFilter::default();
        if let Some((plugin, kind, name)) = &q.asset {
            let (plugin, kind) = self.resolve(plugin, kind)?;
            let overlay = self.overlay_or_create(&plugin, &kind, name).await?;
            filter.asset_uid = Some(overlay.asset_uid);
        }
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        filter.plugin = some(&q.plugin);
        filter.kind = some(&q.kind);
        filter.name = some(&q.name);
        filter.actor = some(&q.actor);
        filter.outcome = some(&q.outcome);
        filter.correlation_id = some(&q.correlation_id);
        filter.approval_request_id = some(&q.approval_request_id);
        filter.version_id = some(&q.version_id);
        filter.actions = q
            .actions
            .iter()
            .filter(|a| !a.is_empty())
            .cloned()
            .collect();
        filter.since = q.since.clone();
        filter.until = q.until.clone();
        let limit = page_size(q.page_size);
        filter.limit = limit + 1;
        let hash = query_hash(&[
            &format!("{:?}", q.asset),
            &q.plugin,
            &q.kind,
            &q.name,
            &q.actor,
            &q.actions.join(","),
            &q.outcome,
            &q.correlation_id,
            &q.approval_request_id,
            &q.version_id,
            q.since.as_deref().unwrap_or(""),
            q.until.as_deref().unwrap_or(""),
        ]);
        if !q.page_token.is_empty() {
            let c = Cursor::decode(&q.page_token, &hash)?;
            filter.before = Some((
                c.sort_value.as_str().unwrap_or_default().to_string(),
                c.tie.first().cloned().unwrap_or_default(),
            ));
        }
        let mut conn = self.store.read_conn().await?;
        let mut events = self.store.list_audit(&mut conn, &filter).await?;
        let next = if events.len() > limit as usize {
            events.truncate(limit as usize);
            let last = events.last().expect("non-empty page");
            Cursor {
                sort_value: json!(crate::domain::audit::micros(last.occurred_at)),
                tie: vec![last.event_id.clone()],
                query_hash: hash,
            }
            .encode()
        } else {
            String::new()
        };
        Ok((events, next))
    }

    /// One audit event.
    pub async fn audit_event(&self, event_id: &str) -> Result<AuditEvent> {
        let mut conn = self.store.read_conn().await?;
        self.store
            .audit_event(&mut conn, event_id)
            .await?
            .ok_or_else(|| {
                Error::new(
                    Reason::AuditEventNotFound,
                    format!("no audit event {event_id:?}; list audit events to find one"),
                )
            })
    }

    /// Recomputes the chain from `from_sequence` (or the oldest event) and
    /// reports the first broken link.
    pub async fn verify_chain(&self, from_sequence: i64) -> Result<ChainReport> {
        let mut conn = self.store.read_conn().await?;
        let start = match from_sequence {
            n if n > 0 => n,
            _ => self
                .store
                .audit_first_sequence(&mut conn)
                .await?
                .unwrap_or(1),
        };
        let mut next = start;
        let mut previous: Option<String> = None;
        let mut checked = 0i64;
        loop {
            let (events, before) = self.store.audit_chain_page(&mut conn, next, 1000).await?;
            if events.is_empty() {
                break;
            }
            let mut prev = previous.clone().or(before).unwrap_or_default();
            for event in &events {
                if event.sequence != next {
                    return Ok(ChainReport {
                        verified: false,
                        checked,
                        first_broken: Some(BrokenLink {
                            sequence: next,
                            event_id: event.event_id.clone(),
                            expected_hash: format!("event at sequence {next}"),
                            stored_hash: format!(
                                "missing; next stored sequence is {}",
                                event.sequence
                            ),
                        }),
                    });
                }
                checked += 1;
                if let Err(broken) = check_link(&prev, event) {
                    return Ok(ChainReport {
                        verified: false,
                        checked,
                        first_broken: Some(broken),
                    });
                }
                prev = event.hash.clone();
                next += 1;
            }
            previous = Some(prev);
        }
        Ok(ChainReport {
            verified: true,
            checked,
            first_broken: None,
        })
    }

    /// ListGovernedAssets.
    pub async fn governed(&self, q: &GovernedQuery) -> Result<(Vec<GovernanceView>, String)> {
        let mut filter = self.overlay_filter(q)?;
        let limit = page_size(q.page_size);
        filter.limit = limit + 1;
        let hash = query_hash(&[
            &q.plugin,
            &q.kind,
            &q.states.join(","),
            &q.risk_levels.join(","),
            &q.compliance_tags.join(","),
            &q.owner,
            &q.team,
            &q.include_archived.to_string(),
        ]);
        if !q.page_token.is_empty() {
            let c = Cursor::decode(&q.page_token, &hash)?;
            filter.after = match c.tie.as_slice() {
                [p, k, n] => Some((p.clone(), k.clone(), n.clone())),
                _ => None,
            };
        }
        let mut conn = self.store.read_conn().await?;
        let mut rows = self.store.list_overlays(&mut conn, &filter).await?;
        drop(conn);
        let next = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            let last = rows.last().expect("non-empty page");
            Cursor {
                sort_value: json!(""),
                tie: vec![last.plugin.clone(), last.kind.clone(), last.name.clone()],
                query_hash: hash,
            }
            .encode()
        } else {
            String::new()
        };
        let mut views = Vec::new();
        for row in rows {
            views.push(self.view(row).await?);
        }
        Ok((views, next))
    }

    /// Storage filter of a governance query (validated).
    pub fn overlay_filter(&self, q: &GovernedQuery) -> Result<OverlayFilter> {
        let mut states = Vec::new();
        for s in &q.states {
            states.push(State::parse(s).ok_or_else(|| {
                Error::new(Reason::InvalidParams, format!("unknown lifecycle state {s:?}; use draft, approved, deprecated or archived"))
                    .violation("lifecycleState", "unknown state")
            })?);
        }
        for r in &q.risk_levels {
            if !["low", "medium", "high", "critical"].contains(&r.as_str()) {
                return Err(Error::new(
                    Reason::InvalidParams,
                    format!("unknown risk level {r:?}; use low, medium, high or critical"),
                )
                .violation("riskLevel", "unknown risk level"));
            }
        }
        let kind = if q.kind.is_empty() {
            None
        } else if q.plugin.is_empty() {
            Some(q.kind.clone())
        } else {
            Some(self.resolve(&q.plugin, &q.kind)?.1)
        };
        if !q.plugin.is_empty() {
            self.registry.get(&q.plugin)?;
        }
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Ok(OverlayFilter {
            plugins: some(&q.plugin).into_iter().collect(),
            kind,
            states,
            include_archived: q.include_archived,
            risk_levels: q.risk_levels.clone(),
            compliance_tags: q.compliance_tags.clone(),
            owner: some(&q.owner),
            team: some(&q.team),
            after: None,
            limit: 0,
        })
    }

    /// Uids of assets matching governance filters (for asset lists).
    pub async fn matching_uids(
        &self,
        filter: &OverlayFilter,
    ) -> Result<std::collections::HashSet<String>> {
        let mut conn = self.store.read_conn().await?;
        self.store.uids_matching(&mut conn, filter).await
    }

    /// Lifecycle state and metadata of assets by uid (for asset views).
    pub async fn overlays(&self, uids: &[String]) -> Result<Vec<OverlayRow>> {
        let mut conn = self.store.read_conn().await?;
        self.store.overlays_by_uid(&mut conn, uids).await
    }
}
