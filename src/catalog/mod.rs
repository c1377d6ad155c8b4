//! The read side of the catalog: listing, getting and cross-referencing
//! assets of any plugin. It resolves kinds and filter paths against the
//! plugin registry, asks storage for records and assembles the universal
//! view (record, source, provenance, links). Transports only convert.
//! [`native`] adds the native reads scoped to one source and the native
//! artifact lists.

mod cache;
mod native;
mod packing;

pub use cache::{CacheStats, ReadCache};
pub use native::{artifacts_of, ArtifactPage, NativeKey};

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;

use crate::domain::asset::{AssetKey, Reference};
use crate::domain::filter::{self, Expr, Literal, Op};
use crate::domain::paging::{page_size, query_hash, Cursor};
use crate::domain::plugin::PluginManifest;
use crate::domain::{Error, Reason, Result};
use crate::plugins::Registry;
use crate::sources::engine::{EffectiveSource, Engine};
use crate::storage::{Cond, GovField, OrderKey, RecordQuery, Store, StoredRecord, Target};

/// Paths every kind accepts in filters and that need no manifest entry.
const UNIVERSAL_ROOTS: &[&str] = &[
    "metadata",
    "spec",
    "governance",
    "lifecycleState",
    "sourceId",
    "sourceLabel",
    "name",
];

/// The application service behind the asset, plugin and source APIs.
#[derive(Clone)]
pub struct Catalog {
    registry: Registry,
    store: Store,
    engine: Arc<Engine>,
}

/// List parameters shared by ListAssets, ListAllAssets and ListEntities.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    /// filterQuery.
    pub filter_query: String,
    /// lifecycleState (repeatable).
    pub lifecycle_states: Vec<String>,
    /// includeArchived.
    pub include_archived: bool,
    /// riskLevel (repeatable).
    pub risk_levels: Vec<String>,
    /// complianceTag (repeatable).
    pub compliance_tags: Vec<String>,
    /// owner.
    pub owner: String,
    /// team.
    pub team: String,
    /// sourceId.
    pub source_id: String,
    /// label key=value (repeatable).
    pub labels: Vec<String>,
    /// q.
    pub q: String,
    /// pageSize.
    pub page_size: i32,
    /// pageToken.
    pub page_token: String,
    /// orderBy.
    pub order_by: String,
    /// sortOrder.
    pub sort_order: String,
    /// includeTotal.
    pub include_total: bool,
}

/// An asset as the universal envelope shows it.
#[derive(Debug, Clone)]
pub struct AssetView {
    /// The stored record.
    pub record: StoredRecord,
    /// Type of its source.
    pub source_type: String,
    /// Labels of its source.
    pub source_labels: Vec<String>,
    /// Lifecycle state.
    pub lifecycle_state: String,
    /// Outbound links (Get only).
    pub outbound: Vec<LinkView>,
    /// Inbound links (Get only).
    pub inbound: Vec<LinkView>,
}

/// One end of a link, with its resolution.
#[derive(Debug, Clone)]
pub struct LinkView {
    /// Link type.
    pub link_type: String,
    /// Target (or source, for inbound links).
    pub key: AssetKey,
    /// resolved-draft, unresolved, plugin-unavailable...
    pub resolution: String,
    /// Attributes.
    pub attributes: BTreeMap<String, String>,
}

/// A page of assets.
#[derive(Debug, Clone)]
pub struct AssetPage {
    /// Items.
    pub items: Vec<AssetView>,
    /// Next page token, empty on the last page.
    pub next_page_token: String,
    /// Total, when asked for.
    pub total: Option<i64>,
    /// Page size used.
    pub page_size: u32,
}

impl Catalog {
    /// A catalog over a registry, a store and a sync engine.
    pub fn new(registry: Registry, store: Store, engine: Arc<Engine>) -> Self {
        Catalog {
            registry,
            store,
            engine,
        }
    }

