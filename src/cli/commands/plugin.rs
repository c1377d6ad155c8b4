//! `catalogctl PLUGIN …`: the command tree of one plugin, built at run time
//! from its capabilities document. `list` carries the kind's filter flags;
//! the governance verbs appear only for kinds whose governance is
//! supported; `sources` only when the plugin has sources; and every
//! governance action a kind declares is a command of its own
//! (`catalogctl agents lifecycle.archive NAME --params k=v`).

use std::path::PathBuf;

use clap::{ArgMatches, Args, Command, FromArgMatches, Subcommand};
use serde_json::{Map, Value};

use super::approvals::HistoryArgs;
use super::governance::{GovernanceCmd, LifecycleCmd};
use super::sources::SourcesCmd;
use super::versions::{PromoteArgs, RollbackArgs, VersionsList};
use super::{AssetArg, Ctx, Outcome};
use crate::cli::config::GlobalArgs;
use crate::cli::errors::CliError;
use crate::cli::suggest;
use crate::proto::catalog::v1alpha1 as pb;

/// Flags of an action command.
#[derive(Debug, Args)]
pub struct ActionArgs {
    #[command(flatten)]
    target: AssetArg,
    /// Action parameters, `k=v,k2=v2` (repeatable).
    #[arg(long, value_name = "K=V,…", value_delimiter = ',')]
    params: Vec<String>,
    /// Action parameters from a YAML or JSON object.
    #[arg(long, value_name = "FILE")]
    params_file: Option<PathBuf>,
}

/// The endpoint prefix of actions run by the governance API.
const GOVERNANCE_ENDPOINT: &str = "/api/governance/";

/// The asset-scoped actions this CLI can run for the plugin: those the
/// kinds declare and the governance API serves.
fn runnable_actions(caps: &pb::PluginCapabilities) -> Vec<&pb::ActionDefinition> {
    let mut out: Vec<&pb::ActionDefinition> = Vec::new();
    for entity in &caps.entities {
        for id in &entity.actions {
            let Some(def) = caps.actions.iter().find(|a| &a.id == id) else {
                continue;
            };
            if def.scope == "asset"
                && def.endpoint.starts_with(GOVERNANCE_ENDPOINT)
                && !out.iter().any(|a| a.id == def.id)
            {
                out.push(def);
            }
        }
    }
    out
}

fn governed(caps: &pb::PluginCapabilities) -> bool {
    caps.entities
        .iter()
        .any(|e| e.governance.as_ref().is_some_and(|g| g.supported))
}

/// The command tree of one plugin.
pub fn command(caps: &pb::PluginCapabilities) -> Command {
    let identity = caps.plugin.clone().unwrap_or_default();
    let about = if identity.description.is_empty() {
        identity.display_name.clone()
    } else {
        format!("{}: {}", identity.display_name, identity.description)
    };
    // The global flags first: their doc comment would replace `about`.
    let mut cmd = GlobalArgs::augment_args(Command::new(identity.name.clone()))
        .about(about)
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(super::assets::list_command(caps))
        .subcommand(
            AssetArg::augment_args(Command::new("get"))
                .about("Show an asset with its lifecycle, governance, provenance and bindings"),
        );
    if governed(caps) {
        cmd = cmd
            .subcommand(
                VersionsList::augment_args(Command::new("versions"))
                    .about("List an asset's versions"),
            )
            .subcommand(
                AssetArg::augment_args(Command::new("bindings"))
                    .about("The version bound to each environment"),
            )
            .subcommand(
                HistoryArgs::augment_args(Command::new("history"))
                    .about("An asset's audit history"),
            )
            .subcommand(
                PromoteArgs::augment_args(Command::new("promote"))
                    .about("Promote a version into an environment"),
            )
            .subcommand(
                RollbackArgs::augment_args(Command::new("rollback"))
                    .about("Bind an environment back to a version it had before"),
            )
            .subcommand(
                GovernanceCmd::augment_subcommands(Command::new("governance"))
                    .about("Governance metadata")
                    .subcommand_required(true),
            )
            .subcommand(
                LifecycleCmd::augment_subcommands(Command::new("lifecycle"))
                    .about("Lifecycle transitions")
                    .subcommand_required(true),
            );
    }
    if caps.sources.is_some() {
        cmd = cmd.subcommand(
            SourcesCmd::augment_subcommands(Command::new("sources"))
                .about("The plugin's sources and their sync state")
                .subcommand_required(true),
        );
    }
    for action in runnable_actions(caps) {
        let about = if action.description.is_empty() {
            action.display_name.clone()
        } else {
            action.description.clone()
        };
        cmd =
            cmd.subcommand(ActionArgs::augment_args(Command::new(action.id.clone())).about(about));
    }
    cmd
}

