//! The governance configuration (`governance.yaml`, spec 12 §2): its typed
//! form, its defaults, and the reading that rejects a bad file with every
//! problem named at once. Lookups that other governance rules need
//! (trust, per-plugin versioning, environment order) live here too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::OnceLock;

use regex::Regex;
use serde::Serialize;
use serde_json::{Map, Value};

use super::lifecycle;
use super::State;
use crate::domain::error::{Error, FieldViolation, Reason};
use crate::domain::plugin::is_plugin_name;
use crate::domain::source::is_source_id;

/// The whole governance configuration, defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GovernanceConfig {
    /// Environments in promotion order.
    pub environments: Vec<String>,
    /// `<sourceId>` (any plugin) or `<plugin>/<sourceId>` entries whose new
    /// assets start approved.
    pub trusted_sources: Vec<String>,
    /// Audit events older than this many days are exported and purged;
    /// `<= 0` keeps everything.
    pub audit_retention_days: i64,
    /// Seconds between two retention sweeps (`auditRetention.sweepInterval`).
    pub audit_sweep_interval_secs: u64,
    /// Where purged events are exported (`auditRetention.exportDir`).
    pub audit_export_dir: Option<String>,
    /// Allowed values of the vocabulary-bound metadata fields.
    pub vocabularies: Vocabularies,
    /// Changes to the default transition table.
    pub lifecycle: LifecycleConfig,
    /// Environments whose new binds need an approved version.
    pub require_approved: Vec<String>,
    /// Label format and automatic snapshots.
    pub versioning: VersioningConfig,
    /// Signature enforcement (spec 06 §4.3).
    pub signature_verification: SignatureVerification,
    /// Broken references refuse binds into approval-requiring environments.
    pub block_promotion_on_broken: bool,
    /// The start-up backfill of governance rows runs.
    pub backfill_enabled: bool,
}

/// Vocabularies of spec 05 §2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Vocabularies {
    /// Allowed `compliance.tags`; empty means no tag is allowed.
    pub compliance_tags: Vec<String>,
    /// Allowed `risk.categories`.
    pub risk_categories: Vec<String>,
    /// Allowed `intendedUse.restrictions`; empty means free-form.
    pub intended_use_restrictions: Vec<String>,
}

impl Default for Vocabularies {
    fn default() -> Self {
        Vocabularies {
            compliance_tags: strings(&["sox", "hipaa", "gdpr", "export-control"]),
            risk_categories: strings(&[
                "pii",
                "security",
                "legal",
                "safety",
                "reliability",
                "cost",
            ]),
            intended_use_restrictions: Vec::new(),
        }
    }
}

/// The `lifecycle` section (spec 03 §2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleConfig {
    /// Enabled class U (and, with the unlock flag, class D) transitions.
    pub allow_transitions: Vec<(State, State)>,
    /// Disabled class A transitions.
    pub deny_transitions: Vec<(State, State)>,
    /// `unlockDisallowedTransitions`.
    pub unlock_disallowed: bool,
    /// Valid targets of `lifecycle.restore`.
    pub restore_targets: Vec<State>,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        LifecycleConfig {
            allow_transitions: Vec::new(),
            deny_transitions: Vec::new(),
            unlock_disallowed: false,
            restore_targets: vec![State::Deprecated, State::Draft],
        }
    }
}

/// How version labels given by people are checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum LabelFormat {
    /// 1–128 characters of `[A-Za-z0-9._+-]`, starting alphanumeric.
    #[default]
    Freeform,
    /// SemVer 2.0.0 with an optional leading `v`.
    Semver,
}

impl LabelFormat {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LabelFormat::Freeform => "freeform",
            LabelFormat::Semver => "semver",
        }
    }

    /// Reads the configuration spelling.
    pub fn parse(text: &str) -> Option<LabelFormat> {
        match text {
            "freeform" => Some(LabelFormat::Freeform),
            "semver" => Some(LabelFormat::Semver),
            _ => None,
        }
    }
}

/// When sync creates versions on its own (spec 04 §6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AutoSnapshot {
    /// At first discovery and whenever the content digest changes.
    #[default]
    OnContentChange,
    /// Also when only the source revision changes.
    OnRevisionChange,
    /// Never; only `version.create` makes versions.
    Off,
}

impl AutoSnapshot {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AutoSnapshot::OnContentChange => "onContentChange",
            AutoSnapshot::OnRevisionChange => "onRevisionChange",
            AutoSnapshot::Off => "off",
        }
    }

    /// Reads the configuration spelling.
    pub fn parse(text: &str) -> Option<AutoSnapshot> {
        match text {
            "onContentChange" => Some(AutoSnapshot::OnContentChange),
            "onRevisionChange" => Some(AutoSnapshot::OnRevisionChange),
            "off" => Some(AutoSnapshot::Off),
            _ => None,
        }
    }
}

/// The `versioning` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersioningConfig {
    /// Global label format.
    pub label_format: LabelFormat,
    /// Global automatic snapshot mode.
    pub auto_snapshot: AutoSnapshot,
    /// Per-plugin overrides, by plugin name.
    pub plugins: BTreeMap<String, PluginVersioning>,
}

