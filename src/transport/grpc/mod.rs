//! The gRPC services: thin handlers that read the request, call the
//! application layer and convert the answer. This is the only place a
//! domain error becomes a google.rpc.Status (code, ErrorInfo, BadRequest).

pub mod assets;
pub mod convert;
pub mod encoded;
pub mod governance;
pub mod governance_capabilities;
pub mod governance_config;
pub mod governance_convert;
pub mod plugins;
pub mod sources;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::domain::error::{Error, StatusClass};
use crate::telemetry::CorrelationId;

/// The gRPC code of a status class; exhaustive on purpose.
pub fn code(class: StatusClass) -> Code {
    match class {
        StatusClass::InvalidArgument => Code::InvalidArgument,
        StatusClass::NotFound => Code::NotFound,
        StatusClass::FailedPrecondition => Code::FailedPrecondition,
        StatusClass::AlreadyExists => Code::AlreadyExists,
        StatusClass::Aborted => Code::Aborted,
        StatusClass::Unauthenticated => Code::Unauthenticated,
        StatusClass::PermissionDenied => Code::PermissionDenied,
        StatusClass::Unimplemented => Code::Unimplemented,
        StatusClass::Unavailable => Code::Unavailable,
        StatusClass::Internal => Code::Internal,
    }
}

/// A domain error as a Status with ErrorInfo (and BadRequest when there are
/// field violations). The correlation id rides in ErrorInfo.metadata.
pub fn status(error: Error, correlation_id: &str) -> Status {
    if let Some(detail) = &error.detail {
        tracing::error!(correlationId = correlation_id, reason = error.reason.code(), detail = %detail, "request failed");
    } else {
        tracing::debug!(correlationId = correlation_id, reason = error.reason.code(), message = %error.message, "request refused");
    }
    let mut metadata = error.metadata.clone();
    metadata.insert("correlationId".into(), correlation_id.to_string());
    let mut details = ErrorDetails::with_error_info(
        error.reason.code(),
        error.reason.domain(),
        metadata
            .into_iter()
            .collect::<std::collections::HashMap<_, _>>(),
    );
    for violation in &error.violations {
        details.add_bad_request_violation(violation.field.clone(), violation.description.clone());
    }
    for violation in &error.preconditions {
        details.add_precondition_failure_violation(
            violation.kind.clone(),
            violation.subject.clone(),
            violation.description.clone(),
        );
    }
    Status::with_error_details(code(error.reason.class()), error.message, details)
}

/// The correlation id of a request (set by the telemetry layer).
pub fn correlation<T>(request: &tonic::Request<T>) -> String {
    request
        .extensions()
        .get::<CorrelationId>()
        .map(|c| c.0.clone())
        .unwrap_or_default()
}

/// The authenticated caller of a request, as the governance rules see
/// it. The auth layer has already refused calls without a valid token, so
/// a missing principal means the layer is not installed: refuse.
pub fn caller<T>(request: &tonic::Request<T>) -> crate::domain::Result<crate::governance::Caller> {
    let principal = request
        .extensions()
        .get::<crate::auth::Principal>()
        .ok_or_else(|| {
            Error::new(
                crate::domain::Reason::Unauthenticated,
                "this call needs a bearer token (authorization: Bearer <JWT>)",
            )
        })?;
    Ok(crate::governance::Caller {
        principal: principal.subject.clone(),
        roles: principal.effective_roles().into_iter().collect(),
        correlation_id: correlation(request),
    })
}

/// Runs a handler body and maps its error.
#[macro_export]
macro_rules! respond {
    ($cid:expr, $body:expr) => {
        match $body {
            Ok(value) => Ok(tonic::Response::new(value)),
            Err(error) => Err($crate::transport::grpc::status(error, &$cid)),
        }
    };
}
