//! `governance get|set`, the lifecycle verbs, and the one path every
//! governance action takes ([`execute`]): checked against the kind's
//! declared actions, run with ExecuteGovernanceAction, printed, and turned
//! into exit code 10 with the approval command when it is held for
//! approval.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

use super::{short_time, AssetArg, Block, Ctx, Outcome};
use crate::cli::caps::Asset;
use crate::cli::config::Format;
use crate::cli::errors::{CliError, EXIT_PENDING};
use crate::cli::output::{self, at_path, cell};
use crate::cli::suggest;
use crate::proto::catalog::governance::v1alpha1 as gpb;
use crate::proto::catalog::v1alpha1 as pb;

/// Governance metadata.
#[derive(Debug, Subcommand)]
pub enum GovernanceCmd {
    /// Show an asset's governance overlay (GetAssetGovernance).
    Get(AssetArg),
    /// Merge-patch governance metadata (UpdateAssetGovernance). A repeated
    /// flag replaces the whole list.
    Set(Box<GovernanceSet>),
}

/// Flags of `governance set`.
#[derive(Debug, Args)]
pub struct GovernanceSet {
    #[command(flatten)]
    target: AssetArg,
    /// Accountable principal.
    #[arg(long)]
    owner: Option<String>,
    /// Owner's contact address.
    #[arg(long)]
    owner_email: Option<String>,
    /// Owning team.
    #[arg(long)]
    team: Option<String>,
    /// SLA tier.
    #[arg(long)]
    sla_tier: Option<String>,
    /// SLA response time in hours.
    #[arg(long)]
    sla_hours: Option<i32>,
    /// Risk level.
    #[arg(long)]
    risk_level: Option<String>,
    /// Risk category (repeatable).
    #[arg(long)]
    risk_category: Vec<String>,
    /// Compliance tag (repeatable).
    #[arg(long)]
    compliance_tag: Vec<String>,
    /// Compliance control (repeatable).
    #[arg(long)]
    control: Vec<String>,
    /// Intended use summary.
    #[arg(long)]
    intended_use: Option<String>,
    /// Intended environment (repeatable).
    #[arg(long)]
    intended_env: Vec<String>,
    /// Intended-use restriction (repeatable).
    #[arg(long)]
    restriction: Vec<String>,
    /// Last review time (RFC 3339).
    #[arg(long, value_name = "TS")]
    last_reviewed: Option<String>,
    /// Days between reviews.
    #[arg(long, value_name = "N")]
    review_cadence_days: Option<i32>,
    /// Extension key=JSON value (repeatable).
    #[arg(long, value_name = "K=JSON")]
    ext: Vec<String>,
    /// Clear a field (a mask path such as owner or risk.categories).
    #[arg(long, value_name = "FIELD")]
    clear: Vec<String>,
    /// A YAML or JSON patch of GovernanceMetadata (proto3 JSON names).
    #[arg(short = 'f', long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// Apply only at this resource version.
    #[arg(long, value_name = "RV")]
    if_match: Option<i64>,
}

/// Lifecycle transitions.
#[derive(Debug, Subcommand)]
pub enum LifecycleCmd {
    /// Move to a state (lifecycle.setState).
    Set {
        #[command(flatten)]
        target: AssetArg,
        /// Target state.
        #[arg(long)]
        state: String,
        /// Version id, label or @alias (default: the asset).
        #[arg(long)]
        version: Option<String>,
    },
    /// Approve (lifecycle.setState to approved).
    Approve {
        #[command(flatten)]
        target: AssetArg,
        /// Version id, label or @alias.
        #[arg(long)]
        version: Option<String>,
    },
    /// Deprecate (lifecycle.deprecate).
    Deprecate {
        #[command(flatten)]
        target: AssetArg,
        /// The replacement, PLUGIN/KIND/NAME.
        #[arg(long, value_name = "REF")]
        replacement: Option<String>,
        /// Version id, label or @alias.
        #[arg(long)]
        version: Option<String>,
    },
    /// Archive (lifecycle.archive).
    Archive {
        #[command(flatten)]
        target: AssetArg,
        /// Version id, label or @alias.
        #[arg(long)]
        version: Option<String>,
    },
    /// Restore an archived asset (lifecycle.restore).
    Restore {
        #[command(flatten)]
        target: AssetArg,
        /// State to restore to (one of the kind's restore targets).
        #[arg(long)]
        to: Option<String>,
        /// Version id, label or @alias.
        #[arg(long)]
        version: Option<String>,
    },
}

