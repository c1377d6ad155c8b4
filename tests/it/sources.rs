//! Sources: live reload, bad files, source actions, health before the first
//! load, and two replicas over one database.

use std::time::Duration;

use catalog::proto::catalog::v1alpha1 as pb;
use serde_json::json;

use crate::support::{copy_samples, eventually, reason, spec, start_server, Options, TestServer};

fn agents_file(server: &TestServer) -> std::path::PathBuf {
    server.dir.path().join("samples/data/agents.yaml")
}

#[tokio::test]
async fn an_edited_data_file_shows_up_without_a_restart() {
    let server = TestServer::start_with(|dir| Options {
        sources: vec![copy_samples(dir)],
        reconcile_seconds: 1,
        ..Default::default()
    })
    .await;
    let before = server
        .get("agents", "Agent", "incident-planner")
        .await
        .unwrap();
    let old_revision = before
        .provenance
        .as_ref()
        .unwrap()
        .revision
        .as_ref()
        .unwrap()
        .id
        .clone();
    let path = agents_file(&server);
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replacen(
        "name: incident-planner\n",
        "name: incident-planner\n    annotations: {edited: \"yes\"}\n",
        1,
    );
    assert_ne!(text, edited, "the sample layout changed; adjust the edit");
    std::fs::write(&path, &edited).unwrap();
    let expected_revision = catalog::domain::asset::sha256_digest(edited.as_bytes());
    eventually("the edit is served", || async {
        let asset = server
            .get("agents", "Agent", "incident-planner")
            .await
            .unwrap();
        asset
            .metadata
            .unwrap()
            .annotations
            .get("edited")
            .map(String::as_str)
            == Some("yes")
    })
    .await;
    let after = server
        .get("agents", "Agent", "incident-planner")
        .await
        .unwrap();
    let provenance = after.provenance.unwrap();
    assert_eq!(provenance.revision.as_ref().unwrap().id, expected_revision);
    assert_ne!(provenance.revision.unwrap().id, old_revision);
    assert_ne!(
        provenance.integrity.unwrap().content_digest,
        before.provenance.unwrap().integrity.unwrap().content_digest
    );
    // Entries of the same file that did not change keep their content digest.
    server.stop().await;
}

#[tokio::test]
async fn a_broken_file_fails_its_source_and_the_last_good_snapshot_stays() {
    let server = TestServer::start_with(|dir| Options {
        sources: vec![copy_samples(dir)],
        reconcile_seconds: 1,
        ..Default::default()
    })
    .await;
    let count = server
        .all_assets("agents", "sourceId = 'sample-agents'")
        .await
        .len();
    std::fs::write(
        agents_file(&server),
        "agents:\n  - name: x\n    agentType: [unclosed\n",
    )
    .unwrap();
    eventually("the source reports an error", || async {
        server
            .source("agents", "sample-agents")
            .await
            .status
            .unwrap()
            .state
            == "error"
    })
    .await;
    let status = server
        .source("agents", "sample-agents")
        .await
        .status
        .unwrap();
    let error = status.last_error.unwrap();
    assert_eq!(error.class, "ValidationError");
    assert_eq!(error.code, "SOURCE_VALIDATION_ERROR");
    assert!(error.file.ends_with("agents.yaml"), "{}", error.file);
    assert!(error.line >= 3, "line {}", error.line);
    assert!(!error.retryable);
    assert_eq!(
        server
            .all_assets("agents", "sourceId = 'sample-agents'")
            .await
            .len(),
        count,
        "last good snapshot"
    );
    assert!(
        server.all_assets("skills", "").await.len() >= 5,
        "other plugins keep serving"
    );
    // A manual refresh reports the same typed error.
    let err = server
        .action("agents", "sample-agents", "refresh", false, json!({}))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), reason(&err)),
        (
            tonic::Code::FailedPrecondition,
            "SOURCE_VALIDATION_ERROR".to_string()
        )
    );
    server.stop().await;
}

