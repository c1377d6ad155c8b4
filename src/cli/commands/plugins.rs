//! `catalogctl plugins list|capabilities`: discovery (ListPlugins,
//! GetPluginCapabilities), and `catalogctl health`.

use clap::Subcommand;

use super::{Ctx, Outcome};
use crate::cli::config::Format;
use crate::cli::output::{self, Table};
use crate::proto::catalog::v1alpha1 as pb;

/// Plugin discovery.
#[derive(Debug, Subcommand)]
pub enum PluginsCmd {
    /// List the plugins the server hosts.
    List,
    /// Print a plugin's capabilities document.
    Capabilities {
        /// Plugin name.
        plugin: String,
    },
}

/// Runs a plugins command.
pub async fn run(ctx: &Ctx, cmd: PluginsCmd) -> Outcome {
    match cmd {
        PluginsCmd::List => {
            let response = ctx
                .clients
                .plugins()
                .list_plugins(pb::ListPluginsRequest {})
                .await?
                .into_inner();
            if ctx.format != Format::Table {
                let json = output::to_json("catalog.v1alpha1.ListPluginsResponse", &response);
                output::print_document(ctx.format, &json)?;
                return Ok(0);
            }
            let mut table = Table::new([
                "NAME",
                "KINDS",
                "VERSION",
                "HEALTH",
                "GOVERNED",
                "DESCRIPTION",
            ]);
            for plugin in &response.plugins {
                let governed = plugin.capabilities_v2.as_ref().is_some_and(|caps| {
                    caps.entities
                        .iter()
                        .any(|e| e.governance.as_ref().is_some_and(|g| g.supported))
                });
                table.row(vec![
                    plugin.name.clone(),
                    plugin.entity_kinds.join(","),
                    plugin.version.clone(),
                    if plugin.healthy {
                        "healthy"
                    } else {
                        "degraded"
                    }
                    .into(),
                    if governed { "yes" } else { "no" }.into(),
                    plugin.description.clone(),
                ]);
            }
            output::write_stdout(&table.render())?;
            Ok(0)
        }
        PluginsCmd::Capabilities { plugin } => {
            let caps = crate::cli::caps::capabilities(&ctx.clients, &plugin, &[]).await?;
            let json = output::to_json("catalog.v1alpha1.PluginCapabilities", &caps);
            // A capabilities document has no useful table form.
            let format = if ctx.format == Format::Table {
                Format::Yaml
            } else {
                ctx.format
            };
            output::print_document(format, &json)?;
            Ok(0)
        }
    }
}

/// `catalogctl health`: the server's overall gRPC health.
pub async fn health(ctx: &Ctx) -> Outcome {
    use tonic_health::pb::health_check_response::ServingStatus;
    let check = ctx
        .clients
        .health()
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await?
        .into_inner();
    let status = ServingStatus::try_from(check.status).unwrap_or(ServingStatus::Unknown);
    let name = status.as_str_name();
    if ctx.format == Format::Table {
        output::write_stdout(&format!("{name}\n"))?;
    } else {
        output::print_document(ctx.format, &serde_json::json!({ "status": name }))?;
    }
    Ok(if status == ServingStatus::Serving {
        0
    } else {
        crate::cli::errors::EXIT_UNAVAILABLE
    })
}
