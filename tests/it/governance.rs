//! Governance over gRPC: lifecycle with its transition table, metadata,
//! versions and promotion, approval gates by kind and by label, the audit
//! trail and its hash chain, on the real server.

use catalog::proto::catalog::governance::v1alpha1 as gpb;
use catalog::proto::catalog::v1alpha1 as pb;
use catalog::transport::grpc::convert::{from_struct, to_struct};
use clap::Parser;
use serde_json::{json, Value};
use tonic_types::StatusExt;

use crate::support::*;

pub(crate) const PLUGIN: &str = "agents";
pub(crate) const KIND: &str = "Agent";

/// A server over the samples with the sample approval policies.
async fn server() -> TestServer {
    TestServer::start_with(|dir| Options {
        sources: vec![copy_samples(dir)],
        extra_args: vec![
            "--approval-policies".into(),
            repo()
                .join("samples/approval-policies.yaml")
                .display()
                .to_string(),
        ],
        ..Default::default()
    })
    .await
}

pub(crate) fn params(value: Value) -> Option<prost_types::Struct> {
    Some(to_struct(value.as_object().unwrap()))
}

pub(crate) fn data(result: &pb::ActionResult) -> Value {
    Value::Object(from_struct(result.data.as_ref().unwrap()))
}

pub(crate) struct Who {
    pub operator: String,
    pub approver: String,
    pub approver2: String,
    pub viewer: String,
}

pub(crate) fn people(s: &TestServer) -> Who {
    Who {
        operator: s.token("olga", &["operator"]),
        approver: s.token("ada", &["approver"]),
        approver2: s.token("sam", &["security-approver"]),
        viewer: s.token("vic", &["viewer"]),
    }
}

pub(crate) async fn act(
    s: &TestServer,
    token: &str,
    name: &str,
    action: &str,
    p: Value,
) -> Result<pb::ActionResult, tonic::Status> {
    s.governance_as(Some(token))
        .execute_governance_action(gpb::ExecuteGovernanceActionRequest {
            plugin: PLUGIN.into(),
            kind: KIND.into(),
            name: name.into(),
            action: action.into(),
            params: params(p),
            dry_run: false,
            reason: "test".into(),
        })
        .await
        .map(|r| r.into_inner())
}

