//! `catalog-conformance`: tests any server that speaks the catalog's gRPC
//! API (spec 11), plugin by plugin, knowing nothing of how it is built.
//! It discovers the plugins from the capabilities RPC, loads its own
//! fixtures through the source actions, runs the checks with four
//! principals, prints a summary per plugin and area, and writes JUnit XML.
//! The binary's exit status: 0 all checks passed, 1 a check failed, 2 the run could not
//! start (server unreachable, bad arguments, missing fixtures).

pub mod api;
pub mod checks;
pub mod fixtures;
pub mod goldens;
pub mod http;
pub mod identity;
pub mod proto;
pub mod report;
pub mod schema;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;

use api::{from_struct, to_struct, Api};
use checks::{Ctx, Subject};
use identity::Identities;
use proto::{gpb, pb};

#[derive(Parser)]
#[command(
    name = "catalog-conformance",
    version,
    about = "Conformance suite for catalog servers (spec 11)"
)]
pub struct Args {
    /// Server address host:port; repeat to spread calls over replicas.
    #[arg(
        long = "target",
        env = "CONFORMANCE_TARGET",
        value_delimiter = ',',
        default_value = "127.0.0.1:8080"
    )]
    pub targets: Vec<String>,
    /// The server's HS256 secret: the harness mints its four principals.
    #[arg(long, env = "CONFORMANCE_JWT_SECRET_FILE")]
    pub jwt_secret_file: Option<PathBuf>,
    /// Tokens per principal instead of a secret.
    #[arg(long, env = "CONFORMANCE_OPERATOR_TOKEN", hide_env_values = true)]
    pub operator_token: Option<String>,
    #[arg(long, env = "CONFORMANCE_APPROVER1_TOKEN", hide_env_values = true)]
    pub approver1_token: Option<String>,
    #[arg(long, env = "CONFORMANCE_APPROVER2_TOKEN", hide_env_values = true)]
    pub approver2_token: Option<String>,
    #[arg(long, env = "CONFORMANCE_VIEWER_TOKEN", hide_env_values = true)]
    pub viewer_token: Option<String>,
    /// Test only these plugins (repeatable); default: every plugin.
    #[arg(long = "plugin")]
    pub plugins: Vec<String>,
    /// Write JUnit XML here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Write one JSON report per plugin into this folder.
    #[arg(long)]
    pub json_dir: Option<PathBuf>,
    /// Fixtures folder (data/<plugin>.yaml, approval-policies.yaml).
    #[arg(
        long,
        env = "CONFORMANCE_FIXTURES",
        default_value = "conformance/fixtures"
    )]
    pub fixtures: PathBuf,
    /// Where rendered fixtures go; the server must be allowed to read it
    /// (CATALOG_SOURCE_ROOTS). Default: <fixtures>/.runs
    #[arg(long, env = "CONFORMANCE_WORK_DIR")]
    pub work_dir: Option<PathBuf>,
    /// Skip the checks that wait (APR-07 expiry).
    #[arg(long)]
    pub quick: bool,
    /// Keep this run's fixture sources enabled afterwards.
    #[arg(long)]
    pub keep: bool,
    /// Write the answers BWC-01 compares as the new goldens
    /// (<fixtures>/goldens/<plugin>/) instead of comparing them.
    #[arg(long, env = "CONFORMANCE_UPDATE_GOLDENS", value_parser = clap::builder::BoolishValueParser::new())]
    pub update_goldens: bool,
}

