//! LCY: every allowed transition succeeds (directly or through approval),
//! every forbidden one is refused with INVALID_TRANSITION, lifecycle
//! changes only through the lifecycle actions (the PATCH and the legacy
//! `deprecate` action), and archived assets leave the default lists.

use serde_json::json;

use super::{approve_if_held, ensure, ok, refused, Ctx, Fail, Outcome, Subject};
use crate::api::{error_metadata, AssetKey};
use crate::proto::pb;

pub async fn run(ctx: &Ctx, s: &Subject) {
    if s.governance().is_none() {
        for (id, title) in [
            ("LCY-01", "lifecycle"),
            ("LCY-02", "transitions"),
            ("LCY-03", "forbidden transitions"),
        ] {
            ctx.not_applicable(s, id, title, "governance not supported by this entity");
        }
        return;
    }
    ctx.run(
        s,
        "LCY-01",
        "a new asset is draft and status.lifecycle.phase mirrors it",
        lcy_01(ctx, s),
    )
    .await;
    ctx.run(
        s,
        "LCY-07",
        "a lifecycle action by a viewer is ROLE_REQUIRED",
        lcy_07(ctx, s),
    )
    .await;
    ctx.run(
        s,
        "LCY-04",
        "a PATCH naming lifecycle is LIFECYCLE_FIELD_READ_ONLY",
        lcy_04(ctx, s),
    )
    .await;
    ctx.run(
        s,
        "LCY-03",
        "forbidden transitions from draft are INVALID_TRANSITION and audited as denied",
        lcy_03(ctx, s),
    )
    .await;
}

/// Runs after the approvals area: walks asset 3 through every allowed
/// transition of the capabilities' table, then checks the archived state.
pub async fn run_walk(ctx: &Ctx, s: &Subject) {
    if s.governance().is_none() {
        return;
    }
    ctx.run(
        s,
        "LCY-02",
        "every allowed transition succeeds, directly or via approval",
        lcy_02(ctx, s),
    )
    .await;
    ctx.run(
        s,
        "LCY-03",
        "archived->approved is INVALID_TRANSITION",
        lcy_03_archived(ctx, s),
    )
    .await;
    ctx.run(
        s,
        "LCY-05",
        "an archived asset leaves default lists but stays readable",
        lcy_05(ctx, s),
    )
    .await;
    ctx.run(
        s,
        "LCY-04",
        "legacy deprecate: phase=archived is LIFECYCLE_FIELD_READ_ONLY; on an approved asset it deprecates",
        lcy_04_legacy(ctx, s),
    )
    .await;
}

async fn lcy_01(ctx: &Ctx, s: &Subject) -> Outcome {
    for i in 0..3 {
        let key = s.asset(i);
        let state = ok(
            ctx.api.state_of(&ctx.ids.viewer, &key).await,
            "GetAssetGovernance",
        )?;
        ensure!(
            state == "draft",
            "{} starts as {state:?}; expected draft",
            key.name
        );
        let asset = ok(ctx.api.get_asset(&ctx.ids.viewer, &key).await, "GetAsset")?;
        let phase = asset
            .status
            .and_then(|st| st.lifecycle)
            .map(|l| l.phase)
            .unwrap_or_default();
        ensure!(
            phase.eq_ignore_ascii_case(&state),
            "{}: status.lifecycle.phase is {phase:?} while the governance state is {state:?}",
            key.name
        );
    }
    Ok(())
}

async fn lcy_07(ctx: &Ctx, s: &Subject) -> Outcome {
    let result = ctx
        .api
        .act(
            &ctx.ids.viewer,
            &s.asset(0),
            "lifecycle.setState",
            json!({"state": "approved"}),
            false,
        )
        .await;
    refused(result, "ROLE_REQUIRED", "lifecycle.setState by a viewer")?;
    Ok(())
}

