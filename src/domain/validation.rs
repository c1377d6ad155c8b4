//! Load-tier validation of data-file entries (spec 01 §4.1): required
//! fields, types, enums, ranges, unknown top-level fields and literal
//! secrets, all driven by the plugin manifest's schema.

use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::plugin::{PluginManifest, SchemaField, SHARED_FIELDS};

/// One validation finding about an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// error, warning or info.
    pub severity: String,
    /// Stable code.
    pub code: String,
    /// What is wrong and how to fix it.
    pub message: String,
    /// Dot-path of the field.
    pub field: String,
}

impl Finding {
    fn error(code: &str, field: &str, message: String) -> Self {
        Finding {
            severity: "error".into(),
            code: code.into(),
            message,
            field: field.into(),
        }
    }
}

/// Options of a source that change validation.
#[derive(Debug, Clone, Copy)]
pub struct ValidationOptions {
    /// Unknown top-level fields are accepted.
    pub allow_unknown_fields: bool,
    /// Schema violations are errors (else warnings; secrets stay errors).
    pub strict: bool,
}

/// Validates one entry; errors reject it.
pub fn validate_entry(
    manifest: &PluginManifest,
    entry: &Value,
    options: ValidationOptions,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let Some(object) = entry.as_object() else {
        findings.push(Finding::error(
            "ENTRY_NOT_A_MAP",
            "",
            "each entry must be a map of fields".into(),
        ));
        return findings;
    };
    match object.get("name") {
        Some(Value::String(name)) if !name.trim().is_empty() => {
            if let Err(problem) = super::asset::check_asset_name(name) {
                findings.push(Finding::error("INVALID_NAME", "name", problem));
            }
        }
        _ => findings.push(Finding::error(
            "REQUIRED_FIELD_MISSING",
            "name",
            "`name` is required and must be a non-empty string".into(),
        )),
    }
    let schema = &manifest.spec.entity.schema;
    check_fields(schema, object, "", &mut findings);
    let allow_unknown = options.allow_unknown_fields || manifest.spec.allow_unknown_fields;
    if !allow_unknown {
        for key in object.keys() {
            if !SHARED_FIELDS.contains(&key.as_str()) && !schema.iter().any(|f| &f.name == key) {
                findings.push(Finding::error(
                    "UNKNOWN_FIELD",
                    key,
                    format!(
                        "field `{key}` is not part of the {} schema; remove it or set allowUnknownFields: true on the source",
                        manifest.spec.entity.kind
                    ),
                ));
            }
        }
    }
    if !options.strict {
        for finding in &mut findings {
            if finding.code != "SECRET_DETECTED" && finding.field != "name" {
                finding.severity = "warning".into();
            }
        }
    }
    detect_secrets(entry, "", &mut findings);
    findings
}

fn check_fields(
    schema: &[SchemaField],
    object: &serde_json::Map<String, Value>,
    prefix: &str,
    out: &mut Vec<Finding>,
) {
    for field in schema {
        let path = join(prefix, &field.name);
        match object.get(&field.name) {
            None | Some(Value::Null) => {
                if field.required && field.name != "name" {
                    out.push(Finding::error(
                        "REQUIRED_FIELD_MISSING",
                        &path,
                        format!("`{path}` is required"),
                    ));
                }
            }
            Some(value) => check_value(field, value, &path, out),
        }
    }
}

fn check_value(field: &SchemaField, value: &Value, path: &str, out: &mut Vec<Finding>) {
    if !field.field_type.split('|').any(|t| type_matches(t, value)) {
        out.push(Finding::error(
            "WRONG_TYPE",
            path,
            format!(
                "`{path}` must be {}, found {}",
                field.field_type.replace('|', " or "),
                json_type(value)
            ),
        ));
        return;
    }
    if !field.enum_values.is_empty() {
        let strings: Vec<&str> = match value {
            Value::String(s) => vec![s.as_str()],
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        for s in strings {
            if !field.enum_values.iter().any(|allowed| allowed == s) {
                out.push(Finding::error(
                    "ENUM_VALUE_INVALID",
                    path,
                    format!(
                        "`{path}` is {s:?}; allowed values: {}",
                        field.enum_values.join(", ")
                    ),
                ));
            }
        }
    }
    if let Some(number) = value.as_f64() {
        let below = field.minimum.is_some_and(|min| number < min);
        let above = field.maximum.is_some_and(|max| number > max);
        if below || above {
            let range = match (field.minimum, field.maximum) {
                (Some(min), Some(max)) => format!("between {min} and {max}"),
                (Some(min), None) => format!("at least {min}"),
                (None, Some(max)) => format!("at most {max}"),
                (None, None) => String::new(),
            };
            out.push(Finding::error(
                "OUT_OF_RANGE",
                path,
                format!("`{path}` is {number}; it must be {range}"),
            ));
        }
    }
    if field.fields.is_empty() {
        return;
    }
    match value {
        Value::Object(object) => check_fields(&field.fields, object, path, out),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if let Some(object) = item.as_object() {
                    check_fields(&field.fields, object, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

fn type_matches(field_type: &str, value: &Value) -> bool {
    match field_type {
        "string" => value.is_string(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "list" => value.is_array(),
        "map" | "object" | "schema" => value.is_object(),
        "ref" => value.is_string() || value.get("name").is_some_and(Value::is_string),
        _ => true,
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

fn secret_key() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)(password|passwd|secret|token|apikey|api_key|private_?key|credential)s?$")
            .expect("valid regex")
    })
}

fn secret_value() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"-----BEGIN [A-Z ]*PRIVATE KEY-----|AKIA[0-9A-Z]{16}|ghp_[A-Za-z0-9]{36}|Bearer [A-Za-z0-9._-]{20,}")
            .expect("valid regex")
    })
}

