//! Existing Kubeflow Model Registry catalog files load unchanged, and the
//! model catalog's per-source reads (a model as one source supplies it,
//! its artifacts) answer for each source.

use std::path::Path;

use catalog::proto::catalog::v1alpha1 as pb;
use catalog::transport::grpc::convert::from_struct;
use serde_json::{json, Value};

use crate::support::{
    copy_dir, fresh_database, random_secret, reason, repo, spec, Options, TestServer,
};

fn yaml_entries(file: &Path, key: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(file).unwrap();
    let document: Value = serde_norway::from_str(&text).unwrap();
    document[key].as_array().cloned().unwrap_or_default()
}

async fn check_every_entry_loads_unchanged(
    server: &TestServer,
    dir: &Path,
    files: &[(&str, &str, &str)],
) {
    for (plugin, file, key) in files {
        let entries = yaml_entries(&dir.join(file), key);
        assert!(!entries.is_empty(), "{file} has entries");
        for entry in entries {
            let name = entry["name"].as_str().unwrap();
            let asset = server
                .get(plugin, key, name)
                .await
                .unwrap_or_else(|e| panic!("{plugin}/{name}: {e}"));
            assert_eq!(
                spec(&asset),
                entry,
                "{plugin}/{name} is served exactly as written"
            );
        }
    }
}

