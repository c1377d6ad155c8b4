//! Sources: the configured origins of a plugin's assets, their runtime
//! overrides and their sync status. Definitions come from CatalogSources
//! files or from the `apply` action; status is what the last sync saw.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::Reason;

/// Provider types this build implements. Others are ConfigErrors.
pub const IMPLEMENTED_PROVIDER_TYPES: &[&str] = &["yaml"];

/// Where a source definition came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// A CatalogSources file.
    File,
    /// The `apply` action.
    Api,
}

impl Origin {
    /// Wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::File => "file",
            Origin::Api => "api",
        }
    }
}

/// One source entry (spec 02 §1.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceDefinition {
    /// Unique within the plugin.
    pub id: String,
    /// Display name.
    pub name: String,
    /// yaml, git, http or oci.
    #[serde(rename = "type")]
    pub source_type: String,
    /// Configured enabled flag.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Source labels.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Provider properties.
    #[serde(default)]
    pub properties: serde_json::Map<String, Value>,
}

fn yes() -> bool {
    true
}

/// Checks an id: `^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`.
pub fn is_source_id(id: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$").expect("valid regex"))
        .is_match(id)
}

/// Property names whose values are credentials and are never shown.
pub const SECRET_PROPERTIES: &[&str] = &[
    "authToken",
    "token",
    "password",
    "clientSecret",
    "publicKey",
];

/// Properties with credentials replaced by `***`, for API output and logs.
pub fn redact_properties(
    properties: &serde_json::Map<String, Value>,
) -> serde_json::Map<String, Value> {
    properties
        .iter()
        .map(|(key, value)| {
            let redacted = if SECRET_PROPERTIES.contains(&key.as_str()) || key == "headers" {
                match value {
                    Value::Object(map) => Value::Object(
                        map.keys()
                            .map(|k| (k.clone(), Value::String("***".into())))
                            .collect(),
                    ),
                    _ => Value::String("***".into()),
                }
            } else if let Value::Object(map) = value {
                Value::Object(redact_properties(map))
            } else {
                value.clone()
            };
            (key.clone(), redacted)
        })
        .collect()
}

/// Error classes of spec 02 §7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorClass {
    /// Invalid source configuration.
    ConfigError,
    /// Missing or invalid credentials.
    AuthError,
    /// Remote resource missing.
    NotFound,
    /// Throttled.
    RateLimited,
    /// Temporary failure.
    TransientNetwork,
    /// Data fails validation.
    ValidationError,
    /// Digest or signature problem.
    IntegrityError,
}

impl ErrorClass {
    /// Wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::ConfigError => "ConfigError",
            ErrorClass::AuthError => "AuthError",
            ErrorClass::NotFound => "NotFound",
            ErrorClass::RateLimited => "RateLimited",
            ErrorClass::TransientNetwork => "TransientNetwork",
            ErrorClass::ValidationError => "ValidationError",
            ErrorClass::IntegrityError => "IntegrityError",
        }
    }

    /// The API reason when a user-triggered action fails with this class.
    pub fn reason(self) -> Reason {
        match self {
            ErrorClass::ConfigError => Reason::SourceConfigError,
            ErrorClass::AuthError => Reason::SourceAuthError,
            ErrorClass::NotFound => Reason::SourceRemoteNotFound,
            ErrorClass::RateLimited => Reason::SourceRateLimited,
            ErrorClass::TransientNetwork => Reason::SourceUnavailable,
            ErrorClass::ValidationError => Reason::SourceValidationError,
            ErrorClass::IntegrityError => Reason::SourceIntegrityError,
        }
    }

    /// Only throttling and network faults are retried automatically.
    pub fn retryable(self) -> bool {
        matches!(self, ErrorClass::RateLimited | ErrorClass::TransientNetwork)
    }
}

/// A classified source error, located in a file when it is in one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceError {
    /// Class.
    pub class: ErrorClass,
    /// Reason code.
    pub code: String,
    /// What went wrong and how to fix it.
    pub message: String,
    /// File holding the fault.
    #[serde(default)]
    pub file: String,
    /// 1-based line, 0 when unknown.
    #[serde(default)]
    pub line: u32,
    /// Field, when known.
    #[serde(default)]
    pub field: String,
    /// When it happened.
    pub at: DateTime<Utc>,
}

impl SourceError {
    /// A new error of `class`.
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        SourceError {
            class,
            code: class.reason().code().to_string(),
            message: message.into(),
            file: String::new(),
            line: 0,
            field: String::new(),
            at: Utc::now(),
        }
    }

    /// Locates the error.
    pub fn at_location(
        mut self,
        file: impl Into<String>,
        line: u32,
        field: impl Into<String>,
    ) -> Self {
        self.file = file.into();
        self.line = line;
        self.field = field.into();
        self
    }
}