fn from_matches<T: FromArgMatches>(matches: &ArgMatches) -> Result<T, CliError> {
    T::from_arg_matches(matches).map_err(|e| CliError::usage(e.to_string()))
}

/// Runs a plugin command.
pub async fn run(
    ctx: &Ctx,
    caps: &pb::PluginCapabilities,
    plugin: &str,
    matches: &ArgMatches,
) -> Outcome {
    let Some((name, sub)) = matches.subcommand() else {
        return Err(CliError::usage(format!(
            "catalogctl {plugin} needs a command"
        )));
    };
    let scope = Some(plugin);
    match name {
        "list" => super::assets::list(ctx, caps, sub).await,
        "get" => super::assets::get(ctx, &from_matches(sub)?, plugin).await,
        "versions" => super::versions::versions_list(ctx, from_matches(sub)?, scope).await,
        "bindings" => super::versions::bindings(ctx, &from_matches(sub)?, scope).await,
        "history" => super::approvals::history(ctx, from_matches(sub)?, scope).await,
        "promote" => super::versions::promote(ctx, from_matches(sub)?, scope).await,
        "rollback" => super::versions::rollback(ctx, from_matches(sub)?, scope).await,
        "governance" => super::governance::run(ctx, from_matches(sub)?, scope).await,
        "lifecycle" => super::governance::lifecycle(ctx, from_matches(sub)?, scope).await,
        "sources" => super::sources::run(ctx, plugin, from_matches(sub)?).await,
        action => {
            let args: ActionArgs = from_matches(sub)?;
            let def = runnable_actions(caps)
                .into_iter()
                .find(|a| a.id == action)
                .ok_or_else(|| CliError::usage(format!("unknown command {action:?}")))?;
            let params = action_params(def, &args)?;
            let asset = args.target.resolve(ctx, scope).await?;
            super::governance::execute(ctx, &asset, action, params).await
        }
    }
}

/// The params object of an action command, checked against the action's
/// declared parameters and typed by them.
fn action_params(def: &pb::ActionDefinition, args: &ActionArgs) -> Result<Value, CliError> {
    let mut params = match &args.params_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
            match serde_norway::from_str::<Value>(&text) {
                Ok(Value::Object(map)) => map,
                _ => {
                    return Err(CliError::usage(format!(
                        "{} must hold a YAML or JSON object",
                        path.display()
                    )))
                }
            }
        }
        None => Map::new(),
    };
    for pair in args.params.iter().filter(|p| !p.is_empty()) {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| CliError::usage(format!("--params {pair:?} is not K=V")))?;
        let Some(param) = def.parameters.iter().find(|p| p.name == key) else {
            return Err(
                CliError::usage(format!("{} takes no parameter {key:?}", def.id)).with_hint(
                    suggest::hint(key, def.parameters.iter().map(|p| p.name.as_str())),
                ),
            );
        };
        let typed = match param.r#type.as_str() {
            "boolean" | "number" | "integer" | "object" | "json" => {
                serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()))
            }
            _ => Value::String(value.to_string()),
        };
        params.insert(key.to_string(), typed);
    }
    for param in def.parameters.iter().filter(|p| p.required) {
        if !params.contains_key(&param.name) {
            return Err(CliError::usage(format!(
                "{} needs --params {}=…",
                def.id, param.name
            )));
        }
    }
    Ok(Value::Object(params))
}
