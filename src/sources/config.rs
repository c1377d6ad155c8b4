//! CatalogSources files (spec 02 §1): the map form
//! `catalogs.<pluginKey>.sources[]` and the older Kubeflow model-catalog form
//! where `catalogs` is a list of model sources. Both load unchanged. One bad
//! entry marks only that source; a file that does not parse is one error for
//! the whole file.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::domain::source::{is_source_id, ErrorClass, SourceDefinition, SourceError};
use crate::plugins::Registry;

use super::locate;

/// One source as configured in a file.
#[derive(Debug, Clone)]
pub struct ConfiguredSource {
    /// Plugin name.
    pub plugin: String,
    /// The definition as written (id, name, type, enabled, labels, properties).
    pub definition: SourceDefinition,
    /// File that declared it.
    pub file: PathBuf,
    /// Folder relative paths resolve against.
    pub base_dir: PathBuf,
    /// A ConfigError on this entry alone, when it is invalid.
    pub error: Option<SourceError>,
}

/// Everything read from the sources files.
#[derive(Debug, Clone, Default)]
pub struct SourcesConfig {
    /// Sources in plugin order, then file order; later files win per id.
    pub sources: Vec<ConfiguredSource>,
    /// Non-fatal remarks (unknown plugin keys, ignored keys).
    pub warnings: Vec<String>,
}

/// Reads and merges the sources files. A file that cannot be read or
/// parsed is an error naming the file and line.
pub fn load(files: &[PathBuf], registry: &Registry) -> Result<SourcesConfig, SourceError> {
    let mut config = SourcesConfig::default();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|e| {
            SourceError::new(
                ErrorClass::ConfigError,
                format!("sources file {} cannot be read: {e}", file.display()),
            )
            .at_location(file.display().to_string(), 0, "")
        })?;
        let parsed = parse(&text, file, registry)?;
        config.warnings.extend(parsed.warnings);
        for source in parsed.sources {
            // Entries merge by (plugin, id): a later file replaces an earlier
            // entry in place, so the first file keeps deciding the order.
            match config
                .sources
                .iter_mut()
                .find(|s| s.plugin == source.plugin && s.definition.id == source.definition.id)
            {
                Some(existing) => *existing = source,
                None => config.sources.push(source),
            }
        }
    }
    Ok(config)
}

/// Parses one sources file's text.
pub fn parse(text: &str, file: &Path, registry: &Registry) -> Result<SourcesConfig, SourceError> {
    let file_name = file.display().to_string();
    let document: Value = serde_norway::from_str(text).map_err(|e| {
        let line = e.location().map(|l| l.line() as u32).unwrap_or(0);
        SourceError::new(
            ErrorClass::ConfigError,
            format!("sources file {file_name} does not parse: {e}"),
        )
        .at_location(&file_name, line, "")
    })?;
    let fail = |field: &str, message: String| {
        SourceError::new(
            ErrorClass::ConfigError,
            format!("sources file {file_name}: {message}"),
        )
        .at_location(
            &file_name,
            locate::key_line(text, field.rsplit('.').next().unwrap_or(field), 0).unwrap_or(0),
            field,
        )
    };
    let Some(top) = document.as_object() else {
        return Err(fail(
            "",
            "the top level must be a map with a `catalogs` key".into(),
        ));
    };
    if let Some(api_version) = top.get("apiVersion").and_then(Value::as_str) {
        if api_version != "catalog/v1alpha1" {
            return Err(fail(
                "apiVersion",
                format!("apiVersion {api_version:?} is not supported; use catalog/v1alpha1"),
            ));
        }
    }
    if let Some(kind) = top.get("kind").and_then(Value::as_str) {
        if kind != "CatalogSources" {
            return Err(fail("kind", format!("kind {kind:?} is not CatalogSources")));
        }
    }
    let base_dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut config = SourcesConfig::default();
    let push = |plugin: &str, entry: &Value, index: usize, config: &mut SourcesConfig| {
        let (definition, error) = entry_definition(entry, text, &file_name, plugin, index);
        config.sources.push(ConfiguredSource {
            plugin: plugin.to_string(),
            definition,
            file: file.to_path_buf(),
            base_dir: base_dir.clone(),
            error,
        });
    };
    match top.get("catalogs") {
        Some(Value::Object(blocks)) => {
            for (key, block) in blocks {
                let Some(plugin) = registry.by_catalog_key(key) else {
                    config.warnings.push(format!("{file_name}: catalogs.{key} names no registered plugin; it is kept and ignored"));
                    continue;
                };
                let Some(sources) = block.get("sources").and_then(Value::as_array) else {
                    return Err(fail(
                        key,
                        format!("catalogs.{key} must hold a `sources` list"),
                    ));
                };
                if let Some(extra) = block
                    .as_object()
                    .and_then(|b| b.keys().find(|k| *k != "sources"))
                {
                    config
                        .warnings
                        .push(format!("{file_name}: catalogs.{key}.{extra} is ignored"));
                }
                for (index, entry) in sources.iter().enumerate() {
                    push(plugin.name(), entry, index, &mut config);
                }
            }
        }
        // The Kubeflow model catalog's own format: a list of model sources.
        Some(Value::Array(entries)) => {
            let plugin = registry
                .by_catalog_key("models")
                .map(|p| p.name().to_string())
                .unwrap_or_else(|| "model".into());
            for (index, entry) in entries.iter().enumerate() {
                push(&plugin, entry, index, &mut config);
            }
        }
        _ => {
            return Err(fail(
                "catalogs",
                "`catalogs` is required: a map of plugin keys to {sources: [...]}".into(),
            ))
        }
    }
    Ok(config)
}

