//! The HTTP/JSON API (grpc-gateway compatible) and gRPC-Web on the gRPC
//! listener: every RPC called both over gRPC and over HTTP/JSON with the
//! answers compared field for field (the gRPC answer rendered with the
//! gateway's marshaler), then the exact JSON of errors and of
//! grpc-gateway's defaults, the strict and size options, metadata and
//! correlation ids, and a hand-built gRPC-Web call over HTTP/1.1.

use std::net::SocketAddr;

use catalog::proto::catalog::governance::v1alpha1 as gpb;
use catalog::proto::catalog::v1alpha1 as pb;
use catalog::transport::gateway::response::to_json;
use catalog::transport::grpc::convert::to_struct;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage};
use serde_json::{json, Value};

use crate::support::*;

fn pool() -> DescriptorPool {
    DescriptorPool::decode(catalog::proto::FILE_DESCRIPTOR_SET).unwrap()
}

/// A gRPC answer as the gateway's marshaler writes it.
fn as_json<M: Message>(message: &M, full_name: &str) -> Value {
    let descriptor = pool().get_message_by_name(full_name).unwrap();
    to_json(&DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice()).unwrap())
}

/// A running server and the HTTP/JSON calls the tests make on it.
struct Gw {
    s: TestServer,
    admin: String,
}

impl Gw {
    async fn start(extra_args: &[&str]) -> Gw {
        let extra: Vec<String> = extra_args.iter().map(|a| a.to_string()).collect();
        let s = TestServer::start_with(|dir| Options {
            sources: vec![copy_samples(dir)],
            extra_args: [
                vec![
                    "--approval-policies".to_string(),
                    repo()
                        .join("samples/approval-policies.yaml")
                        .display()
                        .to_string(),
                ],
                extra,
            ]
            .concat(),
            ..Default::default()
        })
        .await;
        let admin = s.default_token.clone().unwrap();
        Gw { s, admin }
    }

    fn addr(&self) -> SocketAddr {
        self.s.server.as_ref().unwrap().addr
    }

