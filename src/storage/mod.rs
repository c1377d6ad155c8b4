//! Persistence of the live catalog and of source state, in embedded SQLite
//! (the default) or PostgreSQL, through one sqlx pool.
//!
//! Both back ends run the same statements; the few places where their SQL
//! differs (JSON operators, casts, advisory locks) go through [`Dialect`].
//! Every sync of a source is applied in one transaction, so a reader never
//! sees half of a sync. Several server replicas may share one PostgreSQL
//! database: per-plugin advisory locks serialize their syncs, and writes are
//! idempotent, so a replica that arrives second changes nothing.

pub mod governance;
mod migrate;
mod query;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, AssertSqlSafe, Row};

use crate::domain::asset::{Provenance, Reference};
use crate::domain::governance::State;
use crate::domain::source::{SourceDefinition, SourceOverrides, SourceState};
use crate::domain::validation::Finding;
use crate::domain::{Error, Result};

pub use query::{Cond, GovField, OrderKey, RecordQuery, Target};

/// Joins each record to its governance overlay row (if any).
pub(crate) const GOVERNANCE_JOIN: &str =
    "LEFT JOIN asset_governance g ON g.plugin = r.plugin AND g.kind = r.kind AND g.name = r.name";

/// Which SQL dialect the pool speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Dialect {
    /// A JSON parameter.
    fn json_in(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("${n}"),
            Dialect::Postgres => format!("${n}::jsonb"),
        }
    }

    /// A boolean column read back as a 64-bit integer (0 or 1): the Any
    /// driver has no mapping for SQLite's BOOLEAN.
    fn bool_out(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => format!("CAST({column} AS INTEGER)"),
            Dialect::Postgres => format!("({column})::int::bigint"),
        }
    }

    /// Placeholder of parameter `n` in a statement that uses every
    /// parameter once, in order. SQLite gets anonymous `?`: looking up
    /// numbered parameters by name costs time quadratic in their count.
    fn seq(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => "?".to_string(),
            Dialect::Postgres => format!("${n}"),
        }
    }

    /// [`Dialect::seq`] for a JSON parameter.
    fn json_seq(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => "?".to_string(),
            Dialect::Postgres => format!("${n}::jsonb"),
        }
    }

    /// An aggregate turning the rows of a subquery into one JSON array of
    /// arrays (`[]` when there are none), read back as text.
    fn json_rows(self, columns: &[&str]) -> String {
        let list = columns.join(", ");
        match self {
            Dialect::Sqlite => format!("json_group_array(json_array({list}))"),
            Dialect::Postgres => {
                format!("COALESCE(json_agg(json_build_array({list})), '[]'::json)::text")
            }
        }
    }

    /// A JSON column read back as text.
    fn json_out(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => column.to_string(),
            Dialect::Postgres => format!("{column}::text"),
        }
    }
}

/// The catalog database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    /// SQLite only: the one connection every write transaction uses. SQLite
    /// admits one writer at a time anyway; queueing writers here instead of
    /// in busy_timeout retries keeps them in order, and this connection
    /// alone gets a page cache large enough to hold the B-tree pages a bulk
    /// ingest keeps touching (readers keep the small default).
    writer: Option<AnyPool>,
    dialect: Dialect,
    generation: Arc<Generation>,
    trusted: Arc<RwLock<Arc<Vec<String>>>>,
}

/// Counts changes to the live catalog: local writes bump it at once, and
/// [`Store::observe_generation`] folds in writes by other replicas.
#[derive(Debug, Default)]
struct Generation {
    local: AtomicU64,
    last_seen_in_db: AtomicI64,
    /// Governance writes, which change asset views but not the catalog.
    overlay: AtomicU64,
    overlay_seen_in_db: AtomicI64,
}

/// A record as a provider produced it, ready to be stored.
#[derive(Debug, Clone)]
pub struct IncomingRecord {
    /// Canonical kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Asset uid.
    pub uid: String,
    /// The native record as JSON text: a sync holds every record of a
    /// source until it is written, and text takes a fraction of the memory
    /// of the parsed tree.
    pub record_json: String,
    /// Its `displayName`, if a string.
    pub display_name: Option<String>,
    /// Its `description`, if a string.
    pub description: Option<String>,
    /// Content digest.
    pub digest: String,
    /// Provenance.
    pub provenance: Provenance,
    /// Outbound references.
    pub refs: Vec<Reference>,
    /// Record-provided creation time.
    pub created_at: Option<DateTime<Utc>>,
    /// Record-provided update time.
    pub updated_at: Option<DateTime<Utc>>,
    /// Non-blocking findings (warnings) of load validation.
    pub findings: Vec<Finding>,
}

/// Everything one sync of one source produced.
#[derive(Debug, Clone)]
pub struct SyncBatch {
    /// Plugin.
    pub plugin: String,
    /// Source id.
    pub source_id: String,
    /// Position of the source in its plugin's configuration.
    pub position: i64,
    /// Records that passed validation.
    pub records: Vec<IncomingRecord>,
    /// Entries that failed validation: their last good row is kept with
    /// validated = false.
    pub rejected: Vec<(String, String, Vec<Finding>)>,
    /// The source status to store with the result.
    pub state: SourceState,
}

/// What a sync changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncOutcome {
    /// New rows.
    pub added: usize,
    /// Rows whose content changed.
    pub changed: usize,
    /// Rows whose revision changed but content did not.
    pub revised: usize,
    /// Rows removed.
    pub removed: usize,
    /// Rows left as they were.
    pub unchanged: usize,
}

