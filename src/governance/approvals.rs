//! Approval requests (spec 07 §4–6): creation by a gated action, decisions,
//! cancellation and expiry. A decision is serialized on its request row
//! (PostgreSQL row lock; SQLite's write lock), and the decision that meets
//! the last requirement executes the held action in the same transaction,
//! so the action runs at most once, across replicas too.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::actions::{parse, sorted_roles, ActionCall, Prepared, Via};
use super::{event_for, now, Caller, Counters, Governance};
use crate::domain::audit::{AuditEvent, Outcome};
use crate::domain::governance::approval::{
    check_cancel, decide, dedupe_key, expires_at, is_expired, progress, DecisionKind,
    RecordedDecision, RequestStatus, RequestView,
};
use crate::domain::governance::policy::Requirement;
use crate::domain::paging::{page_size, query_hash, Cursor};
use crate::domain::{Error, Reason, Result};
use crate::storage::governance::{ApprovalFilter, ApprovalRow, DecisionRow, OverlayRow, Tx};

/// A request with its decisions.
#[derive(Debug, Clone)]
pub struct RequestDetail {
    /// The request.
    pub request: ApprovalRow,
    /// Its decisions, oldest first.
    pub decisions: Vec<DecisionRow>,
}

/// Filters of ListApprovals as the caller gave them.
#[derive(Debug, Clone, Default)]
pub struct ApprovalQuery {
    /// Statuses (default pending).
    pub statuses: Vec<String>,
    /// Plugin.
    pub plugin: String,
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Action id.
    pub action: String,
    /// Requester.
    pub requested_by: String,
    /// Only what the caller could decide.
    pub approvable_by_me: bool,
    /// Created at or after (RFC 3339).
    pub created_after: Option<String>,
    /// Created before (RFC 3339).
    pub created_before: Option<String>,
    /// Page size.
    pub page_size: i32,
    /// Page token.
    pub page_token: String,
}