/// Runs a governance command.
pub async fn run(ctx: &Ctx, cmd: GovernanceCmd, scope: Option<&str>) -> Outcome {
    match cmd {
        GovernanceCmd::Get(target) => {
            let asset = target.resolve(ctx, scope).await?;
            let overlay = ctx
                .clients
                .governance()
                .get_asset_governance(gpb::GetAssetGovernanceRequest {
                    plugin: asset.plugin.clone(),
                    kind: asset.kind.clone(),
                    name: asset.name.clone(),
                })
                .await?
                .into_inner();
            let json = output::to_json("catalog.governance.v1alpha1.AssetGovernance", &overlay);
            if ctx.format != Format::Table {
                output::print_document(ctx.format, &json)?;
                return Ok(0);
            }
            let mut out = format!("{}\n", asset.reference());
            let mut head = Block::default();
            head.kv("Asset uid", cell(json.get("assetUid")));
            head.kv("Source", cell(json.get("sourceId")));
            head.kv("Resource version", cell(json.get("resourceVersion")));
            head.kv("Content digest", cell(json.get("contentDigest")));
            head.kv("Approved digest", cell(json.get("approvedContentDigest")));
            head.kv("Pending approvals", cell(json.get("pendingApprovalCount")));
            out.push_str(&head.render(""));
            let empty = json!({});
            let governance = json.get("governance").unwrap_or(&empty);
            out.push_str(&lifecycle_block(governance.get("lifecycle")));
            out.push_str(&governance_block(governance));
            if let Some(conditions) = json.get("conditions").and_then(Value::as_array) {
                let mut block = Block::default();
                for c in conditions {
                    let mut text = format!("{} ({})", cell(c.get("status")), cell(c.get("reason")));
                    let message = cell(c.get("message"));
                    if !message.is_empty() {
                        text.push_str(&format!(": {message}"));
                    }
                    block.kv(&cell(c.get("type")), text);
                }
                out.push_str(&block.render("CONDITIONS"));
            }
            out.push_str(&super::versions::bindings_table(json.get("bindings")));
            output::write_stdout(&out)?;
            Ok(0)
        }
        GovernanceCmd::Set(set) => governance_set(ctx, *set, scope).await,
    }
}

