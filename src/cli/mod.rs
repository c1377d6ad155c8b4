//! `catalogctl`, the command-line client (spec 10 §2). It owns the command
//! tree, configuration (flags, CATALOG_* environment, named contexts),
//! output forms and exit codes; it talks to the server over gRPC with the
//! generated clients only, and holds no knowledge of any plugin: what a
//! plugin can list, filter, show and do comes from its capabilities
//! document (spec 09), so a plugin added by manifest alone works at once.
//!
//! - [`config`]: flags, environment, config file and contexts;
//! - [`client`]: the channel, bearer token and correlation id;
//! - [`caps`]: plugin discovery and name resolution;
//! - [`commands`]: one module per area, each returning an exit code;
//! - [`output`]: proto3 JSON, YAML and tables;
//! - [`errors`]: the exit codes of spec 10 §2.4 and error text;
//! - [`suggest`]: "did you mean".
//!
//! Invariant: stdout carries only the requested document or table; errors,
//! hints and progress go to stderr, so `-o json` output can be piped.

pub mod caps;
pub mod client;
pub mod commands;
pub mod config;
pub mod errors;
pub mod output;
pub mod suggest;

use std::ffi::OsString;

use clap::{Args, CommandFactory, FromArgMatches, Parser};

use self::client::Clients;
use self::commands::{Command, Ctx};
use self::config::GlobalArgs;
use self::errors::CliError;