    async fn call(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Http {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(b) = &bearer {
            headers.push(("Authorization", b.as_str()));
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        http(self.addr(), method, path, &headers, body.as_bytes()).await
    }

    async fn get(&self, path: &str) -> Value {
        self.call(Some(&self.admin), "GET", path, None).await.ok()
    }

    async fn send(&self, token: &str, method: &str, path: &str, body: Value) -> Value {
        self.call(Some(token), method, path, Some(body)).await.ok()
    }
}

const AGENT: &str = "/api/governance/v1alpha1/assets/agents/Agent";

/// Removes keys whose values differ from call to call (ids, times).
fn redact(mut value: Value, keys: &[&str]) -> Value {
    fn walk(value: &mut Value, keys: &[&str]) {
        match value {
            Value::Object(map) => {
                for key in keys {
                    map.remove(*key);
                }
                map.values_mut().for_each(|v| walk(v, keys));
            }
            Value::Array(items) => items.iter_mut().for_each(|v| walk(v, keys)),
            _ => {}
        }
    }
    walk(&mut value, keys);
    value
}

#[tokio::test]
async fn every_read_rpc_answers_alike_over_grpc_and_http() {
    let g = Gw::start(&[]).await;
    let s = &g.s;

    // catalog.v1alpha1.PluginService
    let grpc = s
        .plugins()
        .list_plugins(pb::ListPluginsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        g.get("/api/plugins").await,
        as_json(&grpc, "catalog.v1alpha1.ListPluginsResponse")
    );
    let grpc = s
        .plugins()
        .get_plugin_capabilities(pb::GetPluginCapabilitiesRequest {
            plugin: "agents".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        g.get("/api/plugins/agents/capabilities").await,
        as_json(&grpc, "catalog.v1alpha1.PluginCapabilities")
    );
    let grpc = s
        .plugins()
        .get_capabilities(pb::GetCapabilitiesRequest {
            plugin: "agents".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        g.get("/api/capabilities?plugin=agents").await,
        as_json(&grpc, "catalog.v1alpha1.GetCapabilitiesResponse")
    );

    // catalog.v1alpha1.AssetService: a filter, then the next page through
    // the page token, as query parameters.
    let first = pb::ListAssetsRequest {
        plugin: "agents".into(),
        filter_query: "name != 'nothing'".into(),
        page_size: 2,
        include_total: true,
        ..Default::default()
    };
    let grpc = s
        .assets()
        .list_assets(first.clone())
        .await
        .unwrap()
        .into_inner();
    let page1 = g
        .get("/api/catalog/v1alpha1/agents/assets?filterQuery=name%20!%3D%20%27nothing%27&pageSize=2&includeTotal=true")
        .await;
    assert_eq!(page1, as_json(&grpc, "catalog.v1alpha1.ListAssetsResponse"));
    assert_eq!(page1["items"].as_array().unwrap().len(), 2);
    assert!(page1["totalSize"].is_string(), "int64 as a string: {page1}");
    let token = page1["nextPageToken"].as_str().unwrap().to_string();
    assert!(!token.is_empty());
    let grpc = s
        .assets()
        .list_assets(pb::ListAssetsRequest {
            page_token: token.clone(),
            ..first
        })
        .await
        .unwrap()
        .into_inner();
    let page2 = g
        .get(&format!(
            "/api/catalog/v1alpha1/agents/assets?filter_query=name+!%3D+%27nothing%27&page_size=2&include_total=1&pageToken={}",
            percent(&token)
        ))
        .await;
    assert_eq!(page2, as_json(&grpc, "catalog.v1alpha1.ListAssetsResponse"));
    assert_ne!(page1["items"], page2["items"]);

    let grpc = s
        .assets()
        .list_all_assets(pb::ListAllAssetsRequest {
            plugin: vec!["agents".into(), "model".into()],
            page_size: 3,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        g.get("/api/assets?plugin=agents&plugin=model&pageSize=3")
            .await,
        as_json(&grpc, "catalog.v1alpha1.ListAssetsResponse")
    );
    let grpc = s
        .get("agents", "Agent", "support-triage-router")
        .await
        .unwrap();
    assert_eq!(
        g.get("/api/catalog/v1alpha1/agents/assets/Agent/support-triage-router")
            .await,
        as_json(&grpc, "catalog.v1alpha1.AssetResource")
    );
    // A "/" inside a name travels as %2F and is decoded after matching.
    let grpc = s
        .get("model", "CatalogModel", "acme/granite-8b-instruct")
        .await
        .unwrap();
    assert_eq!(
        g.get("/api/catalog/v1alpha1/model/assets/CatalogModel/acme%2Fgranite-8b-instruct")
            .await,
        as_json(&grpc, "catalog.v1alpha1.AssetResource")
    );
    let grpc = s
        .assets()
        .list_entities(pb::ListEntitiesRequest {
            plugin: "agents".into(),
            plural: "agents".into(),
            page_size: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        g.get("/api/catalog/v1alpha1/agents/native/agents?pageSize=2")
            .await,
        as_json(&grpc, "catalog.v1alpha1.ListEntitiesResponse")
    );
    let grpc = s
        .assets()
        .get_entity(pb::GetEntityRequest {
            plugin: "agents".into(),
            plural: "agents".into(),
            name: "support-triage-router".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let entity = g
        .get("/api/catalog/v1alpha1/agents/native/agents/support-triage-router")
        .await;
    assert_eq!(entity, as_json(&grpc, "google.protobuf.Struct"));
    assert_eq!(entity["name"], "support-triage-router");
    // A native record as one source supplies it, and its artifacts (the
    // model catalog's per-source routes), with sourceId in the query.
    let grpc = s
        .assets()
        .get_entity(pb::GetEntityRequest {
            plugin: "model".into(),
            plural: "models".into(),
            name: "acme/granite-8b-instruct".into(),
            source_id: "sample-models".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        g.get("/api/catalog/v1alpha1/model/native/models/acme%2Fgranite-8b-instruct?sourceId=sample-models")
            .await,
        as_json(&grpc, "google.protobuf.Struct")
    );
    let grpc = s
        .assets()
        .list_entity_artifacts(pb::ListEntityArtifactsRequest {
            plugin: "model".into(),
            plural: "models".into(),
            name: "acme/granite-8b-instruct".into(),
            source_id: "sample-models".into(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let artifacts = g
        .get("/api/catalog/v1alpha1/model/native/models/acme%2Fgranite-8b-instruct/artifacts?sourceId=sample-models&pageSize=1")
        .await;
    assert_eq!(
        artifacts,
        as_json(&grpc, "catalog.v1alpha1.ListEntityArtifactsResponse")
    );
    assert_eq!(artifacts["items"][0]["artifactType"], "model-artifact");
    let grpc = s
        .assets()
        .list_actions(pb::ListActionsRequest {
            plugin: "agents".into(),
            scope: "asset".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        g.get("/api/catalog/v1alpha1/agents/actions?scope=asset")
            .await,
        as_json(&grpc, "catalog.v1alpha1.ListActionsResponse")
    );
    let grpc = s
        .assets()
        .get_references(pb::GetReferencesRequest {
            plugin: "agents".into(),
            kind: "Agent".into(),
            name: "support-triage-router".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        g.get("/api/catalog/v1alpha1/agents/assets/Agent/support-triage-router/references")
            .await,
        as_json(&grpc, "catalog.v1alpha1.GetReferencesResponse")
    );

    // catalog.v1alpha1.SourceService
    let grpc = s
        .sources()
        .list_sources(pb::ListSourcesRequest {
            plugin: "agents".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let sources = g.get("/api/catalog/v1alpha1/agents/sources").await;
    assert_eq!(
        sources,
        as_json(&grpc, "catalog.v1alpha1.ListSourcesResponse")
    );
    let id = grpc.items[0].id.clone();
    let grpc = s.source("agents", &id).await;
    assert_eq!(
        g.get(&format!("/api/catalog/v1alpha1/agents/sources/{id}"))
            .await,
        as_json(&grpc, "catalog.v1alpha1.SourceInfo")
    );

    // catalog.governance.v1alpha1.GovernanceService
    let asset = || {
        (
            String::from("agents"),
            String::from("Agent"),
            String::from("support-triage-router"),
        )
    };
    let (plugin, kind, name) = asset();
    let grpc = s
        .governance()
        .get_asset_governance(gpb::GetAssetGovernanceRequest { plugin, kind, name })
        .await
        .unwrap()
        .into_inner();
    let governance = g.get(&format!("{AGENT}/support-triage-router")).await;
    assert_eq!(
        governance,
        as_json(&grpc, "catalog.governance.v1alpha1.AssetGovernance")
    );
    let (plugin, kind, name) = asset();
    let grpc = s
        .governance()
        .list_asset_history(gpb::ListAssetHistoryRequest {
            plugin,
            kind,
            name,
            action: vec!["lifecycle.*".into(), "version.*".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        g.get(&format!(
            "{AGENT}/support-triage-router/history?action=lifecycle.*&action=version.*"
        ))
        .await,
        as_json(
            &grpc,
            "catalog.governance.v1alpha1.ListAssetHistoryResponse"
        )
    );
    let (plugin, kind, name) = asset();
    let grpc = s
        .governance()
        .list_versions(gpb::ListVersionsRequest {
            plugin,
            kind,
            name,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        g.get(&format!("{AGENT}/support-triage-router/versions"))
            .await,
        as_json(&grpc, "catalog.governance.v1alpha1.ListVersionsResponse")
    );
    let version_id = grpc.versions[0].version_id.clone();
    let (plugin, kind, name) = asset();
    let grpc = s
        .governance()
        .get_version(gpb::GetVersionRequest {
            plugin,
            kind,
            name,
            version_id: version_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        g.get(&format!(
            "{AGENT}/support-triage-router/versions/{version_id}"
        ))
        .await,
        as_json(&grpc, "catalog.governance.v1alpha1.Version")
    );
    let (plugin, kind, name) = asset();
    let grpc = s
        .governance()
        .list_bindings(gpb::ListBindingsRequest {
            plugin,
            kind,
            name,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        g.get(&format!("{AGENT}/support-triage-router/bindings"))
            .await,
        as_json(&grpc, "catalog.governance.v1alpha1.ListBindingsResponse")
    );
    let grpc = s
        .governance()
        .list_governed_assets(gpb::ListGovernedAssetsRequest {
            plugin: "agents".into(),
            lifecycle_state: vec!["draft".into(), "approved".into()],
            page_size: 3,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        g.get("/api/governance/v1alpha1/assets?plugin=agents&lifecycleState=draft&lifecycleState=approved&pageSize=3")
            .await,
        as_json(&grpc, "catalog.governance.v1alpha1.ListGovernedAssetsResponse")
    );
    let grpc = s
        .governance()
        .get_governance_config(gpb::GetGovernanceConfigRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        g.get("/api/governance/v1alpha1/config").await,
        as_json(
            &grpc,
            "catalog.governance.v1alpha1.GetGovernanceConfigResponse"
        )
    );

    // catalog.governance.v1alpha1.ApprovalService (reads; decisions are in
    // the write test) with Timestamp query parameters.
    let grpc = s
        .approvals_as(Some(&g.admin))
        .list_approvals(gpb::ListApprovalsRequest {
            status: vec!["pending".into(), "approved".into()],
            created_after: Some(prost_types::Timestamp {
                seconds: 1_000_000_000,
                nanos: 0,
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        g.get("/api/governance/v1alpha1/approvals?status=pending&status=approved&createdAfter=2001-09-09T01:46:40Z")
            .await,
        as_json(&grpc, "catalog.governance.v1alpha1.ListApprovalsResponse")
    );

    // catalog.governance.v1alpha1.AuditService
    let grpc = s
        .audit()
        .list_audit_events(gpb::ListAuditEventsRequest {
            plugin: "agents".into(),
            page_size: 5,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        g.get("/api/governance/v1alpha1/audit?plugin=agents&pageSize=5")
            .await,
        as_json(&grpc, "catalog.governance.v1alpha1.ListAuditEventsResponse")
    );
    let event_id = grpc.events[0].event_id.clone();
    let grpc = s
        .audit()
        .get_audit_event(gpb::GetAuditEventRequest {
            event_id: event_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let event = g
        .get(&format!("/api/governance/v1alpha1/audit/{event_id}"))
        .await;
    assert_eq!(
        event,
        as_json(&grpc, "catalog.governance.v1alpha1.AuditEvent")
    );
    assert!(event["sequence"].is_string(), "int64 as a string: {event}");
    let grpc = s
        .audit()
        .verify_audit_chain(gpb::VerifyAuditChainRequest { from_sequence: 2 })
        .await
        .unwrap()
        .into_inner();
    let verified = g
        .get("/api/governance/v1alpha1/audit:verify?fromSequence=2")
        .await;
    assert_eq!(
        verified,
        as_json(
            &grpc,
            "catalog.governance.v1alpha1.VerifyAuditChainResponse"
        )
    );
    assert_eq!(verified["verified"], true);
    assert!(verified["checkedCount"].is_string());
    g.s.stop().await;
}

fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Keys that differ between two runs of the same action.
const VOLATILE: &[&str] = &[
    "startedAt",
    "finishedAt",
    "actionRunId",
    "auditEventId",
    "correlationId",
    "jobId",
];

#[tokio::test]
async fn every_write_rpc_works_over_http_and_agrees_with_grpc() {
    let g = Gw::start(&[]).await;
    let s = &g.s;
    let operator = s.token("olga", &["operator"]);
    let approver = s.token("ada", &["approver"]);
    let name = "code-review-agent";

    // UpdateAssetGovernance: PATCH with the body field `governance`; the
    // update mask comes from the body (grpc-gateway's PATCH feature).
    let updated = g
        .send(
            &operator,
            "PATCH",
            &format!("{AGENT}/{name}"),
            json!({"owner": {"principal": "team-lead"}}),
        )
        .await;
    assert_eq!(updated["governance"]["owner"]["principal"], "team-lead");
    let read = s
        .governance()
        .get_asset_governance(gpb::GetAssetGovernanceRequest {
            plugin: "agents".into(),
            kind: "Agent".into(),
            name: name.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        updated,
        as_json(&read, "catalog.governance.v1alpha1.AssetGovernance")
    );

    // ExecuteGovernanceAction: a dry run agrees with gRPC's, then the real
    // action parks as a pending approval request with its id.
    let dry = g
        .send(
            &operator,
            "POST",
            &format!("{AGENT}/{name}/actions/lifecycle.setState"),
            json!({"params": {"state": "approved"}, "dryRun": true, "reason": "http"}),
        )
        .await;
    let grpc = s
        .governance_as(Some(&operator))
        .execute_governance_action(gpb::ExecuteGovernanceActionRequest {
            plugin: "agents".into(),
            kind: "Agent".into(),
            name: name.into(),
            action: "lifecycle.setState".into(),
            params: Some(to_struct(json!({"state": "approved"}).as_object().unwrap())),
            dry_run: true,
            reason: "http".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        redact(dry, VOLATILE),
        redact(as_json(&grpc, "catalog.v1alpha1.ActionResult"), VOLATILE)
    );
    let pending = g
        .send(
            &operator,
            "POST",
            &format!("{AGENT}/{name}/actions/lifecycle.setState"),
            json!({"params": {"state": "approved"}, "dryRun": false, "reason": "ship it"}),
        )
        .await;
    assert_eq!(pending["status"], "pending-approval", "{pending}");
    let id = pending["approvalRequestId"].as_str().unwrap().to_string();
    assert!(!id.is_empty());

    // GetApproval and ApproveRequest.
    let grpc = s
        .approvals_as(Some(&g.admin))
        .get_approval(gpb::GetApprovalRequest {
            request_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        g.get(&format!("/api/governance/v1alpha1/approvals/{id}"))
            .await,
        as_json(&grpc, "catalog.governance.v1alpha1.ApprovalRequest")
    );
    let approved = g
        .send(
            &approver,
            "POST",
            &format!("/api/governance/v1alpha1/approvals/{id}/approve"),
            json!({"comment": "looks right"}),
        )
        .await;
    assert_eq!(approved["status"], "approved", "{approved}");
    let grpc = s
        .approvals_as(Some(&g.admin))
        .get_approval(gpb::GetApprovalRequest {
            request_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        approved,
        as_json(&grpc, "catalog.governance.v1alpha1.ApprovalRequest")
    );

    // CreateVersion, then SetBinding and DeleteBinding on it.
    let created = g
        .send(
            &operator,
            "POST",
            &format!("{AGENT}/{name}/versions"),
            json!({"version": "v1", "reason": "first release"}),
        )
        .await;
    assert_eq!(created["status"], "completed", "{created}");
    let grpc = s
        .governance()
        .get_version(gpb::GetVersionRequest {
            plugin: "agents".into(),
            kind: "Agent".into(),
            name: name.into(),
            version_id: "v1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        g.get(&format!("{AGENT}/{name}/versions/v1")).await,
        as_json(&grpc, "catalog.governance.v1alpha1.Version")
    );
    let bound = g
        .send(
            &operator,
            "PUT",
            &format!("{AGENT}/{name}/bindings/dev"),
            json!({"versionId": "v1", "reason": "to dev"}),
        )
        .await;
    assert_eq!(bound["status"], "completed", "{bound}");
    let grpc = s
        .governance()
        .list_bindings(gpb::ListBindingsRequest {
            plugin: "agents".into(),
            kind: "Agent".into(),
            name: name.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        g.get(&format!("{AGENT}/{name}/bindings")).await,
        as_json(&grpc, "catalog.governance.v1alpha1.ListBindingsResponse")
    );
    let unbound = g
        .call(
            Some(&operator),
            "DELETE",
            &format!("{AGENT}/{name}/bindings/dev?reason=done&dryRun=false"),
            None,
        )
        .await
        .ok();
    assert_eq!(unbound["status"], "completed", "{unbound}");
    let grpc = s
        .governance()
        .list_bindings(gpb::ListBindingsRequest {
            plugin: "agents".into(),
            kind: "Agent".into(),
            name: name.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        g.get(&format!("{AGENT}/{name}/bindings")).await,
        as_json(&grpc, "catalog.governance.v1alpha1.ListBindingsResponse")
    );

    // RejectRequest and CancelRequest on fresh requests.
    let other = "support-triage-router";
    g.send(
        &operator,
        "PATCH",
        &format!("{AGENT}/{other}"),
        json!({"owner": {"principal": "lead"}}),
    )
    .await;
    let first = request_approval(&g, &operator, other).await;
    let rejected = g
        .send(
            &approver,
            "POST",
            &format!("/api/governance/v1alpha1/approvals/{first}/reject"),
            json!({"comment": "not yet"}),
        )
        .await;
    assert_eq!(rejected["status"], "rejected", "{rejected}");
    let second = request_approval(&g, &operator, other).await;
    let cancelled = g
        .send(
            &operator,
            "POST",
            &format!("/api/governance/v1alpha1/approvals/{second}/cancel"),
            json!({"reason": "changed my mind"}),
        )
        .await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    let grpc = s
        .approvals_as(Some(&g.admin))
        .get_approval(gpb::GetApprovalRequest {
            request_id: second.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        cancelled,
        as_json(&grpc, "catalog.governance.v1alpha1.ApprovalRequest")
    );

    // ExecuteSourceAction (custom verb `:action`), dry run both ways.
    let sources = s
        .sources()
        .list_sources(pb::ListSourcesRequest {
            plugin: "agents".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let id = sources.items[0].id.clone();
    let over_http = g
        .call(
            Some(&g.admin),
            "POST",
            &format!("/api/catalog/v1alpha1/agents/sources/{id}:action"),
            Some(json!({"action": "disable", "dryRun": true, "reason": "check"})),
        )
        .await;
    let grpc = s.action("agents", &id, "disable", true, json!({})).await;
    match grpc {
        Ok(result) => assert_eq!(
            redact(over_http.ok(), VOLATILE),
            redact(as_json(&result, "catalog.v1alpha1.ActionResult"), VOLATILE)
        ),
        Err(status) => assert_eq!(
            redact(over_http.json(), &["correlationId"]),
            redact(error_body(&status), &["correlationId"])
        ),
    }
    g.s.stop().await;
}

/// Asks for approval of an agent over HTTP; the pending request's id.
async fn request_approval(g: &Gw, operator: &str, name: &str) -> String {
    let pending = g
        .send(
            operator,
            "POST",
            &format!("{AGENT}/{name}/actions/lifecycle.setState"),
            json!({"params": {"state": "approved"}, "reason": "please"}),
        )
        .await;
    pending["approvalRequestId"].as_str().unwrap().to_string()
}

/// The exact error body grpc-gateway writes for a gRPC status.
fn error_body(status: &tonic::Status) -> Value {
    let pool = pool();
    let details = catalog::transport::gateway::errors::details_json(&pool, status.details());
    json!({"code": status.code() as i32, "message": status.message(), "details": details})
}

#[tokio::test]
async fn errors_have_grpc_gateways_status_and_body() {
    let g = Gw::start(&[]).await;
    let s = &g.s;
    let addr = g.addr();
    let admin = format!("Bearer {}", g.admin);

    // Routing errors: 404 for an unknown path, 501 for a known path with
    // another method, with grpc-gateway's exact bodies.
    let missing = g
        .call(Some(&g.admin), "GET", "/api/nothing/here", None)
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.json(),
        json!({"code": 5, "message": "Not Found", "details": []})
    );
    let wrong = g.call(Some(&g.admin), "DELETE", "/api/plugins", None).await;
    assert_eq!(wrong.status, 501);
    assert_eq!(
        wrong.json(),
        json!({"code": 12, "message": "Method Not Allowed", "details": []})
    );

    // NOT_FOUND from the service, with typed details and the caller's
    // correlation id; the same status as over gRPC.
    let over_http = http(
        addr,
        "GET",
        "/api/catalog/v1alpha1/agents/assets/Agent/no-such-agent",
        &[("Authorization", &admin), ("x-request-id", "req-404")],
        b"",
    )
    .await;
    assert_eq!(over_http.status, 404);
    assert_eq!(over_http.header("x-request-id"), Some("req-404"));
    let mut request = tonic::Request::new(pb::GetAssetRequest {
        plugin: "agents".into(),
        kind: "Agent".into(),
        name: "no-such-agent".into(),
    });
    request
        .metadata_mut()
        .insert("x-request-id", "req-404".parse().unwrap());
    let status = s.assets().get_asset(request).await.unwrap_err();
    let body = over_http.json();
    assert_eq!(body, error_body(&status));
    assert_eq!(
        body["details"][0]["@type"],
        "type.googleapis.com/google.rpc.ErrorInfo"
    );
    assert_eq!(body["details"][0]["reason"], "ASSET_NOT_FOUND");
    assert_eq!(body["details"][0]["metadata"]["correlationId"], "req-404");

    // INVALID_ARGUMENT from the service: 400.
    let bad_filter = g
        .call(
            Some(&g.admin),
            "GET",
            "/api/catalog/v1alpha1/agents/assets?filterQuery=((",
            None,
        )
        .await;
    assert_eq!(bad_filter.status, 400);
    assert_eq!(bad_filter.json()["code"], 3);
    assert_eq!(bad_filter.json()["details"][0]["reason"], "INVALID_FILTER");

    // UNAUTHENTICATED: 401 with WWW-Authenticate.
    let anonymous = g.call(None, "GET", "/api/plugins", None).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.header("www-authenticate"), Some("Bearer"));
    let status = s
        .plugins_as(None)
        .list_plugins(pb::ListPluginsRequest {})
        .await
        .unwrap_err();
    assert_eq!(
        redact(anonymous.json(), &["correlationId"]),
        redact(error_body(&status), &["correlationId"])
    );
    assert_eq!(anonymous.json()["code"], 16);

    // PERMISSION_DENIED: 403.
    let viewer = s.token("vic", &["viewer"]);
    let denied = g
        .call(
            Some(&viewer),
            "PATCH",
            &format!("{AGENT}/support-triage-router"),
            Some(json!({"owner": {"principal": "vic"}})),
        )
        .await;
    assert_eq!(denied.status, 403);
    assert_eq!(denied.json()["code"], 7);
    assert_eq!(denied.json()["details"][0]["reason"], "ROLE_REQUIRED");

    // ABORTED: 409, from a stale If-Match (passed to gRPC metadata).
    let stale = http(
        addr,
        "PATCH",
        &format!("{AGENT}/support-triage-router"),
        &[
            ("Authorization", &admin),
            ("Content-Type", "application/json"),
            ("If-Match", "\"999\""),
        ],
        br#"{"owner": {"principal": "x"}}"#,
    )
    .await;
    assert_eq!(
        stale.status,
        409,
        "{}",
        String::from_utf8_lossy(&stale.body)
    );
    assert_eq!(stale.json()["code"], 10);
    assert_eq!(
        stale.json()["details"][0]["reason"],
        "CONCURRENT_MODIFICATION"
    );

    // FAILED_PRECONDITION: 400 (grpc-gateway's choice, not 412).
    let refused = g
        .call(
            Some(&g.admin),
            "POST",
            &format!("{AGENT}/billing-specialist/actions/lifecycle.setState"),
            Some(json!({"params": {"state": "approved"}, "reason": "no owner"})),
        )
        .await;
    assert_eq!(
        refused.status,
        400,
        "{}",
        String::from_utf8_lossy(&refused.body)
    );
    assert_eq!(refused.json()["code"], 9);

    // Malformed JSON and a wrong type: 400 INVALID_ARGUMENT, never a 500.
    for body in [
        &b"{\"params\": "[..],
        b"[1, 2]",
        b"{\"dryRun\": \"perhaps\"}",
    ] {
        let bad = http(
            addr,
            "POST",
            &format!("{AGENT}/support-triage-router/actions/lifecycle.setState"),
            &[
                ("Authorization", &admin),
                ("Content-Type", "application/json"),
            ],
            body,
        )
        .await;
        assert_eq!(bad.status, 400, "{}", String::from_utf8_lossy(body));
        let json = bad.json();
        assert_eq!(json["code"], 3);
        assert_eq!(json["details"], json!([]));
        assert!(json["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON body"));
    }
    let bad_number = g
        .call(
            Some(&g.admin),
            "GET",
            "/api/plugins/agents/capabilities?x=1",
            None,
        )
        .await;
    assert_eq!(bad_number.status, 200, "unknown parameters are ignored");
    let bad_number = g
        .call(
            Some(&g.admin),
            "GET",
            "/api/catalog/v1alpha1/agents/assets?pageSize=ten",
            None,
        )
        .await;
    assert_eq!(bad_number.status, 400);
    assert_eq!(bad_number.json()["code"], 3);
    g.s.stop().await;
}

#[tokio::test]
async fn defaults_metadata_and_request_ids_follow_grpc_gateway() {
    let g = Gw::start(&[]).await;
    let addr = g.addr();
    let admin = format!("Bearer {}", g.admin);

    // EmitUnpopulated: every field present, with its default value; int64
    // as a string; unset messages as null.
    let governance = g.get(&format!("{AGENT}/incident-planner")).await;
    let metadata = &governance["governance"];
    assert_eq!(metadata["owner"], Value::Null, "{governance}");
    assert!(metadata["resourceVersion"].is_string(), "{governance}");
    assert_eq!(metadata["updatedBy"].as_str().map(|_| ()), Some(()));
    let history = g
        .get(&format!("{AGENT}/incident-planner/history?actor=nobody"))
        .await;
    assert_eq!(
        history,
        json!({"events": [], "nextPageToken": "", "size": 0})
    );

    // Unknown body fields and query parameters are ignored.
    let patched = g
        .send(
            &g.admin,
            "PATCH",
            &format!("{AGENT}/incident-planner?bogus=1"),
            json!({"owner": {"principal": "pat"}, "bogus": 1}),
        )
        .await;
    assert_eq!(patched["governance"]["owner"]["principal"], "pat");

    // x-request-id round trip, and Grpc-Metadata-* reaching gRPC metadata
    // (a Grpc-Metadata-X-Request-Id becomes the call's correlation id).
    let plain = http(
        addr,
        "GET",
        "/api/plugins",
        &[("Authorization", &admin), ("X-Request-Id", "req-1")],
        b"",
    )
    .await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("x-request-id"), Some("req-1"));
    assert_eq!(plain.header("grpc-metadata-x-request-id"), Some("req-1"));
    let via_metadata = http(
        addr,
        "GET",
        "/api/catalog/v1alpha1/agents/assets/Agent/none",
        &[
            ("Authorization", &admin),
            ("Grpc-Metadata-X-Request-Id", "req-2"),
        ],
        b"",
    )
    .await;
    assert_eq!(via_metadata.status, 404);
    assert_eq!(via_metadata.header("x-request-id"), Some("req-2"));
    assert_eq!(
        via_metadata.json()["details"][0]["metadata"]["correlationId"],
        "req-2"
    );
    // Authorization travels as Grpc-Metadata-Authorization too.
    let via_metadata = http(
        addr,
        "GET",
        "/api/plugins",
        &[("Grpc-Metadata-Authorization", &admin)],
        b"",
    )
    .await;
    assert_eq!(via_metadata.status, 200);

    // The HTTP calls went through the gRPC stack: its metrics saw them.
    let metrics = http(addr, "GET", "/metrics", &[], b"").await;
    let text = String::from_utf8(metrics.body).unwrap();
    assert!(
        text.lines().any(|l| l
            == "grpc_server_handled_total{service=\"catalog.v1alpha1.PluginService\",method=\"ListPlugins\",code=\"OK\"} 2"),
        "{text}"
    );
    g.s.stop().await;
}

#[tokio::test]
async fn strict_mode_and_the_body_limit_refuse_with_400() {
    let g = Gw::start(&["--http-strict", "--http-max-body-bytes", "256"]).await;
    let path = format!("{AGENT}/incident-planner/actions/lifecycle.setState");
    let unknown_field = g
        .call(
            Some(&g.admin),
            "POST",
            &path,
            Some(json!({"params": {}, "dryRun": true, "bogus": 1})),
        )
        .await;
    assert_eq!(unknown_field.status, 400);
    let body = unknown_field.json();
    assert_eq!(body["code"], 3);
    assert_eq!(body["details"], json!([]));
    assert!(
        body["message"].as_str().unwrap().contains("bogus"),
        "{body}"
    );
    let unknown_parameter = g
        .call(Some(&g.admin), "GET", "/api/plugins?bogus=1", None)
        .await;
    assert_eq!(unknown_parameter.status, 400);
    assert_eq!(
        unknown_parameter.json(),
        json!({"code": 3, "message": "unknown query parameter \"bogus\"", "details": []})
    );
    let fine = g.call(Some(&g.admin), "GET", "/api/plugins", None).await;
    assert_eq!(fine.status, 200);

    let big = json!({"params": {"state": "x".repeat(300)}, "dryRun": true});
    let oversized = g.call(Some(&g.admin), "POST", &path, Some(big)).await;
    assert_eq!(oversized.status, 400);
    assert_eq!(
        oversized.json(),
        json!({
            "code": 3,
            "message": "the request body is larger than the limit of 256 bytes",
            "details": []
        })
    );
    g.s.stop().await;
}

#[tokio::test]
async fn grpc_web_is_served_on_the_same_port() {
    let g = Gw::start(&[]).await;
    let admin = format!("Bearer {}", g.admin);
    let request = pb::GetPluginCapabilitiesRequest {
        plugin: "agents".into(),
    };
    let payload = request.encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(&payload);
    let answer = http(
        g.addr(),
        "POST",
        "/catalog.v1alpha1.PluginService/GetPluginCapabilities",
        &[
            ("Content-Type", "application/grpc-web+proto"),
            ("Authorization", &admin),
            ("X-Grpc-Web", "1"),
        ],
        &frame,
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.header("content-type"),
        Some("application/grpc-web+proto")
    );
    let body = answer.body;
    assert_eq!(body[0], 0, "a data frame first");
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    let message = pb::PluginCapabilities::decode(&body[5..5 + len]).unwrap();
    let trailers = &body[5 + len..];
    assert_eq!(trailers[0], 0x80, "then the trailers frame");
    let trailers = String::from_utf8_lossy(&trailers[5..]).to_ascii_lowercase();
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
    let grpc =
        g.s.plugins()
            .get_plugin_capabilities(request)
            .await
            .unwrap()
            .into_inner();
    assert_eq!(message, grpc);

    // Refusals come back as gRPC-Web trailers too.
    let anonymous = http(
        g.addr(),
        "POST",
        "/catalog.v1alpha1.PluginService/GetPluginCapabilities",
        &[("Content-Type", "application/grpc-web+proto")],
        &frame,
    )
    .await;
    assert_eq!(anonymous.status, 200);
    // Trailers-only: the status rides in the headers, or in a trailer frame.
    let refused = match anonymous.header("grpc-status") {
        Some(code) => code == "16",
        None => String::from_utf8_lossy(&anonymous.body)
            .to_ascii_lowercase()
            .contains("grpc-status:16"),
    };
    assert!(refused, "{:?}", anonymous.headers);
    g.s.stop().await;
}

#[tokio::test]
async fn legacy_plugin_paths_reach_the_canonical_routes() {
    let g = Gw::start(&[]).await;
    for (legacy, canonical) in [
        (
            "/api/agents_catalog/v1alpha1/agents?pageSize=2",
            "/api/catalog/v1alpha1/agents/native/agents?pageSize=2",
        ),
        (
            "/api/agents_catalog/v1alpha1/agents/support-triage-router",
            "/api/catalog/v1alpha1/agents/native/agents/support-triage-router",
        ),
        (
            "/api/agents_catalog/v1alpha1/entities/support-triage-router",
            "/api/catalog/v1alpha1/agents/native/agents/support-triage-router",
        ),
        (
            "/api/agents_catalog/v1alpha1/actions/asset",
            "/api/catalog/v1alpha1/agents/actions?scope=asset",
        ),
        (
            "/api/agents_catalog/v1alpha1/sources",
            "/api/catalog/v1alpha1/agents/sources",
        ),
        // The model catalog's routes (spec 08 §3.2): `source` keeps one
        // source; a model name spans segments or carries %2F.
        (
            "/api/model_catalog/v1alpha1/models?source=sample-models&pageSize=3",
            "/api/catalog/v1alpha1/model/native/models?sourceId=sample-models&pageSize=3",
        ),
        (
            "/api/model_catalog/v1alpha1/sources/sample-models/models/acme/granite-8b-instruct",
            "/api/catalog/v1alpha1/model/native/models/acme%2Fgranite-8b-instruct?sourceId=sample-models",
        ),
        (
            "/api/model_catalog/v1alpha1/sources/sample-models/models/acme%2Fgranite-8b-instruct",
            "/api/catalog/v1alpha1/model/native/models/acme%2Fgranite-8b-instruct?sourceId=sample-models",
        ),
        (
            "/api/model_catalog/v1alpha1/sources/sample-models/models/acme/granite-8b-instruct/artifacts?pageSize=5",
            "/api/catalog/v1alpha1/model/native/models/acme%2Fgranite-8b-instruct/artifacts?sourceId=sample-models&pageSize=5",
        ),
    ] {
        assert_eq!(g.get(legacy).await, g.get(canonical).await, "{legacy}");
    }
    // Asset actions (ExecuteAssetAction) under the canonical path and both
    // legacy spellings.
    let deprecate = json!({"action": "deprecate", "params": {"phase": "archived"}});
    for path in [
        "/api/catalog/v1alpha1/agents/assets/Agent/support-triage-router:action",
        "/api/agents_catalog/v1alpha1/entities/support-triage-router:action",
        "/api/agents_catalog/v1alpha1/agents/support-triage-router:action",
    ] {
        let refused = g
            .call(Some(&g.admin), "POST", path, Some(deprecate.clone()))
            .await;
        assert_eq!(refused.status, 400, "{path}");
        assert_eq!(
            refused.json()["details"][0]["reason"],
            "LIFECYCLE_FIELD_READ_ONLY",
            "{path}"
        );
    }
    let model = g
        .get("/api/model_catalog/v1alpha1/sources/sample-models/models/acme/granite-8b-instruct")
        .await;
    assert_eq!(
        (&model["name"], &model["sourceId"]),
        (&json!("acme/granite-8b-instruct"), &json!("sample-models"))
    );
    let listed = g
        .get("/api/model_catalog/v1alpha1/models?source=sample-models&pageSize=500")
        .await;
    let items = listed["items"].as_array().unwrap();
    assert!(!items.is_empty());
    assert!(
        items.iter().all(|i| i["sourceId"] == "sample-models"),
        "{listed}"
    );
    for (path, expected) in [
        (
            "/api/model_catalog/v1alpha1/sources/sample-models/models/acme/no-such-model",
            "ASSET_NOT_FOUND",
        ),
        (
            "/api/model_catalog/v1alpha1/sources/sample-models/models/acme/no-such-model/artifacts",
            "ASSET_NOT_FOUND",
        ),
        (
            "/api/model_catalog/v1alpha1/sources/no-such-source/models/acme/granite-8b-instruct",
            "SOURCE_NOT_FOUND",
        ),
    ] {
        let missing = g.call(Some(&g.admin), "GET", path, None).await;
        assert_eq!(missing.status, 404, "{path}");
        let body = missing.json();
        assert_eq!(body["code"], 5, "{path}: {body}");
        assert_eq!(body["details"][0]["reason"], expected, "{path}: {body}");
    }
    let unknown = g
        .call(
            Some(&g.admin),
            "GET",
            "/api/nothing_catalog/v1alpha1/things",
            None,
        )
        .await;
    assert_eq!(unknown.status, 404);
    g.s.stop().await;
}

/// The committed OpenAPI document matches the protos, and the server
/// serves it. Regenerate it with
/// `CATALOG_REGENERATE_OPENAPI=1 cargo test --test it gateway::openapi`.
#[tokio::test]
async fn openapi_document_is_fresh_and_served() {
    use catalog::transport::gateway::{openapi, Gateway, GatewayOptions};
    let gateway = Gateway::new(
        catalog::proto::FILE_DESCRIPTOR_SET,
        GatewayOptions::default(),
    )
    .unwrap();
    let fresh = gateway.openapi();
    let path = repo().join(openapi::COMMITTED_PATH);
    if std::env::var_os("CATALOG_REGENERATE_OPENAPI").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, fresh).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{} is stale or missing: regenerate it with \
         `CATALOG_REGENERATE_OPENAPI=1 cargo test --test it gateway::openapi` and commit it",
        openapi::COMMITTED_PATH
    );

    let g = Gw::start(&[]).await;
    let served = http(g.addr(), "GET", "/openapi.json", &[], b"").await;
    assert_eq!(served.status, 200, "no token needed");
    assert_eq!(served.header("content-type"), Some("application/json"));
    assert_eq!(String::from_utf8(served.body).unwrap(), committed);
    g.s.stop().await;
}
