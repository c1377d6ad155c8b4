//! How a failure looks over HTTP/JSON: grpc-gateway's `HTTPStatusFromCode`
//! table (the only gRPC -> HTTP table of the service) and its error body
//! `{"code": N, "message": "...", "details": [...]}`, where `details` is
//! always present and holds the typed details of the gRPC status (each
//! with its `@type`).

use axum::body::Body;
use axum::response::Response;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use prost_reflect::{DescriptorPool, DynamicMessage};
use serde_json::{json, Value};
use tonic::Code;

use super::response::{json_options, CONTENT_TYPE_JSON};

/// The HTTP status of a gRPC code, as grpc-gateway v2 maps it. Exhaustive
/// on purpose.
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        // Client Closed Request (nginx), which grpc-gateway uses too.
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
        Code::InvalidArgument => StatusCode::BAD_REQUEST,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        // Deliberately 400, not 412: the request cannot succeed as sent.
        Code::FailedPrecondition => StatusCode::BAD_REQUEST,
        Code::Aborted => StatusCode::CONFLICT,
        Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A failure the gateway itself detects before any RPC runs (routing,
/// malformed input). grpc-gateway reports these with empty `details`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct GatewayError {
    /// gRPC code (decides the HTTP status).
    pub code: Code,
    /// What the caller should fix.
    pub message: String,
}

impl GatewayError {
    /// INVALID_ARGUMENT with a message.
    pub fn invalid(message: impl Into<String>) -> GatewayError {
        GatewayError {
            code: Code::InvalidArgument,
            message: message.into(),
        }
    }

    /// No route has this path (grpc-gateway's routing error for 404).
    pub fn not_found() -> GatewayError {
        GatewayError {
            code: Code::NotFound,
            message: "Not Found".into(),
        }
    }

    /// The path belongs to another method: grpc-gateway answers 501.
    pub fn wrong_method() -> GatewayError {
        GatewayError {
            code: Code::Unimplemented,
            message: "Method Not Allowed".into(),
        }
    }

    /// The error as an HTTP response.
    pub fn into_response(self) -> Response {
        error_response(self.code, &self.message, Vec::new(), HeaderMap::new())
    }
}

/// The typed details of `grpc-status-details-bin` (an encoded
/// google.rpc.Status), each as proto3 JSON with `@type`. Details whose
/// type the pool does not know, or an undecodable value, give none.
pub fn details_json(pool: &DescriptorPool, encoded: &[u8]) -> Vec<Value> {
    let Some(status) = pool.get_message_by_name("google.rpc.Status") else {
        return Vec::new();
    };
    let Ok(status) = DynamicMessage::decode(status, encoded) else {
        return Vec::new();
    };
    let rendered = status
        .serialize_with_options(serde_json::value::Serializer, &json_options())
        .ok();
    match rendered {
        Some(Value::Object(mut map)) => match map.remove("details") {
            Some(Value::Array(details)) => details,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// An error response: status from the table, the JSON body, the given
/// headers (metadata), and `WWW-Authenticate: Bearer` on UNAUTHENTICATED.
pub fn error_response(
    code: Code,
    message: &str,
    details: Vec<Value>,
    mut headers: HeaderMap,
) -> Response {
    let body = json!({
        "code": code as i32,
        "message": message,
        "details": details,
    });
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(CONTENT_TYPE_JSON),
    );
    if code == Code::Unauthenticated {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = http_status(code);
    *response.headers_mut() = headers;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_table_is_grpc_gateways() {
        let table = [
            (Code::Ok, 200),
            (Code::Cancelled, 499),
            (Code::Unknown, 500),
            (Code::InvalidArgument, 400),
            (Code::DeadlineExceeded, 504),
            (Code::NotFound, 404),
            (Code::AlreadyExists, 409),
            (Code::PermissionDenied, 403),
            (Code::Unauthenticated, 401),
            (Code::ResourceExhausted, 429),
            (Code::FailedPrecondition, 400),
            (Code::Aborted, 409),
            (Code::OutOfRange, 400),
            (Code::Unimplemented, 501),
            (Code::Internal, 500),
            (Code::Unavailable, 503),
            (Code::DataLoss, 500),
        ];
        for (code, status) in table {
            assert_eq!(http_status(code).as_u16(), status, "{code:?}");
        }
    }

    #[test]
    fn details_are_typed() {
        use tonic_types::{ErrorDetails, StatusExt};
        let pool = DescriptorPool::decode(crate::proto::FILE_DESCRIPTOR_SET).unwrap();
        let mut details = ErrorDetails::with_error_info(
            "ASSET_NOT_FOUND",
            "catalog",
            [("correlationId".to_string(), "c1".to_string())],
        );
        details.add_bad_request_violation("name", "required");
        let status = tonic::Status::with_error_details(Code::NotFound, "gone", details);
        assert_eq!(
            details_json(&pool, status.details()),
            vec![
                json!({
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "ASSET_NOT_FOUND",
                    "domain": "catalog",
                    "metadata": {"correlationId": "c1"}
                }),
                json!({
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [{"field": "name", "description": "required", "reason": ""}]
                }),
            ]
        );
        assert!(details_json(&pool, b"\xff\xff").is_empty());
    }
}
