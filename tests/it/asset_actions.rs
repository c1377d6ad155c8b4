//! ExecuteAssetAction with the legacy `deprecate` and `promote` (spec 01
//! §7.4): each runs as its governance action, so the transition and bind
//! rules, the approval gates and the audit trail are that action's, and a
//! `phase` other than deprecated changes nothing.

use catalog::proto::catalog::governance::v1alpha1 as gpb;
use catalog::proto::catalog::v1alpha1 as pb;
use catalog::transport::grpc::convert::from_struct;
use serde_json::{json, Value};
use tonic_types::StatusExt;

use crate::governance::{
    act, approve, approve_agent, data, history, params, people, state, PLUGIN,
};
use crate::support::*;

/// The built-in transition defaults, plus one gate on lifecycle.deprecate
/// for one agent, to see that the legacy action meets it.
const POLICY: &str = "apiVersion: catalog.kubeflow.org/v1alpha1
kind: ApprovalPolicies
rules:
  - name: gated-deprecation
    selector: {names: [k8s-troubleshooter]}
    gates:
      - {action: lifecycle.deprecate, approvalsRequired: 1, approverRoles: [approver]}
";

async fn server() -> TestServer {
    TestServer::start_with(|dir| {
        std::fs::write(dir.join("policies.yaml"), POLICY).unwrap();
        Options {
            sources: vec![copy_samples(dir)],
            extra_args: vec![
                "--approval-policies".into(),
                dir.join("policies.yaml").display().to_string(),
            ],
            ..Default::default()
        }
    })
    .await
}

