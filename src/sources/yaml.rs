//! The YAML provider (`type: yaml`, spec 02 §4): one data file, a glob of
//! files, or inline content (`yamlContent`). The revision of a file is the
//! sha256 of its bytes, so an untouched file is a no-op sync.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::domain::asset::sha256_digest;
use crate::domain::source::{ErrorClass, SourceDefinition, SourceError};

use super::locate;
use super::{DataFile, ProviderRead, RawEntry};

/// Largest inline content accepted.
pub const MAX_INLINE_BYTES: usize = 4 * 1024 * 1024;

/// Where a source's file paths may point.
#[derive(Debug, Clone)]
pub enum PathPolicy {
    /// Anywhere (sources from the operator's own files).
    Unrestricted,
    /// Only under these folders (sources created over the API).
    Under(Vec<PathBuf>),
}

/// The files a YAML source names, checked against the path policy.
fn resolve_paths(
    definition: &SourceDefinition,
    base_dir: &Path,
    policy: &PathPolicy,
) -> Result<(Vec<PathBuf>, Option<PathBuf>), SourceError> {
    let config_error = |field: &str, message: String| {
        Err(SourceError::new(
            ErrorClass::ConfigError,
            format!("source {}: {message}", definition.id),
        )
        .at_location("", 0, field))
    };
    let Some(pattern) = definition.properties.get("yamlCatalogPath") else {
        return config_error(
            "properties.yamlCatalogPath",
            "a yaml source needs properties.yamlCatalogPath (or yamlContent)".into(),
        );
    };
    let Some(pattern) = pattern.as_str().filter(|p| !p.trim().is_empty()) else {
        return config_error(
            "properties.yamlCatalogPath",
            "properties.yamlCatalogPath must be a non-empty string".into(),
        );
    };
    let joined = base_dir.join(pattern);
    let is_glob = pattern.contains(['*', '?', '[']);
    let paths = if is_glob {
        expand_glob(&joined)?
    } else {
        vec![joined.clone()]
    };
    if paths.is_empty() {
        return Err(SourceError::new(
            ErrorClass::NotFound,
            format!(
                "source {}: no file matches {}",
                definition.id,
                joined.display()
            ),
        )
        .at_location(
            joined.display().to_string(),
            0,
            "properties.yamlCatalogPath",
        ));
    }
    let mut canonical_paths = Vec::new();
    for path in &paths {
        let canonical = path.canonicalize().map_err(|e| {
            SourceError::new(
                ErrorClass::NotFound,
                format!(
                    "source {}: data file {} cannot be opened: {e}",
                    definition.id,
                    path.display()
                ),
            )
            .at_location(path.display().to_string(), 0, "properties.yamlCatalogPath")
        })?;
        if let PathPolicy::Under(roots) = policy {
            if !roots.iter().any(|root| canonical.starts_with(root)) {
                return config_error(
                    "properties.yamlCatalogPath",
                    format!(
                        "{} lies outside the allowed source roots (CATALOG_SOURCE_ROOTS)",
                        canonical.display()
                    ),
                );
            }
        }
        canonical_paths.push(canonical);
    }
    Ok((canonical_paths, is_glob.then(|| glob_root(&joined))))
}

