//! APR: gates hold actions until the right approvers decide; refusals,
//! rejection, cancellation, expiry, de-duplication, deny rules and dry runs.

use std::time::Duration;

use serde_json::json;

use super::lifecycle::transition;
use super::{ensure, ok, refused, Ctx, Fail, Outcome, Subject};
use crate::api::{error_metadata, from_struct, AssetKey};
use crate::proto::{gpb, pb};

pub async fn run(ctx: &Ctx, s: &Subject) {
    if s.governance().is_none() {
        ctx.not_applicable(
            s,
            "APR-01",
            "approvals",
            "governance not supported by this entity",
        );
        return;
    }
    ctx.run(
        s,
        "APR-01",
        "approval without an owner is OWNER_REQUIRED and creates no request",
        apr_01(ctx, s),
    )
    .await;
    ctx.run(
        s,
        "FIX-01",
        "owners set on the fixture assets",
        set_owners(ctx, s),
    )
    .await;
    ctx.run(
        s,
        "APR-10",
        "a dry run reports would-require-approval with no side effect",
        apr_10(ctx, s),
    )
    .await;
    let held = std::sync::Mutex::new(String::new());
    ctx.run(
        s,
        "APR-02",
        "a gated approval answers pending-approval and waits for an approver",
        apr_02(ctx, s, &held),
    )
    .await;
    ctx.run(
        s,
        "APR-08",
        "an identical pending request is reused",
        apr_08(ctx, s, &held),
    )
    .await;
    ctx.run(
        s,
        "APR-03",
        "the requester and a viewer cannot approve",
        apr_03(ctx, s, &held),
    )
    .await;
    ctx.run(
        s,
        "FIX-02",
        "an approver's decision runs the held approval",
        approve_held(ctx, s, &held),
    )
    .await;
    ctx.run(
        s,
        "APR-05",
        "a rejected request does not run",
        apr_05(ctx, s),
    )
    .await;
    ctx.run(
        s,
        "APR-06",
        "a cancelled request takes no more decisions",
        apr_06(ctx, s),
    )
    .await;
    if ctx.quick {
        ctx.not_applicable(s, "APR-07", "an unanswered request expires", "--quick");
    } else if !ctx.policy_matches {
        ctx.not_applicable(
            s,
            "APR-07",
            "an unanswered request expires",
            "the server runs another approval policy",
        );
    } else {
        ctx.run(
            s,
            "APR-07",
            "an unanswered request expires and takes no decision",
            apr_07(ctx, s),
        )
        .await;
    }
    if ctx.policy_matches && s.versioning() {
        ctx.run(
            s,
            "APR-04",
            "the label gate for prod needs two distinct approvers",
            apr_04(ctx, s),
        )
        .await;
    } else {
        ctx.not_applicable(
            s,
            "APR-04",
            "the label gate for prod",
            "needs versioning and the suite's approval policy",
        );
    }
}

/// After the lifecycle walk left asset 3 archived.
pub async fn run_after_walk(ctx: &Ctx, s: &Subject) {
    if s.governance().is_none() || !s.versioning() {
        return;
    }
    ctx.run(
        s,
        "APR-09",
        "binding an archived asset is POLICY_DENIED with the rule",
        apr_09(ctx, s),
    )
    .await;
}

async fn pending_for(ctx: &Ctx, key: &AssetKey) -> Result<Vec<gpb::ApprovalRequest>, Fail> {
    Ok(ok(
        ctx.api
            .approvals()
            .list_approvals(ctx.api.req(
                &ctx.ids.viewer,
                gpb::ListApprovalsRequest {
                    status: vec!["pending".into()],
                    plugin: key.plugin.clone(),
                    kind: key.kind.clone(),
                    name: key.name.clone(),
                    page_size: 100,
                    ..Default::default()
                },
            ))
            .await,
        "ListApprovals",
    )?
    .into_inner()
    .approvals)
}

