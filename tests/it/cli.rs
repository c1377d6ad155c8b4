//! catalogctl end to end: the real binary against a real server. One story
//! (list, filter, set governance, a gated approval requested by one user
//! and approved by another, promotion to stage and prod, rollback, history,
//! archive), a plugin added by manifest alone, the exit codes of spec 10
//! §2.4 with their hints, and golden files of the table, json and yaml
//! forms (tests/golden/cli/; regenerate with `UPDATE_GOLDEN=1 cargo test
//! --test it cli`).

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::support::{copy_samples, repo, Options, TestServer};

/// What one catalogctl run printed and returned.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "exit {}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    fn code(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}, got {}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!("not JSON ({e}):\n{}", self.stdout);
        })
    }
}

/// A server plus token files for the people of the story.
struct Story {
    server: TestServer,
    admin: PathBuf,
    approver: PathBuf,
}

impl Story {
    async fn start(options: impl FnOnce(&Path) -> Options) -> Story {
        let server = TestServer::start_with(options).await;
        let write = |file: &str, subject: &str, roles: &[&str]| {
            let path = server.dir.path().join(file);
            std::fs::write(&path, server.token(subject, roles)).unwrap();
            path
        };
        let admin = write(
            "admin.token",
            "dev-admin",
            &["admin", "operator", "approver", "security-approver"],
        );
        let approver = write(
            "approver.token",
            "dev-approver",
            &["approver", "security-approver"],
        );
        Story {
            server,
            admin,
            approver,
        }
    }

    fn addr(&self) -> String {
        let port = self.server.server.as_ref().unwrap().addr.port();
        format!("127.0.0.1:{port}")
    }

    /// Runs catalogctl as the admin.
    async fn run(&self, args: &[&str]) -> Run {
        self.run_as(&self.admin, args).await
    }

    /// Runs catalogctl with the token in `token_file`.
    async fn run_as(&self, token_file: &Path, args: &[&str]) -> Run {
        let mut full = vec![
            "--server".to_string(),
            self.addr(),
            "--token-file".to_string(),
            token_file.display().to_string(),
        ];
        full.extend(args.iter().map(|s| s.to_string()));
        catalogctl(full, self.server.dir.path(), &[]).await
    }
}

/// Runs `program` (a wrapper such as script(1)) with a clean environment.
async fn catalogctl_via(program: &'static str, args: Vec<String>, home: &Path) -> Run {
    run_program(program, args, home, &[]).await
}

/// Runs the binary with a clean environment (HOME in `home`, so no user
/// config file is read).
async fn catalogctl(args: Vec<String>, home: &Path, env: &[(&str, String)]) -> Run {
    run_program(env!("CARGO_BIN_EXE_catalogctl"), args, home, env).await
}

