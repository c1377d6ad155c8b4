//! How the harness talks to the server: one channel per `--target`, calls
//! spread round-robin over them (replicas behind one database must agree),
//! every call with a principal's bearer token and a correlation id that
//! carries the run id, and a ledger of the mutating calls so the audit
//! checks can find exactly one event for each.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::identity::Who;
use crate::proto::{gpb, pb};

/// A mutating call and the audit event it must have produced.
#[derive(Debug, Clone)]
pub struct Expected {
    /// Plugin of the asset.
    pub plugin: String,
    /// Asset name ("" for calls not about one asset).
    pub name: String,
    /// Correlation id sent with the call.
    pub correlation_id: String,
    /// Subject of the caller.
    pub actor: String,
    /// Audit action.
    pub action: String,
    /// Acceptable outcomes.
    pub outcomes: Vec<&'static str>,
    /// The approval request it executed, for events of approved actions.
    pub approval_request_id: Option<String>,
}

/// The server under test.
pub struct Api {
    targets: Vec<String>,
    channels: Vec<Channel>,
    next: AtomicUsize,
    run_id: String,
    sequence: AtomicU64,
    ledger: Mutex<Vec<Expected>>,
}

impl Api {
    /// Connects lazily to every target.
    pub fn new(targets: &[String], run_id: &str) -> Result<Api, String> {
        let channels = targets
            .iter()
            .map(|t| {
                let uri = if t.contains("://") {
                    t.clone()
                } else {
                    format!("http://{t}")
                };
                Channel::from_shared(uri)
                    .map(|e| {
                        e.connect_timeout(Duration::from_secs(5))
                            .timeout(Duration::from_secs(60))
                            .connect_lazy()
                    })
                    .map_err(|e| format!("bad target {t:?}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Api {
            targets: targets.to_vec(),
            channels,
            next: AtomicUsize::new(0),
            run_id: run_id.to_string(),
            sequence: AtomicU64::new(0),
            ledger: Mutex::new(Vec::new()),
        })
    }

    /// Every target's channel (health is checked on each).
    pub fn all_channels(&self) -> &[Channel] {
        &self.channels
    }

    /// A target for a plain HTTP request (round-robin like the channels).
    pub fn http_target(&self) -> String {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.targets.len();
        self.targets[i].clone()
    }

    fn channel(&self) -> Channel {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.channels.len();
        self.channels[i].clone()
    }

    /// A fresh correlation id of this run.
    pub fn correlation_id(&self) -> String {
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        format!("ct-{}-{n:05}", self.run_id)
    }

    /// `message` with `who`'s token and the correlation id.
    pub fn request<T>(&self, who: &Who, message: T, correlation_id: &str) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        let metadata = request.metadata_mut();
        if let Ok(v) = format!("Bearer {}", who.token).parse() {
            metadata.insert("authorization", v);
        }
        if let Ok(v) = correlation_id.parse() {
            metadata.insert("x-request-id", v);
        }
        request
    }

    /// `message` with `who`'s token and a fresh correlation id.
    pub fn req<T>(&self, who: &Who, message: T) -> tonic::Request<T> {
        let id = self.correlation_id();
        self.request(who, message, &id)
    }

    pub fn plugins(&self) -> pb::plugin_service_client::PluginServiceClient<Channel> {
        pb::plugin_service_client::PluginServiceClient::new(self.channel())
    }
    pub fn assets(&self) -> pb::asset_service_client::AssetServiceClient<Channel> {
        pb::asset_service_client::AssetServiceClient::new(self.channel())
    }
    pub fn sources(&self) -> pb::source_service_client::SourceServiceClient<Channel> {
        pb::source_service_client::SourceServiceClient::new(self.channel())
    }
    pub fn governance(&self) -> gpb::governance_service_client::GovernanceServiceClient<Channel> {
        gpb::governance_service_client::GovernanceServiceClient::new(self.channel())
    }
    pub fn approvals(&self) -> gpb::approval_service_client::ApprovalServiceClient<Channel> {
        gpb::approval_service_client::ApprovalServiceClient::new(self.channel())
    }
    pub fn audit(&self) -> gpb::audit_service_client::AuditServiceClient<Channel> {
        gpb::audit_service_client::AuditServiceClient::new(self.channel())
    }
    /// A raw gRPC client on the next channel, for probing methods the
    /// contract does not have.
    pub fn raw(&self) -> tonic::client::Grpc<Channel> {
        tonic::client::Grpc::new(self.channel())
    }

    /// Records what a mutating call must have left in the audit trail.
    pub fn expect(&self, expected: Expected) {
        self.ledger.lock().expect("ledger lock").push(expected);
    }

    /// The recorded expectations of one plugin.
    pub fn ledger_for(&self, plugin: &str) -> Vec<Expected> {
        self.ledger
            .lock()
            .expect("ledger lock")
            .iter()
            .filter(|e| e.plugin == plugin)
            .cloned()
            .collect()
    }
}

/// An asset the checks act on.
#[derive(Debug, Clone)]
pub struct AssetKey {
    pub plugin: String,
    pub kind: String,
    pub name: String,
}

impl Api {
    /// Runs a governance action as `who` and records the audit event it
    /// must produce: the action itself on success or refusal, or
    /// `approval.request` when a gate holds it. Dry runs write nothing.
    pub async fn act(
        &self,
        who: &Who,
        asset: &AssetKey,
        action: &str,
        params: Value,
        dry_run: bool,
    ) -> Result<pb::ActionResult, Status> {
        let correlation_id = self.correlation_id();
        let result = self
            .governance()
            .execute_governance_action(self.request(
                who,
                gpb::ExecuteGovernanceActionRequest {
                    plugin: asset.plugin.clone(),
                    kind: asset.kind.clone(),
                    name: asset.name.clone(),
                    action: action.to_string(),
                    params: Some(to_struct(&params)),
                    dry_run,
                    reason: format!("conformance {}", self.run_id),
                },
                &correlation_id,
            ))
            .await
            .map(|r| r.into_inner());
        if !dry_run {
            self.expect_action(who, asset, correlation_id, action, &result);
        }
        result
    }

