//! The sync engine: owns the effective source configuration (files merged
//! with the overrides kept in the store), runs one sync at a time per
//! source, watches data files and sources files, and carries out the source
//! actions (validate, apply, enable, disable, refresh).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};
use tokio::sync::{Mutex, RwLock};

use crate::domain::error::{Error, Reason, Result};
use crate::domain::plugin::PluginManifest;
use crate::domain::source::{
    CommonProperties, EntryDiagnostic, ErrorClass, Origin, SourceDefinition, SourceError,
    SourceOverrides, SourceState, IMPLEMENTED_PROVIDER_TYPES,
};
use crate::plugins::Registry;
use crate::storage::{Store, SyncBatch, SyncOutcome};

use super::config::{self, ConfiguredSource, SourcesConfig};
use super::yaml::{self, PathPolicy};
use super::{ingest, Ingested, ProviderRead};

/// (plugin, source id).
type SourceKey = (String, String);

/// Pseudo-source that carries sources-file parse errors.
pub const CONFIG_PSEUDO_SOURCE: &str = "_config";

/// Sources synced at the same time by a reconciliation.
const SYNC_PARALLELISM: usize = 2;

/// Position of the first API-only source; file sources come before.
const API_POSITION_BASE: i64 = 100_000;

/// A source as the engine runs it.
#[derive(Debug, Clone)]
pub struct EffectiveSource {
    /// Plugin.
    pub plugin: String,
    /// Definition in force (an applied definition replaces a file entry).
    pub definition: SourceDefinition,
    /// Enabled after overrides.
    pub enabled: bool,
    /// file or api.
    pub origin: Origin,
    /// Position in the plugin (first wins for duplicate names).
    pub position: i64,
    /// Folder relative paths resolve against.
    pub base_dir: PathBuf,
    /// Declaring file, for file sources.
    pub file: Option<PathBuf>,
    /// A ConfigError on the entry itself.
    pub config_error: Option<SourceError>,
}

/// Settings of the engine.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// CatalogSources files.
    pub sources_files: Vec<PathBuf>,
    /// Folders API-created sources may read from.
    pub source_roots: Vec<PathBuf>,
    /// How often the configuration is reconciled with the store (other
    /// replicas' apply/enable/disable), and files are polled.
    pub reconcile_interval: Duration,
}

#[derive(Default)]
struct Snapshot {
    files: SourcesConfig,
    config_error: Option<SourceError>,
    overrides: HashMap<(String, String), SourceOverrides>,
}

/// The sync engine.
pub struct Engine {
    registry: Registry,
    store: Store,
    settings: EngineSettings,
    snapshot: RwLock<Snapshot>,
    sync_locks: Mutex<HashMap<SourceKey, Arc<Mutex<()>>>>,
    applied_fingerprints: Mutex<HashMap<SourceKey, String>>,
    last_on_demand_reload: Mutex<Option<std::time::Instant>>,
}

/// Shortest time between two re-reads of the configuration caused by a
/// read that met an unknown source.
const ON_DEMAND_RELOAD_GAP: Duration = Duration::from_millis(500);

/// Result of one sync.
#[derive(Debug, Clone)]
pub struct SyncReport {
    /// Changes applied (or that would be, on a dry run).
    pub outcome: SyncOutcome,
    /// Entry findings.
    pub diagnostics: Vec<EntryDiagnostic>,
    /// Revision read.
    pub revision: String,
    /// Records loaded.
    pub assets: u32,
    /// Entries rejected.
    pub rejected: u32,
}

