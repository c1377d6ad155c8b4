//! Versions and environments: `versions list|get|create`, `bindings`,
//! `bind`, `unbind`, `promote`, `rollback`. Environments are checked
//! against the kind's capabilities, and a bind into an environment that
//! needs an approved version stops before the call when the version is not
//! approved (spec 10 §2.2, client-side guard; `--force-server-check` lets
//! the server decide).

use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

use super::governance::{execute, print_result};
use super::{short_time, AssetArg, Ctx, Outcome};
use crate::cli::caps::Asset;
use crate::cli::config::Format;
use crate::cli::errors::CliError;
use crate::cli::output::{self, cell, more_footer, Table};
use crate::cli::suggest;
use crate::proto::catalog::governance::v1alpha1 as gpb;

/// Versions of an asset.
#[derive(Debug, Subcommand)]
pub enum VersionsCmd {
    /// List versions, newest first (ListVersions).
    List(VersionsList),
    /// Show one version (GetVersion).
    Get {
        #[command(flatten)]
        target: AssetArg,
        /// Version id, label or @alias.
        version: String,
    },
    /// Snapshot the asset as a new version (version.create).
    Create {
        #[command(flatten)]
        target: AssetArg,
        /// Label (default: the record's version field, else r<sequence>).
        #[arg(long)]
        label: Option<String>,
    },
}

/// Flags of `versions list`.
#[derive(Debug, Args)]
pub struct VersionsList {
    #[command(flatten)]
    pub target: AssetArg,
    /// Version states to keep (repeatable).
    #[arg(long)]
    pub state: Vec<String>,
}

/// Flags of `bind`.
#[derive(Debug, Args)]
pub struct BindArgs {
    #[command(flatten)]
    target: AssetArg,
    /// Environment.
    #[arg(long)]
    env: String,
    /// Version id, label or @alias.
    #[arg(long)]
    version: String,
    /// Allow a deprecated version.
    #[arg(long)]
    allow_deprecated: bool,
    /// Skip the client-side approved-version check.
    #[arg(long)]
    force_server_check: bool,
}

/// Flags of `unbind`.
#[derive(Debug, Args)]
pub struct UnbindArgs {
    #[command(flatten)]
    target: AssetArg,
    /// Environment.
    #[arg(long)]
    env: String,
}

/// Flags of `promote`.
#[derive(Debug, Args)]
pub struct PromoteArgs {
    #[command(flatten)]
    target: AssetArg,
    /// Environment to promote into.
    #[arg(long)]
    to: String,
    /// Take the version bound to this environment.
    #[arg(long, conflicts_with_all = ["version", "latest_approved"])]
    from: Option<String>,
    /// Take this version (id, label or @alias).
    #[arg(long, conflicts_with = "latest_approved")]
    version: Option<String>,
    /// Take the latest approved version.
    #[arg(long)]
    latest_approved: bool,
    /// Allow a deprecated version.
    #[arg(long)]
    allow_deprecated: bool,
    /// Skip the client-side approved-version check.
    #[arg(long)]
    force_server_check: bool,
}

/// Flags of `rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    target: AssetArg,
    /// Environment.
    #[arg(long)]
    env: String,
    /// A version the environment had before.
    #[arg(long, value_name = "V")]
    to_version: String,
    /// Allow a deprecated version.
    #[arg(long)]
    allow_deprecated: bool,
}

