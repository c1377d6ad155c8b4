//! The one table of public errors: every failure a caller can see names a
//! stable reason from [`Reason`], which fixes its status class and domain.
//! Transports translate the class into their own codes; nothing else
//! decides what a caller sees.

use std::collections::BTreeMap;
use std::fmt;

/// Status classes, named after the gRPC codes they become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    /// The request is malformed.
    InvalidArgument,
    /// The named thing does not exist.
    NotFound,
    /// The system is not in a state that allows the request.
    FailedPrecondition,
    /// The thing exists already.
    AlreadyExists,
    /// A concurrent change won.
    Aborted,
    /// The caller is not authenticated.
    Unauthenticated,
    /// The caller lacks a role.
    PermissionDenied,
    /// Not supported by this server.
    Unimplemented,
    /// A dependency is down; retry later.
    Unavailable,
    /// A bug or an unexpected fault.
    Internal,
}

macro_rules! reasons {
    ($($variant:ident => ($code:literal, $class:ident, $domain:literal)),+ $(,)?) => {
        /// Stable machine-readable reasons (google.rpc.ErrorInfo.reason).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Reason {
            $(
                #[doc = $code]
                $variant,
            )+
        }

        impl Reason {
            /// Every reason, for documentation and tests.
            pub const ALL: &'static [Reason] = &[$(Reason::$variant),+];

            /// The wire spelling.
            pub fn code(self) -> &'static str {
                match self { $(Reason::$variant => $code),+ }
            }

            /// The status class it maps to.
            pub fn class(self) -> StatusClass {
                match self { $(Reason::$variant => StatusClass::$class),+ }
            }

            /// ErrorInfo.domain.
            pub fn domain(self) -> &'static str {
                match self { $(Reason::$variant => $domain),+ }
            }
        }
    };
}