async fn governance_set(ctx: &Ctx, set: GovernanceSet, scope: Option<&str>) -> Outcome {
    let asset = set.target.resolve(ctx, scope).await?;
    let mut patch = match &set.file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
            serde_norway::from_str::<Value>(&text).map_err(|e| {
                CliError::usage(format!("{} is not YAML or JSON: {e}", path.display()))
            })?
        }
        None => json!({}),
    };
    if !patch.is_object() {
        return Err(CliError::usage("the patch file must hold an object"));
    }
    let mut paths: Vec<String> = Vec::new();
    let mut put = |path: &str, value: Value| {
        let mut node = &mut patch;
        let parts: Vec<&str> = path.split('.').collect();
        for part in &parts[..parts.len() - 1] {
            node = node
                .as_object_mut()
                .expect("objects all the way down")
                .entry(part.to_string())
                .or_insert_with(|| json!({}));
        }
        node.as_object_mut()
            .expect("objects all the way down")
            .insert(parts[parts.len() - 1].to_string(), value);
        paths.push(path.to_string());
    };
    if let Some(v) = &set.owner {
        put("owner.principal", json!(v));
    }
    if let Some(v) = &set.owner_email {
        put("owner.email", json!(v));
    }
    if let Some(v) = &set.team {
        put("team.name", json!(v));
    }
    if let Some(v) = &set.sla_tier {
        put("sla.tier", json!(v));
    }
    if let Some(v) = set.sla_hours {
        put("sla.responseHours", json!(v));
    }
    if let Some(v) = &set.risk_level {
        put("risk.level", json!(v));
    }
    if !set.risk_category.is_empty() {
        put("risk.categories", json!(set.risk_category));
    }
    if !set.compliance_tag.is_empty() {
        put("compliance.tags", json!(set.compliance_tag));
    }
    if !set.control.is_empty() {
        put("compliance.controls", json!(set.control));
    }
    if let Some(v) = &set.intended_use {
        put("intendedUse.summary", json!(v));
    }
    if !set.intended_env.is_empty() {
        put("intendedUse.environments", json!(set.intended_env));
    }
    if !set.restriction.is_empty() {
        put("intendedUse.restrictions", json!(set.restriction));
    }
    if let Some(v) = &set.last_reviewed {
        super::timestamp("last-reviewed", v)?;
        put("audit.lastReviewedAt", json!(v));
    }
    if let Some(v) = set.review_cadence_days {
        put("audit.reviewCadenceDays", json!(v));
    }
    for ext in &set.ext {
        let (key, value) = ext
            .split_once('=')
            .ok_or_else(|| CliError::usage(format!("--ext {ext:?} is not KEY=JSON")))?;
        let value = serde_json::from_str(value).unwrap_or_else(|_| json!(value));
        put(&format!("extensions.{key}"), value);
    }
    if paths.is_empty() && set.clear.is_empty() && set.file.is_none() {
        return Err(CliError::usage(
            "nothing to change: give a flag such as --owner, --clear FIELD or -f FILE",
        ));
    }
    let governance: pb::GovernanceMetadata =
        output::from_json("catalog.v1alpha1.GovernanceMetadata", &patch)?;
    // With --clear the mask must name every path: the set ones, the patch
    // file's top-level fields and the cleared ones.
    let update_mask = if set.clear.is_empty() {
        None
    } else {
        let mut all = paths.clone();
        if set.file.is_some() {
            all.extend(
                patch
                    .as_object()
                    .into_iter()
                    .flat_map(|m| m.keys().cloned()),
            );
        }
        all.extend(set.clear.iter().cloned());
        Some(prost_types::FieldMask { paths: all })
    };
    let updated = ctx
        .clients
        .governance()
        .update_asset_governance(gpb::UpdateAssetGovernanceRequest {
            plugin: asset.plugin.clone(),
            kind: asset.kind.clone(),
            name: asset.name.clone(),
            governance: Some(governance),
            update_mask,
            expected_resource_version: set.if_match.unwrap_or(0),
        })
        .await?
        .into_inner();
    let json = output::to_json("catalog.governance.v1alpha1.AssetGovernance", &updated);
    if ctx.format != Format::Table {
        output::print_document(ctx.format, &json)?;
    } else {
        let empty = json!({});
        let mut out = format!(
            "updated {} (resource version {})\n",
            asset.reference(),
            cell(json.get("resourceVersion"))
        );
        out.push_str(&governance_block(json.get("governance").unwrap_or(&empty)));
        output::write_stdout(&out)?;
    }
    Ok(0)
}

/// Runs a lifecycle verb.
pub async fn lifecycle(ctx: &Ctx, cmd: LifecycleCmd, scope: Option<&str>) -> Outcome {
    let version_param = |params: &mut Map<String, Value>, version: Option<String>| {
        if let Some(v) = version {
            params.insert("versionId".into(), json!(v));
        }
    };
    let mut params = Map::new();
    let (target, action) = match cmd {
        LifecycleCmd::Set {
            target,
            state,
            version,
        } => {
            params.insert("state".into(), json!(state));
            version_param(&mut params, version);
            (target, "lifecycle.setState")
        }
        LifecycleCmd::Approve { target, version } => {
            params.insert("state".into(), json!("approved"));
            version_param(&mut params, version);
            (target, "lifecycle.setState")
        }
        LifecycleCmd::Deprecate {
            target,
            replacement,
            version,
        } => {
            if let Some(r) = replacement {
                params.insert("replacementRef".into(), json!(r));
            }
            version_param(&mut params, version);
            (target, "lifecycle.deprecate")
        }
        LifecycleCmd::Archive { target, version } => {
            version_param(&mut params, version);
            (target, "lifecycle.archive")
        }
        LifecycleCmd::Restore {
            target,
            to,
            version,
        } => {
            if let Some(to) = to {
                params.insert("targetState".into(), json!(to));
            }
            version_param(&mut params, version);
            (target, "lifecycle.restore")
        }
    };
    let asset = target.resolve(ctx, scope).await?;
    if let Some(state) = params.get("state").and_then(Value::as_str) {
        let states = asset
            .governance()
            .and_then(|g| g.lifecycle.as_ref())
            .map(|l| l.states.clone())
            .unwrap_or_default();
        if !states.is_empty() && !states.iter().any(|s| s == state) {
            return Err(CliError::usage(format!(
                "{state:?} is not a lifecycle state of {}",
                asset.kind
            ))
            .with_hint(suggest::hint(state, states.iter().map(String::as_str))));
        }
    }
    if let Some(to) = params.get("targetState").and_then(Value::as_str) {
        let targets = asset
            .governance()
            .and_then(|g| g.lifecycle.as_ref())
            .map(|l| l.restore_targets.clone())
            .unwrap_or_default();
        if !targets.is_empty() && !targets.iter().any(|s| s == to) {
            return Err(CliError::usage(format!("cannot restore to {to:?}"))
                .with_hint(suggest::hint(to, targets.iter().map(String::as_str))));
        }
    }
    execute(ctx, &asset, action, Value::Object(params)).await
}

