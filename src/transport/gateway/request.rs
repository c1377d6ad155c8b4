//! HTTP request -> request message, in grpc-gateway's order: the body
//! (`*`: the whole message; a field name: that field; none), then the path
//! variables, then query parameters for every field neither the path nor
//! the body set (dotted names for nested fields, one parameter per element
//! of a repeated field, enums by name or number, well-known types in their
//! JSON string forms). Unknown body fields and query parameters are
//! ignored unless the gateway is strict.

use std::collections::HashSet;

use prost_reflect::{
    DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, ReflectMessage,
    Value,
};

use super::errors::GatewayError;
use super::routes::{resolve, BodyMapping, Route};

/// Builds the request message of `route`.
pub fn build(
    route: &Route,
    path_values: &[String],
    query: Option<&str>,
    body: &[u8],
    strict: bool,
) -> Result<DynamicMessage, GatewayError> {
    let input = route.rpc.input();
    let options = DeserializeOptions::new().deny_unknown_fields(strict);
    let body_present = body.iter().any(|b| !b.is_ascii_whitespace());
    let mut message = match (&route.body, body_present) {
        (BodyMapping::Whole, true) => {
            let mut de = serde_json::Deserializer::from_slice(body);
            let message =
                DynamicMessage::deserialize_with_options(input.clone(), &mut de, &options)
                    .map_err(body_error)?;
            de.end().map_err(body_error)?;
            message
        }
        (BodyMapping::Field(field), true) => {
            let value: serde_json::Value = serde_json::from_slice(body).map_err(body_error)?;
            let mut wrapper = serde_json::Map::new();
            wrapper.insert(field.json_name().to_string(), value.clone());
            let mut message = DynamicMessage::deserialize_with_options(
                input.clone(),
                serde_json::Value::Object(wrapper),
                &options,
            )
            .map_err(body_error)?;
            if route.method == http::Method::PATCH {
                mask_from_body(&mut message, field, &value);
            }
            message
        }
        _ => DynamicMessage::new(input.clone()),
    };
    for (fields, raw) in route.path_fields.iter().zip(path_values) {
        set_path(&mut message, fields, raw, false).map_err(|e| {
            GatewayError::invalid(format!(
                "type mismatch, parameter: {}, error: {e}",
                dotted(fields)
            ))
        })?;
    }
    if !matches!(route.body, BodyMapping::Whole) {
        let mut taken: Vec<String> = route.path_fields.iter().map(|f| dotted(f)).collect();
        if let BodyMapping::Field(field) = &route.body {
            taken.push(field.name().to_string());
        }
        apply_query(&mut message, &input, query.unwrap_or(""), &taken, strict)?;
    }
    Ok(message)
}

fn body_error(e: impl std::fmt::Display) -> GatewayError {
    GatewayError::invalid(format!("invalid JSON body: {e}"))
}

fn dotted(fields: &[FieldDescriptor]) -> String {
    fields
        .iter()
        .map(|f| f.name())
        .collect::<Vec<_>>()
        .join(".")
}

/// Query parameters onto the message; `taken` lists the proto field
/// paths that path and body already own (a parameter under one is
/// skipped, as grpc-gateway's filter does).
fn apply_query(
    message: &mut DynamicMessage,
    input: &MessageDescriptor,
    query: &str,
    taken: &[String],
    strict: bool,
) -> Result<(), GatewayError> {
    let mut seen: HashSet<String> = HashSet::new();
    for (key, value) in form_urlencoded_pairs(query)? {
        let names: Vec<String> = key.split('.').map(str::to_string).collect();
        let fields = resolve(input, &names).or_else(|| {
            // Spec 08 §2: the query also accepts nextPageToken for page_token.
            matches!(key.as_str(), "nextPageToken" | "next_page_token")
                .then(|| resolve(input, &["page_token".to_string()]))
                .flatten()
        });
        let Some(fields) = fields else {
            if strict {
                return Err(GatewayError::invalid(format!(
                    "unknown query parameter {key:?}"
                )));
            }
            continue;
        };
        let path = dotted(&fields);
        let owned = taken
            .iter()
            .any(|t| path == *t || path.starts_with(&format!("{t}.")));
        if owned {
            continue;
        }
        let leaf = fields.last().expect("resolve returns at least one field");
        if leaf.is_map() {
            return Err(GatewayError::invalid(format!(
                "query parameter {key:?}: map fields cannot be set from the query"
            )));
        }
        if !leaf.is_list() && !seen.insert(path.clone()) {
            return Err(GatewayError::invalid(format!(
                "too many values for query parameter {key:?}: the field is not repeated"
            )));
        }
        set_path(message, &fields, &value, true)
            .map_err(|e| GatewayError::invalid(format!("invalid query parameter {key:?}: {e}")))?;
    }
    Ok(())
}

