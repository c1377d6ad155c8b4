//! Plugin manifests: the declaration that makes an asset kind exist.
//!
//! A plugin is data, not code. Its manifest names the kind, the key of its
//! data files, the load-time schema of an entry, the columns, filters and
//! detail fields a generic client renders, the fields that reference other
//! assets, and which of the server's generic actions it offers. Everything
//! else (storage, listing, filtering, capabilities, source handling) is
//! shared and driven by this declaration.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::error::{Error, Reason};

/// Fields every entry of every plugin may carry (spec 01 §4).
pub const SHARED_FIELDS: &[&str] = &[
    "name",
    "displayName",
    "description",
    "version",
    "license",
    "author",
    "labels",
    "annotations",
    "tags",
    "owner",
    "provenance",
    "sourceProvenance",
    "documentation",
    "artifacts",
];

/// Source actions every plugin with sources offers.
pub const SOURCE_ACTIONS: &[&str] = &["validate", "apply", "enable", "disable", "refresh"];

/// A plugin manifest file (`kind: PluginManifest`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginManifest {
    /// Always `catalog/v1alpha1`.
    pub api_version: String,
    /// Always `PluginManifest`.
    pub kind: String,
    /// Identity of the plugin.
    pub metadata: PluginMetadata,
    /// What the plugin serves.
    pub spec: PluginSpec,
}

/// Identity of a plugin.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginMetadata {
    /// Plugin name, `^[a-z][a-z0-9_-]{0,62}$`.
    pub name: String,
    /// Label for humans.
    pub display_name: String,
    /// What it catalogs.
    #[serde(default)]
    pub description: String,
    /// Plugin API version.
    #[serde(default = "default_version")]
    pub version: String,
    /// Icon name.
    #[serde(default)]
    pub icon: String,
}

fn default_version() -> String {
    "v1alpha1".to_string()
}

/// The body of a manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginSpec {
    /// Key under `catalogs:` in a CatalogSources file.
    pub catalog_key: String,
    /// Other accepted keys (the model plugin also accepts `model`).
    #[serde(default)]
    pub catalog_key_aliases: Vec<String>,
    /// Provider types the plugin accepts.
    #[serde(default = "default_source_types")]
    pub source_types: Vec<String>,
    /// Whether entries may carry fields the schema does not declare.
    #[serde(default)]
    pub allow_unknown_fields: bool,
    /// The kind this plugin owns.
    pub entity: EntitySpec,
}

fn default_source_types() -> Vec<String> {
    vec!["yaml".to_string()]
}

/// The one kind a plugin owns.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EntitySpec {
    /// Canonical PascalCase kind.
    pub kind: String,
    /// Lowercase plural; also the top-level key of data files.
    pub plural: String,
    /// Accepted aliases of the kind.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Label for humans.
    pub display_name: String,
    /// What the kind is.
    #[serde(default)]
    pub description: String,
    /// Load-time schema of an entry (top-level fields).
    #[serde(default)]
    pub schema: Vec<SchemaField>,
    /// Fields for cards and summaries.
    #[serde(default)]
    pub display_fields: Vec<String>,
    /// List columns.
    #[serde(default)]
    pub columns: Vec<Column>,
    /// Filter fields.
    #[serde(default)]
    pub filter_fields: Vec<FilterField>,
    /// Detail view fields.
    #[serde(default)]
    pub detail_fields: Vec<DetailField>,
    /// Fields that reference other assets.
    #[serde(default)]
    pub references: Vec<ReferenceField>,
    /// Rendering hints.
    #[serde(default)]
    pub ui_hints: UiHints,
    /// Generic asset actions this kind offers.
    #[serde(default)]
    pub actions: Vec<String>,
    /// `artifactType` given to the record's artifacts that do not declare
    /// one when they are listed natively; empty adds none. The Kubeflow
    /// model catalog answers `model-artifact` for artifacts whose data
    /// file omits the type, so the model plugin declares that.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub default_artifact_type: String,
}

/// One field of the load-time schema.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SchemaField {
    /// Field name.
    pub name: String,
    /// One type or alternatives joined by `|`: string, integer, number,
    /// boolean, list, map, object, schema, ref, any.
    #[serde(rename = "type", default = "default_field_type")]
    pub field_type: String,
    /// Required at load.
    #[serde(default)]
    pub required: bool,
    /// Allowed values (for strings, or each string of a list).
    #[serde(default, rename = "enum")]
    pub enum_values: Vec<String>,
    /// Nested fields checked inside an object, or each object of a list.
    #[serde(default)]
    pub fields: Vec<SchemaField>,
    /// Smallest allowed number.
    #[serde(default)]
    pub minimum: Option<f64>,
    /// Largest allowed number.
    #[serde(default)]
    pub maximum: Option<f64>,
}

