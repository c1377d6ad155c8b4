//! The lifecycle transition table (spec 03 §2): the twelve default rows,
//! the effective table after `governance.yaml`, the INVALID_TRANSITION
//! refusals with their remediation text, and the target state of each
//! lifecycle action. Assets and versions share it.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use super::config::LifecycleConfig;
use super::State;
use crate::domain::error::{Error, FieldViolation, Reason};

/// Action id of the generic transition.
pub const SET_STATE: &str = "lifecycle.setState";
/// Action id of deprecation.
pub const DEPRECATE: &str = "lifecycle.deprecate";
/// Action id of archiving.
pub const ARCHIVE: &str = "lifecycle.archive";
/// Action id of restoring an archived asset or version.
pub const RESTORE: &str = "lifecycle.restore";

/// Class of a transition in the default table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TransitionClass {
    /// A: allowed unless configuration denies it.
    Allowed,
    /// U: off unless configuration allows it.
    Undefined,
    /// D: off; allowing it needs `unlockDisallowedTransitions`.
    Disallowed,
}

impl TransitionClass {
    /// The letter the spec uses.
    pub fn code(self) -> &'static str {
        match self {
            TransitionClass::Allowed => "A",
            TransitionClass::Undefined => "U",
            TransitionClass::Disallowed => "D",
        }
    }
}

/// The default class of `from → to`; a self-transition is disallowed and
/// no configuration can allow it.
pub fn default_class(from: State, to: State) -> TransitionClass {
    use State::*;
    match (from, to) {
        (Draft, Approved)
        | (Approved, Deprecated)
        | (Approved, Archived)
        | (Deprecated, Approved)
        | (Deprecated, Archived)
        | (Archived, Draft)
        | (Archived, Deprecated) => TransitionClass::Allowed,
        (Approved, Draft) | (Deprecated, Draft) => TransitionClass::Undefined,
        _ => TransitionClass::Disallowed,
    }
}

/// The spec's remediation text for a transition that is off by default.
fn table_remediation(from: State, to: State) -> Option<&'static str> {
    use State::*;
    match (from, to) {
        (Draft, Deprecated) => Some("Approve the asset first, then deprecate it"),
        (Draft, Archived) => Some("Only deprecated or approved assets can be archived"),
        (Approved, Draft) => {
            Some("Deprecate instead, or enable approved->draft in lifecycle config")
        }
        (Deprecated, Draft) => Some("Re-approve (deprecated->approved) or archive"),
        (Archived, Approved) => Some("Restore to deprecated or draft, then approve"),
        _ => None,
    }
}

/// Why `from->to` cannot be listed in `allowTransitions`, if it cannot.
pub fn allow_entry_problem(from: State, to: State, unlock_disallowed: bool) -> Option<String> {
    if from == to {
        return Some(format!(
            "{from}->{to} is a self-transition, which is never allowed; remove it"
        ));
    }
    (default_class(from, to) == TransitionClass::Disallowed && !unlock_disallowed).then(|| {
        format!(
            "{from}->{to} is disallowed by default; set lifecycle.unlockDisallowedTransitions: \
             true to enable it, or remove it"
        )
    })
}

/// Why a transition listed in both lists is a problem.
pub fn conflict_problem(from: State, to: State) -> String {
    format!("{from}->{to} is in both allowTransitions and denyTransitions; keep it in one of them")
}

/// Why `state` cannot be a restore target, if it cannot.
pub fn restore_target_problem(state: State) -> Option<String> {
    (!matches!(state, State::Deprecated | State::Draft)).then(|| {
        format!("{state} cannot be a restore target; restore targets are deprecated or draft")
    })
}

/// Every problem of a lifecycle section, with paths into `governance.yaml`.
pub fn config_problems(config: &LifecycleConfig) -> Vec<FieldViolation> {
    let mut problems = Vec::new();
    let mut push =
        |field: String, description: String| problems.push(FieldViolation { field, description });
    for (index, &(from, to)) in config.allow_transitions.iter().enumerate() {
        let field = format!("lifecycle.allowTransitions[{index}]");
        if let Some(problem) = allow_entry_problem(from, to, config.unlock_disallowed) {
            push(field.clone(), problem);
        }
        if config.deny_transitions.contains(&(from, to)) {
            push(field, conflict_problem(from, to));
        }
    }
    for (index, &state) in config.restore_targets.iter().enumerate() {
        if let Some(problem) = restore_target_problem(state) {
            push(format!("lifecycle.restoreTargets[{index}]"), problem);
        }
    }
    problems
}

