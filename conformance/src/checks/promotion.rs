//! PRM: versions move dev -> stage -> prod and roll back; stage and prod
//! take approved versions only; broken references block prod.

use serde_json::json;

use super::approvals::{bind, bound, create_version};
use super::{approve_if_held, ensure, ok, refused, Ctx, Fail, Outcome, Subject};
use crate::proto::gpb;

pub async fn run(ctx: &Ctx, s: &Subject) {
    if s.governance().is_none() || !s.versioning() {
        ctx.not_applicable(
            s,
            "PRM-01",
            "promotion",
            "versioning not supported by this entity",
        );
        return;
    }
    ctx.run(
        s,
        "PRM-01",
        "v1 promoted dev->stage->prod, v2 bound, rolled back to v1; deprecated binds need allowDeprecated; drafts kept out of prod",
        prm_01(ctx, s),
    )
    .await;
    ctx.run(
        s,
        "PRM-02",
        "versions list deterministically; labels are unique",
        prm_02(ctx, s),
    )
    .await;
    ctx.run(
        s,
        "PRM-03",
        "a rollback to a never-bound version is refused",
        prm_03(ctx, s),
    )
    .await;
    ctx.run(
        s,
        "PRM-04",
        "a broken reference blocks prod and only warns for dev",
        prm_04(ctx, s),
    )
    .await;
    ctx.run(
        s,
        "PRM-06",
        "ListBindings has one row per configured environment, in order",
        prm_06(ctx, s),
    )
    .await;
    ctx.run(
        s,
        "LCY-02",
        "every allowed transition succeeds at version level too",
        lcy_02_versions(ctx, s),
    )
    .await;
    ctx.run(
        s,
        "LCY-06",
        "archiving an asset with bindings is ASSET_HAS_BINDINGS",
        lcy_06(ctx, s),
    )
    .await;
}

async fn prm_01(ctx: &Ctx, s: &Subject) -> Outcome {
    let key = s.asset(0);
    let v1 = create_version(ctx, &key, &format!("ct-{}-v1", ctx.run_id)).await?;
    let bind_completed = |env: &'static str, version: String| {
        let key = key.clone();
        async move {
            let r = ok(
                bind(ctx, &key, json!({"environment": env, "versionId": version})).await,
                &format!("bind {env}"),
            )?;
            ensure!(
                r.status == "completed",
                "bind {env} answered {:?}",
                r.status
            );
            Ok::<(), Fail>(())
        }
    };
    bind_completed("dev", v1.clone()).await?;
    for (from, to) in [("dev", "stage"), ("stage", "prod")] {
        let r = ok(
            ctx.api
                .act(
                    &ctx.ids.operator,
                    &key,
                    "promotion.promote",
                    json!({"fromEnv": from, "toEnv": to}),
                    false,
                )
                .await,
            &format!("promote {from}->{to}"),
        )?;
        ensure!(
            r.status == "completed",
            "promote {from}->{to} answered {:?}",
            r.status
        );
        ensure!(
            bound(ctx, &key, to).await?.as_deref() == Some(v1.as_str()),
            "{to} is not bound to v1 after the promotion"
        );
    }
    let v2 = create_version(ctx, &key, &format!("ct-{}-v2", ctx.run_id)).await?;
    bind_completed("prod", v2.clone()).await?;
    let r = ok(
        ctx.api
            .act(
                &ctx.ids.operator,
                &key,
                "promotion.rollback",
                json!({"environment": "prod", "targetVersionId": v1}),
                false,
            )
            .await,
        "rollback prod to v1",
    )?;
    ensure!(r.status == "completed", "rollback answered {:?}", r.status);
    ensure!(
        bound(ctx, &key, "prod").await?.as_deref() == Some(v1.as_str()),
        "prod is not bound to v1 after the rollback"
    );
    // A deprecated version binds only with allowDeprecated, and warns.
    ok(
        ctx.api
            .act(
                &ctx.ids.operator,
                &key,
                "lifecycle.deprecate",
                json!({"versionId": v2}),
                false,
            )
            .await,
        "deprecating v2",
    )?;
    let plain = bind(ctx, &key, json!({"environment": "dev", "versionId": v2})).await;
    refused(
        plain,
        "DEPRECATED_BIND_NOT_ALLOWED",
        "binding deprecated v2 to dev without allowDeprecated",
    )?;
    ensure!(
        bound(ctx, &key, "dev").await?.as_deref() == Some(v1.as_str()),
        "the refused bind of deprecated v2 changed the dev binding"
    );
    let flagged = ok(
        bind(
            ctx,
            &key,
            json!({"environment": "dev", "versionId": v2, "allowDeprecated": true}),
        )
        .await,
        "binding deprecated v2 with allowDeprecated",
    )?;
    let codes: Vec<&str> = flagged.warnings.iter().map(|w| w.code.as_str()).collect();
    ensure!(
        flagged.status == "completed" && codes.contains(&"BOUND_VERSION_DEPRECATED"),
        "binding deprecated v2 with allowDeprecated answered {:?} with warnings {codes:?}; expected completed with BOUND_VERSION_DEPRECATED",
        flagged.status
    );
    ensure!(
        bound(ctx, &key, "dev").await?.as_deref() == Some(v2.as_str()),
        "dev is not bound to v2 after the bind with allowDeprecated"
    );
    // The first version (initial discovery) is a draft: never in prod.
    let versions = list_versions(ctx, s, 100).await?;
    if let Some(draft) = versions
        .iter()
        .find(|v| v.lifecycle.as_ref().is_some_and(|l| l.state == "draft"))
    {
        let result = bind(
            ctx,
            &key,
            json!({"environment": "prod", "versionId": draft.version_id}),
        )
        .await;
        ensure!(
            result.is_err(),
            "binding draft version {} to prod succeeded",
            draft.version
        );
    }
    Ok(())
}

