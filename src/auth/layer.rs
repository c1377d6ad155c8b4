//! Role enforcement for every RPC: the one table of which role each gRPC
//! method needs, and the tower layer that authenticates each call, applies
//! that table and reports refusals. Handlers hold no authorization code of
//! their own beyond what depends on the data (approval gates).

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower::{Layer, Service};

use super::principal::{Principal, Role};
use super::token::Authenticator;
use crate::domain::{Error, Reason};
use crate::telemetry::CorrelationId;

const CATALOG: &str = "catalog.v1alpha1";
const GOVERNANCE: &str = "catalog.governance.v1alpha1";

/// Which methods of a service a rule covers.
#[derive(Debug, Clone, Copy)]
enum Methods {
    /// Exactly these.
    Named(&'static [&'static str]),
    /// Methods whose name starts with one of these words (`List` covers
    /// `ListAssets`, not `Listen`).
    Verbs(&'static [&'static str]),
    /// All of them.
    All,
}

/// One row of the access table.
#[derive(Debug, Clone, Copy)]
struct Rule {
    package: &'static str,
    services: &'static [&'static str],
    methods: Methods,
    role: Role,
}

/// First match wins; a method no row matches needs operator, so an RPC
/// added without a row here is closed rather than open.
const RULES: &[Rule] = &[
    Rule {
        package: CATALOG,
        services: &["SourceService"],
        methods: Methods::Named(&["ExecuteSourceAction"]),
        role: Role::Operator,
    },
    Rule {
        package: CATALOG,
        services: &["AssetService"],
        methods: Methods::Named(&["ExecuteAssetAction"]),
        role: Role::Operator,
    },
    Rule {
        package: CATALOG,
        services: &["PluginService", "AssetService", "SourceService"],
        methods: Methods::All,
        role: Role::Viewer,
    },
    // Deciding or cancelling depends on the request's gates and owner,
    // which only the approval service can see; it checks them itself.
    Rule {
        package: GOVERNANCE,
        services: &["ApprovalService"],
        methods: Methods::Named(&["ApproveRequest", "RejectRequest", "CancelRequest"]),
        role: Role::Viewer,
    },
    Rule {
        package: GOVERNANCE,
        services: &["GovernanceService", "ApprovalService", "AuditService"],
        methods: Methods::Verbs(&["List", "Get", "Verify"]),
        role: Role::Viewer,
    },
    Rule {
        package: GOVERNANCE,
        services: &["GovernanceService", "ApprovalService", "AuditService"],
        methods: Methods::All,
        role: Role::Operator,
    },
];

/// What denies by default.
const DEFAULT_ROLE: Role = Role::Operator;

/// Methods anyone may call: health checks and reflection.
pub fn is_public(method_path: &str) -> bool {
    method_path.starts_with("/grpc.health.v1.Health/")
        || method_path.starts_with("/grpc.reflection.")
}

/// The role a gRPC method (`/package.Service/Method`) needs.
pub fn required_role(method_path: &str) -> Role {
    let Some((qualified, method)) = method_path
        .strip_prefix('/')
        .and_then(|p| p.split_once('/'))
    else {
        return DEFAULT_ROLE;
    };
    let Some((package, service)) = qualified.rsplit_once('.') else {
        return DEFAULT_ROLE;
    };
    RULES
        .iter()
        .find(|rule| {
            rule.package == package
                && rule.services.contains(&service)
                && match rule.methods {
                    Methods::Named(names) => names.contains(&method),
                    Methods::Verbs(verbs) => verbs.iter().any(|verb| {
                        method
                            .strip_prefix(verb)
                            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase()))
                    }),
                    Methods::All => true,
                }
        })
        .map_or(DEFAULT_ROLE, |rule| rule.role)
}

