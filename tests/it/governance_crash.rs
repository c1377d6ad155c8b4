//! Crash safety of approvals (07 §6): the real `catalog-server` binary on a
//! SQLite file is SIGKILLed while approvals of many requests are in flight.
//! After a restart on the same file every request must be either untouched
//! (pending, no decision, no execution, asset unchanged) or fully done
//! (approved, one decision, execution succeeded, asset approved, exactly one
//! success event for the action): never half of it. The audit chain must
//! still verify, and the requests left pending must still go through.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use catalog::proto::catalog::governance::v1alpha1 as gpb;
use catalog::proto::catalog::v1alpha1 as pb;
use catalog::transport::grpc::convert::to_struct;
use serde_json::json;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::support::*;

/// Requests approved at once; each is about a different asset.
const REQUESTS: usize = 36;
/// Fresh starts allowed to catch the kill between the first and the last
/// approval.
const ATTEMPTS: usize = 6;

/// A `catalog-server` child process and a channel to it.
struct Node {
    child: Child,
    channel: Channel,
    secret: String,
}

impl Node {
    /// Starts the binary on `database_url` and waits until it serves.
    async fn start(dir: &Path, database_url: &str, sources: &Path, secret: &str) -> Node {
        let port = free_port();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_catalog-server"))
            .current_dir(dir)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--database-url", database_url])
            .arg("--sources")
            .arg(sources)
            .args(["--jwt-secret", secret])
            .args(["--approval-policies", "builtin"])
            .args(["--reconcile-seconds", "60"])
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("catalog-server starts");
        let mut node = Node {
            child,
            channel: Channel::from_static("http://127.0.0.1:1").connect_lazy(),
            secret: secret.to_string(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = node.child.try_wait().unwrap() {
                panic!(
                    "catalog-server exited with {status}; its log:\n{}",
                    std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "catalog-server never served");
            let channel = Channel::from_shared(format!("http://127.0.0.1:{port}"))
                .unwrap()
                .connect()
                .await;
            if let Ok(channel) = channel {
                let health = tonic_health::pb::health_client::HealthClient::new(channel.clone())
                    .check(tonic_health::pb::HealthCheckRequest {
                        service: String::new(),
                    })
                    .await;
                let serving = tonic_health::pb::health_check_response::ServingStatus::Serving;
                if health.is_ok_and(|h| h.into_inner().status == serving as i32) {
                    node.channel = channel;
                    return node;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn authed(&self, subject: &str, roles: &[&str]) -> Authed {
        let token = mint(&self.secret, subject, roles);
        InterceptedService::new(self.channel.clone(), Bearer::new(Some(&token)))
    }

    fn governance(
        &self,
        subject: &str,
        roles: &[&str],
    ) -> gpb::governance_service_client::GovernanceServiceClient<Authed> {
        gpb::governance_service_client::GovernanceServiceClient::new(self.authed(subject, roles))
    }

    fn approvals(
        &self,
        subject: &str,
        roles: &[&str],
    ) -> gpb::approval_service_client::ApprovalServiceClient<Authed> {
        gpb::approval_service_client::ApprovalServiceClient::new(self.authed(subject, roles))
    }

    fn audit(&self) -> gpb::audit_service_client::AuditServiceClient<Authed> {
        gpb::audit_service_client::AuditServiceClient::new(self.authed("auditor", &["viewer"]))
    }

    /// SIGKILL: no shutdown hook, no flush, no graceful drain.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// (plugin, kind, name)
type Key = (String, String, String);

/// Assets of several plugins, taken in turn from each so that the requests
/// spread across plugins.
async fn sample_assets(node: &Node, count: usize) -> Vec<Key> {
    let viewer = node.authed("reader", &["viewer"]);
    let plugins = pb::plugin_service_client::PluginServiceClient::new(viewer.clone())
        .list_plugins(pb::ListPluginsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .plugins;
    let mut per_plugin = Vec::new();
    for plugin in plugins {
        let items = pb::asset_service_client::AssetServiceClient::new(viewer.clone())
            .list_assets(pb::ListAssetsRequest {
                plugin: plugin.name.clone(),
                page_size: 500,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .items;
        let keys: Vec<Key> = items
            .into_iter()
            .map(|a| (plugin.name.clone(), a.kind, a.metadata.unwrap().name))
            .collect();
        per_plugin.push(keys);
    }
    let mut out = Vec::new();
    for round in 0.. {
        let before = out.len();
        for keys in &per_plugin {
            if out.len() < count {
                if let Some(key) = keys.get(round) {
                    out.push(key.clone());
                }
            }
        }
        if out.len() == count || out.len() == before {
            break;
        }
    }
    let plugins: std::collections::BTreeSet<&str> = out.iter().map(|k| k.0.as_str()).collect();
    assert_eq!(out.len(), count, "the samples hold enough assets");
    assert!(plugins.len() >= 5, "requests span plugins: {plugins:?}");
    out
}

/// Sets an owner and asks for approval; returns the pending request id.
async fn request_approval(node: &Node, key: &Key) -> String {
    let mut operator = node.governance("olga", &["operator"]);
    operator
        .update_asset_governance(gpb::UpdateAssetGovernanceRequest {
            plugin: key.0.clone(),
            kind: key.1.clone(),
            name: key.2.clone(),
            governance: Some(pb::GovernanceMetadata {
                owner: Some(pb::Owner {
                    principal: "team-lead".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            update_mask: None,
            expected_resource_version: 0,
        })
        .await
        .unwrap();
    let result = operator
        .execute_governance_action(gpb::ExecuteGovernanceActionRequest {
            plugin: key.0.clone(),
            kind: key.1.clone(),
            name: key.2.clone(),
            action: "lifecycle.setState".into(),
            params: Some(to_struct(json!({"state": "approved"}).as_object().unwrap())),
            dry_run: false,
            reason: "crash test".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(result.status, "pending-approval", "{key:?}");
    result.approval_request_id
}

async fn asset_state(node: &Node, key: &Key) -> String {
    node.governance("reader", &["viewer"])
        .get_asset_governance(gpb::GetAssetGovernanceRequest {
            plugin: key.0.clone(),
            kind: key.1.clone(),
            name: key.2.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .governance
        .unwrap()
        .lifecycle
        .unwrap()
        .state
}

/// Every event linked to a request.
async fn request_events(node: &Node, request_id: &str) -> Vec<gpb::AuditEvent> {
    node.audit()
        .list_audit_events(gpb::ListAuditEventsRequest {
            approval_request_id: request_id.into(),
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events
}

fn count(events: &[gpb::AuditEvent], action: &str, outcome: &str) -> usize {
    events
        .iter()
        .filter(|e| e.action == action && e.outcome == outcome)
        .count()
}

async fn approve(node: &Node, approver: &str, request_id: &str) -> Result<(), tonic::Status> {
    node.approvals(approver, &["approver"])
        .approve_request(gpb::ApproveRequestRequest {
            request_id: request_id.into(),
            comment: "ok".into(),
        })
        .await
        .map(|_| ())
}

/// Checks every request is all-or-nothing; returns how many are approved.
async fn check_all_or_nothing(
    node: &Node,
    requests: &[(Key, String)],
    acknowledged: &[bool],
) -> usize {
    let mut approved = 0;
    for (i, (key, id)) in requests.iter().enumerate() {
        let request = node
            .approvals("reader", &["viewer"])
            .get_approval(gpb::GetApprovalRequest {
                request_id: id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        let events = request_events(node, id).await;
        let state = asset_state(node, key).await;
        assert_eq!(count(&events, "approval.request", "pending-approval"), 1);
        match request.status.as_str() {
            "pending" => {
                assert!(
                    !acknowledged[i],
                    "{key:?}: the approval was answered, then lost in the crash"
                );
                assert!(request.execution.is_none(), "{key:?}: {request:?}");
                assert!(request.decisions.is_empty(), "{key:?}: {request:?}");
                assert_eq!(state, "draft", "{key:?}: changed without approval");
                assert_eq!(count(&events, "approval.approve", "success"), 0);
                assert_eq!(count(&events, "lifecycle.setState", "success"), 0);
            }
            "approved" => {
                approved += 1;
                let execution = request.execution.as_ref().expect("an execution");
                assert_eq!(execution.status, "succeeded", "{key:?}: {execution:?}");
                assert_eq!(request.decisions.len(), 1, "{key:?}: {request:?}");
                assert_eq!(state, "approved", "{key:?}: approved without its change");
                assert_eq!(count(&events, "approval.approve", "success"), 1);
                let executed: Vec<&gpb::AuditEvent> = events
                    .iter()
                    .filter(|e| e.action == "lifecycle.setState" && e.outcome == "success")
                    .collect();
                assert_eq!(executed.len(), 1, "{key:?}: {events:?}");
                assert_eq!(executed[0].event_id, execution.audit_event_id);
            }
            other => panic!("{key:?}: request {id} is {other}"),
        }
    }
    let report = node
        .audit()
        .verify_audit_chain(gpb::VerifyAuditChainRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(report.verified, "{report:?}");
    let decisions = node
        .audit()
        .list_audit_events(gpb::ListAuditEventsRequest {
            action: "approval.approve".into(),
            outcome: "success".into(),
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events
        .len();
    assert_eq!(
        decisions, approved,
        "one recorded decision per approved request"
    );
    approved
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_survive_a_kill_in_the_middle_all_or_nothing() {
    let started = Instant::now();
    let secret = random_secret();
    for attempt in 1..=ATTEMPTS {
        let dir = tempfile::tempdir().unwrap();
        let sources: PathBuf = copy_samples(dir.path());
        let database_url = format!("sqlite://{}/catalog.db", dir.path().display());
        let mut node = Node::start(dir.path(), &database_url, &sources, &secret).await;
        let keys = sample_assets(&node, REQUESTS).await;
        let mut requests = Vec::new();
        for key in keys {
            let id = request_approval(&node, &key).await;
            requests.push((key, id));
        }
        // Kill once a quarter has been answered (at the first answer on
        // later attempts, in case this machine is fast enough to finish
        // everything in between).
        let threshold = if attempt == 1 { REQUESTS / 4 } else { 1 };
        let answered = Arc::new(AtomicUsize::new(0));
        let mut calls = Vec::new();
        for (i, (_, id)) in requests.iter().enumerate() {
            let mut client = node.approvals(&format!("approver-{i}"), &["approver"]);
            let id = id.clone();
            let answered = answered.clone();
            calls.push(tokio::spawn(async move {
                let result = client
                    .approve_request(gpb::ApproveRequestRequest {
                        request_id: id,
                        comment: "ok".into(),
                    })
                    .await;
                if result.is_ok() {
                    answered.fetch_add(1, Ordering::SeqCst);
                }
                result.is_ok()
            }));
        }
        while answered.load(Ordering::SeqCst) < threshold && !calls.iter().all(|c| c.is_finished())
        {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        node.kill();
        let mut acknowledged = Vec::new();
        for call in calls {
            acknowledged.push(call.await.unwrap());
        }
        drop(node);

        let node = Node::start(dir.path(), &database_url, &sources, &secret).await;
        let approved = check_all_or_nothing(&node, &requests, &acknowledged).await;
        let pending = requests.len() - approved;
        eprintln!(
            "crash test attempt {attempt}: {} answered before the kill, {approved} approved and {pending} pending after the restart",
            acknowledged.iter().filter(|a| **a).count()
        );
        if approved == 0 || pending == 0 {
            continue;
        }
        // What the crash interrupted can still be decided, exactly once.
        for (i, (key, id)) in requests.iter().enumerate() {
            let request = node
                .approvals("reader", &["viewer"])
                .get_approval(gpb::GetApprovalRequest {
                    request_id: id.clone(),
                })
                .await
                .unwrap()
                .into_inner();
            if request.status == "pending" {
                approve(&node, &format!("late-approver-{i}"), id)
                    .await
                    .unwrap_or_else(|e| panic!("{key:?}: {e:?}"));
            }
        }
        let approved = check_all_or_nothing(&node, &requests, &vec![true; requests.len()]).await;
        assert_eq!(approved, requests.len());
        eprintln!(
            "crash test passed on attempt {attempt} in {:.1}s",
            started.elapsed().as_secs_f64()
        );
        return;
    }
    panic!("in {ATTEMPTS} attempts the kill never fell between the first and the last approval");
}