    /// Runs a legacy asset action (`deprecate`, `promote`; spec 01 §7.4)
    /// through ExecuteAssetAction. It runs as its governance action, so
    /// that action's audit event is expected, as for [`Api::act`].
    pub async fn act_legacy(
        &self,
        who: &Who,
        asset: &AssetKey,
        action: &str,
        params: Value,
    ) -> Result<pb::ActionResult, Status> {
        let correlation_id = self.correlation_id();
        let result = self
            .assets()
            .execute_asset_action(self.request(
                who,
                pb::ExecuteAssetActionRequest {
                    plugin: asset.plugin.clone(),
                    kind: asset.kind.clone(),
                    name: asset.name.clone(),
                    action: action.to_string(),
                    params: Some(to_struct(&params)),
                    reason: format!("conformance {}", self.run_id),
                    ..Default::default()
                },
                &correlation_id,
            ))
            .await
            .map(|r| r.into_inner());
        self.expect_action(
            who,
            asset,
            correlation_id,
            legacy_governance_action(action),
            &result,
        );
        result
    }

    /// Records the one event an executed (not dry-run) action call leaves:
    /// the action itself on success or refusal, `approval.request` when a
    /// gate holds it, `auth.denied` when the edge refuses the caller.
    fn expect_action(
        &self,
        who: &Who,
        asset: &AssetKey,
        correlation_id: String,
        action: &str,
        result: &Result<pb::ActionResult, Status>,
    ) {
        let (audited, outcomes): (String, Vec<&'static str>) = match result {
            Ok(r) if r.status == "pending-approval" => {
                ("approval.request".into(), vec!["pending-approval"])
            }
            Ok(_) => (action.to_string(), vec!["success"]),
            Err(status)
                if reason(status) == "ROLE_REQUIRED" || status.code() == Code::Unauthenticated =>
            {
                ("auth.denied".into(), vec!["denied"])
            }
            Err(_) => (action.to_string(), vec!["denied", "failed"]),
        };
        self.expect(Expected {
            plugin: asset.plugin.clone(),
            name: asset.name.clone(),
            correlation_id,
            actor: who.subject.clone(),
            action: audited,
            outcomes,
            approval_request_id: None,
        });
    }

    /// Approves a request as `who`; when that decision completes the
    /// request, the executed action must be audited under the same
    /// correlation id, naming the request.
    pub async fn approve(
        &self,
        who: &Who,
        asset: &AssetKey,
        request_id: &str,
    ) -> Result<gpb::ApprovalRequest, Status> {
        self.decide(who, asset, request_id, "approve").await
    }