/// A refused call, for the audit trail (`auth.denied`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The gRPC method path.
    pub method: String,
    /// UNAUTHENTICATED or ROLE_REQUIRED.
    pub reason: Reason,
    /// The caller; None when the token was refused, since nothing in an
    /// unverified token may be believed.
    pub principal: Option<String>,
    /// The caller's roles (empty when the token was refused).
    pub roles: Vec<String>,
    /// The request's correlation id.
    pub correlation_id: String,
    /// The message the caller got.
    pub message: String,
}

/// Receives every refusal. Called on the request path, so implementations
/// must not block; ones with I/O to do spawn a task.
pub trait RefusalSink: Send + Sync + 'static {
    /// One refused call.
    fn refused(&self, refusal: Refusal);
}

/// A sink that logs refusals (never the token).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogRefusals;

impl RefusalSink for LogRefusals {
    fn refused(&self, refusal: Refusal) {
        tracing::info!(
            correlationId = %refusal.correlation_id,
            rpc = %refusal.method,
            reasonCode = refusal.reason.code(),
            principal = refusal.principal.as_deref().unwrap_or(""),
            roles = %refusal.roles.join(","),
            message = %refusal.message,
            "call refused"
        );
    }
}

/// Tower layer that authenticates and authorizes every call. Install it
/// inside the correlation layer so refusals carry the correlation id.
#[derive(Clone)]
pub struct AuthLayer {
    authenticator: Arc<Authenticator>,
    refusals: Arc<dyn RefusalSink>,
}

impl AuthLayer {
    /// A layer verifying with `authenticator` and reporting to `refusals`.
    pub fn new(authenticator: Arc<Authenticator>, refusals: Arc<dyn RefusalSink>) -> Self {
        AuthLayer {
            authenticator,
            refusals,
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Auth {
            inner,
            authenticator: self.authenticator.clone(),
            refusals: self.refusals.clone(),
        }
    }
}

/// See [`AuthLayer`].
#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
    authenticator: Arc<Authenticator>,
    refusals: Arc<dyn RefusalSink>,
}

impl<S> Auth<S> {
    /// The principal of a request (None for public methods) or the
    /// refusal to answer with, already reported to the sink.
    fn admit<B>(
        &self,
        request: &Request<B>,
        correlation_id: &str,
    ) -> Result<Option<Principal>, Error> {
        let method = request.uri().path();
        if is_public(method) {
            return Ok(None);
        }
        // Metadata that is not visible ASCII cannot be a bearer token;
        // verify() refuses the empty value with the scheme hint.
        let header = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or(""));
        let refuse = |error: Error, principal: Option<&Principal>| {
            self.refusals.refused(Refusal {
                method: method.to_string(),
                reason: error.reason,
                principal: principal.map(|p| p.subject.clone()),
                roles: principal
                    .map(|p| p.roles.iter().cloned().collect())
                    .unwrap_or_default(),
                correlation_id: correlation_id.to_string(),
                message: error.message.clone(),
            });
            error
        };
        let principal = self
            .authenticator
            .verify(header)
            .map_err(|error| refuse(error, None))?;
        let role = required_role(method);
        if !principal.has_role(role.as_str()) {
            let held = principal.effective_roles();
            let held = if held.is_empty() {
                "none".to_string()
            } else {
                held.into_iter().collect::<Vec<_>>().join(", ")
            };
            let error = Error::new(
                Reason::RoleRequired,
                format!("{method} needs the {role} role; the caller's roles are: {held}"),
            )
            .with("requiredRole", role.as_str());
            return Err(refuse(error, Some(&principal)));
        }
        Ok(Some(principal))
    }
}

