//! The command tree. The static commands (plugins, governance, lifecycle,
//! versions, bindings, promote, rollback, history, approvals, audit,
//! completion) are declared here with clap derive; every other first word
//! is taken as a plugin name, and that plugin's commands are built at run
//! time from its capabilities ([`plugin`]). Each area's handlers live in
//! their own module and return the process exit code.

pub mod approvals;
pub mod assets;
pub mod governance;
pub mod plugin;
pub mod plugins;
pub mod sources;
pub mod versions;

use clap::{Args, Subcommand};

use super::client::Clients;
use super::config::{Format, GlobalArgs};
use super::errors::CliError;

/// What a handler answers: the exit code (0, or 10 for a pending approval).
pub type Outcome = Result<i32, CliError>;

/// What every handler gets.
pub struct Ctx {
    /// Service clients.
    pub clients: Clients,
    /// The global flags, merged.
    pub global: GlobalArgs,
    /// The resolved output form.
    pub format: Format,
}

/// Words that are commands, not plugin names (for suggestions).
pub const STATIC_COMMANDS: &[&str] = &[
    "plugins",
    "health",
    "governance",
    "lifecycle",
    "versions",
    "bindings",
    "bind",
    "unbind",
    "promote",
    "rollback",
    "history",
    "approvals",
    "audit",
    "completion",
    "help",
];

/// The static commands; `<plugin> …` is taken by the external variant.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Plugins the server hosts and their capabilities.
    #[command(subcommand)]
    Plugins(plugins::PluginsCmd),
    /// Whether the server is serving (gRPC health); exit 7 when it is not.
    Health,
    /// Governance metadata of an asset (owner, team, SLA, risk, compliance…).
    #[command(subcommand)]
    Governance(governance::GovernanceCmd),
    /// Lifecycle transitions: set, approve, deprecate, archive, restore.
    #[command(subcommand)]
    Lifecycle(governance::LifecycleCmd),
    /// Immutable versions of an asset.
    #[command(subcommand)]
    Versions(versions::VersionsCmd),
    /// The version bound to each environment.
    Bindings(AssetArg),
    /// Bind a version to an environment.
    Bind(versions::BindArgs),
    /// Remove an environment's binding.
    Unbind(versions::UnbindArgs),
    /// Promote a version into an environment.
    Promote(versions::PromoteArgs),
    /// Bind an environment back to a version it had before.
    Rollback(versions::RollbackArgs),
    /// The audit history of an asset, with diffs in json/yaml.
    History(approvals::HistoryArgs),
    /// Approval requests: list, get, approve, reject, cancel.
    #[command(subcommand)]
    Approvals(approvals::ApprovalsCmd),
    /// The audit trail across assets.
    #[command(subcommand)]
    Audit(approvals::AuditCmd),
    /// Print a shell completion script (includes the server's plugins when
    /// it is reachable).
    Completion {
        /// Shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// `<plugin> list|get|versions|bindings|history|promote|rollback|
    /// governance|lifecycle|sources|<action-id> …`
    #[command(external_subcommand)]
    Plugin(Vec<String>),
}

/// An asset argument.
#[derive(Debug, Clone, Args)]
pub struct AssetArg {
    /// PLUGIN/KIND/NAME (in a plugin's scope, `catalogctl PLUGIN …`: the
    /// asset name).
    #[arg(value_name = "ASSET")]
    pub asset: String,
    /// Kind, plural or alias; needed only when the plugin has several kinds.
    #[arg(long, value_name = "KIND")]
    pub kind: Option<String>,
}

impl AssetArg {
    /// Resolves the asset, in a plugin's scope or in global form.
    pub async fn resolve(
        &self,
        ctx: &Ctx,
        scope: Option<&str>,
    ) -> Result<super::caps::Asset, CliError> {
        super::caps::asset(&ctx.clients, scope, &self.asset, self.kind.as_deref()).await
    }
}

/// Runs a static command (`scope` is the plugin when called as
/// `catalogctl PLUGIN …`).
pub async fn dispatch(ctx: &Ctx, command: Command, scope: Option<&str>) -> Outcome {
    match command {
        Command::Plugins(cmd) => plugins::run(ctx, cmd).await,
        Command::Health => plugins::health(ctx).await,
        Command::Governance(cmd) => governance::run(ctx, cmd, scope).await,
        Command::Lifecycle(cmd) => governance::lifecycle(ctx, cmd, scope).await,
        Command::Versions(cmd) => versions::run(ctx, cmd, scope).await,
        Command::Bindings(target) => versions::bindings(ctx, &target, scope).await,
        Command::Bind(args) => versions::bind(ctx, args, scope).await,
        Command::Unbind(args) => versions::unbind(ctx, args, scope).await,
        Command::Promote(args) => versions::promote(ctx, args, scope).await,
        Command::Rollback(args) => versions::rollback(ctx, args, scope).await,
        Command::History(args) => approvals::history(ctx, args, scope).await,
        Command::Approvals(cmd) => approvals::run(ctx, cmd).await,
        Command::Audit(cmd) => approvals::audit(ctx, cmd).await,
        Command::Completion { .. } | Command::Plugin(_) => {
            unreachable!("handled before connecting")
        }
    }
}

/// Shortens an RFC 3339 time to whole seconds for tables.
pub fn short_time(value: Option<&serde_json::Value>) -> String {
    match value.and_then(|v| v.as_str()) {
        Some(text) if text.len() > 19 => format!("{}Z", &text[..19]),
        Some(text) => text.to_string(),
        None => String::new(),
    }
}

/// Parses an RFC 3339 time flag.
pub fn timestamp(flag: &str, text: &str) -> Result<prost_types::Timestamp, CliError> {
    super::output::from_json("google.protobuf.Timestamp", &serde_json::json!(text)).map_err(|_| {
        CliError::usage(format!(
            "--{flag} {text:?} is not an RFC 3339 time (e.g. 2026-01-31T12:00:00Z)"
        ))
    })
}

/// `label:  value` lines, aligned, skipping empty values.
#[derive(Default)]
pub struct Block {
    lines: Vec<(String, String)>,
}

impl Block {
    /// Adds a line unless `value` is empty.
    pub fn kv(&mut self, label: &str, value: impl Into<String>) {
        let value = value.into();
        if !value.trim().is_empty() {
            self.lines.push((label.to_string(), value));
        }
    }

    /// Whether no line was added.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The block, indented by two spaces under `title` (when given).
    pub fn render(&self, title: &str) -> String {
        let mut out = String::new();
        if !title.is_empty() {
            out.push_str(title);
            out.push('\n');
            if self.lines.is_empty() {
                out.push_str("  (none)\n");
            }
        }
        let width = self
            .lines
            .iter()
            .map(|(l, _)| l.chars().count())
            .max()
            .unwrap_or(0);
        for (label, value) in &self.lines {
            let pad = width - label.chars().count();
            out.push_str(&format!("  {label}:{}  {value}\n", " ".repeat(pad)));
        }
        out
    }
}
