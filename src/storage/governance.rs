//! Persistence of the governance overlay: overlay rows, versions, aliases,
//! bindings and their history, approval requests and decisions, and the
//! hash-chained audit trail. Every function takes a connection so that the
//! governance service can compose several of them in one transaction; the
//! rules about what may change live in the domain layer, and the database
//! adds its own guards (triggers) for what must never change.

use std::collections::BTreeMap;

use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use super::{Dialect, Store};
use crate::domain::audit::{AuditEvent, Outcome, GENESIS_HASH};
use crate::domain::governance::State;
use crate::domain::{Error, Result};

/// A write transaction.
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// Rows per multi-row statement (well under both engines' parameter limits).
const BATCH: usize = 400;

/// Lifecycle columns shared by overlay rows and versions.
#[derive(Debug, Clone, PartialEq)]
pub struct LifecycleRow {
    /// Current state.
    pub state: State,
    /// Reason of the last transition.
    pub reason: Option<String>,
    /// Who made it.
    pub changed_by: Option<String>,
    /// When.
    pub changed_at: Option<String>,
    /// State before it.
    pub previous_state: Option<State>,
    /// Replacement named by a deprecation (overlay only).
    pub replacement_ref: Option<Value>,
    /// Approval request it ran through.
    pub approval_request_id: Option<String>,
}

impl LifecycleRow {
    /// The lifecycle of something that has never moved.
    pub fn initial(state: State, changed_by: &str, reason: Option<String>, at: &str) -> Self {
        LifecycleRow {
            state,
            reason,
            changed_by: Some(changed_by.to_string()),
            changed_at: Some(at.to_string()),
            previous_state: None,
            replacement_ref: None,
            approval_request_id: None,
        }
    }
}

/// One overlay row.
#[derive(Debug, Clone)]
pub struct OverlayRow {
    /// Asset uid.
    pub asset_uid: String,
    /// Plugin.
    pub plugin: String,
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Effective source.
    pub source_id: Option<String>,
    /// Governance metadata document (without lifecycle).
    pub metadata: Value,
    /// Lifecycle.
    pub lifecycle: LifecycleRow,
    /// Digest when approved.
    pub approved_content_digest: Option<String>,
    /// Digest of the current record.
    pub current_content_digest: Option<String>,
    /// Revision of the current record.
    pub current_revision_id: Option<String>,
    /// Provenance of the current record.
    pub current_provenance: Option<Value>,
    /// Set while the asset is gone from every source.
    pub source_missing_since: Option<String>,
    /// Concurrency token.
    pub resource_version: i64,
    /// Created.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Who made the last metadata change.
    pub updated_by: Option<String>,
}

/// A live record the overlay has not caught up with.
#[derive(Debug, Clone)]
pub struct BacklogItem {
    /// Plugin.
    pub plugin: String,
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Asset uid.
    pub asset_uid: String,
    /// Effective source.
    pub source_id: String,
    /// Content digest of the record.
    pub content_digest: String,
    /// Source revision of the record.
    pub revision_id: String,
    /// The record.
    pub record: Value,
    /// Its provenance.
    pub provenance: Value,
    /// Its references.
    pub refs: Value,
    /// Digest the overlay last recorded.
    pub overlay_digest: Option<String>,
    /// Revision the overlay last recorded.
    pub overlay_revision: Option<String>,
    /// Whether an overlay row exists.
    pub has_overlay: bool,
}

/// One version row.
#[derive(Debug, Clone)]
pub struct VersionRow {
    /// UUIDv7.
    pub version_id: String,
    /// Owner asset.
    pub asset_uid: String,
    /// Plugin.
    pub plugin: String,
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Label.
    pub label: String,
    /// Per-asset counter.
    pub sequence: i64,
    /// manual, source-change, initial-discovery or backfill.
    pub trigger: String,
    /// Record snapshot.
    pub record: Value,
    /// Governance snapshot.
    pub governance_snapshot: Value,
    /// References with their resolution at creation.
    pub references: Value,
    /// Content digest.
    pub content_digest: String,
    /// Source.
    pub source_id: Option<String>,
    /// Source revision.
    pub source_revision_ref: Option<String>,
    /// Provenance block.
    pub provenance: Value,
    /// Version lifecycle.
    pub lifecycle: LifecycleRow,
    /// Created.
    pub created_at: String,
    /// Creator.
    pub created_by: String,
}

/// One binding row.
#[derive(Debug, Clone, PartialEq)]
pub struct BindingRow {
    /// Environment.
    pub environment: String,
    /// Asset uid.
    pub asset_uid: String,
    /// Bound version.
    pub version_id: String,
    /// Version bound before.
    pub previous_version_id: Option<String>,
    /// When.
    pub bound_at: String,
    /// Who.
    pub bound_by: String,
    /// Why.
    pub reason: Option<String>,
    /// Approval request it ran through.
    pub approval_request_id: Option<String>,
}

/// One approval request row.
#[derive(Debug, Clone)]
pub struct ApprovalRow {
    /// Request id.
    pub request_id: String,
    /// Subject asset.
    pub asset_uid: String,
    /// Plugin.
    pub plugin: String,
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Subject version.
    pub version_id: Option<String>,
    /// Requested action id.
    pub action: String,
    /// Normalized params.
    pub params: Value,
    /// Deduplication key of pending requests.
    pub dedupe_key: String,
    /// pending, approved, rejected, expired or cancelled.
    pub status: String,
    /// Requester's reason.
    pub reason: Option<String>,
    /// Gate requirements (JSON list).
    pub requirements: Value,
    /// Whether one rejection is final.
    pub deny_on_first_reject: bool,
    /// First matching rule.
    pub policy_rule: Option<String>,
    /// Requester.
    pub requested_by: String,
    /// Requester's roles.
    pub requested_by_roles: Vec<String>,
    /// Created.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Expiry.
    pub expires_at: String,
    /// When it became terminal.
    pub resolved_at: Option<String>,
    /// Who made it terminal.
    pub resolved_by: Option<String>,
    /// Cancel reason.
    pub cancel_reason: Option<String>,
    /// succeeded or failed.
    pub execution_status: Option<String>,
    /// Result of the executed action.
    pub execution_result: Option<Value>,
    /// Error of the executed action.
    pub execution_error: Option<Value>,
    /// When it executed.
    pub executed_at: Option<String>,
    /// Audit event of the execution.
    pub execution_audit_event_id: Option<String>,
    /// Correlation id of the originating call.
    pub correlation_id: String,
}

/// One decision row.
#[derive(Debug, Clone)]
pub struct DecisionRow {
    /// Decision id.
    pub decision_id: String,
    /// Request id.
    pub request_id: String,
    /// Approver.
    pub approver: String,
    /// Approver's roles.
    pub approver_roles: Vec<String>,
    /// approve or reject.
    pub decision: String,
    /// Comment.
    pub comment: Option<String>,
    /// Requirement indexes it counted toward.
    pub counted_requirements: Vec<usize>,
    /// When.
    pub decided_at: String,
    /// Correlation id.
    pub correlation_id: String,
}

/// Filters of governed-asset lists.
#[derive(Debug, Clone, Default)]
pub struct OverlayFilter {
    /// Plugins (empty: all).
    pub plugins: Vec<String>,
    /// Kind.
    pub kind: Option<String>,
    /// States (empty: every state but archived unless include_archived).
    pub states: Vec<State>,
    /// Include archived when no state is given.
    pub include_archived: bool,
    /// Any of these risk levels.
    pub risk_levels: Vec<String>,
    /// All of these compliance tags.
    pub compliance_tags: Vec<String>,
    /// Owner principal.
    pub owner: Option<String>,
    /// Team name.
    pub team: Option<String>,
    /// Only names after this (plugin, kind, name) key.
    pub after: Option<(String, String, String)>,
    /// Page size.
    pub limit: u32,
}

/// Filters of audit lists.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Subject asset uid.
    pub asset_uid: Option<String>,
    /// Plugin.
    pub plugin: Option<String>,
    /// Kind.
    pub kind: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Actor.
    pub actor: Option<String>,
    /// Action ids; `*` globs become SQL LIKE patterns.
    pub actions: Vec<String>,
    /// Outcome.
    pub outcome: Option<String>,
    /// Correlation id.
    pub correlation_id: Option<String>,
    /// Approval request.
    pub approval_request_id: Option<String>,
    /// Version.
    pub version_id: Option<String>,
    /// At or after.
    pub since: Option<String>,
    /// Before.
    pub until: Option<String>,
    /// Only events before this (occurred_at, event_id) key.
    pub before: Option<(String, String)>,
    /// Page size.
    pub limit: u32,
}

/// Filters of approval lists.
#[derive(Debug, Clone, Default)]
pub struct ApprovalFilter {
    /// Statuses (empty: all).
    pub statuses: Vec<String>,
    /// Plugin.
    pub plugin: Option<String>,
    /// Kind.
    pub kind: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Action id.
    pub action: Option<String>,
    /// Requester.
    pub requested_by: Option<String>,
    /// Exclude requests of this principal.
    pub not_requested_by: Option<String>,
    /// Created at or after.
    pub created_after: Option<String>,
    /// Created before.
    pub created_before: Option<String>,
    /// Only requests before this (created_at, request_id) key.
    pub before: Option<(String, String)>,
    /// Page size.
    pub limit: u32,
}

/// Builds a statement with positional parameters, whatever the dialect.
/// `$n::json` marks a JSON parameter.
struct Sql {
    dialect: Dialect,
}