fn default_field_type() -> String {
    "any".to_string()
}

/// A list column.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Column {
    /// Column id.
    pub name: String,
    /// Header label.
    pub display_name: String,
    /// Dot-path in the record or a universal path.
    pub path: String,
    /// string, number, boolean, date, tags, enum, badge or url.
    #[serde(rename = "type", default = "default_column_type")]
    pub column_type: String,
    /// Whether orderBy accepts it.
    #[serde(default)]
    pub sortable: bool,
    /// Suggested width.
    #[serde(default)]
    pub width: i32,
}

fn default_column_type() -> String {
    "string".to_string()
}

/// A filter field.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FilterField {
    /// Filter id.
    pub name: String,
    /// Label.
    pub display_name: String,
    /// Path accepted by filterQuery.
    pub path: String,
    /// text, select, multiselect, boolean, number or date.
    #[serde(rename = "type", default = "default_filter_type")]
    pub filter_type: String,
    /// Options of select types.
    #[serde(default)]
    pub options: Vec<String>,
    /// Operators offered.
    #[serde(default)]
    pub operators: Vec<String>,
}

fn default_filter_type() -> String {
    "text".to_string()
}

/// A detail view field.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DetailField {
    /// Field id.
    pub name: String,
    /// Label.
    pub display_name: String,
    /// Dot-path in the record.
    pub path: String,
    /// Column types plus markdown, json, schema, code, ref and refs.
    #[serde(rename = "type", default = "default_column_type")]
    pub detail_type: String,
    /// Section it belongs to.
    #[serde(default)]
    pub section: String,
}

/// A field holding references to other assets.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReferenceField {
    /// Path to the reference; `[]` after a segment walks a list, e.g.
    /// `tools[].skillRef` or `modelConfig.fallbackModelRefs[]`.
    pub path: String,
    /// Implied target as `plugin/Kind`.
    pub target: String,
    /// Link type, e.g. `usesSkill`.
    pub link_type: String,
}

impl ReferenceField {
    /// The target split into plugin and kind.
    pub fn target_parts(&self) -> (&str, &str) {
        self.target
            .split_once('/')
            .unwrap_or((self.target.as_str(), ""))
    }
}

/// Rendering hints.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UiHints {
    /// Icon name.
    #[serde(default)]
    pub icon: String,
    /// Accent colour.
    #[serde(default)]
    pub color: String,
    /// Field used as the title.
    #[serde(default)]
    pub name_field: String,
    /// Default ordering as `field` and `order`.
    #[serde(default)]
    pub default_sort: Option<SortHint>,
    /// Detail sections in order.
    #[serde(default)]
    pub detail_sections: Vec<String>,
}

/// A default ordering.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SortHint {
    /// Column name.
    pub field: String,
    /// ASC or DESC.
    pub order: String,
}

/// Asset actions the server implements generically and a manifest may offer.
/// Empty until asset actions land; a manifest naming any other id is refused.
pub const GENERIC_ASSET_ACTIONS: &[&str] = &[];

