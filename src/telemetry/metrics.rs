//! What `GET /metrics` exports, gathered at scrape time: the governance
//! counters the governance service fills, the pending-approval gauge read
//! from the database, configuration reloads and the per-RPC families of
//! [`super::rpc`]. It owns the names and help texts of every family but
//! the per-RPC ones; it does not serve HTTP (the transport does).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::exposition::{Exposition, Kind};
use super::rpc::RpcMetrics;
use crate::catalog::{CacheStats, ReadCache};
use crate::governance::settings::ReloadStats;
use crate::governance::{Counters, Governance, Series};

// Series shown at 0 before their first count, so that `rate()` and
// `increase()` see the first one too; only for families whose label values
// are a short closed set.
const DECISIONS: &[[&str; 1]] = &[["approve"], ["reject"]];
const POLICY_RESULTS: &[[&str; 1]] = &[["deny"], ["execute"], ["require-approval"]];
const SIGNATURE_RESULTS: &[[&str; 2]] = &[
    ["cosign", "error"],
    ["cosign", "unverified"],
    ["cosign", "verified"],
];

/// Everything one scrape reads.
#[derive(Clone)]
pub struct Metrics {
    rpc: Arc<RpcMetrics>,
    governance: Governance,
    reloads: Arc<ReloadStats>,
    answers: Arc<ReadCache>,
}

impl Metrics {
    /// Metrics over the server's parts; `reloads` must be the same stats the
    /// settings watcher counts into.
    pub fn new(
        rpc: Arc<RpcMetrics>,
        governance: Governance,
        reloads: Arc<ReloadStats>,
        answers: Arc<ReadCache>,
    ) -> Self {
        Metrics {
            rpc,
            governance,
            reloads,
            answers,
        }
    }

    /// The whole exposition, in the text format.
    pub async fn render(&self) -> String {
        // Counted in the database, not in this process: every replica then
        // reports the same numbers, and requests other replicas created or
        // decided are included.
        let pending = self.governance.store().pending_by_action().await;
        let mut out = Exposition::new();
        let mut family = out.family(
            "approvals_pending_count",
            Kind::Gauge,
            "Approval requests waiting for a decision (all replicas), by plugin and the action they hold.",
        );
        match pending {
            Ok(rows) => {
                for (plugin, action, n) in &rows {
                    family.sample(&[("plugin", plugin), ("action", action)], *n as f64);
                }
            }
            // Missing samples, not made-up ones: alerts on absent() notice,
            // and the other families are still worth scraping.
            Err(e) => tracing::warn!(error = %e, "metrics: could not count pending approvals"),
        }

        encode_counters(&mut out, self.governance.counters());

        let mut family = out.family(
            "governance_config_reloads_total",
            Kind::Counter,
            "Changed governance configuration or approval policy files, applied or refused (the previous settings stay in force).",
        );
        family
            .sample(
                &[("result", "applied")],
                self.reloads.reloaded.load(Ordering::Relaxed) as f64,
            )
            .sample(
                &[("result", "refused")],
                self.reloads.refused.load(Ordering::Relaxed) as f64,
            );

        encode_read_cache(&mut out, self.answers.stats());
        self.rpc.encode(&mut out);
        out.finish()
    }
}

/// The GetAsset answer cache of this replica.
fn encode_read_cache(out: &mut Exposition, stats: CacheStats) {
    out.family(
        "asset_read_cache_requests_total",
        Kind::Counter,
        "GetAsset reads this replica answered from its cache (hit) or had to build (miss).",
    )
    .sample(&[("result", "hit")], stats.hits as f64)
    .sample(&[("result", "miss")], stats.misses as f64);
    out.family(
        "asset_read_cache_entries",
        Kind::Gauge,
        "GetAsset answers held in this replica's cache, compressed or as served (before the kind's compression dictionary was trained).",
    )
    .sample(&[("form", "compressed")], stats.compressed as f64)
    .sample(
        &[("form", "plain")],
        (stats.entries - stats.compressed) as f64,
    );
    out.family(
        "asset_read_cache_bytes",
        Kind::Gauge,
        "Bytes of this replica's GetAsset cache: held (what counts against the budget, answers compressed), answers (their size as served) and budget.",
    )
    .sample(&[("measure", "held")], stats.held_bytes as f64)
    .sample(&[("measure", "answers")], stats.answer_bytes as f64)
    .sample(&[("measure", "budget")], stats.budget_bytes as f64);
}

