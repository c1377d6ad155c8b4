//! Versions and bindings rules (spec 04): label and alias syntax, label
//! assignment for manual and automatic snapshots, the initial state of a
//! manual version, and the bind checks shared by bind, promote and
//! rollback. Signature enforcement and policies are checked elsewhere.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex::Regex;

use super::config::{GovernanceConfig, LabelFormat};
use super::{State, Warning};
use crate::domain::error::{Error, Reason};

/// Reserved aliases the server computes.
pub const RESERVED_ALIASES: &[&str] = &["latest", "latest-approved"];

const MAX_LABEL_CHARS: usize = 128;

fn freeform_problem(label: &str) -> Option<String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let pattern =
        RE.get_or_init(|| Regex::new(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$").expect("valid regex"));
    let chars = label.chars().count();
    if label.is_empty() {
        Some("it is empty".into())
    } else if chars > MAX_LABEL_CHARS {
        Some(format!(
            "it is {chars} characters long; the limit is {MAX_LABEL_CHARS}"
        ))
    } else if !pattern.is_match(label) {
        Some("it must start with a letter or digit and hold only letters, digits, '.', '_', '+' or '-'".into())
    } else {
        None
    }
}

fn numeric_problem(part: &str, what: &str) -> Option<String> {
    if part.is_empty() {
        Some(format!("the {what} is empty"))
    } else if !part.bytes().all(|b| b.is_ascii_digit()) {
        Some(format!("the {what} {part:?} is not a number"))
    } else if part.len() > 1 && part.starts_with('0') {
        Some(format!("the {what} {part:?} has a leading zero"))
    } else {
        None
    }
}

fn identifiers_problem(text: &str, what: &str, numbers_strict: bool) -> Option<String> {
    for ident in text.split('.') {
        if ident.is_empty() {
            return Some(format!("the {what} has an empty identifier"));
        }
        if !ident
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Some(format!(
                "the {what} identifier {ident:?} may only hold letters, digits and '-'"
            ));
        }
        // Only pre-release numbers are compared numerically, so only they
        // must not carry leading zeros.
        let numeric = ident.bytes().all(|b| b.is_ascii_digit());
        if numbers_strict && numeric && ident.len() > 1 && ident.starts_with('0') {
            return Some(format!(
                "the {what} identifier {ident:?} has a leading zero"
            ));
        }
    }
    None
}