reasons! {
    Unauthenticated => ("UNAUTHENTICATED", Unauthenticated, "catalog"),
    RoleRequired => ("ROLE_REQUIRED", PermissionDenied, "catalog"),
    PluginNotFound => ("PLUGIN_NOT_FOUND", NotFound, "catalog"),
    KindNotFound => ("KIND_NOT_FOUND", NotFound, "catalog"),
    AssetNotFound => ("ASSET_NOT_FOUND", NotFound, "catalog"),
    SourceNotFound => ("SOURCE_NOT_FOUND", NotFound, "catalog"),
    InvalidParams => ("INVALID_PARAMS", InvalidArgument, "catalog"),
    InvalidFilter => ("INVALID_FILTER", InvalidArgument, "catalog"),
    InvalidPageToken => ("INVALID_PAGE_TOKEN", InvalidArgument, "catalog"),
    InvalidOrderBy => ("INVALID_ORDER_BY", InvalidArgument, "catalog"),
    UnknownAction => ("UNKNOWN_ACTION", InvalidArgument, "catalog"),
    DryRunNotSupported => ("DRY_RUN_NOT_SUPPORTED", InvalidArgument, "catalog"),
    ActionNotSupported => ("ACTION_NOT_SUPPORTED", Unimplemented, "catalog"),
    PluginManifestInvalid => ("PLUGIN_MANIFEST_INVALID", FailedPrecondition, "catalog"),
    SourceConfigError => ("SOURCE_CONFIG_ERROR", FailedPrecondition, "catalog"),
    SourceAuthError => ("SOURCE_AUTH_ERROR", FailedPrecondition, "catalog"),
    SourceRemoteNotFound => ("SOURCE_REMOTE_NOT_FOUND", FailedPrecondition, "catalog"),
    SourceValidationError => ("SOURCE_VALIDATION_ERROR", FailedPrecondition, "catalog"),
    SourceIntegrityError => ("SOURCE_INTEGRITY_ERROR", FailedPrecondition, "catalog"),
    SourceRateLimited => ("SOURCE_RATE_LIMITED", Unavailable, "catalog"),
    SourceUnavailable => ("SOURCE_UNAVAILABLE", Unavailable, "catalog"),
    SourceReadOnly => ("SOURCE_READ_ONLY", FailedPrecondition, "catalog"),
    StorageUnavailable => ("STORAGE_UNAVAILABLE", Unavailable, "catalog"),
    // Governance (spec 03-08): domain catalog.governance.
    GovernanceNotSupported => ("GOVERNANCE_NOT_SUPPORTED", FailedPrecondition, "catalog.governance"),
    VersioningNotSupported => ("VERSIONING_NOT_SUPPORTED", FailedPrecondition, "catalog.governance"),
    InvalidTransition => ("INVALID_TRANSITION", FailedPrecondition, "catalog.governance"),
    LifecycleFieldReadOnly => ("LIFECYCLE_FIELD_READ_ONLY", InvalidArgument, "catalog.governance"),
    GovernanceValidationFailed => ("GOVERNANCE_VALIDATION_FAILED", InvalidArgument, "catalog.governance"),
    OwnerRequired => ("OWNER_REQUIRED", FailedPrecondition, "catalog.governance"),
    ApprovalFieldsRequired => ("APPROVAL_FIELDS_REQUIRED", FailedPrecondition, "catalog.governance"),
    AssetHasBindings => ("ASSET_HAS_BINDINGS", FailedPrecondition, "catalog.governance"),
    VersionBound => ("VERSION_BOUND", FailedPrecondition, "catalog.governance"),
    SignatureUnverified => ("SIGNATURE_UNVERIFIED", FailedPrecondition, "catalog.governance"),
    PolicyDenied => ("POLICY_DENIED", PermissionDenied, "catalog.governance"),
    ConcurrentModification => ("CONCURRENT_MODIFICATION", Aborted, "catalog.governance"),
    VersionNotFound => ("VERSION_NOT_FOUND", NotFound, "catalog.governance"),
    BindingNotFound => ("BINDING_NOT_FOUND", NotFound, "catalog.governance"),
    VersionLabelConflict => ("VERSION_LABEL_CONFLICT", AlreadyExists, "catalog.governance"),
    InvalidVersionLabel => ("INVALID_VERSION_LABEL", InvalidArgument, "catalog.governance"),
    AliasReserved => ("ALIAS_RESERVED", InvalidArgument, "catalog.governance"),
    UnknownEnvironment => ("UNKNOWN_ENVIRONMENT", InvalidArgument, "catalog.governance"),
    PromotionRequiresApproved => ("PROMOTION_REQUIRES_APPROVED", FailedPrecondition, "catalog.governance"),
    DeprecatedBindNotAllowed => ("DEPRECATED_BIND_NOT_ALLOWED", FailedPrecondition, "catalog.governance"),
    ArchivedNotBindable => ("ARCHIVED_NOT_BINDABLE", FailedPrecondition, "catalog.governance"),
    AssetArchived => ("ASSET_ARCHIVED", FailedPrecondition, "catalog.governance"),
    BrokenReferences => ("BROKEN_REFERENCES", FailedPrecondition, "catalog.governance"),
    ValidationFailed => ("VALIDATION_FAILED", FailedPrecondition, "catalog.governance"),
    AlreadyBound => ("ALREADY_BOUND", FailedPrecondition, "catalog.governance"),
    PromotionSourceMismatch => ("PROMOTION_SOURCE_MISMATCH", FailedPrecondition, "catalog.governance"),
    RollbackTargetNotPreviouslyBound => ("ROLLBACK_TARGET_NOT_PREVIOUSLY_BOUND", FailedPrecondition, "catalog.governance"),
    ApprovalNotFound => ("APPROVAL_NOT_FOUND", NotFound, "catalog.governance"),
    ApprovalNotPending => ("APPROVAL_NOT_PENDING", FailedPrecondition, "catalog.governance"),
    SelfApprovalForbidden => ("SELF_APPROVAL_FORBIDDEN", PermissionDenied, "catalog.governance"),
    ApproverRoleRequired => ("APPROVER_ROLE_REQUIRED", PermissionDenied, "catalog.governance"),
    CancelNotAllowed => ("CANCEL_NOT_ALLOWED", PermissionDenied, "catalog.governance"),
    DuplicateDecision => ("DUPLICATE_DECISION", AlreadyExists, "catalog.governance"),
    CommentRequired => ("COMMENT_REQUIRED", InvalidArgument, "catalog.governance"),
    PolicyConfigInvalid => ("POLICY_CONFIG_INVALID", FailedPrecondition, "catalog.governance"),
    GovernanceConfigInvalid => ("GOVERNANCE_CONFIG_INVALID", FailedPrecondition, "catalog.governance"),
    AuditEventNotFound => ("AUDIT_EVENT_NOT_FOUND", NotFound, "catalog.governance"),
    Internal => ("INTERNAL", Internal, "catalog"),
}