/// Runs one governance action on an asset and prints its result. The
/// action must be one the kind declares in its capabilities.
pub async fn execute(ctx: &Ctx, asset: &Asset, action: &str, params: Value) -> Outcome {
    let declared = &asset.entity().actions;
    if !declared.iter().any(|a| a == action) {
        return Err(CliError::usage(format!(
            "{} does not offer the action {action:?}",
            asset.kind
        ))
        .with_hint(suggest::hint(action, declared.iter().map(String::as_str))));
    }
    let result = ctx
        .clients
        .governance()
        .execute_governance_action(gpb::ExecuteGovernanceActionRequest {
            plugin: asset.plugin.clone(),
            kind: asset.kind.clone(),
            name: asset.name.clone(),
            action: action.to_string(),
            params: Some(output::to_struct(&params)?),
            dry_run: ctx.global.dry_run,
            reason: ctx.global.reason.clone().unwrap_or_default(),
        })
        .await?
        .into_inner();
    print_result(ctx, &asset.reference(), &result).await
}

/// Prints an ActionResult; a pending approval prints its request, what it
/// needs and the command that approves it, and answers exit code 10, as
/// does an accepted asynchronous job (with its id).
pub async fn print_result(ctx: &Ctx, subject: &str, result: &pb::ActionResult) -> Outcome {
    let json = output::to_json("catalog.v1alpha1.ActionResult", result);
    let held = result.status == "pending-approval" || !result.approval_request_id.is_empty();
    let job = !held && (result.status == "accepted" || !result.job_id.is_empty());
    let pending = held || job;
    let mut notes = String::new();
    if held {
        notes = pending_lines(ctx, &result.approval_request_id).await;
    } else if job {
        notes = format!("ACCEPTED  job={}\n", result.job_id);
    }
    if ctx.format != Format::Table {
        output::print_document(ctx.format, &json)?;
        if pending {
            eprint!("{notes}");
        }
    } else {
        let mut out = String::new();
        if pending {
            out.push_str(&notes);
        } else {
            out.push_str(&format!("{} {subject}: {}", result.action, result.status));
            if !result.message.is_empty() {
                out.push_str(&format!(" ({})", result.message));
            }
            out.push('\n');
            if ctx.global.dry_run {
                if let Some(data) = json.get("data") {
                    let yaml = serde_norway::to_string(&output::tidy(data)).unwrap_or_default();
                    for line in yaml.lines() {
                        out.push_str(&format!("  {line}\n"));
                    }
                }
            }
        }
        for warning in &result.warnings {
            out.push_str(&format!(
                "warning: {} ({})\n",
                warning.message, warning.code
            ));
        }
        output::write_stdout(&out)?;
    }
    Ok(if pending { EXIT_PENDING } else { 0 })
}

