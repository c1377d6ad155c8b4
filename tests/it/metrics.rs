//! `GET /metrics` on the gRPC listener: plain HTTP/1.1 with no token, the
//! exact series (names and labels of spec 12 §7) that calls, refusals,
//! governance actions, approvals, the backfill and configuration reloads
//! leave behind, and gRPC still served on that port.

use std::net::SocketAddr;
use std::path::Path;

use catalog::proto::catalog::governance::v1alpha1 as gpb;
use catalog::proto::catalog::v1alpha1 as pb;
use catalog::transport::grpc::convert::to_struct;
use serde_json::json;
use tonic::Code;

use crate::support::*;

impl HttpResponse {
    /// Whether the exposition has this exact sample line.
    fn has(&self, line: &str) -> bool {
        self.body.lines().any(|l| l == line)
    }

    /// Whether a family has any sample at all.
    fn has_samples(&self, family: &str) -> bool {
        self.body.lines().any(|l| {
            l.strip_prefix(family)
                .is_some_and(|rest| rest.starts_with(['{', ' ']))
        })
    }

    /// Panics with the whole exposition unless every line is in it.
    fn assert_has(&self, lines: &[String]) {
        for line in lines {
            assert!(self.has(line), "missing {line:?} in:\n{}", self.body);
        }
    }
}

async fn scrape(s: &TestServer) -> HttpResponse {
    let response = http_get(addr(s), "/metrics", &[]).await;
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
        "grpc_server_handled_total{{service=\"{service}\",method=\"{method}\",code=\"{code}\"}} {n}"
    )
}

fn transition(from: &str, to: &str, outcome: &str, n: u64) -> String {
    format!(
        "lifecycle_transition_total{{plugin=\"agents\",kind=\"Agent\",from=\"{from}\",to=\"{to}\",outcome=\"{outcome}\"}} {n}"
    )
}

fn promotion(env: &str, action: &str, outcome: &str, n: u64) -> String {
    format!(
        "promotion_total{{plugin=\"agents\",env=\"{env}\",action=\"{action}\",outcome=\"{outcome}\"}} {n}"
    )
}

fn requests(action: &str, result: &str, n: u64) -> String {
    format!(
        "approval_requests_total{{plugin=\"agents\",action=\"{action}\",result=\"{result}\"}} {n}"
    )
}

const PENDING_SET_STATE: &str =
    "approvals_pending_count{plugin=\"agents\",action=\"lifecycle.setState\"} 1";

/// A server over the samples with the sample approval policies; `shared`
/// names the database and sources file of other servers to run alongside
/// (a fresh database and a copy of the samples when None).
async fn governed(shared: Option<(&str, &Path)>) -> TestServer {
    TestServer::start_with(|dir| Options {
        sources: vec![match shared {
            Some((_, sources)) => sources.to_path_buf(),
            None => copy_samples(dir),
        }],
        database_url: shared.map(|(url, _)| url.to_string()),
        extra_args: vec![
            "--approval-policies".into(),
            repo()
                .join("samples/approval-policies.yaml")
                .display()
                .to_string(),
        ],
        ..Default::default()
    })
    .await
}

/// ExecuteGovernanceAction on an agent.
async fn act(
    s: &TestServer,
    token: &str,
    name: &str,
    action: &str,
    params: serde_json::Value,
    dry_run: bool,
) -> Result<pb::ActionResult, tonic::Status> {
    s.governance_as(Some(token))
        .execute_governance_action(gpb::ExecuteGovernanceActionRequest {
            plugin: "agents".into(),
            kind: "Agent".into(),
            name: name.into(),
            action: action.into(),
            params: Some(to_struct(params.as_object().unwrap())),
            dry_run,
            reason: "metrics test".into(),
        })
        .await
        .map(|r| r.into_inner())
}