impl Sql {
    fn text(&self, template: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => template.replace("::json", ""),
            Dialect::Postgres => template.replace("::json", "::jsonb"),
        }
    }
}

const OVERLAY_COLUMNS: &str = "asset_uid, plugin, kind, name, source_id, CAST(metadata AS TEXT) AS metadata, \
    lifecycle_state, lifecycle_reason, lifecycle_changed_by, lifecycle_changed_at, lifecycle_previous_state, \
    CAST(lifecycle_replacement_ref AS TEXT) AS lifecycle_replacement_ref, lifecycle_approval_request_id, \
    approved_content_digest, current_content_digest, current_revision_id, CAST(current_provenance AS TEXT) AS current_provenance, \
    source_missing_since, resource_version, created_at, updated_at, updated_by";

const VERSION_COLUMNS: &str = "version_id, asset_uid, plugin, kind, name, version_label, sequence, trigger, \
    CAST(record AS TEXT) AS record, CAST(governance_snapshot AS TEXT) AS governance_snapshot, \
    CAST(references_snapshot AS TEXT) AS references_snapshot, content_digest, source_id, source_revision_ref, \
    CAST(provenance AS TEXT) AS provenance, lifecycle_state, lifecycle_reason, lifecycle_changed_by, \
    lifecycle_changed_at, lifecycle_previous_state, lifecycle_approval_request_id, created_at, created_by";

const BINDING_COLUMNS: &str = "environment, asset_uid, version_id, previous_version_id, bound_at, bound_by, reason, approval_request_id";

const APPROVAL_COLUMNS: &str = "request_id, asset_uid, plugin, kind, name, version_id, action, CAST(params AS TEXT) AS params, \
    dedupe_key, status, reason, CAST(requirements AS TEXT) AS requirements, deny_on_first_reject, policy_rule, requested_by, \
    CAST(requested_by_roles AS TEXT) AS requested_by_roles, created_at, updated_at, expires_at, resolved_at, resolved_by, \
    cancel_reason, execution_status, CAST(execution_result AS TEXT) AS execution_result, \
    CAST(execution_error AS TEXT) AS execution_error, executed_at, execution_audit_event_id, correlation_id";

const DECISION_COLUMNS: &str = "decision_id, request_id, approver, CAST(approver_roles AS TEXT) AS approver_roles, decision, comment, \
    CAST(counted_requirements AS TEXT) AS counted_requirements, decided_at, correlation_id";

const AUDIT_COLUMNS: &str = "event_id, occurred_at, actor, CAST(actor_roles AS TEXT) AS actor_roles, action, asset_uid, plugin, kind, name, \
    version_id, environment, outcome, reason, reason_code, CAST(diff AS TEXT) AS diff, approval_request_id, \
    CAST(approvals AS TEXT) AS approvals, policy_rule, correlation_id, action_run_id, CAST(details AS TEXT) AS details, \
    sequence, prev_hash, hash";

impl Store {
    fn sql(&self, template: &str) -> String {
        Sql {
            dialect: self.dialect,
        }
        .text(template)
    }

    /// Row locking suffix: PostgreSQL locks the rows read; SQLite needs
    /// none because its write transactions hold the database lock.
    fn for_update(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }

    /// Starts a write transaction (see `write_tx`).
    pub async fn begin_write(&self) -> Result<Tx> {
        self.write_tx().await
    }

