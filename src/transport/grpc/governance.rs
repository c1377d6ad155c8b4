//! gRPC handlers of GovernanceService, ApprovalService and AuditService:
//! read the request and the caller, call the governance service, convert.

use tonic::{Request, Response, Status};

use super::governance_convert as gc;
use super::{caller, correlation};
use crate::domain::governance::approval::DecisionKind;
use crate::domain::{Error, Reason, Result};
use crate::governance::actions::ActionCall;
use crate::governance::approvals::ApprovalQuery;
use crate::governance::reads::{AuditQuery, GovernedQuery, VersionQuery};
use crate::governance::Governance;
use crate::proto::catalog::governance::v1alpha1 as gpb;
use crate::proto::catalog::governance::v1alpha1::{
    approval_service_server::ApprovalService, audit_service_server::AuditService,
    governance_service_server::GovernanceService,
};
use crate::proto::catalog::v1alpha1 as pb;
use crate::respond;

/// The three governance services over one [`Governance`].
#[derive(Clone)]
pub struct GovernanceApi {
    governance: Governance,
}

impl GovernanceApi {
    /// Handlers over `governance`.
    pub fn new(governance: Governance) -> Self {
        GovernanceApi { governance }
    }
}

fn required(value: &str, field: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(
            Error::new(Reason::InvalidParams, format!("{field} is required"))
                .violation(field, "required"),
        );
    }
    Ok(())
}

fn subject(plugin: &str, kind: &str, name: &str) -> Result<()> {
    required(plugin, "plugin")?;
    required(kind, "kind")?;
    required(name, "name")
}

fn rfc3339(t: &Option<prost_types::Timestamp>) -> Option<String> {
    t.as_ref().and_then(|t| {
        chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32)
            .map(crate::domain::audit::micros)
    })
}

fn params(s: &Option<prost_types::Struct>) -> serde_json::Value {
    s.as_ref()
        .map(|s| serde_json::Value::Object(super::convert::from_struct(s)))
        .unwrap_or_else(|| serde_json::json!({}))
}

#[tonic::async_trait]
impl GovernanceService for GovernanceApi {
    async fn get_asset_governance(
        &self,
        request: Request<gpb::GetAssetGovernanceRequest>,
    ) -> Result<Response<gpb::AssetGovernance>, Status> {
        let cid = correlation(&request);
        let r = request.get_ref();
        respond!(
            cid,
            async {
                subject(&r.plugin, &r.kind, &r.name)?;
                self.governance
                    .get(&r.plugin, &r.kind, &r.name)
                    .await
                    .map(|v| gc::asset_governance(&v))
            }
            .await
        )
    }

