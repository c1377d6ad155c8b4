//! `catalogctl PLUGIN sources list|get|refresh|enable|disable|validate|apply`
//! (SourceService). A refresh of several sources shows progress on a
//! terminal and nothing when stderr is piped.

use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{json, Value};

use super::governance::print_result;
use super::{short_time, Block, Ctx, Outcome};
use crate::cli::config::Format;
use crate::cli::errors::CliError;
use crate::cli::output::{self, cell, more_footer, Table};
use crate::proto::catalog::v1alpha1 as pb;

/// Source commands of a plugin.
#[derive(Debug, Subcommand)]
pub enum SourcesCmd {
    /// List the plugin's sources with their sync state and last error class.
    List,
    /// Show one source.
    Get {
        /// Source id.
        id: String,
    },
    /// Re-read one source now, or every source of the plugin.
    Refresh {
        /// Source id (default: all).
        id: Option<String>,
    },
    /// Enable a source.
    Enable {
        /// Source id.
        id: String,
    },
    /// Disable a source.
    Disable {
        /// Source id.
        id: String,
    },
    /// Check a source definition without applying it.
    Validate {
        /// Source definition (YAML or JSON: one sources[] entry).
        #[arg(short = 'f', long, value_name = "FILE")]
        file: PathBuf,
    },
    /// Add or replace a source from a definition.
    Apply {
        /// Source definition (YAML or JSON: one sources[] entry).
        #[arg(short = 'f', long, value_name = "FILE")]
        file: PathBuf,
    },
}

/// Runs a sources command in `plugin`'s scope.
pub async fn run(ctx: &Ctx, plugin: &str, cmd: SourcesCmd) -> Outcome {
    match cmd {
        SourcesCmd::List => {
            let response = list(ctx, plugin).await?;
            let json = output::to_json("catalog.v1alpha1.ListSourcesResponse", &response);
            if ctx.format != Format::Table {
                output::print_document(ctx.format, &json)?;
                return Ok(0);
            }
            let mut table = Table::new([
                "ID",
                "NAME",
                "TYPE",
                "ENABLED",
                "STATE",
                "ASSETS",
                "REJECTED",
                "LAST SYNC",
                "ERROR",
            ]);
            for s in json
                .get("items")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                table.row(vec![
                    cell(s.get("id")),
                    cell(s.get("name")),
                    cell(s.get("type")),
                    (s.get("enabled") == Some(&json!(true))).to_string(),
                    cell(output::at_path(s, "status.state").as_ref()),
                    cell(output::at_path(s, "status.counts.assets").as_ref()),
                    cell(output::at_path(s, "status.counts.rejected").as_ref()),
                    short_time(output::at_path(s, "status.lastSuccessfulSync").as_ref()),
                    cell(output::at_path(s, "status.lastError.class").as_ref()),
                ]);
            }
            let mut out = table.render();
            out.push_str(&more_footer(
                response.items.len(),
                &response.next_page_token,
            ));
            output::write_stdout(&out)?;
            Ok(0)
        }
        SourcesCmd::Get { id } => {
            let source = ctx
                .clients
                .sources()
                .get_source(pb::GetSourceRequest {
                    plugin: plugin.to_string(),
                    source_id: id,
                })
                .await?
                .into_inner();
            let json = output::to_json("catalog.v1alpha1.SourceInfo", &source);
            if ctx.format != Format::Table {
                output::print_document(ctx.format, &json)?;
                return Ok(0);
            }
            let mut block = Block::default();
            block.kv("Name", cell(json.get("name")));
            block.kv("Type", cell(json.get("type")));
            block.kv(
                "Enabled",
                (json.get("enabled") == Some(&json!(true))).to_string(),
            );
            block.kv("Origin", cell(json.get("origin")));
            block.kv("Labels", cell(json.get("labels")));
            block.kv(
                "State",
                cell(output::at_path(&json, "status.state").as_ref()),
            );
            block.kv(
                "Revision",
                cell(output::at_path(&json, "status.revision").as_ref()),
            );
            block.kv(
                "Last sync",
                short_time(output::at_path(&json, "status.lastSuccessfulSync").as_ref()),
            );
            block.kv(
                "Error class",
                cell(output::at_path(&json, "status.lastError.class").as_ref()),
            );
            block.kv(
                "Error",
                cell(output::at_path(&json, "status.lastError.message").as_ref()),
            );
            output::write_stdout(&block.render(&format!("{plugin} source {}", source.id)))?;
            Ok(0)
        }
        SourcesCmd::Refresh { id: Some(id) } => {
            let result = action(ctx, plugin, &id, "refresh", None).await?;
            print_result(ctx, &format!("{plugin} source {id}"), &result).await
        }
        SourcesCmd::Refresh { id: None } => refresh_all(ctx, plugin).await,
        SourcesCmd::Enable { id } => {
            let result = action(ctx, plugin, &id, "enable", None).await?;
            print_result(ctx, &format!("{plugin} source {id}"), &result).await
        }
        SourcesCmd::Disable { id } => {
            let result = action(ctx, plugin, &id, "disable", None).await?;
            print_result(ctx, &format!("{plugin} source {id}"), &result).await
        }
        SourcesCmd::Validate { file } => apply(ctx, plugin, &file, "validate").await,
        SourcesCmd::Apply { file } => apply(ctx, plugin, &file, "apply").await,
    }
}

