//! `GET /metrics` on the gRPC listener: plain HTTP/1.1 with no token, the
//! exact series that calls, refusals, governance actions, approvals and
//! configuration reloads leave behind, and gRPC still served on that port.

use std::net::SocketAddr;

use catalog::proto::catalog::governance::v1alpha1 as gpb;
use catalog::proto::catalog::v1alpha1 as pb;
use catalog::transport::grpc::convert::to_struct;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

use crate::support::*;

/// A plain HTTP/1.1 response.
struct HttpResponse {
    status: u16,
    /// Header lines as sent, names lowercased.
    headers: Vec<(String, String)>,
    body: String,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the exposition has this exact sample line.
    fn has(&self, line: &str) -> bool {
        self.body.lines().any(|l| l == line)
    }
}

/// One request over a fresh TCP connection, as a scraper or curl sends it:
/// HTTP/1.1, no token, connection closed after the answer.
async fn http_get(addr: SocketAddr, path: &str, extra_headers: &str) -> HttpResponse {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", addr.port()))
        .await
        .unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n{extra_headers}Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("a complete response");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.strip_prefix("HTTP/1.1 "))
        .and_then(|l| l.split(' ').next())
        .and_then(|code| code.parse().ok())
        .expect("an HTTP/1.1 status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    HttpResponse {
        status,
        headers,
        body,
    }
}

/// The payload of a chunked body.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.push_str(&tail[..size]);
        rest = &tail[size + 2..];
    }
    out
}

async fn scrape(s: &TestServer) -> HttpResponse {
    let response = http_get(addr(s), "/metrics", "").await;
    assert_eq!(response.status, 200, "{}", response.body);
    response
}

fn addr(s: &TestServer) -> SocketAddr {
    s.server.as_ref().unwrap().addr
}

