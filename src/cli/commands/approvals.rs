//! Approvals (`approvals list|get|approve|reject|cancel`), an asset's
//! history and the audit trail. History tables summarize each event's
//! diff as `path: old → new`; json/yaml carry the full diff.

use clap::{Args, Subcommand};
use serde_json::Value;

use super::{short_time, AssetArg, Block, Ctx, Outcome};
use crate::cli::config::Format;
use crate::cli::errors::CliError;
use crate::cli::output::{self, cell, more_footer, Table};
use crate::proto::catalog::governance::v1alpha1 as gpb;

/// Approval requests.
#[derive(Debug, Subcommand)]
pub enum ApprovalsCmd {
    /// List requests, newest first (default: pending).
    List {
        /// Status to keep (repeatable): pending, approved, rejected,
        /// expired, cancelled.
        #[arg(long)]
        status: Vec<String>,
        /// Only requests I could decide (approvableByMe).
        #[arg(long)]
        mine: bool,
        /// Only requests about this asset (PLUGIN/KIND/NAME).
        #[arg(long, value_name = "ASSET")]
        asset: Option<String>,
        /// Only requests for this action id.
        #[arg(long)]
        action: Option<String>,
    },
    /// Show a request with its requirements, decisions and execution.
    Get {
        /// Request id.
        id: String,
    },
    /// Approve a request; the held action runs when every requirement is met.
    Approve {
        /// Request id.
        id: String,
        /// Comment.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Reject a request.
    Reject {
        /// Request id.
        id: String,
        /// Why (required).
        #[arg(long)]
        comment: String,
    },
    /// Cancel a pending request (yours, or as an operator); --reason says why.
    Cancel {
        /// Request id.
        id: String,
    },
}

/// Flags of `history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub target: AssetArg,
    /// Action ids to keep; globs such as lifecycle.* (repeatable).
    #[arg(long)]
    pub action: Vec<String>,
    /// Events at or after this time (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// Outcome: success, denied, failed or pending-approval.
    #[arg(long)]
    pub outcome: Option<String>,
    /// Actor principal.
    #[arg(long)]
    pub actor: Option<String>,
}

/// The audit trail.
#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// List audit events, newest first.
    List {
        /// Plugin.
        #[arg(long)]
        plugin: Option<String>,
        /// Action id.
        #[arg(long)]
        action: Option<String>,
        /// Actor principal.
        #[arg(long)]
        actor: Option<String>,
        /// Outcome.
        #[arg(long)]
        outcome: Option<String>,
        /// Events at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
    },
    /// Verify the audit hash chain.
    Verify,
}

/// Runs an approvals command.
pub async fn run(ctx: &Ctx, cmd: ApprovalsCmd) -> Outcome {
    let approvals = ctx.clients.approvals();
    let approving = matches!(cmd, ApprovalsCmd::Approve { .. });
    let decided = match cmd {
        ApprovalsCmd::List {
            status,
            mine,
            asset,
            action,
        } => return list(ctx, status, mine, asset, action).await,
        ApprovalsCmd::Get { id } => {
            approvals
                .clone()
                .get_approval(gpb::GetApprovalRequest { request_id: id })
                .await?
        }
        ApprovalsCmd::Approve { id, comment } => {
            approvals
                .clone()
                .approve_request(gpb::ApproveRequestRequest {
                    request_id: id,
                    comment: comment.unwrap_or_default(),
                })
                .await?
        }
        ApprovalsCmd::Reject { id, comment } => {
            approvals
                .clone()
                .reject_request(gpb::RejectRequestRequest {
                    request_id: id,
                    comment,
                })
                .await?
        }
        ApprovalsCmd::Cancel { id } => {
            approvals
                .clone()
                .cancel_request(gpb::CancelRequestRequest {
                    request_id: id,
                    reason: ctx.global.reason.clone().unwrap_or_default(),
                })
                .await?
        }
    }
    .into_inner();
    let json = output::to_json("catalog.governance.v1alpha1.ApprovalRequest", &decided);
    if ctx.format != Format::Table {
        output::print_document(ctx.format, &json)?;
    } else {
        output::write_stdout(&approval_detail(&json))?;
    }
    // Still pending after an approval (more approvals needed): exit 10.
    Ok(if approving && decided.status == "pending" {
        crate::cli::errors::EXIT_PENDING
    } else {
        0
    })
}