    /// A pooled connection for reads.
    pub async fn read_conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        self.pool.acquire().await.map_err(Error::storage)
    }

    // ----- overlay -------------------------------------------------------

    /// The overlay row of a key; locked for the transaction when `lock`.
    pub async fn overlay(
        &self,
        conn: &mut AnyConnection,
        plugin: &str,
        kind: &str,
        name: &str,
        lock: bool,
    ) -> Result<Option<OverlayRow>> {
        let sql = format!(
            "SELECT {OVERLAY_COLUMNS} FROM asset_governance WHERE plugin = $1 AND kind = $2 AND name = $3{}",
            if lock { self.for_update() } else { "" }
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(plugin)
            .bind(kind)
            .bind(name)
            .fetch_optional(conn)
            .await
            .map_err(Error::storage)?;
        row.as_ref().map(overlay_row).transpose()
    }

    /// Overlay rows of many keys, for list views.
    pub async fn overlays_by_uid(
        &self,
        conn: &mut AnyConnection,
        uids: &[String],
    ) -> Result<Vec<OverlayRow>> {
        let mut out = Vec::new();
        for chunk in uids.chunks(200) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT {OVERLAY_COLUMNS} FROM asset_governance WHERE asset_uid IN ({})",
                marks.join(",")
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for uid in chunk {
                query = query.bind(uid.clone());
            }
            for row in query.fetch_all(&mut *conn).await.map_err(Error::storage)? {
                out.push(overlay_row(&row)?);
            }
        }
        Ok(out)
    }

    /// Inserts many new overlay rows (no compliance tags yet) in one
    /// statement, skipping keys that already have one; returns the uids
    /// actually inserted, so that only they get versions and events.
    pub async fn insert_overlays(
        &self,
        conn: &mut AnyConnection,
        rows: &[OverlayRow],
    ) -> Result<std::collections::HashSet<String>> {
        const COLUMNS: usize = 16;
        let d = self.dialect;
        let mut inserted = std::collections::HashSet::new();
        for chunk in rows.chunks(BATCH) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let n = |c: usize| i * COLUMNS + c;
                    format!(
                        "({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
                        d.seq(n(1)),
                        d.seq(n(2)),
                        d.seq(n(3)),
                        d.seq(n(4)),
                        d.seq(n(5)),
                        d.json_seq(n(6)),
                        d.seq(n(7)),
                        d.seq(n(8)),
                        d.seq(n(9)),
                        d.seq(n(10)),
                        d.seq(n(11)),
                        d.seq(n(12)),
                        d.seq(n(13)),
                        d.json_seq(n(14)),
                        d.seq(n(15)),
                        d.seq(n(16)),
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO asset_governance (asset_uid, plugin, kind, name, source_id, metadata, lifecycle_state, \
                 lifecycle_reason, lifecycle_changed_by, lifecycle_changed_at, approved_content_digest, current_content_digest, \
                 current_revision_id, current_provenance, created_at, updated_at) VALUES {} \
                 ON CONFLICT DO NOTHING RETURNING asset_uid",
                values.join(", ")
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for row in chunk {
                query = query
                    .bind(row.asset_uid.clone())
                    .bind(row.plugin.clone())
                    .bind(row.kind.clone())
                    .bind(row.name.clone())
                    .bind(row.source_id.clone())
                    .bind(row.metadata.to_string())
                    .bind(row.lifecycle.state.as_str())
                    .bind(row.lifecycle.reason.clone())
                    .bind(row.lifecycle.changed_by.clone())
                    .bind(row.lifecycle.changed_at.clone())
                    .bind(row.approved_content_digest.clone())
                    .bind(row.current_content_digest.clone())
                    .bind(row.current_revision_id.clone())
                    .bind(row.current_provenance.as_ref().map(Value::to_string))
                    .bind(row.created_at.clone())
                    .bind(row.updated_at.clone());
            }
            for found in query.fetch_all(&mut *conn).await.map_err(Error::storage)? {
                inserted.insert(text(&found, "asset_uid")?);
            }
        }
        Ok(inserted)
    }

    /// Inserts many versions in one statement per chunk.
    pub async fn insert_versions(
        &self,
        conn: &mut AnyConnection,
        rows: &[VersionRow],
    ) -> Result<()> {
        const COLUMNS: usize = 20;
        let d = self.dialect;
        for chunk in rows.chunks(BATCH) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let marks: Vec<String> = (1..=COLUMNS)
                        .map(|c| {
                            let n = i * COLUMNS + c;
                            if matches!(c, 9 | 10 | 11 | 15) {
                                d.json_seq(n)
                            } else {
                                d.seq(n)
                            }
                        })
                        .collect();
                    format!("({})", marks.join(", "))
                })
                .collect();
            let sql = format!(
                "INSERT INTO asset_versions (version_id, asset_uid, plugin, kind, name, version_label, sequence, trigger, record, \
                 governance_snapshot, references_snapshot, content_digest, source_id, source_revision_ref, provenance, \
                 lifecycle_state, lifecycle_changed_by, lifecycle_changed_at, created_at, created_by) VALUES {}",
                values.join(", ")
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for v in chunk {
                query = query
                    .bind(v.version_id.clone())
                    .bind(v.asset_uid.clone())
                    .bind(v.plugin.clone())
                    .bind(v.kind.clone())
                    .bind(v.name.clone())
                    .bind(v.label.clone())
                    .bind(v.sequence)
                    .bind(v.trigger.clone())
                    .bind(v.record.to_string())
                    .bind(v.governance_snapshot.to_string())
                    .bind(v.references.to_string())
                    .bind(v.content_digest.clone())
                    .bind(v.source_id.clone())
                    .bind(v.source_revision_ref.clone())
                    .bind(v.provenance.to_string())
                    .bind(v.lifecycle.state.as_str())
                    .bind(v.lifecycle.changed_by.clone())
                    .bind(v.lifecycle.changed_at.clone())
                    .bind(v.created_at.clone())
                    .bind(v.created_by.clone());
            }
            query.execute(&mut *conn).await.map_err(Error::storage)?;
        }
        Ok(())
    }

    /// Inserts an overlay row unless one exists; true when inserted.
    pub async fn insert_overlay(&self, conn: &mut AnyConnection, row: &OverlayRow) -> Result<bool> {
        let sql = self.sql(
            "INSERT INTO asset_governance (asset_uid, plugin, kind, name, source_id, metadata, owner_principal, team_name, \
             risk_level, sla_tier, lifecycle_state, lifecycle_reason, lifecycle_changed_by, lifecycle_changed_at, \
             approved_content_digest, current_content_digest, current_revision_id, current_provenance, resource_version, \
             created_at, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4, $5, $6::json, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18::json, $19, $20, $21, $22) \
             ON CONFLICT DO NOTHING",
        );
        let indexed = IndexedFields::of(&row.metadata);
        let done = sqlx::query(AssertSqlSafe(sql))
            .bind(&row.asset_uid)
            .bind(&row.plugin)
            .bind(&row.kind)
            .bind(&row.name)
            .bind(row.source_id.clone())
            .bind(row.metadata.to_string())
            .bind(indexed.owner)
            .bind(indexed.team)
            .bind(indexed.risk)
            .bind(indexed.sla)
            .bind(row.lifecycle.state.as_str())
            .bind(row.lifecycle.reason.clone())
            .bind(row.lifecycle.changed_by.clone())
            .bind(row.lifecycle.changed_at.clone())
            .bind(row.approved_content_digest.clone())
            .bind(row.current_content_digest.clone())
            .bind(row.current_revision_id.clone())
            .bind(row.current_provenance.as_ref().map(Value::to_string))
            .bind(row.resource_version)
            .bind(&row.created_at)
            .bind(&row.updated_at)
            .bind(row.updated_by.clone())
            .execute(&mut *conn)
            .await
            .map_err(Error::storage)?;
        if done.rows_affected() == 1 {
            self.replace_tags(conn, &row.asset_uid, &indexed.tags)
                .await?;
        }
        Ok(done.rows_affected() == 1)
    }

    /// Writes a new metadata document when the row is still at
    /// `expected_version`; false when another writer got there first.
    pub async fn update_overlay_metadata(
        &self,
        conn: &mut AnyConnection,
        asset_uid: &str,
        metadata: &Value,
        expected_version: i64,
        by: &str,
        at: &str,
    ) -> Result<bool> {
        let indexed = IndexedFields::of(metadata);
        let sql = self.sql(
            "UPDATE asset_governance SET metadata = $1::json, owner_principal = $2, team_name = $3, risk_level = $4, \
             sla_tier = $5, resource_version = resource_version + 1, updated_at = $6, updated_by = $7 \
             WHERE asset_uid = $8 AND resource_version = $9",
        );
        let done = sqlx::query(AssertSqlSafe(sql))
            .bind(metadata.to_string())
            .bind(indexed.owner)
            .bind(indexed.team)
            .bind(indexed.risk)
            .bind(indexed.sla)
            .bind(at)
            .bind(by)
            .bind(asset_uid)
            .bind(expected_version)
            .execute(&mut *conn)
            .await
            .map_err(Error::storage)?;
        if done.rows_affected() == 1 {
            self.replace_tags(conn, asset_uid, &indexed.tags).await?;
        }
        Ok(done.rows_affected() == 1)
    }

    async fn replace_tags(
        &self,
        conn: &mut AnyConnection,
        uid: &str,
        tags: &[String],
    ) -> Result<()> {
        sqlx::query("DELETE FROM asset_compliance_tags WHERE asset_uid = $1")
            .bind(uid)
            .execute(&mut *conn)
            .await
            .map_err(Error::storage)?;
        for tag in tags {
            sqlx::query("INSERT INTO asset_compliance_tags (asset_uid, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(uid)
                .bind(tag)
                .execute(&mut *conn)
                .await
                .map_err(Error::storage)?;
        }
        Ok(())
    }

    /// Sets the asset-level lifecycle (and the approved digest when given).
    pub async fn update_overlay_lifecycle(
        &self,
        conn: &mut AnyConnection,
        asset_uid: &str,
        lifecycle: &LifecycleRow,
        approved_content_digest: Option<&str>,
        at: &str,
    ) -> Result<()> {
        let sql = self.sql(
            "UPDATE asset_governance SET lifecycle_state = $1, lifecycle_reason = $2, lifecycle_changed_by = $3, \
             lifecycle_changed_at = $4, lifecycle_previous_state = $5, lifecycle_replacement_ref = $6::json, \
             lifecycle_approval_request_id = $7, approved_content_digest = COALESCE($8, approved_content_digest), \
             resource_version = resource_version + 1, updated_at = $9 WHERE asset_uid = $10",
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(lifecycle.state.as_str())
            .bind(lifecycle.reason.clone())
            .bind(lifecycle.changed_by.clone())
            .bind(lifecycle.changed_at.clone())
            .bind(lifecycle.previous_state.map(|s| s.as_str()))
            .bind(lifecycle.replacement_ref.as_ref().map(Value::to_string))
            .bind(lifecycle.approval_request_id.clone())
            .bind(approved_content_digest)
            .bind(at)
            .bind(asset_uid)
            .execute(conn)
            .await
            .map_err(Error::storage)?;
        Ok(())
    }

    /// Records the content now served for an asset, if it is still at
    /// `expected_digest`; false when another replica recorded it first.
    #[allow(clippy::too_many_arguments)]
    pub async fn advance_current_content(
        &self,
        conn: &mut AnyConnection,
        asset_uid: &str,
        expected_digest: Option<&str>,
        digest: &str,
        revision_id: &str,
        provenance: &Value,
        source_id: &str,
        at: &str,
    ) -> Result<bool> {
        let sql = self.sql(
            "UPDATE asset_governance SET current_content_digest = $1, current_revision_id = $2, current_provenance = $3::json, \
             source_id = $4, source_missing_since = NULL, updated_at = $5 \
             WHERE asset_uid = $6 AND (current_content_digest = $7 OR (current_content_digest IS NULL AND $8 = 1))",
        );
        let done = sqlx::query(AssertSqlSafe(sql))
            .bind(digest)
            .bind(revision_id)
            .bind(provenance.to_string())
            .bind(source_id)
            .bind(at)
            .bind(asset_uid)
            .bind(expected_digest.unwrap_or(""))
            .bind(i64::from(expected_digest.is_none()))
            .execute(conn)
            .await
            .map_err(Error::storage)?;
        Ok(done.rows_affected() == 1)
    }

    /// Effective records whose overlay is missing or behind their content,
    /// at most `limit`, with what the overlay needs from them.
    pub async fn governance_backlog(
        &self,
        conn: &mut AnyConnection,
        after: Option<&(String, String, String)>,
        limit: u32,
    ) -> Result<Vec<BacklogItem>> {
        let d = self.dialect;
        let sql = format!(
            "SELECT r.plugin, r.kind, r.name, r.asset_uid, r.source_id, r.content_digest, r.revision_id, \
             {} AS record, {} AS provenance, {} AS refs, g.current_content_digest, g.current_revision_id, \
             CASE WHEN g.asset_uid IS NULL THEN 0 ELSE 1 END AS has_overlay \
             FROM catalog_records r LEFT JOIN asset_governance g ON g.plugin = r.plugin AND g.kind = r.kind AND g.name = r.name \
             WHERE r.is_effective = TRUE {after} AND (g.asset_uid IS NULL OR g.current_content_digest IS NULL \
               OR g.current_content_digest <> r.content_digest) \
             ORDER BY r.plugin, r.kind, r.name LIMIT {limit}",
            d.json_out("r.record"),
            d.json_out("r.provenance"),
            d.json_out("r.refs"),
            after = if after.is_some() {
                // A row value, so both engines range-scan the primary key
                // from the last key instead of filtering from the start.
                "AND (r.plugin, r.kind, r.name) > ($1, $2, $3)"
            } else {
                ""
            },
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        if let Some((p, k, n)) = after {
            query = query.bind(p.clone()).bind(k.clone()).bind(n.clone());
        }
        let rows = query.fetch_all(conn).await.map_err(Error::storage)?;
        rows.iter()
            .map(|r| {
                Ok(BacklogItem {
                    plugin: text(r, "plugin")?,
                    kind: text(r, "kind")?,
                    name: text(r, "name")?,
                    asset_uid: text(r, "asset_uid")?,
                    source_id: text(r, "source_id")?,
                    content_digest: text(r, "content_digest")?,
                    revision_id: text(r, "revision_id")?,
                    record: json(r, "record")?,
                    provenance: json(r, "provenance")?,
                    refs: json(r, "refs")?,
                    overlay_digest: opt(r, "current_content_digest")?,
                    overlay_revision: opt(r, "current_revision_id")?,
                    has_overlay: int(r, "has_overlay")? == 1,
                })
            })
            .collect()
    }

    /// Lifecycle state of each existing effective key among `keys`
    /// (plugin, kind, name); a key absent from the answer does not exist.
    pub async fn reference_states(
        &self,
        conn: &mut AnyConnection,
        keys: &[(String, String, String)],
    ) -> Result<BTreeMap<(String, String, String), State>> {
        let mut out = BTreeMap::new();
        for chunk in keys.chunks(100) {
            let tuples: Vec<String> = (0..chunk.len())
                .map(|i| {
                    format!(
                        "(r.plugin = ${} AND r.kind = ${} AND r.name = ${})",
                        i * 3 + 1,
                        i * 3 + 2,
                        i * 3 + 3
                    )
                })
                .collect();
            let sql = format!(
                "SELECT r.plugin, r.kind, r.name, {} AS state FROM catalog_records r \
                 LEFT JOIN asset_governance g ON g.plugin = r.plugin AND g.kind = r.kind AND g.name = r.name \
                 WHERE r.is_effective = TRUE AND ({})",
                self.lifecycle_sql("r", "g"),
                tuples.join(" OR ")
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for (p, k, n) in chunk {
                query = query.bind(p.clone()).bind(k.clone()).bind(n.clone());
            }
            for row in query.fetch_all(&mut *conn).await.map_err(Error::storage)? {
                out.insert(
                    (
                        text(&row, "plugin")?,
                        text(&row, "kind")?,
                        text(&row, "name")?,
                    ),
                    state(&text(&row, "state")?)?,
                );
            }
        }
        Ok(out)
    }

    /// The live record of a key, if any: (record, digest, revision,
    /// provenance, refs, source id, validation errors).
    pub async fn live_record(
        &self,
        conn: &mut AnyConnection,
        plugin: &str,
        kind: &str,
        name: &str,
    ) -> Result<Option<BacklogItem>> {
        let d = self.dialect;
        let sql = format!(
            "SELECT r.plugin, r.kind, r.name, r.asset_uid, r.source_id, r.content_digest, r.revision_id, \
             {} AS record, {} AS provenance, {} AS refs FROM catalog_records r \
             WHERE r.plugin = $1 AND r.kind = $2 AND r.name = $3 AND r.is_effective = TRUE",
            d.json_out("r.record"),
            d.json_out("r.provenance"),
            d.json_out("r.refs"),
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(plugin)
            .bind(kind)
            .bind(name)
            .fetch_optional(conn)
            .await
            .map_err(Error::storage)?;
        row.map(|r| {
            Ok(BacklogItem {
                plugin: text(&r, "plugin")?,
                kind: text(&r, "kind")?,
                name: text(&r, "name")?,
                asset_uid: text(&r, "asset_uid")?,
                source_id: text(&r, "source_id")?,
                content_digest: text(&r, "content_digest")?,
                revision_id: text(&r, "revision_id")?,
                record: json(&r, "record")?,
                provenance: json(&r, "provenance")?,
                refs: json(&r, "refs")?,
                overlay_digest: None,
                overlay_revision: None,
                has_overlay: false,
            })
        })
        .transpose()
    }

    /// Lists overlays with governance filters, ordered by (plugin, kind, name).
    pub async fn list_overlays(
        &self,
        conn: &mut AnyConnection,
        filter: &OverlayFilter,
    ) -> Result<Vec<OverlayRow>> {
        let mut conds: Vec<String> = Vec::new();
        let mut binds: Vec<String> = Vec::new();
        let push = |binds: &mut Vec<String>, value: &str| {
            binds.push(value.to_string());
            format!("${}", binds.len())
        };
        if !filter.plugins.is_empty() {
            let marks: Vec<String> = filter.plugins.iter().map(|p| push(&mut binds, p)).collect();
            conds.push(format!("plugin IN ({})", marks.join(",")));
        }
        if let Some(kind) = &filter.kind {
            conds.push(format!("kind = {}", push(&mut binds, kind)));
        }
        if !filter.states.is_empty() {
            let marks: Vec<String> = filter
                .states
                .iter()
                .map(|s| push(&mut binds, s.as_str()))
                .collect();
            conds.push(format!("lifecycle_state IN ({})", marks.join(",")));
        } else if !filter.include_archived {
            conds.push("lifecycle_state <> 'archived'".into());
        }
        if !filter.risk_levels.is_empty() {
            let marks: Vec<String> = filter
                .risk_levels
                .iter()
                .map(|r| push(&mut binds, r))
                .collect();
            conds.push(format!("risk_level IN ({})", marks.join(",")));
        }
        for tag in &filter.compliance_tags {
            let mark = push(&mut binds, tag);
            conds.push(format!(
                "asset_uid IN (SELECT asset_uid FROM asset_compliance_tags WHERE tag = {mark})"
            ));
        }
        if let Some(owner) = &filter.owner {
            conds.push(format!("owner_principal = {}", push(&mut binds, owner)));
        }
        if let Some(team) = &filter.team {
            conds.push(format!("team_name = {}", push(&mut binds, team)));
        }
        if let Some((p, k, n)) = &filter.after {
            let (a, b, c) = (
                push(&mut binds, p),
                push(&mut binds, k),
                push(&mut binds, n),
            );
            conds.push(format!(
                "(plugin > {a} OR (plugin = {a} AND (kind > {b} OR (kind = {b} AND name > {c}))))"
            ));
        }
        let sql = format!(
            "SELECT {OVERLAY_COLUMNS} FROM asset_governance {} ORDER BY plugin, kind, name LIMIT {}",
            if conds.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", conds.join(" AND "))
            },
            filter.limit
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for value in binds {
            query = query.bind(value);
        }
        let rows = query.fetch_all(conn).await.map_err(Error::storage)?;
        rows.iter().map(overlay_row).collect()
    }

    /// Uids among `uids` that match the governance filters of a list (for
    /// ListAssets); `None` filters mean "no governance condition".
    pub async fn uids_matching(
        &self,
        conn: &mut AnyConnection,
        filter: &OverlayFilter,
    ) -> Result<std::collections::HashSet<String>> {
        let mut all = std::collections::HashSet::new();
        let mut page = filter.clone();
        page.limit = 5000;
        loop {
            let rows = self.list_overlays(conn, &page).await?;
            let last = rows
                .last()
                .map(|r| (r.plugin.clone(), r.kind.clone(), r.name.clone()));
            let done = rows.len() < page.limit as usize;
            all.extend(rows.into_iter().map(|r| r.asset_uid));
            match last {
                Some(key) if !done => page.after = Some(key),
                _ => break,
            }
        }
        Ok(all)
    }

    /// Lifecycle states of the given keys (plugin, kind, name).
    pub async fn lifecycle_states(
        &self,
        conn: &mut AnyConnection,
        uids: &[String],
    ) -> Result<BTreeMap<String, State>> {
        let mut out = BTreeMap::new();
        for chunk in uids.chunks(200) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT asset_uid, lifecycle_state FROM asset_governance WHERE asset_uid IN ({})",
                marks.join(",")
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for uid in chunk {
                query = query.bind(uid.clone());
            }
            for row in query.fetch_all(&mut *conn).await.map_err(Error::storage)? {
                out.insert(
                    text(&row, "asset_uid")?,
                    state(&text(&row, "lifecycle_state")?)?,
                );
            }
        }
        Ok(out)
    }

    // ----- versions ------------------------------------------------------

    /// Inserts a version.
    pub async fn insert_version(&self, conn: &mut AnyConnection, v: &VersionRow) -> Result<()> {
        let sql = self.sql(
            "INSERT INTO asset_versions (version_id, asset_uid, plugin, kind, name, version_label, sequence, trigger, record, \
             governance_snapshot, references_snapshot, content_digest, source_id, source_revision_ref, provenance, \
             lifecycle_state, lifecycle_reason, lifecycle_changed_by, lifecycle_changed_at, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::json, $10::json, $11::json, $12, $13, $14, $15::json, $16, $17, $18, $19, $20, $21)",
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(&v.version_id)
            .bind(&v.asset_uid)
            .bind(&v.plugin)
            .bind(&v.kind)
            .bind(&v.name)
            .bind(&v.label)
            .bind(v.sequence)
            .bind(&v.trigger)
            .bind(v.record.to_string())
            .bind(v.governance_snapshot.to_string())
            .bind(v.references.to_string())
            .bind(&v.content_digest)
            .bind(v.source_id.clone())
            .bind(v.source_revision_ref.clone())
            .bind(v.provenance.to_string())
            .bind(v.lifecycle.state.as_str())
            .bind(v.lifecycle.reason.clone())
            .bind(v.lifecycle.changed_by.clone())
            .bind(v.lifecycle.changed_at.clone())
            .bind(&v.created_at)
            .bind(&v.created_by)
            .execute(conn)
            .await
            .map_err(|e| unique_violation(e, "version"))?;
        Ok(())
    }

    /// Labels in use for an asset with their digests, and the next sequence.
    pub async fn version_labels(
        &self,
        conn: &mut AnyConnection,
        asset_uid: &str,
    ) -> Result<(BTreeMap<String, String>, i64)> {
        let rows = sqlx::query(
            "SELECT version_label, content_digest, sequence FROM asset_versions WHERE asset_uid = $1",
        )
        .bind(asset_uid)
        .fetch_all(conn)
        .await
        .map_err(Error::storage)?;
        let mut labels = BTreeMap::new();
        let mut next = 1;
        for row in &rows {
            labels.insert(text(row, "version_label")?, text(row, "content_digest")?);
            next = next.max(int(row, "sequence")? + 1);
        }
        Ok((labels, next))
    }

    /// One version of an asset by id or label.
    pub async fn version(
        &self,
        conn: &mut AnyConnection,
        asset_uid: &str,
        id_or_label: &str,
        lock: bool,
    ) -> Result<Option<VersionRow>> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM asset_versions WHERE asset_uid = $1 AND (version_id = $2 OR version_label = $3) \
             ORDER BY CASE WHEN version_id = $4 THEN 0 ELSE 1 END LIMIT 1{}",
            if lock { self.for_update() } else { "" }
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(asset_uid)
            .bind(id_or_label)
            .bind(id_or_label)
            .bind(id_or_label)
            .fetch_optional(conn)
            .await
            .map_err(Error::storage)?;
        row.as_ref().map(version_row).transpose()
    }

    /// The version with the highest sequence, optionally only approved ones.
    pub async fn latest_version(
        &self,
        conn: &mut AnyConnection,
        asset_uid: &str,
        approved_only: bool,
    ) -> Result<Option<VersionRow>> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM asset_versions WHERE asset_uid = $1{} ORDER BY sequence DESC LIMIT 1",
            if approved_only {
                " AND lifecycle_state = 'approved'"
            } else {
                ""
            }
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(asset_uid)
            .fetch_optional(conn)
            .await
            .map_err(Error::storage)?;
        row.as_ref().map(version_row).transpose()
    }

    /// Versions of an asset, ordered by `order` (sequence, created_at or
    /// version_label, ties by sequence), after the keyset position.
    #[allow(clippy::too_many_arguments)]
    pub async fn list_versions(
        &self,
        conn: &mut AnyConnection,
        asset_uid: &str,
        states: &[State],
        label: Option<&str>,
        trigger: Option<&str>,
        order: &str,
        descending: bool,
        after: Option<(String, i64)>,
        limit: u32,
    ) -> Result<Vec<VersionRow>> {
        let column = match order {
            "createdAt" => "created_at",
            "version" => "version_label",
            _ => "sequence",
        };
        let (cmp, dir) = if descending {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };
        let mut conds = vec!["asset_uid = $1".to_string()];
        let mut binds: Vec<String> = vec![asset_uid.to_string()];
        let mark = |binds: &mut Vec<String>, v: String| {
            binds.push(v);
            format!("${}", binds.len())
        };
        if !states.is_empty() {
            let marks: Vec<String> = states
                .iter()
                .map(|s| mark(&mut binds, s.as_str().into()))
                .collect();
            conds.push(format!("lifecycle_state IN ({})", marks.join(",")));
        }
        if let Some(label) = label {
            conds.push(format!(
                "version_label = {}",
                mark(&mut binds, label.into())
            ));
        }
        if let Some(trigger) = trigger {
            conds.push(format!("trigger = {}", mark(&mut binds, trigger.into())));
        }
        let mut seq_bind = None;
        if let Some((value, seq)) = after {
            if column == "sequence" {
                seq_bind = Some(seq);
                conds.push(format!("sequence {cmp} ${}", binds.len() + 1));
            } else {
                let v = mark(&mut binds, value);
                conds.push(format!(
                    "({column} {cmp} {v} OR ({column} = {v} AND sequence {cmp} ${}))",
                    binds.len() + 1
                ));
                seq_bind = Some(seq);
            }
        }
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM asset_versions WHERE {} ORDER BY {column} {dir}, sequence {dir} LIMIT {limit}",
            conds.join(" AND ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for value in binds {
            query = query.bind(value);
        }
        if let Some(seq) = seq_bind {
            query = query.bind(seq);
        }
        let rows = query.fetch_all(conn).await.map_err(Error::storage)?;
        rows.iter().map(version_row).collect()
    }

    /// Sets a version's lifecycle.
    pub async fn update_version_lifecycle(
        &self,
        conn: &mut AnyConnection,
        version_id: &str,
        lifecycle: &LifecycleRow,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE asset_versions SET lifecycle_state = $1, lifecycle_reason = $2, lifecycle_changed_by = $3, \
             lifecycle_changed_at = $4, lifecycle_previous_state = $5, lifecycle_approval_request_id = $6 WHERE version_id = $7",
        )
        .bind(lifecycle.state.as_str())
        .bind(lifecycle.reason.clone())
        .bind(lifecycle.changed_by.clone())
        .bind(lifecycle.changed_at.clone())
        .bind(lifecycle.previous_state.map(|s| s.as_str()))
        .bind(lifecycle.approval_request_id.clone())
        .bind(version_id)
        .execute(conn)
        .await
        .map_err(Error::storage)?;
        Ok(())
    }

    /// Aliases of an asset: alias -> version id.
    pub async fn aliases(
        &self,
        conn: &mut AnyConnection,
        asset_uid: &str,
    ) -> Result<BTreeMap<String, String>> {
        let rows =
            sqlx::query("SELECT alias, version_id FROM version_aliases WHERE asset_uid = $1")
                .bind(asset_uid)
                .fetch_all(conn)
                .await
                .map_err(Error::storage)?;
        rows.iter()
            .map(|r| Ok((text(r, "alias")?, text(r, "version_id")?)))
            .collect()
    }

    // ----- bindings ------------------------------------------------------

    /// Bindings of an asset, by environment.
    pub async fn bindings(
        &self,
        conn: &mut AnyConnection,
        plugin: &str,
        kind: &str,
        name: &str,
        lock: bool,
    ) -> Result<BTreeMap<String, BindingRow>> {
        let sql = format!(
            "SELECT {BINDING_COLUMNS} FROM env_bindings WHERE plugin = $1 AND kind = $2 AND name = $3{}",
            if lock { self.for_update() } else { "" }
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(plugin)
            .bind(kind)
            .bind(name)
            .fetch_all(conn)
            .await
            .map_err(Error::storage)?;
        rows.iter()
            .map(|r| {
                let b = binding_row(r)?;
                Ok((b.environment.clone(), b))
            })
            .collect()
    }

    /// Sets (inserts or replaces) a binding.
    pub async fn upsert_binding(
        &self,
        conn: &mut AnyConnection,
        plugin: &str,
        kind: &str,
        name: &str,
        b: &BindingRow,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO env_bindings (plugin, kind, name, environment, asset_uid, version_id, previous_version_id, bound_at, \
             bound_by, reason, approval_request_id, resource_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1) \
             ON CONFLICT (plugin, kind, name, environment) DO UPDATE SET version_id = excluded.version_id, \
             previous_version_id = excluded.previous_version_id, bound_at = excluded.bound_at, bound_by = excluded.bound_by, \
             reason = excluded.reason, approval_request_id = excluded.approval_request_id, \
             resource_version = env_bindings.resource_version + 1",
        )
        .bind(plugin)
        .bind(kind)
        .bind(name)
        .bind(&b.environment)
        .bind(&b.asset_uid)
        .bind(&b.version_id)
        .bind(b.previous_version_id.clone())
        .bind(&b.bound_at)
        .bind(&b.bound_by)
        .bind(b.reason.clone())
        .bind(b.approval_request_id.clone())
        .execute(conn)
        .await
        .map_err(Error::storage)?;
        Ok(())
    }

    /// Removes a binding.
    pub async fn delete_binding(
        &self,
        conn: &mut AnyConnection,
        plugin: &str,
        kind: &str,
        name: &str,
        environment: &str,
    ) -> Result<()> {
        sqlx::query("DELETE FROM env_bindings WHERE plugin = $1 AND kind = $2 AND name = $3 AND environment = $4")
            .bind(plugin)
            .bind(kind)
            .bind(name)
            .bind(environment)
            .execute(conn)
            .await
            .map_err(Error::storage)?;
        Ok(())
    }

    /// Appends to the binding history.
    #[allow(clippy::too_many_arguments)]
    pub async fn append_binding_history(
        &self,
        conn: &mut AnyConnection,
        asset: (&str, &str, &str, &str),
        environment: &str,
        version_id: Option<&str>,
        previous_version_id: Option<&str>,
        action: &str,
        actor: &str,
        at: &str,
        audit_event_id: &str,
    ) -> Result<()> {
        let (uid, plugin, kind, name) = asset;
        sqlx::query(
            "INSERT INTO env_binding_history (id, asset_uid, plugin, kind, name, environment, version_id, previous_version_id, \
             action, actor, at, audit_event_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(uid)
        .bind(plugin)
        .bind(kind)
        .bind(name)
        .bind(environment)
        .bind(version_id)
        .bind(previous_version_id)
        .bind(action)
        .bind(actor)
        .bind(at)
        .bind(audit_event_id)
        .execute(conn)
        .await
        .map_err(Error::storage)?;
        Ok(())
    }

    /// Approved assets whose effective record links to (plugin, kind,
    /// name), itself excepted, sorted.
    pub async fn approved_dependents(
        &self,
        conn: &mut AnyConnection,
        plugin: &str,
        kind: &str,
        name: &str,
    ) -> Result<Vec<(String, String, String)>> {
        let rows = sqlx::query(
            "SELECT DISTINCT l.from_plugin, l.from_kind, l.from_name FROM catalog_links l \
             JOIN catalog_records f ON f.plugin = l.from_plugin AND f.kind = l.from_kind AND f.name = l.from_name \
               AND f.source_id = l.source_id AND f.is_effective = TRUE \
             JOIN asset_governance g ON g.plugin = l.from_plugin AND g.kind = l.from_kind AND g.name = l.from_name \
             WHERE l.target_plugin = $1 AND l.target_kind = $2 AND l.target_name = $3 AND g.lifecycle_state = 'approved' \
               AND NOT (l.from_plugin = $1 AND l.from_kind = $2 AND l.from_name = $3) \
             ORDER BY l.from_plugin, l.from_kind, l.from_name",
        )
        .bind(plugin)
        .bind(kind)
        .bind(name)
        .fetch_all(conn)
        .await
        .map_err(Error::storage)?;
        rows.iter()
            .map(|r| {
                Ok((
                    text(r, "from_plugin")?,
                    text(r, "from_kind")?,
                    text(r, "from_name")?,
                ))
            })
            .collect()
    }

    /// Whether a version was ever bound to an environment.
    pub async fn was_bound(
        &self,
        conn: &mut AnyConnection,
        asset_uid: &str,
        environment: &str,
        version_id: &str,
    ) -> Result<bool> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM env_binding_history WHERE asset_uid = $1 AND environment = $2 AND version_id = $3",
        )
        .bind(asset_uid)
        .bind(environment)
        .bind(version_id)
        .fetch_one(conn)
        .await
        .map_err(Error::storage)?;
        Ok(int(&row, "n")? > 0)
    }

    // ----- approvals -----------------------------------------------------

    /// Inserts a pending request, or returns the identical pending one.
    pub async fn insert_approval(
        &self,
        conn: &mut AnyConnection,
        a: &ApprovalRow,
    ) -> Result<(ApprovalRow, bool)> {
        let sql = self.sql(
            "INSERT INTO approval_requests (request_id, asset_uid, plugin, kind, name, version_id, action, params, dedupe_key, \
             status, reason, requirements, deny_on_first_reject, policy_rule, requested_by, requested_by_roles, created_at, \
             updated_at, expires_at, correlation_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::json, $9, 'pending', $10, $11::json, \
             $12, $13, $14, $15::json, $16, $17, $18, $19) ON CONFLICT DO NOTHING",
        );
        let done = sqlx::query(AssertSqlSafe(sql))
            .bind(&a.request_id)
            .bind(&a.asset_uid)
            .bind(&a.plugin)
            .bind(&a.kind)
            .bind(&a.name)
            .bind(a.version_id.clone())
            .bind(&a.action)
            .bind(a.params.to_string())
            .bind(&a.dedupe_key)
            .bind(a.reason.clone())
            .bind(a.requirements.to_string())
            .bind(i64::from(a.deny_on_first_reject))
            .bind(a.policy_rule.clone())
            .bind(&a.requested_by)
            .bind(serde_json::to_string(&a.requested_by_roles).map_err(Error::internal)?)
            .bind(&a.created_at)
            .bind(&a.updated_at)
            .bind(&a.expires_at)
            .bind(&a.correlation_id)
            .execute(&mut *conn)
            .await
            .map_err(Error::storage)?;
        let created = done.rows_affected() == 1;
        let sql = format!(
            "SELECT {APPROVAL_COLUMNS} FROM approval_requests WHERE {}",
            if created {
                "request_id = $1"
            } else {
                "dedupe_key = $1 AND status = 'pending'"
            }
        );
        let key = if created {
            &a.request_id
        } else {
            &a.dedupe_key
        };
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(key)
            .fetch_one(conn)
            .await
            .map_err(Error::storage)?;
        Ok((approval_row(&row)?, created))
    }

    /// One request; locked for the transaction when `lock`.
    pub async fn approval(
        &self,
        conn: &mut AnyConnection,
        request_id: &str,
        lock: bool,
    ) -> Result<Option<ApprovalRow>> {
        let sql = format!(
            "SELECT {APPROVAL_COLUMNS} FROM approval_requests WHERE request_id = $1{}",
            if lock { self.for_update() } else { "" }
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(request_id)
            .fetch_optional(conn)
            .await
            .map_err(Error::storage)?;
        row.as_ref().map(approval_row).transpose()
    }

    /// Moves a pending request to a terminal status; false when it was no
    /// longer pending (someone else resolved it).
    pub async fn resolve_approval(
        &self,
        conn: &mut AnyConnection,
        request_id: &str,
        status: &str,
        by: &str,
        at: &str,
        cancel_reason: Option<&str>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE approval_requests SET status = $1, resolved_by = $2, resolved_at = $3, updated_at = $4, cancel_reason = $5 \
             WHERE request_id = $6 AND status = 'pending'",
        )
        .bind(status)
        .bind(by)
        .bind(at)
        .bind(at)
        .bind(cancel_reason)
        .bind(request_id)
        .execute(conn)
        .await
        .map_err(Error::storage)?;
        Ok(done.rows_affected() == 1)
    }

    /// Records how the approved action ran.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_execution(
        &self,
        conn: &mut AnyConnection,
        request_id: &str,
        status: &str,
        result: Option<&Value>,
        error: Option<&Value>,
        at: &str,
        audit_event_id: &str,
    ) -> Result<()> {
        let sql = self.sql(
            "UPDATE approval_requests SET execution_status = $1, execution_result = $2::json, execution_error = $3::json, \
             executed_at = $4, execution_audit_event_id = $5, updated_at = $6 WHERE request_id = $7",
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(status)
            .bind(result.map(Value::to_string))
            .bind(error.map(Value::to_string))
            .bind(at)
            .bind(audit_event_id)
            .bind(at)
            .bind(request_id)
            .execute(conn)
            .await
            .map_err(Error::storage)?;
        Ok(())
    }

    /// Touches a request's update time.
    pub async fn touch_approval(
        &self,
        conn: &mut AnyConnection,
        request_id: &str,
        at: &str,
    ) -> Result<()> {
        sqlx::query("UPDATE approval_requests SET updated_at = $1 WHERE request_id = $2")
            .bind(at)
            .bind(request_id)
            .execute(conn)
            .await
            .map_err(Error::storage)?;
        Ok(())
    }

    /// Inserts a decision.
    pub async fn insert_decision(&self, conn: &mut AnyConnection, d: &DecisionRow) -> Result<()> {
        let sql = self.sql(
            "INSERT INTO approval_decisions (decision_id, request_id, approver, approver_roles, decision, comment, \
             counted_requirements, decided_at, correlation_id) VALUES ($1, $2, $3, $4::json, $5, $6, $7::json, $8, $9)",
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(&d.decision_id)
            .bind(&d.request_id)
            .bind(&d.approver)
            .bind(serde_json::to_string(&d.approver_roles).map_err(Error::internal)?)
            .bind(&d.decision)
            .bind(d.comment.clone())
            .bind(serde_json::to_string(&d.counted_requirements).map_err(Error::internal)?)
            .bind(&d.decided_at)
            .bind(&d.correlation_id)
            .execute(conn)
            .await
            .map_err(|e| unique_violation(e, "decision"))?;
        Ok(())
    }

    /// Decisions of a request, oldest first.
    pub async fn decisions(
        &self,
        conn: &mut AnyConnection,
        request_id: &str,
    ) -> Result<Vec<DecisionRow>> {
        let sql = format!(
            "SELECT {DECISION_COLUMNS} FROM approval_decisions WHERE request_id = $1 ORDER BY decided_at, decision_id"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(request_id)
            .fetch_all(conn)
            .await
            .map_err(Error::storage)?;
        rows.iter().map(decision_row).collect()
    }

    /// Requests matching a filter, newest first.
    pub async fn list_approvals(
        &self,
        conn: &mut AnyConnection,
        f: &ApprovalFilter,
    ) -> Result<Vec<ApprovalRow>> {
        let mut conds: Vec<String> = Vec::new();
        let mut binds: Vec<String> = Vec::new();
        let mark = |binds: &mut Vec<String>, v: &str| {
            binds.push(v.to_string());
            format!("${}", binds.len())
        };
        if !f.statuses.is_empty() {
            let marks: Vec<String> = f.statuses.iter().map(|s| mark(&mut binds, s)).collect();
            conds.push(format!("status IN ({})", marks.join(",")));
        }
        for (column, value) in [
            ("plugin", &f.plugin),
            ("kind", &f.kind),
            ("name", &f.name),
            ("action", &f.action),
            ("requested_by", &f.requested_by),
        ] {
            if let Some(v) = value {
                conds.push(format!("{column} = {}", mark(&mut binds, v)));
            }
        }
        if let Some(v) = &f.not_requested_by {
            conds.push(format!("requested_by <> {}", mark(&mut binds, v)));
        }
        if let Some(v) = &f.created_after {
            conds.push(format!("created_at >= {}", mark(&mut binds, v)));
        }
        if let Some(v) = &f.created_before {
            conds.push(format!("created_at < {}", mark(&mut binds, v)));
        }
        if let Some((at, id)) = &f.before {
            let (a, b) = (mark(&mut binds, at), mark(&mut binds, id));
            conds.push(format!(
                "(created_at < {a} OR (created_at = {a} AND request_id < {b}))"
            ));
        }
        let sql = format!(
            "SELECT {APPROVAL_COLUMNS} FROM approval_requests {} ORDER BY created_at DESC, request_id DESC LIMIT {}",
            where_clause(&conds),
            f.limit
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for value in binds {
            query = query.bind(value);
        }
        let rows = query.fetch_all(conn).await.map_err(Error::storage)?;
        rows.iter().map(approval_row).collect()
    }

    /// Pending requests past their expiry.
    pub async fn overdue_approvals(
        &self,
        conn: &mut AnyConnection,
        now: &str,
    ) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT request_id FROM approval_requests WHERE status = 'pending' AND expires_at <= $1")
            .bind(now)
            .fetch_all(conn)
            .await
            .map_err(Error::storage)?;
        rows.iter().map(|r| text(r, "request_id")).collect()
    }

    /// Pending requests about an asset (or one of its versions): request id
    /// and the action each holds.
    pub async fn pending_approvals_of(
        &self,
        conn: &mut AnyConnection,
        asset_uid: &str,
        version_id: Option<&str>,
    ) -> Result<Vec<(String, String)>> {
        let rows = match version_id {
            Some(v) => sqlx::query(
                "SELECT request_id, action FROM approval_requests WHERE asset_uid = $1 AND version_id = $2 AND status = 'pending'",
            )
            .bind(asset_uid)
            .bind(v)
            .fetch_all(conn)
            .await,
            None => sqlx::query("SELECT request_id, action FROM approval_requests WHERE asset_uid = $1 AND status = 'pending'")
                .bind(asset_uid)
                .fetch_all(conn)
                .await,
        }
        .map_err(Error::storage)?;
        rows.iter()
            .map(|r| Ok((text(r, "request_id")?, text(r, "action")?)))
            .collect()
    }

    /// Pending request count per asset uid.
    pub async fn pending_count(&self, conn: &mut AnyConnection, asset_uid: &str) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM approval_requests WHERE asset_uid = $1 AND status = 'pending'")
            .bind(asset_uid)
            .fetch_one(conn)
            .await
            .map_err(Error::storage)?;
        int(&row, "n")
    }

    /// Pending requests in the whole catalog (for metrics).
    pub async fn pending_total(&self) -> Result<i64> {
        let row =
            sqlx::query("SELECT COUNT(*) AS n FROM approval_requests WHERE status = 'pending'")
                .fetch_one(&self.pool)
                .await
                .map_err(Error::storage)?;
        int(&row, "n")
    }

    /// Pending requests in the whole catalog by plugin and action (for
    /// metrics), in that order; pairs with none pending are absent.
    pub async fn pending_by_action(&self) -> Result<Vec<(String, String, i64)>> {
        let rows = sqlx::query(
            "SELECT plugin, action, COUNT(*) AS n FROM approval_requests WHERE status = 'pending' \
             GROUP BY plugin, action ORDER BY plugin, action",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(Error::storage)?;
        rows.iter()
            .map(|r| Ok((text(r, "plugin")?, text(r, "action")?, int(r, "n")?)))
            .collect()
    }

    // ----- audit ---------------------------------------------------------

    /// Appends events to the chain, in order, under the chain-head lock,
    /// and fills in their sequence and hashes.
    pub async fn append_audit(
        &self,
        conn: &mut AnyConnection,
        events: &mut [AuditEvent],
    ) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let head = format!(
            "SELECT sequence, hash FROM audit_chain_head WHERE id = 1{}",
            self.for_update()
        );
        let row = sqlx::query(AssertSqlSafe(head))
            .fetch_one(&mut *conn)
            .await
            .map_err(Error::storage)?;
        let (mut sequence, mut hash) = (int(&row, "sequence")?, text(&row, "hash")?);
        for event in events.iter_mut() {
            sequence += 1;
            event.chain(sequence, &hash);
            hash = event.hash.clone();
        }
        const COLUMNS: usize = 24;
        let d = self.dialect;
        for chunk in events.chunks(BATCH) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let marks: Vec<String> = (1..=COLUMNS)
                        .map(|c| {
                            let n = i * COLUMNS + c;
                            if matches!(c, 4 | 15 | 17 | 21) {
                                d.json_seq(n)
                            } else {
                                d.seq(n)
                            }
                        })
                        .collect();
                    format!("({})", marks.join(", "))
                })
                .collect();
            let sql = format!(
                "INSERT INTO audit_events (event_id, occurred_at, actor, actor_roles, action, asset_uid, plugin, kind, name, \
                 version_id, environment, outcome, reason, reason_code, diff, approval_request_id, approvals, policy_rule, \
                 correlation_id, action_run_id, details, sequence, prev_hash, hash) VALUES {}",
                values.join(", ")
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for event in chunk {
                query = query
                    .bind(event.event_id.clone())
                    .bind(crate::domain::audit::micros(event.occurred_at))
                    .bind(event.actor.clone())
                    .bind(serde_json::to_string(&event.actor_roles).map_err(Error::internal)?)
                    .bind(event.action.clone())
                    .bind(none_if_empty(&event.asset_uid).map(str::to_string))
                    .bind(none_if_empty(&event.plugin).map(str::to_string))
                    .bind(none_if_empty(&event.kind).map(str::to_string))
                    .bind(none_if_empty(&event.name).map(str::to_string))
                    .bind(none_if_empty(&event.version_id).map(str::to_string))
                    .bind(none_if_empty(&event.environment).map(str::to_string))
                    .bind(event.outcome.as_str())
                    .bind(none_if_empty(&event.reason).map(str::to_string))
                    .bind(none_if_empty(&event.reason_code).map(str::to_string))
                    .bind(event.diff.to_string())
                    .bind(none_if_empty(&event.approval_request_id).map(str::to_string))
                    .bind((!event.approvals.is_null()).then(|| event.approvals.to_string()))
                    .bind(none_if_empty(&event.policy_rule).map(str::to_string))
                    .bind(event.correlation_id.clone())
                    .bind(none_if_empty(&event.action_run_id).map(str::to_string))
                    .bind(event.details.to_string())
                    .bind(event.sequence)
                    .bind(event.prev_hash.clone())
                    .bind(event.hash.clone());
            }
            query.execute(&mut *conn).await.map_err(Error::storage)?;
        }
        sqlx::query("UPDATE audit_chain_head SET sequence = $1, hash = $2 WHERE id = 1")
            .bind(sequence)
            .bind(&hash)
            .execute(conn)
            .await
            .map_err(Error::storage)?;
        Ok(())
    }

    /// One event.
    pub async fn audit_event(
        &self,
        conn: &mut AnyConnection,
        event_id: &str,
    ) -> Result<Option<AuditEvent>> {
        let sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_events WHERE event_id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(event_id)
            .fetch_optional(conn)
            .await
            .map_err(Error::storage)?;
        row.as_ref().map(audit_row).transpose()
    }

    /// Events matching a filter, newest first.
    pub async fn list_audit(
        &self,
        conn: &mut AnyConnection,
        f: &AuditFilter,
    ) -> Result<Vec<AuditEvent>> {
        let mut conds: Vec<String> = Vec::new();
        let mut binds: Vec<String> = Vec::new();
        let mark = |binds: &mut Vec<String>, v: &str| {
            binds.push(v.to_string());
            format!("${}", binds.len())
        };
        for (column, value) in [
            ("asset_uid", &f.asset_uid),
            ("plugin", &f.plugin),
            ("kind", &f.kind),
            ("name", &f.name),
            ("actor", &f.actor),
            ("outcome", &f.outcome),
            ("correlation_id", &f.correlation_id),
            ("approval_request_id", &f.approval_request_id),
            ("version_id", &f.version_id),
        ] {
            if let Some(v) = value {
                conds.push(format!("{column} = {}", mark(&mut binds, v)));
            }
        }
        if !f.actions.is_empty() {
            let parts: Vec<String> = f
                .actions
                .iter()
                .map(|a| {
                    if a.contains('*') {
                        let pattern = a.replace('%', "\\%").replace('_', "\\_").replace('*', "%");
                        format!("action LIKE {} ESCAPE '\\'", mark(&mut binds, &pattern))
                    } else {
                        format!("action = {}", mark(&mut binds, a))
                    }
                })
                .collect();
            conds.push(format!("({})", parts.join(" OR ")));
        }
        if let Some(v) = &f.since {
            conds.push(format!("occurred_at >= {}", mark(&mut binds, v)));
        }
        if let Some(v) = &f.until {
            conds.push(format!("occurred_at < {}", mark(&mut binds, v)));
        }
        if let Some((at, id)) = &f.before {
            let (a, b) = (mark(&mut binds, at), mark(&mut binds, id));
            conds.push(format!(
                "(occurred_at < {a} OR (occurred_at = {a} AND event_id < {b}))"
            ));
        }
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_events {} ORDER BY occurred_at DESC, event_id DESC LIMIT {}",
            where_clause(&conds),
            f.limit
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for value in binds {
            query = query.bind(value);
        }
        let rows = query.fetch_all(conn).await.map_err(Error::storage)?;
        rows.iter().map(audit_row).collect()
    }

    /// Events in chain order from `from_sequence`, at most `limit`, with the
    /// hash of the event just before the first one (or the genesis hash).
    pub async fn audit_chain_page(
        &self,
        conn: &mut AnyConnection,
        from_sequence: i64,
        limit: u32,
    ) -> Result<(Vec<AuditEvent>, Option<String>)> {
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE sequence >= $1 ORDER BY sequence LIMIT {limit}"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(from_sequence)
            .fetch_all(&mut *conn)
            .await
            .map_err(Error::storage)?;
        let events: Vec<AuditEvent> = rows.iter().map(audit_row).collect::<Result<_>>()?;
        let before = match events.first() {
            Some(first) if first.sequence > 1 => {
                sqlx::query("SELECT hash FROM audit_events WHERE sequence = $1")
                    .bind(first.sequence - 1)
                    .fetch_optional(conn)
                    .await
                    .map_err(Error::storage)?
                    .map(|r| text(&r, "hash"))
                    .transpose()?
            }
            Some(_) => Some(GENESIS_HASH.to_string()),
            None => None,
        };
        Ok((events, before))
    }

    /// Lowest retained sequence.
    pub async fn audit_first_sequence(&self, conn: &mut AnyConnection) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT MIN(sequence) AS s FROM audit_events")
            .fetch_one(conn)
            .await
            .map_err(Error::storage)?;
        row.try_get::<Option<i64>, _>("s").map_err(Error::storage)
    }
}

