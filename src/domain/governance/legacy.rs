//! The legacy asset actions `deprecate` and `promote` (spec 01 §7.4): the
//! governance action each one stands for, and how its parameters become
//! that action's. Once translated a legacy call *is* that governance
//! action (gates, transition rules, audit event), so the only rules kept
//! here are the ones the legacy spelling adds: `deprecate` knows no
//! `versionId`, and its `phase` may not name another state
//! (`LIFECYCLE_FIELD_READ_ONLY`, 03 §6); both take `reason` as a parameter.

use serde_json::{Map, Value};

use super::lifecycle::DEPRECATE;
use super::State;
use crate::domain::error::{Error, Reason};

/// Action id of `promotion.promote`, which legacy `promote` stands for.
pub const PROMOTE: &str = "promotion.promote";

/// The parameters legacy `deprecate` takes.
const DEPRECATE_PARAMS: &[&str] = &["reason", "replacementRef", "phase"];

/// A legacy asset action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyAction {
    /// `deprecate`: `lifecycle.deprecate` on the asset.
    Deprecate,
    /// `promote`: `promotion.promote`.
    Promote,
}

/// A legacy call rewritten as its governance action.
#[derive(Debug, Clone, PartialEq)]
pub struct Routed {
    /// Governance action id.
    pub action: &'static str,
    /// Its parameters.
    pub params: Value,
    /// `params.reason`: governance actions take the reason from the
    /// request, not from their parameters.
    pub reason: Option<String>,
}

impl LegacyAction {
    /// Every legacy asset action, in the order capabilities list them.
    pub const ALL: [LegacyAction; 2] = [LegacyAction::Deprecate, LegacyAction::Promote];

    /// The legacy action with this id, if it is one.
    pub fn parse(id: &str) -> Option<LegacyAction> {
        LegacyAction::ALL.into_iter().find(|a| a.id() == id)
    }

    /// Its id.
    pub fn id(self) -> &'static str {
        match self {
            LegacyAction::Deprecate => "deprecate",
            LegacyAction::Promote => "promote",
        }
    }

    /// The governance action it is routed to.
    pub fn governance_action(self) -> &'static str {
        match self {
            LegacyAction::Deprecate => DEPRECATE,
            LegacyAction::Promote => PROMOTE,
        }
    }

    /// The governance action and parameters this call stands for. The
    /// governance action checks the translated parameters itself, so only
    /// what the legacy spelling adds is checked here.
    pub fn route(self, params: &Value) -> Result<Routed, Error> {
        let mut params = object(self, params)?;
        let reason = take_reason(self, &mut params)?;
        if self == LegacyAction::Deprecate {
            refuse_unknown(&params)?;
            check_phase(params.remove("phase"))?;
        }
        Ok(Routed {
            action: self.governance_action(),
            params: Value::Object(params),
            reason,
        })
    }
}

fn object(action: LegacyAction, params: &Value) -> Result<Map<String, Value>, Error> {
    match params {
        Value::Object(map) => Ok(map.clone()),
        Value::Null => Ok(Map::new()),
        _ => Err(Error::new(
            Reason::InvalidParams,
            format!("params of {} must be a JSON object", action.id()),
        )
        .violation("params", "must be an object")),
    }
}

fn take_reason(
    action: LegacyAction,
    params: &mut Map<String, Value>,
) -> Result<Option<String>, Error> {
    match params.remove("reason") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text).filter(|t| !t.trim().is_empty())),
        Some(_) => Err(Error::new(
            Reason::InvalidParams,
            format!("params.reason of {} must be a string", action.id()),
        )
        .violation("params.reason", "must be a string")),
    }
}

/// Legacy `deprecate` names its parameters itself (01 §7.4): a `versionId`
/// would be accepted by `lifecycle.deprecate`, but not here.
fn refuse_unknown(params: &Map<String, Value>) -> Result<(), Error> {
    let unknown: Vec<&String> = params
        .keys()
        .filter(|k| !DEPRECATE_PARAMS.contains(&k.as_str()))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let mut error = Error::new(
        Reason::InvalidParams,
        format!(
            "deprecate takes {}; to deprecate a version use lifecycle.deprecate with versionId (ExecuteGovernanceAction)",
            DEPRECATE_PARAMS.join(", ")
        ),
    );
    for key in unknown {
        error = error.violation(format!("params.{key}"), "unknown parameter");
    }
    Err(error)
}

