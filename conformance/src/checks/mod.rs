//! The checks of spec 11 §3, by area, with their stable ids. Each check is
//! an async function over one plugin (a [`Subject`]); it returns `Ok` or a
//! [`Fail`] naming what was expected and what happened.

pub mod approvals;
pub mod audit;
pub mod capabilities;
pub mod compat;
pub mod lifecycle;
pub mod listing;
pub mod promotion;
pub mod provenance;

use std::future::Future;
use std::time::Instant;

use tonic::Status;

use crate::api::{reason, Api, AssetKey};
use crate::fixtures::Rendered;
use crate::identity::Identities;
use crate::proto::pb;
use crate::report::{CheckResult, Report, Verdict};

/// Why a check did not pass.
#[derive(Debug)]
pub enum Fail {
    Fail(String),
    Skip(String),
}

/// What a check returns.
pub type Outcome = Result<(), Fail>;

/// Fails the check with a message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err($crate::checks::Fail::Fail(format!($($arg)*)));
        }
    };
}
pub(crate) use ensure;

/// The run: the server, the principals and the report.
pub struct Ctx {
    pub api: Api,
    pub ids: Identities,
    pub report: Report,
    pub run_id: String,
    /// The server runs the suite's approval policy.
    pub policy_matches: bool,
    /// Environments of the server's governance config, in order.
    pub environments: Vec<String>,
    /// Skip the checks that wait for expiry.
    pub quick: bool,
    /// Fixtures folder (goldens/<plugin>/ holds the BWC-01 goldens).
    pub fixtures: std::path::PathBuf,
    /// Write the answers as the new goldens instead of comparing.
    pub update_goldens: bool,
}

/// A plugin under test with the fixture assets loaded for this run.
#[derive(Debug, Clone)]
pub struct Subject {
    pub plugin: String,
    pub info: pb::PluginInfo,
    pub caps: pb::PluginCapabilities,
    pub entity: pb::EntityCapabilities,
    pub source_id: String,
    pub fixture: Rendered,
    /// ct-<plural>-<run>-1..3: plain, labelled restricted, labelled expiry.
    pub names: [String; 3],
    /// ct-<plural>-<run>-broken, when the fixture has an asset with a
    /// broken reference (PRM-04).
    pub broken: Option<String>,
    /// Entry diagnostics the validate action reported.
    pub validate_diagnostics: Vec<pb::Diagnostic>,
}

impl Subject {
    pub fn kind(&self) -> &str {
        &self.entity.kind
    }

    /// Asset `i` (0-based) of the fixture.
    pub fn asset(&self, i: usize) -> AssetKey {
        AssetKey {
            plugin: self.plugin.clone(),
            kind: self.entity.kind.clone(),
            name: self.names[i].clone(),
        }
    }

    /// The entity's governance capabilities, when supported.
    pub fn governance(&self) -> Option<&pb::GovernanceCapabilities> {
        self.entity.governance.as_ref().filter(|g| g.supported)
    }

    pub fn versioning(&self) -> bool {
        self.governance()
            .and_then(|g| g.versioning.as_ref())
            .is_some_and(|v| v.supported)
    }

    /// Every valid fixture asset name, sorted.
    pub fn all_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .names
            .iter()
            .cloned()
            .chain(self.broken.clone())
            .collect();
        names.sort();
        names
    }

    /// A list request over this run's fixture source.
    pub fn list(&self) -> pb::ListAssetsRequest {
        pb::ListAssetsRequest {
            plugin: self.plugin.clone(),
            kind: self.entity.kind.clone(),
            source_id: self.source_id.clone(),
            page_size: 100,
            ..Default::default()
        }
    }
}

impl Ctx {
    /// Runs one check and records its result.
    pub async fn run(
        &self,
        s: &Subject,
        id: &'static str,
        title: &'static str,
        check: impl Future<Output = Outcome>,
    ) {
        let started = Instant::now();
        let verdict = match check.await {
            Ok(()) => Verdict::Passed,
            Err(Fail::Fail(why)) => Verdict::Failed(format!("{}/{}: {why}", s.plugin, s.kind())),
            Err(Fail::Skip(why)) => Verdict::Skipped(why),
        };
        self.report.add(CheckResult {
            plugin: s.plugin.clone(),
            id,
            title,
            verdict,
            duration: started.elapsed(),
        });
    }

    /// Records a check that cannot run against this server yet.
    pub fn not_applicable(&self, s: &Subject, id: &'static str, title: &'static str, why: &str) {
        self.report.add(CheckResult {
            plugin: s.plugin.clone(),
            id,
            title,
            verdict: Verdict::Skipped(why.to_string()),
            duration: Default::default(),
        });
    }
}

/// A gRPC result as a check result: the error names the call, its code,
/// reason and message.
/// When `result` was held for approval, approver1 approves it, and the
/// request must end approved with its action run.
pub async fn approve_if_held(
    ctx: &Ctx,
    key: &AssetKey,
    result: &pb::ActionResult,
    what: &str,
) -> Outcome {
    if result.status != "pending-approval" {
        return Ok(());
    }
    let decided = ok(
        ctx.api
            .approve(&ctx.ids.approver1, key, &result.approval_request_id)
            .await,
        what,
    )?;
    let execution = decided.execution.unwrap_or_default();
    ensure!(
        decided.status == "approved" && execution.status == "succeeded",
        "request {} is {:?}, execution {:?}",
        decided.request_id,
        decided.status,
        execution.status
    );
    Ok(())
}

pub fn ok<T>(result: Result<T, Status>, what: &str) -> Result<T, Fail> {
    result.map_err(|status| {
        Fail::Fail(format!(
            "{what}: expected success, got {}",
            describe(&status)
        ))
    })
}

/// Expects a refusal with `expected` as its ErrorInfo reason.
pub fn refused<T: std::fmt::Debug>(
    result: Result<T, Status>,
    expected: &str,
    what: &str,
) -> Result<Status, Fail> {
    match result {
        Ok(value) => Err(Fail::Fail(
            format!("{what}: expected {expected}, but the call succeeded: {value:?}")
                .chars()
                .take(600)
                .collect(),
        )),
        Err(status) if reason(&status) == expected => Ok(status),
        Err(status) => Err(Fail::Fail(format!(
            "{what}: expected {expected}, got {}",
            describe(&status)
        ))),
    }
}

/// "CODE REASON: message (correlationId …)".
pub fn describe(status: &Status) -> String {
    let metadata = crate::api::error_metadata(status);
    format!(
        "{:?} {}: {}{}",
        status.code(),
        reason(status),
        status.message(),
        metadata
            .get("correlationId")
            .map(|c| format!(" (correlationId {c})"))
            .unwrap_or_default()
    )
}

/// Runs every area on one plugin, in an order where each builds on the
/// state the previous left.
pub async fn run_plugin(ctx: &Ctx, s: &Subject) {
    capabilities::run(ctx, s).await;
    listing::run(ctx, s).await;
    provenance::run(ctx, s).await;
    let before = compat::snapshot(ctx, s).await;
    compat::run_goldens(ctx, s).await;
    lifecycle::run(ctx, s).await;
    approvals::run(ctx, s).await;
    promotion::run(ctx, s).await;
    lifecycle::run_walk(ctx, s).await;
    approvals::run_after_walk(ctx, s).await;
    compat::run(ctx, s, before).await;
    audit::run(ctx, s).await;
}
