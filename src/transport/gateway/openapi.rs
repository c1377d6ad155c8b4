//! The OpenAPI v2 (Swagger) document of the HTTP/JSON API, generated from
//! the same route table and descriptor pool the gateway serves, in the
//! spirit of protoc-gen-openapiv2: one operation per HTTP binding, path
//! and query parameters from the request fields, the body schema from the
//! body mapping, one definition per message (named by its full proto
//! name), JSON names as property names and leading proto comments as
//! descriptions. The committed copy (`clients/openapi/`) is checked
//! against a fresh one by a test.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use prost_reflect::{
    DescriptorPool, FieldDescriptor, FileDescriptor, Kind, MessageDescriptor, MethodDescriptor,
    ServiceDescriptor,
};
use serde_json::{json, Map, Value};

use super::routes::{BodyMapping, Route, RouteTable};

/// Where the committed document lives, relative to the repository root.
pub const COMMITTED_PATH: &str = "clients/openapi/catalog.swagger.json";

/// The document, pretty-printed with a final newline (the committed form).
pub fn render(pool: &DescriptorPool, routes: &RouteTable) -> String {
    let mut text =
        serde_json::to_string_pretty(&document(pool, routes)).unwrap_or_else(|_| "{}".to_string());
    text.push('\n');
    text
}

/// The OpenAPI v2 document.
pub fn document(pool: &DescriptorPool, routes: &RouteTable) -> Value {
    let comments = Comments::new(pool);
    let mut generator = Generator {
        comments: &comments,
        definitions: BTreeMap::new(),
        pending: Vec::new(),
    };
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut tags: BTreeSet<String> = BTreeSet::new();
    let mut operation_ids: HashMap<String, usize> = HashMap::new();
    for route in routes.routes() {
        let service = route.rpc.parent_service();
        tags.insert(service.full_name().to_string());
        let mut operation_id = format!("{}_{}", service.name(), route.rpc.name());
        let seen = operation_ids.entry(operation_id.clone()).or_insert(0);
        *seen += 1;
        if *seen > 1 {
            operation_id = format!("{operation_id}{}", *seen);
        }
        let operation = generator.operation(route, operation_id);
        paths
            .entry(openapi_path(&route.pattern))
            .or_default()
            .insert(route.method.as_str().to_ascii_lowercase(), operation);
    }
    generator.drain();
    generator
        .definitions
        .entry("google.rpc.Status".to_string())
        .or_insert_with(|| json!({"type": "object"}));
    let tags: Vec<Value> = tags
        .iter()
        .filter_map(|name| pool.get_service_by_name(name))
        .map(|service| {
            let mut tag = json!({"name": service.full_name()});
            if let Some(text) = comments.service(&service) {
                tag["description"] = Value::String(text);
            }
            tag
        })
        .collect();
    json!({
        "swagger": "2.0",
        "info": {
            "title": "Catalog API",
            "description": "HTTP/JSON face of the catalog's gRPC services (grpc-gateway v2 conventions), generated from the google.api.http annotations.",
            "version": "v1alpha1"
        },
        "tags": tags,
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "securityDefinitions": {
            "bearer": {
                "type": "apiKey",
                "name": "Authorization",
                "in": "header",
                "description": "A JWT as `Bearer <token>`."
            }
        },
        "security": [{"bearer": []}],
        "paths": paths,
        "definitions": generator.definitions,
    })
}

/// `{name=**}` and `{name=a/*}` become `{name}`; verbs stay literal.
fn openapi_path(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut skipping = false;
    for c in pattern.chars() {
        match c {
            '=' if out.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                && out.rfind('{') > out.rfind('}') =>
            {
                skipping = true
            }
            '}' => {
                skipping = false;
                out.push(c);
            }
            _ if skipping => {}
            _ => out.push(c),
        }
    }
    out
}

/// Leading comments by descriptor path, per file.
struct Comments {
    by_file: HashMap<String, HashMap<Vec<i32>, String>>,
}

impl Comments {
    fn new(pool: &DescriptorPool) -> Comments {
        let mut by_file = HashMap::new();
        for file in pool.files() {
            let mut map = HashMap::new();
            if let Some(info) = &file.file_descriptor_proto().source_code_info {
                for location in &info.location {
                    if let Some(text) = location.leading_comments.as_deref() {
                        let text = clean(text);
                        if !text.is_empty() {
                            map.insert(location.path.clone(), text);
                        }
                    }
                }
            }
            by_file.insert(file.name().to_string(), map);
        }
        Comments { by_file }
    }

