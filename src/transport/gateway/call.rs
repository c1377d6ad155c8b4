//! The in-process hop: a transcoded request becomes an ordinary gRPC
//! request (HTTP/2, `application/grpc`, one length-prefixed frame, path
//! `/package.Service/Method`) for the very tower service that serves gRPC,
//! so authentication, correlation ids and metrics run exactly as they do
//! for gRPC clients. The answer is read back as frames, headers and
//! trailers.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, Version};
use http_body_util::BodyExt;
use tonic::Code;
use tower::{Service, ServiceExt};

use super::errors::GatewayError;

/// Request headers that reach gRPC metadata unchanged (spec 08 §5:
/// the token, correlation ids, `if-match` of governance PATCH, and the
/// caller's deadline).
const PASSED_HEADERS: &[&str] = &[
    "authorization",
    "x-request-id",
    "x-correlation-id",
    "if-match",
    "grpc-timeout",
];

/// The prefix of HTTP headers carrying gRPC metadata (both directions).
pub const METADATA_PREFIX: &str = "grpc-metadata-";

/// The prefix of HTTP response headers carrying gRPC trailers.
pub const TRAILER_PREFIX: &str = "grpc-trailer-";

/// What came back from the gRPC service.
#[derive(Debug)]
pub struct Reply {
    /// Response headers (metadata), minus the protocol's own.
    pub headers: HeaderMap,
    /// Trailers (metadata), minus grpc-status and friends.
    pub trailers: HeaderMap,
    /// Message frames, in order.
    pub messages: Vec<Bytes>,
    /// Final status.
    pub code: Code,
    /// grpc-message, percent-decoded.
    pub message: String,
    /// grpc-status-details-bin, base64-decoded.
    pub details: Option<Vec<u8>>,
}

/// gRPC metadata from the HTTP request headers: the passed-through ones
/// and every `Grpc-Metadata-<key>` as `<key>`.
pub fn metadata(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in headers {
        if PASSED_HEADERS.contains(&name.as_str()) {
            out.append(name.clone(), value.clone());
        } else if let Some(key) = name.as_str().strip_prefix(METADATA_PREFIX) {
            if reserved(key) {
                continue;
            }
            if let Ok(key) = HeaderName::from_bytes(key.as_bytes()) {
                out.append(key, value.clone());
            }
        }
    }
    out
}

/// Keys a caller may not set through `Grpc-Metadata-*`: the gRPC
/// protocol's own and HTTP's connection headers.
fn reserved(key: &str) -> bool {
    (key.starts_with("grpc-") && key != "grpc-timeout")
        || matches!(
            key,
            "content-type"
                | "content-length"
                | "te"
                | "host"
                | "connection"
                | "keep-alive"
                | "transfer-encoding"
                | "upgrade"
                | "trailer"
        )
}

/// Calls `grpc` with one request message and collects the answer.
pub async fn unary<G, B>(
    grpc: G,
    path: &str,
    metadata: HeaderMap,
    message: Vec<u8>,
) -> Result<Reply, GatewayError>
where
    G: Service<Request<Body>, Response = Response<B>, Error = Infallible>,
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let mut frame = Vec::with_capacity(message.len() + 5);
    frame.push(0);
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(&message);
    let mut request = Request::new(Body::from(frame));
    *request.method_mut() = Method::POST;
    *request.version_mut() = Version::HTTP_2;
    *request.uri_mut() = path
        .parse()
        .map_err(|_| GatewayError::invalid("bad method path"))?;
    *request.headers_mut() = metadata;
    let headers = request.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert(http::header::TE, HeaderValue::from_static("trailers"));

    let Ok(response) = grpc.oneshot(request).await;
    let (parts, body) = response.into_parts();
    let collected = body.collect().await.map_err(|e| GatewayError {
        code: Code::Internal,
        message: format!("reading the gRPC answer: {e}"),
    })?;
    let trailers = collected.trailers().cloned().unwrap_or_default();
    let data = collected.to_bytes();

    // A trailers-only answer carries the status in the headers.
    let status_from = if parts.headers.contains_key("grpc-status") {
        &parts.headers
    } else {
        &trailers
    };
    let code = status_from
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map(Code::from_i32)
        .unwrap_or(Code::Unknown);
    let message = status_from
        .get("grpc-message")
        .map(|v| {
            percent_encoding::percent_decode(v.as_bytes())
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_default();
    let details = status_from
        .get("grpc-status-details-bin")
        .and_then(|v| decode_bin(v.as_bytes()));
    let messages = if code == Code::Ok {
        frames(data)?
    } else {
        Vec::new()
    };
    Ok(Reply {
        headers: strip_protocol(parts.headers),
        trailers: strip_protocol(trailers),
        messages,
        code,
        message,
        details,
    })
}

/// Splits a body into its length-prefixed messages.
fn frames(mut data: Bytes) -> Result<Vec<Bytes>, GatewayError> {
    let broken = |what: &str| GatewayError {
        code: Code::Internal,
        message: format!("malformed gRPC answer: {what}"),
    };
    let mut out = Vec::new();
    while !data.is_empty() {
        if data.len() < 5 {
            return Err(broken("truncated frame header"));
        }
        if data[0] != 0 {
            return Err(broken("compressed frame"));
        }
        let len = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
        if data.len() < 5 + len {
            return Err(broken("truncated frame"));
        }
        let frame = data.split_to(5 + len);
        out.push(frame.slice(5..));
    }
    Ok(out)
}

fn decode_bin(value: &[u8]) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    use base64::Engine;
    STANDARD_NO_PAD
        .decode(value)
        .or_else(|_| STANDARD.decode(value))
        .ok()
}