fn semver_problem(label: &str) -> Option<String> {
    if label.chars().count() > MAX_LABEL_CHARS {
        return Some(format!("it is longer than {MAX_LABEL_CHARS} characters"));
    }
    let text = label.strip_prefix('v').unwrap_or(label);
    let (rest, build) = match text.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (text, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() != 3 {
        return Some(format!("{core:?} is not MAJOR.MINOR.PATCH"));
    }
    for (part, what) in parts
        .iter()
        .zip(["major version", "minor version", "patch version"])
    {
        if let Some(problem) = numeric_problem(part, what) {
            return Some(problem);
        }
    }
    if let Some(problem) = pre.and_then(|p| identifiers_problem(p, "pre-release", true)) {
        return Some(problem);
    }
    build.and_then(|b| identifiers_problem(b, "build metadata", false))
}

/// Checks a label given by a person against the plugin's label format.
pub fn validate_label(label: &str, format: LabelFormat) -> Result<(), Error> {
    let (problem, hint) = match format {
        LabelFormat::Freeform => (
            freeform_problem(label),
            "use 1-128 letters, digits, '.', '_', '+' or '-', starting with a letter or digit \
             (for example v1.2 or 2026-02-rc1)",
        ),
        LabelFormat::Semver => (
            semver_problem(label),
            "this plugin uses SemVer labels: MAJOR.MINOR.PATCH with an optional leading v, \
             -prerelease and +build (for example 1.2.3 or v1.2.3-rc.1)",
        ),
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(Error::new(
            Reason::InvalidVersionLabel,
            format!("version label {label:?} is not valid: {problem}; {hint}"),
        )
        .with("label", label)
        .with("labelFormat", format.as_str())
        .violation("version", problem)),
    }
}

/// Checks an alias name; the computed aliases cannot be set.
pub fn validate_alias(alias: &str) -> Result<(), Error> {
    static RE: OnceLock<Regex> = OnceLock::new();
    if RESERVED_ALIASES.contains(&alias) {
        return Err(Error::new(
            Reason::AliasReserved,
            format!(
                "alias {alias:?} is computed by the server and cannot be set; choose another \
                 alias name"
            ),
        )
        .with("alias", alias));
    }
    let pattern = RE.get_or_init(|| Regex::new(r"^[a-z][a-z0-9-]{0,62}$").expect("valid regex"));
    if pattern.is_match(alias) {
        return Ok(());
    }
    Err(Error::new(
        Reason::InvalidParams,
        format!(
            "alias {alias:?} is not valid; use a lowercase letter followed by up to 62 lowercase \
             letters, digits or '-'"
        ),
    )
    .violation("alias", "must match ^[a-z][a-z0-9-]{0,62}$"))
}

/// Refuses an environment that is not configured.
pub fn validate_environment(config: &GovernanceConfig, env: &str) -> Result<(), Error> {
    if config.is_environment(env) {
        return Ok(());
    }
    let configured = config.environments.join(", ");
    Err(Error::new(
        Reason::UnknownEnvironment,
        format!(
            "environment {env:?} is not configured; use one of {configured} (environments in \
             governance.yaml)"
        ),
    )
    .with("environment", env)
    .with("environments", config.environments.join(",")))
}

/// The first 8 hex characters of a `sha256:<hex>` digest.
pub fn digest8(digest: &str) -> &str {
    let hex = digest.rsplit(':').next().unwrap_or(digest);
    match hex.char_indices().nth(8) {
        Some((end, _)) => &hex[..end],
        None => hex,
    }
}

/// `base`, or `base.2`, `base.3`, … whichever is free first. Labels are
/// unique per asset, so assignment must never hand out a used one.
fn free_label(base: String, used: &BTreeMap<String, String>) -> String {
    if !used.contains_key(&base) {
        return base;
    }
    (2..)
        .map(|n| format!("{base}.{n}"))
        .find(|candidate| !used.contains_key(candidate))
        .expect("a finite set leaves a free label")
}

/// The record's own version field when it can serve as a label.
fn record_label(record_version: Option<&str>) -> Option<&str> {
    record_version
        .map(str::trim)
        .filter(|v| freeform_problem(v).is_none())
}

/// The label of an automatic snapshot (spec 04 §2.2): the record's
/// `version`; `+<digest8>` appended when that label is taken; `r<sequence>`
/// without a usable `version`.
pub fn auto_label(
    record_version: Option<&str>,
    used: &BTreeMap<String, String>,
    digest: &str,
    sequence: i32,
) -> String {
    let Some(version) = record_label(record_version) else {
        return free_label(format!("r{sequence}"), used);
    };
    if !used.contains_key(version) {
        return version.to_string();
    }
    // A taken label gets the digest suffix whatever the earlier digest: a
    // revision-only change (onRevisionChange) re-uses the same content.
    let suffixed = format!("{version}+{}", digest8(digest));
    if freeform_problem(&suffixed).is_none() && !used.contains_key(&suffixed) {
        return suffixed;
    }
    // The same content under the same version again: the sequence keeps it
    // apart while keeping the version recognisable.
    let sequenced = format!("{suffixed}.r{sequence}");
    if freeform_problem(&sequenced).is_none() {
        return free_label(sequenced, used);
    }
    free_label(format!("r{sequence}"), used)
}

/// The label of a `version.create`: the requested one (unused, already
/// checked with [`validate_label`]), else the record's `version` when
/// unused, else `r<sequence>`. An empty request counts as none, as proto3
/// sends it.
pub fn manual_label(
    requested: Option<&str>,
    record_version: Option<&str>,
    used: &BTreeMap<String, String>,
    sequence: i32,
) -> Result<String, Error> {
    if let Some(label) = requested.filter(|l| !l.trim().is_empty()) {
        if used.contains_key(label) {
            return Err(Error::new(
                Reason::VersionLabelConflict,
                format!(
                    "version label {label:?} is already used by this asset; choose another \
                     label, or omit it to get one assigned"
                ),
            )
            .with("label", label));
        }
        return Ok(label.to_string());
    }
    match record_label(record_version) {
        Some(version) if !used.contains_key(version) => Ok(version.to_string()),
        _ => Ok(free_label(format!("r{sequence}"), used)),
    }
}

/// The lifecycle state of a version made with `version.create` (spec 04
/// §2.3), with a warning when approved content has changed since.
pub fn initial_manual_state(
    asset_state: State,
    digest: &str,
    approved_digest: Option<&str>,
) -> Result<(State, Vec<Warning>), Error> {
    match asset_state {
        State::Approved if approved_digest == Some(digest) => Ok((State::Approved, Vec::new())),
        State::Approved => Ok((
            State::Draft,
            vec![Warning::new(
                "CONTENT_CHANGED_SINCE_APPROVAL",
                "the content changed since the asset was approved, so the new version starts \
                 as draft; approve it with lifecycle.setState and its versionId",
            )],
        )),
        State::Draft => Ok((State::Draft, Vec::new())),
        State::Deprecated => Ok((State::Deprecated, Vec::new())),
        State::Archived => Err(Error::new(
            Reason::AssetArchived,
            "the asset is archived, so no version can be created; restore it with \
             lifecycle.restore first",
        )
        .with("assetState", State::Archived)),
    }
}

/// What a bind (or promote, or rollback) would do, as the rules see it.
#[derive(Debug, Clone)]
pub struct BindRequest<'a> {
    /// Target environment.
    pub environment: &'a str,
    /// Asset-level state.
    pub asset_state: State,
    /// State of the version to bind.
    pub version_state: State,
    /// Label of the version to bind.
    pub version_label: &'a str,
    /// `allowDeprecated` param.
    pub allow_deprecated: bool,
    /// Version id the environment is bound to now.
    pub currently_bound_version: Option<&'a str>,
    /// Id of the version to bind.
    pub version_id: &'a str,
    /// Broken or archived references, re-resolved now.
    pub broken_references: Vec<String>,
    /// Semantic validation errors of the version's record.
    pub validation_errors: Vec<String>,
}