fn is_secret_key(key: &str) -> bool {
    let exempt = ["Ref", "Refs", "Name", "Names"]
        .iter()
        .any(|suffix| key.ends_with(suffix))
        || key == "requiredSecrets";
    !exempt && secret_key().is_match(key)
}

/// Flags literal secrets anywhere in the entry. The value is never echoed.
fn detect_secrets(value: &Value, path: &str, out: &mut Vec<Finding>) {
    match value {
        Value::Object(object) => {
            for (key, child) in object {
                let child_path = join(path, key);
                if child.is_string() && is_secret_key(key) {
                    out.push(Finding::error(
                        "SECRET_DETECTED",
                        &child_path,
                        format!("`{child_path}` holds a literal secret; reference the secret by name instead"),
                    ));
                } else {
                    detect_secrets(child, &child_path, out);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                detect_secrets(item, &format!("{path}[{i}]"), out);
            }
        }
        Value::String(text) if secret_value().is_match(text) => out.push(Finding::error(
            "SECRET_DETECTED",
            path,
            format!("`{path}` looks like a credential; reference the secret by name instead"),
        )),
        _ => {}
    }
}

/// Whether any finding rejects the entry.
pub fn has_errors(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.severity == "error")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn manifest() -> PluginManifest {
        PluginManifest::from_yaml(
            r#"
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
      - {name: color, type: string, required: true, enum: [red, blue]}
      - {name: size, type: integer, minimum: 1, maximum: 10}
      - name: parts
        type: list
        fields:
          - {name: weight, type: number, minimum: 0}
"#,
            "test",
        )
        .unwrap()
    }

    const STRICT: ValidationOptions = ValidationOptions {
        allow_unknown_fields: false,
        strict: true,
    };

    fn codes(entry: Value, options: ValidationOptions) -> Vec<(String, String, String)> {
        validate_entry(&manifest(), &entry, options)
            .into_iter()
            .map(|f| (f.severity, f.code, f.field))
            .collect()
    }

    #[test]
    fn a_valid_entry_has_no_findings() {
        assert!(codes(
            json!({"name": "w", "color": "red", "size": 3, "labels": {"a": "b"}}),
            STRICT
        )
        .is_empty());
    }

    #[test]
    fn each_rule_names_the_field() {
        let found = codes(
            json!({"name": "w", "color": "green", "size": 11, "parts": [{"weight": -1}], "shape": 1}),
            STRICT,
        );
        let fields: Vec<(&str, &str)> = found
            .iter()
            .map(|(_, c, f)| (c.as_str(), f.as_str()))
            .collect();
        assert!(
            fields.contains(&("ENUM_VALUE_INVALID", "color")),
            "{fields:?}"
        );
        assert!(fields.contains(&("OUT_OF_RANGE", "size")), "{fields:?}");
        assert!(
            fields.contains(&("OUT_OF_RANGE", "parts[0].weight")),
            "{fields:?}"
        );
        assert!(fields.contains(&("UNKNOWN_FIELD", "shape")), "{fields:?}");
        let missing = codes(json!({"name": "w"}), STRICT);
        assert_eq!(
            missing,
            vec![(
                "error".into(),
                "REQUIRED_FIELD_MISSING".into(),
                "color".into()
            )]
        );
        let wrong = codes(json!({"name": "w", "color": 5}), STRICT);
        assert_eq!(wrong[0].1, "WRONG_TYPE");
    }

    #[test]
    fn secrets_are_always_errors_and_names_are_exempt() {
        let lax = ValidationOptions {
            allow_unknown_fields: true,
            strict: false,
        };
        let found = codes(
            json!({"name": "w", "color": "red", "apiToken": "abc", "tokenRef": "ok", "note": "ghp_abcdefghijklmnopqrstuvwxyz0123456789"}),
            lax,
        );
        assert_eq!(
            found.iter().filter(|f| f.1 == "SECRET_DETECTED").count(),
            2,
            "{found:?}"
        );
        assert!(found.iter().all(|f| f.0 == "error"));
        let demoted = codes(json!({"name": "w", "color": "pink"}), lax);
        assert_eq!(demoted[0].0, "warning");
    }
}