#[tokio::test]
async fn an_invalid_entry_is_rejected_with_file_line_and_field_and_keeps_its_last_valid_record() {
    let server = TestServer::start_with(|dir| Options {
        sources: vec![copy_samples(dir)],
        reconcile_seconds: 1,
        ..Default::default()
    })
    .await;
    let path = agents_file(&server);
    let text = std::fs::read_to_string(&path).unwrap();
    let old = spec(
        &server
            .get("agents", "Agent", "incident-planner")
            .await
            .unwrap(),
    );
    let broken = text.replacen("agentType: planner", "agentType: wizard", 1);
    assert_ne!(broken, text);
    std::fs::write(&path, &broken).unwrap();
    let line = broken
        .lines()
        .position(|l| l.contains("agentType: wizard"))
        .unwrap() as i32
        + 1;
    eventually("the entry is rejected", || async {
        server
            .source("agents", "sample-agents")
            .await
            .status
            .unwrap()
            .counts
            .unwrap()
            .rejected
            == 1
    })
    .await;
    let status = server
        .source("agents", "sample-agents")
        .await
        .status
        .unwrap();
    assert_eq!(status.state, "available");
    let diagnostic = status
        .entry_diagnostics
        .iter()
        .find(|d| d.severity == "error")
        .unwrap();
    assert_eq!(
        (
            diagnostic.code.as_str(),
            diagnostic.field.as_str(),
            diagnostic.entry.as_str()
        ),
        ("ENUM_VALUE_INVALID", "agentType", "incident-planner")
    );
    assert_eq!(diagnostic.line, line);
    assert!(diagnostic.file.ends_with("agents.yaml"));
    let kept = server
        .get("agents", "Agent", "incident-planner")
        .await
        .unwrap();
    assert_eq!(spec(&kept), old);
    let validated = kept
        .status
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.r#type == "Validated")
        .unwrap();
    assert_eq!(validated.status, "False");
    server.stop().await;
}

