//! Sources and providers: reading CatalogSources files, running a provider
//! per source, validating what it read against the plugin manifest, and
//! applying the result to the store one source at a time.
//!
//! Providers only read. Nothing in this module writes to a sources file, a
//! data file or any other origin; apply, enable and disable keep their
//! effect in the server's own store.

pub mod config;
pub mod engine;
pub mod locate;
pub mod yaml;

use std::collections::HashSet;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

use crate::domain::asset::{
    content_digest, extract_references, AssetKey, Provenance, ProvenanceIntegrity,
    ProvenanceRevision, ProvenanceSource,
};
use crate::domain::plugin::PluginManifest;
use crate::domain::source::{
    name_selected, CommonProperties, EntryDiagnostic, SourceCounts, SourceDefinition,
};
use crate::domain::validation::{has_errors, validate_entry, Finding, ValidationOptions};
use crate::storage::IncomingRecord;

/// One data file as a provider read it.
#[derive(Debug, Clone)]
pub struct DataFile {
    /// Name used in messages.
    pub label: String,
    /// Provenance uri.
    pub uri: String,
    /// Provenance path.
    pub path: String,
    /// sha256 of the bytes.
    pub digest: String,
    /// The text, for locating lines.
    pub text: String,
    /// Entries in document order.
    pub entries: Vec<RawEntry>,
    /// Info remarks (ignored keys).
    pub notes: Vec<String>,
    /// The model files' `source` label.
    pub collection: Option<String>,
}

/// One entry and the line it starts on.
#[derive(Debug, Clone)]
pub struct RawEntry {
    /// The entry.
    pub value: Value,
    /// 1-based line, 0 when unknown.
    pub line: u32,
}

/// What a provider read.
#[derive(Debug, Clone)]
pub struct ProviderRead {
    /// Revision of the whole source.
    pub revision: String,
    /// The files read.
    pub files: Vec<DataFile>,
}

/// The records of a read that passed validation, and what did not.
#[derive(Debug, Clone, Default)]
pub struct Ingested {
    /// Valid records.
    pub records: Vec<IncomingRecord>,
    /// Rejected entries by (kind, name).
    pub rejected: Vec<(String, String, Vec<Finding>)>,
    /// Every finding, located.
    pub diagnostics: Vec<EntryDiagnostic>,
    /// Counts.
    pub counts: SourceCounts,
}

/// Validates the entries of a read and turns them into records.
pub fn ingest(
    manifest: &PluginManifest,
    definition: &SourceDefinition,
    read: ProviderRead,
    common: &CommonProperties,
    observed_at: DateTime<Utc>,
) -> Ingested {
    let options = ValidationOptions {
        allow_unknown_fields: common
            .allow_unknown_fields
            .unwrap_or(manifest.spec.allow_unknown_fields),
        strict: common.strict_schema_validation,
    };
    let kind = manifest.spec.entity.kind.clone();
    let mut out = Ingested::default();
    let mut seen = HashSet::new();
    // Names already loaded: a rejected duplicate of one is not listed as
    // rejected (the first entry stands).
    let mut accepted = HashSet::new();
    if definition.properties.contains_key("lifecycleStateMapping") {
        out.diagnostics.push(EntryDiagnostic {
            severity: "warning".into(),
            code: "LIFECYCLE_MAPPING_IGNORED".into(),
            message: "lifecycleStateMapping is reserved and not active; lifecycle lives only in the governance overlay".into(),
            field: "properties.lifecycleStateMapping".into(),
            file: String::new(),
            line: 0,
            entry: String::new(),
        });
    }
    for mut file in read.files {
        for note in &file.notes {
            out.diagnostics.push(EntryDiagnostic {
                severity: "info".into(),
                code: "IGNORED_KEY".into(),
                message: note.clone(),
                field: String::new(),
                file: file.label.clone(),
                line: 0,
                entry: String::new(),
            });
        }
        // Each entry is dropped once it is a record, so a large source is
        // not held as both documents and records.
        for entry in std::mem::take(&mut file.entries) {
            let name = entry
                .value
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if !name.is_empty() && !name_selected(common, &name) {
                continue;
            }
            let mut findings = validate_entry(manifest, &entry.value, options);
            if !name.is_empty() && !seen.insert(name.clone()) {
                findings.push(Finding {
                    severity: "error".into(),
                    code: "DUPLICATE_ENTRY".into(),
                    message: format!("a second entry named {name:?} in this source is ignored; the first one wins"),
                    field: "name".into(),
                });
            }
            for finding in &findings {
                let line = if finding.field.is_empty() || finding.field == "name" {
                    entry.line
                } else {
                    let leaf = finding.field.rsplit('.').next().unwrap_or(&finding.field);
                    let leaf = leaf.split('[').next().unwrap_or(leaf);
                    locate::key_line(&file.text, leaf, entry.line.max(1)).unwrap_or(entry.line)
                };
                if out.diagnostics.len() < crate::domain::source::MAX_ENTRY_DIAGNOSTICS {
                    out.diagnostics.push(EntryDiagnostic {
                        severity: finding.severity.clone(),
                        code: finding.code.clone(),
                        message: finding.message.clone(),
                        field: finding.field.clone(),
                        file: file.label.clone(),
                        line,
                        entry: name.clone(),
                    });
                }
            }
            if has_errors(&findings) {
                out.counts.rejected += 1;
                if !name.is_empty() && !accepted.contains(&name) {
                    out.rejected.push((kind.clone(), name, findings));
                }
                continue;
            }
            out.counts.artifacts += artifact_count(&entry.value);
            accepted.insert(name.clone());
            out.records.push(make_record(
                manifest,
                definition,
                &file,
                entry.value,
                &name,
                observed_at,
                findings,
            ));
        }
    }
    out.counts.assets = out.records.len() as u32;
    out
}