impl Engine {
    /// A new engine; call [`Engine::start`] to load.
    pub fn new(registry: Registry, store: Store, settings: EngineSettings) -> Arc<Self> {
        Arc::new(Engine {
            registry,
            store,
            settings,
            snapshot: RwLock::new(Snapshot::default()),
            sync_locks: Mutex::new(HashMap::new()),
            applied_fingerprints: Mutex::new(HashMap::new()),
            last_on_demand_reload: Mutex::new(None),
        })
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The plugin registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Reads the sources files for the first time. A file that does not
    /// parse at start-up is fatal (the caller exits with code 2).
    pub async fn load_config(&self) -> std::result::Result<Vec<String>, SourceError> {
        let files = config::load(&self.settings.sources_files, &self.registry)?;
        let warnings = files.warnings.clone();
        let overrides = self
            .load_overrides()
            .await
            .map_err(|e| SourceError::new(ErrorClass::ConfigError, e.message))?;
        let mut snapshot = self.snapshot.write().await;
        snapshot.files = files;
        snapshot.overrides = overrides;
        Ok(warnings)
    }

    async fn load_overrides(&self) -> Result<HashMap<(String, String), SourceOverrides>> {
        Ok(self
            .store
            .source_states()
            .await?
            .into_iter()
            .map(|s| ((s.plugin, s.source_id), s.overrides))
            .collect())
    }

    /// Re-reads the sources files and the store's overrides. A sources file
    /// that no longer parses keeps the previous configuration in force and
    /// is reported on the `_config` pseudo-source.
    pub async fn reload_config(&self) -> Result<()> {
        let parsed = config::load(&self.settings.sources_files, &self.registry);
        let overrides = self.load_overrides().await?;
        let mut snapshot = self.snapshot.write().await;
        match parsed {
            Ok(files) => {
                snapshot.files = files;
                snapshot.config_error = None;
            }
            Err(error) => {
                if snapshot.config_error.as_ref().map(|e| &e.message) != Some(&error.message) {
                    tracing::error!(file = %error.file, line = error.line, message = %error.message, "sources file does not parse; keeping the previous configuration");
                }
                snapshot.config_error = Some(error);
            }
        }
        snapshot.overrides = overrides;
        Ok(())
    }

    /// The sources of every plugin (or one), in plugin then position order.
    pub async fn effective_sources(&self, plugin: Option<&str>) -> Vec<EffectiveSource> {
        let snapshot = self.snapshot.read().await;
        let mut out = Vec::new();
        for manifest in self.registry.all() {
            let name = manifest.name();
            if plugin.is_some_and(|p| p != name) {
                continue;
            }
            out.extend(effective_for_plugin(&snapshot, name, &self.settings));
        }
        out
    }

    /// The sources of every plugin (or one), re-read first when `needed`
    /// names a (plugin, source id) this replica does not know: a source
    /// applied through another replica sharing the database is only
    /// picked up by the next periodic reconcile, and until then views of
    /// its records would lose the source's labels and type. Re-reads are
    /// at most one per [`ON_DEMAND_RELOAD_GAP`], so records of a source
    /// that no longer exists cannot turn every read into a reload.
    pub async fn effective_sources_covering(
        &self,
        plugin: Option<&str>,
        needed: &HashSet<(String, String)>,
    ) -> Vec<EffectiveSource> {
        let sources = self.effective_sources(plugin).await;
        let known: HashSet<(&str, &str)> = sources
            .iter()
            .map(|s| (s.plugin.as_str(), s.definition.id.as_str()))
            .collect();
        if needed
            .iter()
            .all(|(p, id)| known.contains(&(p.as_str(), id.as_str())))
        {
            return sources;
        }
        {
            let mut last = self.last_on_demand_reload.lock().await;
            if last.is_some_and(|at| at.elapsed() < ON_DEMAND_RELOAD_GAP) {
                return sources;
            }
            *last = Some(std::time::Instant::now());
        }
        if let Err(e) = self.reload_config().await {
            tracing::warn!(error = %e, "could not re-read the source configuration for an unknown source");
            return sources;
        }
        self.effective_sources(plugin).await
    }

    /// One source.
    pub async fn source(&self, plugin: &str, id: &str) -> Result<EffectiveSource> {
        self.registry.get(plugin)?;
        self.effective_sources(Some(plugin))
            .await
            .into_iter()
            .find(|s| s.definition.id == id)
            .ok_or_else(|| {
                Error::new(
                    Reason::SourceNotFound,
                    format!("plugin {plugin:?} has no source {id:?}; list them with ListSources"),
                )
                .with("plugin", plugin)
                .with("sourceId", id)
            })
    }

    /// The `_config` error, when the sources files do not parse.
    pub async fn config_error(&self) -> Option<SourceError> {
        self.snapshot.read().await.config_error.clone()
    }

    /// Stored status of every source, by (plugin, id).
    pub async fn statuses(&self) -> Result<HashMap<(String, String), SourceState>> {
        Ok(self
            .store
            .source_states()
            .await?
            .into_iter()
            .map(|s| ((s.plugin, s.source_id), s.status))
            .collect())
    }

    /// Brings the store in line with the configuration: syncs every enabled
    /// source, empties disabled and removed ones. Returns how many sources
    /// failed.
    pub async fn reconcile(self: &Arc<Self>) -> usize {
        let sources = self.effective_sources(None).await;
        // Two sources at a time: one can parse and validate while the other
        // writes (the database takes one writer at a time anyway).
        let permits = Arc::new(tokio::sync::Semaphore::new(SYNC_PARALLELISM));
        let mut syncs = tokio::task::JoinSet::new();
        for source in sources {
            let (engine, permits) = (self.clone(), permits.clone());
            syncs.spawn(async move {
                let _permit = permits.acquire_owned().await;
                let outcome = if source.enabled { engine.sync(&source, false).await.map(|_| ()) } else { engine.mark_disabled(&source).await };
                if let Err(error) = &outcome {
                    tracing::warn!(plugin = %source.plugin, source = %source.definition.id, reason = error.reason.code(), message = %error.message, detail = ?error.detail, "source sync failed");
                }
                outcome.is_ok()
            });
        }
        let mut failed = 0;
        while let Some(done) = syncs.join_next().await {
            if !done.unwrap_or(false) {
                failed += 1;
            }
        }
        self.remove_orphaned_records().await;
        failed
    }

    /// Removes the records of sources that are no longer configured (or
    /// are disabled). The configuration is read again first, and each
    /// source is checked under its sync lock: a source applied while the
    /// syncs above ran is live by now, and an apply that comes after the
    /// check syncs after the removal, so its records are never lost.
    async fn remove_orphaned_records(&self) {
        if let Err(e) = self.reload_config().await {
            tracing::warn!(error = %e, "could not reload the source configuration; keeping every source's records this time");
            return;
        }
        let stored = match self.store.sources_with_records().await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::warn!(error = %e, "could not list stored sources");
                return;
            }
        };
        for (plugin, id) in stored {
            let key = (plugin.clone(), id.clone());
            let lock = self.sync_lock(&key).await;
            let _held = lock.lock().await;
            let live = self
                .effective_sources(Some(&plugin))
                .await
                .iter()
                .any(|s| s.enabled && s.definition.id == id);
            if live {
                continue;
            }
            if let Err(e) = self.store.remove_source_records(&plugin, &id).await {
                tracing::warn!(plugin = %plugin, source = %id, error = %e, "could not remove the records of a removed source");
            }
            self.applied_fingerprints.lock().await.remove(&key);
        }
    }

    async fn mark_disabled(&self, source: &EffectiveSource) -> Result<()> {
        let key = (source.plugin.clone(), source.definition.id.clone());
        let lock = self.sync_lock(&key).await;
        let _guard = lock.lock().await;
        // `source` may come from a snapshot taken before an `enable`; the
        // current configuration decides.
        let enabled_now = self
            .effective_sources(Some(&source.plugin))
            .await
            .iter()
            .any(|s| s.enabled && s.definition.id == source.definition.id);
        if enabled_now {
            return Ok(());
        }
        self.store
            .remove_source_records(&source.plugin, &source.definition.id)
            .await?;
        self.applied_fingerprints.lock().await.remove(&key);
        let mut status = self.statuses().await?.remove(&key).unwrap_or_default();
        if status.state != "disabled" {
            status.state = "disabled".into();
            self.store
                .save_status(&source.plugin, &source.definition.id, &status)
                .await?;
        }
        Ok(())
    }

    async fn sync_lock(&self, key: &(String, String)) -> Arc<Mutex<()>> {
        self.sync_locks
            .lock()
            .await
            .entry(key.clone())
            .or_default()
            .clone()
    }

    /// Reads, validates and (unless `dry_run`) applies one source.
    pub async fn sync(&self, source: &EffectiveSource, dry_run: bool) -> Result<SyncReport> {
        let key = (source.plugin.clone(), source.definition.id.clone());
        let lock = self.sync_lock(&key).await;
        let _guard = lock.lock().await;
        let manifest = self.registry.get(&source.plugin)?.clone();
        let started = Utc::now();
        // A poll of an unchanged source costs one hash of its files.
        if !dry_run {
            if let Ok(revision) = self.probe(source, &manifest).await {
                let fingerprint = fingerprint(&revision, source);
                if self.applied_fingerprints.lock().await.get(&key) == Some(&fingerprint) {
                    let status = self.statuses().await?.remove(&key).unwrap_or_default();
                    return Ok(SyncReport {
                        outcome: SyncOutcome::default(),
                        diagnostics: status.entry_diagnostics.clone(),
                        revision,
                        assets: status.counts.assets,
                        rejected: status.counts.rejected,
                    });
                }
            }
        }
        let read = match self.read(source, &manifest).await {
            Ok(read) => read,
            Err(error) => {
                if !dry_run {
                    self.record_failure(source, &error).await?;
                }
                return Err(source_error_to_error(
                    &source.plugin,
                    &source.definition.id,
                    &error,
                ));
            }
        };
        let common = CommonProperties::parse(&source.definition.properties).unwrap_or_default();
        let fingerprint = fingerprint(&read.revision, source);
        // The files read are dropped as soon as their entries are records:
        // a large source must not be held in memory twice.
        let revision = read.revision.clone();
        let mut ingested = {
            let (manifest, definition) = (manifest.clone(), source.definition.clone());
            tokio::task::spawn_blocking(move || {
                ingest(&manifest, &definition, read, &common, started)
            })
            .await
            .map_err(Error::internal)?
        };
        if dry_run {
            let outcome = self.preview(source, &ingested).await?;
            return Ok(report(outcome, &ingested, revision));
        }
        let state = SourceState {
            state: "available".into(),
            last_successful_sync: Some(Utc::now()),
            last_attempted_sync: Some(started),
            last_error: None,
            counts: ingested.counts.clone(),
            revision: revision.clone(),
            entry_diagnostics: ingested.diagnostics.clone(),
        };
        let batch = SyncBatch {
            plugin: source.plugin.clone(),
            source_id: source.definition.id.clone(),
            position: source.position,
            records: std::mem::take(&mut ingested.records),
            rejected: std::mem::take(&mut ingested.rejected),
            state,
        };
        let outcome = self.store.apply_sync(&batch).await?;
        drop(batch);
        self.applied_fingerprints
            .lock()
            .await
            .insert(key, fingerprint);
        tracing::info!(
            plugin = %source.plugin, source = %source.definition.id, revision = %revision,
            added = outcome.added, changed = outcome.changed, removed = outcome.removed, rejected = ingested.counts.rejected,
            durationMs = (Utc::now() - started).num_milliseconds(), "source synced"
        );
        Ok(report(outcome, &ingested, revision))
    }

    /// The revision the source's provider would report, from file digests.
    async fn probe(
        &self,
        source: &EffectiveSource,
        manifest: &PluginManifest,
    ) -> std::result::Result<String, SourceError> {
        self.on_blocking_pool(source, manifest, |definition, base_dir, _, policy| {
            yaml::probe(definition, base_dir, policy)
        })
        .await
    }

    fn path_policy(&self, source: &EffectiveSource) -> PathPolicy {
        match source.origin {
            Origin::File => PathPolicy::Unrestricted,
            Origin::Api => PathPolicy::Under(
                self.settings
                    .source_roots
                    .iter()
                    .filter_map(|r| r.canonicalize().ok())
                    .collect(),
            ),
        }
    }

    async fn read(
        &self,
        source: &EffectiveSource,
        manifest: &PluginManifest,
    ) -> std::result::Result<ProviderRead, SourceError> {
        self.on_blocking_pool(source, manifest, yaml::read).await
    }

    /// Checks the source, then runs a provider call on the blocking pool:
    /// file reads and parsing of a slow or huge file must never stall the
    /// request workers.
    async fn on_blocking_pool<T: Send + 'static>(
        &self,
        source: &EffectiveSource,
        manifest: &PluginManifest,
        call: fn(
            &SourceDefinition,
            &std::path::Path,
            &str,
            &PathPolicy,
        ) -> std::result::Result<T, SourceError>,
    ) -> std::result::Result<T, SourceError> {
        self.check_source(source, manifest)?;
        let (definition, base_dir, policy) = (
            source.definition.clone(),
            source.base_dir.clone(),
            self.path_policy(source),
        );
        let plural = manifest.spec.entity.plural.clone();
        tokio::task::spawn_blocking(move || call(&definition, &base_dir, &plural, &policy))
            .await
            .unwrap_or_else(|e| {
                Err(SourceError::new(
                    ErrorClass::TransientNetwork,
                    format!("source read was interrupted: {e}"),
                ))
            })
    }

    fn check_source(
        &self,
        source: &EffectiveSource,
        manifest: &PluginManifest,
    ) -> std::result::Result<(), SourceError> {
        if let Some(error) = &source.config_error {
            return Err(error.clone());
        }
        if let Err(problem) = CommonProperties::parse(&source.definition.properties) {
            return Err(SourceError::new(
                ErrorClass::ConfigError,
                format!("source {}: {problem}", source.definition.id),
            ));
        }
        let source_type = source.definition.source_type.as_str();
        if !manifest.spec.source_types.iter().any(|t| t == source_type) {
            return Err(SourceError::new(
                ErrorClass::ConfigError,
                format!(
                    "plugin {} does not accept sources of type {source_type:?} (accepted: {})",
                    manifest.name(),
                    manifest.spec.source_types.join(", ")
                ),
            )
            .at_location("", 0, "type"));
        }
        if !IMPLEMENTED_PROVIDER_TYPES.contains(&source_type) {
            return Err(SourceError::new(
                ErrorClass::ConfigError,
                format!("the {source_type} provider is not available in this server build (available: {})", IMPLEMENTED_PROVIDER_TYPES.join(", ")),
            )
            .at_location("", 0, "type"));
        }
        Ok(())
    }

    async fn record_failure(&self, source: &EffectiveSource, error: &SourceError) -> Result<()> {
        let key = (source.plugin.clone(), source.definition.id.clone());
        let mut status = self.statuses().await?.remove(&key).unwrap_or_default();
        status.state = "error".into();
        status.last_attempted_sync = Some(error.at);
        status.last_error = Some(error.clone());
        self.store
            .save_status(&source.plugin, &source.definition.id, &status)
            .await?;
        self.applied_fingerprints.lock().await.remove(&key);
        tracing::warn!(
            plugin = %source.plugin, source = %source.definition.id, class = error.class.as_str(), file = %error.file,
            line = error.line, field = %error.field, message = %error.message, "source sync failed; the last good records stay live"
        );
        Ok(())
    }

    async fn preview(&self, source: &EffectiveSource, ingested: &Ingested) -> Result<SyncOutcome> {
        let current = self
            .store
            .source_digests(&source.plugin, &source.definition.id)
            .await?;
        let mut outcome = SyncOutcome::default();
        let mut seen = HashSet::new();
        for record in &ingested.records {
            let key = (record.kind.clone(), record.name.clone());
            match current.get(&key) {
                None => outcome.added += 1,
                Some(digest) if *digest != record.digest => outcome.changed += 1,
                Some(_) => outcome.unchanged += 1,
            }
            seen.insert(key);
        }
        let rejected: HashSet<(String, String)> = ingested
            .rejected
            .iter()
            .map(|(k, n, _)| (k.clone(), n.clone()))
            .collect();
        outcome.removed = current
            .keys()
            .filter(|k| !seen.contains(*k) && !rejected.contains(*k))
            .count();
        Ok(outcome)
    }

    /// Runs a source action; see spec 01 §7.3.
    pub async fn execute(
        &self,
        plugin: &str,
        source_id: &str,
        action: &str,
        dry_run: bool,
        params: &serde_json::Map<String, Value>,
    ) -> Result<ActionOutcome> {
        let manifest = self.registry.get(plugin)?.clone();
        let def = crate::domain::action::source_actions().into_iter().find(|a| a.id == action).ok_or_else(|| {
            Error::new(Reason::UnknownAction, format!("unknown source action {action:?}; use validate, apply, enable, disable or refresh"))
                .with("action", action)
        })?;
        crate::domain::action::check_params(&def, params)?;
        match action {
            "validate" => self.validate_action(&manifest, source_id, params).await,
            "apply" => {
                self.apply_action(&manifest, source_id, dry_run, params)
                    .await
            }
            "enable" | "disable" => {
                self.toggle_action(plugin, source_id, action == "enable", dry_run)
                    .await
            }
            _ => self.refresh_action(plugin, source_id, dry_run).await,
        }
    }

    async fn candidate(
        &self,
        manifest: &PluginManifest,
        source_id: &str,
        params: &serde_json::Map<String, Value>,
    ) -> Result<Option<EffectiveSource>> {
        let Some(raw) = params.get("source") else {
            return Ok(None);
        };
        let mut raw = raw.clone();
        if let Some(object) = raw.as_object_mut() {
            object
                .entry("id")
                .or_insert_with(|| Value::String(source_id.to_string()));
        }
        let definition: SourceDefinition = serde_json::from_value(raw).map_err(|e| {
            Error::new(
                Reason::InvalidParams,
                format!("params.source is not a valid source entry: {e}"),
            )
            .violation("params.source", e.to_string())
        })?;
        if definition.id != source_id {
            return Err(Error::new(
                Reason::InvalidParams,
                format!(
                    "params.source.id {:?} differs from the source id {source_id:?} in the request",
                    definition.id
                ),
            )
            .violation(
                "params.source.id",
                "must equal the source id of the request",
            ));
        }
        if let Some((field, message)) = config::check_definition(&definition) {
            return Err(Error::new(Reason::SourceConfigError, message)
                .with("field", field)
                .violation(format!("params.source.{field}"), "invalid"));
        }
        if let Some(field) =
            forbidden_secret_reference(&Value::Object(definition.properties.clone()), "properties")
        {
            return Err(Error::new(
                Reason::SourceConfigError,
                format!("{field}: fromEnv and fromFile are honoured only in sources files, never in sources applied over the API"),
            )
            .with("field", &field));
        }
        let snapshot = self.snapshot.read().await;
        let existing = effective_for_plugin(&snapshot, manifest.name(), &self.settings)
            .into_iter()
            .find(|s| s.definition.id == source_id);
        let position = existing
            .as_ref()
            .map(|s| s.position)
            .unwrap_or(API_POSITION_BASE + 99_999);
        let base_dir = self
            .settings
            .source_roots
            .first()
            .cloned()
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(Some(EffectiveSource {
            plugin: manifest.name().to_string(),
            enabled: definition.enabled,
            definition,
            origin: Origin::Api,
            position,
            base_dir,
            file: None,
            config_error: None,
        }))
    }

    async fn validate_action(
        &self,
        manifest: &PluginManifest,
        source_id: &str,
        params: &serde_json::Map<String, Value>,
    ) -> Result<ActionOutcome> {
        let source = match self.candidate(manifest, source_id, params).await? {
            Some(candidate) => candidate,
            None => self.source(manifest.name(), source_id).await?,
        };
        let report = self.sync(&source, true).await?;
        let valid = report.rejected == 0;
        Ok(ActionOutcome {
            status: "completed",
            message: if valid {
                format!("source {source_id} is valid: {} assets", report.assets)
            } else {
                format!(
                    "source {source_id} reads, but {} entries fail validation",
                    report.rejected
                )
            },
            data: json!({"valid": valid, "revision": report.revision, "counts": {"assets": report.assets, "rejected": report.rejected}}),
            diagnostics: report.diagnostics,
        })
    }

    async fn apply_action(
        &self,
        manifest: &PluginManifest,
        source_id: &str,
        dry_run: bool,
        params: &serde_json::Map<String, Value>,
    ) -> Result<ActionOutcome> {
        let candidate = self
            .candidate(manifest, source_id, params)
            .await?
            .ok_or_else(|| {
                Error::new(
                    Reason::InvalidParams,
                    "apply needs params.source, a source entry",
                )
                .violation("params.source", "required")
            })?;
        // Validate before storing anything: a definition whose data cannot
        // be read is refused and nothing changes.
        let preview = self.sync(&candidate, true).await?;
        let summary = json!({
            "added": preview.outcome.added, "changed": preview.outcome.changed, "removed": preview.outcome.removed,
            "unchanged": preview.outcome.unchanged, "rejected": preview.rejected,
        });
        if dry_run {
            return Ok(ActionOutcome {
                status: "dry-run",
                message: format!(
                    "would store source {source_id} and load {} assets",
                    preview.assets
                ),
                data: json!({"wouldChange": summary, "revision": preview.revision}),
                diagnostics: preview.diagnostics,
            });
        }
        self.store
            .set_applied_definition(manifest.name(), &candidate.definition)
            .await?;
        self.reload_config().await?;
        let source = self.source(manifest.name(), source_id).await?;
        let report = if source.enabled {
            Some(self.sync(&source, false).await?)
        } else {
            None
        };
        Ok(ActionOutcome {
            status: "completed",
            message: format!("source {source_id} stored in the server (the sources file is unchanged) and synced"),
            data: json!({"origin": "api", "changes": report.as_ref().map(|r| outcome_json(&r.outcome)), "revision": report.as_ref().map(|r| r.revision.clone())}),
            diagnostics: report.map(|r| r.diagnostics).unwrap_or_default(),
        })
    }

    async fn toggle_action(
        &self,
        plugin: &str,
        source_id: &str,
        enable: bool,
        dry_run: bool,
    ) -> Result<ActionOutcome> {
        let source = self.source(plugin, source_id).await?;
        let verb = if enable { "enable" } else { "disable" };
        if dry_run {
            let message = match (source.enabled, enable) {
                (true, true) | (false, false) => {
                    format!("source {source_id} is already {verb}d; nothing would change")
                }
                (false, true) => format!("would enable source {source_id} and load its records"),
                (true, false) => format!(
                    "would disable source {source_id}; its records would leave the live view"
                ),
            };
            return Ok(ActionOutcome {
                status: "dry-run",
                message,
                data: json!({"enabled": source.enabled}),
                diagnostics: vec![],
            });
        }
        self.store
            .set_enabled_override(plugin, source_id, Some(enable))
            .await?;
        self.reload_config().await?;
        let source = self.source(plugin, source_id).await?;
        let diagnostics = if enable {
            self.sync(&source, false).await?.diagnostics
        } else {
            self.mark_disabled(&source).await.map(|_| vec![])?
        };
        Ok(ActionOutcome {
            status: "completed",
            message: format!("source {source_id} {verb}d (a runtime override kept by the server)"),
            data: json!({"enabled": enable}),
            diagnostics,
        })
    }

    async fn refresh_action(
        &self,
        plugin: &str,
        source_id: &str,
        dry_run: bool,
    ) -> Result<ActionOutcome> {
        let source = self.source(plugin, source_id).await?;
        if !source.enabled && !dry_run {
            return Err(Error::new(
                Reason::SourceConfigError,
                format!("source {source_id} is disabled; enable it before refreshing"),
            )
            .with("sourceId", source_id));
        }
        if !dry_run {
            // A refresh re-reads even when the file looks unchanged.
            self.applied_fingerprints
                .lock()
                .await
                .remove(&(plugin.to_string(), source_id.to_string()));
        }
        let report = self.sync(&source, dry_run).await?;
        Ok(ActionOutcome {
            status: if dry_run { "dry-run" } else { "completed" },
            message: if dry_run {
                format!(
                    "would apply to source {source_id}: {}",
                    describe(&report.outcome)
                )
            } else {
                format!(
                    "source {source_id} refreshed: {}",
                    describe(&report.outcome)
                )
            },
            data: json!({"changes": outcome_json(&report.outcome), "revision": report.revision, "assets": report.assets, "rejected": report.rejected}),
            diagnostics: report.diagnostics,
        })
    }
}