/// Runs a versions command.
pub async fn run(ctx: &Ctx, cmd: VersionsCmd, scope: Option<&str>) -> Outcome {
    match cmd {
        VersionsCmd::List(list) => versions_list(ctx, list, scope).await,
        VersionsCmd::Get { target, version } => {
            let asset = target.resolve(ctx, scope).await?;
            let found = get_version(ctx, &asset, &version).await?;
            let json = output::to_json("catalog.governance.v1alpha1.Version", &found);
            if ctx.format != Format::Table {
                output::print_document(ctx.format, &json)?;
                return Ok(0);
            }
            let mut block = super::Block::default();
            block.kv("Version", cell(json.get("version")));
            block.kv("Version id", cell(json.get("versionId")));
            block.kv("Sequence", cell(json.get("sequence")));
            block.kv(
                "State",
                cell(output::at_path(&json, "lifecycle.state").as_ref()),
            );
            block.kv("Created", short_time(json.get("createdAt")));
            block.kv("Created by", cell(json.get("createdBy")));
            block.kv("Trigger", cell(json.get("trigger")));
            block.kv("Content digest", cell(json.get("contentDigest")));
            block.kv("Source", cell(json.get("sourceId")));
            block.kv("Source revision", cell(json.get("sourceRevisionRef")));
            block.kv("Aliases", cell(json.get("aliases")));
            block.kv("Environments", cell(json.get("boundEnvironments")));
            output::write_stdout(&block.render(&asset.reference()))?;
            Ok(0)
        }
        VersionsCmd::Create { target, label } => {
            let asset = target.resolve(ctx, scope).await?;
            let mut params = Map::new();
            if let Some(label) = label {
                params.insert("version".into(), json!(label));
            }
            execute(ctx, &asset, "version.create", Value::Object(params)).await
        }
    }
}

async fn get_version(ctx: &Ctx, asset: &Asset, version: &str) -> Result<gpb::Version, CliError> {
    Ok(ctx
        .clients
        .governance()
        .get_version(gpb::GetVersionRequest {
            plugin: asset.plugin.clone(),
            kind: asset.kind.clone(),
            name: asset.name.clone(),
            version_id: version.to_string(),
        })
        .await?
        .into_inner())
}

/// `versions list` (also `catalogctl PLUGIN versions NAME`).
pub async fn versions_list(ctx: &Ctx, list: VersionsList, scope: Option<&str>) -> Outcome {
    let asset = list.target.resolve(ctx, scope).await?;
    let mut token = ctx.global.page_token.clone().unwrap_or_default();
    let mut all = gpb::ListVersionsResponse::default();
    loop {
        let page = ctx
            .clients
            .governance()
            .list_versions(gpb::ListVersionsRequest {
                plugin: asset.plugin.clone(),
                kind: asset.kind.clone(),
                name: asset.name.clone(),
                lifecycle_state: list.state.clone(),
                page_size: ctx.global.page_size.unwrap_or(0),
                page_token: token,
                ..Default::default()
            })
            .await?
            .into_inner();
        all.versions.extend(page.versions);
        all.next_page_token = page.next_page_token.clone();
        if !ctx.global.all || page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    all.size = all.versions.len() as i32;
    let json = output::to_json("catalog.governance.v1alpha1.ListVersionsResponse", &all);
    if ctx.format != Format::Table {
        output::print_document(ctx.format, &json)?;
        return Ok(0);
    }
    let mut table = Table::new([
        "VERSION",
        "STATE",
        "SEQ",
        "CREATED",
        "CREATED BY",
        "TRIGGER",
        "DIGEST",
        "ALIASES",
        "ENVIRONMENTS",
    ])
    .max_width(6, 19);
    for v in json
        .get("versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        table.row(vec![
            cell(v.get("version")),
            cell(output::at_path(v, "lifecycle.state").as_ref()),
            cell(v.get("sequence")),
            short_time(v.get("createdAt")),
            cell(v.get("createdBy")),
            cell(v.get("trigger")),
            cell(v.get("contentDigest")),
            cell(v.get("aliases")),
            cell(v.get("boundEnvironments")),
        ]);
    }
    let mut out = table.render();
    out.push_str(&more_footer(all.versions.len(), &all.next_page_token));
    output::write_stdout(&out)?;
    Ok(0)
}