async fn list(
    ctx: &Ctx,
    status: Vec<String>,
    mine: bool,
    asset: Option<String>,
    action: Option<String>,
) -> Outcome {
    let (plugin, kind, name) = match asset {
        Some(reference) => {
            let asset = crate::cli::caps::asset(&ctx.clients, None, &reference, None).await?;
            (asset.plugin, asset.kind, asset.name)
        }
        None => Default::default(),
    };
    let mut token = ctx.global.page_token.clone().unwrap_or_default();
    let mut all = gpb::ListApprovalsResponse::default();
    loop {
        let page = ctx
            .clients
            .approvals()
            .list_approvals(gpb::ListApprovalsRequest {
                status: status.clone(),
                plugin: plugin.clone(),
                kind: kind.clone(),
                name: name.clone(),
                action: action.clone().unwrap_or_default(),
                approvable_by_me: mine,
                page_size: ctx.global.page_size.unwrap_or(0),
                page_token: token,
                ..Default::default()
            })
            .await?
            .into_inner();
        all.approvals.extend(page.approvals);
        all.next_page_token = page.next_page_token.clone();
        if !ctx.global.all || page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    all.size = all.approvals.len() as i32;
    let json = output::to_json("catalog.governance.v1alpha1.ListApprovalsResponse", &all);
    if ctx.format != Format::Table {
        output::print_document(ctx.format, &json)?;
        return Ok(0);
    }
    let mut table = Table::new([
        "ID",
        "ASSET",
        "ACTION",
        "STATUS",
        "REQUESTED BY",
        "PROGRESS",
        "EXPIRES",
    ]);
    for a in json
        .get("approvals")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        table.row(vec![
            cell(a.get("requestId")),
            format!(
                "{}/{}/{}",
                cell(a.get("plugin")),
                cell(a.get("kind")),
                cell(a.get("name"))
            ),
            cell(a.get("action")),
            cell(a.get("status")),
            cell(a.get("requestedBy")),
            progress(a),
            short_time(a.get("expiresAt")),
        ]);
    }
    let mut out = table.render();
    out.push_str(&more_footer(all.approvals.len(), &all.next_page_token));
    output::write_stdout(&out)?;
    Ok(0)
}