impl<S, B, R> Service<Request<B>> for Auth<S>
where
    S: Service<Request<B>, Response = Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let correlation_id = request
            .extensions()
            .get::<CorrelationId>()
            .map(|c| c.0.clone())
            .unwrap_or_default();
        match self.admit(&request, &correlation_id) {
            Ok(principal) => {
                if let Some(principal) = principal {
                    request.extensions_mut().insert(principal);
                }
                // The ready clone serves this call; the fresh clone waits
                // for the next poll_ready (tower's clone-and-swap pattern).
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                Box::pin(async move { inner.call(request).await })
            }
            Err(error) => {
                // Trailers-only: the status travels in the response headers.
                let response =
                    crate::transport::grpc::status(error, &correlation_id).into_http::<R>();
                Box::pin(async move { Ok(response) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::token::{issue_hs256, AuthSettings, RoleMap, VerificationKey};
    use std::sync::Mutex;

    const SECRET: &[u8] = b"layer-test-secret-0123456789abcdef";

    #[derive(Default)]
    struct Recorded(Mutex<Vec<Refusal>>);

    impl RefusalSink for Arc<Recorded> {
        fn refused(&self, refusal: Refusal) {
            self.0.lock().unwrap().push(refusal);
        }
    }

    /// Runs one call through the layer over a handler that answers with
    /// the subject of the principal it was given ("-" for none).
    async fn call(path: &str, token: Option<&str>) -> (Response<String>, Vec<Refusal>) {
        let authenticator = Authenticator::new(AuthSettings {
            key: VerificationKey::Secret(SECRET.to_vec()),
            issuer: None,
            audience: None,
            principal_claim: "sub".into(),
            role_claim: "roles".into(),
            role_map: RoleMap::default(),
            allow_anonymous_read: false,
        })
        .unwrap();
        let recorded = Arc::new(Recorded::default());
        let layer = AuthLayer::new(Arc::new(authenticator), Arc::new(recorded.clone()));
        let handler = tower::service_fn(|request: Request<()>| async move {
            let subject = request
                .extensions()
                .get::<Principal>()
                .map_or("-".to_string(), |p| p.subject.clone());
            Ok::<_, std::convert::Infallible>(Response::new(subject))
        });
        let mut service = layer.layer(handler);
        let mut request = Request::builder().uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let mut request = request.body(()).unwrap();
        request
            .extensions_mut()
            .insert(CorrelationId("cid-1".into()));
        let response = tower::ServiceExt::oneshot(&mut service, request)
            .await
            .unwrap();
        let refusals = recorded.0.lock().unwrap().clone();
        (response, refusals)
    }

    fn grpc_status(response: &Response<String>) -> Option<&str> {
        response
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
    }

    #[tokio::test]
    async fn admitted_calls_carry_the_principal_to_the_handler() {
        let token = issue_hs256(SECRET, "olga", &["operator"], 600).unwrap();
        let (response, refusals) = call(
            "/catalog.v1alpha1.SourceService/ExecuteSourceAction",
            Some(&token),
        )
        .await;
        assert_eq!(response.body(), "olga");
        assert!(refusals.is_empty());
        let (public, _) = call("/grpc.health.v1.Health/Check", None).await;
        assert_eq!(public.body(), "-", "public calls pass untouched");
    }

    #[tokio::test]
    async fn refusals_answer_trailers_only_and_reach_the_sink() {
        let (response, refusals) = call("/catalog.v1alpha1.PluginService/ListPlugins", None).await;
        assert_eq!(grpc_status(&response), Some("16"));
        assert!(response.body().is_empty(), "the handler never ran");
        assert_eq!(
            refusals,
            [Refusal {
                method: "/catalog.v1alpha1.PluginService/ListPlugins".into(),
                reason: Reason::Unauthenticated,
                principal: None,
                roles: vec![],
                correlation_id: "cid-1".into(),
                message: refusals[0].message.clone(),
            }]
        );

        let viewer = issue_hs256(SECRET, "vic", &["viewer", "team-x"], 600).unwrap();
        let (response, refusals) = call(
            "/catalog.v1alpha1.SourceService/ExecuteSourceAction",
            Some(&viewer),
        )
        .await;
        assert_eq!(grpc_status(&response), Some("7"));
        let status = tonic::Status::from_header_map(response.headers()).unwrap();
        let info = tonic_types::StatusExt::get_details_error_info(&status).unwrap();
        assert_eq!(info.reason, "ROLE_REQUIRED");
        assert_eq!(info.metadata["requiredRole"], "operator");
        assert_eq!(info.metadata["correlationId"], "cid-1");
        assert_eq!(refusals.len(), 1);
        assert_eq!(refusals[0].reason, Reason::RoleRequired);
        assert_eq!(refusals[0].principal.as_deref(), Some("vic"));
        assert_eq!(refusals[0].roles, ["team-x", "viewer"]);

        let forged =
            issue_hs256(b"another-secret-0123456789abcdef!!", "eve", &["admin"], 600).unwrap();
        let (response, refusals) =
            call("/catalog.v1alpha1.PluginService/ListPlugins", Some(&forged)).await;
        assert_eq!(grpc_status(&response), Some("16"));
        assert_eq!(
            refusals[0].principal, None,
            "nothing is read from a refused token"
        );
        assert!(refusals[0].roles.is_empty());
    }

    #[test]
    fn catalog_reads_need_viewer_and_actions_need_operator() {
        for method in [
            "/catalog.v1alpha1.PluginService/ListPlugins",
            "/catalog.v1alpha1.PluginService/GetCapabilities",
            "/catalog.v1alpha1.AssetService/GetAsset",
            "/catalog.v1alpha1.AssetService/ListActions",
            "/catalog.v1alpha1.SourceService/ListSources",
        ] {
            assert_eq!(required_role(method), Role::Viewer, "{method}");
        }
        for method in [
            "/catalog.v1alpha1.SourceService/ExecuteSourceAction",
            "/catalog.v1alpha1.AssetService/ExecuteAssetAction",
        ] {
            assert_eq!(required_role(method), Role::Operator, "{method}");
        }
    }

    #[test]
    fn governance_reads_need_viewer_decisions_are_left_to_the_service() {
        let gov = |m: &str| required_role(&format!("/catalog.governance.v1alpha1.{m}"));
        assert_eq!(gov("GovernanceService/GetGovernance"), Role::Viewer);
        assert_eq!(gov("AuditService/ListAuditEvents"), Role::Viewer);
        assert_eq!(gov("AuditService/VerifyAuditChain"), Role::Viewer);
        assert_eq!(gov("ApprovalService/ApproveRequest"), Role::Viewer);
        assert_eq!(gov("ApprovalService/RejectRequest"), Role::Viewer);
        assert_eq!(gov("ApprovalService/CancelRequest"), Role::Viewer);
        assert_eq!(gov("GovernanceService/UpdateGovernance"), Role::Operator);
        assert_eq!(
            gov("GovernanceService/ExecuteLifecycleAction"),
            Role::Operator
        );
        assert_eq!(gov("ApprovalService/CreateRequest"), Role::Operator);
        assert_eq!(
            gov("GovernanceService/Listen"),
            Role::Operator,
            "a verb must be a whole word"
        );
        assert_eq!(gov("GovernanceService/Get"), Role::Operator);
    }

    #[test]
    fn unknown_and_malformed_methods_need_operator() {
        for method in [
            "/catalog.v1alpha1.SecretService/ListSecrets",
            "/catalog.v2.AssetService/GetAsset",
            "/other.Service/ListThings",
            "/catalog.governance.v1alpha1.NewService/GetThing",
            "/nopackage/Method",
            "/catalog.v1alpha1.AssetService",
            "",
            "/",
        ] {
            assert_eq!(required_role(method), Role::Operator, "{method:?}");
        }
    }

    #[test]
    fn only_health_and_reflection_are_public() {
        assert!(is_public("/grpc.health.v1.Health/Check"));
        assert!(is_public("/grpc.health.v1.Health/Watch"));
        assert!(is_public(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
        ));
        assert!(is_public(
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
        ));
        assert!(!is_public("/catalog.v1alpha1.PluginService/ListPlugins"));
        assert!(!is_public("/grpc.healthy.Fake/Check"));
    }
}
