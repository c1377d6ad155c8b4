//! Approval policies (spec 07 §2–3): the normalized policy model, the loader
//! that reads the canonical and the legacy file formats into it (reporting
//! every problem at once), and gate evaluation of one requested action.
//! Pure: the server reads the file, persists approval requests and turns an
//! outcome into a response.

use std::collections::{BTreeMap, BTreeSet};

use globset::Glob;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::State;
use crate::domain::asset::{canonical_json, sha256_digest};
use crate::domain::error::{Error, Reason};

/// `apiVersion` of the canonical format.
pub const API_VERSION: &str = "catalog.kubeflow.org/v1alpha1";
/// `kind` of the canonical format.
pub const KIND: &str = "ApprovalPolicies";
/// Name of the implicit rule behind `defaults.transitionApprovals`.
pub const DEFAULT_TRANSITION_RULE: &str = "default-transition-approvals";
/// Lifetime of a pending request when the policy does not say otherwise.
pub const DEFAULT_EXPIRY_HOURS: f64 = 168.0;

/// Action ids a gate may name, directly or through a glob. A gate whose glob
/// matches none of them is refused at load, so that a typo cannot silently
/// disable it. The last two are the legacy asset actions (01 §7.4).
pub const GATEABLE_ACTIONS: &[&str] = &[
    "lifecycle.setState",
    "lifecycle.deprecate",
    "lifecycle.archive",
    "lifecycle.restore",
    "promotion.bind",
    "promotion.promote",
    "promotion.rollback",
    "promotion.unbind",
    "version.create",
    "alias.set",
    "governance.update",
    "deprecate",
    "promote",
];

/// Paths of the governance block that selectors and conditions may name
/// (05 §1), besides `extensions.<key>`.
pub const GOVERNANCE_PATHS: &[&str] = &[
    "owner.principal",
    "owner.displayName",
    "owner.email",
    "team.name",
    "team.id",
    "sla.tier",
    "sla.responseHours",
    "risk.level",
    "risk.categories",
    "intendedUse.summary",
    "intendedUse.environments",
    "intendedUse.restrictions",
    "compliance.tags",
    "compliance.controls",
    "audit.lastReviewedAt",
    "audit.reviewCadenceDays",
    "audit.nextReviewDueAt",
    "audit.reviewOverdue",
];

/// Condition keys that name the request context rather than governance.
pub const CONTEXT_CONDITION_KEYS: &[&str] = &[
    "toState",
    "fromState",
    "environment",
    "fromEnv",
    "lifecycle.state",
    "asset.lifecycle.state",
    "signature.verified",
    "sourceType",
    "references.broken",
    "allowDeprecated",
    "actor.roles",
];

const RISK_LEVELS: &[&str] = &["low", "medium", "high", "critical"];
const SLA_TIERS: &[&str] = &["gold", "silver", "bronze", "none"];
const STATE_NAMES: &str = "draft, approved, deprecated, archived";

/// The normalized policy in force. Both file formats load into it; it is
/// what the server publishes (`GetGovernanceConfig`) and evaluates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalPolicies {
    /// Defaults, with every omitted key filled in.
    pub defaults: PolicyDefaults,
    /// Gate rules, in file order (the order decides `first_rule` and which
    /// deny is reported).
    pub rules: Vec<Rule>,
    /// `sha256:<hex>` of the canonical JSON of [`ApprovalPolicies::document`].
    pub digest: String,
}

/// `defaults` of the policy file (07 §2.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyDefaults {
    /// `owner.principal` is required for any transition to approved.
    pub require_owner_for_approval: bool,
    /// Further governance paths required for approval.
    pub required_fields_for_approval: Vec<String>,
    /// Lifetime of a pending request, in hours.
    pub expiry_hours: f64,
    /// Whether one rejection rejects a request.
    pub deny_on_first_reject: bool,
    /// Approvals needed per lifecycle transition; published as `"from->to"` keys.
    #[serde(with = "transition_keys")]
    pub transition_approvals: BTreeMap<(State, State), TransitionApproval>,
}

/// One entry of `defaults.transitionApprovals`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransitionApproval {
    /// Distinct approvers needed; 0 disables the entry.
    pub approvals_required: u32,
    /// Roles that qualify.
    #[serde(default)]
    pub approver_roles: Vec<String>,
}

/// A gate rule (07 §2.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// Unique name, shown in responses and audit.
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A disabled rule loads but never matches.
    pub enabled: bool,
    /// Which assets the rule applies to.
    pub selector: Selector,
    /// What the rule enforces; never empty.
    pub gates: Vec<Gate>,
}

/// Which assets a rule applies to. Present fields are ANDed; an empty list
/// or map stands for an absent field (the loader refuses written empty ones).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Selector {
    /// Matches every asset.
    #[serde(default, skip_serializing_if = "is_false")]
    pub match_all: bool,
    /// The asset's plugin is one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<String>,
    /// The canonical kind is one of these (case-insensitive).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<String>,
    /// The asset name matches one of these globs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// The effective source id is one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_ids: Vec<String>,
    /// Every label is present with the value, or one of the values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, Expected>,
    /// Every governance path matches (07 §2.5).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub governance: BTreeMap<String, Expected>,
    /// At least one sub-selector matches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub any: Vec<Selector>,
    /// Every sub-selector matches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub all: Vec<Selector>,
    /// The sub-selector does not match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not: Option<Box<Selector>>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// What a gate enforces (07 §2.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Gate {
    /// Action id or glob.
    pub action: String,
    /// Extra conditions; absent means always.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Conditions>,
    /// Distinct qualifying approvers needed.
    pub approvals_required: u32,
    /// Roles that qualify.
    #[serde(default)]
    pub approver_roles: Vec<String>,
    /// When it matches, the action is refused outright.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny_when: Option<Conditions>,
    /// Overrides `defaults.expiryHours` for requests this gate creates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_hours: Option<f64>,
    /// Overrides `defaults.denyOnFirstReject` for this gate's requirement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny_on_first_reject: Option<bool>,
    /// Text returned with POLICY_DENIED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
}

/// Condition key → expected value, all ANDed (07 §2.4).
pub type Conditions = BTreeMap<String, Expected>;

/// An expected value: one scalar (equality, or "contains" for an array
/// property) or a list (any of, or "intersects").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Expected {
    /// Any of these scalars.
    Any(Vec<Value>),
    /// This scalar.
    One(Value),
}

impl Expected {
    /// The expected scalars.
    pub fn values(&self) -> &[Value] {
        match self {
            Expected::Any(values) => values,
            Expected::One(value) => std::slice::from_ref(value),
        }
    }
}

/// The facts about one requested action that gates are evaluated against.
#[derive(Debug, Clone, Copy)]
pub struct GateContext<'a> {
    /// Plugin of the subject asset.
    pub plugin: &'a str,
    /// Canonical kind of the subject asset.
    pub kind: &'a str,
    /// Asset name.
    pub name: &'a str,
    /// Effective source id.
    pub source_id: Option<&'a str>,
    /// `provenance.source.type` of the subject.
    pub source_type: Option<&'a str>,
    /// `metadata.labels` of the asset.
    pub labels: &'a BTreeMap<String, String>,
    /// The governance block as camelCase JSON.
    pub governance: &'a Value,
    /// Requested action id (not its effective alias).
    pub action: &'a str,
    /// Target state of a lifecycle action.
    pub to_state: Option<State>,
    /// State of the subject when a version is the subject; else `asset_state` applies.
    pub from_state: Option<State>,
    /// Asset-level state.
    pub asset_state: State,
    /// Target environment of a binding action.
    pub environment: Option<&'a str>,
    /// Source environment of `promotion.promote`.
    pub from_env: Option<&'a str>,
    /// `allowDeprecated` param of a binding action.
    pub allow_deprecated: Option<bool>,
    /// `integrity.signature.verified` of the subject.
    pub signature_verified: Option<bool>,
    /// Whether any reference of the subject is broken.
    pub references_broken: bool,
    /// The requester's roles.
    pub actor_roles: &'a [String],
}

/// The verdict on one requested action (07 §3.2).
#[derive(Debug, Clone, PartialEq)]
pub enum GateOutcome {
    /// No gate applies: run the action now.
    Execute,
    /// A `denyWhen` matched: POLICY_DENIED, no request.
    Deny {
        /// Rule of the first matching deny.
        rule: String,
        /// Index of the gate within the rule.
        gate_index: usize,
        /// What the caller can do about it.
        remediation: String,
    },
    /// Approvals are needed: open (or reuse) an approval request.
    RequireApproval {
        /// One entry per gate with approvals_required > 0, rules in file
        /// order, the default transition gate last.
        requirements: Vec<Requirement>,
        /// Lifetime of the request.
        expiry_hours: f64,
        /// Whether one rejection rejects the request.
        deny_on_first_reject: bool,
        /// Rule of the first requirement (audit `policyRule`).
        first_rule: String,
        /// Every gate that matched, for the response and the audit.
        matched: Vec<MatchedGate>,
    },
}

impl GateOutcome {
    /// The dry-run `plan.outcome` spelling.
    pub fn plan_outcome(&self) -> &'static str {
        match self {
            GateOutcome::Execute => "would-execute",
            GateOutcome::Deny { .. } => "would-deny",
            GateOutcome::RequireApproval { .. } => "would-require-approval",
        }
    }
}

/// A gate that matched a request, for dry-run plans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchedGate {
    /// Rule name.
    pub rule: String,
    /// Gate index within the rule.
    pub gate_index: usize,
    /// The requested or effective action id the gate matched.
    pub action: String,
    /// Approvals the gate asks for.
    pub approvals_required: u32,
    /// Whether its `denyWhen` matched.
    pub deny: bool,
}

/// An outcome together with every gate that matched (deny gates included).
#[derive(Debug, Clone, PartialEq)]
pub struct GatePlan {
    /// The verdict.
    pub outcome: GateOutcome,
    /// Matching gates in evaluation order.
    pub matched: Vec<MatchedGate>,
}

/// One gate requirement held by an approval request (07 §4.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Requirement {
    /// Rule name.
    pub rule: String,
    /// Gate index within the rule.
    pub gate_index: usize,
    /// Distinct qualifying approvers needed.
    pub approvals_required: u32,
    /// Roles that qualify.
    pub approver_roles: Vec<String>,
}

/// The ids an action is evaluated as (07 §3.1): itself first, then its
/// aliases.
pub fn effective_actions(action: &str) -> Vec<&str> {
    let aliases: &[&'static str] = match action {
        "lifecycle.deprecate" | "lifecycle.archive" | "lifecycle.restore" => {
            &["lifecycle.setState"]
        }
        "promotion.promote" | "promotion.rollback" => &["promotion.bind"],
        "deprecate" => &["lifecycle.deprecate", "lifecycle.setState"],
        "promote" => &["promotion.promote", "promotion.bind"],
        _ => &[],
    };
    let mut ids = vec![action];
    ids.extend_from_slice(aliases);
    ids
}

/// The target state an action implies by itself; `lifecycle.restore` and
/// `lifecycle.setState` take theirs from params.
pub fn implied_target_state(action: &str) -> Option<State> {
    match action {
        "lifecycle.deprecate" | "deprecate" => Some(State::Deprecated),
        "lifecycle.archive" => Some(State::Archived),
        _ => None,
    }
}

/// POLICY_DENIED for a deny outcome.
pub fn deny_error(
    plugin: &str,
    kind: &str,
    name: &str,
    action: &str,
    rule: &str,
    gate_index: usize,
    remediation: &str,
) -> Error {
    Error::new(
        Reason::PolicyDenied,
        format!(
            "{action} on {plugin}/{kind}/{name} is denied by approval policy rule \
             {rule} (gate {gate_index}): {remediation}"
        ),
    )
    .with("rule", rule)
    .with("gateIndex", gate_index)
    .with("remediation", remediation)
    .with("action", action)
}

impl Default for ApprovalPolicies {
    fn default() -> Self {
        ApprovalPolicies::builtin()
    }
}