async fn lcy_04(ctx: &Ctx, s: &Subject) -> Outcome {
    let metadata = pb::GovernanceMetadata {
        lifecycle: Some(pb::LifecycleInfo {
            state: "approved".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let result = ctx
        .api
        .update_governance(&ctx.ids.operator, &s.asset(0), metadata)
        .await;
    refused(
        result,
        "LIFECYCLE_FIELD_READ_ONLY",
        "a PATCH with lifecycle",
    )?;
    let state = ok(
        ctx.api.state_of(&ctx.ids.viewer, &s.asset(0)).await,
        "GetAssetGovernance",
    )?;
    ensure!(
        state == "draft",
        "the refused PATCH changed the state to {state:?}"
    );
    Ok(())
}

/// The legacy `deprecate` asset action (01 §7.4) on the restricted fixture
/// asset, which APR-04 left approved and bound (it is approved here when
/// APR-04 did not run); nothing after this check needs it approved. A phase
/// other than deprecated is refused and changes nothing, and without one
/// it deprecates like lifecycle.deprecate (through approval when gated).
async fn lcy_04_legacy(ctx: &Ctx, s: &Subject) -> Outcome {
    let key = s.asset(1);
    let state = ok(
        ctx.api.state_of(&ctx.ids.viewer, &key).await,
        "GetAssetGovernance",
    )?;
    if state != "approved" {
        transition(ctx, &key, "approved").await?;
    }
    let result = ctx
        .api
        .act_legacy(
            &ctx.ids.operator,
            &key,
            "deprecate",
            json!({"phase": "archived"}),
        )
        .await;
    refused(
        result,
        "LIFECYCLE_FIELD_READ_ONLY",
        "legacy deprecate with phase=archived",
    )?;
    let state = ok(
        ctx.api.state_of(&ctx.ids.viewer, &key).await,
        "GetAssetGovernance",
    )?;
    ensure!(
        state == "approved",
        "the refused legacy deprecate left {} {state:?}",
        key.name
    );
    let result = ok(
        ctx.api
            .act_legacy(
                &ctx.ids.operator,
                &key,
                "deprecate",
                json!({"reason": format!("conformance {}", ctx.run_id)}),
            )
            .await,
        "legacy deprecate of an approved asset",
    )?;
    approve_if_held(ctx, &key, &result, "approving the legacy deprecate").await?;
    let state = ok(
        ctx.api.state_of(&ctx.ids.viewer, &key).await,
        "GetAssetGovernance",
    )?;
    ensure!(
        state == "deprecated",
        "{} is {state:?} after the legacy deprecate; expected deprecated",
        key.name
    );
    Ok(())
}

/// Expects `to` from the current state to be refused with its metadata
/// and one `denied` audit event.
async fn expect_invalid(ctx: &Ctx, key: &AssetKey, from: &str, to: &str) -> Outcome {
    let result = ctx
        .api
        .act(
            &ctx.ids.operator,
            key,
            "lifecycle.setState",
            json!({"state": to}),
            false,
        )
        .await;
    let status = refused(
        result,
        "INVALID_TRANSITION",
        &format!("{from}->{to} on {}", key.name),
    )?;
    let metadata = error_metadata(&status);
    ensure!(
        metadata.get("from").map(String::as_str) == Some(from),
        "{from}->{to}: metadata.from is {:?}",
        metadata.get("from")
    );
    ensure!(
        metadata.get("to").map(String::as_str) == Some(to),
        "{from}->{to}: metadata.to is {:?}",
        metadata.get("to")
    );
    ensure!(
        metadata.contains_key("allowedTargets"),
        "{from}->{to}: metadata has no allowedTargets ({metadata:?})"
    );
    let correlation = metadata.get("correlationId").cloned().unwrap_or_default();
    let events = ok(
        ctx.api
            .events_by_correlation(&ctx.ids.viewer, &correlation)
            .await,
        "ListAuditEvents",
    )?;
    let denied = events
        .iter()
        .filter(|e| e.outcome == "denied" && e.name == key.name)
        .count();
    ensure!(denied == 1, "{from}->{to} (correlationId {correlation}) left {denied} denied audit events; expected 1 (events: {:?})", events.iter().map(|e| (&e.action, &e.outcome)).collect::<Vec<_>>());
    Ok(())
}

async fn lcy_03(ctx: &Ctx, s: &Subject) -> Outcome {
    let key = s.asset(0);
    for to in ["deprecated", "archived", "draft"] {
        expect_invalid(ctx, &key, "draft", to).await?;
    }
    Ok(())
}

/// Moves an asset to `to` with lifecycle.setState, approving with
/// approver1 when a gate holds it; checks the state after.
pub async fn transition(ctx: &Ctx, key: &AssetKey, to: &str) -> Outcome {
    let result = ok(
        ctx.api
            .act(
                &ctx.ids.operator,
                key,
                "lifecycle.setState",
                json!({"state": to}),
                false,
            )
            .await,
        &format!("setState {to} on {}", key.name),
    )?;
    if result.status == "pending-approval" {
        let decided = ok(
            ctx.api
                .approve(&ctx.ids.approver1, key, &result.approval_request_id)
                .await,
            "approving the transition",
        )?;
        ensure!(
            decided.status == "approved",
            "request {} is {:?} after approver1 approved; expected approved",
            decided.request_id,
            decided.status
        );
        let execution = decided.execution.unwrap_or_default();
        ensure!(
            execution.status == "succeeded",
            "request {} executed with {:?}: {:?}",
            decided.request_id,
            execution.status,
            execution.error
        );
    }
    let state = ok(
        ctx.api.state_of(&ctx.ids.viewer, key).await,
        "GetAssetGovernance",
    )?;
    ensure!(
        state == to,
        "{} is {state:?} after the transition to {to}",
        key.name
    );
    Ok(())
}

/// A path through every allowed transition of the table, from `start`.
pub fn walk(transitions: &[pb::LifecycleTransition], start: &str) -> Vec<(String, String)> {
    let allowed: Vec<(String, String)> = transitions
        .iter()
        .filter(|t| t.allowed && t.from != t.to)
        .map(|t| (t.from.clone(), t.to.clone()))
        .collect();
    // Greedy: from the current state take an unvisited edge; otherwise the
    // shortest hop towards a state with one.
    let mut path = Vec::new();
    let mut left = allowed.clone();
    let mut at = start.to_string();
    for _ in 0..64 {
        if left.is_empty() {
            break;
        }
        if let Some(pos) = left.iter().position(|(f, _)| *f == at) {
            let edge = left.remove(pos);
            at = edge.1.clone();
            path.push(edge);
            continue;
        }
        let Some(step) = allowed
            .iter()
            .find(|(f, t)| *f == at && left.iter().any(|(lf, _)| lf == t))
            .or_else(|| allowed.iter().find(|(f, _)| *f == at))
        else {
            break;
        };
        at = step.1.clone();
        path.push(step.clone());
    }
    path
}

async fn lcy_02(ctx: &Ctx, s: &Subject) -> Outcome {
    let key = s.asset(2);
    let transitions = s
        .governance()
        .and_then(|g| g.lifecycle.clone())
        .unwrap_or_default()
        .transitions;
    let path = walk(&transitions, "draft");
    ensure!(
        !path.is_empty(),
        "the capabilities list no allowed transition"
    );
    let state = ok(
        ctx.api.state_of(&ctx.ids.viewer, &key).await,
        "GetAssetGovernance",
    )?;
    ensure!(
        state == "draft",
        "{} should be draft before the walk, is {state:?}",
        key.name
    );
    for (from, to) in &path {
        transition(ctx, &key, to).await.map_err(|e| match e {
            Fail::Fail(why) => Fail::Fail(format!("{from}->{to}: {why}")),
            other => other,
        })?;
    }
    // End archived, for the checks after.
    let state = ok(
        ctx.api.state_of(&ctx.ids.viewer, &key).await,
        "GetAssetGovernance",
    )?;
    if state != "archived" {
        let to_archive = walk_to(&transitions, &state, "archived");
        for to in to_archive {
            transition(ctx, &key, &to).await?;
        }
    }
    Ok(())
}

/// The states to pass through from `from` to `target` (breadth first).
fn walk_to(transitions: &[pb::LifecycleTransition], from: &str, target: &str) -> Vec<String> {
    let mut queue = std::collections::VecDeque::from([(from.to_string(), Vec::<String>::new())]);
    let mut seen = vec![from.to_string()];
    while let Some((at, path)) = queue.pop_front() {
        if at == target {
            return path;
        }
        for t in transitions.iter().filter(|t| t.allowed && t.from == at) {
            if !seen.contains(&t.to) {
                seen.push(t.to.clone());
                let mut next = path.clone();
                next.push(t.to.clone());
                queue.push_back((t.to.clone(), next));
            }
        }
    }
    Vec::new()
}

async fn lcy_03_archived(ctx: &Ctx, s: &Subject) -> Outcome {
    let key = s.asset(2);
    let state = ok(
        ctx.api.state_of(&ctx.ids.viewer, &key).await,
        "GetAssetGovernance",
    )?;
    ensure!(
        state == "archived",
        "{} should be archived after the walk, is {state:?}",
        key.name
    );
    expect_invalid(ctx, &key, "archived", "approved").await
}

async fn lcy_05(ctx: &Ctx, s: &Subject) -> Outcome {
    let archived = s.names[2].clone();
    let default: Vec<String> = ok(
        ctx.api.list_all(&ctx.ids.viewer, s.list()).await,
        "ListAssets",
    )?
    .into_iter()
    .filter_map(|i| i.metadata.map(|m| m.name))
    .collect();
    ensure!(
        !default.contains(&archived),
        "archived {archived} is in the default list {default:?}"
    );
    let with = pb::ListAssetsRequest {
        include_archived: true,
        ..s.list()
    };
    let all: Vec<String> = ok(
        ctx.api.list_all(&ctx.ids.viewer, with).await,
        "ListAssets includeArchived",
    )?
    .into_iter()
    .filter_map(|i| i.metadata.map(|m| m.name))
    .collect();
    ensure!(
        all.contains(&archived),
        "includeArchived=true does not list {archived}: {all:?}"
    );
    ok(
        ctx.api.get_asset(&ctx.ids.viewer, &s.asset(2)).await,
        "GET of the archived asset",
    )?;
    Ok(())
}