impl Governance {
    /// Creates (or reuses) the pending request holding a gated action.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn create_request(
        &self,
        tx: &mut Tx,
        tally: &Counters,
        caller: &Caller,
        overlay: &OverlayRow,
        call: &ActionCall,
        prepared: &Prepared,
        requirements: Vec<Requirement>,
        expiry_hours: f64,
        deny_on_first_reject: bool,
        first_rule: &str,
    ) -> Result<ApprovalRow> {
        let (created, at) = now();
        let row = ApprovalRow {
            request_id: uuid::Uuid::new_v4().to_string(),
            asset_uid: overlay.asset_uid.clone(),
            plugin: overlay.plugin.clone(),
            kind: overlay.kind.clone(),
            name: overlay.name.clone(),
            version_id: prepared.version_id.clone(),
            action: call.action.clone(),
            params: prepared.params.clone(),
            dedupe_key: dedupe_key(
                &overlay.asset_uid,
                prepared.version_id.as_deref(),
                &call.action,
                &prepared.params,
            ),
            status: "pending".into(),
            reason: (!call.reason.is_empty()).then(|| call.reason.clone()),
            requirements: serde_json::to_value(&requirements).map_err(Error::internal)?,
            deny_on_first_reject,
            policy_rule: Some(first_rule.to_string()),
            requested_by: caller.principal.clone(),
            requested_by_roles: sorted_roles(&caller.roles),
            created_at: at.clone(),
            updated_at: at.clone(),
            expires_at: crate::domain::audit::micros(expires_at(created, expiry_hours)),
            resolved_at: None,
            resolved_by: None,
            cancel_reason: None,
            execution_status: None,
            execution_result: None,
            execution_error: None,
            executed_at: None,
            execution_audit_event_id: None,
            correlation_id: caller.correlation_id.clone(),
        };
        let (stored, inserted) = self.store.insert_approval(tx, &row).await?;
        // Every attempt is one event (spec 06), also when an identical
        // pending request is reused instead of a new one being created.
        let mut event = event_for(
            caller,
            "approval.request",
            Outcome::PendingApproval,
            overlay,
        );
        event.approval_request_id = stored.request_id.clone();
        event.version_id = prepared.version_id.clone().unwrap_or_default();
        event.environment = prepared.environment.clone().unwrap_or_default();
        event.policy_rule = first_rule.to_string();
        event.reason = call.reason.clone();
        event.details = if inserted {
            json!({"requestedAction": call.action, "params": stored.params, "requirements": stored.requirements})
        } else {
            json!({"requestedAction": call.action, "reusedPendingRequest": true})
        };
        self.append(tx, &mut [event]).await?;
        if inserted {
            tally.approval_request(&stored.plugin, &stored.action, "created");
        }
        Ok(stored)
    }

    /// One request with its decisions (expiring it first when overdue).
    pub async fn approval(&self, request_id: &str) -> Result<RequestDetail> {
        self.expire_if_overdue(request_id).await?;
        let mut conn = self.store.read_conn().await?;
        let request = self
            .store
            .approval(&mut conn, request_id, false)
            .await?
            .ok_or_else(|| approval_not_found(request_id))?;
        let decisions = self.store.decisions(&mut conn, request_id).await?;
        Ok(RequestDetail { request, decisions })
    }

    /// Requests, newest first, with the next page token.
    pub async fn list_approvals(
        &self,
        caller: &Caller,
        q: &ApprovalQuery,
    ) -> Result<(Vec<RequestDetail>, String)> {
        self.expire_overdue().await?;
        let limit = page_size(q.page_size);
        let hash = query_hash(&[
            &q.statuses.join(","),
            &q.plugin,
            &q.kind,
            &q.name,
            &q.action,
            &q.requested_by,
            &q.approvable_by_me.to_string(),
            q.created_after.as_deref().unwrap_or(""),
            q.created_before.as_deref().unwrap_or(""),
        ]);
        let before = if q.page_token.is_empty() {
            None
        } else {
            let cursor = Cursor::decode(&q.page_token, &hash)?;
            Some((
                cursor.sort_value.as_str().unwrap_or_default().to_string(),
                cursor.tie.first().cloned().unwrap_or_default(),
            ))
        };
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let statuses = if q.approvable_by_me || q.statuses.is_empty() {
            vec!["pending".to_string()]
        } else {
            q.statuses.clone()
        };
        let filter = ApprovalFilter {
            statuses,
            plugin: some(&q.plugin),
            kind: some(&q.kind),
            name: some(&q.name),
            action: some(&q.action),
            requested_by: some(&q.requested_by),
            not_requested_by: q.approvable_by_me.then(|| caller.principal.clone()),
            created_after: q.created_after.clone(),
            created_before: q.created_before.clone(),
            before,
            limit: limit + 1,
        };
        let mut conn = self.store.read_conn().await?;
        let mut rows = self.store.list_approvals(&mut conn, &filter).await?;
        if q.approvable_by_me {
            rows.retain(|r| {
                let reqs: Vec<Requirement> =
                    serde_json::from_value(r.requirements.clone()).unwrap_or_default();
                reqs.iter()
                    .any(|req| req.approver_roles.iter().any(|role| caller.has_role(role)))
            });
        }
        let next = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            let last = rows.last().expect("non-empty page");
            Cursor {
                sort_value: json!(last.created_at),
                tie: vec![last.request_id.clone()],
                query_hash: hash,
            }
            .encode()
        } else {
            String::new()
        };
        let mut out = Vec::new();
        for request in rows {
            let decisions = self.store.decisions(&mut conn, &request.request_id).await?;
            out.push(RequestDetail { request, decisions });
        }
        Ok((out, next))
    }

    /// Records an approval or rejection; the approval that meets the last
    /// requirement runs the held action.
    pub async fn decide(
        &self,
        caller: &Caller,
        request_id: &str,
        kind: DecisionKind,
        comment: &str,
    ) -> Result<RequestDetail> {
        let action = match kind {
            DecisionKind::Approve => "approval.approve",
            DecisionKind::Reject => "approval.reject",
        };
        let result = self.try_decide(caller, request_id, kind, comment).await;
        if let Err(error) = &result {
            if error.reason != Reason::StorageUnavailable {
                let mut event =
                    AuditEvent::new(&caller.principal, &caller.roles, action, Outcome::Denied);
                event.correlation_id = caller.correlation_id.clone();
                event.approval_request_id = request_id.to_string();
                if let Ok(detail) = self.approval(request_id).await {
                    let r = &detail.request;
                    event = event.subject(&r.asset_uid, &r.plugin, &r.kind, &r.name);
                    event.correlation_id = caller.correlation_id.clone();
                    event.approval_request_id = request_id.to_string();
                }
                self.audit_refusal(event, error).await;
            }
        }
        result
    }

    async fn try_decide(
        &self,
        caller: &Caller,
        request_id: &str,
        kind: DecisionKind,
        comment: &str,
    ) -> Result<RequestDetail> {
        self.expire_if_overdue(request_id).await?;
        let tally = Counters::default();
        let mut tx = self.store.begin_write().await?;
        // Lock order: the subject's overlay row, then the request, then the
        // audit chain head. Actions, ingestion and metadata updates lock the
        // overlay row before the head, and the decision appends its event
        // before it runs the action, so taking the overlay row only when
        // the action runs deadlocks (PostgreSQL) against an action on the
        // same asset. The subject of a request never changes, so reading it
        // unlocked first is safe.
        if let Some(subject) = self.store.approval(&mut tx, request_id, false).await? {
            self.store
                .overlay(&mut tx, &subject.plugin, &subject.kind, &subject.name, true)
                .await?;
        }
        let request = self
            .store
            .approval(&mut tx, request_id, true)
            .await?
            .ok_or_else(|| approval_not_found(request_id))?;
        let decisions = self.store.decisions(&mut tx, request_id).await?;
        let recorded = recorded(&decisions);
        let requirements: Vec<Requirement> =
            serde_json::from_value(request.requirements.clone()).map_err(Error::internal)?;
        let (now_at, at) = now();
        let view = RequestView {
            status: RequestStatus::parse(&request.status).unwrap_or(RequestStatus::Pending),
            requested_by: &request.requested_by,
            requirements: &requirements,
            decisions: &recorded,
            expires_at: parse_time(&request.expires_at),
            deny_on_first_reject: request.deny_on_first_reject,
        };
        let comment = (!comment.trim().is_empty()).then(|| comment.trim().to_string());
        let outcome = decide(
            &view,
            &caller.principal,
            &caller.roles,
            kind,
            comment.as_deref(),
            now_at,
        )?;
        let decision = DecisionRow {
            decision_id: uuid::Uuid::new_v4().to_string(),
            request_id: request_id.to_string(),
            approver: caller.principal.clone(),
            approver_roles: sorted_roles(&caller.roles),
            decision: match kind {
                DecisionKind::Approve => "approve".into(),
                DecisionKind::Reject => "reject".into(),
            },
            comment: comment.clone(),
            counted_requirements: outcome.counted_requirements.clone(),
            decided_at: at.clone(),
            correlation_id: caller.correlation_id.clone(),
        };
        self.store.insert_decision(&mut tx, &decision).await?;
        tally.approval_decision(kind);
        let overlay_stub = stub(&request);
        let mut event = event_for(
            caller,
            if kind == DecisionKind::Approve {
                "approval.approve"
            } else {
                "approval.reject"
            },
            Outcome::Success,
            &overlay_stub,
        );
        event.approval_request_id = request_id.to_string();
        event.version_id = request.version_id.clone().unwrap_or_default();
        event.reason = comment.clone().unwrap_or_default();
        event.details = json!({"countedRequirements": outcome.counted_requirements, "newStatus": outcome.new_status.as_str()});
        self.append(&mut tx, &mut [event]).await?;
        match outcome.new_status {
            RequestStatus::Approved => {
                if !self
                    .store
                    .resolve_approval(
                        &mut tx,
                        request_id,
                        "approved",
                        &caller.principal,
                        &at,
                        None,
                    )
                    .await?
                {
                    return Err(Error::new(
                        Reason::ApprovalNotPending,
                        format!("approval request {request_id} was resolved by someone else just now; read it again"),
                    ));
                }
                tally.approval_request(&request.plugin, &request.action, "approved");
                let mut all = decisions.clone();
                all.push(decision);
                self.execute_approved(&mut tx, &tally, &request, &all)
                    .await?;
            }
            RequestStatus::Rejected => {
                self.store
                    .resolve_approval(
                        &mut tx,
                        request_id,
                        "rejected",
                        &caller.principal,
                        &at,
                        None,
                    )
                    .await?;
                tally.approval_request(&request.plugin, &request.action, "rejected");
            }
            _ => self.store.touch_approval(&mut tx, request_id, &at).await?,
        }
        self.commit_counted(tx, tally).await?;
        self.approval(request_id).await
    }

    /// Runs the action held by an approved request, in the decision's
    /// transaction: re-validates it against the current state, applies it
    /// or records why it could not run.
    async fn execute_approved(
        &self,
        tx: &mut Tx,
        tally: &Counters,
        request: &ApprovalRow,
        decisions: &[DecisionRow],
    ) -> Result<()> {
        let settings = self.settings();
        let requester = Caller {
            principal: request.requested_by.clone(),
            roles: request.requested_by_roles.clone(),
            correlation_id: request.correlation_id.clone(),
        };
        let approvals: Value = decisions
            .iter()
            .map(|d| json!({"approver": d.approver, "decision": d.decision, "decidedAt": d.decided_at, "comment": d.comment}))
            .collect();
        let via = Via {
            approval_request_id: Some(request.request_id.clone()),
            approvals: approvals.clone(),
        };
        let run_id = uuid::Uuid::now_v7().to_string();
        let reason = request.reason.clone().unwrap_or_default();
        let mut from = None;
        let attempt = async {
            let op = parse(&request.action, &request.params)?;
            let overlay = self
                .locked_overlay(tx, tally, &request.plugin, &request.kind, &request.name)
                .await?;
            let prepared = self
                .prepare(
                    tx,
                    &settings,
                    &overlay,
                    &op,
                    &request.action,
                    &requester,
                    &reason,
                    &mut from,
                )
                .await?;
            if let Some(refusal) = prepared.refusal.clone() {
                return Err(refusal);
            }
            let (data, event_id) = self
                .apply(
                    tx,
                    tally,
                    &settings,
                    &requester,
                    &overlay,
                    &request.action,
                    &reason,
                    &prepared,
                    &via,
                    &run_id,
                )
                .await?;
            Ok::<_, Error>((data, event_id, prepared.warnings))
        }
        .await;
        let (_, at) = now();
        // The run is one more attempt of the held action; it counts with
        // the outcome its audit event records (a refused run is `failed`).
        let call = ActionCall {
            plugin: request.plugin.clone(),
            kind: request.kind.clone(),
            name: request.name.clone(),
            action: request.action.clone(),
            params: request.params.clone(),
            ..Default::default()
        };
        let count = |outcome: Outcome| {
            self.count_action(tally, &call, from, outcome);
            tally.approval_execution(&request.action, outcome == Outcome::Success);
        };
        match attempt {
            Ok((data, event_id, warnings)) => {
                count(Outcome::Success);
                let result = json!({"action": request.action, "status": "completed", "data": data,
                    "warnings": warnings, "actionRunId": run_id, "auditEventId": event_id});
                self.store
                    .record_execution(
                        tx,
                        &request.request_id,
                        "succeeded",
                        Some(&result),
                        None,
                        &at,
                        &event_id,
                    )
                    .await
            }
            Err(error)
                if error.reason == Reason::StorageUnavailable
                    || error.reason == Reason::Internal =>
            {
                Err(error)
            }
            Err(error) => {
                let mut event =
                    event_for(&requester, &request.action, Outcome::Failed, &stub(request));
                event.approval_request_id = request.request_id.clone();
                event.approvals = approvals;
                event.version_id = request.version_id.clone().unwrap_or_default();
                event.reason = error.message.clone();
                event.reason_code = error.reason.code().to_string();
                event.action_run_id = run_id;
                event.details = json!({"executedViaApproval": true});
                let event_id = event.event_id.clone();
                self.append(tx, &mut [event]).await?;
                count(Outcome::Failed);
                let failure = json!({"reasonCode": error.reason.code(), "message": error.message});
                self.store
                    .record_execution(
                        tx,
                        &request.request_id,
                        "failed",
                        None,
                        Some(&failure),
                        &at,
                        &event_id,
                    )
                    .await
            }
        }
    }

    /// Cancels a pending request (its requester, or an operator).
    pub async fn cancel(
        &self,
        caller: &Caller,
        request_id: &str,
        reason: &str,
    ) -> Result<RequestDetail> {
        let result = self.try_cancel(caller, request_id, reason).await;
        if let Err(error) = &result {
            if error.reason != Reason::StorageUnavailable {
                let mut event = AuditEvent::new(
                    &caller.principal,
                    &caller.roles,
                    "approval.cancel",
                    Outcome::Denied,
                );
                event.correlation_id = caller.correlation_id.clone();
                event.approval_request_id = request_id.to_string();
                self.audit_refusal(event, error).await;
            }
        }
        result
    }

    async fn try_cancel(
        &self,
        caller: &Caller,
        request_id: &str,
        reason: &str,
    ) -> Result<RequestDetail> {
        self.expire_if_overdue(request_id).await?;
        let mut tx = self.store.begin_write().await?;
        let request = self
            .store
            .approval(&mut tx, request_id, true)
            .await?
            .ok_or_else(|| approval_not_found(request_id))?;
        let decisions = self.store.decisions(&mut tx, request_id).await?;
        let recorded = recorded(&decisions);
        let requirements: Vec<Requirement> =
            serde_json::from_value(request.requirements.clone()).map_err(Error::internal)?;
        let (now_at, at) = now();
        let view = RequestView {
            status: RequestStatus::parse(&request.status).unwrap_or(RequestStatus::Pending),
            requested_by: &request.requested_by,
            requirements: &requirements,
            decisions: &recorded,
            expires_at: parse_time(&request.expires_at),
            deny_on_first_reject: request.deny_on_first_reject,
        };
        check_cancel(
            &view,
            &caller.principal,
            caller.has_role("operator"),
            now_at,
        )?;
        let reason = reason.trim();
        self.store
            .resolve_approval(
                &mut tx,
                request_id,
                "cancelled",
                &caller.principal,
                &at,
                (!reason.is_empty()).then_some(reason),
            )
            .await?;
        let mut event = event_for(caller, "approval.cancel", Outcome::Success, &stub(&request));
        event.approval_request_id = request_id.to_string();
        event.reason = reason.to_string();
        self.append(&mut tx, &mut [event]).await?;
        self.commit(tx).await?;
        self.counters
            .approval_request(&request.plugin, &request.action, "cancelled");
        self.approval(request_id).await
    }

    /// Expires every overdue pending request.
    pub async fn expire_overdue(&self) -> Result<usize> {
        let (_, at) = now();
        let ids = {
            let mut conn = self.store.read_conn().await?;
            self.store.overdue_approvals(&mut conn, &at).await?
        };
        let mut expired = 0;
        for id in ids {
            if self.expire_if_overdue(&id).await? {
                expired += 1;
            }
        }
        Ok(expired)
    }

    /// Expires one request if it is pending and overdue.
    async fn expire_if_overdue(&self, request_id: &str) -> Result<bool> {
        let (now_at, at) = now();
        {
            let mut conn = self.store.read_conn().await?;
            match self.store.approval(&mut conn, request_id, false).await? {
                Some(r) if r.status == "pending" && parse_time(&r.expires_at) <= now_at => {}
                _ => return Ok(false),
            }
        }
        let mut tx = self.store.begin_write().await?;
        let Some(request) = self.store.approval(&mut tx, request_id, true).await? else {
            return Ok(false);
        };
        let view_requirements: Vec<Requirement> =
            serde_json::from_value(request.requirements.clone()).unwrap_or_default();
        let view = RequestView {
            status: RequestStatus::parse(&request.status).unwrap_or(RequestStatus::Pending),
            requested_by: &request.requested_by,
            requirements: &view_requirements,
            decisions: &[],
            expires_at: parse_time(&request.expires_at),
            deny_on_first_reject: request.deny_on_first_reject,
        };
        if view.status != RequestStatus::Pending || !is_expired(&view, now_at) {
            return Ok(false);
        }
        if !self
            .store
            .resolve_approval(&mut tx, request_id, "expired", "system:expiry", &at, None)
            .await?
        {
            return Ok(false);
        }
        let mut event = event_for(
            &Caller::system("system:expiry"),
            "approval.expire",
            Outcome::Success,
            &stub(&request),
        );
        event.approval_request_id = request_id.to_string();
        self.append(&mut tx, &mut [event]).await?;
        self.commit(tx).await?;
        self.counters
            .approval_request(&request.plugin, &request.action, "expired");
        Ok(true)
    }
}