impl PolicyDefaults {
    /// The defaults of 07 §2.1 with the transition table of §2.3.
    pub fn builtin() -> Self {
        let approver = || vec!["approver".to_string()];
        let mut table = BTreeMap::new();
        for (from, to) in [
            (State::Draft, State::Approved),
            (State::Approved, State::Archived),
            (State::Deprecated, State::Approved),
            (State::Deprecated, State::Archived),
            (State::Archived, State::Deprecated),
            (State::Archived, State::Draft),
        ] {
            table.insert(
                (from, to),
                TransitionApproval {
                    approvals_required: 1,
                    approver_roles: approver(),
                },
            );
        }
        // Listed with 0 so that the published table shows the transition as
        // known and deliberately ungated.
        table.insert(
            (State::Approved, State::Deprecated),
            TransitionApproval {
                approvals_required: 0,
                approver_roles: Vec::new(),
            },
        );
        PolicyDefaults {
            require_owner_for_approval: true,
            required_fields_for_approval: Vec::new(),
            expiry_hours: DEFAULT_EXPIRY_HOURS,
            deny_on_first_reject: true,
            transition_approvals: table,
        }
    }
}

impl ApprovalPolicies {
    /// The policy in force when no file is configured: built-in defaults, no rules.
    pub fn builtin() -> Self {
        ApprovalPolicies::new(PolicyDefaults::builtin(), Vec::new())
    }

    /// Assembles a policy and computes its digest.
    pub fn new(defaults: PolicyDefaults, rules: Vec<Rule>) -> Self {
        let mut policies = ApprovalPolicies {
            defaults,
            rules,
            digest: String::new(),
        };
        policies.refresh_digest();
        policies
    }

    /// Recomputes the digest after a change to defaults or rules.
    pub fn refresh_digest(&mut self) {
        self.digest = sha256_digest(canonical_json(&self.document()).as_bytes());
    }

    /// The normalized policy in the canonical file shape (without the digest).
    pub fn document(&self) -> Value {
        json!({
            "apiVersion": API_VERSION,
            "kind": KIND,
            "defaults": self.defaults,
            "rules": self.rules,
        })
    }

    /// Names of the rules that load but are inactive, for the load report.
    pub fn disabled_rules(&self) -> Vec<&str> {
        self.rules
            .iter()
            .filter(|rule| !rule.enabled)
            .map(|rule| rule.name.as_str())
            .collect()
    }

    /// Reads a policy file in the canonical or the legacy format (07 §2.7).
    /// Every problem is reported at once as a field violation of one
    /// POLICY_CONFIG_INVALID error.
    pub fn parse(yaml: &str) -> Result<ApprovalPolicies, Error> {
        let tree: serde_norway::Value = serde_norway::from_str(yaml).map_err(yaml_error)?;
        let doc = serde_json::to_value(tree).map_err(|e| {
            Error::new(
                Reason::PolicyConfigInvalid,
                format!("approval policies: unsupported YAML construct: {e}"),
            )
            .violation("document", format!("{e}; use plain string keys"))
        })?;
        let mut loader = Loader::default();
        let legacy = matches!(&doc, Value::Object(map)
            if !map.contains_key("kind") && map.contains_key("policies"));
        let (defaults, rules) = if legacy {
            loader.legacy(&doc)
        } else {
            loader.canonical(&doc)
        };
        loader.finish(defaults, rules)
    }

    /// Rewrites selector kinds to canonical kinds (the loader cannot know the
    /// plugins' aliases) and refreshes the digest. Returns the kinds that
    /// `canonical` did not know, for the load report.
    pub fn resolve_kind_aliases(
        &mut self,
        canonical: impl Fn(&str) -> Option<String>,
    ) -> Vec<String> {
        fn walk(
            selector: &mut Selector,
            canonical: &dyn Fn(&str) -> Option<String>,
            unknown: &mut BTreeSet<String>,
        ) {
            for kind in &mut selector.kinds {
                match canonical(kind) {
                    Some(name) => *kind = name,
                    None => {
                        unknown.insert(kind.clone());
                    }
                }
            }
            for sub in selector.any.iter_mut().chain(selector.all.iter_mut()) {
                walk(sub, canonical, unknown);
            }
            if let Some(sub) = selector.not.as_deref_mut() {
                walk(sub, canonical, unknown);
            }
        }
        let mut unknown = BTreeSet::new();
        for rule in &mut self.rules {
            walk(&mut rule.selector, &canonical, &mut unknown);
        }
        self.refresh_digest();
        unknown.into_iter().collect()
    }

    /// Actions that some enabled rule or default transition entry could gate
    /// for assets of this plugin and kind (capabilities
    /// `approvals.gatedActions`, a hint only). Rules whose selectors depend
    /// on more than plugin and kind count as possibly applying.
    pub fn gated_actions(&self, plugin: &str, kind: &str) -> Vec<String> {
        let mut gated = BTreeSet::new();
        for rule in self.rules.iter().filter(|rule| rule.enabled) {
            if rule.selector.decide_for_kind(plugin, kind) == Some(false) {
                continue;
            }
            for gate in &rule.gates {
                for action in GATEABLE_ACTIONS {
                    let by_action = effective_actions(action)
                        .iter()
                        .any(|id| glob_matches(&gate.action, id));
                    if by_action && target_may_match(action, gate) {
                        gated.insert(*action);
                    }
                }
            }
        }
        for ((from, to), entry) in &self.defaults.transition_approvals {
            if entry.approvals_required == 0 {
                continue;
            }
            gated.insert("lifecycle.setState");
            // Only restore leaves archived; deprecate and archive name their target.
            if *from == State::Archived {
                gated.insert("lifecycle.restore");
            } else if *to == State::Deprecated {
                gated.insert("lifecycle.deprecate");
            } else if *to == State::Archived {
                gated.insert("lifecycle.archive");
            }
        }
        // Legacy ids (deprecate, promote) are left out: each runs as its
        // governance action, whose id the hint lists when a gate applies.
        gated
            .into_iter()
            .filter(|action| action.contains('.'))
            .map(str::to_string)
            .collect()
    }

    /// The verdict on one requested action (07 §3.2).
    pub fn evaluate(&self, ctx: &GateContext) -> GateOutcome {
        self.evaluate_plan(ctx).outcome
    }

    /// The verdict plus every matching gate, for dry runs and audit.
    pub fn evaluate_plan(&self, ctx: &GateContext) -> GatePlan {
        let ids = effective_actions(ctx.action);
        let facts = Facts {
            ctx,
            to_state: ctx.to_state.or_else(|| implied_target_state(ctx.action)),
            lifecycle: ids.contains(&"lifecycle.setState"),
        };
        let mut matched = Vec::new();
        let mut deny = None;
        // Each requirement with the expiry and reject rule of its own gate.
        let mut pending: Vec<(Requirement, f64, bool)> = Vec::new();

        for rule in self
            .rules
            .iter()
            .filter(|rule| rule.enabled && rule.selector.matches(ctx))
        {
            for (gate_index, gate) in rule.gates.iter().enumerate() {
                let Some(action) = ids.iter().find(|id| glob_matches(&gate.action, id)) else {
                    continue;
                };
                if gate.when.as_ref().is_some_and(|when| !facts.satisfy(when)) {
                    continue;
                }
                let denied = gate
                    .deny_when
                    .as_ref()
                    .is_some_and(|conditions| facts.satisfy(conditions));
                matched.push(MatchedGate {
                    rule: rule.name.clone(),
                    gate_index,
                    action: action.to_string(),
                    approvals_required: gate.approvals_required,
                    deny: denied,
                });
                if denied && deny.is_none() {
                    deny = Some(GateOutcome::Deny {
                        rule: rule.name.clone(),
                        gate_index,
                        remediation: gate.remediation.clone().unwrap_or_else(|| {
                            format!(
                                "approval policy rule {} forbids this action for this asset; \
                                 no approval can override it",
                                rule.name
                            )
                        }),
                    });
                }
                if gate.approvals_required > 0 {
                    pending.push((
                        Requirement {
                            rule: rule.name.clone(),
                            gate_index,
                            approvals_required: gate.approvals_required,
                            approver_roles: gate.approver_roles.clone(),
                        },
                        gate.expiry_hours.unwrap_or(self.defaults.expiry_hours),
                        gate.deny_on_first_reject
                            .unwrap_or(self.defaults.deny_on_first_reject),
                    ));
                }
            }
        }

        if let (true, Some(to)) = (facts.lifecycle, facts.to_state) {
            let from = facts.subject_state();
            if let Some(entry) = self
                .defaults
                .transition_approvals
                .get(&(from, to))
                .filter(|entry| entry.approvals_required > 0)
            {
                matched.push(MatchedGate {
                    rule: DEFAULT_TRANSITION_RULE.to_string(),
                    gate_index: 0,
                    action: "lifecycle.setState".to_string(),
                    approvals_required: entry.approvals_required,
                    deny: false,
                });
                pending.push((
                    Requirement {
                        rule: DEFAULT_TRANSITION_RULE.to_string(),
                        gate_index: 0,
                        approvals_required: entry.approvals_required,
                        approver_roles: entry.approver_roles.clone(),
                    },
                    self.defaults.expiry_hours,
                    self.defaults.deny_on_first_reject,
                ));
            }
        }

        let outcome = if let Some(deny) = deny {
            deny
        } else if pending.is_empty() {
            GateOutcome::Execute
        } else {
            // Every gate's own setting (its override, else the default)
            // takes part: the request lives as long as its shortest-lived
            // gate allows, and is rejectable at once if any gate wants that.
            let expiry_hours = pending
                .iter()
                .map(|(_, hours, _)| *hours)
                .fold(f64::INFINITY, f64::min);
            let deny_on_first_reject = pending.iter().any(|(_, _, first)| *first);
            let requirements: Vec<Requirement> =
                pending.into_iter().map(|(req, _, _)| req).collect();
            GateOutcome::RequireApproval {
                first_rule: requirements[0].rule.clone(),
                requirements,
                expiry_hours,
                deny_on_first_reject,
                matched: matched.clone(),
            }
        };
        GatePlan { outcome, matched }
    }
}

impl Selector {
    /// True when no field constrains anything: such a selector matches nothing.
    pub fn is_empty(&self) -> bool {
        !self.match_all
            && self.plugins.is_empty()
            && self.kinds.is_empty()
            && self.names.is_empty()
            && self.source_ids.is_empty()
            && self.labels.is_empty()
            && self.governance.is_empty()
            && self.any.is_empty()
            && self.all.is_empty()
            && self.not.is_none()
    }

    /// Whether the subject asset of `ctx` is selected (07 §2.2).
    pub fn matches(&self, ctx: &GateContext) -> bool {
        if self.is_empty() {
            return false;
        }
        (self.plugins.is_empty() || self.plugins.iter().any(|p| p == ctx.plugin))
            && (self.kinds.is_empty()
                || self.kinds.iter().any(|k| k.eq_ignore_ascii_case(ctx.kind)))
            && (self.names.is_empty() || self.names.iter().any(|g| glob_matches(g, ctx.name)))
            && (self.source_ids.is_empty()
                || ctx
                    .source_id
                    .is_some_and(|id| self.source_ids.iter().any(|s| s == id)))
            && self.labels.iter().all(|(key, expected)| {
                ctx.labels.get(key).is_some_and(|value| {
                    expected_matches(expected, &Prop::One(value.clone()), false)
                })
            })
            && self.governance.iter().all(|(path, expected)| {
                governance_prop(ctx.governance, path)
                    .is_some_and(|prop| expected_matches(expected, &prop, folds_case(path)))
            })
            && (self.any.is_empty() || self.any.iter().any(|sub| sub.matches(ctx)))
            && self.all.iter().all(|sub| sub.matches(ctx))
            && self.not.as_ref().is_none_or(|sub| !sub.matches(ctx))
    }

    /// Three-valued match knowing only plugin and kind: `Some` when those
    /// settle it, `None` when other facts of the asset would decide.
    fn decide_for_kind(&self, plugin: &str, kind: &str) -> Option<bool> {
        if self.is_empty() {
            return Some(false);
        }
        let mut parts = Vec::new();
        if !self.plugins.is_empty() {
            parts.push(Some(self.plugins.iter().any(|p| p == plugin)));
        }
        if !self.kinds.is_empty() {
            parts.push(Some(
                self.kinds.iter().any(|k| k.eq_ignore_ascii_case(kind)),
            ));
        }
        if !(self.names.is_empty()
            && self.source_ids.is_empty()
            && self.labels.is_empty()
            && self.governance.is_empty())
        {
            parts.push(None);
        }
        if !self.any.is_empty() {
            let subs: Vec<_> = self
                .any
                .iter()
                .map(|s| s.decide_for_kind(plugin, kind))
                .collect();
            parts.push(if subs.contains(&Some(true)) {
                Some(true)
            } else if subs.iter().all(|s| *s == Some(false)) {
                Some(false)
            } else {
                None
            });
        }
        parts.extend(self.all.iter().map(|s| s.decide_for_kind(plugin, kind)));
        if let Some(sub) = &self.not {
            parts.push(sub.decide_for_kind(plugin, kind).map(|m| !m));
        }
        if parts.contains(&Some(false)) {
            Some(false)
        } else if parts.iter().all(|p| *p == Some(true)) {
            Some(true)
        } else {
            None
        }
    }
}

