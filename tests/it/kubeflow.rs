//! Existing Kubeflow Model Registry catalog files load unchanged.

use std::path::Path;

use serde_json::Value;

use crate::support::{copy_dir, repo, spec, Options, TestServer};

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
