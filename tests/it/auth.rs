//! Identity over the wire: bearer tokens, role enforcement, the public
//! health and reflection services, and local development credentials.

use std::path::Path;

use catalog::config::ServerConfig;
use catalog::proto::catalog::v1alpha1 as pb;
use catalog::server::{start, StartError};
use clap::Parser;
use tonic::codegen::tokio_stream;
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::{copy_samples, mint, random_secret, reason, Options, TestServer};

fn info(status: &tonic::Status) -> std::collections::HashMap<String, String> {
    status
        .get_details_error_info()
        .expect("ErrorInfo detail")
        .metadata
}

async fn list_plugins(server: &TestServer, token: Option<&str>) -> Result<usize, tonic::Status> {
    server
        .plugins_as(token)
        .list_plugins(pb::ListPluginsRequest {})
        .await
        .map(|r| r.into_inner().plugins.len())
}

async fn validate_source(
    server: &TestServer,
    token: Option<&str>,
) -> Result<String, tonic::Status> {
    server
        .sources_as(token)
        .execute_source_action(pb::ExecuteSourceActionRequest {
            plugin: "agents".into(),
            source_id: "sample-agents".into(),
            action: "validate".into(),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner().status)
}

#[tokio::test]
async fn calls_without_a_valid_token_are_unauthenticated() {
    let server = TestServer::samples().await;
    let mut request = tonic::Request::new(pb::ListPluginsRequest {});
    request
        .metadata_mut()
        .insert("x-request-id", "auth-test-1".parse().unwrap());
    let err = server
        .plugins_as(None)
        .list_plugins(request)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(reason(&err), "UNAUTHENTICATED");
    assert_eq!(
        info(&err).get("correlationId").map(String::as_str),
        Some("auth-test-1")
    );
    assert!(
        err.message().contains("authorization: Bearer"),
        "{}",
        err.message()
    );
    assert_eq!(
        err.metadata()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("auth-test-1"),
        "the correlation id is echoed on refusals too"
    );

    let foreign = mint(&random_secret(), "mallory", &["admin"]);
    let expired = catalog::auth::token::sign_hs256(
        server.secret.as_deref().unwrap().as_bytes(),
        &serde_json::json!({"sub": "old", "roles": ["admin"], "exp": 1_000_000_000u64}),
    )
    .unwrap();
    let no_sub = catalog::auth::token::sign_hs256(
        server.secret.as_deref().unwrap().as_bytes(),
        &serde_json::json!({"roles": ["admin"], "exp": 4_000_000_000u64}),
    )
    .unwrap();
    for (token, hint) in [
        (foreign.as_str(), "signature"),
        (expired.as_str(), "expired"),
        (no_sub.as_str(), "principal claim"),
        ("not-a-jwt", "well-formed"),
    ] {
        let err = list_plugins(&server, Some(token)).await.unwrap_err();
        assert_eq!(
            (err.code(), reason(&err)),
            (Code::Unauthenticated, "UNAUTHENTICATED".into())
        );
        assert!(err.message().contains(hint), "{hint}: {}", err.message());
        assert!(!err.message().contains(token));
        assert!(info(&err).contains_key("correlationId"));
    }
    // A refused call reaches no handler: a write stays undone.
    let err = server
        .sources_as(None)
        .execute_source_action(pb::ExecuteSourceActionRequest {
            plugin: "agents".into(),
            source_id: "sample-agents".into(),
            action: "disable".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(server.source("agents", "sample-agents").await.enabled);
    server.stop().await;
}

#[tokio::test]
async fn roles_decide_who_may_run_source_actions() {
    let server = TestServer::samples().await;
    let viewer = server.token("val", &["viewer"]);
    assert_eq!(list_plugins(&server, Some(&viewer)).await.unwrap(), 12);
    let err = validate_source(&server, Some(&viewer)).await.unwrap_err();
    assert_eq!(
        (err.code(), reason(&err)),
        (Code::PermissionDenied, "ROLE_REQUIRED".into())
    );
    assert_eq!(
        info(&err).get("requiredRole").map(String::as_str),
        Some("operator")
    );
    assert!(
        err.message().contains("ExecuteSourceAction"),
        "{}",
        err.message()
    );

    let approver = server.token("ann", &["approver"]);
    assert_eq!(
        list_plugins(&server, Some(&approver)).await.unwrap(),
        12,
        "approvers read"
    );
    let err = validate_source(&server, Some(&approver)).await.unwrap_err();
    assert_eq!(
        reason(&err),
        "ROLE_REQUIRED",
        "an approver is not an operator"
    );

    let nobody = server.token("nobody", &[]);
    let err = list_plugins(&server, Some(&nobody)).await.unwrap_err();
    assert_eq!(
        info(&err).get("requiredRole").map(String::as_str),
        Some("viewer")
    );

    for roles in [&["operator"][..], &["admin"][..]] {
        let token = server.token("op", roles);
        assert_eq!(
            validate_source(&server, Some(&token)).await.unwrap(),
            "completed",
            "{roles:?}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn health_and_reflection_need_no_token() {
    let server = TestServer::samples().await;
    assert!(
        server.serving().await,
        "the harness checks health without a token"
    );
    let mut reflection =
        tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(
            server.channel.clone(),
        );
    let request = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            tonic_reflection::pb::v1::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            ),
        ),
    };
    let mut answers = reflection
        .server_reflection_info(tokio_stream::once(request))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().expect("one answer");
    let Some(
        tonic_reflection::pb::v1::server_reflection_response::MessageResponse::ListServicesResponse(
            list,
        ),
    ) = answer.message_response
    else {
        panic!("unexpected reflection answer {answer:?}");
    };
    assert!(list
        .service
        .iter()
        .any(|s| s.name == "catalog.v1alpha1.AssetService"));
    server.stop().await;
}

#[tokio::test]
async fn anonymous_reads_are_opt_in_and_never_write() {
    let server = TestServer::start_with(|dir| Options {
        sources: vec![copy_samples(dir)],
        extra_args: vec!["--allow-anonymous-read".into()],
        ..Default::default()
    })
    .await;
    assert_eq!(list_plugins(&server, None).await.unwrap(), 12);
    let err = validate_source(&server, None).await.unwrap_err();
    assert_eq!(reason(&err), "ROLE_REQUIRED");
    let err = list_plugins(&server, Some("garbage")).await.unwrap_err();
    assert_eq!(
        err.code(),
        Code::Unauthenticated,
        "a bad token is refused, not ignored"
    );
    server.stop().await;
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn a_loopback_server_without_a_secret_makes_private_development_tokens() {
    let data = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/catalog.db", data.path().display());
    let options = |url: String| {
        move |dir: &Path| Options {
            sources: vec![copy_samples(dir)],
            database_url: Some(url),
            jwt_secret: None,
            ..Default::default()
        }
    };
    let server = TestServer::start_with(options(url.clone())).await;
    let creds = server
        .server
        .as_ref()
        .unwrap()
        .dev_credentials
        .clone()
        .expect("development credentials");
    assert_eq!(creds.dir, data.path());
    assert_eq!(creds.secret_file, data.path().join("dev-jwt.secret"));
    let files = [
        "dev-jwt.secret",
        "dev-admin.token",
        "dev-approver.token",
        "dev-viewer.token",
    ];
    for file in files {
        let path = data.path().join(file);
        assert!(path.is_file(), "{}", path.display());
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600, "{file}");
    }
    let read = |file: &str| {
        std::fs::read_to_string(data.path().join(file))
            .unwrap()
            .trim()
            .to_string()
    };
    let admin = read("dev-admin.token");
    assert_eq!(
        validate_source(&server, Some(&admin)).await.unwrap(),
        "completed"
    );
    let viewer = read("dev-viewer.token");
    assert_eq!(list_plugins(&server, Some(&viewer)).await.unwrap(), 12);
    assert_eq!(
        reason(&validate_source(&server, Some(&viewer)).await.unwrap_err()),
        "ROLE_REQUIRED"
    );
    let approver = read("dev-approver.token");
    assert_eq!(
        reason(&validate_source(&server, Some(&approver)).await.unwrap_err()),
        "ROLE_REQUIRED"
    );
    let err = list_plugins(&server, None).await.unwrap_err();
    assert!(
        err.message().contains("dev-admin.token"),
        "{}",
        err.message()
    );
    let secret = read("dev-jwt.secret");
    server.stop().await;

    // A restart reuses the secret and the still-fresh tokens.
    let again = TestServer::start_with(options(url)).await;
    assert_eq!(read("dev-jwt.secret"), secret);
    assert_eq!(read("dev-admin.token"), admin);
    assert_eq!(list_plugins(&again, Some(&admin)).await.unwrap(), 12);
    again.stop().await;
}

#[tokio::test]
async fn a_listener_beyond_loopback_without_a_secret_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/catalog.db", dir.path().display());
    let config = ServerConfig::parse_from([
        "catalog-server",
        "--database-url",
        &url,
        "--sources",
        &copy_samples(dir.path()).display().to_string(),
    ]);
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let Err(error) = start(config, Some(listener)).await else {
        panic!("a server beyond loopback started without a JWT secret or key");
    };
    assert!(matches!(error, StartError::Config(_)), "{error}");
    assert_eq!(error.exit_code(), 2);
    assert!(error.to_string().contains("CATALOG_JWT_SECRET"), "{error}");
    assert!(!dir.path().join("dev-jwt.secret").exists());
    assert!(
        !dir.path().join("catalog.db").exists(),
        "it fails before opening the database"
    );
}