async fn approve(s: &TestServer, token: &str, id: &str) -> gpb::ApprovalRequest {
    s.approvals_as(Some(token))
        .approve_request(gpb::ApproveRequestRequest {
            request_id: id.into(),
            comment: "ok".into(),
        })
        .await
        .unwrap()
        .into_inner()
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
            "grpc_server_handling_seconds_count{{service=\"{PLUGINS}\",method=\"ListPlugins\"}} 2"
        ),
        format!(
            "grpc_server_handling_seconds_bucket{{service=\"{PLUGINS}\",method=\"ListPlugins\",le=\"+Inf\"}} 2"
        ),
        "audit_events_total{action=\"governance.update\",outcome=\"success\"} 1".into(),
        "signature_verification_total{method=\"cosign\",result=\"verified\"} 0".into(),
        "signature_verification_total{method=\"cosign\",result=\"unverified\"} 0".into(),
        "signature_verification_total{method=\"cosign\",result=\"error\"} 0".into(),
        "policy_evaluations_total{result=\"execute\"} 0".into(),
        "governance_config_reloads_total{result=\"applied\"} 0".into(),
        "governance_config_reloads_total{result=\"refused\"} 0".into(),
        "# TYPE grpc_server_handled_total counter".into(),
        "# TYPE grpc_server_handling_seconds histogram".into(),
        "# TYPE approvals_pending_count gauge".into(),
        "# TYPE lifecycle_transition_total counter".into(),
        "# TYPE promotion_total counter".into(),
        "# TYPE approval_requests_total counter".into(),
        "# TYPE approval_execution_total counter".into(),
        "# TYPE version_snapshots_total counter".into(),
        "# TYPE backfill_assets_total counter".into(),
    ] {
        assert!(metrics.has(&line), "missing {line:?} in:\n{text}");
    }
    // Nothing is pending and no governance action ran: families with open
    // label values have no samples yet.
    for family in [
        "approvals_pending_count",
        "lifecycle_transition_total",
        "promotion_total",
        "approval_requests_total",
    ] {
        assert!(!metrics.has_samples(family), "{family} in:\n{text}");
    }
    // Refusals are audited from a spawned task, so they may trail the call.
    eventually("the refusal counted as an audit event", || async {
        scrape(&s)
            .await
            .has("audit_events_total{action=\"auth.denied\",outcome=\"denied\"} 1")
    })
    .await;

    // The scrape itself is no gRPC call, and gRPC still works on the port.
    assert!(!text.contains("service=\"unknown\""), "{text}");
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
    let with_bad_token = http_get(
        addr(&s),
        "/metrics",
        &[("Authorization", "Bearer nonsense")],
    )
    .await;
    assert_eq!(with_bad_token.status, 200);
    assert!(with_bad_token.has("# TYPE approvals_pending_count gauge"));
    let other = http_get(addr(&s), "/admin", &[]).await;
    assert_eq!(other.status, 404, "{}", other.body);
    // Neither reached the gRPC stack: no refusal was audited or counted.
    let metrics = scrape(&s).await;
    assert!(
        !metrics.body.contains("auth.denied"),
        "HTTP requests are not gRPC refusals:\n{}",
        metrics.body
    );
    assert!(!metrics.body.contains("code=\"Unauthenticated\""));
    s.stop().await;
}