/// Per-plugin versioning overrides; `None` falls back to the global value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginVersioning {
    /// Overrides `versioning.labelFormat`.
    pub label_format: Option<LabelFormat>,
    /// Overrides `versioning.autoSnapshot`.
    pub auto_snapshot: Option<AutoSnapshot>,
}

/// Which assets signature enforcement covers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SignatureScope {
    /// Only assets whose source declares a signature method.
    #[default]
    SignedSourcesOnly,
    /// Every asset, so unsigned sources cannot reach enforced environments.
    AllAssets,
}

impl SignatureScope {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureScope::SignedSourcesOnly => "signedSourcesOnly",
            SignatureScope::AllAssets => "allAssets",
        }
    }
}

/// The `signatureVerification` section (spec 06 §4.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureVerification {
    /// Master switch.
    pub enabled: bool,
    /// Which assets enforcement covers.
    pub scope: SignatureScope,
    /// Binds into these environments need a verified signature.
    pub enforce_environments: Vec<String>,
    /// Transitions to approved need a verified signature.
    pub enforce_lifecycle_approval: bool,
}

impl Default for SignatureVerification {
    fn default() -> Self {
        SignatureVerification {
            enabled: false,
            scope: SignatureScope::SignedSourcesOnly,
            enforce_environments: strings(&["stage", "prod"]),
            enforce_lifecycle_approval: false,
        }
    }
}

impl SignatureVerification {
    /// Whether enforcement covers an asset whose source does (or does not)
    /// declare a signature method.
    pub fn covers(&self, source_is_signed: bool) -> bool {
        self.enabled && (source_is_signed || self.scope == SignatureScope::AllAssets)
    }

    /// Whether binds into `env` need a verified signature (before scope).
    pub fn enforces_environment(&self, env: &str) -> bool {
        self.enabled && self.enforce_environments.iter().any(|e| e == env)
    }

    /// Whether approval needs a verified signature (before scope).
    pub fn enforces_approval(&self) -> bool {
        self.enabled && self.enforce_lifecycle_approval
    }
}

const DEFAULT_SWEEP_SECS: u64 = 24 * 3600;

impl Default for GovernanceConfig {
    fn default() -> Self {
        GovernanceConfig {
            environments: strings(&["dev", "stage", "prod"]),
            trusted_sources: Vec::new(),
            audit_retention_days: 0,
            audit_sweep_interval_secs: DEFAULT_SWEEP_SECS,
            audit_export_dir: None,
            vocabularies: Vocabularies::default(),
            lifecycle: LifecycleConfig::default(),
            require_approved: strings(&["stage", "prod"]),
            versioning: VersioningConfig::default(),
            signature_verification: SignatureVerification::default(),
            block_promotion_on_broken: true,
            backfill_enabled: true,
        }
    }
}

impl GovernanceConfig {
    /// Reads `governance.yaml` text. Every problem is reported in one
    /// GOVERNANCE_CONFIG_INVALID error, one violation per problem.
    pub fn parse(yaml: &str) -> Result<GovernanceConfig, Error> {
        let document: Value = serde_norway::from_str(yaml).map_err(|e| {
            Error::new(
                Reason::GovernanceConfigInvalid,
                format!("governance config does not parse as YAML: {e}; fix the syntax and reload"),
            )
            .violation("", e.to_string())
        })?;
        let mut reader = Reader::default();
        let config = reader.config(&document);
        if reader.problems.is_empty() {
            Ok(config)
        } else {
            Err(config_error(reader.problems))
        }
    }

    /// Loads the configuration file; `None` means the built-in defaults.
    pub fn load(path: Option<&Path>) -> Result<GovernanceConfig, Error> {
        let Some(path) = path else {
            return Ok(GovernanceConfig::default());
        };
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::new(
                Reason::GovernanceConfigInvalid,
                format!(
                    "governance config {shown} cannot be read: {e}; fix the path given by \
                     CATALOG_GOVERNANCE_CONFIG, or unset it to use the built-in defaults"
                ),
            )
            .with("path", &shown)
        })?;
        GovernanceConfig::parse(&text).map_err(|mut error| {
            error.message = format!("{shown}: {}", error.message);
            error.with("path", &shown)
        })
    }

    /// Whether assets first found in `source_id` of `plugin` start approved.
    pub fn is_trusted(&self, plugin: &str, source_id: &str) -> bool {
        self.trusted_sources
            .iter()
            .any(|entry| match entry.split_once('/') {
                Some((p, id)) => p == plugin && id == source_id,
                None => entry == source_id,
            })
    }

    /// The label format for labels given by people for `plugin`'s assets.
    pub fn label_format(&self, plugin: &str) -> LabelFormat {
        self.versioning
            .plugins
            .get(plugin)
            .and_then(|p| p.label_format)
            .unwrap_or(self.versioning.label_format)
    }

    /// When sync snapshots `plugin`'s assets on its own.
    pub fn auto_snapshot(&self, plugin: &str) -> AutoSnapshot {
        self.versioning
            .plugins
            .get(plugin)
            .and_then(|p| p.auto_snapshot)
            .unwrap_or(self.versioning.auto_snapshot)
    }

    /// Whether new binds into `env` need an approved version.
    pub fn requires_approved(&self, env: &str) -> bool {
        self.require_approved.iter().any(|e| e == env)
    }

    /// Whether `env` is a configured environment.
    pub fn is_environment(&self, env: &str) -> bool {
        self.environments.iter().any(|e| e == env)
    }

    /// The environment after `env` in promotion order.
    pub fn next_environment(&self, env: &str) -> Option<&str> {
        let position = self.environments.iter().position(|e| e == env)?;
        self.environments.get(position + 1).map(String::as_str)
    }
}