impl SyncOutcome {
    /// Whether the sync changed the live catalog.
    pub fn changed_anything(&self) -> bool {
        self.added + self.changed + self.revised + self.removed > 0
    }
}

/// A live record read back.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    /// Plugin.
    pub plugin: String,
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Source id.
    pub source_id: String,
    /// Asset uid.
    pub uid: String,
    /// The native record.
    pub record: Value,
    /// Content digest.
    pub digest: String,
    /// Provenance.
    pub provenance: Provenance,
    /// Outbound references.
    pub refs: Vec<Reference>,
    /// Passed load validation on the last sync.
    pub validated: bool,
    /// Findings of the last sync.
    pub diagnostics: Vec<Finding>,
    /// Creation time (record or first seen).
    pub created_at: DateTime<Utc>,
    /// Update time (record or last content change).
    pub updated_at: DateTime<Utc>,
    /// Governance overlay: the metadata document with its `lifecycle`
    /// block (Null before the overlay row exists).
    pub governance: Value,
    /// The state the overlay starts in (approved from a trusted source,
    /// draft otherwise), which reads show until the overlay row exists.
    pub initial_state: String,
}

impl StoredRecord {
    /// Lifecycle state from the overlay, or the one it will start in.
    pub fn lifecycle_state(&self) -> &str {
        self.governance
            .pointer("/lifecycle/state")
            .and_then(Value::as_str)
            .unwrap_or(&self.initial_state)
    }
}

/// A link pointing at an asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundLink {
    /// Referencing plugin.
    pub plugin: String,
    /// Referencing kind.
    pub kind: String,
    /// Referencing name.
    pub name: String,
    /// Link type.
    pub link_type: String,
    /// Field path in the referencing record.
    pub path: String,
    /// Lifecycle state of the referencing asset.
    pub state: String,
}

/// One asset as GetAsset needs it.
#[derive(Debug, Clone)]
pub struct AssetRow {
    /// The effective record.
    pub record: StoredRecord,
    /// Targets of its references that exist as effective records, with
    /// their lifecycle state.
    pub found_targets: HashMap<(String, String, String), String>,
    /// Live links pointing at it, ordered by referencing key and path.
    pub inbound: Vec<InboundLink>,
}

/// A page of records.
#[derive(Debug, Clone)]
pub struct RecordPage {
    /// Items.
    pub items: Vec<StoredRecord>,
    /// Whether more items follow.
    pub has_more: bool,
    /// Total matches, when asked for.
    pub total: Option<i64>,
}

/// Stored state of one source.
#[derive(Debug, Clone)]
pub struct StoredSourceState {
    /// Plugin.
    pub plugin: String,
    /// Source id.
    pub source_id: String,
    /// Overrides.
    pub overrides: SourceOverrides,
    /// Status.
    pub status: SourceState,
}

/// RFC 3339 with microseconds and Z: sorts lexically in time order.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_timestamp(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// Set on every SQLite connection.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
    PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;";

/// Set on the SQLite writer connection: the common settings and a 64 MiB
/// page cache (negative sizes are KiB).
const SQLITE_WRITER_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
    PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536;";

/// Rows per multi-row INSERT (below both engines' parameter limits).
const INSERT_CHUNK: usize = 500;