/// The answer of a source action.
#[derive(Debug, Clone)]
pub struct ActionOutcome {
    /// completed or dry-run.
    pub status: &'static str,
    /// Human summary.
    pub message: String,
    /// Payload.
    pub data: Value,
    /// Findings.
    pub diagnostics: Vec<EntryDiagnostic>,
}

/// Identifies what a sync applied: the data revision, the position of the
/// source and its definition. Equal fingerprints mean nothing to do.
fn fingerprint(revision: &str, source: &EffectiveSource) -> String {
    let definition = serde_json::to_string(&source.definition).unwrap_or_default();
    crate::domain::asset::sha256_digest(
        format!("{revision}|{}|{definition}", source.position).as_bytes(),
    )
}

fn report(outcome: SyncOutcome, ingested: &Ingested, revision: String) -> SyncReport {
    SyncReport {
        outcome,
        diagnostics: ingested.diagnostics.clone(),
        revision,
        assets: ingested.counts.assets,
        rejected: ingested.counts.rejected,
    }
}

fn outcome_json(outcome: &SyncOutcome) -> Value {
    json!({"added": outcome.added, "changed": outcome.changed, "revised": outcome.revised, "removed": outcome.removed, "unchanged": outcome.unchanged})
}

fn describe(outcome: &SyncOutcome) -> String {
    format!(
        "{} added, {} changed, {} removed, {} unchanged",
        outcome.added,
        outcome.changed,
        outcome.removed,
        outcome.unchanged + outcome.revised
    )
}