    /// The plugin registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The sync engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Lists assets of the given plugins (all when empty) and kinds.
    pub async fn list(
        &self,
        plugins: &[String],
        kinds: &[String],
        params: &ListParams,
    ) -> Result<AssetPage> {
        let manifests = self.scope(plugins, kinds)?;
        let sources = self.engine.effective_sources(None).await;
        let mut conditions = Vec::new();
        if let Some(expr) = filter::parse(&params.filter_query)? {
            conditions.push(resolve(&expr, &manifests, &sources)?);
        }
        conditions.extend(convenience_filters(params)?);
        let order = order_key(&params.order_by, &manifests)?;
        let descending = match params.sort_order.to_ascii_uppercase().as_str() {
            "" => matches!(order, OrderKey::CreatedAt | OrderKey::UpdatedAt),
            "ASC" => false,
            "DESC" => true,
            other => {
                return Err(Error::new(
                    Reason::InvalidParams,
                    format!("sortOrder {other:?} must be ASC or DESC"),
                )
                .violation("sortOrder", "ASC or DESC"))
            }
        };
        let scope: Vec<String> = manifests.iter().map(|m| m.name().to_string()).collect();
        let hash = query_hash(&[
            &scope.join(","),
            &params.filter_query,
            &params.lifecycle_states.join(","),
            &params.risk_levels.join(","),
            &params.compliance_tags.join(","),
            &params.owner,
            &params.team,
            &params.source_id,
            &params.labels.join(","),
            &params.q,
            &format!("{order:?}"),
            if descending { "DESC" } else { "ASC" },
            &params.include_archived.to_string(),
        ]);
        let after = if params.page_token.is_empty() {
            None
        } else {
            Some(Cursor::decode(&params.page_token, &hash)?)
        };
        let limit = page_size(params.page_size);
        let query = RecordQuery {
            scopes: manifests
                .iter()
                .map(|m| (m.name().to_string(), m.spec.entity.kind.clone()))
                .collect(),
            filter: if conditions.is_empty() {
                None
            } else {
                Some(Cond::And(conditions))
            },
            q: Some(params.q.clone()).filter(|q| !q.is_empty()),
            order: order.clone(),
            descending,
            after,
            limit,
            include_total: params.include_total,
        };
        let page = self.store.list_records(&query).await?;
        let next_page_token = match (page.has_more, page.items.last()) {
            (true, Some(last)) => Cursor {
                sort_value: sort_value(&order, last),
                tie: vec![last.plugin.clone(), last.kind.clone(), last.name.clone()],
                query_hash: hash,
            }
            .encode(),
            _ => String::new(),
        };
        let sources = self
            .engine
            .effective_sources_covering(None, &record_sources(&page.items))
            .await;
        let items = page
            .items
            .into_iter()
            .map(|record| self.view(record, &sources))
            .collect();
        Ok(AssetPage {
            items,
            next_page_token,
            total: page.total,
            page_size: limit,
        })
    }

    /// One asset with its links.
    pub async fn get(&self, plugin: &str, kind: &str, name: &str) -> Result<AssetView> {
        let manifest = self.registry.resolve_kind(plugin, kind)?.clone();
        self.assemble(plugin, &manifest, name).await
    }

    /// The governed key `get` would read, with the kind resolved (an alias
    /// and the canonical kind give the same key).
    pub fn asset_key(&self, plugin: &str, kind: &str, name: &str) -> Result<AssetKey> {
        let manifest = self.registry.resolve_kind(plugin, kind)?;
        Ok(AssetKey::new(
            plugin,
            manifest.spec.entity.kind.clone(),
            name,
        ))
    }

    /// A number that changes whenever what `get` answers may have changed
    /// ([`ReadCache`] entries are scoped to it). Read it before reading the
    /// asset, so a change racing the read starts a newer generation.
    pub fn view_generation(&self) -> u64 {
        self.store.view_generation()
    }

    async fn assemble(
        &self,
        plugin: &str,
        manifest: &PluginManifest,
        name: &str,
    ) -> Result<AssetView> {
        let kind = manifest.spec.entity.kind.clone();
        let row = self.store.get_asset(plugin, &kind, name).await?.ok_or_else(|| {
            Error::new(Reason::AssetNotFound, format!("no {kind} named {name:?} in plugin {plugin}; list assets to see what exists"))
                .with("plugin", plugin)
                .with("kind", &kind)
                .with("name", name)
        })?;
        let sources = self
            .engine
            .effective_sources_covering(
                Some(plugin),
                &record_sources(std::slice::from_ref(&row.record)),
            )
            .await;
        let outbound = row
            .record
            .refs
            .iter()
            .map(|r| self.outbound_link(r, &row.found_targets))
            .collect();
        let inbound = row
            .inbound
            .into_iter()
            .map(|link| LinkView {
                link_type: link.link_type,
                key: AssetKey::new(link.plugin, link.kind, link.name),
                resolution: resolution_of(&link.state).into(),
                attributes: BTreeMap::from([("path".to_string(), link.path)]),
            })
            .collect();
        let mut view = self.view(row.record, &sources);
        view.outbound = outbound;
        view.inbound = inbound;
        Ok(view)
    }