/// Governance fields copied into indexed columns.
struct IndexedFields {
    owner: Option<String>,
    team: Option<String>,
    risk: Option<String>,
    sla: Option<String>,
    tags: Vec<String>,
}

impl IndexedFields {
    fn of(metadata: &Value) -> Self {
        let at = |path: &[&str]| {
            let mut v = metadata;
            for p in path {
                v = v.get(p)?;
            }
            v.as_str().map(str::to_string)
        };
        IndexedFields {
            owner: at(&["owner", "principal"]),
            team: at(&["team", "name"]),
            risk: at(&["risk", "level"]),
            sla: at(&["sla", "tier"]),
            tags: metadata
                .pointer("/compliance/tags")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|t| t.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

fn where_clause(conds: &[String]) -> String {
    if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    }
}

fn none_if_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// A unique-key violation is a conflict the caller can act on; anything
/// else is a storage fault.
fn unique_violation(e: sqlx::Error, what: &str) -> Error {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            return Error::new(
                crate::domain::Reason::ConcurrentModification,
                format!("another {what} with the same key was written at the same time; retry"),
            );
        }
    }
    Error::storage(e)
}

fn text(row: &AnyRow, column: &str) -> Result<String> {
    row.try_get::<String, _>(column).map_err(Error::storage)
}

