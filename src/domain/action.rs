//! The action model (spec 01 §7): definitions published in capabilities and
//! the checks every action request goes through before it runs.

use serde_json::Value;

use super::error::{Error, Reason};

/// A parameter of an action.
#[derive(Debug, Clone)]
pub struct ParamDef {
    /// Name in `params`.
    pub name: &'static str,
    /// Label.
    pub display_name: &'static str,
    /// Parameter type (string, object, ...).
    pub param_type: &'static str,
    /// Required.
    pub required: bool,
    /// Help.
    pub description: &'static str,
    /// Allowed values, for type enum.
    pub enum_values: &'static [&'static str],
}

/// The endpoint that runs an action, which capabilities publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// ExecuteSourceAction.
    SourceAction,
    /// ExecuteGovernanceAction.
    GovernanceAction,
    /// ExecuteAssetAction.
    AssetAction,
}

/// An action definition.
#[derive(Debug, Clone)]
pub struct ActionDef {
    /// Stable id.
    pub id: &'static str,
    /// Label.
    pub display_name: &'static str,
    /// Help.
    pub description: &'static str,
    /// source or asset.
    pub scope: &'static str,
    /// Category.
    pub category: &'static str,
    /// Parameters.
    pub parameters: Vec<ParamDef>,
    /// Honours dryRun.
    pub supports_dry_run: bool,
    /// Same effect when repeated.
    pub idempotent: bool,
    /// Asks for confirmation in a UI.
    pub destructive: bool,
    /// Roles allowed to run it.
    pub required_roles: &'static [&'static str],
    /// Where it runs.
    pub endpoint: Endpoint,
    /// Whether an approval gate may hold it.
    pub may_require_approval: bool,
}

const SOURCE_ENTRY: ParamDef = ParamDef {
    name: "source",
    display_name: "Source definition",
    param_type: "object",
    required: false,
    description:
        "A source entry {id, name, type, enabled, labels, properties} as in a CatalogSources file",
    enum_values: &[],
};

/// The source actions every plugin with sources offers.
pub fn source_actions() -> Vec<ActionDef> {
    let base = |id, display_name, description, parameters, idempotent, destructive| ActionDef {
        id,
        display_name,
        description,
        scope: "source",
        category: "source",
        parameters,
        supports_dry_run: true,
        idempotent,
        destructive,
        required_roles: &["operator", "admin"],
        endpoint: Endpoint::SourceAction,
        may_require_approval: false,
    };
    vec![
        base(
            "validate",
            "Validate",
            "Parse and validate a source definition and its data; changes nothing",
            vec![SOURCE_ENTRY],
            true,
            false,
        ),
        base(
            "apply",
            "Apply",
            "Store a source definition in the server (never in the sources file) and sync it",
            vec![ParamDef {
                required: true,
                ..SOURCE_ENTRY
            }],
            true,
            false,
        ),
        base(
            "enable",
            "Enable",
            "Enable the source (a runtime override kept by the server)",
            vec![],
            true,
            false,
        ),
        base(
            "disable",
            "Disable",
            "Disable the source; its records leave the live view",
            vec![],
            true,
            true,
        ),
        base(
            "refresh",
            "Refresh",
            "Re-sync the source now",
            vec![],
            true,
            false,
        ),
    ]
}