    fn outbound_link(
        &self,
        reference: &Reference,
        existing: &HashMap<(String, String, String), String>,
    ) -> LinkView {
        let mut attributes = reference.attributes.clone();
        attributes.insert("path".into(), reference.path.clone());
        if let Some(version) = &reference.version {
            attributes.insert("version".into(), version.clone());
        }
        let (kind, resolution) = match self.registry.get(&reference.plugin) {
            Err(_) => (reference.kind.clone(), "plugin-unavailable"),
            Ok(manifest) => {
                let kind = manifest.spec.entity.kind.clone();
                let found = existing.get(&(
                    reference.plugin.clone(),
                    kind.clone(),
                    reference.name.clone(),
                ));
                (
                    kind,
                    found.map_or("unresolved", |state| resolution_of(state)),
                )
            }
        };
        LinkView {
            link_type: reference.link_type.clone(),
            key: AssetKey::new(reference.plugin.clone(), kind, reference.name.clone()),
            resolution: resolution.into(),
            attributes,
        }
    }

    fn view(&self, record: StoredRecord, sources: &[EffectiveSource]) -> AssetView {
        let source = sources
            .iter()
            .find(|s| s.plugin == record.plugin && s.definition.id == record.source_id);
        AssetView {
            source_type: source
                .map(|s| s.definition.source_type.clone())
                .unwrap_or_else(|| record.provenance.source.source_type.clone()),
            source_labels: source
                .map(|s| s.definition.labels.clone())
                .unwrap_or_default(),
            lifecycle_state: record.lifecycle_state().to_string(),
            record,
            outbound: vec![],
            inbound: vec![],
        }
    }

    /// Manifests in scope of a list call.
    fn scope(&self, plugins: &[String], kinds: &[String]) -> Result<Vec<Arc<PluginManifest>>> {
        let mut manifests: Vec<Arc<PluginManifest>> = if plugins.is_empty() {
            self.registry.all().to_vec()
        } else {
            plugins
                .iter()
                .map(|p| self.registry.get(p).cloned())
                .collect::<Result<_>>()?
        };
        if !kinds.is_empty() {
            let kept: Vec<Arc<PluginManifest>> = manifests
                .iter()
                .filter(|m| kinds.iter().any(|k| m.matches_kind(k)))
                .cloned()
                .collect();
            if kept.is_empty() {
                let kind = kinds.join(", ");
                return Err(Error::new(
                    Reason::KindNotFound,
                    format!("no plugin in scope has kind {kind}"),
                )
                .with("kind", kind));
            }
            manifests = kept;
        }
        Ok(manifests)
    }
}

/// The (plugin, source id) pairs the records come from.
fn record_sources(records: &[StoredRecord]) -> HashSet<(String, String)> {
    records
        .iter()
        .map(|r| (r.plugin.clone(), r.source_id.clone()))
        .collect()
}

fn sort_value(order: &OrderKey, record: &StoredRecord) -> Value {
    match order {
        OrderKey::Name => Value::String(record.name.clone()),
        OrderKey::CreatedAt => Value::String(crate::storage::timestamp(record.created_at)),
        OrderKey::UpdatedAt => Value::String(crate::storage::timestamp(record.updated_at)),
        OrderKey::Record(path) => path
            .iter()
            .try_fold(&record.record, |v, segment| v.get(segment))
            .cloned()
            .unwrap_or(Value::Null),
    }
}

fn order_key(order_by: &str, manifests: &[Arc<PluginManifest>]) -> Result<OrderKey> {
    match order_by {
        "" | "name" => Ok(OrderKey::Name),
        "createdAt" | "create_time" | "CREATE_TIME" => Ok(OrderKey::CreatedAt),
        "updatedAt" | "last_update_time" | "LAST_UPDATE_TIME" => Ok(OrderKey::UpdatedAt),
        other => {
            let column = manifests
                .iter()
                .flat_map(|m| m.spec.entity.columns.iter())
                .find(|c| c.sortable && (c.name == other || c.path == other));
            match column {
                Some(column) => Ok(OrderKey::Record(
                    column.path.split('.').map(str::to_string).collect(),
                )),
                None => {
                    let sortable: Vec<String> = manifests
                        .iter()
                        .flat_map(|m| {
                            m.spec
                                .entity
                                .columns
                                .iter()
                                .filter(|c| c.sortable)
                                .map(|c| c.name.clone())
                        })
                        .collect();
                    Err(Error::new(
                        Reason::InvalidOrderBy,
                        format!("cannot order by {other:?}; use name, createdAt, updatedAt or a sortable column ({})", sortable.join(", ")),
                    )
                    .violation("orderBy", "not sortable"))
                }
            }
        }
    }
}

