//! The fast path of the marshaler: protobuf wire bytes straight to the
//! JSON text [`super::response::to_json`] would write for the decoded
//! message, with no intermediate message tree. It walks the descriptor of
//! each message and the fields found in its bytes; Struct, Value,
//! ListValue and Timestamp (most of the catalog's payload) are written
//! natively, other well-known types go through prost-reflect. Anything it
//! cannot read is an error, and the caller falls back to the slow path.

use std::fmt::Write as _;

use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor};

use super::response::json_options;

/// Why the bytes could not be transcoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot transcode the answer: {0}")]
pub struct WireError(&'static str);

/// One field occurrence in the encoded message.
#[derive(Debug, Clone, Copy)]
enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
}

fn varint(bytes: &mut &[u8]) -> Result<u64, WireError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first().ok_or(WireError("truncated varint"))?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(WireError("varint too long"))
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], WireError> {
    if bytes.len() < n {
        return Err(WireError("truncated field"));
    }
    let (head, rest) = bytes.split_at(n);
    *bytes = rest;
    Ok(head)
}

/// Every (field number, value) of a message, in wire order.
fn fields(mut bytes: &[u8]) -> Result<Vec<(u32, Wire<'_>)>, WireError> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let key = varint(&mut bytes)?;
        let number = u32::try_from(key >> 3).map_err(|_| WireError("bad field number"))?;
        let value = match key & 7 {
            0 => Wire::Varint(varint(&mut bytes)?),
            1 => Wire::Fixed64(u64::from_le_bytes(
                take(&mut bytes, 8)?.try_into().expect("8 bytes"),
            )),
            2 => {
                let len = usize::try_from(varint(&mut bytes)?)
                    .map_err(|_| WireError("length overflow"))?;
                Wire::Bytes(take(&mut bytes, len)?)
            }
            5 => Wire::Fixed32(u32::from_le_bytes(
                take(&mut bytes, 4)?.try_into().expect("4 bytes"),
            )),
            _ => return Err(WireError("unsupported wire type")),
        };
        out.push((number, value));
    }
    Ok(out)
}

/// Writes the JSON of the `message` encoded in `bytes`.
pub fn transcode(
    message: &MessageDescriptor,
    bytes: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), WireError> {
    match message.full_name() {
        "google.protobuf.Struct" => return write_struct(bytes, out),
        "google.protobuf.Value" => return write_value(bytes, out),
        "google.protobuf.ListValue" => return write_list(bytes, out),
        "google.protobuf.Timestamp" => return write_timestamp(bytes, out),
        name if name.starts_with("google.protobuf.") => {
            let decoded = DynamicMessage::decode(message.clone(), bytes)
                .map_err(|_| WireError("undecodable well-known type"))?;
            let mut serializer = serde_json::Serializer::new(&mut *out);
            return decoded
                .serialize_with_options(&mut serializer, &json_options())
                .map_err(|_| WireError("unserializable well-known type"));
        }
        _ => {}
    }
    let found = fields(bytes)?;
    out.push(b'{');
    let mut first = true;
    for field in message.fields() {
        let number = field.number();
        let mut occurrences = found.iter().filter(|(n, _)| *n == number).map(|(_, v)| *v);
        let present = found.iter().any(|(n, _)| *n == number);
        if !present && field.supports_presence() {
            let singular_message =
                !field.is_list() && !field.is_map() && matches!(field.kind(), Kind::Message(_));
            if singular_message && field.containing_oneof().is_none() {
                key(out, &mut first, field.json_name());
                out.extend_from_slice(b"null");
            }
            continue;
        }
        key(out, &mut first, field.json_name());
        let kind = field.kind();
        if field.is_map() {
            write_map(&field, occurrences, out)?;
        } else if field.is_list() {
            out.push(b'[');
            let mut first_item = true;
            for occurrence in occurrences {
                match (occurrence, packable(&kind)) {
                    (Wire::Bytes(mut packed), true) => {
                        while !packed.is_empty() {
                            let item = match packed_width(&kind) {
                                0 => Wire::Varint(varint(&mut packed)?),
                                4 => Wire::Fixed32(u32::from_le_bytes(
                                    take(&mut packed, 4)?.try_into().expect("4 bytes"),
                                )),
                                _ => Wire::Fixed64(u64::from_le_bytes(
                                    take(&mut packed, 8)?.try_into().expect("8 bytes"),
                                )),
                            };
                            comma(out, &mut first_item);
                            write_one(&kind, Some(item), out)?;
                        }
                    }
                    (item, _) => {
                        comma(out, &mut first_item);
                        write_one(&kind, Some(item), out)?;
                    }
                }
            }
            out.push(b']');
        } else {
            // The last occurrence wins (encoders write each field once).
            write_one(&kind, occurrences.next_back(), out)?;
        }
    }
    out.push(b'}');
    Ok(())
}