fn opt(row: &AnyRow, column: &str) -> Result<Option<String>> {
    row.try_get::<Option<String>, _>(column)
        .map_err(Error::storage)
}

fn int(row: &AnyRow, column: &str) -> Result<i64> {
    row.try_get::<i64, _>(column).map_err(Error::storage)
}

fn json(row: &AnyRow, column: &str) -> Result<Value> {
    match opt(row, column)? {
        Some(text) => serde_json::from_str(&text).map_err(Error::internal),
        None => Ok(Value::Null),
    }
}

fn opt_json(row: &AnyRow, column: &str) -> Result<Option<Value>> {
    Ok(Some(json(row, column)?).filter(|v| !v.is_null()))
}

fn state(text: &str) -> Result<State> {
    State::parse(text)
        .ok_or_else(|| Error::internal(format!("stored lifecycle state {text:?} is not a state")))
}

fn opt_state(row: &AnyRow, column: &str) -> Result<Option<State>> {
    opt(row, column)?.map(|s| state(&s)).transpose()
}

fn strings(row: &AnyRow, column: &str) -> Result<Vec<String>> {
    Ok(serde_json::from_value(json(row, column)?).unwrap_or_default())
}

fn lifecycle(row: &AnyRow, with_replacement: bool) -> Result<LifecycleRow> {
    Ok(LifecycleRow {
        state: state(&text(row, "lifecycle_state")?)?,
        reason: opt(row, "lifecycle_reason")?,
        changed_by: opt(row, "lifecycle_changed_by")?,
        changed_at: opt(row, "lifecycle_changed_at")?,
        previous_state: opt_state(row, "lifecycle_previous_state")?,
        replacement_ref: if with_replacement {
            opt_json(row, "lifecycle_replacement_ref")?
        } else {
            None
        },
        approval_request_id: opt(row, "lifecycle_approval_request_id")?,
    })
}