#[tokio::test]
async fn source_actions_validate_apply_disable_enable_and_never_touch_the_file() {
    let server = TestServer::samples().await;
    let sources_file = server.dir.path().join("samples/catalog-sources.yaml");
    let original = std::fs::read(&sources_file).unwrap();
    let content = "skills:\n  - name: api-skill\n    version: '1'\n    description: added over the API\n    skillType: shell_command\n    inputSchema: {type: object}\n    timeoutSeconds: 5\n    execution: {command: ls}\n";
    let source = json!({"name": "API skills", "type": "yaml", "labels": ["api"], "properties": {"yamlContent": content}});

    // validate: a candidate with a bad entry reports diagnostics and changes nothing.
    let bad = json!({"name": "bad", "type": "yaml", "properties": {"yamlContent": "skills:\n  - name: nope\n    skillType: teleport\n"}});
    let result = server
        .action(
            "skills",
            "api-skills",
            "validate",
            false,
            json!({"source": bad}),
        )
        .await
        .unwrap();
    assert_eq!(result.status, "completed");
    assert!(
        result
            .diagnostics
            .iter()
            .any(|d| d.code == "ENUM_VALUE_INVALID" && d.field == "skillType" && d.line == 3),
        "{:?}",
        result.diagnostics
    );

    // apply dry run: nothing stored.
    let dry = server
        .action(
            "skills",
            "api-skills",
            "apply",
            true,
            json!({"source": source}),
        )
        .await
        .unwrap();
    assert_eq!(dry.status, "dry-run");
    assert!(server.get("skills", "Skill", "api-skill").await.is_err());
    assert!(server
        .sources()
        .get_source(pb::GetSourceRequest {
            plugin: "skills".into(),
            source_id: "api-skills".into()
        })
        .await
        .is_err());

    // apply: stored in the server, synced, listed with origin api.
    let applied = server
        .action(
            "skills",
            "api-skills",
            "apply",
            false,
            json!({"source": source}),
        )
        .await
        .unwrap();
    assert_eq!(applied.status, "completed");
    let asset = server.get("skills", "Skill", "api-skill").await.unwrap();
    assert_eq!(
        asset.provenance.unwrap().source.unwrap().uri,
        "inline:api-skills"
    );
    let info = server.source("skills", "api-skills").await;
    assert_eq!(
        (info.origin.as_str(), info.status.unwrap().state.as_str()),
        ("api", "available")
    );

    // disable / enable: a runtime override; records leave and come back.
    let dry = server
        .action("skills", "api-skills", "disable", true, json!({}))
        .await
        .unwrap();
    assert_eq!(dry.status, "dry-run");
    assert!(server.get("skills", "Skill", "api-skill").await.is_ok());
    server
        .action("skills", "api-skills", "disable", false, json!({}))
        .await
        .unwrap();
    assert_eq!(
        reason(
            &server
                .get("skills", "Skill", "api-skill")
                .await
                .unwrap_err()
        ),
        "ASSET_NOT_FOUND"
    );
    let info = server.source("skills", "api-skills").await;
    assert!(!info.enabled);
    assert_eq!(info.status.unwrap().state, "disabled");
    server
        .action("skills", "api-skills", "enable", false, json!({}))
        .await
        .unwrap();
    assert!(server.get("skills", "Skill", "api-skill").await.is_ok());
    let refreshed = server
        .action("skills", "sample-skills", "refresh", false, json!({}))
        .await
        .unwrap();
    assert_eq!(refreshed.status, "completed");

    // Bad requests get typed errors.
    let err = server
        .action("skills", "api-skills", "explode", false, json!({}))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), reason(&err)),
        (tonic::Code::InvalidArgument, "UNKNOWN_ACTION".to_string())
    );
    let err = server
        .action("skills", "api-skills", "apply", false, json!({}))
        .await
        .unwrap_err();
    assert_eq!(reason(&err), "INVALID_PARAMS");
    let err = server
        .action("skills", "nope", "refresh", false, json!({}))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), reason(&err)),
        (tonic::Code::NotFound, "SOURCE_NOT_FOUND".to_string())
    );
    let outside =
        json!({"name": "x", "type": "yaml", "properties": {"yamlCatalogPath": "/etc/passwd"}});
    let err = server
        .action(
            "skills",
            "outside",
            "apply",
            false,
            json!({"source": outside}),
        )
        .await
        .unwrap_err();
    assert_eq!(reason(&err), "SOURCE_CONFIG_ERROR");
    let env = json!({"name": "x", "type": "yaml", "properties": {"yamlContent": "skills: []", "authToken": {"fromEnv": "CATALOG_JWT_SECRET"}}});
    let err = server
        .action("skills", "env", "apply", false, json!({"source": env}))
        .await
        .unwrap_err();
    assert_eq!(reason(&err), "SOURCE_CONFIG_ERROR");
    let git = json!({"name": "x", "type": "git", "properties": {"repoUrl": "file:///nowhere"}});
    let err = server
        .action("skills", "gitsrc", "apply", false, json!({"source": git}))
        .await
        .unwrap_err();
    assert_eq!(reason(&err), "SOURCE_CONFIG_ERROR");
    assert!(
        server
            .sources()
            .get_source(pb::GetSourceRequest {
                plugin: "skills".into(),
                source_id: "gitsrc".into()
            })
            .await
            .is_err(),
        "a refused apply stores nothing"
    );

    assert_eq!(
        std::fs::read(&sources_file).unwrap(),
        original,
        "the sources file is never written"
    );
    server.stop().await;
}