/// `application/x-www-form-urlencoded` pairs (`+` is a space).
fn form_urlencoded_pairs(query: &str) -> Result<Vec<(String, String)>, GatewayError> {
    let decode = |s: &str| {
        let spaced = s.replace('+', " ");
        percent_encoding::percent_decode_str(&spaced)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| GatewayError::invalid("the query string is not valid UTF-8"))
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(k)?, decode(v)?))
        })
        .collect()
}

/// Sets the field at `fields` (a resolved path) from its text form;
/// repeated leaves get the value appended.
fn set_path(
    message: &mut DynamicMessage,
    fields: &[FieldDescriptor],
    raw: &str,
    append: bool,
) -> Result<(), String> {
    let (leaf, parents) = fields.split_last().ok_or("empty field path")?;
    let mut current = message;
    for parent in parents {
        current = match current.get_field_mut(parent) {
            Value::Message(m) => m,
            _ => return Err(format!("{} is not a message", parent.name())),
        };
    }
    let value = parse_value(leaf, raw)?;
    if leaf.is_list() && append {
        if let Value::List(items) = current.get_field_mut(leaf) {
            items.push(value);
        }
    } else if leaf.is_list() {
        current.set_field(leaf, Value::List(vec![value]));
    } else {
        current.set_field(leaf, value);
    }
    Ok(())
}

/// One value of a field's type from its text form.
pub fn parse_value(field: &FieldDescriptor, raw: &str) -> Result<Value, String> {
    parse_kind(&field.kind(), raw)
}

fn parse_kind(kind: &Kind, raw: &str) -> Result<Value, String> {
    let number = |e: &dyn std::fmt::Display| format!("{raw:?} is not a valid number: {e}");
    Ok(match kind {
        Kind::Double => Value::F64(parse_float(raw).ok_or_else(|| number(&"bad float"))?),
        Kind::Float => Value::F32(parse_float(raw).ok_or_else(|| number(&"bad float"))? as f32),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            Value::I32(raw.parse().map_err(|e| number(&e))?)
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            Value::I64(raw.parse().map_err(|e| number(&e))?)
        }
        Kind::Uint32 | Kind::Fixed32 => Value::U32(raw.parse().map_err(|e| number(&e))?),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(raw.parse().map_err(|e| number(&e))?),
        Kind::Bool => Value::Bool(match raw {
            "true" | "True" | "TRUE" | "t" | "T" | "1" => true,
            "false" | "False" | "FALSE" | "f" | "F" | "0" => false,
            _ => return Err(format!("{raw:?} is not a boolean")),
        }),
        Kind::String => Value::String(raw.to_string()),
        Kind::Bytes => Value::Bytes(decode_base64(raw)?.into()),
        Kind::Enum(e) => {
            let number = match e.get_value_by_name(raw) {
                Some(v) => v.number(),
                None => raw
                    .parse::<i32>()
                    .ok()
                    .filter(|n| e.get_value(*n).is_some())
                    .ok_or_else(|| format!("{raw:?} is not a value of {}", e.full_name()))?,
            };
            Value::EnumNumber(number)
        }
        Kind::Message(m) => Value::Message(parse_message(m, raw)?),
    })
}