/// Requirement progress of a request.
pub fn requirement_progress(detail: &RequestDetail) -> Vec<(Requirement, u32, bool)> {
    let requirements: Vec<Requirement> =
        serde_json::from_value(detail.request.requirements.clone()).unwrap_or_default();
    let recorded = recorded(&detail.decisions);
    let view = RequestView {
        status: RequestStatus::parse(&detail.request.status).unwrap_or(RequestStatus::Pending),
        requested_by: &detail.request.requested_by,
        requirements: &requirements,
        decisions: &recorded,
        expires_at: parse_time(&detail.request.expires_at),
        deny_on_first_reject: detail.request.deny_on_first_reject,
    };
    let progress = progress(&view);
    requirements
        .iter()
        .cloned()
        .zip(progress)
        .map(|(r, p)| (r, p.approvals_count, p.satisfied))
        .collect()
}

/// A request as JSON (embedded in a pending-approval result).
pub fn request_json(r: &ApprovalRow) -> Value {
    json!({
        "requestId": r.request_id,
        "assetUid": r.asset_uid,
        "plugin": r.plugin,
        "kind": r.kind,
        "name": r.name,
        "versionId": r.version_id,
        "action": r.action,
        "params": r.params,
        "status": r.status,
        "requestedBy": r.requested_by,
        "createdAt": r.created_at,
        "expiresAt": r.expires_at,
        "requirements": r.requirements,
    })
}