fn effective_for_plugin(
    snapshot: &Snapshot,
    plugin: &str,
    settings: &EngineSettings,
) -> Vec<EffectiveSource> {
    let mut out: Vec<EffectiveSource> = Vec::new();
    for (index, configured) in snapshot
        .files
        .sources
        .iter()
        .filter(|s| s.plugin == plugin)
        .enumerate()
    {
        out.push(from_file(configured, index as i64));
    }
    let mut applied: Vec<(&(String, String), &SourceOverrides)> = snapshot
        .overrides
        .iter()
        .filter(|((p, _), _)| p == plugin)
        .collect();
    applied.sort_by(|a, b| a.0.cmp(b.0));
    let mut next_api = API_POSITION_BASE;
    for ((_, id), overrides) in &applied {
        if let Some(definition) = &overrides.applied {
            let base_dir = settings
                .source_roots
                .first()
                .cloned()
                .unwrap_or_else(|| PathBuf::from("."));
            match out.iter_mut().find(|s| &s.definition.id == id) {
                Some(existing) => {
                    existing.definition = definition.clone();
                    existing.origin = Origin::Api;
                    existing.config_error = None;
                    existing.base_dir = base_dir;
                }
                None => {
                    out.push(EffectiveSource {
                        plugin: plugin.to_string(),
                        definition: definition.clone(),
                        enabled: definition.enabled,
                        origin: Origin::Api,
                        position: next_api,
                        base_dir,
                        file: None,
                        config_error: None,
                    });
                    next_api += 1;
                }
            }
        }
    }
    for source in &mut out {
        source.enabled = source.definition.enabled;
        if let Some(overrides) = snapshot
            .overrides
            .get(&(plugin.to_string(), source.definition.id.clone()))
        {
            if let Some(enabled) = overrides.enabled {
                source.enabled = enabled;
            }
        }
    }
    out
}