/// Resolves the paths of a parsed filter against the plugins in scope.
pub fn resolve(
    expr: &Expr,
    manifests: &[Arc<PluginManifest>],
    sources: &[EffectiveSource],
) -> Result<Cond> {
    Ok(match expr {
        Expr::And(items) => Cond::And(
            items
                .iter()
                .map(|e| resolve(e, manifests, sources))
                .collect::<Result<_>>()?,
        ),
        Expr::Or(items) => Cond::Or(
            items
                .iter()
                .map(|e| resolve(e, manifests, sources))
                .collect::<Result<_>>()?,
        ),
        Expr::Not(inner) => Cond::Not(Box::new(resolve(inner, manifests, sources)?)),
        Expr::Predicate(p) => {
            let path: Vec<&str> = p.path.iter().map(String::as_str).collect();
            let target = match path.as_slice() {
                ["name"] | ["metadata", "name"] => Target::Name,
                ["sourceId"] | ["metadata", "sourceRef", "sourceId"] => Target::SourceId,
                ["metadata", "uid"] => Target::Uid,
                ["metadata", "sourceRef", "plugin"] => Target::Plugin,
                ["kind"] if !manifests.iter().any(|m| m.declares_path("kind")) => Target::Kind,
                ["lifecycleState"]
                | ["governance", "lifecycle", "state"]
                | ["status", "lifecycle", "phase"] => Target::Governance(GovField::LifecycleState),
                ["governance", "risk", "level"] => Target::Governance(GovField::RiskLevel),
                ["governance", "owner", "principal"] => Target::Governance(GovField::Owner),
                ["governance", "team", "name"] => Target::Governance(GovField::Team),
                ["governance", "sla", "tier"] => Target::Governance(GovField::SlaTier),
                ["governance", "compliance", "tags"] => Target::Governance(GovField::ComplianceTag),
                ["governance", ..] => {
                    return Err(Error::new(
                        Reason::InvalidFilter,
                        format!(
                            "{} cannot be filtered on; governance filters take lifecycle.state, risk.level, owner.principal, team.name, sla.tier or compliance.tags",
                            p.path.join(".")
                        ),
                    )
                    .violation("filterQuery", "unsupported governance path"))
                }
                ["sourceLabel"] | ["metadata", "sourceRef", "sourceLabels"] => {
                    return source_label_cond(p.op, &p.values, sources)
                }
                ["metadata", "labels", rest @ ..] if !rest.is_empty() => {
                    Target::Record(prefixed("labels", rest))
                }
                ["metadata", "annotations", rest @ ..] if !rest.is_empty() => {
                    Target::Record(prefixed("annotations", rest))
                }
                ["metadata", "tags"] => Target::Record(vec!["tags".into()]),
                ["metadata", "displayName"] => Target::Record(vec!["displayName".into()]),
                ["metadata", "description"] => Target::Record(vec!["description".into()]),
                ["spec", rest @ ..] if !rest.is_empty() => {
                    Target::Record(rest.iter().map(|s| s.to_string()).collect())
                }
                [root, ..] if manifests.iter().any(|m| m.declares_path(root)) => {
                    Target::Record(p.path.clone())
                }
                _ => {
                    let dotted = p.path.join(".");
                    let hint = if UNIVERSAL_ROOTS.contains(&path[0]) {
                        "this universal path is not supported"
                    } else {
                        "the kind does not declare it"
                    };
                    return Err(Error::new(Reason::InvalidFilter, format!("filterQuery: cannot filter on {dotted:?}: {hint}; see the plugin's capabilities for filter fields"))
                        .with("path", dotted));
                }
            };
            Cond::Cmp {
                target,
                op: p.op,
                values: p.values.clone(),
            }
        }
    })
}

fn prefixed(root: &str, rest: &[&str]) -> Vec<String> {
    std::iter::once(root.to_string())
        .chain(rest.iter().map(|s| s.to_string()))
        .collect()
}

