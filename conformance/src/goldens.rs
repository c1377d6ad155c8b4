//! Goldens: committed JSON answers that BWC-01 compares byte for byte
//! (spec 11 §3.8). An answer is normalized first: what legitimately
//! differs from run to run (the run id, the rendered fixture's path and
//! digest, times the server sets, correlation ids, opaque page tokens)
//! becomes a fixed token. It is then printed as pretty JSON with sorted
//! keys. Nothing is re-ordered otherwise: list order is part of what the
//! goldens freeze. With `--update-goldens` (or
//! `CONFORMANCE_UPDATE_GOLDENS=1`) the answers are written as the new
//! goldens instead.

use std::path::Path;

use serde_json::{Map, Value};

/// Replaces the run-dependent parts of an answer by fixed tokens.
#[derive(Debug, Clone)]
pub struct Normalizer {
    /// (text, token), applied in order inside every string: longer texts
    /// that contain the run id come before the run id itself.
    replacements: Vec<(String, &'static str)>,
}

impl Normalizer {
    /// For a run, its rendered fixture file and that file's digest.
    pub fn new(run_id: &str, fixture_path: &str, fixture_digest: &str) -> Normalizer {
        Normalizer {
            replacements: vec![
                (fixture_path.to_string(), "<fixture-path>"),
                (fixture_digest.to_string(), "<fixture-digest>"),
                (run_id.to_string(), "<run>"),
            ],
        }
    }

    /// `text` with the run's values replaced (for paths in messages).
    pub fn text(&self, text: &str) -> String {
        self.replacements
            .iter()
            .filter(|(from, _)| !from.is_empty())
            .fold(text.to_string(), |acc, (from, to)| acc.replace(from, to))
    }

    /// `value` normalized, keys sorted.
    pub fn value(&self, value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                let mut out = Map::new();
                for key in keys {
                    out.insert(key.clone(), self.field(key, &map[key]));
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.iter().map(|v| self.value(v)).collect()),
            Value::String(text) if is_timestamp(text) => Value::String("<timestamp>".into()),
            Value::String(text) => Value::String(self.text(text)),
            other => other.clone(),
        }
    }

    /// A field whose value is unique per call by design.
    fn field(&self, key: &str, value: &Value) -> Value {
        match (key, value) {
            ("correlationId", Value::String(_)) => Value::String("<correlation-id>".into()),
            ("nextPageToken", Value::String(token)) if !token.is_empty() => {
                Value::String("<page-token>".into())
            }
            _ => self.value(value),
        }
    }
}

/// An RFC 3339 time: set by the server (sync times and the like), never
/// by the fixtures, whose times are Kubeflow's epoch-millisecond strings.
fn is_timestamp(text: &str) -> bool {
    text.len() >= 20
        && text.as_bytes()[4] == b'-'
        && chrono::DateTime::parse_from_rfc3339(text).is_ok()
}

/// Pretty JSON with a final newline. Keys come out in the order `value`
/// holds them, which [`Normalizer::value`] sorted.
pub fn render(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values print");
    text.push('\n');
    text
}

/// What happened to one golden.
#[derive(Debug, PartialEq, Eq)]
pub enum Compared {
    /// The answer is the golden.
    Same,
    /// Update mode: the answer was written as the golden.
    Written,
}

/// Compares `actual` with the golden at `path`, or writes it there when
/// `update` is set. The error is a readable, diff-like account.
pub fn compare(path: &Path, actual: &str, update: bool) -> Result<Compared, String> {
    if update {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        std::fs::write(path, actual)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        return Ok(Compared::Written);
    }
    let golden = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "no golden {} ({e}); record it with --update-goldens (CONFORMANCE_UPDATE_GOLDENS=1) and review it",
            path.display()
        )
    })?;
    if golden == actual {
        Ok(Compared::Same)
    } else {
        Err(format!(
            "the answer differs from {} (- golden, + answer):\n{}",
            path.display(),
            diff(&golden, actual)
        ))
    }
}

/// Lines of context shown around a difference.
const CONTEXT: usize = 3;
/// Most lines shown per side, so one bad answer cannot flood the report.
const MAX_SHOWN: usize = 40;

