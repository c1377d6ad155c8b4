//! Native reads that go past the effective record: one record as a given
//! source supplies it, and the artifacts a record declares, paged. These
//! serve the Kubeflow model catalog's per-source routes
//! (`/sources/{id}/models/{name}` and `…/artifacts`, spec 08 §3.2) but
//! know nothing of models: the record's shared `artifacts` field (spec 01
//! §4) and the manifest's `defaultArtifactType` drive them.

use serde_json::{Map, Value};

use super::{native_record, Catalog};
use crate::domain::paging::{page_size, query_hash, Cursor};
use crate::domain::{Error, Reason, Result};
use crate::storage::StoredRecord;

/// A page of a record's artifacts.
#[derive(Debug, Clone)]
pub struct ArtifactPage {
    /// Artifacts, in the order the record declares them.
    pub items: Vec<Value>,
    /// Page size used.
    pub page_size: u32,
    /// Next page token, empty on the last page.
    pub next_page_token: String,
}

/// Which record a native read is about.
#[derive(Debug, Clone, Copy)]
pub struct NativeKey<'a> {
    /// Plugin name.
    pub plugin: &'a str,
    /// Kind plural (or kind, or alias).
    pub plural: &'a str,
    /// Record name.
    pub name: &'a str,
    /// The source whose record to read; empty for the effective record.
    pub source_id: &'a str,
}

impl Catalog {
    /// The native record (with `sourceId`) of `key`.
    pub async fn get_native(&self, key: NativeKey<'_>) -> Result<Value> {
        Ok(native_record(&self.native_stored(key).await?))
    }

    /// One page of the artifacts the record of `key` declares.
    pub async fn list_native_artifacts(
        &self,
        key: NativeKey<'_>,
        requested_size: i32,
        page_token: &str,
    ) -> Result<ArtifactPage> {
        let manifest = self.registry.resolve_kind(key.plugin, key.plural)?.clone();
        let record = self.native_stored(key).await?;
        let all = artifacts_of(&record.record, &manifest.spec.entity.default_artifact_type);
        // Bound to the record and the source, so a token cannot page
        // through another record's artifacts.
        let hash = query_hash(&[key.plugin, &record.kind, key.name, key.source_id]);
        let offset = offset_of(page_token, &hash)?;
        let limit = page_size(requested_size);
        let end = all.len().min(offset.saturating_add(limit as usize));
        let next_page_token = if end < all.len() {
            Cursor {
                sort_value: Value::from(end),
                tie: vec![],
                query_hash: hash,
            }
            .encode()
        } else {
            String::new()
        };
        Ok(ArtifactPage {
            items: all.get(offset..end).unwrap_or_default().to_vec(),
            page_size: limit,
            next_page_token,
        })
    }

    /// The stored record behind a native read: the effective one, or the
    /// one `key.source_id` supplies.
    async fn native_stored(&self, key: NativeKey<'_>) -> Result<StoredRecord> {
        if key.source_id.is_empty() {
            return Ok(self
                .get(key.plugin, key.plural, key.name)
                .await?
                .record
                .clone());
        }
        let manifest = self.registry.resolve_kind(key.plugin, key.plural)?.clone();
        let kind = &manifest.spec.entity.kind;
        let found = self
            .store
            .get_source_record(key.plugin, kind, key.name, key.source_id)
            .await?;
        if let Some(record) = found {
            return Ok(record);
        }
        // Only now ask whether the source exists: an unknown source is a
        // different mistake from a missing record, and naming it tells the
        // caller which part of the path to fix. Stored records count as
        // proof too: a replica learns of a source applied through another
        // only at its next reconcile, and must not call it unknown meanwhile.
        if !self
            .store
            .source_has_records(key.plugin, key.source_id)
            .await?
        {
            self.engine.source(key.plugin, key.source_id).await?;
        }
        Err(Error::new(
            Reason::AssetNotFound,
            format!(
                "source {:?} of plugin {} has no {kind} named {:?}; list what it has with ListEntities and sourceId {:?}",
                key.source_id, key.plugin, key.name, key.source_id
            ),
        )
        .with("plugin", key.plugin)
        .with("kind", kind)
        .with("name", key.name)
        .with("sourceId", key.source_id))
    }
}

/// The position a page token resumes at (0 without a token).
fn offset_of(page_token: &str, hash: &str) -> Result<usize> {
    if page_token.is_empty() {
        return Ok(0);
    }
    let cursor = Cursor::decode(page_token, hash)?;
    cursor
        .sort_value
        .as_u64()
        .map(|n| n as usize)
        .ok_or_else(|| {
            Error::new(
                Reason::InvalidPageToken,
                "pageToken is not a token this server issued; start again without a pageToken",
            )
        })
}