fn parse_float(raw: &str) -> Option<f64> {
    match raw {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => raw.parse().ok(),
    }
}

fn decode_base64(raw: &str) -> Result<Vec<u8>, String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    use base64::Engine;
    [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(raw).ok())
        .ok_or_else(|| format!("{raw:?} is not base64"))
}

/// Well-known types from their JSON string forms (Timestamp, Duration,
/// FieldMask, the wrappers); other messages cannot come from a string.
fn parse_message(message: &MessageDescriptor, raw: &str) -> Result<DynamicMessage, String> {
    match message.full_name() {
        "google.protobuf.Timestamp"
        | "google.protobuf.Duration"
        | "google.protobuf.FieldMask"
        | "google.protobuf.StringValue"
        | "google.protobuf.BytesValue" => {
            DynamicMessage::deserialize(message.clone(), serde_json::Value::String(raw.into()))
                .map_err(|e| e.to_string())
        }
        "google.protobuf.BoolValue"
        | "google.protobuf.Int32Value"
        | "google.protobuf.Int64Value"
        | "google.protobuf.UInt32Value"
        | "google.protobuf.UInt64Value"
        | "google.protobuf.FloatValue"
        | "google.protobuf.DoubleValue" => {
            let field = message
                .get_field_by_name("value")
                .ok_or("wrapper without a value field")?;
            let mut out = DynamicMessage::new(message.clone());
            out.set_field(&field, parse_kind(&field.kind(), raw)?);
            Ok(out)
        }
        other => Err(format!("{other} cannot be given as a single parameter")),
    }
}

/// grpc-gateway's PATCH feature: with a named body field and no
/// `update_mask` given, the mask lists the fields the body sets.
fn mask_from_body(message: &mut DynamicMessage, body: &FieldDescriptor, json: &serde_json::Value) {
    let descriptor = message.descriptor();
    let Some(mask_field) = descriptor.get_field_by_name("update_mask") else {
        return;
    };
    let is_mask = matches!(mask_field.kind(), Kind::Message(m) if m.full_name() == "google.protobuf.FieldMask");
    if !is_mask || message.has_field(&mask_field) {
        return;
    }
    let Kind::Message(body_type) = body.kind() else {
        return;
    };
    let mut paths = Vec::new();
    collect_paths(&body_type, json, "", &mut paths);
    let mut mask = DynamicMessage::new(match mask_field.kind() {
        Kind::Message(m) => m,
        _ => return,
    });
    mask.set_field_by_name(
        "paths",
        Value::List(paths.into_iter().map(Value::String).collect()),
    );
    message.set_field(&mask_field, Value::Message(mask));
}