/// The lines between the common head and the common tail of two texts,
/// `-` for the golden's and `+` for the answer's, with a little context.
pub fn diff(golden: &str, actual: &str) -> String {
    let old: Vec<&str> = golden.lines().collect();
    let new: Vec<&str> = actual.lines().collect();
    let head = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let tail = old[head..]
        .iter()
        .rev()
        .zip(new[head..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let mut out = Vec::new();
    out.push(format!("@@ line {} @@", head + 1));
    let from = head.saturating_sub(CONTEXT);
    out.extend(old[from..head].iter().map(|l| format!("  {l}")));
    let side = |lines: &[&str], mark: char, out: &mut Vec<String>| {
        out.extend(lines.iter().take(MAX_SHOWN).map(|l| format!("{mark} {l}")));
        if lines.len() > MAX_SHOWN {
            out.push(format!("{mark} … {} more lines", lines.len() - MAX_SHOWN));
        }
    };
    side(&old[head..old.len() - tail], '-', &mut out);
    side(&new[head..new.len() - tail], '+', &mut out);
    let after = old.len() - tail;
    out.extend(
        old[after..(after + CONTEXT).min(old.len())]
            .iter()
            .map(|l| format!("  {l}")),
    );
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn run_values_times_and_ids_become_tokens_and_keys_sort() {
        let n = Normalizer::new(
            "2611260648abcdef",
            "/tmp/runs/2611260648abcdef/model.yaml",
            "sha256:00ff",
        );
        let answer = json!({
            "name": "ct-models-2611260648abcdef-1",
            "file": "/tmp/runs/2611260648abcdef/model.yaml",
            "revision": "sha256:00ff",
            "lastSuccessfulSync": "2026-11-26T06:48:28.770225737Z",
            "createTimeSinceEpoch": "1735689600000",
            "nextPageToken": "eyJrIjo",
            "details": [{"metadata": {"correlationId": "787506ee"}}],
            "empty": {"nextPageToken": ""},
            "items": [3, 1, 2],
        });
        let text = render(&n.value(&answer));
        assert_eq!(
            text,
            render(&json!({
                "createTimeSinceEpoch": "1735689600000",
                "details": [{"metadata": {"correlationId": "<correlation-id>"}}],
                "empty": {"nextPageToken": ""},
                "file": "<fixture-path>",
                "items": [3, 1, 2],
                "lastSuccessfulSync": "<timestamp>",
                "name": "ct-models-<run>-1",
                "nextPageToken": "<page-token>",
                "revision": "<fixture-digest>",
            }))
        );
        let keys: Vec<&str> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix('"')?.split('"').next())
            .filter(|k| ["createTimeSinceEpoch", "name", "revision"].contains(k))
            .collect();
        assert_eq!(keys, ["createTimeSinceEpoch", "name", "revision"]);
    }

    #[test]
    fn the_diff_shows_the_changed_lines_with_context() {
        let golden = "{\n  \"a\": 1,\n  \"b\": 2,\n  \"c\": 3\n}\n";
        let actual = "{\n  \"a\": 1,\n  \"bee\": 2,\n  \"c\": 3\n}\n";
        assert_eq!(
            diff(golden, actual),
            "@@ line 3 @@\n  {\n    \"a\": 1,\n-   \"b\": 2,\n+   \"bee\": 2,\n    \"c\": 3\n  }"
        );
    }

    #[test]
    fn compare_reports_missing_and_different_goldens_and_writes_in_update_mode() {
        let dir = std::env::temp_dir().join(format!("goldens-test-{}", std::process::id()));
        let path = dir.join("model/x.json");
        let missing = compare(&path, "{}\n", false).unwrap_err();
        assert!(missing.contains("--update-goldens"), "{missing}");
        assert_eq!(compare(&path, "{}\n", true), Ok(Compared::Written));
        assert_eq!(compare(&path, "{}\n", false), Ok(Compared::Same));
        let differs = compare(&path, "[]\n", false).unwrap_err();
        assert!(
            differs.contains("- {}") && differs.contains("+ []"),
            "{differs}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
