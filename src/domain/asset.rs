//! Assets: identity, content digests, provenance and cross-asset references.
//!
//! An asset is identified by `(plugin, kind, name)`; its uid is derived from
//! that key, so every replica and every re-sync computes the same one. A
//! record's content digest is the sha256 of its canonical JSON, which is
//! what versions, approvals and change detection compare.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::plugin::PluginManifest;

/// Namespace of asset uids (UUIDv5). Never change it: uids are stored.
pub const ASSET_UID_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2a4e_9b7d_4c1f_8e3a_5d2b_7c9e_1a40);

/// The governed key of an asset.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AssetKey {
    /// Plugin name.
    pub plugin: String,
    /// Canonical kind.
    pub kind: String,
    /// Asset name.
    pub name: String,
}

impl AssetKey {
    /// A key from its parts.
    pub fn new(
        plugin: impl Into<String>,
        kind: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        AssetKey {
            plugin: plugin.into(),
            kind: kind.into(),
            name: name.into(),
        }
    }

    /// The deterministic uid of this key.
    pub fn uid(&self) -> Uuid {
        let text = format!("{}/{}/{}", self.plugin, self.kind, self.name);
        Uuid::new_v5(&ASSET_UID_NAMESPACE, text.as_bytes())
    }
}

/// Checks an asset name: non-empty, at most 512 bytes, no control characters.
pub fn check_asset_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("name must not be empty".into());
    }
    if name.len() > 512 {
        return Err(format!(
            "name is {} bytes long; the limit is 512",
            name.len()
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("name must not contain control characters".into());
    }
    Ok(())
}

/// Canonical JSON: keys sorted, no insignificant whitespace, numbers in
/// shortest round-trip form. Written by hand so that no serde_json feature
/// (such as preserve_order) can change the digest.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The content digest of a record.
pub fn content_digest(record: &Value) -> String {
    sha256_digest(canonical_json(record).as_bytes())
}

/// Provenance of a record as captured by its provider (spec 06 §1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    /// Origin of the record.
    pub source: ProvenanceSource,
    /// Revision it was read at.
    pub revision: ProvenanceRevision,
    /// Digests and signature outcome.
    pub integrity: ProvenanceIntegrity,
}

/// Origin of a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ProvenanceSource {
    /// yaml, git, http, oci or manual.
    #[serde(rename = "type")]
    pub source_type: String,
    /// Location without credentials.
    pub uri: String,
    /// Catalog source id.
    pub source_id: String,
    /// File path, when the record came from a file.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
}

/// Revision of the origin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ProvenanceRevision {
    /// Revision id (for YAML, sha256 of the file).
    pub id: String,
    /// Branch or tag (Git).
    #[serde(default, rename = "ref", skip_serializing_if = "String::is_empty")]
    pub reference: String,
    /// sha256 of the file holding the record.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub file_digest: String,
    /// When this revision was observed for this record.
    pub observed_at: Option<DateTime<Utc>>,
}

/// Integrity of a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ProvenanceIntegrity {
    /// sha256 of the canonical record JSON.
    pub content_digest: String,
    /// Signature outcome.
    pub signature: SignatureOutcome,
}

/// Outcome of signature verification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureOutcome {
    /// Whether a signature was verified.
    pub verified: bool,
    /// cosign, pgp, x509 or none.
    pub method: String,
    /// Key id, failure reason or `not configured`.
    pub details: String,
}

impl Default for SignatureOutcome {
    fn default() -> Self {
        SignatureOutcome {
            verified: false,
            method: "none".into(),
            details: "not configured".into(),
        }
    }
}

/// A reference from one record to another asset, extracted from a field
/// the plugin manifest declares as a reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reference {
    /// Link type, e.g. usesSkill.
    pub link_type: String,
    /// Concrete path of the field, e.g. tools[2].skillRef.
    pub path: String,
    /// Target plugin.
    pub plugin: String,
    /// Target kind.
    pub kind: String,
    /// Target name.
    pub name: String,
    /// Version label pin, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Content digest pin, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Source restriction, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    /// Scalar siblings of the reference (role, enforcementMode, toolName...).
    #[serde(default)]
    pub attributes: std::collections::BTreeMap<String, String>,
}

/// Every reference a record makes, in manifest order then document order.
pub fn extract_references(manifest: &PluginManifest, record: &Value) -> Vec<Reference> {
    let mut found = Vec::new();
    for field in &manifest.spec.entity.references {
        let (plugin, kind) = field.target_parts();
        let segments: Vec<&str> = field.path.split('.').collect();
        walk(
            record,
            &segments,
            String::new(),
            None,
            &mut |path, value, parent| {
                if let Some(reference) =
                    parse_ref(value, parent, &field.link_type, plugin, kind, path)
                {
                    found.push(reference);
                }
            },
        );
    }
    found
}

type Visit<'a> = dyn FnMut(String, &Value, Option<&serde_json::Map<String, Value>>) + 'a;

fn walk(
    value: &Value,
    segments: &[&str],
    path: String,
    parent: Option<&serde_json::Map<String, Value>>,
    visit: &mut Visit<'_>,
) {
    let Some((segment, rest)) = segments.split_first() else {
        visit(path, value, parent);
        return;
    };
    let (name, is_list) = match segment.strip_suffix("[]") {
        Some(name) => (name, true),
        None => (*segment, false),
    };
    let Some(object) = value.as_object() else {
        return;
    };
    let Some(child) = object.get(name) else {
        return;
    };
    let child_path = if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    };
    if is_list {
        if let Some(items) = child.as_array() {
            for (i, item) in items.iter().enumerate() {
                walk(
                    item,
                    rest,
                    format!("{child_path}[{i}]"),
                    Some(object),
                    visit,
                );
            }
        }
    } else {
        walk(child, rest, child_path, Some(object), visit);
    }
}