fn collect_paths(
    message: &MessageDescriptor,
    json: &serde_json::Value,
    prefix: &str,
    out: &mut Vec<String>,
) {
    let Some(object) = json.as_object() else {
        return;
    };
    for (key, value) in object {
        let Some(field) = message
            .get_field_by_json_name(key)
            .or_else(|| message.get_field_by_name(key))
        else {
            continue;
        };
        let path = format!("{prefix}{}", field.name());
        match field.kind() {
            Kind::Message(inner)
                if value.is_object()
                    && !field.is_map()
                    && !inner.full_name().starts_with("google.protobuf.") =>
            {
                collect_paths(&inner, value, &format!("{path}."), out)
            }
            _ => out.push(path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::gateway::response::to_json;
    use crate::transport::gateway::routes::{Lookup, RouteTable};
    use prost_reflect::DescriptorPool;
    use serde_json::json;

    fn request(method: http::Method, uri: &str, body: &str, strict: bool) -> serde_json::Value {
        try_request(method, uri, body, strict).unwrap()
    }

    fn try_request(
        method: http::Method,
        uri: &str,
        body: &str,
        strict: bool,
    ) -> Result<serde_json::Value, GatewayError> {
        let pool = DescriptorPool::decode(crate::proto::FILE_DESCRIPTOR_SET).unwrap();
        let table = RouteTable::from_pool(&pool).unwrap();
        let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
        let Lookup::Found(route, values) = table.lookup(&method, path) else {
            panic!("no route for {uri}");
        };
        build(route, &values, Some(query), body.as_bytes(), strict).map(|m| to_json(&m))
    }

    #[test]
    fn query_parameters_fill_scalars_repeated_and_nested_fields() {
        let json = request(
            http::Method::GET,
            "/api/catalog/v1alpha1/models/assets?filterQuery=name%3D%27x%27&page_size=5&pageToken=abc&kind=Model&plugin=ignored&nope=1",
            "",
            false,
        );
        assert_eq!(json["plugin"], "models", "the path wins over the query");
        assert_eq!(json["filterQuery"], "name='x'");
        assert_eq!(json["pageSize"], 5);
        assert_eq!(json["pageToken"], "abc");
        assert_eq!(json["kind"], "Model");
        let alias = request(
            http::Method::GET,
            "/api/catalog/v1alpha1/models/assets?nextPageToken=t1",
            "",
            true,
        );
        assert_eq!(alias["pageToken"], "t1", "nextPageToken is page_token");
        let own = request(
            http::Method::GET,
            "/api/catalog/v1alpha1/models/native/models?nextPageToken=t2",
            "",
            true,
        );
        assert_eq!(own["nextPageToken"], "t2", "a field of that name wins");
        assert_eq!(own["pageToken"], "");
    }

    #[test]
    fn random_queries_and_bodies_never_panic() {
        let pool = DescriptorPool::decode(crate::proto::FILE_DESCRIPTOR_SET).unwrap();
        let table = RouteTable::from_pool(&pool).unwrap();
        let Lookup::Found(list, values) =
            table.lookup(&http::Method::GET, "/api/governance/v1alpha1/approvals")
        else {
            panic!("route");
        };
        let Lookup::Found(patch, patch_values) = table.lookup(
            &http::Method::PATCH,
            "/api/governance/v1alpha1/assets/p/K/n",
        ) else {
            panic!("route");
        };
        let mut seed = 0x1234_5678_9abc_def1u64;
        let mut pick = |alphabet: &[u8], max: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = seed % max;
            (0..len)
                .map(|i| {
                    alphabet[((seed >> (i % 50)) as usize + i as usize) % alphabet.len()] as char
                })
                .collect::<String>()
        };
        for _ in 0..5_000 {
            let query = pick(b"=&.%2Fstatuscreated_AfterpageSize0123-T:Z+", 40);
            let _ = build(list, &values, Some(&query), b"", false);
            let _ = build(list, &values, Some(&query), b"", true);
            let body = pick(b"{}[]\":,0123 ownerprincipal-truenull", 40);
            let _ = build(patch, &patch_values, Some(&query), body.as_bytes(), false);
        }
    }

    #[test]
    fn strict_mode_refuses_unknown_parameters_and_fields() {
        let err = try_request(http::Method::GET, "/api/plugins?nope=1", "", true).unwrap_err();
        assert_eq!(err.code, tonic::Code::InvalidArgument);
        assert!(err.message.contains("nope"), "{}", err.message);
        let action = "/api/governance/v1alpha1/assets/agents/Agent/a/actions/lifecycle.setState";
        let body = r#"{"dryRun": true, "surprise": 1}"#;
        assert_eq!(
            request(http::Method::POST, action, body, false)["dryRun"],
            true
        );
        assert!(try_request(http::Method::POST, action, body, true).is_err());
    }

    #[test]
    fn bad_values_are_invalid_arguments() {
        for uri in [
            "/api/catalog/v1alpha1/models/assets?pageSize=many",
            "/api/catalog/v1alpha1/models/assets?pageSize=1&pageSize=2",
            "/api/catalog/v1alpha1/models/assets?filterQuery=%FF",
        ] {
            let err = try_request(http::Method::GET, uri, "", false).unwrap_err();
            assert_eq!(err.code, tonic::Code::InvalidArgument, "{uri}");
        }
        let action = "/api/governance/v1alpha1/assets/agents/Agent/a/actions/x";
        for body in ["{", "[1]", r#"{"dryRun": "perhaps"}"#, "{} {}"] {
            let err = try_request(http::Method::POST, action, body, false).unwrap_err();
            assert_eq!(err.code, tonic::Code::InvalidArgument, "{body}");
        }
    }

    #[test]
    fn a_named_body_field_on_patch_derives_the_update_mask() {
        let json = request(
            http::Method::PATCH,
            "/api/governance/v1alpha1/assets/agents/Agent/a1?expectedResourceVersion=3",
            r#"{"owner": {"principal": "alice"}, "extensions": {"a": 1}}"#,
            false,
        );
        assert_eq!(json["governance"]["owner"]["principal"], "alice");
        assert_eq!(json["expectedResourceVersion"], "3");
        let mut paths: Vec<String> = json["updateMask"]
            .as_str()
            .unwrap()
            .split(',')
            .map(str::to_string)
            .collect();
        paths.sort();
        assert_eq!(paths, vec!["extensions", "owner.principal"]);
        let explicit = request(
            http::Method::PATCH,
            "/api/governance/v1alpha1/assets/agents/Agent/a1?updateMask=owner",
            r#"{"owner": {"principal": "alice"}, "extensions": {"a": 1}}"#,
            false,
        );
        assert_eq!(explicit["updateMask"], "owner");
    }

    #[test]
    fn scalar_kinds_parse_from_text() {
        let pool = DescriptorPool::decode(crate::proto::FILE_DESCRIPTOR_SET).unwrap();
        let kind = |name: &str| {
            pool.get_message_by_name(name)
                .or_else(|| DescriptorPool::global().get_message_by_name(name))
                .map(Kind::Message)
                .unwrap()
        };
        let ts = parse_kind(&kind("google.protobuf.Timestamp"), "2026-11-26T03:00:00Z").unwrap();
        assert_eq!(
            to_json(ts.as_message().unwrap()),
            json!("2026-11-26T03:00:00Z")
        );
        let d = parse_kind(&kind("google.protobuf.Duration"), "1.5s").unwrap();
        assert_eq!(to_json(d.as_message().unwrap()), json!("1.500s"));
        let mask = parse_kind(&kind("google.protobuf.FieldMask"), "a.b,cD").unwrap();
        assert_eq!(to_json(mask.as_message().unwrap()), json!("a.b,cD"));
        let b = parse_kind(&kind("google.protobuf.BoolValue"), "true").unwrap();
        assert_eq!(to_json(b.as_message().unwrap()), json!(true));
        assert_eq!(parse_kind(&Kind::Bool, "1").unwrap(), Value::Bool(true));
        assert!(parse_kind(&Kind::Bool, "yes").is_err());
        assert_eq!(parse_kind(&Kind::Int64, "-7").unwrap(), Value::I64(-7));
        assert!(parse_kind(&Kind::Uint32, "-7").is_err());
        assert_eq!(
            parse_kind(&Kind::Bytes, "aGk=").unwrap(),
            Value::Bytes(b"hi".to_vec().into())
        );
        assert_eq!(
            parse_kind(&Kind::Double, "NaN")
                .unwrap()
                .as_f64()
                .map(f64::is_nan),
            Some(true)
        );
        let code = pool.get_enum_by_name("google.rpc.Code").unwrap();
        assert_eq!(
            parse_kind(&Kind::Enum(code.clone()), "NOT_FOUND").unwrap(),
            Value::EnumNumber(5)
        );
        assert_eq!(
            parse_kind(&Kind::Enum(code.clone()), "5").unwrap(),
            Value::EnumNumber(5)
        );
        assert!(parse_kind(&Kind::Enum(code), "NOPE").is_err());
        assert!(parse_kind(&kind("google.rpc.Status"), "x").is_err());
    }
}