fn comma(out: &mut Vec<u8>, first: &mut bool) {
    if !*first {
        out.push(b',');
    }
    *first = false;
}

fn key(out: &mut Vec<u8>, first: &mut bool, name: &str) {
    comma(out, first);
    string(out, name);
    out.push(b':');
}

fn string(out: &mut Vec<u8>, text: &str) {
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

fn packable(kind: &Kind) -> bool {
    !matches!(kind, Kind::String | Kind::Bytes | Kind::Message(_))
}

/// 0 for varints, else the fixed width.
fn packed_width(kind: &Kind) -> usize {
    match kind {
        Kind::Fixed32 | Kind::Sfixed32 | Kind::Float => 4,
        Kind::Fixed64 | Kind::Sfixed64 | Kind::Double => 8,
        _ => 0,
    }
}

fn write_float(out: &mut Vec<u8>, value: f64, as_f32: bool) {
    if value.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if value == f64::INFINITY {
        out.extend_from_slice(b"\"Infinity\"");
    } else if value == f64::NEG_INFINITY {
        out.extend_from_slice(b"\"-Infinity\"");
    } else if as_f32 {
        let _ = serde_json::to_writer(&mut *out, &(value as f32));
    } else {
        let _ = serde_json::to_writer(&mut *out, &value);
    }
}

fn number(out: &mut Vec<u8>, value: impl std::fmt::Display, quoted: bool) {
    let mut text = String::new();
    let _ = write!(text, "{value}");
    if quoted {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(text.as_bytes());
    }
}

/// One value of `kind` (None: the field's default).
fn write_one(kind: &Kind, value: Option<Wire<'_>>, out: &mut Vec<u8>) -> Result<(), WireError> {
    let mismatch = || WireError("wire type does not match the field");
    let varint_of = |v: Option<Wire<'_>>| match v {
        None => Ok(0),
        Some(Wire::Varint(n)) => Ok(n),
        Some(_) => Err(mismatch()),
    };
    let fixed32_of = |v: Option<Wire<'_>>| match v {
        None => Ok(0),
        Some(Wire::Fixed32(n)) => Ok(n),
        Some(_) => Err(mismatch()),
    };
    let fixed64_of = |v: Option<Wire<'_>>| match v {
        None => Ok(0),
        Some(Wire::Fixed64(n)) => Ok(n),
        Some(_) => Err(mismatch()),
    };
    let bytes = match value {
        None => Ok(&[][..]),
        Some(Wire::Bytes(b)) => Ok(b),
        Some(_) => Err(mismatch()),
    };
    let bytes_of = |_: Option<Wire<'_>>| bytes;
    match kind {
        Kind::Int32 => number(out, varint_of(value)? as i32, false),
        Kind::Int64 => number(out, varint_of(value)? as i64, true),
        Kind::Uint32 => number(out, varint_of(value)? as u32, false),
        Kind::Uint64 => number(out, varint_of(value)?, true),
        Kind::Sint32 => {
            let n = varint_of(value)? as u32;
            number(out, ((n >> 1) as i32) ^ -((n & 1) as i32), false)
        }
        Kind::Sint64 => {
            let n = varint_of(value)?;
            number(out, ((n >> 1) as i64) ^ -((n & 1) as i64), true)
        }
        Kind::Bool => out.extend_from_slice(if varint_of(value)? != 0 {
            b"true"
        } else {
            b"false"
        }),
        Kind::Fixed32 => number(out, fixed32_of(value)?, false),
        Kind::Sfixed32 => number(out, fixed32_of(value)? as i32, false),
        Kind::Float => write_float(out, f64::from(f32::from_bits(fixed32_of(value)?)), true),
        Kind::Fixed64 => number(out, fixed64_of(value)?, true),
        Kind::Sfixed64 => number(out, fixed64_of(value)? as i64, true),
        Kind::Double => write_float(out, f64::from_bits(fixed64_of(value)?), false),
        Kind::String => {
            let text = std::str::from_utf8(bytes_of(value)?)
                .map_err(|_| WireError("invalid UTF-8 in a string"))?;
            string(out, text);
        }
        Kind::Bytes => {
            use base64::Engine;
            let encoded = base64::engine::general_purpose::STANDARD.encode(bytes_of(value)?);
            string(out, &encoded);
        }
        Kind::Enum(e) => {
            let n = varint_of(value)? as i32;
            if e.full_name() == "google.protobuf.NullValue" {
                out.extend_from_slice(b"null");
            } else {
                match e.get_value(n) {
                    Some(v) => string(out, v.name()),
                    None => number(out, n, false),
                }
            }
        }
        Kind::Message(m) => transcode(m, bytes_of(value)?, out)?,
    }
    Ok(())
}