/// False when the gate's `when.toState` excludes every state the action can
/// lead to, so that a gate on approving does not list deprecate as gated.
fn target_may_match(action: &str, gate: &Gate) -> bool {
    let targets: &[State] = match action {
        "lifecycle.deprecate" => &[State::Deprecated],
        "lifecycle.archive" => &[State::Archived],
        "lifecycle.restore" => &[State::Draft, State::Deprecated],
        _ => return true,
    };
    let Some(expected) = gate.when.as_ref().and_then(|when| when.get("toState")) else {
        return true;
    };
    targets
        .iter()
        .any(|target| expected_matches(expected, &Prop::One(target.as_str().to_string()), true))
}

/// An action or name glob against a text; an invalid glob (only possible in
/// a hand-built policy, the loader refuses them) matches nothing.
fn glob_matches(pattern: &str, text: &str) -> bool {
    Glob::new(pattern)
        .map(|glob| glob.compile_matcher().is_match(text))
        .unwrap_or(false)
}

/// A context property: one scalar or an array, as normalized strings.
#[derive(Debug)]
enum Prop {
    One(String),
    Many(Vec<String>),
}

/// Enum-like properties compare case-insensitively (07 §2.5).
fn folds_case(key: &str) -> bool {
    matches!(
        key,
        "toState"
            | "fromState"
            | "lifecycle.state"
            | "asset.lifecycle.state"
            | "risk.level"
            | "sla.tier"
    )
}

/// The 07 §2.5 string form of a scalar; `None` for null, arrays and objects.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Number(number) => Some(match (number.as_i64(), number.as_u64(), number.as_f64()) {
            (Some(int), _, _) => int.to_string(),
            (None, Some(uint), _) => uint.to_string(),
            // Integral floats are written as integers, so that 2.0 equals 2;
            // others use Rust's shortest round-trip form.
            (None, None, Some(float)) if float.fract() == 0.0 && float.abs() < 9.0e15 => {
                format!("{float:.0}")
            }
            _ => number.to_string(),
        }),
        _ => None,
    }
}