/// `phase` may only repeat what `deprecate` does: any other state would
/// be a lifecycle change outside the lifecycle actions (03 §6).
fn check_phase(phase: Option<Value>) -> Result<(), Error> {
    let phase = match phase {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::String(phase)) => phase,
        Some(_) => {
            return Err(Error::new(
                Reason::InvalidParams,
                "params.phase of deprecate must be a string; only \"deprecated\" is accepted",
            )
            .violation("params.phase", "must be a string"))
        }
    };
    if State::parse(&phase) == Some(State::Deprecated) {
        return Ok(());
    }
    Err(Error::new(
        Reason::LifecycleFieldReadOnly,
        format!(
            "deprecate only deprecates: phase {phase:?} would change the lifecycle outside the lifecycle actions; \
             leave phase out, or run lifecycle.setState, lifecycle.archive or lifecycle.restore through ExecuteGovernanceAction"
        ),
    )
    .with("action", "deprecate")
    .with("phase", phase)
    .violation("params.phase", "only \"deprecated\" is accepted"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_round_trip_and_name_their_governance_actions() {
        for action in LegacyAction::ALL {
            assert_eq!(LegacyAction::parse(action.id()), Some(action));
        }
        assert_eq!(LegacyAction::parse("lifecycle.deprecate"), None);
        assert_eq!(LegacyAction::parse("tag"), None);
        assert_eq!(
            LegacyAction::Deprecate.governance_action(),
            "lifecycle.deprecate"
        );
        assert_eq!(
            LegacyAction::Promote.governance_action(),
            "promotion.promote"
        );
    }

    #[test]
    fn deprecate_keeps_the_replacement_and_lifts_the_reason() {
        let routed = LegacyAction::Deprecate
            .route(&json!({"reason": "superseded", "replacementRef": "agents/Agent/b", "phase": "deprecated"}))
            .unwrap();
        assert_eq!(routed.action, "lifecycle.deprecate");
        assert_eq!(routed.params, json!({"replacementRef": "agents/Agent/b"}));
        assert_eq!(routed.reason.as_deref(), Some("superseded"));
        let bare = LegacyAction::Deprecate.route(&Value::Null).unwrap();
        assert_eq!((bare.params, bare.reason), (json!({}), None));
    }

    #[test]
    fn a_phase_other_than_deprecated_is_read_only() {
        for phase in ["archived", "retired", "approved", "draft", "promoted"] {
            let error = LegacyAction::Deprecate
                .route(&json!({"phase": phase}))
                .unwrap_err();
            assert_eq!(error.reason, Reason::LifecycleFieldReadOnly, "{phase}");
            assert_eq!(error.metadata["phase"], phase);
            assert_eq!(error.violations[0].field, "params.phase");
        }
        assert!(LegacyAction::Deprecate
            .route(&json!({"phase": "Deprecated"}))
            .is_ok());
        let typed = LegacyAction::Deprecate
            .route(&json!({"phase": 3}))
            .unwrap_err();
        assert_eq!(typed.reason, Reason::InvalidParams);
    }

    #[test]
    fn deprecate_refuses_parameters_it_does_not_name() {
        let error = LegacyAction::Deprecate
            .route(&json!({"versionId": "v1", "colour": "red"}))
            .unwrap_err();
        assert_eq!(error.reason, Reason::InvalidParams);
        let mut fields: Vec<&str> = error.violations.iter().map(|v| v.field.as_str()).collect();
        fields.sort();
        assert_eq!(fields, ["params.colour", "params.versionId"]);
    }

    #[test]
    fn promote_passes_its_params_to_promotion_promote() {
        let params = json!({"toEnv": "stage", "fromEnv": "dev", "allowDeprecated": true});
        let mut with_reason = params.clone();
        with_reason["reason"] = json!("release 7");
        let routed = LegacyAction::Promote.route(&with_reason).unwrap();
        assert_eq!(routed.action, "promotion.promote");
        assert_eq!(routed.params, params);
        assert_eq!(routed.reason.as_deref(), Some("release 7"));
        let error = LegacyAction::Promote
            .route(&json!({"toEnv": "stage", "reason": 7}))
            .unwrap_err();
        assert_eq!(error.reason, Reason::InvalidParams);
        assert!(LegacyAction::Promote.route(&json!("stage")).is_err());
    }
}
