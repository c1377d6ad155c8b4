//! Governance metadata (spec 05): the typed document kept in the overlay,
//! its validation rules, merge-patch updates, the fields required before
//! approval, the derived review fields and the changed-leaves audit diff.
//! Lifecycle fields are not part of it; only lifecycle actions change them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::config::GovernanceConfig;
use super::Warning;
use crate::domain::error::{Error, FieldViolation, Reason};

/// The editable governance document of an asset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GovernanceMetadata {
    /// Accountable principal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    /// Owning team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<Team>,
    /// Support level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla: Option<Sla>,
    /// Risk rating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk: Option<Risk>,
    /// What the asset is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intended_use: Option<IntendedUse>,
    /// Compliance tags and controls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compliance: Option<Compliance>,
    /// Review schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<Review>,
    /// Free-form extension values by key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extensions: BTreeMap<String, Value>,
}

/// `owner`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    /// User or service principal; required for approval by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Contact address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// `team`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Team {
    /// Team name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Team identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// `sla`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sla {
    /// gold, silver, bronze or none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// Promised response time, 1–8760 hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_hours: Option<i32>,
}

/// `risk`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Risk {
    /// low, medium, high or critical.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// Values of `vocabularies.riskCategories`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
}

/// `intendedUse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntendedUse {
    /// What it is for, in prose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Configured environments it is meant for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<String>,
    /// Usage restrictions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restrictions: Vec<String>,
}

/// `compliance`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Compliance {
    /// Values of `vocabularies.complianceTags`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Control identifiers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controls: Vec<String>,
}

/// `audit`: the review schedule (the derived fields are computed by
/// [`derived`], never stored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Review {
    /// When the asset was last reviewed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reviewed_at: Option<DateTime<Utc>>,
    /// Days between reviews, 1–3650.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_cadence_days: Option<i32>,
}

/// Allowed `sla.tier` values.
pub const SLA_TIERS: &[&str] = &["gold", "silver", "bronze", "none"];
/// Allowed `risk.level` values.
pub const RISK_LEVELS: &[&str] = &["low", "medium", "high", "critical"];

/// Fields the server owns; a PATCH naming one is INVALID_PARAMS.
const SERVER_MANAGED: &[&str] = &["resourceVersion", "updatedAt", "updatedBy"];
/// Derived `audit` fields; a PATCH naming one is INVALID_PARAMS.
const DERIVED_AUDIT: &[&str] = &["nextReviewDueAt", "reviewOverdue"];

#[derive(Clone, Copy)]
enum Leaf {
    Text,
    Int { min: i64, max: i64 },
    Texts,
    Time,
}

/// The sections of the document and the type of each of their fields;
/// `extensions` is open-ended and handled apart.
const SECTIONS: &[(&str, &[(&str, Leaf)])] = &[
    (
        "owner",
        &[
            ("principal", Leaf::Text),
            ("displayName", Leaf::Text),
            ("email", Leaf::Text),
        ],
    ),
    ("team", &[("name", Leaf::Text), ("id", Leaf::Text)]),
    (
        "sla",
        &[
            ("tier", Leaf::Text),
            ("responseHours", Leaf::Int { min: 1, max: 8760 }),
        ],
    ),
    (
        "risk",
        &[("level", Leaf::Text), ("categories", Leaf::Texts)],
    ),
    (
        "intendedUse",
        &[
            ("summary", Leaf::Text),
            ("environments", Leaf::Texts),
            ("restrictions", Leaf::Texts),
        ],
    ),
    (
        "compliance",
        &[("tags", Leaf::Texts), ("controls", Leaf::Texts)],
    ),
    (
        "audit",
        &[
            ("lastReviewedAt", Leaf::Time),
            ("reviewCadenceDays", Leaf::Int { min: 1, max: 3650 }),
        ],
    ),
];

const EXTENSIONS: &str = "extensions";
const MAX_EXTENSION_KEYS: usize = 64;
const MAX_EXTENSIONS_BYTES: usize = 16 * 1024;
const MAX_LIST_ITEMS: usize = 64;
const MAX_ITEM_CHARS: usize = 128;
const REVIEW_SKEW_SECS: i64 = 60;

/// Whether `path` names a field of the document (`owner.principal`,
/// `extensions.<key>`), for checking `requiredFieldsForApproval`.
pub fn is_field_path(path: &str) -> bool {
    let Some((section, field)) = path.split_once('.') else {
        return false;
    };
    if section == EXTENSIONS {
        return is_extension_key(field);
    }
    SECTIONS
        .iter()
        .any(|(name, fields)| *name == section && fields.iter().any(|(f, _)| *f == field))
}

fn is_extension_key(key: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,127}$").expect("valid regex"))
        .is_match(key)
}

fn is_email(text: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$").expect("valid regex"))
        .is_match(text)
}

/// A violation, marked when it only says a value left its vocabulary (or
/// its environment list): such values may stay until the field is edited.
struct Finding {
    violation: FieldViolation,
    vocabulary_list: Option<&'static str>,
}