#[tokio::test]
async fn health_is_not_serving_until_the_first_load_finished() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("agents.yaml");
    // A FIFO blocks the first read until the test writes to it.
    let status = std::process::Command::new("mkfifo")
        .arg(&data)
        .status()
        .unwrap();
    assert!(status.success());
    let fifo_link = dir.path().join("parked.fifo");
    std::fs::hard_link(&data, &fifo_link).unwrap();
    let sources = dir.path().join("sources.yaml");
    std::fs::write(&sources, "catalogs:\n  agents:\n    sources:\n      - {id: a, name: A, type: yaml, properties: {yamlCatalogPath: agents.yaml}}\n").unwrap();
    let url = crate::support::fresh_database(dir.path()).await;
    let options = Options {
        sources: vec![sources],
        ..Default::default()
    };
    let server = start_server(&url, &options).await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let check = |service: &str| tonic_health::pb::HealthCheckRequest {
        service: service.into(),
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    for service in ["", "catalog.v1alpha1.AssetService"] {
        let status = health
            .check(check(service))
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(
            status,
            tonic_health::pb::health_check_response::ServingStatus::NotServing as i32,
            "{service:?}"
        );
    }
    // NOT_SERVING for 300 ms means the first read is parked on the FIFO.
    // Put a plain file at the path first, so that every later read finds
    // it, then feed the parked read through a second link to the FIFO. The
    // write end is opened non-blocking: with no reader it fails at once
    // instead of hanging the test.
    let plain = dir.path().join("agents.tmp");
    std::fs::write(&plain, "agents: []\n").unwrap();
    std::fs::rename(&plain, &data).unwrap();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        const O_NONBLOCK: i32 = 0o4000;
        let mut fifo = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(O_NONBLOCK)
            .open(&fifo_link)
            .expect("the first load is waiting on the FIFO");
        fifo.write_all(b"agents: []\n").unwrap();
    })
    .await
    .unwrap();
    let mut serving = false;
    for _ in 0..100 {
        if health.check(check("")).await.unwrap().into_inner().status
            == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
        {
            serving = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(serving, "SERVING after the first load");
    server.stop().await;
}

#[tokio::test]
async fn two_replicas_share_one_database() {
    let dir = tempfile::tempdir().unwrap();
    let sources = copy_samples(dir.path());
    let url = crate::support::fresh_database(dir.path()).await;
    let first = TestServer::start_with(|_| Options {
        sources: vec![sources.clone()],
        reconcile_seconds: 1,
        database_url: Some(url.clone()),
        ..Default::default()
    })
    .await;
    let second = TestServer::start_with(|_| Options {
        sources: vec![sources.clone()],
        reconcile_seconds: 1,
        database_url: Some(url.clone()),
        ..Default::default()
    })
    .await;
    assert_eq!(
        first.all_assets("agents", "").await.len(),
        second.all_assets("agents", "").await.len()
    );
    let source =
        json!({"name": "Shared", "type": "yaml", "properties": {"yamlContent": "policies: []\n"}});
    first
        .action(
            "policies",
            "shared-policies",
            "apply",
            false,
            json!({"source": source}),
        )
        .await
        .unwrap();
    eventually("the other replica sees the applied source", || async {
        second
            .sources()
            .get_source(pb::GetSourceRequest {
                plugin: "policies".into(),
                source_id: "shared-policies".into(),
            })
            .await
            .is_ok()
    })
    .await;
    // The second replica has the asset assembled in its read cache...
    assert!(second
        .get("agents", "Agent", "release-notes-writer")
        .await
        .is_ok());
    first
        .action("agents", "team-agents", "disable", false, json!({}))
        .await
        .unwrap();
    eventually("the other replica sees the disabled source", || async {
        !second.source("agents", "team-agents").await.enabled
    })
    .await;
    // ...and drops it once it sees the other replica's write.
    eventually("the other replica's cache forgets the asset", || async {
        second
            .get("agents", "Agent", "release-notes-writer")
            .await
            .is_err()
    })
    .await;
    first.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn a_bad_source_entry_fails_alone_and_a_broken_sources_file_keeps_the_last_configuration() {
    let server = TestServer::start_with(|dir| {
        let sources = copy_samples(dir);
        let text = std::fs::read_to_string(&sources).unwrap();
        // The notebooks block comes last in the sample sources file, so a
        // source appended at the end joins its list.
        assert!(
            text.trim_end()
                .ends_with("yamlCatalogPath: data/notebooks.yaml"),
            "sample layout changed"
        );
        let extra = "      - id: ftp-notebooks\n        name: Over FTP\n        type: ftp\n";
        std::fs::write(&sources, format!("{text}{extra}")).unwrap();
        Options {
            sources: vec![sources],
            reconcile_seconds: 1,
            ..Default::default()
        }
    })
    .await;
    let bad = server.source("notebooks", "ftp-notebooks").await;
    let status = bad.status.unwrap();
    assert_eq!(status.state, "error");
    let error = status.last_error.unwrap();
    assert_eq!(
        (error.class.as_str(), error.field.as_str()),
        ("ConfigError", "type")
    );
    assert!(
        server.all_assets("notebooks", "").await.len() >= 5,
        "the good source of the plugin still loads"
    );

    let file = server.dir.path().join("samples/catalog-sources.yaml");
    std::fs::write(&file, "catalogs:\n  agents: [unclosed\n").unwrap();
    eventually(
        "the _config pseudo-source reports the parse error",
        || async {
            let list = server
                .sources()
                .list_sources(pb::ListSourcesRequest {
                    plugin: "agents".into(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            list.items.first().is_some_and(|s| s.id == "_config")
        },
    )
    .await;
    let list = server
        .sources()
        .list_sources(pb::ListSourcesRequest {
            plugin: "agents".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let config_error = list.items[0].status.clone().unwrap().last_error.unwrap();
    assert_eq!(config_error.class, "ConfigError");
    assert!(config_error.line >= 2, "{config_error:?}");
    assert!(
        list.items.iter().any(|s| s.id == "sample-agents"),
        "the previous configuration stays in force"
    );
    assert!(server.all_assets("agents", "").await.len() >= 5);
    server.stop().await;
}

#[tokio::test]
async fn source_actions_need_the_operator_role_on_every_listener() {
    let server = TestServer::start_with(|dir| Options {
        sources: vec![copy_samples(dir)],
        listen_any: true,
        ..Default::default()
    })
    .await;
    let viewer = server.token("val", &["viewer"]);
    let approver = server.token("ann", &["approver", "security-approver"]);
    for (token, action, dry_run) in [
        (&viewer, "disable", false),
        (&viewer, "disable", true),
        (&viewer, "validate", false),
        (&approver, "disable", false),
    ] {
        let err = server
            .sources_as(Some(token))
            .execute_source_action(pb::ExecuteSourceActionRequest {
                plugin: "agents".into(),
                source_id: "team-agents".into(),
                action: action.into(),
                dry_run,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(
            (err.code(), reason(&err)),
            (tonic::Code::PermissionDenied, "ROLE_REQUIRED".to_string()),
            "{action} dry_run={dry_run}"
        );
    }
    assert!(server.source("agents", "team-agents").await.enabled);
    let operator = server.token("otto", &["operator"]);
    let disabled = server
        .sources_as(Some(&operator))
        .execute_source_action(pb::ExecuteSourceActionRequest {
            plugin: "agents".into(),
            source_id: "team-agents".into(),
            action: "disable".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(disabled.status, "completed");
    assert!(!server.source("agents", "team-agents").await.enabled);
    server.stop().await;
}

/// A source applied while the periodic reconcile runs keeps its records:
/// the reconcile decides what to remove from the configuration as it is
/// when it removes, not as it was when it started.
#[tokio::test]
async fn sources_applied_during_reconciles_keep_their_records() {
    // A big file source that changes all the time keeps every reconcile
    // busy syncing it, so applies land while reconciles run.
    let big = |round: usize| {
        let mut text = format!("# round {round}\nskills:\n");
        for n in 0..3000 {
            text.push_str(&format!("  - {{name: bulk-{n}, version: '1', description: bulk, skillType: shell_command, inputSchema: {{type: object}}, timeoutSeconds: 5}}\n"));
        }
        text
    };
    let server = TestServer::start_with(|dir| {
        std::fs::write(dir.join("bulk.yaml"), big(0)).unwrap();
        std::fs::write(
            dir.join("bulk-sources.yaml"),
            "apiVersion: catalog/v1alpha1\nkind: CatalogSources\ncatalogs:\n  skills:\n    sources:\n      - {id: bulk, name: bulk, type: yaml, properties: {yamlCatalogPath: bulk.yaml}}\n",
        )
        .unwrap();
        Options {
            sources: vec![dir.join("bulk-sources.yaml")],
            reconcile_seconds: 1,
            ..Default::default()
        }
    })
    .await;
    let started = std::time::Instant::now();
    let mut applied = Vec::new();
    let mut i = 0;
    while started.elapsed() < Duration::from_secs(6) {
        std::fs::write(server.dir.path().join("bulk.yaml"), big(i + 1)).unwrap();
        let id = format!("race-{i}");
        let name = format!("race-skill-{i}");
        let content = format!("skills:\n  - name: {name}\n    version: '1'\n    description: applied during reconciles\n    skillType: shell_command\n    inputSchema: {{type: object}}\n    timeoutSeconds: 5\n");
        let source = json!({"name": id, "type": "yaml", "properties": {"yamlContent": content}});
        server
            .action("skills", &id, "apply", false, json!({"source": source}))
            .await
            .unwrap();
        applied.push(name);
        for name in &applied {
            assert!(
                server.get("skills", "Skill", name).await.is_ok(),
                "{name} missing after {} applies",
                applied.len()
            );
        }
        i += 1;
    }
    // Two more reconciles, then every applied source must still be served.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for name in &applied {
        assert!(
            server.get("skills", "Skill", name).await.is_ok(),
            "{name} was removed by a reconcile"
        );
    }
    server.stop().await;
}