/// The static part of the command line.
#[derive(Debug, Parser)]
#[command(
    name = "catalogctl",
    version,
    about = "Command-line client of the AI asset catalog",
    after_help = "Plugin commands: catalogctl PLUGIN list|get|versions|bindings|history|promote|rollback|governance|lifecycle|sources|<action-id> …\n(`catalogctl plugins list` names the plugins; `catalogctl PLUGIN --help` shows a plugin's commands and filters.)\n\nExit codes: 0 ok, 1 other error, 2 usage, 3 not found, 4 denied, 5 precondition failed, 6 conflict, 7 unavailable, 10 pending approval."
)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Global flags that take a value and matter before connecting (so that
/// `catalogctl agents list --token-file F` connects as F's principal).
const CONNECTION_FLAGS: &[&str] = &[
    "--server",
    "--addr",
    "--token",
    "--token-file",
    "--context",
    "--config",
    "--correlation-id",
];

/// Picks the connection flags out of a plugin command's words.
fn connection_flags(words: &[String]) -> GlobalArgs {
    let mut picked = vec!["catalogctl".to_string()];
    let mut iter = words.iter();
    while let Some(word) = iter.next() {
        if word == "--" {
            break;
        }
        if let Some((flag, _)) = word.split_once('=') {
            if CONNECTION_FLAGS.contains(&flag) {
                picked.push(word.clone());
            }
        } else if CONNECTION_FLAGS.contains(&word.as_str()) {
            if let Some(value) = iter.next() {
                picked.push(word.clone());
                picked.push(value.clone());
            }
        }
    }
    let cmd = GlobalArgs::augment_args(clap::Command::new("catalogctl"));
    cmd.try_get_matches_from(picked)
        .ok()
        .and_then(|m| GlobalArgs::from_arg_matches(&m).ok())
        .unwrap_or_default()
}

/// `PLUGIN PLURAL COMMAND …` is `PLUGIN COMMAND … --kind KIND` (spec 10
/// §2.2): the kind word, when it is not a command, moves to `--kind`.
fn kind_word(
    command: &clap::Command,
    caps: &crate::proto::catalog::v1alpha1::PluginCapabilities,
    words: Vec<String>,
) -> Vec<String> {
    let Some(word) = words.get(1) else {
        return words;
    };
    if word.starts_with('-') || command.find_subcommand(word).is_some() {
        return words;
    }
    match caps::entity(caps, Some(word)) {
        Ok(entity) => {
            let mut out: Vec<String> = words[..1].to_vec();
            out.extend(words[2..].iter().cloned());
            out.push("--kind".into());
            out.push(entity.kind.clone());
            out
        }
        Err(_) => words,
    }
}

/// Prints a clap error or help text; the exit code is 0 for help and
/// version, 2 for usage errors (help shown for a missing command included).
fn clap_exit(error: clap::Error) -> i32 {
    let _ = error.print();
    match error.kind() {
        clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
        _ => errors::EXIT_USAGE,
    }
}

/// Runs catalogctl with `args` (the program name first) and answers the
/// process exit code.
pub async fn run(args: Vec<OsString>) -> i32 {
    let matches = match Cli::command().try_get_matches_from(args) {
        Ok(matches) => matches,
        Err(error) => return clap_exit(error),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => return clap_exit(error),
    };
    match execute(cli).await {
        Ok(code) => code,
        Err(Exit::Clap(error)) => clap_exit(error),
        Err(Exit::Error(error)) => {
            eprintln!("{}", error.render());
            error.exit_code()
        }
    }
}

enum Exit {
    Clap(clap::Error),
    Error(CliError),
}

impl From<CliError> for Exit {
    fn from(error: CliError) -> Exit {
        Exit::Error(error)
    }
}

async fn execute(cli: Cli) -> Result<i32, Exit> {
    match cli.command {
        Command::Completion { shell } => {
            let mut cmd = Cli::command();
            // The server's plugins join the script when it answers quickly.
            let discovery = async {
                let settings = config::resolve(&cli.global)?;
                let clients = Clients::connect(&settings).await?;
                let plugins = caps::plugins(&clients).await?;
                Ok::<_, CliError>(
                    plugins
                        .iter()
                        .filter_map(|p| p.capabilities_v2.as_ref())
                        .map(commands::plugin::command)
                        .collect::<Vec<_>>(),
                )
            };
            match tokio::time::timeout(std::time::Duration::from_secs(15), discovery).await {
                Ok(Ok(subcommands)) => {
                    for sub in subcommands {
                        cmd = cmd.subcommand(sub);
                    }
                }
                Ok(Err(error)) => eprintln!(
                    "note: the script covers the static commands only ({})",
                    error.render().trim_start_matches("error: ")
                ),
                Err(_) => eprintln!("note: the script covers the static commands only (the server did not answer in time)"),
            }
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut cmd, "catalogctl", &mut out);
            output::write_stdout(&String::from_utf8_lossy(&out))?;
            Ok(0)
        }
        Command::Plugin(words) => {
            let plugin = words.first().cloned().unwrap_or_default();
            let early = cli.global.clone().merged(connection_flags(&words[1..]));
            let settings = config::resolve(&early)?;
            let clients = Clients::connect(&settings).await?;
            let caps = caps::capabilities(&clients, &plugin, commands::STATIC_COMMANDS).await?;
            let command = commands::plugin::command(&caps).bin_name(format!("catalogctl {plugin}"));
            let words = kind_word(&command, &caps, words);
            let matches = command.try_get_matches_from(&words).map_err(Exit::Clap)?;
            let later = GlobalArgs::from_arg_matches(&matches).map_err(Exit::Clap)?;
            let global = cli.global.merged(later);
            let settings = config::resolve(&global)?;
            let ctx = Ctx {
                clients,
                format: settings.output,
                global,
            };
            Ok(commands::plugin::run(&ctx, &caps, &plugin, &matches).await?)
        }
        command => {
            let settings = config::resolve(&cli.global)?;
            let clients = Clients::connect(&settings).await?;
            let ctx = Ctx {
                clients,
                format: settings.output,
                global: cli.global,
            };
            Ok(commands::dispatch(&ctx, command, None).await?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_static_tree_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn connection_flags_are_found_after_the_plugin_name() {
        let words: Vec<String> = [
            "list",
            "--token-file",
            "/t",
            "--agentType",
            "router",
            "--server=h:1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let global = connection_flags(&words);
        assert_eq!(global.token_file, Some(std::path::PathBuf::from("/t")));
        assert_eq!(global.server.as_deref(), Some("h:1"));
    }
}
