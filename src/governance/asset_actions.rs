//! ExecuteAssetAction (spec 01 §7.4): the asset actions this server
//! serves. They are the legacy `deprecate` and `promote`, and each one runs
//! as the governance action it stands for (`lifecycle.deprecate`,
//! `promotion.promote`) through [`Governance::execute`], so its gates,
//! transition and bind rules, audit event and metrics are that action's,
//! refusals included. The overlay actions of 01 §7.4 (tag, annotate,
//! label, link, validate) are not served, and capabilities do not list them.

use super::actions::{ActionCall, ActionOutcome};
use super::{Caller, Governance};
use crate::domain::governance::legacy::LegacyAction;
use crate::domain::{Error, Reason, Result};

impl Governance {
    /// Runs an asset action for a caller. The answer echoes the requested
    /// id; the audit trail and any approval request name the governance
    /// action that ran.
    pub async fn execute_asset_action(
        &self,
        caller: &Caller,
        call: &ActionCall,
    ) -> Result<ActionOutcome> {
        let legacy = LegacyAction::parse(&call.action).ok_or_else(|| unknown(&call.action))?;
        let routed = ActionCall {
            action: legacy.governance_action().to_string(),
            legacy: Some(legacy),
            ..call.clone()
        };
        let mut outcome = self.execute(caller, &routed).await?;
        outcome.action = legacy.id().to_string();
        Ok(outcome)
    }
}

fn unknown(action: &str) -> Error {
    let served: Vec<&str> = LegacyAction::ALL.iter().map(|a| a.id()).collect();
    Error::new(
        Reason::UnknownAction,
        format!(
            "asset action {action:?} is not served; ExecuteAssetAction serves {} (legacy), and governance actions such as lifecycle.deprecate run through ExecuteGovernanceAction",
            served.join(", ")
        ),
    )
    .with("action", action)
}
