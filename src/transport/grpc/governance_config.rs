//! GetGovernanceConfig: the effective configuration clients must use
//! instead of hard-coded rules (lifecycle table with its default approval
//! requirements, environments, vocabularies, versioning, approval policy).

use serde_json::{json, Value};

use super::convert::value_to_struct;
use crate::domain::governance::State;
use crate::governance::Settings;
use crate::proto::catalog::governance::v1alpha1 as gpb;

/// The response for the settings in force.
pub fn config_response(settings: &Settings) -> gpb::GetGovernanceConfigResponse {
    let config = serde_json::to_value(&settings.config).unwrap_or(Value::Null);
    let policies = serde_json::to_value(&settings.policies).unwrap_or(Value::Null);
    let defaults = &settings.policies.defaults;
    gpb::GetGovernanceConfigResponse {
        environments: settings.config.environments.clone(),
        require_approved_environments: settings.config.require_approved.clone(),
        vocabularies: config.get("vocabularies").map(value_to_struct),
        lifecycle: Some(gpb::LifecycleConfig {
            states: State::ALL.iter().map(|s| s.as_str().to_string()).collect(),
            transitions: settings
                .transitions
                .rows()
                .into_iter()
                .map(|row| {
                    let gate = defaults.transition_approvals.get(&(row.from, row.to));
                    gpb::Transition {
                        from: row.from.as_str().into(),
                        to: row.to.as_str().into(),
                        class: row.class.code().into(),
                        allowed: row.allowed,
                        approvals_required: gate.map_or(0, |g| g.approvals_required as i32),
                        approver_roles: gate.map(|g| g.approver_roles.clone()).unwrap_or_default(),
                    }
                })
                .collect(),
            restore_targets: settings
                .transitions
                .restore_targets()
                .iter()
                .map(|s| s.as_str().to_string())
                .collect(),
            default_state: State::Draft.as_str().into(),
        }),
        versioning: config.get("versioning").map(value_to_struct),
        approval_defaults: policies.get("defaults").map(value_to_struct),
        approval_policies: Some(gpb::ApprovalPolicyInfo {
            digest: settings.policies.digest.clone(),
            rules: policies
                .get("rules")
                .and_then(Value::as_array)
                .map(|rules| rules.iter().map(value_to_struct).collect())
                .unwrap_or_default(),
            source: settings
                .policy_path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            loaded_at: Some(super::convert::timestamp(settings.loaded_at)),
        }),
        signature_verification: config
            .get("signatureVerification")
            .map(value_to_struct)
            .or_else(|| Some(value_to_struct(&json!({})))),
    }
}
