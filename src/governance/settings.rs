//! The governance configuration and approval policy in force, where they
//! came from, and their reload: a file that changes is re-read; an invalid
//! new version is refused, logged and counted, and the previous settings
//! stay in force.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::governance::config::GovernanceConfig;
use crate::domain::governance::lifecycle::TransitionTable;
use crate::domain::governance::policy::ApprovalPolicies;
use crate::domain::{Error, Reason, Result};

/// Everything the governance rules read from configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// governance.yaml.
    pub config: GovernanceConfig,
    /// The effective lifecycle table.
    pub transitions: TransitionTable,
    /// The approval policy.
    pub policies: ApprovalPolicies,
    /// Policy file, if any (None: built-in policy).
    pub policy_path: Option<PathBuf>,
    /// Governance config file, if any.
    pub config_path: Option<PathBuf>,
    /// When these settings were loaded.
    pub loaded_at: DateTime<Utc>,
}

impl Settings {
    /// Loads both files (either may be absent: built-in defaults).
    pub fn load(config_path: Option<&Path>, policy_path: Option<&Path>) -> Result<Settings> {
        let config = GovernanceConfig::load(config_path)?;
        let transitions = TransitionTable::new(&config.lifecycle)?;
        let policies = match policy_path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Error::new(
                        Reason::PolicyConfigInvalid,
                        format!(
                            "cannot read the approval policy file {}: {e}",
                            path.display()
                        ),
                    )
                })?;
                ApprovalPolicies::parse(&text).map_err(|mut e| {
                    e.message = format!("{} ({})", e.message, path.display());
                    e
                })?
            }
            None => ApprovalPolicies::builtin(),
        };
        Ok(Settings {
            config,
            transitions,
            policies,
            policy_path: policy_path.map(Path::to_path_buf),
            config_path: config_path.map(Path::to_path_buf),
            loaded_at: Utc::now(),
        })
    }

    /// Settings with every default (tests, and no files configured).
    pub fn defaults() -> Settings {
        let config = GovernanceConfig::default();
        Settings {
            transitions: TransitionTable::new(&config.lifecycle)
                .expect("the default lifecycle configuration is valid"),
            config,
            policies: ApprovalPolicies::builtin(),
            policy_path: None,
            config_path: None,
            loaded_at: Utc::now(),
        }
    }
}

/// Reload failures, for the metrics endpoint.
#[derive(Debug, Default)]
pub struct ReloadStats {
    /// Successful reloads.
    pub reloaded: AtomicU64,
    /// Refused reloads.
    pub refused: AtomicU64,
}

/// Watches the two files by content and swaps in new settings when both
/// load. Polling by content (not mtime) also catches editors that replace
/// files atomically.
pub fn watch(governance: super::Governance, stats: Arc<ReloadStats>, every: Duration) {
    tokio::spawn(async move {
        let mut last = fingerprint(&governance.settings());
        loop {
            tokio::time::sleep(every).await;
            let current = governance.settings();
            let seen = fingerprint(&current);
            if seen == last {
                continue;
            }
            last = seen;
            match Settings::load(
                current.config_path.as_deref(),
                current.policy_path.as_deref(),
            ) {
                Ok(settings) => {
                    tracing::info!(
                        policyDigest = %settings.policies.digest,
                        "governance settings reloaded"
                    );
                    governance.replace_settings(settings);
                    stats.reloaded.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::error!(
                        reason = e.reason.code(),
                        error = %e.message,
                        violations = ?e.violations,
                        "refused a new governance configuration or approval policy; the previous one stays in force"
                    );
                    stats.refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    });
}

fn fingerprint(settings: &Settings) -> Vec<Option<Vec<u8>>> {
    [&settings.config_path, &settings.policy_path]
        .into_iter()
        .map(|p| p.as_ref().and_then(|p| std::fs::read(p).ok()))
        .collect()
}