/// The families the governance service counts, in the order of spec 12 §7.
fn encode_counters(out: &mut Exposition, c: &Counters) {
    counter(
        out,
        "approval_requests_total",
        "Approval requests this replica created, and those that became approved, rejected, expired or cancelled here.",
        ["plugin", "action", "result"],
        &c.approval_requests,
        &[],
    );
    counter(
        out,
        "approval_decisions_total",
        "Approval decisions this replica recorded.",
        ["decision"],
        &c.approval_decisions,
        DECISIONS,
    );
    counter(
        out,
        "approval_execution_total",
        "Runs of actions held by approved requests, by whether they succeeded.",
        ["action", "status"],
        &c.approval_executions,
        &[],
    );
    counter(
        out,
        "lifecycle_transition_total",
        "Lifecycle action attempts on this replica (dry runs excepted), by outcome; from and to are unknown where they were not known.",
        ["plugin", "kind", "from", "to", "outcome"],
        &c.transitions,
        &[],
    );
    counter(
        out,
        "promotion_total",
        "Promotion action attempts (bind, promote, rollback, unbind) on this replica (dry runs excepted), by outcome.",
        ["plugin", "env", "action", "outcome"],
        &c.promotions,
        &[],
    );
    counter(
        out,
        "audit_events_total",
        "Audit events this replica appended to the chain.",
        ["action", "outcome"],
        &c.audit_events,
        &[],
    );
    counter(
        out,
        "signature_verification_total",
        "Signature verifications of asset content, by method and result.",
        ["method", "result"],
        &c.signature_verifications,
        SIGNATURE_RESULTS,
    );
    counter(
        out,
        "policy_evaluations_total",
        "Approval policy evaluations of governance actions (dry runs excepted), by result.",
        ["result"],
        &c.policy_evaluations,
        POLICY_RESULTS,
    );
    counter(
        out,
        "version_snapshots_total",
        "Versions this replica wrote, by trigger.",
        ["plugin", "trigger"],
        &c.version_snapshots,
        &[],
    );
    counter(
        out,
        "backfill_assets_total",
        "Assets the start-up backfill gave their governance record, by result.",
        ["plugin", "result"],
        &c.backfill_assets,
        &[],
    );
}

/// One counter family; `always` lists series shown even at 0.
fn counter<const N: usize>(
    out: &mut Exposition,
    name: &'static str,
    help: &str,
    labels: [&str; N],
    series: &Series<N>,
    always: &[[&str; N]],
) {
    let mut counts = series.snapshot();
    for values in always {
        counts.entry(values.map(str::to_string)).or_default();
    }
    let mut family = out.family(name, Kind::Counter, help);
    for (values, n) in &counts {
        let pairs: Vec<(&str, &str)> = labels
            .iter()
            .copied()
            .zip(values.iter().map(String::as_str))
            .collect();
        family.sample(&pairs, *n as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::audit::Outcome;
    use crate::domain::governance::approval::DecisionKind;
    use crate::domain::governance::State;

    fn encoded(counters: &Counters) -> String {
        let mut out = Exposition::new();
        encode_counters(&mut out, counters);
        out.finish()
    }

    fn has(text: &str, line: &str) -> bool {
        text.lines().any(|l| l == line)
    }

    #[test]
    fn counters_are_exported_with_the_spec_labels() {
        let c = Counters::default();
        c.transition(
            "agents",
            "Agent",
            Some(State::Draft),
            Some(State::Approved),
            Outcome::PendingApproval,
        );
        c.transition("agents", "Agent", None, None, Outcome::Failed);
        c.promotion("agents", "prod", "rollback", Outcome::Denied);
        c.approval_request("agents", "lifecycle.setState", "created");
        c.approval_execution("promotion.bind", false);
        c.version_snapshot("models", "source-change");
        c.backfill_asset("models", "created");
        let text = encoded(&c);
        for line in [
            r#"lifecycle_transition_total{plugin="agents",kind="Agent",from="draft",to="approved",outcome="pending-approval"} 1"#,
            r#"lifecycle_transition_total{plugin="agents",kind="Agent",from="unknown",to="unknown",outcome="failed"} 1"#,
            r#"promotion_total{plugin="agents",env="prod",action="rollback",outcome="denied"} 1"#,
            r#"approval_requests_total{plugin="agents",action="lifecycle.setState",result="created"} 1"#,
            r#"approval_execution_total{action="promotion.bind",status="failed"} 1"#,
            r#"version_snapshots_total{plugin="models",trigger="source-change"} 1"#,
            r#"backfill_assets_total{plugin="models",result="created"} 1"#,
            "# TYPE approval_decisions_total counter",
        ] {
            assert!(has(&text, line), "missing {line:?} in:\n{text}");
        }
    }

    #[test]
    fn closed_label_sets_are_shown_at_zero_before_their_first_count() {
        let text = encoded(&Counters::default());
        for line in [
            r#"signature_verification_total{method="cosign",result="verified"} 0"#,
            r#"signature_verification_total{method="cosign",result="unverified"} 0"#,
            r#"signature_verification_total{method="cosign",result="error"} 0"#,
            r#"policy_evaluations_total{result="execute"} 0"#,
            r#"policy_evaluations_total{result="require-approval"} 0"#,
            r#"policy_evaluations_total{result="deny"} 0"#,
            r#"approval_decisions_total{decision="approve"} 0"#,
            r#"approval_decisions_total{decision="reject"} 0"#,
        ] {
            assert!(has(&text, line), "missing {line:?} in:\n{text}");
        }
        // Families with open label values have no series until counted.
        assert!(!text.contains("lifecycle_transition_total{"), "{text}");
        assert!(text.contains("# TYPE lifecycle_transition_total counter\n"));
    }

    #[test]
    fn a_tally_counts_only_once_absorbed() {
        let c = Counters::default();
        c.approval_decision(DecisionKind::Approve);
        let tally = Counters::default();
        tally.approval_decision(DecisionKind::Approve);
        tally.approval_decision(DecisionKind::Reject);
        let line = r#"approval_decisions_total{decision="approve"} 2"#;
        assert!(!has(&encoded(&c), line));
        c.absorb(tally);
        let text = encoded(&c);
        assert!(has(&text, line), "{text}");
        assert!(has(
            &text,
            r#"approval_decisions_total{decision="reject"} 1"#
        ));
    }
}