/// A field-level problem in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Dot-path of the field.
    pub field: String,
    /// What is wrong with it.
    pub description: String,
}

/// A precondition that does not hold, for google.rpc.PreconditionFailure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreconditionViolation {
    /// Violation type, e.g. GOVERNANCE_FIELD.
    pub kind: String,
    /// What it is about, e.g. owner.principal.
    pub subject: String,
    /// How it fails.
    pub description: String,
}

/// A public error: a reason, an actionable message, metadata for machines.
#[derive(Debug, Clone)]
pub struct Error {
    /// Stable reason.
    pub reason: Reason,
    /// What went wrong and what to do about it.
    pub message: String,
    /// ErrorInfo.metadata (the transport adds correlationId).
    pub metadata: BTreeMap<String, String>,
    /// Field violations, for google.rpc.BadRequest.
    pub violations: Vec<FieldViolation>,
    /// Failed preconditions, for google.rpc.PreconditionFailure.
    pub preconditions: Vec<PreconditionViolation>,
    /// Detail for the server log only; never sent to the caller. Boxed so
    /// that the error stays under clippy's large-error threshold.
    pub detail: Option<Box<str>>,
}

impl Error {
    /// A new error.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Error {
            reason,
            message: message.into(),
            metadata: BTreeMap::new(),
            violations: Vec::new(),
            preconditions: Vec::new(),
            detail: None,
        }
    }

    /// Adds one metadata entry.
    pub fn with(mut self, key: &str, value: impl ToString) -> Self {
        self.metadata.insert(key.to_string(), value.to_string());
        self
    }

    /// Adds a field violation.
    pub fn violation(mut self, field: impl Into<String>, description: impl Into<String>) -> Self {
        self.violations.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
        self
    }

    /// Adds a failed precondition.
    pub fn precondition(
        mut self,
        kind: impl Into<String>,
        subject: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        self.preconditions.push(PreconditionViolation {
            kind: kind.into(),
            subject: subject.into(),
            description: description.into(),
        });
        self
    }

    /// An internal fault; the detail goes to the log, not to the caller.
    pub fn internal(detail: impl fmt::Display) -> Self {
        let mut error = Error::new(
            Reason::Internal,
            "internal error; the server log has the detail",
        );
        error.detail = Some(detail.to_string().into());
        error
    }

    /// The database could not be reached or failed.
    pub fn storage(detail: impl fmt::Display) -> Self {
        let mut error = Error::new(
            Reason::StorageUnavailable,
            "the catalog database is unavailable; retry later",
        );
        error.detail = Some(detail.to_string().into());
        error
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason.code(), self.message)
    }
}

impl std::error::Error for Error {}

/// Result with the public error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn reason_codes_are_unique_and_upper_snake_case() {
        let mut seen = HashSet::new();
        for reason in Reason::ALL {
            let code = reason.code();
            assert!(seen.insert(code), "duplicate {code}");
            assert!(
                code.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                "{code}"
            );
        }
    }
}