/// The artifacts a native record declares, as the native artifact list
/// shows them (spec 01 §4: a list, or a map of named ArtifactRefs):
/// - the list form keeps its order;
/// - the map form is sorted by key (JSON object order differs between
///   the storage back ends) and each artifact carries its key as `name`
///   unless it names itself; a key holding a list gives one artifact per
///   item;
/// - a bare URI string becomes `{uri}`; values that are neither an object
///   nor a string are not artifacts and are left out;
/// - `default_type`, when not empty, is the `artifactType` of artifacts
///   that declare none.
pub fn artifacts_of(record: &Value, default_type: &str) -> Vec<Value> {
    let declared: Vec<Value> = match record.get("artifacts") {
        Some(Value::Array(items)) => items.iter().filter_map(|i| artifact(i, None)).collect(),
        Some(Value::Object(map)) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            keys.into_iter()
                .flat_map(|key| match &map[key] {
                    Value::Array(items) => items
                        .iter()
                        .filter_map(|i| artifact(i, Some(key)))
                        .collect(),
                    one => artifact(one, Some(key)).into_iter().collect::<Vec<_>>(),
                })
                .collect()
        }
        _ => vec![],
    };
    declared
        .into_iter()
        .map(|mut a| {
            if !default_type.is_empty() {
                if let Value::Object(map) = &mut a {
                    map.entry("artifactType")
                        .or_insert_with(|| Value::String(default_type.to_string()));
                }
            }
            a
        })
        .collect()
}

/// One ArtifactRef as an object, named `key` when it comes from the map
/// form and has no name of its own.
fn artifact(item: &Value, key: Option<&str>) -> Option<Value> {
    let mut object = match item {
        Value::Object(map) => map.clone(),
        Value::String(uri) => Map::from_iter([("uri".to_string(), Value::String(uri.clone()))]),
        _ => return None,
    };
    if let Some(key) = key {
        object
            .entry("name")
            .or_insert_with(|| Value::String(key.to_string()));
    }
    Some(Value::Object(object))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_list_form_keeps_its_order_and_gets_the_default_type() {
        let record = json!({"artifacts": [
            {"uri": "oci://r/b:1", "customProperties": {"k": {"metadataType": "MetadataStringValue", "string_value": "v"}}},
            "https://example.com/a.safetensors",
            {"uri": "s3://x", "artifactType": "metrics-artifact"},
            7,
        ]});
        assert_eq!(
            artifacts_of(&record, "model-artifact"),
            vec![
                json!({"uri": "oci://r/b:1", "artifactType": "model-artifact", "customProperties": {"k": {"metadataType": "MetadataStringValue", "string_value": "v"}}}),
                json!({"uri": "https://example.com/a.safetensors", "artifactType": "model-artifact"}),
                json!({"uri": "s3://x", "artifactType": "metrics-artifact"}),
            ]
        );
    }

    #[test]
    fn the_map_form_is_sorted_named_and_flattened() {
        let record = json!({"artifacts": {
            "testCases": ["tests/a.yaml", {"uri": "tests/b.yaml", "name": "b"}],
            "agentSpecFile": {"uri": "spec.yaml", "digest": "sha256:00"},
        }});
        assert_eq!(
            artifacts_of(&record, ""),
            vec![
                json!({"uri": "spec.yaml", "digest": "sha256:00", "name": "agentSpecFile"}),
                json!({"uri": "tests/a.yaml", "name": "testCases"}),
                json!({"uri": "tests/b.yaml", "name": "b"}),
            ]
        );
    }

    #[test]
    fn a_record_without_artifacts_has_none() {
        assert!(artifacts_of(&json!({"name": "m"}), "model-artifact").is_empty());
        assert!(artifacts_of(&json!({"artifacts": "x"}), "model-artifact").is_empty());
    }

    #[test]
    fn page_tokens_resume_and_are_bound_to_their_record() {
        let hash = query_hash(&["model", "CatalogModel", "m", "s"]);
        let token = Cursor {
            sort_value: Value::from(2),
            tie: vec![],
            query_hash: hash.clone(),
        }
        .encode();
        assert_eq!(offset_of("", &hash).unwrap(), 0);
        assert_eq!(offset_of(&token, &hash).unwrap(), 2);
        let other = query_hash(&["model", "CatalogModel", "n", "s"]);
        assert_eq!(
            offset_of(&token, &other).unwrap_err().reason,
            Reason::InvalidPageToken
        );
    }
}
