//! The capabilities documents the server writes validate against the JSON
//! Schema that conformance publishes and checks in CAP-01
//! (conformance/schemas/capabilities.schema.json, spec 09 §1): every
//! built-in plugin and a manifest-only one, in canonical proto3 JSON and in
//! the HTTP API's form. A proto, manifest or capabilities change that
//! drifts from the schema fails here, before it fails conformance.

use catalog::proto::catalog::v1alpha1 as pb;
use catalog::transport::gateway::response::to_json;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use serde_json::Value;

use crate::support::*;

const MESSAGE: &str = "catalog.v1alpha1.PluginCapabilities";

fn validator() -> jsonschema::Validator {
    let path = repo().join("conformance/schemas/capabilities.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    jsonschema::draft202012::new(&schema)
        .unwrap_or_else(|e| panic!("{} is not a valid schema: {e}", path.display()))
}

fn dynamic(caps: &pb::PluginCapabilities) -> DynamicMessage {
    let pool = DescriptorPool::decode(catalog::proto::FILE_DESCRIPTOR_SET).unwrap();
    let descriptor = pool.get_message_by_name(MESSAGE).unwrap();
    DynamicMessage::decode(descriptor, caps.encode_to_vec().as_slice()).unwrap()
}

/// Canonical proto3 JSON: fields at their default left out.
fn canonical(caps: &pb::PluginCapabilities) -> Value {
    dynamic(caps)
        .serialize_with_options(serde_json::value::Serializer, &SerializeOptions::new())
        .unwrap()
}

/// "<instance path>: <message>" for each violation.
fn violations(validator: &jsonschema::Validator, document: &Value) -> Vec<String> {
    validator
        .iter_errors(document)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[tokio::test]
async fn every_capabilities_document_matches_the_published_schema() {
    let s = TestServer::start_with(|_| Options {
        plugins_dir: Some(repo().join("conformance/fixtures/plugins")),
        ..Default::default()
    })
    .await;
    let documents = s
        .plugins()
        .get_capabilities(pb::GetCapabilitiesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .plugins;
    let names: Vec<&str> = documents
        .iter()
        .filter_map(|c| c.plugin.as_ref().map(|p| p.name.as_str()))
        .collect();
    for expected in ["model", "agents", "mcp", "skills", "playbooks"] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    let validator = validator();
    for caps in &documents {
        let name = &caps.plugin.as_ref().unwrap().name;
        for (form, document) in [
            ("proto3 JSON", canonical(caps)),
            ("HTTP JSON", to_json(&dynamic(caps))),
        ] {
            let found = violations(&validator, &document);
            assert!(found.is_empty(), "{name} ({form}): {found:#?}");
        }
    }

    // The schema refuses what spec 09 forbids, at the place it occurs.
    let mut broken = canonical(&documents[0]);
    broken["entities"][0]["fields"]["columns"][0]["type"] = "sparkline".into();
    broken["entities"][0]["governance"]["lifecycle"]["states"][0] = "retired".into();
    broken["actions"][0]
        .as_object_mut()
        .unwrap()
        .remove("scope");
    broken["entities"][0]["extra"] = true.into();
    let found = violations(&validator, &broken);
    for place in [
        "/entities/0/fields/columns/0/type: ",
        "/entities/0/governance/lifecycle/states/0: ",
        "/actions/0: \"scope\" is a required property",
        "/entities/0: Additional properties are not allowed",
    ] {
        assert!(
            found.iter().any(|v| v.starts_with(place)),
            "no violation at {place:?}: {found:#?}"
        );
    }
    s.stop().await;
}
