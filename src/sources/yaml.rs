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

/// Entries parsed per piece of a large data file (see [`entry_runs`]).
const ENTRIES_PER_PIECE: usize = 1000;

/// Parses a data document (possibly several `---` documents).
pub fn parse_data_file(
    text: &str,
    label: &str,
    uri: &str,
    path: &str,
    plural: &str,
) -> Result<DataFile, SourceError> {
    parse_data_file_in_pieces(text, label, uri, path, plural, ENTRIES_PER_PIECE)
}

fn parse_data_file_in_pieces(
    text: &str,
    label: &str,
    uri: &str,
    path: &str,
    plural: &str,
    per_piece: usize,
) -> Result<DataFile, SourceError> {
    let digest = sha256_digest(text.as_bytes());
    let mut entries = Vec::new();
    let mut notes = Vec::new();
    let mut collection = None;
    let mut cursor_line = 1;
    let lines: Vec<&str> = text.lines().collect();
    let documents = match entry_runs(text, plural, per_piece)
        .and_then(|(head, runs)| parse_runs(text, head, &runs, plural))
    {
        Some(document) => vec![document],
        None => whole_documents(text, label)?,
    };
    for value in documents {
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

/// Every document of a data file, parsed whole.
fn whole_documents(text: &str, label: &str) -> Result<Vec<Value>, SourceError> {
    serde_norway::Deserializer::from_str(text)
        .map(|document| {
            serde::Deserialize::deserialize(document).map_err(|e: serde_norway::Error| {
                let line = e.location().map(|l| l.line() as u32).unwrap_or(0);
                SourceError::new(
                    ErrorClass::ValidationError,
                    format!("data file {label} does not parse: {e}"),
                )
                .at_location(label, line, "")
            })
        })
        .collect()
}

/// Where a large data file can be cut so that its entries parse a few
/// hundred at a time: the YAML parser holds a document's whole event
/// stream, about eleven bytes of heap per byte of YAML, before it builds
/// any of it. Returns the head (everything up to and including the
/// `<plural>:` line) and the byte ranges of runs of at most `per_piece`
/// entries; each piece is parsed as the head followed by one run.
///
/// Only a layout where that gives exactly the entries of a whole parse is
/// cut: one document whose `<plural>:` key starts a line, followed by a
/// block sequence that runs to the end of the file, and a head with no
/// anchor (an entry's anchor used in a later piece fails that piece, which
/// [`parse_runs`] turns into a whole parse). Anything else, including any
/// piece that does not parse, is parsed whole.
fn entry_runs<'t>(
    text: &'t str,
    plural: &str,
    per_piece: usize,
) -> Option<(&'t str, Vec<std::ops::Range<usize>>)> {
    let mut offset = 0;
    let mut lines = text.split_inclusive('\n');
    let mut head_end = None;
    let mut content_seen = false;
    for line in lines.by_ref() {
        offset += line.len();
        let bare = line.trim_end_matches(['\n', '\r']);
        if is_key_line(bare, plural) {
            head_end = Some(offset);
            break;
        }
        if (bare.starts_with("---") || bare.starts_with("...")) && content_seen {
            return None;
        }
        let trimmed = bare.trim_start();
        content_seen |= !trimmed.is_empty() && !trimmed.starts_with('#');
    }
    let head = &text[..head_end?];
    if head.contains('&') {
        return None;
    }
    let mut indent = None;
    let mut starts = Vec::new();
    for line in lines {
        let start = offset;
        offset += line.len();
        let bare = line.trim_end_matches(['\n', '\r']);
        let trimmed = bare.trim_start_matches(' ');
        if trimmed.starts_with('\t') {
            return None;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let column = bare.len() - trimmed.len();
        let sequence_column = *indent.get_or_insert(column);
        if column > sequence_column {
            continue;
        }
        if column < sequence_column || !(trimmed == "-" || trimmed.starts_with("- ")) {
            return None;
        }
        starts.push(start);
    }
    if starts.len() <= per_piece {
        return None;
    }
    let runs = starts
        .chunks(per_piece)
        .enumerate()
        .map(|(i, run)| {
            let end = starts
                .get((i + 1) * per_piece)
                .copied()
                .unwrap_or(text.len());
            run[0]..end
        })
        .collect();
    Some((head, runs))
}

/// `<key>:` at the start of a line, with nothing after it but a comment.
fn is_key_line(line: &str, key: &str) -> bool {
    line.strip_prefix(key)
        .and_then(|rest| rest.strip_prefix(':'))
        .map(str::trim)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('#'))
}

/// The pieces of [`entry_runs`] parsed one at a time and joined into one
/// document; None if any piece does not parse as the head's map with a
/// `<plural>` list.
fn parse_runs(
    text: &str,
    head: &str,
    runs: &[std::ops::Range<usize>],
    plural: &str,
) -> Option<Value> {
    let mut document: Option<serde_json::Map<String, Value>> = None;
    for run in runs {
        // The head ends with the `<plural>:` line's newline.
        let piece = [head, &text[run.clone()]].concat();
        let Ok(Value::Object(mut map)) = serde_norway::from_str::<Value>(&piece) else {
            return None;
        };
        let Some(Value::Array(items)) = map.remove(plural) else {
            return None;
        };
        match document.as_mut() {
            None => {
                map.insert(plural.to_string(), Value::Array(items));
                document = Some(map);
            }
            Some(joined) => joined.get_mut(plural)?.as_array_mut()?.extend(items),
        }
    }
    document.map(Value::Object)
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

    /// A data file read in pieces of two entries, and whether it was cut.
    fn in_pieces(text: &str) -> (Result<DataFile, SourceError>, bool) {
        let cut = entry_runs(text, "models", 2)
            .is_some_and(|(head, runs)| parse_runs(text, head, &runs, "models").is_some());
        (
            parse_data_file_in_pieces(text, "f", "", "", "models", 2),
            cut,
        )
    }

    fn same_as_whole(text: &str) -> bool {
        let whole = parse_data_file_in_pieces(text, "f", "", "", "models", usize::MAX);
        let (pieces, cut) = in_pieces(text);
        match (whole, pieces) {
            (Ok(whole), Ok(pieces)) => {
                let values = |f: &DataFile| -> Vec<(Value, u32)> {
                    f.entries
                        .iter()
                        .map(|e| (e.value.clone(), e.line))
                        .collect()
                };
                assert_eq!(values(&whole), values(&pieces), "{text}");
                assert_eq!(
                    (&whole.notes, &whole.collection),
                    (&pieces.notes, &pieces.collection)
                );
            }
            (Err(whole), Err(pieces)) => assert_eq!(whole.message, pieces.message),
            (whole, pieces) => panic!("{text}\nwhole: {whole:?}\npieces: {pieces:?}"),
        }
        cut
    }

    #[test]
    fn a_long_entry_list_is_parsed_in_pieces_to_the_same_entries() {
        let text = "# catalog\nsource: Demo\nmodels:  # the list\n  - name: a\n    description: |\n      - not an entry\n      # not a comment\n    tags: [x, y]\n  # a comment at the list's column\n\n  - name: b\n    nested:\n      - k: &inner {v: 1}\n        again: *inner\n  -\n    name: c\n  - name: d\n    text: \"two\n      lines\"\n  - name: e\nextra: 1\n";
        // The trailing key keeps this one whole; without it, it is cut.
        assert!(!same_as_whole(text));
        let text = text.replace("extra: 1\n", "");
        assert!(same_as_whole(&text));
        assert_eq!(in_pieces(&text).0.unwrap().entries.len(), 5);
        assert!(same_as_whole(
            "---\nmodels:\n- name: a\n  x: 1\n- name: b\n- name: c\n"
        ));
        assert!(same_as_whole(
            "models:\r\n  - name: a\r\n  - name: b\r\n  - name: c\r\n"
        ));
    }

    #[test]
    fn layouts_a_cut_could_change_are_parsed_whole() {
        for text in [
            // An anchor in the head, used by entries in every piece.
            "defaults: &d {license: MIT}\nmodels:\n  - name: a\n    d: *d\n  - name: b\n  - name: c\n    d: *d\n",
            // An anchor of one piece used in the next.
            "models:\n  - name: a\n    x: &shared 1\n  - name: b\n  - name: c\n    y: *shared\n",
            // A second document.
            "models:\n  - name: a\n  - name: b\n  - name: c\n---\nmodels:\n  - name: d\n",
            // A quoted string whose next line looks like an entry, where a
            // piece would start.
            "models:\n  - name: a\n  - name: b\n    d: \"first\n  - still the string\"\n  - name: c\n",
            // Not a list, a list in flow style, a dedented line.
            "models:\n  a: 1\n  b: 2\n  c: 3\n",
            "models: [{name: a}, {name: b}, {name: c}]\n",
            "models:\n  - name: a\n  - name: b\n  - name: c\n x: 1\n",
        ] {
            assert!(!same_as_whole(text), "cut: {text}");
        }
        // Few entries: one parse.
        assert!(!same_as_whole("models:\n  - name: a\n  - name: b\n"));
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