#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn push(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(Finding {
            violation: FieldViolation {
                field: field.into(),
                description: description.into(),
            },
            vocabulary_list: None,
        });
    }

    fn vocabulary(&mut self, list: &'static str, field: String, description: String) {
        self.0.push(Finding {
            violation: FieldViolation { field, description },
            vocabulary_list: Some(list),
        });
    }

    fn text(&mut self, field: &str, value: &Option<String>, min: usize, max: usize) {
        let Some(value) = value else { return };
        let chars = value.chars().count();
        if min > 0 && value.trim().is_empty() {
            self.push(field, "must not be empty; use null to clear it");
        } else if chars > max {
            self.push(
                field,
                format!("is {chars} characters long; the limit is {max}"),
            );
        }
    }

    fn one_of(&mut self, field: &str, value: &Option<String>, allowed: &[&str]) {
        if let Some(value) = value {
            if !allowed.contains(&value.as_str()) {
                self.push(
                    field,
                    format!(
                        "{value:?} is not allowed; use one of {}",
                        allowed.join(", ")
                    ),
                );
            }
        }
    }

    fn range(&mut self, field: &str, value: Option<i32>, min: i64, max: i64) {
        if let Some(problem) = value.and_then(|v| range_problem(i64::from(v), min, max)) {
            self.push(field, problem);
        }
    }

    fn duplicates(&mut self, field: &str, items: &[String]) {
        let mut seen = BTreeSet::new();
        for (index, item) in items.iter().enumerate() {
            if !seen.insert(item) {
                self.push(
                    format!("{field}[{index}]"),
                    format!("{item:?} is listed twice; remove the duplicate"),
                );
            }
        }
    }

    fn bounded_items(&mut self, field: &str, items: &[String]) {
        if items.len() > MAX_LIST_ITEMS {
            self.push(
                field,
                format!("holds {} items; the limit is {MAX_LIST_ITEMS}", items.len()),
            );
        }
        for (index, item) in items.iter().enumerate() {
            let chars = item.chars().count();
            if item.trim().is_empty() {
                self.push(format!("{field}[{index}]"), "must not be empty");
            } else if chars > MAX_ITEM_CHARS {
                self.push(
                    format!("{field}[{index}]"),
                    format!("is {chars} characters long; the limit is {MAX_ITEM_CHARS}"),
                );
            }
        }
    }

    fn in_vocabulary(
        &mut self,
        list: &'static str,
        items: &[String],
        allowed: &[String],
        setting: &str,
    ) {
        for (index, item) in items.iter().enumerate() {
            if !allowed.contains(item) {
                let choices = if allowed.is_empty() {
                    format!("{setting} is empty, so no value is allowed")
                } else {
                    format!("use one of {}", allowed.join(", "))
                };
                self.vocabulary(
                    list,
                    format!("{list}[{index}]"),
                    format!("{item:?} is not in {setting}; {choices}"),
                );
            }
        }
    }
}

fn range_problem(value: i64, min: i64, max: i64) -> Option<String> {
    (value < min || value > max).then(|| format!("must be between {min} and {max}, not {value}"))
}

/// All findings; without `now` the review time is not judged, for callers
/// that only want the configuration-dependent ones.
fn check(
    meta: &GovernanceMetadata,
    config: &GovernanceConfig,
    now: Option<DateTime<Utc>>,
) -> Findings {
    let mut out = Findings::default();
    if let Some(owner) = &meta.owner {
        out.text("owner.principal", &owner.principal, 1, 256);
        out.text("owner.displayName", &owner.display_name, 0, 256);
        out.text("owner.email", &owner.email, 0, 254);
        if let Some(email) = &owner.email {
            if email.chars().count() <= 254 && !is_email(email) {
                out.push(
                    "owner.email",
                    format!("{email:?} is not an address of the form local@domain.tld"),
                );
            }
        }
    }
    if let Some(team) = &meta.team {
        out.text("team.name", &team.name, 1, 128);
        out.text("team.id", &team.id, 0, 128);
    }
    if let Some(sla) = &meta.sla {
        out.one_of("sla.tier", &sla.tier, SLA_TIERS);
        out.range("sla.responseHours", sla.response_hours, 1, 8760);
    }
    if let Some(risk) = &meta.risk {
        out.one_of("risk.level", &risk.level, RISK_LEVELS);
        out.in_vocabulary(
            "risk.categories",
            &risk.categories,
            &config.vocabularies.risk_categories,
            "vocabularies.riskCategories",
        );
        out.duplicates("risk.categories", &risk.categories);
    }
    if let Some(intended) = &meta.intended_use {
        out.text("intendedUse.summary", &intended.summary, 0, 4096);
        for (index, env) in intended.environments.iter().enumerate() {
            if !config.is_environment(env) {
                out.vocabulary(
                    "intendedUse.environments",
                    format!("intendedUse.environments[{index}]"),
                    format!(
                        "{env:?} is not a configured environment; use one of {}",
                        config.environments.join(", ")
                    ),
                );
            }
        }
        out.bounded_items("intendedUse.restrictions", &intended.restrictions);
        if !config.vocabularies.intended_use_restrictions.is_empty() {
            out.in_vocabulary(
                "intendedUse.restrictions",
                &intended.restrictions,
                &config.vocabularies.intended_use_restrictions,
                "vocabularies.intendedUseRestrictions",
            );
        }
    }
    if let Some(compliance) = &meta.compliance {
        out.in_vocabulary(
            "compliance.tags",
            &compliance.tags,
            &config.vocabularies.compliance_tags,
            "vocabularies.complianceTags",
        );
        out.duplicates("compliance.tags", &compliance.tags);
        out.bounded_items("compliance.controls", &compliance.controls);
    }
    if let Some(review) = &meta.audit {
        if let (Some(at), Some(now)) = (review.last_reviewed_at, now) {
            if at > now + Duration::seconds(REVIEW_SKEW_SECS) {
                out.push(
                    "audit.lastReviewedAt",
                    format!(
                        "{} is in the future; give the time the review happened",
                        at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
                    ),
                );
            }
        }
        out.range(
            "audit.reviewCadenceDays",
            review.review_cadence_days,
            1,
            3650,
        );
    }
    if meta.extensions.len() > MAX_EXTENSION_KEYS {
        out.push(
            EXTENSIONS,
            format!(
                "holds {} keys; the limit is {MAX_EXTENSION_KEYS}",
                meta.extensions.len()
            ),
        );
    }
    for key in meta.extensions.keys() {
        if !is_extension_key(key) {
            out.push(
                format!("{EXTENSIONS}.{key}"),
                "keys start with a letter or digit and hold at most 128 letters, digits, '_', \
                 '.', '/' or '-'",
            );
        }
    }
    let size = serde_json::to_string(&meta.extensions)
        .map(|s| s.len())
        .unwrap_or(0);
    if size > MAX_EXTENSIONS_BYTES {
        out.push(
            EXTENSIONS,
            format!("takes {size} bytes as JSON; the limit is {MAX_EXTENSIONS_BYTES}"),
        );
    }
    out
}

