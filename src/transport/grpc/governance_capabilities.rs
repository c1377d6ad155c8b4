//! The governance part of a plugin's capabilities (spec 09 §2–3): the
//! universal columns and filters, the governance action definitions (and
//! the legacy asset actions routed to them) and the `entities[].governance`
//! block, computed from the governance settings and approval policy in
//! force, so that a plugin added by manifest alone is governed like the
//! built-in ones.

use super::convert::action;
use crate::domain::action::{governance_actions, legacy_asset_actions};
use crate::domain::governance::State;
use crate::governance::Settings;
use crate::proto::catalog::v1alpha1 as pb;

const METADATA_SECTIONS: &[&str] = &[
    "owner",
    "team",
    "sla",
    "risk",
    "intendedUse",
    "compliance",
    "audit",
    "extensions",
];

const PROVENANCE_FIELDS: &[&str] = &[
    "source.type",
    "source.uri",
    "source.sourceId",
    "revision.id",
    "revision.observedAt",
    "integrity.contentDigest",
    "integrity.signature.verified",
    "integrity.signature.method",
];

const GOVERNANCE_SERVICES: &[&str] = &[
    "catalog.governance.v1alpha1.GovernanceService",
    "catalog.governance.v1alpha1.ApprovalService",
    "catalog.governance.v1alpha1.AuditService",
];

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Adds the governance parts to a plugin's capabilities.
pub fn augment(caps: &mut pb::PluginCapabilities, settings: &Settings) {
    let plugin = caps
        .plugin
        .as_ref()
        .map(|p| p.name.clone())
        .unwrap_or_default();
    // The legacy asset actions are listed after the governance ones: they
    // run as those (01 §7.4), and entities reference them like any action.
    let definitions: Vec<_> = governance_actions()
        .into_iter()
        .chain(legacy_asset_actions())
        .collect();
    caps.actions
        .extend(definitions.iter().map(|def| action(def, &plugin)));
    if let Some(grpc) = caps.api.as_mut().and_then(|api| api.grpc.as_mut()) {
        grpc.services.extend(strings(GOVERNANCE_SERVICES));
    }
    for entity in &mut caps.entities {
        entity
            .actions
            .extend(definitions.iter().map(|d| d.id.to_string()));
        if let Some(fields) = entity.fields.as_mut() {
            add_universal_fields(fields, settings);
        }
        entity.governance = Some(governance(&plugin, &entity.kind, settings));
    }
}

fn add_universal_fields(fields: &mut pb::EntityFields, settings: &Settings) {
    fields.columns.push(pb::Column {
        name: "lifecycle".into(),
        display_name: "Lifecycle".into(),
        path: "governance.lifecycle.state".into(),
        r#type: "badge".into(),
        sortable: false,
        width: 0,
        universal: true,
    });
    let filter =
        |name: &str, display: &str, path: &str, kind: &str, options: Vec<String>, ops: &[&str]| {
            pb::FilterField {
                name: name.into(),
                display_name: display.into(),
                path: path.into(),
                r#type: kind.into(),
                options,
                operators: strings(ops),
                universal: true,
            }
        };
    fields.filter_fields.extend([
        filter(
            "lifecycleState",
            "Lifecycle",
            "governance.lifecycle.state",
            "select",
            State::ALL.iter().map(|s| s.as_str().to_string()).collect(),
            &["=", "!=", "IN"],
        ),
        filter(
            "riskLevel",
            "Risk",
            "governance.risk.level",
            "select",
            strings(&["low", "medium", "high", "critical"]),
            &["=", "!=", "IN"],
        ),
        filter(
            "complianceTag",
            "Compliance tag",
            "governance.compliance.tags",
            "multiselect",
            settings.config.vocabularies.compliance_tags.clone(),
            &["=", "IN"],
        ),
        filter(
            "owner",
            "Owner",
            "governance.owner.principal",
            "text",
            vec![],
            &["=", "!=", "IN"],
        ),
        filter(
            "team",
            "Team",
            "governance.team.name",
            "text",
            vec![],
            &["=", "!=", "IN"],
        ),
    ]);
}

fn governance(plugin: &str, kind: &str, settings: &Settings) -> pb::GovernanceCapabilities {
    let config = &settings.config;
    let defaults = &settings.policies.defaults;
    let ids = |category: &str| -> Vec<String> {
        governance_actions()
            .iter()
            .filter(|d| {
                d.category == category || (category == "versioning" && d.category == "promotion")
            })
            .map(|d| d.id.to_string())
            .collect()
    };
    pb::GovernanceCapabilities {
        schema_version: "governance/v1alpha1".into(),
        supported: true,
        metadata: Some(pb::GovernanceMetadataCapabilities {
            fields: strings(METADATA_SECTIONS),
            extensions_schema: None,
            vocabularies: Some(pb::GovernanceVocabularies {
                compliance_tags: config.vocabularies.compliance_tags.clone(),
                risk_categories: config.vocabularies.risk_categories.clone(),
                intended_use_restrictions: config.vocabularies.intended_use_restrictions.clone(),
            }),
        }),
        lifecycle: Some(pb::LifecycleCapabilities {
            states: State::ALL.iter().map(|s| s.as_str().to_string()).collect(),
            default_state: State::Draft.as_str().into(),
            actions: ids("lifecycle"),
            transitions: settings
                .transitions
                .rows()
                .into_iter()
                .map(|row| pb::LifecycleTransition {
                    from: row.from.as_str().into(),
                    to: row.to.as_str().into(),
                    allowed: row.allowed,
                    class: row.class.code().into(),
                    requires_approval: defaults
                        .transition_approvals
                        .get(&(row.from, row.to))
                        .is_some_and(|t| t.approvals_required > 0),
                })
                .collect(),
            restore_targets: settings
                .transitions
                .restore_targets()
                .iter()
                .map(|s| s.as_str().to_string())
                .collect(),
        }),
        versioning: Some(pb::VersioningCapabilities {
            supported: true,
            label_format: config.label_format(plugin).as_str().into(),
            auto_snapshot: config.auto_snapshot(plugin).as_str().into(),
            environments: config.environments.clone(),
            require_approved_environments: config.require_approved.clone(),
            // Selectors accept the computed aliases; alias.set is not
            // served yet, so named aliases cannot be set.
            aliases: Some(pb::AliasCapabilities {
                supported: false,
                reserved: strings(&["latest", "latest-approved"]),
            }),
            actions: ids("versioning"),
        }),
        approvals: Some(pb::ApprovalCapabilities {
            supported: true,
            actions_requiring_approval_may_return: true,
            gated_actions: settings.policies.gated_actions(plugin, kind),
        }),
        provenance: Some(pb::ProvenanceCapabilities {
            supported: true,
            fields: strings(PROVENANCE_FIELDS),
            signature_verification: Some(pb::SignatureVerificationCapabilities {
                enabled: config.signature_verification.enabled,
                methods: if config.signature_verification.enabled {
                    strings(&["cosign"])
                } else {
                    vec![]
                },
            }),
        }),
        audit: Some(pb::AuditCapabilities { supported: true }),
    }
}