/// Sends a source definition file with `validate` or `apply`.
async fn apply(ctx: &Ctx, plugin: &str, file: &std::path::Path, verb: &str) -> Outcome {
    let text = std::fs::read_to_string(file)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", file.display())))?;
    let source: Value = serde_norway::from_str(&text)
        .map_err(|e| CliError::usage(format!("{} is not YAML or JSON: {e}", file.display())))?;
    let id = source
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| CliError::usage("the source definition needs an id"))?
        .to_string();
    let result = action(ctx, plugin, &id, verb, Some(json!({ "source": source }))).await?;
    print_result(ctx, &format!("{plugin} source {id}"), &result).await
}

async fn list(ctx: &Ctx, plugin: &str) -> Result<pb::ListSourcesResponse, CliError> {
    Ok(ctx
        .clients
        .sources()
        .list_sources(pb::ListSourcesRequest {
            plugin: plugin.to_string(),
            page_size: ctx.global.page_size.unwrap_or(500),
            page_token: ctx.global.page_token.clone().unwrap_or_default(),
        })
        .await?
        .into_inner())
}

async fn action(
    ctx: &Ctx,
    plugin: &str,
    id: &str,
    action: &str,
    params: Option<Value>,
) -> Result<pb::ActionResult, CliError> {
    let params = params.map(|p| output::to_struct(&p)).transpose()?;
    Ok(ctx
        .clients
        .sources()
        .execute_source_action(pb::ExecuteSourceActionRequest {
            plugin: plugin.to_string(),
            source_id: id.to_string(),
            action: action.to_string(),
            dry_run: ctx.global.dry_run,
            validate_only: action == "validate",
            params,
            reason: ctx.global.reason.clone().unwrap_or_default(),
        })
        .await?
        .into_inner())
}

/// Refreshes every source of a plugin, one after the other, with a
/// progress line on a terminal.
async fn refresh_all(ctx: &Ctx, plugin: &str) -> Outcome {
    let sources = list(ctx, plugin).await?.items;
    let show = output::interactive();
    let total = sources.len();
    let mut results = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        if show {
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\r\x1b[2K[{}/{total}] refreshing {plugin} source {}…",
                i + 1,
                source.id
            );
            let _ = err.flush();
        }
        let result = action(ctx, plugin, &source.id, "refresh", None).await;
        results.push((source.id.clone(), result));
    }
    if show {
        eprint!("\r\x1b[2K");
    }
    let mut failed = None;
    let mut docs = Vec::new();
    let mut table = Table::new(["SOURCE", "STATUS", "MESSAGE"]);
    for (id, result) in results {
        match result {
            Ok(r) => {
                docs.push(output::to_json("catalog.v1alpha1.ActionResult", &r));
                table.row(vec![id, r.status, r.message]);
            }
            Err(e) => {
                table.row(vec![id, "error".into(), e.render()]);
                failed.get_or_insert(e);
            }
        }
    }
    if ctx.format != Format::Table {
        output::print_document(ctx.format, &json!({ "results": docs }))?;
    } else {
        output::write_stdout(&table.render())?;
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(0),
    }
}
