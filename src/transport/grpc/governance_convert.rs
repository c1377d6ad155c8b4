//! Shape changes between the governance service's values and the
//! catalog.governance.v1alpha1 messages, and between governance metadata
//! JSON (the domain's camelCase document) and its typed proto form.

use prost_types::FieldMask;
use serde_json::{json, Map, Value};

use super::convert::{from_struct, timestamp, to_pb_value, to_struct, value_to_struct};
use crate::domain::audit::AuditEvent;
use crate::governance::actions::ActionOutcome;
use crate::governance::approvals::{requirement_progress, RequestDetail};
use crate::governance::reads::{BindingView, GovernanceView, VersionView};
use crate::proto::catalog::governance::v1alpha1 as gpb;
use crate::proto::catalog::v1alpha1 as pb;

fn ts(text: &str) -> Option<prost_types::Timestamp> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| timestamp(t.with_timezone(&chrono::Utc)))
}

fn opt_ts(text: &Option<String>) -> Option<prost_types::Timestamp> {
    text.as_deref().and_then(ts)
}

fn s(v: &Value, path: &str) -> String {
    v.pointer(path)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn list(v: &Value, path: &str) -> Vec<String> {
    v.pointer(path)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn int(v: &Value, path: &str) -> Option<i32> {
    v.pointer(path).and_then(Value::as_i64).map(|n| n as i32)
}

/// Lifecycle JSON to its message.
pub fn lifecycle(v: &Value) -> pb::LifecycleInfo {
    pb::LifecycleInfo {
        state: s(v, "/state"),
        reason: s(v, "/reason"),
        changed_by: s(v, "/changedBy"),
        changed_at: v.get("changedAt").and_then(Value::as_str).and_then(ts),
        previous_state: s(v, "/previousState"),
        replacement_ref: v
            .get("replacementRef")
            .filter(|r| r.is_object())
            .map(value_to_struct),
        approval_request_id: s(v, "/approvalRequestId"),
    }
}

/// The governance JSON document (with lifecycle) to its message.
pub fn metadata(g: &Value) -> pb::GovernanceMetadata {
    let has = |key: &str| g.get(key).is_some_and(|v| !v.is_null());
    pb::GovernanceMetadata {
        owner: has("owner").then(|| pb::Owner {
            principal: s(g, "/owner/principal"),
            display_name: s(g, "/owner/displayName"),
            email: s(g, "/owner/email"),
        }),
        team: has("team").then(|| pb::Team {
            name: s(g, "/team/name"),
            id: s(g, "/team/id"),
        }),
        sla: has("sla").then(|| pb::Sla {
            tier: s(g, "/sla/tier"),
            response_hours: int(g, "/sla/responseHours"),
        }),
        risk: has("risk").then(|| pb::Risk {
            level: s(g, "/risk/level"),
            categories: list(g, "/risk/categories"),
        }),
        intended_use: has("intendedUse").then(|| pb::IntendedUse {
            summary: s(g, "/intendedUse/summary"),
            environments: list(g, "/intendedUse/environments"),
            restrictions: list(g, "/intendedUse/restrictions"),
        }),
        compliance: has("compliance").then(|| pb::Compliance {
            tags: list(g, "/compliance/tags"),
            controls: list(g, "/compliance/controls"),
        }),
        lifecycle: g.get("lifecycle").map(lifecycle),
        audit: has("audit").then(|| pb::Review {
            last_reviewed_at: g
                .pointer("/audit/lastReviewedAt")
                .and_then(Value::as_str)
                .and_then(ts),
            review_cadence_days: int(g, "/audit/reviewCadenceDays"),
            next_review_due_at: g
                .pointer("/audit/nextReviewDueAt")
                .and_then(Value::as_str)
                .and_then(ts),
            review_overdue: g
                .pointer("/audit/reviewOverdue")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }),
        extensions: g
            .get("extensions")
            .and_then(Value::as_object)
            .filter(|m| !m.is_empty())
            .map(to_struct),
        resource_version: s(g, "/resourceVersion").parse().unwrap_or_default(),
        updated_at: g.get("updatedAt").and_then(Value::as_str).and_then(ts),
        updated_by: s(g, "/updatedBy"),
    }
}

/// A typed governance patch to JSON merge-patch form. With a mask, each
/// masked path takes the message's value there, or null (clear) when the
/// message leaves it unset; without one, every set field is patched.
pub fn patch(g: Option<&pb::GovernanceMetadata>, mask: Option<&FieldMask>) -> Value {
    let full = g.map(metadata_to_json).unwrap_or_else(|| json!({}));
    let paths: Vec<&String> = mask.map(|m| m.paths.iter().collect()).unwrap_or_default();
    if paths.is_empty() {
        return full;
    }
    let mut out = Value::Object(Map::new());
    for path in paths {
        let camel: Vec<String> = path.split('.').map(lower_camel).collect();
        let pointer = format!("/{}", camel.join("/"));
        let value = full.pointer(&pointer).cloned().unwrap_or(Value::Null);
        insert_path(&mut out, &camel, value);
    }
    out
}

/// Sets `value` at `path` inside nested objects, creating them.
fn insert_path(node: &mut Value, path: &[String], value: Value) {
    if !node.is_object() {
        *node = json!({});
    }
    let map = node.as_object_mut().expect("made an object above");
    match path {
        [] => {}
        [last] => {
            map.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let child = map.entry(first.clone()).or_insert_with(|| json!({}));
            insert_path(child, rest, value);
        }
    }
}

fn lower_camel(part: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in part.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The set fields of a typed governance message as JSON.
fn metadata_to_json(g: &pb::GovernanceMetadata) -> Value {
    let mut out = Map::new();
    let mut put = |key: &str, obj: Map<String, Value>| {
        out.insert(key.to_string(), Value::Object(obj));
    };
    let text = |m: &mut Map<String, Value>, k: &str, v: &str| {
        if !v.is_empty() {
            m.insert(k.into(), json!(v));
        }
    };
    if let Some(o) = &g.owner {
        let mut m = Map::new();
        text(&mut m, "principal", &o.principal);
        text(&mut m, "displayName", &o.display_name);
        text(&mut m, "email", &o.email);
        put("owner", m);
    }
    if let Some(t) = &g.team {
        let mut m = Map::new();
        text(&mut m, "name", &t.name);
        text(&mut m, "id", &t.id);
        put("team", m);
    }
    if let Some(x) = &g.sla {
        let mut m = Map::new();
        text(&mut m, "tier", &x.tier);
        if let Some(h) = x.response_hours {
            m.insert("responseHours".into(), json!(h));
        }
        put("sla", m);
    }
    if let Some(r) = &g.risk {
        let mut m = Map::new();
        text(&mut m, "level", &r.level);
        if !r.categories.is_empty() {
            m.insert("categories".into(), json!(r.categories));
        }
        put("risk", m);
    }
    if let Some(u) = &g.intended_use {
        let mut m = Map::new();
        text(&mut m, "summary", &u.summary);
        if !u.environments.is_empty() {
            m.insert("environments".into(), json!(u.environments));
        }
        if !u.restrictions.is_empty() {
            m.insert("restrictions".into(), json!(u.restrictions));
        }
        put("intendedUse", m);
    }
    if let Some(c) = &g.compliance {
        let mut m = Map::new();
        if !c.tags.is_empty() {
            m.insert("tags".into(), json!(c.tags));
        }
        if !c.controls.is_empty() {
            m.insert("controls".into(), json!(c.controls));
        }
        put("compliance", m);
    }
    if let Some(a) = &g.audit {
        let mut m = Map::new();
        if let Some(t) = &a.last_reviewed_at {
            let at = chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32)
                .unwrap_or_default();
            m.insert(
                "lastReviewedAt".into(),
                json!(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            );
        }
        if let Some(d) = a.review_cadence_days {
            m.insert("reviewCadenceDays".into(), json!(d));
        }
        put("audit", m);
    }
    if let Some(e) = &g.extensions {
        out.insert("extensions".into(), Value::Object(from_struct(e)));
    }
    if g.lifecycle.is_some() {
        out.insert("lifecycle".into(), json!({}));
    }
    Value::Object(out)
}

fn condition(c: &(String, String, String, String)) -> pb::Condition {
    pb::Condition {
        r#type: c.0.clone(),
        status: c.1.clone(),
        reason: c.2.clone(),
        message: c.3.clone(),
        last_transition_time: None,
    }
}

/// A governance view to AssetGovernance.
pub fn asset_governance(v: &GovernanceView) -> gpb::AssetGovernance {
    let o = &v.overlay;
    gpb::AssetGovernance {
        asset_uid: o.asset_uid.clone(),
        plugin: o.plugin.clone(),
        kind: o.kind.clone(),
        name: o.name.clone(),
        source_id: o.source_id.clone().unwrap_or_default(),
        governance: Some(metadata(&v.governance)),
        provenance: o
            .current_provenance
            .as_ref()
            .and_then(|p| serde_json::from_value(p.clone()).ok())
            .map(|p| super::convert::provenance(&p)),
        conditions: v.conditions.iter().map(condition).collect(),
        content_digest: o.current_content_digest.clone().unwrap_or_default(),
        approved_content_digest: o.approved_content_digest.clone().unwrap_or_default(),
        bindings: v.bindings.iter().map(binding).collect(),
        pending_approval_count: v.pending_approvals as i32,
        resource_version: o.resource_version,
    }
}

/// One environment row.
pub fn binding(b: &BindingView) -> gpb::Binding {
    let row = b.binding.as_ref();
    gpb::Binding {
        environment: b.environment.clone(),
        version_id: row.map(|r| r.version_id.clone()).unwrap_or_default(),
        version: b.version.as_ref().map(|v| v.0.clone()).unwrap_or_default(),
        version_lifecycle_state: b
            .version
            .as_ref()
            .map(|v| v.1.as_str().to_string())
            .unwrap_or_default(),
        bound_at: row.and_then(|r| ts(&r.bound_at)),
        bound_by: row.map(|r| r.bound_by.clone()).unwrap_or_default(),
        reason: row.and_then(|r| r.reason.clone()).unwrap_or_default(),
        approval_request_id: row
            .and_then(|r| r.approval_request_id.clone())
            .unwrap_or_default(),
        previous_version_id: row
            .and_then(|r| r.previous_version_id.clone())
            .unwrap_or_default(),
        warnings: b
            .warnings
            .iter()
            .map(|w| pb::Warning {
                code: w.code.clone(),
                message: w.message.clone(),
            })
            .collect(),
        configured: b.configured,
    }
}

/// A version view to Version.
pub fn version(v: &VersionView) -> gpb::Version {
    let r = &v.row;
    let lifecycle_value = json!({
        "state": r.lifecycle.state.as_str(),
        "reason": r.lifecycle.reason,
        "changedBy": r.lifecycle.changed_by,
        "changedAt": r.lifecycle.changed_at,
        "previousState": r.lifecycle.previous_state.map(|s| s.as_str()),
        "approvalRequestId": r.lifecycle.approval_request_id,
    });
    gpb::Version {
        version_id: r.version_id.clone(),
        asset_uid: r.asset_uid.clone(),
        plugin: r.plugin.clone(),
        kind: r.kind.clone(),
        name: r.name.clone(),
        version: r.label.clone(),
        sequence: r.sequence as i32,
        created_at: ts(&r.created_at),
        created_by: r.created_by.clone(),
        trigger: r.trigger.clone(),
        record: Some(value_to_struct(&r.record)),
        governance_snapshot: Some(value_to_struct(&r.governance_snapshot)),
        content_digest: r.content_digest.clone(),
        source_id: r.source_id.clone().unwrap_or_default(),
        source_revision_ref: r.source_revision_ref.clone().unwrap_or_default(),
        provenance: serde_json::from_value(r.provenance.clone())
            .ok()
            .map(|p| super::convert::provenance(&p)),
        lifecycle: Some(lifecycle(&lifecycle_value)),
        aliases: v.aliases.clone(),
        bound_environments: v.bound_environments.clone(),
        references: r
            .references
            .as_array()
            .map(|refs| {
                refs.iter()
                    .map(|x| gpb::VersionReference {
                        r#ref: Some(value_to_struct(x)),
                        resolution: x
                            .get("resolution")
                            .and_then(Value::as_str)
                            .unwrap_or("captured")
                            .to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// An audit event to its message.
pub fn audit_event(e: &AuditEvent) -> gpb::AuditEvent {
    gpb::AuditEvent {
        event_id: e.event_id.clone(),
        occurred_at: Some(timestamp(e.occurred_at)),
        actor: e.actor.clone(),
        actor_roles: e.actor_roles.clone(),
        action: e.action.clone(),
        asset_uid: e.asset_uid.clone(),
        plugin: e.plugin.clone(),
        kind: e.kind.clone(),
        name: e.name.clone(),
        version_id: e.version_id.clone(),
        environment: e.environment.clone(),
        outcome: e.outcome.as_str().to_string(),
        reason: e.reason.clone(),
        reason_code: e.reason_code.clone(),
        diff: Some(value_to_struct(&e.diff)),
        approval_request_id: e.approval_request_id.clone(),
        approvals: e
            .approvals
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|a| gpb::ApprovalRecord {
                        approver: s(a, "/approver"),
                        decision: s(a, "/decision"),
                        decided_at: a.get("decidedAt").and_then(Value::as_str).and_then(ts),
                        comment: s(a, "/comment"),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        policy_rule: e.policy_rule.clone(),
        correlation_id: e.correlation_id.clone(),
        action_run_id: e.action_run_id.clone(),
        details: Some(value_to_struct(&e.details)),
        sequence: e.sequence,
        prev_hash: e.prev_hash.clone(),
        hash: e.hash.clone(),
    }
}

/// An action outcome to ActionResult.
pub fn action_result(o: &ActionOutcome) -> pb::ActionResult {
    pb::ActionResult {
        action: o.action.clone(),
        status: o.status.clone(),
        message: o.message.clone(),
        data: Some(value_to_struct(&o.data)),
        warnings: o
            .warnings
            .iter()
            .map(|w| pb::Warning {
                code: w.code.clone(),
                message: w.message.clone(),
            })
            .collect(),
        approval_request_id: o.approval_request_id.clone(),
        plan: (!o.plan_outcome.is_empty()).then(|| pb::ActionPlan {
            outcome: o.plan_outcome.clone(),
            checks: o
                .plan_checks
                .iter()
                .map(|c| pb::PlanCheck {
                    name: c.name.clone(),
                    passed: c.passed,
                    code: c.code.clone(),
                    message: c.message.clone(),
                })
                .collect(),
        }),
        action_run_id: o.action_run_id.clone(),
        audit_event_id: o.audit_event_id.clone(),
        job_id: String::new(),
        started_at: None,
        finished_at: None,
        diagnostics: Vec::new(),
    }
}

/// A request with its decisions to ApprovalRequest.
pub fn approval(d: &RequestDetail) -> gpb::ApprovalRequest {
    let r = &d.request;
    gpb::ApprovalRequest {
        request_id: r.request_id.clone(),
        asset_uid: r.asset_uid.clone(),
        plugin: r.plugin.clone(),
        kind: r.kind.clone(),
        name: r.name.clone(),
        version_id: r.version_id.clone().unwrap_or_default(),
        action: r.action.clone(),
        params: Some(value_to_struct(&r.params)),
        reason: r.reason.clone().unwrap_or_default(),
        status: r.status.clone(),
        requested_by: r.requested_by.clone(),
        requested_by_roles: r.requested_by_roles.clone(),
        created_at: ts(&r.created_at),
        updated_at: ts(&r.updated_at),
        expires_at: ts(&r.expires_at),
        requirements: requirement_progress(d)
            .into_iter()
            .map(|(req, count, satisfied)| gpb::ApprovalRequirement {
                rule: req.rule,
                gate_index: req.gate_index as i32,
                approvals_required: req.approvals_required as i32,
                approver_roles: req.approver_roles,
                satisfied,
                approvals_count: count as i32,
            })
            .collect(),
        decisions: d
            .decisions
            .iter()
            .map(|x| gpb::ApprovalDecision {
                decision_id: x.decision_id.clone(),
                approver: x.approver.clone(),
                approver_roles: x.approver_roles.clone(),
                decision: x.decision.clone(),
                comment: x.comment.clone().unwrap_or_default(),
                decided_at: ts(&x.decided_at),
            })
            .collect(),
        resolved_at: opt_ts(&r.resolved_at),
        resolved_by: r.resolved_by.clone().unwrap_or_default(),
        execution: r
            .execution_status
            .as_ref()
            .map(|status| gpb::ApprovalExecution {
                status: status.clone(),
                executed_at: opt_ts(&r.executed_at),
                audit_event_id: r.execution_audit_event_id.clone().unwrap_or_default(),
                result: r.execution_result.as_ref().map(|v| pb::ActionResult {
                    action: s(v, "/action"),
                    status: s(v, "/status"),
                    data: v.get("data").map(value_to_struct),
                    warnings: v
                        .get("warnings")
                        .and_then(Value::as_array)
                        .map(|items| {
                            items
                                .iter()
                                .map(|w| pb::Warning {
                                    code: s(w, "/code"),
                                    message: s(w, "/message"),
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                    action_run_id: s(v, "/actionRunId"),
                    audit_event_id: s(v, "/auditEventId"),
                    ..Default::default()
                }),
                error: r.execution_error.as_ref().map(value_to_struct),
            }),
        cancel_reason: r.cancel_reason.clone().unwrap_or_default(),
        correlation_id: r.correlation_id.clone(),
    }
}

/// JSON value to a proto Value (re-exported for handlers).
pub fn pb_value(v: &Value) -> prost_types::Value {
    to_pb_value(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mask_turns_unset_fields_into_null_and_keeps_only_masked_paths() {
        let g = pb::GovernanceMetadata {
            owner: Some(pb::Owner {
                principal: "alice".into(),
                ..Default::default()
            }),
            team: Some(pb::Team {
                name: "ml".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mask = FieldMask {
            paths: vec!["owner.principal".into(), "risk".into()],
        };
        assert_eq!(
            patch(Some(&g), Some(&mask)),
            json!({"owner": {"principal": "alice"}, "risk": null})
        );
        assert_eq!(
            patch(Some(&g), None),
            json!({"owner": {"principal": "alice"}, "team": {"name": "ml"}})
        );
    }
}