fn inline_content(definition: &SourceDefinition) -> Result<Option<&str>, SourceError> {
    let Some(content) = definition.properties.get("yamlContent") else {
        return Ok(None);
    };
    let error = |message: String| {
        Err(SourceError::new(
            ErrorClass::ConfigError,
            format!("source {}: {message}", definition.id),
        )
        .at_location("", 0, "properties.yamlContent"))
    };
    match content.as_str() {
        None => error("properties.yamlContent must be a string".into()),
        Some(text) if text.len() > MAX_INLINE_BYTES => error(format!(
            "inline content is {} bytes; the limit is 4 MiB",
            text.len()
        )),
        Some(text) => Ok(Some(text)),
    }
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, SourceError> {
    std::fs::read(path).map_err(|e| {
        SourceError::new(
            ErrorClass::NotFound,
            format!("data file {} cannot be read: {e}", path.display()),
        )
        .at_location(path.display().to_string(), 0, "")
    })
}

fn combine(digests: &[String]) -> String {
    match digests {
        [one] => one.clone(),
        many => sha256_digest(many.join("\n").as_bytes()),
    }
}

/// The revision a read would report, from file digests alone: lets a poll
/// skip parsing when nothing changed.
pub fn probe(
    definition: &SourceDefinition,
    base_dir: &Path,
    policy: &PathPolicy,
) -> Result<String, SourceError> {
    if let Some(content) = inline_content(definition)? {
        return Ok(sha256_digest(content.as_bytes()));
    }
    let (paths, _) = resolve_paths(definition, base_dir, policy)?;
    let digests = paths
        .iter()
        .map(|p| read_bytes(p).map(|b| sha256_digest(&b)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(combine(&digests))
}

/// Reads a YAML source.
pub fn read(
    definition: &SourceDefinition,
    base_dir: &Path,
    plural: &str,
    policy: &PathPolicy,
) -> Result<ProviderRead, SourceError> {
    if let Some(content) = inline_content(definition)? {
        let label = format!("inline:{}", definition.id);
        let file = parse_data_file(content, &label, &label, "", plural)?;
        return Ok(ProviderRead {
            revision: file.digest.clone(),
            files: vec![file],
        });
    }
    let (paths, _) = resolve_paths(definition, base_dir, policy)?;
    let mut files = Vec::new();
    for canonical in &paths {
        let text = String::from_utf8(read_bytes(canonical)?).map_err(|_| {
            SourceError::new(
                ErrorClass::ValidationError,
                format!("data file {} is not UTF-8 text", canonical.display()),
            )
            .at_location(canonical.display().to_string(), 0, "")
        })?;
        let uri = canonical.display().to_string();
        files.push(parse_data_file(&text, &uri, &uri, &uri, plural)?);
    }
    let revision = combine(&files.iter().map(|f| f.digest.clone()).collect::<Vec<_>>());
    Ok(ProviderRead { revision, files })
}

/// Parses a data document (possibly several `---` documents).
pub fn parse_data_file(
    text: &str,
    label: &str,
    uri: &str,
    path: &str,
    plural: &str,
) -> Result<DataFile, SourceError> {
    let digest = sha256_digest(text.as_bytes());
    let mut entries = Vec::new();
    let mut notes = Vec::new();
    let mut collection = None;
    let mut cursor_line = 1;
    let lines: Vec<&str> = text.lines().collect();
    for document in serde_norway::Deserializer::from_str(text) {
        let value: Value = serde::Deserialize::deserialize(document).map_err(|e| {
            let line = e.location().map(|l| l.line() as u32).unwrap_or(0);
            SourceError::new(
                ErrorClass::ValidationError,
                format!("data file {label} does not parse: {e}"),
            )
            .at_location(label, line, "")
        })?;
        // Owned, so that entries move out of the document instead of being
        // copied: a large file is then never held twice.
        let Value::Object(mut top) = value else {
            if value.is_null() {
                continue;
            }
            return Err(SourceError::new(
                ErrorClass::ValidationError,
                format!("data file {label}: the top level must be a map with a `{plural}` list"),
            )
            .at_location(label, 1, ""));
        };
        for key in top.keys() {
            if key != plural && key != "source" {
                notes.push(format!("top-level key `{key}` is ignored"));
            }
        }
        if let Some(label_value) = top.get("source").and_then(Value::as_str) {
            collection = Some(label_value.to_string());
        }
        let items = match top.remove(plural) {
            Some(Value::Array(items)) => items,
            Some(Value::Null) => continue,
            Some(_) => {
                return Err(SourceError::new(ErrorClass::ValidationError, format!("data file {label}: `{plural}` must be a list"))
                    .at_location(label, locate::key_line(text, plural, 1).unwrap_or(0), plural))
            }
            None => {
                return Err(SourceError::new(
                    ErrorClass::ValidationError,
                    format!("data file {label} has no `{plural}` list; this plugin reads the top-level key `{plural}`"),
                )
                .at_location(label, 1, plural))
            }
        };
        for item in items {
            let name = item.get("name").and_then(Value::as_str).unwrap_or_default();
            let line = locate::entry_line_in(&lines, "name", name, cursor_line).unwrap_or(0);
            if line > 0 {
                cursor_line = line + 1;
            }
            entries.push(RawEntry { value: item, line });
        }
    }
    Ok(DataFile {
        label: label.to_string(),
        uri: uri.to_string(),
        path: path.to_string(),
        digest,
        text: text.to_string(),
        entries,
        notes,
        collection,
    })
}

/// The folder a glob starts from: its longest prefix without wildcards.
fn glob_root(pattern: &Path) -> PathBuf {
    let mut root = PathBuf::new();
    for component in pattern.components() {
        if component
            .as_os_str()
            .to_string_lossy()
            .contains(['*', '?', '['])
        {
            break;
        }
        root.push(component);
    }
    root
}

fn expand_glob(pattern: &Path) -> Result<Vec<PathBuf>, SourceError> {
    let matcher = globset::Glob::new(&pattern.to_string_lossy())
        .map_err(|e| {
            SourceError::new(
                ErrorClass::ConfigError,
                format!("yamlCatalogPath is not a valid glob: {e}"),
            )
            .at_location("", 0, "properties.yamlCatalogPath")
        })?
        .compile_matcher();
    let mut found = Vec::new();
    let mut stack = vec![glob_root(pattern)];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if matcher.is_match(&path) {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_entries_and_lines_are_read() {
        let text = "source: Demo\nmodels:\n  - name: a/b\n    license: MIT\n---\nmodels:\n  - name: c\nextra: 1\n";
        let file = parse_data_file(text, "f.yaml", "/f.yaml", "/f.yaml", "models").unwrap();
        assert_eq!(file.entries.len(), 2);
        assert_eq!((file.entries[0].line, file.entries[1].line), (3, 7));
        assert_eq!(file.collection.as_deref(), Some("Demo"));
        assert_eq!(
            file.notes,
            vec!["top-level key `extra` is ignored".to_string()]
        );
        assert!(file.digest.starts_with("sha256:") && file.digest.len() == 71);
    }

    #[test]
    fn parse_errors_and_missing_keys_are_validation_errors_with_lines() {
        let err = parse_data_file(
            "models:\n  - name: a\n   bad: [\n",
            "f.yaml",
            "",
            "",
            "models",
        )
        .unwrap_err();
        assert_eq!(err.class, ErrorClass::ValidationError);
        assert!(err.line >= 2, "{err:?}");
        let err = parse_data_file("agents: []\n", "f.yaml", "", "", "models").unwrap_err();
        assert!(err.message.contains("`models`"), "{}", err.message);
        assert!(parse_data_file("models: []\n", "f", "", "", "models")
            .unwrap()
            .entries
            .is_empty());
    }
}