fn expected_matches(expected: &Expected, prop: &Prop, fold: bool) -> bool {
    let same = |a: &str, b: &str| {
        if fold {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    };
    expected
        .values()
        .iter()
        .filter_map(scalar_text)
        .any(|wanted| match prop {
            Prop::One(actual) => same(&wanted, actual),
            Prop::Many(items) => items.iter().any(|item| same(&wanted, item)),
        })
}

/// A governance path resolved in the governance block. `extensions.<key>`
/// takes the rest of the path as one key, since extension keys hold dots.
fn governance_prop(governance: &Value, path: &str) -> Option<Prop> {
    let value = match path.strip_prefix("extensions.") {
        Some(key) => governance.get("extensions")?.get(key)?,
        None => path
            .split('.')
            .try_fold(governance, |node, part| node.get(part))?,
    };
    match value {
        Value::Array(items) => Some(Prop::Many(items.iter().filter_map(scalar_text).collect())),
        scalar => scalar_text(scalar).map(Prop::One),
    }
}

/// The request context as condition keys see it.
struct Facts<'c, 'a> {
    ctx: &'c GateContext<'a>,
    to_state: Option<State>,
    /// `toState`/`fromState` exist only for lifecycle actions.
    lifecycle: bool,
}

impl Facts<'_, '_> {
    fn subject_state(&self) -> State {
        self.ctx.from_state.unwrap_or(self.ctx.asset_state)
    }

    fn get(&self, key: &str) -> Option<Prop> {
        let ctx = self.ctx;
        let one = |text: &str| Prop::One(text.to_string());
        let state = |state: State| Prop::One(state.as_str().to_string());
        let flag = |value: bool| Prop::One(value.to_string());
        match key {
            "toState" => self.to_state.filter(|_| self.lifecycle).map(state),
            "fromState" => self.lifecycle.then(|| state(self.subject_state())),
            "environment" => ctx.environment.map(one),
            "fromEnv" => ctx.from_env.map(one),
            "lifecycle.state" => Some(state(self.subject_state())),
            "asset.lifecycle.state" => Some(state(ctx.asset_state)),
            "signature.verified" => ctx.signature_verified.map(flag),
            "sourceType" => ctx.source_type.map(one),
            "references.broken" => Some(flag(ctx.references_broken)),
            "allowDeprecated" => ctx.allow_deprecated.map(flag),
            "actor.roles" => Some(Prop::Many(ctx.actor_roles.to_vec())),
            _ => match key.strip_prefix("labels.") {
                Some(label) => ctx.labels.get(label).map(|value| one(value)),
                None => governance_prop(ctx.governance, key),
            },
        }
    }

    fn satisfy(&self, conditions: &Conditions) -> bool {
        conditions.iter().all(|(key, expected)| {
            self.get(key)
                .is_some_and(|prop| expected_matches(expected, &prop, folds_case(key)))
        })
    }
}

/// (De)serializes the transition table with `"from->to"` keys.
mod transition_keys {
    use std::collections::BTreeMap;

    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{parse_transition, State, TransitionApproval};

    pub fn serialize<S: Serializer>(
        table: &BTreeMap<(State, State), TransitionApproval>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        table
            .iter()
            .map(|((from, to), entry)| (format!("{from}->{to}"), entry))
            .collect::<BTreeMap<_, _>>()
            .serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<(State, State), TransitionApproval>, D::Error> {
        BTreeMap::<String, TransitionApproval>::deserialize(deserializer)?
            .into_iter()
            .map(|(key, entry)| {
                parse_transition(&key)
                    .map(|pair| (pair, entry))
                    .map_err(D::Error::custom)
            })
            .collect()
    }
}

/// Reads `"from->to"`.
fn parse_transition(key: &str) -> Result<(State, State), String> {
    let (from, to) = key.split_once("->").ok_or_else(|| {
        format!("{key:?} is not a transition; write \"from->to\", e.g. \"draft->approved\"")
    })?;
    let state = |text: &str| {
        State::parse(text).ok_or_else(|| {
            format!(
                "{:?} is not a lifecycle state; allowed: {STATE_NAMES}",
                text.trim()
            )
        })
    };
    let (from, to) = (state(from)?, state(to)?);
    if from == to {
        return Err(format!(
            "{key:?} is a self-transition, which is always rejected"
        ));
    }
    Ok((from, to))
}

fn yaml_error(error: serde_norway::Error) -> Error {
    let text = error.to_string();
    match error.location() {
        Some(at) => Error::new(
            Reason::PolicyConfigInvalid,
            format!(
                "approval policies are not valid YAML (line {}, column {}): {text}",
                at.line(),
                at.column()
            ),
        )
        .with("line", at.line())
        .with("column", at.column())
        .violation(
            "document",
            format!(
                "YAML error at line {}, column {}: {text}",
                at.line(),
                at.column()
            ),
        ),
        None => Error::new(
            Reason::PolicyConfigInvalid,
            format!("approval policies are not valid YAML: {text}"),
        )
        .violation("document", text),
    }
}

/// How a condition or governance value is checked and normalized at load.
#[derive(Clone, Copy)]
enum ValueKind {
    State,
    Bool,
    Enum(&'static [&'static str]),
    Free,
}

fn governance_kind(path: &str) -> Option<ValueKind> {
    match path {
        "risk.level" => Some(ValueKind::Enum(RISK_LEVELS)),
        "sla.tier" => Some(ValueKind::Enum(SLA_TIERS)),
        "audit.reviewOverdue" => Some(ValueKind::Bool),
        _ if GOVERNANCE_PATHS.contains(&path) => Some(ValueKind::Free),
        _ => match path.strip_prefix("extensions.") {
            Some(key) if !key.is_empty() => Some(ValueKind::Free),
            _ => None,
        },
    }
}

fn condition_kind(key: &str) -> Option<ValueKind> {
    match key {
        "toState" | "fromState" | "lifecycle.state" | "asset.lifecycle.state" => {
            Some(ValueKind::State)
        }
        "signature.verified" | "references.broken" | "allowDeprecated" => Some(ValueKind::Bool),
        "environment" | "fromEnv" | "sourceType" | "actor.roles" => Some(ValueKind::Free),
        _ => match key.strip_prefix("labels.") {
            Some(label) if !label.is_empty() => Some(ValueKind::Free),
            Some(_) => None,
            None => governance_kind(key),
        },
    }
}

fn governance_paths_hint() -> String {
    format!("{}, extensions.<key>", GOVERNANCE_PATHS.join(", "))
}

/// A short rendering of a YAML value for messages.
fn show(value: &Value) -> String {
    match value {
        Value::String(text) => format!("{text:?}"),
        Value::Null => "nothing".to_string(),
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "a mapping".to_string(),
        other => other.to_string(),
    }
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Walks the parsed document, building the policy and collecting every
/// problem instead of stopping at the first.
#[derive(Default)]
struct Loader {
    problems: Vec<(String, String)>,
}

const CANONICAL_KEYS: &[&str] = &["apiVersion", "kind", "defaults", "rules"];
const DEFAULTS_KEYS: &[&str] = &[
    "requireOwnerForApproval",
    "requiredFieldsForApproval",
    "expiryHours",
    "denyOnFirstReject",
    "transitionApprovals",
];
const TRANSITION_KEYS: &[&str] = &["approvalsRequired", "approverRoles"];
const RULE_KEYS: &[&str] = &["name", "description", "enabled", "selector", "gates"];
const SELECTOR_KEYS: &[&str] = &[
    "matchAll",
    "plugins",
    "kinds",
    "names",
    "sourceIds",
    "labels",
    "governance",
    "any",
    "all",
    "not",
];
const GATE_KEYS: &[&str] = &[
    "action",
    "when",
    "approvalsRequired",
    "approverRoles",
    "denyWhen",
    "expiryHours",
    "denyOnFirstReject",
    "remediation",
];
const LEGACY_KEYS: &[&str] = &["policies"];
const LEGACY_POLICY_KEYS: &[&str] = &[
    "id",
    "displayName",
    "description",
    "enabled",
    "selector",
    "gate",
    "expiryHours",
];
const LEGACY_SELECTOR_KEYS: &[&str] = &[
    "riskLevels",
    "risk_levels",
    "kinds",
    "labels",
    "transitions",
];
const LEGACY_GATE_KEYS: &[&str] = &[
    "requiredCount",
    "allowedRoles",
    "denyOnFirst",
    "expiryHours",
];

impl Loader {
    fn report(&mut self, path: impl Into<String>, problem: impl Into<String>) {
        self.problems.push((path.into(), problem.into()));
    }

    fn finish(self, defaults: PolicyDefaults, rules: Vec<Rule>) -> Result<ApprovalPolicies, Error> {
        let Some((first_path, first_problem)) = self.problems.first() else {
            return Ok(ApprovalPolicies::new(defaults, rules));
        };
        let count = self.problems.len();
        let mut error = Error::new(
            Reason::PolicyConfigInvalid,
            format!(
                "approval policies are invalid ({count} problem{}); first: {first_path}: {first_problem}",
                if count == 1 { "" } else { "s" }
            ),
        )
        .with("problems", count);
        for (path, problem) in self.problems {
            error = error.violation(path, problem);
        }
        Err(error)
    }

    fn mapping<'v>(&mut self, value: &'v Value, path: &str) -> Option<&'v Map<String, Value>> {
        match value {
            Value::Object(map) => Some(map),
            other => {
                self.report(path, format!("must be a mapping, not {}", show(other)));
                None
            }
        }
    }

    /// A mapping whose keys must come from `allowed`.
    fn object<'v>(
        &mut self,
        value: &'v Value,
        path: &str,
        allowed: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        let map = self.mapping(value, path)?;
        for key in map.keys().filter(|key| !allowed.contains(&key.as_str())) {
            self.report(
                child(path, key),
                format!("unknown key {key:?}; allowed: {}", allowed.join(", ")),
            );
        }
        Some(map)
    }

    /// A present, non-null field.
    fn field<'v>(map: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
        map.get(key).filter(|value| !value.is_null())
    }

    fn bool_at(&mut self, map: &Map<String, Value>, key: &str, path: &str) -> Option<bool> {
        match Self::field(map, key)? {
            Value::Bool(flag) => Some(*flag),
            other => {
                self.report(
                    child(path, key),
                    format!("must be true or false, not {}", show(other)),
                );
                None
            }
        }
    }

    fn text_at(&mut self, map: &Map<String, Value>, key: &str, path: &str) -> Option<String> {
        match Self::field(map, key)? {
            Value::String(text) => Some(text.clone()),
            other => {
                self.report(
                    child(path, key),
                    format!("must be a string, not {}", show(other)),
                );
                None
            }
        }
    }

    /// A required, non-blank string.
    fn name_at(&mut self, map: &Map<String, Value>, key: &str, path: &str, what: &str) -> String {
        match self.text_at(map, key, path) {
            Some(text) if !text.trim().is_empty() => text.trim().to_string(),
            Some(_) => {
                self.report(
                    child(path, key),
                    format!("must not be blank; give the {what}"),
                );
                String::new()
            }
            None if Self::field(map, key).is_none() => {
                self.report(child(path, key), format!("required: the {what}"));
                String::new()
            }
            None => String::new(),
        }
    }

    /// A list of non-blank strings, de-duplicated in order.
    fn strings(&mut self, value: &Value, path: &str, allow_empty: bool) -> Vec<String> {
        let Value::Array(items) = value else {
            self.report(
                path,
                format!("must be a list of strings, not {}", show(value)),
            );
            return Vec::new();
        };
        if items.is_empty() && !allow_empty {
            self.report(
                path,
                "must not be empty: an empty list matches nothing; omit the key instead",
            );
        }
        let mut out: Vec<String> = Vec::new();
        for (index, item) in items.iter().enumerate() {
            match item {
                Value::String(text) if !text.trim().is_empty() => {
                    let text = text.trim().to_string();
                    if !out.contains(&text) {
                        out.push(text);
                    }
                }
                other => self.report(
                    format!("{path}[{index}]"),
                    format!("must be a non-blank string, not {}", show(other)),
                ),
            }
        }
        out
    }

    fn strings_at(&mut self, map: &Map<String, Value>, key: &str, path: &str) -> Vec<String> {
        match Self::field(map, key) {
            Some(value) => self.strings(value, &child(path, key), false),
            None => Vec::new(),
        }
    }

    fn count_at(&mut self, map: &Map<String, Value>, key: &str, path: &str) -> Option<u32> {
        let value = Self::field(map, key)?;
        match value.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(count) => Some(count),
            None => {
                self.report(
                    child(path, key),
                    format!("must be a whole number >= 0, not {}", show(value)),
                );
                None
            }
        }
    }

    fn hours_at(&mut self, map: &Map<String, Value>, key: &str, path: &str) -> Option<f64> {
        let value = Self::field(map, key)?;
        match value.as_f64() {
            Some(hours) if hours.is_finite() && hours > 0.0 => Some(hours),
            _ => {
                self.report(
                    child(path, key),
                    format!(
                        "must be a number of hours > 0 (fractions allowed, e.g. 0.5), not {}",
                        show(value)
                    ),
                );
                None
            }
        }
    }

    /// Approver roles; required when approvals are.
    fn roles_at(
        &mut self,
        map: &Map<String, Value>,
        key: &str,
        path: &str,
        approvals: u32,
    ) -> Vec<String> {
        let roles = match Self::field(map, key) {
            Some(value) => self.strings(value, &child(path, key), true),
            None => Vec::new(),
        };
        if approvals > 0 && roles.is_empty() {
            self.report(
                child(path, key),
                format!(
                    "required when approvalsRequired > 0 (here {approvals}): list the roles whose \
                     holders may approve, e.g. [approver]"
                ),
            );
        }
        roles
    }

    fn scalar(&mut self, value: &Value, path: &str, kind: ValueKind) -> Option<Value> {
        let text = value.as_str();
        let normalized = match kind {
            ValueKind::State => text
                .and_then(State::parse)
                .map(|state| Value::from(state.as_str())),
            ValueKind::Enum(allowed) => text
                .map(str::to_ascii_lowercase)
                .filter(|lower| allowed.contains(&lower.as_str()))
                .map(Value::from),
            ValueKind::Bool => match value {
                Value::Bool(flag) => Some(Value::Bool(*flag)),
                Value::String(text) if text.eq_ignore_ascii_case("true") => Some(Value::Bool(true)),
                Value::String(text) if text.eq_ignore_ascii_case("false") => {
                    Some(Value::Bool(false))
                }
                _ => None,
            },
            ValueKind::Free => match value {
                Value::String(_) | Value::Number(_) | Value::Bool(_) => Some(value.clone()),
                _ => None,
            },
        };
        if normalized.is_none() {
            let allowed = match kind {
                ValueKind::State => format!("a lifecycle state ({STATE_NAMES})"),
                ValueKind::Enum(allowed) => format!("one of {}", allowed.join(", ")),
                ValueKind::Bool => "true or false".to_string(),
                ValueKind::Free => {
                    "a string, number or boolean (a missing property never matches)".to_string()
                }
            };
            self.report(
                path,
                format!("{} is not allowed here; expected {allowed}", show(value)),
            );
        }
        normalized
    }

    fn expected(&mut self, value: &Value, path: &str, kind: ValueKind) -> Option<Expected> {
        match value {
            Value::Array(items) => {
                if items.is_empty() {
                    self.report(
                        path,
                        "an empty list matches nothing; give at least one value",
                    );
                    return None;
                }
                let mut values = Vec::new();
                for (index, item) in items.iter().enumerate() {
                    if let Some(scalar) = self.scalar(item, &format!("{path}[{index}]"), kind) {
                        values.push(scalar);
                    }
                }
                Some(Expected::Any(values))
            }
            scalar => self.scalar(scalar, path, kind).map(Expected::One),
        }
    }

    fn conditions(&mut self, value: &Value, path: &str) -> Conditions {
        let mut conditions = Conditions::new();
        let Some(map) = self.mapping(value, path) else {
            return conditions;
        };
        for (key, value) in map {
            let key_path = child(path, key);
            match condition_kind(key) {
                Some(kind) => {
                    if let Some(expected) = self.expected(value, &key_path, kind) {
                        conditions.insert(key.clone(), expected);
                    }
                }
                None => self.report(
                    key_path,
                    format!(
                        "unknown condition key {key:?}; allowed: {}, labels.<key>, and the \
                         governance paths {}",
                        CONTEXT_CONDITION_KEYS.join(", "),
                        governance_paths_hint()
                    ),
                ),
            }
        }
        conditions
    }

    fn selector(&mut self, value: &Value, path: &str) -> Selector {
        let mut selector = Selector::default();
        let Some(map) = self.object(value, path, SELECTOR_KEYS) else {
            return selector;
        };
        selector.match_all = self.bool_at(map, "matchAll", path).unwrap_or(false);
        selector.plugins = self.strings_at(map, "plugins", path);
        selector.kinds = self.strings_at(map, "kinds", path);
        selector.names = self.strings_at(map, "names", path);
        for (index, glob) in selector.names.iter().enumerate() {
            if let Err(error) = Glob::new(glob) {
                self.report(
                    format!("{path}.names[{index}]"),
                    format!("invalid glob {glob:?}: {error}"),
                );
            }
        }
        selector.source_ids = self.strings_at(map, "sourceIds", path);
        if let Some(labels) = Self::field(map, "labels") {
            let labels_path = child(path, "labels");
            if let Some(entries) = self.mapping(labels, &labels_path) {
                if entries.is_empty() {
                    self.report(
                        &labels_path,
                        "must name at least one label; omit the key instead",
                    );
                }
                for (key, value) in entries {
                    if let Some(expected) =
                        self.expected(value, &child(&labels_path, key), ValueKind::Free)
                    {
                        selector.labels.insert(key.clone(), expected);
                    }
                }
            }
        }
        if let Some(governance) = Self::field(map, "governance") {
            let governance_path = child(path, "governance");
            if let Some(entries) = self.mapping(governance, &governance_path) {
                if entries.is_empty() {
                    self.report(
                        &governance_path,
                        "must name at least one path; omit the key instead",
                    );
                }
                for (key, value) in entries {
                    let key_path = child(&governance_path, key);
                    match governance_kind(key) {
                        Some(kind) => {
                            if let Some(expected) = self.expected(value, &key_path, kind) {
                                selector.governance.insert(key.clone(), expected);
                            }
                        }
                        None => self.report(
                            key_path,
                            format!(
                                "unknown governance path {key:?}; allowed: {}",
                                governance_paths_hint()
                            ),
                        ),
                    }
                }
            }
        }
        selector.any = self.selectors(map, "any", path);
        selector.all = self.selectors(map, "all", path);
        if let Some(not) = Self::field(map, "not") {
            selector.not = Some(Box::new(self.selector(not, &child(path, "not"))));
        }
        selector
    }

    fn selectors(&mut self, map: &Map<String, Value>, key: &str, path: &str) -> Vec<Selector> {
        let Some(value) = Self::field(map, key) else {
            return Vec::new();
        };
        let list_path = child(path, key);
        match value {
            Value::Array(items) if items.is_empty() => {
                self.report(
                    list_path,
                    "must list at least one selector; omit the key instead",
                );
                Vec::new()
            }
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(index, item)| self.selector(item, &format!("{list_path}[{index}]")))
                .collect(),
            other => {
                self.report(
                    list_path,
                    format!("must be a list of selectors, not {}", show(other)),
                );
                Vec::new()
            }
        }
    }

    fn gate(&mut self, value: &Value, path: &str) -> Gate {
        let mut gate = Gate {
            action: String::new(),
            when: None,
            approvals_required: 0,
            approver_roles: Vec::new(),
            deny_when: None,
            expiry_hours: None,
            deny_on_first_reject: None,
            remediation: None,
        };
        let Some(map) = self.object(value, path, GATE_KEYS) else {
            return gate;
        };
        gate.action = self.name_at(
            map,
            "action",
            path,
            "action id or glob, e.g. promotion.bind",
        );
        if !gate.action.is_empty() {
            let action_path = child(path, "action");
            match Glob::new(&gate.action) {
                Err(error) => self.report(
                    action_path,
                    format!("invalid glob {:?}: {error}", gate.action),
                ),
                Ok(glob) => {
                    let matcher = glob.compile_matcher();
                    if !GATEABLE_ACTIONS.iter().any(|id| matcher.is_match(id)) {
                        self.report(
                            action_path,
                            format!(
                                "{:?} matches no gateable action; allowed: {} (or a glob such as promotion.*)",
                                gate.action,
                                GATEABLE_ACTIONS.join(", ")
                            ),
                        );
                    }
                }
            }
        }
        gate.when =
            Self::field(map, "when").map(|when| self.conditions(when, &child(path, "when")));
        gate.deny_when = Self::field(map, "denyWhen")
            .map(|deny| self.conditions(deny, &child(path, "denyWhen")));
        let count = self.count_at(map, "approvalsRequired", path);
        // An unreadable count is reported already; saying the gate enforces
        // nothing on top of that would only mislead.
        let count_unreadable = count.is_none() && Self::field(map, "approvalsRequired").is_some();
        gate.approvals_required = count.unwrap_or(0);
        gate.approver_roles = self.roles_at(map, "approverRoles", path, gate.approvals_required);
        if gate.approvals_required == 0 && gate.deny_when.is_none() && !count_unreadable {
            self.report(
                path,
                "the gate enforces nothing: give approvalsRequired > 0 (with approverRoles) or denyWhen",
            );
        }
        gate.expiry_hours = self.hours_at(map, "expiryHours", path);
        gate.deny_on_first_reject = self.bool_at(map, "denyOnFirstReject", path);
        gate.remediation = self.text_at(map, "remediation", path);
        gate
    }

    fn rule(&mut self, value: &Value, path: &str) -> Rule {
        let mut rule = Rule {
            name: String::new(),
            description: None,
            enabled: true,
            selector: Selector::default(),
            gates: Vec::new(),
        };
        let Some(map) = self.object(value, path, RULE_KEYS) else {
            return rule;
        };
        rule.name = self.name_at(map, "name", path, "rule name");
        if rule.name == DEFAULT_TRANSITION_RULE {
            self.report(
                child(path, "name"),
                format!("{DEFAULT_TRANSITION_RULE} is reserved for the default transition approvals; pick another name"),
            );
        }
        rule.description = self.text_at(map, "description", path);
        rule.enabled = self.bool_at(map, "enabled", path).unwrap_or(true);
        match Self::field(map, "selector") {
            Some(selector) => rule.selector = self.selector(selector, &child(path, "selector")),
            None => self.report(
                child(path, "selector"),
                "required: which assets the rule applies to (matchAll: true for all)",
            ),
        }
        let gates_path = child(path, "gates");
        match Self::field(map, "gates") {
            Some(Value::Array(items)) if !items.is_empty() => {
                rule.gates = items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| self.gate(item, &format!("{gates_path}[{index}]")))
                    .collect();
            }
            Some(Value::Array(_)) | None => {
                self.report(gates_path, "required: list at least one gate");
            }
            Some(other) => {
                self.report(
                    gates_path,
                    format!("must be a list of gates, not {}", show(other)),
                );
            }
        }
        rule
    }

    fn rules(&mut self, value: &Value, path: &str) -> Vec<Rule> {
        let Value::Array(items) = value else {
            self.report(
                path,
                format!("must be a list of rules, not {}", show(value)),
            );
            return Vec::new();
        };
        let mut first_use: BTreeMap<String, usize> = BTreeMap::new();
        let mut rules = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let rule_path = format!("{path}[{index}]");
            let rule = self.rule(item, &rule_path);
            if !rule.name.is_empty() {
                if let Some(first) = first_use.get(&rule.name) {
                    self.report(
                        child(&rule_path, "name"),
                        format!(
                            "duplicate rule name {:?} (also {path}[{first}]); names must be unique",
                            rule.name
                        ),
                    );
                } else {
                    first_use.insert(rule.name.clone(), index);
                }
            }
            rules.push(rule);
        }
        rules
    }

    fn transition_table(
        &mut self,
        value: &Value,
        path: &str,
    ) -> BTreeMap<(State, State), TransitionApproval> {
        let mut table = BTreeMap::new();
        let Some(map) = self.mapping(value, path) else {
            return table;
        };
        for (key, entry) in map {
            let entry_path = child(path, key);
            let pair = match parse_transition(key) {
                Ok(pair) => Some(pair),
                Err(problem) => {
                    self.report(&entry_path, problem);
                    None
                }
            };
            let Some(fields) = self.object(entry, &entry_path, TRANSITION_KEYS) else {
                continue;
            };
            let approvals = self.count_at(fields, "approvalsRequired", &entry_path);
            if Self::field(fields, "approvalsRequired").is_none() {
                self.report(
                    child(&entry_path, "approvalsRequired"),
                    "required: the number of approvals (0 disables the entry)",
                );
            }
            let approvals = approvals.unwrap_or(0);
            let roles = self.roles_at(fields, "approverRoles", &entry_path, approvals);
            if let Some(pair) = pair {
                if table.contains_key(&pair) {
                    self.report(
                        &entry_path,
                        format!("{}->{} is given twice (legacy state names count as their canonical ones)", pair.0, pair.1),
                    );
                }
                table.insert(
                    pair,
                    TransitionApproval {
                        approvals_required: approvals,
                        approver_roles: roles,
                    },
                );
            }
        }
        table
    }

    fn defaults(&mut self, value: &Value, path: &str) -> PolicyDefaults {
        let mut defaults = PolicyDefaults::builtin();
        let Some(map) = self.object(value, path, DEFAULTS_KEYS) else {
            return defaults;
        };
        if let Some(flag) = self.bool_at(map, "requireOwnerForApproval", path) {
            defaults.require_owner_for_approval = flag;
        }
        if let Some(list) = Self::field(map, "requiredFieldsForApproval") {
            let list_path = child(path, "requiredFieldsForApproval");
            defaults.required_fields_for_approval = self.strings(list, &list_path, true);
            let unknown: Vec<(usize, String)> = defaults
                .required_fields_for_approval
                .iter()
                .enumerate()
                .filter(|(_, field)| governance_kind(field).is_none())
                .map(|(index, field)| (index, field.clone()))
                .collect();
            for (index, field) in unknown {
                self.report(
                    format!("{list_path}[{index}]"),
                    format!(
                        "{field:?} is not a governance path; allowed: {}",
                        governance_paths_hint()
                    ),
                );
            }
        }
        if let Some(hours) = self.hours_at(map, "expiryHours", path) {
            defaults.expiry_hours = hours;
        }
        if let Some(flag) = self.bool_at(map, "denyOnFirstReject", path) {
            defaults.deny_on_first_reject = flag;
        }
        if let Some(table) = Self::field(map, "transitionApprovals") {
            defaults.transition_approvals =
                self.transition_table(table, &child(path, "transitionApprovals"));
        }
        defaults
    }

    fn canonical(&mut self, doc: &Value) -> (PolicyDefaults, Vec<Rule>) {
        if !doc.is_object() {
            self.report(
                "document",
                format!(
                    "must be a mapping with apiVersion: {API_VERSION} and kind: {KIND} \
                     (or a legacy policies: list), not {}",
                    show(doc)
                ),
            );
            return (PolicyDefaults::builtin(), Vec::new());
        }
        let Some(map) = self.object(doc, "", CANONICAL_KEYS) else {
            return (PolicyDefaults::builtin(), Vec::new());
        };
        for (key, wanted) in [("apiVersion", API_VERSION), ("kind", KIND)] {
            match map.get(key) {
                Some(Value::String(text)) if text == wanted => {}
                None => self.report(key, format!("required: {wanted}")),
                Some(other) => self.report(key, format!("must be {wanted}, not {}", show(other))),
            }
        }
        let defaults = match Self::field(map, "defaults") {
            Some(value) => self.defaults(value, "defaults"),
            None => PolicyDefaults::builtin(),
        };
        let rules = match Self::field(map, "rules") {
            Some(value) => self.rules(value, "rules"),
            None => Vec::new(),
        };
        (defaults, rules)
    }

    /// Converts the legacy `policies:` format to the canonical document,
    /// checking legacy fields under their own paths, then loads that.
    fn legacy(&mut self, doc: &Value) -> (PolicyDefaults, Vec<Rule>) {
        let empty = (PolicyDefaults::builtin(), Vec::new());
        let Some(map) = self.object(doc, "", LEGACY_KEYS) else {
            return empty;
        };
        let policies = match map.get("policies") {
            Some(Value::Array(items)) => items,
            Some(other) => {
                self.report(
                    "policies",
                    format!("must be a list of policies, not {}", show(other)),
                );
                return empty;
            }
            None => return empty,
        };
        let mut rules = Vec::new();
        let mut first_use: BTreeMap<String, usize> = BTreeMap::new();
        for (index, policy) in policies.iter().enumerate() {
            let path = format!("policies[{index}]");
            if let Some(rule) = self.legacy_policy(policy, &path) {
                let name = rule["name"].as_str().unwrap_or_default().to_string();
                if let Some(first) = first_use.get(&name) {
                    self.report(
                        child(&path, "id"),
                        format!("duplicate policy id {name:?} (also policies[{first}]); ids must be unique"),
                    );
                } else {
                    first_use.insert(name, index);
                }
                rules.push(rule);
            }
        }
        if !self.problems.is_empty() {
            return empty;
        }
        let canonical = json!({"apiVersion": API_VERSION, "kind": KIND, "rules": rules});
        let before = self.problems.len();
        let loaded = self.canonical(&canonical);
        // Rule i came from policy i, so the paths stay findable in the file.
        for (path, _) in &mut self.problems[before..] {
            if let Some(rest) = path.strip_prefix("rules[") {
                *path = format!("policies[{rest}");
            }
        }
        loaded
    }

    fn legacy_policy(&mut self, value: &Value, path: &str) -> Option<Value> {
        let map = self.object(value, path, LEGACY_POLICY_KEYS)?;
        let name = self.name_at(map, "id", path, "policy id");
        let description: Vec<String> = ["displayName", "description"]
            .iter()
            .filter_map(|key| self.text_at(map, key, path))
            .filter(|text| !text.trim().is_empty())
            .collect();
        let enabled = self.bool_at(map, "enabled", path).unwrap_or(true);

        let mut selector = Map::new();
        let mut transitions: Vec<(Option<State>, Option<State>)> = Vec::new();
        if let Some(value) = Self::field(map, "selector") {
            let selector_path = child(path, "selector");
            if let Some(fields) = self.object(value, &selector_path, LEGACY_SELECTOR_KEYS) {
                let mut levels = Vec::new();
                for key in ["riskLevels", "risk_levels"] {
                    if let Some(Value::Array(items)) = Self::field(fields, key) {
                        for (index, item) in items.iter().enumerate() {
                            let item_path = format!("{selector_path}.{key}[{index}]");
                            if let Some(level) =
                                self.scalar(item, &item_path, ValueKind::Enum(RISK_LEVELS))
                            {
                                if !levels.contains(&level) {
                                    levels.push(level);
                                }
                            }
                        }
                    } else if let Some(other) = Self::field(fields, key) {
                        self.report(
                            child(&selector_path, key),
                            format!("must be a list of risk levels, not {}", show(other)),
                        );
                    }
                }
                if !levels.is_empty() {
                    selector.insert("governance".into(), json!({"risk.level": levels}));
                }
                // Legacy files wrote "any kind" as an empty list.
                if let Some(kinds) = Self::field(fields, "kinds") {
                    let kinds = self.strings(kinds, &child(&selector_path, "kinds"), true);
                    if !kinds.is_empty() {
                        selector.insert("kinds".into(), json!(kinds));
                    }
                }
                if let Some(labels) = Self::field(fields, "labels") {
                    if labels.as_object().is_none_or(|entries| !entries.is_empty()) {
                        selector.insert("labels".into(), labels.clone());
                    }
                }
                transitions = self.legacy_transitions(fields, &selector_path);
            }
        }
        // A legacy selector that narrows nothing meant "every asset".
        if selector.is_empty() {
            selector.insert("matchAll".into(), Value::Bool(true));
        }

        let mut gate = Map::new();
        gate.insert("action".into(), json!("lifecycle.setState"));
        let mut approvals = 1;
        let mut roles = vec!["approver".to_string()];
        let mut expiry = self.hours_at(map, "expiryHours", path);
        if let Some(value) = Self::field(map, "gate") {
            let gate_path = child(path, "gate");
            if let Some(fields) = self.object(value, &gate_path, LEGACY_GATE_KEYS) {
                if let Some(count) = self.count_at(fields, "requiredCount", &gate_path) {
                    if count == 0 {
                        self.report(
                            child(&gate_path, "requiredCount"),
                            "must be at least 1; remove the policy or set enabled: false to gate nothing",
                        );
                    }
                    approvals = count;
                }
                if Self::field(fields, "allowedRoles").is_some() {
                    roles = self.roles_at(fields, "allowedRoles", &gate_path, approvals);
                }
                if let Some(flag) = self.bool_at(fields, "denyOnFirst", &gate_path) {
                    gate.insert("denyOnFirstReject".into(), Value::Bool(flag));
                }
                if let Some(hours) = self.hours_at(fields, "expiryHours", &gate_path) {
                    expiry = Some(hours);
                }
            }
        }
        gate.insert("approvalsRequired".into(), json!(approvals));
        gate.insert("approverRoles".into(), json!(roles));
        if let Some(hours) = expiry {
            gate.insert("expiryHours".into(), json!(hours));
        }

        let gates: Vec<Value> = if transitions.is_empty() {
            vec![Value::Object(gate)]
        } else {
            transitions
                .into_iter()
                .map(|(from, to)| {
                    let mut one = gate.clone();
                    let mut when = Map::new();
                    if let Some(from) = from {
                        when.insert("fromState".into(), json!(from.as_str()));
                    }
                    if let Some(to) = to {
                        when.insert("toState".into(), json!(to.as_str()));
                    }
                    if !when.is_empty() {
                        one.insert("when".into(), Value::Object(when));
                    }
                    Value::Object(one)
                })
                .collect()
        };
        let mut rule =
            json!({"name": name, "enabled": enabled, "selector": selector, "gates": gates});
        if !description.is_empty() {
            rule["description"] = json!(description.join(": "));
        }
        Some(rule)
    }

    /// `selector.transitions[{from, to}]`, `"*"` meaning any state.
    fn legacy_transitions(
        &mut self,
        fields: &Map<String, Value>,
        selector_path: &str,
    ) -> Vec<(Option<State>, Option<State>)> {
        let Some(value) = Self::field(fields, "transitions") else {
            return Vec::new();
        };
        let list_path = child(selector_path, "transitions");
        let Value::Array(items) = value else {
            self.report(
                list_path,
                format!("must be a list of {{from, to}}, not {}", show(value)),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let item_path = format!("{list_path}[{index}]");
            let Some(ends) = self.object(item, &item_path, &["from", "to"]) else {
                continue;
            };
            let mut end = |key: &str| -> Option<Option<State>> {
                let value = Self::field(ends, key);
                let text = value.and_then(Value::as_str).map(str::trim);
                match (value, text) {
                    (None, _) | (_, Some("*")) => return Some(None),
                    (_, Some(text)) => {
                        if let Some(state) = State::parse(text) {
                            return Some(Some(state));
                        }
                    }
                    (Some(_), None) => {}
                }
                self.report(
                    child(&item_path, key),
                    format!(
                        "{} is not a lifecycle state; allowed: {STATE_NAMES}, or \"*\" for any",
                        show(value.unwrap_or(&Value::Null))
                    ),
                );
                None
            };
            if let (Some(from), Some(to)) = (end("from"), end("to")) {
                out.push((from, to));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "apiVersion: catalog.kubeflow.org/v1alpha1\nkind: ApprovalPolicies\n";
    const NO_ROLES: &[String] = &[];

    fn load(body: &str) -> ApprovalPolicies {
        ApprovalPolicies::parse(&format!("{HEADER}{body}")).expect("policy loads")
    }

    fn problems(yaml: &str) -> Vec<(String, String)> {
        let error = ApprovalPolicies::parse(yaml).expect_err("policy must be refused");
        assert_eq!(error.reason, Reason::PolicyConfigInvalid);
        error
            .violations
            .into_iter()
            .map(|v| (v.field, v.description))
            .collect()
    }

    fn fields(yaml: &str) -> BTreeSet<String> {
        problems(yaml).into_iter().map(|(field, _)| field).collect()
    }

    /// A context for an Agent in draft with no labels, governance or params.
    fn ctx<'a>(
        labels: &'a BTreeMap<String, String>,
        governance: &'a Value,
        action: &'a str,
    ) -> GateContext<'a> {
        GateContext {
            plugin: "agents",
            kind: "Agent",
            name: "support-triage-router",
            source_id: Some("sample-agents"),
            source_type: Some("yaml"),
            labels,
            governance,
            action,
            to_state: None,
            from_state: None,
            asset_state: State::Draft,
            environment: None,
            from_env: None,
            allow_deprecated: None,
            signature_verified: None,
            references_broken: false,
            actor_roles: NO_ROLES,
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn rules_of(outcome: &GateOutcome) -> Vec<(String, usize)> {
        match outcome {
            GateOutcome::RequireApproval { requirements, .. } => requirements
                .iter()
                .map(|r| (r.rule.clone(), r.gate_index))
                .collect(),
            other => panic!("expected RequireApproval, got {other:?}"),
        }
    }

    /// A policy with no default transition gates and one rule.
    fn one_rule(selector: &str, gate: &str) -> ApprovalPolicies {
        load(&format!(
            "defaults: {{transitionApprovals: {{}}}}\nrules:\n  - name: r\n    selector: {selector}\n    gates:\n      - {gate}\n"
        ))
    }

    fn selected(selector: &str, ctx: &GateContext) -> bool {
        let policy = one_rule(
            selector,
            "{action: promotion.bind, approvalsRequired: 1, approverRoles: [approver]}",
        );
        let mut bind = *ctx;
        bind.action = "promotion.bind";
        policy.evaluate(&bind) != GateOutcome::Execute
    }

    #[test]
    fn builtin_policy_is_the_default_transition_table_without_rules() {
        let builtin = ApprovalPolicies::builtin();
        assert!(builtin.rules.is_empty());
        assert_eq!(ApprovalPolicies::default(), builtin);
        let table = &builtin.defaults.transition_approvals;
        assert_eq!(table.len(), 7);
        for (from, to) in [
            (State::Draft, State::Approved),
            (State::Approved, State::Archived),
            (State::Deprecated, State::Approved),
            (State::Deprecated, State::Archived),
            (State::Archived, State::Deprecated),
            (State::Archived, State::Draft),
        ] {
            let entry = &table[&(from, to)];
            assert_eq!(entry.approvals_required, 1, "{from}->{to}");
            assert_eq!(entry.approver_roles, vec!["approver".to_string()]);
        }
        assert_eq!(
            table[&(State::Approved, State::Deprecated)].approvals_required,
            0
        );
        assert!(builtin.defaults.require_owner_for_approval);
        assert!(builtin.defaults.deny_on_first_reject);
        assert_eq!(builtin.defaults.expiry_hours, 168.0);
        assert!(builtin.digest.starts_with("sha256:") && builtin.digest.len() == 71);
    }

    #[test]
    fn a_file_with_only_the_header_normalizes_to_the_builtin_policy() {
        let loaded = load("");
        assert_eq!(loaded, ApprovalPolicies::builtin());
        let spelled_out = load(
            "defaults:\n  requireOwnerForApproval: true\n  expiryHours: 168\n  denyOnFirstReject: true\nrules: []\n",
        );
        assert_eq!(spelled_out.digest, loaded.digest);
    }

    #[test]
    fn digest_ignores_layout_and_key_order_but_not_content() {
        let block = load(
            "rules:\n  - name: a\n    selector:\n      kinds: [Agent]\n    gates:\n      - action: promotion.bind\n        approvalsRequired: 1\n        approverRoles: [approver]\n",
        );
        let flow = load(
            "rules: [{gates: [{approverRoles: [approver], approvalsRequired: 1, action: promotion.bind}], selector: {kinds: [Agent]}, name: a}]\n",
        );
        assert_eq!(block.digest, flow.digest);
        let changed = load(
            "rules: [{gates: [{approverRoles: [approver], approvalsRequired: 2, action: promotion.bind}], selector: {kinds: [Agent]}, name: a}]\n",
        );
        assert_ne!(block.digest, changed.digest);
    }

    #[test]
    fn every_problem_is_reported_at_once_with_its_path() {
        let yaml = r#"
apiVersion: catalog.kubeflow.org/v1
kind: ApprovalPolicies
extra: 1
defaults:
  expiryHours: 0
  transitionApprovals:
    "draft->aproved": {approvalsRequired: 1, approverRoles: [approver]}
    "draft->draft": {approvalsRequired: 0}
rules:
  - name: dup
    selector: {matchAll: true}
    gates: []
  - name: dup
    selector: {kind: [Agent], names: ["a[b"]}
    gates:
      - action: promotion.bind
      - action: promotion.bind
        approvalsRequired: 2
      - action: lifecycle.setState
        when: {toStat: approved, fromState: aproved}
        denyWhen: {risk.levl: high}
        expiryHours: -1
      - action: promotion.bnd
        denyWhen: {}
"#;
        let found = problems(yaml);
        let paths: BTreeSet<&str> = found.iter().map(|(field, _)| field.as_str()).collect();
        let expected: BTreeSet<&str> = [
            "apiVersion",
            "extra",
            "defaults.expiryHours",
            "defaults.transitionApprovals.draft->aproved",
            "defaults.transitionApprovals.draft->draft",
            "rules[0].gates",
            "rules[1].name",
            "rules[1].selector.kind",
            "rules[1].selector.names[0]",
            "rules[1].gates[0]",
            "rules[1].gates[1].approverRoles",
            "rules[1].gates[2].when.toStat",
            "rules[1].gates[2].when.fromState",
            "rules[1].gates[2].denyWhen.risk.levl",
            "rules[1].gates[2].expiryHours",
            "rules[1].gates[3].action",
        ]
        .into_iter()
        .collect();
        assert_eq!(paths, expected);
        let say = |path: &str| &found.iter().find(|(field, _)| field == path).unwrap().1;
        assert!(say("apiVersion").contains("catalog.kubeflow.org/v1alpha1"));
        assert!(say("extra").contains("allowed: apiVersion, kind, defaults, rules"));
        assert!(
            say("rules[1].name").contains("duplicate") && say("rules[1].name").contains("rules[0]")
        );
        assert!(say("rules[1].selector.kind").contains("kinds"));
        assert!(say("rules[1].gates[0]").contains("approvalsRequired > 0"));
        assert!(say("rules[1].gates[2].when.toStat").contains("toState"));
        assert!(say("rules[1].gates[2].when.fromState")
            .contains("draft, approved, deprecated, archived"));
        assert!(say("defaults.transitionApprovals.draft->draft").contains("self-transition"));
        assert!(say("rules[1].gates[3].action").contains("promotion.bind"));
        let error = ApprovalPolicies::parse(yaml).unwrap_err();
        assert_eq!(error.metadata["problems"], found.len().to_string());
    }

    #[test]
    fn structural_problems_are_reported_too() {
        assert_eq!(fields(""), BTreeSet::from(["document".to_string()]));
        assert_eq!(
            fields("rules: []\n"),
            BTreeSet::from(["apiVersion".to_string(), "kind".to_string()])
        );
        let found = fields(&format!(
            "{HEADER}defaults: {{requiredFieldsForApproval: [owner.principal, owner.nme], denyOnFirstReject: maybe}}\nrules:\n  - name: x\n    gates: [{{action: promotion.bind, approvalsRequired: two, approverRoles: [a]}}]\n  - name: {DEFAULT_TRANSITION_RULE}\n    selector: {{any: [], governance: {{risk.level: extreme, compliance.tags: []}}, labels: {{}}}}\n    gates: [{{action: 'promotion.*', approvalsRequired: 1, approverRoles: [a], expiryHours: soon}}]\n"
        ));
        let expected: BTreeSet<String> = [
            "defaults.requiredFieldsForApproval[1]",
            "defaults.denyOnFirstReject",
            "rules[0].selector",
            "rules[0].gates[0].approvalsRequired",
            "rules[1].name",
            "rules[1].selector.any",
            "rules[1].selector.governance.risk.level",
            "rules[1].selector.governance.compliance.tags",
            "rules[1].selector.labels",
            "rules[1].gates[0].expiryHours",
        ]
        .into_iter()
        .map(str::to_string)
        .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn yaml_syntax_errors_name_the_line() {
        let error =
            ApprovalPolicies::parse(&format!("{HEADER}rules: [a, b\nother: 1\n")).unwrap_err();
        assert_eq!(error.reason, Reason::PolicyConfigInvalid);
        assert_eq!(error.metadata["line"], "4");
        assert!(error.message.contains("line 4"), "{}", error.message);
        assert_eq!(error.violations.len(), 1);
    }

    #[test]
    fn a_repeated_yaml_key_is_refused_rather_than_silently_dropped() {
        let error = ApprovalPolicies::parse(&format!(
            "{HEADER}rules:\n  - name: a\n    selector: {{matchAll: true}}\n    selector: {{kinds: [Agent]}}\n    gates: [{{action: promotion.bind, approvalsRequired: 1, approverRoles: [a]}}]\n"
        ))
        .unwrap_err();
        assert!(error.message.contains("duplicate"), "{}", error.message);
        assert!(error.metadata.contains_key("line"));
    }

    #[test]
    fn transition_approvals_replace_the_table_and_zero_disables_an_entry() {
        let empty = BTreeMap::new();
        let governance = Value::Null;
        let mut approve = ctx(&empty, &governance, "lifecycle.setState");
        approve.to_state = Some(State::Approved);

        let none = load("defaults: {transitionApprovals: {}}\n");
        assert!(none.defaults.transition_approvals.is_empty());
        assert_eq!(none.evaluate(&approve), GateOutcome::Execute);

        let custom = load(
            "defaults:\n  transitionApprovals:\n    Draft -> Active: {approvalsRequired: 2, approverRoles: [qa, qa, lead]}\n    approved->archived: {approvalsRequired: 0}\n",
        );
        let table = &custom.defaults.transition_approvals;
        assert_eq!(table.len(), 2);
        assert_eq!(
            table[&(State::Draft, State::Approved)],
            TransitionApproval {
                approvals_required: 2,
                approver_roles: vec!["qa".into(), "lead".into()]
            }
        );
        match custom.evaluate(&approve) {
            GateOutcome::RequireApproval {
                requirements,
                first_rule,
                ..
            } => {
                assert_eq!(first_rule, DEFAULT_TRANSITION_RULE);
                assert_eq!(requirements[0].approvals_required, 2);
            }
            other => panic!("{other:?}"),
        }
        let mut archive = ctx(&empty, &governance, "lifecycle.archive");
        archive.asset_state = State::Approved;
        assert_eq!(custom.evaluate(&archive), GateOutcome::Execute);

        let found = fields(&format!(
            "{HEADER}defaults:\n  transitionApprovals:\n    draft: {{approvalsRequired: 1, approverRoles: [a]}}\n    draft->approved: {{approverRoles: [a]}}\n    draft->archived: {{approvalsRequired: 1}}\n"
        ));
        assert_eq!(
            found,
            BTreeSet::from([
                "defaults.transitionApprovals.draft".to_string(),
                "defaults.transitionApprovals.draft->approved.approvalsRequired".to_string(),
                "defaults.transitionApprovals.draft->archived.approverRoles".to_string(),
            ])
        );
    }

    #[test]
    fn legacy_policies_normalize_to_the_canonical_form() {
        let legacy = ApprovalPolicies::parse(
            r#"
policies:
  - id: risky-approvals
    displayName: Risky approvals
    description: high risk needs two
    selector:
      riskLevels: [High, critical]
      kinds: [Model]
      labels: {team: ml}
      transitions:
        - {from: draft, to: approved}
        - {from: "*", to: retired}
    gate:
      requiredCount: 2
      allowedRoles: [security-approver]
      denyOnFirst: false
    expiryHours: 24
  - id: anything
    enabled: false
    selector: {kinds: []}
"#,
        )
        .expect("legacy loads");
        let canonical = load(
            r#"rules:
  - name: risky-approvals
    description: "Risky approvals: high risk needs two"
    selector:
      kinds: [Model]
      labels: {team: ml}
      governance: {risk.level: [high, critical]}
    gates:
      - action: lifecycle.setState
        when: {fromState: draft, toState: approved}
        approvalsRequired: 2
        approverRoles: [security-approver]
        denyOnFirstReject: false
        expiryHours: 24
      - action: lifecycle.setState
        when: {toState: archived}
        approvalsRequired: 2
        approverRoles: [security-approver]
        denyOnFirstReject: false
        expiryHours: 24
  - name: anything
    enabled: false
    selector: {matchAll: true}
    gates:
      - action: lifecycle.setState
        approvalsRequired: 1
        approverRoles: [approver]
"#,
        );
        assert_eq!(legacy, canonical);
        assert_eq!(legacy.defaults, PolicyDefaults::builtin());
        assert_eq!(legacy.disabled_rules(), vec!["anything"]);
    }

    #[test]
    fn legacy_problems_are_reported_under_legacy_paths() {
        let found = fields(
            r#"
policies:
  - id: a
    selector:
      transitions: [{from: draft, to: aproved}, {from: 3, to: "*"}]
      risk_levels: [severe]
      color: red
    gate: {requiredCount: 0, allowedRoles: []}
  - id: a
    gate: {requiredCount: 1}
  - displayName: no id
owner: me
"#,
        );
        let expected: BTreeSet<String> = [
            "owner",
            "policies[0].selector.transitions[0].to",
            "policies[0].selector.transitions[1].from",
            "policies[0].selector.risk_levels[0]",
            "policies[0].selector.color",
            "policies[0].gate.requiredCount",
            "policies[1].id",
            "policies[2].id",
        ]
        .into_iter()
        .map(str::to_string)
        .collect();
        assert_eq!(found, expected);
        // Canonical checks that only run after conversion keep the policy index.
        let late = fields("policies:\n  - id: a\n    selector: {labels: {team: [x, {y: 1}]}}\n");
        assert_eq!(
            late,
            BTreeSet::from(["policies[0].selector.labels.team[1]".to_string()])
        );
    }

    #[test]
    fn selector_fields_and_operators() {
        let gov = json!({"risk": {"level": "High"}, "compliance": {"tags": ["gdpr", "sox"]},
                         "extensions": {"example.org/cost-center": "CC-311"}});
        let tagged = labels(&[("sensitivity", "restricted"), ("team", "a")]);
        let c = ctx(&tagged, &gov, "promotion.bind");

        assert!(selected("{matchAll: true}", &c));
        assert!(selected("{plugins: [models, agents]}", &c));
        assert!(
            !selected("{plugins: [Agents]}", &c),
            "plugins compare exactly"
        );
        assert!(
            selected("{kinds: [agent]}", &c),
            "kinds compare case-insensitively"
        );
        assert!(!selected("{kinds: [Model]}", &c));
        assert!(selected("{names: ['support-*', other]}", &c));
        assert!(!selected("{names: ['billing-*']}", &c));
        assert!(selected("{sourceIds: [sample-agents]}", &c));
        let mut no_source = c;
        no_source.source_id = None;
        assert!(!selected("{sourceIds: [sample-agents]}", &no_source));
        assert!(selected("{labels: {sensitivity: restricted}}", &c));
        assert!(selected(
            "{labels: {sensitivity: [public, restricted], team: a}}",
            &c
        ));
        assert!(
            !selected("{labels: {sensitivity: Restricted}}", &c),
            "label values are case-sensitive"
        );
        assert!(
            !selected("{labels: {sensitivity: restricted, owner: x}}", &c),
            "every label must match"
        );
        assert!(selected("{governance: {risk.level: high}}", &c));
        assert!(selected(
            "{governance: {compliance.tags: [hipaa, sox]}}",
            &c
        ));
        assert!(!selected("{governance: {compliance.tags: hipaa}}", &c));
        assert!(selected(
            "{governance: {extensions.example.org/cost-center: CC-311}}",
            &c
        ));
        assert!(selected("{kinds: [Agent], labels: {team: a}}", &c));
        assert!(
            !selected("{kinds: [Agent], labels: {team: b}}", &c),
            "fields are ANDed"
        );
        assert!(selected(
            "{any: [{kinds: [Model]}, {labels: {team: a}}]}",
            &c
        ));
        assert!(!selected(
            "{any: [{kinds: [Model]}, {labels: {team: b}}]}",
            &c
        ));
        assert!(selected(
            "{all: [{kinds: [Agent]}, {labels: {team: a}}]}",
            &c
        ));
        assert!(!selected(
            "{all: [{kinds: [Agent]}, {labels: {team: b}}]}",
            &c
        ));
        assert!(selected("{not: {kinds: [Model]}}", &c));
        assert!(!selected("{not: {kinds: [Agent]}}", &c));
        assert!(
            !selected("{matchAll: false}", &c),
            "an empty selector matches nothing"
        );
        assert!(selected("{not: {matchAll: false}}", &c));
    }

    #[test]
    fn values_compare_as_normalized_strings() {
        let gov = json!({"sla": {"tier": "GOLD", "responseHours": 24.0}, "team": {"name": "ML"},
                         "audit": {"reviewOverdue": true}});
        let empty = BTreeMap::new();
        let mut c = ctx(&empty, &gov, "promotion.bind");
        c.environment = Some("prod");
        c.signature_verified = Some(false);
        let roles = vec!["operator".to_string(), "qa".to_string()];
        c.actor_roles = &roles;
        let denies = |when: &str, c: &GateContext| {
            let policy = one_rule(
                "{matchAll: true}",
                &format!("{{action: promotion.bind, denyWhen: {when}}}"),
            );
            matches!(policy.evaluate(c), GateOutcome::Deny { .. })
        };
        assert!(denies("{sla.responseHours: 24}", &c), "24.0 reads as 24");
        assert!(
            denies("{sla.responseHours: '24'}", &c),
            "numbers compare as strings"
        );
        assert!(denies("{sla.tier: gold}", &c), "enum fields ignore case");
        assert!(!denies("{team.name: ml}", &c), "free text keeps case");
        assert!(denies("{team.name: ML}", &c));
        assert!(denies("{audit.reviewOverdue: 'TRUE'}", &c));
        assert!(denies("{signature.verified: false}", &c));
        assert!(!denies("{signature.verified: true}", &c));
        assert!(denies("{references.broken: false}", &c));
        assert!(
            denies("{actor.roles: qa}", &c),
            "scalar against an array means contains"
        );
        assert!(
            denies("{actor.roles: [approver, operator]}", &c),
            "list against an array means intersects"
        );
        assert!(!denies("{actor.roles: [approver]}", &c));
        assert!(denies("{environment: [stage, prod]}", &c));
        assert!(
            !denies("{environment: prod, sla.tier: silver}", &c),
            "conditions are ANDed"
        );
        assert!(
            !denies("{risk.level: high}", &c),
            "a missing property never matches"
        );
        assert!(
            !denies("{allowDeprecated: false}", &c),
            "an absent param is missing"
        );
        assert!(!denies("{labels.team: a}", &c));
        assert!(
            !denies("{toState: approved}", &c),
            "toState exists only for lifecycle actions"
        );
        assert!(!denies("{fromEnv: dev}", &c));
    }

    #[test]
    fn effective_actions_alias_lifecycle_and_promotion_actions() {
        assert_eq!(
            effective_actions("lifecycle.archive"),
            vec!["lifecycle.archive", "lifecycle.setState"]
        );
        assert_eq!(
            effective_actions("promotion.rollback"),
            vec!["promotion.rollback", "promotion.bind"]
        );
        assert_eq!(
            effective_actions("promote"),
            vec!["promote", "promotion.promote", "promotion.bind"]
        );
        assert_eq!(effective_actions("alias.set"), vec!["alias.set"]);

        let policy = load(
            "defaults: {transitionApprovals: {}}\nrules:\n  - name: archive\n    selector: {matchAll: true}\n    gates:\n      - {action: lifecycle.setState, when: {toState: archived}, approvalsRequired: 1, approverRoles: [a]}\n  - name: prod\n    selector: {matchAll: true}\n    gates:\n      - {action: promotion.bind, when: {environment: prod, fromEnv: stage}, approvalsRequired: 1, approverRoles: [a]}\n",
        );
        let empty = BTreeMap::new();
        let gov = json!({});
        let archive = ctx(&empty, &gov, "lifecycle.archive");
        let plan = policy.evaluate_plan(&archive);
        assert_eq!(rules_of(&plan.outcome), vec![("archive".to_string(), 0)]);
        assert_eq!(plan.matched[0].action, "lifecycle.setState");
        let legacy = ctx(&empty, &gov, "deprecate");
        assert_eq!(
            policy.evaluate(&legacy),
            GateOutcome::Execute,
            "deprecate targets deprecated"
        );

        let mut promote = ctx(&empty, &gov, "promotion.promote");
        promote.environment = Some("prod");
        promote.from_env = Some("stage");
        assert_eq!(
            rules_of(&policy.evaluate(&promote)),
            vec![("prod".to_string(), 0)]
        );
        promote.from_env = Some("dev");
        assert_eq!(policy.evaluate(&promote), GateOutcome::Execute);
        let mut restore = ctx(&empty, &gov, "lifecycle.restore");
        restore.to_state = Some(State::Draft);
        restore.asset_state = State::Archived;
        assert_eq!(policy.evaluate(&restore), GateOutcome::Execute);
    }

    #[test]
    fn default_transition_gates_apply_to_assets_and_versions() {
        let policy = ApprovalPolicies::builtin();
        let empty = BTreeMap::new();
        let gov = json!({});
        let mut approve = ctx(&empty, &gov, "lifecycle.setState");
        approve.to_state = Some(State::Approved);
        match policy.evaluate(&approve) {
            GateOutcome::RequireApproval {
                requirements,
                expiry_hours,
                deny_on_first_reject,
                first_rule,
                matched,
            } => {
                assert_eq!(
                    requirements,
                    vec![Requirement {
                        rule: DEFAULT_TRANSITION_RULE.into(),
                        gate_index: 0,
                        approvals_required: 1,
                        approver_roles: vec!["approver".into()],
                    }]
                );
                assert_eq!(expiry_hours, 168.0);
                assert!(deny_on_first_reject);
                assert_eq!(first_rule, DEFAULT_TRANSITION_RULE);
                assert_eq!(matched.len(), 1);
            }
            other => panic!("{other:?}"),
        }
        let mut deprecate = ctx(&empty, &gov, "lifecycle.deprecate");
        deprecate.asset_state = State::Approved;
        assert_eq!(
            policy.evaluate(&deprecate),
            GateOutcome::Execute,
            "approved->deprecated is ungated"
        );

        // A draft version of an approved asset: the version's own transition counts.
        let mut version = approve;
        version.asset_state = State::Approved;
        version.from_state = Some(State::Draft);
        assert_eq!(
            rules_of(&policy.evaluate(&version)),
            vec![(DEFAULT_TRANSITION_RULE.to_string(), 0)]
        );
        version.from_state = Some(State::Deprecated);
        version.to_state = Some(State::Archived);
        version.action = "lifecycle.archive";
        assert_eq!(
            rules_of(&policy.evaluate(&version)),
            vec![(DEFAULT_TRANSITION_RULE.to_string(), 0)]
        );

        let mut restore = ctx(&empty, &gov, "lifecycle.restore");
        restore.asset_state = State::Archived;
        restore.to_state = Some(State::Deprecated);
        assert!(matches!(
            policy.evaluate(&restore),
            GateOutcome::RequireApproval { .. }
        ));

        let mut bind = ctx(&empty, &gov, "promotion.bind");
        bind.to_state = Some(State::Approved);
        assert_eq!(
            policy.evaluate(&bind),
            GateOutcome::Execute,
            "only lifecycle actions get transition gates"
        );
    }

    #[test]
    fn a_matching_deny_wins_over_approvals() {
        let policy = load(
            "rules:\n  - name: needs-two\n    selector: {matchAll: true}\n    gates:\n      - {action: 'promotion.*', approvalsRequired: 2, approverRoles: [a]}\n  - name: no-archived\n    selector: {matchAll: true}\n    gates:\n      - {action: promotion.bind, when: {environment: prod}, denyWhen: {lifecycle.state: Archived}}\n      - {action: promotion.bind, denyWhen: {asset.lifecycle.state: archived}, remediation: restore it}\n",
        );
        let empty = BTreeMap::new();
        let gov = json!({});
        let mut bind = ctx(&empty, &gov, "promotion.bind");
        bind.environment = Some("prod");
        bind.asset_state = State::Archived;
        bind.from_state = Some(State::Approved);
        let plan = policy.evaluate_plan(&bind);
        assert_eq!(
            plan.outcome,
            GateOutcome::Deny {
                rule: "no-archived".into(),
                gate_index: 1,
                remediation: "restore it".into()
            }
        );
        assert_eq!(plan.outcome.plan_outcome(), "would-deny");
        let flags: Vec<(usize, bool)> = plan
            .matched
            .iter()
            .map(|m| (m.gate_index, m.deny))
            .collect();
        assert_eq!(flags, vec![(0, false), (0, false), (1, true)]);

        bind.from_state = Some(State::Archived);
        match policy.evaluate(&bind) {
            GateOutcome::Deny {
                rule,
                gate_index,
                remediation,
            } => {
                assert_eq!((rule.as_str(), gate_index), ("no-archived", 0));
                assert!(
                    remediation.contains("no-archived"),
                    "a default remediation names the rule"
                );
            }
            other => panic!("{other:?}"),
        }
        bind.asset_state = State::Approved;
        bind.from_state = Some(State::Approved);
        let plan = policy.evaluate_plan(&bind);
        assert_eq!(plan.outcome.plan_outcome(), "would-require-approval");
        assert_eq!(rules_of(&plan.outcome), vec![("needs-two".to_string(), 0)]);
    }

    #[test]
    fn request_expiry_and_reject_rule_combine_across_gates() {
        let rule = |name: &str, extra: &str| {
            format!("  - name: {name}\n    selector: {{matchAll: true}}\n    gates:\n      - {{action: lifecycle.setState, approvalsRequired: 1, approverRoles: [a]{extra}}}\n")
        };
        let empty = BTreeMap::new();
        let gov = json!({});
        let mut approve = ctx(&empty, &gov, "lifecycle.setState");
        approve.to_state = Some(State::Approved);
        let settle = |yaml: String| match load(&yaml).evaluate(&approve) {
            GateOutcome::RequireApproval {
                expiry_hours,
                deny_on_first_reject,
                first_rule,
                ..
            } => (expiry_hours, deny_on_first_reject, first_rule),
            other => panic!("{other:?}"),
        };

        let shortest = settle(format!(
            "defaults: {{transitionApprovals: {{}}}}\nrules:\n{}{}",
            rule("long", ", expiryHours: 48"),
            rule("short", ", expiryHours: 0.5")
        ));
        assert_eq!(shortest, (0.5, true, "long".to_string()));

        // A gate without an override lives by the default, here the default
        // transition gate's 168 hours.
        let with_default = settle(format!(
            "rules:\n{}",
            rule("long", ", expiryHours: 400, denyOnFirstReject: false")
        ));
        assert_eq!(with_default, (168.0, true, "long".to_string()));

        let all_lenient = settle(format!(
            "defaults: {{transitionApprovals: {{}}}}\nrules:\n{}",
            rule("lenient", ", expiryHours: 400, denyOnFirstReject: false")
        ));
        assert_eq!(all_lenient, (400.0, false, "lenient".to_string()));

        let one_strict = settle(format!(
            "defaults: {{denyOnFirstReject: false, expiryHours: 10}}\nrules:\n{}{}",
            rule("lenient", ""),
            rule("strict", ", denyOnFirstReject: true")
        ));
        assert_eq!(one_strict, (10.0, true, "lenient".to_string()));
    }

    #[test]
    fn disabled_rules_and_unmatched_when_do_not_gate() {
        let policy = load(
            "defaults: {transitionApprovals: {}}\nrules:\n  - name: off\n    enabled: false\n    selector: {matchAll: true}\n    gates: [{action: alias.set, approvalsRequired: 1, approverRoles: [a]}]\n  - name: on\n    selector: {matchAll: true}\n    gates: [{action: alias.set, when: {labels.tier: gold}, approvalsRequired: 1, approverRoles: [a]}]\n",
        );
        let gold = labels(&[("tier", "gold")]);
        let none = BTreeMap::new();
        let gov = json!({});
        assert_eq!(
            policy.evaluate(&ctx(&none, &gov, "alias.set")),
            GateOutcome::Execute
        );
        assert_eq!(
            rules_of(&policy.evaluate(&ctx(&gold, &gov, "alias.set"))),
            vec![("on".to_string(), 0)]
        );
        assert_eq!(policy.disabled_rules(), vec!["off"]);
    }

    #[test]
    fn the_sample_policy_file_gates_by_kind_label_and_risk_and_denies_archived() {
        let policy =
            ApprovalPolicies::parse(include_str!("../../../samples/approval-policies.yaml"))
                .expect("the sample policy loads");
        let names: Vec<&str> = policy.rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "agent-approval-by-kind",
                "restricted-to-prod",
                "high-risk-to-prod",
                "no-archived-promotion"
            ]
        );
        let none = BTreeMap::new();
        let gov = json!({});

        let mut approve = ctx(&none, &gov, "lifecycle.setState");
        approve.to_state = Some(State::Approved);
        match policy.evaluate(&approve) {
            GateOutcome::RequireApproval {
                requirements,
                first_rule,
                ..
            } => {
                assert_eq!(first_rule, "agent-approval-by-kind");
                assert_eq!(requirements.len(), 2);
                assert_eq!(
                    requirements[0].approver_roles,
                    vec!["approver", "security-approver"]
                );
                assert_eq!(requirements[1].rule, DEFAULT_TRANSITION_RULE);
            }
            other => panic!("{other:?}"),
        }
        let mut model = approve;
        model.kind = "Model";
        model.plugin = "models";
        assert_eq!(
            rules_of(&policy.evaluate(&model)),
            vec![(DEFAULT_TRANSITION_RULE.to_string(), 0)]
        );

        let restricted = labels(&[("sensitivity", "restricted")]);
        let mut bind = ctx(&restricted, &gov, "promotion.promote");
        bind.asset_state = State::Approved;
        bind.from_state = Some(State::Approved);
        bind.environment = Some("prod");
        match policy.evaluate(&bind) {
            GateOutcome::RequireApproval { requirements, .. } => {
                assert_eq!(requirements.len(), 1);
                assert_eq!(
                    (
                        requirements[0].rule.as_str(),
                        requirements[0].approvals_required
                    ),
                    ("restricted-to-prod", 2)
                );
            }
            other => panic!("{other:?}"),
        }
        bind.environment = Some("dev");
        assert_eq!(policy.evaluate(&bind), GateOutcome::Execute);

        let risky = json!({"risk": {"level": "critical"}});
        let mut risky_bind = ctx(&none, &risky, "promotion.bind");
        risky_bind.asset_state = State::Approved;
        risky_bind.environment = Some("prod");
        match policy.evaluate(&risky_bind) {
            GateOutcome::RequireApproval { requirements, .. } => {
                assert_eq!(requirements[0].rule, "high-risk-to-prod");
                assert_eq!(requirements[0].approver_roles, vec!["security-approver"]);
            }
            other => panic!("{other:?}"),
        }
        let tiered = labels(&[("risk-tier", "high")]);
        let mut tiered_bind = risky_bind;
        tiered_bind.labels = &tiered;
        tiered_bind.governance = &gov;
        assert_eq!(
            rules_of(&policy.evaluate(&tiered_bind)),
            vec![("high-risk-to-prod".to_string(), 0)]
        );

        let mut archived = risky_bind;
        archived.from_state = Some(State::Archived);
        assert!(matches!(
            policy.evaluate(&archived),
            GateOutcome::Deny { ref rule, gate_index: 0, ref remediation }
                if rule == "no-archived-promotion" && remediation.contains("lifecycle.restore")
        ));
    }

    #[test]
    fn deny_error_carries_rule_gate_and_remediation() {
        let error = deny_error(
            "agents",
            "Agent",
            "x",
            "promotion.bind",
            "no-archived",
            1,
            "restore it",
        );
        assert_eq!(error.reason, Reason::PolicyDenied);
        assert_eq!(error.metadata["rule"], "no-archived");
        assert_eq!(error.metadata["gateIndex"], "1");
        assert_eq!(error.metadata["remediation"], "restore it");
        assert!(error.message.contains("agents/Agent/x") && error.message.contains("restore it"));
    }

    #[test]
    fn the_effective_policy_serializes_as_camel_case_json_and_back() {
        let policy = load(
            "rules:\n  - name: r\n    selector: {sourceIds: [s], not: {kinds: [Model]}}\n    gates:\n      - {action: promotion.bind, when: {environment: [prod]}, approvalsRequired: 1, approverRoles: [a], expiryHours: 2}\n",
        );
        let json = serde_json::to_value(&policy).unwrap();
        assert_eq!(
            json["defaults"]["transitionApprovals"]["draft->approved"]["approvalsRequired"],
            1
        );
        assert_eq!(json["defaults"]["expiryHours"], 168.0);
        assert_eq!(
            json["rules"][0]["selector"],
            json!({"sourceIds": ["s"], "not": {"kinds": ["Model"]}})
        );
        assert_eq!(
            json["rules"][0]["gates"][0]["when"],
            json!({"environment": ["prod"]})
        );
        assert_eq!(json["digest"], policy.digest);
        let back: ApprovalPolicies = serde_json::from_value(json).unwrap();
        assert_eq!(back, policy);
    }

    #[test]
    fn kind_aliases_resolve_to_canonical_kinds_and_refresh_the_digest() {
        let mut policy = load(
            "rules:\n  - name: r\n    selector: {any: [{kinds: [agents, widget]}]}\n    gates: [{action: promotion.bind, approvalsRequired: 1, approverRoles: [a]}]\n",
        );
        let before = policy.digest.clone();
        let unknown =
            policy.resolve_kind_aliases(|kind| (kind == "agents").then(|| "Agent".to_string()));
        assert_eq!(unknown, vec!["widget"]);
        assert_eq!(
            policy.rules[0].selector.any[0].kinds,
            vec!["Agent", "widget"]
        );
        assert_ne!(policy.digest, before);
        assert_eq!(
            policy,
            ApprovalPolicies::new(policy.defaults.clone(), policy.rules.clone())
        );
    }

    #[test]
    fn gated_actions_hint_follows_rules_and_transition_table() {
        let policy =
            ApprovalPolicies::parse(include_str!("../../../samples/approval-policies.yaml"))
                .unwrap();
        let agent = policy.gated_actions("agents", "Agent");
        for action in [
            "lifecycle.setState",
            "lifecycle.archive",
            "lifecycle.restore",
            "promotion.bind",
            "promotion.promote",
            "promotion.rollback",
        ] {
            assert!(agent.contains(&action.to_string()), "{action} in {agent:?}");
        }
        assert!(
            !agent.contains(&"lifecycle.deprecate".to_string()),
            "{agent:?}"
        );
        assert!(!agent.contains(&"alias.set".to_string()));
        assert!(
            !agent.iter().any(|a| a == "promote"),
            "legacy ids are not published"
        );

        let kinds_only = load(
            "defaults: {transitionApprovals: {}}\nrules:\n  - name: r\n    selector: {kinds: [Agent], not: {plugins: [models]}}\n    gates: [{action: alias.set, approvalsRequired: 1, approverRoles: [a]}]\n",
        );
        assert_eq!(
            kinds_only.gated_actions("agents", "agent"),
            vec!["alias.set"]
        );
        assert!(kinds_only.gated_actions("models", "Agent").is_empty());
        assert!(kinds_only.gated_actions("models", "Model").is_empty());
    }
}