/// One row of the effective table, for capabilities and GetGovernanceConfig.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransitionRow {
    /// Current state.
    pub from: State,
    /// Target state.
    pub to: State,
    /// Class in the default table.
    pub class: TransitionClass,
    /// Whether the effective table allows it.
    pub allowed: bool,
}

/// The effective transition table: defaults plus configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitionTable {
    allowed: BTreeSet<(State, State)>,
    restore_targets: Vec<State>,
}

impl Default for TransitionTable {
    fn default() -> Self {
        TransitionTable::new(&LifecycleConfig::default()).expect("the defaults are valid")
    }
}

impl TransitionTable {
    /// Builds the effective table; an invalid section is a
    /// GOVERNANCE_CONFIG_INVALID naming every problem.
    pub fn new(config: &LifecycleConfig) -> Result<TransitionTable, Error> {
        let problems = config_problems(config);
        if !problems.is_empty() {
            let listed: Vec<String> = problems
                .iter()
                .map(|p| format!("{}: {}", p.field, p.description))
                .collect();
            let mut error = Error::new(
                Reason::GovernanceConfigInvalid,
                format!(
                    "the lifecycle section of the governance config is invalid; fix it and \
                     reload: {}",
                    listed.join("; ")
                ),
            );
            error.violations = problems;
            return Err(error);
        }
        let mut allowed: BTreeSet<(State, State)> = pairs()
            .filter(|&(from, to)| default_class(from, to) == TransitionClass::Allowed)
            .filter(|pair| !config.deny_transitions.contains(pair))
            .collect();
        allowed.extend(config.allow_transitions.iter().copied());
        Ok(TransitionTable {
            allowed,
            restore_targets: config.restore_targets.clone(),
        })
    }

    /// Whether `from → to` is in the effective table.
    pub fn is_allowed(&self, from: State, to: State) -> bool {
        from != to && self.allowed.contains(&(from, to))
    }

    /// States reachable from `from`, in state order.
    pub fn allowed_targets(&self, from: State) -> Vec<State> {
        State::ALL
            .into_iter()
            .filter(|&to| self.is_allowed(from, to))
            .collect()
    }

    /// Valid `targetState` values of `lifecycle.restore`: the configured
    /// restore targets that the table also allows from archived.
    pub fn restore_targets(&self) -> Vec<State> {
        self.restore_targets
            .iter()
            .copied()
            .filter(|&to| self.is_allowed(State::Archived, to))
            .collect()
    }

    /// Refuses a transition outside the effective table.
    pub fn check(&self, from: State, to: State) -> Result<(), Error> {
        if self.is_allowed(from, to) {
            return Ok(());
        }
        let targets = self.allowed_targets(from);
        let (why, remediation) = if from == to {
            (
                format!("it is already {from}"),
                "No change is needed; pick a different target state".to_string(),
            )
        } else {
            match default_class(from, to) {
                TransitionClass::Allowed => (
                    "lifecycle.denyTransitions in the governance config disables it".to_string(),
                    format!(
                        "Move through one of the allowed targets, or ask an administrator to \
                         remove \"{from}->{to}\" from lifecycle.denyTransitions"
                    ),
                ),
                TransitionClass::Undefined => (
                    "it is not enabled in the governance config".to_string(),
                    remediation_or_default(from, to),
                ),
                TransitionClass::Disallowed => (
                    "it is disallowed".to_string(),
                    remediation_or_default(from, to),
                ),
            }
        };
        Err(transition_error(from, to, &targets, &why, &remediation))
    }

    /// Refuses a `lifecycle.restore` that does not start from archived or
    /// aims outside the restore targets.
    pub fn check_restore(&self, from: State, target: State) -> Result<(), Error> {
        if from != State::Archived {
            let targets = self.allowed_targets(from);
            return Err(transition_error(
                from,
                target,
                &targets,
                &format!("lifecycle.restore only applies to archived assets and versions, and this one is {from}"),
                "Use lifecycle.setState to change the state of an asset or version that is not archived",
            ));
        }
        let targets = self.restore_targets();
        if targets.contains(&target) {
            return Ok(());
        }
        let listed = names(&targets);
        let remediation = match table_remediation(from, target) {
            Some(text) if target == State::Approved => text.to_string(),
            _ if targets.is_empty() => {
                "Restoring is disabled by lifecycle.restoreTargets in the governance config; ask an administrator to enable a target".to_string()
            }
            _ => format!("Restore to one of {listed}, then use lifecycle.setState"),
        };
        Err(transition_error(
            from,
            target,
            &targets,
            &format!("{target} is not a restore target"),
            &remediation,
        ))
    }