fn from_file(configured: &ConfiguredSource, position: i64) -> EffectiveSource {
    EffectiveSource {
        plugin: configured.plugin.clone(),
        definition: configured.definition.clone(),
        enabled: configured.definition.enabled,
        origin: Origin::File,
        position,
        base_dir: configured.base_dir.clone(),
        file: Some(configured.file.clone()),
        config_error: configured.error.clone(),
    }
}

fn forbidden_secret_reference(value: &Value, path: &str) -> Option<String> {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let child_path = format!("{path}.{key}");
                if key == "fromEnv" || key == "fromFile" {
                    return Some(child_path);
                }
                if let Some(found) = forbidden_secret_reference(child, &child_path) {
                    return Some(found);
                }
            }
            None
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| forbidden_secret_reference(v, &format!("{path}[{i}]"))),
        _ => None,
    }
}

/// A source failure as a public error, located.
pub fn source_error_to_error(plugin: &str, source_id: &str, error: &SourceError) -> Error {
    let mut out = Error::new(error.class.reason(), error.message.clone())
        .with("plugin", plugin)
        .with("sourceId", source_id)
        .with("class", error.class.as_str());
    if !error.file.is_empty() {
        out = out.with("file", &error.file);
    }
    if error.line > 0 {
        out = out.with("line", error.line);
    }
    if !error.field.is_empty() {
        out = out.with("field", &error.field);
    }
    out
}