fn overlay_row(row: &AnyRow) -> Result<OverlayRow> {
    Ok(OverlayRow {
        asset_uid: text(row, "asset_uid")?,
        plugin: text(row, "plugin")?,
        kind: text(row, "kind")?,
        name: text(row, "name")?,
        source_id: opt(row, "source_id")?,
        metadata: json(row, "metadata")?,
        lifecycle: lifecycle(row, true)?,
        approved_content_digest: opt(row, "approved_content_digest")?,
        current_content_digest: opt(row, "current_content_digest")?,
        current_revision_id: opt(row, "current_revision_id")?,
        current_provenance: opt_json(row, "current_provenance")?,
        source_missing_since: opt(row, "source_missing_since")?,
        resource_version: int(row, "resource_version")?,
        created_at: text(row, "created_at")?,
        updated_at: text(row, "updated_at")?,
        updated_by: opt(row, "updated_by")?,
    })
}

fn version_row(row: &AnyRow) -> Result<VersionRow> {
    Ok(VersionRow {
        version_id: text(row, "version_id")?,
        asset_uid: text(row, "asset_uid")?,
        plugin: text(row, "plugin")?,
        kind: text(row, "kind")?,
        name: text(row, "name")?,
        label: text(row, "version_label")?,
        sequence: int(row, "sequence")?,
        trigger: text(row, "trigger")?,
        record: json(row, "record")?,
        governance_snapshot: json(row, "governance_snapshot")?,
        references: json(row, "references_snapshot")?,
        content_digest: text(row, "content_digest")?,
        source_id: opt(row, "source_id")?,
        source_revision_ref: opt(row, "source_revision_ref")?,
        provenance: json(row, "provenance")?,
        lifecycle: lifecycle(row, false)?,
        created_at: text(row, "created_at")?,
        created_by: text(row, "created_by")?,
    })
}