/// Checks params against a definition: unknown names, types and sizes.
pub fn check_params(def: &ActionDef, params: &serde_json::Map<String, Value>) -> Result<(), Error> {
    for (name, value) in params {
        let Some(param) = def.parameters.iter().find(|p| p.name == name) else {
            let known: Vec<&str> = def.parameters.iter().map(|p| p.name).collect();
            return Err(Error::new(
                Reason::InvalidParams,
                format!(
                    "action {} has no parameter {name:?} (known: {})",
                    def.id,
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                ),
            )
            .violation(format!("params.{name}"), "unknown parameter"));
        };
        let ok = match param.param_type {
            "object" | "map" => value.is_object(),
            "string" | "enum" | "environment" | "version" => value.is_string(),
            "boolean" => value.is_boolean(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "tags" => value
                .as_array()
                .is_some_and(|a| a.iter().all(Value::is_string)),
            _ => true,
        };
        if !ok {
            return Err(Error::new(
                Reason::InvalidParams,
                format!(
                    "params.{name} of action {} must be of type {}",
                    def.id, param.param_type
                ),
            )
            .violation(
                format!("params.{name}"),
                format!("must be {}", param.param_type),
            ));
        }
        check_sizes(value, &format!("params.{name}"))?;
    }
    for param in &def.parameters {
        if param.required && !params.contains_key(param.name) {
            return Err(Error::new(
                Reason::InvalidParams,
                format!(
                    "action {} needs params.{}: {}",
                    def.id, param.name, param.description
                ),
            )
            .violation(format!("params.{}", param.name), "required"));
        }
    }
    Ok(())
}

fn check_sizes(value: &Value, path: &str) -> Result<(), Error> {
    let too_big = |what: String| {
        Err(Error::new(Reason::InvalidParams, format!("{path}: {what}")).violation(path, what))
    };
    match value {
        Value::String(s) if s.len() > 4096 && !path.ends_with("yamlContent") => {
            too_big(format!("string of {} bytes exceeds 4096", s.len()))
        }
        Value::String(s) if s.len() > 4 * 1024 * 1024 => {
            too_big(format!("content of {} bytes exceeds 4 MiB", s.len()))
        }
        Value::Array(items) if items.len() > 256 => {
            too_big(format!("list of {} items exceeds 256", items.len()))
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check_sizes(v, &format!("{path}[{i}]"))),
        Value::Object(map) if map.len() > 256 => {
            too_big(format!("map of {} keys exceeds 256", map.len()))
        }
        Value::Object(map) => map
            .iter()
            .try_for_each(|(k, v)| check_sizes(v, &format!("{path}.{k}"))),
        _ => Ok(()),
    }
}

const fn param(
    name: &'static str,
    display_name: &'static str,
    param_type: &'static str,
    required: bool,
    description: &'static str,
) -> ParamDef {
    ParamDef {
        name,
        display_name,
        param_type,
        required,
        description,
        enum_values: &[],
    }
}

const VERSION_ID: ParamDef = param(
    "versionId",
    "Version",
    "version",
    false,
    "A version id, label or @alias; when given, the action applies to that version instead of the asset",
);

/// The governance actions every governed kind offers (spec 03 §3 and
/// 04 §5.1), run through ExecuteGovernanceAction.
pub fn governance_actions() -> Vec<ActionDef> {
    let base =
        |id, display_name, description, category, parameters, idempotent, destructive| ActionDef {
            id,
            display_name,
            description,
            scope: "asset",
            category,
            parameters,
            supports_dry_run: true,
            idempotent,
            destructive,
            required_roles: &["operator", "admin"],
            endpoint: Endpoint::GovernanceAction,
            may_require_approval: true,
        };
    vec![
        base(
            "lifecycle.setState",
            "Set lifecycle state",
            "Move the asset (or a version) to another state of the transition table",
            "lifecycle",
            vec![
                param("state", "State", "enum", true, "draft, approved, deprecated or archived"),
                VERSION_ID,
            ],
            false,
            false,
        ),
        base(
            "lifecycle.deprecate",
            "Deprecate",
            "Mark the asset (or a version) as not for new work, optionally naming its replacement",
            "lifecycle",
            vec![
                param("replacementRef", "Replacement", "ref", false, "{plugin, kind, name} of the asset to use instead"),
                VERSION_ID,
            ],
            false,
            false,
        ),
        base(
            "lifecycle.archive",
            "Archive",
            "Hide the asset (or a version) from default lists; it must not be bound anywhere",
            "lifecycle",
            vec![VERSION_ID],
            false,
            true,
        ),
        base(
            "lifecycle.restore",
            "Restore",
            "Bring an archived asset (or version) back as deprecated or draft",
            "lifecycle",
            vec![
                param("targetState", "Target state", "enum", true, "deprecated or draft"),
                VERSION_ID,
            ],
            false,
            false,
        ),
        base(
            "version.create",
            "Create version",
            "Snapshot the asset as an immutable version",
            "versioning",
            vec![param("version", "Label", "string", false, "Label; default the record's version field, else r<sequence>")],
            false,
            false,
        ),
        base(
            "promotion.bind",
            "Bind",
            "Bind a version to an environment",
            "promotion",
            vec![
                param("environment", "Environment", "environment", true, "A configured environment"),
                param("versionId", "Version", "version", true, "A version id, label or @alias"),
                param("allowDeprecated", "Allow deprecated", "boolean", false, "Bind a deprecated version anyway"),
            ],
            true,
            false,
        ),
        base(
            "promotion.promote",
            "Promote",
            "Bind to an environment the version bound in another one, a given version, or the latest approved one",
            "promotion",
            vec![
                param("toEnv", "To environment", "environment", true, "Environment to bind"),
                param("fromEnv", "From environment", "environment", false, "Take the version bound there"),
                param("versionId", "Version", "version", false, "A version id, label or @alias"),
                param("latestApproved", "Latest approved", "boolean", false, "Take the latest approved version"),
                param("allowDeprecated", "Allow deprecated", "boolean", false, "Bind a deprecated version anyway"),
            ],
            true,
            false,
        ),
        base(
            "promotion.rollback",
            "Roll back",
            "Rebind an environment to a version it had before",
            "promotion",
            vec![
                param("environment", "Environment", "environment", true, "The environment to roll back"),
                param("targetVersionId", "Target version", "version", true, "A version previously bound there"),
            ],
            true,
            false,
        ),
        base(
            "promotion.unbind",
            "Unbind",
            "Remove an environment's binding",
            "promotion",
            vec![param("environment", "Environment", "environment", true, "The environment to unbind")],
            true,
            true,
        ),
    ]
}

/// The legacy asset actions (spec 01 §7.4), run through ExecuteAssetAction
/// as the governance action each stands for, so they are gated like it.
pub fn legacy_asset_actions() -> Vec<ActionDef> {
    let promote = governance_actions()
        .into_iter()
        .find(|a| a.id == "promotion.promote")
        .expect("promotion.promote is a governance action");
    let reason = param(
        "reason",
        "Reason",
        "string",
        false,
        "Why; recorded on the change and in the audit trail",
    );
    let base = |id, display_name, description, category, parameters, idempotent| ActionDef {
        id,
        display_name,
        description,
        scope: "asset",
        category,
        parameters,
        supports_dry_run: true,
        idempotent,
        destructive: false,
        required_roles: &["operator", "admin"],
        endpoint: Endpoint::AssetAction,
        may_require_approval: true,
    };
    let mut promote_params = promote.parameters;
    promote_params.push(reason.clone());
    vec![
        base(
            "deprecate",
            "Deprecate (legacy)",
            "Legacy form of lifecycle.deprecate on the asset; phase, when given, must be deprecated",
            "lifecycle",
            vec![
                reason,
                param("replacementRef", "Replacement", "ref", false, "{plugin, kind, name} of the asset to use instead"),
                ParamDef {
                    enum_values: &["deprecated"],
                    ..param("phase", "Phase", "enum", false, "Only deprecated; other states change through the lifecycle actions")
                },
            ],
            false,
        ),
        base(
            "promote",
            "Promote (legacy)",
            "Legacy form of promotion.promote, with the same parameters",
            "promotion",
            promote_params,
            promote.idempotent,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn apply() -> ActionDef {
        source_actions()
            .into_iter()
            .find(|a| a.id == "apply")
            .unwrap()
    }

    #[test]
    fn legacy_actions_run_as_asset_actions_and_are_gateable() {
        let legacy = legacy_asset_actions();
        let ids: Vec<&str> = legacy.iter().map(|a| a.id).collect();
        assert_eq!(ids, ["deprecate", "promote"]);
        for def in &legacy {
            assert_eq!((def.scope, def.endpoint), ("asset", Endpoint::AssetAction));
            assert!(
                def.may_require_approval && def.supports_dry_run,
                "{}",
                def.id
            );
        }
        let names = |def: &ActionDef| def.parameters.iter().map(|p| p.name).collect::<Vec<_>>();
        assert_eq!(names(&legacy[0]), ["reason", "replacementRef", "phase"]);
        assert_eq!(
            names(&legacy[1]),
            [
                "toEnv",
                "fromEnv",
                "versionId",
                "latestApproved",
                "allowDeprecated",
                "reason"
            ]
        );
    }

    #[test]
    fn params_are_checked() {
        let ok = json!({"source": {"id": "x"}});
        assert!(check_params(&apply(), ok.as_object().unwrap()).is_ok());
        for bad in [
            json!({}),
            json!({"source": "x"}),
            json!({"source": {}, "extra": 1}),
            json!({"source": {"l": vec![1; 300]}}),
        ] {
            assert_eq!(
                check_params(&apply(), bad.as_object().unwrap())
                    .unwrap_err()
                    .reason,
                Reason::InvalidParams,
                "{bad}"
            );
        }
    }
}