/// The BINDINGS table from the JSON list of Binding.
pub fn bindings_table(bindings: Option<&Value>) -> String {
    let mut table = Table::new([
        "ENVIRONMENT",
        "VERSION",
        "STATE",
        "BOUND BY",
        "BOUND AT",
        "WARNINGS",
    ]);
    for b in bindings.and_then(Value::as_array).into_iter().flatten() {
        let warnings: Vec<String> = b
            .get("warnings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|w| cell(w.get("code")))
            .collect();
        let mut env = cell(b.get("environment"));
        if b.get("configured") != Some(&json!(true)) {
            env.push_str(" (unconfigured)");
        }
        table.row(vec![
            env,
            cell(b.get("version")),
            cell(b.get("versionLifecycleState")),
            cell(b.get("boundBy")),
            short_time(b.get("boundAt")),
            warnings.join(","),
        ]);
    }
    format!("BINDINGS\n{}", table.render())
}

/// `bindings ASSET`.
pub async fn bindings(ctx: &Ctx, target: &AssetArg, scope: Option<&str>) -> Outcome {
    let asset = target.resolve(ctx, scope).await?;
    let response = list_bindings(ctx, &asset).await?;
    let json = output::to_json(
        "catalog.governance.v1alpha1.ListBindingsResponse",
        &response,
    );
    if ctx.format != Format::Table {
        output::print_document(ctx.format, &json)?;
    } else {
        output::write_stdout(&bindings_table(json.get("bindings")))?;
    }
    Ok(0)
}

/// Every binding of an asset.
pub async fn list_bindings(
    ctx: &Ctx,
    asset: &Asset,
) -> Result<gpb::ListBindingsResponse, CliError> {
    Ok(ctx
        .clients
        .governance()
        .list_bindings(gpb::ListBindingsRequest {
            plugin: asset.plugin.clone(),
            kind: asset.kind.clone(),
            name: asset.name.clone(),
            page_size: 500,
            page_token: String::new(),
        })
        .await?
        .into_inner())
}

/// Checks an environment name against the kind's configured environments.
fn check_env(asset: &Asset, env: &str) -> Result<(), CliError> {
    let envs = asset
        .governance()
        .and_then(|g| g.versioning.as_ref())
        .map(|v| v.environments.clone())
        .unwrap_or_default();
    if envs.is_empty() || envs.iter().any(|e| e == env) {
        return Ok(());
    }
    Err(
        CliError::usage(format!("{env:?} is not a configured environment"))
            .with_hint(suggest::hint(env, envs.iter().map(String::as_str))),
    )
}

/// Stops a bind of a non-approved version into an environment that needs
/// approved ones (the server would refuse it anyway).
async fn guard(
    ctx: &Ctx,
    asset: &Asset,
    env: &str,
    version: Option<&str>,
    from_env: Option<&str>,
) -> Result<(), CliError> {
    let required = asset
        .governance()
        .and_then(|g| g.versioning.as_ref())
        .is_some_and(|v| v.require_approved_environments.iter().any(|e| e == env));
    if !required || ctx.global.dry_run {
        return Ok(());
    }
    let (label, state) = if let Some(version) = version {
        let found = get_version(ctx, asset, version).await?;
        (
            found.version.clone(),
            found.lifecycle.map(|l| l.state).unwrap_or_default(),
        )
    } else if let Some(from) = from_env {
        let bindings = list_bindings(ctx, asset).await?;
        match bindings.bindings.iter().find(|b| b.environment == from) {
            Some(b) if !b.version_id.is_empty() => {
                (b.version.clone(), b.version_lifecycle_state.clone())
            }
            _ => return Ok(()),
        }
    } else {
        return Ok(());
    };
    if state == "approved" {
        return Ok(());
    }
    Err(CliError::precondition(
        format!("{env} takes approved versions only; version {label} is {state}"),
        Some(format!(
            "approve it first: catalogctl lifecycle approve {} --version {label} (or pass --force-server-check)",
            asset.reference()
        )),
    ))
}

/// `bind ASSET --env E --version V` (SetBinding).
pub async fn bind(ctx: &Ctx, args: BindArgs, scope: Option<&str>) -> Outcome {
    let asset = args.target.resolve(ctx, scope).await?;
    check_env(&asset, &args.env)?;
    if !args.force_server_check {
        guard(ctx, &asset, &args.env, Some(&args.version), None).await?;
    }
    let result = ctx
        .clients
        .governance()
        .set_binding(gpb::SetBindingRequest {
            plugin: asset.plugin.clone(),
            kind: asset.kind.clone(),
            name: asset.name.clone(),
            environment: args.env,
            version_id: args.version,
            allow_deprecated: args.allow_deprecated,
            reason: ctx.global.reason.clone().unwrap_or_default(),
            dry_run: ctx.global.dry_run,
        })
        .await?
        .into_inner();
    print_result(ctx, &asset.reference(), &result).await
}

/// `unbind ASSET --env E` (DeleteBinding).
pub async fn unbind(ctx: &Ctx, args: UnbindArgs, scope: Option<&str>) -> Outcome {
    let asset = args.target.resolve(ctx, scope).await?;
    check_env(&asset, &args.env)?;
    let result = ctx
        .clients
        .governance()
        .delete_binding(gpb::DeleteBindingRequest {
            plugin: asset.plugin.clone(),
            kind: asset.kind.clone(),
            name: asset.name.clone(),
            environment: args.env,
            reason: ctx.global.reason.clone().unwrap_or_default(),
            dry_run: ctx.global.dry_run,
        })
        .await?
        .into_inner();
    print_result(ctx, &asset.reference(), &result).await
}

/// `promote ASSET --to ENV [--from E | --version V | --latest-approved]`.
pub async fn promote(ctx: &Ctx, args: PromoteArgs, scope: Option<&str>) -> Outcome {
    let asset = args.target.resolve(ctx, scope).await?;
    check_env(&asset, &args.to)?;
    if let Some(from) = &args.from {
        check_env(&asset, from)?;
    }
    // With no source named, promote from the environment before the target.
    let from = match (&args.from, &args.version, args.latest_approved) {
        (None, None, false) => {
            let envs = asset
                .governance()
                .and_then(|g| g.versioning.as_ref())
                .map(|v| v.environments.clone())
                .unwrap_or_default();
            match envs.iter().position(|e| *e == args.to) {
                Some(i) if i > 0 => Some(envs[i - 1].clone()),
                _ => {
                    return Err(CliError::usage(format!(
                        "say where the version for {} comes from: --from ENV, --version V or --latest-approved",
                        args.to
                    )))
                }
            }
        }
        _ => args.from.clone(),
    };
    if !args.force_server_check {
        guard(
            ctx,
            &asset,
            &args.to,
            args.version.as_deref(),
            from.as_deref(),
        )
        .await?;
    }
    let mut params = Map::new();
    params.insert("toEnv".into(), json!(args.to));
    if let Some(from) = from {
        params.insert("fromEnv".into(), json!(from));
    }
    if let Some(version) = args.version {
        params.insert("versionId".into(), json!(version));
    }
    if args.latest_approved {
        params.insert("latestApproved".into(), json!(true));
    }
    if args.allow_deprecated {
        params.insert("allowDeprecated".into(), json!(true));
    }
    execute(ctx, &asset, "promotion.promote", Value::Object(params)).await
}

/// `rollback ASSET --env ENV --to-version V`.
pub async fn rollback(ctx: &Ctx, args: RollbackArgs, scope: Option<&str>) -> Outcome {
    let asset = args.target.resolve(ctx, scope).await?;
    check_env(&asset, &args.env)?;
    let mut params = Map::new();
    params.insert("environment".into(), json!(args.env));
    params.insert("targetVersionId".into(), json!(args.to_version));
    if args.allow_deprecated {
        params.insert("allowDeprecated".into(), json!(true));
    }
    execute(ctx, &asset, "promotion.rollback", Value::Object(params)).await
}