/// A per-entry finding kept in the source status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryDiagnostic {
    /// error, warning or info.
    pub severity: String,
    /// Stable code.
    pub code: String,
    /// Detail.
    pub message: String,
    /// Field path inside the entry.
    #[serde(default)]
    pub field: String,
    /// File.
    #[serde(default)]
    pub file: String,
    /// 1-based line, 0 when unknown.
    #[serde(default)]
    pub line: u32,
    /// Entry name.
    #[serde(default)]
    pub entry: String,
}

/// Most entry diagnostics kept per source.
pub const MAX_ENTRY_DIAGNOSTICS: usize = 1000;

/// Counts of one sync.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceCounts {
    /// Records loaded.
    pub assets: u32,
    /// Artifact references seen.
    pub artifacts: u32,
    /// Entries rejected.
    pub rejected: u32,
}

/// Runtime state of a source, as stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceState {
    /// available, syncing, error or disabled.
    pub state: String,
    /// Last successful sync.
    pub last_successful_sync: Option<DateTime<Utc>>,
    /// Last attempt.
    pub last_attempted_sync: Option<DateTime<Utc>>,
    /// Last error.
    pub last_error: Option<SourceError>,
    /// Counts of the last sync.
    pub counts: SourceCounts,
    /// Revision of the last successful sync.
    pub revision: String,
    /// Per-entry findings.
    pub entry_diagnostics: Vec<EntryDiagnostic>,
}

/// Overrides stored in the server's own store for one source.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceOverrides {
    /// Runtime enabled override.
    pub enabled: Option<bool>,
    /// Definition stored by `apply`.
    pub applied: Option<SourceDefinition>,
}

/// Common properties every provider honours.
#[derive(Debug, Clone, Default)]
pub struct CommonProperties {
    /// Asset-name globs to keep.
    pub include_globs: Vec<String>,
    /// Asset-name globs to drop (wins).
    pub exclude_globs: Vec<String>,
    /// Unknown top-level fields accepted.
    pub allow_unknown_fields: Option<bool>,
    /// Schema violations are errors.
    pub strict_schema_validation: bool,
}

impl CommonProperties {
    /// Reads the common properties; errors name the property.
    pub fn parse(properties: &serde_json::Map<String, Value>) -> Result<Self, String> {
        let globs = |key: &str| -> Result<Vec<String>, String> {
            match properties.get(key) {
                None | Some(Value::Null) => Ok(vec![]),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| format!("properties.{key} must be a list of strings"))
                    })
                    .collect(),
                Some(_) => Err(format!("properties.{key} must be a list of strings")),
            }
        };
        let flag = |key: &str| -> Result<Option<bool>, String> {
            match properties.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Bool(b)) => Ok(Some(*b)),
                Some(_) => Err(format!("properties.{key} must be true or false")),
            }
        };
        Ok(CommonProperties {
            include_globs: globs("includeGlobs")?,
            exclude_globs: globs("excludeGlobs")?,
            allow_unknown_fields: flag("allowUnknownFields")?,
            strict_schema_validation: flag("strictSchemaValidation")?.unwrap_or(true),
        })
    }
}

/// Glob over asset names: `*` any run (including `/`), `?` one character.
pub fn name_glob_matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some(('?', rest)) => !n.is_empty() && go(rest, &n[1..]),
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

/// Whether a name passes include/exclude globs (exclude wins).
pub fn name_selected(common: &CommonProperties, name: &str) -> bool {
    let included = common.include_globs.is_empty()
        || common
            .include_globs
            .iter()
            .any(|g| name_glob_matches(g, name));
    included
        && !common
            .exclude_globs
            .iter()
            .any(|g| name_glob_matches(g, name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn globs_match_across_slashes() {
        assert!(name_glob_matches("acme/*", "acme/granite/8b"));
        assert!(name_glob_matches("a?c", "abc") && !name_glob_matches("a?c", "ac"));
        let common = CommonProperties {
            include_globs: vec!["acme/*".into()],
            exclude_globs: vec!["*-beta".into()],
            ..Default::default()
        };
        assert!(
            name_selected(&common, "acme/x")
                && !name_selected(&common, "acme/x-beta")
                && !name_selected(&common, "other")
        );
    }

    #[test]
    fn source_ids_follow_the_pattern() {
        assert!(is_source_id("team-agents.v2_1"));
        assert!(
            !is_source_id("-x")
                && !is_source_id("")
                && !is_source_id("a b")
                && !is_source_id(&"a".repeat(129))
        );
    }

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let props = json!({"authToken": "s3cr3t", "auth": {"password": "p", "type": "basic"}, "headers": {"X-Key": "k"}, "repoUrl": "u"});
        let redacted = Value::Object(redact_properties(props.as_object().unwrap()));
        assert_eq!(
            redacted,
            json!({"authToken": "***", "auth": {"password": "***", "type": "basic"}, "headers": {"X-Key": "***"}, "repoUrl": "u"})
        );
    }
}
