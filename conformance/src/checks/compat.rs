//! BWC: the asset read APIs answer the same with governance in place.

use super::{ensure, ok, Ctx, Fail, Outcome, Subject};
use crate::proto::pb;

/// What the read APIs say about asset 1, apart from governance,
/// lifecycle and status.
#[derive(Debug, Clone, PartialEq)]
pub struct Reads {
    get: pb::AssetResource,
    listed: Option<pb::AssetResource>,
}

fn strip(mut asset: pb::AssetResource) -> pb::AssetResource {
    asset.governance = None;
    asset.status = None;
    if let Some(m) = asset.metadata.as_mut() {
        m.updated_at = None;
        // The owner reference is the governance owner, mirrored.
        m.owner = None;
    }
    asset
}

async fn read(ctx: &Ctx, s: &Subject) -> Result<Reads, Fail> {
    let get = strip(ok(
        ctx.api.get_asset(&ctx.ids.viewer, &s.asset(0)).await,
        "GetAsset",
    )?);
    let listed = ok(
        ctx.api.list_all(&ctx.ids.viewer, s.list()).await,
        "ListAssets",
    )?
    .into_iter()
    .find(|a| a.metadata.as_ref().is_some_and(|m| m.name == s.names[0]))
    .map(strip);
    Ok(Reads { get, listed })
}

/// Taken before any governance action.
pub async fn snapshot(ctx: &Ctx, s: &Subject) -> Option<Reads> {
    read(ctx, s).await.ok()
}

pub async fn run(ctx: &Ctx, s: &Subject, before: Option<Reads>) {
    ctx.run(
        s,
        "BWC-04",
        "asset reads are unchanged by governance actions (apart from governance and status)",
        bwc_04(ctx, s, before),
    )
    .await;
    ctx.not_applicable(
        s,
        "BWC-01",
        "model catalog goldens over HTTP",
        "not built yet: needs goldens of the model catalog's native responses",
    );
    ctx.run(
        s,
        "BWC-02",
        "native list, get and sources answer at the legacy paths",
        bwc_02(ctx, s),
    )
    .await;
    ctx.run(
        s,
        "BWC-03",
        "health probes answer and ListPlugins keeps its legacy fields",
        bwc_03(ctx, s),
    )
    .await;
}

async fn get_json(ctx: &Ctx, path: &str) -> Result<serde_json::Value, Fail> {
    let answer = crate::http::get(&ctx.api.http_target(), path, Some(&ctx.ids.viewer.token))
        .await
        .map_err(Fail::Fail)?;
    ensure!(
        answer.status == 200,
        "GET {path} answered {}: {}",
        answer.status,
        answer.body.chars().take(300).collect::<String>()
    );
    Ok(answer.json())
}

async fn bwc_02(ctx: &Ctx, s: &Subject) -> Outcome {
    let base = format!("/api/{}_catalog/v1alpha1", s.plugin);
    let list = get_json(ctx, &format!("{base}/{}?pageSize=500", s.entity.plural)).await?;
    ensure!(
        list["items"].is_array() && list.get("size").is_some(),
        "GET {base}/{} has no items/size envelope: {}",
        s.entity.plural,
        list.to_string().chars().take(300).collect::<String>()
    );
    let one = get_json(ctx, &format!("{base}/{}/{}", s.entity.plural, s.names[0])).await?;
    ensure!(
        one.to_string().contains(&s.names[0]),
        "GET {base}/{}/{} does not name the asset: {}",
        s.entity.plural,
        s.names[0],
        one.to_string().chars().take(300).collect::<String>()
    );
    let sources = get_json(ctx, &format!("{base}/sources")).await?;
    let ids: Vec<&str> = sources["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|i| i["id"].as_str()).collect())
        .unwrap_or_default();
    ensure!(
        ids.contains(&s.source_id.as_str()),
        "GET {base}/sources lists {ids:?}, not {}",
        s.source_id
    );
    Ok(())
}

async fn bwc_03(ctx: &Ctx, s: &Subject) -> Outcome {
    for path in ["/livez", "/healthz"] {
        let answer = crate::http::get(&ctx.api.http_target(), path, None)
            .await
            .map_err(Fail::Fail)?;
        ensure!(
            answer.status == 200 && answer.json()["status"] == "alive",
            "GET {path} answered {} {}",
            answer.status,
            answer.body
        );
    }
    let ready = crate::http::get(&ctx.api.http_target(), "/readyz", None)
        .await
        .map_err(Fail::Fail)?;
    ensure!(
        ready.status == 200 && ready.json()["status"] == "ready",
        "GET /readyz answered {} {}",
        ready.status,
        ready.body
    );
    ensure!(!s.info.display_name.is_empty() && !s.info.version.is_empty() && !s.info.base_path.is_empty() && !s.info.entity_kinds.is_empty(), "ListPlugins lacks a legacy field (displayName, version, basePath, entityKinds) for {}: {:?}", s.plugin, s.info.capabilities_v2.as_ref().map(|_| "…"));
    Ok(())
}

async fn bwc_04(ctx: &Ctx, s: &Subject, before: Option<Reads>) -> Outcome {
    let before = before
        .ok_or_else(|| Fail::Fail("the reads failed before the governance actions".into()))?;
    let after = read(ctx, s).await?;
    ensure!(
        before.get == after.get,
        "GetAsset {} changed:\nbefore {:?}\nafter  {:?}",
        s.names[0],
        before.get,
        after.get
    );
    ensure!(
        before.listed == after.listed,
        "the listed item {} changed",
        s.names[0]
    );
    Ok(())
}