#[tokio::test]
async fn pending_approvals_are_counted_in_the_database_for_every_replica() {
    let dir = tempfile::tempdir().unwrap();
    let sources = copy_samples(dir.path());
    let url = crate::support::fresh_database(dir.path()).await;
    let first = governed(Some((&url, &sources))).await;
    let second = governed(Some((&url, &sources))).await;
    let operator = first.token("olga", &["operator"]);
    set_owner(&first, Some(&operator), "incident-planner", "oncall-lead").await;
    let set_state = || {
        act(
            &first,
            &operator,
            "incident-planner",
            "lifecycle.setState",
            json!({"state": "approved"}),
            false,
        )
    };
    let pending = set_state().await.unwrap();
    assert_eq!(pending.status, "pending-approval");

    scrape(&first).await.assert_has(&[
        PENDING_SET_STATE.into(),
        requests("lifecycle.setState", "created", 1),
        transition("draft", "approved", "pending-approval", 1),
    ]);
    let other = scrape(&second).await;
    assert!(
        other.has(PENDING_SET_STATE),
        "the replica that took no call sees it too:\n{}",
        other.body
    );
    assert!(
        !other.body.contains("governance.update") && !other.has_samples("approval_requests_total"),
        "counters stay per replica:\n{}",
        other.body
    );

    // Decided on the other replica: no longer pending anywhere, and the
    // decision is counted where it was taken.
    second
        .approvals_as(Some(&second.token("ada", &["approver"])))
        .reject_request(gpb::RejectRequestRequest {
            request_id: pending.approval_request_id,
            comment: "not yet".into(),
        })
        .await
        .unwrap();
    for s in [&first, &second] {
        let metrics = scrape(s).await;
        assert!(
            !metrics.has_samples("approvals_pending_count"),
            "nothing pending:\n{}",
            metrics.body
        );
    }
    scrape(&second).await.assert_has(&[
        requests("lifecycle.setState", "rejected", 1),
        "approval_decisions_total{decision=\"reject\"} 1".into(),
        "approval_decisions_total{decision=\"approve\"} 0".into(),
    ]);
    assert!(scrape(&first)
        .await
        .has("approval_decisions_total{decision=\"reject\"} 0"));

    // A new request, withdrawn by its requester.
    let again = set_state().await.unwrap();
    first
        .approvals_as(Some(&operator))
        .cancel_request(gpb::CancelRequestRequest {
            request_id: again.approval_request_id,
            reason: "changed my mind".into(),
        })
        .await
        .unwrap();
    let metrics = scrape(&first).await;
    metrics.assert_has(&[
        requests("lifecycle.setState", "created", 2),
        requests("lifecycle.setState", "cancelled", 1),
        transition("draft", "approved", "pending-approval", 2),
    ]);
    assert!(
        !metrics.has_samples("approvals_pending_count"),
        "{}",
        metrics.body
    );
    first.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn lifecycle_and_promotion_attempts_are_counted_by_outcome() {
    let s = governed(None).await;
    let operator = s.token("olga", &["operator"]);
    let approver = s.token("ada", &["approver"]);
    let name = "incident-planner";
    set_owner(&s, Some(&operator), name, "oncall-lead").await;
    let approve_it = json!({"state": "approved"});
    // The first sync discovered every agent and took its first version.
    let agents = s.all_assets("agents", "").await.len();
    assert!(agents > 1);
    scrape(&s).await.assert_has(&[format!(
        "version_snapshots_total{{plugin=\"agents\",trigger=\"initial-discovery\"}} {agents}"
    )]);

    // A dry run is no attempt.
    let plan = act(
        &s,
        &operator,
        name,
        "lifecycle.setState",
        approve_it.clone(),
        true,
    )
    .await
    .unwrap();
    assert_eq!(plan.status, "dry-run");
    let metrics = scrape(&s).await;
    assert!(
        !metrics.has_samples("lifecycle_transition_total"),
        "{}",
        metrics.body
    );
    assert!(metrics.has("policy_evaluations_total{result=\"require-approval\"} 0"));

    let pending = act(
        &s,
        &operator,
        name,
        "lifecycle.setState",
        approve_it.clone(),
        false,
    )
    .await
    .unwrap();
    assert_eq!(pending.status, "pending-approval");
    // Refused by the transition table (draft cannot be deprecated): the
    // state it started from is known.
    let e = act(&s, &operator, name, "lifecycle.deprecate", json!({}), false)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    // No such asset: the state is not known, the target is.
    let e = act(
        &s,
        &operator,
        "no-such-agent",
        "lifecycle.setState",
        approve_it.clone(),
        false,
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    // A target that is no state: neither is known.
    let e = act(
        &s,
        &operator,
        name,
        "lifecycle.setState",
        json!({"state": "golden"}),
        false,
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    scrape(&s).await.assert_has(&[
        transition("draft", "approved", "pending-approval", 1),
        transition("draft", "deprecated", "denied", 1),
        transition("unknown", "approved", "failed", 1),
        transition("unknown", "unknown", "failed", 1),
        PENDING_SET_STATE.into(),
        "policy_evaluations_total{result=\"require-approval\"} 1".into(),
    ]);

    // The approval that meets the requirements runs the held transition.
    let done = approve(&s, &approver, &pending.approval_request_id).await;
    assert_eq!(done.execution.unwrap().status, "succeeded");
    let metrics = scrape(&s).await;
    metrics.assert_has(&[
        transition("draft", "approved", "success", 1),
        transition("draft", "approved", "pending-approval", 1),
        requests("lifecycle.setState", "approved", 1),
        "approval_decisions_total{decision=\"approve\"} 1".into(),
        "approval_execution_total{action=\"lifecycle.setState\",status=\"succeeded\"} 1".into(),
    ]);
    assert!(
        !metrics.has_samples("approvals_pending_count"),
        "{}",
        metrics.body
    );

    // A manual version of the approved asset, bound to dev.
    let version = act(
        &s,
        &operator,
        name,
        "version.create",
        json!({"version": "v1"}),
        false,
    )
    .await
    .unwrap();
    assert_eq!(version.status, "completed");
    act(
        &s,
        &operator,
        name,
        "promotion.bind",
        json!({"environment": "dev", "versionId": "v1"}),
        false,
    )
    .await
    .unwrap();
    // Refused: an environment that is not configured (not named in the
    // labels), and an unbind of an environment with nothing bound.
    let e = act(
        &s,
        &operator,
        name,
        "promotion.bind",
        json!({"environment": "moon", "versionId": "v1"}),
        false,
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = act(
        &s,
        &operator,
        name,
        "promotion.unbind",
        json!({"environment": "stage"}),
        false,
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    // Archiving the bound version is refused with the version's state.
    let e = act(
        &s,
        &operator,
        name,
        "lifecycle.archive",
        json!({"versionId": "v1"}),
        false,
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    let metrics = scrape(&s).await;
    metrics.assert_has(&[
        "version_snapshots_total{plugin=\"agents\",trigger=\"manual\"} 1".into(),
        promotion("dev", "bind", "success", 1),
        promotion("unknown", "bind", "failed", 1),
        promotion("stage", "unbind", "failed", 1),
        transition("approved", "archived", "denied", 1),
        // The setState and version.create and the bind; the refusals above
        // were refused before any policy was consulted.
        "policy_evaluations_total{result=\"execute\"} 2".into(),
        "policy_evaluations_total{result=\"require-approval\"} 1".into(),
        "policy_evaluations_total{result=\"deny\"} 0".into(),
    ]);
    assert!(!metrics.body.contains("moon"), "{}", metrics.body);
    s.stop().await;
}

#[tokio::test]
async fn an_approved_action_that_no_longer_holds_counts_as_a_failed_run() {
    let s = governed(None).await;
    let operator = s.token("olga", &["operator"]);
    let name = "billing-specialist";
    set_owner(&s, Some(&operator), name, "lead").await;
    let pending = act(
        &s,
        &operator,
        name,
        "lifecycle.setState",
        json!({"state": "approved"}),
        false,
    )
    .await
    .unwrap();
    // The owner approval needs is cleared while the request waits.
    s.governance_as(Some(&operator))
        .update_asset_governance(gpb::UpdateAssetGovernanceRequest {
            plugin: "agents".into(),
            kind: "Agent".into(),
            name: name.into(),
            governance: None,
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["owner".into()],
            }),
            expected_resource_version: 0,
        })
        .await
        .unwrap();
    let done = approve(
        &s,
        &s.token("ada", &["approver"]),
        &pending.approval_request_id,
    )
    .await;
    assert_eq!(done.execution.unwrap().status, "failed");
    let metrics = scrape(&s).await;
    metrics.assert_has(&[
        "approval_execution_total{action=\"lifecycle.setState\",status=\"failed\"} 1".into(),
        transition("draft", "approved", "failed", 1),
        transition("draft", "approved", "pending-approval", 1),
        requests("lifecycle.setState", "approved", 1),
    ]);
    assert!(!metrics.has(&transition("draft", "approved", "success", 1)));
    s.stop().await;
}

#[tokio::test]
async fn expired_requests_are_counted() {
    let s = TestServer::start_with(|dir| {
        // Requests live for 1.8 s.
        let policies = dir.join("policies.yaml");
        std::fs::write(
            &policies,
            "apiVersion: catalog.kubeflow.org/v1alpha1\nkind: ApprovalPolicies\ndefaults:\n  expiryHours: 0.0005\n",
        )
        .unwrap();
        Options {
            sources: vec![copy_samples(dir)],
            extra_args: vec![
                "--approval-policies".into(),
                policies.display().to_string(),
            ],
            ..Default::default()
        }
    })
    .await;
    let operator = s.token("olga", &["operator"]);
    set_owner(&s, Some(&operator), "k8s-troubleshooter", "lead").await;
    let pending = act(
        &s,
        &operator,
        "k8s-troubleshooter",
        "lifecycle.setState",
        json!({"state": "approved"}),
        false,
    )
    .await
    .unwrap();
    assert!(scrape(&s).await.has(PENDING_SET_STATE));
    // Reading the request expires it once it is overdue.
    let viewer = s.token("vic", &["viewer"]);
    eventually("the request expired", || async {
        s.approvals_as(Some(&viewer))
            .get_approval(gpb::GetApprovalRequest {
                request_id: pending.approval_request_id.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .status
            == "expired"
    })
    .await;
    let metrics = scrape(&s).await;
    metrics.assert_has(&[
        requests("lifecycle.setState", "created", 1),
        requests("lifecycle.setState", "expired", 1),
    ]);
    assert!(
        !metrics.has_samples("approvals_pending_count"),
        "{}",
        metrics.body
    );
    s.stop().await;
}

#[tokio::test]
async fn the_backfill_counts_the_assets_it_created_and_their_versions() {
    let dir = tempfile::tempdir().unwrap();
    let sources = copy_samples(dir.path());
    let url = crate::support::fresh_database(dir.path()).await;
    // A first run that takes no versions, so that its governance records
    // can be deleted below (versions are never deleted).
    let config = dir.path().join("governance.yaml");
    let sample = std::fs::read_to_string(repo().join("samples/governance.yaml")).unwrap();
    assert!(sample.contains("autoSnapshot: onContentChange"));
    std::fs::write(
        &config,
        sample.replace("autoSnapshot: onContentChange", "autoSnapshot: \"off\""),
    )
    .unwrap();
    let first = TestServer::start_with(|_| Options {
        sources: vec![sources.clone()],
        database_url: Some(url.clone()),
        extra_args: vec!["--governance-config".into(), config.display().to_string()],
        ..Default::default()
    })
    .await;
    let agents = first.all_assets("agents", "").await.len();
    assert!(agents > 1);
    let metrics = scrape(&first).await;
    for family in ["backfill_assets_total", "version_snapshots_total"] {
        assert!(
            !metrics.has_samples(family),
            "{family} in:\n{}",
            metrics.body
        );
    }
    first.stop().await;

    // Records with no governance yet, as a database from before governance
    // has them: the next start backfills them.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query("DELETE FROM asset_governance")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let second = governed(Some((&url, &sources))).await;
    let metrics = scrape(&second).await;
    metrics.assert_has(&[
        format!("backfill_assets_total{{plugin=\"agents\",result=\"created\"}} {agents}"),
        format!("version_snapshots_total{{plugin=\"agents\",trigger=\"backfill\"}} {agents}"),
    ]);
    assert!(
        !metrics.body.contains("trigger=\"initial-discovery\""),
        "{}",
        metrics.body
    );
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

#[tokio::test]
async fn probes_report_liveness_and_readiness_without_a_token() {
    let s = TestServer::samples().await;
    for path in ["/livez", "/healthz"] {
        let live = http_get(addr(&s), path, &[]).await;
        assert_eq!(live.status, 200, "{path}: {}", live.body);
        let body: serde_json::Value = serde_json::from_str(&live.body).unwrap();
        assert_eq!(body["status"], "alive");
        assert!(body["uptimeSeconds"].is_u64(), "{body}");
    }
    // The sample catalog has loaded once the test server is up.
    let ready = http_get(addr(&s), "/readyz", &[]).await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    let body: serde_json::Value = serde_json::from_str(&ready.body).unwrap();
    assert_eq!(body["status"], "ready");
    let c = &body["components"];
    assert_eq!(c["database"]["status"], "ok");
    assert_eq!(
        c["migrations"],
        serde_json::json!({"status": "ok", "applied": 2})
    );
    assert_eq!(c["initial_load"]["status"], "ok", "{body}");
    let sources = &c["initial_load"]["sources"];
    assert!(sources["total"].as_u64().unwrap() >= 12, "{body}");
    assert_eq!(sources["failed"], 0);
    assert_eq!(c["governance"]["backfill"], "done");
    // The overlay of what the initial sync discovered is written after
    // the server is ready, and reported once it is.
    let mut discovery = String::new();
    for _ in 0..300 {
        let ready = http_get(addr(&s), "/readyz", &[]).await;
        let body: serde_json::Value = serde_json::from_str(&ready.body).unwrap();
        discovery = body["components"]["governance"]["discovery"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if discovery == "done" {
            break;
        }
        assert_eq!(discovery, "running", "{body}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(discovery, "done");
    s.stop().await;
}

#[tokio::test]
async fn the_read_cache_reports_hits_misses_and_what_it_holds() {
    let s = TestServer::samples().await;
    let read = || s.get("agents", "Agent", "incident-planner");
    read().await.unwrap();
    read().await.unwrap();
    let metrics = scrape(&s).await;
    metrics.assert_has(&[
        "asset_read_cache_requests_total{result=\"hit\"} 1".into(),
        "asset_read_cache_requests_total{result=\"miss\"} 1".into(),
        "asset_read_cache_entries{form=\"plain\"} 1".into(),
        "asset_read_cache_entries{form=\"compressed\"} 0".into(),
        format!(
            "asset_read_cache_bytes{{measure=\"budget\"}} {}",
            64u64 << 20
        ),
        "# TYPE asset_read_cache_bytes gauge".into(),
    ]);
    let bytes = |measure: &str| {
        sample(
            &metrics,
            &format!("asset_read_cache_bytes{{measure=\"{measure}\"}}"),
        )
    };
    assert!(bytes("answers") > 100.0, "{}", metrics.body);
    assert!(bytes("held") >= bytes("answers"), "{}", metrics.body);

    // A governance write starts a new generation: the next read is built
    // afresh (and shows the write).
    set_owner(&s, s.default_token.as_deref(), "incident-planner", "lead").await;
    let asset = read().await.unwrap();
    assert_eq!(asset.governance.unwrap().owner.unwrap().principal, "lead");
    scrape(&s).await.assert_has(&[
        "asset_read_cache_requests_total{result=\"hit\"} 1".into(),
        "asset_read_cache_requests_total{result=\"miss\"} 2".into(),
        "asset_read_cache_entries{form=\"plain\"} 1".into(),
    ]);
    s.stop().await;
}

/// One sample of the exposition, as a number.
fn sample(metrics: &HttpResponse, series: &str) -> f64 {
    let prefix = format!("{series} ");
    metrics
        .body
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {series} in:\n{}", metrics.body))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn cached_answers_are_kept_compressed_and_served_unchanged() {
    let s = TestServer::samples().await;
    // Enough answers of one kind to train its dictionary on.
    let n = 4000;
    apply_bulk_models(&s, "bulk", n).await;
    let read_all = || async {
        let mut answers = Vec::with_capacity(n);
        for i in 0..n {
            let name = format!("bulk-{i:05}");
            answers.push(s.get("model", "CatalogModel", &name).await.unwrap());
        }
        answers
    };
    let hits = "asset_read_cache_requests_total{result=\"hit\"}";
    let compressed = "asset_read_cache_entries{form=\"compressed\"}";
    // Passes until one is answered entirely from the cache, with answers
    // held compressed (training runs beside the reads, and the ingest's
    // overlay writes start new generations for a while). That pass must
    // match the one before it, which built what it read.
    let mut previous = read_all().await;
    for pass in 0.. {
        assert!(pass < 6, "no pass was served compressed from the cache");
        let before = scrape(&s).await;
        let answers = read_all().await;
        let after = scrape(&s).await;
        let all_hits = sample(&after, hits) - sample(&before, hits) == n as f64;
        if all_hits && sample(&after, compressed) > 0.0 {
            for (cached, built) in answers.iter().zip(&previous) {
                let name = &built.metadata.as_ref().unwrap().name;
                assert!(cached == built, "the cached answer of {name} differs");
            }
            break;
        }
        previous = answers;
    }
    s.stop().await;
}