    /// Rejects a request as `who`.
    pub async fn reject(
        &self,
        who: &Who,
        asset: &AssetKey,
        request_id: &str,
    ) -> Result<gpb::ApprovalRequest, Status> {
        self.decide(who, asset, request_id, "reject").await
    }

    async fn decide(
        &self,
        who: &Who,
        asset: &AssetKey,
        request_id: &str,
        verb: &str,
    ) -> Result<gpb::ApprovalRequest, Status> {
        let correlation_id = self.correlation_id();
        let comment = format!("conformance {}", self.run_id);
        let result = if verb == "approve" {
            self.approvals()
                .approve_request(self.request(
                    who,
                    gpb::ApproveRequestRequest {
                        request_id: request_id.into(),
                        comment,
                    },
                    &correlation_id,
                ))
                .await
        } else {
            self.approvals()
                .reject_request(self.request(
                    who,
                    gpb::RejectRequestRequest {
                        request_id: request_id.into(),
                        comment,
                    },
                    &correlation_id,
                ))
                .await
        }
        .map(|r| r.into_inner());
        let action = format!("approval.{verb}");
        let expected =
            |action: String, outcomes: Vec<&'static str>, via: Option<String>| Expected {
                plugin: asset.plugin.clone(),
                name: asset.name.clone(),
                correlation_id: correlation_id.clone(),
                actor: who.subject.clone(),
                action,
                outcomes,
                approval_request_id: via,
            };
        match &result {
            Ok(request) => {
                self.expect(expected(action, vec!["success"], None));
                if request.status == "approved" {
                    if let Some(execution) = &request.execution {
                        let outcome = if execution.status == "succeeded" {
                            "success"
                        } else {
                            "failed"
                        };
                        // The approved action runs on the requester's behalf.
                        let mut executed = expected(
                            request.action.clone(),
                            vec![outcome],
                            Some(request_id.to_string()),
                        );
                        executed.actor = request.requested_by.clone();
                        self.expect(executed);
                    }
                }
            }
            Err(status) if reason(status) == "ROLE_REQUIRED" => {
                self.expect(expected("auth.denied".into(), vec!["denied"], None))
            }
            Err(_) => self.expect(expected(action, vec!["denied", "failed"], None)),
        }
        result
    }

    /// Cancels a request as `who`.
    pub async fn cancel(
        &self,
        who: &Who,
        asset: &AssetKey,
        request_id: &str,
    ) -> Result<gpb::ApprovalRequest, Status> {
        let correlation_id = self.correlation_id();
        let result = self
            .approvals()
            .cancel_request(self.request(
                who,
                gpb::CancelRequestRequest {
                    request_id: request_id.into(),
                    reason: format!("conformance {}", self.run_id),
                },
                &correlation_id,
            ))
            .await
            .map(|r| r.into_inner());
        self.expect(Expected {
            plugin: asset.plugin.clone(),
            name: asset.name.clone(),
            correlation_id,
            actor: who.subject.clone(),
            action: "approval.cancel".into(),
            outcomes: if result.is_ok() {
                vec!["success"]
            } else {
                vec!["denied", "failed"]
            },
            approval_request_id: None,
        });
        result
    }

    /// Patches governance metadata (JSON merge-patch semantics over the
    /// fields set in `metadata`).
    pub async fn update_governance(
        &self,
        who: &Who,
        asset: &AssetKey,
        metadata: pb::GovernanceMetadata,
    ) -> Result<gpb::AssetGovernance, Status> {
        let correlation_id = self.correlation_id();
        let result = self
            .governance()
            .update_asset_governance(self.request(
                who,
                gpb::UpdateAssetGovernanceRequest {
                    plugin: asset.plugin.clone(),
                    kind: asset.kind.clone(),
                    name: asset.name.clone(),
                    governance: Some(metadata),
                    update_mask: None,
                    expected_resource_version: 0,
                },
                &correlation_id,
            ))
            .await
            .map(|r| r.into_inner());
        if result.is_ok() {
            self.expect(Expected {
                plugin: asset.plugin.clone(),
                name: asset.name.clone(),
                correlation_id,
                actor: who.subject.clone(),
                action: "governance.update".into(),
                outcomes: vec!["success"],
                approval_request_id: None,
            });
        }
        result
    }

