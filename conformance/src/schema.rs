//! The capabilities JSON Schema (spec 09 §1), published as
//! `conformance/schemas/capabilities.schema.json` and built into the
//! harness, and the proto3 JSON form of a capabilities document that CAP-01
//! validates against it. The JSON is written from the descriptor set of
//! proto/ with prost-reflect, so it is the document as any proto3 JSON
//! client (grpcurl, the HTTP API) sees it.

use std::sync::LazyLock;

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use serde_json::Value;

/// The published schema.
pub const CAPABILITIES_SCHEMA: &str = include_str!("../schemas/capabilities.schema.json");

/// Full proto name of the capabilities document.
pub const CAPABILITIES_MESSAGE: &str = "catalog.v1alpha1.PluginCapabilities";

/// Most violations a failure message lists.
const MAX_LISTED: usize = 20;

static POOL: LazyLock<Result<DescriptorPool, String>> = LazyLock::new(|| {
    DescriptorPool::decode(crate::proto::FILE_DESCRIPTOR_SET)
        .map_err(|e| format!("the built-in descriptor set does not decode: {e}"))
});

static VALIDATOR: LazyLock<Result<jsonschema::Validator, String>> = LazyLock::new(|| {
    let schema: Value = serde_json::from_str(CAPABILITIES_SCHEMA)
        .map_err(|e| format!("capabilities.schema.json is not JSON: {e}"))?;
    jsonschema::draft202012::new(&schema)
        .map_err(|e| format!("capabilities.schema.json is not a valid draft 2020-12 schema: {e}"))
});

/// The canonical proto3 JSON of `message`, whose full proto name is
/// `full_name`: lowerCamelCase names, fields at their default left out.
pub fn proto3_json<M: Message>(full_name: &str, message: &M) -> Result<Value, String> {
    let pool = POOL.as_ref()?;
    let descriptor = pool
        .get_message_by_name(full_name)
        .ok_or_else(|| format!("{full_name} is not in the descriptor set"))?;
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
        .map_err(|e| format!("{full_name} does not re-decode: {e}"))?;
    dynamic
        .serialize_with_options(serde_json::value::Serializer, &SerializeOptions::new())
        .map_err(|e| format!("{full_name} has no proto3 JSON form: {e}"))
}

/// Every violation of the capabilities schema in `document`, each as
/// "<instance path>: <message>" (the path is a JSON pointer, `/` for the
/// document itself).
pub fn capabilities_violations(document: &Value) -> Result<Vec<String>, String> {
    let validator = VALIDATOR.as_ref()?;
    Ok(validator
        .iter_errors(document)
        .map(|error| {
            let path = error.instance_path().to_string();
            let path = if path.is_empty() { "/".into() } else { path };
            format!("{path}: {error}")
        })
        .collect())
}

/// The violations as one line for a failure message (the first
/// [`MAX_LISTED`], then how many more).
pub fn describe_violations(violations: &[String]) -> String {
    let mut text = violations
        .iter()
        .take(MAX_LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if violations.len() > MAX_LISTED {
        text.push_str(&format!("; and {} more", violations.len() - MAX_LISTED));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::pb;

    fn document() -> pb::PluginCapabilities {
        pb::PluginCapabilities {
            schema_version: "v1".into(),
            plugin: Some(pb::PluginIdentity {
                name: "widgets".into(),
                display_name: "Widgets".into(),
                ..Default::default()
            }),
            api: Some(pb::PluginApi {
                group: "widgets_catalog".into(),
                version: "v1alpha1".into(),
                base_path: "/api/widgets_catalog/v1alpha1".into(),
                ..Default::default()
            }),
            entities: vec![pb::EntityCapabilities {
                kind: "Widget".into(),
                plural: "widgets".into(),
                display_name: "Widget".into(),
                endpoints: Some(pb::EntityEndpoints {
                    list: "/api/widgets_catalog/v1alpha1/widgets".into(),
                    get: "/api/widgets_catalog/v1alpha1/widgets/{name}".into(),
                    ..Default::default()
                }),
                fields: Some(pb::EntityFields {
                    identity_fields: vec!["name".into()],
                    columns: vec![pb::Column {
                        name: "name".into(),
                        display_name: "Name".into(),
                        path: "name".into(),
                        r#type: "string".into(),
                        sortable: true,
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn violations(caps: &pb::PluginCapabilities) -> Vec<String> {
        capabilities_violations(&proto3_json(CAPABILITIES_MESSAGE, caps).unwrap()).unwrap()
    }

    #[test]
    fn a_minimal_document_is_valid_and_written_in_camel_case() {
        let json = proto3_json(CAPABILITIES_MESSAGE, &document()).unwrap();
        assert_eq!(
            json["entities"][0]["fields"]["columns"][0]["displayName"],
            "Name"
        );
        assert_eq!(violations(&document()), Vec::<String>::new());
    }

    #[test]
    fn violations_name_the_instance_path() {
        let mut caps = document();
        caps.entities[0].fields.as_mut().unwrap().columns[0].r#type = "sparkline".into();
        caps.entities[0].kind = String::new();
        caps.schema_version = "v2".into();
        let found = violations(&caps);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(
            found
                .iter()
                .any(|v| v.starts_with("/entities/0/fields/columns/0/type: ")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|v| v.starts_with("/entities/0: ") && v.contains("kind")),
            "{found:?}"
        );
        assert!(
            found.iter().any(|v| v.starts_with("/schemaVersion: ")),
            "{found:?}"
        );
        let many: Vec<String> = (0..25).map(|i| format!("/x/{i}: bad")).collect();
        assert!(describe_violations(&many).ends_with("; and 5 more"));
    }
}