fn parse_ref(
    value: &Value,
    parent: Option<&serde_json::Map<String, Value>>,
    link_type: &str,
    plugin: &str,
    kind: &str,
    path: String,
) -> Option<Reference> {
    let mut reference = Reference {
        link_type: link_type.to_string(),
        path,
        plugin: plugin.to_string(),
        kind: kind.to_string(),
        name: String::new(),
        version: None,
        digest: None,
        source_id: None,
        attributes: Default::default(),
    };
    match value {
        Value::String(text) => {
            let (name, pin) = match text.split_once('@') {
                Some((name, pin)) => (name, Some(pin)),
                None => (text.as_str(), None),
            };
            reference.name = name.to_string();
            match pin {
                Some(pin) if pin.starts_with("sha256:") => reference.digest = Some(pin.to_string()),
                Some(pin) => reference.version = Some(pin.to_string()),
                None => {}
            }
        }
        Value::Object(object) => {
            let text = |key: &str| object.get(key).and_then(Value::as_str).map(str::to_string);
            reference.name = text("name")?;
            if let Some(p) = text("plugin") {
                reference.plugin = p;
            }
            if let Some(k) = text("kind") {
                reference.kind = k;
            }
            reference.version = text("version");
            reference.digest = text("digest");
            reference.source_id = text("sourceId");
            if let Some(tool) = text("toolName") {
                reference.attributes.insert("toolName".into(), tool);
            }
        }
        _ => return None,
    }
    if reference.name.is_empty() {
        return None;
    }
    // Siblings of a reference inside a list item (role, enforcementMode,
    // toolName, required) describe that one link, so they travel with it;
    // siblings in a plain object (modelConfig) describe something else.
    let in_list_item = reference
        .path
        .rsplit_once('.')
        .is_some_and(|(container, _)| container.ends_with(']'));
    if let Some(parent) = parent.filter(|_| in_list_item) {
        for (key, sibling) in parent {
            let scalar = match sibling {
                Value::String(s) => s.clone(),
                Value::Bool(_) | Value::Number(_) => sibling.to_string(),
                _ => continue,
            };
            if !key.ends_with("Ref") && !key.ends_with("Refs") {
                reference.attributes.entry(key.clone()).or_insert(scalar);
            }
        }
    }
    Some(reference)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn uid_is_deterministic_and_key_sensitive() {
        let a = AssetKey::new("agents", "Agent", "triage");
        assert_eq!(a.uid(), AssetKey::new("agents", "Agent", "triage").uid());
        assert_ne!(a.uid(), AssetKey::new("agents", "Agent", "triage2").uid());
        assert_eq!(a.uid().get_version_num(), 5);
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let v = json!({"b": 1, "a": {"z": [true, null, 1.5], "y": "x"}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"y":"x","z":[true,null,1.5]},"b":1}"#
        );
        assert_eq!(
            content_digest(&v),
            content_digest(&json!({"a": {"y": "x", "z": [true, null, 1.5]}, "b": 1}))
        );
        assert_ne!(content_digest(&v), content_digest(&json!({"b": 2})));
    }

    #[test]
    fn references_carry_list_item_siblings_only() {
        let manifest = PluginManifest::from_yaml(
            r#"
apiVersion: catalog/v1alpha1
kind: PluginManifest
metadata: {name: agents, displayName: Agents}
spec:
  catalogKey: agents
  entity:
    kind: Agent
    plural: agents
    displayName: Agent
    schema: [{name: name, type: string, required: true}]
    references:
      - {path: "tools[].skillRef", target: skills/Skill, linkType: usesSkill}
      - {path: "modelConfig.preferredModelRef", target: model/CatalogModel, linkType: usesModel}
      - {path: "modelConfig.fallbackModelRefs[]", target: model/CatalogModel, linkType: usesModel}
"#,
            "t",
        )
        .unwrap();
        let record = json!({
            "name": "a",
            "tools": [{"skillRef": "s1@1.2.0", "required": true}, {"skillRef": {"name": "s2", "sourceId": "x"}}],
            "modelConfig": {"preferredModelRef": "m@sha256:ab", "fallbackModelRefs": ["m2"], "maxTokens": 5}
        });
        let refs = extract_references(&manifest, &record);
        let summary: Vec<(&str, &str, Option<&str>)> = refs
            .iter()
            .map(|r| (r.path.as_str(), r.name.as_str(), r.version.as_deref()))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("tools[0].skillRef", "s1", Some("1.2.0")),
                ("tools[1].skillRef", "s2", None),
                ("modelConfig.preferredModelRef", "m", None),
                ("modelConfig.fallbackModelRefs[0]", "m2", None)
            ]
        );
        assert_eq!(
            refs[0].attributes.get("required").map(String::as_str),
            Some("true")
        );
        assert_eq!(refs[1].source_id.as_deref(), Some("x"));
        assert_eq!(refs[2].digest.as_deref(), Some("sha256:ab"));
        assert!(refs[2].attributes.is_empty(), "{:?}", refs[2].attributes);
    }

    #[test]
    fn names_are_checked() {
        assert!(check_asset_name("org/model-7b").is_ok());
        assert!(check_asset_name("").is_err());
        assert!(check_asset_name("a\nb").is_err());
        assert!(check_asset_name(&"x".repeat(513)).is_err());
    }
}