    /// The twelve rows with their class and effective status.
    pub fn rows(&self) -> Vec<TransitionRow> {
        pairs()
            .map(|(from, to)| TransitionRow {
                from,
                to,
                class: default_class(from, to),
                allowed: self.is_allowed(from, to),
            })
            .collect()
    }
}

/// The twelve ordered pairs of distinct states, in state order.
fn pairs() -> impl Iterator<Item = (State, State)> {
    State::ALL.into_iter().flat_map(|from| {
        State::ALL
            .into_iter()
            .filter(move |&to| to != from)
            .map(move |to| (from, to))
    })
}

fn names(states: &[State]) -> String {
    if states.is_empty() {
        "none".to_string()
    } else {
        states
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn remediation_or_default(from: State, to: State) -> String {
    table_remediation(from, to)
        .map(str::to_string)
        .unwrap_or_else(|| format!("Enable \"{from}->{to}\" in lifecycle.allowTransitions"))
}

fn transition_error(
    from: State,
    to: State,
    targets: &[State],
    why: &str,
    remediation: &str,
) -> Error {
    let listed = names(targets);
    Error::new(
        Reason::InvalidTransition,
        format!(
            "cannot move from {from} to {to}: {why}. {remediation}. Allowed targets from {from}: {listed}"
        ),
    )
    .with("from", from)
    .with("to", to)
    .with(
        "allowedTargets",
        targets
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(","),
    )
    .with("remediation", remediation)
}

/// The target state of a lifecycle action, read from its params.
pub fn lifecycle_action_target(action: &str, params: &Value) -> Result<State, Error> {
    let state_param = |key: &str| -> Result<State, Error> {
        let params = match params {
            Value::Null => None,
            Value::Object(map) => Some(map),
            _ => {
                return Err(Error::new(
                    Reason::InvalidParams,
                    format!("{action} params must be an object with {key}"),
                ))
            }
        };
        match params.and_then(|p| p.get(key)) {
            None | Some(Value::Null) => Err(Error::new(
                Reason::InvalidParams,
                format!(
                    "{action} needs params.{key}; set it to one of draft, approved, deprecated, archived"
                ),
            )
            .violation(key, "required")),
            Some(Value::String(text)) => State::parse(text).ok_or_else(|| {
                Error::new(
                    Reason::InvalidParams,
                    format!(
                        "{action}: {text:?} is not a lifecycle state; use one of draft, approved, deprecated, archived"
                    ),
                )
                .violation(key, format!("unknown state {text:?}"))
            }),
            Some(other) => Err(Error::new(
                Reason::InvalidParams,
                format!("{action}: params.{key} must be a state name string, not {other}"),
            )
            .violation(key, "must be a string")),
        }
    };
    match action {
        SET_STATE => state_param("state"),
        DEPRECATE => Ok(State::Deprecated),
        ARCHIVE => Ok(State::Archived),
        RESTORE => state_param("targetState"),
        _ => Err(Error::new(
            Reason::UnknownAction,
            format!(
                "{action:?} is not a lifecycle action; use {SET_STATE}, {DEPRECATE}, {ARCHIVE} or {RESTORE}"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use State::*;

    const A: TransitionClass = TransitionClass::Allowed;
    const U: TransitionClass = TransitionClass::Undefined;
    const D: TransitionClass = TransitionClass::Disallowed;

    /// Spec 03 §2.1, row by row.
    const TABLE: [(State, State, TransitionClass); 12] = [
        (Draft, Approved, A),
        (Draft, Deprecated, D),
        (Draft, Archived, D),
        (Approved, Draft, U),
        (Approved, Deprecated, A),
        (Approved, Archived, A),
        (Deprecated, Draft, U),
        (Deprecated, Approved, A),
        (Deprecated, Archived, A),
        (Archived, Draft, A),
        (Archived, Deprecated, A),
        (Archived, Approved, D),
    ];

    fn table(config: LifecycleConfig) -> TransitionTable {
        TransitionTable::new(&config).unwrap()
    }

    #[test]
    fn default_classes_follow_the_spec_table() {
        for (from, to, class) in TABLE {
            assert_eq!(default_class(from, to), class, "{from}->{to}");
        }
        for state in State::ALL {
            assert_eq!(default_class(state, state), D);
        }
        assert_eq!(table(LifecycleConfig::default()).rows().len(), 12);
    }

    #[test]
    fn the_default_table_allows_exactly_the_class_a_rows() {
        let table = TransitionTable::default();
        for (from, to, class) in TABLE {
            assert_eq!(table.is_allowed(from, to), class == A, "{from}->{to}");
            assert_eq!(table.check(from, to).is_ok(), class == A, "{from}->{to}");
        }
        for state in State::ALL {
            assert!(!table.is_allowed(state, state));
            assert!(table.check(state, state).is_err());
        }
        assert_eq!(table.allowed_targets(Draft), [Approved]);
        assert_eq!(table.allowed_targets(Approved), [Deprecated, Archived]);
        assert_eq!(table.allowed_targets(Deprecated), [Approved, Archived]);
        assert_eq!(table.allowed_targets(Archived), [Draft, Deprecated]);
    }

    #[test]
    fn undefined_rows_can_be_allowed_and_allowed_rows_denied() {
        for (from, to, class) in TABLE {
            let config = match class {
                U => LifecycleConfig {
                    allow_transitions: vec![(from, to)],
                    ..LifecycleConfig::default()
                },
                A => LifecycleConfig {
                    deny_transitions: vec![(from, to)],
                    ..LifecycleConfig::default()
                },
                D => continue,
            };
            let table = table(config);
            assert_eq!(table.is_allowed(from, to), class == U, "{from}->{to}");
            // Every other row keeps its default.
            for (f, t, c) in TABLE {
                if (f, t) != (from, to) {
                    assert_eq!(
                        table.is_allowed(f, t),
                        c == A,
                        "{f}->{t} after {from}->{to}"
                    );
                }
            }
        }
    }

    #[test]
    fn disallowed_rows_need_the_unlock_flag() {
        for (from, to, class) in TABLE.into_iter().filter(|r| r.2 == D) {
            let locked = LifecycleConfig {
                allow_transitions: vec![(from, to)],
                ..LifecycleConfig::default()
            };
            let error = TransitionTable::new(&locked).unwrap_err();
            assert_eq!(error.reason, Reason::GovernanceConfigInvalid, "{class:?}");
            assert_eq!(error.violations[0].field, "lifecycle.allowTransitions[0]");
            assert!(error.message.contains("unlockDisallowedTransitions"));
            let unlocked = table(LifecycleConfig {
                unlock_disallowed: true,
                ..locked
            });
            assert!(unlocked.is_allowed(from, to));
        }
    }

    #[test]
    fn self_transitions_stay_refused_even_when_unlocked() {
        let error = TransitionTable::new(&LifecycleConfig {
            allow_transitions: vec![(Draft, Draft)],
            unlock_disallowed: true,
            ..LifecycleConfig::default()
        })
        .unwrap_err();
        assert!(error.violations[0].description.contains("self-transition"));
        let error = TransitionTable::default()
            .check(Approved, Approved)
            .unwrap_err();
        assert_eq!(error.reason, Reason::InvalidTransition);
        assert!(error.message.contains("already approved"));
    }

    #[test]
    fn config_problems_cover_conflicts_and_restore_targets() {
        let problems = config_problems(&LifecycleConfig {
            allow_transitions: vec![(Approved, Draft)],
            deny_transitions: vec![(Approved, Draft)],
            unlock_disallowed: false,
            restore_targets: vec![Draft, Approved],
        });
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "lifecycle.allowTransitions[0]",
                "lifecycle.restoreTargets[1]"
            ]
        );
    }

    #[test]
    fn refusals_carry_the_spec_metadata_and_remediation() {
        let table = TransitionTable::default();
        let error = table.check(Draft, Deprecated).unwrap_err();
        assert_eq!(error.reason, Reason::InvalidTransition);
        assert_eq!(error.metadata["from"], "draft");
        assert_eq!(error.metadata["to"], "deprecated");
        assert_eq!(error.metadata["allowedTargets"], "approved");
        assert_eq!(
            error.metadata["remediation"],
            "Approve the asset first, then deprecate it"
        );
        assert!(error.message.contains("from draft to deprecated"));
        assert!(error
            .message
            .contains("Allowed targets from draft: approved"));

        let remediations = [
            (
                Draft,
                Archived,
                "Only deprecated or approved assets can be archived",
            ),
            (
                Approved,
                Draft,
                "Deprecate instead, or enable approved->draft in lifecycle config",
            ),
            (
                Deprecated,
                Draft,
                "Re-approve (deprecated->approved) or archive",
            ),
            (
                Archived,
                Approved,
                "Restore to deprecated or draft, then approve",
            ),
        ];
        for (from, to, text) in remediations {
            let error = table.check(from, to).unwrap_err();
            assert_eq!(error.metadata["remediation"], text);
        }
        let error = table.check(Archived, Approved).unwrap_err();
        assert_eq!(error.metadata["allowedTargets"], "draft,deprecated");
    }

    #[test]
    fn a_denied_default_row_says_which_setting_blocks_it() {
        let table = table(LifecycleConfig {
            deny_transitions: vec![(Approved, Archived)],
            ..LifecycleConfig::default()
        });
        let error = table.check(Approved, Archived).unwrap_err();
        assert!(error.message.contains("denyTransitions"));
        assert_eq!(error.metadata["allowedTargets"], "deprecated");
        assert!(error.metadata["remediation"].contains("approved->archived"));
    }

    #[test]
    fn restore_starts_from_archived_and_aims_at_a_restore_target() {
        let table = TransitionTable::default();
        assert!(table.check_restore(Archived, Draft).is_ok());
        assert!(table.check_restore(Archived, Deprecated).is_ok());
        let error = table.check_restore(Deprecated, Draft).unwrap_err();
        assert_eq!(error.reason, Reason::InvalidTransition);
        assert!(error.message.contains("only applies to archived"));
        assert_eq!(error.metadata["from"], "deprecated");
        let error = table.check_restore(Archived, Approved).unwrap_err();
        assert_eq!(error.metadata["allowedTargets"], "deprecated,draft");
        assert_eq!(
            error.metadata["remediation"],
            "Restore to deprecated or draft, then approve"
        );

        let narrowed = super::TransitionTable::new(&LifecycleConfig {
            restore_targets: vec![Deprecated],
            ..LifecycleConfig::default()
        })
        .unwrap();
        assert!(narrowed.check_restore(Archived, Draft).is_err());
        assert!(narrowed.check_restore(Archived, Deprecated).is_ok());

        // A restore target whose row is denied is not offered either.
        let denied = super::TransitionTable::new(&LifecycleConfig {
            deny_transitions: vec![(Archived, Draft)],
            ..LifecycleConfig::default()
        })
        .unwrap();
        assert_eq!(denied.restore_targets(), [Deprecated]);
        assert!(denied.check_restore(Archived, Draft).is_err());
    }

    #[test]
    fn rows_publish_class_and_effective_status() {
        let table = table(LifecycleConfig {
            allow_transitions: vec![(Approved, Draft)],
            ..LifecycleConfig::default()
        });
        let rows = table.rows();
        let row = rows
            .iter()
            .find(|r| (r.from, r.to) == (Approved, Draft))
            .unwrap();
        assert_eq!(row.class, U);
        assert!(row.allowed);
        assert_eq!(rows.iter().filter(|r| r.allowed).count(), 8);
        let json = serde_json::to_value(row).unwrap();
        assert_eq!(
            json,
            json!({"from": "approved", "to": "draft", "class": "undefined", "allowed": true})
        );
        assert_eq!(U.code(), "U");
    }

    #[test]
    fn lifecycle_actions_map_to_their_target_state() {
        assert_eq!(
            lifecycle_action_target(SET_STATE, &json!({"state": "approved"})).unwrap(),
            Approved
        );
        assert_eq!(
            lifecycle_action_target(SET_STATE, &json!({"state": "Retired"})).unwrap(),
            Archived
        );
        assert_eq!(
            lifecycle_action_target(DEPRECATE, &json!({})).unwrap(),
            Deprecated
        );
        assert_eq!(
            lifecycle_action_target(ARCHIVE, &Value::Null).unwrap(),
            Archived
        );
        assert_eq!(
            lifecycle_action_target(RESTORE, &json!({"targetState": "draft"})).unwrap(),
            Draft
        );
        for (action, params) in [
            (SET_STATE, json!({})),
            (SET_STATE, json!({"state": "promoted"})),
            (SET_STATE, json!({"state": 3})),
            (SET_STATE, json!("approved")),
            (RESTORE, json!({"state": "draft"})),
        ] {
            let error = lifecycle_action_target(action, &params).unwrap_err();
            assert_eq!(error.reason, Reason::InvalidParams, "{action} {params}");
        }
        let error = lifecycle_action_target("promotion.bind", &json!({})).unwrap_err();
        assert_eq!(error.reason, Reason::UnknownAction);
    }
}
