//! CAP: the capabilities document is valid against its JSON Schema,
//! complete and consistent.

use super::{ensure, ok, Ctx, Fail, Outcome, Subject};
use crate::proto::pb;
use crate::schema;

pub async fn run(ctx: &Ctx, s: &Subject) {
    ctx.run(
        s,
        "CAP-01",
        "capabilities document validates against the JSON Schema and identifies its plugin",
        cap_01(s),
    )
    .await;
    ctx.run(
        s,
        "CAP-02",
        "entities, columns and filter fields are complete",
        cap_02(s),
    )
    .await;
    ctx.run(
        s,
        "CAP-03",
        "referenced actions exist with a valid scope",
        cap_03(s),
    )
    .await;
    ctx.run(
        s,
        "CAP-04",
        "governance block matches the canonical lifecycle and the config",
        cap_04(ctx, s),
    )
    .await;
    ctx.run(
        s,
        "CAP-05",
        "ListPlugins inline document equals the dedicated endpoint, twice",
        cap_05(ctx, s),
    )
    .await;
}

async fn cap_01(s: &Subject) -> Outcome {
    let document =
        schema::proto3_json(schema::CAPABILITIES_MESSAGE, &s.caps).map_err(Fail::Fail)?;
    let violations = schema::capabilities_violations(&document).map_err(Fail::Fail)?;
    ensure!(
        violations.is_empty(),
        "the document has {} violation(s) of capabilities.schema.json: {}",
        violations.len(),
        schema::describe_violations(&violations)
    );
    ensure!(!s.caps.schema_version.is_empty(), "schemaVersion is empty");
    let name = s
        .caps
        .plugin
        .as_ref()
        .map(|p| p.name.as_str())
        .unwrap_or("");
    ensure!(
        name == s.plugin && s.info.name == s.plugin,
        "plugin.name is {name:?}, the listing says {:?}",
        s.info.name
    );
    ensure!(
        !s.caps.entities.is_empty(),
        "the document declares no entity"
    );
    Ok(())
}

async fn cap_02(s: &Subject) -> Outcome {
    for e in &s.caps.entities {
        ensure!(
            !e.kind.is_empty() && !e.plural.is_empty() && !e.display_name.is_empty(),
            "entity {:?} lacks kind, plural or displayName",
            e.kind
        );
        let endpoints = e.endpoints.clone().unwrap_or_default();
        ensure!(
            !endpoints.list.is_empty() && !endpoints.get.is_empty(),
            "entity {} lacks endpoints.list or endpoints.get",
            e.kind
        );
        let fields = e.fields.clone().unwrap_or_default();
        ensure!(
            !fields.columns.is_empty(),
            "entity {} has no columns",
            e.kind
        );
        for c in &fields.columns {
            ensure!(
                !c.name.is_empty()
                    && !c.display_name.is_empty()
                    && !c.path.is_empty()
                    && !c.r#type.is_empty(),
                "entity {}: column {:?} lacks name, displayName, path or type",
                e.kind,
                c.name
            );
        }
        for f in &fields.filter_fields {
            ensure!(
                !f.name.is_empty() && !f.r#type.is_empty(),
                "entity {}: filter field {:?} lacks name or type",
                e.kind,
                f.name
            );
        }
    }
    Ok(())
}

async fn cap_03(s: &Subject) -> Outcome {
    let declared: Vec<&str> = s.caps.actions.iter().map(|a| a.id.as_str()).collect();
    for a in &s.caps.actions {
        ensure!(
            a.scope == "source" || a.scope == "asset",
            "action {} has scope {:?}; expected source or asset",
            a.id,
            a.scope
        );
    }
    for e in &s.caps.entities {
        for id in &e.actions {
            ensure!(declared.contains(&id.as_str()), "entity {} references action {id:?}, which the document does not declare (declared: {declared:?})", e.kind);
        }
    }
    Ok(())
}

async fn cap_04(ctx: &Ctx, s: &Subject) -> Outcome {
    let Some(g) = s.governance() else {
        return Err(super::Fail::Skip(
            "governance not supported by this entity".into(),
        ));
    };
    let lifecycle = g.lifecycle.clone().unwrap_or_default();
    let canonical = ["draft", "approved", "deprecated", "archived"];
    let mut states = lifecycle.states.clone();
    states.sort();
    let mut expected: Vec<String> = canonical.iter().map(|s| s.to_string()).collect();
    expected.sort();
    ensure!(
        states == expected,
        "lifecycle.states is {:?}; expected the canonical four {canonical:?}",
        lifecycle.states
    );
    ensure!(
        lifecycle.default_state == "draft",
        "lifecycle.defaultState is {:?}; expected draft",
        lifecycle.default_state
    );
    if let Some(v) = g.versioning.as_ref().filter(|v| v.supported) {
        ensure!(
            v.environments == ctx.environments,
            "versioning.environments is {:?}; GetGovernanceConfig says {:?}",
            v.environments,
            ctx.environments
        );
    }
    let provenance = g.provenance.clone().unwrap_or_default();
    ensure!(
        provenance.supported && !provenance.fields.is_empty(),
        "provenance is not supported or lists no fields"
    );
    Ok(())
}

async fn cap_05(ctx: &Ctx, s: &Subject) -> Outcome {
    let list = ok(
        ctx.api
            .plugins()
            .list_plugins(ctx.api.req(&ctx.ids.viewer, pb::ListPluginsRequest {}))
            .await,
        "ListPlugins",
    )?
    .into_inner();
    let inline = list
        .plugins
        .iter()
        .find(|p| p.name == s.plugin)
        .and_then(|p| p.capabilities_v2.clone());
    ensure!(
        inline.is_some(),
        "ListPlugins has no inline capabilitiesV2 for {}",
        s.plugin
    );
    let get = || async {
        ok(
            ctx.api
                .plugins()
                .get_plugin_capabilities(ctx.api.req(
                    &ctx.ids.viewer,
                    pb::GetPluginCapabilitiesRequest {
                        plugin: s.plugin.clone(),
                    },
                ))
                .await,
            "GetPluginCapabilities",
        )
        .map(|r| r.into_inner())
    };
    let first = get().await?;
    let second = get().await?;
    ensure!(
        first == second,
        "two GetPluginCapabilities calls returned different documents"
    );
    ensure!(
        inline.as_ref() == Some(&first),
        "the inline capabilitiesV2 of ListPlugins differs from GetPluginCapabilities"
    );
    Ok(())
}