/// `PENDING APPROVAL  request=<id>  requires: …  expires=<ts>` and the
/// command that approves it.
async fn pending_lines(ctx: &Ctx, id: &str) -> String {
    let mut line = format!("PENDING APPROVAL  request={id}");
    let request = ctx
        .clients
        .approvals()
        .get_approval(gpb::GetApprovalRequest {
            request_id: id.to_string(),
        })
        .await
        .map(|r| r.into_inner());
    if let Ok(request) = request {
        let needs: Vec<String> = request
            .requirements
            .iter()
            .filter(|r| !r.satisfied)
            .map(|r| {
                format!(
                    "{} of [{}]",
                    r.approvals_required,
                    r.approver_roles.join(", ")
                )
            })
            .collect();
        if !needs.is_empty() {
            line.push_str(&format!("  requires: {}", needs.join("; ")));
        }
        let json = output::to_json("catalog.governance.v1alpha1.ApprovalRequest", &request);
        let expires = short_time(json.get("expiresAt"));
        if !expires.is_empty() {
            line.push_str(&format!("  expires={expires}"));
        }
    }
    format!("{line}\napprove with: catalogctl approvals approve {id}\n")
}

/// The LIFECYCLE block of an asset or overlay.
pub fn lifecycle_block(lifecycle: Option<&Value>) -> String {
    let Some(l) = lifecycle else {
        return String::new();
    };
    let mut block = Block::default();
    block.kv("State", cell(l.get("state")));
    block.kv("Previous state", cell(l.get("previousState")));
    block.kv("Reason", cell(l.get("reason")));
    block.kv("Changed by", cell(l.get("changedBy")));
    block.kv("Changed at", short_time(l.get("changedAt")));
    if let Some(r) = l.get("replacementRef") {
        block.kv(
            "Replacement",
            format!(
                "{}/{}/{}",
                cell(r.get("plugin")),
                cell(r.get("kind")),
                cell(r.get("name"))
            ),
        );
    }
    block.kv("Approval request", cell(l.get("approvalRequestId")));
    block.render("LIFECYCLE")
}

/// The GOVERNANCE block: owner, team, SLA, risk, use, compliance, review.
pub fn governance_block(g: &Value) -> String {
    let mut block = Block::default();
    let owner = cell(at_path(g, "owner.principal").as_ref());
    let email = cell(at_path(g, "owner.email").as_ref());
    block.kv(
        "Owner",
        if email.is_empty() {
            owner
        } else {
            format!("{owner} <{email}>")
        },
    );
    block.kv("Team", cell(at_path(g, "team.name").as_ref()));
    let tier = cell(at_path(g, "sla.tier").as_ref());
    let hours = cell(at_path(g, "sla.responseHours").as_ref());
    block.kv(
        "SLA",
        if hours.is_empty() {
            tier
        } else {
            format!("{tier} ({hours} h)")
        },
    );
    let level = cell(at_path(g, "risk.level").as_ref());
    let categories = cell(at_path(g, "risk.categories").as_ref());
    block.kv(
        "Risk",
        if categories.is_empty() {
            level
        } else {
            format!("{level} [{categories}]")
        },
    );
    block.kv(
        "Intended use",
        cell(at_path(g, "intendedUse.summary").as_ref()),
    );
    block.kv(
        "Environments",
        cell(at_path(g, "intendedUse.environments").as_ref()),
    );
    block.kv(
        "Restrictions",
        cell(at_path(g, "intendedUse.restrictions").as_ref()),
    );
    block.kv("Compliance", cell(at_path(g, "compliance.tags").as_ref()));
    block.kv("Controls", cell(at_path(g, "compliance.controls").as_ref()));
    block.kv(
        "Last reviewed",
        short_time(at_path(g, "audit.lastReviewedAt").as_ref()),
    );
    block.kv(
        "Next review due",
        short_time(at_path(g, "audit.nextReviewDueAt").as_ref()),
    );
    if at_path(g, "audit.reviewOverdue") == Some(json!(true)) {
        block.kv("Review", "OVERDUE");
    }
    if let Some(ext) = g.get("extensions") {
        block.kv("Extensions", ext.to_string());
    }
    block.kv("Updated by", cell(g.get("updatedBy")));
    block.kv("Updated at", short_time(g.get("updatedAt")));
    block.render("GOVERNANCE")
}