/// ExecuteAssetAction on an agent, by plural (as the legacy paths call it).
async fn legacy(
    s: &TestServer,
    token: &str,
    name: &str,
    action: &str,
    p: Value,
) -> Result<pb::ActionResult, tonic::Status> {
    s.assets_as(Some(token))
        .execute_asset_action(pb::ExecuteAssetActionRequest {
            plugin: PLUGIN.into(),
            kind: "agents".into(),
            name: name.into(),
            action: action.into(),
            params: params(p),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner())
}

/// Events of `name` written after `before` was read, oldest first.
async fn events_since(
    s: &TestServer,
    name: &str,
    before: &[gpb::AuditEvent],
) -> Vec<gpb::AuditEvent> {
    let mut new: Vec<gpb::AuditEvent> = history(s, name)
        .await
        .into_iter()
        .filter(|e| !before.iter().any(|b| b.event_id == e.event_id))
        .collect();
    new.reverse();
    new
}

async fn lifecycle(s: &TestServer, name: &str) -> pb::LifecycleInfo {
    s.governance()
        .get_asset_governance(gpb::GetAssetGovernanceRequest {
            plugin: PLUGIN.into(),
            kind: "Agent".into(),
            name: name.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .governance
        .unwrap()
        .lifecycle
        .unwrap()
}

#[tokio::test]
async fn legacy_deprecate_runs_as_lifecycle_deprecate_and_is_audited_once() {
    let s = server().await;
    let w = people(&s);
    let name = "billing-specialist";
    approve_agent(&s, &w, name).await;
    let before = history(&s, name).await;
    let done = legacy(
        &s,
        &w.operator,
        name,
        "deprecate",
        json!({"reason": "superseded", "replacementRef": "agents/Agent/support-triage-router", "phase": "deprecated"}),
    )
    .await
    .unwrap();
    assert_eq!(
        (done.action.as_str(), done.status.as_str()),
        ("deprecate", "completed")
    );
    let lifecycle = lifecycle(&s, name).await;
    assert_eq!(lifecycle.state, "deprecated");
    assert_eq!(
        lifecycle.reason, "superseded",
        "params.reason is the reason"
    );
    let replacement = from_struct(lifecycle.replacement_ref.as_ref().unwrap());
    assert_eq!(replacement["name"], "support-triage-router");
    let events = events_since(&s, name, &before).await;
    let seen: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.action.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(seen, [("lifecycle.deprecate", "success")]);
    assert_eq!(events[0].actor, "olga");
    assert_eq!(events[0].event_id, done.audit_event_id);
    s.stop().await;
}

#[tokio::test]
async fn legacy_deprecate_with_another_phase_is_read_only_and_changes_nothing() {
    let s = server().await;
    let w = people(&s);
    let name = "billing-specialist";
    approve_agent(&s, &w, name).await;
    let before = history(&s, name).await;
    let error = legacy(
        &s,
        &w.operator,
        name,
        "deprecate",
        json!({"phase": "archived"}),
    )
    .await
    .unwrap_err();
    assert_eq!(error.code(), tonic::Code::InvalidArgument);
    let info = error.get_details_error_info().unwrap();
    assert_eq!(info.reason, "LIFECYCLE_FIELD_READ_ONLY");
    assert_eq!(info.metadata["phase"], "archived");
    assert!(
        error.message().contains("lifecycle.archive"),
        "{}",
        error.message()
    );
    assert_eq!(state(&s, name).await, "approved");
    // The refusal is the attempted governance action's event, and the only one.
    let events = events_since(&s, name, &before).await;
    let seen: Vec<(&str, &str, &str)> = events
        .iter()
        .map(|e| {
            (
                e.action.as_str(),
                e.outcome.as_str(),
                e.reason_code.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [("lifecycle.deprecate", "failed", "LIFECYCLE_FIELD_READ_ONLY")]
    );
    // A draft asset is refused the same way: phase is checked before the
    // transition table.
    let draft = "support-triage-router";
    let error = legacy(
        &s,
        &w.operator,
        draft,
        "deprecate",
        json!({"phase": "retired"}),
    )
    .await
    .unwrap_err();
    assert_eq!(
        error.get_details_error_info().unwrap().reason,
        "LIFECYCLE_FIELD_READ_ONLY"
    );
    // Without the phase, the transition table decides, as for lifecycle.deprecate.
    let error = legacy(&s, &w.operator, draft, "deprecate", json!({}))
        .await
        .unwrap_err();
    assert_eq!(
        error.get_details_error_info().unwrap().reason,
        "INVALID_TRANSITION"
    );
    assert_eq!(state(&s, draft).await, "draft");
    s.stop().await;
}

#[tokio::test]
async fn legacy_deprecate_meets_the_gates_of_lifecycle_deprecate() {
    let s = server().await;
    let w = people(&s);
    let name = "k8s-troubleshooter";
    approve_agent(&s, &w, name).await;
    let pending = legacy(&s, &w.operator, name, "deprecate", json!({"reason": "old"}))
        .await
        .unwrap();
    assert_eq!(pending.status, "pending-approval");
    assert_eq!(state(&s, name).await, "approved");
    // The same governance action asked directly is the same pending request.
    let direct = act(&s, &w.operator, name, "lifecycle.deprecate", json!({}))
        .await
        .unwrap();
    assert_eq!(direct.approval_request_id, pending.approval_request_id);
    let request = approve(&s, &w.approver, &pending.approval_request_id)
        .await
        .unwrap();
    assert_eq!(request.action, "lifecycle.deprecate");
    assert_eq!(request.execution.unwrap().status, "succeeded");
    assert_eq!(state(&s, name).await, "deprecated");
    let executed: Vec<gpb::AuditEvent> = history(&s, name)
        .await
        .into_iter()
        .filter(|e| e.approval_request_id == pending.approval_request_id)
        .filter(|e| e.action == "lifecycle.deprecate")
        .collect();
    assert_eq!(executed.len(), 1, "{executed:?}");
    s.stop().await;
}

#[tokio::test]
async fn legacy_promote_works_like_promotion_promote() {
    let s = server().await;
    let w = people(&s);
    let name = "billing-specialist";
    approve_agent(&s, &w, name).await;
    let v1 = act(
        &s,
        &w.operator,
        name,
        "version.create",
        json!({"version": "v1"}),
    )
    .await
    .unwrap();
    let v1 = data(&v1)["version"]["versionId"]
        .as_str()
        .unwrap()
        .to_string();
    act(
        &s,
        &w.operator,
        name,
        "promotion.bind",
        json!({"environment": "dev", "versionId": v1}),
    )
    .await
    .unwrap();
    let before = history(&s, name).await;
    let promoted = legacy(
        &s,
        &w.operator,
        name,
        "promote",
        json!({"fromEnv": "dev", "toEnv": "stage", "reason": "release 7"}),
    )
    .await
    .unwrap();
    assert_eq!(
        (promoted.action.as_str(), promoted.status.as_str()),
        ("promote", "completed")
    );
    let direct = act(
        &s,
        &w.operator,
        name,
        "promotion.promote",
        json!({"fromEnv": "stage", "toEnv": "prod"}),
    )
    .await
    .unwrap();
    assert_eq!(direct.status, "completed");
    assert_eq!(
        data(&promoted)["binding"]["versionId"],
        data(&direct)["binding"]["versionId"],
        "both bound v1: {} / {}",
        data(&promoted),
        data(&direct)
    );
    let events = events_since(&s, name, &before).await;
    let seen: Vec<(&str, &str, &str)> = events
        .iter()
        .map(|e| (e.action.as_str(), e.environment.as_str(), e.reason.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("promotion.promote", "stage", "release 7"),
            ("promotion.promote", "prod", "test")
        ]
    );
    // Its rules are promotion.promote's: a promotion needs a version source.
    let error = legacy(&s, &w.operator, name, "promote", json!({"toEnv": "prod"}))
        .await
        .unwrap_err();
    assert_eq!(
        error.get_details_error_info().unwrap().reason,
        "INVALID_PARAMS"
    );
    s.stop().await;
}

#[tokio::test]
async fn other_asset_actions_are_unknown_and_viewers_cannot_run_any() {
    let s = server().await;
    let w = people(&s);
    let name = "billing-specialist";
    for action in ["tag", "lifecycle.deprecate", "retire"] {
        let error = legacy(&s, &w.operator, name, action, json!({}))
            .await
            .unwrap_err();
        assert_eq!(error.code(), tonic::Code::InvalidArgument, "{action}");
        let info = error.get_details_error_info().unwrap();
        assert_eq!(info.reason, "UNKNOWN_ACTION", "{action}");
        assert!(
            error.message().contains("deprecate, promote"),
            "{}",
            error.message()
        );
    }
    let error = legacy(&s, &w.viewer, name, "deprecate", json!({}))
        .await
        .unwrap_err();
    assert_eq!(error.code(), tonic::Code::PermissionDenied);
    assert_eq!(state(&s, name).await, "draft");
    s.stop().await;
}

#[tokio::test]
async fn capabilities_list_the_legacy_actions_on_the_asset_action_endpoint() {
    let s = server().await;
    let caps = s
        .plugins()
        .get_plugin_capabilities(pb::GetPluginCapabilitiesRequest {
            plugin: PLUGIN.into(),
        })
        .await
        .unwrap()
        .into_inner();
    for id in ["deprecate", "promote"] {
        let def = caps.actions.iter().find(|a| a.id == id).unwrap();
        assert_eq!(def.scope, "asset");
        assert_eq!(
            def.endpoint,
            "/api/catalog/v1alpha1/agents/assets/{kind}/{name}:action"
        );
        assert!(def.may_require_approval && def.supports_dry_run, "{id}");
        assert!(caps.entities[0].actions.iter().any(|a| a == id), "{id}");
    }
    let deprecate = caps.actions.iter().find(|a| a.id == "deprecate").unwrap();
    let phase = deprecate
        .parameters
        .iter()
        .find(|p| p.name == "phase")
        .unwrap();
    assert_eq!(phase.r#enum, ["deprecated"]);
    // Every referenced id is defined once at the top level (09 §5).
    for id in &caps.entities[0].actions {
        let count = caps.actions.iter().filter(|a| &a.id == id).count();
        assert_eq!(count, 1, "{id}");
    }
    s.stop().await;
}