#[tokio::test]
async fn the_map_form_and_its_data_files_load_unchanged() {
    let server = TestServer::start_with(|dir| {
        copy_dir(&repo().join("tests/fixtures/kubeflow"), &dir.join("kf"));
        Options {
            sources: vec![dir.join("kf/sources.yaml")],
            ..Default::default()
        }
    })
    .await;
    let dir = server.dir.path().join("kf");
    let config: Value =
        serde_norway::from_str(&std::fs::read_to_string(dir.join("sources.yaml")).unwrap())
            .unwrap();
    fn plural(plugin: &str) -> (&str, &str) {
        match plugin {
            "models" => ("model", "models"),
            "mcp" => ("mcp", "mcpservers"),
            "knowledge" => ("knowledge", "knowledgesources"),
            "prompts" => ("prompts", "prompttemplates"),
            other => (other, other),
        }
    }
    let mut checked = Vec::new();
    for (key, block) in config["catalogs"].as_object().unwrap() {
        for source in block["sources"].as_array().unwrap() {
            if source.get("enabled") == Some(&Value::Bool(false)) {
                continue;
            }
            let (plugin, data_key) = plural(key);
            let file = source["properties"]["yamlCatalogPath"]
                .as_str()
                .unwrap()
                .to_string();
            checked.push((plugin.to_string(), file, data_key.to_string()));
        }
    }
    assert!(checked.len() >= 8, "{checked:?}");
    let borrowed: Vec<(&str, &str, &str)> = checked
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    check_every_entry_loads_unchanged(&server, &dir, &borrowed).await;
    for plugin in [
        "model",
        "mcp",
        "knowledge",
        "prompts",
        "agents",
        "guardrails",
        "policies",
        "skills",
    ] {
        for source in server
            .sources()
            .list_sources(catalog::proto::catalog::v1alpha1::ListSourcesRequest {
                plugin: plugin.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .items
        {
            let status = source.status.unwrap();
            assert!(
                status.state == "available" || status.state == "disabled",
                "{plugin}/{}: {:?}",
                source.id,
                status.last_error
            );
            assert_eq!(
                status.counts.unwrap().rejected,
                0,
                "{plugin}/{}: {:?}",
                source.id,
                status.entry_diagnostics
            );
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn the_legacy_model_catalog_list_form_loads_unchanged() {
    let server = TestServer::start_with(|dir| {
        copy_dir(&repo().join("tests/fixtures/kubeflow"), &dir.join("kf"));
        Options {
            sources: vec![dir.join("kf/legacy-sources.yaml")],
            ..Default::default()
        }
    })
    .await;
    let dir = server.dir.path().join("kf");
    let config: Value =
        serde_norway::from_str(&std::fs::read_to_string(dir.join("legacy-sources.yaml")).unwrap())
            .unwrap();
    let file = config["catalogs"][0]["properties"]["yamlCatalogPath"]
        .as_str()
        .unwrap()
        .to_string();
    check_every_entry_loads_unchanged(&server, &dir, &[("model", &file, "models")]).await;
    server.stop().await;
}

/// Two model sources that both have `org/dup`; the first listed wins.
fn two_model_sources(dir: &Path) -> Options {
    std::fs::write(
        dir.join("a.yaml"),
        r#"models:
  - name: org/dup
    description: from a
    artifacts:
      - uri: oci://registry.example.com/org/dup:1
        createTimeSinceEpoch: "1735689600000"
        customProperties:
          format: {metadataType: MetadataStringValue, string_value: safetensors}
      - https://example.com/org/dup/model.gguf
      - uri: s3://bucket/metrics.json
        artifactType: metrics-artifact
  - name: only-a
"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("b.yaml"),
        "models:\n  - name: org/dup\n    description: from b\n  - name: only-b\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("sources.yaml"),
        "apiVersion: catalog/v1alpha1\nkind: CatalogSources\ncatalogs:\n  models:\n    sources:\n      - {id: a, name: A, type: yaml, properties: {yamlCatalogPath: a.yaml}}\n      - {id: b, name: B, type: yaml, properties: {yamlCatalogPath: b.yaml}}\n",
    )
    .unwrap();
    Options {
        sources: vec![dir.join("sources.yaml")],
        ..Default::default()
    }
}

fn entity(name: &str, source_id: &str) -> pb::GetEntityRequest {
    pb::GetEntityRequest {
        plugin: "model".into(),
        plural: "models".into(),
        name: name.into(),
        source_id: source_id.into(),
    }
}

fn artifacts(
    name: &str,
    source_id: &str,
    page_size: i32,
    token: &str,
) -> pb::ListEntityArtifactsRequest {
    pb::ListEntityArtifactsRequest {
        plugin: "model".into(),
        plural: "models".into(),
        name: name.into(),
        source_id: source_id.into(),
        page_size,
        page_token: token.into(),
    }
}

#[tokio::test]
async fn a_model_is_read_as_each_source_supplies_it() {
    let server = TestServer::start_with(two_model_sources).await;
    let get = |request: pb::GetEntityRequest| {
        let mut client = server.assets();
        async move {
            client
                .get_entity(request)
                .await
                .map(|r| Value::Object(from_struct(&r.into_inner())))
        }
    };
    let effective = get(entity("org/dup", "")).await.unwrap();
    assert_eq!(
        (&effective["description"], &effective["sourceId"]),
        (&json!("from a"), &json!("a"))
    );
    let shadowed = get(entity("org/dup", "b")).await.unwrap();
    assert_eq!(
        (&shadowed["description"], &shadowed["sourceId"]),
        (&json!("from b"), &json!("b")),
        "the record source b supplies, though a's is effective"
    );
    let missing = get(entity("only-a", "b")).await.unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    assert_eq!(reason(&missing), "ASSET_NOT_FOUND");
    assert!(
        missing.message().contains("\"b\"") && missing.message().contains("only-a"),
        "names the source and the model: {}",
        missing.message()
    );
    let unknown = get(entity("org/dup", "nope")).await.unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    assert_eq!(reason(&unknown), "SOURCE_NOT_FOUND");

    // The legacy `source` parameter keeps a list to one source's
    // effective records.
    let listed = server
        .assets()
        .list_entities(pb::ListEntitiesRequest {
            plugin: "model".into(),
            plural: "models".into(),
            source: "b".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let names: Vec<Value> = listed
        .items
        .iter()
        .map(|i| Value::Object(from_struct(i))["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("only-b")]);
    server.stop().await;
}

#[tokio::test]
async fn a_models_artifacts_list_in_pages_with_the_kubeflow_default_type() {
    let server = TestServer::start_with(two_model_sources).await;
    let list = |request: pb::ListEntityArtifactsRequest| {
        let mut client = server.assets();
        async move {
            client
                .list_entity_artifacts(request)
                .await
                .map(|r| r.into_inner())
        }
    };
    let items = |page: &pb::ListEntityArtifactsResponse| -> Vec<Value> {
        page.items
            .iter()
            .map(|i| Value::Object(from_struct(i)))
            .collect()
    };
    let first = list(artifacts("org/dup", "a", 2, "")).await.unwrap();
    assert_eq!((first.size, first.page_size), (2, 2));
    assert_eq!(
        items(&first),
        vec![
            json!({"uri": "oci://registry.example.com/org/dup:1", "createTimeSinceEpoch": "1735689600000",
                   "customProperties": {"format": {"metadataType": "MetadataStringValue", "string_value": "safetensors"}},
                   "artifactType": "model-artifact"}),
            json!({"uri": "https://example.com/org/dup/model.gguf", "artifactType": "model-artifact"}),
        ]
    );
    assert!(!first.next_page_token.is_empty());
    let second = list(artifacts("org/dup", "a", 2, &first.next_page_token))
        .await
        .unwrap();
    assert_eq!(
        items(&second),
        vec![json!({"uri": "s3://bucket/metrics.json", "artifactType": "metrics-artifact"})],
        "a declared type is kept"
    );
    assert_eq!(second.next_page_token, "");
    let effective = list(artifacts("org/dup", "", 0, "")).await.unwrap();
    assert_eq!((effective.size, effective.page_size), (3, 20));

    // A token belongs to its record and source.
    let foreign = list(artifacts("org/dup", "b", 2, &first.next_page_token))
        .await
        .unwrap_err();
    assert_eq!(reason(&foreign), "INVALID_PAGE_TOKEN");
    let none = list(artifacts("org/dup", "b", 0, "")).await.unwrap();
    assert_eq!((none.size, none.items.len()), (0, 0));
    let missing = list(artifacts("only-a", "b", 0, "")).await.unwrap_err();
    assert_eq!(reason(&missing), "ASSET_NOT_FOUND");
    let nameless = list(artifacts("", "a", 0, "")).await.unwrap_err();
    assert_eq!(reason(&nameless), "INVALID_PARAMS");

    server.stop().await;
}

/// PostgreSQL only: a replica's periodic reconcile (60 s here) is not
/// what makes it know a source applied through another: it serves that
/// source's stored records at once, with the source's labels, and calls a
/// missing one ASSET_NOT_FOUND, not an unknown source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_reads_a_source_applied_through_another_before_it_reconciles() {
    match std::env::var("CATALOG_TEST_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {}
        _ => {
            eprintln!(
                "note: a_replica_reads_a_source_applied_through_another_before_it_reconciles \
                 needs CATALOG_TEST_DATABASE_URL=postgres://…; skipped on SQLite"
            );
            return;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database(dir.path()).await;
    let secret = random_secret();
    let options = |_: &Path| Options {
        database_url: Some(database_url.clone()),
        jwt_secret: Some(secret.clone()),
        ..two_model_sources(dir.path())
    };
    let a = TestServer::start_with(options).await;
    let b = TestServer::start_with(options).await;
    let file = dir.path().join("c.yaml");
    std::fs::write(&file, "models:\n  - name: only-c\n").unwrap();
    let source = json!({"source": {"id": "c", "name": "C", "type": "yaml",
        "labels": ["team-c"],
        "properties": {"yamlCatalogPath": file.display().to_string()}}});
    a.action("model", "c", "apply", false, source)
        .await
        .unwrap();

    let found = b
        .assets()
        .get_entity(entity("only-c", "c"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(Value::Object(from_struct(&found))["sourceId"], "c");
    let missing = b
        .assets()
        .get_entity(entity("nothing", "c"))
        .await
        .unwrap_err();
    assert_eq!(reason(&missing), "ASSET_NOT_FOUND");
    let asset = b
        .assets()
        .get_asset(pb::GetAssetRequest {
            plugin: "model".into(),
            kind: "CatalogModel".into(),
            name: "only-c".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let source_ref = asset.metadata.unwrap().source_ref.unwrap();
    assert_eq!(
        (source_ref.source_type.as_str(), source_ref.source_labels),
        ("yaml", vec!["team-c".to_string()])
    );
    a.stop().await;
    b.stop().await;
}
