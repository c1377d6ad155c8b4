//! Proto messages to JSON the way grpc-gateway v2's default marshaler
//! writes them (protojson with `EmitUnpopulated`): lowerCamelCase names,
//! every field present (scalars with their default values, unset singular
//! messages as `null`, unset oneof members and proto3 `optional` fields
//! left out), 64-bit integers as strings, enums by name, bytes in base64
//! and well-known types in their canonical JSON forms.

use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, ReflectMessage,
    SerializeOptions, Value,
};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

/// Content type of every JSON answer.
pub const CONTENT_TYPE_JSON: &str = "application/json";

/// prost-reflect options matching grpc-gateway's marshaler, used for the
/// well-known types and error details (the `null`s for unset messages
/// come from [`to_json`]).
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
    serde_json::to_value(Emit(message)).unwrap_or(serde_json::Value::Null)
}

/// The same, as JSON text (what the gateway sends).
pub fn to_json_bytes(message: &DynamicMessage) -> Vec<u8> {
    serde_json::to_vec(&Emit(message)).unwrap_or_else(|_| b"null".to_vec())
}

/// Well-known types have their own JSON forms, not objects of fields.
fn is_well_known(message: &MessageDescriptor) -> bool {
    message.full_name().starts_with("google.protobuf.")
}

/// Serializes a message field by field (well-known types through
/// prost-reflect's canonical forms), writing `null` for unset singular
/// messages outside oneofs, as protojson's EmitUnpopulated does.
struct Emit<'a>(&'a DynamicMessage);

impl Serialize for Emit<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let message = self.0;
        let descriptor = message.descriptor();
        if is_well_known(&descriptor) {
            return message.serialize_with_options(serializer, &json_options());
        }
        let mut map = serializer.serialize_map(None)?;
        for field in descriptor.fields() {
            if field.supports_presence() && !message.has_field(&field) {
                let singular_message =
                    !field.is_list() && !field.is_map() && matches!(field.kind(), Kind::Message(_));
                if singular_message && field.containing_oneof().is_none() {
                    map.serialize_entry(field.json_name(), &())?;
                }
                continue;
            }
            let value = message.get_field(&field);
            map.serialize_entry(
                field.json_name(),
                &FieldValue {
                    value: &value,
                    field: &field,
                },
            )?;
        }
        map.end()
    }
}

/// A field's whole value: one value, a list or a map.
struct FieldValue<'a> {
    value: &'a Value,
    field: &'a FieldDescriptor,
}

impl Serialize for FieldValue<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.value {
            Value::List(items) => {
                let kind = self.field.kind();
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&One {
                        value: item,
                        kind: &kind,
                    })?;
                }
                seq.end()
            }
            Value::Map(entries) => {
                let kind = match self.field.kind() {
                    Kind::Message(entry) => entry.map_entry_value_field().kind(),
                    other => other,
                };
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    map.serialize_entry(&key_text(key), &One { value, kind: &kind })?;
                }
                map.end()
            }
            value => One {
                value,
                kind: &self.field.kind(),
            }
            .serialize(serializer),
        }
    }
}

/// One value of a field (an element, for lists and maps).
struct One<'a> {
    value: &'a Value,
    kind: &'a Kind,
}

impl Serialize for One<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        fn float<S: Serializer>(serializer: S, v: f64, as_f32: bool) -> Result<S::Ok, S::Error> {
            if v.is_nan() {
                serializer.serialize_str("NaN")
            } else if v == f64::INFINITY {
                serializer.serialize_str("Infinity")
            } else if v == f64::NEG_INFINITY {
                serializer.serialize_str("-Infinity")
            } else if as_f32 {
                serializer.serialize_f32(v as f32)
            } else {
                serializer.serialize_f64(v)
            }
        }
        match self.value {
            Value::Bool(v) => serializer.serialize_bool(*v),
            Value::I32(v) => serializer.serialize_i32(*v),
            Value::U32(v) => serializer.serialize_u32(*v),
            Value::I64(v) => serializer.collect_str(v),
            Value::U64(v) => serializer.collect_str(v),
            Value::F32(v) => float(serializer, f64::from(*v), true),
            Value::F64(v) => float(serializer, *v, false),
            Value::String(v) => serializer.serialize_str(v),
            Value::Bytes(v) => {
                use base64::Engine;
                serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
            }
            Value::EnumNumber(n) => match self.kind {
                Kind::Enum(e) if e.full_name() == "google.protobuf.NullValue" => {
                    serializer.serialize_unit()
                }
                Kind::Enum(e) => match e.get_value(*n) {
                    Some(v) => serializer.serialize_str(v.name()),
                    None => serializer.serialize_i32(*n),
                },
                _ => serializer.serialize_i32(*n),
            },
            Value::Message(m) => Emit(m).serialize(serializer),
            Value::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&One {
                        value: item,
                        kind: self.kind,
                    })?;
                }
                seq.end()
            }
            Value::Map(_) => serializer.serialize_unit(),
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

    /// Drops `null` members at every depth.
    fn without_nulls(value: serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Object(map) => serde_json::Value::Object(
                map.into_iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k, without_nulls(v)))
                    .collect(),
            ),
            serde_json::Value::Array(items) => {
                serde_json::Value::Array(items.into_iter().map(without_nulls).collect())
            }
            other => other,
        }
    }

    #[test]
    fn the_marshaler_agrees_with_prost_reflect_apart_from_nulls() {
        use crate::proto::catalog::v1alpha1 as pb;
        use prost::Message;
        let pool = pool();
        let result = pb::ActionResult {
            action: "lifecycle.setState".into(),
            status: "completed".into(),
            data: Some(crate::transport::grpc::convert::to_struct(
                json!({"n": 1.5, "list": [1, "a", null, {"x": true}], "none": null})
                    .as_object()
                    .unwrap(),
            )),
            warnings: vec![pb::Warning {
                code: "W".into(),
                message: String::new(),
            }],
            plan: Some(pb::ActionPlan {
                outcome: "execute".into(),
                checks: vec![Default::default()],
            }),
            started_at: Some(prost_types::Timestamp {
                seconds: 1_764_000_000,
                nanos: 5_000_000,
            }),
            ..Default::default()
        };
        let message = DynamicMessage::decode(
            pool.get_message_by_name("catalog.v1alpha1.ActionResult")
                .unwrap(),
            result.encode_to_vec().as_slice(),
        )
        .unwrap();
        let reference = message
            .serialize_with_options(serde_json::value::Serializer, &json_options())
            .unwrap();
        let ours = to_json(&message);
        assert_eq!(without_nulls(ours.clone()), without_nulls(reference));
        assert_eq!(ours["finishedAt"], serde_json::Value::Null);
        assert_eq!(ours["data"]["none"], serde_json::Value::Null);
        assert_eq!(ours["startedAt"], "2025-11-24T16:00:00.005Z");
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&to_json_bytes(&message)).unwrap(),
            ours
        );
        let mut info =
            DynamicMessage::new(pool.get_message_by_name("google.rpc.ErrorInfo").unwrap());
        info.set_field_by_name(
            "metadata",
            Value::Map(
                [(MapKey::String("k".into()), Value::String("v".into()))]
                    .into_iter()
                    .collect(),
            ),
        );
        assert_eq!(
            to_json(&info),
            json!({"reason": "", "domain": "", "metadata": {"k": "v"}})
        );
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