fn recorded(decisions: &[DecisionRow]) -> Vec<RecordedDecision> {
    decisions
        .iter()
        .map(|d| RecordedDecision {
            approver: d.approver.clone(),
            approver_roles: d.approver_roles.clone(),
            decision: if d.decision == "approve" {
                DecisionKind::Approve
            } else {
                DecisionKind::Reject
            },
            comment: d.comment.clone(),
            decided_at: parse_time(&d.decided_at),
            counted_requirements: d.counted_requirements.clone(),
        })
        .collect()
}

/// Subject fields of a request in the shape events want.
fn stub(r: &ApprovalRow) -> OverlayRow {
    OverlayRow {
        asset_uid: r.asset_uid.clone(),
        plugin: r.plugin.clone(),
        kind: r.kind.clone(),
        name: r.name.clone(),
        source_id: None,
        metadata: Value::Null,
        lifecycle: crate::storage::governance::LifecycleRow::initial(
            crate::domain::governance::State::Draft,
            "",
            None,
            "",
        ),
        approved_content_digest: None,
        current_content_digest: None,
        current_revision_id: None,
        current_provenance: None,
        source_missing_since: None,
        resource_version: 0,
        created_at: String::new(),
        updated_at: String::new(),
        updated_by: None,
    }
}

pub(super) fn parse_time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|_| Utc::now())
}

fn approval_not_found(request_id: &str) -> Error {
    Error::new(
        Reason::ApprovalNotFound,
        format!("no approval request {request_id:?}; list approvals to see the pending ones"),
    )
    .with("requestId", request_id)
}