    async fn update_asset_governance(
        &self,
        request: Request<gpb::UpdateAssetGovernanceRequest>,
    ) -> Result<Response<gpb::AssetGovernance>, Status> {
        let cid = correlation(&request);
        let who = caller(&request);
        let if_match = request
            .metadata()
            .get("if-match")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim_matches('"').to_string());
        let r = request.get_ref();
        respond!(
            cid,
            async {
                subject(&r.plugin, &r.kind, &r.name)?;
                let expected = match (r.expected_resource_version, if_match) {
                    (n, _) if n > 0 => Some(n),
                    (_, Some(text)) => Some(text.parse().map_err(|_| {
                        Error::new(
                            Reason::InvalidParams,
                            "If-Match must hold a resource version (a number)",
                        )
                    })?),
                    _ => None,
                };
                let patch = gc::patch(r.governance.as_ref(), r.update_mask.as_ref());
                self.governance
                    .update(&who?, &r.plugin, &r.kind, &r.name, &patch, expected)
                    .await
                    .map(|v| gc::asset_governance(&v))
            }
            .await
        )
    }

    async fn list_asset_history(
        &self,
        request: Request<gpb::ListAssetHistoryRequest>,
    ) -> Result<Response<gpb::ListAssetHistoryResponse>, Status> {
        let cid = correlation(&request);
        let r = request.get_ref();
        respond!(
            cid,
            async {
                subject(&r.plugin, &r.kind, &r.name)?;
                let q = AuditQuery {
                    asset: Some((r.plugin.clone(), r.kind.clone(), r.name.clone())),
                    actions: r.action.clone(),
                    outcome: r.outcome.clone(),
                    actor: r.actor.clone(),
                    version_id: r.version_id.clone(),
                    since: rfc3339(&r.since),
                    until: rfc3339(&r.until),
                    page_size: r.page_size,
                    page_token: r.page_token.clone(),
                    ..Default::default()
                };
                let (events, next) = self.governance.audit(&q).await?;
                Ok(gpb::ListAssetHistoryResponse {
                    size: events.len() as i32,
                    events: events.iter().map(gc::audit_event).collect(),
                    next_page_token: next,
                })
            }
            .await
        )
    }

    async fn list_versions(
        &self,
        request: Request<gpb::ListVersionsRequest>,
    ) -> Result<Response<gpb::ListVersionsResponse>, Status> {
        let cid = correlation(&request);
        let r = request.get_ref();
        respond!(
            cid,
            async {
                subject(&r.plugin, &r.kind, &r.name)?;
                let q = VersionQuery {
                    states: r.lifecycle_state.clone(),
                    label: r.label.clone(),
                    alias: r.alias.clone(),
                    trigger: r.trigger.clone(),
                    order_by: r.order_by.clone(),
                    sort_order: r.sort_order.clone(),
                    page_size: r.page_size,
                    page_token: r.page_token.clone(),
                };
                let (versions, next) = self
                    .governance
                    .versions(&r.plugin, &r.kind, &r.name, &q)
                    .await?;
                Ok(gpb::ListVersionsResponse {
                    size: versions.len() as i32,
                    versions: versions.iter().map(gc::version).collect(),
                    next_page_token: next,
                })
            }
            .await
        )
    }

    async fn create_version(
        &self,
        request: Request<gpb::CreateVersionRequest>,
    ) -> Result<Response<pb::ActionResult>, Status> {
        let cid = correlation(&request);
        let who = caller(&request);
        let r = request.get_ref();
        let mut p = serde_json::Map::new();
        if !r.version.is_empty() {
            p.insert("version".into(), serde_json::json!(r.version));
        }
        self.run(
            cid,
            who,
            &r.plugin,
            &r.kind,
            &r.name,
            "version.create",
            p.into(),
            r.dry_run,
            &r.reason,
        )
        .await
    }

    async fn get_version(
        &self,
        request: Request<gpb::GetVersionRequest>,
    ) -> Result<Response<gpb::Version>, Status> {
        let cid = correlation(&request);
        let r = request.get_ref();
        respond!(
            cid,
            async {
                subject(&r.plugin, &r.kind, &r.name)?;
                required(&r.version_id, "version_id")?;
                self.governance
                    .version(&r.plugin, &r.kind, &r.name, &r.version_id)
                    .await
                    .map(|v| gc::version(&v))
            }
            .await
        )
    }

    async fn list_bindings(
        &self,
        request: Request<gpb::ListBindingsRequest>,
    ) -> Result<Response<gpb::ListBindingsResponse>, Status> {
        let cid = correlation(&request);
        let r = request.get_ref();
        respond!(
            cid,
            async {
                subject(&r.plugin, &r.kind, &r.name)?;
                let rows = self
                    .governance
                    .bindings(&r.plugin, &r.kind, &r.name)
                    .await?;
                let limit = crate::domain::paging::page_size(r.page_size) as usize;
                let start = if r.page_token.is_empty() {
                    0
                } else {
                    r.page_token.parse::<usize>().map_err(|_| {
                        Error::new(
                            Reason::InvalidPageToken,
                            "the page token is not one this server issued for bindings",
                        )
                    })?
                };
                let page: Vec<_> = rows.iter().skip(start).take(limit).collect();
                let next = if start + page.len() < rows.len() {
                    (start + page.len()).to_string()
                } else {
                    String::new()
                };
                Ok(gpb::ListBindingsResponse {
                    bindings: page.into_iter().map(gc::binding).collect(),
                    environments: self.governance.settings().config.environments.clone(),
                    next_page_token: next,
                })
            }
            .await
        )
    }

    async fn set_binding(
        &self,
        request: Request<gpb::SetBindingRequest>,
    ) -> Result<Response<pb::ActionResult>, Status> {
        let cid = correlation(&request);
        let who = caller(&request);
        let r = request.get_ref();
        let p = serde_json::json!({
            "environment": r.environment,
            "versionId": r.version_id,
            "allowDeprecated": r.allow_deprecated,
        });
        self.run(
            cid,
            who,
            &r.plugin,
            &r.kind,
            &r.name,
            "promotion.bind",
            p,
            r.dry_run,
            &r.reason,
        )
        .await
    }

    async fn delete_binding(
        &self,
        request: Request<gpb::DeleteBindingRequest>,
    ) -> Result<Response<pb::ActionResult>, Status> {
        let cid = correlation(&request);
        let who = caller(&request);
        let r = request.get_ref();
        let p = serde_json::json!({"environment": r.environment});
        self.run(
            cid,
            who,
            &r.plugin,
            &r.kind,
            &r.name,
            "promotion.unbind",
            p,
            r.dry_run,
            &r.reason,
        )
        .await
    }

    async fn execute_governance_action(
        &self,
        request: Request<gpb::ExecuteGovernanceActionRequest>,
    ) -> Result<Response<pb::ActionResult>, Status> {
        let cid = correlation(&request);
        let who = caller(&request);
        let r = request.get_ref();
        self.run(
            cid,
            who,
            &r.plugin,
            &r.kind,
            &r.name,
            &r.action,
            params(&r.params),
            r.dry_run,
            &r.reason,
        )
        .await
    }

    async fn list_governed_assets(
        &self,
        request: Request<gpb::ListGovernedAssetsRequest>,
    ) -> Result<Response<gpb::ListGovernedAssetsResponse>, Status> {
        let cid = correlation(&request);
        let r = request.get_ref();
        respond!(
            cid,
            async {
                let q = GovernedQuery {
                    plugin: r.plugin.clone(),
                    kind: r.kind.clone(),
                    states: r.lifecycle_state.clone(),
                    risk_levels: r.risk_level.clone(),
                    compliance_tags: r.compliance_tag.clone(),
                    owner: r.owner.clone(),
                    team: r.team.clone(),
                    include_archived: r.include_archived,
                    page_size: r.page_size,
                    page_token: r.page_token.clone(),
                };
                let (items, next) = self.governance.governed(&q).await?;
                Ok(gpb::ListGovernedAssetsResponse {
                    size: items.len() as i32,
                    items: items.iter().map(gc::asset_governance).collect(),
                    next_page_token: next,
                })
            }
            .await
        )
    }

    async fn get_governance_config(
        &self,
        request: Request<gpb::GetGovernanceConfigRequest>,
    ) -> Result<Response<gpb::GetGovernanceConfigResponse>, Status> {
        let cid = correlation(&request);
        respond!(
            cid,
            Ok::<_, Error>(super::governance_config::config_response(
                &self.governance.settings()
            ))
        )
    }
}