    fn get(&self, file: &FileDescriptor, path: &[i32]) -> Option<String> {
        self.by_file.get(file.name())?.get(path).cloned()
    }

    fn service(&self, s: &ServiceDescriptor) -> Option<String> {
        self.get(&s.parent_file(), s.path())
    }

    fn method(&self, m: &MethodDescriptor) -> Option<String> {
        self.get(&m.parent_file(), m.path())
    }

    fn message(&self, m: &MessageDescriptor) -> Option<String> {
        self.get(&m.parent_file(), m.path())
    }

    fn field(&self, f: &FieldDescriptor) -> Option<String> {
        self.get(&f.parent_file(), f.path())
    }
}

fn clean(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

struct Generator<'a> {
    comments: &'a Comments,
    definitions: BTreeMap<String, Value>,
    pending: Vec<MessageDescriptor>,
}

impl Generator<'_> {
    fn operation(&mut self, route: &Route, operation_id: String) -> Value {
        let rpc = &route.rpc;
        let input = rpc.input();
        let mut parameters = Vec::new();
        let mut bound: Vec<String> = Vec::new();
        for (variable, fields) in route.template.variables().iter().zip(&route.path_fields) {
            let leaf = fields.last().expect("resolved paths are not empty");
            let mut parameter = json!({
                "name": variable.join("."),
                "in": "path",
                "required": true,
            });
            merge(&mut parameter, scalar_parameter(leaf));
            if let Some(text) = self.comments.field(leaf) {
                parameter["description"] = Value::String(text);
            }
            parameters.push(parameter);
            bound.push(
                fields
                    .iter()
                    .map(|f| f.name())
                    .collect::<Vec<_>>()
                    .join("."),
            );
        }
        match &route.body {
            BodyMapping::Whole => {
                let mut properties = Map::new();
                for field in input.fields() {
                    if bound.iter().any(|b| b == field.name()) {
                        continue;
                    }
                    properties.insert(field.json_name().to_string(), self.property(&field));
                }
                parameters.push(json!({
                    "name": "body",
                    "in": "body",
                    "required": true,
                    "schema": {"type": "object", "properties": properties},
                }));
            }
            BodyMapping::Field(field) => {
                let mut parameter = json!({
                    "name": field.json_name(),
                    "in": "body",
                    "required": true,
                    "schema": self.schema(field),
                });
                if let Some(text) = self.comments.field(field) {
                    parameter["description"] = Value::String(text);
                }
                parameters.push(parameter);
                bound.push(field.name().to_string());
            }
            BodyMapping::None => {}
        }
        if !matches!(route.body, BodyMapping::Whole) {
            self.query_parameters(&input, ("", ""), &bound, &mut parameters, 0);
        }
        let response = match &route.response_body {
            Some(field) => self.schema(field),
            None => self.message_schema(&rpc.output()),
        };
        let mut operation = json!({
            "operationId": operation_id,
            "responses": {
                "200": {"description": "A successful response.", "schema": response},
                "default": {
                    "description": "An error: google.rpc.Status with typed details.",
                    "schema": {"$ref": "#/definitions/google.rpc.Status"}
                }
            },
            "parameters": parameters,
            "tags": [rpc.parent_service().full_name()],
        });
        if let Some(text) = self.comments.method(rpc) {
            operation["summary"] = Value::String(text.lines().next().unwrap_or("").to_string());
            operation["description"] = Value::String(text);
        }
        if let Some(status) = rpc.parent_pool().get_message_by_name("google.rpc.Status") {
            self.pending.push(status);
        }
        operation
    }

    /// Query parameters for the fields the path and body leave, nested
    /// messages flattened into dotted names (as grpc-gateway reads them).
    fn query_parameters(
        &mut self,
        message: &MessageDescriptor,
        prefix: (&str, &str),
        bound: &[String],
        out: &mut Vec<Value>,
        depth: usize,
    ) {
        let (proto_prefix, json_prefix) = prefix;
        for field in message.fields() {
            let path = format!("{proto_prefix}{}", field.name());
            if bound
                .iter()
                .any(|b| *b == path || path.starts_with(&format!("{b}.")))
                || field.is_map()
            {
                continue;
            }
            let mut parameter = match field.kind() {
                Kind::Message(inner) if !is_scalar_like(&inner) => {
                    if !field.is_list() && depth < 4 {
                        let json_path = format!("{json_prefix}{}.", field.json_name());
                        self.query_parameters(
                            &inner,
                            (&format!("{path}."), &json_path),
                            bound,
                            out,
                            depth + 1,
                        );
                    }
                    continue;
                }
                _ => json!({
                    "name": format!("{json_prefix}{}", field.json_name()),
                    "in": "query",
                    "required": false,
                }),
            };
            if field.is_list() {
                merge(
                    &mut parameter,
                    json!({"type": "array", "items": scalar_parameter(&field), "collectionFormat": "multi"}),
                );
            } else {
                merge(&mut parameter, scalar_parameter(&field));
            }
            if let Some(text) = self.comments.field(&field) {
                parameter["description"] = Value::String(text);
            }
            out.push(parameter);
        }
    }

    fn property(&mut self, field: &FieldDescriptor) -> Value {
        let mut schema = self.schema(field);
        if let Some(text) = self.comments.field(field) {
            if schema.get("$ref").is_some() {
                // Swagger ignores siblings of $ref; wrap it.
                schema = json!({"allOf": [schema]});
            }
            schema["description"] = Value::String(text);
        }
        schema
    }

    /// The schema of a field's value (arrays and maps included).
    fn schema(&mut self, field: &FieldDescriptor) -> Value {
        if field.is_map() {
            let Kind::Message(entry) = field.kind() else {
                return json!({"type": "object"});
            };
            let value = entry.map_entry_value_field();
            return json!({"type": "object", "additionalProperties": self.kind_schema(&value.kind())});
        }
        let item = self.kind_schema(&field.kind());
        if field.is_list() {
            json!({"type": "array", "items": item})
        } else {
            item
        }
    }

    fn kind_schema(&mut self, kind: &Kind) -> Value {
        match kind {
            Kind::Message(m) => self.message_schema(m),
            other => scalar_schema(other),
        }
    }

    fn message_schema(&mut self, message: &MessageDescriptor) -> Value {
        if let Some(schema) = well_known(message) {
            return schema;
        }
        if !self.definitions.contains_key(message.full_name()) {
            self.pending.push(message.clone());
        }
        json!({"$ref": format!("#/definitions/{}", message.full_name())})
    }

    /// Writes a definition for every referenced message.
    fn drain(&mut self) {
        while let Some(message) = self.pending.pop() {
            if self.definitions.contains_key(message.full_name()) || well_known(&message).is_some()
            {
                continue;
            }
            // Reserve the name first: messages may refer to themselves.
            self.definitions
                .insert(message.full_name().to_string(), Value::Null);
            let mut properties = Map::new();
            for field in message.fields() {
                properties.insert(field.json_name().to_string(), self.property(&field));
            }
            let mut schema = json!({"type": "object", "properties": properties});
            if let Some(text) = self.comments.message(&message) {
                schema["description"] = Value::String(text);
            }
            self.definitions
                .insert(message.full_name().to_string(), schema);
        }
    }
}