impl PluginManifest {
    /// Parses and checks a manifest; `origin` names the file in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self, Error> {
        let manifest: PluginManifest = serde_norway::from_str(text).map_err(|e| {
            Error::new(
                Reason::PluginManifestInvalid,
                format!("plugin manifest {origin} does not parse: {e}"),
            )
            .with("file", origin)
        })?;
        manifest.check(origin)?;
        Ok(manifest)
    }

    /// Plugin name.
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// Checks the rules a manifest must follow to be served.
    pub fn check(&self, origin: &str) -> Result<(), Error> {
        let fail = |msg: String| {
            Err(Error::new(
                Reason::PluginManifestInvalid,
                format!("plugin manifest {origin}: {msg}"),
            )
            .with("file", origin))
        };
        if self.api_version != "catalog/v1alpha1" || self.kind != "PluginManifest" {
            return fail(format!(
                "expected apiVersion catalog/v1alpha1 and kind PluginManifest, got {} {}",
                self.api_version, self.kind
            ));
        }
        if !is_plugin_name(&self.metadata.name) {
            return fail(format!(
                "metadata.name {:?} must match ^[a-z][a-z0-9_-]{{0,62}}$",
                self.metadata.name
            ));
        }
        let entity = &self.spec.entity;
        if !entity
            .kind
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_uppercase())
            || !entity.kind.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return fail(format!(
                "spec.entity.kind {:?} must be PascalCase",
                entity.kind
            ));
        }
        if entity.plural.is_empty() || entity.plural != entity.plural.to_lowercase() {
            return fail(format!(
                "spec.entity.plural {:?} must be lowercase",
                entity.plural
            ));
        }
        if !entity.schema.iter().any(|f| f.name == "name") {
            return fail("spec.entity.schema must declare the required field `name`".into());
        }
        let mut seen = BTreeSet::new();
        for field in &entity.schema {
            if !seen.insert(field.name.as_str()) {
                return fail(format!("schema field {:?} is declared twice", field.name));
            }
            check_field_type(field).or_else(&fail)?;
        }
        for reference in &entity.references {
            let (plugin, kind) = reference.target_parts();
            if !is_plugin_name(plugin) || kind.is_empty() {
                return fail(format!(
                    "reference {:?}: target must be plugin/Kind, got {:?}",
                    reference.path, reference.target
                ));
            }
        }
        for action in &entity.actions {
            if !GENERIC_ASSET_ACTIONS.contains(&action.as_str()) {
                return fail(format!(
                    "spec.entity.actions names {action:?}, which this server does not implement (known: {})",
                    if GENERIC_ASSET_ACTIONS.is_empty() { "none yet".to_string() } else { GENERIC_ASSET_ACTIONS.join(", ") }
                ));
            }
        }
        for column in &entity.columns {
            if column.sortable && !self.is_sortable_path(&column.path) {
                return fail(format!(
                    "column {:?} is sortable but its path is not a record path",
                    column.name
                ));
            }
        }
        Ok(())
    }

    /// Whether `path` may be used in a filter: a shared field, a declared
    /// schema field (or anything under it), or anything at all when the
    /// plugin allows unknown fields.
    pub fn declares_path(&self, path: &str) -> bool {
        let root = path.split('.').next().unwrap_or(path);
        self.spec.allow_unknown_fields
            || SHARED_FIELDS.contains(&root)
            || self.spec.entity.schema.iter().any(|f| f.name == root)
    }

    fn is_sortable_path(&self, path: &str) -> bool {
        !path.starts_with("governance.") && !path.starts_with("metadata.")
    }

    /// Whether `key` selects this plugin under `catalogs:`.
    pub fn matches_catalog_key(&self, key: &str) -> bool {
        self.spec.catalog_key == key || self.spec.catalog_key_aliases.iter().any(|a| a == key)
    }

    /// Whether `kind` names this plugin's kind (case-insensitive kind,
    /// plural or alias).
    pub fn matches_kind(&self, kind: &str) -> bool {
        let entity = &self.spec.entity;
        entity.kind.eq_ignore_ascii_case(kind)
            || entity.plural.eq_ignore_ascii_case(kind)
            || entity.aliases.iter().any(|a| a.eq_ignore_ascii_case(kind))
    }

    /// Native base path `/api/{plugin}_catalog/v1alpha1`.
    pub fn base_path(&self) -> String {
        format!("/api/{}_catalog/v1alpha1", self.metadata.name)
    }
}

const FIELD_TYPES: &[&str] = &[
    "string", "integer", "number", "boolean", "list", "map", "object", "schema", "ref", "any",
];

fn check_field_type(field: &SchemaField) -> Result<(), String> {
    for alternative in field.field_type.split('|') {
        if !FIELD_TYPES.contains(&alternative) {
            return Err(format!(
                "schema field {:?} has unknown type {alternative:?} (known: {})",
                field.name,
                FIELD_TYPES.join(", ")
            ));
        }
    }
    field.fields.iter().try_for_each(check_field_type)
}

/// Whether `name` is a valid plugin name.
pub fn is_plugin_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && name.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
apiVersion: catalog/v1alpha1
kind: PluginManifest
metadata: {name: widgets, displayName: Widgets}
spec:
  catalogKey: widgets
  entity:
    kind: Widget
    plural: widgets
    displayName: Widget
    schema:
      - {name: name, type: string, required: true}
      - {name: color, type: string, enum: [red, blue]}
"#;

    #[test]
    fn minimal_manifest_parses() {
        let m = PluginManifest::from_yaml(MINIMAL, "widgets.yaml").unwrap();
        assert_eq!(m.name(), "widgets");
        assert!(m.matches_kind("WIDGET") && m.matches_kind("widgets") && !m.matches_kind("gadget"));
        assert!(
            m.declares_path("color") && m.declares_path("labels.team") && !m.declares_path("shape")
        );
    }

    #[test]
    fn unknown_field_type_is_refused_with_the_file_named() {
        let bad = MINIMAL.replace("type: string, enum", "type: colour, enum");
        let err = PluginManifest::from_yaml(&bad, "widgets.yaml").unwrap_err();
        assert_eq!(err.reason, Reason::PluginManifestInvalid);
        assert!(
            err.message.contains("widgets.yaml") && err.message.contains("colour"),
            "{}",
            err.message
        );
    }

    #[test]
    fn bad_plugin_names_are_refused() {
        for name in ["Widgets", "1w", "", "w w"] {
            assert!(!is_plugin_name(name), "{name}");
        }
        assert!(is_plugin_name("mcp") && is_plugin_name("my_plugin-2"));
    }
}