#[allow(clippy::too_many_arguments)]
fn make_record(
    manifest: &PluginManifest,
    definition: &SourceDefinition,
    file: &DataFile,
    value: Value,
    name: &str,
    observed_at: DateTime<Utc>,
    findings: Vec<Finding>,
) -> IncomingRecord {
    let kind = manifest.spec.entity.kind.clone();
    let digest = content_digest(&value);
    let provenance = Provenance {
        source: ProvenanceSource {
            source_type: definition.source_type.clone(),
            uri: file.uri.clone(),
            source_id: definition.id.clone(),
            path: file.path.clone(),
        },
        revision: ProvenanceRevision {
            id: file.digest.clone(),
            reference: String::new(),
            file_digest: file.digest.clone(),
            observed_at: Some(observed_at),
        },
        integrity: ProvenanceIntegrity {
            content_digest: digest.clone(),
            signature: Default::default(),
        },
    };
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_string);
    IncomingRecord {
        uid: AssetKey::new(manifest.name(), &kind, name)
            .uid()
            .to_string(),
        kind,
        name: name.to_string(),
        refs: extract_references(manifest, &value),
        created_at: epoch_millis(value.get("createTimeSinceEpoch")),
        updated_at: epoch_millis(value.get("lastUpdateTimeSinceEpoch")),
        display_name: text("displayName"),
        description: text("description"),
        record_json: value.to_string(),
        digest,
        provenance,
        findings,
    }
}

/// Reads a decimal-milliseconds timestamp (string or number).
fn epoch_millis(value: Option<&Value>) -> Option<DateTime<Utc>> {
    let millis = match value? {
        Value::String(s) => s.parse::<i64>().ok()?,
        Value::Number(n) => n.as_i64()?,
        _ => return None,
    };
    Utc.timestamp_millis_opt(millis).single()
}

fn artifact_count(record: &Value) -> u32 {
    match record.get("artifacts") {
        Some(Value::Array(items)) => items.len() as u32,
        Some(Value::Object(map)) => map.len() as u32,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_entry_of_a_name_is_rejected_without_rejecting_the_first() {
        let registry = crate::plugins::Registry::load(None).unwrap();
        let manifest = registry.get("model").unwrap();
        let definition: SourceDefinition =
            serde_json::from_value(serde_json::json!({"id": "s", "name": "S", "type": "yaml"}))
                .unwrap();
        let text = "models:\n  - name: a\n  - name: b\n  - name: a\n    description: again\n";
        let file = yaml::parse_data_file(text, "f", "", "", "models").unwrap();
        let read = ProviderRead {
            revision: file.digest.clone(),
            files: vec![file],
        };
        let out = ingest(
            manifest,
            &definition,
            read,
            &CommonProperties::default(),
            Utc::now(),
        );
        let names: Vec<&str> = out.records.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(out.counts.rejected, 1);
        // Listing it as rejected would mark the loaded record invalid.
        assert!(out.rejected.is_empty(), "{:?}", out.rejected);
        assert!(out
            .diagnostics
            .iter()
            .any(|d| d.code == "DUPLICATE_ENTRY" && d.entry == "a" && d.line == 4));
    }
}
