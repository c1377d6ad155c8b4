//! Proto messages to JSON the way grpc-gateway v2's default marshaler
//! writes them (protojson with `EmitUnpopulated`): lowerCamelCase names,
//! every field present (scalars with their default values, unset singular
//! messages as `null`, unset oneof members and proto3 `optional` fields
//! left out), 64-bit integers as strings, enums by name, bytes in base64
//! and well-known types in their canonical JSON forms.

use prost_reflect::{
    DynamicMessage, Kind, MapKey, MessageDescriptor, ReflectMessage, SerializeOptions, Value,
};

/// Content type of every JSON answer.
pub const CONTENT_TYPE_JSON: &str = "application/json";

/// prost-reflect options matching grpc-gateway's marshaler (the `null`s
/// for unset messages are added by [`to_json`]).
pub fn json_options() -> SerializeOptions {
    SerializeOptions::new()
        .skip_default_fields(false)
        .use_proto_field_name(false)
        .stringify_64_bit_integers(true)
        .use_enum_numbers(false)
}

/// A message as grpc-gateway would write it. (Unset proto2 scalars are
/// left out rather than written with their defaults; the API is proto3.)
pub fn to_json(message: &DynamicMessage) -> serde_json::Value {
    let mut json = message
        .serialize_with_options(serde_json::value::Serializer, &json_options())
        .unwrap_or(serde_json::Value::Null);
    emit_nulls(message, &mut json);
    json
}

/// Well-known types have their own JSON forms, not objects of fields.
fn is_well_known(message: &MessageDescriptor) -> bool {
    message.full_name().starts_with("google.protobuf.")
}

/// Adds `null` for unset singular message fields (outside oneofs), as
/// protojson's EmitUnpopulated does, at every depth.
fn emit_nulls(message: &DynamicMessage, json: &mut serde_json::Value) {
    let descriptor = message.descriptor();
    if is_well_known(&descriptor) {
        return;
    }
    let Some(object) = json.as_object_mut() else {
        return;
    };
    for field in descriptor.fields() {
        let Kind::Message(inner) = field.kind() else {
            continue;
        };
        let name = field.json_name();
        if field.is_map() {
            let value_field = inner.map_entry_value_field();
            let Kind::Message(value_type) = value_field.kind() else {
                continue;
            };
            if is_well_known(&value_type) {
                continue;
            }
            let (Some(map), Some(serde_json::Value::Object(entries))) = (
                message.get_field(&field).as_map().cloned(),
                object.get_mut(name),
            ) else {
                continue;
            };
            for (key, value) in &map {
                if let (Some(v), Some(j)) = (value.as_message(), entries.get_mut(&key_text(key))) {
                    emit_nulls(v, j);
                }
            }
        } else if field.is_list() {
            if is_well_known(&inner) {
                continue;
            }
            let list = message.get_field(&field);
            if let (Some(items), Some(serde_json::Value::Array(out))) =
                (list.as_list(), object.get_mut(name))
            {
                for (item, j) in items.iter().zip(out.iter_mut()) {
                    if let Value::Message(m) = item {
                        emit_nulls(m, j);
                    }
                }
            }
        } else if message.has_field(&field) {
            if let (Value::Message(m), Some(j)) =
                (message.get_field(&field).as_ref(), object.get_mut(name))
            {
                emit_nulls(m, j);
            }
        } else if field.containing_oneof().is_none() {
            object.insert(name.to_string(), serde_json::Value::Null);
        }
    }
}

fn key_text(key: &MapKey) -> String {
    match key {
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(v) => v.to_string(),
        MapKey::I64(v) => v.to_string(),
        MapKey::U32(v) => v.to_string(),
        MapKey::U64(v) => v.to_string(),
        MapKey::String(s) => s.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_reflect::DescriptorPool;
    use serde_json::json;

    fn pool() -> DescriptorPool {
        DescriptorPool::decode(crate::proto::FILE_DESCRIPTOR_SET).unwrap()
    }

    #[test]
    fn defaults_are_emitted_and_unset_messages_are_null() {
        let pool = pool();
        let info = pool.get_message_by_name("google.rpc.ErrorInfo").unwrap();
        let message = DynamicMessage::new(info);
        assert_eq!(
            to_json(&message),
            json!({"reason": "", "domain": "", "metadata": {}})
        );
        let field = pool
            .get_message_by_name("google.protobuf.FieldDescriptorProto")
            .unwrap();
        let mut message = DynamicMessage::new(field);
        message.set_field_by_name("name", Value::String("x".into()));
        message.set_field_by_name("type", Value::EnumNumber(9));
        let json = to_json(&message);
        assert_eq!(json["type"], "TYPE_STRING", "enums by name");
        assert_eq!(json["options"], serde_json::Value::Null);
        let option = pool
            .get_message_by_name("google.protobuf.UninterpretedOption")
            .unwrap();
        let mut message = DynamicMessage::new(option);
        message.set_field_by_name("positive_int_value", Value::U64(u64::MAX));
        message.set_field_by_name("string_value", Value::Bytes(b"hi".to_vec().into()));
        let json = to_json(&message);
        assert_eq!(json["positiveIntValue"], "18446744073709551615");
        assert_eq!(json["stringValue"], "aGk=");
        assert_eq!(json["name"], json!([]));
        let status = pool.get_message_by_name("google.rpc.Status").unwrap();
        assert_eq!(
            to_json(&DynamicMessage::new(status)),
            json!({"code": 0, "message": "", "details": []})
        );
    }
}