async fn run_program(
    program: &'static str,
    args: Vec<String>,
    home: &Path,
    env: &[(&str, String)],
) -> Run {
    let home = home.to_path_buf();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let output: Output = tokio::task::spawn_blocking(move || {
        let mut cmd = std::process::Command::new(program);
        cmd.args(&args)
            .env_clear()
            .env("HOME", &home)
            .current_dir(&home);
        if let Ok(path) = std::env::var("PATH") {
            cmd.env("PATH", path);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("catalogctl runs")
    })
    .await
    .unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn with_policies(dir: &Path) -> Options {
    Options {
        sources: vec![copy_samples(dir)],
        extra_args: vec![
            "--approval-policies".into(),
            repo()
                .join("samples/approval-policies.yaml")
                .display()
                .to_string(),
        ],
        ..Default::default()
    }
}

/// The request id in a PENDING APPROVAL line.
fn request_id(run: &Run) -> String {
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("PENDING APPROVAL"))
        .unwrap_or_else(|| panic!("no pending line in:\n{}", run.stdout));
    let id = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("request="))
        .unwrap()
        .to_string();
    assert!(
        run.stdout
            .contains(&format!("approve with: catalogctl approvals approve {id}")),
        "{}",
        run.stdout
    );
    id
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_story_from_listing_to_archive() {
    let s = Story::start(with_policies).await;
    const A: &str = "agents/Agent/incident-planner";

    // Discover and filter.
    let plugins = s.run(&["plugins", "list"]).await.ok();
    assert!(plugins.stdout.starts_with("NAME "), "{}", plugins.stdout);
    assert!(plugins.stdout.lines().any(|l| l.starts_with("agents ")));
    let table = s.run(&["agents", "list", "--all"]).await.ok();
    let header = table.stdout.lines().next().unwrap();
    assert!(
        header.contains("NAME") && header.contains("LIFECYCLE"),
        "{header}"
    );
    assert!(table.stdout.contains("incident-planner"));
    let planners = s
        .run(&["agents", "list", "--agentType", "planner", "-o", "json"])
        .await
        .ok()
        .json();
    assert_eq!(names(&planners), vec!["incident-planner"]);
    let routers = s
        .run(&[
            "-o",
            "json",
            "agents",
            "list",
            "--filter",
            "agentType=router",
        ])
        .await
        .ok()
        .json();
    assert!(routers["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["spec"]["agentType"] == "router"));
    let drafts = s
        .run(&[
            "agents",
            "list",
            "--lifecycle",
            "draft",
            "--page-size",
            "2",
            "--all",
            "-o",
            "json",
        ])
        .await
        .ok()
        .json();
    assert!(names(&drafts).len() > 2, "--all follows every page");

    // Set governance.
    s.run(&[
        "governance",
        "set",
        A,
        "--owner",
        "oncall-lead",
        "--team",
        "sre",
        "--risk-level",
        "medium",
        "--compliance-tag",
        "sox",
    ])
    .await
    .ok();
    let overlay = s
        .run(&["governance", "get", A, "-o", "json"])
        .await
        .ok()
        .json();
    assert_eq!(overlay["governance"]["owner"]["principal"], "oncall-lead");
    assert_eq!(overlay["governance"]["team"]["name"], "sre");
    let owned = s
        .run(&["agents", "list", "--owner", "oncall-lead", "-o", "json"])
        .await
        .ok()
        .json();
    assert_eq!(names(&owned), vec!["incident-planner"]);

    // Approval is gated: requested by dev-admin, approved by dev-approver.
    let pending = s.run(&["lifecycle", "approve", A]).await.code(10);
    let id = request_id(&pending);
    assert!(
        pending
            .stdout
            .contains("requires: 1 of [approver, security-approver]"),
        "{}",
        pending.stdout
    );
    let mine = s
        .run(&["approvals", "list", "-o", "json"])
        .await
        .ok()
        .json();
    assert_eq!(mine["approvals"][0]["requestId"], Value::String(id.clone()));
    let own = s
        .run(&["approvals", "approve", &id, "--comment", "self"])
        .await
        .code(4);
    assert!(
        own.stderr.contains("reason=SELF_APPROVAL_FORBIDDEN"),
        "{}",
        own.stderr
    );
    let approved = s
        .run_as(
            &s.approver,
            &["approvals", "approve", &id, "--comment", "looks right"],
        )
        .await
        .ok();
    assert!(approved.stdout.contains("Status:") && approved.stdout.contains("approved"));
    let got = s
        .run(&["approvals", "get", &id, "-o", "json"])
        .await
        .ok()
        .json();
    assert_eq!(got["status"], "approved");
    assert_eq!(got["decisions"][0]["approver"], "dev-approver");
    assert_eq!(got["execution"]["status"], "succeeded");

    // Versions, then dev → stage → prod, then a rollback.
    s.run(&["versions", "create", A, "--label", "v1"])
        .await
        .ok();
    let dup = s
        .run(&["versions", "create", A, "--label", "v1"])
        .await
        .code(6);
    assert!(
        dup.stderr.contains("reason=VERSION_LABEL_CONFLICT"),
        "{}",
        dup.stderr
    );
    s.run(&["bind", A, "--env", "dev", "--version", "v1"])
        .await
        .ok();
    s.run(&["agents", "promote", "incident-planner", "--to", "stage"])
        .await
        .ok();
    s.run(&["promote", A, "--to", "prod", "--from", "stage"])
        .await
        .ok();
    s.run(&["versions", "create", A, "--label", "v2"])
        .await
        .ok();
    s.run(&["promote", A, "--to", "prod", "--version", "v2"])
        .await
        .ok();
    let versions = s
        .run(&["versions", "list", A, "-o", "json"])
        .await
        .ok()
        .json();
    let labels: Vec<&str> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(labels[..2], ["v2", "v1"]);
    s.run(&[
        "agents",
        "rollback",
        "incident-planner",
        "--env",
        "prod",
        "--to-version",
        "v1",
    ])
    .await
    .ok();
    let bindings = s.run(&["bindings", A, "-o", "json"]).await.ok().json();
    let bound: Vec<(&str, &str)> = bindings["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["environment"].as_str().unwrap(),
                b["version"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(bound, vec![("dev", "v1"), ("stage", "v1"), ("prod", "v1")]);
    let detail = s.run(&["agents", "get", "incident-planner"]).await.ok();
    for part in [
        "LIFECYCLE",
        "GOVERNANCE",
        "PROVENANCE",
        "BINDINGS",
        "oncall-lead",
        "Content digest",
        "Signature",
    ] {
        assert!(
            detail.stdout.contains(part),
            "{part} missing:\n{}",
            detail.stdout
        );
    }

    // History, with diffs.
    let history = s.run(&["history", A]).await.ok();
    assert!(
        history.stdout.contains("lifecycle.setState"),
        "{}",
        history.stdout
    );
    assert!(
        history.stdout.contains("draft → approved"),
        "{}",
        history.stdout
    );
    let yaml = s
        .run(&[
            "agents",
            "history",
            "incident-planner",
            "-o",
            "yaml",
            "--action",
            "promotion.*",
        ])
        .await
        .ok();
    assert!(yaml.stdout.contains("diff:"), "{}", yaml.stdout);

    // Archive: refused while bound, then unbind, deprecate and archive
    // (archiving is gated too).
    s.run(&["unbind", A, "--env", "prod"]).await.ok();
    s.run(&["unbind", A, "--env", "stage"]).await.ok();
    s.run(&["unbind", A, "--env", "dev"]).await.ok();
    s.run(&[
        "lifecycle",
        "deprecate",
        A,
        "--replacement",
        "agents/Agent/k8s-troubleshooter",
    ])
    .await
    .ok();
    let archive = s
        .run(&["agents", "lifecycle.archive", "incident-planner"])
        .await
        .code(10);
    let id = request_id(&archive);
    s.run_as(&s.approver, &["approvals", "approve", &id])
        .await
        .ok();
    let listed = s
        .run(&["agents", "list", "--all", "-o", "json"])
        .await
        .ok()
        .json();
    assert!(!names(&listed).contains(&"incident-planner".to_string()));
    let archived = s
        .run(&[
            "agents",
            "list",
            "--all",
            "--include-archived",
            "--lifecycle",
            "archived",
            "-o",
            "json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(names(&archived), vec!["incident-planner"]);
    s.server.stop().await;
}

const MANIFEST: &str = r#"
apiVersion: catalog/v1alpha1
kind: PluginManifest
metadata:
  name: runbooks
  displayName: Runbooks
  description: Operational runbooks agents may follow
spec:
  catalogKey: runbooks
  sourceTypes: [yaml]
  entity:
    kind: Runbook
    plural: runbooks
    aliases: [rb]
    displayName: Runbook
    schema:
      - {name: name, type: string, required: true}
      - {name: severity, type: string, required: true, enum: [low, high]}
      - {name: steps, type: list}
    columns:
      - {name: name, displayName: Name, path: name, type: string, sortable: true}
      - {name: severity, displayName: Severity, path: severity, type: enum, sortable: true}
    filterFields:
      - {name: severity, displayName: Severity, path: severity, type: select, options: [low, high], operators: ["="]}
    detailFields:
      - {name: steps, displayName: Steps, path: steps, type: json, section: Steps}
"#;

fn with_runbooks(dir: &Path) -> Options {
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::write(plugins.join("runbooks.yaml"), MANIFEST).unwrap();
    std::fs::write(
        dir.join("runbooks.yaml"),
        "runbooks:\n  - {name: restart-pods, severity: low, steps: [drain, restart]}\n  - {name: failover, severity: high}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("runbook-sources.yaml"),
        "catalogs:\n  runbooks:\n    sources:\n      - {id: ops-runbooks, name: Ops runbooks, type: yaml, properties: {yamlCatalogPath: runbooks.yaml}}\n",
    )
    .unwrap();
    Options {
        sources: vec![dir.join("runbook-sources.yaml")],
        plugins_dir: Some(plugins),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_serves_a_plugin_added_by_manifest_alone() {
    let s = Story::start(with_runbooks).await;
    let plugins = s.run(&["plugins", "list"]).await.ok();
    assert!(
        plugins.stdout.lines().any(|l| l.starts_with("runbooks ")),
        "{}",
        plugins.stdout
    );
    let table = s.run(&["runbooks", "list"]).await.ok();
    assert_eq!(
        table
            .stdout
            .lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        vec!["NAME", "SEVERITY", "LIFECYCLE"]
    );
    let high = s
        .run(&["runbooks", "list", "--severity", "high", "-o", "json"])
        .await
        .ok()
        .json();
    assert_eq!(names(&high), vec!["failover"]);
    // `PLUGIN PLURAL|ALIAS COMMAND` names the kind.
    let by_alias = s
        .run(&["runbooks", "rb", "list", "-o", "json"])
        .await
        .ok()
        .json();
    assert_eq!(names(&by_alias).len(), 2);
    let bad = s
        .run(&["runbooks", "list", "--severity", "hihg"])
        .await
        .code(2);
    assert!(
        bad.stderr.contains("did you mean \"high\"?"),
        "{}",
        bad.stderr
    );
    let unknown = s
        .run(&["runbooks", "list", "--filter", "severty=low"])
        .await
        .code(2);
    assert!(
        unknown.stderr.contains("did you mean \"severity\"?"),
        "{}",
        unknown.stderr
    );
    let detail = s.run(&["runbooks", "get", "restart-pods"]).await.ok();
    assert!(
        detail
            .stdout
            .starts_with("Runbook runbooks/Runbook/restart-pods"),
        "{}",
        detail.stdout
    );
    assert!(
        detail.stdout.contains("STEPS") && detail.stdout.contains("drain,restart"),
        "{}",
        detail.stdout
    );
    assert!(detail.stdout.contains("ops-runbooks"), "{}", detail.stdout);
    // Governed like every kind: the verbs come from its capabilities.
    s.run(&[
        "governance",
        "set",
        "runbooks/rb/restart-pods",
        "--owner",
        "ops",
    ])
    .await
    .ok();
    let pending = s
        .run(&["runbooks", "lifecycle", "approve", "restart-pods"])
        .await
        .code(10);
    let id = request_id(&pending);
    s.run_as(&s.approver, &["approvals", "approve", &id])
        .await
        .ok();
    let state = s
        .run(&["runbooks", "get", "restart-pods", "-o", "json"])
        .await
        .ok()
        .json();
    assert_eq!(
        state["asset"]["governance"]["lifecycle"]["state"],
        "approved"
    );
    let sources = s.run(&["runbooks", "sources", "list"]).await.ok();
    assert!(
        sources.stdout.contains("ops-runbooks"),
        "{}",
        sources.stdout
    );
    let refreshed = s.run(&["runbooks", "sources", "refresh"]).await.ok();
    assert!(
        refreshed.stderr.is_empty(),
        "no progress when piped: {}",
        refreshed.stderr
    );
    // On a terminal (script(1) gives it one) the same command shows progress.
    if Path::new("/usr/bin/script").exists() {
        let line = format!(
            "{} --server {} --token-file {} runbooks sources refresh",
            env!("CARGO_BIN_EXE_catalogctl"),
            s.addr(),
            s.admin.display()
        );
        let tty = catalogctl_via(
            "/usr/bin/script",
            vec!["-qec".into(), line, "/dev/null".into()],
            s.server.dir.path(),
        )
        .await
        .ok();
        assert!(
            tty.stdout
                .contains("[1/1] refreshing runbooks source ops-runbooks"),
            "{}",
            tty.stdout
        );
    }
    s.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_exit_codes_and_suggestions() {
    let s = Story::start(with_policies).await;
    // 2: usage, with suggestions for plugin, kind and filter names.
    let typo = s.run(&["agnets", "list"]).await.code(2);
    assert!(
        typo.stderr.contains("unknown command or plugin \"agnets\""),
        "{}",
        typo.stderr
    );
    assert!(
        typo.stderr.contains("hint: did you mean \"agents\"?"),
        "{}",
        typo.stderr
    );
    let kind = s
        .run(&["governance", "get", "agents/Agnet/incident-planner"])
        .await
        .code(2);
    assert!(
        kind.stderr.contains("did you mean \"Agent\"?"),
        "{}",
        kind.stderr
    );
    let filter = s
        .run(&["agents", "list", "--filter", "agnetType=router"])
        .await
        .code(2);
    assert!(
        filter.stderr.contains("did you mean \"agentType\"?"),
        "{}",
        filter.stderr
    );
    // Values of the universal filters come from the capabilities too.
    let state = s
        .run(&["agents", "list", "--lifecycle", "aproved"])
        .await
        .code(2);
    assert!(
        state.stderr.contains("did you mean \"approved\"?"),
        "{}",
        state.stderr
    );
    s.run(&["agents", "list", "--order-by", "nmae"])
        .await
        .code(2);
    s.run(&["agents", "list", "--no-such-flag"]).await.code(2);
    s.run(&["agents", "promote", "incident-planner", "--to", "prdo"])
        .await
        .code(2);
    // 3: not found.
    let missing = s.run(&["agents", "get", "no-such-agent"]).await.code(3);
    assert!(missing.stderr.starts_with("error: "), "{}", missing.stderr);
    // 4: unauthenticated.
    let bad_token = s.server.dir.path().join("bad.token");
    std::fs::write(&bad_token, "not-a-jwt").unwrap();
    s.run_as(&bad_token, &["plugins", "list"]).await.code(4);
    // 5: precondition, with the reason; the client-side guard too.
    let invalid = s
        .run(&["lifecycle", "archive", "agents/Agent/billing-specialist"])
        .await
        .code(5);
    assert!(
        invalid.stderr.contains("reason=INVALID_TRANSITION"),
        "{}",
        invalid.stderr
    );
    let guard = s
        .run(&[
            "bind",
            "agents/Agent/billing-specialist",
            "--env",
            "prod",
            "--version",
            "@latest",
        ])
        .await
        .code(5);
    assert!(
        guard.stderr.contains("approved versions only"),
        "{}",
        guard.stderr
    );
    assert!(
        guard.stderr.contains("hint: approve it first"),
        "{}",
        guard.stderr
    );
    let server_says = s
        .run(&[
            "bind",
            "agents/Agent/billing-specialist",
            "--env",
            "prod",
            "--version",
            "@latest",
            "--force-server-check",
        ])
        .await
        .code(5);
    assert!(
        server_says.stderr.contains("reason="),
        "{}",
        server_says.stderr
    );
    // 6: conflict (a stale resource version).
    s.run(&[
        "governance",
        "set",
        "agents/Agent/billing-specialist",
        "--owner",
        "a",
    ])
    .await
    .ok();
    let stale = s
        .run(&[
            "governance",
            "set",
            "agents/Agent/billing-specialist",
            "--owner",
            "b",
            "--if-match",
            "1",
        ])
        .await;
    assert_eq!(stale.code, 6, "{}", stale.stderr);
    assert!(
        stale.stderr.contains("reason=CONCURRENT_MODIFICATION"),
        "{}",
        stale.stderr
    );
    // The correlation id travels and comes back in the error line.
    let traced = s
        .run(&["--correlation-id", "cli-trace-1", "agents", "get", "nope"])
        .await
        .code(3);
    assert!(
        traced.stderr.contains("correlationId=cli-trace-1"),
        "{}",
        traced.stderr
    );
    // -f patch and --clear.
    let patch = s.server.dir.path().join("patch.yaml");
    std::fs::write(&patch, "sla: {tier: gold, responseHours: 4}\n").unwrap();
    let b = "agents/Agent/billing-specialist";
    s.run(&[
        "governance",
        "set",
        b,
        "-f",
        patch.to_str().unwrap(),
        "--team",
        "t",
    ])
    .await
    .ok();
    s.run(&["governance", "set", b, "--clear", "team"])
        .await
        .ok();
    let g = s
        .run(&["governance", "get", b, "-o", "json"])
        .await
        .ok()
        .json();
    assert_eq!(g["governance"]["sla"]["responseHours"], 4);
    assert!(g["governance"].get("team").is_none(), "{g}");
    // 7: unavailable.
    let down = catalogctl(
        vec![
            "--server".into(),
            "127.0.0.1:1".into(),
            "plugins".into(),
            "list".into(),
        ],
        s.server.dir.path(),
        &[],
    )
    .await
    .code(7);
    assert!(
        down.stderr.starts_with("error: cannot reach"),
        "{}",
        down.stderr
    );
    // 0: dry run of a gated action.
    s.run(&[
        "governance",
        "set",
        "agents/Agent/k8s-troubleshooter",
        "--owner",
        "x",
    ])
    .await
    .ok();
    s.run(&[
        "--dry-run",
        "lifecycle",
        "approve",
        "agents/Agent/k8s-troubleshooter",
    ])
    .await
    .ok();
    // A pending approval in JSON: the ActionResult on stdout, the way to
    // approve it on stderr, exit 10.
    let pending = s
        .run(&[
            "-o",
            "json",
            "lifecycle",
            "approve",
            "agents/Agent/k8s-troubleshooter",
        ])
        .await
        .code(10);
    assert_eq!(pending.json()["status"], "pending-approval");
    assert!(
        pending
            .stderr
            .contains("approve with: catalogctl approvals approve"),
        "{}",
        pending.stderr
    );
    let health = s.run(&["health"]).await.ok();
    assert_eq!(health.stdout, "SERVING\n");
    // Help and completion.
    let help = s.run(&["agents", "list", "--help"]).await.ok();
    assert!(help.stdout.contains("--agentType"), "{}", help.stdout);
    for shell in ["bash", "zsh", "fish"] {
        let script = s.run(&["completion", shell]).await.ok();
        assert!(script.stdout.contains("catalogctl"), "{shell}");
        assert!(
            script.stdout.contains("agentType"),
            "{shell}: plugins join the script ({})",
            script.stderr
        );
    }
    s.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_uses_the_local_development_token_with_no_flags() {
    if std::env::var("CATALOG_TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
        // Development credentials live next to a SQLite file only.
        return;
    }
    let server = TestServer::start_with(|dir| Options {
        sources: vec![copy_samples(dir)],
        jwt_secret: None,
        ..Default::default()
    })
    .await;
    let port = server.server.as_ref().unwrap().addr.port();
    let env = [
        ("CATALOG_ADDR", format!("127.0.0.1:{port}")),
        ("CATALOG_DATABASE_URL", server.database_url.clone()),
    ];
    let run = catalogctl(
        vec!["plugins".into(), "list".into()],
        server.dir.path(),
        &env,
    )
    .await
    .ok();
    assert!(run.stdout.contains("agents"), "{}", run.stdout);
    // A config file context works the same way.
    let config = server.dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "currentContext: local\ncontexts:\n  local: {{server: \"127.0.0.1:{port}\", tokenFile: {:?}, output: json}}\n",
            server.dir.path().join("dev-viewer.token").display().to_string()
        ),
    )
    .unwrap();
    let env = [("CATALOGCTL_CONFIG", config.display().to_string())];
    let run = catalogctl(
        vec!["plugins".into(), "list".into()],
        server.dir.path(),
        &env,
    )
    .await
    .ok();
    assert!(run.json()["plugins"]
        .as_array()
        .is_some_and(|p| !p.is_empty()));
    let missing = catalogctl(
        vec![
            "--context".into(),
            "prdo".into(),
            "plugins".into(),
            "list".into(),
        ],
        server.dir.path(),
        &env,
    )
    .await
    .code(2);
    assert!(
        missing.stderr.contains("unknown context"),
        "{}",
        missing.stderr
    );
    server.stop().await;
}

/// Replaces what varies between runs: times, UUIDs, hashes, the temp dir.
fn normalize(text: &str, dir: &Path) -> String {
    let text = text.replace(&dir.display().to_string(), "<DIR>");
    let rules = [
        (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", "<TIME>"),
        (
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "<UUID>",
        ),
        (r#"("?(?:hash|prevHash)"?:\s*)"?[0-9a-z:]+"?"#, "${1}<HASH>"),
        (r#"("?sequence"?:\s*)['"]?\d+['"]?"#, "${1}<SEQ>"),
        (r"version [0-9a-f]{8}\b", "version <VID>"),
    ];
    let mut out = text;
    for (pattern, replacement) in rules {
        out = regex::Regex::new(pattern)
            .unwrap()
            .replace_all(&out, replacement)
            .into_owned();
    }
    out
}

/// Compares with tests/golden/cli/`name`, or rewrites it with UPDATE_GOLDEN=1.
fn golden(name: &str, actual: &str) -> Option<String> {
    let path = repo().join("tests/golden/cli").join(name);
    if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return None;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    (expected != actual).then(|| {
        format!(
            "{name} differs from {} (UPDATE_GOLDEN=1 rewrites it)\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_golden_outputs() {
    let s = Story::start(with_policies).await;
    const A: &str = "agents/Agent/incident-planner";
    s.run(&[
        "governance",
        "set",
        A,
        "--owner",
        "oncall-lead",
        "--team",
        "sre",
    ])
    .await
    .ok();
    let id = request_id(&s.run(&["lifecycle", "approve", A]).await.code(10));
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("plugins-list.txt", vec!["plugins", "list"]),
        (
            "agents-list.txt",
            vec!["agents", "list", "--agentType", "planner"],
        ),
        (
            "agents-list.json",
            vec!["agents", "list", "--agentType", "planner", "-o", "json"],
        ),
        (
            "agents-list.yaml",
            vec!["agents", "list", "--agentType", "planner", "-o", "yaml"],
        ),
        ("agents-get.txt", vec!["agents", "get", "incident-planner"]),
        ("governance-get.txt", vec!["governance", "get", A]),
        (
            "governance-get.yaml",
            vec!["governance", "get", A, "-o", "yaml"],
        ),
        ("versions-list.txt", vec!["versions", "list", A]),
        ("bindings.txt", vec!["bindings", A]),
        ("approvals-list.txt", vec!["approvals", "list"]),
        ("approvals-get.txt", vec!["approvals", "get", &id]),
        (
            "approvals-get.json",
            vec!["approvals", "get", &id, "-o", "json"],
        ),
        ("history.txt", vec!["history", A]),
        ("history.yaml", vec!["history", A, "-o", "yaml"]),
    ];
    let mut failures = Vec::new();
    for (name, args) in cases {
        let run = s.run(&args).await.ok();
        if let Some(diff) = golden(name, &normalize(&run.stdout, s.server.dir.path())) {
            failures.push(diff);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    s.server.stop().await;
}

/// Spec 10: the generic client has no plugin-specific branch. No plugin
/// name, plural, alias or kind of the built-in manifests appears in
/// src/cli outside comments and unit tests.
#[test]
fn cli_code_names_no_plugin() {
    let mut words: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(repo().join("src/plugins/builtin")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let manifest: Value = serde_norway::from_str(&text).unwrap();
        words.push(manifest["metadata"]["name"].as_str().unwrap().to_string());
        let entities = match &manifest["spec"]["entities"] {
            Value::Array(list) => list.clone(),
            _ => vec![manifest["spec"]["entity"].clone()],
        };
        for entity in entities {
            for key in ["kind", "plural"] {
                if let Some(word) = entity[key].as_str() {
                    words.push(word.to_string());
                }
            }
            for alias in entity["aliases"].as_array().into_iter().flatten() {
                words.push(alias.as_str().unwrap().to_string());
            }
        }
    }
    assert!(words.len() >= 24, "{words:?}");
    let mut found = Vec::new();
    let mut files = vec![repo().join("src/bin/catalogctl.rs")];
    let mut dirs = vec![repo().join("src/cli")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for (n, line) in code.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            let tokens: Vec<&str> = line
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .collect();
            for word in &words {
                if tokens.contains(&word.as_str()) {
                    found.push(format!("{}:{}: {word}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "plugin names in generic CLI code: {found:?}"
    );
}