/// Metadata minus what belongs to the gRPC and HTTP protocols.
fn strip_protocol(headers: HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    let mut last: Option<HeaderName> = None;
    for (name, value) in headers {
        let name = match name {
            Some(n) => {
                last = Some(n.clone());
                n
            }
            None => match &last {
                Some(n) => n.clone(),
                None => continue,
            },
        };
        let protocol = name.as_str().starts_with("grpc-")
            || matches!(
                name.as_str(),
                "content-type" | "content-length" | "te" | "trailer" | "date" | "transfer-encoding"
            );
        if !protocol {
            out.append(name, value);
        }
    }
    out
}

/// Response headers for metadata: every header as `Grpc-Metadata-<key>`
/// and every trailer as `Grpc-Trailer-<key>` (grpc-gateway's defaults);
/// `x-request-id` also as it is, for plain HTTP clients.
pub fn response_headers(reply: &Reply) -> HeaderMap {
    let mut out = HeaderMap::new();
    let mut put = |prefix: &str, name: &HeaderName, value: &HeaderValue| {
        if let Ok(name) = HeaderName::from_bytes(format!("{prefix}{name}").as_bytes()) {
            out.append(name, value.clone());
        }
    };
    for (name, value) in &reply.headers {
        if name == "x-request-id" {
            put("", name, value);
        }
        put(METADATA_PREFIX, name, value);
    }
    for (name, value) in &reply.trailers {
        put(TRAILER_PREFIX, name, value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_passes_auth_ids_and_prefixed_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("Bearer t"));
        headers.insert("x-request-id", HeaderValue::from_static("r1"));
        headers.insert("grpc-metadata-tenant", HeaderValue::from_static("blue"));
        headers.insert("grpc-metadata-te", HeaderValue::from_static("x"));
        headers.insert(
            "grpc-metadata-grpc-encoding",
            HeaderValue::from_static("gzip"),
        );
        headers.insert("grpc-metadata-content-type", HeaderValue::from_static("x"));
        headers.insert("cookie", HeaderValue::from_static("secret"));
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        let out = metadata(&headers);
        assert_eq!(out.len(), 3);
        assert_eq!(out["authorization"], "Bearer t");
        assert_eq!(out["x-request-id"], "r1");
        assert_eq!(out["tenant"], "blue");
    }

    #[test]
    fn response_metadata_becomes_prefixed_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("x-request-id", HeaderValue::from_static("r1"));
        headers.insert("x-shard", HeaderValue::from_static("7"));
        headers.insert("content-type", HeaderValue::from_static("application/grpc"));
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from_static("0"));
        trailers.insert("x-cost", HeaderValue::from_static("3"));
        let reply = Reply {
            headers: strip_protocol(headers),
            trailers: strip_protocol(trailers),
            messages: vec![],
            code: Code::Ok,
            message: String::new(),
            details: None,
        };
        let out = response_headers(&reply);
        assert_eq!(out.len(), 4, "{out:?}");
        assert_eq!(out["x-request-id"], "r1");
        assert_eq!(out["grpc-metadata-x-request-id"], "r1");
        assert_eq!(out["grpc-metadata-x-shard"], "7");
        assert_eq!(out["grpc-trailer-x-cost"], "3");
    }

    #[test]
    fn frames_split_and_refuse_garbage() {
        let data = Bytes::from_static(b"\0\0\0\0\x02hi\0\0\0\0\0");
        let out = frames(data).unwrap();
        assert_eq!(out, vec![Bytes::from_static(b"hi"), Bytes::new()]);
        assert!(frames(Bytes::from_static(b"\0\0\0")).is_err());
        assert!(frames(Bytes::from_static(b"\x01\0\0\0\0")).is_err());
        assert!(frames(Bytes::from_static(b"\0\0\0\0\x09hi")).is_err());
    }
}