/// Whether `name` is a valid environment name (`^[a-z][a-z0-9-]{0,31}$`).
pub fn is_environment_name(name: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[a-z][a-z0-9-]{0,31}$").expect("valid regex"))
        .is_match(name)
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn config_error(problems: Vec<FieldViolation>) -> Error {
    let listed: Vec<String> = problems
        .iter()
        .map(|p| {
            if p.field.is_empty() {
                p.description.clone()
            } else {
                format!("{}: {}", p.field, p.description)
            }
        })
        .collect();
    let mut error = Error::new(
        Reason::GovernanceConfigInvalid,
        format!(
            "governance config is invalid ({} problem(s)); fix each and reload: {}",
            problems.len(),
            listed.join("; ")
        ),
    );
    error.violations = problems;
    error
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// Walks the parsed document, keeping going after a problem so one load
/// reports everything that is wrong.
#[derive(Default)]
struct Reader {
    problems: Vec<FieldViolation>,
}

impl Reader {
    fn problem(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.problems.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
    }

    /// A section as a map with only `keys`. A null section (a key with
    /// nothing under it) means "all defaults", like a missing one.
    fn section<'v>(
        &mut self,
        value: Option<&'v Value>,
        path: &str,
        keys: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        let map = match value {
            None | Some(Value::Null) => return None,
            Some(Value::Object(map)) => map,
            Some(other) => {
                let what = if path.is_empty() {
                    "the document".to_string()
                } else {
                    path.to_string()
                };
                self.problem(
                    path,
                    format!("{what} must be a map, not {}", describe(other)),
                );
                return None;
            }
        };
        for key in map.keys() {
            if !keys.contains(&key.as_str()) {
                let place = if path.is_empty() {
                    "at the top level".to_string()
                } else {
                    format!("in {path}")
                };
                self.problem(
                    join(path, key),
                    format!(
                        "unknown key {key:?} {place}; the keys allowed here are {}",
                        keys.join(", ")
                    ),
                );
            }
        }
        Some(map)
    }

    fn bool(&mut self, map: Option<&Map<String, Value>>, key: &str, path: &str) -> Option<bool> {
        match present(map, key)? {
            Value::Bool(b) => Some(*b),
            other => {
                self.problem(
                    join(path, key),
                    format!("must be true or false, not {}", describe(other)),
                );
                None
            }
        }
    }

    fn string(
        &mut self,
        map: Option<&Map<String, Value>>,
        key: &str,
        path: &str,
    ) -> Option<String> {
        match present(map, key)? {
            Value::String(s) => Some(s.clone()),
            other => {
                self.problem(
                    join(path, key),
                    format!("must be a string, not {}", describe(other)),
                );
                None
            }
        }
    }

    /// A list of strings; a bad item is reported and left out.
    fn list(
        &mut self,
        map: Option<&Map<String, Value>>,
        key: &str,
        path: &str,
    ) -> Option<Vec<(usize, String)>> {
        let field = join(path, key);
        match present(map, key)? {
            Value::Array(items) => {
                let mut out = Vec::new();
                for (index, item) in items.iter().enumerate() {
                    match item {
                        Value::String(s) => out.push((index, s.clone())),
                        other => self.problem(
                            format!("{field}[{index}]"),
                            format!("must be a string, not {}", describe(other)),
                        ),
                    }
                }
                Some(out)
            }
            other => {
                self.problem(field, format!("must be a list, not {}", describe(other)));
                None
            }
        }
    }

    /// A list of names that must each pass `check` and be unique.
    fn names(
        &mut self,
        map: Option<&Map<String, Value>>,
        key: &str,
        path: &str,
        check: impl Fn(&str) -> Option<String>,
    ) -> Option<Vec<String>> {
        let field = join(path, key);
        let items = self.list(map, key, path)?;
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for (index, item) in items {
            if let Some(problem) = check(&item) {
                self.problem(format!("{field}[{index}]"), problem);
            } else if !seen.insert(item.clone()) {
                self.problem(
                    format!("{field}[{index}]"),
                    format!("{item:?} is listed twice; remove the duplicate"),
                );
            } else {
                out.push(item);
            }
        }
        Some(out)
    }

    fn config(&mut self, document: &Value) -> GovernanceConfig {
        let mut config = GovernanceConfig::default();
        let top = self.section(
            Some(document),
            "",
            &[
                "environments",
                "trustedSources",
                "auditRetention",
                "vocabularies",
                "lifecycle",
                "promotion",
                "versioning",
                "signatureVerification",
                "references",
                "backfill",
            ],
        );
        if let Some(list) = self.names(top, "environments", "", |name| {
            (!is_environment_name(name)).then(|| {
                format!(
                    "{name:?} is not a valid environment name; use a lowercase letter followed \
                     by up to 31 lowercase letters, digits or '-'"
                )
            })
        }) {
            let written_empty = matches!(present(top, "environments"), Some(Value::Array(items)) if items.is_empty());
            if written_empty {
                self.problem(
                    "environments",
                    "at least one environment is needed; list them, or remove the key for the \
                     defaults dev, stage, prod",
                );
            }
            config.environments = list;
        }
        if let Some(list) = self.names(top, "trustedSources", "", trusted_source_problem) {
            config.trusted_sources = list;
        }
        self.audit_retention(top, &mut config);
        self.vocabularies(top, &mut config.vocabularies);
        self.lifecycle(top, &mut config.lifecycle);
        self.promotion(top, &mut config);
        self.versioning(top, &mut config.versioning);
        self.signature(top, &mut config);
        let references = self.section(
            present(top, "references"),
            "references",
            &["blockPromotionOnBroken"],
        );
        if let Some(flag) = self.bool(references, "blockPromotionOnBroken", "references") {
            config.block_promotion_on_broken = flag;
        }
        let backfill = self.section(present(top, "backfill"), "backfill", &["enabled"]);
        if let Some(flag) = self.bool(backfill, "enabled", "backfill") {
            config.backfill_enabled = flag;
        }
        config
    }

    fn audit_retention(&mut self, top: Option<&Map<String, Value>>, config: &mut GovernanceConfig) {
        let path = "auditRetention";
        let section = self.section(
            present(top, path),
            path,
            &["days", "sweepInterval", "exportDir"],
        );
        match present(section, "days") {
            None => {}
            Some(Value::Number(n)) if n.as_i64().is_some() => {
                config.audit_retention_days = n.as_i64().unwrap_or_default();
            }
            Some(other) => self.problem(
                "auditRetention.days",
                format!(
                    "must be a whole number of days (0 or less keeps events forever), not {}",
                    describe(other)
                ),
            ),
        }
        if let Some(text) = self.string(section, "sweepInterval", path) {
            match parse_interval(&text) {
                Some(secs) => config.audit_sweep_interval_secs = secs,
                None => self.problem(
                    "auditRetention.sweepInterval",
                    format!(
                        "{text:?} is not an interval; write a positive number followed by s, m, \
                         h or d, such as 24h"
                    ),
                ),
            }
        }
        if let Some(dir) = self.string(section, "exportDir", path) {
            if dir.trim().is_empty() {
                self.problem(
                    "auditRetention.exportDir",
                    "must name a folder; remove the key to keep the default",
                );
            } else {
                config.audit_export_dir = Some(dir);
            }
        }
    }

    fn vocabularies(&mut self, top: Option<&Map<String, Value>>, out: &mut Vocabularies) {
        let path = "vocabularies";
        let section = self.section(
            present(top, path),
            path,
            &[
                "complianceTags",
                "riskCategories",
                "intendedUseRestrictions",
            ],
        );
        let term = |value: &str| {
            if value.trim().is_empty() {
                Some("an empty value cannot be chosen; remove it".to_string())
            } else if value.chars().count() > 128 {
                Some("values are at most 128 characters".to_string())
            } else {
                None
            }
        };
        if let Some(list) = self.names(section, "complianceTags", path, term) {
            out.compliance_tags = list;
        }
        if let Some(list) = self.names(section, "riskCategories", path, term) {
            out.risk_categories = list;
        }
        if let Some(list) = self.names(section, "intendedUseRestrictions", path, term) {
            out.intended_use_restrictions = list;
        }
    }

    fn transitions(
        &mut self,
        section: Option<&Map<String, Value>>,
        key: &str,
    ) -> Option<Vec<(usize, State, State)>> {
        let field = join("lifecycle", key);
        let items = self.list(section, key, "lifecycle")?;
        let mut out = Vec::new();
        for (index, text) in items {
            match parse_transition(&text) {
                Some((from, to)) => out.push((index, from, to)),
                None => self.problem(
                    format!("{field}[{index}]"),
                    format!(
                        "{text:?} is not a transition; write \"from->to\" with states draft, \
                         approved, deprecated or archived"
                    ),
                ),
            }
        }
        Some(out)
    }

    fn lifecycle(&mut self, top: Option<&Map<String, Value>>, out: &mut LifecycleConfig) {
        let path = "lifecycle";
        let section = self.section(
            present(top, path),
            path,
            &[
                "allowTransitions",
                "denyTransitions",
                "unlockDisallowedTransitions",
                "restoreTargets",
            ],
        );
        if let Some(flag) = self.bool(section, "unlockDisallowedTransitions", path) {
            out.unlock_disallowed = flag;
        }
        let allow = self
            .transitions(section, "allowTransitions")
            .unwrap_or_default();
        let deny = self
            .transitions(section, "denyTransitions")
            .unwrap_or_default();
        for &(index, from, to) in &allow {
            if let Some(problem) = lifecycle::allow_entry_problem(from, to, out.unlock_disallowed) {
                self.problem(format!("lifecycle.allowTransitions[{index}]"), problem);
            }
            if deny.iter().any(|&(_, f, t)| (f, t) == (from, to)) {
                self.problem(
                    format!("lifecycle.allowTransitions[{index}]"),
                    lifecycle::conflict_problem(from, to),
                );
            }
        }
        out.allow_transitions = allow.iter().map(|&(_, f, t)| (f, t)).collect();
        out.deny_transitions = deny.iter().map(|&(_, f, t)| (f, t)).collect();
        if let Some(items) = self.list(section, "restoreTargets", path) {
            let mut targets = Vec::new();
            for (index, text) in items {
                let field = format!("lifecycle.restoreTargets[{index}]");
                match State::parse(&text) {
                    Some(state) => match lifecycle::restore_target_problem(state) {
                        Some(problem) => self.problem(field, problem),
                        None if targets.contains(&state) => self.problem(
                            field,
                            format!("{state} is listed twice; remove the duplicate"),
                        ),
                        None => targets.push(state),
                    },
                    None => self.problem(
                        field,
                        format!("{text:?} is not a state; restore targets are deprecated or draft"),
                    ),
                }
            }
            out.restore_targets = targets;
        }
    }

    fn promotion(&mut self, top: Option<&Map<String, Value>>, config: &mut GovernanceConfig) {
        let section = self.section(present(top, "promotion"), "promotion", &["requireApproved"]);
        config.require_approved = self.environment_subset(
            section,
            "requireApproved",
            "promotion",
            &config.environments,
        );
    }

    /// A list of configured environments; the default `[stage, prod]` is
    /// filtered to the configured ones, while a name written out must be
    /// configured.
    fn environment_subset(
        &mut self,
        section: Option<&Map<String, Value>>,
        key: &str,
        path: &str,
        environments: &[String],
    ) -> Vec<String> {
        let field = join(path, key);
        match self.names(section, key, path, |_| None) {
            None => ["stage", "prod"]
                .iter()
                .filter(|e| environments.iter().any(|c| c == *e))
                .map(|e| e.to_string())
                .collect(),
            Some(list) => {
                for (index, env) in list.iter().enumerate() {
                    if !environments.contains(env) {
                        self.problem(
                            format!("{field}[{index}]"),
                            format!(
                                "{env:?} is not a configured environment; add it to \
                                 environments or use one of {}",
                                environments.join(", ")
                            ),
                        );
                    }
                }
                list
            }
        }
    }

    fn versioning(&mut self, top: Option<&Map<String, Value>>, out: &mut VersioningConfig) {
        let path = "versioning";
        let section = self.section(
            present(top, path),
            path,
            &["labelFormat", "autoSnapshot", "plugins"],
        );
        if let Some(format) = self.label_format(section, path) {
            out.label_format = format;
        }
        if let Some(mode) = self.auto_snapshot_mode(section, path) {
            out.auto_snapshot = mode;
        }
        let plugins_path = "versioning.plugins";
        let plugins = match present(section, "plugins") {
            None => return,
            Some(Value::Object(plugins)) => plugins,
            Some(other) => {
                self.problem(
                    plugins_path,
                    format!(
                        "must be a map from plugin name to overrides, not {}",
                        describe(other)
                    ),
                );
                return;
            }
        };
        for (plugin, value) in plugins {
            let path = join(plugins_path, plugin);
            if !is_plugin_name(plugin) {
                self.problem(
                    &path,
                    format!("{plugin:?} is not a plugin name; use the plugin's lowercase name"),
                );
            }
            let overrides = self.section(Some(value), &path, &["labelFormat", "autoSnapshot"]);
            let entry = PluginVersioning {
                label_format: self.label_format(overrides, &path),
                auto_snapshot: self.auto_snapshot_mode(overrides, &path),
            };
            out.plugins.insert(plugin.clone(), entry);
        }
    }

    fn label_format(
        &mut self,
        map: Option<&Map<String, Value>>,
        path: &str,
    ) -> Option<LabelFormat> {
        let text = self.string(map, "labelFormat", path)?;
        let format = LabelFormat::parse(&text);
        if format.is_none() {
            self.problem(
                join(path, "labelFormat"),
                format!("{text:?} is not a label format; use freeform or semver"),
            );
        }
        format
    }

    fn auto_snapshot_mode(
        &mut self,
        map: Option<&Map<String, Value>>,
        path: &str,
    ) -> Option<AutoSnapshot> {
        // YAML 1.1 readers turn a bare `off` into false; people who write it
        // mean the mode, so read it as such.
        if let Some(Value::Bool(false)) = present(map, "autoSnapshot") {
            return Some(AutoSnapshot::Off);
        }
        let text = self.string(map, "autoSnapshot", path)?;
        let mode = AutoSnapshot::parse(&text);
        if mode.is_none() {
            self.problem(
                join(path, "autoSnapshot"),
                format!(
                    "{text:?} is not a snapshot mode; use onContentChange, onRevisionChange or off"
                ),
            );
        }
        mode
    }

    fn signature(&mut self, top: Option<&Map<String, Value>>, config: &mut GovernanceConfig) {
        let path = "signatureVerification";
        let section = self.section(present(top, path), path, &["enabled", "scope", "enforce"]);
        let out = &mut config.signature_verification;
        if let Some(flag) = self.bool(section, "enabled", path) {
            out.enabled = flag;
        }
        if let Some(text) = self.string(section, "scope", path) {
            match text.as_str() {
                "signedSourcesOnly" => out.scope = SignatureScope::SignedSourcesOnly,
                "allAssets" => out.scope = SignatureScope::AllAssets,
                _ => self.problem(
                    "signatureVerification.scope",
                    format!("{text:?} is not a scope; use signedSourcesOnly or allAssets"),
                ),
            }
        }
        let enforce_path = "signatureVerification.enforce";
        let enforce = self.section(
            present(section, "enforce"),
            enforce_path,
            &["environments", "lifecycleApproval"],
        );
        let environments = config.environments.clone();
        let enforced =
            self.environment_subset(enforce, "environments", enforce_path, &environments);
        let approval = self.bool(enforce, "lifecycleApproval", enforce_path);
        let out = &mut config.signature_verification;
        out.enforce_environments = enforced;
        if let Some(flag) = approval {
            out.enforce_lifecycle_approval = flag;
        }
    }
}

/// The value under `key`, treating an explicit null like a missing key.
fn present<'v>(map: Option<&'v Map<String, Value>>, key: &str) -> Option<&'v Value> {
    map?.get(key).filter(|v| !v.is_null())
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a map".into(),
    }
}