fn binding_row(row: &AnyRow) -> Result<BindingRow> {
    Ok(BindingRow {
        environment: text(row, "environment")?,
        asset_uid: text(row, "asset_uid")?,
        version_id: text(row, "version_id")?,
        previous_version_id: opt(row, "previous_version_id")?,
        bound_at: text(row, "bound_at")?,
        bound_by: text(row, "bound_by")?,
        reason: opt(row, "reason")?,
        approval_request_id: opt(row, "approval_request_id")?,
    })
}

fn approval_row(row: &AnyRow) -> Result<ApprovalRow> {
    Ok(ApprovalRow {
        request_id: text(row, "request_id")?,
        asset_uid: text(row, "asset_uid")?,
        plugin: text(row, "plugin")?,
        kind: text(row, "kind")?,
        name: text(row, "name")?,
        version_id: opt(row, "version_id")?,
        action: text(row, "action")?,
        params: json(row, "params")?,
        dedupe_key: text(row, "dedupe_key")?,
        status: text(row, "status")?,
        reason: opt(row, "reason")?,
        requirements: json(row, "requirements")?,
        deny_on_first_reject: int(row, "deny_on_first_reject")? != 0,
        policy_rule: opt(row, "policy_rule")?,
        requested_by: text(row, "requested_by")?,
        requested_by_roles: strings(row, "requested_by_roles")?,
        created_at: text(row, "created_at")?,
        updated_at: text(row, "updated_at")?,
        expires_at: text(row, "expires_at")?,
        resolved_at: opt(row, "resolved_at")?,
        resolved_by: opt(row, "resolved_by")?,
        cancel_reason: opt(row, "cancel_reason")?,
        execution_status: opt(row, "execution_status")?,
        execution_result: opt_json(row, "execution_result")?,
        execution_error: opt_json(row, "execution_error")?,
        executed_at: opt(row, "executed_at")?,
        execution_audit_event_id: opt(row, "execution_audit_event_id")?,
        correlation_id: text(row, "correlation_id")?,
    })
}