/// Every rule of spec 05 §1 that `meta` breaks.
pub fn validate(
    meta: &GovernanceMetadata,
    config: &GovernanceConfig,
    now: DateTime<Utc>,
) -> Vec<FieldViolation> {
    check(meta, config, Some(now))
        .0
        .into_iter()
        .map(|f| f.violation)
        .collect()
}

/// VALUE_NOT_IN_VOCABULARY warnings for values the configuration no
/// longer allows; they stay until someone edits the field.
pub fn vocabulary_warnings(meta: &GovernanceMetadata, config: &GovernanceConfig) -> Vec<Warning> {
    check(meta, config, None)
        .0
        .into_iter()
        .filter_map(|finding| {
            let list = finding.vocabulary_list?;
            Some(Warning::new(
                "VALUE_NOT_IN_VOCABULARY",
                format!(
                    "{}: {}; the next change to {list} must remove it",
                    finding.violation.field, finding.violation.description
                ),
            ))
        })
        .collect()
}

/// Applies a JSON merge-patch to the document and validates the result.
pub fn apply_patch(
    current: &GovernanceMetadata,
    patch: &Value,
    config: &GovernanceConfig,
    now: DateTime<Utc>,
) -> Result<GovernanceMetadata, Error> {
    let Some(patch) = patch.as_object() else {
        return Err(validation_error(vec![FieldViolation {
            field: String::new(),
            description: "the governance patch must be a JSON object".into(),
        }]));
    };
    if patch.contains_key("lifecycle") {
        return Err(Error::new(
            Reason::LifecycleFieldReadOnly,
            "governance.lifecycle cannot be edited; change the state with a lifecycle action \
             (lifecycle.setState, lifecycle.deprecate, lifecycle.archive or lifecycle.restore)",
        )
        .violation("lifecycle", "read-only; use a lifecycle action"));
    }
    let mut managed = Vec::new();
    for key in SERVER_MANAGED {
        if patch.contains_key(*key) {
            managed.push(key.to_string());
        }
    }
    if let Some(Value::Object(audit)) = patch.get("audit") {
        for key in DERIVED_AUDIT {
            if audit.contains_key(*key) {
                managed.push(format!("audit.{key}"));
            }
        }
    }
    if !managed.is_empty() {
        let mut error = Error::new(
            Reason::InvalidParams,
            format!(
                "{} cannot be written: the server sets them; remove them from the request (use \
                 If-Match for concurrency)",
                managed.join(", ")
            ),
        );
        for field in managed {
            error = error.violation(field, "server-managed; remove it from the patch");
        }
        return Err(error);
    }

    let mut problems = Vec::new();
    let clean = typed_patch(patch, &mut problems);
    let mut document = serde_json::to_value(current).map_err(Error::internal)?;
    merge_patch(&mut document, &Value::Object(clean.clone()));
    let mut result: GovernanceMetadata =
        serde_json::from_value(document).map_err(Error::internal)?;
    normalize(&mut result);
    for finding in check(&result, config, Some(now)).0 {
        // A value that left its vocabulary may stay until its field is
        // edited (spec 05 §2), so untouched lists are not re-judged.
        let grandfathered = finding.vocabulary_list.is_some_and(|list| {
            let (section, field) = list.split_once('.').unwrap_or((list, ""));
            clean.get(section).and_then(|s| s.get(field)).is_none()
        });
        if !grandfathered {
            problems.push(finding.violation);
        }
    }
    if problems.is_empty() {
        Ok(result)
    } else {
        Err(validation_error(problems))
    }
}

fn validation_error(problems: Vec<FieldViolation>) -> Error {
    let mut fields: Vec<&str> = Vec::new();
    for problem in &problems {
        if !fields.contains(&problem.field.as_str()) {
            fields.push(&problem.field);
        }
    }
    let shown: Vec<&str> = fields
        .iter()
        .map(|f| if f.is_empty() { "(body)" } else { f })
        .collect();
    let mut error = Error::new(
        Reason::GovernanceValidationFailed,
        format!(
            "governance update rejected: {} field(s) are invalid ({}); fix them and send the \
             update again (each problem is listed in the error details)",
            fields.len(),
            shown.join(", ")
        ),
    );
    error.violations = problems;
    error
}