fn write_map<'a>(
    field: &FieldDescriptor,
    entries: impl Iterator<Item = Wire<'a>>,
    out: &mut Vec<u8>,
) -> Result<(), WireError> {
    let Kind::Message(entry) = field.kind() else {
        return Err(WireError("map without an entry type"));
    };
    let key_kind = entry.map_entry_key_field().kind();
    let value_kind = entry.map_entry_value_field().kind();
    out.push(b'{');
    let mut first = true;
    for occurrence in entries {
        let Wire::Bytes(bytes) = occurrence else {
            return Err(WireError("map entry is not length-delimited"));
        };
        let parts = fields(bytes)?;
        let find = |n: u32| parts.iter().rev().find(|(k, _)| *k == n).map(|(_, v)| *v);
        // Keys are strings in JSON: write the key as a value, then quote it.
        let mut key_text = Vec::new();
        write_one(&key_kind, find(1), &mut key_text)?;
        comma(out, &mut first);
        if key_text.first() == Some(&b'"') {
            out.extend_from_slice(&key_text);
        } else {
            out.push(b'"');
            out.extend_from_slice(&key_text);
            out.push(b'"');
        }
        out.push(b':');
        write_one(&value_kind, find(2), out)?;
    }
    out.push(b'}');
    Ok(())
}

fn write_struct(bytes: &[u8], out: &mut Vec<u8>) -> Result<(), WireError> {
    out.push(b'{');
    let mut first = true;
    for (number, value) in fields(bytes)? {
        let (1, Wire::Bytes(entry)) = (number, value) else {
            continue;
        };
        let parts = fields(entry)?;
        let mut name = "";
        let mut inner: &[u8] = &[];
        for (n, v) in parts {
            match (n, v) {
                (1, Wire::Bytes(b)) => {
                    name = std::str::from_utf8(b).map_err(|_| WireError("invalid UTF-8 key"))?
                }
                (2, Wire::Bytes(b)) => inner = b,
                _ => {}
            }
        }
        key(out, &mut first, name);
        write_value(inner, out)?;
    }
    out.push(b'}');
    Ok(())
}

