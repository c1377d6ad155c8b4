//! Listing, filtering, paging, getting and cross-references.

use std::collections::HashSet;

use catalog::proto::catalog::v1alpha1 as pb;

use crate::support::{reason, spec, TestServer};

const PLUGINS: [&str; 12] = [
    "model",
    "mcp",
    "knowledge",
    "prompts",
    "agents",
    "guardrails",
    "policies",
    "skills",
    "datasets",
    "evaluators",
    "benchmarks",
    "notebooks",
];

#[tokio::test]
async fn every_kind_serves_its_samples_with_provenance() {
    let server = TestServer::samples().await;
    let plugins = server
        .plugins()
        .list_plugins(pb::ListPluginsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(plugins.count, 12);
    for plugin in PLUGINS {
        let assets = server.all_assets(plugin, "").await;
        assert!(assets.len() >= 5, "{plugin} has {} assets", assets.len());
        for asset in &assets {
            let p = asset.provenance.as_ref().unwrap();
            let (source, revision, integrity) = (
                p.source.as_ref().unwrap(),
                p.revision.as_ref().unwrap(),
                p.integrity.as_ref().unwrap(),
            );
            assert_eq!(source.r#type, "yaml");
            assert!(
                source.uri.ends_with(".yaml") && std::path::Path::new(&source.uri).is_absolute(),
                "{}",
                source.uri
            );
            assert!(!source.source_id.is_empty());
            assert!(revision.id.starts_with("sha256:") && revision.id.len() == 71);
            assert!(revision.observed_at.is_some());
            assert!(integrity.content_digest.starts_with("sha256:"));
            // The revision is the digest of the file the record came from.
            let bytes = std::fs::read(&source.uri).unwrap();
            assert_eq!(revision.id, catalog::domain::asset::sha256_digest(&bytes));
            // The content digest is that of the entry exactly as the file holds it.
            let document: serde_json::Value = serde_norway::from_slice(&bytes).unwrap();
            let name = &asset.metadata.as_ref().unwrap().name;
            let entry = document
                .as_object()
                .unwrap()
                .values()
                .filter_map(|v| v.as_array())
                .flatten()
                .find(|e| e["name"] == name.as_str())
                .unwrap();
            assert_eq!(
                integrity.content_digest,
                catalog::domain::asset::content_digest(entry)
            );
            assert_eq!(
                asset
                    .status
                    .as_ref()
                    .unwrap()
                    .lifecycle
                    .as_ref()
                    .unwrap()
                    .phase,
                "draft"
            );
        }
    }
    // The disabled sample source is skipped.
    assert!(server
        .all_assets("model", "sourceId = 'disabled-models'")
        .await
        .is_empty());
    assert_eq!(
        server
            .source("model", "disabled-models")
            .await
            .status
            .unwrap()
            .state,
        "disabled"
    );
    server.stop().await;
}

#[tokio::test]
async fn agents_reference_every_kind_they_use_and_broken_links_show() {
    let server = TestServer::samples().await;
    let mut link_types = HashSet::new();
    for agent in server.all_assets("agents", "").await {
        let full = server
            .get("agents", "Agent", &agent.metadata.unwrap().name)
            .await
            .unwrap();
        for link in full.status.unwrap().links.unwrap().outbound {
            if link.resolution == "resolved-draft" {
                link_types.insert(link.r#type);
            }
        }
    }
    for expected in [
        "usesSkill",
        "usesMcpServer",
        "usesKnowledgeSource",
        "usesGuardrail",
        "usesPolicy",
        "usesPromptTemplate",
        "usesModel",
        "dependsOnAgent",
    ] {
        assert!(
            link_types.contains(expected),
            "no resolved {expected} link among {link_types:?}"
        );
    }
    let broken = server
        .get("agents", "agents", "release-notes-writer")
        .await
        .unwrap();
    let status = broken.status.unwrap();
    let unresolved: Vec<_> = status
        .links
        .unwrap()
        .outbound
        .into_iter()
        .filter(|l| l.resolution == "unresolved")
        .collect();
    assert_eq!(unresolved.len(), 1);
    assert_eq!(
        unresolved[0].target.as_ref().unwrap().name,
        "skill-that-does-not-exist"
    );
    let condition = status
        .conditions
        .iter()
        .find(|c| c.r#type == "ReferencesResolved")
        .unwrap();
    assert_eq!(condition.status, "False");

    // Inbound links: the skill used by an agent knows who uses it.
    let refs = server
        .assets()
        .get_references(pb::GetReferencesRequest {
            plugin: "skills".into(),
            kind: "Skill".into(),
            name: "k8s-get-pod-logs".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        refs.inbound
            .iter()
            .any(|l| l.target.as_ref().unwrap().plugin == "agents"),
        "{:?}",
        refs.inbound
    );
    server.stop().await;
}

#[tokio::test]
async fn paging_is_complete_and_deterministic_in_both_directions() {
    let server = TestServer::samples().await;
    let everything: Vec<String> = server
        .all_assets("agents", "")
        .await
        .into_iter()
        .map(|a| a.metadata.unwrap().name)
        .collect();
    let mut sorted = everything.clone();
    sorted.sort();
    assert_eq!(everything, sorted, "default order is by name");
    for (order, expected) in [
        ("ASC", sorted.clone()),
        ("DESC", sorted.iter().rev().cloned().collect()),
    ] {
        let mut seen = Vec::new();
        let mut token = String::new();
        loop {
            let page = server
                .assets()
                .list_assets(pb::ListAssetsRequest {
                    plugin: "agents".into(),
                    page_size: 2,
                    page_token: token,
                    sort_order: order.into(),
                    include_total: true,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            assert!(page.items.len() <= 2);
            assert_eq!(page.total_size as usize, expected.len());
            seen.extend(page.items.into_iter().map(|a| a.metadata.unwrap().name));
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        assert_eq!(seen, expected, "{order}");
    }
    // Ordering by a sortable column is total too (ties break on name).
    let by_type = server
        .assets()
        .list_assets(pb::ListAssetsRequest {
            plugin: "agents".into(),
            order_by: "agentType".into(),
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let keys: Vec<(String, String)> = by_type
        .items
        .iter()
        .map(|a| {
            (
                spec(a)["agentType"].as_str().unwrap().to_string(),
                a.metadata.clone().unwrap().name,
            )
        })
        .collect();
    let mut sorted_keys = keys.clone();
    sorted_keys.sort();
    assert_eq!(keys, sorted_keys);
    server.stop().await;
}

#[tokio::test]
async fn filters_match_records_and_bad_input_is_refused_with_reasons() {
    let server = TestServer::samples().await;
    let routers = server.all_assets("agents", "agentType = 'router'").await;
    assert!(!routers.is_empty());
    assert!(routers.iter().all(|a| spec(a)["agentType"] == "router"));
    let not_routers = server
        .all_assets("agents", "NOT agentType = 'router'")
        .await;
    assert_eq!(
        routers.len() + not_routers.len(),
        server.all_assets("agents", "").await.len()
    );
    let team = server
        .all_assets(
            "agents",
            "labels.team = 'sre' OR metadata.labels.team = 'platform'",
        )
        .await;
    assert!(team.iter().all(|a| matches!(
        a.metadata
            .as_ref()
            .unwrap()
            .labels
            .get("team")
            .map(String::as_str),
        Some("sre" | "platform")
    )));
    let by_source_label = server.all_assets("agents", "sourceLabel = 'team-a'").await;
    assert_eq!(by_source_label.len(), 2);
    assert!(by_source_label.iter().all(|a| a
        .metadata
        .as_ref()
        .unwrap()
        .source_ref
        .as_ref()
        .unwrap()
        .source_id
        == "team-agents"));
    let like = server.all_assets("agents", "name LIKE '%triage%'").await;
    assert!(
        !like.is_empty()
            && like
                .iter()
                .all(|a| a.metadata.as_ref().unwrap().name.contains("triage"))
    );
    let numbers = server.all_assets("skills", "timeoutSeconds >= 30").await;
    assert!(numbers
        .iter()
        .all(|a| spec(a)["timeoutSeconds"].as_f64().unwrap() >= 30.0));
    let tags = server
        .all_assets("model", "tasks = 'text-generation'")
        .await;
    assert!(tags.iter().all(|a| spec(a)["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t == "text-generation")));
    let drafts = server
        .all_assets("agents", "lifecycleState = 'draft'")
        .await;
    assert_eq!(drafts.len(), server.all_assets("agents", "").await.len());

    let list = |filter: &str, order: &str, token: &str| {
        let mut client = server.assets();
        let request = pb::ListAssetsRequest {
            plugin: "agents".into(),
            filter_query: filter.into(),
            order_by: order.into(),
            page_token: token.into(),
            page_size: 1,
            ..Default::default()
        };
        async move { client.list_assets(request).await }
    };
    for (filter, expected) in [
        ("name = ", "INVALID_FILTER"),
        ("nosuchfield = 'x'", "INVALID_FILTER"),
        ("name = 'a'; DROP TABLE x", "INVALID_FILTER"),
    ] {
        let err = list(filter, "", "").await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{filter}");
        assert_eq!(reason(&err), expected, "{filter}");
    }
    let err = list("", "noSuchColumn", "").await.unwrap_err();
    assert_eq!(reason(&err), "INVALID_ORDER_BY");
    let token = list("", "", "").await.unwrap().into_inner().next_page_token;
    let err = list("agentType = 'router'", "", &token).await.unwrap_err();
    assert_eq!(reason(&err), "INVALID_PAGE_TOKEN");
    let err = server
        .get("agents", "Agent", "no-such-agent")
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), reason(&err)),
        (tonic::Code::NotFound, "ASSET_NOT_FOUND".to_string())
    );
    let err = server.get("nope", "Agent", "x").await.unwrap_err();
    assert_eq!(reason(&err), "PLUGIN_NOT_FOUND");
    let err = server.get("agents", "Skill", "x").await.unwrap_err();
    assert_eq!(reason(&err), "KIND_NOT_FOUND");
    server.stop().await;
}

#[tokio::test]
async fn correlation_ids_are_echoed_and_carried_by_errors() {
    let server = TestServer::samples().await;
    let mut request = tonic::Request::new(pb::GetAssetRequest {
        plugin: "agents".into(),
        kind: "Agent".into(),
        name: "missing".into(),
    });
    request
        .metadata_mut()
        .insert("x-request-id", "test-corr-42".parse().unwrap());
    let err = server.assets().get_asset(request).await.unwrap_err();
    use tonic_types::StatusExt;
    assert_eq!(
        err.get_details_error_info()
            .unwrap()
            .metadata
            .get("correlationId")
            .map(String::as_str),
        Some("test-corr-42")
    );
    assert_eq!(err.metadata().get("x-request-id").unwrap(), "test-corr-42");
    let ok = server
        .plugins()
        .list_plugins(pb::ListPluginsRequest {})
        .await
        .unwrap();
    let generated = ok
        .metadata()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{generated}");
    server.stop().await;
}

#[tokio::test]
async fn native_endpoints_return_records_with_source_ids() {
    let server = TestServer::samples().await;
    let page = server
        .assets()
        .list_entities(pb::ListEntitiesRequest {
            plugin: "model".into(),
            plural: "models".into(),
            page_size: 3,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((page.size, page.page_size), (3, 3));
    let first = catalog::transport::grpc::convert::from_struct(&page.items[0]);
    assert_eq!(first["sourceId"], "sample-models");
    let name = first["name"].as_str().unwrap().to_string();
    assert!(name.contains('/'), "model names carry a slash: {name}");
    let one = server
        .assets()
        .get_entity(pb::GetEntityRequest {
            plugin: "model".into(),
            plural: "models".into(),
            name: name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        catalog::transport::grpc::convert::from_struct(&one)["name"],
        name.as_str()
    );
    server.stop().await;
}
