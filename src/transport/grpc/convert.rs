//! Conversions between domain values and generated protobuf messages.
//! Nothing here decides anything; it only changes shape.

use chrono::{DateTime, Utc};
use prost_types::{value::Kind, ListValue, Struct, Timestamp, Value as PbValue};
use serde_json::Value;

use crate::catalog::{AssetView, LinkView};
use crate::domain::action::{ActionDef, Endpoint};
use crate::domain::asset::Provenance;
use crate::domain::plugin::PluginManifest;
use crate::domain::source::{redact_properties, EntryDiagnostic, SourceError, SourceState};
use crate::proto::catalog::v1alpha1 as pb;
use crate::sources::engine::EffectiveSource;

/// JSON to google.protobuf.Value.
pub fn to_pb_value(value: &Value) -> PbValue {
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(items) => Kind::ListValue(ListValue {
            values: items.iter().map(to_pb_value).collect(),
        }),
        Value::Object(map) => Kind::StructValue(to_struct(map)),
    };
    PbValue { kind: Some(kind) }
}

/// A JSON object to google.protobuf.Struct.
pub fn to_struct(map: &serde_json::Map<String, Value>) -> Struct {
    Struct {
        fields: map
            .iter()
            .map(|(k, v)| (k.clone(), to_pb_value(v)))
            .collect(),
    }
}

/// Any JSON value as a Struct (non-objects are wrapped under "value").
pub fn value_to_struct(value: &Value) -> Struct {
    match value {
        Value::Object(map) => to_struct(map),
        other => Struct {
            fields: [("value".to_string(), to_pb_value(other))]
                .into_iter()
                .collect(),
        },
    }
}

/// google.protobuf.Value to JSON.
pub fn from_pb_value(value: &PbValue) -> Value {
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(b)) => Value::Bool(*b),
        Some(Kind::NumberValue(n)) => {
            if n.fract() == 0.0 && n.abs() < 9.0e15 {
                Value::from(*n as i64)
            } else {
                serde_json::Number::from_f64(*n)
                    .map(Value::Number)
                    .unwrap_or(Value::Null)
            }
        }
        Some(Kind::StringValue(s)) => Value::String(s.clone()),
        Some(Kind::ListValue(list)) => {
            Value::Array(list.values.iter().map(from_pb_value).collect())
        }
        Some(Kind::StructValue(s)) => Value::Object(from_struct(s)),
    }
}

/// google.protobuf.Struct to a JSON object.
pub fn from_struct(value: &Struct) -> serde_json::Map<String, Value> {
    value
        .fields
        .iter()
        .map(|(k, v)| (k.clone(), from_pb_value(v)))
        .collect()
}

