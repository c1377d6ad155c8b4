//! Keeps the overlay in step with the live catalog, level-triggered: after
//! each sync (and at start-up, as the backfill) it looks for effective
//! records with no overlay row or with content the overlay has not seen,
//! and fixes them in batches. An asset seen for the first time gets its
//! overlay (draft, or approved from a trusted source), its first version
//! and a `governance.create` event; changed content gets a new draft
//! version (per autoSnapshot) and a `source.contentChanged` event, while
//! lifecycle and bindings stay as they were. A crash between a sync and
//! this step loses nothing: the next pass finds the same difference.

use serde_json::{json, Value};

use super::{now, Counters, Governance, Settings};
use crate::domain::audit::{AuditEvent, Outcome};
use crate::domain::governance::config::AutoSnapshot;
use crate::domain::governance::version::auto_label;
use crate::domain::governance::State;
use crate::domain::Result;
use crate::storage::governance::{BacklogItem, LifecycleRow, OverlayRow, Tx, VersionRow};
use crate::storage::Store;

/// Items handled per transaction.
const BATCH: u32 = 2000;

/// What one reconcile pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IngestReport {
    /// Overlay rows created.
    pub created: usize,
    /// Content changes recorded.
    pub changed: usize,
}

impl Governance {
    /// Brings the overlay up to date with the live catalog.
    pub async fn reconcile(&self, trigger: &str) -> Result<IngestReport> {
        let mut report = IngestReport::default();
        let mut after: Option<(String, String, String)> = None;
        loop {
            let settings = self.settings();
            let backlog = {
                let mut conn = self.store.read_conn().await?;
                self.store
                    .governance_backlog(&mut conn, after.as_ref(), BATCH)
                    .await?
            };
            let Some(last) = backlog.last() else { break };
            after = Some((last.plugin.clone(), last.kind.clone(), last.name.clone()));
            let tally = Counters::default();
            let mut tx = self.store.begin_write().await?;
            let mut events = Vec::new();
            let fresh: Vec<&BacklogItem> = backlog.iter().filter(|i| !i.has_overlay).collect();
            report.created += create_overlays(
                &self.store,
                &mut tx,
                &settings,
                &fresh,
                trigger,
                &mut events,
                &tally,
            )
            .await?;
            for item in backlog.iter().filter(|i| i.has_overlay) {
                if record_change(&self.store, &mut tx, &settings, item, &mut events, &tally).await?
                {
                    report.changed += 1;
                }
            }
            self.append(&mut tx, &mut events).await?;
            self.commit_counted(tx, tally).await?;
        }
        if report.created + report.changed > 0 {
            tracing::info!(
                created = report.created,
                changed = report.changed,
                "governance overlay reconciled"
            );
        }
        Ok(report)
    }
}

/// Creates the overlay row of a newly seen asset (see [`create_overlays`]).
/// False when another writer created it.
pub(super) async fn create_overlay(
    store: &Store,
    tx: &mut Tx,
    settings: &Settings,
    item: &BacklogItem,
    actor: &str,
    events: &mut Vec<AuditEvent>,
    tally: &Counters,
) -> Result<bool> {
    Ok(create_overlays(store, tx, settings, &[item], actor, events, tally).await? == 1)
}

/// Creates the overlay rows of newly seen assets in a few multi-row
/// statements, with their first versions when automatic snapshots are on,
/// and one `governance.create` (or `governance.backfill`) event each.
/// Rows another writer created meanwhile are skipped. Returns how many
/// were created.
async fn create_overlays(
    store: &Store,
    tx: &mut Tx,
    settings: &Settings,
    items: &[&BacklogItem],
    actor: &str,
    events: &mut Vec<AuditEvent>,
    tally: &Counters,
) -> Result<usize> {
    if items.is_empty() {
        return Ok(0);
    }
    let (_, at) = now();
    let rows: Vec<OverlayRow> = items
        .iter()
        .map(|item| overlay_row(settings, item, actor, &at))
        .collect();
    let inserted = store.insert_overlays(tx, &rows).await?;
    let backfill = actor == "system:backfill";
    let mut versions = Vec::new();
    for (item, row) in items.iter().zip(&rows) {
        if !inserted.contains(&item.asset_uid) {
            continue;
        }
        let version =
            (settings.config.auto_snapshot(&item.plugin) != AutoSnapshot::Off).then(|| {
                let record_version = item.record.get("version").and_then(version_text);
                let label = auto_label(
                    record_version.as_deref(),
                    &Default::default(),
                    &item.content_digest,
                    1,
                );
                version_row(
                    item,
                    &row.metadata,
                    label,
                    1,
                    if backfill {
                        "backfill"
                    } else {
                        "initial-discovery"
                    },
                    &at,
                )
            });
        let state = row.lifecycle.state;
        let event_actor = row.lifecycle.changed_by.clone().unwrap_or_default();
        let mut event = AuditEvent::new(
            &event_actor,
            &[],
            if backfill {
                "governance.backfill"
            } else {
                "governance.create"
            },
            Outcome::Success,
        )
        .subject(&item.asset_uid, &item.plugin, &item.kind, &item.name);
        event.correlation_id = format!("ingest-{}", uuid::Uuid::new_v4());
        event.reason = row.lifecycle.reason.clone().unwrap_or_default();
        event.diff = json!({"old": {}, "new": {"lifecycle": {"state": state.as_str()}}});
        event.details = json!({
            "sourceId": item.source_id,
            "revisionId": item.revision_id,
            "contentDigest": item.content_digest,
            "versionId": version.as_ref().map(|v| v.version_id.clone()),
        });
        if let Some(v) = &version {
            event.version_id = v.version_id.clone();
        }
        events.push(event);
        if backfill {
            tally.backfill_asset(&item.plugin, "created");
        }
        if let Some(v) = &version {
            tally.version_snapshot(&item.plugin, &v.trigger);
        }
        versions.extend(version);
    }
    store.insert_versions(tx, &versions).await?;
    Ok(inserted.len())
}