fn merge(target: &mut Value, extra: Value) {
    if let (Some(target), Value::Object(extra)) = (target.as_object_mut(), extra) {
        target.extend(extra);
    }
}

/// Well-known types that travel as one JSON value (strings, numbers).
fn is_scalar_like(message: &MessageDescriptor) -> bool {
    matches!(
        message.full_name(),
        "google.protobuf.Timestamp"
            | "google.protobuf.Duration"
            | "google.protobuf.FieldMask"
            | "google.protobuf.StringValue"
            | "google.protobuf.BytesValue"
            | "google.protobuf.BoolValue"
            | "google.protobuf.Int32Value"
            | "google.protobuf.Int64Value"
            | "google.protobuf.UInt32Value"
            | "google.protobuf.UInt64Value"
            | "google.protobuf.FloatValue"
            | "google.protobuf.DoubleValue"
    )
}

/// Canonical JSON forms of the well-known types.
fn well_known(message: &MessageDescriptor) -> Option<Value> {
    Some(match message.full_name() {
        "google.protobuf.Timestamp" => json!({"type": "string", "format": "date-time"}),
        "google.protobuf.Duration"
        | "google.protobuf.FieldMask"
        | "google.protobuf.StringValue" => {
            json!({"type": "string"})
        }
        "google.protobuf.BytesValue" => json!({"type": "string", "format": "byte"}),
        "google.protobuf.BoolValue" => json!({"type": "boolean"}),
        "google.protobuf.Int32Value" => json!({"type": "integer", "format": "int32"}),
        "google.protobuf.UInt32Value" => json!({"type": "integer", "format": "int64"}),
        "google.protobuf.Int64Value" => json!({"type": "string", "format": "int64"}),
        "google.protobuf.UInt64Value" => json!({"type": "string", "format": "uint64"}),
        "google.protobuf.FloatValue" => json!({"type": "number", "format": "float"}),
        "google.protobuf.DoubleValue" => json!({"type": "number", "format": "double"}),
        "google.protobuf.Struct" => json!({"type": "object"}),
        "google.protobuf.Value" => json!({}),
        "google.protobuf.ListValue" => json!({"type": "array", "items": {}}),
        "google.protobuf.Empty" => json!({"type": "object"}),
        "google.protobuf.Any" => json!({
            "type": "object",
            "properties": {"@type": {"type": "string"}},
            "additionalProperties": {}
        }),
        _ => return None,
    })
}