/// A time as google.protobuf.Timestamp.
pub fn timestamp(at: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

/// Provenance to its message.
pub fn provenance(p: &Provenance) -> pb::Provenance {
    pb::Provenance {
        source: Some(pb::ProvenanceSource {
            r#type: p.source.source_type.clone(),
            uri: p.source.uri.clone(),
            source_id: p.source.source_id.clone(),
            path: p.source.path.clone(),
            artifact_type: String::new(),
            annotations: Default::default(),
        }),
        revision: Some(pb::ProvenanceRevision {
            id: p.revision.id.clone(),
            r#ref: p.revision.reference.clone(),
            file_digest: p.revision.file_digest.clone(),
            observed_at: p.revision.observed_at.map(timestamp),
        }),
        integrity: Some(pb::ProvenanceIntegrity {
            content_digest: p.integrity.content_digest.clone(),
            signature: Some(pb::SignatureStatus {
                verified: p.integrity.signature.verified,
                method: p.integrity.signature.method.clone(),
                details: p.integrity.signature.details.clone(),
                verified_at: None,
                signer_identity: String::new(),
            }),
        }),
    }
}

fn string_map(record: &Value, key: &str) -> std::collections::HashMap<String, String> {
    record
        .get(key)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn condition(kind: &str, status: bool, reason: &str, message: String) -> pb::Condition {
    pb::Condition {
        r#type: kind.into(),
        status: if status { "True" } else { "False" }.into(),
        reason: reason.into(),
        message,
        last_transition_time: None,
    }
}

/// The universal envelope of an asset.
pub fn asset(view: &AssetView) -> pb::AssetResource {
    let r = &view.record;
    let text = |key: &str| {
        r.record
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let mut tags: Vec<String> = r
        .record
        .get("tags")
        .and_then(Value::as_array)
        .map(|t| {
            t.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    tags.sort();
    tags.dedup();
    let mut conditions = vec![condition(
        "Validated",
        r.validated,
        if r.validated {
            "LoadValidationPassed"
        } else {
            "LoadValidationFailed"
        },
        if r.validated {
            "the record passed load validation".into()
        } else {
            "the last sync rejected this entry; the last valid record is shown".into()
        },
    )];
    if !view.outbound.is_empty() {
        let broken: Vec<String> = view
            .outbound
            .iter()
            .filter(|l| l.resolution == "unresolved" || l.resolution == "plugin-unavailable")
            .map(|l| l.key.name.clone())
            .collect();
        conditions.push(condition(
            "ReferencesResolved",
            broken.is_empty(),
            if broken.is_empty() {
                "AllResolved"
            } else {
                "BrokenReferences"
            },
            if broken.is_empty() {
                "every reference resolves".into()
            } else {
                format!("unresolved: {}", broken.join(", "))
            },
        ));
    }
    pb::AssetResource {
        api_version: "catalog/v1alpha1".into(),
        kind: r.kind.clone(),
        metadata: Some(pb::AssetMetadata {
            uid: r.uid.clone(),
            name: r.name.clone(),
            display_name: text("displayName"),
            description: text("description"),
            labels: string_map(&r.record, "labels"),
            annotations: string_map(&r.record, "annotations"),
            tags,
            created_at: Some(timestamp(r.created_at)),
            updated_at: Some(timestamp(r.updated_at)),
            owner: r.governance.get("owner").map(|o| pb::OwnerRef {
                id: o
                    .get("principal")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                display_name: o
                    .get("displayName")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                email: o
                    .get("email")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            }),
            source_ref: Some(pb::SourceRef {
                plugin: r.plugin.clone(),
                source_id: r.source_id.clone(),
                source_type: view.source_type.clone(),
                source_labels: view.source_labels.clone(),
            }),
        }),
        spec: r.record.as_object().map(to_struct),
        governance: (!r.governance.is_null())
            .then(|| super::governance_convert::metadata(&r.governance)),
        status: Some(pb::AssetStatus {
            lifecycle: Some(pb::LifecycleStatus {
                phase: view.lifecycle_state.clone(),
                reason: r
                    .governance
                    .pointer("/lifecycle/reason")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                message: String::new(),
                last_transition_time: r
                    .governance
                    .pointer("/lifecycle/changedAt")
                    .and_then(Value::as_str)
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| timestamp(t.with_timezone(&Utc))),
            }),
            conditions,
            health: Some(pb::HealthStatus {
                state: "unknown".into(),
                last_checked_at: None,
                details: None,
            }),
            links: Some(pb::AssetLinks {
                outbound: view.outbound.iter().map(link).collect(),
                inbound: view.inbound.iter().map(link).collect(),
            }),
        }),
        provenance: Some(provenance(&r.provenance)),
    }
}

/// A link.
pub fn link(view: &LinkView) -> pb::LinkRef {
    pb::LinkRef {
        r#type: view.link_type.clone(),
        target: Some(pb::LinkTarget {
            plugin: view.key.plugin.clone(),
            kind: view.key.kind.clone(),
            uid: view.key.uid().to_string(),
            name: view.key.name.clone(),
        }),
        attributes: view
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        resolution: view.resolution.clone(),
    }
}

/// An action definition.
pub fn action(def: &ActionDef, plugin: &str) -> pb::ActionDefinition {
    pb::ActionDefinition {
        id: def.id.into(),
        display_name: def.display_name.into(),
        description: def.description.into(),
        scope: def.scope.into(),
        category: def.category.into(),
        endpoint: match def.endpoint {
            Endpoint::GovernanceAction => format!(
                "/api/governance/v1alpha1/assets/{plugin}/{{kind}}/{{name}}/actions/{}",
                def.id
            ),
            Endpoint::AssetAction => {
                format!("/api/catalog/v1alpha1/{plugin}/assets/{{kind}}/{{name}}:action")
            }
            Endpoint::SourceAction => {
                format!("/api/catalog/v1alpha1/{plugin}/sources/{{sourceId}}:action")
            }
        },
        parameters: def
            .parameters
            .iter()
            .map(|p| pb::ActionParameter {
                name: p.name.into(),
                display_name: p.display_name.into(),
                r#type: p.param_type.into(),
                required: p.required,
                default_value: None,
                description: p.description.into(),
                r#enum: p.enum_values.iter().map(|v| v.to_string()).collect(),
            })
            .collect(),
        input_schema: None,
        supports_dry_run: def.supports_dry_run,
        supports_validate_only: false,
        idempotent: def.idempotent,
        idempotency: if def.idempotent {
            "idempotent"
        } else {
            "non_idempotent"
        }
        .into(),
        destructive: def.destructive,
        may_require_approval: def.may_require_approval,
        authz: Some(pb::ActionAuthz {
            required_roles: def.required_roles.iter().map(|r| r.to_string()).collect(),
            audit_category: "source".into(),
        }),
    }
}

fn schema_field(field: &crate::domain::plugin::SchemaField) -> pb::SchemaField {
    pb::SchemaField {
        name: field.name.clone(),
        r#type: field.field_type.clone(),
        required: field.required,
        r#enum: field.enum_values.clone(),
        fields: field.fields.iter().map(schema_field).collect(),
        minimum: field.minimum,
        maximum: field.maximum,
    }
}

/// The capabilities document of a plugin, derived from its manifest.
pub fn capabilities(manifest: &PluginManifest) -> pb::PluginCapabilities {
    let entity = &manifest.spec.entity;
    let name = manifest.name();
    let base = manifest.base_path();
    let actions: Vec<pb::ActionDefinition> = crate::domain::action::source_actions()
        .iter()
        .map(|a| action(a, name))
        .collect();
    pb::PluginCapabilities {
        schema_version: "v1".into(),
        plugin: Some(pb::PluginIdentity {
            name: name.into(),
            display_name: manifest.metadata.display_name.clone(),
            description: manifest.metadata.description.clone(),
            version: manifest.metadata.version.clone(),
            icon: manifest.metadata.icon.clone(),
        }),
        api: Some(pb::PluginApi {
            group: format!("{name}_catalog"),
            version: "v1alpha1".into(),
            base_path: base.clone(),
            openapi_spec_url: "/openapi.json".into(),
            grpc: Some(pb::GrpcApi {
                package: "catalog.v1alpha1".into(),
                services: [
                    "catalog.v1alpha1.AssetService",
                    "catalog.v1alpha1.SourceService",
                    "catalog.v1alpha1.PluginService",
                ]
                .map(String::from)
                .to_vec(),
            }),
        }),
        entities: vec![pb::EntityCapabilities {
            kind: entity.kind.clone(),
            plural: entity.plural.clone(),
            display_name: entity.display_name.clone(),
            description: entity.description.clone(),
            aliases: entity.aliases.clone(),
            endpoints: Some(pb::EntityEndpoints {
                list: format!("{base}/{}", entity.plural),
                get: format!("{base}/{}/{{name}}", entity.plural),
                artifacts: String::new(),
                action: format!("{base}/entities/{{name}}:action"),
            }),
            fields: Some(pb::EntityFields {
                identity_fields: vec!["name".into()],
                display_fields: entity.display_fields.clone(),
                columns: entity
                    .columns
                    .iter()
                    .map(|c| pb::Column {
                        name: c.name.clone(),
                        display_name: c.display_name.clone(),
                        path: c.path.clone(),
                        r#type: c.column_type.clone(),
                        sortable: c.sortable,
                        width: c.width,
                        universal: false,
                    })
                    .collect(),
                filter_fields: entity
                    .filter_fields
                    .iter()
                    .map(|f| pb::FilterField {
                        name: f.name.clone(),
                        display_name: f.display_name.clone(),
                        path: f.path.clone(),
                        r#type: f.filter_type.clone(),
                        options: f.options.clone(),
                        operators: f.operators.clone(),
                        universal: false,
                    })
                    .collect(),
                detail_fields: entity
                    .detail_fields
                    .iter()
                    .map(|d| pb::DetailField {
                        name: d.name.clone(),
                        display_name: d.display_name.clone(),
                        path: d.path.clone(),
                        r#type: d.detail_type.clone(),
                        section: d.section.clone(),
                    })
                    .collect(),
                reference_fields: entity
                    .references
                    .iter()
                    .map(|r| {
                        let (plugin, kind) = r.target_parts();
                        pb::ReferenceField {
                            path: r.path.clone(),
                            target_plugin: plugin.into(),
                            target_kind: kind.into(),
                            link_type: r.link_type.clone(),
                        }
                    })
                    .collect(),
                schema: entity.schema.iter().map(schema_field).collect(),
            }),
            ui_hints: Some(pb::UiHints {
                icon: entity.ui_hints.icon.clone(),
                color: entity.ui_hints.color.clone(),
                name_field: if entity.ui_hints.name_field.is_empty() {
                    "name".into()
                } else {
                    entity.ui_hints.name_field.clone()
                },
                default_sort: Some(entity.ui_hints.default_sort.as_ref().map_or_else(
                    || pb::SortHint {
                        field: "name".into(),
                        order: "ASC".into(),
                    },
                    |s| pb::SortHint {
                        field: s.field.clone(),
                        order: s.order.clone(),
                    },
                )),
                detail_sections: entity.ui_hints.detail_sections.clone(),
            }),
            governance: None,
            actions: entity.actions.clone(),
        }],
        sources: Some(pb::SourceCapabilities {
            manageable: true,
            refreshable: true,
            types: manifest.spec.source_types.clone(),
        }),
        actions,
    }
}

fn diagnostic(d: &EntryDiagnostic) -> pb::Diagnostic {
    pb::Diagnostic {
        severity: d.severity.clone(),
        code: d.code.clone(),
        message: d.message.clone(),
        field: d.field.clone(),
        file: d.file.clone(),
        line: d.line as i32,
        entry: d.entry.clone(),
    }
}

/// Entry diagnostics.
pub fn diagnostics(items: &[EntryDiagnostic]) -> Vec<pb::Diagnostic> {
    items.iter().map(diagnostic).collect()
}

fn source_error(e: &SourceError) -> pb::SourceError {
    pb::SourceError {
        class: e.class.as_str().into(),
        code: e.code.clone(),
        message: e.message.clone(),
        file: e.file.clone(),
        line: e.line as i32,
        field: e.field.clone(),
        at: Some(timestamp(e.at)),
        retryable: e.class.retryable(),
        next_retry_at: None,
    }
}

/// A source with its status.
pub fn source_info(source: &EffectiveSource, status: Option<&SourceState>) -> pb::SourceInfo {
    let default = SourceState::default();
    let status = status.unwrap_or(&default);
    let state = if !source.enabled {
        "disabled".to_string()
    } else if source.config_error.is_some() {
        "error".to_string()
    } else if status.state.is_empty() {
        "syncing".to_string()
    } else {
        status.state.clone()
    };
    let last_error = source.config_error.as_ref().or(status.last_error.as_ref());
    pb::SourceInfo {
        id: source.definition.id.clone(),
        name: source.definition.name.clone(),
        r#type: source.definition.source_type.clone(),
        enabled: source.enabled,
        labels: source.definition.labels.clone(),
        properties: Some(to_struct(&redact_properties(&source.definition.properties))),
        origin: source.origin.as_str().into(),
        plugin: source.plugin.clone(),
        status: Some(pb::SourceStatus {
            state,
            last_successful_sync: status.last_successful_sync.map(timestamp),
            last_attempted_sync: status.last_attempted_sync.map(timestamp),
            last_error: last_error.map(source_error),
            counts: Some(pb::SourceCounts {
                assets: status.counts.assets as i32,
                artifacts: status.counts.artifacts as i32,
                rejected: status.counts.rejected as i32,
            }),
            revision: status.revision.clone(),
            entry_diagnostics: diagnostics(&status.entry_diagnostics),
        }),
        config_file: source
            .file
            .as_ref()
            .map(|f| f.display().to_string())
            .unwrap_or_default(),
    }
}

/// The `_config` pseudo-source carrying a sources-file parse error.
pub fn config_pseudo_source(plugin: &str, error: &SourceError) -> pb::SourceInfo {
    pb::SourceInfo {
        id: crate::sources::engine::CONFIG_PSEUDO_SOURCE.into(),
        name: "Sources configuration".into(),
        r#type: "config".into(),
        enabled: true,
        labels: vec![],
        properties: None,
        origin: "file".into(),
        plugin: plugin.into(),
        status: Some(pb::SourceStatus {
            state: "error".into(),
            last_attempted_sync: Some(timestamp(error.at)),
            last_error: Some(source_error(error)),
            counts: Some(Default::default()),
            ..Default::default()
        }),
        config_file: error.file.clone(),
    }
}