impl GovernanceApi {
    #[allow(clippy::too_many_arguments)]
    async fn run(
        &self,
        cid: String,
        who: Result<crate::governance::Caller>,
        plugin: &str,
        kind: &str,
        name: &str,
        action: &str,
        params: serde_json::Value,
        dry_run: bool,
        reason: &str,
    ) -> Result<Response<pb::ActionResult>, Status> {
        respond!(
            cid,
            async {
                subject(plugin, kind, name)?;
                required(action, "action")?;
                let call = ActionCall {
                    plugin: plugin.to_string(),
                    kind: kind.to_string(),
                    name: name.to_string(),
                    action: action.to_string(),
                    params,
                    dry_run,
                    reason: reason.to_string(),
                    legacy: None,
                };
                self.governance
                    .execute(&who?, &call)
                    .await
                    .map(|o| gc::action_result(&o))
            }
            .await
        )
    }
}

#[tonic::async_trait]
impl ApprovalService for GovernanceApi {
    async fn list_approvals(
        &self,
        request: Request<gpb::ListApprovalsRequest>,
    ) -> Result<Response<gpb::ListApprovalsResponse>, Status> {
        let cid = correlation(&request);
        let who = caller(&request);
        let r = request.get_ref();
        respond!(
            cid,
            async {
                let q = ApprovalQuery {
                    statuses: r.status.clone(),
                    plugin: r.plugin.clone(),
                    kind: r.kind.clone(),
                    name: r.name.clone(),
                    action: r.action.clone(),
                    requested_by: r.requested_by.clone(),
                    approvable_by_me: r.approvable_by_me,
                    created_after: rfc3339(&r.created_after),
                    created_before: rfc3339(&r.created_before),
                    page_size: r.page_size,
                    page_token: r.page_token.clone(),
                };
                let (items, next) = self.governance.list_approvals(&who?, &q).await?;
                Ok(gpb::ListApprovalsResponse {
                    size: items.len() as i32,
                    approvals: items.iter().map(gc::approval).collect(),
                    next_page_token: next,
                })
            }
            .await
        )
    }