pub(crate) async fn set_owner(s: &TestServer, token: &str, name: &str, owner: &str) {
    s.governance_as(Some(token))
        .update_asset_governance(gpb::UpdateAssetGovernanceRequest {
            plugin: PLUGIN.into(),
            kind: KIND.into(),
            name: name.into(),
            governance: Some(pb::GovernanceMetadata {
                owner: Some(pb::Owner {
                    principal: owner.into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            update_mask: None,
            expected_resource_version: 0,
        })
        .await
        .unwrap();
}

pub(crate) async fn approve(
    s: &TestServer,
    token: &str,
    id: &str,
) -> Result<gpb::ApprovalRequest, tonic::Status> {
    s.approvals_as(Some(token))
        .approve_request(gpb::ApproveRequestRequest {
            request_id: id.into(),
            comment: "looks right".into(),
        })
        .await
        .map(|r| r.into_inner())
}

pub(crate) async fn state(s: &TestServer, name: &str) -> String {
    let g = s
        .governance()
        .get_asset_governance(gpb::GetAssetGovernanceRequest {
            plugin: PLUGIN.into(),
            kind: KIND.into(),
            name: name.into(),
        })
        .await
        .unwrap()
        .into_inner();
    g.governance.unwrap().lifecycle.unwrap().state
}

pub(crate) async fn history(s: &TestServer, name: &str) -> Vec<gpb::AuditEvent> {
    s.governance()
        .list_asset_history(gpb::ListAssetHistoryRequest {
            plugin: PLUGIN.into(),
            kind: KIND.into(),
            name: name.into(),
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events
}

/// GetAsset serves repeated reads from encoded answers it keeps; a
/// governance write must show in the very next read.
#[tokio::test]
async fn a_repeated_get_asset_follows_governance_writes() {
    let s = server().await;
    let w = people(&s);
    let name = "code-review-agent";
    let owner_of = |asset: pb::AssetResource| {
        asset
            .governance
            .and_then(|g| g.owner)
            .map(|o| o.principal)
            .unwrap_or_default()
    };
    let first = s.get(PLUGIN, KIND, name).await.unwrap();
    assert_eq!(s.get(PLUGIN, KIND, name).await.unwrap(), first);
    for owner in ["first-owner", "second-owner"] {
        set_owner(&s, &w.operator, name, owner).await;
        assert_eq!(owner_of(s.get(PLUGIN, KIND, name).await.unwrap()), owner);
        assert_eq!(owner_of(s.get(PLUGIN, KIND, name).await.unwrap()), owner);
    }
}

/// Approves an agent (the kind gate holds it for one approver).
pub(crate) async fn approve_agent(s: &TestServer, w: &Who, name: &str) {
    set_owner(s, &w.operator, name, "team-lead").await;
    let pending = act(
        s,
        &w.operator,
        name,
        "lifecycle.setState",
        json!({"state": "approved"}),
    )
    .await
    .unwrap();
    assert_eq!(pending.status, "pending-approval");
    let done = approve(s, &w.approver, &pending.approval_request_id)
        .await
        .unwrap();
    assert_eq!(done.status, "approved");
    assert_eq!(done.execution.unwrap().status, "succeeded");
}

#[tokio::test]
async fn discovered_assets_start_as_draft_with_a_first_version_and_an_event() {
    let s = server().await;
    assert_eq!(state(&s, "support-triage-router").await, "draft");
    let versions = s
        .governance()
        .list_versions(gpb::ListVersionsRequest {
            plugin: PLUGIN.into(),
            kind: KIND.into(),
            name: "support-triage-router".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .versions;
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].trigger, "initial-discovery");
    assert_eq!(versions[0].lifecycle.as_ref().unwrap().state, "draft");
    assert!(versions[0].content_digest.starts_with("sha256:"));
    assert!(versions[0].source_revision_ref.starts_with("sha256:"));
    let events = history(&s, "support-triage-router").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].action, "governance.create");
    assert_eq!(events[0].actor, "system:ingest");
    s.stop().await;
}

#[tokio::test]
async fn forbidden_transitions_and_missing_owner_are_refused_and_audited() {
    let s = server().await;
    let w = people(&s);
    let name = "billing-specialist";
    let e = act(&s, &w.operator, name, "lifecycle.archive", json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);
    let info = e.get_details_error_info().unwrap();
    assert_eq!(info.reason, "INVALID_TRANSITION");
    assert_eq!(info.metadata["from"], "draft");
    assert_eq!(info.metadata["to"], "archived");
    assert_eq!(info.metadata["allowedTargets"], "approved");
    let e = act(
        &s,
        &w.operator,
        name,
        "lifecycle.setState",
        json!({"state": "approved"}),
    )
    .await
    .unwrap_err();
    assert_eq!(reason(&e), "OWNER_REQUIRED");
    assert!(e.message().contains("owner"), "{}", e.message());
    // No request was created for the refused approval.
    let pending = s
        .approvals_as(Some(&w.viewer))
        .list_approvals(gpb::ListApprovalsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(pending.approvals.is_empty());
    // A viewer may not act at all.
    let e = act(
        &s,
        &w.viewer,
        name,
        "lifecycle.setState",
        json!({"state": "approved"}),
    )
    .await
    .unwrap_err();
    assert_eq!(reason(&e), "ROLE_REQUIRED");
    let events = history(&s, name).await;
    let denied: Vec<&str> = events
        .iter()
        .filter(|e| e.outcome == "denied")
        .map(|e| e.reason_code.as_str())
        .collect();
    assert_eq!(denied, vec!["OWNER_REQUIRED", "INVALID_TRANSITION"]);
    assert_eq!(state(&s, name).await, "draft");
    s.stop().await;
}

#[tokio::test]
async fn a_kind_gate_holds_agent_approval_until_a_qualifying_approver_decides() {
    let s = server().await;
    let w = people(&s);
    let name = "incident-planner";
    set_owner(&s, &w.operator, name, "oncall-lead").await;
    let pending = act(
        &s,
        &w.operator,
        name,
        "lifecycle.setState",
        json!({"state": "approved"}),
    )
    .await
    .unwrap();
    assert_eq!(pending.status, "pending-approval");
    let id = pending.approval_request_id.clone();
    assert!(!id.is_empty());
    assert_eq!(state(&s, name).await, "draft");
    // The same request again reuses the pending one.
    let again = act(
        &s,
        &w.operator,
        name,
        "lifecycle.setState",
        json!({"state": "approved"}),
    )
    .await
    .unwrap();
    assert_eq!(again.approval_request_id, id);
    // The requester cannot approve, even as an approver.
    let self_approver = s.token("olga", &["operator", "approver"]);
    let e = approve(&s, &self_approver, &id).await.unwrap_err();
    assert_eq!(reason(&e), "SELF_APPROVAL_FORBIDDEN");
    // A viewer lacks the gate's roles.
    let e = approve(&s, &w.viewer, &id).await.unwrap_err();
    assert_eq!(reason(&e), "APPROVER_ROLE_REQUIRED");
    let done = approve(&s, &w.approver, &id).await.unwrap();
    assert_eq!(done.status, "approved");
    let execution = done.execution.unwrap();
    assert_eq!(execution.status, "succeeded");
    assert_eq!(state(&s, name).await, "approved");
    // A decided request takes no more decisions.
    let e = approve(&s, &w.approver2, &id).await.unwrap_err();
    assert_eq!(reason(&e), "APPROVAL_NOT_PENDING");
    let events = history(&s, name).await;
    let executed = events
        .iter()
        .find(|e| e.action == "lifecycle.setState" && e.outcome == "success")
        .expect("the executed transition is audited");
    assert_eq!(executed.actor, "olga");
    assert_eq!(executed.approval_request_id, id);
    assert_eq!(executed.approvals.len(), 1);
    assert_eq!(executed.approvals[0].approver, "ada");
    s.stop().await;
}

#[tokio::test]
async fn versions_are_promoted_through_environments_and_rolled_back() {
    let s = server().await;
    let w = people(&s);
    let name = "code-review-agent";
    approve_agent(&s, &w, name).await;
    // The asset is approved and unchanged, so a manual version is approved.
    let v1 = act(
        &s,
        &w.operator,
        name,
        "version.create",
        json!({"version": "v1"}),
    )
    .await
    .unwrap();
    let v1 = data(&v1)["version"].clone();
    assert_eq!(v1["lifecycleState"], "approved");
    let v1_id = v1["versionId"].as_str().unwrap().to_string();
    act(
        &s,
        &w.operator,
        name,
        "promotion.bind",
        json!({"environment": "dev", "versionId": "v1"}),
    )
    .await
    .unwrap();
    act(
        &s,
        &w.operator,
        name,
        "promotion.promote",
        json!({"toEnv": "stage", "fromEnv": "dev"}),
    )
    .await
    .unwrap();
    act(
        &s,
        &w.operator,
        name,
        "promotion.promote",
        json!({"toEnv": "prod", "fromEnv": "stage"}),
    )
    .await
    .unwrap();
    let v2 = act(
        &s,
        &w.operator,
        name,
        "version.create",
        json!({"version": "v2"}),
    )
    .await
    .unwrap();
    let v2_id = data(&v2)["version"]["versionId"]
        .as_str()
        .unwrap()
        .to_string();
    act(
        &s,
        &w.operator,
        name,
        "promotion.bind",
        json!({"environment": "prod", "versionId": v2_id}),
    )
    .await
    .unwrap();
    // Rollback only to a version prod had before.
    let rolled = act(
        &s,
        &w.operator,
        name,
        "promotion.rollback",
        json!({"environment": "prod", "targetVersionId": "v1"}),
    )
    .await
    .unwrap();
    assert_eq!(data(&rolled)["binding"]["versionId"], json!(v1_id));
    let bindings = s
        .governance()
        .list_bindings(gpb::ListBindingsRequest {
            plugin: PLUGIN.into(),
            kind: KIND.into(),
            name: name.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let envs: Vec<(&str, &str)> = bindings
        .bindings
        .iter()
        .map(|b| (b.environment.as_str(), b.version.as_str()))
        .collect();
    assert_eq!(envs, vec![("dev", "v1"), ("stage", "v1"), ("prod", "v1")]);
    // A selector may name an alias: @latest is v2, bound to prod before.
    act(
        &s,
        &w.operator,
        name,
        "promotion.bind",
        json!({"environment": "prod", "versionId": "@latest"}),
    )
    .await
    .unwrap();
    // Archiving a bound asset is refused with the environments.
    let e = act(&s, &w.operator, name, "lifecycle.archive", json!({}))
        .await
        .unwrap_err();
    assert_eq!(reason(&e), "ASSET_HAS_BINDINGS");
    let events = history(&s, name).await;
    let binds = events
        .iter()
        .filter(|e| e.action.starts_with("promotion."))
        .count();
    assert_eq!(binds, 6);
    s.stop().await;
}

#[tokio::test]
async fn draft_versions_stay_out_of_stage_and_prod_and_a_label_gate_needs_two_approvers() {
    let s = server().await;
    let w = people(&s);
    let name = "docs-qa-assistant";
    // The initial version is a draft: dev takes it with a warning, prod not.
    let ok = act(
        &s,
        &w.operator,
        name,
        "promotion.bind",
        json!({"environment": "dev", "versionId": "@latest"}),
    )
    .await
    .unwrap();
    assert!(
        ok.warnings.iter().any(|w| w.code == "DRAFT_BINDING"),
        "{:?}",
        ok.warnings
    );
    let e = act(
        &s,
        &w.operator,
        name,
        "promotion.bind",
        json!({"environment": "prod", "versionId": "@latest"}),
    )
    .await
    .unwrap_err();
    assert_eq!(reason(&e), "PROMOTION_REQUIRES_APPROVED");
    // Approve the asset and snapshot an approved version.
    approve_agent(&s, &w, name).await;
    let v = act(&s, &w.operator, name, "version.create", json!({}))
        .await
        .unwrap();
    let label = data(&v)["version"]["version"].as_str().unwrap().to_string();
    // sensitivity: restricted holds prod for two approvers.
    let pending = act(
        &s,
        &w.operator,
        name,
        "promotion.bind",
        json!({"environment": "prod", "versionId": label}),
    )
    .await
    .unwrap();
    assert_eq!(pending.status, "pending-approval");
    let id = pending.approval_request_id;
    let first = approve(&s, &w.approver, &id).await.unwrap();
    assert_eq!(first.status, "pending");
    let bindings = s
        .governance()
        .list_bindings(gpb::ListBindingsRequest {
            plugin: PLUGIN.into(),
            kind: KIND.into(),
            name: name.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(bindings
        .bindings
        .iter()
        .find(|b| b.environment == "prod")
        .unwrap()
        .version_id
        .is_empty());
    let second = approve(&s, &w.approver2, &id).await.unwrap();
    assert_eq!(second.status, "approved");
    assert_eq!(second.execution.unwrap().status, "succeeded");
    let prod = s
        .governance()
        .list_bindings(gpb::ListBindingsRequest {
            plugin: PLUGIN.into(),
            kind: KIND.into(),
            name: name.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .bindings
        .into_iter()
        .find(|b| b.environment == "prod")
        .unwrap();
    assert_eq!(prod.version, label);
    assert_eq!(prod.bound_by, "olga");
    assert_eq!(prod.approval_request_id, id);
    s.stop().await;
}

#[tokio::test]
async fn rejection_and_cancellation_end_requests_without_running_them() {
    let s = server().await;
    let w = people(&s);
    let name = "support-triage-router";
    set_owner(&s, &w.operator, name, "lead").await;
    let pending = act(
        &s,
        &w.operator,
        name,
        "lifecycle.setState",
        json!({"state": "approved"}),
    )
    .await
    .unwrap();
    let e = s
        .approvals_as(Some(&w.approver))
        .reject_request(gpb::RejectRequestRequest {
            request_id: pending.approval_request_id.clone(),
            comment: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&e), "COMMENT_REQUIRED");
    let rejected = s
        .approvals_as(Some(&w.approver))
        .reject_request(gpb::RejectRequestRequest {
            request_id: pending.approval_request_id.clone(),
            comment: "not yet".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rejected.status, "rejected");
    assert!(rejected.execution.is_none());
    assert_eq!(state(&s, name).await, "draft");
    // A new request, cancelled by someone who is neither requester nor operator: refused.
    let again = act(
        &s,
        &w.operator,
        name,
        "lifecycle.setState",
        json!({"state": "approved"}),
    )
    .await
    .unwrap();
    assert_ne!(again.approval_request_id, pending.approval_request_id);
    let e = s
        .approvals_as(Some(&w.approver))
        .cancel_request(gpb::CancelRequestRequest {
            request_id: again.approval_request_id.clone(),
            reason: "mine now".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&e), "CANCEL_NOT_ALLOWED");
    let cancelled = s
        .approvals_as(Some(&w.operator))
        .cancel_request(gpb::CancelRequestRequest {
            request_id: again.approval_request_id.clone(),
            reason: "changed my mind".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cancelled.status, "cancelled");
    assert_eq!(state(&s, name).await, "draft");
    s.stop().await;
}

#[tokio::test]
async fn racing_approvers_run_the_action_exactly_once() {
    let s = TestServer::start_with(|dir| Options {
        sources: vec![copy_samples(dir)],
        extra_args: vec!["--approval-policies".into(), "builtin".into()],
        ..Default::default()
    })
    .await;
    let w = people(&s);
    for name in [
        "support-triage-router",
        "billing-specialist",
        "k8s-troubleshooter",
    ] {
        set_owner(&s, &w.operator, name, "lead").await;
        let pending = act(
            &s,
            &w.operator,
            name,
            "lifecycle.setState",
            json!({"state": "approved"}),
        )
        .await
        .unwrap();
        let id = pending.approval_request_id;
        let mut calls = Vec::new();
        for i in 0..6 {
            let mut client =
                s.approvals_as(Some(&s.token(&format!("approver-{i}"), &["approver"])));
            let id = id.clone();
            calls.push(tokio::spawn(async move {
                client
                    .approve_request(gpb::ApproveRequestRequest {
                        request_id: id,
                        comment: "ok".into(),
                    })
                    .await
                    .map(|r| r.into_inner())
            }));
        }
        let mut results = Vec::new();
        for call in calls {
            results.push(call.await.unwrap());
        }
        let winners = results
            .iter()
            .filter(|r| r.as_ref().is_ok_and(|r| r.decisions.len() == 1))
            .count();
        assert_eq!(winners, 1, "exactly one decision counted: {results:?}");
        for r in results.iter().filter_map(|r| r.as_ref().err()) {
            assert_eq!(reason(r), "APPROVAL_NOT_PENDING", "{r:?}");
        }
        let executions = history(&s, name)
            .await
            .into_iter()
            .filter(|e| e.action == "lifecycle.setState" && e.outcome == "success")
            .count();
        assert_eq!(executions, 1);
        assert_eq!(state(&s, name).await, "approved");
    }
    s.stop().await;
}

#[tokio::test]
async fn the_audit_chain_verifies_and_detects_tampering() {
    let s = server().await;
    let w = people(&s);
    set_owner(&s, &w.operator, "incident-planner", "lead").await;
    // A call without a token is audited as auth.denied, without the token.
    let e = s
        .governance_as(None)
        .get_governance_config(gpb::GetGovernanceConfigRequest {})
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unauthenticated);
    eventually("the refusal is audited", || async {
        let events = s
            .audit()
            .list_audit_events(gpb::ListAuditEventsRequest {
                action: "auth.denied".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .events;
        events
            .iter()
            .any(|e| e.actor == "anonymous" && e.reason_code == "UNAUTHENTICATED")
    })
    .await;
    let report = s
        .audit()
        .verify_audit_chain(gpb::VerifyAuditChainRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(report.verified, "{report:?}");
    assert!(
        report.checked_count > 60,
        "one event per sample asset and more: {report:?}"
    );

    // The database itself refuses to edit or delete an event...
    let pool = sqlx::AnyPool::connect(&s.database_url).await.unwrap();
    let edit = sqlx::query("UPDATE audit_events SET actor = 'mallory' WHERE sequence = 3")
        .execute(&pool)
        .await;
    assert!(edit.is_err(), "an audit event was edited in place");
    let delete = sqlx::query("DELETE FROM audit_events WHERE sequence = 3")
        .execute(&pool)
        .await;
    assert!(delete.is_err(), "an audit event was deleted");
    // ...and someone who disables the guard is caught by the chain.
    let drop = if s.database_url.starts_with("postgres") {
        "DROP TRIGGER audit_events_no_update ON audit_events"
    } else {
        "DROP TRIGGER audit_events_no_update"
    };
    sqlx::query(drop).execute(&pool).await.unwrap();
    sqlx::query("UPDATE audit_events SET actor = 'mallory' WHERE sequence = 3")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let report = s
        .audit()
        .verify_audit_chain(gpb::VerifyAuditChainRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(!report.verified);
    let broken = report.first_broken.unwrap();
    assert_eq!(broken.sequence, 3);
    assert_ne!(broken.expected_hash, broken.stored_hash);
    s.stop().await;
}

#[tokio::test]
async fn a_source_edit_makes_a_new_draft_version_and_bindings_stay_pinned() {
    let s = TestServer::start_with(|dir| Options {
        sources: vec![copy_samples(dir)],
        reconcile_seconds: 1,
        extra_args: vec!["--approval-policies".into(), "builtin".into()],
        ..Default::default()
    })
    .await;
    let w = people(&s);
    let name = "billing-specialist";
    let first = act(
        &s,
        &w.operator,
        name,
        "promotion.bind",
        json!({"environment": "dev", "versionId": "@latest"}),
    )
    .await
    .unwrap();
    let pinned = data(&first)["binding"]["versionId"].clone();
    let file = s.dir.path().join("samples/data/agents.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let edited = text.replacen("    version: \"1.1.0\"\n", "    version: \"1.2.0\"\n", 1);
    assert_ne!(text, edited, "the sample layout changed");
    std::fs::write(&file, edited).unwrap();
    let versions = || async {
        s.governance()
            .list_versions(gpb::ListVersionsRequest {
                plugin: PLUGIN.into(),
                kind: KIND.into(),
                name: name.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .versions
    };
    eventually("a source-change version appears", || async {
        versions().await.len() == 2
    })
    .await;
    let newest = &versions().await[0];
    assert_eq!(newest.trigger, "source-change");
    assert_eq!(
        newest.version, "1.2.0",
        "the label comes from the record's version field"
    );
    assert_eq!(newest.lifecycle.as_ref().unwrap().state, "draft");
    assert_eq!(state(&s, name).await, "draft");
    let bindings = s
        .governance()
        .list_bindings(gpb::ListBindingsRequest {
            plugin: PLUGIN.into(),
            kind: KIND.into(),
            name: name.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(json!(bindings.bindings[0].version_id), pinned);
    let events = history(&s, name).await;
    let change = events
        .iter()
        .find(|e| e.action == "source.contentChanged")
        .unwrap();
    let diff = Value::Object(from_struct(change.diff.as_ref().unwrap()));
    assert_ne!(diff["old"]["contentDigest"], diff["new"]["contentDigest"]);
    s.stop().await;
}

async fn list_names(s: &TestServer, request: pb::ListAssetsRequest) -> Vec<String> {
    let mut names: Vec<String> = s
        .assets()
        .list_assets(request)
        .await
        .unwrap()
        .into_inner()
        .items
        .into_iter()
        .map(|a| a.metadata.unwrap().name)
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn asset_lists_filter_on_governance_and_leave_archived_assets_out() {
    let s = TestServer::start_with(|dir| Options {
        sources: vec![copy_samples(dir)],
        extra_args: vec!["--approval-policies".into(), "builtin".into()],
        ..Default::default()
    })
    .await;
    let w = people(&s);
    let patch = |name: &str, governance: pb::GovernanceMetadata| {
        let mut client = s.governance_as(Some(&w.operator));
        let name = name.to_string();
        async move {
            client
                .update_asset_governance(gpb::UpdateAssetGovernanceRequest {
                    plugin: PLUGIN.into(),
                    kind: KIND.into(),
                    name,
                    governance: Some(governance),
                    update_mask: None,
                    expected_resource_version: 0,
                })
                .await
                .map(|r| r.into_inner())
        }
    };
    let risky = |level: &str, tags: &[&str]| pb::GovernanceMetadata {
        owner: Some(pb::Owner {
            principal: "risk-owner".into(),
            ..Default::default()
        }),
        team: Some(pb::Team {
            name: "platform".into(),
            ..Default::default()
        }),
        risk: Some(pb::Risk {
            level: level.into(),
            ..Default::default()
        }),
        compliance: Some(pb::Compliance {
            tags: tags.iter().map(|t| t.to_string()).collect(),
            ..Default::default()
        }),
        ..Default::default()
    };
    patch("billing-specialist", risky("high", &["gdpr", "sox"]))
        .await
        .unwrap();
    patch("incident-planner", risky("high", &["sox"]))
        .await
        .unwrap();
    patch("code-review-agent", risky("low", &["gdpr"]))
        .await
        .unwrap();
    // Lifecycle is read-only here, and unknown vocabulary is refused field by field.
    let e = patch(
        "code-review-agent",
        pb::GovernanceMetadata {
            lifecycle: Some(pb::LifecycleInfo {
                state: "approved".into(),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(reason(&e), "LIFECYCLE_FIELD_READ_ONLY");
    let e = patch("code-review-agent", risky("extreme", &["pci"]))
        .await
        .unwrap_err();
    assert_eq!(reason(&e), "GOVERNANCE_VALIDATION_FAILED");
    let fields: Vec<String> = e
        .get_details_bad_request()
        .unwrap()
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert!(
        fields.iter().any(|f| f.contains("risk.level")),
        "{fields:?}"
    );
    assert!(
        fields.iter().any(|f| f.contains("compliance.tags")),
        "{fields:?}"
    );

    let base = pb::ListAssetsRequest {
        plugin: PLUGIN.into(),
        page_size: 100,
        ..Default::default()
    };
    let high_gdpr = list_names(
        &s,
        pb::ListAssetsRequest {
            risk_level: vec!["high".into()],
            compliance_tag: vec!["gdpr".into()],
            ..base.clone()
        },
    )
    .await;
    assert_eq!(high_gdpr, vec!["billing-specialist"]);
    let sox_gdpr = list_names(
        &s,
        pb::ListAssetsRequest {
            compliance_tag: vec!["gdpr".into(), "sox".into()],
            ..base.clone()
        },
    )
    .await;
    assert_eq!(sox_gdpr, vec!["billing-specialist"]);
    let by_query = list_names(
        &s,
        pb::ListAssetsRequest {
            filter_query: "governance.risk.level = 'high' AND governance.team.name = 'platform'"
                .into(),
            ..base.clone()
        },
    )
    .await;
    assert_eq!(by_query, vec!["billing-specialist", "incident-planner"]);
    let owned = list_names(
        &s,
        pb::ListAssetsRequest {
            owner: "risk-owner".into(),
            ..base.clone()
        },
    )
    .await;
    assert_eq!(owned.len(), 3);

    // Approve, then archive (both gated by the built-in policy).
    let name = "code-review-agent";
    for action in [
        ("lifecycle.setState", json!({"state": "approved"})),
        ("lifecycle.archive", json!({})),
    ] {
        let pending = act(&s, &w.operator, name, action.0, action.1.clone())
            .await
            .unwrap();
        assert_eq!(pending.status, "pending-approval", "{action:?}");
        let done = approve(&s, &w.approver, &pending.approval_request_id)
            .await
            .unwrap();
        assert_eq!(
            done.execution.as_ref().unwrap().status,
            "succeeded",
            "{done:?}"
        );
    }
    let asset = s.get(PLUGIN, KIND, name).await.unwrap();
    assert_eq!(
        asset
            .status
            .as_ref()
            .unwrap()
            .lifecycle
            .as_ref()
            .unwrap()
            .phase,
        "archived"
    );
    let governance = asset.governance.unwrap();
    assert_eq!(governance.owner.unwrap().principal, "risk-owner");
    assert_eq!(governance.lifecycle.unwrap().state, "archived");
    let default = list_names(&s, base.clone()).await;
    assert!(!default.contains(&name.to_string()), "{default:?}");
    let with_archived = list_names(
        &s,
        pb::ListAssetsRequest {
            include_archived: true,
            ..base.clone()
        },
    )
    .await;
    assert_eq!(with_archived.len(), default.len() + 1);
    let archived = list_names(
        &s,
        pb::ListAssetsRequest {
            lifecycle_state: vec!["archived".into()],
            ..base.clone()
        },
    )
    .await;
    assert_eq!(archived, vec![name]);
    s.stop().await;
}

/// Until the background pass writes the overlay rows of assets a trusted
/// source has just added, reads already show them approved, as the pass
/// will make them, in GetAsset and in the lifecycle filter of ListAssets.
#[tokio::test]
async fn a_trusted_sources_new_assets_read_approved_before_their_overlay_is_written() {
    const ASSETS: usize = 3000;
    let s = trusting("model/bulk", &[]).await;
    apply_bulk_models(&s, "bulk", ASSETS).await;
    let last = format!("bulk-{:05}", ASSETS - 1);
    let asset = s.get("model", "CatalogModel", &last).await.unwrap();
    let written = asset.governance.is_some();
    assert_eq!(asset.status.unwrap().lifecycle.unwrap().phase, "approved");
    assert_eq!(models_in_state(&s, "bulk", "draft").await, 0);
    assert_eq!(models_in_state(&s, "bulk", "approved").await, ASSETS as i64);
    // Another source of the same plugin is not trusted.
    assert!(models_in_state(&s, "", "draft").await > 0);
    eprintln!("overlay of {last} written before the first read: {written}");
    s.stop().await;
}

/// How many `model` assets (of one source, or all) ListAssets counts in a
/// lifecycle state.
async fn models_in_state(s: &TestServer, source_id: &str, state: &str) -> i64 {
    s.assets()
        .list_assets(pb::ListAssetsRequest {
            plugin: "model".into(),
            source_id: source_id.into(),
            lifecycle_state: vec![state.into()],
            include_total: true,
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .total_size
}

/// The samples, with `trustedSources: [<entry>]` and `extra` arguments.
async fn trusting(entry: &str, extra: &[&str]) -> TestServer {
    TestServer::start_with(|dir| {
        write(
            &dir.join("governance.yaml"),
            &format!("trustedSources: [{entry}]\n"),
        );
        let mut extra_args = vec![
            "--governance-config".to_string(),
            dir.join("governance.yaml").display().to_string(),
        ];
        extra_args.extend(extra.iter().map(|a| a.to_string()));
        Options {
            sources: vec![copy_samples(dir)],
            extra_args,
            ..Default::default()
        }
    })
    .await
}

fn write(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

async fn config(s: &TestServer) -> gpb::GetGovernanceConfigResponse {
    s.governance()
        .get_governance_config(gpb::GetGovernanceConfigRequest {})
        .await
        .unwrap()
        .into_inner()
}

const NO_GATES: &str = "apiVersion: catalog.kubeflow.org/v1alpha1\nkind: ApprovalPolicies\ndefaults:\n  transitionApprovals: {}\n";

#[tokio::test]
async fn approval_policies_reload_and_an_invalid_file_keeps_the_previous_policy() {
    let s = TestServer::start_with(|dir| {
        std::fs::copy(
            repo().join("samples/approval-policies.yaml"),
            dir.join("policies.yaml"),
        )
        .unwrap();
        Options {
            sources: vec![copy_samples(dir)],
            extra_args: vec![
                "--approval-policies".into(),
                dir.join("policies.yaml").display().to_string(),
            ],
            ..Default::default()
        }
    })
    .await;
    let w = people(&s);
    let policies = s.dir.path().join("policies.yaml");
    let before = config(&s).await.approval_policies.unwrap();
    assert!(before.rules.len() >= 2, "the sample rules are in force");
    set_owner(&s, &w.operator, "billing-specialist", "lead").await;
    let held = act(
        &s,
        &w.operator,
        "billing-specialist",
        "lifecycle.setState",
        json!({"state": "approved"}),
    )
    .await
    .unwrap();
    assert_eq!(held.status, "pending-approval");

    write(&policies, NO_GATES);
    eventually("the new policy is in force", || async {
        config(&s).await.approval_policies.unwrap().digest != before.digest
    })
    .await;
    set_owner(&s, &w.operator, "incident-planner", "lead").await;
    let done = act(
        &s,
        &w.operator,
        "incident-planner",
        "lifecycle.setState",
        json!({"state": "approved"}),
    )
    .await
    .unwrap();
    assert_eq!(done.status, "completed", "no gate holds it any more");
    let current = config(&s).await.approval_policies.unwrap().digest;

    write(&policies, "apiVersion: catalog.kubeflow.org/v1alpha1\nkind: ApprovalPolicies\nrules:\n  - name: broken\n    selector: {kinds: [Agent]}\n    gates:\n      - action: lifecycle.setState\n        when: {toStat: approved}\n        approvalsRequired: 1\n");
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    assert_eq!(
        config(&s).await.approval_policies.unwrap().digest,
        current,
        "an invalid file changes nothing"
    );
    set_owner(&s, &w.operator, "code-review-agent", "lead").await;
    let still = act(
        &s,
        &w.operator,
        "code-review-agent",
        "lifecycle.setState",
        json!({"state": "approved"}),
    )
    .await
    .unwrap();
    assert_eq!(still.status, "completed");
    s.stop().await;
}

#[tokio::test]
async fn an_invalid_policy_file_stops_start_up_with_a_precise_error() {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies.yaml");
    write(&policies, "apiVersion: catalog.kubeflow.org/v1alpha1\nkind: ApprovalPolicies\nrules:\n  - name: r\n    selector: {matchAll: true}\n    gates:\n      - action: promotion.bind\n        when: {environmnt: prod}\n        approvalsRequired: 1\n        approverRoles: [approver]\n");
    let sources = copy_samples(dir.path());
    let config = catalog::config::ServerConfig::try_parse_from([
        "catalog-server",
        "--sources",
        &sources.display().to_string(),
        "--database-url",
        &format!("sqlite://{}/db.sqlite", dir.path().display()),
        "--jwt-secret",
        &random_secret(),
        "--approval-policies",
        &policies.display().to_string(),
    ])
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let error = match catalog::server::start(config, Some(listener)).await {
        Ok(_) => panic!("the server started with an invalid policy"),
        Err(e) => e,
    };
    assert_eq!(error.exit_code(), 2);
    let text = error.to_string();
    assert!(text.contains("environmnt"), "{text}");
    assert!(text.contains("rules[0]"), "{text}");
}

#[tokio::test]
async fn pending_requests_expire_and_take_no_more_decisions() {
    let s = TestServer::start_with(|dir| {
        write(
            &dir.join("policies.yaml"),
            "apiVersion: catalog.kubeflow.org/v1alpha1\nkind: ApprovalPolicies\ndefaults:\n  expiryHours: 0.0005\n",
        );
        Options {
            sources: vec![copy_samples(dir)],
            extra_args: vec!["--approval-policies".into(), dir.join("policies.yaml").display().to_string()],
            ..Default::default()
        }
    })
    .await;
    let w = people(&s);
    let name = "k8s-troubleshooter";
    set_owner(&s, &w.operator, name, "lead").await;
    let pending = act(
        &s,
        &w.operator,
        name,
        "lifecycle.setState",
        json!({"state": "approved"}),
    )
    .await
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let request = s
        .approvals_as(Some(&w.viewer))
        .get_approval(gpb::GetApprovalRequest {
            request_id: pending.approval_request_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(request.status, "expired");
    assert_eq!(request.resolved_by, "system:expiry");
    let e = approve(&s, &w.approver, &pending.approval_request_id)
        .await
        .unwrap_err();
    assert_eq!(reason(&e), "APPROVAL_NOT_PENDING");
    assert_eq!(state(&s, name).await, "draft");
    assert!(history(&s, name)
        .await
        .iter()
        .any(|e| e.action == "approval.expire"));
    s.stop().await;
}

#[tokio::test]
async fn assets_from_a_trusted_source_start_approved() {
    let s = trusting("agents/sample-agents", &["--approval-policies", "builtin"]).await;
    let g = s
        .governance()
        .get_asset_governance(gpb::GetAssetGovernanceRequest {
            plugin: PLUGIN.into(),
            kind: KIND.into(),
            name: "support-triage-router".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let lifecycle = g.governance.as_ref().unwrap().lifecycle.as_ref().unwrap();
    assert_eq!(lifecycle.state, "approved");
    assert_eq!(lifecycle.changed_by, "system:auto-approve");
    assert_eq!(g.approved_content_digest, g.content_digest);
    assert!(g
        .conditions
        .iter()
        .any(|c| c.r#type == "OwnerMissing" && c.status == "True"));
    // Other plugins' sources are not trusted.
    let skill = s
        .governance()
        .get_asset_governance(gpb::GetAssetGovernanceRequest {
            plugin: "skills".into(),
            kind: "Skill".into(),
            name: s.all_assets("skills", "").await[0]
                .metadata
                .as_ref()
                .unwrap()
                .name
                .clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(skill.governance.unwrap().lifecycle.unwrap().state, "draft");
    s.stop().await;
}

/// Held deprecate, archive and restore requests replay their own params
/// when approved (they once failed with INVALID_PARAMS because the request
/// stored setState's `state` param for every lifecycle action).
#[tokio::test]
async fn approved_archive_restore_and_deprecate_requests_run() {
    let s = TestServer::start_with(|dir| Options {
        sources: vec![copy_samples(dir)],
        extra_args: vec!["--approval-policies".into(), "builtin".into()],
        ..Default::default()
    })
    .await;
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
    let v1_id = data(&v1)["version"]["versionId"]
        .as_str()
        .unwrap()
        .to_string();
    // Each step is gated by the built-in policy and must run once approved.
    let steps = [
        (
            "lifecycle.archive",
            json!({"versionId": v1_id}),
            json!({"versionId": v1_id}),
        ),
        (
            "lifecycle.deprecate",
            json!({"versionId": v1_id}),
            json!({"versionId": v1_id}),
        ),
        ("lifecycle.archive", json!({}), json!({})),
        (
            "lifecycle.restore",
            json!({"targetState": "deprecated"}),
            json!({"targetState": "deprecated"}),
        ),
    ];
    for (action, p, stored) in steps {
        let pending = act(&s, &w.operator, name, action, p).await.unwrap();
        assert_eq!(pending.status, "pending-approval", "{action}");
        let done = approve(&s, &w.approver, &pending.approval_request_id)
            .await
            .unwrap();
        assert_eq!(
            Value::Object(from_struct(done.params.as_ref().unwrap())),
            stored,
            "{action}: the request keeps the action's own params"
        );
        let execution = done.execution.unwrap();
        assert_eq!(execution.status, "succeeded", "{action}: {execution:?}");
    }
    assert_eq!(state(&s, name).await, "deprecated");
    let version = s
        .governance()
        .get_version(gpb::GetVersionRequest {
            plugin: PLUGIN.into(),
            kind: KIND.into(),
            name: name.into(),
            version_id: v1_id,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(version.lifecycle.unwrap().state, "deprecated");
    s.stop().await;
}

/// Deprecating an asset that an approved asset depends on warns about the
/// dependent (03 §3.2), and approving an asset whose references are broken
/// goes ahead with a warning (01 §6.3).
#[tokio::test]
async fn deprecation_and_approval_warn_about_dependencies() {
    let s = TestServer::start_with(|dir| Options {
        sources: vec![copy_samples(dir)],
        extra_args: vec!["--approval-policies".into(), "builtin".into()],
        ..Default::default()
    })
    .await;
    let w = people(&s);
    // support-triage-router depends on billing-specialist (agentRef).
    approve_agent(&s, &w, "billing-specialist").await;
    approve_agent(&s, &w, "support-triage-router").await;
    let done = act(
        &s,
        &w.operator,
        "billing-specialist",
        "lifecycle.deprecate",
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(done.status, "completed");
    let codes: Vec<&str> = done.warnings.iter().map(|w| w.code.as_str()).collect();
    assert_eq!(codes, ["DEPENDENT_USES_DEPRECATED"]);
    assert!(
        done.warnings[0]
            .message
            .contains("agents/Agent/support-triage-router"),
        "{:?}",
        done.warnings
    );
    // Archive billing-specialist: the router's reference is now broken, and
    // re-approving the router (deprecate first) says so.
    let pending = act(
        &s,
        &w.operator,
        "billing-specialist",
        "lifecycle.archive",
        json!({}),
    )
    .await
    .unwrap();
    approve(&s, &w.approver, &pending.approval_request_id)
        .await
        .unwrap();
    assert_eq!(state(&s, "billing-specialist").await, "archived");
    act(
        &s,
        &w.operator,
        "support-triage-router",
        "lifecycle.deprecate",
        json!({}),
    )
    .await
    .unwrap();
    let held = act(
        &s,
        &w.operator,
        "support-triage-router",
        "lifecycle.setState",
        json!({"state": "approved"}),
    )
    .await
    .unwrap();
    assert_eq!(held.status, "pending-approval");
    let codes: Vec<&str> = held.warnings.iter().map(|w| w.code.as_str()).collect();
    assert_eq!(codes, ["BROKEN_REFERENCES"]);
    assert!(
        held.warnings[0]
            .message
            .contains("agents/Agent/billing-specialist (archived)"),
        "{:?}",
        held.warnings
    );
    s.stop().await;
}

/// A held promotion replays as a promotion of the version bound when it
/// was requested (its normalized params must parse as promotion.promote).
#[tokio::test]
async fn an_approved_promotion_runs_with_the_version_it_was_requested_for() {
    let s = server().await;
    let w = people(&s);
    let name = "docs-qa-assistant";
    approve_agent(&s, &w, name).await;
    act(
        &s,
        &w.operator,
        name,
        "version.create",
        json!({"version": "v1"}),
    )
    .await
    .unwrap();
    act(
        &s,
        &w.operator,
        name,
        "promotion.bind",
        json!({"environment": "stage", "versionId": "v1"}),
    )
    .await
    .unwrap();
    let pending = act(
        &s,
        &w.operator,
        name,
        "promotion.promote",
        json!({"toEnv": "prod", "fromEnv": "stage"}),
    )
    .await
    .unwrap();
    assert_eq!(pending.status, "pending-approval");
    approve(&s, &w.approver, &pending.approval_request_id)
        .await
        .unwrap();
    let done = approve(&s, &w.approver2, &pending.approval_request_id)
        .await
        .unwrap();
    let execution = done.execution.unwrap();
    assert_eq!(execution.status, "succeeded", "{:?}", execution.error);
    let prod = s
        .governance()
        .list_bindings(gpb::ListBindingsRequest {
            plugin: PLUGIN.into(),
            kind: KIND.into(),
            name: name.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .bindings
        .into_iter()
        .find(|b| b.environment == "prod")
        .unwrap();
    assert_eq!(prod.version, "v1");
    s.stop().await;
}