fn write_list(bytes: &[u8], out: &mut Vec<u8>) -> Result<(), WireError> {
    out.push(b'[');
    let mut first = true;
    for (number, value) in fields(bytes)? {
        if let (1, Wire::Bytes(item)) = (number, value) {
            comma(out, &mut first);
            write_value(item, out)?;
        }
    }
    out.push(b']');
    Ok(())
}

fn write_value(bytes: &[u8], out: &mut Vec<u8>) -> Result<(), WireError> {
    // The `kind` oneof: the last member present wins.
    match fields(bytes)?.last() {
        None | Some((1, _)) => out.extend_from_slice(b"null"),
        Some((2, Wire::Fixed64(bits))) => {
            let value = f64::from_bits(*bits);
            if !value.is_finite() {
                return Err(WireError("a Value number must be finite"));
            }
            write_float(out, value, false);
        }
        Some((3, Wire::Bytes(text))) => string(
            out,
            std::str::from_utf8(text).map_err(|_| WireError("invalid UTF-8 in a string"))?,
        ),
        Some((4, Wire::Varint(b))) => {
            out.extend_from_slice(if *b != 0 { b"true" } else { b"false" })
        }
        Some((5, Wire::Bytes(inner))) => write_struct(inner, out)?,
        Some((6, Wire::Bytes(inner))) => write_list(inner, out)?,
        Some(_) => return Err(WireError("unexpected field in a Value")),
    }
    Ok(())
}

/// RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits, as protojson.
fn write_timestamp(bytes: &[u8], out: &mut Vec<u8>) -> Result<(), WireError> {
    let mut seconds = 0i64;
    let mut nanos = 0i32;
    for (number, value) in fields(bytes)? {
        match (number, value) {
            (1, Wire::Varint(n)) => seconds = n as i64,
            (2, Wire::Varint(n)) => nanos = n as i32,
            _ => {}
        }
    }
    let nanos = u32::try_from(nanos).map_err(|_| WireError("negative nanos"))?;
    let time = chrono::DateTime::from_timestamp(seconds, nanos)
        .filter(|_| nanos < 1_000_000_000)
        .ok_or(WireError("timestamp out of range"))?;
    let mut text = time.format("%Y-%m-%dT%H:%M:%S").to_string();
    if nanos != 0 {
        if nanos % 1_000_000 == 0 {
            let _ = write!(text, ".{:03}", nanos / 1_000_000);
        } else if nanos % 1_000 == 0 {
            let _ = write!(text, ".{:06}", nanos / 1_000);
        } else {
            let _ = write!(text, ".{nanos:09}");
        }
    }
    text.push('Z');
    string(out, &text);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::catalog::v1alpha1 as pb;
    use crate::transport::gateway::response::to_json;
    use prost::Message;
    use prost_reflect::DescriptorPool;
    use serde_json::json;

    fn both<M: Message>(message: &M, name: &str) -> (serde_json::Value, serde_json::Value) {
        let pool = DescriptorPool::decode(crate::proto::FILE_DESCRIPTOR_SET).unwrap();
        let descriptor = pool.get_message_by_name(name).unwrap();
        let bytes = message.encode_to_vec();
        let mut out = Vec::new();
        transcode(&descriptor, &bytes, &mut out).unwrap();
        let fast: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let slow = to_json(&DynamicMessage::decode(descriptor, bytes.as_slice()).unwrap());
        (fast, slow)
    }

    #[test]
    fn the_fast_path_writes_what_the_slow_path_writes() {
        let result = pb::ActionResult {
            action: "version.create".into(),
            status: "completed".into(),
            message: "ünïcode \"quoted\"\n".into(),
            data: Some(crate::transport::grpc::convert::to_struct(
                json!({"n": -1.25, "big": 1e300, "list": [1, "a", null, {"x": true}, []], "none": null, "o": {}})
                    .as_object()
                    .unwrap(),
            )),
            warnings: vec![
                pb::Warning {
                    code: "W1".into(),
                    message: String::new(),
                },
                pb::Warning::default(),
            ],
            plan: Some(pb::ActionPlan {
                outcome: String::new(),
                checks: vec![Default::default()],
            }),
            started_at: Some(prost_types::Timestamp {
                seconds: 1_764_000_000,
                nanos: 123_456_000,
            }),
            finished_at: Some(prost_types::Timestamp {
                seconds: -62_135_596_800,
                nanos: 1,
            }),
            ..Default::default()
        };
        let (fast, slow) = both(&result, "catalog.v1alpha1.ActionResult");
        assert_eq!(fast, slow);
        assert_eq!(fast["startedAt"], "2025-11-24T16:00:00.123456Z");
        assert_eq!(fast["finishedAt"], "0001-01-01T00:00:00.000000001Z");
        assert_eq!(fast["approvalRequestId"], "");
        let (fast, slow) = both(
            &pb::ActionResult::default(),
            "catalog.v1alpha1.ActionResult",
        );
        assert_eq!(fast, slow);
        assert_eq!(fast["data"], serde_json::Value::Null);
    }

    #[test]
    fn random_bytes_never_panic() {
        let pool = DescriptorPool::decode(crate::proto::FILE_DESCRIPTOR_SET).unwrap();
        let targets = [
            "catalog.v1alpha1.ListAssetsResponse",
            "catalog.v1alpha1.ActionResult",
            "catalog.governance.v1alpha1.AssetGovernance",
            "google.protobuf.Struct",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        // Valid-looking prefixes make the walk go deeper than pure noise.
        let valid = pb::ActionResult {
            action: "a".into(),
            data: Some(crate::transport::grpc::convert::to_struct(
                json!({"k": [1, {"x": "y"}]}).as_object().unwrap(),
            )),
            ..Default::default()
        }
        .encode_to_vec();
        for round in 0..20_000 {
            let mut bytes: Vec<u8> = if round % 2 == 0 {
                valid.clone()
            } else {
                Vec::new()
            };
            let len = (next() % 40) as usize;
            for _ in 0..len {
                let position = (next() as usize) % (bytes.len() + 1);
                bytes.insert(position, next() as u8);
            }
            let message = pool
                .get_message_by_name(targets[round % targets.len()])
                .unwrap();
            let mut out = Vec::new();
            if transcode(&message, &bytes, &mut out).is_ok() {
                serde_json::from_slice::<serde_json::Value>(&out)
                    .expect("whatever is written is JSON");
            }
        }
    }

    #[test]
    fn maps_int64_and_garbage() {
        use crate::proto::catalog::governance::v1alpha1 as gpb;
        let response = gpb::VerifyAuditChainResponse {
            verified: true,
            checked_count: -3,
            ..Default::default()
        };
        let (fast, slow) = both(
            &response,
            "catalog.governance.v1alpha1.VerifyAuditChainResponse",
        );
        assert_eq!(fast, slow);
        assert_eq!(fast["checkedCount"], "-3");
        let pool = DescriptorPool::decode(crate::proto::FILE_DESCRIPTOR_SET).unwrap();
        let info = pool.get_message_by_name("google.rpc.ErrorInfo").unwrap();
        let mut encoded = Vec::new();
        tonic_types::pb::ErrorInfo {
            reason: "R".into(),
            domain: "d".into(),
            metadata: [("a".to_string(), "1".to_string()), ("b".into(), "".into())]
                .into_iter()
                .collect(),
        }
        .encode(&mut encoded)
        .unwrap();
        let mut out = Vec::new();
        transcode(&info, &encoded, &mut out).unwrap();
        let fast: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            fast,
            json!({"reason": "R", "domain": "d", "metadata": {"a": "1", "b": ""}})
        );
        let result = pool
            .get_message_by_name("catalog.v1alpha1.ActionResult")
            .unwrap();
        for garbage in [
            &b"\x0a\x05ab"[..],
            b"\x0a\x02\xff\xfe",
            b"\xff",
            b"\x08\x01",
        ] {
            assert!(
                transcode(&result, garbage, &mut Vec::new()).is_err(),
                "{garbage:?}"
            );
        }
    }
}