fn trusted_source_problem(entry: &str) -> Option<String> {
    let valid = match entry.split_once('/') {
        Some((plugin, id)) => is_plugin_name(plugin) && is_source_id(id),
        None => is_source_id(entry),
    };
    (!valid).then(|| {
        format!("{entry:?} is not a source reference; write <sourceId> or <plugin>/<sourceId>")
    })
}

/// Reads `from->to`, allowing spaces around the arrow.
pub fn parse_transition(text: &str) -> Option<(State, State)> {
    let (from, to) = text.split_once("->")?;
    Some((State::parse(from)?, State::parse(to)?))
}

fn parse_interval(text: &str) -> Option<u64> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    let count: u64 = text[..text.len() - 1].parse().ok()?;
    count.checked_mul(scale).filter(|secs| *secs > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(yaml: &str) -> Vec<FieldViolation> {
        let error = GovernanceConfig::parse(yaml).expect_err("config should be rejected");
        assert_eq!(error.reason, Reason::GovernanceConfigInvalid);
        error.violations
    }

    fn fields(yaml: &str) -> Vec<String> {
        problems(yaml).into_iter().map(|p| p.field).collect()
    }

    #[test]
    fn empty_and_missing_configs_give_the_spec_defaults() {
        let config = GovernanceConfig::parse("").unwrap();
        assert_eq!(config, GovernanceConfig::default());
        assert_eq!(GovernanceConfig::load(None).unwrap(), config);
        assert_eq!(config.environments, ["dev", "stage", "prod"]);
        assert_eq!(config.require_approved, ["stage", "prod"]);
        assert_eq!(config.audit_retention_days, 0);
        assert_eq!(config.audit_sweep_interval_secs, 86_400);
        assert!(config.trusted_sources.is_empty());
        assert!(config.block_promotion_on_broken);
        assert!(config.backfill_enabled);
        assert_eq!(
            config.vocabularies.risk_categories,
            ["pii", "security", "legal", "safety", "reliability", "cost"]
        );
        assert_eq!(
            config.vocabularies.compliance_tags,
            ["sox", "hipaa", "gdpr", "export-control"]
        );
        assert!(config.vocabularies.intended_use_restrictions.is_empty());
        assert_eq!(
            config.lifecycle.restore_targets,
            [State::Deprecated, State::Draft]
        );
        assert_eq!(config.label_format("agents"), LabelFormat::Freeform);
        assert_eq!(
            config.auto_snapshot("agents"),
            AutoSnapshot::OnContentChange
        );
        assert!(!config.signature_verification.enabled);
    }

    #[test]
    fn the_minimal_legacy_format_is_accepted() {
        let config = GovernanceConfig::parse(
            "environments: [dev, prod]\ntrustedSources: [sample-models]\nauditRetention:\n  days: 30\n",
        )
        .unwrap();
        assert_eq!(config.environments, ["dev", "prod"]);
        assert_eq!(config.audit_retention_days, 30);
        // stage is not configured, so the default list keeps only prod.
        assert_eq!(config.require_approved, ["prod"]);
        assert_eq!(config.signature_verification.enforce_environments, ["prod"]);
    }

    #[test]
    fn the_shipped_sample_is_valid_and_holds_the_defaults() {
        let text = include_str!("../../../samples/governance.yaml");
        let config = GovernanceConfig::parse(text).unwrap();
        assert_eq!(config, GovernanceConfig::default());
    }

    #[test]
    fn a_full_config_is_read() {
        let config = GovernanceConfig::parse(
            r#"
environments: [dev, qa, stage, prod]
trustedSources: [sample-models, "agents/team-agents"]
auditRetention: {days: -1, sweepInterval: 90m, exportDir: /var/audit}
vocabularies:
  complianceTags: []
  riskCategories: [pii]
  intendedUseRestrictions: [internal-only]
lifecycle:
  allowTransitions: ["approved->draft", "draft -> archived"]
  denyTransitions: ["approved->archived"]
  unlockDisallowedTransitions: true
  restoreTargets: [deprecated]
promotion: {requireApproved: [prod]}
versioning:
  labelFormat: semver
  autoSnapshot: onRevisionChange
  plugins:
    agents: {labelFormat: freeform}
    mcp: {autoSnapshot: off}
signatureVerification:
  enabled: true
  scope: allAssets
  enforce: {environments: [qa], lifecycleApproval: true}
references: {blockPromotionOnBroken: false}
backfill: {enabled: false}
"#,
        )
        .unwrap();
        assert_eq!(config.environments, ["dev", "qa", "stage", "prod"]);
        assert_eq!(config.audit_retention_days, -1);
        assert_eq!(config.audit_sweep_interval_secs, 5400);
        assert_eq!(config.audit_export_dir.as_deref(), Some("/var/audit"));
        assert!(config.vocabularies.compliance_tags.is_empty());
        assert_eq!(
            config.vocabularies.intended_use_restrictions,
            ["internal-only"]
        );
        assert_eq!(
            config.lifecycle.allow_transitions,
            [
                (State::Approved, State::Draft),
                (State::Draft, State::Archived)
            ]
        );
        assert_eq!(
            config.lifecycle.deny_transitions,
            [(State::Approved, State::Archived)]
        );
        assert!(config.lifecycle.unlock_disallowed);
        assert_eq!(config.lifecycle.restore_targets, [State::Deprecated]);
        assert_eq!(config.require_approved, ["prod"]);
        assert!(config.requires_approved("prod"));
        assert!(!config.requires_approved("stage"));
        assert_eq!(config.label_format("agents"), LabelFormat::Freeform);
        assert_eq!(config.label_format("mcp"), LabelFormat::Semver);
        assert_eq!(config.auto_snapshot("mcp"), AutoSnapshot::Off);
        assert_eq!(
            config.auto_snapshot("agents"),
            AutoSnapshot::OnRevisionChange
        );
        let signature = &config.signature_verification;
        assert!(signature.enforces_environment("qa"));
        assert!(!signature.enforces_environment("prod"));
        assert!(signature.enforces_approval());
        assert!(signature.covers(false));
        assert!(!config.block_promotion_on_broken);
        assert!(!config.backfill_enabled);
        // What parse accepts, the transition table accepts too.
        let table = lifecycle::TransitionTable::new(&config.lifecycle).unwrap();
        assert!(table.is_allowed(State::Draft, State::Archived));
        assert!(!table.is_allowed(State::Approved, State::Archived));
        let published = serde_json::to_value(&config.versioning).unwrap();
        assert_eq!(published["autoSnapshot"], "onRevisionChange");
        assert_eq!(published["plugins"]["mcp"]["autoSnapshot"], "off");
    }

    #[test]
    fn unknown_keys_are_named_at_every_level() {
        let found = problems(
            "environment: [dev]\nlifecycle:\n  allowTransition: []\nversioning:\n  plugins:\n    agents: {labelFormats: semver}\nsignatureVerification:\n  enforce: {env: [prod]}\n",
        );
        let fields: Vec<&str> = found.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "environment",
                "lifecycle.allowTransition",
                "versioning.plugins.agents.labelFormats",
                "signatureVerification.enforce.env"
            ]
        );
        assert!(found[0].description.contains("\"environment\""));
        assert!(found[0].description.contains("environments"));
        assert!(found[1].description.contains("allowTransitions"));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let error = GovernanceConfig::parse(
            r#"
environments: [dev, Prod, dev]
trustedSources: ["bad id!"]
auditRetention: {days: "ninety", sweepInterval: 0h}
lifecycle:
  allowTransitions: ["draft->archived", "approved=>draft", "draft->draft"]
  restoreTargets: [approved]
promotion: {requireApproved: [stage]}
versioning: {labelFormat: calver, autoSnapshot: always}
signatureVerification: {scope: everything, enabled: "yes"}
references: {blockPromotionOnBroken: 1}
"#,
        )
        .unwrap_err();
        let fields: Vec<&str> = error.violations.iter().map(|v| v.field.as_str()).collect();
        for expected in [
            "environments[1]",
            "environments[2]",
            "trustedSources[0]",
            "auditRetention.days",
            "auditRetention.sweepInterval",
            "lifecycle.allowTransitions[0]",
            "lifecycle.allowTransitions[1]",
            "lifecycle.allowTransitions[2]",
            "lifecycle.restoreTargets[0]",
            "promotion.requireApproved[0]",
            "versioning.labelFormat",
            "versioning.autoSnapshot",
            "signatureVerification.enabled",
            "signatureVerification.scope",
            "references.blockPromotionOnBroken",
        ] {
            assert!(
                fields.contains(&expected),
                "{expected} missing from {fields:?}"
            );
        }
        assert!(error.message.contains(&format!("{} problem", fields.len())));
        assert!(error.message.contains("versioning.labelFormat"));
    }

    #[test]
    fn a_disallowed_transition_needs_the_unlock_flag() {
        let found = problems("lifecycle: {allowTransitions: [\"archived->approved\"]}");
        assert_eq!(found[0].field, "lifecycle.allowTransitions[0]");
        assert!(found[0].description.contains("unlockDisallowedTransitions"));
        let config = GovernanceConfig::parse(
            "lifecycle: {allowTransitions: [\"archived->approved\"], unlockDisallowedTransitions: true}",
        )
        .unwrap();
        assert_eq!(
            config.lifecycle.allow_transitions,
            [(State::Archived, State::Approved)]
        );
    }

    #[test]
    fn a_transition_both_allowed_and_denied_is_rejected() {
        assert_eq!(
            fields("lifecycle: {allowTransitions: [\"approved->draft\"], denyTransitions: [\"approved->draft\"]}"),
            ["lifecycle.allowTransitions[0]"]
        );
    }

    #[test]
    fn environments_outside_the_list_are_rejected_where_they_are_named() {
        assert_eq!(
            fields("environments: [dev, prod]\npromotion: {requireApproved: [stage]}\nsignatureVerification: {enforce: {environments: [qa]}}"),
            [
                "promotion.requireApproved[0]",
                "signatureVerification.enforce.environments[0]"
            ]
        );
        assert_eq!(fields("environments: []"), ["environments"]);
        let longest = format!("e{}", "x".repeat(31));
        assert!(GovernanceConfig::parse(&format!("environments: [{longest}]")).is_ok());
        assert_eq!(
            fields(&format!("environments: [{longest}x]")),
            ["environments[0]"]
        );
    }

    #[test]
    fn wrong_shapes_are_reported_with_their_path() {
        assert_eq!(fields("- dev\n- prod\n"), [""]);
        assert_eq!(fields("environments: dev"), ["environments"]);
        assert_eq!(fields("vocabularies: [sox]"), ["vocabularies"]);
        assert_eq!(
            fields("vocabularies: {riskCategories: [pii, 3]}"),
            ["vocabularies.riskCategories[1]"]
        );
        assert_eq!(
            fields("versioning: {plugins: {Bad_Name: {}}}"),
            ["versioning.plugins.Bad_Name"]
        );
        let syntax = GovernanceConfig::parse("environments: [dev").unwrap_err();
        assert_eq!(syntax.reason, Reason::GovernanceConfigInvalid);
        assert!(syntax.message.contains("YAML"));
    }

    #[test]
    fn load_names_the_file_it_cannot_read_or_accept() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.yaml");
        let error = GovernanceConfig::load(Some(&missing)).unwrap_err();
        assert_eq!(error.reason, Reason::GovernanceConfigInvalid);
        assert!(error.message.contains("missing.yaml"));
        assert_eq!(error.metadata["path"], missing.display().to_string());

        let bad = dir.path().join("governance.yaml");
        std::fs::write(&bad, "backfill: {enabled: maybe}\n").unwrap();
        let error = GovernanceConfig::load(Some(&bad)).unwrap_err();
        assert!(error.message.starts_with(&bad.display().to_string()));
        assert_eq!(error.violations[0].field, "backfill.enabled");

        std::fs::write(&bad, "environments: [dev]\n").unwrap();
        let config = GovernanceConfig::load(Some(&bad)).unwrap();
        assert_eq!(config.environments, ["dev"]);
        assert!(config.require_approved.is_empty());
    }

    #[test]
    fn trusted_sources_match_bare_ids_anywhere_and_qualified_ids_exactly() {
        let config = GovernanceConfig {
            trusted_sources: vec!["shared".into(), "agents/team-agents".into()],
            ..GovernanceConfig::default()
        };
        assert!(config.is_trusted("models", "shared"));
        assert!(config.is_trusted("agents", "shared"));
        assert!(config.is_trusted("agents", "team-agents"));
        assert!(!config.is_trusted("mcp", "team-agents"));
        assert!(!config.is_trusted("agents", "other"));
    }

    #[test]
    fn environments_follow_the_configured_order() {
        let config = GovernanceConfig::default();
        assert_eq!(config.next_environment("dev"), Some("stage"));
        assert_eq!(config.next_environment("stage"), Some("prod"));
        assert_eq!(config.next_environment("prod"), None);
        assert_eq!(config.next_environment("qa"), None);
        assert!(config.is_environment("stage"));
        assert!(!config.is_environment("qa"));
    }

    #[test]
    fn intervals_take_a_unit() {
        assert_eq!(parse_interval("24h"), Some(86_400));
        assert_eq!(parse_interval("30s"), Some(30));
        assert_eq!(parse_interval("2d"), Some(172_800));
        assert_eq!(parse_interval("0m"), None);
        assert_eq!(parse_interval("24"), None);
        assert_eq!(parse_interval("h"), None);
    }
}