fn scalar_schema(kind: &Kind) -> Value {
    match kind {
        Kind::Double => json!({"type": "number", "format": "double"}),
        Kind::Float => json!({"type": "number", "format": "float"}),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            json!({"type": "integer", "format": "int32"})
        }
        Kind::Uint32 | Kind::Fixed32 => json!({"type": "integer", "format": "int64"}),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => json!({"type": "string", "format": "int64"}),
        Kind::Uint64 | Kind::Fixed64 => json!({"type": "string", "format": "uint64"}),
        Kind::Bool => json!({"type": "boolean"}),
        Kind::String => json!({"type": "string"}),
        Kind::Bytes => json!({"type": "string", "format": "byte"}),
        Kind::Enum(e) => {
            let names: Vec<String> = e.values().map(|v| v.name().to_string()).collect();
            json!({"type": "string", "enum": names})
        }
        Kind::Message(m) => well_known(m).unwrap_or_else(|| json!({"type": "object"})),
    }
}

/// A non-body parameter's type (Swagger 2 parameters take no `$ref`).
fn scalar_parameter(field: &FieldDescriptor) -> Value {
    scalar_schema(&field.kind())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_become_openapi_paths() {
        assert_eq!(openapi_path("/v1/{name}"), "/v1/{name}");
        assert_eq!(openapi_path("/v1/{name=**}:publish"), "/v1/{name}:publish");
        assert_eq!(
            openapi_path("/v1/{book.name=shelves/*/books/*}/x"),
            "/v1/{book.name}/x"
        );
        assert_eq!(openapi_path("/a=b/{c}"), "/a=b/{c}");
    }

    #[test]
    fn every_route_is_an_operation_with_its_parameters() {
        let pool = DescriptorPool::decode(crate::proto::FILE_DESCRIPTOR_SET).unwrap();
        let routes = RouteTable::from_pool(&pool).unwrap();
        let doc = document(&pool, &routes);
        let operations: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|p| p.as_object().unwrap().len())
            .sum();
        assert_eq!(operations, routes.routes().len());
        let action = &doc["paths"]
            ["/api/governance/v1alpha1/assets/{plugin}/{kind}/{name}/actions/{action}"]["post"];
        assert_eq!(
            action["operationId"],
            "GovernanceService_ExecuteGovernanceAction"
        );
        let parameters = action["parameters"].as_array().unwrap();
        let names: Vec<&str> = parameters
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, vec!["plugin", "kind", "name", "action", "body"]);
        let body = &parameters[4]["schema"]["properties"];
        assert_eq!(body["dryRun"]["type"], "boolean");
        assert_eq!(body["params"]["type"], "object");
        assert!(body.get("plugin").is_none());
        let list = &doc["paths"]["/api/catalog/v1alpha1/{plugin}/assets"]["get"];
        let page_size = list["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "pageSize")
            .unwrap();
        assert_eq!(page_size["in"], "query");
        assert_eq!(page_size["format"], "int32");
        assert!(doc["definitions"]["catalog.v1alpha1.AssetResource"]["properties"].is_object());
        assert!(doc["definitions"]["google.rpc.Status"]["properties"]["details"].is_object());
        assert!(
            list["description"].as_str().is_some(),
            "comments become descriptions"
        );
    }
}