/// "1 of 2 [approver, security-approver]" per requirement.
fn progress(request: &Value) -> String {
    request
        .get("requirements")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| {
            format!(
                "{} of {} [{}]",
                r.get("approvalsCount").and_then(Value::as_i64).unwrap_or(0),
                r.get("approvalsRequired")
                    .and_then(Value::as_i64)
                    .unwrap_or(0),
                cell(r.get("approverRoles")).replace(',', ", ")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn approval_detail(a: &Value) -> String {
    let mut block = Block::default();
    block.kv(
        "Asset",
        format!(
            "{}/{}/{}",
            cell(a.get("plugin")),
            cell(a.get("kind")),
            cell(a.get("name"))
        ),
    );
    block.kv("Action", cell(a.get("action")));
    if let Some(params) = a.get("params") {
        block.kv("Params", params.to_string());
    }
    block.kv("Status", cell(a.get("status")));
    block.kv("Requested by", cell(a.get("requestedBy")));
    block.kv("Reason", cell(a.get("reason")));
    block.kv("Created", short_time(a.get("createdAt")));
    block.kv("Expires", short_time(a.get("expiresAt")));
    block.kv("Progress", progress(a));
    block.kv("Resolved by", cell(a.get("resolvedBy")));
    block.kv("Resolved at", short_time(a.get("resolvedAt")));
    block.kv("Cancel reason", cell(a.get("cancelReason")));
    let mut out = block.render(&format!("APPROVAL REQUEST {}", cell(a.get("requestId"))));
    let decisions = a.get("decisions").and_then(Value::as_array);
    if decisions.is_some_and(|d| !d.is_empty()) {
        let mut table = Table::new(["APPROVER", "DECISION", "AT", "COMMENT"]);
        for d in decisions.into_iter().flatten() {
            table.row(vec![
                cell(d.get("approver")),
                cell(d.get("decision")),
                short_time(d.get("decidedAt")),
                cell(d.get("comment")),
            ]);
        }
        out.push_str("DECISIONS\n");
        out.push_str(&table.render());
    }
    if let Some(execution) = a.get("execution") {
        let mut block = Block::default();
        block.kv("Status", cell(execution.get("status")));
        block.kv("Executed at", short_time(execution.get("executedAt")));
        block.kv(
            "Result",
            cell(output::at_path(execution, "result.status").as_ref()),
        );
        if let Some(error) = execution.get("error") {
            block.kv("Error", error.to_string());
        }
        out.push_str(&block.render("EXECUTION"));
    }
    out
}

/// `history ASSET` (ListAssetHistory).
pub async fn history(ctx: &Ctx, args: HistoryArgs, scope: Option<&str>) -> Outcome {
    let asset = args.target.resolve(ctx, scope).await?;
    let since = args
        .since
        .as_deref()
        .map(|s| super::timestamp("since", s))
        .transpose()?;
    let mut token = ctx.global.page_token.clone().unwrap_or_default();
    let mut all = gpb::ListAssetHistoryResponse::default();
    loop {
        let page = ctx
            .clients
            .governance()
            .list_asset_history(gpb::ListAssetHistoryRequest {
                plugin: asset.plugin.clone(),
                kind: asset.kind.clone(),
                name: asset.name.clone(),
                action: args.action.clone(),
                outcome: args.outcome.clone().unwrap_or_default(),
                actor: args.actor.clone().unwrap_or_default(),
                since,
                page_size: ctx.global.page_size.unwrap_or(0),
                page_token: token,
                ..Default::default()
            })
            .await?
            .into_inner();
        all.events.extend(page.events);
        all.next_page_token = page.next_page_token.clone();
        if !ctx.global.all || page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    all.size = all.events.len() as i32;
    let json = output::to_json("catalog.governance.v1alpha1.ListAssetHistoryResponse", &all);
    print_events(ctx, &json, &all.next_page_token)
}

/// Prints a page of events: the document, or a table with diff summaries.
fn print_events(ctx: &Ctx, json: &Value, next_page_token: &str) -> Outcome {
    if ctx.format != Format::Table {
        output::print_document(ctx.format, json)?;
        return Ok(0);
    }
    let events: Vec<&Value> = json
        .get("events")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let mut table =
        Table::new(["TIME", "ACTOR", "ACTION", "OUTCOME", "SUBJECT", "CHANGES"]).max_width(5, 80);
    for e in &events {
        let mut subject = cell(e.get("environment"));
        let version = cell(e.get("versionId"));
        if !version.is_empty() && subject.is_empty() {
            subject = format!("version {}", &version[..version.len().min(8)]);
        }
        let mut changes = diff_summary(e.get("diff"));
        let code = cell(e.get("reasonCode"));
        if !code.is_empty() {
            changes = if changes.is_empty() {
                code
            } else {
                format!("{code}; {changes}")
            };
        }
        table.row(vec![
            short_time(e.get("occurredAt")),
            cell(e.get("actor")),
            cell(e.get("action")),
            cell(e.get("outcome")),
            subject,
            changes,
        ]);
    }
    let mut out = table.render();
    out.push_str(&more_footer(events.len(), next_page_token));
    output::write_stdout(&out)?;
    Ok(0)
}

/// `a.b: old → new; c: → new` from a `{old, new}` diff.
pub fn diff_summary(diff: Option<&Value>) -> String {
    fn leaves(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
        match value {
            Value::Null => {}
            Value::Object(map) => {
                for (k, v) in map {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    leaves(&path, v, out);
                }
            }
            other => out.push((prefix.to_string(), cell(Some(other)))),
        }
    }
    let Some(diff) = diff else {
        return String::new();
    };
    let mut old = Vec::new();
    let mut new = Vec::new();
    if let Some(v) = diff.get("old") {
        leaves("", v, &mut old);
    }
    if let Some(v) = diff.get("new") {
        leaves("", v, &mut new);
    }
    let mut paths: Vec<String> = old
        .iter()
        .chain(new.iter())
        .map(|(p, _)| p.clone())
        .collect();
    paths.sort();
    paths.dedup();
    let find = |list: &[(String, String)], path: &str| {
        list.iter()
            .find(|(p, _)| p == path)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    paths
        .iter()
        .map(|p| (p, find(&old, p), find(&new, p)))
        .filter(|(_, before, after)| before != after)
        .map(|(p, before, after)| format!("{p}: {before} → {after}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Runs an audit command.
pub async fn audit(ctx: &Ctx, cmd: AuditCmd) -> Outcome {
    match cmd {
        AuditCmd::List {
            plugin,
            action,
            actor,
            outcome,
            since,
        } => {
            let since = since
                .as_deref()
                .map(|s| super::timestamp("since", s))
                .transpose()?;
            let response = ctx
                .clients
                .audit()
                .list_audit_events(gpb::ListAuditEventsRequest {
                    plugin: plugin.unwrap_or_default(),
                    action: action.unwrap_or_default(),
                    actor: actor.unwrap_or_default(),
                    outcome: outcome.unwrap_or_default(),
                    since,
                    page_size: ctx.global.page_size.unwrap_or(0),
                    page_token: ctx.global.page_token.clone().unwrap_or_default(),
                    ..Default::default()
                })
                .await?
                .into_inner();
            let json = output::to_json(
                "catalog.governance.v1alpha1.ListAuditEventsResponse",
                &response,
            );
            print_events(ctx, &json, &response.next_page_token)
        }
        AuditCmd::Verify => {
            let response = ctx
                .clients
                .audit()
                .verify_audit_chain(gpb::VerifyAuditChainRequest { from_sequence: 0 })
                .await?
                .into_inner();
            let json = output::to_json(
                "catalog.governance.v1alpha1.VerifyAuditChainResponse",
                &response,
            );
            if ctx.format != Format::Table {
                output::print_document(ctx.format, &json)?;
            } else if response.verified {
                output::write_stdout(&format!(
                    "audit chain verified ({} events)\n",
                    response.checked_count
                ))?;
            }
            if response.verified {
                Ok(0)
            } else {
                Err(CliError::Other(format!(
                    "the audit chain is broken at {}",
                    json.get("firstBroken")
                        .map(Value::to_string)
                        .unwrap_or_default()
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diffs_summarize_as_changed_leaves() {
        let diff = json!({"old": {"lifecycle": {"state": "draft"}},
                          "new": {"lifecycle": {"state": "approved"}, "owner": {"principal": "x"}}});
        assert_eq!(
            diff_summary(Some(&diff)),
            "lifecycle.state: draft → approved; owner.principal:  → x"
        );
    }
}