fn decision_row(row: &AnyRow) -> Result<DecisionRow> {
    Ok(DecisionRow {
        decision_id: text(row, "decision_id")?,
        request_id: text(row, "request_id")?,
        approver: text(row, "approver")?,
        approver_roles: strings(row, "approver_roles")?,
        decision: text(row, "decision")?,
        comment: opt(row, "comment")?,
        counted_requirements: serde_json::from_value(json(row, "counted_requirements")?)
            .unwrap_or_default(),
        decided_at: text(row, "decided_at")?,
        correlation_id: text(row, "correlation_id")?,
    })
}

fn audit_row(row: &AnyRow) -> Result<AuditEvent> {
    let occurred = text(row, "occurred_at")?;
    Ok(AuditEvent {
        event_id: text(row, "event_id")?,
        occurred_at: chrono::DateTime::parse_from_rfc3339(&occurred)
            .map_err(Error::internal)?
            .with_timezone(&chrono::Utc),
        actor: text(row, "actor")?,
        actor_roles: strings(row, "actor_roles")?,
        action: text(row, "action")?,
        asset_uid: opt(row, "asset_uid")?.unwrap_or_default(),
        plugin: opt(row, "plugin")?.unwrap_or_default(),
        kind: opt(row, "kind")?.unwrap_or_default(),
        name: opt(row, "name")?.unwrap_or_default(),
        version_id: opt(row, "version_id")?.unwrap_or_default(),
        environment: opt(row, "environment")?.unwrap_or_default(),
        outcome: Outcome::parse(&text(row, "outcome")?)
            .ok_or_else(|| Error::internal("stored audit outcome is unknown"))?,
        reason: opt(row, "reason")?.unwrap_or_default(),
        reason_code: opt(row, "reason_code")?.unwrap_or_default(),
        diff: json(row, "diff")?,
        approval_request_id: opt(row, "approval_request_id")?.unwrap_or_default(),
        approvals: json(row, "approvals")?,
        policy_rule: opt(row, "policy_rule")?.unwrap_or_default(),
        correlation_id: text(row, "correlation_id")?,
        action_run_id: opt(row, "action_run_id")?.unwrap_or_default(),
        details: json(row, "details")?,
        sequence: int(row, "sequence")?,
        prev_hash: text(row, "prev_hash")?,
        hash: text(row, "hash")?,
    })
}