impl Store {
    /// Opens the database named by `url` (sqlite:// or postgres://),
    /// retrying for up to `patience`, and applies migrations.
    pub async fn open(
        url: &str,
        max_connections: u32,
        patience: Duration,
    ) -> Result<Self, OpenError> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Dialect::Postgres
        } else if url.starts_with("sqlite:") {
            prepare_sqlite_dir(url)?;
            Dialect::Sqlite
        } else {
            return Err(OpenError::Config(format!(
                "database URL must start with sqlite: or postgres://, got {:?}",
                redact_url(url)
            )));
        };
        let url = match dialect {
            Dialect::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_string(),
        };
        let deadline = tokio::time::Instant::now() + patience;
        let pool = loop {
            let options = AnyPoolOptions::new()
                .max_connections(if dialect == Dialect::Sqlite {
                    max_connections.max(2)
                } else {
                    max_connections
                })
                .acquire_timeout(Duration::from_secs(10))
                // A ping checks that a network peer is still there; an
                // embedded SQLite file has none, and the ping costs a
                // round trip to the connection's worker thread per query.
                .test_before_acquire(dialect != Dialect::Sqlite)
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        if dialect == Dialect::Sqlite {
                            use sqlx::Executor;
                            conn.execute(SQLITE_PRAGMAS).await?;
                        }
                        Ok(())
                    })
                });
            match options.connect(&url).await {
                Ok(pool) => break pool,
                Err(e) if tokio::time::Instant::now() < deadline => {
                    tracing::warn!(error = %e, "database not reachable yet; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => return Err(OpenError::Unreachable(e.to_string())),
            }
        };
        let writer = match dialect {
            Dialect::Sqlite => Some(
                AnyPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(30))
                    .test_before_acquire(false)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            use sqlx::Executor;
                            conn.execute(SQLITE_WRITER_PRAGMAS).await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await
                    .map_err(|e| OpenError::Unreachable(e.to_string()))?,
            ),
            Dialect::Postgres => None,
        };
        let store = Store {
            pool,
            writer,
            dialect,
            generation: Arc::default(),
            trusted: Arc::default(),
        };
        migrate::run(&store.pool, dialect)
            .await
            .map_err(|e| OpenError::Migration(e.to_string()))?;
        Ok(store)
    }

    /// A number that changes whenever the live catalog may have changed.
    pub fn generation(&self) -> u64 {
        self.generation.local.load(Ordering::Acquire)
    }

    /// A number that changes whenever an asset view may have changed: the
    /// live catalog or its governance overlay (read caches key on it).
    pub fn view_generation(&self) -> u64 {
        self.generation
            .local
            .load(Ordering::Acquire)
            .wrapping_add(self.generation.overlay.load(Ordering::Acquire) << 32)
    }

    /// The governance settings' trusted sources (`<sourceId>` or
    /// `<plugin>/<sourceId>`, already validated). An asset whose overlay row
    /// is not written yet reads in the state the ingest will give it:
    /// approved from a trusted source, draft otherwise. A change starts a
    /// new view generation, as such assets may now read differently.
    pub fn set_trusted_sources(&self, entries: &[String]) {
        let mut trusted = self.trusted.write().unwrap_or_else(|e| e.into_inner());
        if trusted.as_slice() != entries {
            *trusted = Arc::new(entries.to_vec());
            self.overlay_changed();
        }
    }

    /// SQL for the lifecycle state of record `r` joined to overlay `g`.
    pub(crate) fn lifecycle_sql(&self, r: &str, g: &str) -> String {
        format!(
            "COALESCE({g}.lifecycle_state, {})",
            self.initial_state_sql(r)
        )
    }

    /// SQL for the state record `r`'s overlay starts in (see
    /// [`Store::set_trusted_sources`]). Entries are inlined as literals:
    /// settings validation admits only source-id characters, and quotes
    /// are doubled regardless.
    fn initial_state_sql(&self, r: &str) -> String {
        let trusted = self
            .trusted
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let (qualified, bare): (Vec<&String>, Vec<&String>) =
            trusted.iter().partition(|entry| entry.contains('/'));
        let one_of = |expr: String, entries: Vec<&String>| {
            let literals: Vec<String> = entries
                .iter()
                .map(|entry| format!("'{}'", entry.replace('\'', "''")))
                .collect();
            (!literals.is_empty()).then(|| format!("{expr} IN ({})", literals.join(", ")))
        };
        let tests: Vec<String> = [
            one_of(format!("{r}.source_id"), bare),
            one_of(format!("({r}.plugin || '/' || {r}.source_id)"), qualified),
        ]
        .into_iter()
        .flatten()
        .collect();
        let (approved, draft) = (State::Approved.as_str(), State::Draft.as_str());
        if tests.is_empty() {
            format!("'{draft}'")
        } else {
            format!(
                "CASE WHEN {} THEN '{approved}' ELSE '{draft}' END",
                tests.join(" OR ")
            )
        }
    }

    /// Marks a committed governance write of this replica.
    pub fn overlay_changed(&self) {
        self.generation.overlay.fetch_add(1, Ordering::AcqRel);
    }

    /// Counts a governance write in the database (inside its transaction),
    /// for the other replicas.
    pub async fn bump_overlay_generation(&self, conn: &mut sqlx::AnyConnection) -> Result<()> {
        sqlx::query("UPDATE governance_generation SET value = value + 1 WHERE id = 1")
            .execute(conn)
            .await
            .map_err(Error::storage)?;
        Ok(())
    }

    /// Reads the database's change counters and bumps the local generations
    /// when another replica wrote since the last look.
    pub async fn observe_generation(&self) -> Result<()> {
        let row = sqlx::query("SELECT value FROM governance_generation WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(Error::storage)?;
        let value: i64 = row.try_get(0).map_err(Error::storage)?;
        if self
            .generation
            .overlay_seen_in_db
            .swap(value, Ordering::AcqRel)
            != value
        {
            self.overlay_changed();
        }
        let row = sqlx::query("SELECT value FROM catalog_generation WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(Error::storage)?;
        let value: i64 = row.try_get(0).map_err(Error::storage)?;
        if self
            .generation
            .last_seen_in_db
            .swap(value, Ordering::AcqRel)
            != value
        {
            self.generation.local.fetch_add(1, Ordering::AcqRel);
        }
        Ok(())
    }

    async fn bump_generation(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<()> {
        sqlx::query("UPDATE catalog_generation SET value = value + 1 WHERE id = 1")
            .execute(&mut **tx)
            .await
            .map_err(Error::storage)?;
        Ok(())
    }

    /// A transaction that will write. SQLite takes the write lock at BEGIN
    /// (waiting up to busy_timeout): a deferred transaction that read first
    /// would fail outright when another writer committed in between.
    async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        match &self.writer {
            Some(writer) => writer.begin_with("BEGIN IMMEDIATE").await,
            None => self.pool.begin().await,
        }
        .map_err(Error::storage)
    }

    /// The pool single-statement writes go through (the writer on SQLite).
    fn write_pool(&self) -> &AnyPool {
        self.writer.as_ref().unwrap_or(&self.pool)
    }

    /// The dialect in use.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Number of applied migrations.
    pub async fn applied_migrations(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = TRUE")
            .fetch_one(&self.pool)
            .await
            .map_err(Error::storage)?;
        row.try_get::<i64, _>(0).map_err(Error::storage)
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").fetch_one(&self.pool).await.is_ok()
    }

    /// Closes the pool.
    pub async fn close(&self) {
        if let Some(writer) = &self.writer {
            writer.close().await;
        }
        self.pool.close().await;
    }

    /// Digests of every row of a source, by (kind, name).
    pub async fn source_digests(
        &self,
        plugin: &str,
        source_id: &str,
    ) -> Result<HashMap<(String, String), String>> {
        let rows = sqlx::query("SELECT kind, name, content_digest FROM catalog_records WHERE plugin = $1 AND source_id = $2")
            .bind(plugin)
            .bind(source_id)
            .fetch_all(&self.pool)
            .await
            .map_err(Error::storage)?;
        rows.iter()
            .map(|r| {
                Ok((
                    (get(r, "kind")?, get(r, "name")?),
                    get(r, "content_digest")?,
                ))
            })
            .collect()
    }

    /// Applies one sync of one source in a single transaction.
    pub async fn apply_sync(&self, batch: &SyncBatch) -> Result<SyncOutcome> {
        let mut tx = self.write_tx().await?;
        self.lock_plugin(&mut tx, &batch.plugin).await?;
        let existing_sql = format!(
            "SELECT kind, name, content_digest, revision_id, {} AS validated, first_seen_at, content_changed_at \
             FROM catalog_records WHERE plugin = $1 AND source_id = $2",
            self.dialect.bool_out("validated")
        );
        let existing = sqlx::query(AssertSqlSafe(existing_sql))
            .bind(&batch.plugin)
            .bind(&batch.source_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(Error::storage)?;
        struct Existing {
            digest: String,
            revision: String,
            validated: bool,
            first_seen: String,
        }
        let mut current: HashMap<(String, String), Existing> = HashMap::new();
        for row in &existing {
            current.insert(
                (get(row, "kind")?, get(row, "name")?),
                Existing {
                    digest: get(row, "content_digest")?,
                    revision: get(row, "revision_id")?,
                    validated: row.try_get::<i64, _>("validated").map_err(Error::storage)? != 0,
                    first_seen: get(row, "first_seen_at")?,
                },
            );
        }

        let now = timestamp(Utc::now());
        let mut outcome = SyncOutcome::default();
        let mut to_write: Vec<(&IncomingRecord, String)> = Vec::new();
        let mut relink: Vec<&IncomingRecord> = Vec::new();
        let mut seen: HashSet<(String, String)> = HashSet::new();
        for incoming in &batch.records {
            let key = (incoming.kind.clone(), incoming.name.clone());
            seen.insert(key.clone());
            match current.get(&key) {
                None => {
                    outcome.added += 1;
                    to_write.push((incoming, now.clone()));
                    relink.push(incoming);
                }
                Some(old) if old.digest != incoming.digest => {
                    outcome.changed += 1;
                    to_write.push((incoming, old.first_seen.clone()));
                    relink.push(incoming);
                }
                Some(old) if old.revision != incoming.provenance.revision.id || !old.validated => {
                    outcome.revised += 1;
                    self.update_revision(&mut tx, batch, incoming).await?;
                }
                Some(_) => outcome.unchanged += 1,
            }
        }
        let rejected: HashSet<(String, String)> = batch
            .rejected
            .iter()
            .map(|(k, n, _)| (k.clone(), n.clone()))
            .collect();
        let removed: Vec<&(String, String)> = current
            .keys()
            .filter(|k| !seen.contains(*k) && !rejected.contains(*k))
            .collect();
        outcome.removed = removed.len();

        self.upsert_records(&mut tx, batch, &to_write, &now).await?;
        for (kind, name) in &removed {
            for sql in [
                "DELETE FROM catalog_records WHERE plugin = $1 AND source_id = $2 AND kind = $3 AND name = $4",
                "DELETE FROM catalog_links WHERE from_plugin = $1 AND source_id = $2 AND from_kind = $3 AND from_name = $4",
            ] {
                sqlx::query(sql)
                    .bind(&batch.plugin)
                    .bind(&batch.source_id)
                    .bind(kind)
                    .bind(name)
                    .execute(&mut *tx)
                    .await
                    .map_err(Error::storage)?;
            }
        }
        for (kind, name, findings) in &batch.rejected {
            let sql = format!(
                "UPDATE catalog_records SET validated = FALSE, diagnostics = {} WHERE plugin = $2 AND source_id = $3 AND kind = $4 AND name = $5",
                self.dialect.json_in(1)
            );
            sqlx::query(AssertSqlSafe(sql))
                .bind(serde_json::to_string(findings).map_err(Error::internal)?)
                .bind(&batch.plugin)
                .bind(&batch.source_id)
                .bind(kind)
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(Error::storage)?;
        }
        let existed: HashSet<(String, String)> = current.keys().cloned().collect();
        self.relink(&mut tx, batch, &relink, &existed).await?;
        let moved = sqlx::query("UPDATE catalog_records SET source_position = $3 WHERE plugin = $1 AND source_id = $2 AND source_position <> $3")
            .bind(&batch.plugin)
            .bind(&batch.source_id)
            .bind(batch.position)
            .execute(&mut *tx)
            .await
            .map_err(Error::storage)?
            .rows_affected();
        if outcome.added + outcome.removed > 0 || moved > 0 {
            recompute_effective(&mut tx, &batch.plugin).await?;
        }
        self.write_status(&mut tx, &batch.plugin, &batch.source_id, &batch.state)
            .await?;
        let changed = outcome.changed_anything() || moved > 0 || !batch.rejected.is_empty();
        if changed {
            self.bump_generation(&mut tx).await?;
        }
        tx.commit().await.map_err(Error::storage)?;
        if changed {
            self.generation.local.fetch_add(1, Ordering::AcqRel);
        }
        Ok(outcome)
    }

    async fn lock_plugin(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        plugin: &str,
    ) -> Result<()> {
        if self.dialect == Dialect::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                // Per plugin, not per source: the effective-row recomputation of one
                // sync reads the rows of the plugin's other sources.
                .bind(format!("catalog-plugin/{plugin}"))
                .execute(&mut **tx)
                .await
                .map_err(Error::storage)?;
        }
        Ok(())
    }

    async fn update_revision(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        batch: &SyncBatch,
        incoming: &IncomingRecord,
    ) -> Result<()> {
        let sql = format!(
            "UPDATE catalog_records SET revision_id = $1, provenance = {}, validated = TRUE, diagnostics = {} \
             WHERE plugin = $4 AND source_id = $5 AND kind = $6 AND name = $7",
            self.dialect.json_in(2),
            self.dialect.json_in(3)
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(&incoming.provenance.revision.id)
            .bind(serde_json::to_string(&incoming.provenance).map_err(Error::internal)?)
            .bind(serde_json::to_string(&incoming.findings).map_err(Error::internal)?)
            .bind(&batch.plugin)
            .bind(&batch.source_id)
            .bind(&incoming.kind)
            .bind(&incoming.name)
            .execute(&mut **tx)
            .await
            .map_err(Error::storage)?;
        Ok(())
    }

    async fn upsert_records(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        batch: &SyncBatch,
        rows: &[(&IncomingRecord, String)],
        now: &str,
    ) -> Result<()> {
        const COLUMNS: usize = 18;
        for chunk in rows.chunks(INSERT_CHUNK) {
            let mut sql = String::from(
                "INSERT INTO catalog_records (plugin, kind, name, source_id, asset_uid, source_position, record, content_digest, \
                 revision_id, provenance, refs, display_name, description, validated, diagnostics, created_at, updated_at, \
                 first_seen_at, content_changed_at) VALUES ",
            );
            for i in 0..chunk.len() {
                let b = i * COLUMNS;
                let d = self.dialect;
                if i > 0 {
                    sql.push(',');
                }
                // Columns 7, 10, 11 and 14 hold JSON.
                let values: Vec<String> = (1..=COLUMNS)
                    .map(|c| {
                        if matches!(c, 7 | 10 | 11 | 14) {
                            d.json_seq(b + c)
                        } else {
                            d.seq(b + c)
                        }
                    })
                    .collect();
                sql.push_str(&format!(
                    "({},TRUE,{})",
                    values[..13].join(","),
                    values[13..].join(",")
                ));
            }
            sql.push_str(
                " ON CONFLICT (plugin, kind, name, source_id) DO UPDATE SET source_position = excluded.source_position, \
                 record = excluded.record, content_digest = excluded.content_digest, revision_id = excluded.revision_id, \
                 provenance = excluded.provenance, refs = excluded.refs, display_name = excluded.display_name, \
                 description = excluded.description, validated = TRUE, diagnostics = excluded.diagnostics, \
                 created_at = excluded.created_at, updated_at = excluded.updated_at, content_changed_at = excluded.content_changed_at",
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for (incoming, first_seen) in chunk {
                let created = incoming
                    .created_at
                    .map(timestamp)
                    .unwrap_or_else(|| first_seen.clone());
                let updated = incoming
                    .updated_at
                    .map(timestamp)
                    .unwrap_or_else(|| now.to_string());
                query = query
                    .bind(batch.plugin.clone())
                    .bind(incoming.kind.clone())
                    .bind(incoming.name.clone())
                    .bind(batch.source_id.clone())
                    .bind(incoming.uid.clone())
                    .bind(batch.position)
                    .bind(incoming.record_json.clone())
                    .bind(incoming.digest.clone())
                    .bind(incoming.provenance.revision.id.clone())
                    .bind(serde_json::to_string(&incoming.provenance).map_err(Error::internal)?)
                    .bind(serde_json::to_string(&incoming.refs).map_err(Error::internal)?)
                    .bind(incoming.display_name.clone())
                    .bind(incoming.description.clone())
                    .bind(serde_json::to_string(&incoming.findings).map_err(Error::internal)?)
                    .bind(created)
                    .bind(updated)
                    .bind(first_seen.clone())
                    .bind(now.to_string());
            }
            query.execute(&mut **tx).await.map_err(Error::storage)?;
        }
        Ok(())
    }

    async fn relink(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        batch: &SyncBatch,
        records: &[&IncomingRecord],
        existed: &HashSet<(String, String)>,
    ) -> Result<()> {
        // Rows new to this source have no links yet; only replaced rows
        // need their old links removed.
        for record in records
            .iter()
            .filter(|r| existed.contains(&(r.kind.clone(), r.name.clone())))
        {
            sqlx::query("DELETE FROM catalog_links WHERE from_plugin = $1 AND source_id = $2 AND from_kind = $3 AND from_name = $4")
                .bind(&batch.plugin)
                .bind(&batch.source_id)
                .bind(&record.kind)
                .bind(&record.name)
                .execute(&mut **tx)
                .await
                .map_err(Error::storage)?;
        }
        let links: Vec<(&IncomingRecord, &Reference)> = records
            .iter()
            .flat_map(|r| r.refs.iter().map(move |l| (*r, l)))
            .collect();
        const COLUMNS: usize = 9;
        for chunk in links.chunks(INSERT_CHUNK) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let placeholders: Vec<String> = (1..=COLUMNS)
                        .map(|c| self.dialect.seq(i * COLUMNS + c))
                        .collect();
                    format!("({})", placeholders.join(","))
                })
                .collect();
            let sql = format!(
                "INSERT INTO catalog_links (from_plugin, from_kind, from_name, source_id, path, link_type, target_plugin, target_kind, target_name) \
                 VALUES {} ON CONFLICT DO NOTHING",
                values.join(",")
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for (record, link) in chunk {
                query = query
                    .bind(batch.plugin.clone())
                    .bind(record.kind.clone())
                    .bind(record.name.clone())
                    .bind(batch.source_id.clone())
                    .bind(link.path.clone())
                    .bind(link.link_type.clone())
                    .bind(link.plugin.clone())
                    .bind(link.kind.clone())
                    .bind(link.name.clone());
            }
            query.execute(&mut **tx).await.map_err(Error::storage)?;
        }
        Ok(())
    }

    /// Removes every row of a source (disabled or removed sources).
    pub async fn remove_source_records(&self, plugin: &str, source_id: &str) -> Result<u64> {
        let mut tx = self.write_tx().await?;
        self.lock_plugin(&mut tx, plugin).await?;
        sqlx::query("DELETE FROM catalog_links WHERE from_plugin = $1 AND source_id = $2")
            .bind(plugin)
            .bind(source_id)
            .execute(&mut *tx)
            .await
            .map_err(Error::storage)?;
        let removed =
            sqlx::query("DELETE FROM catalog_records WHERE plugin = $1 AND source_id = $2")
                .bind(plugin)
                .bind(source_id)
                .execute(&mut *tx)
                .await
                .map_err(Error::storage)?
                .rows_affected();
        if removed > 0 {
            recompute_effective(&mut tx, plugin).await?;
            self.bump_generation(&mut tx).await?;
        }
        tx.commit().await.map_err(Error::storage)?;
        if removed > 0 {
            self.generation.local.fetch_add(1, Ordering::AcqRel);
        }
        Ok(removed)
    }

    /// Plugins and source ids that still have rows.
    pub async fn sources_with_records(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT DISTINCT plugin, source_id FROM catalog_records")
            .fetch_all(&self.pool)
            .await
            .map_err(Error::storage)?;
        rows.iter()
            .map(|r| Ok((get(r, "plugin")?, get(r, "source_id")?)))
            .collect()
    }

    fn record_columns(&self) -> String {
        let d = self.dialect;
        format!(
            "r.plugin, r.kind, r.name, r.source_id, r.asset_uid, {} AS record, r.content_digest, {} AS provenance, {} AS refs, \
             {} AS validated, {} AS diagnostics, r.created_at, r.updated_at, \
             CAST(g.metadata AS TEXT) AS gov_metadata, g.lifecycle_state AS gov_state, g.lifecycle_reason AS gov_reason, \
             g.lifecycle_changed_by AS gov_changed_by, g.lifecycle_changed_at AS gov_changed_at, \
             CAST(g.lifecycle_replacement_ref AS TEXT) AS gov_replacement, {} AS initial_state",
            d.json_out("r.record"),
            d.json_out("r.provenance"),
            d.json_out("r.refs"),
            d.bool_out("r.validated"),
            d.json_out("r.diagnostics"),
            self.initial_state_sql("r"),
        )
    }

    /// The effective record of a key, with the targets of its references
    /// that exist and the live links that point at it, in one round trip:
    /// a cache miss on GetAsset costs a single query.
    pub async fn get_asset(
        &self,
        plugin: &str,
        kind: &str,
        name: &str,
    ) -> Result<Option<AssetRow>> {
        let d = self.dialect;
        let sql = format!(
            "SELECT {columns}, \
             (SELECT {found} FROM catalog_links l CROSS JOIN catalog_records t \
               LEFT JOIN asset_governance tg ON tg.plugin = t.plugin AND tg.kind = t.kind AND tg.name = t.name \
               WHERE l.from_plugin = r.plugin AND l.from_kind = r.kind AND l.from_name = r.name AND l.source_id = r.source_id \
                 AND t.plugin = l.target_plugin AND t.kind = l.target_kind AND t.name = l.target_name AND t.is_effective = TRUE) AS found, \
             (SELECT {inbound} FROM catalog_links l CROSS JOIN catalog_records f \
               LEFT JOIN asset_governance fg ON fg.plugin = f.plugin AND fg.kind = f.kind AND fg.name = f.name \
               WHERE l.target_plugin = r.plugin AND l.target_kind = r.kind AND l.target_name = r.name \
                 AND f.plugin = l.from_plugin AND f.kind = l.from_kind AND f.name = l.from_name \
                 AND f.source_id = l.source_id AND f.is_effective = TRUE) AS inbound \
             FROM catalog_records r {join} WHERE r.plugin = $1 AND r.kind = $2 AND r.name = $3 AND r.is_effective = TRUE",
            columns = self.record_columns(),
            join = GOVERNANCE_JOIN,
            found = d.json_rows(&["t.plugin", "t.kind", "t.name", &self.lifecycle_sql("t", "tg")]),
            inbound = d.json_rows(&[
                "l.from_plugin",
                "l.from_kind",
                "l.from_name",
                "l.link_type",
                "l.path",
                &self.lifecycle_sql("f", "fg"),
            ]),
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(plugin)
            .bind(kind)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(Error::storage)?;
        let Some(row) = row else { return Ok(None) };
        let record = stored_record(&row)?;
        let found: Vec<(String, String, String, String)> = json_column(&row, "found")?;
        let mut inbound: Vec<InboundLink> =
            json_column::<Vec<(String, String, String, String, String, String)>>(&row, "inbound")?
                .into_iter()
                .map(|(plugin, kind, name, link_type, path, state)| InboundLink {
                    plugin,
                    kind,
                    name,
                    link_type,
                    path,
                    state,
                })
                .collect();
        inbound.sort_by(|a, b| {
            (&a.plugin, &a.kind, &a.name, &a.path).cmp(&(&b.plugin, &b.kind, &b.name, &b.path))
        });
        Ok(Some(AssetRow {
            record,
            found_targets: found
                .into_iter()
                .map(|(p, k, n, state)| ((p, k, n), state))
                .collect(),
            inbound,
        }))
    }

    /// The record one source supplies for a key, effective or shadowed
    /// (a native read scoped to a source answers what that source says,
    /// as the Kubeflow model catalog does per source).
    pub async fn get_source_record(
        &self,
        plugin: &str,
        kind: &str,
        name: &str,
        source_id: &str,
    ) -> Result<Option<StoredRecord>> {
        let sql = format!(
            "SELECT {columns} FROM catalog_records r {join} \
             WHERE r.plugin = $1 AND r.kind = $2 AND r.name = $3 AND r.source_id = $4",
            columns = self.record_columns(),
            join = GOVERNANCE_JOIN,
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(plugin)
            .bind(kind)
            .bind(name)
            .bind(source_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(Error::storage)?;
        row.as_ref().map(stored_record).transpose()
    }

    /// Whether a source has any live record of a plugin.
    pub async fn source_has_records(&self, plugin: &str, source_id: &str) -> Result<bool> {
        let row = sqlx::query(
            "SELECT 1 AS present FROM catalog_records WHERE plugin = $1 AND source_id = $2 LIMIT 1",
        )
        .bind(plugin)
        .bind(source_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(Error::storage)?;
        Ok(row.is_some())
    }

    /// A page of effective records.
    pub async fn list_records(&self, query: &RecordQuery) -> Result<RecordPage> {
        let built = query::build(
            self.dialect,
            query,
            &self.record_columns(),
            &self.lifecycle_sql("r", "g"),
        )?;
        let mut select = sqlx::query(AssertSqlSafe(built.select));
        for param in &built.params {
            select = param.bind(select);
        }
        let rows = select.fetch_all(&self.pool).await.map_err(Error::storage)?;
        let mut items: Vec<StoredRecord> = rows.iter().map(stored_record).collect::<Result<_>>()?;
        let has_more = items.len() > query.limit as usize;
        items.truncate(query.limit as usize);
        let total = match built.count {
            Some(sql) => {
                let mut count = sqlx::query(AssertSqlSafe(sql));
                for param in &built.count_params {
                    count = param.bind(count);
                }
                let row = count.fetch_one(&self.pool).await.map_err(Error::storage)?;
                Some(row.try_get::<i64, _>(0).map_err(Error::storage)?)
            }
            None => None,
        };
        Ok(RecordPage {
            items,
            has_more,
            total,
        })
    }

    /// Stored state of every source.
    pub async fn source_states(&self) -> Result<Vec<StoredSourceState>> {
        let sql = format!(
            "SELECT plugin, source_id, {} AS enabled_override, {} AS applied_definition, {} AS status FROM source_state ORDER BY plugin, source_id",
            self.dialect.bool_out("enabled_override"),
            self.dialect.json_out("applied_definition"),
            self.dialect.json_out("status")
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await
            .map_err(Error::storage)?;
        rows.iter()
            .map(|row| {
                let applied: Option<String> =
                    row.try_get("applied_definition").map_err(Error::storage)?;
                let status: String = get(row, "status")?;
                Ok(StoredSourceState {
                    plugin: get(row, "plugin")?,
                    source_id: get(row, "source_id")?,
                    overrides: SourceOverrides {
                        enabled: row
                            .try_get::<Option<i64>, _>("enabled_override")
                            .map_err(Error::storage)?
                            .map(|v| v != 0),
                        applied: applied
                            .map(|text: String| serde_json::from_str::<SourceDefinition>(&text))
                            .transpose()
                            .map_err(Error::internal)?,
                    },
                    status: serde_json::from_str(&status).unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Stores the status of a source outside a sync (errors, disabling).
    pub async fn save_status(
        &self,
        plugin: &str,
        source_id: &str,
        state: &SourceState,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        self.write_status(&mut tx, plugin, source_id, state).await?;
        tx.commit().await.map_err(Error::storage)
    }

    async fn write_status(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        plugin: &str,
        source_id: &str,
        state: &SourceState,
    ) -> Result<()> {
        let ts = match self.dialect {
            Dialect::Sqlite => "$5",
            Dialect::Postgres => "$5::timestamptz",
        };
        let sql = format!(
            "INSERT INTO source_state (plugin, source_id, state, status, updated_at) VALUES ($1, $2, $3, {}, {ts}) \
             ON CONFLICT (plugin, source_id) DO UPDATE SET state = excluded.state, status = excluded.status, updated_at = excluded.updated_at",
            self.dialect.json_in(4)
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(plugin)
            .bind(source_id)
            .bind(&state.state)
            .bind(serde_json::to_string(state).map_err(Error::internal)?)
            .bind(timestamp(Utc::now()))
            .execute(&mut **tx)
            .await
            .map_err(Error::storage)?;
        Ok(())
    }

    /// Stores a runtime enabled override (None clears it).
    pub async fn set_enabled_override(
        &self,
        plugin: &str,
        source_id: &str,
        enabled: Option<bool>,
    ) -> Result<()> {
        let ts = if self.dialect == Dialect::Postgres {
            "$4::timestamptz"
        } else {
            "$4"
        };
        let sql = format!(
            "INSERT INTO source_state (plugin, source_id, enabled_override, updated_at) VALUES ($1, $2, $3, {ts}) \
             ON CONFLICT (plugin, source_id) DO UPDATE SET enabled_override = excluded.enabled_override, updated_at = excluded.updated_at"
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(plugin)
            .bind(source_id)
            .bind(enabled)
            .bind(timestamp(Utc::now()))
            .execute(self.write_pool())
            .await
            .map_err(Error::storage)?;
        Ok(())
    }

    /// Stores a source definition created by `apply`.
    pub async fn set_applied_definition(
        &self,
        plugin: &str,
        definition: &SourceDefinition,
    ) -> Result<()> {
        let ts = if self.dialect == Dialect::Postgres {
            "$4::timestamptz"
        } else {
            "$4"
        };
        let sql = format!(
            "INSERT INTO source_state (plugin, source_id, applied_definition, updated_at) VALUES ($1, $2, {}, {ts}) \
             ON CONFLICT (plugin, source_id) DO UPDATE SET applied_definition = excluded.applied_definition, \
             enabled_override = NULL, updated_at = excluded.updated_at",
            self.dialect.json_in(3)
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(plugin)
            .bind(&definition.id)
            .bind(serde_json::to_string(definition).map_err(Error::internal)?)
            .bind(timestamp(Utc::now()))
            .execute(self.write_pool())
            .await
            .map_err(Error::storage)?;
        Ok(())
    }
}

async fn recompute_effective(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    plugin: &str,
) -> Result<()> {
    // The row of the first-listed source wins; positions are unique per plugin.
    sqlx::query(
        "UPDATE catalog_records SET is_effective = (source_position = (SELECT MIN(o.source_position) FROM catalog_records o \
           WHERE o.plugin = catalog_records.plugin AND o.kind = catalog_records.kind AND o.name = catalog_records.name)) \
         WHERE plugin = $1 AND is_effective <> (source_position = (SELECT MIN(o.source_position) FROM catalog_records o \
           WHERE o.plugin = catalog_records.plugin AND o.kind = catalog_records.kind AND o.name = catalog_records.name))",
    )
    .bind(plugin)
    .execute(&mut **tx)
    .await
    .map_err(Error::storage)?;
    Ok(())
}

fn get(row: &AnyRow, column: &str) -> Result<String> {
    row.try_get::<String, _>(column).map_err(Error::storage)
}

/// The overlay columns of a record query as one governance document.
fn governance_block(row: &AnyRow) -> Value {
    let text = |c: &str| row.try_get::<Option<String>, _>(c).ok().flatten();
    let Some(state) = text("gov_state") else {
        return Value::Null;
    };
    let mut doc = text("gov_metadata")
        .and_then(|m| serde_json::from_str::<Value>(&m).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| serde_json::json!({}));
    doc["lifecycle"] = serde_json::json!({
        "state": state,
        "reason": text("gov_reason"),
        "changedBy": text("gov_changed_by"),
        "changedAt": text("gov_changed_at"),
        "replacementRef": text("gov_replacement").and_then(|r| serde_json::from_str::<Value>(&r).ok()),
    });
    doc
}

fn json_column<T: serde::de::DeserializeOwned>(row: &AnyRow, column: &str) -> Result<T> {
    serde_json::from_str(&get(row, column)?).map_err(Error::internal)
}

fn stored_record(row: &AnyRow) -> Result<StoredRecord> {
    let json = |column: &str| -> Result<Value> {
        serde_json::from_str(&get(row, column)?).map_err(Error::internal)
    };
    Ok(StoredRecord {
        plugin: get(row, "plugin")?,
        kind: get(row, "kind")?,
        name: get(row, "name")?,
        source_id: get(row, "source_id")?,
        uid: get(row, "asset_uid")?,
        record: json("record")?,
        digest: get(row, "content_digest")?,
        provenance: json_column(row, "provenance")?,
        refs: json_column(row, "refs")?,
        validated: row.try_get::<i64, _>("validated").map_err(Error::storage)? != 0,
        diagnostics: json_column(row, "diagnostics").unwrap_or_default(),
        created_at: parse_timestamp(&get(row, "created_at")?),
        updated_at: parse_timestamp(&get(row, "updated_at")?),
        governance: governance_block(row),
        initial_state: get(row, "initial_state")?,
    })
}

/// Why the database could not be opened; each maps to an exit code.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Bad URL or folder (exit 2).
    #[error("database configuration: {0}")]
    Config(String),
    /// Not reachable in time (exit 4).
    #[error("database unreachable: {0}")]
    Unreachable(String),
    /// A migration failed (exit 3).
    #[error("migration failed: {0}")]
    Migration(String),
}

/// The database file of a `sqlite:` URL; None for other databases and
/// in-memory SQLite.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let path = url.strip_prefix("sqlite:")?;
    let path = path.strip_prefix("//").unwrap_or(path);
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(std::path::PathBuf::from(path))
}

fn prepare_sqlite_dir(url: &str) -> Result<(), OpenError> {
    let Some(path) = sqlite_file(url) else {
        return Ok(());
    };
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent).map_err(|e| {
                OpenError::Config(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
    }
    Ok(())
}

/// A database URL without its password, for logs and errors.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..])
        }
        _ => url.to_string(),
    }
}