fn source_label_cond(op: Op, values: &[Literal], sources: &[EffectiveSource]) -> Result<Cond> {
    let wanted: Vec<String> = values
        .iter()
        .map(|v| match v {
            Literal::Str(s) => Ok(s.clone()),
            _ => Err(Error::new(
                Reason::InvalidFilter,
                "filterQuery: sourceLabel takes quoted strings",
            )),
        })
        .collect::<Result<_>>()?;
    let matching = |label_match: &dyn Fn(&str) -> bool| -> Vec<(String, String)> {
        sources
            .iter()
            .filter(|s| s.definition.labels.iter().any(|l| label_match(l)))
            .map(|s| (s.plugin.clone(), s.definition.id.clone()))
            .collect()
    };
    Ok(match op {
        Op::Eq | Op::In => Cond::FromSources(matching(&|l| wanted.iter().any(|w| w == l))),
        Op::Ne => Cond::Not(Box::new(Cond::FromSources(matching(&|l| {
            wanted.iter().any(|w| w == l)
        })))),
        _ => {
            return Err(Error::new(
                Reason::InvalidFilter,
                "filterQuery: sourceLabel supports =, != and IN",
            ))
        }
    })
}

fn convenience_filters(params: &ListParams) -> Result<Vec<Cond>> {
    let mut out = Vec::new();
    let strings = |values: &[String]| {
        values
            .iter()
            .map(|v| Literal::Str(v.clone()))
            .collect::<Vec<_>>()
    };
    let governance = |field, op, values| Cond::Cmp {
        target: Target::Governance(field),
        op,
        values,
    };
    if !params.lifecycle_states.is_empty() {
        for state in &params.lifecycle_states {
            if crate::domain::governance::State::parse(state).is_none() {
                return Err(Error::new(
                    Reason::InvalidParams,
                    format!("lifecycleState {state:?} is not a state; use draft, approved, deprecated or archived"),
                )
                .violation("lifecycleState", "unknown state"));
            }
        }
        out.push(governance(
            GovField::LifecycleState,
            Op::In,
            strings(&params.lifecycle_states),
        ));
    } else if !params.include_archived {
        // Archived assets leave default lists; GET still returns them.
        out.push(governance(
            GovField::LifecycleState,
            Op::Ne,
            vec![Literal::Str("archived".into())],
        ));
    }
    if !params.risk_levels.is_empty() {
        out.push(governance(
            GovField::RiskLevel,
            Op::In,
            strings(&params.risk_levels),
        ));
    }
    for tag in &params.compliance_tags {
        out.push(governance(
            GovField::ComplianceTag,
            Op::Eq,
            vec![Literal::Str(tag.clone())],
        ));
    }
    if !params.owner.is_empty() {
        out.push(governance(
            GovField::Owner,
            Op::Eq,
            vec![Literal::Str(params.owner.clone())],
        ));
    }
    if !params.team.is_empty() {
        out.push(governance(
            GovField::Team,
            Op::Eq,
            vec![Literal::Str(params.team.clone())],
        ));
    }
    if !params.source_id.is_empty() {
        out.push(Cond::Cmp {
            target: Target::SourceId,
            op: Op::Eq,
            values: vec![Literal::Str(params.source_id.clone())],
        });
    }
    for label in &params.labels {
        let Some((key, value)) = label.split_once('=') else {
            return Err(Error::new(
                Reason::InvalidParams,
                format!("label {label:?} must be key=value"),
            )
            .violation("label", "key=value"));
        };
        out.push(Cond::Cmp {
            target: Target::Record(vec!["labels".into(), key.into()]),
            op: Op::Eq,
            values: vec![Literal::Str(value.into())],
        });
    }
    Ok(out)
}

/// Resolution of a link to an asset in `state` (spec 01 §6.3).
fn resolution_of(state: &str) -> &'static str {
    match state {
        "approved" => "resolved",
        "deprecated" => "resolved-deprecated",
        "archived" => "resolved-archived",
        _ => "resolved-draft",
    }
}

/// Adds `sourceId` to a native record, as native list endpoints return it.
pub fn native_record(record: &StoredRecord) -> Value {
    let mut value = record.record.clone();
    if let Value::Object(map) = &mut value {
        map.insert("sourceId".into(), Value::String(record.source_id.clone()));
    }
    value
}

/// Resolves a native plural to its plugin manifest.
pub fn resolve_plural<'a>(
    registry: &'a Registry,
    plugin: &str,
    plural: &str,
) -> Result<&'a Arc<PluginManifest>> {
    registry.resolve_kind(plugin, plural)
}