/// Runs the suite; returns the report, or why the run could not start.
pub async fn run(args: Args) -> Result<report::Report, String> {
    let run_id = run_id();
    let ids = identities(&args)?;
    let api = Api::new(&args.targets, &run_id)?;
    println!(
        "conformance run {run_id} against {}",
        args.targets.join(", ")
    );
    wait_ready(&api).await?;

    let config = api
        .governance()
        .get_governance_config(api.req(&ids.viewer, gpb::GetGovernanceConfigRequest {}))
        .await
        .map_err(|e| format!("GetGovernanceConfig: {}", checks::describe(&e)))?
        .into_inner();
    let expected_rules = fixtures::expected_rule_names(&args.fixtures)?;
    let running: Vec<String> = config
        .approval_policies
        .as_ref()
        .map(|p| p.rules.iter().map(from_struct).collect::<Vec<_>>())
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r["name"].as_str().map(str::to_string))
        .collect();
    let policy_matches = expected_rules.iter().all(|r| running.contains(r));
    if !policy_matches {
        println!(
            "NOTE: the server does not run {} (expected rules {expected_rules:?}, server has {running:?}); the checks that need that policy are skipped",
            args.fixtures.join("approval-policies.yaml").display()
        );
    }
    let ctx = Ctx {
        api,
        ids,
        report: Default::default(),
        run_id: run_id.clone(),
        policy_matches,
        environments: config.environments.clone(),
        quick: args.quick,
        fixtures: args.fixtures.clone(),
        update_goldens: args.update_goldens,
    };

    let listing = ctx
        .api
        .plugins()
        .list_plugins(ctx.api.req(&ctx.ids.viewer, pb::ListPluginsRequest {}))
        .await
        .map_err(|e| format!("ListPlugins: {}", checks::describe(&e)))?
        .into_inner();
    let work_dir = args
        .work_dir
        .clone()
        .unwrap_or_else(|| args.fixtures.join(".runs"))
        .join(&run_id);
    let mut subjects = Vec::new();
    for info in listing.plugins {
        if !args.plugins.is_empty() && !args.plugins.contains(&info.name) {
            continue;
        }
        println!("\n== {} (setting up)", info.name);
        match set_up(&ctx, &args, &work_dir, info).await {
            Ok(subject) => subjects.push(subject),
            Err(e) => return Err(e),
        }
    }
    for wanted in &args.plugins {
        if !subjects.iter().any(|s| &s.plugin == wanted) {
            return Err(format!("the server has no plugin {wanted:?}"));
        }
    }
    for s in &subjects {
        println!("\n== {} ({} {})", s.plugin, s.kind(), s.names.join(", "));
        checks::run_plugin(&ctx, s).await;
    }
    if !args.keep {
        for s in &subjects {
            tear_down(&ctx, s).await;
        }
    }
    println!("{}", ctx.report.summary());
    if let Some(path) = &args.junit {
        ctx.report
            .write_junit(path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if let Some(dir) = &args.json_dir {
        ctx.report
            .write_json(dir)
            .map_err(|e| format!("cannot write {}: {e}", dir.display()))?;
    }
    Ok(ctx.report)
}

/// Timestamp plus randomness, lowercase, usable in names and labels.
fn run_id() -> String {
    let mut bytes = [0u8; 3];
    let _ = getrandom::fill(&mut bytes);
    format!(
        "{}{}",
        chrono::Utc::now().format("%y%m%d%H%M%S"),
        hex::encode(bytes)
    )
}

fn identities(args: &Args) -> Result<Identities, String> {
    match (
        &args.jwt_secret_file,
        &args.operator_token,
        &args.approver1_token,
        &args.approver2_token,
        &args.viewer_token,
    ) {
        (_, Some(o), Some(a1), Some(a2), Some(v)) => {
            Identities::given([o.clone(), a1.clone(), a2.clone(), v.clone()])
        }
        (Some(secret), ..) => Identities::minted(&identity::read_secret(secret)?),
        _ => Err(
            "give --jwt-secret-file (the server's HS256 secret) or all four principal tokens"
                .into(),
        ),
    }
}

/// Polls gRPC health on every target for up to 60 s.
async fn wait_ready(api: &Api) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    for channel in api.all_channels() {
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
        loop {
            let serving = health
                .check(tonic_health::pb::HealthCheckRequest::default())
                .await
                .is_ok_and(|r| {
                    r.into_inner().status
                        == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
                });
            if serving {
                break;
            }
            if Instant::now() > deadline {
                return Err("a target did not report SERVING within 60 s".into());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    Ok(())
}

/// Renders, validates and applies the plugin's fixture source.
async fn set_up(
    ctx: &Ctx,
    args: &Args,
    work_dir: &std::path::Path,
    info: pb::PluginInfo,
) -> Result<Subject, String> {
    let plugin = info.name.clone();
    let caps = ctx
        .api
        .plugins()
        .get_plugin_capabilities(ctx.api.req(
            &ctx.ids.viewer,
            pb::GetPluginCapabilitiesRequest {
                plugin: plugin.clone(),
            },
        ))
        .await
        .map_err(|e| format!("{plugin}: GetPluginCapabilities: {}", checks::describe(&e)))?
        .into_inner();
    let entity = caps
        .entities
        .first()
        .cloned()
        .ok_or_else(|| format!("{plugin}: capabilities declare no entity"))?;
    let rendered = fixtures::render(&args.fixtures, work_dir, &plugin, &ctx.run_id)?;
    let source_id = format!("ct-{}", ctx.run_id);
    let params = serde_json::json!({"source": fixtures::source_definition(&source_id, &rendered)});
    let action = |name: &str| pb::ExecuteSourceActionRequest {
        plugin: plugin.clone(),
        source_id: source_id.clone(),
        action: name.to_string(),
        params: Some(to_struct(&params)),
        reason: format!("conformance {}", ctx.run_id),
        ..Default::default()
    };
    let validated = ctx
        .api
        .sources()
        .execute_source_action(ctx.api.req(&ctx.ids.operator, action("validate")))
        .await
        .map_err(|e| {
            format!(
                "{plugin}: validate of {}: {}",
                rendered.path.display(),
                checks::describe(&e)
            )
        })?
        .into_inner();
    ctx.api
        .sources()
        .execute_source_action(ctx.api.req(&ctx.ids.operator, action("apply")))
        .await
        .map_err(|e| {
            format!(
                "{plugin}: apply of {}: {}",
                rendered.path.display(),
                checks::describe(&e)
            )
        })?;
    let text = std::fs::read_to_string(&rendered.path).unwrap_or_default();
    let prefix = format!("ct-{}-{}", entity.plural, ctx.run_id);
    let broken = format!("{prefix}-broken");
    Ok(Subject {
        plugin,
        info,
        caps,
        names: [1, 2, 3].map(|i| format!("{prefix}-{i}")),
        broken: text.contains(&broken).then_some(broken),
        entity,
        source_id,
        fixture: rendered,
        validate_diagnostics: validated.diagnostics,
    })
}

/// Disables the run's source so repeated runs do not pile up assets.
async fn tear_down(ctx: &Ctx, s: &Subject) {
    let request = pb::ExecuteSourceActionRequest {
        plugin: s.plugin.clone(),
        source_id: s.source_id.clone(),
        action: "disable".into(),
        reason: format!("conformance {} done", ctx.run_id),
        ..Default::default()
    };
    if let Err(e) = ctx
        .api
        .sources()
        .execute_source_action(ctx.api.req(&ctx.ids.operator, request))
        .await
    {
        eprintln!(
            "warning: could not disable source {}/{}: {}",
            s.plugin,
            s.source_id,
            checks::describe(&e)
        );
    }
}
