//! Two replicas on one PostgreSQL database (07 §6: "the action runs at
//! most once, also across replicas"; 12 §4: ingestion is safe with several
//! replicas). Both start together over the same sources, so both ingest the
//! same assets; then approvers race on the same requests through both.
//!
//! PostgreSQL only: SQLite has a single writer per file and no replicas.
//! Without CATALOG_TEST_DATABASE_URL=postgres://… the test says so and
//! passes; CI sets the variable for its PostgreSQL pass.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use catalog::proto::catalog::governance::v1alpha1 as gpb;
use catalog::proto::catalog::v1alpha1 as pb;
use catalog::transport::grpc::convert::to_struct;
use serde_json::json;

use crate::support::*;

/// Requests raced on, and approvers per request (alternating replicas).
const REQUESTS: usize = 12;
const APPROVERS: usize = 6;

/// (plugin, kind, name)
type Key = (String, String, String);

fn replica_options(sources: &Path, database_url: &str, secret: &str) -> Options {
    Options {
        sources: vec![sources.to_path_buf()],
        database_url: Some(database_url.to_string()),
        jwt_secret: Some(secret.to_string()),
        extra_args: vec!["--approval-policies".into(), "builtin".into()],
        ..Default::default()
    }
}

/// Every asset of every plugin, as one replica lists them.
async fn every_asset(s: &TestServer) -> Vec<Key> {
    let plugins = s
        .plugins()
        .list_plugins(pb::ListPluginsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .plugins;
    let mut out = Vec::new();
    for plugin in plugins {
        for asset in s.all_assets(&plugin.name, "").await {
            out.push((
                plugin.name.clone(),
                asset.kind,
                asset.metadata.unwrap().name,
            ));
        }
    }
    out
}

/// Every event of one action, following page tokens.
async fn events_of(s: &TestServer, action: &str) -> Vec<gpb::AuditEvent> {
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let page = s
            .audit()
            .list_audit_events(gpb::ListAuditEventsRequest {
                action: action.into(),
                page_size: 500,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        out.extend(page.events);
        if page.next_page_token.is_empty() {
            return out;
        }
        token = page.next_page_token;
    }
}

async fn asset_state(s: &TestServer, key: &Key) -> String {
    s.governance()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_ingest_once_and_run_each_approved_action_once() {
    match std::env::var("CATALOG_TEST_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {}
        _ => {
            eprintln!(
                "note: two_replicas_ingest_once_and_run_each_approved_action_once needs \
                 CATALOG_TEST_DATABASE_URL=postgres://…; skipped on SQLite"
            );
            return;
        }
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database(dir.path()).await;
    let sources = copy_samples(dir.path());
    let secret = random_secret();
    // Both start at once: migrations, first sync and ingestion race.
    let (a, b) = tokio::join!(
        TestServer::start_with(|_| replica_options(&sources, &database_url, &secret)),
        TestServer::start_with(|_| replica_options(&sources, &database_url, &secret)),
    );

    // One overlay per asset: exactly one creation event each, whichever
    // replica inserted the row. A replica whose start-up backfill pass sees
    // records the other one just synced creates their rows as backfill
    // (governance.backfill, 06 §3.2), so both actions count as creation.
    let assets = every_asset(&a).await;
    assert!(assets.len() > 60, "the samples hold many assets");
    assert_eq!(every_asset(&b).await.len(), assets.len());
    let mut created: BTreeMap<Key, usize> = BTreeMap::new();
    let creations = [
        events_of(&a, "governance.create").await,
        events_of(&a, "governance.backfill").await,
    ];
    for event in creations.iter().flatten() {
        *created
            .entry((event.plugin.clone(), event.kind.clone(), event.name.clone()))
            .or_default() += 1;
    }
    let twice: Vec<&Key> = created
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(k, _)| k)
        .collect();
    assert!(twice.is_empty(), "overlays created twice: {twice:?}");
    for key in &assets {
        assert_eq!(created.get(key), Some(&1), "{key:?} has one creation event");
    }
    assert_eq!(created.len(), assets.len());
    let backfilled = creations[1].len();

    // Requests through replica A, about agents and MCP servers.
    let operator = a.token("olga", &["operator"]);
    let subjects: Vec<Key> = assets
        .iter()
        .filter(|k| k.0 == "agents" || k.0 == "mcp")
        .take(REQUESTS)
        .cloned()
        .collect();
    assert_eq!(subjects.len(), REQUESTS);
    let mut requests = Vec::new();
    for key in &subjects {
        let mut governance = a.governance_as(Some(&operator));
        governance
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
        let pending = governance
            .execute_governance_action(gpb::ExecuteGovernanceActionRequest {
                plugin: key.0.clone(),
                kind: key.1.clone(),
                name: key.2.clone(),
                action: "lifecycle.setState".into(),
                params: Some(to_struct(json!({"state": "approved"}).as_object().unwrap())),
                dry_run: false,
                reason: "replica race".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(pending.status, "pending-approval");
        requests.push(pending.approval_request_id);
    }

    // Every approver of every request at once, alternating replicas.
    let mut calls = Vec::new();
    for (r, id) in requests.iter().enumerate() {
        for k in 0..APPROVERS {
            let replica = if k % 2 == 0 { &a } else { &b };
            let token = replica.token(&format!("approver-{r}-{k}"), &["approver"]);
            let mut client = replica.approvals_as(Some(&token));
            let id = id.clone();
            calls.push(tokio::spawn(async move {
                let result = client
                    .approve_request(gpb::ApproveRequestRequest {
                        request_id: id,
                        comment: "ok".into(),
                    })
                    .await
                    .map(|r| r.into_inner());
                (r, result)
            }));
        }
    }
    let mut winners = vec![0; REQUESTS];
    let mut losers = [0; REQUESTS];
    for call in calls {
        let (r, result) = call.await.unwrap();
        match result {
            Ok(request) => {
                assert_eq!(request.status, "approved");
                assert_eq!(request.decisions.len(), 1, "{request:?}");
                winners[r] += 1;
            }
            Err(e) => {
                assert_eq!(reason(&e), "APPROVAL_NOT_PENDING", "{e:?}");
                losers[r] += 1;
            }
        }
    }
    assert_eq!(
        winners,
        vec![1; REQUESTS],
        "one winning decision per request"
    );

    for (r, (key, id)) in subjects.iter().zip(&requests).enumerate() {
        // Either replica reads the same outcome.
        for replica in [&a, &b] {
            let request = replica
                .approvals_as(replica.default_token.as_deref())
                .get_approval(gpb::GetApprovalRequest {
                    request_id: id.clone(),
                })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(request.status, "approved", "{key:?}");
            assert_eq!(request.decisions.len(), 1, "{key:?}: {request:?}");
            assert_eq!(request.execution.unwrap().status, "succeeded", "{key:?}");
            assert_eq!(asset_state(replica, key).await, "approved", "{key:?}");
        }
        let events = a
            .audit()
            .list_audit_events(gpb::ListAuditEventsRequest {
                approval_request_id: id.clone(),
                page_size: 500,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .events;
        let count = |action: &str, outcome: &str| {
            events
                .iter()
                .filter(|e| e.action == action && e.outcome == outcome)
                .count()
        };
        assert_eq!(
            count("lifecycle.setState", "success"),
            1,
            "{key:?} ran once"
        );
        assert_eq!(count("approval.approve", "success"), 1, "{key:?}");
        assert_eq!(
            count("approval.approve", "denied"),
            losers[r],
            "{key:?}: every late approver is audited"
        );
    }

    // One chain: both replicas appended to it without gaps or duplicates.
    for replica in [&a, &b] {
        let report = replica
            .audit()
            .verify_audit_chain(gpb::VerifyAuditChainRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert!(report.verified, "{report:?}");
    }
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&database_url).await.unwrap();
    let row: (i64, i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(DISTINCT sequence), COALESCE(MAX(sequence), 0) FROM audit_events",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert_eq!(row.0, row.1, "no sequence is used twice");
    assert_eq!(row.0, row.2, "sequences have no gaps");
    eprintln!(
        "replicas test: {} assets ({backfilled} via backfill), {REQUESTS}×{APPROVERS} racing approvals, {} events, {:.1}s",
        assets.len(),
        row.0,
        started.elapsed().as_secs_f64()
    );
    a.stop().await;
    b.stop().await;
}

/// A decision on one replica and actions on the same asset through the
/// other must not fail each other: both take the asset's overlay row and
/// the audit chain head, which only works when every transaction takes
/// them in the same order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_and_actions_on_the_same_asset_do_not_deadlock() {
    match std::env::var("CATALOG_TEST_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {}
        _ => {
            eprintln!(
                "note: a_decision_and_actions_on_the_same_asset_do_not_deadlock needs \
                 CATALOG_TEST_DATABASE_URL=postgres://…; skipped on SQLite"
            );
            return;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database(dir.path()).await;
    let sources = copy_samples(dir.path());
    let secret = random_secret();
    let a = TestServer::start_with(|_| replica_options(&sources, &database_url, &secret)).await;
    let b = TestServer::start_with(|_| replica_options(&sources, &database_url, &secret)).await;
    let operator = a.token("olga", &["operator"]);
    let subjects: Vec<Key> = every_asset(&a)
        .await
        .into_iter()
        .filter(|k| k.0 == "agents" || k.0 == "mcp")
        .take(REQUESTS)
        .collect();
    let mut calls = Vec::new();
    for (r, key) in subjects.iter().enumerate() {
        let mut governance = a.governance_as(Some(&operator));
        governance
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
        let id = governance
            .execute_governance_action(gpb::ExecuteGovernanceActionRequest {
                plugin: key.0.clone(),
                kind: key.1.clone(),
                name: key.2.clone(),
                action: "lifecycle.setState".into(),
                params: Some(to_struct(json!({"state": "approved"}).as_object().unwrap())),
                dry_run: false,
                reason: "lock order".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .approval_request_id;
        let mut approvals = b.approvals_as(Some(&b.token(&format!("approver-{r}"), &["approver"])));
        calls.push(tokio::spawn(async move {
            approvals
                .approve_request(gpb::ApproveRequestRequest {
                    request_id: id,
                    comment: "ok".into(),
                })
                .await
                .map(|_| "approve".to_string())
        }));
        for n in 0..3 {
            let mut governance = a.governance_as(Some(&operator));
            let key = key.clone();
            calls.push(tokio::spawn(async move {
                governance
                    .execute_governance_action(gpb::ExecuteGovernanceActionRequest {
                        plugin: key.0,
                        kind: key.1,
                        name: key.2,
                        action: "version.create".into(),
                        params: Some(to_struct(
                            json!({"version": format!("race-{n}")}).as_object().unwrap(),
                        )),
                        dry_run: false,
                        reason: "lock order".into(),
                    })
                    .await
                    .map(|_| "version.create".to_string())
            }));
        }
    }
    let mut failures = Vec::new();
    for call in calls {
        if let Err(e) = call.await.unwrap() {
            failures.push(format!("{}: {}", reason(&e), e.message()));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    for key in &subjects {
        assert_eq!(asset_state(&a, key).await, "approved", "{key:?}");
    }
    a.stop().await;
    b.stop().await;
}

/// Actions on assets a source has just added race the background pass
/// that writes their overlay rows (12 §4): each action either creates the
/// row itself or waits for the pass's, and the asset ends up with exactly
/// one `governance.create`, never STORAGE_UNAVAILABLE. Runs on both back
/// ends (SQLite serializes the writers; PostgreSQL must not deadlock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_racing_the_ingest_of_a_new_source_all_succeed_once() {
    const ASSETS: usize = 3000;
    const RACED: usize = 40;
    let s = TestServer::samples().await;
    apply_bulk_models(&s, "bulk", ASSETS).await;
    let operator = s.token("olga", &["operator"]);
    let mut calls = Vec::new();
    for r in 0..RACED {
        let name = format!("bulk-{:05}", ASSETS - 1 - r * (ASSETS / RACED));
        let mut governance = s.governance_as(Some(&operator));
        calls.push(tokio::spawn(async move {
            let answer = governance
                .update_asset_governance(gpb::UpdateAssetGovernanceRequest {
                    plugin: "model".into(),
                    kind: "CatalogModel".into(),
                    name: name.clone(),
                    governance: Some(pb::GovernanceMetadata {
                        owner: Some(pb::Owner {
                            principal: format!("owner-{r}"),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    update_mask: None,
                    expected_resource_version: 0,
                })
                .await;
            (name, answer.map(|_| ()))
        }));
    }
    let mut raced = Vec::new();
    let mut failures = Vec::new();
    for call in calls {
        let (name, answer) = call.await.unwrap();
        if let Err(e) = answer {
            failures.push(format!("{name}: {} {}", reason(&e), e.message()));
        }
        raced.push(name);
    }
    assert!(failures.is_empty(), "{failures:#?}");
    let mut created = Vec::new();
    for _ in 0..600 {
        created = events_of(&s, "governance.create").await;
        if created
            .iter()
            .filter(|e| e.name.starts_with("bulk-"))
            .count()
            >= ASSETS
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let bulk = created
        .iter()
        .filter(|e| e.name.starts_with("bulk-"))
        .count();
    assert_eq!(bulk, ASSETS, "one governance.create per new asset");
    let last_create = created.iter().map(|e| e.sequence).max().unwrap();
    let updates = events_of(&s, "governance.update").await;
    let during = updates.iter().filter(|e| e.sequence < last_create).count();
    eprintln!("updates during ingest: {during} of {}", updates.len());
    for name in &raced {
        let n = created.iter().filter(|e| &e.name == name).count();
        assert_eq!(n, 1, "{name} has {n} governance.create events");
    }
    s.stop().await;
}