/// The overlay row a newly seen asset starts with: draft, or approved
/// when its source is trusted (spec 12 §5).
fn overlay_row(settings: &Settings, item: &BacklogItem, actor: &str, at: &str) -> OverlayRow {
    let trusted = settings.config.is_trusted(&item.plugin, &item.source_id);
    let (state, lifecycle_actor, reason) = if trusted {
        (
            State::Approved,
            "system:auto-approve",
            Some(format!("trusted source {}", item.source_id)),
        )
    } else {
        (State::Draft, actor, None)
    };
    OverlayRow {
        asset_uid: item.asset_uid.clone(),
        plugin: item.plugin.clone(),
        kind: item.kind.clone(),
        name: item.name.clone(),
        source_id: Some(item.source_id.clone()),
        metadata: json!({}),
        lifecycle: LifecycleRow::initial(state, lifecycle_actor, reason, at),
        approved_content_digest: trusted.then(|| item.content_digest.clone()),
        current_content_digest: Some(item.content_digest.clone()),
        current_revision_id: Some(item.revision_id.clone()),
        current_provenance: Some(item.provenance.clone()),
        source_missing_since: None,
        resource_version: 1,
        created_at: at.to_string(),
        updated_at: at.to_string(),
        updated_by: None,
    }
}

/// An automatic draft version of a live record.
fn version_row(
    item: &BacklogItem,
    metadata: &Value,
    label: String,
    sequence: i64,
    trigger: &str,
    at: &str,
) -> VersionRow {
    VersionRow {
        version_id: uuid::Uuid::now_v7().to_string(),
        asset_uid: item.asset_uid.clone(),
        plugin: item.plugin.clone(),
        kind: item.kind.clone(),
        name: item.name.clone(),
        label,
        sequence,
        trigger: trigger.to_string(),
        record: item.record.clone(),
        governance_snapshot: metadata.clone(),
        references: item.refs.clone(),
        content_digest: item.content_digest.clone(),
        source_id: Some(item.source_id.clone()),
        source_revision_ref: Some(item.revision_id.clone()),
        provenance: item.provenance.clone(),
        lifecycle: LifecycleRow::initial(State::Draft, "system:ingest", None, at),
        created_at: at.to_string(),
        created_by: "system:ingest".to_string(),
    }
}

/// Records a content change seen in a source. False when another replica
/// recorded it first.
async fn record_change(
    store: &Store,
    tx: &mut Tx,
    settings: &Settings,
    item: &BacklogItem,
    events: &mut Vec<AuditEvent>,
    tally: &Counters,
) -> Result<bool> {
    let (_, at) = now();
    let advanced = store
        .advance_current_content(
            tx,
            &item.asset_uid,
            item.overlay_digest.as_deref(),
            &item.content_digest,
            &item.revision_id,
            &item.provenance,
            &item.source_id,
            &at,
        )
        .await?;
    if !advanced {
        return Ok(false);
    }
    let version = if settings.config.auto_snapshot(&item.plugin) != AutoSnapshot::Off {
        let overlay = store
            .overlay(tx, &item.plugin, &item.kind, &item.name, false)
            .await?;
        let metadata = overlay.map(|o| o.metadata).unwrap_or_else(|| json!({}));
        Some(snapshot(store, tx, item, &metadata, "source-change", &at, tally).await?)
    } else {
        None
    };
    let mut event = AuditEvent::new(
        "system:ingest",
        &[],
        "source.contentChanged",
        Outcome::Success,
    )
    .subject(&item.asset_uid, &item.plugin, &item.kind, &item.name);
    event.correlation_id = format!("ingest-{}", uuid::Uuid::new_v4());
    event.diff = json!({
        "old": {"revisionId": item.overlay_revision, "contentDigest": item.overlay_digest},
        "new": {"revisionId": item.revision_id, "contentDigest": item.content_digest},
    });
    event.details = json!({"versionId": version.as_ref().map(|v| v.version_id.clone())});
    if let Some(v) = &version {
        event.version_id = v.version_id.clone();
    }
    events.push(event);
    Ok(true)
}

/// An automatic draft version of a record whose content changed.
async fn snapshot(
    store: &Store,
    tx: &mut Tx,
    item: &BacklogItem,
    metadata: &Value,
    trigger: &str,
    at: &str,
    tally: &Counters,
) -> Result<VersionRow> {
    let (labels, sequence) = store.version_labels(tx, &item.asset_uid).await?;
    let record_version = item.record.get("version").and_then(version_text);
    let label = auto_label(
        record_version.as_deref(),
        &labels,
        &item.content_digest,
        sequence as i32,
    );
    let row = version_row(item, metadata, label, sequence, trigger, at);
    store.insert_version(tx, &row).await?;
    tally.version_snapshot(&row.plugin, trigger);
    Ok(row)
}

/// A record's `version` field as a label candidate (numbers count too).
pub(super) fn version_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
