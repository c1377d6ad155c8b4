//! catalogctl's one error type and the exit codes of spec 10 §2.4. Every
//! failure, a bad flag or a refused call, ends here: [`CliError::exit_code`]
//! is the only place a gRPC code or ErrorInfo reason becomes a process exit
//! code, and [`CliError::render`] the only place it becomes text
//! (`error: <message> (reason=<REASON>, correlationId=<id>)`, then
//! `hint: <remediation>` when the server gave one).

use tonic::Code;
use tonic_types::StatusExt;

/// Success (`completed`, `dry-run`).
pub const EXIT_OK: i32 = 0;
/// Other or unexpected errors.
pub const EXIT_OTHER: i32 = 1;
/// Bad flags or arguments, INVALID_ARGUMENT.
pub const EXIT_USAGE: i32 = 2;
/// Not found.
pub const EXIT_NOT_FOUND: i32 = 3;
/// Unauthenticated or permission denied (POLICY_DENIED included).
pub const EXIT_DENIED: i32 = 4;
/// Precondition failed (invalid transition, promotion rule, missing owner).
pub const EXIT_PRECONDITION: i32 = 5;
/// Conflict (ALREADY_EXISTS, ABORTED).
pub const EXIT_CONFLICT: i32 = 6;
/// Unavailable or deadline exceeded: worth retrying.
pub const EXIT_UNAVAILABLE: i32 = 7;
/// Accepted but pending approval, or an async job started.
pub const EXIT_PENDING: i32 = 10;

/// A failed command.
#[derive(Debug)]
pub enum CliError {
    /// Bad input caught before any call (exit 2).
    Usage {
        /// What is wrong.
        message: String,
        /// How to fix it (a suggestion).
        hint: Option<String>,
    },
    /// A client-side guard stopped the call (exit 5).
    Precondition {
        /// What is wrong.
        message: String,
        /// How to fix it.
        hint: Option<String>,
    },
    /// The server refused or failed the call.
    Status(Box<tonic::Status>),
    /// The server could not be reached (exit 7).
    Unreachable(String),
    /// Anything else (exit 1).
    Other(String),
}

impl CliError {
    /// A usage error.
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError::Usage {
            message: message.into(),
            hint: None,
        }
    }

    /// A client-side precondition failure.
    pub fn precondition(message: impl Into<String>, hint: Option<String>) -> CliError {
        CliError::Precondition {
            message: message.into(),
            hint,
        }
    }

    /// Adds a hint to a usage or precondition error.
    pub fn with_hint(self, hint: Option<String>) -> CliError {
        match self {
            CliError::Usage { message, .. } => CliError::Usage { message, hint },
            CliError::Precondition { message, .. } => CliError::Precondition { message, hint },
            other => other,
        }
    }

    /// The process exit code of spec 10 §2.4.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage { .. } => EXIT_USAGE,
            CliError::Precondition { .. } => EXIT_PRECONDITION,
            CliError::Unreachable(_) => EXIT_UNAVAILABLE,
            CliError::Other(_) => EXIT_OTHER,
            CliError::Status(status) => status_exit_code(status),
        }
    }

    /// The text printed on stderr.
    pub fn render(&self) -> String {
        let with_hint = |message: &str, hint: &Option<String>| match hint {
            Some(hint) => format!("error: {message}\nhint: {hint}"),
            None => format!("error: {message}"),
        };
        match self {
            CliError::Usage { message, hint } | CliError::Precondition { message, hint } => {
                with_hint(message, hint)
            }
            CliError::Unreachable(message) | CliError::Other(message) => {
                format!("error: {message}")
            }
            CliError::Status(status) => render_status(status),
        }
    }
}

/// The ErrorInfo reason of a status, if it carries one.
pub fn reason(status: &tonic::Status) -> Option<String> {
    status
        .get_details_error_info()
        .map(|info| info.reason)
        .filter(|r| !r.is_empty())
}

fn status_exit_code(status: &tonic::Status) -> i32 {
    if reason(status).as_deref() == Some("POLICY_DENIED") {
        return EXIT_DENIED;
    }
    match status.code() {
        Code::Ok => EXIT_OK,
        Code::InvalidArgument => EXIT_USAGE,
        Code::NotFound => EXIT_NOT_FOUND,
        Code::Unauthenticated | Code::PermissionDenied => EXIT_DENIED,
        Code::FailedPrecondition | Code::OutOfRange => EXIT_PRECONDITION,
        Code::AlreadyExists | Code::Aborted => EXIT_CONFLICT,
        Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted => EXIT_UNAVAILABLE,
        Code::Cancelled | Code::Unknown | Code::Unimplemented | Code::Internal | Code::DataLoss => {
            EXIT_OTHER
        }
    }
}

fn render_status(status: &tonic::Status) -> String {
    let details = status.get_error_details();
    let info = details.error_info();
    let mut tags = Vec::new();
    match info {
        Some(info) if !info.reason.is_empty() => tags.push(format!("reason={}", info.reason)),
        _ => tags.push(format!("code={:?}", status.code())),
    }
    let correlation = status
        .metadata()
        .get("x-request-id")
        .or_else(|| status.metadata().get("x-correlation-id"))
        .and_then(|v| v.to_str().ok());
    if let Some(id) = correlation {
        tags.push(format!("correlationId={id}"));
    }
    let message = if status.message().is_empty() {
        format!("{:?}", status.code())
    } else {
        status.message().to_string()
    };
    let mut out = format!("error: {message} ({})", tags.join(", "));
    if let Some(bad) = details.bad_request() {
        for violation in &bad.field_violations {
            out.push_str(&format!(
                "\n  {}: {}",
                violation.field, violation.description
            ));
        }
    }
    if let Some(remediation) = info.and_then(|i| i.metadata.get("remediation")) {
        out.push_str(&format!("\nhint: {remediation}"));
    }
    out
}

impl From<tonic::Status> for CliError {
    fn from(status: tonic::Status) -> CliError {
        CliError::Status(Box::new(status))
    }
}

impl From<tonic::transport::Error> for CliError {
    fn from(error: tonic::transport::Error) -> CliError {
        CliError::Unreachable(format!("cannot reach the server: {error}"))
    }
}

impl From<std::io::Error> for CliError {
    fn from(error: std::io::Error) -> CliError {
        CliError::Other(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_the_spec_exit_codes() {
        let code = |c: Code| CliError::from(tonic::Status::new(c, "x")).exit_code();
        assert_eq!(code(Code::InvalidArgument), 2);
        assert_eq!(code(Code::NotFound), 3);
        assert_eq!(code(Code::PermissionDenied), 4);
        assert_eq!(code(Code::Unauthenticated), 4);
        assert_eq!(code(Code::FailedPrecondition), 5);
        assert_eq!(code(Code::AlreadyExists), 6);
        assert_eq!(code(Code::Aborted), 6);
        assert_eq!(code(Code::Unavailable), 7);
        assert_eq!(code(Code::Internal), 1);
        assert_eq!(CliError::usage("x").exit_code(), 2);
    }

    #[test]
    fn a_policy_denial_is_a_permission_error_whatever_its_code() {
        let status = tonic::Status::with_error_details(
            Code::FailedPrecondition,
            "denied by rule",
            tonic_types::ErrorDetails::with_error_info(
                "POLICY_DENIED",
                "catalog.governance",
                [("remediation".to_string(), "restore it".to_string())],
            ),
        );
        let error = CliError::from(status);
        assert_eq!(error.exit_code(), 4);
        assert_eq!(
            error.render(),
            "error: denied by rule (reason=POLICY_DENIED)\nhint: restore it"
        );
    }
}