async fn list_versions(ctx: &Ctx, s: &Subject, page_size: i32) -> Result<Vec<gpb::Version>, Fail> {
    let key = s.asset(0);
    let mut out = Vec::new();
    let mut token = String::new();
    for _ in 0..1000 {
        let page = ok(
            ctx.api
                .governance()
                .list_versions(ctx.api.req(
                    &ctx.ids.viewer,
                    gpb::ListVersionsRequest {
                        plugin: key.plugin.clone(),
                        kind: key.kind.clone(),
                        name: key.name.clone(),
                        page_size,
                        page_token: token.clone(),
                        ..Default::default()
                    },
                ))
                .await,
            "ListVersions",
        )?
        .into_inner();
        out.extend(page.versions);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    Ok(out)
}

async fn prm_02(ctx: &Ctx, s: &Subject) -> Outcome {
    let ids = |v: Vec<gpb::Version>| v.into_iter().map(|v| v.version_id).collect::<Vec<_>>();
    let a = ids(list_versions(ctx, s, 100).await?);
    let b = ids(list_versions(ctx, s, 100).await?);
    let paged = ids(list_versions(ctx, s, 1).await?);
    ensure!(
        a.len() >= 3,
        "{} versions listed; expected the first one plus v1 and v2",
        a.len()
    );
    ensure!(a == b, "two ListVersions calls disagree: {a:?} / {b:?}");
    ensure!(
        a == paged,
        "pages of one give {paged:?}; one page gives {a:?}"
    );
    let result = ctx
        .api
        .act(
            &ctx.ids.operator,
            &s.asset(0),
            "version.create",
            json!({"version": format!("ct-{}-v1", ctx.run_id)}),
            false,
        )
        .await;
    refused(
        result,
        "VERSION_LABEL_CONFLICT",
        "creating a second version with label v1",
    )?;
    Ok(())
}

async fn prm_03(ctx: &Ctx, s: &Subject) -> Outcome {
    let versions = list_versions(ctx, s, 100).await?;
    let never = versions
        .iter()
        .find(|v| {
            v.bound_environments.is_empty()
                && !v.version.ends_with("-v1")
                && !v.version.ends_with("-v2")
        })
        .ok_or_else(|| Fail::Fail("no version that was never bound".into()))?;
    let result = ctx
        .api
        .act(
            &ctx.ids.operator,
            &s.asset(0),
            "promotion.rollback",
            json!({"environment": "prod", "targetVersionId": never.version_id}),
            false,
        )
        .await;
    refused(
        result,
        "ROLLBACK_TARGET_NOT_PREVIOUSLY_BOUND",
        "rolling prod back to a version it never had",
    )?;
    Ok(())
}

async fn prm_04(ctx: &Ctx, s: &Subject) -> Outcome {
    let Some(name) = s.broken.clone() else {
        return Err(Fail::Skip(
            "the fixture has no asset with a broken reference (…-broken)".into(),
        ));
    };
    let key = crate::api::AssetKey {
        plugin: s.plugin.clone(),
        kind: s.kind().to_string(),
        name,
    };
    super::lifecycle::transition(ctx, &key, "approved").await?;
    let version = create_version(ctx, &key, &format!("ct-{}-refs", ctx.run_id)).await?;
    let dev = ok(
        bind(
            ctx,
            &key,
            json!({"environment": "dev", "versionId": version}),
        )
        .await,
        "bind dev with a broken reference",
    )?;
    ensure!(
        !dev.warnings.is_empty(),
        "bind dev with a broken reference carried no warning"
    );
    let result = bind(
        ctx,
        &key,
        json!({"environment": "prod", "versionId": version}),
    )
    .await;
    refused(
        result,
        "BROKEN_REFERENCES",
        "binding prod with a broken reference",
    )?;
    Ok(())
}

async fn prm_06(ctx: &Ctx, s: &Subject) -> Outcome {
    let key = s.asset(0);
    let bindings = super::approvals::bindings(ctx, &key).await?;
    let envs: Vec<String> = bindings
        .bindings
        .iter()
        .map(|b| b.environment.clone())
        .collect();
    ensure!(
        envs == ctx.environments,
        "ListBindings rows are {envs:?}; the configured environments are {:?}",
        ctx.environments
    );
    Ok(())
}

async fn lcy_06(ctx: &Ctx, s: &Subject) -> Outcome {
    let result = ctx
        .api
        .act(
            &ctx.ids.operator,
            &s.asset(0),
            "lifecycle.archive",
            json!({}),
            false,
        )
        .await;
    refused(result, "ASSET_HAS_BINDINGS", "archiving a bound asset")?;
    Ok(())
}

/// The lifecycle state of one version.
async fn version_state(
    ctx: &Ctx,
    key: &crate::api::AssetKey,
    version_id: &str,
) -> Result<String, Fail> {
    let version = ok(
        ctx.api
            .governance()
            .get_version(ctx.api.req(
                &ctx.ids.viewer,
                gpb::GetVersionRequest {
                    plugin: key.plugin.clone(),
                    kind: key.kind.clone(),
                    name: key.name.clone(),
                    version_id: version_id.to_string(),
                },
            ))
            .await,
        "GetVersion",
    )?
    .into_inner();
    Ok(version.lifecycle.map(|l| l.state).unwrap_or_default())
}

/// A version-level setState, approved by approver1 when a gate holds it.
async fn transition_version(
    ctx: &Ctx,
    key: &crate::api::AssetKey,
    version_id: &str,
    to: &str,
) -> Outcome {
    let result = ok(
        ctx.api
            .act(
                &ctx.ids.operator,
                key,
                "lifecycle.setState",
                json!({"state": to, "versionId": version_id}),
                false,
            )
            .await,
        &format!("setState {to} on version {version_id}"),
    )?;
    approve_if_held(ctx, key, &result, "approving the version transition").await?;
    let state = version_state(ctx, key, version_id).await?;
    ensure!(
        state == to,
        "version {version_id} is {state:?} after the transition to {to}"
    );
    Ok(())
}

async fn lcy_02_versions(ctx: &Ctx, s: &Subject) -> Outcome {
    let key = s.asset(0);
    let version = create_version(ctx, &key, &format!("ct-{}-v3", ctx.run_id)).await?;
    let start = version_state(ctx, &key, &version).await?;
    let transitions = s
        .governance()
        .and_then(|g| g.lifecycle.clone())
        .unwrap_or_default()
        .transitions;
    let path = super::lifecycle::walk(&transitions, &start);
    ensure!(!path.is_empty(), "no allowed transition from {start}");
    for (from, to) in &path {
        transition_version(ctx, &key, &version, to)
            .await
            .map_err(|e| match e {
                Fail::Fail(why) => Fail::Fail(format!("version {from}->{to}: {why}")),
                other => other,
            })?;
    }
    Ok(())
}