async fn set_owner(s: &TestServer, token: Option<&str>, name: &str, owner: &str) {
    s.governance_as(token)
        .update_asset_governance(gpb::UpdateAssetGovernanceRequest {
            plugin: "agents".into(),
            kind: "Agent".into(),
            name: name.into(),
            governance: Some(pb::GovernanceMetadata {
                owner: Some(pb::Owner {
                    principal: owner.into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            update_mask: None,
            expected_resource_version: 0,
        })
        .await
        .unwrap();
}

fn handled(service: &str, method: &str, code: &str, n: u64) -> String {
    format!(
        "grpc_server_handled_total{{grpc_service=\"{service}\",grpc_method=\"{method}\",grpc_code=\"{code}\"}} {n}"
    )
}

const PLUGINS: &str = "catalog.v1alpha1.PluginService";
const GOVERNANCE: &str = "catalog.governance.v1alpha1.GovernanceService";

#[tokio::test]
async fn metrics_count_calls_refusals_and_governance_actions() {
    let s = TestServer::samples().await;
    s.plugins()
        .list_plugins(pb::ListPluginsRequest {})
        .await
        .unwrap();
    let refused = s
        .plugins_as(None)
        .list_plugins(pb::ListPluginsRequest {})
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    set_owner(&s, s.default_token.as_deref(), "incident-planner", "lead").await;

    let metrics = scrape(&s).await;
    assert_eq!(
        metrics.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = &metrics.body;
    for line in [
        handled(PLUGINS, "ListPlugins", "OK", 1),
        handled(PLUGINS, "ListPlugins", "Unauthenticated", 1),
        handled(GOVERNANCE, "UpdateAssetGovernance", "OK", 1),
        format!(
            "grpc_server_handling_seconds_count{{grpc_service=\"{PLUGINS}\",grpc_method=\"ListPlugins\"}} 2"
        ),
        format!(
            "grpc_server_handling_seconds_bucket{{grpc_service=\"{PLUGINS}\",grpc_method=\"ListPlugins\",le=\"+Inf\"}} 2"
        ),
        "audit_events_total{action=\"governance.update\",outcome=\"success\"} 1".into(),
        "approvals_pending_count 0".into(),
        "signature_verification_total{result=\"verified\"} 0".into(),
        "signature_verification_total{result=\"failed\"} 0".into(),
        "governance_config_reloads_total{result=\"applied\"} 0".into(),
        "governance_config_reloads_total{result=\"refused\"} 0".into(),
        "# TYPE grpc_server_handled_total counter".into(),
        "# TYPE grpc_server_handling_seconds histogram".into(),
        "# TYPE approvals_pending_count gauge".into(),
        "# TYPE lifecycle_transition_total counter".into(),
        "# TYPE promotion_total counter".into(),
    ] {
        assert!(metrics.has(&line), "missing {line:?} in:\n{text}");
    }
    // Refusals are audited from a spawned task, so they may trail the call.
    eventually("the refusal counted as an audit event", || async {
        scrape(&s)
            .await
            .has("audit_events_total{action=\"auth.denied\",outcome=\"denied\"} 1")
    })
    .await;

    // The scrape itself is no gRPC call, and gRPC still works on the port.
    assert!(!text.contains("grpc_method=\"unknown\""), "{text}");
    let plugins = s
        .plugins()
        .list_plugins(pb::ListPluginsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(!plugins.plugins.is_empty());
    assert!(scrape(&s)
        .await
        .has(&handled(PLUGINS, "ListPlugins", "OK", 2)));
    s.stop().await;
}

#[tokio::test]
async fn metrics_need_no_token_and_other_http_paths_are_not_found() {
    let s = TestServer::samples().await;
    // A token that would be refused changes nothing: nothing checks it.
    let with_bad_token = http_get(addr(&s), "/metrics", "Authorization: Bearer nonsense\r\n").await;
    assert_eq!(with_bad_token.status, 200);
    assert!(with_bad_token.has("approvals_pending_count 0"));
    let other = http_get(addr(&s), "/admin", "").await;
    assert_eq!(other.status, 404, "{}", other.body);
    // Neither reached the gRPC stack: no refusal was audited or counted.
    let metrics = scrape(&s).await;
    assert!(
        !metrics.body.contains("auth.denied"),
        "HTTP requests are not gRPC refusals:\n{}",
        metrics.body
    );
    assert!(!metrics.body.contains("grpc_code=\"Unauthenticated\""));
    s.stop().await;
}

#[tokio::test]
async fn pending_approvals_are_counted_in_the_database_for_every_replica() {
    let dir = tempfile::tempdir().unwrap();
    let sources = copy_samples(dir.path());
    let url = crate::support::fresh_database(dir.path()).await;
    let options = |_: &std::path::Path| Options {
        sources: vec![sources.clone()],
        database_url: Some(url.clone()),
        extra_args: vec![
            "--approval-policies".into(),
            repo()
                .join("samples/approval-policies.yaml")
                .display()
                .to_string(),
        ],
        ..Default::default()
    };
    let first = TestServer::start_with(options).await;
    let second = TestServer::start_with(options).await;
    let operator = first.token("olga", &["operator"]);
    set_owner(&first, Some(&operator), "incident-planner", "oncall-lead").await;
    let pending = first
        .governance_as(Some(&operator))
        .execute_governance_action(gpb::ExecuteGovernanceActionRequest {
            plugin: "agents".into(),
            kind: "Agent".into(),
            name: "incident-planner".into(),
            action: "lifecycle.setState".into(),
            params: Some(to_struct(json!({"state": "approved"}).as_object().unwrap())),
            dry_run: false,
            reason: "metrics test".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(pending.status, "pending-approval");

    assert!(scrape(&first).await.has("approvals_pending_count 1"));
    let other = scrape(&second).await;
    assert!(
        other.has("approvals_pending_count 1"),
        "the replica that took no call sees it too:\n{}",
        other.body
    );
    assert!(
        !other.body.contains("governance.update"),
        "counters stay per replica:\n{}",
        other.body
    );
    first.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn configuration_reloads_are_counted_as_applied_or_refused() {
    let s = TestServer::start_with(|dir| {
        let config = dir.join("governance.yaml");
        std::fs::copy(repo().join("samples/governance.yaml"), &config).unwrap();
        Options {
            sources: vec![copy_samples(dir)],
            extra_args: vec!["--governance-config".into(), config.display().to_string()],
            ..Default::default()
        }
    })
    .await;
    let config = s.dir.path().join("governance.yaml");
    let valid = std::fs::read_to_string(&config).unwrap();

    std::fs::write(&config, "environments: [dev, stage, prod]\nnoSuchKey: 1\n").unwrap();
    eventually("the invalid file refused", || async {
        scrape(&s)
            .await
            .has("governance_config_reloads_total{result=\"refused\"} 1")
    })
    .await;
    std::fs::write(&config, format!("{valid}\n# edited\n")).unwrap();
    eventually("the valid file applied", || async {
        scrape(&s)
            .await
            .has("governance_config_reloads_total{result=\"applied\"} 1")
    })
    .await;
    assert!(scrape(&s)
        .await
        .has("governance_config_reloads_total{result=\"refused\"} 1"));
    s.stop().await;
}
