//! What `GET /metrics` exports, gathered at scrape time: the governance
//! counters the governance service fills, the pending-approval gauge read
//! from the database, configuration reloads and the per-RPC families of
//! [`super::rpc`]. It owns the names and help texts of every family but
//! the per-RPC ones; it does not serve HTTP (the transport does).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::exposition::{Exposition, Kind};
use super::rpc::RpcMetrics;
use crate::governance::settings::ReloadStats;
use crate::governance::Governance;

/// Results `signature_verification_total` always shows, counted or not.
const SIGNATURE_RESULTS: [&str; 2] = ["verified", "failed"];

/// Everything one scrape reads.
#[derive(Clone)]
pub struct Metrics {
    rpc: Arc<RpcMetrics>,
    governance: Governance,
    reloads: Arc<ReloadStats>,
}

impl Metrics {
    /// Metrics over the server's parts; `reloads` must be the same stats the
    /// settings watcher counts into.
    pub fn new(rpc: Arc<RpcMetrics>, governance: Governance, reloads: Arc<ReloadStats>) -> Self {
        Metrics {
            rpc,
            governance,
            reloads,
        }
    }

    /// The whole exposition, in the text format.
    pub async fn render(&self) -> String {
        // Counted in the database, not in this process: every replica then
        // reports the same number, and requests other replicas created or
        // decided are included.
        let pending = self.governance.store().pending_total().await;
        let mut out = Exposition::new();
        let mut family = out.family(
            "approvals_pending_count",
            Kind::Gauge,
            "Approval requests waiting for a decision (all replicas).",
        );
        match pending {
            Ok(n) => {
                family.sample(&[], n as f64);
            }
            // A missing sample, not a made-up 0: alerts on absent() notice,
            // and the other families are still worth scraping.
            Err(e) => tracing::warn!(error = %e, "metrics: could not count pending approvals"),
        }

        let counters = self.governance.counters();
        let transitions = snapshot(&counters.transitions);
        let mut family = out.family(
            "lifecycle_transition_total",
            Kind::Counter,
            "Lifecycle transitions applied by this replica.",
        );
        for ((from, to, outcome), n) in &transitions {
            family.sample(
                &[("from", from), ("to", to), ("outcome", outcome)],
                *n as f64,
            );
        }

        let promotions = snapshot(&counters.promotions);
        let mut family = out.family(
            "promotion_total",
            Kind::Counter,
            "Environment bindings changed by this replica.",
        );
        for ((environment, action, outcome), n) in &promotions {
            family.sample(
                &[
                    ("environment", environment),
                    ("action", action),
                    ("outcome", outcome),
                ],
                *n as f64,
            );
        }

        let events = snapshot(&counters.audit_events);
        let mut family = out.family(
            "audit_events_total",
            Kind::Counter,
            "Audit events this replica appended to the chain.",
        );
        for ((action, outcome), n) in &events {
            family.sample(&[("action", action), ("outcome", outcome)], *n as f64);
        }

        let mut signatures = snapshot(&counters.signature_verifications);
        for result in SIGNATURE_RESULTS {
            signatures.entry(result.to_string()).or_default();
        }
        let mut family = out.family(
            "signature_verification_total",
            Kind::Counter,
            "Signature verifications of asset content, by result.",
        );
        for (result, n) in &signatures {
            family.sample(&[("result", result)], *n as f64);
        }

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

        self.rpc.encode(&mut out);
        out.finish()
    }
}

/// A copy of a counter map, so its lock is held only for the copy.
fn snapshot<K: Clone + Ord>(map: &std::sync::Mutex<BTreeMap<K, u64>>) -> BTreeMap<K, u64> {
    map.lock().unwrap_or_else(|e| e.into_inner()).clone()
}