/// The bind rules of spec 04 §5.2 in table order (signature and policy
/// excluded): the first refusal, or the warnings of an allowed bind.
pub fn check_bind(config: &GovernanceConfig, req: &BindRequest) -> Result<Vec<Warning>, Error> {
    let env = req.environment;
    let label = req.version_label;
    let refuse = |reason: Reason, message: String| {
        Error::new(reason, message)
            .with("environment", env)
            .with("versionId", req.version_id)
            .with("version", label)
    };
    validate_environment(config, env)?;
    let strict = config.requires_approved(env);
    let lenient_envs = || {
        let names: Vec<&str> = config
            .environments
            .iter()
            .map(String::as_str)
            .filter(|e| !config.requires_approved(e))
            .collect();
        if names.is_empty() {
            "none is configured".to_string()
        } else {
            names.join(", ")
        }
    };
    let mut warnings = Vec::new();
    if req.asset_state == State::Archived {
        return Err(refuse(
            Reason::AssetArchived,
            format!(
                "the asset is archived, so none of its versions can be bound to {env}; restore \
                 it with lifecycle.restore first"
            ),
        ));
    }
    match req.version_state {
        State::Archived => {
            return Err(refuse(
                Reason::ArchivedNotBindable,
                format!(
                    "version {label} is archived and can never be bound; bind another version, or \
                     restore this one with lifecycle.restore and its versionId"
                ),
            ))
        }
        State::Draft if strict => {
            return Err(refuse(
                Reason::PromotionRequiresApproved,
                format!(
                    "version {label} is draft and {env} requires an approved version; approve \
                     version {label} first (lifecycle.setState state=approved with its \
                     versionId), or bind it where approval is not required ({})",
                    lenient_envs()
                ),
            )
            .with("versionState", State::Draft)
            .with("remediation", format!("approve version {label} first")))
        }
        State::Draft => warnings.push(Warning::new(
            "DRAFT_BINDING",
            format!(
                "version {label} is a draft bound to {env}; approve it before promoting it to an \
                 environment that requires approval"
            ),
        )),
        State::Deprecated if !req.allow_deprecated => {
            return Err(refuse(
                Reason::DeprecatedBindNotAllowed,
                format!(
                    "version {label} is deprecated; pass allowDeprecated=true to bind it to {env} \
                     anyway, or bind an approved version"
                ),
            )
            .with("versionState", State::Deprecated))
        }
        State::Deprecated => warnings.push(Warning::new(
            "BOUND_VERSION_DEPRECATED",
            format!(
                "version {label} bound to {env} is deprecated; plan a move to a supported version"
            ),
        )),
        State::Approved => {}
    }
    if !req.broken_references.is_empty() {
        let refs = req.broken_references.join(", ");
        if strict && config.block_promotion_on_broken {
            let mut error = refuse(
                Reason::BrokenReferences,
                format!(
                    "version {label} has {} broken or archived reference(s) ({refs}) and {env} \
                     requires them to resolve; fix or restore the referenced assets and create a \
                     new version, or bind it where approval is not required ({})",
                    req.broken_references.len(),
                    lenient_envs()
                ),
            )
            .with("refs", req.broken_references.join(","));
            for reference in &req.broken_references {
                error = error.precondition("REFERENCE", reference, "broken or archived reference");
            }
            return Err(error);
        }
        warnings.push(Warning::new(
            "BROKEN_REFERENCES",
            format!("version {label} has broken or archived reference(s): {refs}"),
        ));
    }
    if !req.validation_errors.is_empty() {
        let count = req.validation_errors.len();
        if strict {
            let mut error = refuse(
                Reason::ValidationFailed,
                format!(
                    "version {label} has {count} validation error(s) and {env} requires a valid \
                     record; fix the record in its source and bind the new version, or bind it \
                     where approval is not required ({})",
                    lenient_envs()
                ),
            );
            for problem in &req.validation_errors {
                error = error.precondition("VALIDATION", label, problem);
            }
            return Err(error);
        }
        warnings.push(Warning::new(
            "VALIDATION_FAILED",
            format!(
                "version {label} has {count} validation error(s): {}",
                req.validation_errors.join("; ")
            ),
        ));
    }
    if req.currently_bound_version == Some(req.version_id) {
        return Err(refuse(
            Reason::AlreadyBound,
            format!("version {label} is already bound to {env}; there is nothing to change"),
        ));
    }
    if req.asset_state == State::Deprecated {
        warnings.push(Warning::new(
            "ASSET_DEPRECATED",
            format!(
                "the asset is deprecated; {env} now uses version {label}, but new work should \
                 move to its replacement"
            ),
        ));
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn used(labels: &[(&str, &str)]) -> BTreeMap<String, String> {
        labels
            .iter()
            .map(|(l, d)| (l.to_string(), d.to_string()))
            .collect()
    }

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn request<'a>(environment: &'a str, version_state: State) -> BindRequest<'a> {
        BindRequest {
            environment,
            asset_state: State::Approved,
            version_state,
            version_label: "v3",
            allow_deprecated: false,
            currently_bound_version: Some("0190-old"),
            version_id: "0190-new",
            broken_references: Vec::new(),
            validation_errors: Vec::new(),
        }
    }

    fn bind(req: &BindRequest) -> Result<Vec<Warning>, Error> {
        check_bind(&GovernanceConfig::default(), req)
    }

    fn codes(warnings: &[Warning]) -> Vec<&str> {
        warnings.iter().map(|w| w.code.as_str()).collect()
    }

    fn reason(result: Result<Vec<Warning>, Error>) -> Reason {
        result.expect_err("the bind should be refused").reason
    }

    #[test]
    fn freeform_labels() {
        for good in ["v1", "1.2.3", "2026-02-rc1", "a_b+c.d", &"x".repeat(128)] {
            assert!(
                validate_label(good, LabelFormat::Freeform).is_ok(),
                "{good}"
            );
        }
        for bad in ["", "-v1", ".1", "v 1", "v1/2", "é1", &"x".repeat(129)] {
            let error = validate_label(bad, LabelFormat::Freeform).unwrap_err();
            assert_eq!(error.reason, Reason::InvalidVersionLabel, "{bad}");
            assert_eq!(error.metadata["labelFormat"], "freeform");
        }
    }

    #[test]
    fn semver_labels() {
        for good in [
            "1.2.3",
            "v1.2.3",
            "0.0.0",
            "1.2.3-rc.1+build.5",
            "1.2.3-alpha-1",
            "1.0.0-0.3.7",
            "1.0.0+001",
            "10.20.30-x.7.z.92",
        ] {
            assert!(validate_label(good, LabelFormat::Semver).is_ok(), "{good}");
        }
        for bad in [
            "1.2",
            "1.2.3.4",
            "01.2.3",
            "1.2.x",
            "1.2.3-",
            "1.2.3-01",
            "1.2.3-rc..1",
            "1.2.3+",
            "1.2.3+a+b",
            "1.2.3-rc_1",
            "V1.2.3",
            "vv1.2.3",
        ] {
            let error = validate_label(bad, LabelFormat::Semver).unwrap_err();
            assert_eq!(error.reason, Reason::InvalidVersionLabel, "{bad}");
            assert!(error.message.contains("SemVer"), "{bad}");
        }
    }

    #[test]
    fn aliases() {
        assert!(validate_alias("stable").is_ok());
        assert!(validate_alias(&format!("a{}", "b".repeat(62))).is_ok());
        for reserved in RESERVED_ALIASES {
            assert_eq!(
                validate_alias(reserved).unwrap_err().reason,
                Reason::AliasReserved
            );
        }
        for bad in ["", "Stable", "1st", "a_b", &format!("a{}", "b".repeat(63))] {
            assert_eq!(
                validate_alias(bad).unwrap_err().reason,
                Reason::InvalidParams,
                "{bad}"
            );
        }
    }

    #[test]
    fn environments_must_be_configured() {
        let config = GovernanceConfig::default();
        assert!(validate_environment(&config, "stage").is_ok());
        let error = validate_environment(&config, "qa").unwrap_err();
        assert_eq!(error.reason, Reason::UnknownEnvironment);
        assert!(error.message.contains("dev, stage, prod"));
        assert_eq!(error.metadata["environments"], "dev,stage,prod");
    }

    #[test]
    fn digest8_takes_the_hex_after_the_algorithm() {
        assert_eq!(digest8(DIGEST), "01234567");
        assert_eq!(digest8("abc"), "abc");
    }

    #[test]
    fn auto_labels_use_the_record_version_or_the_sequence() {
        let none = BTreeMap::new();
        assert_eq!(auto_label(Some("1.4.0"), &none, DIGEST, 3), "1.4.0");
        assert_eq!(auto_label(None, &none, DIGEST, 3), "r3");
        assert_eq!(auto_label(Some("  "), &none, DIGEST, 3), "r3");
        // A record version that cannot be a label falls back to the sequence.
        assert_eq!(auto_label(Some("1.4 beta"), &none, DIGEST, 3), "r3");
        assert_eq!(
            auto_label(None, &used(&[("r3", "sha256:x")]), DIGEST, 3),
            "r3.2"
        );
    }

    #[test]
    fn a_taken_record_version_gets_the_digest_suffix() {
        let taken = used(&[("1.4.0", "sha256:ffffffff")]);
        assert_eq!(
            auto_label(Some("1.4.0"), &taken, DIGEST, 4),
            "1.4.0+01234567"
        );
        // The same content again under a new revision.
        let twice = used(&[("1.4.0", DIGEST), ("1.4.0+01234567", DIGEST)]);
        assert_eq!(
            auto_label(Some("1.4.0"), &twice, DIGEST, 5),
            "1.4.0+01234567.r5"
        );
        // The suffixed label is SemVer build metadata, so semver plugins
        // keep valid labels.
        assert!(validate_label("1.4.0+01234567.r5", LabelFormat::Semver).is_ok());
        // A record version near the length limit cannot take the suffix.
        let long = "v".repeat(125);
        assert_eq!(
            auto_label(Some(&long), &used(&[(&long, "d")]), DIGEST, 6),
            "r6"
        );
    }

    #[test]
    fn manual_labels() {
        let taken = used(&[("v1", DIGEST), ("r2", DIGEST)]);
        assert_eq!(
            manual_label(Some("v2"), Some("v1"), &taken, 3).unwrap(),
            "v2"
        );
        let error = manual_label(Some("v1"), None, &taken, 3).unwrap_err();
        assert_eq!(error.reason, Reason::VersionLabelConflict);
        assert_eq!(error.metadata["label"], "v1");
        assert_eq!(manual_label(None, Some("2.0"), &taken, 3).unwrap(), "2.0");
        assert_eq!(manual_label(Some(""), Some("v1"), &taken, 3).unwrap(), "r3");
        assert_eq!(manual_label(None, None, &taken, 2).unwrap(), "r2.2");
    }

    #[test]
    fn initial_state_of_a_manual_version() {
        let (state, warnings) =
            initial_manual_state(State::Approved, DIGEST, Some(DIGEST)).unwrap();
        assert_eq!(state, State::Approved);
        assert!(warnings.is_empty());
        let (state, warnings) =
            initial_manual_state(State::Approved, DIGEST, Some("sha256:old")).unwrap();
        assert_eq!(state, State::Draft);
        assert_eq!(codes(&warnings), ["CONTENT_CHANGED_SINCE_APPROVAL"]);
        let (state, _) = initial_manual_state(State::Approved, DIGEST, None).unwrap();
        assert_eq!(state, State::Draft);
        assert_eq!(
            initial_manual_state(State::Draft, DIGEST, Some(DIGEST))
                .unwrap()
                .0,
            State::Draft
        );
        assert_eq!(
            initial_manual_state(State::Deprecated, DIGEST, None)
                .unwrap()
                .0,
            State::Deprecated
        );
        let error = initial_manual_state(State::Archived, DIGEST, None).unwrap_err();
        assert_eq!(error.reason, Reason::AssetArchived);
        assert!(error.message.contains("lifecycle.restore"));
    }

    #[test]
    fn approved_versions_bind_everywhere_without_warnings() {
        for env in ["dev", "stage", "prod"] {
            assert_eq!(bind(&request(env, State::Approved)).unwrap(), []);
        }
    }

    #[test]
    fn unknown_environments_are_refused_first() {
        let mut req = request("qa", State::Archived);
        req.asset_state = State::Archived;
        assert_eq!(reason(bind(&req)), Reason::UnknownEnvironment);
    }

    #[test]
    fn an_archived_asset_is_refused_before_the_version_is_looked_at() {
        let mut req = request("dev", State::Archived);
        req.asset_state = State::Archived;
        assert_eq!(reason(bind(&req)), Reason::AssetArchived);
        let mut req = request("dev", State::Approved);
        req.asset_state = State::Archived;
        assert_eq!(reason(bind(&req)), Reason::AssetArchived);
    }

    #[test]
    fn archived_versions_are_never_bindable() {
        for env in ["dev", "prod"] {
            let mut req = request(env, State::Archived);
            req.allow_deprecated = true;
            assert_eq!(reason(bind(&req)), Reason::ArchivedNotBindable);
        }
    }

    #[test]
    fn drafts_need_approval_only_where_required() {
        let error = bind(&request("prod", State::Draft)).unwrap_err();
        assert_eq!(error.reason, Reason::PromotionRequiresApproved);
        assert_eq!(error.metadata["environment"], "prod");
        assert_eq!(error.metadata["versionState"], "draft");
        assert_eq!(error.metadata["remediation"], "approve version v3 first");
        assert!(error.message.contains("(dev)"));
        assert_eq!(
            reason(bind(&request("stage", State::Draft))),
            Reason::PromotionRequiresApproved
        );
        assert_eq!(
            codes(&bind(&request("dev", State::Draft)).unwrap()),
            ["DRAFT_BINDING"]
        );
        let open = GovernanceConfig {
            require_approved: Vec::new(),
            ..GovernanceConfig::default()
        };
        let warnings = check_bind(&open, &request("prod", State::Draft)).unwrap();
        assert_eq!(codes(&warnings), ["DRAFT_BINDING"]);
    }

    #[test]
    fn deprecated_versions_need_allow_deprecated() {
        for env in ["dev", "prod"] {
            let mut req = request(env, State::Deprecated);
            assert_eq!(reason(bind(&req)), Reason::DeprecatedBindNotAllowed);
            req.allow_deprecated = true;
            assert_eq!(codes(&bind(&req).unwrap()), ["BOUND_VERSION_DEPRECATED"]);
        }
    }

    #[test]
    fn broken_references_block_only_approval_requiring_environments() {
        let mut req = request("prod", State::Approved);
        req.broken_references = vec!["skills/skill/a".into(), "models/model/b".into()];
        let error = bind(&req).unwrap_err();
        assert_eq!(error.reason, Reason::BrokenReferences);
        assert_eq!(error.metadata["refs"], "skills/skill/a,models/model/b");
        assert_eq!(error.preconditions.len(), 2);
        assert!(error.message.contains("skills/skill/a, models/model/b"));
        req.environment = "dev";
        assert_eq!(codes(&bind(&req).unwrap()), ["BROKEN_REFERENCES"]);
        req.environment = "prod";
        let lenient = GovernanceConfig {
            block_promotion_on_broken: false,
            ..GovernanceConfig::default()
        };
        assert_eq!(
            codes(&check_bind(&lenient, &req).unwrap()),
            ["BROKEN_REFERENCES"]
        );
    }

    #[test]
    fn validation_errors_block_only_approval_requiring_environments() {
        let mut req = request("stage", State::Approved);
        req.validation_errors = vec!["modelConfig.temperature must be <= 2".into()];
        let error = bind(&req).unwrap_err();
        assert_eq!(error.reason, Reason::ValidationFailed);
        assert_eq!(
            error.preconditions[0].description,
            "modelConfig.temperature must be <= 2"
        );
        req.environment = "dev";
        let warnings = bind(&req).unwrap();
        assert_eq!(codes(&warnings), ["VALIDATION_FAILED"]);
        assert!(warnings[0].message.contains("temperature"));
    }

    #[test]
    fn binding_the_bound_version_again_is_refused() {
        let mut req = request("prod", State::Approved);
        req.currently_bound_version = Some("0190-new");
        let error = bind(&req).unwrap_err();
        assert_eq!(error.reason, Reason::AlreadyBound);
        assert_eq!(error.metadata["versionId"], "0190-new");
        req.currently_bound_version = None;
        assert!(bind(&req).is_ok());
    }

    #[test]
    fn a_deprecated_asset_only_adds_a_warning() {
        let mut req = request("prod", State::Approved);
        req.asset_state = State::Deprecated;
        assert_eq!(codes(&bind(&req).unwrap()), ["ASSET_DEPRECATED"]);
        let mut req = request("dev", State::Deprecated);
        req.asset_state = State::Deprecated;
        req.allow_deprecated = true;
        req.broken_references = vec!["x".into()];
        assert_eq!(
            codes(&bind(&req).unwrap()),
            [
                "BOUND_VERSION_DEPRECATED",
                "BROKEN_REFERENCES",
                "ASSET_DEPRECATED"
            ]
        );
    }

    #[test]
    fn rules_apply_in_table_order() {
        // A draft with broken references that is already bound reports the
        // draft rule first.
        let mut req = request("prod", State::Draft);
        req.broken_references = vec!["x".into()];
        req.validation_errors = vec!["y".into()];
        req.currently_bound_version = Some("0190-new");
        assert_eq!(reason(bind(&req)), Reason::PromotionRequiresApproved);
        req.version_state = State::Approved;
        assert_eq!(reason(bind(&req)), Reason::BrokenReferences);
        req.broken_references.clear();
        assert_eq!(reason(bind(&req)), Reason::ValidationFailed);
        req.validation_errors.clear();
        assert_eq!(reason(bind(&req)), Reason::AlreadyBound);
    }
}