    /// The asset's governance view.
    pub async fn governance_of(
        &self,
        who: &Who,
        asset: &AssetKey,
    ) -> Result<gpb::AssetGovernance, Status> {
        self.governance()
            .get_asset_governance(self.req(
                who,
                gpb::GetAssetGovernanceRequest {
                    plugin: asset.plugin.clone(),
                    kind: asset.kind.clone(),
                    name: asset.name.clone(),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    /// The asset's lifecycle state.
    pub async fn state_of(&self, who: &Who, asset: &AssetKey) -> Result<String, Status> {
        let g = self.governance_of(who, asset).await?;
        Ok(g.governance
            .and_then(|g| g.lifecycle)
            .map(|l| l.state)
            .unwrap_or_default())
    }

    /// The universal asset.
    pub async fn get_asset(
        &self,
        who: &Who,
        asset: &AssetKey,
    ) -> Result<pb::AssetResource, Status> {
        self.assets()
            .get_asset(self.req(
                who,
                pb::GetAssetRequest {
                    plugin: asset.plugin.clone(),
                    kind: asset.kind.clone(),
                    name: asset.name.clone(),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    /// Every page of a ListAssets query.
    pub async fn list_all(
        &self,
        who: &Who,
        mut request: pb::ListAssetsRequest,
    ) -> Result<Vec<pb::AssetResource>, Status> {
        let mut items = Vec::new();
        for _ in 0..10_000 {
            let page = self
                .assets()
                .list_assets(self.req(who, request.clone()))
                .await?
                .into_inner();
            items.extend(page.items);
            if page.next_page_token.is_empty() {
                return Ok(items);
            }
            request.page_token = page.next_page_token;
        }
        Err(Status::internal("paging did not end after 10 000 pages"))
    }

    /// Every audit event carrying `correlation_id`.
    pub async fn events_by_correlation(
        &self,
        who: &Who,
        correlation_id: &str,
    ) -> Result<Vec<gpb::AuditEvent>, Status> {
        let response = self
            .audit()
            .list_audit_events(self.req(
                who,
                gpb::ListAuditEventsRequest {
                    correlation_id: correlation_id.to_string(),
                    page_size: 100,
                    ..Default::default()
                },
            ))
            .await?
            .into_inner();
        Ok(response.events)
    }
}

/// The governance action a legacy asset action is audited as (01 §7.4).
pub fn legacy_governance_action(action: &str) -> &str {
    match action {
        "deprecate" => "lifecycle.deprecate",
        "promote" => "promotion.promote",
        other => other,
    }
}

/// The ErrorInfo reason of a status ("" when it has none).
pub fn reason(status: &Status) -> String {
    status
        .get_details_error_info()
        .map(|info| info.reason)
        .unwrap_or_default()
}

/// ErrorInfo metadata of a status.
pub fn error_metadata(status: &Status) -> std::collections::HashMap<String, String> {
    status
        .get_details_error_info()
        .map(|info| info.metadata)
        .unwrap_or_default()
}

/// A JSON object as a protobuf Struct.
pub fn to_struct(value: &Value) -> prost_types::Struct {
    let fields = value
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), to_value(v))).collect())
        .unwrap_or_default();
    prost_types::Struct { fields }
}

fn to_value(value: &Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(a) => Kind::ListValue(prost_types::ListValue {
            values: a.iter().map(to_value).collect(),
        }),
        Value::Object(_) => Kind::StructValue(to_struct(value)),
    };
    prost_types::Value { kind: Some(kind) }
}

/// A protobuf Struct as JSON.
pub fn from_struct(s: &prost_types::Struct) -> Value {
    Value::Object(
        s.fields
            .iter()
            .map(|(k, v)| (k.clone(), from_value(v)))
            .collect(),
    )
}

fn from_value(value: &prost_types::Value) -> Value {
    use prost_types::value::Kind;
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(b)) => Value::Bool(*b),
        Some(Kind::NumberValue(n)) => serde_json::Number::from_f64(*n)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Some(Kind::StringValue(s)) => Value::String(s.clone()),
        Some(Kind::ListValue(l)) => Value::Array(l.values.iter().map(from_value).collect()),
        Some(Kind::StructValue(s)) => from_struct(s),
    }
}
