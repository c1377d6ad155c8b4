//! A new asset kind from one manifest file, with no code change.

use catalog::proto::catalog::governance::v1alpha1 as gpb;
use catalog::proto::catalog::v1alpha1 as pb;

use crate::support::{reason, spec, Options, TestServer};

const MANIFEST: &str = r#"
apiVersion: catalog/v1alpha1
kind: PluginManifest
metadata:
  name: runbooks
  displayName: Runbooks
  description: Operational runbooks agents may follow
  icon: book
spec:
  catalogKey: runbooks
  sourceTypes: [yaml]
  entity:
    kind: Runbook
    plural: runbooks
    aliases: [rb]
    displayName: Runbook
    schema:
      - {name: name, type: string, required: true}
      - {name: severity, type: string, required: true, enum: [low, high]}
      - {name: steps, type: list}
      - {name: agentRef, type: ref}
    columns:
      - {name: name, displayName: Name, path: name, type: string, sortable: true}
      - {name: severity, displayName: Severity, path: severity, type: enum, sortable: true}
    filterFields:
      - {name: severity, displayName: Severity, path: severity, type: select, options: [low, high], operators: ["="]}
    detailFields:
      - {name: steps, displayName: Steps, path: steps, type: json, section: Steps}
    references:
      - {path: agentRef, target: agents/Agent, linkType: dependsOnAgent}
"#;

#[tokio::test]
async fn a_dropped_in_manifest_is_served_and_described_by_capabilities() {
    let server = TestServer::start_with(|dir| {
        let plugins = dir.join("plugins");
        std::fs::create_dir_all(&plugins).unwrap();
        std::fs::write(plugins.join("runbooks.yaml"), MANIFEST).unwrap();
        let samples = crate::support::copy_samples(dir);
        std::fs::write(
            dir.join("runbooks.yaml"),
            "runbooks:\n  - {name: restart-pods, severity: low, steps: [drain, restart], agentRef: k8s-troubleshooter}\n  - {name: failover, severity: high}\n  - {name: bogus, severity: medium}\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("runbook-sources.yaml"),
            "catalogs:\n  runbooks:\n    sources:\n      - {id: ops-runbooks, name: Ops runbooks, type: yaml, properties: {yamlCatalogPath: runbooks.yaml}}\n",
        )
        .unwrap();
        Options { sources: vec![samples, dir.join("runbook-sources.yaml")], plugins_dir: Some(plugins), ..Default::default() }
    })
    .await;
    let plugins = server
        .plugins()
        .list_plugins(pb::ListPluginsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(plugins.count, 13);
    assert!(plugins
        .plugins
        .iter()
        .any(|p| p.name == "runbooks" && p.base_path == "/api/runbooks_catalog/v1alpha1"));
    let caps = server
        .plugins()
        .get_plugin_capabilities(pb::GetPluginCapabilitiesRequest {
            plugin: "runbooks".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let entity = &caps.entities[0];
    assert_eq!(
        (entity.kind.as_str(), entity.plural.as_str()),
        ("Runbook", "runbooks")
    );
    let fields = entity.fields.as_ref().unwrap();
    assert_eq!(fields.filter_fields[0].path, "severity");
    assert_eq!(fields.reference_fields[0].target_plugin, "agents");
    assert!(caps.actions.iter().any(|a| a.id == "refresh"));
    // Governed like the built-in kinds, with nothing in its manifest about it.
    let governance = entity.governance.as_ref().unwrap();
    assert!(governance.supported);
    let lifecycle = governance.lifecycle.as_ref().unwrap();
    assert_eq!(lifecycle.transitions.len(), 12);
    assert!(lifecycle
        .transitions
        .iter()
        .any(|t| t.from == "draft" && t.to == "approved" && t.allowed && t.requires_approval));
    assert!(fields
        .filter_fields
        .iter()
        .any(|f| f.name == "lifecycleState" && f.universal));
    assert!(caps
        .actions
        .iter()
        .any(|a| a.id == "promotion.bind" && a.may_require_approval));

    let assets = server.all_assets("runbooks", "severity = 'low'").await;
    assert_eq!(assets.len(), 1);
    assert_eq!(spec(&assets[0])["steps"][1], "restart");
    let full = server.get("runbooks", "rb", "restart-pods").await.unwrap();
    let links = full.status.unwrap().links.unwrap().outbound;
    assert_eq!(
        (links[0].r#type.as_str(), links[0].resolution.as_str()),
        ("dependsOnAgent", "resolved-draft")
    );
    // Its assets take governance actions like any other.
    let operator = server.token("olga", &["operator"]);
    server
        .governance_as(Some(&operator))
        .update_asset_governance(gpb::UpdateAssetGovernanceRequest {
            plugin: "runbooks".into(),
            kind: "Runbook".into(),
            name: "restart-pods".into(),
            governance: Some(pb::GovernanceMetadata {
                owner: Some(pb::Owner {
                    principal: "sre".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let pending = server
        .governance_as(Some(&operator))
        .execute_governance_action(gpb::ExecuteGovernanceActionRequest {
            plugin: "runbooks".into(),
            kind: "Runbook".into(),
            name: "restart-pods".into(),
            action: "lifecycle.setState".into(),
            params: Some(catalog::transport::grpc::convert::to_struct(
                serde_json::json!({"state": "approved"})
                    .as_object()
                    .unwrap(),
            )),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(pending.status, "pending-approval");
    let approved = server
        .approvals_as(Some(&server.token("ada", &["approver"])))
        .approve_request(gpb::ApproveRequestRequest {
            request_id: pending.approval_request_id,
            comment: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(approved.execution.unwrap().status, "succeeded");
    let full = server.get("runbooks", "rb", "restart-pods").await.unwrap();
    assert_eq!(full.status.unwrap().lifecycle.unwrap().phase, "approved");
    // Its load validation comes from the manifest too.
    let source = server
        .source("runbooks", "ops-runbooks")
        .await
        .status
        .unwrap();
    assert_eq!(source.counts.unwrap().rejected, 1);
    assert_eq!(
        reason(
            &server
                .get("runbooks", "Runbook", "bogus")
                .await
                .unwrap_err()
        ),
        "ASSET_NOT_FOUND"
    );
    server.stop().await;
}