async fn apr_01(ctx: &Ctx, s: &Subject) -> Outcome {
    let key = s.asset(0);
    let result = ctx
        .api
        .act(
            &ctx.ids.operator,
            &key,
            "lifecycle.setState",
            json!({"state": "approved"}),
            false,
        )
        .await;
    let status = refused(result, "OWNER_REQUIRED", "approving an asset with no owner")?;
    ensure!(
        error_metadata(&status).contains_key("remediation"),
        "OWNER_REQUIRED carries no remediation metadata"
    );
    let pending = pending_for(ctx, &key).await?;
    ensure!(
        pending.is_empty(),
        "the refused approval left {} pending requests",
        pending.len()
    );
    Ok(())
}

async fn set_owners(ctx: &Ctx, s: &Subject) -> Outcome {
    let broken = s.broken.clone().map(|name| AssetKey { name, ..s.asset(0) });
    for key in (0..3).map(|i| s.asset(i)).chain(broken) {
        let metadata = pb::GovernanceMetadata {
            owner: Some(pb::Owner {
                principal: "ct-owner".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        ok(
            ctx.api
                .update_governance(&ctx.ids.operator, &key, metadata)
                .await,
            "setting the owner",
        )?;
    }
    Ok(())
}

async fn apr_10(ctx: &Ctx, s: &Subject) -> Outcome {
    let key = s.asset(0);
    let result = ok(
        ctx.api
            .act(
                &ctx.ids.operator,
                &key,
                "lifecycle.setState",
                json!({"state": "approved"}),
                true,
            )
            .await,
        "dry run",
    )?;
    let outcome = result
        .plan
        .as_ref()
        .map(|p| p.outcome.clone())
        .unwrap_or_default();
    ensure!(
        outcome == "would-require-approval",
        "the dry run planned {outcome:?}; expected would-require-approval"
    );
    ensure!(
        result.approval_request_id.is_empty(),
        "the dry run created request {}",
        result.approval_request_id
    );
    ensure!(
        pending_for(ctx, &key).await?.is_empty(),
        "the dry run left a pending request"
    );
    let state = ok(
        ctx.api.state_of(&ctx.ids.viewer, &key).await,
        "GetAssetGovernance",
    )?;
    ensure!(
        state == "draft",
        "the dry run changed the state to {state:?}"
    );
    Ok(())
}

async fn apr_02(ctx: &Ctx, s: &Subject, held: &std::sync::Mutex<String>) -> Outcome {
    let key = s.asset(0);
    let first = ok(
        ctx.api
            .act(
                &ctx.ids.operator,
                &key,
                "lifecycle.setState",
                json!({"state": "approved"}),
                false,
            )
            .await,
        "setState approved",
    )?;
    ensure!(
        first.status == "pending-approval" && !first.approval_request_id.is_empty(),
        "setState approved answered {:?} with request {:?}; expected pending-approval and an id",
        first.status,
        first.approval_request_id
    );
    *held.lock().expect("held request") = first.approval_request_id.clone();
    let state = ok(
        ctx.api.state_of(&ctx.ids.viewer, &key).await,
        "GetAssetGovernance",
    )?;
    ensure!(
        state == "draft",
        "the state changed to {state:?} before any approval"
    );
    let request = ok(
        ctx.api
            .approvals()
            .get_approval(ctx.api.req(
                &ctx.ids.viewer,
                gpb::GetApprovalRequest {
                    request_id: first.approval_request_id.clone(),
                },
            ))
            .await,
        "GetApproval",
    )?
    .into_inner();
    ensure!(
        request.status == "pending",
        "request {} is {:?}; expected pending",
        request.request_id,
        request.status
    );
    if ctx.policy_matches {
        let rules: Vec<&str> = request
            .requirements
            .iter()
            .map(|r| r.rule.as_str())
            .collect();
        let kind_gate = rules.contains(&"conformance-agent-kind");
        ensure!(
            kind_gate == (s.kind() == "Agent"),
            "requirements name rules {rules:?}; the kind gate applies to Agent only"
        );
    }
    Ok(())
}

fn held_id(held: &std::sync::Mutex<String>) -> Result<String, Fail> {
    let id = held.lock().expect("held request").clone();
    if id.is_empty() {
        return Err(Fail::Fail("no request is held (APR-02 failed)".into()));
    }
    Ok(id)
}

async fn apr_08(ctx: &Ctx, s: &Subject, held: &std::sync::Mutex<String>) -> Outcome {
    let id = held_id(held)?;
    let again = ok(
        ctx.api
            .act(
                &ctx.ids.operator,
                &s.asset(0),
                "lifecycle.setState",
                json!({"state": "approved"}),
                false,
            )
            .await,
        "setState approved again",
    )?;
    ensure!(
        again.approval_request_id == id,
        "an identical request got id {:?}; the pending one is {id}",
        again.approval_request_id
    );
    Ok(())
}

async fn apr_03(ctx: &Ctx, s: &Subject, held: &std::sync::Mutex<String>) -> Outcome {
    let id = held_id(held)?;
    let key = s.asset(0);
    refused(
        ctx.api.approve(&ctx.ids.operator, &key, &id).await,
        "SELF_APPROVAL_FORBIDDEN",
        "the requester approving their own request",
    )?;
    refused(
        ctx.api.approve(&ctx.ids.viewer, &key, &id).await,
        "APPROVER_ROLE_REQUIRED",
        "a viewer approving",
    )?;
    let state = ok(
        ctx.api.state_of(&ctx.ids.viewer, &key).await,
        "GetAssetGovernance",
    )?;
    ensure!(
        state == "draft",
        "after refused decisions the asset is {state:?}"
    );
    Ok(())
}

async fn approve_held(ctx: &Ctx, s: &Subject, held: &std::sync::Mutex<String>) -> Outcome {
    let id = held_id(held)?;
    let key = s.asset(0);
    if ok(
        ctx.api.state_of(&ctx.ids.viewer, &key).await,
        "GetAssetGovernance",
    )? == "approved"
    {
        return Err(Fail::Fail(format!(
            "{} is approved already, before any qualifying approver decided",
            key.name
        )));
    }
    let decided = ok(
        ctx.api.approve(&ctx.ids.approver1, &key, &id).await,
        "approver1 approving",
    )?;
    ensure!(
        decided.status == "approved",
        "after approver1 the request is {:?}",
        decided.status
    );
    let execution = decided.execution.unwrap_or_default();
    ensure!(
        execution.status == "succeeded",
        "the approved action ran with {:?}: {:?}",
        execution.status,
        execution.error
    );
    let state = ok(
        ctx.api.state_of(&ctx.ids.viewer, &key).await,
        "GetAssetGovernance",
    )?;
    ensure!(state == "approved", "after approval the asset is {state:?}");
    Ok(())
}

async fn history_has(
    ctx: &Ctx,
    key: &AssetKey,
    action: &str,
    request_id: &str,
) -> Result<bool, Fail> {
    let events = ok(
        ctx.api
            .governance()
            .list_asset_history(ctx.api.req(
                &ctx.ids.viewer,
                gpb::ListAssetHistoryRequest {
                    plugin: key.plugin.clone(),
                    kind: key.kind.clone(),
                    name: key.name.clone(),
                    action: vec![action.into()],
                    page_size: 500,
                    ..Default::default()
                },
            ))
            .await,
        "ListAssetHistory",
    )?
    .into_inner()
    .events;
    Ok(events.iter().any(|e| e.approval_request_id == request_id))
}

async fn apr_05(ctx: &Ctx, s: &Subject) -> Outcome {
    let key = s.asset(2);
    let pending = request_approval(ctx, &key).await?;
    let rejected = ok(
        ctx.api
            .reject(&ctx.ids.approver1, &key, &pending.approval_request_id)
            .await,
        "approver1 rejecting",
    )?;
    ensure!(
        rejected.status == "rejected",
        "after a rejection the request is {:?}",
        rejected.status
    );
    ensure!(
        rejected
            .execution
            .as_ref()
            .is_none_or(|e| e.status.is_empty() || e.status == "not-run"),
        "the rejected action ran: {:?}",
        rejected.execution
    );
    let state = ok(
        ctx.api.state_of(&ctx.ids.viewer, &key).await,
        "GetAssetGovernance",
    )?;
    ensure!(state == "draft", "after a rejection the asset is {state:?}");
    ensure!(
        history_has(ctx, &key, "approval.reject", &pending.approval_request_id).await?,
        "the history has no approval.reject for {}",
        pending.approval_request_id
    );
    Ok(())
}

async fn apr_06(ctx: &Ctx, s: &Subject) -> Outcome {
    let key = s.asset(2);
    let pending = request_approval(ctx, &key).await?;
    let cancelled = ok(
        ctx.api
            .cancel(&ctx.ids.operator, &key, &pending.approval_request_id)
            .await,
        "the requester cancelling",
    )?;
    ensure!(
        cancelled.status == "cancelled",
        "after cancel the request is {:?}",
        cancelled.status
    );
    refused(
        ctx.api
            .approve(&ctx.ids.approver1, &key, &pending.approval_request_id)
            .await,
        "APPROVAL_NOT_PENDING",
        "approving a cancelled request",
    )?;
    Ok(())
}

async fn apr_07(ctx: &Ctx, s: &Subject) -> Outcome {
    let key = s.asset(2);
    let pending = ok(
        bind(
            ctx,
            &key,
            json!({"environment": "dev", "versionId": "@latest"}),
        )
        .await,
        "bind dev (expiry rule)",
    )?;
    ensure!(pending.status == "pending-approval", "bind dev on an expiry-labelled asset answered {:?}; expected pending-approval (rule conformance-expiry)", pending.status);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let request = ok(
        ctx.api
            .approvals()
            .get_approval(ctx.api.req(
                &ctx.ids.viewer,
                gpb::GetApprovalRequest {
                    request_id: pending.approval_request_id.clone(),
                },
            ))
            .await,
        "GetApproval",
    )?
    .into_inner();
    ensure!(
        request.status == "expired",
        "5 s after a 3.6 s expiry the request is {:?}",
        request.status
    );
    refused(
        ctx.api
            .approve(&ctx.ids.approver1, &key, &pending.approval_request_id)
            .await,
        "APPROVAL_NOT_PENDING",
        "approving an expired request",
    )?;
    let events = ok(
        ctx.api
            .audit()
            .list_audit_events(ctx.api.req(
                &ctx.ids.viewer,
                gpb::ListAuditEventsRequest {
                    approval_request_id: pending.approval_request_id.clone(),
                    page_size: 100,
                    ..Default::default()
                },
            ))
            .await,
        "ListAuditEvents",
    )?
    .into_inner()
    .events;
    let expired = events
        .iter()
        .filter(|e| e.action == "approval.expire")
        .count();
    ensure!(
        expired == 1,
        "{expired} approval.expire events for {}; expected 1",
        pending.approval_request_id
    );
    Ok(())
}

/// Binds a version of `key` as the operator (`params`: environment,
/// versionId and any flags).
pub async fn bind(
    ctx: &Ctx,
    key: &AssetKey,
    params: serde_json::Value,
) -> Result<pb::ActionResult, tonic::Status> {
    ctx.api
        .act(&ctx.ids.operator, key, "promotion.bind", params, false)
        .await
}

/// Asks, as the operator, to approve `key`; the gates must hold it.
async fn request_approval(ctx: &Ctx, key: &AssetKey) -> Result<pb::ActionResult, Fail> {
    let pending = ok(
        ctx.api
            .act(
                &ctx.ids.operator,
                key,
                "lifecycle.setState",
                json!({"state": "approved"}),
                false,
            )
            .await,
        "setState approved",
    )?;
    ensure!(
        pending.status == "pending-approval",
        "setState approved answered {:?}",
        pending.status
    );
    Ok(pending)
}

/// Creates a version labelled for this run and returns its id.
pub async fn create_version(ctx: &Ctx, key: &AssetKey, label: &str) -> Result<String, Fail> {
    let created = ok(
        ctx.api
            .act(
                &ctx.ids.operator,
                key,
                "version.create",
                json!({"version": label}),
                false,
            )
            .await,
        &format!("version.create {label}"),
    )?;
    let data = created.data.as_ref().map(from_struct).unwrap_or_default();
    data["version"]["versionId"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| {
            Fail::Fail(format!(
                "version.create {label} returned no data.version.versionId: {data}"
            ))
        })
}

/// The asset's binding rows, one per configured environment.
pub async fn bindings(ctx: &Ctx, key: &AssetKey) -> Result<gpb::ListBindingsResponse, Fail> {
    let request = gpb::ListBindingsRequest {
        plugin: key.plugin.clone(),
        kind: key.kind.clone(),
        name: key.name.clone(),
        ..Default::default()
    };
    let response = ctx
        .api
        .governance()
        .list_bindings(ctx.api.req(&ctx.ids.viewer, request))
        .await;
    Ok(ok(response, "ListBindings")?.into_inner())
}

/// The version bound to `env`, if any.
pub async fn bound(ctx: &Ctx, key: &AssetKey, env: &str) -> Result<Option<String>, Fail> {
    let bindings = bindings(ctx, key).await?;
    Ok(bindings
        .bindings
        .into_iter()
        .find(|b| b.environment == env)
        .map(|b| b.version_id)
        .filter(|v| !v.is_empty()))
}

async fn apr_04(ctx: &Ctx, s: &Subject) -> Outcome {
    let key = s.asset(1);
    transition(ctx, &key, "approved").await?;
    let label = format!("ct-{}", ctx.run_id);
    let version = create_version(ctx, &key, &label).await?;
    for env in ["dev", "stage"] {
        let r = ok(
            bind(ctx, &key, json!({"environment": env, "versionId": version})).await,
            &format!("bind {env}"),
        )?;
        ensure!(
            r.status != "pending-approval",
            "bind {env} was gated; only prod is"
        );
    }
    let pending = ok(
        bind(
            ctx,
            &key,
            json!({"environment": "prod", "versionId": version}),
        )
        .await,
        "bind prod",
    )?;
    ensure!(
        pending.status == "pending-approval",
        "bind prod of a restricted asset answered {:?}; expected pending-approval",
        pending.status
    );
    let id = pending.approval_request_id.clone();
    let one = ok(
        ctx.api.approve(&ctx.ids.approver1, &key, &id).await,
        "approver1 approving",
    )?;
    ensure!(
        one.status == "pending",
        "after one of two approvals the request is {:?}",
        one.status
    );
    refused(
        ctx.api.approve(&ctx.ids.approver1, &key, &id).await,
        "DUPLICATE_DECISION",
        "approver1 deciding twice",
    )?;
    ensure!(
        bound(ctx, &key, "prod").await?.is_none(),
        "prod was bound before the second approval"
    );
    let two = ok(
        ctx.api.approve(&ctx.ids.approver2, &key, &id).await,
        "approver2 approving",
    )?;
    ensure!(
        two.status == "approved",
        "after two approvals the request is {:?}",
        two.status
    );
    let execution = two.execution.unwrap_or_default();
    ensure!(
        execution.status == "succeeded",
        "the approved bind ran with {:?}: {:?}",
        execution.status,
        execution.error
    );
    let prod = bound(ctx, &key, "prod").await?;
    ensure!(
        prod.as_deref() == Some(version.as_str()),
        "prod is bound to {prod:?}; expected {version}"
    );
    Ok(())
}

async fn apr_09(ctx: &Ctx, s: &Subject) -> Outcome {
    let key = s.asset(2);
    let result = bind(
        ctx,
        &key,
        json!({"environment": "dev", "versionId": "@latest"}),
    )
    .await;
    let status = refused(
        result,
        "POLICY_DENIED",
        "binding a version of an archived asset",
    )?;
    let metadata = error_metadata(&status);
    if ctx.policy_matches {
        let rule = metadata
            .get("rule")
            .or_else(|| metadata.get("policyRule"))
            .cloned()
            .unwrap_or_default();
        ensure!(rule == "conformance-no-archived-bind", "POLICY_DENIED names rule {rule:?}; expected conformance-no-archived-bind ({metadata:?})");
    }
    Ok(())
}