/// The patch with unknown fields and wrongly typed values reported and
/// dropped, so the rest can still be merged and validated in the same pass.
fn typed_patch(
    patch: &Map<String, Value>,
    problems: &mut Vec<FieldViolation>,
) -> Map<String, Value> {
    let mut problem =
        |field: String, description: String| problems.push(FieldViolation { field, description });
    let mut clean = Map::new();
    for (key, value) in patch {
        if key == EXTENSIONS {
            match value {
                Value::Null | Value::Object(_) => {
                    clean.insert(key.clone(), value.clone());
                }
                other => problem(
                    key.clone(),
                    format!(
                        "must be an object (or null to clear it), not {}",
                        kind(other)
                    ),
                ),
            }
            continue;
        }
        let Some((_, fields)) = SECTIONS.iter().find(|(name, _)| name == key) else {
            problem(
                key.clone(),
                format!(
                    "unknown governance field; the fields are {}, {EXTENSIONS}",
                    SECTIONS
                        .iter()
                        .map(|(name, _)| *name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            continue;
        };
        let section = match value {
            Value::Null => {
                clean.insert(key.clone(), Value::Null);
                continue;
            }
            Value::Object(section) => section,
            other => {
                problem(
                    key.clone(),
                    format!(
                        "must be an object (or null to clear it), not {}",
                        kind(other)
                    ),
                );
                continue;
            }
        };
        let mut kept = Map::new();
        for (name, value) in section {
            let path = format!("{key}.{name}");
            let Some((_, leaf)) = fields.iter().find(|(field, _)| field == name) else {
                problem(
                    path,
                    format!(
                        "unknown field; {key} holds {}",
                        fields
                            .iter()
                            .map(|(f, _)| *f)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
                continue;
            };
            match leaf_value(*leaf, value) {
                Ok(value) => {
                    kept.insert(name.clone(), value);
                }
                Err((suffix, description)) => problem(format!("{path}{suffix}"), description),
            }
        }
        clean.insert(key.clone(), Value::Object(kept));
    }
    clean
}

/// The value to merge for one field, or the (path suffix, description) of
/// why it has the wrong type.
fn leaf_value(leaf: Leaf, value: &Value) -> Result<Value, (String, String)> {
    let wrong = |what: &str| {
        Err((
            String::new(),
            format!("must be {what} (or null to clear it), not {}", kind(value)),
        ))
    };
    if value.is_null() {
        return Ok(Value::Null);
    }
    match leaf {
        Leaf::Text => match value {
            Value::String(_) => Ok(value.clone()),
            _ => wrong("a string"),
        },
        Leaf::Int { min, max } => match value.as_i64() {
            Some(n) => match range_problem(n, min, max) {
                // The range check runs again on the result; out-of-range
                // values that also do not fit an int32 stop here.
                Some(problem) if i32::try_from(n).is_err() => Err((String::new(), problem)),
                _ => Ok(value.clone()),
            },
            None => wrong("a whole number"),
        },
        Leaf::Texts => match value {
            Value::Array(items) => match items.iter().position(|item| !item.is_string()) {
                Some(index) => Err((
                    format!("[{index}]"),
                    format!("must be a string, not {}", kind(&items[index])),
                )),
                None => Ok(value.clone()),
            },
            _ => wrong("a list of strings"),
        },
        Leaf::Time => match value {
            Value::String(text) => match DateTime::parse_from_rfc3339(text) {
                Ok(at) => Ok(Value::String(
                    at.with_timezone(&Utc)
                        .to_rfc3339_opts(SecondsFormat::AutoSi, true),
                )),
                Err(_) => Err((
                    String::new(),
                    format!("{text:?} is not an RFC 3339 time such as 2026-01-10T00:00:00Z"),
                )),
            },
            _ => wrong("an RFC 3339 time string"),
        },
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// RFC 7386: objects merge key by key, null removes, anything else
/// (arrays included) replaces.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// De-duplicates the lists the spec declares de-duplicated and drops
/// sections a patch has emptied, so `{}` never lingers in the document.
fn normalize(meta: &mut GovernanceMetadata) {
    fn dedup(items: &mut Vec<String>) {
        let mut seen = BTreeSet::new();
        items.retain(|item| seen.insert(item.clone()));
    }
    if let Some(risk) = &mut meta.risk {
        dedup(&mut risk.categories);
    }
    if let Some(compliance) = &mut meta.compliance {
        dedup(&mut compliance.tags);
    }
    if let Some(intended) = &mut meta.intended_use {
        dedup(&mut intended.environments);
    }
    fn drop_empty<T: Default + PartialEq>(section: &mut Option<T>) {
        if section.as_ref().is_some_and(|s| *s == T::default()) {
            *section = None;
        }
    }
    drop_empty(&mut meta.owner);
    drop_empty(&mut meta.team);
    drop_empty(&mut meta.sla);
    drop_empty(&mut meta.risk);
    drop_empty(&mut meta.intended_use);
    drop_empty(&mut meta.compliance);
    drop_empty(&mut meta.audit);
}

/// The paths in `required_fields` (and `owner.principal` when the owner is
/// required) that are empty in `meta`, owner first.
pub fn missing_for_approval(
    meta: &GovernanceMetadata,
    require_owner: bool,
    required_fields: &[String],
) -> Vec<String> {
    let document = serde_json::to_value(meta).unwrap_or(Value::Null);
    let owner = require_owner.then(|| "owner.principal".to_string());
    let mut missing: Vec<String> = Vec::new();
    for path in owner.iter().chain(required_fields) {
        if !missing.contains(path) && !has_value(lookup(&document, path)) {
            missing.push(path.clone());
        }
    }
    missing
}

fn lookup<'v>(document: &'v Value, path: &str) -> Option<&'v Value> {
    let (section, rest) = path.split_once('.')?;
    let section = document.get(section)?;
    // Extension keys may hold dots themselves, so they are never split.
    if path.starts_with("extensions.") {
        return section.get(rest);
    }
    rest.split('.')
        .try_fold(section, |value, key| value.get(key))
}

fn has_value(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(Value::Array(items)) => !items.is_empty(),
        Some(Value::Object(map)) => !map.is_empty(),
        Some(_) => true,
    }
}

/// The refusal of an approval while governance fields are missing.
pub fn approval_fields_error(plugin: &str, kind: &str, name: &str, missing: &[String]) -> Error {
    let asset = format!("{plugin}/{kind}/{name}");
    let fields = missing.join(", ");
    let reason = if missing.len() == 1 && missing[0] == "owner.principal" {
        Reason::OwnerRequired
    } else {
        Reason::ApprovalFieldsRequired
    };
    let mut error = Error::new(
        reason,
        format!(
            "cannot approve {asset}: governance field(s) {fields} must be set first; set them \
             with \"catalogctl governance set {asset} --owner <principal>\" or the Governance panel"
        ),
    )
    .with("missingFields", missing.join(","))
    .with(
        "remediation",
        format!(
            "Set {fields} on {asset} (UpdateAssetGovernance, \"catalogctl governance set\" or the \
             Governance panel), then request the approval again"
        ),
    );
    for path in missing {
        error = error.precondition(
            "GOVERNANCE_FIELD",
            path,
            format!("{path} must be set before {asset} can be approved"),
        );
    }
    error
}

/// The document as JSON with `audit.nextReviewDueAt` and
/// `audit.reviewOverdue` added when a review time and cadence are known.
pub fn derived(meta: &GovernanceMetadata, now: DateTime<Utc>) -> Value {
    let mut document = serde_json::to_value(meta).unwrap_or_else(|_| Value::Object(Map::new()));
    let due = meta.audit.as_ref().and_then(|review| {
        let last = review.last_reviewed_at?;
        let days = review.review_cadence_days?;
        last.checked_add_signed(Duration::days(i64::from(days)))
    });
    if let (Some(due), Some(Value::Object(audit))) = (due, document.get_mut("audit")) {
        audit.insert(
            "nextReviewDueAt".into(),
            Value::String(due.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        );
        audit.insert("reviewOverdue".into(), Value::Bool(now > due));
    }
    document
}

/// The audit diff of two documents: `{"<dot.path>": {"old": x, "new": y}}`
/// for each changed leaf. Arrays are leaves; a missing leaf reads as null.
pub fn changed_leaves(old: &Value, new: &Value) -> Value {
    let mut diff = Map::new();
    diff_into(old, new, "", &mut diff);
    Value::Object(diff)
}

fn diff_into(old: &Value, new: &Value, path: &str, diff: &mut Map<String, Value>) {
    let empty = Map::new();
    let descend = matches!(
        (old, new),
        (Value::Object(_), Value::Object(_) | Value::Null) | (Value::Null, Value::Object(_))
    );
    if descend {
        let old_map = old.as_object().unwrap_or(&empty);
        let new_map = new.as_object().unwrap_or(&empty);
        let keys: BTreeSet<&String> = old_map.keys().chain(new_map.keys()).collect();
        for key in keys {
            let child = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            diff_into(
                old_map.get(key).unwrap_or(&Value::Null),
                new_map.get(key).unwrap_or(&Value::Null),
                &child,
                diff,
            );
        }
    } else if old != new {
        let mut change = Map::new();
        change.insert("old".into(), old.clone());
        change.insert("new".into(), new.clone());
        diff.insert(path.to_string(), Value::Object(change));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 2, 17, 10, 0, 0).unwrap()
    }

    fn config() -> GovernanceConfig {
        GovernanceConfig::default()
    }

    fn patch(current: &GovernanceMetadata, body: Value) -> Result<GovernanceMetadata, Error> {
        apply_patch(current, &body, &config(), now())
    }

    fn sample() -> GovernanceMetadata {
        serde_json::from_value(json!({
            "owner": {"principal": "svc-ml-platform", "displayName": "ML Platform", "email": "ml-platform@corp.example"},
            "team": {"name": "ml-platform", "id": "T-0042"},
            "sla": {"tier": "silver", "responseHours": 24},
            "risk": {"level": "high", "categories": ["pii", "reliability"]},
            "intendedUse": {"summary": "Internal triage", "environments": ["dev", "stage", "prod"], "restrictions": ["internal-only"]},
            "compliance": {"tags": ["gdpr"], "controls": ["CTRL-17"]},
            "audit": {"lastReviewedAt": "2026-01-10T00:00:00Z", "reviewCadenceDays": 90},
            "extensions": {"example.org/cost-center": "CC-311"}
        }))
        .unwrap()
    }

    fn fields(error: &Error) -> Vec<&str> {
        error.violations.iter().map(|v| v.field.as_str()).collect()
    }

    #[test]
    fn the_spec_example_is_valid_and_round_trips_in_camel_case() {
        let meta = sample();
        assert!(validate(&meta, &config(), now()).is_empty());
        let json = serde_json::to_value(&meta).unwrap();
        assert_eq!(json["owner"]["displayName"], "ML Platform");
        assert_eq!(json["intendedUse"]["environments"][2], "prod");
        assert_eq!(json["audit"]["lastReviewedAt"], "2026-01-10T00:00:00Z");
        assert_eq!(json["sla"]["responseHours"], 24);
        let empty = serde_json::to_value(GovernanceMetadata::default()).unwrap();
        assert_eq!(empty, json!({}));
    }

    #[test]
    fn validate_reports_every_rule() {
        let meta: GovernanceMetadata = serde_json::from_value(json!({
            "owner": {"principal": " ", "displayName": "x".repeat(257), "email": "not-an-address"},
            "team": {"name": "", "id": "t".repeat(129)},
            "sla": {"tier": "platinum", "responseHours": 0},
            "risk": {"level": "extreme", "categories": ["pii", "weather", "pii"]},
            "intendedUse": {"summary": "s".repeat(4097), "environments": ["dev", "qa"], "restrictions": ["", "r".repeat(129)]},
            "compliance": {"tags": ["gdpr", "pci"], "controls": vec!["C"; 65]},
            "audit": {"lastReviewedAt": "2026-02-17T10:02:00Z", "reviewCadenceDays": 3651},
            "extensions": {"_bad": 1}
        }))
        .unwrap();
        let found: Vec<String> = validate(&meta, &config(), now())
            .into_iter()
            .map(|v| v.field)
            .collect();
        for expected in [
            "owner.principal",
            "owner.displayName",
            "owner.email",
            "team.name",
            "team.id",
            "sla.tier",
            "sla.responseHours",
            "risk.level",
            "risk.categories[1]",
            "risk.categories[2]",
            "intendedUse.summary",
            "intendedUse.environments[1]",
            "intendedUse.restrictions[0]",
            "intendedUse.restrictions[1]",
            "compliance.tags[1]",
            "compliance.controls",
            "audit.lastReviewedAt",
            "audit.reviewCadenceDays",
            "extensions._bad",
        ] {
            assert!(
                found.iter().any(|f| f == expected),
                "{expected} not in {found:?}"
            );
        }
        assert_eq!(found.len(), 19, "{found:?}");
    }

    #[test]
    fn boundaries_are_inclusive() {
        let meta: GovernanceMetadata = serde_json::from_value(json!({
            "owner": {"principal": "p".repeat(256), "email": format!("{}@corp.example", "a".repeat(241))},
            "sla": {"responseHours": 8760},
            "compliance": {"controls": vec!["c".repeat(128); 64]},
            "audit": {"lastReviewedAt": "2026-02-17T10:01:00Z", "reviewCadenceDays": 1}
        }))
        .unwrap();
        assert_eq!(validate(&meta, &config(), now()), []);
        let mut over = meta.clone();
        over.owner.as_mut().unwrap().email = Some(format!("{}@corp.example", "a".repeat(242)));
        over.audit.as_mut().unwrap().last_reviewed_at =
            Some(Utc.with_ymd_and_hms(2026, 2, 17, 10, 1, 1).unwrap());
        let found: Vec<String> = validate(&over, &config(), now())
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(found, ["owner.email", "audit.lastReviewedAt"]);
    }

    #[test]
    fn emails_need_a_local_part_a_domain_and_a_tld() {
        for good in ["a@b.co", "first.last+x@mail.corp.example"] {
            assert!(is_email(good), "{good}");
        }
        for bad in ["a@b", "@b.co", "a@.co", "a b@c.de", "a@b..c", "a@@b.co"] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn extensions_limit_keys_count_and_size() {
        let mut meta = GovernanceMetadata::default();
        for i in 0..65 {
            meta.extensions.insert(format!("k{i}"), json!(i));
        }
        let found = validate(&meta, &config(), now());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].field, "extensions");
        let mut big = GovernanceMetadata::default();
        big.extensions
            .insert("blob".into(), json!("x".repeat(16 * 1024)));
        assert_eq!(validate(&big, &config(), now())[0].field, "extensions");
        let mut long_key = GovernanceMetadata::default();
        long_key.extensions.insert("k".repeat(129), json!(1));
        assert_eq!(validate(&long_key, &config(), now()).len(), 1);
        long_key.extensions.clear();
        long_key.extensions.insert("k".repeat(128), json!(1));
        assert!(validate(&long_key, &config(), now()).is_empty());
    }

    #[test]
    fn restrictions_follow_their_vocabulary_only_when_one_is_set() {
        let meta: GovernanceMetadata =
            serde_json::from_value(json!({"intendedUse": {"restrictions": ["anything"]}})).unwrap();
        assert!(validate(&meta, &config(), now()).is_empty());
        let mut strict = config();
        strict.vocabularies.intended_use_restrictions = vec!["no-pii".into()];
        assert_eq!(
            validate(&meta, &strict, now())[0].field,
            "intendedUse.restrictions[0]"
        );
        let mut no_tags = config();
        no_tags.vocabularies.compliance_tags.clear();
        let tagged: GovernanceMetadata =
            serde_json::from_value(json!({"compliance": {"tags": ["gdpr"]}})).unwrap();
        let found = validate(&tagged, &no_tags, now());
        assert!(found[0].description.contains("no value is allowed"));
    }

    #[test]
    fn objects_merge_and_untouched_fields_stay() {
        let result = patch(&sample(), json!({"owner": {"displayName": "Platform"}})).unwrap();
        let owner = result.owner.as_ref().unwrap();
        assert_eq!(owner.display_name.as_deref(), Some("Platform"));
        assert_eq!(owner.principal.as_deref(), Some("svc-ml-platform"));
        assert_eq!(result.team, sample().team);
    }

    #[test]
    fn arrays_replace_rather_than_append() {
        let result = patch(&sample(), json!({"risk": {"categories": ["cost"]}})).unwrap();
        let risk = result.risk.unwrap();
        assert_eq!(risk.categories, ["cost"]);
        assert_eq!(risk.level.as_deref(), Some("high"));
    }

    #[test]
    fn null_clears_a_field_a_section_or_an_extension() {
        let result = patch(
            &sample(),
            json!({"owner": {"email": null}, "sla": null, "extensions": {"example.org/cost-center": null}}),
        )
        .unwrap();
        assert_eq!(result.owner.as_ref().unwrap().email, None);
        assert_eq!(result.sla, None);
        assert!(result.extensions.is_empty());
        // A section whose last field is cleared disappears rather than
        // staying as an empty object.
        let result = patch(&sample(), json!({"team": {"name": null, "id": null}})).unwrap();
        assert_eq!(result.team, None);
        assert!(serde_json::to_value(&result).unwrap().get("team").is_none());
    }

    #[test]
    fn patches_build_a_document_from_nothing() {
        let result = patch(
            &GovernanceMetadata::default(),
            json!({"owner": {"principal": "alice"}, "audit": {"lastReviewedAt": "2026-02-17T12:00:00+02:00"}}),
        )
        .unwrap();
        assert_eq!(result.owner.unwrap().principal.as_deref(), Some("alice"));
        assert_eq!(result.audit.unwrap().last_reviewed_at, Some(now()));
    }

    #[test]
    fn duplicate_tags_and_categories_are_folded() {
        let result = patch(
            &GovernanceMetadata::default(),
            json!({"risk": {"categories": ["pii", "cost", "pii"]}, "compliance": {"tags": ["gdpr", "gdpr"]}}),
        )
        .unwrap();
        assert_eq!(result.risk.unwrap().categories, ["pii", "cost"]);
        assert_eq!(result.compliance.unwrap().tags, ["gdpr"]);
    }

    #[test]
    fn lifecycle_in_a_patch_is_read_only() {
        for body in [
            json!({"lifecycle": {"state": "approved"}}),
            json!({"lifecycle": null}),
        ] {
            let error = patch(&sample(), body).unwrap_err();
            assert_eq!(error.reason, Reason::LifecycleFieldReadOnly);
            assert!(error.message.contains("lifecycle.setState"));
        }
    }

    #[test]
    fn server_managed_and_derived_fields_are_invalid_params() {
        let error = patch(
            &sample(),
            json!({"resourceVersion": "7", "updatedBy": "me", "audit": {"reviewOverdue": false, "nextReviewDueAt": null}}),
        )
        .unwrap_err();
        assert_eq!(error.reason, Reason::InvalidParams);
        assert_eq!(
            fields(&error),
            [
                "resourceVersion",
                "updatedBy",
                "audit.nextReviewDueAt",
                "audit.reviewOverdue"
            ]
        );
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_named_by_path() {
        let error = patch(
            &sample(),
            json!({
                "ownr": {"principal": "x"},
                "owner": {"principal": 42, "phone": "555"},
                "sla": "gold",
                "risk": {"categories": ["pii", 3]},
                "audit": {"lastReviewedAt": "yesterday", "reviewCadenceDays": 1.5},
                "extensions": ["a"]
            }),
        )
        .unwrap_err();
        assert_eq!(error.reason, Reason::GovernanceValidationFailed);
        let mut found = fields(&error);
        found.sort();
        assert_eq!(
            found,
            [
                "audit.lastReviewedAt",
                "audit.reviewCadenceDays",
                "extensions",
                "owner.phone",
                "owner.principal",
                "ownr",
                "risk.categories[1]",
                "sla"
            ]
        );
    }

    #[test]
    fn all_violations_come_back_at_once() {
        let error = patch(
            &sample(),
            json!({
                "owner": {"email": "nope", "nickname": "x"},
                "sla": {"tier": "platinum", "responseHours": 99999999999_i64},
                "risk": {"level": "extreme"},
                "compliance": {"tags": ["pci"]}
            }),
        )
        .unwrap_err();
        assert_eq!(error.reason, Reason::GovernanceValidationFailed);
        let found = fields(&error);
        assert_eq!(found.len(), 6, "{found:?}");
        for expected in [
            "owner.nickname",
            "sla.responseHours",
            "owner.email",
            "sla.tier",
            "risk.level",
            "compliance.tags[0]",
        ] {
            assert!(found.contains(&expected), "{expected}");
        }
        assert!(error.message.contains("6 field(s)"));
        assert!(error.message.contains("sla.tier"));
    }

    #[test]
    fn a_non_object_patch_is_refused() {
        let error = patch(&sample(), json!(["owner"])).unwrap_err();
        assert_eq!(error.reason, Reason::GovernanceValidationFailed);
    }

    #[test]
    fn stale_vocabulary_values_survive_until_their_field_is_edited() {
        let mut shrunk = config();
        shrunk.vocabularies.risk_categories = vec!["cost".into()];
        let current = sample();
        let unrelated = apply_patch(
            &current,
            &json!({"team": {"name": "platform"}}),
            &shrunk,
            now(),
        )
        .unwrap();
        assert_eq!(
            unrelated.risk.as_ref().unwrap().categories,
            ["pii", "reliability"]
        );
        let warnings = vocabulary_warnings(&unrelated, &shrunk);
        assert_eq!(warnings.len(), 2);
        assert_eq!(warnings[0].code, "VALUE_NOT_IN_VOCABULARY");
        assert!(warnings[0].message.contains("risk.categories[0]"));
        let touched = apply_patch(
            &current,
            &json!({"risk": {"categories": ["pii", "cost"]}}),
            &shrunk,
            now(),
        )
        .unwrap_err();
        assert_eq!(fields(&touched), ["risk.categories[0]"]);
        assert!(apply_patch(
            &current,
            &json!({"risk": {"categories": ["cost"]}}),
            &shrunk,
            now()
        )
        .is_ok());
    }

    #[test]
    fn missing_fields_for_approval_are_listed_owner_first() {
        let required = vec!["team.name".to_string(), "risk.level".to_string()];
        let empty = GovernanceMetadata::default();
        assert_eq!(
            missing_for_approval(&empty, true, &required),
            ["owner.principal", "team.name", "risk.level"]
        );
        assert!(missing_for_approval(&empty, false, &[]).is_empty());
        assert!(missing_for_approval(&sample(), true, &required).is_empty());
        let mut blank = sample();
        blank.owner.as_mut().unwrap().principal = Some("  ".into());
        blank.risk.as_mut().unwrap().categories.clear();
        assert_eq!(
            missing_for_approval(
                &blank,
                true,
                &["owner.principal".into(), "risk.categories".into()]
            ),
            ["owner.principal", "risk.categories"]
        );
        assert!(missing_for_approval(
            &sample(),
            false,
            &["extensions.example.org/cost-center".into()]
        )
        .is_empty());
    }

    #[test]
    fn field_paths_are_recognised() {
        assert!(is_field_path("owner.principal"));
        assert!(is_field_path("audit.reviewCadenceDays"));
        assert!(is_field_path("extensions.example.org/cost-center"));
        assert!(!is_field_path("owner"));
        assert!(!is_field_path("owner.phone"));
        assert!(!is_field_path("lifecycle.state"));
    }

    #[test]
    fn a_missing_owner_alone_is_owner_required() {
        let error = approval_fields_error("agents", "agent", "triage", &["owner.principal".into()]);
        assert_eq!(error.reason, Reason::OwnerRequired);
        assert_eq!(
            error.message,
            "cannot approve agents/agent/triage: governance field(s) owner.principal must be set \
             first; set them with \"catalogctl governance set agents/agent/triage --owner \
             <principal>\" or the Governance panel"
        );
        assert_eq!(error.metadata["missingFields"], "owner.principal");
        assert!(error.metadata["remediation"].contains("owner.principal"));
        assert_eq!(error.preconditions.len(), 1);
        assert_eq!(error.preconditions[0].kind, "GOVERNANCE_FIELD");
        assert_eq!(error.preconditions[0].subject, "owner.principal");
    }

    #[test]
    fn other_missing_fields_are_approval_fields_required() {
        let missing = vec!["owner.principal".to_string(), "team.name".to_string()];
        let error = approval_fields_error("mcp", "server", "github", &missing);
        assert_eq!(error.reason, Reason::ApprovalFieldsRequired);
        assert_eq!(error.metadata["missingFields"], "owner.principal,team.name");
        assert!(error
            .message
            .contains("owner.principal, team.name must be set first"));
        let subjects: Vec<&str> = error
            .preconditions
            .iter()
            .map(|p| p.subject.as_str())
            .collect();
        assert_eq!(subjects, ["owner.principal", "team.name"]);
        let error = approval_fields_error("mcp", "server", "github", &["team.name".into()]);
        assert_eq!(error.reason, Reason::ApprovalFieldsRequired);
    }

    #[test]
    fn derived_review_fields_follow_the_cadence() {
        let json = derived(&sample(), now());
        assert_eq!(json["audit"]["nextReviewDueAt"], "2026-04-10T00:00:00Z");
        assert_eq!(json["audit"]["reviewOverdue"], false);
        let later = Utc.with_ymd_and_hms(2026, 4, 10, 0, 0, 1).unwrap();
        assert_eq!(derived(&sample(), later)["audit"]["reviewOverdue"], true);
        let mut no_cadence = sample();
        no_cadence.audit.as_mut().unwrap().review_cadence_days = None;
        let json = derived(&no_cadence, now());
        assert!(json["audit"].get("nextReviewDueAt").is_none());
        assert!(json["audit"].get("reviewOverdue").is_none());
        assert_eq!(json["owner"]["principal"], "svc-ml-platform");
    }

    #[test]
    fn the_diff_holds_only_changed_leaves() {
        let old = serde_json::to_value(sample()).unwrap();
        let new = serde_json::to_value(
            patch(
                &sample(),
                json!({"owner": {"email": "x@corp.example"}, "risk": {"categories": ["cost"]}, "sla": null, "extensions": {"n": 1}}),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            changed_leaves(&old, &new),
            json!({
                "owner.email": {"old": "ml-platform@corp.example", "new": "x@corp.example"},
                "risk.categories": {"old": ["pii", "reliability"], "new": ["cost"]},
                "sla.tier": {"old": "silver", "new": null},
                "sla.responseHours": {"old": 24, "new": null},
                "extensions.n": {"old": null, "new": 1}
            })
        );
        assert_eq!(changed_leaves(&old, &old), json!({}));
        assert_eq!(
            changed_leaves(&json!({"a": 1}), &json!({"a": {"b": 2}})),
            json!({"a": {"old": 1, "new": {"b": 2}}})
        );
    }
}