/// Turns one entry into a definition; an invalid entry still yields a
/// definition (with what could be read) plus its ConfigError.
fn entry_definition(
    entry: &Value,
    text: &str,
    file: &str,
    plugin: &str,
    index: usize,
) -> (SourceDefinition, Option<SourceError>) {
    let id = entry
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let line = locate::entry_line(text, "id", &id).unwrap_or(0);
    let placeholder_id = if id.is_empty() {
        format!("_invalid-{index}")
    } else {
        id.clone()
    };
    let mut definition = SourceDefinition {
        id: placeholder_id,
        name: entry
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        source_type: entry
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        enabled: entry
            .get("enabled")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        labels: Vec::new(),
        properties: entry
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
    };
    let error = |field: &str, message: String| {
        Some(
            SourceError::new(
                ErrorClass::ConfigError,
                format!(
                    "{file}: source #{} of plugin {plugin}: {message}",
                    index + 1
                ),
            )
            .at_location(
                file,
                if line > 0 {
                    locate::key_line(text, field, line).unwrap_or(line)
                } else {
                    0
                },
                field,
            ),
        )
    };
    match serde_json::from_value::<SourceDefinition>(entry.clone()) {
        Ok(parsed) => definition = parsed,
        Err(e) => {
            let field = ["id", "name", "type", "enabled", "labels", "properties"]
                .into_iter()
                .find(|f| e.to_string().contains(f))
                .unwrap_or("");
            return (definition, error(field, format!("invalid entry: {e}")));
        }
    }
    (
        definition.clone(),
        check_definition(&definition).and_then(|(field, message)| error(field, message)),
    )
}

/// Structural checks of a definition shared by files and the apply action.
pub fn check_definition(definition: &SourceDefinition) -> Option<(&'static str, String)> {
    if !is_source_id(&definition.id) {
        return Some((
            "id",
            format!(
                "id {:?} must match ^[A-Za-z0-9][A-Za-z0-9_.-]{{0,127}}$",
                definition.id
            ),
        ));
    }
    if definition.name.trim().is_empty() {
        return Some(("name", "name is required".into()));
    }
    if definition.source_type.is_empty() {
        return Some(("type", "type is required (yaml, git, http or oci)".into()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> Registry {
        Registry::load(None).unwrap()
    }

    #[test]
    fn map_form_loads_with_plugin_keys_and_warnings() {
        let text = "apiVersion: catalog/v1alpha1\nkind: CatalogSources\ncatalogs:\n  models:\n    sources:\n      - id: m1\n        name: Models\n        type: yaml\n        properties: {yamlCatalogPath: m.yaml}\n  widgets:\n    sources: []\n";
        let config = parse(text, Path::new("/cfg/sources.yaml"), &registry()).unwrap();
        assert_eq!(config.sources.len(), 1);
        assert_eq!(
            (
                config.sources[0].plugin.as_str(),
                config.sources[0].definition.id.as_str()
            ),
            ("model", "m1")
        );
        assert_eq!(config.sources[0].base_dir, Path::new("/cfg"));
        assert!(config.warnings[0].contains("widgets"));
    }

    #[test]
    fn legacy_list_form_is_the_model_plugin() {
        let text = "catalogs:\n  - name: Sample\n    id: sample_custom_catalog\n    type: yaml\n    enabled: true\n    properties:\n      yamlCatalogPath: sample-catalog.yaml\n";
        let config = parse(text, Path::new("sources.yaml"), &registry()).unwrap();
        assert_eq!(config.sources[0].plugin, "model");
        assert!(config.sources[0].error.is_none());
    }

    #[test]
    fn a_bad_entry_marks_only_itself_with_file_line_and_field() {
        let text = "catalogs:\n  agents:\n    sources:\n      - id: good\n        name: Good\n        type: yaml\n      - id: 'bad id'\n        name: Bad\n        type: yaml\n";
        let config = parse(text, Path::new("s.yaml"), &registry()).unwrap();
        assert!(config.sources[0].error.is_none());
        let error = config.sources[1].error.as_ref().unwrap();
        assert_eq!(
            (error.class, error.line, error.field.as_str()),
            (ErrorClass::ConfigError, 7, "id")
        );
    }

    #[test]
    fn an_unparsable_file_is_one_error_with_a_line() {
        let err = parse("catalogs:\n  agents: [\n", Path::new("s.yaml"), &registry()).unwrap_err();
        assert_eq!(err.class, ErrorClass::ConfigError);
        assert!(err.line > 0, "{err:?}");
        assert!(parse(
            "kind: Other\ncatalogs: {}\n",
            Path::new("s.yaml"),
            &registry()
        )
        .is_err());
    }
}