    async fn get_approval(
        &self,
        request: Request<gpb::GetApprovalRequest>,
    ) -> Result<Response<gpb::ApprovalRequest>, Status> {
        let cid = correlation(&request);
        let r = request.get_ref();
        respond!(
            cid,
            async {
                required(&r.request_id, "request_id")?;
                self.governance
                    .approval(&r.request_id)
                    .await
                    .map(|d| gc::approval(&d))
            }
            .await
        )
    }

    async fn approve_request(
        &self,
        request: Request<gpb::ApproveRequestRequest>,
    ) -> Result<Response<gpb::ApprovalRequest>, Status> {
        let cid = correlation(&request);
        let who = caller(&request);
        let r = request.get_ref();
        respond!(
            cid,
            async {
                required(&r.request_id, "request_id")?;
                self.governance
                    .decide(&who?, &r.request_id, DecisionKind::Approve, &r.comment)
                    .await
                    .map(|d| gc::approval(&d))
            }
            .await
        )
    }

    async fn reject_request(
        &self,
        request: Request<gpb::RejectRequestRequest>,
    ) -> Result<Response<gpb::ApprovalRequest>, Status> {
        let cid = correlation(&request);
        let who = caller(&request);
        let r = request.get_ref();
        respond!(
            cid,
            async {
                required(&r.request_id, "request_id")?;
                self.governance
                    .decide(&who?, &r.request_id, DecisionKind::Reject, &r.comment)
                    .await
                    .map(|d| gc::approval(&d))
            }
            .await
        )
    }

    async fn cancel_request(
        &self,
        request: Request<gpb::CancelRequestRequest>,
    ) -> Result<Response<gpb::ApprovalRequest>, Status> {
        let cid = correlation(&request);
        let who = caller(&request);
        let r = request.get_ref();
        respond!(
            cid,
            async {
                required(&r.request_id, "request_id")?;
                self.governance
                    .cancel(&who?, &r.request_id, &r.reason)
                    .await
                    .map(|d| gc::approval(&d))
            }
            .await
        )
    }
}

#[tonic::async_trait]
impl AuditService for GovernanceApi {
    async fn list_audit_events(
        &self,
        request: Request<gpb::ListAuditEventsRequest>,
    ) -> Result<Response<gpb::ListAuditEventsResponse>, Status> {
        let cid = correlation(&request);
        let r = request.get_ref();
        respond!(
            cid,
            async {
                let q = AuditQuery {
                    plugin: r.plugin.clone(),
                    kind: r.kind.clone(),
                    name: r.name.clone(),
                    actor: r.actor.clone(),
                    actions: vec![r.action.clone()],
                    outcome: r.outcome.clone(),
                    correlation_id: r.correlation_id.clone(),
                    approval_request_id: r.approval_request_id.clone(),
                    since: rfc3339(&r.since),
                    until: rfc3339(&r.until),
                    page_size: r.page_size,
                    page_token: r.page_token.clone(),
                    ..Default::default()
                };
                let (events, next) = self.governance.audit(&q).await?;
                Ok(gpb::ListAuditEventsResponse {
                    size: events.len() as i32,
                    events: events.iter().map(gc::audit_event).collect(),
                    next_page_token: next,
                })
            }
            .await
        )
    }

    async fn get_audit_event(
        &self,
        request: Request<gpb::GetAuditEventRequest>,
    ) -> Result<Response<gpb::AuditEvent>, Status> {
        let cid = correlation(&request);
        let r = request.get_ref();
        respond!(
            cid,
            async {
                required(&r.event_id, "event_id")?;
                self.governance
                    .audit_event(&r.event_id)
                    .await
                    .map(|e| gc::audit_event(&e))
            }
            .await
        )
    }

    async fn verify_audit_chain(
        &self,
        request: Request<gpb::VerifyAuditChainRequest>,
    ) -> Result<Response<gpb::VerifyAuditChainResponse>, Status> {
        let cid = correlation(&request);
        let r = request.get_ref();
        respond!(
            cid,
            async {
                let report = self.governance.verify_chain(r.from_sequence).await?;
                Ok(gpb::VerifyAuditChainResponse {
                    verified: report.verified,
                    checked_count: report.checked,
                    first_broken: report.first_broken.map(|b| gpb::BrokenLink {
                        sequence: b.sequence,
                        event_id: b.event_id,
                        expected_hash: b.expected_hash,
                        stored_hash: b.stored_hash,
                    }),
                })
            }
            .await
        )
    }
}
